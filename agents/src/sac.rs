//! Multi-task Soft Actor-Critic (Haarnoja et al. 2018, arXiv:1812.05905, Algorithm 1 with the
//! learned temperature of eq. 18), one gradient step as Stable-Baselines3 2.9's `SAC.train`
//! takes it, for several tasks at once: the multi-task multi-head SAC of the Meta-World
//! benchmark (Yu et al. 2019) and of PCGrad's experiments (Yu et al. 2020), where gradient
//! surgery combines the per-task gradients of the critic's and of the actor's shared weights.
//!
//! Networks are [`TaskNet`]s: the actor's heads output each task's means and log-stds
//! ([`SquashedGaussian`]), the twin critic (two copies in one [`TaskNet`]) sees the
//! observation and the action in `[-1, 1]`, and a frozen copy of it is the target critic.
//! Each task has its own temperature `α_t` (target entropy `−|A_t|` by default).
//!
//! One [`Sac::update`] on a minibatch holding `B` transitions of every task, in SB3's order:
//! 1. `a ~ π(·|s)` with its log-probability (reparameterised);
//! 2. the temperatures: `L_α,t = −log α_t · mean(log π(a|s) − H̄_t)` (detached), one Adam step;
//! 3. the critic: `y = r + γ (1 − terminated) (min_k Q̄_k(s′, a′) − α_t log π(a′|s′))` with
//!    `a′ ~ π(·|s′)` and the temperature before step 2, `L_Q,t = ½ Σ_k mean((Q_k(s, a) − y)²)`;
//!    per-task gradients from one backward pass, combined, one Adam step;
//! 4. the actor: `L_π,t = mean(α_t log π(a|s) − min_k Q_k(s, a))` with the updated critic;
//!    per-task gradients, combined, one Adam step;
//! 5. the target critic: `θ̄ ← τ θ + (1 − τ) θ̄` (one operation on the flat buffers).
//!
//! The products are SB3's but for one pair: its actor loss also accumulates the critic's
//! weight gradients (zeroed unread before the next critic step), which are not computed here.
//! [`Sac::update_timed`] reports where an update's time goes; [`Sac::named_state`] holds
//! everything a resumed run needs to continue bit for bit.

mod state;
mod timing;

use tch::{Kind, Tensor};

pub use state::SacStateError;
pub use timing::SacTimings;

use crate::actor_critic::TaskGradients;
use crate::adam::{Adam, AdamConfig};
use crate::combine::{Combined, Combiner};
use crate::squashed_gaussian::SquashedGaussian;
use crate::task_net::{TaskNet, TaskNetConfig, TaskNetTrace};
use crate::update::{MultiTaskOptimizer, StepError};
use timing::Clock;

/// How the entropy temperatures are set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Temperature {
    /// Learned per task from this initial value (SB3's `ent_coef = "auto_<init>"`).
    Learned {
        /// Initial `α_t`.
        init: f64,
    },
    /// Fixed at this value for every task.
    Fixed(f64),
}

/// SAC's hyperparameters (defaults: SB3 2.9's `SAC`).
#[derive(Debug, Clone, PartialEq)]
pub struct SacConfig {
    /// Hidden widths of actor and critic (the first is each task's stem, the rest shared).
    pub hidden: Vec<i64>,
    /// Discount `γ`.
    pub gamma: f64,
    /// Polyak coefficient `τ` of the target critic.
    pub tau: f64,
    /// The actor's learning rate.
    pub actor_lr: f64,
    /// The critic's learning rate.
    pub critic_lr: f64,
    /// The temperatures' learning rate.
    pub alpha_lr: f64,
    /// The temperatures.
    pub temperature: Temperature,
    /// Target entropy of every task; `None`: `−|A_t|` for task `t` (SB3's `"auto"`).
    pub target_entropy: Option<f64>,
}

impl Default for SacConfig {
    fn default() -> Self {
        Self {
            hidden: vec![256, 256],
            gamma: 0.99,
            tau: 0.005,
            actor_lr: 3e-4,
            critic_lr: 3e-4,
            alpha_lr: 3e-4,
            temperature: Temperature::Learned { init: 1.0 },
            target_entropy: None,
        }
    }
}

/// What a task looks like to SAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SacTask {
    /// Length of the flat observation.
    pub obs_dim: i64,
    /// Dimensions of the box action.
    pub action_dim: i64,
}

/// A minibatch: per task, `B` rows of each (the same `B` for every task).
#[derive(Debug)]
pub struct SacBatch {
    /// Observations `[B, obs_dim_t]`.
    pub obs: Vec<Tensor>,
    /// Actions taken, scaled to `[-1, 1]` `[B, action_dim_t]`.
    pub actions: Vec<Tensor>,
    /// Rewards `[B]`.
    pub rewards: Vec<Tensor>,
    /// Next observations `[B, obs_dim_t]` (the final observation where an episode was
    /// truncated).
    pub next_obs: Vec<Tensor>,
    /// 1 where the episode terminated (no bootstrapping), else 0 `[B]`.
    pub terminated: Vec<Tensor>,
}

/// What one update leaves for logging, per task (CleanRL's SAC tags) and per stage.
#[derive(Debug, Clone, PartialEq)]
pub struct SacReport {
    /// Mean `Q_1(s, a)` of the minibatch.
    pub qf1_values: Vec<f64>,
    /// `L_Q,t`.
    pub qf_loss: Vec<f64>,
    /// `L_π,t`.
    pub actor_loss: Vec<f64>,
    /// `α_t` used in this update (before its step).
    pub alpha: Vec<f64>,
    /// `L_α,t` (0 with fixed temperatures).
    pub alpha_loss: Vec<f64>,
    /// The critic's combine stage.
    pub critic: Combined,
    /// The actor's combine stage.
    pub actor: Combined,
}

/// The multi-task SAC learner: networks, temperatures and their optimizers.
#[derive(Debug)]
pub struct Sac {
    config: SacConfig,
    tasks: Vec<SacTask>,
    actor: TaskNet,
    critic: TaskNet,
    critic_target: TaskNet,
    /// `log α_t`, `[T]`.
    log_alpha: Tensor,
    target_entropy: Tensor,
    actor_opt: MultiTaskOptimizer,
    critic_opt: MultiTaskOptimizer,
    alpha_opt: Adam,
    /// The per-task gradients of each network, allocated once and overwritten every update.
    actor_grads: TaskGradients,
    critic_grads: TaskGradients,
}

/// SB3's optimizers: PyTorch's Adam with its default ε.
const ADAM: AdamConfig = AdamConfig {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
};

impl Sac {
    /// Fresh networks for `tasks` on `device` (seed libtorch first for reproducible weights).
    ///
    /// # Panics
    /// If `tasks` or `config.hidden` is empty: the trainer validates both first.
    pub fn new(tasks: &[SacTask], config: &SacConfig, device: tch::Device) -> Self {
        let actor = TaskNet::new(
            &TaskNetConfig {
                inputs: tasks.iter().map(|t| t.obs_dim).collect(),
                outputs: tasks.iter().map(|t| 2 * t.action_dim).collect(),
                hidden: config.hidden.clone(),
                copies: 1,
            },
            device,
        );
        let critic = TaskNet::new(
            &TaskNetConfig {
                inputs: tasks.iter().map(|t| t.obs_dim + t.action_dim).collect(),
                outputs: vec![1; tasks.len()],
                hidden: config.hidden.clone(),
                copies: 2,
            },
            device,
        );
        let critic_target = critic.frozen_copy();
        let float = (Kind::Float, device);
        let init = match config.temperature {
            Temperature::Learned { init } | Temperature::Fixed(init) => init,
        };
        let log_alpha = Tensor::full([tasks.len() as i64], init.ln(), float);
        let entropies: Vec<f32> = (tasks.iter())
            .map(|t| config.target_entropy.unwrap_or(-(t.action_dim as f64)) as f32)
            .collect();
        let no_clip = f64::INFINITY;
        Self {
            actor_opt: MultiTaskOptimizer::for_params(actor.flat_params(), ADAM, no_clip),
            critic_opt: MultiTaskOptimizer::for_params(critic.flat_params(), ADAM, no_clip),
            alpha_opt: Adam::new(&[&log_alpha], ADAM),
            actor_grads: actor.gradient_buffers(tasks.len()),
            critic_grads: critic.gradient_buffers(tasks.len()),
            config: config.clone(),
            tasks: tasks.to_vec(),
            actor,
            critic,
            critic_target,
            log_alpha,
            target_entropy: Tensor::from_slice(&entropies).to_device(device),
        }
    }

    /// The actor.
    pub fn actor(&self) -> &TaskNet {
        &self.actor
    }

    /// The twin critic.
    pub fn critic(&self) -> &TaskNet {
        &self.critic
    }

    /// The target critic.
    pub fn critic_target(&self) -> &TaskNet {
        &self.critic_target
    }

    /// `log α_t` of every task, `[T]`.
    pub fn log_alpha(&self) -> &Tensor {
        &self.log_alpha
    }

    /// Actions in `[-1, 1]` for one observation batch per task: sampled, or `tanh(μ)` if
    /// `deterministic`.
    pub fn act(&self, obs: &[Tensor], deterministic: bool) -> Vec<Tensor> {
        tch::no_grad(|| {
            let trace = self.actor.forward(obs);
            (trace.outputs[0].iter())
                .map(|out| {
                    let dist = SquashedGaussian::from_head(out);
                    match deterministic {
                        true => dist.mode(),
                        false => dist.rsample().0,
                    }
                })
                .collect()
        })
    }

    /// One gradient step on `batch` (see the module documentation); `critic` and `actor`
    /// combine the per-task gradients of the two losses, `stats` asks them for the gradient
    /// statistics. Nothing is applied from a stage whose gradient is not finite.
    pub fn update(
        &mut self,
        batch: &SacBatch,
        critic: &mut Combiner,
        actor: &mut Combiner,
        stats: bool,
    ) -> Result<SacReport, StepError> {
        self.step(batch, critic, actor, stats, Clock::off())
    }

    /// [`Sac::update`], adding the wall-clock time of each of its stages to `timings`.
    pub fn update_timed(
        &mut self,
        batch: &SacBatch,
        critic: &mut Combiner,
        actor: &mut Combiner,
        stats: bool,
        timings: &mut SacTimings,
    ) -> Result<SacReport, StepError> {
        self.step(batch, critic, actor, stats, Clock::on(timings))
    }

    /// The update's stages in order, each lapped on `clock`.
    fn step(
        &mut self,
        batch: &SacBatch,
        critic: &mut Combiner,
        actor: &mut Combiner,
        stats: bool,
        mut clock: Clock,
    ) -> Result<SacReport, StepError> {
        let trace = self.actor.forward(&batch.obs);
        let sampled: Vec<(Tensor, Tensor)> = (trace.outputs[0].iter())
            .map(|out| SquashedGaussian::from_head(out).rsample())
            .collect();
        let alpha = self.log_alpha.exp();
        let alpha_loss = self.update_temperatures(&sampled);
        clock.lap(|t| &mut t.sample_alpha);
        let targets = self.targets(batch, &alpha);
        clock.lap(|t| &mut t.targets);
        let (qf1_values, qf_loss, critic_combined) =
            self.update_critic(batch, &targets, critic, stats)?;
        clock.lap(|t| &mut t.critic);
        let (actor_loss, actor_combined) =
            self.update_actor(batch, &trace, &sampled, &alpha, actor, stats)?;
        clock.lap(|t| &mut t.actor);
        tch::no_grad(|| {
            let _ = self
                .critic_target
                .flat_params()
                .shallow_clone()
                .lerp_(self.critic.flat_params(), self.config.tau);
        });
        clock.lap(|t| &mut t.polyak);
        clock.count_update();
        Ok(SacReport {
            qf1_values,
            qf_loss,
            actor_loss,
            alpha: to_f64s(&alpha),
            alpha_loss,
            critic: critic_combined,
            actor: actor_combined,
        })
    }

    /// Step 2: one Adam step on every `log α_t` from the sampled actions and their
    /// log-probabilities (none with fixed temperatures); returns the losses `L_α,t`.
    fn update_temperatures(&mut self, sampled: &[(Tensor, Tensor)]) -> Vec<f64> {
        let Temperature::Learned { .. } = self.config.temperature else {
            return vec![0.0; self.tasks.len()];
        };
        tch::no_grad(|| {
            let means: Vec<Tensor> = sampled.iter().map(|(_, lp)| lp.mean(Kind::Float)).collect();
            // mean(log π + H̄_t), and ∂L_α,t/∂log α_t = −that.
            let gap = Tensor::stack(&means, 0) + &self.target_entropy;
            let losses = -(&self.log_alpha * &gap);
            let grad = -gap;
            self.alpha_opt
                .step(&[&self.log_alpha], &[grad], self.config.alpha_lr);
            to_f64s(&losses)
        })
    }

    /// Step 3's targets `y` `[B]` per task, with the temperatures `alpha` `[T]`.
    fn targets(&self, batch: &SacBatch, alpha: &Tensor) -> Vec<Tensor> {
        let noise: Vec<Tensor> = batch.actions.iter().map(Tensor::randn_like).collect();
        self.targets_with_noise(batch, alpha, &noise)
    }

    /// [`Sac::targets`] with the next actions' Gaussian noise `noise[t]` `[B, d_t]` given.
    fn targets_with_noise(
        &self,
        batch: &SacBatch,
        alpha: &Tensor,
        noise: &[Tensor],
    ) -> Vec<Tensor> {
        tch::no_grad(|| {
            let next = self.actor.forward(&batch.next_obs);
            let (actions, log_probs): (Vec<Tensor>, Vec<Tensor>) = (next.outputs[0].iter())
                .zip(noise)
                .map(|(out, eps)| SquashedGaussian::from_head(out).squash(eps))
                .unzip();
            let inputs = joined(&batch.next_obs, &actions);
            let q = self.critic_target.forward(&inputs);
            (0..self.tasks.len())
                .map(|t| {
                    let min_q = q.outputs[0][t].minimum(&q.outputs[1][t]).squeeze_dim(-1);
                    let soft = min_q - alpha.get(t as i64) * &log_probs[t];
                    let live = 1.0 - &batch.terminated[t];
                    &batch.rewards[t] + live * soft * self.config.gamma
                })
                .collect()
        })
    }

    /// Step 3: the critic's losses, per-task gradients, combine and Adam step. Returns the
    /// mean `Q_1` and the loss of each task, and the combine stage's report.
    fn update_critic(
        &mut self,
        batch: &SacBatch,
        targets: &[Tensor],
        combiner: &mut Combiner,
        stats: bool,
    ) -> Result<(Vec<f64>, Vec<f64>, Combined), StepError> {
        let inputs = joined(&batch.obs, &batch.actions);
        let trace = self.critic.forward(&inputs);
        let losses: Vec<Tensor> = (0..self.tasks.len())
            .map(|t| critic_loss(&trace.outputs, t, &targets[t]))
            .collect();
        let q1_means = (trace.outputs[0].iter())
            .map(|q| q.mean(Kind::Float).double_value(&[]))
            .collect();
        let stage = Stage {
            net: &self.critic,
            opt: &mut self.critic_opt,
            grads: &mut self.critic_grads,
            lr: self.config.critic_lr,
        };
        let (values, combined) = stage.apply(&losses, &trace, combiner, stats)?;
        Ok((q1_means, values, combined))
    }

    /// Step 4: the actor's losses on the sampled actions with the updated critic, per-task
    /// gradients, combine and Adam step.
    fn update_actor(
        &mut self,
        batch: &SacBatch,
        trace: &TaskNetTrace,
        sampled: &[(Tensor, Tensor)],
        alpha: &Tensor,
        combiner: &mut Combiner,
        stats: bool,
    ) -> Result<(Vec<f64>, Combined), StepError> {
        let actions: Vec<Tensor> = sampled.iter().map(|(a, _)| a.shallow_clone()).collect();
        let q = self.critic.forward(&joined(&batch.obs, &actions));
        let losses: Vec<Tensor> = (0..self.tasks.len())
            .map(|t| actor_loss(&q.outputs, t, &alpha.get(t as i64), &sampled[t].1))
            .collect();
        let stage = Stage {
            net: &self.actor,
            opt: &mut self.actor_opt,
            grads: &mut self.actor_grads,
            lr: self.config.actor_lr,
        };
        stage.apply(&losses, trace, combiner, stats)
    }
}

/// A network with its optimizer and gradient buffers: what the critic's and the actor's
/// steps share.
struct Stage<'a> {
    net: &'a TaskNet,
    opt: &'a mut MultiTaskOptimizer,
    grads: &'a mut TaskGradients,
    lr: f64,
}

impl Stage<'_> {
    /// Per-task gradients of `Σ_t losses[t]` (the network's forward pass is `trace`), the
    /// combine stage and the Adam step; returns the losses' values and the combine report.
    fn apply(
        self,
        losses: &[Tensor],
        trace: &TaskNetTrace,
        combiner: &mut Combiner,
        stats: bool,
    ) -> Result<(Vec<f64>, Combined), StepError> {
        let total = match losses {
            [only] => only.shallow_clone(),
            _ => Tensor::stack(losses, 0).sum(Kind::Float),
        };
        self.net.task_gradients_into(&total, trace, self.grads)?;
        let values: Vec<f64> = losses.iter().map(|l| l.double_value(&[])).collect();
        let combined = combiner.combine(self.grads, || values.clone(), self.lr, stats);
        self.opt
            .apply_to(self.net.flat_params(), self.grads, self.lr)?;
        Ok((values, combined))
    }
}

/// Step 3's loss of task `t`, `L_Q,t = ½ Σ_k mean((Q_k(s, a) − y)²)`, from the twin critic's
/// outputs `q[copy][task]` `[B, 1]` and the targets `y` `[B]`.
fn critic_loss(q: &[Vec<Tensor>], t: usize, target: &Tensor) -> Tensor {
    let [q1, q2] = [0, 1].map(|c| q[c][t].squeeze_dim(-1));
    (q1.mse_loss(target, tch::Reduction::Mean) + q2.mse_loss(target, tch::Reduction::Mean)) * 0.5
}

/// Step 4's loss of task `t`, `L_π,t = mean(α_t log π(ã|s) − min_k Q_k(s, ã))`, from the
/// critic's outputs on the sampled actions, the temperature and the log-probabilities `[B]`.
fn actor_loss(q: &[Vec<Tensor>], t: usize, alpha: &Tensor, log_prob: &Tensor) -> Tensor {
    let min_q = q[0][t].minimum(&q[1][t]).squeeze_dim(-1);
    (alpha * log_prob - min_q).mean(Kind::Float)
}

/// The values of the vector `t`.
fn to_f64s(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.to_kind(Kind::Double)).unwrap_or_default()
}

/// `[obs_t, actions_t]` per task, the critic's input.
fn joined(obs: &[Tensor], actions: &[Tensor]) -> Vec<Tensor> {
    (obs.iter().zip(actions))
        .map(|(o, a)| Tensor::cat(&[o, a], 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surgery;

    const F: (Kind, tch::Device) = (Kind::Float, tch::Device::Cpu);

    fn tasks() -> Vec<SacTask> {
        vec![
            SacTask {
                obs_dim: 3,
                action_dim: 1,
            },
            SacTask {
                obs_dim: 2,
                action_dim: 2,
            },
        ]
    }

    fn sac(temperature: Temperature) -> Sac {
        tch::manual_seed(11);
        let config = SacConfig {
            hidden: vec![16, 16],
            temperature,
            ..SacConfig::default()
        };
        Sac::new(&tasks(), &config, tch::Device::Cpu)
    }

    fn batch(rows: i64) -> SacBatch {
        tch::manual_seed(5);
        let obs = |t: &SacTask| Tensor::randn([rows, t.obs_dim], F);
        let tasks = tasks();
        SacBatch {
            obs: tasks.iter().map(obs).collect(),
            actions: (tasks.iter())
                .map(|t| Tensor::rand([rows, t.action_dim], F) * 2.0 - 1.0)
                .collect(),
            rewards: tasks.iter().map(|_| Tensor::randn([rows], F)).collect(),
            next_obs: tasks.iter().map(obs).collect(),
            terminated: (tasks.iter())
                .map(|_| Tensor::rand([rows], F).ge(0.5).to_kind(Kind::Float))
                .collect(),
        }
    }

    fn values(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(&t.to_kind(Kind::Double).reshape([-1])).unwrap()
    }

    fn combiner(name: &str) -> Combiner {
        Combiner::new(surgery::by_name(name).unwrap(), None)
    }

    #[test]
    fn targets_bootstrap_from_the_target_critic_unless_terminated() {
        let sac = sac(Temperature::Fixed(0.5));
        let batch = batch(6);
        let alpha = sac.log_alpha.exp();
        let noise: Vec<Tensor> = batch.actions.iter().map(Tensor::randn_like).collect();
        let y = sac.targets_with_noise(&batch, &alpha, &noise);
        // The same noise, then the formula row by row.
        let next = sac.actor.forward(&batch.next_obs);
        let sampled: Vec<(Tensor, Tensor)> = (next.outputs[0].iter().zip(&noise))
            .map(|(out, eps)| SquashedGaussian::from_head(out).squash(eps))
            .collect();
        let actions: Vec<Tensor> = sampled.iter().map(|(a, _)| a.shallow_clone()).collect();
        let q = sac
            .critic_target
            .forward(&joined(&batch.next_obs, &actions));
        assert_eq!(y.len(), 2);
        let mut bootstrapped = 0;
        for t in 0..2 {
            let (q1, q2) = (values(&q.outputs[0][t]), values(&q.outputs[1][t]));
            let log_prob = values(&sampled[t].1);
            let (r, done) = (values(&batch.rewards[t]), values(&batch.terminated[t]));
            let y = values(&y[t]);
            assert_eq!(y.len(), 6);
            for k in 0..6 {
                let soft = q1[k].min(q2[k]) - 0.5 * log_prob[k];
                let expected = r[k] + 0.99 * (1.0 - done[k]) * soft;
                assert!((y[k] - expected).abs() < 1e-5, "{} vs {expected}", y[k]);
                bootstrapped += (done[k] == 0.0) as usize;
            }
        }
        assert!(bootstrapped > 0 && bootstrapped < 12);
    }

    #[test]
    fn one_update_steps_every_part_as_the_losses_say() {
        let mut sac = sac(Temperature::Learned { init: 0.5 });
        let batch = batch(8);
        let before = |net: &TaskNet| net.flat_params().copy();
        let (actor0, critic0, target0) = (
            before(&sac.actor),
            before(&sac.critic),
            before(&sac.critic_target),
        );
        let log_alpha0 = values(&sac.log_alpha);
        let (mut c, mut a) = (combiner("sum"), combiner("pcgrad"));
        let report = sac.update(&batch, &mut c, &mut a, true).unwrap();
        // The temperature: L_α = −log α · gap with gap = mean(log π) + H̄ = mean(log π) − |A|;
        // Adam's first step moves log α by lr · sign(gap).
        let log_alpha = values(&sac.log_alpha);
        for t in 0..2 {
            assert!((report.alpha[t] - 0.5).abs() < 1e-7);
            let gap = report.alpha_loss[t] / -log_alpha0[t];
            assert!(gap.is_finite() && gap != 0.0);
            let step = log_alpha[t] - log_alpha0[t];
            assert!((step - 3e-4 * gap.signum()).abs() < 1e-7, "{step}");
        }
        // Critic and actor moved, the target by τ towards the new critic.
        let moved = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        assert!(moved(&actor0, sac.actor.flat_params()) > 0.0);
        assert!(moved(&critic0, sac.critic.flat_params()) > 0.0);
        let expected = &target0 * 0.995 + sac.critic.flat_params() * 0.005;
        assert!(moved(&expected, sac.critic_target.flat_params()) < 1e-6);
        assert!(report.qf_loss.iter().all(|l| l.is_finite() && *l > 0.0));
        assert_eq!(report.actor_loss.len(), 2);
        assert_eq!(report.critic.stats.as_ref().unwrap().norms.len(), 2);
    }

    /// Row `t` of the one-pass matrix and task `t`'s own gradient against autograd on
    /// `losses(outputs)[t]` alone (see [`crate::task_net::separate_gradient`]).
    fn check_against_separate_passes(
        net: &TaskNet,
        x: &[Tensor],
        losses: impl Fn(&[Vec<Tensor>]) -> Vec<Tensor>,
    ) {
        let trace = net.forward(x);
        let total = Tensor::stack(&losses(&trace.outputs), 0).sum(Kind::Float);
        let grads = net.task_gradients(&total, &trace).unwrap();
        let shared = net.shared_len();
        assert!(shared > 0);
        let mut own_start = shared;
        for (t, own) in grads.own.iter().enumerate() {
            let expected = crate::task_net::separate_gradient(net, x, |o| losses(o).remove(t));
            let close = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]) < 1e-5;
            let row = grads.shared.get(t as i64);
            assert!(row.abs().sum(Kind::Float).double_value(&[]) > 0.0);
            assert!(
                close(&row, &expected.narrow(0, 0, shared)),
                "task {t} shared"
            );
            let len = own.size()[0];
            assert!(
                close(own, &expected.narrow(0, own_start, len)),
                "task {t} own"
            );
            own_start += len;
        }
        assert_eq!(grads.own.len(), tasks().len());
    }

    #[test]
    fn both_losses_per_task_gradients_equal_separate_backward_passes() {
        let sac = sac(Temperature::Fixed(0.3));
        let batch = batch(6);
        let targets: Vec<Tensor> = batch.rewards.iter().map(|r| r * 2.0 - 1.0).collect();
        let critic_inputs = joined(&batch.obs, &batch.actions);
        check_against_separate_passes(&sac.critic, &critic_inputs, |q| {
            (0..targets.len())
                .map(|t| critic_loss(q, t, &targets[t]))
                .collect()
        });
        // The actor's loss reaches its weights through the squashed sample and the critic.
        let noise: Vec<Tensor> = (batch.actions.iter())
            .map(|a| (Tensor::arange(a.numel() as i64, F) * 0.7).sin().view_as(a))
            .collect();
        let alpha = Tensor::from_slice(&[0.3f32, 0.7]);
        check_against_separate_passes(&sac.actor, &batch.obs, |out| {
            let (actions, log_probs): (Vec<Tensor>, Vec<Tensor>) = (out[0].iter().zip(&noise))
                .map(|(head, eps)| SquashedGaussian::from_head(head).squash(eps))
                .unzip();
            let q = sac.critic.forward(&joined(&batch.obs, &actions));
            (0..actions.len())
                .map(|t| actor_loss(&q.outputs, t, &alpha.get(t as i64), &log_probs[t]))
                .collect()
        });
    }

    #[test]
    fn fixed_temperatures_stay_fixed() {
        let mut sac = sac(Temperature::Fixed(0.2));
        let (mut c, mut a) = (combiner("sum"), combiner("sum"));
        let report = sac.update(&batch(4), &mut c, &mut a, false).unwrap();
        assert_eq!(report.alpha_loss, [0.0, 0.0]);
        for alpha in values(&sac.log_alpha.exp()) {
            assert!((alpha - 0.2).abs() < 1e-7);
        }
    }

    #[test]
    fn two_bandits_learn_their_best_actions_under_pcgrad() {
        // One-step tasks: reward −|a − c_t|², every transition terminal, so Q(s, a) must
        // learn the reward and the policy's mode must move to c_t.
        tch::manual_seed(1);
        let config = SacConfig {
            hidden: vec![32, 32],
            actor_lr: 3e-3,
            critic_lr: 3e-3,
            alpha_lr: 3e-3,
            ..SacConfig::default()
        };
        let mut sac = Sac::new(&tasks(), &config, tch::Device::Cpu);
        let best = [vec![0.5f32], vec![-0.3, 0.6]];
        let (mut c, mut a) = (combiner("pcgrad"), combiner("pcgrad"));
        let rows = 64;
        for _ in 0..1500 {
            let tasks = tasks();
            let obs: Vec<Tensor> = (tasks.iter())
                .map(|t| Tensor::randn([rows, t.obs_dim], F))
                .collect();
            let actions: Vec<Tensor> = (tasks.iter())
                .map(|t| Tensor::rand([rows, t.action_dim], F) * 2.0 - 1.0)
                .collect();
            let rewards = (actions.iter().zip(&best))
                .map(|(a, c)| {
                    -(a - Tensor::from_slice(c))
                        .square()
                        .sum_dim_intlist(-1, false, Kind::Float)
                })
                .collect();
            let batch = SacBatch {
                next_obs: obs.iter().map(Tensor::copy).collect(),
                obs,
                actions,
                rewards,
                terminated: tasks.iter().map(|_| Tensor::ones([rows], F)).collect(),
            };
            sac.update(&batch, &mut c, &mut a, false).unwrap();
        }
        let obs: Vec<Tensor> = tasks()
            .iter()
            .map(|t| Tensor::randn([16, t.obs_dim], F))
            .collect();
        let modes = sac.act(&obs, true);
        for (mode, c) in modes.iter().zip(&best) {
            let error = (mode - Tensor::from_slice(c)).abs().max().double_value(&[]);
            assert!(error < 0.1, "mode off by {error}");
        }
    }
}
