//! The state of a training run and its stages: setting up (seeding, environments,
//! network, optimizer, surgery), restoring a checkpoint, one iteration (rollout,
//! advantages, the minibatch epochs with gradient surgery, logging), saving a checkpoint,
//! and the final evaluation. [`super::train`] calls them in that order.

use std::path::Path;
use std::time::{Duration, Instant};

use polytask_agents::actor_critic::ActorCritic;
use polytask_agents::adam::AdamConfig;
use polytask_agents::combine::Combiner;
use polytask_agents::kernels::KernelChoice;
use polytask_agents::update::{MultiTaskOptimizer, NonFinite};
use polytask_agents::{device, surgery, weighting};
use polytask_envs::Registry;

use super::checkpoint::{self, Checkpoint, CheckpointState};
use super::collect::{self, NonFiniteAction};
use super::episodes::{metric_widths, task_metrics, EpisodeLog};
use super::evaluate::{final_evaluation, TaskEvaluation};
use super::metrics::{RunScalars, Tags};
use super::normalize::TaskNormalizer;
use super::optimize;
use super::resume_state::{self, ResumeState};
use super::stages::Stages;
use super::storage::TaskStorage;
use super::{checkpoint_dir, net_config, network_shapes, normalizers};
use crate::config::{Config, OnNonFinite, Role};
use crate::logger::Logger;
use crate::vec_env::VecEnv;

/// Wall-clock throughput since the run (or this resumption of it) started.
pub(super) struct Clock {
    start: Instant,
    first_step: u64,
}

impl Clock {
    pub fn start(first_step: u64) -> Self {
        Self {
            start: Instant::now(),
            first_step,
        }
    }

    /// Environment steps per second, all tasks together, up to `global_step`.
    pub fn sps(&self, global_step: u64) -> f64 {
        (global_step - self.first_step) as f64 / self.start.elapsed().as_secs_f64()
    }
}

/// Everything that changes while a run trains.
pub(super) struct Trainer<'c> {
    config: &'c Config,
    pub envs: VecEnv,
    net: ActorCritic,
    opt: MultiTaskOptimizer,
    combiner: Combiner,
    storage: Vec<TaskStorage>,
    norms: Vec<TaskNormalizer>,
    pub log: EpisodeLog,
    tags: Tags,
    skipped_updates: u64,
    /// The learner's kernel choice, recorded in checkpoints.
    kernels: KernelChoice,
    /// Where this process's iterations spent their time.
    pub split: IterationSplit,
    /// libtorch's threads while learning (see [`learner_threads`]).
    learner_threads: usize,
}

/// libtorch's intra-op threads while an iteration runs: the config's `learner_threads` when
/// set, else every core for a network with convolutional stems, whose products are large
/// enough to split (a 1024-row MinAtar minibatch is about 0.5 G multiply-adds, a
/// 64-environment forward pass about 11 M), and one for the small MLPs, whose products cost
/// less than handing them to other threads. The environment workers step between the
/// policy's forward passes, never during them.
pub fn learner_threads(config: &Config) -> usize {
    if config.learner_threads > 0 {
        return config.learner_threads;
    }
    // SAC's products (256-wide layers on 256-row minibatches) split well over cores.
    if config.sac.is_some() {
        return std::thread::available_parallelism().map_or(1, usize::from);
    }
    let conv = config.network.conv.to_conv().is_some();
    match conv
        && config
            .tasks
            .iter()
            .any(|t| crate::config::image_grid(t).is_some())
    {
        true => std::thread::available_parallelism().map_or(1, usize::from),
        false => 1,
    }
}

/// Wall-clock time of a run's iterations: collecting (environment steps, the policy's forward
/// passes, bootstrap values and advantages) and learning (the minibatch epochs).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IterationSplit {
    /// Time spent collecting rollouts.
    pub collect: Duration,
    /// Time spent in the optimizer's epochs.
    pub learn: Duration,
}

impl IterationSplit {
    /// The share of an iteration spent collecting, in [0, 1].
    pub fn collect_share(&self) -> f64 {
        let total = (self.collect + self.learn).as_secs_f64();
        self.collect.as_secs_f64() / total.max(f64::MIN_POSITIVE)
    }
}

impl<'c> Trainer<'c> {
    /// Seeding, environments, network, optimizer, surgery and storage, as at the start of a
    /// run. When a checkpoint will be restored, environments that cannot restore their
    /// state get episodes seeded apart from the first start's.
    pub fn new(
        config: &'c Config,
        registry: &Registry,
        resuming: Option<&Checkpoint>,
    ) -> anyhow::Result<Self> {
        // First: libtorch caches its CUDA hooks at its first use (seeding included), so CUDA
        // support must be loaded before anything else touches libtorch.
        let device = device::resolve(config.device).map_err(crate::error::usage)?;
        // Small networks gain nothing from intra-op threads; they would only compete with
        // the environment workers for the cores.
        tch::set_num_threads(1);
        // Before seeding, although a calibration draws no random numbers.
        let recorded = resuming.map(|cp| cp.state.kernels);
        let kernels = super::kernels::resolve(config, device, recorded)?;
        tch::manual_seed(config.seed as i64);
        let restart = resuming.map_or(0, |cp| cp.state.iteration);
        let envs = training_envs(config, registry, restart)?;
        let net = ActorCritic::new(
            &network_shapes(config, envs.tasks()),
            &net_config(config, kernels),
            device,
        );
        let adam = AdamConfig {
            eps: config.algorithm.adam_eps,
            ..AdamConfig::default()
        };
        let opt = MultiTaskOptimizer::new(&net, adam, config.algorithm.max_grad_norm);
        let mut aggregator =
            surgery::by_name_with(&config.surgery.aggregator, &config.surgery.params)
                .map_err(crate::error::usage)?;
        aggregator.reseed(config.seed);
        let roles = crate::config::roles(&config.tasks, &config.aux_losses);
        let weighting =
            weighting::optional(&config.weighting.name, &config.weighting.params, &roles)
                .map_err(crate::error::usage)?;
        let alg = &config.algorithm;
        let storage = envs
            .tasks()
            .iter()
            .map(|t| TaskStorage::new(alg.num_steps, t.num_envs(), t.obs_dim, t.act_dim))
            .collect();
        let norms = normalizers(config, envs.tasks());
        let names: Vec<String> = config.tasks.iter().map(|t| t.name.clone()).collect();
        let aux_names: Vec<String> = config.aux_losses.iter().map(|a| a.name.clone()).collect();
        let aux_tasks: Vec<usize> = config.aux_losses.iter().map(|a| a.task).collect();
        let envs_per_task: Vec<usize> = config.tasks.iter().map(|t| t.num_envs).collect();
        let metrics = task_metrics(&envs);
        Ok(Self {
            config,
            envs,
            net,
            opt,
            combiner: Combiner::new(aggregator, weighting),
            storage,
            norms,
            log: EpisodeLog::with_metrics(&envs_per_task, &metric_widths(&metrics)),
            tags: Tags::new(
                &names,
                &aux_names,
                &aux_tasks,
                config.logging.pairwise_limit,
            )
            .with_metrics(&metrics),
            skipped_updates: 0,
            kernels,
            split: IterationSplit::default(),
            learner_threads: learner_threads(config),
        })
    }

    /// Names the task and update of a divergence found by the guards (a non-finite gradient
    /// or sampled action); other errors pass unchanged.
    fn diverged(&self, error: anyhow::Error, iteration: u64) -> anyhow::Error {
        let names: Vec<&str> = self
            .config
            .tasks
            .iter()
            .map(|t| t.name.as_str())
            .chain(self.config.aux_losses.iter().map(|a| a.name.as_str()))
            .collect();
        let what = if let Some(bad) = error.downcast_ref::<NonFinite>() {
            let whose = bad.task.map_or("the shared weights".to_string(), |t| {
                format!("task `{}`", names[t])
            });
            format!("{whose}: {bad}; the update was not applied")
        } else if let Some(bad) = error.downcast_ref::<NonFiniteAction>() {
            format!("task `{}`: {bad}", names[bad.task])
        } else {
            return error;
        };
        anyhow::anyhow!(
            "training diverged in update {iteration} (optimizer step {}): {what}. The last \
             checkpoint holds finite weights; lower `algorithm.learning_rate` or set \
             `algorithm.on_nonfinite = \"skip\"` to drop such updates",
            self.opt.adam().steps()
        )
    }

    /// The environment steps of every task.
    pub fn task_steps(&self) -> Vec<u64> {
        self.log.all_task_steps()
    }
}

impl Stages for Trainer<'_> {
    fn restore(
        &mut self,
        cp: &Checkpoint,
        run_dir: &Path,
        logger: &dyn Logger,
    ) -> anyhow::Result<u64> {
        let dir = &cp.dir;
        cp.load_weights(&mut self.net)?;
        cp.load_optimizer(&mut self.opt)?;
        cp.restore_normalizers(&mut self.norms)?;
        if cp.state.task_steps.len() != self.config.tasks.len() {
            return Err(crate::error::usage(format!(
                "checkpoint {}: it counts steps of {} tasks, the config has {}",
                dir.display(),
                cp.state.task_steps.len(),
                self.config.tasks.len()
            )));
        }
        self.log.set_task_steps(&cp.state.task_steps);
        let Some(bytes) = cp.resume_bytes()? else {
            return Ok(cp.state.iteration);
        };
        let path = dir.join(checkpoint::RESUME);
        let saved = ResumeState::decode(&bytes, &path)?;
        let damaged = |what: &dyn std::fmt::Display| {
            crate::error::usage(format!("checkpoint file {}: {what}", path.display()))
        };
        let fresh = self.envs.load_state(&saved.envs).map_err(|e| damaged(&e))?;
        for (task, env, rows) in fresh {
            eprintln!(
                "warning: task `{task}`: environment `{env}` cannot save its state, so its                  {rows} environment(s) start fresh episodes instead of continuing exactly"
            );
        }
        self.combiner
            .aggregator_mut()
            .load_state(&saved.aggregator)
            .map_err(|e| damaged(&e))?;
        self.combiner
            .load_weighting_state(&saved.weighting)
            .map_err(|e| damaged(&e))?;
        self.log
            .set_recent_returns(&saved.recent_returns)
            .ok_or_else(|| damaged(&"its recent returns are of other tasks"))?;
        self.skipped_updates = saved.skipped_updates;
        resume_state::rewind_event_files(run_dir, &saved.event_files, logger.event_file())?;
        Ok(cp.state.iteration)
    }

    /// One iteration: the rollout, advantages, the minibatch epochs with gradient surgery,
    /// and logging.
    fn iteration(
        &mut self,
        iteration: u64,
        iterations: u64,
        logger: &mut dyn Logger,
        clock: &Clock,
    ) -> anyhow::Result<()> {
        let alg = &self.config.algorithm;
        tch::manual_seed(resume_state::iteration_seed(self.config.seed, iteration));
        let frac = 1.0 - (iteration - 1) as f64 / iterations as f64;
        let lr = match alg.anneal_lr {
            true => frac * alg.learning_rate,
            false => alg.learning_rate,
        };
        let started = Instant::now();
        tch::set_num_threads(self.learner_threads as i32);
        let collected = collect::collect(
            &self.net,
            &mut self.envs,
            &mut self.norms,
            &mut self.storage,
            alg.num_steps,
            &mut self.log,
        );
        collected.map_err(|e| self.diverged(e, iteration))?;
        self.tags.episodes(logger, &mut self.log);
        let last_values =
            collect::bootstrap_values(&self.net, &self.envs, &self.norms, &mut self.storage);
        for (s, last) in self.storage.iter_mut().zip(&last_values) {
            s.compute_advantages(last, alg.gamma as f32, alg.gae_lambda as f32);
        }
        let collected = Instant::now();
        self.split.collect += collected - started;
        let report = optimize::optimize(
            &self.net,
            &mut self.opt,
            &mut self.combiner,
            &self.storage,
            &self.config.aux_losses,
            alg,
            lr,
        )
        .map_err(|e| self.diverged(e, iteration));
        tch::set_num_threads(1);
        let report = report?;
        self.split.learn += collected.elapsed();
        self.skipped_updates += report.skipped;
        let log_now = iteration.is_multiple_of(self.config.logging.log_interval.max(1) as u64);
        if log_now || iteration == iterations {
            let scalars = RunScalars {
                learning_rate: lr,
                sps: clock.sps(self.log.global_step()),
            };
            let weights = self.combiner.aggregator().task_weights();
            self.tags
                .update(logger, &self.log, &report, &self.storage, weights, scalars);
            if alg.on_nonfinite == OnNonFinite::Skip {
                let skipped = self.skipped_updates as f64;
                logger.scalar("charts/skipped_updates", skipped, self.log.global_step());
            }
        }
        Ok(())
    }

    /// Writes a checkpoint of the state after `iteration` (see [`checkpoint`]).
    fn save(
        &mut self,
        run_dir: &Path,
        iteration: u64,
        logger: &mut dyn Logger,
    ) -> anyhow::Result<()> {
        logger.flush()?;
        let state = CheckpointState {
            version: checkpoint::VERSION,
            config: self.config.resolved_toml.clone(),
            iteration,
            task_steps: self.task_steps(),
            optimizer_steps: self.opt.adam().steps(),
            normalizers: self.norms.iter().map(TaskNormalizer::state).collect(),
            kernels: self.kernels,
        };
        let resume = ResumeState {
            envs: self.envs.save_state(),
            aggregator: self.combiner.aggregator().save_state(),
            weighting: self.combiner.save_weighting_state(),
            recent_returns: self.log.recent_returns(),
            skipped_updates: self.skipped_updates,
            event_files: resume_state::event_files(run_dir)?,
        };
        checkpoint::save(
            &checkpoint_dir(run_dir),
            &self.net,
            &self.opt,
            &state,
            &resume.encode(),
        )
    }

    fn evaluate(
        &self,
        registry: &Registry,
        logger: &mut dyn Logger,
    ) -> anyhow::Result<Vec<TaskEvaluation>> {
        let (config, norms, log) = (self.config, &self.norms, &self.log);
        final_evaluation(&self.net, config, norms, registry, log, logger)
    }

    fn log(&self) -> &EpisodeLog {
        &self.log
    }

    fn num_rows(&self) -> usize {
        self.envs.num_rows()
    }

    fn split(&self) -> IterationSplit {
        self.split
    }

    fn recent(&self) -> Vec<(&str, f64)> {
        recent_returns(self.config, &self.log)
    }
}

/// The vector env of a training run of `config`, seeded apart for a run resumed at iteration
/// `restart` (0 for a fresh run), so that a resumed run's fresh episodes differ from the
/// first start's.
pub(super) fn training_envs(
    config: &Config,
    registry: &Registry,
    restart: u64,
) -> Result<VecEnv, crate::vec_env::VecEnvError> {
    let env_seed = config
        .seed
        .wrapping_add(restart.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    VecEnv::with_options(
        &config.tasks,
        registry,
        env_seed,
        &crate::vec_env::Options::of(config),
    )
}

/// The main tasks' recent returns, for the console.
pub(super) fn recent_returns<'a>(config: &'a Config, log: &EpisodeLog) -> Vec<(&'a str, f64)> {
    (config.tasks.iter().enumerate())
        .filter(|(_, task)| task.role == Role::Main)
        .map(|(t, task)| (task.name.as_str(), log.recent_mean(t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use polytask_envs::Registry;

    use super::learner_threads;
    use crate::config::{Config, RawConfig};

    fn config(text: &str) -> Config {
        let raw: RawConfig = toml::from_str(text).unwrap();
        raw.validate(&Registry::builtin()).unwrap()
    }

    #[test]
    fn learners_of_conv_networks_take_every_core_unless_the_config_says() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mlp = "total_timesteps = 1000\n[[tasks]]\nenv = \"CartPole-v1\"\n";
        let image = "total_timesteps = 1000\n[[tasks]]\nenv = \"MinAtar/Breakout-v1\"\n";
        let flat = "[network.conv]\nscheme = \"none\"\n";
        assert_eq!(learner_threads(&config(mlp)), 1);
        assert_eq!(learner_threads(&config(image)), cores);
        assert_eq!(learner_threads(&config(&format!("{image}{flat}"))), 1);
        let set = format!("learner_threads = 3\n{image}");
        assert_eq!(learner_threads(&config(&set)), 3);
    }
}
