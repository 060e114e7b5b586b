//! Observation and action spaces, after Gymnasium's `Discrete` and `Box`
//! (`gymnasium/spaces/discrete.py`, `gymnasium/spaces/box.py`, Gymnasium 1.4).

use std::fmt;

use rand::Rng;

/// A space of observations or actions.
#[derive(Debug, Clone, PartialEq)]
pub enum Space {
    /// The integers `0..n` (Gymnasium's `Discrete(n)` with `start = 0`).
    Discrete(usize),
    /// A box of real vectors, bounded elementwise by `low` and `high`.
    Box(BoxSpace),
}

/// Gymnasium's `Box`: an `f32` array of `shape`, bounded elementwise (bounds may be infinite).
#[derive(Debug, Clone, PartialEq)]
pub struct BoxSpace {
    /// Lower bounds, one per element (row-major over `shape`).
    pub low: Vec<f32>,
    /// Upper bounds, one per element.
    pub high: Vec<f32>,
    /// The array's shape; the product equals `low.len()`.
    pub shape: Vec<usize>,
}

impl BoxSpace {
    /// A flat box with the given bounds (shape `[low.len()]`).
    ///
    /// # Panics
    /// If `low` and `high` differ in length; bounds are program constants, not user input.
    pub fn new(low: Vec<f32>, high: Vec<f32>) -> Self {
        assert_eq!(low.len(), high.len(), "Box bounds differ in length");
        let shape = vec![low.len()];
        Self { low, high, shape }
    }

    /// Writes `actions` clipped into the bounds to `out`, as `np.clip` (Gymnasium's
    /// `ClipAction`, Stable-Baselines3's and CleanRL's clipping of sampled actions): each
    /// element is brought into `[low, high]`, a NaN stays NaN. `actions` may hold several
    /// elements of the space one after the other (rows of a batch); the bounds repeat.
    pub fn clip(&self, actions: &[f32], out: &mut [f32]) {
        let bounds = self.low.iter().zip(&self.high).cycle();
        for ((o, &x), (&lo, &hi)) in out.iter_mut().zip(actions).zip(bounds) {
            *o = if x.is_nan() { x } else { x.max(lo).min(hi) };
        }
    }
}

impl Space {
    /// How many `f32` values one element of this space takes in a flat buffer:
    /// 1 for `Discrete` (the index), the element count for `Box`.
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete(_) => 1,
            Space::Box(b) => b.low.len(),
        }
    }

    /// Whether `x` (in the flat layout of [`Space::flat_dim`]) is an element of the space.
    /// A `Discrete` element is an integral value in `0..n`; `NaN` is in no space.
    pub fn contains(&self, x: &[f32]) -> bool {
        if x.len() != self.flat_dim() {
            return false;
        }
        match self {
            Space::Discrete(n) => x[0] >= 0.0 && x[0].fract() == 0.0 && (x[0] as usize) < *n,
            Space::Box(b) => x
                .iter()
                .zip(b.low.iter().zip(&b.high))
                .all(|(v, (lo, hi))| v >= lo && v <= hi),
        }
    }

    /// Writes a uniformly random element into `out` (length [`Space::flat_dim`]).
    /// Like Gymnasium's `sample`, an unbounded side of a `Box` draws from a normal
    /// (both sides unbounded) or a shifted exponential (one side unbounded).
    pub fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) {
        match self {
            Space::Discrete(n) => out[0] = rng.random_range(0..*n) as f32,
            Space::Box(b) => {
                for ((o, &lo), &hi) in out.iter_mut().zip(&b.low).zip(&b.high) {
                    *o = sample_interval(rng, lo, hi);
                }
            }
        }
    }
}

fn sample_interval<R: Rng + ?Sized>(rng: &mut R, lo: f32, hi: f32) -> f32 {
    let exp = |rng: &mut R| -(1.0 - rng.random::<f32>()).ln();
    match (lo.is_finite(), hi.is_finite()) {
        (true, true) => lo + (hi - lo) * rng.random::<f32>(),
        (true, false) => lo + exp(rng),
        (false, true) => hi - exp(rng),
        (false, false) => rand_distr::Distribution::sample(&rand_distr::StandardNormal, rng),
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Discrete(n) => write!(f, "Discrete({n})"),
            Space::Box(b) => {
                let bound = |v: &[f32]| {
                    let first = v.first().copied().unwrap_or(0.0);
                    if v.iter().all(|&x| x == first) {
                        format!("{first}")
                    } else {
                        format!("{v:?}")
                    }
                };
                write!(
                    f,
                    "Box({}, {}, {:?}, float32)",
                    bound(&b.low),
                    bound(&b.high),
                    b.shape
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn clip_brings_every_row_into_the_bounds_and_keeps_nan() {
        let b = BoxSpace::new(vec![-1.0, 0.0], vec![1.0, f32::INFINITY]);
        let actions = [-3.0, -2.0, 0.5, 7.0, f32::NAN, 2.0];
        let mut out = [0.0; 6];
        b.clip(&actions, &mut out);
        assert_eq!(out[..4], [-1.0, 0.0, 0.5, 7.0]);
        assert!(out[4].is_nan());
        assert_eq!(out[5], 2.0);
    }

    #[test]
    fn discrete_contains_only_integral_indices_below_n() {
        let s = Space::Discrete(3);
        assert!(s.contains(&[0.0]) && s.contains(&[2.0]));
        assert!(!s.contains(&[3.0]) && !s.contains(&[-1.0]) && !s.contains(&[0.5]));
        assert!(!s.contains(&[f32::NAN]) && !s.contains(&[0.0, 1.0]));
    }

    #[test]
    fn box_samples_stay_inside_and_nan_is_outside() {
        let s = Space::Box(BoxSpace::new(
            vec![-2.0, 0.0, f32::NEG_INFINITY],
            vec![2.0, 1.0, f32::INFINITY],
        ));
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
        let mut x = [0.0; 3];
        for _ in 0..1000 {
            s.sample_into(&mut rng, &mut x);
            assert!(s.contains(&x), "{x:?}");
        }
        assert!(!s.contains(&[0.0, f32::NAN, 0.0]));
        assert_eq!(
            s.to_string(),
            "Box([-2.0, 0.0, -inf], [2.0, 1.0, inf], [3], float32)"
        );
    }

    #[test]
    fn discrete_samples_cover_every_action() {
        let s = Space::Discrete(4);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let mut seen = [0usize; 4];
        let mut a = [0.0];
        for _ in 0..400 {
            s.sample_into(&mut rng, &mut a);
            seen[a[0] as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 50), "{seen:?}");
    }
}
