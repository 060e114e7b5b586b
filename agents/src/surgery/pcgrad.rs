//! PCGrad, "Gradient Surgery for Multi-Task Learning" (Yu et al., NeurIPS 2020), Algorithm 1.
//!
//! For each task `i`, in turn for every other task `j` in random order: if the (already
//! projected) `g_i^PC` conflicts with the original `g_j` (`g_i^PC · g_j < 0`), project it onto
//! the normal plane of `g_j`: `g_i^PC ← g_i^PC − (g_i^PC · g_j) / ‖g_j‖² · g_j` (eq. 1 of the
//! paper). The update is the sum `Σ_i g_i^PC`, as in the paper and torchjd's `PCGrad`.
//!
//! Every `g_i^PC` stays a linear combination of the original rows, so the projections run on a
//! `[T, T]` coefficient matrix using the Gramian: the cost is one `[T, P]·[P, T]` product and
//! one `[T]·[T, P]` product, whatever `P`.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use tch::Tensor;

use super::{combine, load_rng, save_rng, Aggregator, GradMatrix, SurgeryError};

/// PCGrad with a seeded random task order.
#[derive(Debug, Clone)]
pub struct PcGrad {
    rng: Pcg64,
    last: Vec<f64>,
}

impl PcGrad {
    /// PCGrad whose random orders come from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Pcg64::seed_from_u64(seed),
            last: Vec::new(),
        }
    }

    /// The weights `w` with `Σ_i g_i^PC = Σ_k w_k g_k`, from the row-major Gramian of `T` tasks.
    pub fn weights(&mut self, gram: &[f64], tasks: usize) -> Vec<f64> {
        let mut order: Vec<usize> = (0..tasks).collect();
        let mut total = vec![0.0; tasks];
        let mut coef = vec![0.0; tasks];
        for i in 0..tasks {
            coef.iter_mut().for_each(|c| *c = 0.0);
            coef[i] = 1.0;
            order.shuffle(&mut self.rng);
            for &j in order.iter().filter(|&&j| j != i) {
                // g_i^PC · g_j = Σ_k coef_k (g_k · g_j)
                let dot: f64 = (0..tasks).map(|k| coef[k] * gram[k * tasks + j]).sum();
                let norm2 = gram[j * tasks + j];
                if dot < 0.0 && norm2 > 0.0 {
                    coef[j] -= dot / norm2;
                }
            }
            total.iter_mut().zip(&coef).for_each(|(t, c)| *t += c);
        }
        total
    }
}

impl Aggregator for PcGrad {
    fn name(&self) -> &'static str {
        "pcgrad"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        let tasks = grads.size()[0] as usize;
        self.last = self.weights(g.gramian(), tasks);
        combine(&self.last, grads)
    }

    fn task_weights(&self) -> Option<&[f64]> {
        Some(&self.last)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn rows(values: &[f32], tasks: i64) -> Tensor {
        Tensor::from_slice(values).reshape([tasks, -1])
    }

    fn vec(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.to_kind(Kind::Float)).unwrap()
    }

    fn assert_close(a: &[f32], b: &[f32]) {
        assert!(
            a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5),
            "{a:?} != {b:?}"
        );
    }

    #[test]
    fn non_conflicting_gradients_are_summed_unchanged() {
        let g = rows(&[1.0, 2.0, 0.0, 3.0, 1.0, 1.0], 2);
        assert_close(
            &vec(&PcGrad::new(0).aggregate(&crate::surgery::GradMatrix::from(&g))),
            &[4.0, 3.0, 1.0],
        );
    }

    #[test]
    fn two_conflicting_gradients_are_each_projected_on_the_others_normal_plane() {
        // g1 = (1, 0), g2 = (-1, 1): g1·g2 = -1 < 0.
        // g1^PC = g1 - (-1/2) g2 = (0.5, 0.5); g2^PC = g2 - (-1/1) g1 = (0, 1).
        let g = rows(&[1.0, 0.0, -1.0, 1.0], 2);
        let out = vec(&PcGrad::new(7).aggregate(&crate::surgery::GradMatrix::from(&g)));
        assert_close(&out, &[0.5, 1.5]);
    }

    #[test]
    fn matches_the_explicit_algorithm_for_many_tasks() {
        // Algorithm 1 written directly on vectors, with the same shuffled orders.
        let t = 5;
        let g = Tensor::randn([t, 9], (Kind::Double, tch::Device::Cpu));
        let rows_vec: Vec<Vec<f64>> = (0..t)
            .map(|i| Vec::<f64>::try_from(g.get(i)).unwrap())
            .collect();
        let mut rng = Pcg64::seed_from_u64(3);
        let mut order: Vec<usize> = (0..t as usize).collect();
        let mut expected = vec![0.0f64; 9];
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        for i in 0..t as usize {
            let mut pc = rows_vec[i].clone();
            order.shuffle(&mut rng);
            for &j in order.iter().filter(|&&j| j != i) {
                let d = dot(&pc, &rows_vec[j]);
                if d < 0.0 {
                    let n = dot(&rows_vec[j], &rows_vec[j]);
                    pc.iter_mut()
                        .zip(&rows_vec[j])
                        .for_each(|(p, q)| *p -= d / n * q);
                }
            }
            expected.iter_mut().zip(&pc).for_each(|(e, p)| *e += p);
        }
        let got =
            Vec::<f64>::try_from(PcGrad::new(3).aggregate(&crate::surgery::GradMatrix::from(&g)))
                .unwrap();
        assert!(
            got.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-9),
            "{got:?} vs {expected:?}"
        );
    }

    #[test]
    fn zero_rows_are_left_alone() {
        let g = rows(&[0.0, 0.0, 1.0, -1.0], 2);
        assert_close(
            &vec(&PcGrad::new(0).aggregate(&crate::surgery::GradMatrix::from(&g))),
            &[1.0, -1.0],
        );
    }
}
