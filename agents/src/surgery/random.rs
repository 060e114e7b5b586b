//! Random weighting (RGW), "Reasonable Effectiveness of Random Weighting: A Litmus Test for
//! Multi-Task Learning" (Lin et al., TMLR 2022), Algorithm 2, as torchjd's `Random`.
//!
//! Each call draws `z ~ N(0, I_T)` and combines the task gradients with the weights
//! `softmax(z)`: positive, summing to one, `1/T` in expectation.

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;
use tch::Tensor;

use super::{combine, load_rng, save_rng, Aggregator, GradMatrix, SurgeryError};

/// Random weighting with a seeded generator.
#[derive(Debug, Clone)]
pub struct RandomWeighting {
    rng: Pcg64,
    weights: Vec<f64>,
}

impl RandomWeighting {
    /// Random weighting whose draws come from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Pcg64::seed_from_u64(seed),
            weights: Vec::new(),
        }
    }

    /// Draws the weights of `tasks` tasks: `softmax(z)`, `z ~ N(0, I)`.
    pub fn draw(&mut self, tasks: usize) -> Vec<f64> {
        let z: Vec<f64> = (0..tasks)
            .map(|_| self.rng.sample::<f64, _>(StandardNormal))
            .collect();
        let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|x| x / sum).collect()
    }
}

impl Aggregator for RandomWeighting {
    fn name(&self) -> &'static str {
        "random"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        self.weights = self.draw(grads.size()[0] as usize);
        combine(&self.weights, grads)
    }

    fn reseed(&mut self, seed: u64) {
        self.rng = Pcg64::seed_from_u64(seed);
    }

    fn save_state(&self) -> Vec<u8> {
        save_rng(self.name(), &self.rng)
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), SurgeryError> {
        self.rng = load_rng(self.name(), bytes)?;
        Ok(())
    }

    fn task_weights(&self) -> Option<&[f64]> {
        Some(&self.weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_a_random_point_of_the_simplex_with_mean_one_over_t() {
        let mut r = RandomWeighting::new(1);
        let tasks = 4;
        let draws = 20_000;
        let mut mean = vec![0.0; tasks];
        let mut second = vec![0.0; tasks];
        for _ in 0..draws {
            let w = r.draw(tasks);
            assert!(w.iter().all(|&x| x > 0.0));
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            for t in 0..tasks {
                mean[t] += w[t] / draws as f64;
                second[t] += w[t] * w[t] / draws as f64;
            }
        }
        for t in 0..tasks {
            assert!((mean[t] - 0.25).abs() < 0.01, "{mean:?}");
            // Not a constant: the weights vary from draw to draw.
            assert!(second[t] - mean[t] * mean[t] > 0.01, "{second:?}");
        }
        // Reseeding replays the draws.
        r.reseed(5);
        let a = r.draw(3);
        r.reseed(5);
        assert_eq!(a, r.draw(3));
    }
}
