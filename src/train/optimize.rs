//! The optimisation phase of one iteration, read like CleanRL's update: epochs over the
//! rollout in minibatches, each step a pipeline of named stages —
//!
//! 1. batch ([`Rollout::minibatch`]): every task's share of the rows;
//! 2. loss gradients ([`Loss::gradients`]): each loss differentiated by hand at the heads;
//! 3. backward ([`ActorCritic::backward_into`]): the per-task gradients `G` and each task's
//!    own gradient, without a libtorch graph;
//! 4. combine ([`Combiner::combine`]): weights, then surgery, with `G`'s Gramian computed once;
//! 5. apply ([`MultiTaskOptimizer::apply`]): clipping, the divergence guard, Adam.

use polytask_agents::actor_critic::ActorCritic;
use polytask_agents::combine::{Combined, Combiner};
use polytask_agents::ppo::LossTerms;
use polytask_agents::profile::{self, Part};
use polytask_agents::surgery::GradStats;
use polytask_agents::update::MultiTaskOptimizer;
use polytask_agents::weighting::Diagnostic;
use tch::Tensor;

use super::loss_gradients::Loss;
use super::minibatch::{Minibatch, Rollout};
use super::storage::TaskStorage;
use crate::config::{AlgorithmConfig, AlgorithmName, AuxLoss, OnNonFinite};

/// What the optimisation phase reports for logging: the last minibatch's terms per task and
/// its gradient statistics.
#[derive(Debug)]
pub struct OptimizeReport {
    /// Loss terms per task (detached scalars).
    pub losses: Vec<LossTerms>,
    /// Norms, cosines and conflicts of the per-task gradients of the shared weights at the
    /// last step (the tasks', then the auxiliary losses' rows), before weighting.
    pub stats: GradStats,
    /// Each auxiliary loss at the last step (detached scalars).
    pub aux_losses: Vec<Tensor>,
    /// The weighting's weights of the last step (`None` without a weighting).
    pub weights: Option<Vec<f64>>,
    /// The weighting's diagnostics of the last step.
    pub diagnostics: Vec<Diagnostic>,
    /// The global gradient norm before clipping at the last step (`None` if that step was
    /// dropped as not finite).
    pub grad_norm: Option<f64>,
    /// Steps dropped because their gradient was not finite (`on_nonfinite = "skip"`).
    pub skipped: u64,
}

/// Runs the epochs of PPO (or A2C's single full-batch step) on the rollout in `storage`.
///
/// The loss terms are computed only where they are read: on the last minibatch of every
/// epoch when `target_kl` may stop early, else on the very last step.
pub fn optimize(
    net: &ActorCritic,
    opt: &mut MultiTaskOptimizer,
    combiner: &mut Combiner,
    storage: &[TaskStorage],
    aux: &[AuxLoss],
    config: &AlgorithmConfig,
    lr: f64,
) -> anyhow::Result<OptimizeReport> {
    let _no_graph = tch::no_grad_guard();
    let (epochs, minibatches) = match config.name {
        AlgorithmName::Ppo | AlgorithmName::Sac => (config.update_epochs, config.num_minibatches),
        AlgorithmName::A2c => (1, 1),
    };
    let mut rollout = Rollout::new(net, storage, aux, minibatches);
    let mut loss = Loss::new(config, aux);
    if minibatches == 1 && loss.config.norm_adv {
        // Every epoch sees the same single minibatch: normalise its advantages once.
        rollout.normalize_advantages();
        loss.config.norm_adv = false;
    }
    // Reused by every step; each step overwrites the gradients of the one before.
    let mut buffers = None;
    let mut last = None;
    let mut skipped = 0;
    for epoch in 0..epochs {
        let order = rollout.shuffle();
        for m in 0..minibatches {
            let reported =
                m + 1 == minibatches && (config.target_kl.is_some() || epoch + 1 == epochs);
            let mb = rollout.minibatch(&order, m);
            let out = net.forward(&mb.inputs());
            let losses = profile::time(Part::Losses, || loss.gradients(&mb, &out, reported));
            let buffers = buffers.get_or_insert_with(|| net.grad_buffers(out.rows()));
            net.backward_into(&out, &losses.heads, buffers);
            let signals = || mb.signals(&out.values, &losses.aux_losses);
            let (combined, applied) = profile::time(Part::Optimizer, || {
                let combined = combiner.combine(buffers.gradients_mut(), signals, lr, reported);
                (combined, opt.apply(net, buffers.gradients(), lr))
            });
            let grad_norm = match applied {
                Ok(step) => {
                    if combiner.wants_losses_after_step() {
                        combiner.after_step(&signals_after_step(net, &loss, &mb));
                    }
                    Some(step.grad_norm)
                }
                Err(_) if config.on_nonfinite == OnNonFinite::Skip => {
                    skipped += 1;
                    None
                }
                Err(bad) => return Err(bad.into()),
            };
            if reported {
                let Combined { weights, stats } = combined;
                last = Some(OptimizeReport {
                    losses: losses.terms,
                    stats: stats.expect("statistics are asked for on a reported step"),
                    aux_losses: losses.aux_losses,
                    weights,
                    diagnostics: combiner.diagnostics().to_vec(),
                    grad_norm,
                    skipped: 0,
                });
            }
        }
        if let (Some(target), Some(report)) = (config.target_kl, &last) {
            if mean_kl(&report.losses) > target {
                break;
            }
        }
    }
    combiner.end_iteration();
    let mut report = last.expect("at least one epoch and minibatch");
    report.skipped = skipped;
    Ok(report)
}

/// The mean over tasks of the approximate KL divergence of `terms`.
fn mean_kl(terms: &[LossTerms]) -> f64 {
    let sum: f64 = terms.iter().map(|l| l.approx_kl.double_value(&[])).sum();
    sum / terms.len() as f64
}

/// The loss signals of `mb` re-evaluated with the updated network (FAMO's `ℓ(θ_{t+1})`).
fn signals_after_step(net: &ActorCritic, loss: &Loss, mb: &Minibatch) -> Vec<f64> {
    let after = net.forward(&mb.inputs());
    mb.signals(&after.values, &loss.aux_losses(mb, &after))
}
