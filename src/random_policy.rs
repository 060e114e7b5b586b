//! A uniformly random policy run on every task of a config: the baseline return that a
//! learner must beat, reported per task.

use polytask_envs::wrappers::{AutoReset, RecordEpisodeStatistics};
use polytask_envs::{Action, Env, Registry};
use rand::SeedableRng;

use crate::config::{Config, Task};

/// Mean and count of the episode returns that one task finished.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskReturns {
    /// The task's name.
    pub task: String,
    /// Episodes finished.
    pub episodes: u64,
    /// Mean undiscounted return of those episodes (NaN when none finished).
    pub mean_return: f64,
}

/// Steps every task's environments with random actions for `config.total_timesteps` steps
/// per task and returns each task's mean episode return.
pub fn run(config: &Config, registry: &Registry) -> anyhow::Result<Vec<TaskReturns>> {
    config
        .tasks
        .iter()
        .enumerate()
        .map(|(i, task)| run_task(task, config, i as u64, registry))
        .collect()
}

fn run_task(
    task: &Task,
    config: &Config,
    index: u64,
    registry: &Registry,
) -> anyhow::Result<TaskReturns> {
    let seed = config.seed.wrapping_add(index.wrapping_mul(1_000_003));
    let mut policy = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut envs = Vec::with_capacity(task.num_envs);
    for k in 0..task.num_envs {
        let env = registry.make(&task.env, &task.params)?;
        let mut env = AutoReset::new(RecordEpisodeStatistics::new(env));
        let mut obs = vec![0.0; env.observation_space().flat_dim()];
        env.reset(Some(seed + k as u64), &mut obs);
        envs.push((env, obs));
    }
    let action_space = envs[0].0.action_space().clone();
    let mut action = vec![0.0; action_space.flat_dim()];
    let (mut episodes, mut sum) = (0u64, 0.0);
    for _ in 0..config.total_timesteps.div_ceil(task.num_envs as u64) {
        for (env, obs) in &mut envs {
            action_space.sample_into(&mut policy, &mut action);
            env.step(Action::from_flat(&action_space, &action), obs)?;
            if let Some(stats) = env.inner_mut().take_episode() {
                episodes += 1;
                sum += stats.episode_return;
            }
        }
    }
    let mean_return = if episodes > 0 {
        sum / episodes as f64
    } else {
        f64::NAN
    };
    Ok(TaskReturns {
        task: task.name.clone(),
        episodes,
        mean_return,
    })
}
