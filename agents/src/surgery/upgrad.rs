//! UPGrad, "Jacobian Descent for Multi-Objective Optimization" (Quinton & Rey 2024), eq. 5.
//!
//! Each task gradient is projected onto the dual cone of all the task gradients
//! (`π_J(g_t)`, so that it conflicts with none of them), and the projections are averaged:
//! `g = (1/T) Σ_t π_J(g_t)`. By Proposition 1 each projection is `Jᵀ v_t` with
//! `v_t = argmin_{v ≥ e_t/T} vᵀ G v`, a `[T, T]` QP (see [`super::dual_cone`]); the weights are
//! `Σ_t v_t`. Defaults as torchjd's `UPGrad` (mean preference, quadprog's normalisation and
//! `1e-4` ridge). The result conflicts with no task: `G w ≥ 0`.

use tch::Tensor;

use super::dual_cone::{normalized, project};
use super::{combine, Aggregator, GradMatrix};

/// UPGrad with the mean preference vector.
#[derive(Debug, Clone, Default)]
pub struct UpGrad {
    weights: Vec<f64>,
}

impl UpGrad {
    /// The weights `Σ_t v_t`, from the row-major Gramian of `tasks` tasks.
    pub fn weights(gram: &[f64], tasks: usize) -> Vec<f64> {
        let g = normalized(gram, tasks);
        let mut total = vec![0.0; tasks];
        for t in 0..tasks {
            let mut u = vec![0.0; tasks];
            u[t] = 1.0 / tasks as f64;
            total
                .iter_mut()
                .zip(project(&u, &g))
                .for_each(|(w, v)| *w += v);
        }
        total
    }
}

impl Aggregator for UpGrad {
    fn name(&self) -> &'static str {
        "upgrad"
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
