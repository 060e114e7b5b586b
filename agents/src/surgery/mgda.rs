//! MGDA, "Multi-Task Learning as Multi-Objective Optimization" (Sener & Koltun, NeurIPS 2018).
//!
//! The update is the min-norm element of the convex hull of the task gradients,
//! `g = Σ_t α_t g_t` with `α = argmin_{α ∈ Δ} ‖Σ_t α_t g_t‖² = argmin_{α ∈ Δ} αᵀ G α` (eq. 3 of the
//! paper, `G` the Gramian), found with the Frank-Wolfe solver of the paper's Algorithm 2:
//! start from `α = 1/T`, move towards the vertex `e_t` with the smallest `(G α)_t` by the exact
//! line-search step `γ`, stop when `γ < epsilon` or after `max_iters` steps. Defaults and
//! stopping rule as torchjd's `MGDA` (`epsilon = 1e-3`, `max_iters = 100`). Only the `[T, T]`
//! Gramian is formed.

use tch::Tensor;

use super::{combine, Aggregator, GradMatrix, SurgeryError};
use crate::params::Params;

/// MGDA with a Frank-Wolfe inner solver on the Gramian.
#[derive(Debug, Clone)]
pub struct Mgda {
    epsilon: f64,
    max_iters: usize,
    weights: Vec<f64>,
}

impl Mgda {
    /// MGDA stopping when the step `γ` falls below `epsilon` or after `max_iters` steps.
    pub fn new(epsilon: f64, max_iters: usize) -> Self {
        Self {
            epsilon,
            max_iters,
            weights: Vec::new(),
        }
    }

    pub(crate) fn from_params(p: &mut Params) -> Result<Self, SurgeryError> {
        let epsilon = p.get("epsilon", 1e-3, "must be positive", |v| v > 0.0)?;
        let max_iters = p.count("max_iters", 100)?;
        Ok(Self::new(epsilon, max_iters))
    }

    /// The weights `α` on the simplex, from the row-major Gramian of `tasks` tasks.
    pub fn weights(&self, gram: &[f64], tasks: usize) -> Vec<f64> {
        let mut alpha = vec![1.0 / tasks as f64; tasks];
        let g_alpha = |alpha: &[f64]| -> Vec<f64> {
            (0..tasks)
                .map(|i| (0..tasks).map(|k| gram[i * tasks + k] * alpha[k]).sum())
                .collect()
        };
        for _ in 0..self.max_iters {
            let ga = g_alpha(&alpha);
            // The first index of the smallest entry, as torch.argmin.
            let t = (0..tasks).fold(0, |best, i| if ga[i] < ga[best] { i } else { best });
            let a = ga[t];
            let b: f64 = alpha.iter().zip(&ga).map(|(x, y)| x * y).sum();
            let c = gram[t * tasks + t];
            let gamma = if c <= a {
                1.0
            } else if b <= a {
                0.0
            } else {
                (b - a) / (b + c - 2.0 * a)
            };
            alpha.iter_mut().for_each(|x| *x *= 1.0 - gamma);
            alpha[t] += gamma;
            if gamma < self.epsilon {
                break;
            }
        }
        alpha
    }
}

impl Default for Mgda {
    fn default() -> Self {
        Self::new(1e-3, 100)
    }
}

impl Aggregator for Mgda {
    fn name(&self) -> &'static str {
        "mgda"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        let tasks = grads.size()[0] as usize;
        self.weights = self.weights(g.gramian(), tasks);
        combine(&self.weights, grads)
    }

    fn task_weights(&self) -> Option<&[f64]> {
        Some(&self.weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surgery::gramian;

    /// The exact min of `αᵀGα` on the simplex, by brute force over the faces: on each face
    /// `S`, the affine minimiser `α_S = G_SS⁻¹ 1 / (1ᵀ G_SS⁻¹ 1)`, kept if non-negative.
    fn brute_force(gram: &[f64], tasks: usize) -> f64 {
        let mut best = f64::INFINITY;
        for mask in 1u32..(1 << tasks) {
            let s: Vec<usize> = (0..tasks).filter(|i| mask & (1 << i) != 0).collect();
            let n = s.len() as i64;
            let sub: Vec<f64> = s
                .iter()
                .flat_map(|&i| s.iter().map(move |&j| gram[i * tasks + j]))
                .collect();
            let g = Tensor::from_slice(&sub).reshape([n, n]);
            let x = Vec::<f64>::try_from(g.inverse().sum_dim_intlist(1, false, None)).unwrap();
            let total: f64 = x.iter().sum();
            if x.iter().all(|&v| v / total >= 0.0) {
                best = best.min(1.0 / total);
            }
        }
        best
    }

    #[test]
    fn finds_the_min_norm_point_of_the_convex_hull() {
        for seed in 0..6 {
            tch::manual_seed(seed);
            for tasks in [2usize, 3] {
                let g = Tensor::randn([tasks as i64, 4], (tch::Kind::Double, tch::Device::Cpu));
                let gram = gramian(&g);
                let mut m = Mgda::new(1e-9, 100_000);
                let out = m.aggregate(&crate::surgery::GradMatrix::from(&g));
                let norm2 = out.dot(&out).double_value(&[]);
                let w = m.task_weights().unwrap();
                assert!(w.iter().all(|&x| x >= -1e-12));
                assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                let brute = brute_force(&gram, tasks);
                assert!(norm2 >= brute - 1e-12, "{norm2} < {brute}");
                assert!(norm2 <= brute * (1.0 + 1e-3) + 1e-12, "{norm2} > {brute}");
            }
        }
    }
}
