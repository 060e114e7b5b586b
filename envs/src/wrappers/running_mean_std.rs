//! Running mean and variance of a stream of vectors, as Gymnasium's `RunningMeanStd`
//! (`gymnasium/wrappers/utils.py`, Gymnasium 1.4): the parallel algorithm of Chan et al.
//! (<https://en.wikipedia.org/wiki/Algorithms_for_calculating_variance#Parallel_algorithm>),
//! with the mean starting at 0, the variance at 1 and the count at `1e-4`.
//!
//! The arithmetic follows `update_mean_var_count_from_moments` operation by operation, so
//! with `f64` inputs the statistics agree bit for bit with Gymnasium's float64 ones.

/// The count a fresh [`RunningMeanStd`] starts with (Gymnasium's `epsilon=1e-4`): it keeps
/// the first update from dividing by zero and weighs the initial variance of 1 very lightly.
pub const INITIAL_COUNT: f64 = 1e-4;

/// Elementwise running mean, (population) variance and count of vectors of a fixed length;
/// Gymnasium's `gymnasium.wrappers.utils.RunningMeanStd` with `f64` statistics.
///
/// Used by [`NormalizeObservation`](super::NormalizeObservation) (one entry per observation
/// element) and [`NormalizeReward`](super::NormalizeReward) (one entry). Updates allocate
/// nothing.
///
/// With `serde` it is `{ mean, var, count }`, bit for bit; deserialising checks only that
/// `mean` and `var` have one length (unlike [`from_parts`](Self::from_parts), it accepts
/// statistics that a non-finite observation has made NaN, so that a saved wrapper state is
/// restored exactly as it was).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Parts")]
pub struct RunningMeanStd {
    mean: Vec<f64>,
    var: Vec<f64>,
    count: f64,
}

/// The serialised fields of a [`RunningMeanStd`], checked by `try_from`.
#[derive(serde::Deserialize)]
struct Parts {
    mean: Vec<f64>,
    var: Vec<f64>,
    count: f64,
}

impl TryFrom<Parts> for RunningMeanStd {
    type Error = String;

    fn try_from(Parts { mean, var, count }: Parts) -> Result<Self, String> {
        if mean.len() != var.len() {
            let (m, v) = (mean.len(), var.len());
            return Err(format!(
                "running statistics with {m} means but {v} variances"
            ));
        }
        Ok(Self { mean, var, count })
    }
}

impl RunningMeanStd {
    /// Fresh statistics for vectors of length `dim`: mean 0, variance 1, count
    /// [`INITIAL_COUNT`].
    pub fn new(dim: usize) -> Self {
        Self {
            mean: vec![0.0; dim],
            var: vec![1.0; dim],
            count: INITIAL_COUNT,
        }
    }

    /// Statistics from saved values (e.g. a checkpoint), or `None` if `mean` and `var`
    /// differ in length, a variance is negative or not finite, a mean is not finite, or
    /// `count` is not positive and finite.
    pub fn from_parts(mean: Vec<f64>, var: Vec<f64>, count: f64) -> Option<Self> {
        let valid = mean.len() == var.len()
            && mean.iter().all(|m| m.is_finite())
            && var.iter().all(|v| v.is_finite() && *v >= 0.0)
            && count.is_finite()
            && count > 0.0;
        valid.then_some(Self { mean, var, count })
    }

    /// The length of the vectors tracked.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The running mean, one entry per element.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The running population variance, one entry per element.
    pub fn var(&self) -> &[f64] {
        &self.var
    }

    /// How many vectors have been seen, plus [`INITIAL_COUNT`] (a real number, as in
    /// Gymnasium).
    pub fn count(&self) -> f64 {
        self.count
    }

    /// Adds one vector `x` (length [`dim`](Self::dim), `f32` or `f64`): Gymnasium's
    /// `update(np.array([x]))`, i.e. a batch of one with variance 0.
    ///
    /// # Panics
    /// If `x.len() != self.dim()`.
    pub fn update_one<T: Copy + Into<f64>>(&mut self, x: &[T]) {
        assert_eq!(
            x.len(),
            self.dim(),
            "RunningMeanStd::update_one: wrong length"
        );
        let (count, tot_count) = (self.count, self.count + 1.0);
        for ((mean, var), &x) in self.mean.iter_mut().zip(&mut self.var).zip(x) {
            (*mean, *var) = combine(*mean, *var, count, x.into(), 0.0, 1.0, tot_count);
        }
        self.count = tot_count;
    }

    /// Adds a batch of vectors (`f32` or `f64`) laid out row after row in `rows` (a multiple
    /// of [`dim`](Self::dim) long): Gymnasium's `update(batch)` with the batch's elementwise
    /// mean and population variance. An empty batch changes nothing.
    ///
    /// # Panics
    /// If `rows.len()` is not a multiple of `self.dim()` (or `dim` is 0 and `rows` is not
    /// empty).
    pub fn update<T: Copy + Into<f64>>(&mut self, rows: &[T]) {
        let dim = self.dim();
        if rows.is_empty() {
            return;
        }
        assert!(
            dim > 0 && rows.len().is_multiple_of(dim),
            "RunningMeanStd::update: ragged batch"
        );
        let n = rows.len() / dim;
        let batch_count = n as f64;
        let (count, tot_count) = (self.count, self.count + batch_count);
        for j in 0..dim {
            let column = || rows[j..].iter().step_by(dim).map(|&x| x.into());
            let batch_mean = column().sum::<f64>() / batch_count;
            let batch_var = column().map(|x| (x - batch_mean).powi(2)).sum::<f64>() / batch_count;
            (self.mean[j], self.var[j]) = combine(
                self.mean[j],
                self.var[j],
                count,
                batch_mean,
                batch_var,
                batch_count,
                tot_count,
            );
        }
        self.count = tot_count;
    }

    /// Merges statistics gathered elsewhere (e.g. by another worker's copy of a wrapper)
    /// into these: Gymnasium's `update_from_moments(other.mean, other.var, other.count)`.
    ///
    /// # Panics
    /// If the two track vectors of different lengths.
    pub fn merge(&mut self, other: &RunningMeanStd) {
        assert_eq!(
            self.dim(),
            other.dim(),
            "RunningMeanStd::merge: different lengths"
        );
        let (count, tot_count) = (self.count, self.count + other.count);
        for j in 0..self.dim() {
            (self.mean[j], self.var[j]) = combine(
                self.mean[j],
                self.var[j],
                count,
                other.mean[j],
                other.var[j],
                other.count,
                tot_count,
            );
        }
        self.count = tot_count;
    }
}

/// Gymnasium's `update_mean_var_count_from_moments` for one element, in its order of
/// operations; returns the new mean and variance (the new count is `tot_count`).
fn combine(
    mean: f64,
    var: f64,
    count: f64,
    batch_mean: f64,
    batch_var: f64,
    batch_count: f64,
    tot_count: f64,
) -> (f64, f64) {
    let delta = batch_mean - mean;
    let new_mean = mean + delta * batch_count / tot_count;
    let m_a = var * count;
    let m_b = batch_var * batch_count;
    let m2 = m_a + m_b + delta * delta * count * batch_count / tot_count;
    (new_mean, m2 / tot_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_round_trips_bit_for_bit_and_rejects_ragged_statistics() {
        let mut rms = RunningMeanStd::new(2);
        rms.update_one(&[1.5f32, f32::NAN]);
        let bytes = crate::state::encode(&rms);
        let back: RunningMeanStd = crate::state::decode("T-v0", &bytes).unwrap();
        let bits = |r: &RunningMeanStd| {
            let all = r.mean().iter().chain(r.var()).copied().chain([r.count()]);
            all.map(f64::to_bits).collect::<Vec<_>>()
        };
        assert_eq!(bits(&back), bits(&rms));
        assert!(back.mean()[1].is_nan());

        let ragged = crate::state::encode(&(vec![0.0f64; 2], vec![1.0f64; 3], 1.0f64));
        let err = crate::state::decode::<RunningMeanStd>("T-v0", &ragged).unwrap_err();
        // postcard (without its `std` feature) keeps no custom message, only the failure.
        assert!(matches!(err, crate::EnvError::State { .. }), "{err}");
    }

    // Expected numbers from Gymnasium 1.4:
    //
    //     from gymnasium.wrappers.utils import RunningMeanStd
    //     import numpy as np
    //     rms = RunningMeanStd(shape=(2,))
    //     for x in [[1.0, -2.0], [3.0, 0.5], [-0.25, 4.0]]:
    //         rms.update(np.array([x]))
    //     print(rms.mean.tolist(), rms.var.tolist(), rms.count)
    //     rms.update(np.array([[2.0, 1.0], [0.0, -1.0], [5.5, 3.25]]))
    //     print(rms.mean.tolist(), rms.var.tolist(), rms.count)
    #[test]
    fn single_and_batch_updates_match_gymnasium() {
        let mut rms = RunningMeanStd::new(2);
        for x in [[1.0, -2.0], [3.0, 0.5], [-0.25, 4.0]] {
            rms.update_one(&x);
        }
        assert_eq!(rms.mean(), &[1.249958334722176, 0.8333055564814509]);
        assert_eq!(rms.var(), &[1.791692358518663, 6.055410189259149]);
        assert_eq!(rms.count(), 3.0000999999999998);
        rms.update(&[2.0, 1.0, 0.0, -1.0, 5.5, 3.25]);
        assert_eq!(rms.mean(), &[1.8749687505208248, 0.9583173613773105]);
        assert_eq!(rms.var(), &[3.8698024293996305, 4.550303356957461]);
        assert_eq!(rms.count(), 6.0001);
    }

    #[test]
    fn fresh_statistics_and_empty_batch() {
        let mut rms = RunningMeanStd::new(3);
        rms.update::<f32>(&[]);
        assert_eq!(
            rms,
            RunningMeanStd::from_parts(vec![0.0; 3], vec![1.0; 3], 1e-4).unwrap()
        );
        assert_eq!(rms.count(), INITIAL_COUNT);
    }

    #[test]
    fn merge_equals_updating_with_the_same_data() {
        let data = [0.5f32, -1.0, 2.0, 3.5, -0.75, 1.25, 4.0, 0.0];
        let mut all = RunningMeanStd::new(2);
        all.update(&data);
        let mut a = RunningMeanStd::new(2);
        let mut b = RunningMeanStd::new(2);
        a.update(&data[..4]);
        b.update(&data[4..]);
        a.merge(&b);
        // Both start from the prior (count 1e-4), so merging counts it twice; the effect
        // is of order 1e-4.
        assert!((a.count() - all.count() - INITIAL_COUNT).abs() < 1e-12);
        for j in 0..2 {
            assert!(
                (a.mean()[j] - all.mean()[j]).abs() < 1e-4,
                "{a:?} vs {all:?}"
            );
            assert!((a.var()[j] - all.var()[j]).abs() < 1e-3, "{a:?} vs {all:?}");
        }
    }

    #[test]
    fn from_parts_rejects_inconsistent_statistics() {
        assert!(RunningMeanStd::from_parts(vec![0.0], vec![1.0, 1.0], 1.0).is_none());
        assert!(RunningMeanStd::from_parts(vec![0.0], vec![-1.0], 1.0).is_none());
        assert!(RunningMeanStd::from_parts(vec![f64::NAN], vec![1.0], 1.0).is_none());
        assert!(RunningMeanStd::from_parts(vec![0.0], vec![1.0], 0.0).is_none());
        assert!(RunningMeanStd::from_parts(vec![0.0], vec![1.0], f64::INFINITY).is_none());
        assert!(RunningMeanStd::from_parts(vec![0.0], vec![0.0], 2.0).is_some());
    }
}
