//! Dynamic Weight Average (DWA), "End-to-End Multi-Task Learning with Attention" (Liu, Johns &
//! Davison, CVPR 2019), the paper's "Dynamic Weight Average" paragraph.
//!
//! For the `k`-th iteration (the paper's epoch; here one rollout iteration of the trainer),
//!
//! `w_t(k) = T · exp(r_t(k−1) / τ) / Σ_i exp(r_i(k−1) / τ)`, with
//! `r_t(k−1) = L_t(k−1) / L_t(k−2)`,
//!
//! the ratio of task `t`'s mean loss over the last two iterations (its relative descending
//! rate) and temperature `τ` (`temperature`, default 2 as in the paper). The weights are 1 for
//! the first two iterations (`k = 1, 2`, when the ratio is not defined yet), sum to `T`, and
//! the task whose loss decreases slower gets the larger weight. The mean losses come from
//! [`Weighting::end_iteration`]; within an iteration the weights are constant.
//! Diagnostics: `loss_ratio` per task (`r_t(k−1)`, 1 before it is defined).

use super::{
    check, decode_state, positive_loss, Diagnostic, Weighting, WeightingError, WeightingInput,
};
use crate::params::Params;

/// DWA with temperature `τ`.
#[derive(Debug, Clone)]
pub struct Dwa {
    temperature: f64,
    /// Mean losses of the last iteration `L(k−1)` and the one before `L(k−2)`.
    last: Option<Vec<f64>>,
    before: Option<Vec<f64>>,
    weights: Vec<f64>,
    diagnostics: Vec<Diagnostic>,
}

/// What DWA carries between iterations: the last two mean losses, the weights computed from
/// them and the loss ratios (its diagnostics), all set at the end of an iteration.
#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    last: Option<Vec<f64>>,
    before: Option<Vec<f64>>,
    weights: Vec<f64>,
    ratios: Vec<f64>,
}

impl Dwa {
    /// DWA for `tasks` tasks with temperature `temperature`.
    pub fn new(tasks: usize, temperature: f64) -> Self {
        Self {
            temperature,
            last: None,
            before: None,
            weights: vec![1.0; tasks],
            diagnostics: (0..tasks)
                .map(|t| Diagnostic {
                    name: "loss_ratio",
                    task: Some(t),
                    value: 1.0,
                })
                .collect(),
        }
    }

    pub(crate) fn from_params(tasks: usize, p: &mut Params) -> Result<Self, WeightingError> {
        Ok(Self::new(tasks, p.positive("temperature", 2.0)?))
    }
}

impl Weighting for Dwa {
    fn name(&self) -> &'static str {
        "dwa"
    }

    fn weights(&mut self, input: &WeightingInput<'_>) -> &[f64] {
        check(input, self.weights.len(), "dwa", false);
        &self.weights
    }

    /// # Panics
    ///
    /// If `mean_losses` does not hold one loss per task.
    fn end_iteration(&mut self, mean_losses: &[f64]) {
        let tasks = self.weights.len();
        assert_eq!(
            mean_losses.len(),
            tasks,
            "weighting `dwa`: {} mean losses for {tasks} tasks",
            mean_losses.len()
        );
        let current: Vec<f64> = mean_losses.iter().map(|&l| positive_loss(l)).collect();
        self.before = self.last.replace(current);
        let (Some(last), Some(before)) = (&self.last, &self.before) else {
            return;
        };
        let scaled: Vec<f64> = (0..tasks)
            .map(|t| {
                let r = last[t] / before[t];
                self.diagnostics[t].value = r;
                r / self.temperature
            })
            .collect();
        let max = scaled.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = scaled.iter().map(|x| (x - max).exp()).sum();
        for (w, x) in self.weights.iter_mut().zip(&scaled) {
            *w = tasks as f64 * (x - max).exp() / sum;
        }
    }

    fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    fn save_state(&self) -> Vec<u8> {
        crate::state::encode(
            self.name(),
            &State {
                last: self.last.clone(),
                before: self.before.clone(),
                weights: self.weights.clone(),
                ratios: self.diagnostics.iter().map(|d| d.value).collect(),
            },
        )
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), WeightingError> {
        let tasks = self.weights.len();
        let state: State = decode_state(self.name(), bytes, |s: &State| {
            for losses in [&s.last, &s.before].into_iter().flatten() {
                crate::state::expect_len("mean losses", losses, tasks)?;
            }
            crate::state::expect_len("weights", &s.weights, tasks)?;
            crate::state::expect_len("loss ratios", &s.ratios, tasks)
        })?;
        self.last = state.last;
        self.before = state.before;
        self.weights = state.weights;
        for (d, r) in self.diagnostics.iter_mut().zip(state.ratios) {
            d.value = r;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Tensor;

    fn current(d: &mut Dwa) -> Vec<f64> {
        let g = Tensor::zeros([2, 1], tch::kind::FLOAT_CPU);
        d.weights(&WeightingInput {
            losses: &[1.0, 1.0],
            grads: &crate::surgery::GradMatrix::from(&g),
            lr: 0.1,
        })
        .to_vec()
    }

    #[test]
    fn weights_are_one_until_two_iterations_have_ended() {
        let mut d = Dwa::new(2, 2.0);
        assert_eq!(current(&mut d), vec![1.0, 1.0]);
        d.end_iteration(&[1.0, 1.0]);
        assert_eq!(current(&mut d), vec![1.0, 1.0]);
        d.end_iteration(&[0.5, 0.9]);
        assert_ne!(current(&mut d), vec![1.0, 1.0]);
    }

    #[test]
    fn the_formula_and_the_slower_task_weighs_more() {
        let mut d = Dwa::new(2, 2.0);
        d.end_iteration(&[1.0, 2.0]);
        d.end_iteration(&[0.5, 1.8]);
        // r = (0.5, 0.9): w = 2 · softmax(r / 2).
        let (e0, e1) = ((0.25f64).exp(), (0.45f64).exp());
        let want = [2.0 * e0 / (e0 + e1), 2.0 * e1 / (e0 + e1)];
        let w = current(&mut d);
        for t in 0..2 {
            assert!((w[t] - want[t]).abs() < 1e-12, "{w:?} vs {want:?}");
        }
        assert!(w[1] > w[0], "task 2 decreases slower (0.9 vs 0.5)");
        // The next iteration uses the next two: r = (1.0, 0.5).
        d.end_iteration(&[0.5, 0.9]);
        let w = current(&mut d);
        assert!(w[0] > w[1], "{w:?}");
    }
}
