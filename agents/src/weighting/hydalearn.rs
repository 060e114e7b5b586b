//! HydaLearn, "HydaLearn: Highly Dynamic Task Weighting for Multi-task Learning with Auxiliary
//! Tasks" (Verboven, Chaudhary, Berrevoets & Verbeke, 2020; Applied Intelligence 2022).
//!
//! Per minibatch, HydaLearn weights each task by the *main-task gain* that a step along that
//! task's gradient would bring, so that the weights follow the composition of every minibatch.
//! The paper measures the gain by a fake update `θ' = θ − η g_t` and re-evaluating the main
//! task. Here the gain is its first-order Taylor expansion,
//!
//! `gain_t = L_m(θ) − L_m(θ − η g_t) ≈ η · g_m · g_t`,
//!
//! exact up to `O(η²)` (`½ η² g_tᵀ H_m g_t`), with `η` the optimizer's learning rate and
//! `g_m` the main gradient (the sum of the main tasks' gradients): it needs nothing but the
//! Gramian of the one backward pass, where fake updates would cost `T + 1` extra forward
//! passes per minibatch (and the trainer has no parameters to fake-update). The weights are
//! proportional to the gains, negative gains clipped to 0 (a step that would increase the
//! main loss is not taken): with the main tasks' common weight set to 1 as in the other
//! auxiliary methods,
//!
//! `w_main = 1`, `w_k = max(0, gain_k) / gain_main = max(0, g_m·g_k) / ‖g_m‖²`,
//!
//! the ratio of auxiliary task `k`'s main-task gain to the main task's own. An auxiliary task
//! whose gradient equals the main one gets weight 1. If the main gradient is zero there is no
//! gain to be had and the auxiliary weights are 0. Diagnostics: `gain` per task
//! (`η g_m·g_t`, main tasks included).

use super::roles::Split;
use super::{check, Diagnostic, Role, Weighting, WeightingError, WeightingInput};

/// HydaLearn with first-order main-task gains.
#[derive(Debug, Clone)]
pub struct HydaLearn {
    split: Split,
    dots: Vec<f64>,
    weights: Vec<f64>,
    diagnostics: Vec<Diagnostic>,
}

impl HydaLearn {
    /// HydaLearn for tasks with `roles` (a main and an auxiliary task at least).
    pub fn new(roles: &[Role]) -> Result<Self, WeightingError> {
        let split = Split::new("hydalearn", roles)?;
        let tasks = split.tasks;
        Ok(Self {
            split,
            dots: vec![0.0; tasks],
            weights: vec![1.0; tasks],
            diagnostics: (0..tasks)
                .map(|t| Diagnostic {
                    name: "gain",
                    task: Some(t),
                    value: 0.0,
                })
                .collect(),
        })
    }

    /// The weights from the row-major Gramian of the `T` task gradients and step size `lr`.
    fn weigh(&mut self, gram: &[f64], lr: f64) {
        let main_norm2 = self.split.main_products(gram, &mut self.dots);
        for (d, dot) in self.diagnostics.iter_mut().zip(&self.dots) {
            d.value = lr * dot;
        }
        for &k in &self.split.aux {
            self.weights[k] = if main_norm2 > 0.0 {
                self.dots[k].max(0.0) / main_norm2
            } else {
                0.0
            };
        }
    }
}

impl Weighting for HydaLearn {
    fn name(&self) -> &'static str {
        "hydalearn"
    }

    fn weights(&mut self, input: &WeightingInput<'_>) -> &[f64] {
        check(input, self.split.tasks, "hydalearn", true);
        self.weigh(input.grads.gramian(), input.lr);
        &self.weights
    }

    fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::rows;
    use super::*;

    fn hydalearn(roles: &[Role]) -> HydaLearn {
        HydaLearn::new(roles).unwrap()
    }

    #[test]
    fn a_helpful_auxiliary_weighs_more_than_a_harmful_one() {
        // Main loss L_m(θ) = ½‖θ − θ*‖², θ − θ* = (1, 2): g_m = (1, 2). Aux 1 points roughly
        // the same way, aux 2 roughly the opposite way.
        let g = rows(&[&[1.0, 2.0], &[2.0, 1.0], &[-1.0, -1.0]]);
        let mut h = hydalearn(&[Role::Main, Role::Auxiliary, Role::Auxiliary]);
        let lr = 0.01;
        let w = h
            .weights(&WeightingInput {
                losses: &[1.0, 1.0, 1.0],
                grads: &crate::surgery::GradMatrix::from(&g),
                lr,
            })
            .to_vec();
        // g_m·g = (5, 4, −3): w = (1, 4/5, 0).
        assert_eq!(w, vec![1.0, 0.8, 0.0]);
        assert!(w[1] > w[2]);
        let gains: Vec<f64> = h.diagnostics().iter().map(|d| d.value).collect();
        for (got, want) in gains.iter().zip([0.05, 0.04, -0.03]) {
            assert!((got - want).abs() < 1e-9, "{gains:?}");
        }
    }

    #[test]
    fn first_order_gains_match_the_fake_update_to_second_order() {
        // For the quadratic main loss the fake update's gain is η g_m·g_t − ½ η² ‖g_t‖².
        let theta = [1.0f64, 2.0];
        let main_loss = |th: [f64; 2]| 0.5 * (th[0] * th[0] + th[1] * th[1]);
        let aux = [2.0f64, 1.0];
        let g = rows(&[&[1.0, 2.0], &[2.0, 1.0]]);
        let mut h = hydalearn(&[Role::Main, Role::Auxiliary]);
        for lr in [1e-1, 1e-2, 1e-3] {
            h.weights(&WeightingInput {
                losses: &[1.0, 1.0],
                grads: &crate::surgery::GradMatrix::from(&g),
                lr,
            });
            let faked = [theta[0] - lr * aux[0], theta[1] - lr * aux[1]];
            let true_gain = main_loss(theta) - main_loss(faked);
            let estimate = h.diagnostics()[1].value;
            let second_order = 0.5 * lr * lr * (aux[0] * aux[0] + aux[1] * aux[1]);
            assert!(
                (estimate - true_gain - second_order).abs() < 1e-9,
                "lr {lr}: {estimate} vs {true_gain}"
            );
        }
    }

    #[test]
    fn a_zero_main_gradient_gives_the_auxiliaries_no_weight() {
        let g = rows(&[&[0.0, 0.0], &[2.0, 1.0]]);
        let mut h = hydalearn(&[Role::Main, Role::Auxiliary]);
        let w = h.weights(&WeightingInput {
            losses: &[1.0, 1.0],
            grads: &crate::surgery::GradMatrix::from(&g),
            lr: 0.1,
        });
        assert_eq!(w, &[1.0, 0.0]);
    }
}
