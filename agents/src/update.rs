//! One optimizer step of the multi-task learner: per-task gradients from one backward pass,
//! surgery on the shared weights, each task's own gradient on its own weights, global-norm
//! clipping, then Adam.

use tch::Tensor;

use crate::actor_critic::{ActorCritic, Output};
use crate::adam::{clip_global_norm, Adam, AdamConfig};
use crate::surgery::{Aggregator, GradStats};

/// The network's parameters in the order [`MultiTaskOptimizer`] updates them: shared weights,
/// then task 0's own, task 1's own, and so on.
pub fn ordered_params(net: &ActorCritic) -> Vec<&Tensor> {
    let mut params = net.shared_params();
    for t in 0..net.tasks().len() {
        params.extend(net.task_params(t));
    }
    params
}

/// What one step measured.
#[derive(Debug)]
pub struct StepReport {
    /// Norms and conflicts of the per-task shared gradients (before surgery).
    pub stats: GradStats,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
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
            adam: Adam::new(&ordered_params(net), config),
            max_grad_norm,
        }
    }

    /// The underlying Adam state.
    pub fn adam(&self) -> &Adam {
        &self.adam
    }

    /// The underlying Adam state, mutably (to restore a checkpoint).
    pub fn adam_mut(&mut self) -> &mut Adam {
        &mut self.adam
    }

    /// Updates `net` from the per-task losses `losses[t]` computed from `out`.
    pub fn step(
        &mut self,
        net: &ActorCritic,
        losses: &[Tensor],
        out: &Output,
        aggregator: &mut dyn Aggregator,
        lr: f64,
    ) -> Result<StepReport, tch::TchError> {
        let grads = net.task_gradients(losses, out)?;
        let stats = GradStats::of(&grads.shared);
        let mut flat = Vec::new();
        if grads.shared.size()[1] > 0 {
            let combined = aggregator.aggregate(&grads.shared);
            let mut offset = 0;
            for p in net.shared_params() {
                let n = p.numel() as i64;
                flat.push(combined.narrow(0, offset, n).view_(p.size()));
                offset += n;
            }
        }
        flat.extend(grads.own.into_iter().flatten());
        let grad_norm = clip_global_norm(&mut flat, self.max_grad_norm);
        self.adam.step(&ordered_params(net), &flat, lr);
        Ok(StepReport { stats, grad_norm })
    }
}
