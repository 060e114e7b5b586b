//! Task weighting: one weight per task, computed every optimizer step, that multiplies the
//! task's gradient before gradient surgery combines the rows (weights first, then surgery).
//!
//! Two families, each method in its own file with its paper:
//!
//! - loss weightings with state, for any set of tasks: `uncertainty` (Kendall et al. 2018),
//!   `gradnorm` (Chen et al. 2018), `dwa` (Liu et al. 2019), `famo` (Liu et al. 2023);
//! - auxiliary-task weightings, which need at least one [`Role::Main`] and one
//!   [`Role::Auxiliary`] task and keep the main tasks at weight 1: `cosine-gating` (Du et al.
//!   2018), `hydalearn` (Verboven et al. 2020), `arml` (Shi et al. 2020), `ol-aux` (Lin et
//!   al. 2019).
//!
//! `none` (every weight 1) is the default. Methods are built by name with [`by_name`]; whether
//! a weighting composes with a surgery aggregator is [`compatible`].
//!
//! # Several main tasks
//!
//! The auxiliary methods compare auxiliary gradients with *the* main gradient. With several main
//! tasks it is the gradient of the summed main losses, `g_m = Σ_{t main} g_t` (the main
//! objective is their sum), computed from the Gramian as `g_m·g_t = Σ_{i main} (G Gᵀ)_{it}`.
//!
//! # Losses
//!
//! The loss-based methods (`uncertainty`, `gradnorm`, `dwa`, `famo`) take logarithms or ratios
//! of the losses and need a **positive** loss signal per task (for RL tasks the critic's value
//! loss, for prediction heads their MSE; not the PPO surrogate, which can be negative). A loss
//! that is NaN or below [`LOSS_EPSILON`] (zero, negative) is replaced by [`LOSS_EPSILON`], and
//! one above `1 / LOSS_EPSILON` (`+∞` included) by that bound; see [`positive_loss`].
//!
//! # Use in a training step
//!
//! ```ignore
//! let mut weighting = weighting::by_name(&name, &params, &roles)?;   // once
//! weighting::compatible(&name, &aggregator_name)?;                   // once, at config time
//! // every optimizer step, g: GradMatrix of the [T, P] per-task gradients of the shared weights
//! let w = weighting.weights(&WeightingInput { losses: &loss_signals, grads: &crate::surgery::GradMatrix::from(&g), lr });
//! // g.scale_rows(&w) (and task t's own head gradient by w[t] if
//! // weighting.weights_task_specific()), then aggregate, clip, step: `combine::Combiner` does it.
//! if weighting.wants_losses_after_step() { weighting.after_step(&same_batch_losses_now); }
//! // once per rollout iteration
//! weighting.end_iteration(&mean_loss_signals);
//! ```

mod adam;
mod arml;
mod compat;
mod cosine_gating;
mod dwa;
mod error;
mod famo;
mod gradnorm;
mod hydalearn;
mod ol_aux;
mod roles;
mod uncertainty;
mod unweighted;

pub use arml::{Arml, ARML_MAX_AUXILIARY};
pub use compat::compatible;
pub use cosine_gating::CosineGating;
pub use dwa::Dwa;
pub use error::WeightingError;
pub use famo::Famo;
pub use gradnorm::GradNorm;
pub use hydalearn::HydaLearn;
pub use ol_aux::OlAux;
pub use roles::Role;
pub use uncertainty::Uncertainty;
pub use unweighted::Unweighted;

use std::collections::BTreeMap;

use crate::params::Params;
use crate::surgery::GradMatrix;

/// Losses below this (and NaN) are replaced by it before the loss-based methods take
/// logarithms or ratios; losses above its inverse (`+∞` included) are capped there.
pub const LOSS_EPSILON: f64 = 1e-8;

/// What a weighting sees at one optimizer step.
#[derive(Debug, Clone, Copy)]
pub struct WeightingInput<'a> {
    /// One positive loss signal per task (see the module documentation), this minibatch.
    pub losses: &'a [f64],
    /// The per-task gradients of the shared weights, `[T, P]` (row `t` is task `t`'s gradient),
    /// from one backward pass, on any device, before any weighting, with their Gramian.
    pub grads: &'a GradMatrix,
    /// The optimizer's learning rate for this step (HydaLearn's and OL-AUX's step size).
    pub lr: f64,
}

/// A named scalar a weighting computed, for logging as `aux/<name>/<task>` (or `aux/<name>`
/// when it is not about one task).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diagnostic {
    /// What it is: `gain`, `log_variance`, `cosine`, `inverse_rate`, `softmax`, `loss_ratio`,
    /// `match_residual`.
    pub name: &'static str,
    /// The task (index into the roles) it is about, if any.
    pub task: Option<usize>,
    /// Its value.
    pub value: f64,
}

/// A task weighting: one weight per task at every optimizer step.
///
/// The weights multiply each task's gradient before the aggregator combines the rows of `G`
/// (and, where [`Weighting::weights_task_specific`] says so, the gradient of the task's own
/// head). Calls come in this order: [`Weighting::weights`] once per optimizer step, then
/// [`Weighting::after_step`] if the trainer re-evaluates the losses, and
/// [`Weighting::end_iteration`] once per rollout iteration.
pub trait Weighting: Send {
    /// The method's name, as [`by_name`] knows it.
    fn name(&self) -> &'static str;

    /// The weights of this step's task gradients (length `T`, finite, non-negative), computed
    /// from `input`; learning methods also update their state here. The returned slice is
    /// the weights *used for this step* (before the state update the step triggers).
    ///
    /// # Panics
    ///
    /// If `input.losses` or the rows of `input.grads` are not one per task.
    fn weights(&mut self, input: &WeightingInput<'_>) -> &[f64];

    /// Whether the method wants [`Weighting::after_step`] (FAMO: the decrease of each task's
    /// loss on the same minibatch, which costs the trainer one extra forward pass).
    fn wants_losses_after_step(&self) -> bool {
        false
    }

    /// The same minibatch's loss signals re-evaluated after the optimizer step (FAMO's
    /// `ℓ(θ_{t+1})`). Methods that do not use them ignore the call.
    fn after_step(&mut self, _losses: &[f64]) {}

    /// Each task's mean loss signal over the rollout iteration that just ended (DWA's
    /// "epoch"). Methods that do not use it ignore the call.
    fn end_iteration(&mut self, _mean_losses: &[f64]) {}

    /// Whether the weight also multiplies the gradient of the task's own (task-specific)
    /// parameters. True for all methods that weight a task's loss; false for cosine gating,
    /// whose paper gates only the shared parameters' update (the auxiliary head always learns).
    fn weights_task_specific(&self) -> bool {
        true
    }

    /// Extra scalars from the last [`Weighting::weights`] call (gains, log-variances, ...).
    fn diagnostics(&self) -> &[Diagnostic] {
        &[]
    }

    /// The state the method carries from one call to the next (learned weights or
    /// log-variances, optimizer moments, loss history, counters), as bytes that
    /// [`Weighting::load_state`] restores, so that a resumed training run continues exactly
    /// as the uninterrupted one. Empty for a method without such state.
    fn save_state(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Restores the state saved by [`Weighting::save_state`] of a method of the same name and
    /// parameters, for the same task roles. Bytes that do not hold such a state (truncated,
    /// from another method, for another number of tasks) are a [`WeightingError::State`],
    /// and the method is left as it was.
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), WeightingError> {
        match crate::state::stateless(bytes) {
            None => Ok(()),
            Some(reason) => Err(state_error(self.name(), reason)),
        }
    }
}

/// The [`WeightingError::State`] of `weighting` for `reason`.
pub(crate) fn state_error(weighting: &str, reason: String) -> WeightingError {
    WeightingError::State {
        weighting: weighting.to_string(),
        reason,
    }
}

/// The state struct that `weighting` saved in `bytes`, after `validate` accepts it, or the
/// error saying why not.
fn decode_state<T: serde::de::DeserializeOwned>(
    weighting: &str,
    bytes: &[u8],
    validate: impl FnOnce(&T) -> Result<(), String>,
) -> Result<T, WeightingError> {
    crate::state::decode(weighting, bytes)
        .and_then(|state| validate(&state).map(|()| state))
        .map_err(|reason| state_error(weighting, reason))
}

/// The names [`by_name`] accepts: `none` first, then the loss weightings, then the
/// auxiliary-task weightings.
pub const NAMES: &[&str] = &[
    "none",
    "uncertainty",
    "gradnorm",
    "dwa",
    "famo",
    "cosine-gating",
    "hydalearn",
    "arml",
    "ol-aux",
];

/// The names of the weightings that need a main and an auxiliary task.
pub const AUXILIARY_NAMES: &[&str] = &["cosine-gating", "hydalearn", "arml", "ol-aux"];

/// The weighting called `name` for tasks with the given `roles` (one per task, in the order of
/// the rows of `G`), with the hyperparameters in `params` and the published defaults for the
/// others. Unknown names, unknown parameters, values out of range, no tasks, and an auxiliary
/// method without a main or without an auxiliary task are errors.
pub fn by_name(
    name: &str,
    params: &BTreeMap<String, f64>,
    roles: &[Role],
) -> Result<Box<dyn Weighting>, WeightingError> {
    if !NAMES.contains(&name) {
        return Err(WeightingError::UnknownWeighting {
            name: name.to_string(),
            known: NAMES.join(", "),
        });
    }
    if roles.is_empty() {
        return Err(WeightingError::NoTasks {
            weighting: name.to_string(),
        });
    }
    let tasks = roles.len();
    let mut p = Params::new(name, params);
    let method: Box<dyn Weighting> = match name {
        "none" => Box::new(Unweighted::new(tasks)),
        "uncertainty" => Box::new(Uncertainty::from_params(tasks, &mut p)?),
        "gradnorm" => Box::new(GradNorm::from_params(tasks, &mut p)?),
        "dwa" => Box::new(Dwa::from_params(tasks, &mut p)?),
        "famo" => Box::new(Famo::from_params(tasks, &mut p)?),
        "cosine-gating" => Box::new(CosineGating::from_params(roles, &mut p)?),
        "hydalearn" => Box::new(HydaLearn::new(roles)?),
        "arml" => Box::new(Arml::from_params(roles, &mut p)?),
        "ol-aux" => Box::new(OlAux::from_params(roles, &mut p)?),
        _ => unreachable!("every name in NAMES has a constructor"),
    };
    p.finish()?;
    Ok(method)
}

/// [`by_name`] for a learner: `None` for `none` (every weight 1, so there is nothing to
/// compute or apply), else the method. The same names, parameters and errors.
pub fn optional(
    name: &str,
    params: &BTreeMap<String, f64>,
    roles: &[Role],
) -> Result<Option<Box<dyn Weighting>>, WeightingError> {
    let method = by_name(name, params, roles)?;
    Ok((name != "none").then_some(method))
}

/// `l` made usable as a positive loss: NaN or below [`LOSS_EPSILON`] becomes
/// [`LOSS_EPSILON`], above `1 / LOSS_EPSILON` (`+∞` included) becomes that bound.
pub fn positive_loss(l: f64) -> f64 {
    if l.is_nan() {
        LOSS_EPSILON
    } else {
        l.clamp(LOSS_EPSILON, 1.0 / LOSS_EPSILON)
    }
}

/// Panics unless `input` has one loss per task (and, if `grads` is read, one gradient row).
fn check(input: &WeightingInput<'_>, tasks: usize, method: &str, grads: bool) {
    assert_eq!(
        input.losses.len(),
        tasks,
        "weighting `{method}`: {} losses for {tasks} tasks",
        input.losses.len()
    );
    if grads {
        let rows = input.grads.tasks();
        assert_eq!(
            rows, tasks,
            "weighting `{method}`: {rows} gradient rows for {tasks} tasks"
        );
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use tch::Tensor;

    /// A `[T, P]` tensor from rows of `f32`.
    pub fn rows(rows: &[&[f32]]) -> Tensor {
        let p = rows[0].len() as i64;
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_slice(&flat).reshape([rows.len() as i64, p])
    }

    /// The `[T, T]` matrix with `values` on the diagonal: task `t`'s gradient is
    /// `values[t] e_t` (tasks on separate coordinates).
    pub fn diagonal(values: &[f64]) -> Tensor {
        let n = values.len();
        let mut flat = vec![0.0f32; n * n];
        for t in 0..n {
            flat[t * n + t] = values[t] as f32;
        }
        Tensor::from_slice(&flat).reshape([n as i64, n as i64])
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::rows;
    use super::*;

    fn roles() -> Vec<Role> {
        vec![Role::Main, Role::Auxiliary, Role::Auxiliary]
    }

    #[test]
    fn every_name_builds_and_gives_one_finite_weight_per_task() {
        let g = rows(&[&[1.0, 0.0, 1.0], &[1.0, 1.0, 0.0], &[-1.0, 0.5, 0.0]]);
        let losses = [0.5, 2.0, 1.0];
        for name in NAMES {
            let mut w = by_name(name, &BTreeMap::new(), &roles()).unwrap();
            assert_eq!(w.name(), *name);
            for _ in 0..3 {
                let out = w.weights(&WeightingInput {
                    losses: &losses,
                    grads: &crate::surgery::GradMatrix::from(&g),
                    lr: 0.01,
                });
                assert_eq!(out.len(), 3, "{name}");
                assert!(
                    out.iter().all(|x| x.is_finite() && *x >= 0.0),
                    "{name}: {out:?}"
                );
                w.after_step(&losses);
                w.end_iteration(&losses);
            }
        }
    }

    #[test]
    fn unknown_names_and_parameters_are_reported_with_the_known_ones() {
        let err = by_name("gradnrom", &BTreeMap::new(), &roles())
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            format!(
                "unknown weighting `gradnrom`; available: {}",
                NAMES.join(", ")
            )
        );
        let params = BTreeMap::from([("beta".to_string(), 1.0)]);
        let err = by_name("gradnorm", &params, &roles()).err().unwrap();
        assert_eq!(
            err.to_string(),
            "weighting `gradnorm` has no parameter `beta`; its parameters: alpha, lr"
        );
        assert_eq!(err.parameter(), Some("beta"));
        let err = by_name("none", &params, &roles()).err().unwrap();
        assert!(err.to_string().ends_with("its parameters: none"), "{err}");
        let params = BTreeMap::from([("temperature".to_string(), 0.0)]);
        let err = by_name("dwa", &params, &roles()).err().unwrap();
        assert!(err.to_string().contains("must be positive"), "{err}");
    }

    #[test]
    fn auxiliary_methods_need_a_main_and_an_auxiliary_task() {
        for name in AUXILIARY_NAMES {
            let none = BTreeMap::new();
            let err = by_name(name, &none, &[Role::Main, Role::Main])
                .err()
                .unwrap();
            assert!(
                matches!(err, WeightingError::NoAuxiliaryTask { .. }),
                "{name}: {err}"
            );
            let err = by_name(name, &none, &[Role::Auxiliary]).err().unwrap();
            assert!(
                matches!(err, WeightingError::NoMainTask { .. }),
                "{name}: {err}"
            );
        }
        // The loss weightings do not care about roles.
        assert!(by_name("dwa", &BTreeMap::new(), &[Role::Auxiliary]).is_ok());
        assert!(matches!(
            by_name("dwa", &BTreeMap::new(), &[]).err().unwrap(),
            WeightingError::NoTasks { .. }
        ));
    }

    #[test]
    fn losses_are_made_positive() {
        assert_eq!(positive_loss(-1.0), LOSS_EPSILON);
        assert_eq!(positive_loss(0.0), LOSS_EPSILON);
        assert_eq!(positive_loss(f64::NAN), LOSS_EPSILON);
        assert_eq!(positive_loss(f64::INFINITY), 1.0 / LOSS_EPSILON);
        assert_eq!(positive_loss(0.25), 0.25);
    }

    #[test]
    #[should_panic(expected = "2 losses for 3 tasks")]
    fn a_wrong_number_of_losses_is_a_bug() {
        let mut w = by_name("uncertainty", &BTreeMap::new(), &roles()).unwrap();
        let g = rows(&[&[1.0], &[1.0], &[1.0]]);
        w.weights(&WeightingInput {
            losses: &[1.0, 1.0],
            grads: &crate::surgery::GradMatrix::from(&g),
            lr: 0.1,
        });
    }
}
