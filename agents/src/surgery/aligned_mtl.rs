//! Aligned-MTL, "Independent Component Alignment for Multi-Task Learning" (Senushkin et al.,
//! CVPR 2023), Algorithm 1.
//!
//! The task gradients are aligned by the balance transformation that makes the condition
//! number of the (rank-`r`) Gramian one: with `G = V Λ Vᵀ` restricted to its `r` eigenvalues
//! above `max λ · T · ε`, `B = √λ_min · V Λ^{-1/2} Vᵀ` and the weights are `B w` for the mean
//! preference `w = 1/T` (eq. 8–10 of the paper). The scale `λ_min` (smallest kept eigenvalue)
//! is torchjd's default `scale_mode = "min"`, which the paper's Algorithm 1 also uses; the
//! authors' code used the mean eigenvalue. If no eigenvalue is kept (all gradients zero),
//! `B = I`. Only the `[T, T]` Gramian is formed.

use tch::Tensor;

use super::gramian::{epsilon, square, to_vec};
use super::{combine, Aggregator, GradMatrix};

/// Aligned-MTL with the mean preference and the `min` eigenvalue scale.
#[derive(Debug, Clone, Default)]
pub struct AlignedMtl {
    weights: Vec<f64>,
}

impl AlignedMtl {
    /// The weights from the row-major Gramian of `tasks` tasks, with machine epsilon `eps`.
    pub fn weights(gram: &[f64], tasks: usize, eps: f64) -> Vec<f64> {
        let w = 1.0 / tasks as f64;
        let (lambda, v) = square(gram, tasks).linalg_eigh("U");
        let lambda = to_vec(&lambda);
        let v = to_vec(&v);
        let max = lambda.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let tol = max * tasks as f64 * eps;
        let kept: Vec<usize> = (0..tasks).filter(|&i| lambda[i] > tol).collect();
        if kept.is_empty() {
            return vec![w; tasks];
        }
        let scale = kept
            .iter()
            .map(|&i| lambda[i])
            .fold(f64::INFINITY, f64::min)
            .sqrt();
        // B w = scale · Σ_k v_k (v_k · w) / √λ_k, with v_k the eigenvector columns.
        let mut out = vec![0.0; tasks];
        for &k in &kept {
            let proj: f64 = (0..tasks).map(|i| v[i * tasks + k] * w).sum();
            let c = scale * proj / lambda[k].sqrt();
            for (i, o) in out.iter_mut().enumerate() {
                *o += c * v[i * tasks + k];
            }
        }
        out
    }
}

impl Aggregator for AlignedMtl {
    fn name(&self) -> &'static str {
        "aligned-mtl"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        let tasks = grads.size()[0] as usize;
        self.weights = Self::weights(g.gramian(), tasks, epsilon(grads));
        combine(&self.weights, grads)
    }

    fn task_weights(&self) -> Option<&[f64]> {
        Some(&self.weights)
    }
}
