//! The optimisation phase of one iteration: epochs over the rollout in minibatches that hold an
//! equal share of every task's transitions, per-task losses, then one surgery-aware step each.

use polytask_agents::actor_critic::{ActionSpec, ActorCritic, HeadGradients, TaskGradients};
use polytask_agents::ppo::{
    a2c_grads, a2c_loss, normalize_advantages, ppo_grads, ppo_loss, Batch, LossTerms, PpoConfig,
};
use polytask_agents::surgery::Aggregator;
use polytask_agents::update::MultiTaskOptimizer;
use polytask_agents::weighting::{Diagnostic, Weighting, WeightingInput};
use tch::{Device, Kind, Tensor};

use super::aux_batch::AuxBatch;
use super::storage::TaskStorage;
use crate::config::{AlgorithmConfig, AlgorithmName, AuxLoss, OnNonFinite};

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

/// Rows of each network task's minibatch: the tasks', then the auxiliary losses'.
fn rows(mb: &[TaskBatch], aux: &[AuxBatch]) -> Vec<i64> {
    let tasks = mb.iter().map(|b| b.values.size()[0]);
    tasks.chain(aux.iter().map(|a| a.mask.size()[0])).collect()
}

/// How the per-task gradients are combined: weights first, then surgery.
pub struct Combiner<'a> {
    /// Weights each row of `G` (and the task's own gradient) before surgery.
    pub weighting: &'a mut dyn Weighting,
    /// Combines the weighted rows.
    pub aggregator: &'a mut dyn Aggregator,
}

/// What the optimisation phase reports for logging: the last minibatch's terms per task and
/// its gradient statistics.
#[derive(Debug)]
pub struct OptimizeReport {
    /// Loss terms per task (detached scalars).
    pub losses: Vec<LossTerms>,
    /// The per-task gradients of the shared weights at the last step, `[T, P]` (the tasks',
    /// then the auxiliary losses' rows), before weighting.
    pub shared_grads: Tensor,
    /// Each auxiliary loss at the last step (detached scalars).
    pub aux_losses: Vec<Tensor>,
    /// The weighting's weights of the last step (`None` without a weighting).
    pub weights: Option<Vec<f64>>,
    /// The weighting's diagnostics of the last step.
    pub diagnostics: Vec<Diagnostic>,
    /// Steps dropped because their gradient was not finite (`on_nonfinite = "skip"`).
    pub skipped: u64,
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
    combiner: &mut Combiner<'_>,
    storage: &[TaskStorage],
    aux: &[AuxLoss],
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
    let aux_batches: Vec<AuxBatch> = aux
        .iter()
        .map(|a| AuxBatch::new(a, &storage[a.task], net.tasks()[a.task].action, device))
        .collect();
    let weighted = combiner.weighting.name() != "none";
    let mut signal_sums = vec![0.0; batches.len() + aux.len()];
    let mut steps = 0usize;
    let mut skipped = 0;
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
            // Each task's rows of this minibatch (all rows when there is one minibatch); an
            // auxiliary loss takes its task's rows.
            let rows_of: Vec<Option<Tensor>> = perms
                .iter()
                .map(|perm| {
                    let perm = perm.as_ref()?;
                    let size = perm.size()[0] / minibatches as i64;
                    Some(perm.narrow(0, m * size, size))
                })
                .collect();
            let mb: Vec<TaskBatch> = batches
                .iter()
                .zip(&rows_of)
                .map(|(b, idx)| match idx {
                    Some(idx) => b.select(idx),
                    None => b.shallow_clone(),
                })
                .collect();
            let terms_needed =
                m + 1 == minibatches as i64 && (config.target_kl.is_some() || epoch + 1 == epochs);
            let aux_mb: Vec<AuxBatch> = aux_batches
                .iter()
                .zip(aux)
                .map(|(b, a)| match &rows_of[a.task] {
                    Some(idx) => b.select(idx),
                    None => b.shallow_clone(),
                })
                .collect();
            let obs: Vec<Tensor> = mb
                .iter()
                .map(|b| b.obs.shallow_clone())
                .chain(aux_mb.iter().map(|a| a.inputs.shallow_clone()))
                .collect();
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
            let mut aux_losses = Vec::with_capacity(aux.len());
            for (j, (a, b)) in aux.iter().zip(&aux_mb).enumerate() {
                let pred = out.dists[mb.len() + j].mode();
                let (loss, grad) = b.loss_and_grad(&pred, a.coef);
                heads.push(HeadGradients {
                    value: out.values[mb.len() + j].zeros_like(),
                    log_std: Some(Tensor::zeros([pred.size()[1]], (Kind::Float, device))),
                    policy: grad,
                });
                aux_losses.push(loss);
            }
            let buffers = buffers.get_or_insert_with(|| net.grad_buffers(&rows(&mb, &aux_mb)));
            net.backward_into(&out, &heads, buffers);
            // Weighting scales the rows in place: keep them as they came for the report.
            let shared = match weighted {
                true => buffers.gradients().shared.copy(),
                false => buffers.gradients().shared.shallow_clone(),
            };
            let mut weights = None;
            if weighted {
                let signals = loss_signals(&mb, &out.values, &aux_losses);
                signal_sums
                    .iter_mut()
                    .zip(&signals)
                    .for_each(|(s, x)| *s += x);
                steps += 1;
                let input = WeightingInput {
                    losses: &signals,
                    grads: &shared,
                    lr,
                };
                let w = combiner.weighting.weights(&input).to_vec();
                apply_weights(
                    buffers.gradients(),
                    &w,
                    combiner.weighting.weights_task_specific(),
                );
                weights = Some(w);
            }
            let applied = match opt.apply(net, buffers.gradients(), combiner.aggregator, lr) {
                Ok(_) => true,
                Err(_) if config.on_nonfinite == OnNonFinite::Skip => {
                    skipped += 1;
                    false
                }
                Err(bad) => return Err(bad.into()),
            };
            if applied && combiner.weighting.wants_losses_after_step() {
                let after = net.forward(&obs);
                let after_aux: Vec<Tensor> = aux
                    .iter()
                    .zip(&aux_mb)
                    .enumerate()
                    .map(|(j, (a, b))| b.loss_and_grad(&after.dists[mb.len() + j].mode(), a.coef).0)
                    .collect();
                combiner
                    .weighting
                    .after_step(&loss_signals(&mb, &after.values, &after_aux));
            }
            let diagnostics = combiner.weighting.diagnostics().to_vec();
            last = Some((terms, shared, aux_losses, weights, diagnostics));
        }
        if let (Some(target), Some((terms, ..))) = (config.target_kl, &last) {
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
    if steps > 0 {
        let means: Vec<f64> = signal_sums.iter().map(|s| s / steps as f64).collect();
        combiner.weighting.end_iteration(&means);
    }
    let (losses, shared_grads, aux_losses, weights, diagnostics) =
        last.expect("at least one epoch and minibatch");
    Ok(OptimizeReport {
        losses,
        shared_grads,
        aux_losses,
        weights,
        diagnostics,
        skipped,
    })
}

/// The positive loss signal of each row of `G` that the loss-based weightings read: a task's
/// critic loss `mean (V(s) − R)²`, an auxiliary loss itself.
fn loss_signals(mb: &[TaskBatch], values: &[Tensor], aux_losses: &[Tensor]) -> Vec<f64> {
    let critic = mb
        .iter()
        .zip(values)
        .map(|(b, v)| (v - &b.returns).square().mean(Kind::Float));
    let all: Vec<Tensor> = critic
        .chain(aux_losses.iter().map(Tensor::shallow_clone))
        .collect();
    let stacked: Vec<f64> = Tensor::stack(&all, 0)
        .to_kind(Kind::Double)
        .to_device(Device::Cpu)
        .try_into()
        .expect("a vector of losses");
    stacked
}

/// Scales row `t` of the shared gradients by `w[t]`, and task `t`'s own gradient too when
/// `task_specific`.
fn apply_weights(grads: &TaskGradients, w: &[f64], task_specific: bool) {
    let device = grads.shared.device();
    let column = Tensor::from_slice(w)
        .to_kind(Kind::Float)
        .to_device(device)
        .unsqueeze(1);
    let mut shared = grads.shared.shallow_clone();
    shared *= &column;
    if task_specific {
        for (own, &wt) in grads.own.iter().zip(w) {
            let mut own = own.shallow_clone();
            own *= wt;
        }
    }
}
