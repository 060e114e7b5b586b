//! GradNorm, "GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep Multitask
//! Networks" (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018), Algorithm 1.
//!
//! With `G_t = ‖∇ w_t L_t‖ = w_t ‖g_t‖` (the norm of task `t`'s weighted gradient of the shared
//! weights; the paper uses the last shared layer, here all shared weights are the rows of
//! `G`), `Ḡ = mean_t G_t`, the loss ratios `L̃_t = L_t / L_t(0)` and the relative inverse
//! training rates `r_t = L̃_t / mean_s L̃_s` (§3.1), the weights are moved by gradient descent
//! on (eq. 2)
//!
//! `L_grad = Σ_t | w_t ‖g_t‖ − Ḡ · r_t^α |`,
//!
//! whose targets `Ḡ · r_t^α` are held constant (§3.2), so `∂L_grad/∂w_t =
//! sign(w_t‖g_t‖ − Ḡ r_t^α) · ‖g_t‖`; after each step the weights are renormalised to
//! `Σ_t w_t = T` (Algorithm 1) and kept above `1e-6`. A task that trains slower than the others
//! (`r_t > 1`) gets a larger target and hence a larger weight, which equalises the training
//! rates. `alpha` (default 1.5, the value the paper uses for NYUv2) sets the strength of the
//! restoring force; the step is Adam's with learning rate `lr` (default 0.025) — LibMTL's
//! GradNorm also trains the weights with Adam. `L_t(0)` is the loss of the first call. Each
//! call returns the weights `w(t)` used for this step and leaves `w(t+1)` for the next.
//! Diagnostics: `inverse_rate` per task (`r_t`).

use tch::Kind;

use super::adam::{AdamState, VecAdam};
use super::{
    check, decode_state, positive_loss, Diagnostic, Weighting, WeightingError, WeightingInput,
};
use crate::params::Params;

/// GradNorm with asymmetry `alpha`.
#[derive(Debug, Clone)]
pub struct GradNorm {
    alpha: f64,
    w: Vec<f64>,
    adam: VecAdam,
    initial: Option<Vec<f64>>,
    used: Vec<f64>,
    grad: Vec<f64>,
    diagnostics: Vec<Diagnostic>,
}

/// What GradNorm carries between steps: the weights of the next step, their optimizer's state
/// and the first step's losses `L(0)`.
#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    w: Vec<f64>,
    adam: AdamState,
    initial: Option<Vec<f64>>,
}

impl GradNorm {
    /// GradNorm for `tasks` tasks with asymmetry `alpha` and Adam learning rate `lr`.
    pub fn new(tasks: usize, alpha: f64, lr: f64) -> Self {
        Self {
            alpha,
            w: vec![1.0; tasks],
            adam: VecAdam::new(tasks, lr, 0.0),
            initial: None,
            used: vec![1.0; tasks],
            grad: vec![0.0; tasks],
            diagnostics: (0..tasks)
                .map(|t| Diagnostic {
                    name: "inverse_rate",
                    task: Some(t),
                    value: 1.0,
                })
                .collect(),
        }
    }

    pub(crate) fn from_params(tasks: usize, p: &mut Params) -> Result<Self, WeightingError> {
        let alpha = p.get("alpha", 1.5, "must be non-negative", |v| v >= 0.0)?;
        let lr = p.positive("lr", 0.025)?;
        Ok(Self::new(tasks, alpha, lr))
    }

    /// One GradNorm update from the gradient norms `norms` and the losses `losses`: returns
    /// nothing, leaves the weights for the next step in `self.w`.
    fn update(&mut self, norms: &[f64], losses: &[f64]) {
        let tasks = self.w.len();
        let n = tasks as f64;
        let initial = self
            .initial
            .get_or_insert_with(|| losses.iter().map(|&l| positive_loss(l)).collect());
        // L̃_t, then r_t = L̃_t / mean L̃.
        let ratio: Vec<f64> = (0..tasks)
            .map(|t| positive_loss(losses[t]) / initial[t])
            .collect();
        let mean_ratio = ratio.iter().sum::<f64>() / n;
        let mean_norm = (0..tasks).map(|t| self.w[t] * norms[t]).sum::<f64>() / n;
        for t in 0..tasks {
            let r = ratio[t] / mean_ratio;
            self.diagnostics[t].value = r;
            let diff = self.w[t] * norms[t] - mean_norm * r.powf(self.alpha);
            let sign = if diff > 0.0 {
                1.0
            } else if diff < 0.0 {
                -1.0
            } else {
                0.0
            };
            self.grad[t] = sign * norms[t];
        }
        self.adam.step(&mut self.w, &self.grad);
        self.w.iter_mut().for_each(|w| *w = w.max(1e-6));
        let sum: f64 = self.w.iter().sum();
        self.w.iter_mut().for_each(|w| *w *= n / sum);
    }
}

impl Weighting for GradNorm {
    fn name(&self) -> &'static str {
        "gradnorm"
    }

    fn weights(&mut self, input: &WeightingInput<'_>) -> &[f64] {
        check(input, self.w.len(), "gradnorm", true);
        let norms = Vec::<f64>::try_from(
            input
                .grads
                .grads()
                .norm_scalaropt_dim(2, [1], false)
                .to_kind(Kind::Double)
                .to_device(tch::Device::Cpu),
        )
        .expect("a [T] double tensor converts to Vec<f64>");
        self.used.copy_from_slice(&self.w);
        self.update(&norms, input.losses);
        &self.used
    }

    fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    fn save_state(&self) -> Vec<u8> {
        crate::state::encode(
            self.name(),
            &State {
                w: self.w.clone(),
                adam: self.adam.state(),
                initial: self.initial.clone(),
            },
        )
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), WeightingError> {
        let tasks = self.w.len();
        let state: State = decode_state(self.name(), bytes, |s: &State| {
            crate::state::expect_len("weights", &s.w, tasks)?;
            if let Some(initial) = &s.initial {
                crate::state::expect_len("initial losses", initial, tasks)?;
            }
            s.adam.check(tasks)
        })?;
        self.w = state.w;
        self.adam.restore(state.adam);
        self.initial = state.initial;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::diagonal;
    use super::*;

    #[test]
    fn one_update_by_hand() {
        // ‖g‖ = (2, 1), w = 1: Ḡ = 1.5, r = 1 → targets 1.5; ∂/∂w = (+2, −1); Adam's first
        // step is ∓lr; the sum stays 2.
        let g = diagonal(&[2.0, 1.0]);
        let mut gn = GradNorm::new(2, 1.5, 0.025);
        let input = WeightingInput {
            losses: &[1.0, 1.0],
            grads: &crate::surgery::GradMatrix::from(&g),
            lr: 0.1,
        };
        assert_eq!(gn.weights(&input), &[1.0, 1.0]);
        let next = gn.weights(&input).to_vec();
        assert!(
            (next[0] - 0.975).abs() < 1e-9 && (next[1] - 1.025).abs() < 1e-9,
            "{next:?}"
        );
    }

    /// Trains `L_t = ½ a_t θ_t²` by gradient descent with the weights of `gradnorm` (or
    /// all ones); returns the last weights and the mean over the last 200 steps of
    /// `(w_2 a_2) / (w_1 a_1)`, the ratio of the two tasks' per-step training rates.
    fn train(mut gradnorm: Option<GradNorm>) -> (Vec<f64>, f64) {
        let a = [1.0, 0.1];
        let mut theta = [1.0, 1.0];
        let eta = 0.005;
        let (mut w, mut rate_ratio) = (vec![1.0, 1.0], 0.0);
        for step in 0..1200 {
            let g = diagonal(&[a[0] * theta[0], a[1] * theta[1]]);
            let losses: Vec<f64> = (0..2).map(|t| 0.5 * a[t] * theta[t] * theta[t]).collect();
            if let Some(gn) = gradnorm.as_mut() {
                w = gn
                    .weights(&WeightingInput {
                        losses: &losses,
                        grads: &crate::surgery::GradMatrix::from(&g),
                        lr: eta,
                    })
                    .to_vec();
            }
            for t in 0..2 {
                theta[t] -= eta * w[t] * a[t] * theta[t];
            }
            if step >= 1000 {
                rate_ratio += (w[1] * a[1]) / (w[0] * a[0]) / 200.0;
            }
        }
        (w, rate_ratio)
    }

    #[test]
    fn the_slower_task_gets_the_larger_weight_and_training_rates_equalise() {
        // Task 2 curves 10× less: with equal weights it trains 10× slower.
        let (_, uniform) = train(None);
        assert!((uniform - 0.1).abs() < 1e-9);
        let (w, balanced) = train(Some(GradNorm::new(2, 1.5, 0.025)));
        assert!(w[1] > 3.0 * w[0], "{w:?}");
        assert!((w[0] + w[1] - 2.0).abs() < 1e-9);
        assert!(
            (0.7..1.4).contains(&balanced),
            "ratio of training rates {balanced} (1 is equal)"
        );
    }
}
