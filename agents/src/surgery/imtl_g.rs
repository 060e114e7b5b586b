//! IMTL-G, "Towards Impartial Multi-task Learning" (Liu et al., ICLR 2021), eq. 13 (the
//! gradient part of IMTL), in the generalised form of torchjd's `IMTLG`.
//!
//! The update has equal projections on every task's unit gradient `u_t = g_t / ‖g_t‖`. In
//! Gramian form (Quinton & Rey 2024, which also covers linearly dependent rows): with
//! `d_t = ‖g_t‖ = √G_tt`, `v = G⁺ d` and the weights are `v / Σ_t v_t` (zero when
//! `|Σ_t v_t| < 1e-12`). `G⁺` is the pseudo-inverse with torch's default cut-off
//! (`T · ε` relative to the largest eigenvalue, `ε` of the gradients' floating-point kind).

use tch::Tensor;

use super::gramian::{epsilon, square, to_vec};
use super::{combine, Aggregator, GradMatrix};

/// IMTL-G.
#[derive(Debug, Clone, Default)]
pub struct ImtlG {
    weights: Vec<f64>,
}

impl ImtlG {
    /// The weights from the row-major Gramian of `tasks` tasks, pseudo-inverted with relative
    /// cut-off `rtol`.
    pub fn weights(gram: &[f64], tasks: usize, rtol: f64) -> Vec<f64> {
        let d: Vec<f64> = (0..tasks)
            .map(|t| gram[t * tasks + t].max(0.0).sqrt())
            .collect();
        let pinv = square(gram, tasks).linalg_pinv_atol_rtol_float(None, rtol, true);
        let v = to_vec(&pinv.matmul(&Tensor::from_slice(&d)));
        let sum: f64 = v.iter().sum();
        if sum.abs() < 1e-12 {
            vec![0.0; tasks]
        } else {
            v.iter().map(|x| x / sum).collect()
        }
    }
}

impl Aggregator for ImtlG {
    fn name(&self) -> &'static str {
        "imtl-g"
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
