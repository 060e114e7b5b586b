//! FAMO, "FAMO: Fast Adaptive Multitask Optimization" (Liu, Liu, Jin, Stone & Liu, NeurIPS
//! 2023), Algorithm 1, as the authors' `famo.py` (github.com/Cranial-XIX/FAMO).
//!
//! FAMO keeps task logits `ξ` (zero at the start), `z = softmax(ξ)`, and descends the weighted
//! log-losses `Σ_t (z_t / c) log ℓ_t` with `c = Σ_s z_s / ℓ_s`: the gradient is
//! `Σ_t c_t ∇ℓ_t` with `c_t = (z_t / ℓ_t) / Σ_s (z_s / ℓ_s)`. The weights returned here are
//! `w_t = T · c_t` — the paper's combination scaled by `T` so that equal losses and logits give
//! weight 1 like `none` (with the `mean` aggregator the update is exactly the paper's).
//!
//! After the optimizer step the logits learn from each task's log-loss decrease
//! `δ_t = log ℓ_t(θ_t) − log ℓ_t(θ_{t+1})`: their gradient is `(∂z/∂ξ)ᵀ δ`, i.e.
//! `z_i (δ_i − Σ_j z_j δ_j)`, applied by Adam with learning rate `lr` (default 0.025) and L2
//! weight decay `gamma` (default 0.01), the official defaults (`w_lr`, `gamma`). Tasks whose
//! log-loss fell the most lose weight; at the balance point every task's log-loss decreases at
//! the same rate. The official code re-evaluates the same minibatch after the step; a trainer
//! that does so calls [`Weighting::after_step`] ([`Weighting::wants_losses_after_step`] is
//! true). If it does not, the next call's losses stand in for `ℓ(θ_{t+1})` (a noisier estimate
//! from the next minibatch). The authors also clip the gradient norm to 1; that is the
//! trainer's global clipping here. Losses must be positive (FAMO takes their logarithm; the
//! official code's `min_losses` is 0). Diagnostics: `softmax` per task (`z_t` used this step).

use super::adam::{AdamState, VecAdam};
use super::{
    check, decode_state, positive_loss, Diagnostic, Weighting, WeightingError, WeightingInput,
};
use crate::params::Params;

/// FAMO with logit learning rate `lr` and logit decay `gamma`.
#[derive(Debug, Clone)]
pub struct Famo {
    logits: Vec<f64>,
    adam: VecAdam,
    /// The losses of the last step whose post-step losses have not been seen yet.
    pending: Option<Vec<f64>>,
    weights: Vec<f64>,
    grad: Vec<f64>,
    diagnostics: Vec<Diagnostic>,
}

/// What FAMO carries between steps: the logits, their optimizer's state and the losses of the
/// step whose decrease is still to be learned from.
#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    logits: Vec<f64>,
    adam: AdamState,
    pending: Option<Vec<f64>>,
}

impl Famo {
    /// FAMO for `tasks` tasks: logits 0, learned by Adam with learning rate `lr` and L2 weight
    /// decay `gamma`.
    pub fn new(tasks: usize, lr: f64, gamma: f64) -> Self {
        Self {
            logits: vec![0.0; tasks],
            adam: VecAdam::new(tasks, lr, gamma),
            pending: None,
            weights: vec![1.0; tasks],
            grad: vec![0.0; tasks],
            diagnostics: (0..tasks)
                .map(|t| Diagnostic {
                    name: "softmax",
                    task: Some(t),
                    value: 1.0 / tasks as f64,
                })
                .collect(),
        }
    }

    pub(crate) fn from_params(tasks: usize, p: &mut Params) -> Result<Self, WeightingError> {
        let lr = p.positive("lr", 0.025)?;
        let gamma = p.get("gamma", 0.01, "must be non-negative", |v| v >= 0.0)?;
        Ok(Self::new(tasks, lr, gamma))
    }

    /// `softmax(ξ)`.
    fn softmax(&self) -> Vec<f64> {
        let max = self
            .logits
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = self.logits.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|x| x / sum).collect()
    }

    /// The logit step from the losses `before` and `after` one optimizer step.
    fn learn(&mut self, before: &[f64], after: &[f64]) {
        let z = self.softmax();
        let delta: Vec<f64> = (0..z.len())
            .map(|t| positive_loss(before[t]).ln() - positive_loss(after[t]).ln())
            .collect();
        let mean: f64 = z.iter().zip(&delta).map(|(a, b)| a * b).sum();
        for t in 0..z.len() {
            self.grad[t] = z[t] * (delta[t] - mean);
        }
        self.adam.step(&mut self.logits, &self.grad);
    }

    /// The current logits `ξ`.
    pub fn logits(&self) -> &[f64] {
        &self.logits
    }
}

impl Weighting for Famo {
    fn name(&self) -> &'static str {
        "famo"
    }

    fn weights(&mut self, input: &WeightingInput<'_>) -> &[f64] {
        let tasks = self.logits.len();
        check(input, tasks, "famo", false);
        if let Some(before) = self.pending.take() {
            self.learn(&before, input.losses);
        }
        let z = self.softmax();
        let scaled: Vec<f64> = (0..tasks)
            .map(|t| z[t] / positive_loss(input.losses[t]))
            .collect();
        let sum: f64 = scaled.iter().sum();
        for t in 0..tasks {
            self.weights[t] = tasks as f64 * scaled[t] / sum;
            self.diagnostics[t].value = z[t];
        }
        self.pending = Some(input.losses.to_vec());
        &self.weights
    }

    fn wants_losses_after_step(&self) -> bool {
        true
    }

    /// # Panics
    ///
    /// If `losses` does not hold one loss per task.
    fn after_step(&mut self, losses: &[f64]) {
        assert_eq!(
            losses.len(),
            self.logits.len(),
            "weighting `famo`: {} losses for {} tasks",
            losses.len(),
            self.logits.len()
        );
        if let Some(before) = self.pending.take() {
            self.learn(&before, losses);
        }
    }

    fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    fn save_state(&self) -> Vec<u8> {
        crate::state::encode(
            self.name(),
            &State {
                logits: self.logits.clone(),
                adam: self.adam.state(),
                pending: self.pending.clone(),
            },
        )
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), WeightingError> {
        let tasks = self.logits.len();
        let state: State = decode_state(self.name(), bytes, |s: &State| {
            crate::state::expect_len("logits", &s.logits, tasks)?;
            if let Some(p) = &s.pending {
                crate::state::expect_len("pending losses", p, tasks)?;
            }
            s.adam.check(tasks)
        })?;
        self.logits = state.logits;
        self.adam.restore(state.adam);
        self.pending = state.pending;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::diagonal;
    use super::*;

    #[test]
    fn weights_are_t_times_the_papers_combination() {
        let mut f = Famo::new(2, 0.025, 0.01);
        let g = diagonal(&[1.0, 1.0]);
        // z = (½, ½), ℓ = (1, 3): c ∝ (1, ⅓) → c = (¾, ¼), w = 2c.
        let w = f
            .weights(&WeightingInput {
                losses: &[1.0, 3.0],
                grads: &crate::surgery::GradMatrix::from(&g),
                lr: 0.1,
            })
            .to_vec();
        assert!(
            (w[0] - 1.5).abs() < 1e-12 && (w[1] - 0.5).abs() < 1e-12,
            "{w:?}"
        );
        // The task whose log-loss fell more loses logit: δ = (log 2, 0).
        f.after_step(&[0.5, 3.0]);
        assert!(
            f.logits()[0] < 0.0 && f.logits()[1] > 0.0,
            "{:?}",
            f.logits()
        );
    }

    /// Trains two tasks with log-linear losses `ℓ_t = exp(−a_t θ_t)`, `a = (1, 0.3)`, by
    /// gradient descent with FAMO's weights (logits learned with rate `lr` and decay `gamma`;
    /// the post-step losses passed to `after_step` when `exact`, else taken from the next
    /// call). Returns the ratio of task 2's to task 1's log-loss decrease over the last 100 of
    /// 3000 steps, and the final logits.
    fn train(lr: f64, gamma: f64, exact: bool) -> (f64, Vec<f64>) {
        let a = [1.0, 0.3];
        let loss = |th: &[f64; 2]| -> Vec<f64> { (0..2).map(|t| (-a[t] * th[t]).exp()).collect() };
        let mut famo = Famo::new(2, lr, gamma);
        let (mut theta, mut decrease) = ([0.0f64, 0.0], [0.0f64, 0.0]);
        let eta = 0.2;
        for step in 0..3000 {
            let before = loss(&theta);
            let grads: Vec<f64> = (0..2).map(|t| -a[t] * before[t]).collect();
            let w = famo
                .weights(&WeightingInput {
                    losses: &before,
                    grads: &crate::surgery::GradMatrix::from(&diagonal(&grads)),
                    lr: eta,
                })
                .to_vec();
            for t in 0..2 {
                theta[t] -= eta * w[t] * grads[t];
            }
            let after = loss(&theta);
            if exact {
                famo.after_step(&after);
            }
            if step >= 2900 {
                for t in 0..2 {
                    decrease[t] += before[t].ln() - after[t].ln();
                }
            }
        }
        (decrease[1] / decrease[0], famo.logits().to_vec())
    }

    #[test]
    fn log_losses_decrease_at_equal_rates() {
        // With FAMO's 1/ℓ scaling alone (logits frozen at 0) the log-loss of task t falls by
        // η T c a_t² z_t per step: task 2 at 0.3² = 0.09 times task 1's rate.
        let (frozen, _) = train(1e-12, 0.0, true);
        assert!((frozen - 0.09).abs() < 1e-6, "{frozen}");
        // The logits' fixed point (γ → 0): equal rates, with z ∝ 1/a², whether the post-step
        // losses come from the same batch or from the next call.
        for exact in [true, false] {
            let (balanced, logits) = train(0.025, 0.0, exact);
            assert!(
                (0.9..1.1).contains(&balanced),
                "exact = {exact}: ratio of log-loss decrease rates {balanced} (1 is equal)"
            );
            let want = (1.0f64 / 0.09).ln();
            assert!(((logits[1] - logits[0]) - want).abs() < 0.2, "{logits:?}");
        }
        // The default decay γ = 0.01 holds the logits near 0 when the per-step log-loss
        // decreases are this small: they move the right way, but only a little.
        let (damped, logits) = train(0.025, 0.01, true);
        assert!(
            damped > frozen && logits[1] > logits[0],
            "{damped} {logits:?}"
        );
    }
}
