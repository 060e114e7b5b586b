//! ConFIG, "ConFIG: Towards Conflict-free Training of Physics Informed Neural Networks"
//! (Liu et al., ICLR 2025; arXiv 2024), eq. 2, as torchjd's `ConFIG`.
//!
//! The direction is the one with equal positive cosine to every task gradient,
//! `ĝ = U⁺ 1 / ‖U⁺ 1‖` with `U` the matrix of unit task gradients (zero rows stay zero), and
//! its length is the sum of the projections of the gradients on it:
//! `g = (Σ_t g_t · ĝ) ĝ`. Through the Gramian, `U⁺ 1 = Uᵀ (U Uᵀ)⁺ 1` with `U Uᵀ = D G D`,
//! `D = diag(1/‖g_t‖)`, so no `[P, P]` (nor `[P, T]` pseudo-inverse) is formed. The Gramian's
//! pseudo-inverse cuts eigenvalues below `T · ε` times the largest (`ε` of the gradients'
//! kind): the same rank decisions as torch's `pinv(U)` wherever the singular values of `U`
//! are clearly zero or clearly not.

use tch::Tensor;

use super::gramian::{epsilon, square, to_vec};
use super::{combine, Aggregator, GradMatrix};

/// ConFIG with equal preference.
#[derive(Debug, Clone, Default)]
pub struct ConFig {
    weights: Vec<f64>,
}

impl ConFig {
    /// The weights from the row-major Gramian of `tasks` tasks, pseudo-inverted with relative
    /// cut-off `rtol`.
    pub fn weights(gram: &[f64], tasks: usize, rtol: f64) -> Vec<f64> {
        let inv_norm: Vec<f64> = (0..tasks)
            .map(|t| {
                let n = gram[t * tasks + t].max(0.0).sqrt();
                if n > 0.0 {
                    1.0 / n
                } else {
                    0.0
                }
            })
            .collect();
        let units: Vec<f64> = (0..tasks * tasks)
            .map(|k| gram[k] * inv_norm[k / tasks] * inv_norm[k % tasks])
            .collect();
        let pinv = square(&units, tasks).linalg_pinv_atol_rtol_float(None, rtol, true);
        let c = to_vec(&pinv.matmul(&Tensor::from_slice(&vec![1.0; tasks])));
        // best = Σ_t c'_t g_t with c' = c ⊙ D.
        let c: Vec<f64> = c.iter().zip(&inv_norm).map(|(a, b)| a * b).collect();
        let gc: Vec<f64> = (0..tasks)
            .map(|i| (0..tasks).map(|k| gram[i * tasks + k] * c[k]).sum())
            .collect();
        let norm2: f64 = c.iter().zip(&gc).map(|(a, b)| a * b).sum();
        let norm = norm2.max(0.0).sqrt().max(1e-12);
        let length: f64 = gc.iter().sum::<f64>() / norm;
        c.iter().map(|x| x * length / norm).collect()
    }
}

impl Aggregator for ConFig {
    fn name(&self) -> &'static str {
        "config"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        let tasks = grads.size()[0] as usize;
        let rtol = tasks as f64 * epsilon(grads);
        self.weights = Self::weights(g.gramian(), tasks, rtol);
        combine(&self.weights, grads)
    }

    fn task_weights(&self) -> Option<&[f64]> {
        Some(&self.weights)
    }
}
