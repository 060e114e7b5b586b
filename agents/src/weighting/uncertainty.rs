//! Uncertainty weighting, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
//! Geometry and Semantics" (Kendall, Gal & Cipolla, CVPR 2018).
//!
//! Each task has a learned homoscedastic noise `σ_t²`, parametrised as `s_t = log σ_t²` (the
//! paper's §3.2, "more numerically stable"). The paper's objective for regression tasks
//! (eq. 7) is `Σ_t 1/(2σ_t²) L_t + log σ_t = ½ Σ_t (exp(−s_t) L_t + s_t)`; here it is used
//! without the overall factor ½, `Σ_t exp(−s_t) L_t + s_t`, so that the weights start at 1
//! (`s = 0`, like `none`) — the same minimiser `σ_t² = L_t`, and under Adam the same `s`
//! trajectory (Adam's step does not depend on the gradient's scale).
//!
//! The weight of task `t` is `w_t = exp(−s_t)`. Each call returns the current weights, then
//! takes one Adam step on `s` along `∂/∂s_t = 1 − exp(−s_t) L_t` (the network's share of the
//! objective is the weighted gradient the trainer applies). At the fixed point
//! `exp(−s_t) = 1 / E[L_t]`: for regression losses the weights approach the inverse noise
//! variance. Learning rate `lr` (default 0.025, Adam, as the uncertainty-weighting baseline in
//! FAMO's multi-task RL code; the paper trains `s` with the network's own optimizer).
//! Diagnostics: `log_variance` per task (`s_t` used this step).

use super::adam::{AdamState, VecAdam};
use super::{
    check, decode_state, positive_loss, Diagnostic, Weighting, WeightingError, WeightingInput,
};
use crate::params::Params;

/// Learned log-variances `s_t`, weights `exp(−s_t)`.
#[derive(Debug, Clone)]
pub struct Uncertainty {
    log_vars: Vec<f64>,
    adam: VecAdam,
    weights: Vec<f64>,
    grad: Vec<f64>,
    diagnostics: Vec<Diagnostic>,
}

/// What the uncertainty weighting carries between steps: the log-variances and their
/// optimizer's state.
#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    log_vars: Vec<f64>,
    adam: AdamState,
}

impl Uncertainty {
    /// Log-variances 0 for `tasks` tasks, learned by Adam with learning rate `lr`.
    pub fn new(tasks: usize, lr: f64) -> Self {
        Self {
            log_vars: vec![0.0; tasks],
            adam: VecAdam::new(tasks, lr, 0.0),
            weights: vec![1.0; tasks],
            grad: vec![0.0; tasks],
            diagnostics: (0..tasks)
                .map(|t| Diagnostic {
                    name: "log_variance",
                    task: Some(t),
                    value: 0.0,
                })
                .collect(),
        }
    }

    pub(crate) fn from_params(tasks: usize, p: &mut Params) -> Result<Self, WeightingError> {
        Ok(Self::new(tasks, p.positive("lr", 0.025)?))
    }

    /// The current log-variances `s_t = log σ_t²`.
    pub fn log_variances(&self) -> &[f64] {
        &self.log_vars
    }
}

impl Weighting for Uncertainty {
    fn name(&self) -> &'static str {
        "uncertainty"
    }

    fn weights(&mut self, input: &WeightingInput<'_>) -> &[f64] {
        check(input, self.log_vars.len(), "uncertainty", false);
        for t in 0..self.log_vars.len() {
            let s = self.log_vars[t];
            self.weights[t] = (-s).exp();
            self.grad[t] = 1.0 - self.weights[t] * positive_loss(input.losses[t]);
            self.diagnostics[t].value = s;
        }
        self.adam.step(&mut self.log_vars, &self.grad);
        &self.weights
    }

    fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    fn save_state(&self) -> Vec<u8> {
        crate::state::encode(
            self.name(),
            &State {
                log_vars: self.log_vars.clone(),
                adam: self.adam.state(),
            },
        )
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), WeightingError> {
        let tasks = self.log_vars.len();
        let state: State = decode_state(self.name(), bytes, |s: &State| {
            crate::state::expect_len("log_vars", &s.log_vars, tasks)?;
            s.adam.check(tasks)
        })?;
        self.log_vars = state.log_vars;
        self.adam.restore(state.adam);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    use rand_pcg::Pcg64;
    use tch::Tensor;

    fn step(u: &mut Uncertainty, losses: &[f64]) -> Vec<f64> {
        let g = Tensor::zeros([losses.len() as i64, 1], tch::kind::FLOAT_CPU);
        u.weights(&WeightingInput {
            losses,
            grads: &crate::surgery::GradMatrix::from(&g),
            lr: 1e-3,
        })
        .to_vec()
    }

    #[test]
    fn weights_start_at_one_and_follow_the_gradient_of_the_objective() {
        let mut u = Uncertainty::new(2, 0.1);
        assert_eq!(step(&mut u, &[2.0, 0.5]), vec![1.0, 1.0]);
        // ∂/∂s = 1 − L: negative for L = 2 (s grows), positive for L = 0.5; Adam's first step
        // is lr · sign.
        let s = u.log_variances();
        assert!(
            (s[0] - 0.1).abs() < 1e-6 && (s[1] + 0.1).abs() < 1e-6,
            "{s:?}"
        );
    }

    #[test]
    fn weights_approach_the_inverse_noise_variance() {
        // Two regression heads whose residuals are N(0, σ_t²) noise: the MSE of a minibatch
        // of 64 residuals estimates σ_t². The paper's fixed point is w_t = 1/σ_t².
        let sigma2 = [0.25, 4.0];
        let mut rng = Pcg64::seed_from_u64(7);
        let mut u = Uncertainty::new(2, 0.025);
        let mut last = vec![];
        for _ in 0..4000 {
            let losses: Vec<f64> = sigma2
                .iter()
                .map(|v: &f64| {
                    let noise = Normal::new(0.0, v.sqrt()).unwrap();
                    (0..64).map(|_| noise.sample(&mut rng).powi(2)).sum::<f64>() / 64.0
                })
                .collect();
            last = step(&mut u, &losses);
        }
        for t in 0..2 {
            let want = 1.0 / sigma2[t];
            assert!(
                (last[t] - want).abs() < 0.1 * want,
                "task {t}: weight {} vs 1/σ² = {want}",
                last[t]
            );
        }
    }
}
