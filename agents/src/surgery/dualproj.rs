//! DualProj, "Jacobian Descent for Multi-Objective Optimization" (Quinton & Rey 2024), after
//! eq. 11 of "Gradient Episodic Memory for Continual Learning" (Lopez-Paz & Ranzato 2017).
//!
//! The mean gradient is projected onto the dual cone of the task gradients:
//! `g = π_J((1/T) Σ_t g_t) = Jᵀ v` with `v = argmin_{v ≥ 1/T} vᵀ G v`, a `[T, T]` QP (see
//! [`super::dual_cone`]). Defaults as torchjd's `DualProj` (mean preference, quadprog's
//! normalisation and `1e-4` ridge). The result conflicts with no task: `G v ≥ 0`.

use tch::Tensor;

use super::dual_cone::{normalized, project};
use super::{combine, Aggregator, GradMatrix};

/// DualProj with the mean preference vector.
#[derive(Debug, Clone, Default)]
pub struct DualProj {
    weights: Vec<f64>,
}

impl DualProj {
    /// The weights `v`, from the row-major Gramian of `tasks` tasks.
    pub fn weights(gram: &[f64], tasks: usize) -> Vec<f64> {
        let u = vec![1.0 / tasks as f64; tasks];
        project(&u, &normalized(gram, tasks))
    }
}

impl Aggregator for DualProj {
    fn name(&self) -> &'static str {
        "dualproj"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        let tasks = grads.size()[0] as usize;
        self.weights = Self::weights(g.gramian(), tasks);
        combine(&self.weights, grads)
    }

    fn task_weights(&self) -> Option<&[f64]> {
        Some(&self.weights)
    }
}
