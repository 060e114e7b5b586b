//! The statistics of a comparison report: means with Student-t confidence intervals over
//! seeds, Welch's unequal-variance t-test, and the learning-curve summaries (area under the
//! curve, steps to a threshold).

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean and half-width of the two-sided 95% Student-t confidence interval of `xs` (NaN
/// half-width for fewer than two values; NaN both when `xs` is empty or holds a NaN, e.g.
/// runs without a final evaluation).
pub fn mean_ci95(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 || !mean.is_finite() {
        return (mean, f64::NAN);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let t = StudentsT::new(0.0, 1.0, n - 1.0)
        .expect("n - 1 degrees of freedom are positive")
        .inverse_cdf(0.975);
    (mean, t * (var / n).sqrt())
}

/// Welch's t-test of `a` against `b` (Welch 1947): the difference of means, the
/// Welch–Satterthwaite degrees of freedom and the two-sided p-value. `None` with fewer than
/// two values on a side or a value that is not finite; p = 1 (or 0) when both samples have
/// no spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Welch {
    /// `mean(a) − mean(b)`.
    pub diff: f64,
    /// The two-sided p-value of "equal means".
    pub p: f64,
}

/// See [`Welch`].
pub fn welch(a: &[f64], b: &[f64]) -> Option<Welch> {
    let finite = |x: &[f64]| x.iter().all(|v| v.is_finite());
    if a.len() < 2 || b.len() < 2 || !finite(a) || !finite(b) {
        return None;
    }
    let moments = |x: &[f64]| {
        let n = x.len() as f64;
        let m = x.iter().sum::<f64>() / n;
        let v = x.iter().map(|y| (y - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, v / n)
    };
    let ((ma, sa), (mb, sb)) = (moments(a), moments(b));
    let diff = ma - mb;
    let se2 = sa + sb;
    if se2 == 0.0 {
        let p = if diff == 0.0 { 1.0 } else { 0.0 };
        return Some(Welch { diff, p });
    }
    let df = se2 * se2 / (sa * sa / (a.len() as f64 - 1.0) + sb * sb / (b.len() as f64 - 1.0));
    let t = diff / se2.sqrt();
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some(Welch {
        diff,
        p: 2.0 * (1.0 - dist.cdf(t.abs())),
    })
}

/// A learning curve resampled on `bins` equal intervals of `[0, budget]`: the mean of the
/// points in each interval, an empty interval repeating the one before (NaN before the
/// first point).
pub fn binned(curve: &[(u64, f64)], budget: u64, bins: usize) -> Vec<f64> {
    let mut sums = vec![(0.0, 0usize); bins];
    for &(step, value) in curve {
        let k = ((step as f64 / budget as f64) * bins as f64).ceil() as usize;
        let (sum, n) = &mut sums[k.clamp(1, bins) - 1];
        *sum += value;
        *n += 1;
    }
    let mut last = f64::NAN;
    sums.iter()
        .map(|&(sum, n)| {
            if n > 0 {
                last = sum / n as f64;
            }
            last
        })
        .collect()
}

/// The area under a binned learning curve, normalised by its length: the mean return over
/// training (bins before the first episode ended are left out).
pub fn auc(binned: &[f64]) -> f64 {
    let seen: Vec<f64> = binned.iter().copied().filter(|v| !v.is_nan()).collect();
    seen.iter().sum::<f64>() / seen.len() as f64
}

/// Episodes in the moving average that [`steps_to_threshold`] compares with the threshold.
pub const THRESHOLD_WINDOW: usize = 20;

/// The first step at which the mean return of the last [`THRESHOLD_WINDOW`] episodes (fewer
/// at the start) reaches `threshold`; `None` if it never does.
pub fn steps_to_threshold(curve: &[(u64, f64)], threshold: f64) -> Option<u64> {
    let mut window = std::collections::VecDeque::with_capacity(THRESHOLD_WINDOW);
    for &(step, value) in curve {
        if window.len() == THRESHOLD_WINDOW {
            window.pop_front();
        }
        window.push_back(value);
        if window.len() == THRESHOLD_WINDOW
            && window.iter().sum::<f64>() / window.len() as f64 >= threshold
        {
            return Some(step);
        }
    }
    None
}

/// The median of `xs` (NaN when empty).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The `q`-quantile of `xs` (`0 ≤ q ≤ 1`), interpolated linearly between the order
/// statistics as NumPy's default `percentile`; NaN when empty.
pub fn percentile(xs: &[f64], q: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_as_numpy() {
        // numpy.percentile([1, 2, 3, 4], [0, 10, 50, 100]) = [1.0, 1.3, 2.5, 4.0]
        let xs = [4.0, 1.0, 3.0, 2.0];
        let got: Vec<f64> = [0.0, 0.1, 0.5, 1.0]
            .iter()
            .map(|&q| percentile(&xs, q))
            .collect();
        for (g, want) in got.iter().zip([1.0, 1.3, 2.5, 4.0]) {
            assert!((g - want).abs() < 1e-12, "{got:?}");
        }
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn runs_without_evaluation_give_no_interval_and_no_verdict_instead_of_a_panic() {
        let none = [f64::NAN, f64::NAN, f64::NAN];
        let (m, h) = mean_ci95(&none);
        assert!(m.is_nan() && h.is_nan());
        assert!(mean_ci95(&[]).0.is_nan());
        assert_eq!(welch(&none, &[1.0, 2.0, 3.0]), None);
        assert_eq!(welch(&[1.0, 2.0, f64::INFINITY], &[1.0, 2.0]), None);
    }

    #[test]
    fn confidence_interval_matches_the_t_table() {
        // n = 3, sd = 1: t(0.975, 2) = 4.302653, half-width 4.302653 / sqrt(3).
        let (m, h) = mean_ci95(&[1.0, 2.0, 3.0]);
        assert_eq!(m, 2.0);
        assert!((h - 4.302_653 / 3f64.sqrt()).abs() < 1e-5, "{h}");
        assert!(mean_ci95(&[5.0]).1.is_nan());
    }

    #[test]
    fn welch_matches_scipy() {
        // scipy.stats.ttest_ind([1, 2, 3, 4], [2, 4, 6, 8, 10], equal_var=False):
        // statistic -2.25144, pvalue 0.0691336 (df 5.5208).
        let w = welch(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0, 8.0, 10.0]).unwrap();
        assert!((w.diff + 3.5).abs() < 1e-12);
        assert!((w.p - 0.069_133_6).abs() < 1e-6, "{}", w.p);
        assert_eq!(welch(&[1.0, 1.0], &[1.0, 1.0]).unwrap().p, 1.0);
        assert!(welch(&[1.0], &[1.0, 2.0]).is_none());
    }

    #[test]
    fn binning_averages_and_carries_forward() {
        let curve = vec![(10, 1.0), (20, 3.0), (70, 5.0)];
        assert_eq!(binned(&curve, 100, 4), vec![2.0, 2.0, 5.0, 5.0]);
        let late = binned(&[(90, 4.0)], 100, 2);
        assert!(late[0].is_nan() && late[1] == 4.0);
        assert_eq!(auc(&late), 4.0);
    }

    #[test]
    fn threshold_needs_a_full_window() {
        let mut curve: Vec<(u64, f64)> = (1..=19).map(|k| (k * 10, 500.0)).collect();
        assert_eq!(steps_to_threshold(&curve, 475.0), None);
        curve.push((200, 500.0));
        assert_eq!(steps_to_threshold(&curve, 475.0), Some(200));
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
    }
}
