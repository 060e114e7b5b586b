//! The pairwise gradient cosines as the trainer logs them, for PPO and A2C under `surgery/`
//! ([`super::metrics`]) and for each of SAC's two combined losses under `surgery/<stage>/`
//! ([`super::sac_tags`]).
//!
//! Up to `logging.pairwise_limit` gradient rows (tasks plus auxiliary losses), every pair
//! `a < b` gets its own scalar `cos_sim/<a>__<b>`. Above it the pairs are too many to log one
//! by one (a 50-task run's 1,225 scalars per logged update made about 95% of its event file)
//! and [`super::pair_summary`] summarises them instead: a histogram `cos_sim`, quantiles
//! `cos_sim_quantile/<q>`, `conflict_share`, `strong_conflict_share`, `cos_sim_mean_abs`, the
//! lowest cosines `cos_sim_lowest/<rank>` and the text `cos_sim_lowest_pairs` naming them.

use polytask_agents::surgery::GradStats;

use super::pair_summary::{
    self, Summariser, CONFLICT_SHARE_TAG, HISTOGRAM_TAG, LOWEST, LOWEST_PAIRS_TAG, LOWEST_TAG,
    MEAN_ABS_TAG, QUANTILES, QUANTILE_TAG, STRONG_SHARE_TAG,
};
use crate::logger::Logger;

/// The tags of the pairwise cosines under one prefix, and how they are written.
#[derive(Debug)]
pub enum PairTags {
    /// One scalar per pair: `<prefix>cos_sim/<a>__<b>` with the pair's row indices.
    PerPair(Vec<(usize, usize, String)>),
    /// Summaries (boxed: the per-update buffers make it large).
    Summary(Box<SummaryTags>),
}

/// The tags and buffers of the summary form.
#[derive(Debug)]
pub struct SummaryTags {
    /// Row indices of each pair `a < b`, in the order of the per-pair form.
    pairs: Vec<(usize, usize)>,
    /// Each pair's name `<a>__<b>`.
    names: Vec<String>,
    histogram: String,
    quantiles: [String; 5],
    conflict_share: String,
    strong_share: String,
    mean_abs: String,
    /// `<prefix>cos_sim_lowest/<rank>`, rank 1 to [`LOWEST`].
    lowest: Vec<String>,
    lowest_pairs: String,
    summariser: Summariser,
    /// This update's cosine of each pair, and as `f32` for the histogram.
    cosines: Vec<f64>,
    cosines_f32: Vec<f32>,
    text: String,
}

impl PairTags {
    /// The tags of the pairs of rows named `names` under `prefix` (`"surgery/"` or
    /// `"surgery/critic/"`): per pair while there are at most `limit` rows, else summaries.
    pub fn new(prefix: &str, names: &[String], limit: usize) -> Self {
        let mut pairs = Vec::new();
        for a in 0..names.len() {
            for b in a + 1..names.len() {
                pairs.push((a, b, format!("{}__{}", names[a], names[b])));
            }
        }
        if names.len() <= limit {
            let tags = (pairs.into_iter())
                .map(|(a, b, pair)| (a, b, format!("{prefix}cos_sim/{pair}")))
                .collect();
            return PairTags::PerPair(tags);
        }
        let tag = |what: &str| format!("{prefix}{what}");
        PairTags::Summary(Box::new(SummaryTags {
            pairs: pairs.iter().map(|&(a, b, _)| (a, b)).collect(),
            names: pairs.into_iter().map(|(_, _, pair)| pair).collect(),
            histogram: tag(HISTOGRAM_TAG),
            quantiles: QUANTILES.map(|(q, _)| tag(&format!("{QUANTILE_TAG}/{q}"))),
            conflict_share: tag(CONFLICT_SHARE_TAG),
            strong_share: tag(STRONG_SHARE_TAG),
            mean_abs: tag(MEAN_ABS_TAG),
            lowest: (1..=LOWEST)
                .map(|rank| tag(&format!("{LOWEST_TAG}/{rank}")))
                .collect(),
            lowest_pairs: tag(LOWEST_PAIRS_TAG),
            summariser: Summariser::default(),
            cosines: Vec::new(),
            cosines_f32: Vec::new(),
            text: String::new(),
        }))
    }

    /// Writes the pairs' cosines of `stats` at `step`, in this form.
    pub fn write(&mut self, logger: &mut dyn Logger, stats: &GradStats, step: u64) {
        match self {
            PairTags::PerPair(tags) => {
                for (a, b, tag) in tags.iter() {
                    logger.scalar(tag, stats.cos(*a, *b), step);
                }
            }
            PairTags::Summary(tags) => tags.write(logger, stats, step),
        }
    }
}

impl SummaryTags {
    fn write(&mut self, logger: &mut dyn Logger, stats: &GradStats, step: u64) {
        self.cosines.clear();
        (self.cosines).extend(self.pairs.iter().map(|&(a, b)| stats.cos(a, b)));
        self.cosines_f32.clear();
        (self.cosines_f32).extend(self.cosines.iter().map(|&c| c as f32));
        logger.histogram(&self.histogram, &self.cosines_f32, step);
        let Some(summary) = self.summariser.summarise(&self.cosines, LOWEST) else {
            return;
        };
        for (tag, q) in self.quantiles.iter().zip(summary.quantiles) {
            logger.scalar(tag, q, step);
        }
        logger.scalar(&self.conflict_share, summary.conflict_share, step);
        logger.scalar(&self.strong_share, summary.strong_share, step);
        logger.scalar(&self.mean_abs, summary.mean_abs, step);
        for (tag, &(_, cos)) in self.lowest.iter().zip(&summary.lowest) {
            logger.scalar(tag, cos, step);
        }
        let names = &self.names;
        let rows = (summary.lowest.iter()).map(|&(i, cos)| (names[i].as_str(), cos));
        pair_summary::lowest_table(rows, &mut self.text);
        logger.text(&self.lowest_pairs, &self.text, step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logger::MemoryLogger;

    /// Gradient statistics of `t` rows whose pair `(a, b)` has cosine `cos(a, b)`.
    fn stats(t: usize, cos: impl Fn(usize, usize) -> f64) -> GradStats {
        let mut cosine = vec![1.0; t * t];
        let mut conflicts = 0;
        for a in 0..t {
            for b in 0..t {
                if a != b {
                    cosine[a * t + b] = cos(a.min(b), a.max(b));
                    conflicts += usize::from(a < b && cosine[a * t + b] < 0.0);
                }
            }
        }
        GradStats {
            tasks: t,
            norms: vec![1.0; t],
            cosine,
            conflicts,
        }
    }

    fn names(t: usize) -> Vec<String> {
        (0..t).map(|k| format!("task{k}")).collect()
    }

    #[test]
    fn at_the_limit_every_pair_gets_its_scalar() {
        let mut tags = PairTags::new("surgery/", &names(3), 3);
        let mut logger = MemoryLogger::new();
        tags.write(&mut logger, &stats(3, |a, b| (a + b) as f64 / 10.0), 7);
        let written: Vec<&str> = logger.scalar_tags().collect();
        assert_eq!(
            written,
            [
                "surgery/cos_sim/task0__task1",
                "surgery/cos_sim/task0__task2",
                "surgery/cos_sim/task1__task2"
            ]
        );
        assert_eq!(logger.scalars("surgery/cos_sim/task1__task2"), &[(7, 0.3)]);
        assert!(logger.histograms("surgery/cos_sim").is_empty());
    }

    #[test]
    fn above_the_limit_only_summaries_are_written_and_name_the_lowest_pairs() {
        // 12 rows, 66 pairs; pair (a, b) has cosine (a + b − 10) / 20, lowest for (0, 1).
        let t = 12;
        let mut tags = PairTags::new("surgery/critic/", &names(t), 10);
        let mut logger = MemoryLogger::new();
        let g = stats(t, |a, b| (a + b) as f64 / 20.0 - 0.5);
        tags.write(&mut logger, &g, 40);
        let written: Vec<&str> = logger.scalar_tags().collect();
        assert!(!written.is_empty());
        assert!(
            written.iter().all(|tag| !tag.contains("cos_sim/")),
            "{written:?}"
        );
        let hist = logger.histograms("surgery/critic/cos_sim");
        assert_eq!(hist.len(), 1);
        assert_eq!((hist[0].0, hist[0].1.len()), (40, 66));
        let scalar = |what: &str| logger.last_scalar(&format!("surgery/critic/{what}"));
        let near = |what: &str, expected: f64| {
            let value = scalar(what).unwrap_or(f64::NAN);
            assert!(
                (value - expected).abs() < 1e-12,
                "{what}: {value} vs {expected}"
            );
        };
        near("cos_sim_quantile/min", -0.45);
        near("cos_sim_quantile/max", 0.55);
        // Cosines below 0: pairs with a + b < 10, 25 of the 66.
        let share = scalar("conflict_share").unwrap();
        assert!((share - g.conflicts as f64 / 66.0).abs() < 1e-12 && g.conflicts == 25);
        near("cos_sim_lowest/1", -0.45);
        // Then (0, 2) at -0.4, the two pairs of a + b = 3 at -0.35, then (0, 4) at -0.3.
        near("cos_sim_lowest/2", -0.4);
        near("cos_sim_lowest/5", -0.3);
        assert_eq!(scalar("cos_sim_lowest/6"), None);
        let texts = logger.texts("surgery/critic/cos_sim_lowest_pairs");
        assert_eq!(texts.len(), 1);
        let lowest = pair_summary::parse_lowest_table(&texts[0].1);
        let pairs: Vec<&str> = lowest.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            pairs,
            [
                "task0__task1",
                "task0__task2",
                "task0__task3",
                "task1__task2",
                "task0__task4"
            ]
        );
    }
}
