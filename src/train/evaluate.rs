//! Evaluation: run the policy for a number of episodes per task, on environments seeded apart
//! from training, and report each task's returns.
//!
//! With several environments per task, keeping the first `episodes` episodes to finish would
//! over-represent short episodes (for Acrobot or MountainCar, the good ones). As
//! Stable-Baselines3's `evaluate_policy`, each environment `k` of `n` instead has its own
//! target of `(episodes + k) / n` episodes (integer division; the targets add up to
//! `episodes`) and only its first that many count.

use polytask_agents::actor_critic::ActorCritic;
use polytask_envs::Registry;
use tch::{Device, Tensor};

use super::collect::{copy_to, observations};
use super::normalize::TaskNormalizer;
use crate::config::Task;
use crate::vec_env::VecEnv;

/// Environment instances per task during evaluation (at most).
const EVAL_ENVS: usize = 8;

/// Mean and spread of one task's evaluation returns, and its environment metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEvaluation {
    /// The task's name.
    pub task: String,
    /// The returns of the evaluated episodes, in the order they ended.
    pub returns: Vec<f64>,
    /// The task's environment metrics (e.g. Meta-World's `success`): each one's name and
    /// its value in every evaluated episode (the maximum over the episode's steps), in the
    /// order the episodes ended.
    pub metrics: Vec<(String, Vec<f64>)>,
}

impl TaskEvaluation {
    /// The mean of metric `name` over the episodes (for `success`: the success rate, as
    /// Meta-World's `evaluation` computes it); `None` if the task has no such metric.
    pub fn metric_mean(&self, name: &str) -> Option<f64> {
        let (_, values) = self.metrics.iter().find(|(n, _)| n == name)?;
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }

    /// Mean return.
    pub fn mean(&self) -> f64 {
        self.returns.iter().sum::<f64>() / self.returns.len() as f64
    }

    /// `mean ± std over N episodes`, then each metric's rate (`, success_rate 0.90`): the
    /// line `polytask train` and `polytask eval` print for the task.
    pub fn summary(&self) -> String {
        let rates: String = (self.metrics.iter())
            .map(|(name, _)| {
                let rate = self.metric_mean(name).unwrap_or(f64::NAN);
                format!(", {name}_rate {rate:.2}")
            })
            .collect();
        format!(
            "{:.2} ± {:.2} over {} episodes{rates}",
            self.mean(),
            self.std(),
            self.returns.len()
        )
    }

    /// Population standard deviation of the returns.
    pub fn std(&self) -> f64 {
        let m = self.mean();
        (self.returns.iter().map(|r| (r - m).powi(2)).sum::<f64>() / self.returns.len() as f64)
            .sqrt()
    }
}

/// How to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalOptions {
    /// Seed of the evaluation environments.
    pub seed: u64,
    /// Episodes per task.
    pub episodes: usize,
    /// Take the most likely action instead of sampling.
    pub deterministic: bool,
    /// Worker processes for `gym:` tasks (the config's `python_workers`; `Some(0)`: in this
    /// process, `None`: automatic).
    pub python_workers: Option<usize>,
}

/// A trained policy as evaluation sees it: observations in, every task's actions written
/// into the environments' action buffers.
pub trait Policy {
    /// Where the policy's weights live.
    fn device(&self) -> Device;

    /// Writes actions for each task's observations `obs[t]` `[n_t, obs_dim_t]` into `envs`:
    /// the most likely ones if `deterministic`, else sampled. `scratch` and `indices` are
    /// reusable buffers.
    fn write_actions(
        &self,
        obs: &[Tensor],
        deterministic: bool,
        envs: &mut VecEnv,
        scratch: &mut Vec<f32>,
        indices: &mut Vec<i64>,
    );
}

impl Policy for ActorCritic {
    fn device(&self) -> Device {
        ActorCritic::device(self)
    }

    fn write_actions(
        &self,
        obs: &[Tensor],
        deterministic: bool,
        envs: &mut VecEnv,
        scratch: &mut Vec<f32>,
        indices: &mut Vec<i64>,
    ) {
        let out = tch::no_grad(|| self.forward(obs));
        for (t, dist) in out.dists.iter().enumerate() {
            let action = match deterministic {
                true => dist.mode(),
                false => dist.sample(),
            };
            let space = envs.tasks()[t].action_space.clone();
            let buffer = envs.task_actions_mut(t);
            scratch.resize(buffer.len(), 0.0);
            copy_to(&action, scratch, indices);
            super::collect::write_env_actions(&space, scratch, buffer);
        }
    }
}

/// The end-of-run evaluation of a trainer: `logging.eval_episodes` greedy episodes of every
/// task of `config` (none when 0) from the run's evaluation seed, each task's mean logged as
/// `eval/<task>/mean_return` at that task's step in `log`.
pub fn final_evaluation(
    policy: &dyn Policy,
    config: &crate::config::Config,
    norms: &[TaskNormalizer],
    registry: &Registry,
    log: &super::episodes::EpisodeLog,
    logger: &mut dyn crate::logger::Logger,
) -> anyhow::Result<Vec<TaskEvaluation>> {
    let episodes = config.logging.eval_episodes;
    if episodes == 0 {
        return Ok(Vec::new());
    }
    let options = EvalOptions {
        seed: config.seed.wrapping_add(1_000_000_007),
        episodes,
        deterministic: true,
        python_workers: config.python_workers,
    };
    let evaluation = evaluate(policy, &config.tasks, norms, registry, &options)?;
    for (t, e) in evaluation.iter().enumerate() {
        let tag = format!("eval/{}/mean_return", e.task);
        logger.scalar(&tag, e.mean(), log.task_steps(t));
        for (name, _) in &e.metrics {
            let rate = e.metric_mean(name).unwrap_or(f64::NAN);
            logger.scalar(
                &format!("eval/{}/{name}_rate", e.task),
                rate,
                log.task_steps(t),
            );
        }
    }
    Ok(evaluation)
}

/// Runs `options.episodes` episodes of every task with `net`, its observations normalised by
/// the training statistics `norms` (frozen).
pub fn evaluate(
    net: &dyn Policy,
    tasks: &[Task],
    norms: &[TaskNormalizer],
    registry: &Registry,
    options: &EvalOptions,
) -> anyhow::Result<Vec<TaskEvaluation>> {
    let EvalOptions {
        seed,
        episodes,
        deterministic,
        python_workers,
    } = *options;
    let eval_tasks: Vec<Task> = tasks
        .iter()
        .map(|t| Task {
            num_envs: episodes.clamp(1, EVAL_ENVS),
            ..t.clone()
        })
        .collect();
    let vec_options = crate::vec_env::Options {
        python_workers,
        ..crate::vec_env::Options::default()
    };
    let mut envs = VecEnv::with_options(&eval_tasks, registry, seed, &vec_options)?;
    let device = net.device();
    let mut results: Vec<TaskEvaluation> = (tasks.iter().zip(envs.tasks()))
        .map(|(t, layout)| TaskEvaluation {
            task: t.name.clone(),
            returns: Vec::with_capacity(episodes),
            metrics: (layout.metrics.iter())
                .map(|m| (m.clone(), Vec::with_capacity(episodes)))
                .collect(),
        })
        .collect();
    // Episodes still wanted from each row (see the module docs).
    let mut wanted: Vec<usize> = envs
        .tasks()
        .iter()
        .flat_map(|task| {
            let n = task.num_envs();
            (0..n).map(move |k| (episodes + k) / n)
        })
        .collect();
    let (mut scratch, mut indices) = (Vec::new(), Vec::new());
    while wanted.iter().any(|&w| w > 0) {
        let obs = observations(&envs, norms, device);
        net.write_actions(&obs, deterministic, &mut envs, &mut scratch, &mut indices);
        envs.step()?;
        for row in 0..envs.num_rows() {
            let Some(stats) = envs.episode(row) else {
                continue;
            };
            if wanted[row] > 0 {
                wanted[row] -= 1;
                let result = &mut results[envs.row_tasks()[row]];
                result.returns.push(stats.episode_return);
                for ((_, values), &v) in result.metrics.iter_mut().zip(envs.episode_metrics(row)) {
                    values.push(f64::from(v));
                }
            }
        }
    }
    Ok(results)
}
