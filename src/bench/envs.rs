//! `polytask bench envs`: environment steps per second of the vector env, against a plain
//! single-threaded loop over the same environments (the baseline), both with uniformly
//! random actions and measured in the same run, alternately, so that both see the same
//! machine load. Each figure is the median of `--repeat` runs.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Context;
use polytask_envs::wrappers::{AutoReset, RecordEpisodeStatistics};
use polytask_envs::{Action, Env, Registry, Space};
use rand::{RngCore, SeedableRng};
use rand_pcg::Pcg32;

use crate::cli::parse_params;
use crate::config::Task;
use crate::error::usage;
use crate::vec_env::{instance_seed, VecEnv};

/// Arguments of `polytask bench envs`.
#[derive(Debug, clap::Args)]
pub struct EnvsArgs {
    /// Environment id, e.g. CartPole-v1 (see `polytask envs`).
    #[arg(long, default_value = "CartPole-v1")]
    pub env: String,
    /// Environment parameter as NAME=VALUE; repeat for several.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Number of environment instances.
    #[arg(long, default_value_t = 64)]
    pub num_envs: usize,
    /// Threads of the vector env, the calling thread included.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Environment steps per measured run, summed over all instances.
    #[arg(long, default_value_t = 4_000_000)]
    pub steps: u64,
    /// Runs of each mode; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Seed of the environments and the random actions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs the benchmark and returns its report.
pub fn run(args: &EnvsArgs, registry: &Registry) -> anyhow::Result<String> {
    if args.num_envs == 0 || args.threads == 0 || args.repeat == 0 || args.steps == 0 {
        return Err(usage(
            "bench envs: --num-envs, --threads, --steps and --repeat must be at least 1",
        ));
    }
    let task = Task {
        name: args.env.clone(),
        env: args.env.clone(),
        params: parse_params(&args.params)?,
        num_envs: args.num_envs,
        normalize_obs: false,
        normalize_reward: false,
    };
    registry.make(&task.env, &task.params).map_err(usage)?;
    let vector_steps = args.steps.div_ceil(args.num_envs as u64).max(1);
    let env_steps = vector_steps * args.num_envs as u64;

    let mut plain = Plain::new(&task, registry, args.seed)?;
    let mut sync = VecEnv::new(std::slice::from_ref(&task), registry, args.seed, args.threads)?;
    let mut sync_actions = Sampler::new(&sync.tasks()[0].action_space, args.seed);
    // Warm up caches, branch predictors and the worker threads.
    plain.run(vector_steps / 10 + 1)?;
    run_sync(&mut sync, &mut sync_actions, vector_steps / 10 + 1)?;

    let (mut plain_rates, mut sync_rates) = (Vec::new(), Vec::new());
    for _ in 0..args.repeat {
        let start = Instant::now();
        plain.run(vector_steps)?;
        plain_rates.push(env_steps as f64 / start.elapsed().as_secs_f64());
        let start = Instant::now();
        run_sync(&mut sync, &mut sync_actions, vector_steps)?;
        sync_rates.push(env_steps as f64 / start.elapsed().as_secs_f64());
    }
    let baseline = median(&mut plain_rates);
    let mut report = String::new();
    writeln!(
        report,
        "{}: {} envs, {} threads, {} steps per run, median of {} runs",
        args.env,
        args.num_envs,
        sync.threads(),
        env_steps,
        args.repeat
    )?;
    let threads = sync.threads();
    for (name, rate) in [
        ("plain loop, 1 thread (baseline)".to_string(), baseline),
        (format!("vec env sync, {threads} threads"), median(&mut sync_rates)),
    ] {
        writeln!(
            report,
            "  {name:<34} {:>14} steps/s  {:>6.2}x",
            thousands(rate),
            rate / baseline
        )?;
    }
    Ok(report)
}

fn run_sync(env: &mut VecEnv, sampler: &mut Sampler, vector_steps: u64) -> anyhow::Result<()> {
    for _ in 0..vector_steps {
        sampler.fill(env.actions_mut());
        env.step()?;
    }
    Ok(())
}

/// The baseline: the same environments in a plain loop, each wrapped as a user would
/// (statistics, autoreset), one after the other on one thread.
struct Plain {
    envs: Vec<AutoReset<RecordEpisodeStatistics<Box<dyn Env>>>>,
    obs: Vec<f32>,
    obs_dim: usize,
    action: Vec<f32>,
    sampler: Sampler,
}

impl Plain {
    fn new(task: &Task, registry: &Registry, seed: u64) -> anyhow::Result<Self> {
        let mut envs = Vec::with_capacity(task.num_envs);
        for _ in 0..task.num_envs {
            let env = registry
                .make(&task.env, &task.params)
                .with_context(|| format!("making {}", task.env))?;
            envs.push(AutoReset::new(RecordEpisodeStatistics::new(env)));
        }
        let obs_dim = envs[0].observation_space().flat_dim();
        let space = envs[0].action_space().clone();
        let mut obs = vec![0.0; obs_dim * envs.len()];
        for (k, (env, o)) in envs.iter_mut().zip(obs.chunks_exact_mut(obs_dim)).enumerate() {
            env.reset(Some(instance_seed(seed, 0, k)), o);
        }
        Ok(Self {
            envs,
            obs,
            obs_dim,
            action: vec![0.0; space.flat_dim()],
            sampler: Sampler::new(&space, seed),
        })
    }

    fn run(&mut self, vector_steps: u64) -> anyhow::Result<()> {
        let space = self.envs[0].action_space().clone();
        for _ in 0..vector_steps {
            for (env, obs) in self.envs.iter_mut().zip(self.obs.chunks_exact_mut(self.obs_dim)) {
                self.sampler.fill(&mut self.action);
                env.step(Action::from_flat(&space, &self.action), obs)?;
                std::hint::black_box(env.inner_mut().take_episode());
            }
        }
        Ok(())
    }
}

/// Uniformly random actions, written in the flat layout: cheap for discrete spaces (one
/// 32-bit draw per action), [`Space::sample_into`] for boxes.
struct Sampler {
    space: Space,
    rng: Pcg32,
}

impl Sampler {
    fn new(space: &Space, seed: u64) -> Self {
        Self {
            space: space.clone(),
            rng: Pcg32::seed_from_u64(seed),
        }
    }

    /// Fills `out` with consecutive random actions.
    fn fill(&mut self, out: &mut [f32]) {
        match self.space {
            Space::Discrete(n) => {
                for a in out {
                    *a = ((u64::from(self.rng.next_u32()) * n as u64) >> 32) as f32;
                }
            }
            Space::Box(_) => {
                for a in out.chunks_exact_mut(self.space.flat_dim()) {
                    self.space.sample_into(&mut self.rng, a);
                }
            }
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `1234567.8` as `1,234,568`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
    }

    #[test]
    fn discrete_samples_cover_every_action() {
        let mut s = Sampler::new(&Space::Discrete(3), 0);
        let mut out = [0.0; 300];
        s.fill(&mut out);
        for a in 0..3 {
            assert!(out.iter().filter(|&&x| x == a as f32).count() > 50);
        }
    }
}
