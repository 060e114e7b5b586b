//! Cosine gating, "Adapting Auxiliary Losses Using Gradient Similarity" (Du, Czarnecki,
//! Jayakumar, Farajtabar, Pascanu & Lakshminarayanan, 2018), Algorithm 1 and its weighted
//! variant.
//!
//! An auxiliary gradient is used only where it agrees with the main task's: with
//! `cos_k = cos(g_m, g_k)` on the shared weights,
//!
//! - unweighted (Algorithm 1, the default): `w_k = 1` if `cos_k ≥ 0`, else `0`;
//! - weighted (`weighted = 1`): `w_k = max(0, cos_k)`.
//!
//! Main tasks keep weight 1; `g_m` is the sum of the main tasks' gradients. If either gradient
//! is zero the cosine is taken as 0 (kept unweighted, weight 0 weighted). As in the paper, the
//! gate applies to the *shared* parameters only: the auxiliary task's own head is always
//! trained with its full gradient ([`Weighting::weights_task_specific`] is false).
//! Diagnostics: `cosine` per auxiliary task.

use super::roles::Split;
use super::Role;
use super::{check, Diagnostic, Weighting, WeightingError, WeightingInput};
use crate::params::Params;

/// Cosine gating of the auxiliary gradients, unweighted or weighted.
#[derive(Debug, Clone)]
pub struct CosineGating {
    split: Split,
    weighted: bool,
    dots: Vec<f64>,
    weights: Vec<f64>,
    diagnostics: Vec<Diagnostic>,
}

impl CosineGating {
    /// Cosine gating for tasks with `roles` (a main and an auxiliary task at least),
    /// `weighted` or not.
    pub fn new(roles: &[Role], weighted: bool) -> Result<Self, WeightingError> {
        let split = Split::new("cosine-gating", roles)?;
        let tasks = split.tasks;
        let diagnostics = split
            .aux
            .iter()
            .map(|&t| Diagnostic {
                name: "cosine",
                task: Some(t),
                value: 0.0,
            })
            .collect();
        Ok(Self {
            split,
            weighted,
            dots: vec![0.0; tasks],
            weights: vec![1.0; tasks],
            diagnostics,
        })
    }

    pub(crate) fn from_params(roles: &[Role], p: &mut Params) -> Result<Self, WeightingError> {
        Self::new(roles, p.flag("weighted", false)?)
    }

    /// The weights from the row-major Gramian of the `T` task gradients.
    fn gate(&mut self, gram: &[f64]) {
        let n = self.split.tasks;
        let main_norm2 = self.split.main_products(gram, &mut self.dots);
        for (d, &k) in self.diagnostics.iter_mut().zip(&self.split.aux) {
            let denom = (main_norm2.max(0.0) * gram[k * n + k].max(0.0)).sqrt();
            let cos = if denom > 0.0 {
                (self.dots[k] / denom).clamp(-1.0, 1.0)
            } else {
                0.0
            };
            d.value = cos;
            self.weights[k] = match (self.weighted, cos >= 0.0) {
                (true, _) => cos.max(0.0),
                (false, true) => 1.0,
                (false, false) => 0.0,
            };
        }
    }
}

impl Weighting for CosineGating {
    fn name(&self) -> &'static str {
        "cosine-gating"
    }

    fn weights(&mut self, input: &WeightingInput<'_>) -> &[f64] {
        check(input, self.split.tasks, "cosine-gating", true);
        self.gate(input.grads.gramian());
        &self.weights
    }

    fn weights_task_specific(&self) -> bool {
        false
    }

    fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::rows;
    use super::*;

    fn weights(weighted: bool, roles: &[Role], g: &[&[f32]]) -> Vec<f64> {
        let mut c = CosineGating::new(roles, weighted).unwrap();
        let losses = vec![1.0; roles.len()];
        c.weights(&WeightingInput {
            losses: &losses,
            grads: &crate::surgery::GradMatrix::from(&rows(g)),
            lr: 0.1,
        })
        .to_vec()
    }

    const ROLES: [Role; 4] = [
        Role::Main,
        Role::Auxiliary,
        Role::Auxiliary,
        Role::Auxiliary,
    ];

    #[test]
    fn an_opposing_auxiliary_gradient_is_dropped_and_an_aligned_one_kept() {
        // Main (1, 0); aux at 60° (aligned), 120° (opposing), 90° (orthogonal: kept).
        let s = 3f32.sqrt() / 2.0;
        let g: [&[f32]; 4] = [&[1.0, 0.0], &[0.5, s], &[-0.5, s], &[0.0, 2.0]];
        assert_eq!(weights(false, &ROLES, &g), vec![1.0, 1.0, 0.0, 1.0]);
        // Weighted: the cosine, clipped at 0.
        let w = weights(true, &ROLES, &g);
        let want = [1.0, 0.5, 0.0, 0.0];
        for t in 0..4 {
            assert!((w[t] - want[t]).abs() < 1e-6, "{w:?}");
        }
    }

    #[test]
    fn several_main_tasks_are_compared_as_their_sum() {
        // Main (1, 0) + (0, 1) = (1, 1); aux (1, -0.5) agrees with the sum (cos > 0) though it
        // opposes the second main task; aux (-1, -0.5) does not.
        let roles = [Role::Main, Role::Main, Role::Auxiliary, Role::Auxiliary];
        let g: [&[f32]; 4] = [&[1.0, 0.0], &[0.0, 1.0], &[1.0, -0.5], &[-1.0, -0.5]];
        assert_eq!(weights(false, &roles, &g), vec![1.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn the_auxiliary_head_is_not_gated() {
        let c = CosineGating::new(&ROLES, false).unwrap();
        assert!(!c.weights_task_specific());
    }
}
