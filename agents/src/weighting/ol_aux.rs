//! OL-AUX, "Adaptive Auxiliary Task Weighting for Reinforcement Learning" (Lin, Baweja, Kantor
//! & Held, NeurIPS 2019), Algorithm 1.
//!
//! The auxiliary weights are learned online by gradient descent on the main loss. With
//! `θ_{j+1} = θ_j − η_j (g_m + Σ_k w_k g_k)`, the gradient of the main loss after `N` steps
//! with respect to `w_k` is, to first order (the paper's one-step derivation, eq. 3, and its
//! `N`-step form),
//!
//! `∂L_m(θ_{t+N}) / ∂w_k ≈ −Σ_{j=t}^{t+N−1} η_j ∇L_m(θ_j) · ∇L_k(θ_j)`,
//!
//! so every `N` optimizer steps (`horizon`, default 5)
//!
//! `w_k ← w_k + β Σ_{j} η_j g_m(θ_j) · g_k(θ_j)`
//!
//! with `β` the weights' learning rate (`beta`, default 1: the change of `w_k` is then the
//! first-order decrease of the main loss that task `k`'s steps brought over the horizon). An
//! auxiliary task that keeps helping the main task (positive inner products) gains weight; one
//! that keeps opposing it loses weight. Weights start at 1 and are kept `≥ 0` (a negative
//! weight would *ascend* an auxiliary loss, which is unbounded above for the usual
//! prediction losses; this projection is not in the paper). Main tasks keep weight 1; `g_m`
//! is the sum of their gradients; `η_j` is the learning rate passed each step. The paper's
//! separate "adaptive loss balancing" (training on log-losses) is not applied: RL main losses
//! (PPO) can be negative. Each call returns the weights used for this step; an update at the
//! end of a horizon applies from the next call. Diagnostics: `gain` per auxiliary task
//! (`η g_m·g_k` of this step).

use super::roles::Split;
use super::{check, decode_state, Diagnostic, Role, Weighting, WeightingError, WeightingInput};
use crate::params::Params;

/// OL-AUX with horizon `N` and weight learning rate `β`.
#[derive(Debug, Clone)]
pub struct OlAux {
    split: Split,
    horizon: usize,
    beta: f64,
    w: Vec<f64>,
    /// `Σ_j η_j g_m·g_k` over the current horizon, per auxiliary task (in `split.aux` order).
    accumulated: Vec<f64>,
    steps: usize,
    dots: Vec<f64>,
    used: Vec<f64>,
    diagnostics: Vec<Diagnostic>,
}

/// What OL-AUX carries between steps: the weights, the gains accumulated over the current
/// horizon and the number of steps into it.
#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    w: Vec<f64>,
    accumulated: Vec<f64>,
    steps: u64,
}

impl OlAux {
    /// OL-AUX for tasks with `roles` (a main and an auxiliary task at least), updating the
    /// weights every `horizon` (≥ 1) steps with learning rate `beta`.
    pub fn new(roles: &[Role], horizon: usize, beta: f64) -> Result<Self, WeightingError> {
        let split = Split::new("ol-aux", roles)?;
        let tasks = split.tasks;
        let diagnostics = split
            .aux
            .iter()
            .map(|&t| Diagnostic {
                name: "gain",
                task: Some(t),
                value: 0.0,
            })
            .collect();
        Ok(Self {
            horizon: horizon.max(1),
            beta,
            w: vec![1.0; tasks],
            accumulated: vec![0.0; split.aux.len()],
            steps: 0,
            dots: vec![0.0; tasks],
            used: vec![1.0; tasks],
            diagnostics,
            split,
        })
    }

    pub(crate) fn from_params(roles: &[Role], p: &mut Params) -> Result<Self, WeightingError> {
        let horizon = p.count("horizon", 5)?;
        let beta = p.positive("beta", 1.0)?;
        Self::new(roles, horizon, beta)
    }

    /// One step from the row-major Gramian and learning rate `lr`.
    fn learn(&mut self, gram: &[f64], lr: f64) {
        self.used.copy_from_slice(&self.w);
        self.split.main_products(gram, &mut self.dots);
        for (i, &k) in self.split.aux.iter().enumerate() {
            let gain = lr * self.dots[k];
            self.diagnostics[i].value = gain;
            self.accumulated[i] += gain;
        }
        self.steps += 1;
        if self.steps == self.horizon {
            for (i, &k) in self.split.aux.iter().enumerate() {
                self.w[k] = (self.w[k] + self.beta * self.accumulated[i]).max(0.0);
            }
            self.accumulated.iter_mut().for_each(|a| *a = 0.0);
            self.steps = 0;
        }
    }
}

impl Weighting for OlAux {
    fn name(&self) -> &'static str {
        "ol-aux"
    }

    fn weights(&mut self, input: &WeightingInput<'_>) -> &[f64] {
        check(input, self.split.tasks, "ol-aux", true);
        self.learn(input.grads.gramian(), input.lr);
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
                accumulated: self.accumulated.clone(),
                steps: self.steps as u64,
            },
        )
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), WeightingError> {
        let (tasks, aux, horizon) = (self.split.tasks, self.split.aux.len(), self.horizon);
        let state: State = decode_state(self.name(), bytes, |s: &State| {
            crate::state::expect_len("weights", &s.w, tasks)?;
            crate::state::expect_len("accumulated gains", &s.accumulated, aux)?;
            if s.steps >= horizon as u64 {
                return Err(format!(
                    "{} steps into a horizon of {horizon} (saved with another horizon?)",
                    s.steps
                ));
            }
            Ok(())
        })?;
        self.w = state.w;
        self.accumulated = state.accumulated;
        self.steps = state.steps as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::rows;
    use super::*;

    fn step(o: &mut OlAux, lr: f64) -> Vec<f64> {
        // Main (1, 0); aux 1 (2, 1) aligned (g_m·g = 2); aux 2 (−1, 3) opposing (−1).
        let g = rows(&[&[1.0, 0.0], &[2.0, 1.0], &[-1.0, 3.0]]);
        o.weights(&WeightingInput {
            losses: &[1.0; 3],
            grads: &crate::surgery::GradMatrix::from(&g),
            lr,
        })
        .to_vec()
    }

    fn ol_aux(horizon: usize, beta: f64) -> OlAux {
        let roles = [Role::Main, Role::Auxiliary, Role::Auxiliary];
        OlAux::new(&roles, horizon, beta).unwrap()
    }

    #[test]
    fn one_horizon_by_hand() {
        // N = 2, β = 0.5, η = 0.1 then 0.2: Σ η g_m·g = (0.3 · 2, 0.3 · −1) = (0.6, −0.3);
        // w = 1 + 0.5 · (0.6, −0.3) = (1.3, 0.85), used from the third step on.
        let mut o = ol_aux(2, 0.5);
        assert_eq!(step(&mut o, 0.1), vec![1.0, 1.0, 1.0]);
        assert_eq!(step(&mut o, 0.2), vec![1.0, 1.0, 1.0]);
        let w = step(&mut o, 0.1);
        assert!(
            (w[1] - 1.3).abs() < 1e-12 && (w[2] - 0.85).abs() < 1e-12,
            "{w:?}"
        );
        assert_eq!(w[0], 1.0);
        let gains: Vec<f64> = o.diagnostics().iter().map(|d| d.value).collect();
        assert!((gains[0] - 0.2).abs() < 1e-12 && (gains[1] + 0.1).abs() < 1e-12);
    }

    #[test]
    fn an_aligned_auxiliary_grows_and_an_opposing_one_shrinks_to_zero() {
        let mut o = ol_aux(5, 1.0);
        let mut w = vec![];
        for _ in 0..100 {
            w = step(&mut o, 0.1);
        }
        // 19 completed horizons: 1 + 19 · 5 · 0.1 · 2 = 20; the opposing weight hit 0.
        assert!((w[1] - 20.0).abs() < 1e-9, "{w:?}");
        assert_eq!(w[2], 0.0);
    }
}
