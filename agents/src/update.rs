//! One optimizer step of the multi-task learner: per-task gradients from one backward pass,
//! surgery on the shared weights, each task's own gradient on its own weights, global-norm
//! clipping, then Adam — on the network's flat parameter buffer, in a few tensor operations.

use tch::Tensor;

use crate::actor_critic::{ActorCritic, Output, TaskGradients};
use crate::adam::{clip_global_norm, Adam, AdamConfig};
use crate::surgery::Aggregator;

/// What one step leaves for logging, still on the device (reading it costs a synchronisation).
#[derive(Debug)]
pub struct StepReport {
    /// The per-task gradients of the shared weights, `[T, P]`, before surgery.
    pub shared_grads: Tensor,
    /// Global gradient norm before clipping (a scalar tensor).
    pub grad_norm: Tensor,
}

/// Adam over the whole network, fed by an aggregator on the shared weights.
#[derive(Debug)]
pub struct MultiTaskOptimizer {
    adam: Adam,
    max_grad_norm: f64,
}

impl MultiTaskOptimizer {
    /// An optimizer for `net`, clipping the global gradient norm at `max_grad_norm`.
    pub fn new(net: &ActorCritic, config: AdamConfig, max_grad_norm: f64) -> Self {
        Self {
            adam: Adam::new(&[net.flat_params()], config),
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
    /// from `out`: [`ActorCritic::task_gradients`], then [`MultiTaskOptimizer::apply`].
    pub fn step(
        &mut self,
        net: &ActorCritic,
        losses: &[Tensor],
        out: &Output,
        aggregator: &mut dyn Aggregator,
        lr: f64,
    ) -> Result<StepReport, tch::TchError> {
        let grads = net.task_gradients(losses, out)?;
        Ok(self.apply(net, &grads, aggregator, lr))
    }

    /// Updates `net` from per-task gradients: the aggregate of `grads.shared` on the shared
    /// weights, each task's own gradient on its own weights, global-norm clipping, Adam. The
    /// gradient buffer is clipped in place and the report shares `grads.shared`.
    pub fn apply(
        &mut self,
        net: &ActorCritic,
        grads: &TaskGradients,
        aggregator: &mut dyn Aggregator,
        lr: f64,
    ) -> StepReport {
        let mut flat = [grads.flat.shallow_clone()];
        tch::no_grad(|| {
            if net.shared_len() > 0 {
                let aggregated = aggregator.aggregate(&grads.shared);
                flat[0].narrow(0, 0, net.shared_len()).copy_(&aggregated);
            }
        });
        let grad_norm = clip_global_norm(&mut flat, self.max_grad_norm);
        self.adam.step(&[net.flat_params()], &flat, lr);
        StepReport {
            shared_grads: grads.shared.shallow_clone(),
            grad_norm,
        }
    }
}
