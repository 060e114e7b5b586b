//! The optimisation phase of one iteration: epochs over the rollout in minibatches that hold an
//! equal share of every task's transitions, per-task losses, then one surgery-aware step each.

use polytask_agents::actor_critic::{ActionSpec, ActorCritic, HeadGradients};
use polytask_agents::ppo::{
    a2c_grads, a2c_loss, normalize_advantages, ppo_grads, ppo_loss, Batch, LossTerms, PpoConfig,
};
use polytask_agents::surgery::Aggregator;
use polytask_agents::update::MultiTaskOptimizer;
use tch::{Device, Kind, Tensor};

use super::storage::TaskStorage;
use crate::config::{AlgorithmConfig, AlgorithmName};

/// One task's rollout as tensors.
struct TaskBatch {
    obs: Tensor,
    actions: Tensor,
    log_probs: Tensor,
    values: Tensor,
    advantages: Tensor,
    returns: Tensor,
}

impl TaskBatch {
    fn new(s: &TaskStorage, action: ActionSpec, device: Device) -> Self {
        let t = |v: &[f32]| Tensor::from_slice(v).to_device(device);
        let actions = match action {
            ActionSpec::Discrete(_) => t(&s.actions).to_kind(Kind::Int64),
            ActionSpec::Continuous(d) => t(&s.actions).view([-1, d]),
        };
        Self {
            obs: t(&s.obs).view([-1, s.obs_dim as i64]),
            actions,
            log_probs: t(&s.log_probs),
            values: t(&s.values),
            advantages: t(&s.advantages),
            returns: t(&s.returns),
        }
    }

    fn shallow_clone(&self) -> Self {
        Self {
            obs: self.obs.shallow_clone(),
            actions: self.actions.shallow_clone(),
            log_probs: self.log_probs.shallow_clone(),
            values: self.values.shallow_clone(),
            advantages: self.advantages.shallow_clone(),
            returns: self.returns.shallow_clone(),
        }
    }

    fn select(&self, idx: &Tensor) -> Self {
        let pick = |x: &Tensor| x.index_select(0, idx);
        Self {
            obs: pick(&self.obs),
            actions: pick(&self.actions),
            log_probs: pick(&self.log_probs),
            values: pick(&self.values),
            advantages: pick(&self.advantages),
            returns: pick(&self.returns),
        }
    }
}

/// Rows of each task's minibatch.
fn rows(mb: &[TaskBatch]) -> Vec<i64> {
    mb.iter().map(|b| b.values.size()[0]).collect()
}

/// What the optimisation phase reports for logging: the last minibatch's terms per task and
/// its gradient statistics.
#[derive(Debug)]
pub struct OptimizeReport {
    /// Loss terms per task (detached scalars).
    pub losses: Vec<LossTerms>,
    /// The per-task gradients of the shared weights at the last step, `[T, P]`.
    pub shared_grads: Tensor,
}

/// Runs the epochs of PPO (or A2C's single full-batch step) on the rollout in `storage`.
///
/// Each step's gradients come from the losses' hand-written gradients ([`ppo_grads`],
/// [`a2c_grads`]) propagated through the network by [`ActorCritic::backward`], without a
/// libtorch graph. The loss terms themselves are computed only where they are read: on the
/// last minibatch of every epoch when `target_kl` may stop early, else on the very last step.
pub fn optimize(
    net: &ActorCritic,
    opt: &mut MultiTaskOptimizer,
    aggregator: &mut dyn Aggregator,
    storage: &[TaskStorage],
    config: &AlgorithmConfig,
    lr: f64,
) -> anyhow::Result<OptimizeReport> {
    let _no_graph = tch::no_grad_guard();
    let device = net.device();
    let mut batches: Vec<TaskBatch> = storage
        .iter()
        .zip(net.tasks())
        .map(|(s, shape)| TaskBatch::new(s, shape.action, device))
        .collect();
    let (epochs, minibatches) = match config.name {
        AlgorithmName::Ppo => (config.update_epochs, config.num_minibatches),
        AlgorithmName::A2c => (1, 1),
    };
    let mut loss_config = PpoConfig {
        clip_coef: config.clip_coef,
        clip_vloss: config.clip_vloss,
        vf_coef: config.vf_coef,
        ent_coef: config.ent_coef,
        norm_adv: config.norm_adv,
    };
    if minibatches == 1 && loss_config.norm_adv {
        // Every epoch sees the same single minibatch: normalise its advantages once.
        for b in &mut batches {
            b.advantages = normalize_advantages(&b.advantages);
        }
        loss_config.norm_adv = false;
    }
    let mut last = None;
    // Reused by every step; each step overwrites the gradients of the one before, and the
    // report of the last step, the one kept, shares them.
    let mut buffers = None;
    for epoch in 0..epochs {
        // With one minibatch the order of rows does not matter: skip the shuffle.
        let perms: Vec<Option<Tensor>> = storage
            .iter()
            .map(|s| {
                (minibatches > 1)
                    .then(|| Tensor::randperm(s.values.len() as i64, (Kind::Int64, device)))
            })
            .collect();
        for m in 0..minibatches as i64 {
            let mb: Vec<TaskBatch> = batches
                .iter()
                .zip(&perms)
                .map(|(b, perm)| match perm {
                    Some(perm) => {
                        let size = perm.size()[0] / minibatches as i64;
                        b.select(&perm.narrow(0, m * size, size))
                    }
                    None => b.shallow_clone(),
                })
                .collect();
            let terms_needed =
                m + 1 == minibatches as i64 && (config.target_kl.is_some() || epoch + 1 == epochs);
            let obs: Vec<Tensor> = mb.iter().map(|b| b.obs.shallow_clone()).collect();
            let out = net.forward(&obs);
            let mut heads = Vec::with_capacity(mb.len());
            let mut terms = Vec::new();
            for (t, b) in mb.iter().enumerate() {
                let dist = &out.dists[t];
                let new_log_prob = dist.log_prob(&b.actions);
                let batch = Batch {
                    new_log_prob: &new_log_prob,
                    old_log_prob: &b.log_probs,
                    new_value: &out.values[t],
                    old_value: &b.values,
                    advantages: &b.advantages,
                    returns: &b.returns,
                };
                let grads = match config.name {
                    AlgorithmName::Ppo => ppo_grads(&batch, &loss_config),
                    AlgorithmName::A2c => a2c_grads(&batch, &loss_config),
                };
                let (policy, log_std) = dist.backward(&b.actions, &grads.log_prob, grads.entropy);
                heads.push(HeadGradients {
                    policy,
                    value: grads.value,
                    log_std,
                });
                if terms_needed {
                    let entropy = dist.entropy();
                    terms.push(match config.name {
                        AlgorithmName::Ppo => ppo_loss(&batch, &entropy, &loss_config),
                        AlgorithmName::A2c => a2c_loss(&batch, &entropy, &loss_config),
                    });
                }
            }
            let buffers = buffers.get_or_insert_with(|| net.grad_buffers(&rows(&mb)));
            net.backward_into(&out, &heads, buffers);
            let report = opt.apply(net, buffers.gradients(), aggregator, lr);
            last = Some((terms, report.shared_grads));
        }
        if let (Some(target), Some((terms, _))) = (config.target_kl, &last) {
            let kl = terms
                .iter()
                .map(|l| l.approx_kl.double_value(&[]))
                .sum::<f64>()
                / terms.len() as f64;
            if kl > target {
                break;
            }
        }
    }
    let (losses, shared_grads) = last.expect("at least one epoch and minibatch");
    Ok(OptimizeReport {
        losses,
        shared_grads,
    })
}
