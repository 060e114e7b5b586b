//! The pairwise gradient cosines of many tasks, summarised: with `T` gradient rows there are
//! `T(T − 1)/2` pairs (1,225 at Meta-World's MT50), too many to log one scalar each at every
//! logged update or to draw one line each. Above `logging.pairwise_limit` rows the trainer
//! logs this summary instead ([`super::pair_tags`]): the distribution's quantiles, the share
//! of conflicting pairs, the mean `|cos|`, and the [`LOWEST`] most conflicting pairs by name.
//!
//! This module is the contract between the trainer that writes the summary and
//! `polytask compare` that reads it back: the tag names ([`QUANTILE_TAG`] and the others) and
//! the text naming the lowest pairs ([`lowest_table`], read by [`parse_lowest_table`]).

/// How many of the lowest cosines are logged with their pairs' names.
pub const LOWEST: usize = 5;

/// A cosine below this is a strong conflict: a PCGrad projection then changes the update by
/// more than a tenth of its norm (the same cut as `polytask compare`'s conflict table).
pub const STRONG_CONFLICT: f64 = -0.1;

/// The quantiles logged, as (tag name, probability): `min`, `p10`, `median`, `p90`, `max`.
pub const QUANTILES: [(&str, f64); 5] = [
    ("min", 0.0),
    ("p10", 0.1),
    ("median", 0.5),
    ("p90", 0.9),
    ("max", 1.0),
];

/// Histogram of every pair's cosine: `surgery/cos_sim` (SAC: `surgery/<stage>/cos_sim`).
pub const HISTOGRAM_TAG: &str = "cos_sim";
/// Quantile scalars: `surgery/cos_sim_quantile/<min|p10|median|p90|max>`.
pub const QUANTILE_TAG: &str = "cos_sim_quantile";
/// Share of pairs with `cos < 0`, `surgery/conflict_share` (`surgery/conflicts` over the
/// number of pairs).
pub const CONFLICT_SHARE_TAG: &str = "conflict_share";
/// Share of pairs with `cos <` [`STRONG_CONFLICT`], `surgery/strong_conflict_share`.
pub const STRONG_SHARE_TAG: &str = "strong_conflict_share";
/// Mean `|cos|` over the pairs, `surgery/cos_sim_mean_abs`.
pub const MEAN_ABS_TAG: &str = "cos_sim_mean_abs";
/// The lowest cosines, lowest first: `surgery/cos_sim_lowest/<rank>`, rank 1 to [`LOWEST`].
pub const LOWEST_TAG: &str = "cos_sim_lowest";
/// The text naming the pairs of [`LOWEST_TAG`]: `surgery/cos_sim_lowest_pairs`.
pub const LOWEST_PAIRS_TAG: &str = "cos_sim_lowest_pairs";

/// The summary of one update's pair cosines.
#[derive(Debug, Clone, PartialEq)]
pub struct PairSummary {
    /// The [`QUANTILES`] of the cosines, in that order (linear interpolation between the
    /// sorted values, NumPy's default `method="linear"`).
    pub quantiles: [f64; 5],
    /// Share of pairs with `cos < 0` (their gradients conflict in PCGrad's sense).
    pub conflict_share: f64,
    /// Share of pairs with `cos <` [`STRONG_CONFLICT`].
    pub strong_share: f64,
    /// Mean `|cos|`.
    pub mean_abs: f64,
    /// The lowest cosines, lowest first, each with its pair's index in the input; ties go to
    /// the lower index. At most the `k` asked for.
    pub lowest: Vec<(usize, f64)>,
}

/// Computes [`PairSummary`]s, reusing its buffers from one update to the next.
#[derive(Debug, Default)]
pub struct Summariser {
    /// Indices of the non-NaN cosines, sorted by cosine.
    order: Vec<usize>,
}

impl Summariser {
    /// The summary of `cosines` (one per pair) with the `k` lowest named; NaN values are left
    /// out. `None` when no value is left.
    pub fn summarise(&mut self, cosines: &[f64], k: usize) -> Option<PairSummary> {
        self.order.clear();
        self.order
            .extend((0..cosines.len()).filter(|&i| !cosines[i].is_nan()));
        if self.order.is_empty() {
            return None;
        }
        self.order
            .sort_unstable_by(|&a, &b| cosines[a].total_cmp(&cosines[b]).then(a.cmp(&b)));
        let sorted = |i: usize| cosines[self.order[i]];
        let n = self.order.len();
        let quantiles = QUANTILES.map(|(_, p)| {
            let h = (n - 1) as f64 * p;
            let below = h.floor() as usize;
            let above = (below + 1).min(n - 1);
            sorted(below) + (h - below as f64) * (sorted(above) - sorted(below))
        });
        let share = |cut: f64| {
            let count = self.order.partition_point(|&i| cosines[i] < cut);
            count as f64 / n as f64
        };
        let mean_abs = self.order.iter().map(|&i| cosines[i].abs()).sum::<f64>() / n as f64;
        Some(PairSummary {
            quantiles,
            conflict_share: share(0.0),
            strong_share: share(STRONG_CONFLICT),
            mean_abs,
            lowest: (self.order.iter().take(k))
                .map(|&i| (i, cosines[i]))
                .collect(),
        })
    }
}

/// The Markdown table naming the lowest pairs, as logged under [`LOWEST_PAIRS_TAG`]
/// (TensorBoard's text tab renders it as a table), written into `out` (cleared first):
///
/// ```text
/// | rank | pair | cos |
/// |---:|---|---:|
/// | 1 | `drop-it__standard` | -0.5321 |
/// ```
///
/// `pairs` are `(name, cos)`, lowest first; a pair's name is its two rows' names joined by
/// `__`, as in the per-pair tags `surgery/cos_sim/<a>__<b>`.
pub fn lowest_table<'a>(pairs: impl Iterator<Item = (&'a str, f64)>, out: &mut String) {
    use std::fmt::Write as _;
    out.clear();
    out.push_str("| rank | pair | cos |\n|---:|---|---:|\n");
    for (rank, (pair, cos)) in pairs.enumerate() {
        // Writing into a `String` cannot fail.
        let _ = writeln!(out, "| {} | `{pair}` | {cos:.4} |", rank + 1);
    }
}

/// The `(pair, cos)` rows of a [`lowest_table`], in rank order; lines that are not rows of
/// one are skipped.
pub fn parse_lowest_table(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().split('|').map(str::trim).collect();
            let [_, rank, pair, cos, _] = cells[..] else {
                return None;
            };
            rank.parse::<usize>().ok()?;
            let pair = pair.strip_prefix('`')?.strip_suffix('`')?;
            Some((pair.to_string(), cos.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn quantiles_shares_and_mean_abs_match_hand_computed_values() {
        // Sorted: -0.6, -0.2, -0.05, 0.1, 0.3, 0.5 (n = 6).
        let cosines = [0.3, -0.2, 0.5, -0.6, 0.1, -0.05];
        let s = Summariser::default().summarise(&cosines, 3).unwrap();
        // p10: h = 5 × 0.1 = 0.5, halfway between -0.6 and -0.2 → -0.4.
        // median: h = 2.5, halfway between -0.05 and 0.1 → 0.025.
        // p90: h = 4.5, halfway between 0.3 and 0.5 → 0.4.
        let expected = [-0.6, -0.4, 0.025, 0.4, 0.5];
        for (q, e) in s.quantiles.iter().zip(expected) {
            assert!(close(*q, e), "{:?} vs {expected:?}", s.quantiles);
        }
        assert!(close(s.conflict_share, 3.0 / 6.0), "{s:?}");
        // Below -0.1: -0.6 and -0.2 (not -0.05).
        assert!(close(s.strong_share, 2.0 / 6.0), "{s:?}");
        assert!(close(s.mean_abs, 1.75 / 6.0), "{s:?}");
        assert_eq!(s.lowest, vec![(3, -0.6), (1, -0.2), (5, -0.05)]);
    }

    #[test]
    fn nan_is_left_out_ties_go_to_the_lower_index_and_k_may_exceed_the_pairs() {
        let cosines = [0.2, f64::NAN, -0.4, 0.2, -0.4];
        let mut summariser = Summariser::default();
        let s = summariser.summarise(&cosines, 10).unwrap();
        assert_eq!(s.lowest, vec![(2, -0.4), (4, -0.4), (0, 0.2), (3, 0.2)]);
        assert!(
            close(s.conflict_share, 0.5) && close(s.quantiles[4], 0.2),
            "{s:?}"
        );
        // The share of conflicting pairs is `surgery/conflicts` over the pairs: a zero
        // cosine (a zero gradient) is not a conflict.
        let zeros = summariser.summarise(&[0.0, 0.0, -1e-9], 1).unwrap();
        assert!(close(zeros.conflict_share, 1.0 / 3.0), "{zeros:?}");
        let one = summariser.summarise(&[0.7], 5).unwrap();
        assert_eq!(one.quantiles, [0.7; 5]);
        assert_eq!(summariser.summarise(&[f64::NAN], 5), None);
        assert_eq!(summariser.summarise(&[], 5), None);
    }

    #[test]
    fn the_lowest_table_names_each_pair_and_reads_back() {
        let mut text = String::from("stale");
        let rows = [("drop-it__standard", -0.53214), ("a__b", -0.1)];
        lowest_table(rows.into_iter(), &mut text);
        assert_eq!(
            text,
            "| rank | pair | cos |\n|---:|---|---:|\n\
             | 1 | `drop-it__standard` | -0.5321 |\n| 2 | `a__b` | -0.1000 |\n"
        );
        let read = parse_lowest_table(&text);
        assert_eq!(
            read,
            vec![
                ("drop-it__standard".to_string(), -0.5321),
                ("a__b".to_string(), -0.1)
            ]
        );
        assert!(parse_lowest_table("no table here\n| a | b |").is_empty());
    }
}
