//! Training: the multi-task PPO/A2C loop, read top to bottom like CleanRL's `ppo.py`:
//! seeding, environments, network, storage; then per iteration the rollout, advantages,
//! minibatch epochs with gradient surgery, logging and checkpoints; evaluation at the end.

mod aux_batch;
mod checkpoint;
mod collect;
mod episodes;
mod evaluate;
mod metrics;
mod normalize;
mod optimize;
mod result;
pub mod resume_state;
mod storage;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use polytask_agents::actor_critic::{ActionSpec, ActorCritic, NetConfig, TaskShape};
use polytask_agents::adam::AdamConfig;
use polytask_agents::surgery::Aggregator;
use polytask_agents::update::{MultiTaskOptimizer, NonFinite};
use polytask_agents::weighting::Weighting;
use polytask_agents::{device, surgery, weighting};
use polytask_envs::{Registry, Space};

pub use checkpoint::{Checkpoint, CheckpointState};
pub use evaluate::{evaluate, EvalOptions, TaskEvaluation};
pub use normalize::{NormalizerState, TaskNormalizer};
pub use result::{RunResult, TaskResult, RESULT_FILE};

use crate::config::{Config, OnNonFinite, Role};
use crate::error::Interrupted;
use crate::logger::{Logger, Progress};
use crate::run_lock::RunLock;
use crate::vec_env::{TaskLayout, VecEnv};
use collect::NonFiniteAction;
use episodes::EpisodeLog;
use metrics::{RunScalars, Tags};
use resume_state::ResumeState;
use storage::TaskStorage;

/// What a finished training run leaves behind.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The run directory (TensorBoard events, config, checkpoint).
    pub run_dir: PathBuf,
    /// Environment steps taken per task.
    pub task_steps: Vec<u64>,
    /// The final evaluation, one entry per task (empty if `eval_episodes` is 0).
    pub evaluation: Vec<TaskEvaluation>,
    /// Environment steps per second over the whole run (all tasks).
    pub sps: f64,
}

/// The folder of the checkpoint inside a run directory.
pub fn checkpoint_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint")
}

/// The number of training iterations of `config`: enough for the task with the fewest
/// environments to take `total_timesteps` steps. Every task steps in every iteration, so
/// task `t` takes `iterations × num_steps × num_envs_t` steps (see [`task_budget`]): exactly
/// `total_timesteps` (rounded up to whole iterations) when all tasks have as many
/// environments, more for tasks with more.
pub fn iterations(config: &Config) -> u64 {
    let fewest = config.tasks.iter().map(|t| t.num_envs).min().unwrap_or(1);
    config
        .total_timesteps
        .div_ceil((config.algorithm.num_steps * fewest) as u64)
}

/// The environment steps that task `task` of `config` takes in a whole run.
pub fn task_budget(config: &Config, task: usize) -> u64 {
    iterations(config) * (config.algorithm.num_steps * config.tasks[task].num_envs) as u64
}

/// Trains on `config`'s tasks, writing events, the resolved config, checkpoints and the
/// final `result.json` to `run_dir` (created if missing).
///
/// The run holds `run_dir`'s lock ([`RunLock`]) while it trains. When a SIGINT or SIGTERM
/// has been caught ([`crate::interrupt`]), it stops after the current update with a
/// checkpoint and returns an [`Interrupted`] error.
pub fn train(
    config: &Config,
    registry: &Registry,
    run_dir: &Path,
    logger: &mut dyn Logger,
) -> anyhow::Result<TrainOutcome> {
    run(config, registry, run_dir, logger, false)
}

/// Continues the run in `run_dir` from its checkpoint, exactly where it stopped: weights,
/// Adam's moments, normalisers, every environment's state, the aggregator's and weighting's
/// state and the random streams are restored, and the event files are cut back to the
/// checkpoint (see [`resume_state`]). An environment that cannot save its state starts fresh
/// episodes, with a warning naming it. Without a checkpoint the run starts from scratch. The
/// checkpoint's config must equal `config` except for `total_timesteps` and `[logging]`.
pub fn resume(
    config: &Config,
    registry: &Registry,
    run_dir: &Path,
    logger: &mut dyn Logger,
) -> anyhow::Result<TrainOutcome> {
    run(config, registry, run_dir, logger, true)
}

fn run(
    config: &Config,
    registry: &Registry,
    run_dir: &Path,
    logger: &mut dyn Logger,
    resume: bool,
) -> anyhow::Result<TrainOutcome> {
    let _lock = RunLock::acquire(run_dir)?;
    let found = Checkpoint::find(&checkpoint_dir(run_dir))?;
    if found.is_some() && !resume {
        return Err(crate::error::usage(format!(
            "the run directory {} already holds a run; continue it with --resume, or give \
             this one another --run-name",
            run_dir.display()
        )));
    }
    if let Some(cp) = &found {
        checkpoint::check_same_run(&cp.state.config, &config.resolved_toml, run_dir)?;
    }
    crate::durable::replace_file(
        &run_dir.join("config.toml"),
        config.resolved_toml.as_bytes(),
    )
    .context("cannot write config.toml")?;
    let mut trainer = Trainer::new(config, registry, found.as_ref())?;
    let first = match &found {
        Some(cp) => trainer.restore(cp, run_dir, logger)? + 1,
        None => {
            let text = format!("```toml\n{}\n```", config.resolved_toml);
            logger.text("config", &text, 0);
            1
        }
    };
    let iterations = iterations(config);
    let progress = Progress::new(
        iterations * (config.algorithm.num_steps * trainer.envs.num_rows()) as u64,
        config.logging.quiet,
    );
    progress.update(trainer.log.global_step(), 0.0, &[] as &[(&str, f64)]);
    let clock = Clock::start(trainer.log.global_step());

    for iteration in first..=iterations {
        trainer.iteration(iteration, iterations, logger, &clock)?;
        crate::durable::failpoint("train:iteration");
        let step = trainer.log.global_step();
        progress.update(step, clock.sps(step), &trainer.recent());
        if let Some(signal) = crate::interrupt::requested() {
            progress.finish();
            trainer.save(run_dir, iteration, logger)?;
            return Err(interrupted(signal, iteration, run_dir));
        }
        let every = config.logging.checkpoint_interval;
        if every > 0 && iteration.is_multiple_of(every as u64) && iteration != iterations {
            trainer.save(run_dir, iteration, logger)?;
        }
    }
    progress.finish();
    trainer.save(run_dir, iterations, logger)?;
    let sps = clock.sps(trainer.log.global_step());
    let evaluation = trainer.evaluate(registry, logger)?;
    logger.flush()?;
    let outcome = TrainOutcome {
        run_dir: run_dir.to_path_buf(),
        task_steps: trainer.task_steps(),
        evaluation,
        sps,
    };
    let names: Vec<String> = config.tasks.iter().map(|t| t.name.clone()).collect();
    RunResult::of(&outcome, &names).write(run_dir)?;
    Ok(outcome)
}

/// Wall-clock throughput since the run (or this resumption of it) started.
struct Clock {
    start: Instant,
    first_step: u64,
}

impl Clock {
    fn start(first_step: u64) -> Self {
        Self {
            start: Instant::now(),
            first_step,
        }
    }

    /// Environment steps per second, all tasks together, up to `global_step`.
    fn sps(&self, global_step: u64) -> f64 {
        (global_step - self.first_step) as f64 / self.start.elapsed().as_secs_f64()
    }
}

fn interrupted(signal: i32, iteration: u64, run_dir: &Path) -> anyhow::Error {
    anyhow::Error::new(Interrupted {
        signal,
        message: format!(
            "stopped by {} after update {iteration}; checkpoint saved in {}",
            crate::interrupt::name(signal),
            checkpoint_dir(run_dir).display()
        ),
    })
}

/// Everything that changes while a run trains.
struct Trainer<'c> {
    config: &'c Config,
    envs: VecEnv,
    net: ActorCritic,
    opt: MultiTaskOptimizer,
    aggregator: Box<dyn Aggregator>,
    weighting: Box<dyn Weighting>,
    storage: Vec<TaskStorage>,
    norms: Vec<TaskNormalizer>,
    log: EpisodeLog,
    tags: Tags,
    skipped_updates: u64,
}

impl<'c> Trainer<'c> {
    /// Seeding, environments, network, optimizer, surgery and storage, as at the start of a
    /// run. When a checkpoint will be restored, environments that cannot restore their
    /// state get episodes seeded apart from the first start's.
    fn new(
        config: &'c Config,
        registry: &Registry,
        resuming: Option<&Checkpoint>,
    ) -> anyhow::Result<Self> {
        // First: libtorch caches its CUDA hooks at its first use (seeding included), so CUDA
        // support must be loaded before anything else touches libtorch.
        let device = device::resolve(config.device).map_err(crate::error::usage)?;
        tch::manual_seed(config.seed as i64);
        // Small networks gain nothing from intra-op threads; they would only compete with
        // the environment workers for the cores.
        tch::set_num_threads(1);
        let restart = resuming.map_or(0, |cp| cp.state.iteration);
        let env_seed = config
            .seed
            .wrapping_add(restart.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let envs = VecEnv::new(&config.tasks, registry, env_seed, config.threads)?;
        let net = ActorCritic::new(
            &network_shapes(config, envs.tasks()),
            &net_config(config),
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
            weighting::by_name(&config.weighting.name, &config.weighting.params, &roles)
                .map_err(crate::error::usage)?;
        let alg = &config.algorithm;
        let storage = envs
            .tasks()
            .iter()
            .map(|t| TaskStorage::new(alg.num_steps, t.num_envs(), t.obs_dim, t.act_dim))
            .collect();
        let norms = normalizers(config, &envs);
        let names: Vec<String> = config.tasks.iter().map(|t| t.name.clone()).collect();
        let aux_names: Vec<String> = config.aux_losses.iter().map(|a| a.name.clone()).collect();
        let aux_tasks: Vec<usize> = config.aux_losses.iter().map(|a| a.task).collect();
        let envs_per_task: Vec<usize> = config.tasks.iter().map(|t| t.num_envs).collect();
        Ok(Self {
            config,
            envs,
            net,
            opt,
            aggregator,
            weighting,
            storage,
            norms,
            log: EpisodeLog::new(&envs_per_task),
            tags: Tags::new(&names, &aux_names, &aux_tasks),
            skipped_updates: 0,
        })
    }

    /// Restores the checkpoint `cp` and cuts the event files back to it; returns the
    /// iteration it was taken after.
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
        self.aggregator
            .load_state(&saved.aggregator)
            .map_err(|e| damaged(&e))?;
        self.weighting
            .load_state(&saved.weighting)
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
        let mut combiner = optimize::Combiner {
            weighting: self.weighting.as_mut(),
            aggregator: self.aggregator.as_mut(),
        };
        let report = optimize::optimize(
            &self.net,
            &mut self.opt,
            &mut combiner,
            &self.storage,
            &self.config.aux_losses,
            alg,
            lr,
        )
        .map_err(|e| self.diverged(e, iteration))?;
        self.skipped_updates += report.skipped;
        let log_now = iteration.is_multiple_of(self.config.logging.log_interval.max(1) as u64);
        if log_now || iteration == iterations {
            let scalars = RunScalars {
                learning_rate: lr,
                sps: clock.sps(self.log.global_step()),
            };
            let weights = self.aggregator.task_weights();
            self.tags
                .update(logger, &self.log, &report, &self.storage, weights, scalars);
            if alg.on_nonfinite == OnNonFinite::Skip {
                let skipped = self.skipped_updates as f64;
                logger.scalar("charts/skipped_updates", skipped, self.log.global_step());
            }
        }
        Ok(())
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
        };
        let resume = ResumeState {
            envs: self.envs.save_state(),
            aggregator: self.aggregator.save_state(),
            weighting: self.weighting.save_state(),
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

    /// The final evaluation (none when `logging.eval_episodes` is 0), logged per task.
    fn evaluate(
        &self,
        registry: &Registry,
        logger: &mut dyn Logger,
    ) -> anyhow::Result<Vec<TaskEvaluation>> {
        let episodes = self.config.logging.eval_episodes;
        if episodes == 0 {
            return Ok(Vec::new());
        }
        let options = EvalOptions {
            seed: self.config.seed.wrapping_add(1_000_000_007),
            episodes,
            deterministic: true,
        };
        let evaluation = evaluate(
            &self.net,
            &self.config.tasks,
            &self.norms,
            registry,
            &options,
        )?;
        for (t, e) in evaluation.iter().enumerate() {
            let tag = format!("eval/{}/mean_return", e.task);
            logger.scalar(&tag, e.mean(), self.log.task_steps(t));
        }
        Ok(evaluation)
    }

    fn task_steps(&self) -> Vec<u64> {
        (0..self.config.tasks.len())
            .map(|t| self.log.task_steps(t))
            .collect()
    }

    /// The main tasks' recent returns, for the console.
    fn recent(&self) -> Vec<(&str, f64)> {
        self.config
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, task)| task.role == Role::Main)
            .map(|(t, task)| (task.name.as_str(), self.log.recent_mean(t)))
            .collect()
    }
}

/// The network's view of a task: observation length and action head.
pub fn task_shape(task: &TaskLayout) -> TaskShape {
    let action = match &task.action_space {
        Space::Discrete(n) => ActionSpec::Discrete(*n as i64),
        Space::Box(b) => ActionSpec::Continuous(b.low.len() as i64),
    };
    TaskShape {
        obs_dim: task.obs_dim as i64,
        action,
    }
}

/// The network's tasks: one per task of `config` (as laid out in `layouts`), then one per
/// auxiliary loss.
pub fn network_shapes(config: &Config, layouts: &[TaskLayout]) -> Vec<TaskShape> {
    let mut shapes: Vec<TaskShape> = layouts.iter().map(task_shape).collect();
    for aux in &config.aux_losses {
        shapes.push(aux_batch::aux_shape(aux, &shapes[aux.task]));
    }
    shapes
}

/// Fresh normalisers for the tasks of `config` as laid out in `envs`.
pub fn normalizers(config: &Config, envs: &VecEnv) -> Vec<TaskNormalizer> {
    config
        .tasks
        .iter()
        .zip(envs.tasks())
        .map(|(task, layout)| {
            TaskNormalizer::new(
                layout.obs_dim,
                layout.num_envs(),
                task.normalize_obs,
                task.normalize_reward,
                config.algorithm.gamma,
            )
        })
        .collect()
}

/// The network options of `config`.
pub fn net_config(config: &Config) -> NetConfig {
    NetConfig {
        hidden: config.network.hidden.clone(),
        shared_critic: config.network.shared_critic,
        init_log_std: config.network.init_log_std,
    }
}
