//! How often and how strongly the tasks' shared-weight gradients conflict, per multi-task
//! method and task pair, from every logged update's cosine similarity (`surgery/cos_sim/*`).
//!
//! The mean cosine over seeds and training averages to about zero whether or not the tasks
//! conflict, so the report gives, per pair, the share of updates with `cos < 0` (a conflict
//! in PCGrad's sense, Yu et al. 2020) and with `cos < −0.1` (a conflict strong enough for a
//! projection to change the update noticeably), the mean `|cos|` and the 10th percentile,
//! and one verdict for the task set.

use std::collections::BTreeMap;

use super::curves::Curve;
use super::stats;

/// A cosine below this is a strong conflict (the cut of the trainer's
/// `strong_conflict_share`).
pub const STRONG: f64 = crate::train::pair_summary::STRONG_CONFLICT;

/// The share of strongly conflicting updates of some pair from which the task set is said to
/// have occasional conflicts.
pub const OCCASIONAL: f64 = 0.05;

/// The share of strongly conflicting updates of some pair from which the task set is said to
/// have conflicts worth resolving.
pub const WORTH_RESOLVING: f64 = 0.25;

/// Above this many task pairs the report shows one pooled row per method.
pub const MAX_PAIRS: usize = 45;

/// The conflict statistics of one set of updates.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflicts {
    /// Updates counted.
    pub updates: usize,
    /// Share of updates with `cos < 0`.
    pub negative: f64,
    /// Share of updates with `cos <` [`STRONG`].
    pub strong: f64,
    /// Mean `|cos|`.
    pub mean_abs: f64,
    /// 10th percentile of `cos`.
    pub p10: f64,
}

impl Conflicts {
    /// The statistics of `cosines`; `None` when there are none.
    pub fn of(cosines: &[f64]) -> Option<Self> {
        let xs: Vec<f64> = cosines.iter().copied().filter(|x| !x.is_nan()).collect();
        if xs.is_empty() {
            return None;
        }
        let n = xs.len() as f64;
        let share = |cut: f64| xs.iter().filter(|&&x| x < cut).count() as f64 / n;
        Some(Self {
            updates: xs.len(),
            negative: share(0.0),
            strong: share(STRONG),
            mean_abs: xs.iter().map(|x| x.abs()).sum::<f64>() / n,
            p10: stats::percentile(&xs, 0.1),
        })
    }
}

/// Every update's cosine of each pair, pooled over seeds: `pair → cosines`.
pub fn pooled(seeds_by_pair: &BTreeMap<String, Vec<Curve>>) -> BTreeMap<String, Vec<f64>> {
    (seeds_by_pair.iter())
        .map(|(pair, seeds)| {
            let values = seeds.iter().flatten().map(|&(_, v)| v).collect();
            (pair.clone(), values)
        })
        .collect()
}

/// Per bin of training (`bins` equal intervals of `budget` steps), the share of updates with
/// `cos < 0` and the mean `|cos|`, pooled over pairs and seeds (`NaN` in a bin without
/// updates).
pub fn over_training(
    seeds_by_pair: &BTreeMap<String, Vec<Curve>>,
    budget: u64,
    bins: usize,
) -> Vec<(f64, f64)> {
    let mut count = vec![0usize; bins];
    let mut negative = vec![0usize; bins];
    let mut abs = vec![0.0; bins];
    let points = seeds_by_pair.values().flatten().flatten();
    for &(step, v) in points.filter(|(_, v)| !v.is_nan()) {
        let k = ((step as u128 * bins as u128) / budget.max(1) as u128).min(bins as u128 - 1);
        let k = k as usize;
        count[k] += 1;
        negative[k] += usize::from(v < 0.0);
        abs[k] += v.abs();
    }
    (0..bins)
        .map(|k| match count[k] {
            0 => (f64::NAN, f64::NAN),
            n => (negative[k] as f64 / n as f64, abs[k] / n as f64),
        })
        .collect()
}

/// One task pair's strongest conflicts under one method: the verdict's input.
#[derive(Debug, Clone, PartialEq)]
pub struct PairConflict {
    /// The multi-task method.
    pub method: String,
    /// The pair, `a__b` (with ` (stage)` for SAC's).
    pub pair: String,
    /// Share of updates with `cos <` [`STRONG`].
    pub strong: f64,
    /// Mean `|cos|`.
    pub mean_abs: f64,
    /// Whether `strong` is only a lower bound (a run that logged summaries, see
    /// [`super::conflict_summary`]).
    pub lower_bound: bool,
}

/// The verdict's candidates of runs that logged every pair: each method's pairs with their
/// pooled cosines.
pub fn pair_conflicts(
    by_method: &BTreeMap<String, BTreeMap<String, Vec<f64>>>,
) -> Vec<PairConflict> {
    (by_method.iter())
        .flat_map(|(method, pairs)| pairs.iter().map(move |(pair, xs)| (method, pair, xs)))
        .filter_map(|(method, pair, xs)| {
            let c = Conflicts::of(xs)?;
            Some(PairConflict {
                method: method.clone(),
                pair: pair.clone(),
                strong: c.strong,
                mean_abs: c.mean_abs,
                lower_bound: false,
            })
        })
        .collect()
}

/// One line saying whether the task set has conflicts worth resolving, from each method's
/// pooled cosines by pair (see [`verdict_of`]).
pub fn verdict(by_method: &BTreeMap<String, BTreeMap<String, Vec<f64>>>) -> String {
    verdict_of(&pair_conflicts(by_method))
}

/// One line saying whether the task set has conflicts worth resolving, by the largest share
/// of updates of one pair (under one method) below [`STRONG`] (where a projection changes
/// the update by more than a tenth of its norm): at least [`WORTH_RESOLVING`], conflicts
/// worth resolving; at least [`OCCASIONAL`], occasional conflicts; below, none. Where the
/// shares of a run that logged summaries are only lower bounds and no share reaches
/// [`WORTH_RESOLVING`], the line says so instead.
pub fn verdict_of(candidates: &[PairConflict]) -> String {
    let by_strong = |a: &&PairConflict, b: &&PairConflict| a.strong.total_cmp(&b.strong);
    let worst = candidates.iter().max_by(by_strong);
    let Some(mut c) = worst else {
        return "No gradient cosines were logged: no multi-task method shares weights.".into();
    };
    // Below the bar of worth resolving, a lower bound says nothing about "at most".
    let bounded = candidates
        .iter()
        .filter(|c| c.lower_bound)
        .max_by(by_strong);
    if let Some(b) = bounded.filter(|_| c.strong < WORTH_RESOLVING) {
        c = b;
    }
    let (method, pair) = (&c.method, c.pair.replace("__", " / "));
    let (pct, abs) = (100.0 * c.strong, c.mean_abs);
    let lowest = crate::train::pair_summary::LOWEST;
    if c.strong >= WORTH_RESOLVING {
        let at_least = if c.lower_bound { "at least " } else { "" };
        format!(
            "**Conflicts worth resolving**: under `{method}`, `{pair}` has cos < {STRONG} in \
             {at_least}{pct:.0}% of updates (mean |cos| {abs:.3})."
        )
    } else if c.lower_bound {
        format!(
            "**Conflicts spread over many pairs**: some updates had more than {lowest} pairs \
             with cos < {STRONG}, and the run logged only each update's {lowest} lowest \
             cosines by pair, so per-pair shares are lower bounds: `{pair}` under `{method}` \
             has cos < {STRONG} in at least {pct:.0}% of updates. Read the pooled rows' share \
             of pairs below {STRONG}."
        )
    } else if c.strong >= OCCASIONAL {
        format!(
            "**Occasional conflicts**: at most {pct:.0}% of any pair's updates have \
             cos < {STRONG} (`{pair}` under `{method}`, mean |cos| {abs:.3}); surgery changes \
             a minority of updates by more than a tenth of their norm."
        )
    } else {
        format!(
            "**No conflicts worth resolving**: at most {pct:.0}% of any pair's updates have \
             cos < {STRONG} (`{pair}` under `{method}`, mean |cos| {abs:.3}); the shared \
             gradients are nearly orthogonal, so projections change the update little."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_mean_magnitude_and_percentile_of_the_cosines() {
        let xs: Vec<f64> = (0..10).map(|k| -0.5 + 0.1 * k as f64).collect();
        let c = Conflicts::of(&xs).unwrap();
        assert_eq!(c.updates, 10);
        assert!((c.negative - 0.5).abs() < 1e-12, "{c:?}");
        assert!((c.strong - 0.4).abs() < 1e-12, "{c:?}");
        assert!((c.mean_abs - 0.25).abs() < 1e-12, "{c:?}");
        assert!(c.p10 <= -0.35 && c.p10 >= -0.5, "{c:?}");
        assert_eq!(Conflicts::of(&[f64::NAN]), None);
    }

    fn curves(points: &[(u64, f64)]) -> BTreeMap<String, Vec<Curve>> {
        BTreeMap::from([("a__b".to_string(), vec![points.to_vec(), points.to_vec()])])
    }

    #[test]
    fn binned_over_training_pooled_over_seeds() {
        let binned = over_training(&curves(&[(0, -0.2), (10, 0.4), (90, -0.1)]), 100, 2);
        assert_eq!(binned.len(), 2);
        assert!((binned[0].0 - 0.5).abs() < 1e-12 && (binned[0].1 - 0.3).abs() < 1e-12);
        assert!((binned[1].0 - 1.0).abs() < 1e-12 && (binned[1].1 - 0.1).abs() < 1e-12);
        assert!(over_training(&curves(&[(0, 0.1)]), 100, 2)[1].0.is_nan());
    }

    #[test]
    fn the_verdict_names_the_worst_pair() {
        let weak = pooled(&curves(&[(0, 0.01), (1, -0.02), (2, 0.03)]));
        let by_method = BTreeMap::from([("sum".to_string(), weak.clone())]);
        let line = verdict(&by_method);
        assert!(
            line.starts_with("**No conflicts worth resolving**"),
            "{line}"
        );
        assert!(line.contains("`a / b`") && line.contains("`sum`"), "{line}");
        let strong = pooled(&curves(&[(0, -0.5), (1, -0.3), (2, 0.2)]));
        let by_method = BTreeMap::from([("sum".to_string(), weak), ("pcgrad".to_string(), strong)]);
        let line = verdict(&by_method);
        assert!(line.starts_with("**Conflicts worth resolving**"), "{line}");
        assert!(line.contains("`pcgrad`") && line.contains("67%"), "{line}");
        assert!(verdict(&BTreeMap::new()).starts_with("No gradient cosines"));
    }
}
