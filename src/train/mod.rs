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
mod storage;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use polytask_agents::actor_critic::{ActionSpec, ActorCritic, NetConfig, TaskShape};
use polytask_agents::adam::AdamConfig;
use polytask_agents::update::MultiTaskOptimizer;
use polytask_agents::{device, surgery, weighting};
use polytask_envs::{Registry, Space};

pub use checkpoint::{load_state, load_weights, CheckpointState};
pub use evaluate::{evaluate, EvalOptions, TaskEvaluation};
pub use normalize::{NormalizerState, TaskNormalizer};
pub use result::{RunResult, TaskResult, RESULT_FILE};

use crate::config::Config;
use crate::logger::{Logger, Progress};
use crate::vec_env::{TaskLayout, VecEnv};
use episodes::EpisodeLog;
use metrics::{RunScalars, Tags};
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

/// Trains on `config`'s tasks, writing events, the resolved config, checkpoints and the
/// final `result.json` to `run_dir` (created if missing).
pub fn train(
    config: &Config,
    registry: &Registry,
    run_dir: &Path,
    logger: &mut dyn Logger,
) -> anyhow::Result<TrainOutcome> {
    run(config, registry, run_dir, logger, false)
}

/// Continues the run in `run_dir` from its checkpoint: weights, Adam's moments, normaliser
/// statistics and step counters are restored and training goes on from the next iteration
/// (environments start fresh episodes, seeded from the run's seed and that iteration).
/// Without a checkpoint the run starts from scratch. The checkpoint's config must equal
/// `config` except for `total_timesteps` and `[logging]`.
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
    let restored = match resume && checkpoint_dir(run_dir).join("state.json").exists() {
        true => Some(checkpoint::load_state(&checkpoint_dir(run_dir))?),
        false => None,
    };
    if let Some(state) = &restored {
        checkpoint::check_same_run(&state.config, &config.resolved_toml, run_dir)?;
    }
    let first = restored.as_ref().map_or(1, |s| s.iteration + 1);
    // Episodes after a restart are seeded apart from those of the first start.
    let env_seed = config
        .seed
        .wrapping_add((first - 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("cannot create the run directory {}", run_dir.display()))?;
    std::fs::write(run_dir.join("config.toml"), &config.resolved_toml)
        .context("cannot write config.toml")?;
    logger.text(
        "config",
        &format!("```toml\n{}\n```", config.resolved_toml),
        0,
    );

    // First: libtorch caches its CUDA hooks at its first use (seeding included), so CUDA
    // support must be loaded before anything else touches libtorch.
    let device = device::resolve(config.device).map_err(crate::error::usage)?;
    tch::manual_seed(config.seed as i64);
    // Small networks gain nothing from intra-op threads; they would only compete with the
    // environment workers for the cores.
    tch::set_num_threads(1);
    let mut envs = VecEnv::new(&config.tasks, registry, env_seed, config.threads)?;
    let shapes = network_shapes(config, envs.tasks());
    let mut net = ActorCritic::new(&shapes, &net_config(config), device);
    let adam = AdamConfig {
        eps: config.algorithm.adam_eps,
        ..AdamConfig::default()
    };
    let mut opt = MultiTaskOptimizer::new(&net, adam, config.algorithm.max_grad_norm);
    let mut aggregator = surgery::by_name_with(&config.surgery.aggregator, &config.surgery.params)
        .map_err(crate::error::usage)?;
    aggregator.reseed(env_seed);
    let roles = crate::config::roles(&config.tasks, &config.aux_losses);
    let mut weighting =
        weighting::by_name(&config.weighting.name, &config.weighting.params, &roles)
            .map_err(crate::error::usage)?;

    let alg = &config.algorithm;
    let mut storage: Vec<TaskStorage> = envs
        .tasks()
        .iter()
        .map(|t| TaskStorage::new(alg.num_steps, t.num_envs(), t.obs_dim, t.act_dim))
        .collect();
    let mut norms = normalizers(config, &envs);
    let names: Vec<String> = config.tasks.iter().map(|t| t.name.clone()).collect();
    let aux_names: Vec<String> = config.aux_losses.iter().map(|a| a.name.clone()).collect();
    let aux_tasks: Vec<usize> = config.aux_losses.iter().map(|a| a.task).collect();
    let tags = Tags::new(&names, &aux_names, &aux_tasks);
    let envs_per_task: Vec<usize> = config.tasks.iter().map(|t| t.num_envs).collect();
    let mut log = EpisodeLog::new(&envs_per_task);
    if let Some(state) = &restored {
        let dir = checkpoint_dir(run_dir);
        checkpoint::load_weights(&dir, &mut net)?;
        checkpoint::load_optimizer(&dir, &mut opt, state.optimizer_steps)?;
        checkpoint::restore_normalizers(&dir, &mut norms, &state.normalizers)?;
        if state.task_steps.len() != names.len() {
            return Err(crate::error::usage(format!(
                "checkpoint {}: it counts steps of {} tasks, the config has {}",
                dir.display(),
                state.task_steps.len(),
                names.len()
            )));
        }
        log.set_task_steps(&state.task_steps);
    }
    let max_envs = *envs_per_task.iter().max().expect("at least one task");
    let iterations = config
        .total_timesteps
        .div_ceil((alg.num_steps * max_envs) as u64);
    let progress = Progress::new(
        iterations * (alg.num_steps * envs_per_task.iter().sum::<usize>()) as u64,
        config.logging.quiet,
    );
    progress.update(log.global_step(), 0.0, &[] as &[(&str, f64)]);
    let start = Instant::now();
    let start_step = log.global_step();

    for iteration in first..=iterations {
        let frac = 1.0 - (iteration - 1) as f64 / iterations as f64;
        let lr = if alg.anneal_lr {
            frac * alg.learning_rate
        } else {
            alg.learning_rate
        };

        collect::collect(
            &net,
            &mut envs,
            &mut norms,
            &mut storage,
            alg.num_steps,
            &mut log,
        )?;
        tags.episodes(logger, &mut log);
        let last_values = collect::bootstrap_values(&net, &envs, &norms, &mut storage);
        for (s, last) in storage.iter_mut().zip(&last_values) {
            s.compute_advantages(last, alg.gamma as f32, alg.gae_lambda as f32);
        }

        let mut combiner = optimize::Combiner {
            weighting: weighting.as_mut(),
            aggregator: aggregator.as_mut(),
        };
        let report = optimize::optimize(
            &net,
            &mut opt,
            &mut combiner,
            &storage,
            &config.aux_losses,
            alg,
            lr,
        )?;

        let sps = (log.global_step() - start_step) as f64 / start.elapsed().as_secs_f64();
        if iteration as usize % config.logging.log_interval.max(1) == 0 || iteration == iterations {
            tags.update(
                logger,
                &log,
                &report,
                &storage,
                aggregator.task_weights(),
                RunScalars {
                    learning_rate: lr,
                    sps,
                },
            );
        }
        // The console shows the objective: the main tasks' recent returns.
        let recent: Vec<(&str, f64)> = names
            .iter()
            .enumerate()
            .filter(|(t, _)| config.tasks[*t].role == crate::config::Role::Main)
            .map(|(t, n)| (n.as_str(), log.recent_mean(t)))
            .collect();
        progress.update(log.global_step(), sps, &recent);
        let every = config.logging.checkpoint_interval;
        if every > 0 && iteration as usize % every == 0 && iteration != iterations {
            save_checkpoint(run_dir, &net, &opt, &norms, config, iteration, &log)?;
        }
    }
    progress.finish();
    save_checkpoint(run_dir, &net, &opt, &norms, config, iterations, &log)?;
    let sps = (log.global_step() - start_step) as f64 / start.elapsed().as_secs_f64();
    let evaluation = if config.logging.eval_episodes > 0 {
        let seed = config.seed.wrapping_add(1_000_000_007);
        let options = EvalOptions {
            seed,
            episodes: config.logging.eval_episodes,
            deterministic: true,
        };
        evaluate(&net, &config.tasks, &norms, registry, &options)?
    } else {
        Vec::new()
    };
    for (t, e) in evaluation.iter().enumerate() {
        logger.scalar(
            &format!("eval/{}/mean_return", e.task),
            e.mean(),
            log.task_steps(t),
        );
    }
    logger.flush()?;
    let outcome = TrainOutcome {
        run_dir: run_dir.to_path_buf(),
        task_steps: (0..names.len()).map(|t| log.task_steps(t)).collect(),
        evaluation,
        sps,
    };
    RunResult::of(&outcome, &names).write(run_dir)?;
    Ok(outcome)
}

fn save_checkpoint(
    run_dir: &Path,
    net: &ActorCritic,
    opt: &MultiTaskOptimizer,
    norms: &[TaskNormalizer],
    config: &Config,
    iteration: u64,
    log: &EpisodeLog,
) -> anyhow::Result<()> {
    let state = CheckpointState {
        version: checkpoint::VERSION,
        config: config.resolved_toml.clone(),
        iteration,
        task_steps: (0..config.tasks.len()).map(|t| log.task_steps(t)).collect(),
        optimizer_steps: opt.adam().steps(),
        normalizers: norms.iter().map(TaskNormalizer::state).collect(),
    };
    checkpoint::save(&checkpoint_dir(run_dir), net, opt, &state)
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
