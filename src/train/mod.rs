//! Training: the multi-task PPO/A2C loop, read top to bottom like CleanRL's `ppo.py`:
//! seeding, environments, network, storage; then per iteration the rollout, advantages,
//! minibatch epochs with gradient surgery, logging and checkpoints; evaluation at the end.
//! Also the replay buffers of off-policy learning ([`replay`]).

mod aux_batch;
mod checkpoint;
mod collect;
mod episodes;
mod evaluate;
pub mod kernels;
mod loss_gradients;
mod metrics;
mod minibatch;
pub mod morans_i;
mod normalize;
pub(crate) mod optimize;
pub mod pair_summary;
mod pair_tags;
pub mod replay;
mod result;
pub mod resume_state;
mod sac_collect;
mod sac_tags;
mod sac_trainer;
mod stages;
pub(crate) mod storage;
mod trainer;

use std::path::{Path, PathBuf};

use anyhow::Context;
use polytask_agents::actor_critic::{ActionSpec, NetConfig, TaskShape};
use polytask_agents::kernels::KernelChoice;
use polytask_envs::{Registry, Space};

pub use checkpoint::{Checkpoint, CheckpointState, VERSION as CHECKPOINT_VERSION};
pub use evaluate::{evaluate, EvalOptions, Policy, TaskEvaluation};
pub use normalize::{NormalizerState, TaskNormalizer};
pub use result::{RunResult, TaskResult, RESULT_FILE};

use crate::config::Config;
use crate::error::Interrupted;
use crate::logger::{Logger, Progress};
use crate::run_lock::RunLock;
use crate::vec_env::TaskLayout;
pub use sac_collect::{sac_tasks, SacPolicy};
use sac_trainer::SacTrainer;
use stages::Stages;
pub use trainer::{learner_threads, IterationSplit};
use trainer::{Clock, Trainer};

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
    /// Where this process's iterations spent their time.
    pub split: IterationSplit,
}

/// The folder of the checkpoint inside a run directory.
pub fn checkpoint_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint")
}

/// Steps of every environment in one training iteration: PPO's and A2C's rollout
/// (`algorithm.num_steps`), SAC's `sac.train_freq`.
pub fn steps_per_iteration(config: &Config) -> usize {
    match &config.sac {
        Some(sac) => sac.train_freq,
        None => config.algorithm.num_steps,
    }
}

/// The number of training iterations of `config`: enough for the task with the fewest
/// environments to take `total_timesteps` steps. Every task steps in every iteration, so
/// task `t` takes `iterations × steps_per_iteration × num_envs_t` steps (see
/// [`task_budget`]): exactly `total_timesteps` (rounded up to whole iterations) when all
/// tasks have as many environments, more for tasks with more.
pub fn iterations(config: &Config) -> u64 {
    let fewest = config.tasks.iter().map(|t| t.num_envs).min().unwrap_or(1);
    config
        .total_timesteps
        .div_ceil((steps_per_iteration(config) * fewest) as u64)
}

/// The environment steps that task `task` of `config` takes in a whole run.
pub fn task_budget(config: &Config, task: usize) -> u64 {
    iterations(config) * (steps_per_iteration(config) * config.tasks[task].num_envs) as u64
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
    let mut trainer: Box<dyn Stages + '_> = match config.sac {
        Some(_) => Box::new(SacTrainer::new(config, registry, found.as_ref())?),
        None => Box::new(Trainer::new(config, registry, found.as_ref())?),
    };
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
        iterations * (steps_per_iteration(config) * trainer.num_rows()) as u64,
        config.logging.quiet,
    );
    progress.update(trainer.log().global_step(), 0.0, &[] as &[(&str, f64)]);
    let clock = Clock::start(trainer.log().global_step());

    for iteration in first..=iterations {
        trainer.iteration(iteration, iterations, logger, &clock)?;
        crate::durable::failpoint("train:iteration");
        let step = trainer.log().global_step();
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
    let sps = clock.sps(trainer.log().global_step());
    let evaluation = trainer.evaluate(registry, logger)?;
    logger.flush()?;
    let outcome = TrainOutcome {
        run_dir: run_dir.to_path_buf(),
        task_steps: trainer.log().all_task_steps(),
        evaluation,
        sps,
        split: trainer.split(),
    };
    let names: Vec<String> = config.tasks.iter().map(|t| t.name.clone()).collect();
    RunResult::of(&outcome, &names).write(run_dir)?;
    Ok(outcome)
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

/// The network's view of a task: observation length and action head.
pub fn task_shape(task: &TaskLayout) -> TaskShape {
    let action = match &task.action_space {
        Space::Discrete(n) => ActionSpec::Discrete(*n as i64),
        Space::Box(b) => ActionSpec::Continuous(b.low.len() as i64),
    };
    TaskShape::vector(task.obs_dim as i64, action)
}

/// The network's tasks: one per task of `config` (as laid out in `layouts`; an image task
/// with its grid unless `network.conv.scheme = "none"`), then one per auxiliary loss.
pub fn network_shapes(config: &Config, layouts: &[TaskLayout]) -> Vec<TaskShape> {
    let conv = config.network.conv.to_conv().is_some();
    let mut shapes: Vec<TaskShape> = (layouts.iter().zip(&config.tasks))
        .map(|(layout, task)| TaskShape {
            grid: crate::config::image_grid(task).filter(|_| conv),
            ..task_shape(layout)
        })
        .collect();
    for aux in &config.aux_losses {
        shapes.push(aux_batch::aux_shape(aux, &shapes[aux.task]));
    }
    shapes
}

/// Fresh normalisers for the tasks of `config` as laid out in `layouts`.
pub fn normalizers(config: &Config, layouts: &[TaskLayout]) -> Vec<TaskNormalizer> {
    config
        .tasks
        .iter()
        .zip(layouts)
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
pub fn net_config(config: &Config, kernels: KernelChoice) -> NetConfig {
    NetConfig {
        hidden: config.network.hidden.clone(),
        conv: (config.network.conv.to_conv()).unwrap_or_default(),
        shared_critic: config.network.shared_critic,
        init_log_std: config.network.init_log_std,
        kernels,
    }
}
