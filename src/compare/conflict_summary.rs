//! The gradient conflicts of runs that logged their pair cosines as summaries: runs with more
//! gradient rows than `logging.pairwise_limit` (see `train::pair_summary`) write, per logged
//! update, quantiles of the cosines, the shares of conflicting pairs, the mean `|cos|` and the
//! [`LOWEST`] lowest cosines by pair, instead of one scalar per pair.
//!
//! The report pools them into one row per method and stage (as it pools more than
//! [`super::conflicts::MAX_PAIRS`] pairs of the per-pair form) and lists the most
//! conflicting pairs: those most often among each update's lowest cosines.

use std::collections::BTreeMap;

use super::conflicts::{Conflicts, PairConflict, STRONG};
use super::curves::Curve;
use crate::train::pair_summary::{
    CONFLICT_SHARE_TAG, HISTOGRAM_TAG, LOWEST, LOWEST_PAIRS_TAG, MEAN_ABS_TAG, QUANTILES,
    QUANTILE_TAG, STRONG_SHARE_TAG,
};

/// How many of the most conflicting pairs the report lists per method and stage.
pub const LISTED: usize = 5;

/// One run's summary of one combined loss (SAC's `critic` or `actor`; `""` for PPO and A2C),
/// each curve at the step it was logged at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryCurves {
    /// How many pairs were summarised (the histogram's count).
    pub pairs: usize,
    /// The curve of each quantile of `train::pair_summary::QUANTILES` (min, p10, median,
    /// p90, max), in that order.
    pub quantiles: [Curve; 5],
    /// Share of pairs with `cos < 0`.
    pub conflict_share: Curve,
    /// Share of pairs with `cos <` [`STRONG`].
    pub strong_share: Curve,
    /// Mean `|cos|` over the pairs.
    pub mean_abs: Curve,
    /// The lowest cosines by pair `a__b`, lowest first, per logged update.
    pub lowest: Vec<(u64, Vec<(String, f64)>)>,
}

/// Which curve of a [`SummaryCurves`] a scalar tag feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Quantile `k` of `QUANTILES`.
    Quantile(usize),
    /// [`SummaryCurves::conflict_share`].
    ConflictShare,
    /// [`SummaryCurves::strong_share`].
    StrongShare,
    /// [`SummaryCurves::mean_abs`].
    MeanAbs,
}

impl SummaryCurves {
    /// The curve that `field` names.
    pub fn curve_mut(&mut self, field: Field) -> &mut Curve {
        match field {
            Field::Quantile(k) => &mut self.quantiles[k],
            Field::ConflictShare => &mut self.conflict_share,
            Field::StrongShare => &mut self.strong_share,
            Field::MeanAbs => &mut self.mean_abs,
        }
    }

    /// The same curves at steps divided by `by` (global steps to a task's steps).
    pub fn per_task(&self, by: u64) -> Self {
        let scale = |c: &Curve| c.iter().map(|&(s, v)| (s / by.max(1), v)).collect();
        Self {
            pairs: self.pairs,
            quantiles: self.quantiles.each_ref().map(scale),
            conflict_share: scale(&self.conflict_share),
            strong_share: scale(&self.strong_share),
            mean_abs: scale(&self.mean_abs),
            lowest: (self.lowest.iter())
                .map(|(s, l)| (s / by.max(1), l.clone()))
                .collect(),
        }
    }
}

/// The stage and the rest of a `surgery/...` tag: `("", rest)` for `surgery/<rest>` and
/// `(stage, rest)` for `surgery/<stage>/<rest>`, where `rest` satisfies `is`.
fn stage_of(tag: &str, is: impl Fn(&str) -> bool) -> Option<(&str, &str)> {
    let rest = tag.strip_prefix("surgery/")?;
    if is(rest) {
        return Some(("", rest));
    }
    rest.split_once('/').filter(|(_, r)| is(r))
}

/// The stage and field of a summary scalar tag (`surgery/cos_sim_quantile/p10`,
/// `surgery/critic/conflict_share`, ...); `None` for other tags.
pub fn scalar_field(tag: &str) -> Option<(String, Field)> {
    let field = |rest: &str| -> Option<Field> {
        if let Some(q) = rest.strip_prefix(QUANTILE_TAG)?.strip_prefix('/') {
            return QUANTILES
                .iter()
                .position(|(name, _)| *name == q)
                .map(Field::Quantile);
        }
        None
    };
    let named = |rest: &str| match rest {
        CONFLICT_SHARE_TAG => Some(Field::ConflictShare),
        STRONG_SHARE_TAG => Some(Field::StrongShare),
        MEAN_ABS_TAG => Some(Field::MeanAbs),
        _ => None,
    };
    let of = |rest: &str| field(rest).or_else(|| named(rest));
    let (stage, rest) = stage_of(tag, |r| of(r).is_some())?;
    Some((stage.to_string(), of(rest)?))
}

/// The stage of the text naming the lowest pairs (`surgery/cos_sim_lowest_pairs`).
pub fn lowest_pairs_stage(tag: &str) -> Option<String> {
    stage_of(tag, |r| r == LOWEST_PAIRS_TAG).map(|(stage, _)| stage.to_string())
}

/// The stage of the histogram of the pair cosines (`surgery/cos_sim`).
pub fn histogram_stage(tag: &str) -> Option<String> {
    stage_of(tag, |r| r == HISTOGRAM_TAG).map(|(stage, _)| stage.to_string())
}

/// A row label for `what` of `stage`: `what`, or `what (stage)`.
pub fn label(what: &str, stage: &str) -> String {
    match stage {
        "" => what.to_string(),
        stage => format!("{what} ({stage})"),
    }
}

/// The pooled statistics of every seed's summaries, as the per-pair form's pooled row: the
/// shares and mean `|cos|` are exact (every update has the same pairs), the 10th percentile
/// is the mean of the updates' 10th percentiles. `updates` counts cosines (pairs × logged
/// updates). `None` without logged updates.
pub fn pooled(seeds: &[SummaryCurves]) -> Option<Conflicts> {
    let mean = |curve: fn(&SummaryCurves) -> &Curve| -> Option<f64> {
        let values: Vec<f64> = (seeds.iter())
            .flat_map(|s| curve(s).iter().map(|&(_, v)| v))
            .filter(|v| !v.is_nan())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let updates: usize = seeds.iter().map(|s| s.pairs * s.conflict_share.len()).sum();
    Some(Conflicts {
        updates,
        negative: mean(|s| &s.conflict_share)?,
        strong: mean(|s| &s.strong_share)?,
        mean_abs: mean(|s| &s.mean_abs)?,
        p10: mean(|s| &s.quantiles[1])?,
    })
}

/// A pair among the lowest cosines of some updates.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedPair {
    /// `a__b`.
    pub pair: String,
    /// Updates in which it was among the lowest.
    pub listed: usize,
    /// Updates in which it was listed with `cos < 0`.
    pub negative: usize,
    /// Updates in which it was listed with `cos <` [`STRONG`].
    pub strong: usize,
    /// Its mean cosine where listed.
    pub mean_cos: f64,
    /// Its mean `|cos|` where listed.
    pub mean_abs: f64,
    /// Its lowest cosine.
    pub lowest: f64,
}

/// The most conflicting pairs of every seed's lists, pooled.
#[derive(Debug, Clone, PartialEq)]
pub struct MostConflicting {
    /// Logged updates (all seeds).
    pub updates: usize,
    /// Whether the counts of [`STRONG`] conflicts are every strong conflict of the pairs:
    /// true when no update had more strong conflicts than it listed pairs. Otherwise they
    /// are lower bounds.
    pub exact: bool,
    /// Every listed pair, the most conflicting first: most updates listed below [`STRONG`],
    /// then below 0, then listed at all, then the lower mean cosine.
    pub pairs: Vec<ListedPair>,
}

/// The pairs listed among the lowest cosines of every seed's updates.
pub fn most_conflicting(seeds: &[SummaryCurves]) -> MostConflicting {
    let mut by_pair: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut updates = 0;
    let mut exact = true;
    for (_, list) in seeds.iter().flat_map(|s| &s.lowest) {
        updates += 1;
        if list.len() >= LOWEST && list.last().is_some_and(|&(_, c)| c < STRONG) {
            exact = false;
        }
        for (pair, cos) in list {
            by_pair.entry(pair).or_default().push(*cos);
        }
    }
    let mut pairs: Vec<ListedPair> = (by_pair.into_iter())
        .map(|(pair, xs)| {
            let n = xs.len() as f64;
            ListedPair {
                pair: pair.to_string(),
                listed: xs.len(),
                negative: xs.iter().filter(|&&x| x < 0.0).count(),
                strong: xs.iter().filter(|&&x| x < STRONG).count(),
                mean_cos: xs.iter().sum::<f64>() / n,
                mean_abs: xs.iter().map(|x| x.abs()).sum::<f64>() / n,
                lowest: xs.iter().copied().fold(f64::INFINITY, f64::min),
            }
        })
        .collect();
    pairs.sort_by(|a, b| {
        (b.strong.cmp(&a.strong))
            .then(b.negative.cmp(&a.negative))
            .then(b.listed.cmp(&a.listed))
            .then(a.mean_cos.total_cmp(&b.mean_cos))
    });
    MostConflicting {
        updates,
        exact,
        pairs,
    }
}

impl MostConflicting {
    /// The verdict's candidate of `method` and `stage`: the most conflicting pair, with its
    /// share of updates below [`STRONG`] and its mean `|cos|` where listed.
    pub fn candidate(&self, method: &str, stage: &str) -> Option<PairConflict> {
        let top = self.pairs.first()?;
        Some(PairConflict {
            method: method.to_string(),
            pair: label(&top.pair, stage),
            strong: top.strong as f64 / self.updates.max(1) as f64,
            mean_abs: top.mean_abs,
            lower_bound: !self.exact,
        })
    }
}

/// Per bin of training (`bins` equal intervals of `budget` steps), the share of conflicting
/// pairs and the mean `|cos|`, pooled over stages and seeds as
/// [`super::conflicts::over_training`] pools the per-pair form (`NaN` in a bin without
/// updates).
pub fn over_training(
    stages: &BTreeMap<String, Vec<SummaryCurves>>,
    budget: u64,
    bins: usize,
) -> Vec<(f64, f64)> {
    let all: Vec<&SummaryCurves> = stages.values().flatten().collect();
    let share = binned_mean(all.iter().map(|s| &s.conflict_share), budget, bins);
    let abs = binned_mean(all.iter().map(|s| &s.mean_abs), budget, bins);
    share.into_iter().zip(abs).collect()
}

/// Per bin, the mean of each quantile's values over seeds (`NaN` in a bin without updates),
/// in the order of [`SummaryCurves::quantiles`].
pub fn quantile_bins(seeds: &[SummaryCurves], budget: u64, bins: usize) -> [Vec<f64>; 5] {
    std::array::from_fn(|k| binned_mean(seeds.iter().map(|s| &s.quantiles[k]), budget, bins))
}

/// The mean of the points of `curves` in each of `bins` equal intervals of `budget` steps.
fn binned_mean<'a>(curves: impl Iterator<Item = &'a Curve>, budget: u64, bins: usize) -> Vec<f64> {
    let mut sum = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    for &(step, v) in curves.flatten().filter(|(_, v)| !v.is_nan()) {
        let k = ((step as u128 * bins as u128) / budget.max(1) as u128).min(bins as u128 - 1);
        sum[k as usize] += v;
        count[k as usize] += 1;
    }
    (sum.iter().zip(&count))
        .map(|(s, &n)| if n == 0 { f64::NAN } else { s / n as f64 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lowest: Vec<(u64, Vec<(&str, f64)>)>) -> SummaryCurves {
        let steps: Vec<u64> = lowest.iter().map(|(s, _)| *s).collect();
        let curve = |v: f64| steps.iter().map(|&s| (s, v)).collect::<Curve>();
        SummaryCurves {
            pairs: 10,
            quantiles: [curve(-0.5), curve(-0.2), curve(0.0), curve(0.2), curve(0.5)],
            conflict_share: curve(0.4),
            strong_share: curve(0.2),
            mean_abs: curve(0.25),
            lowest: (lowest.into_iter())
                .map(|(s, l)| (s, l.into_iter().map(|(p, c)| (p.to_string(), c)).collect()))
                .collect(),
        }
    }

    #[test]
    fn summary_tags_are_recognised_with_their_stage() {
        assert_eq!(
            scalar_field("surgery/cos_sim_quantile/p10"),
            Some((String::new(), Field::Quantile(1)))
        );
        assert_eq!(
            scalar_field("surgery/critic/conflict_share"),
            Some(("critic".to_string(), Field::ConflictShare))
        );
        assert_eq!(
            scalar_field("surgery/actor/cos_sim_mean_abs"),
            Some(("actor".to_string(), Field::MeanAbs))
        );
        for other in [
            "surgery/conflicts",
            "surgery/cos_sim/a__b",
            "surgery/cos_sim_quantile/p42",
            "surgery/grad_norm/conflict",
            "charts/a/conflict_share",
        ] {
            assert_eq!(scalar_field(other), None, "{other}");
        }
        assert_eq!(
            lowest_pairs_stage("surgery/critic/cos_sim_lowest_pairs").as_deref(),
            Some("critic")
        );
        assert_eq!(histogram_stage("surgery/cos_sim").as_deref(), Some(""));
        assert_eq!(histogram_stage("surgery/cos_sim/a__b"), None);
    }

    #[test]
    fn pooled_rows_average_the_updates_and_count_cosines() {
        let seeds = [run(vec![(1, vec![]), (2, vec![])]), run(vec![(1, vec![])])];
        let c = pooled(&seeds).unwrap();
        assert_eq!(c.updates, 30, "10 pairs × 3 updates");
        let got = [c.negative, c.strong, c.mean_abs, c.p10];
        for (g, e) in got.iter().zip([0.4, 0.2, 0.25, -0.2]) {
            assert!((g - e).abs() < 1e-12, "{c:?}");
        }
        assert_eq!(pooled(&[SummaryCurves::default()]), None);
    }

    #[test]
    fn the_most_conflicting_pairs_are_counted_over_seeds_and_ranked() {
        let seeds = [
            run(vec![
                (1, vec![("a__b", -0.3), ("c__d", -0.05)]),
                (2, vec![("c__d", -0.2), ("a__b", -0.15)]),
            ]),
            run(vec![(1, vec![("a__b", -0.01), ("e__f", 0.1)])]),
        ];
        let most = most_conflicting(&seeds);
        assert_eq!((most.updates, most.exact), (3, true));
        let names: Vec<&str> = most.pairs.iter().map(|p| p.pair.as_str()).collect();
        assert_eq!(names, ["a__b", "c__d", "e__f"]);
        let ab = &most.pairs[0];
        assert_eq!((ab.listed, ab.negative, ab.strong), (3, 3, 2));
        assert!((ab.mean_cos - (-0.46 / 3.0)).abs() < 1e-12, "{ab:?}");
        assert_eq!(ab.lowest, -0.3);
        let c = most.candidate("pcgrad", "critic").unwrap();
        assert_eq!(c.pair, "a__b (critic)");
        assert!(
            (c.strong - 2.0 / 3.0).abs() < 1e-12 && !c.lower_bound,
            "{c:?}"
        );
        // Five listed pairs all below the cut: others may have been below it too.
        let full = vec![("p__q", -0.5); LOWEST];
        assert!(!most_conflicting(&[run(vec![(1, full)])]).exact);
    }

    #[test]
    fn binned_over_training_pooled_over_stages_and_seeds() {
        let mut a = run(vec![(0, vec![]), (90, vec![])]);
        a.conflict_share = vec![(0, 0.2), (90, 0.6)];
        let mut b = run(vec![(10, vec![])]);
        b.conflict_share = vec![(10, 0.4)];
        let stages = BTreeMap::from([
            ("critic".to_string(), vec![a.clone()]),
            ("actor".to_string(), vec![b]),
        ]);
        let binned = over_training(&stages, 100, 2);
        assert!((binned[0].0 - 0.3).abs() < 1e-12 && (binned[1].0 - 0.6).abs() < 1e-12);
        assert!((binned[0].1 - 0.25).abs() < 1e-12);
        let q = quantile_bins(&[a], 100, 4);
        assert_eq!(q[2][0], 0.0);
        assert!(q[2][1].is_nan());
    }
}
