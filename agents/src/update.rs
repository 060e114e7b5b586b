//! The apply stage of a learner step — global-norm clipping, the divergence guard, Adam on the
//! network's flat parameter buffer — and [`MultiTaskOptimizer::step`], the whole step from
//! autograd losses (per-task gradients, [`Combiner::combine`], apply) for callers without
//! hand-written loss gradients.

use tch::Tensor;

use crate::actor_critic::{ActorCritic, Output, TaskGradients};
use crate::adam::{clip_global_norm, Adam, AdamConfig};
use crate::combine::Combiner;

/// A gradient with a NaN or infinite element, found before the step that it would have
/// spoiled was applied (see [`MultiTaskOptimizer::apply`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{quantity} is not finite: element {element} is {value}")]
pub struct NonFinite {
    /// The task whose gradient it is (an index into the network's tasks); `None` for the
    /// aggregated gradient of the shared weights.
    pub task: Option<usize>,
    /// What is not finite, e.g. "the gradient of the shared weights".
    pub quantity: &'static str,
    /// The index of the first bad element, in the quantity's flat layout.
    pub element: i64,
    /// Its value.
    pub value: f64,
}

impl NonFinite {
    /// The first non-finite element: of a task's shared-weight gradient, then of a task's
    /// own gradient, else of the aggregated gradient in `flat`.
    fn find(grads: &TaskGradients, flat: &Tensor) -> Self {
        let rows = (0..grads.shared.size()[0]).map(|t| grads.shared.get(t));
        let shared = rows.map(|g| (g, "the gradient of the shared weights"));
        let own = grads
            .own
            .iter()
            .map(|g| (g.shallow_clone(), "the gradient of its own weights"));
        for (t, (g, quantity)) in shared.enumerate().chain(own.enumerate()) {
            if let Some((element, value)) = first_bad(&g) {
                return Self {
                    task: Some(t),
                    quantity,
                    element,
                    value,
                };
            }
        }
        let (element, value) = first_bad(flat).unwrap_or((0, f64::NAN));
        Self {
            task: None,
            quantity: "the aggregated gradient of the shared weights",
            element,
            value,
        }
    }
}

/// The index and value of the first NaN or infinite element of `t`.
fn first_bad(t: &Tensor) -> Option<(i64, f64)> {
    let flat = t.reshape([-1]);
    let bad = flat.isfinite().logical_not().nonzero();
    (bad.size()[0] > 0).then(|| {
        let k = bad.int64_value(&[0, 0]);
        (k, flat.double_value(&[k]))
    })
}

/// Why [`MultiTaskOptimizer::step`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The per-task gradients could not be computed.
    #[error(transparent)]
    Gradients(#[from] tch::TchError),
    /// A gradient was not finite; nothing was applied.
    #[error(transparent)]
    NonFinite(#[from] NonFinite),
}

/// What one step leaves for logging.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// Global gradient norm before clipping (read for the divergence guard anyway).
    pub grad_norm: f64,
}

/// Adam over the whole network, with global-norm clipping and the divergence guard: the apply
/// stage of a learner step, after [`Combiner::combine`] has written the update of the shared
/// weights.
#[derive(Debug)]
pub struct MultiTaskOptimizer {
    adam: Adam,
    max_grad_norm: f64,
}

impl MultiTaskOptimizer {
    /// An optimizer for `net`, clipping the global gradient norm at `max_grad_norm`.
    pub fn new(net: &ActorCritic, config: AdamConfig, max_grad_norm: f64) -> Self {
        Self::for_params(net.flat_params(), config, max_grad_norm)
    }

    /// An optimizer for the flat parameter buffer `params` of any network whose gradients
    /// come as [`TaskGradients`] laid out as it (e.g. [`crate::task_net::TaskNet`]); an
    /// infinite `max_grad_norm` clips nothing.
    pub fn for_params(params: &Tensor, config: AdamConfig, max_grad_norm: f64) -> Self {
        Self {
            adam: Adam::new(&[params], config),
            max_grad_norm,
        }
    }

    /// The underlying Adam state (one moment tensor each, over the flat parameter buffer).
    pub fn adam(&self) -> &Adam {
        &self.adam
    }

    /// The underlying Adam state, mutably (to restore a checkpoint).
    pub fn adam_mut(&mut self) -> &mut Adam {
        &mut self.adam
    }

    /// Updates `net` from the per-task losses `losses[t]` computed (with gradient tracking)
    /// from `out`: [`ActorCritic::task_gradients`], [`Combiner::combine`] (the losses' values
    /// are the weighting's signals), then [`MultiTaskOptimizer::apply`].
    pub fn step(
        &mut self,
        net: &ActorCritic,
        losses: &[Tensor],
        out: &Output,
        combiner: &mut Combiner,
        lr: f64,
    ) -> Result<StepReport, StepError> {
        let mut grads = net.task_gradients(losses, out)?;
        let signals = || losses.iter().map(|l| l.double_value(&[])).collect();
        combiner.combine(&mut grads, signals, lr, false);
        Ok(self.apply(net, &grads, lr)?)
    }

    /// Applies the combined gradient in `grads` (its flat buffer, whose shared part
    /// [`Combiner::combine`] wrote): global-norm clipping in place, the divergence guard, Adam.
    pub fn apply(
        &mut self,
        net: &ActorCritic,
        grads: &TaskGradients,
        lr: f64,
    ) -> Result<StepReport, NonFinite> {
        self.apply_to(net.flat_params(), grads, lr)
    }

    /// [`MultiTaskOptimizer::apply`] to the flat parameter buffer `params` (the one this
    /// optimizer was made for).
    pub fn apply_to(
        &mut self,
        params: &Tensor,
        grads: &TaskGradients,
        lr: f64,
    ) -> Result<StepReport, NonFinite> {
        let mut flat = [grads.flat.shallow_clone()];
        let grad_norm = clip_global_norm(&mut flat, self.max_grad_norm).double_value(&[]);
        // The divergence guard: a NaN or infinite element anywhere makes the norm so; then
        // nothing is applied, and the culprit is looked for (only on this failure path).
        if !grad_norm.is_finite() {
            return Err(NonFinite::find(grads, &flat[0]));
        }
        self.adam.step(&[params], &flat, lr);
        Ok(StepReport { grad_norm })
    }
}
