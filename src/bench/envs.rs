//! `polytask bench envs`: environment steps per second of the vector env, against a plain
//! single-threaded loop over the same environments (the baseline), all with uniformly
//! random actions and measured in the same run. Each of `--repeat` rounds measures every
//! mode once, back to back, so that all see the same machine load; the report gives each
//! mode's median rate and the median of its per-round ratio to the baseline. A floor mode
//! only writes zeros over every observation (each step writes its whole observation, so no
//! environment steps faster than that).
//!
//! For a `gym:` id, `--python-workers 1,2` also measures the vector env with its Python
//! environments in that many worker processes (besides in the benchmark's own process), with
//! each count's rate over one worker's; and `--python PYTHON` (default `$POLYTASK_PYTHON`)
//! times a plain Python loop over the same Gymnasium environments (`scripts/bench_gym.py`)
//! and prints polytask's per-step overhead over it.
//!
//! For a MinAtar id, `--minatar-python PYTHON` also times the `minatar` package itself in the
//! same invocation (`scripts/bench_minatar.py`: one process, `Environment.act` + `state()`
//! with random actions) and prints the baseline's rate over it: polytask's one-thread speed
//! as a multiple of the package's.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use polytask_envs::wrappers::{AutoReset, RecordEpisodeStatistics, Wrapper};
use polytask_envs::{Action, Env, Registry, Space};
use rand::{RngCore, SeedableRng};
use rand_pcg::Pcg32;

use crate::config::parse_params;
use crate::config::Task;
use crate::error::usage;
use crate::vec_env::{instance_seed, Options, VecEnv};

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
    /// Environment steps per measured round of each mode, summed over all instances.
    #[arg(long, default_value_t = 200_000)]
    pub steps: u64,
    /// Rounds; each measures every mode once, one after the other, and the medians over
    /// rounds are reported.
    #[arg(long, default_value_t = 40)]
    pub repeat: usize,
    /// Seed of the environments and the random actions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A Python interpreter with `minatar` installed: for a MinAtar id, also time the package
    /// (scripts/bench_minatar.py) and print the one-thread ratio against it.
    #[arg(long, env = "POLYTASK_MINATAR_PYTHON")]
    pub minatar_python: Option<PathBuf>,
    /// For a `gym:` id: numbers of worker processes to measure besides the in-process
    /// vector env, e.g. `1,2`.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    pub python_workers: Vec<usize>,
    /// A Python interpreter with `gymnasium`: for a `gym:` id, also time a plain Python loop
    /// over the same environments (scripts/bench_gym.py) and print the per-step overhead.
    #[arg(long, env = "POLYTASK_PYTHON")]
    pub python: Option<PathBuf>,
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
        role: crate::config::Role::Main,
        normalize_obs: false,
        normalize_reward: false,
        threshold: None,
        obs_shape: Vec::new(),
    };
    let obs_dim = registry
        .make(&task.env, &task.params)
        .map_err(usage)?
        .observation_space()
        .flat_dim();
    let vector_steps = args.steps.div_ceil(args.num_envs as u64).max(1);
    let env_steps = vector_steps * args.num_envs as u64;

    // The modes, measured alternately so that all see the same machine load.
    let mut modes: Vec<(String, Mode)> = Vec::new();
    let mut plain = Plain::new(&task, registry, args.seed)?;
    modes.push((
        "plain loop, 1 thread (baseline)".to_string(),
        Box::new(move |steps| plain.run(steps)),
    ));
    // The floor: only writing zeros over every observation, as each step at least does.
    let mut floor = vec![0.0f32; obs_dim * args.num_envs];
    modes.push((
        "observation writes only (floor)".to_string(),
        Box::new(move |steps| {
            fill_observations(&mut floor, obs_dim, steps);
            Ok(())
        }),
    ));
    let mut thread_counts = vec![args.threads];
    if args.threads > 1 {
        thread_counts.insert(0, 1);
    }
    let mut threads_used = 1;
    for threads in thread_counts {
        let mut env = VecEnv::new(std::slice::from_ref(&task), registry, args.seed, threads)?;
        let mut sampler = Sampler::new(&env.tasks()[0].action_space, args.seed);
        threads_used = env.threads();
        let name = format!(
            "vec env sync, {} thread{}",
            env.threads(),
            plural(env.threads())
        );
        modes.push((
            name,
            Box::new(move |steps| run_sync(&mut env, &mut sampler, steps)),
        ));
    }
    let gym = args.env.starts_with(polytask_envs::adapters::GYM_PREFIX);
    let mut worker_modes = Vec::new();
    for &workers in args.python_workers.iter().filter(|_| gym) {
        let options = Options {
            python_workers: Some(workers),
            ..Options::default()
        };
        let mut env =
            VecEnv::with_options(std::slice::from_ref(&task), registry, args.seed, &options)?;
        let mut sampler = Sampler::new(&env.tasks()[0].action_space, args.seed);
        let used = env.python_workers();
        worker_modes.push((modes.len(), used));
        modes.push((
            format!(
                "vec env, {used} worker process{}",
                if used == 1 { "" } else { "es" }
            ),
            Box::new(move |steps| run_sync(&mut env, &mut sampler, steps)),
        ));
    }
    let mut rates = vec![Vec::with_capacity(args.repeat); modes.len()];
    // Warm up caches, branch predictors and the worker threads.
    for (_, run) in &mut modes {
        run(vector_steps / 10 + 1)?;
    }
    for _ in 0..args.repeat {
        for ((_, run), rates) in modes.iter_mut().zip(&mut rates) {
            let start = Instant::now();
            run(vector_steps)?;
            rates.push(env_steps as f64 / start.elapsed().as_secs_f64());
        }
    }

    let mut report = String::new();
    writeln!(
        report,
        "{}: {} envs, {} thread{}, random actions; {} rounds of {} steps per mode",
        args.env,
        args.num_envs,
        threads_used,
        plural(threads_used),
        args.repeat,
        env_steps,
    )?;
    writeln!(
        report,
        "  {:<32} {:>12}          {:>7}  (slowest-fastest round)",
        "mode", "median", "ratio"
    )?;
    // A mode's ratio is the median over rounds of its rate over the baseline's in the same
    // round, which cancels load that changes between rounds.
    let baseline = rates[0].clone();
    for ((name, _), rates) in modes.iter().zip(&rates) {
        let mut ratios: Vec<f64> = rates.iter().zip(&baseline).map(|(r, b)| r / b).collect();
        let mut sorted = rates.clone();
        let rate = median(&mut sorted);
        writeln!(
            report,
            "  {name:<32} {:>12} steps/s  {:>6.2}x  ({}-{})",
            thousands(rate),
            median(&mut ratios),
            thousands(sorted[0]),
            thousands(sorted[sorted.len() - 1]),
        )?;
    }
    if gym {
        gym_report(&mut report, args, &rates, &worker_modes)?;
    }
    if args.env.starts_with("MinAtar/") {
        match &args.minatar_python {
            Some(python) => {
                let (package, versions) = super::python_baseline(
                    python,
                    "bench_minatar.py",
                    &["--game", &args.env],
                    "minatar ",
                    "versions ",
                )?;
                let ours = median(&mut rates[0].clone());
                writeln!(
                    report,
                    "  {:<32} {:>12} steps/s  ({versions}, 1 process)",
                    "minatar package",
                    thousands(package),
                )?;
                writeln!(
                    report,
                    "  plain loop / minatar package: {:.1}x on one thread",
                    ours / package
                )?;
            }
            None => writeln!(
                report,
                "  (pass --minatar-python PYTHON to time the minatar package alongside)"
            )?,
        }
    }
    Ok(report)
}

/// The lines of a `gym:` benchmark: each worker-process count's rate over one worker's (the
/// median of the per-round ratios), and with `--python`, the plain Python loop's rate and
/// the per-step overhead of the in-process vector env and of one worker process over it.
fn gym_report(
    report: &mut String,
    args: &EnvsArgs,
    rates: &[Vec<f64>],
    worker_modes: &[(usize, usize)],
) -> anyhow::Result<()> {
    // The in-process vector env on one thread is mode 2 (after the baseline and the floor).
    let in_process = median(&mut rates[2].clone());
    let one = worker_modes.iter().find(|&&(_, n)| n == 1).map(|&(m, _)| m);
    if let Some(one) = one {
        for &(mode, n) in worker_modes.iter().filter(|&&(_, n)| n > 1) {
            let mut ratios: Vec<f64> = (rates[mode].iter().zip(&rates[one]))
                .map(|(r, b)| r / b)
                .collect();
            writeln!(
                report,
                "  {n} worker processes / 1 worker process: {:.2}x",
                median(&mut ratios)
            )?;
        }
    }
    let Some(python) = &args.python else {
        return Ok(writeln!(
            report,
            "  (pass --python PYTHON or set POLYTASK_PYTHON to time a plain Python loop)"
        )?);
    };
    let (steps, repeat, num_envs) = (
        args.steps.to_string(),
        args.repeat.min(5).to_string(),
        args.num_envs.to_string(),
    );
    let mut script_args = vec![
        "--env",
        &args.env,
        "--num-envs",
        &num_envs,
        "--steps",
        &steps,
        "--repeat",
        &repeat,
    ];
    for param in &args.params {
        script_args.extend(["--param", param.as_str()]);
    }
    let (plain, versions) = super::python_baseline(
        python,
        "bench_gym.py",
        &script_args,
        "gymnasium ",
        "versions ",
    )?;
    writeln!(
        report,
        "  {:<32} {:>12} steps/s  ({versions}, 1 process)",
        "plain Python loop",
        thousands(plain),
    )?;
    let overhead = |rate: f64| 1e6 / rate - 1e6 / plain;
    writeln!(
        report,
        "  per-step overhead over the Python loop: in-process {:+.1} µs ({:.2}x its rate)",
        overhead(in_process),
        in_process / plain
    )?;
    if let Some(one) = one {
        let rate = median(&mut rates[one].clone());
        writeln!(
            report,
            "  per-step overhead over the Python loop: 1 worker process {:+.1} µs ({:.2}x its rate)",
            overhead(rate),
            rate / plain
        )?;
    }
    Ok(())
}

/// Runs a measured mode for the given number of vector steps.
type Mode = Box<dyn FnMut(u64) -> anyhow::Result<()>>;

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn run_sync(env: &mut VecEnv, sampler: &mut Sampler, vector_steps: u64) -> anyhow::Result<()> {
    for _ in 0..vector_steps {
        sampler.fill(env.actions_mut());
        env.step()?;
    }
    Ok(())
}

/// Writes zeros over each environment's observation, `vector_steps` times: the least that
/// stepping every environment costs (each writes its whole observation).
fn fill_observations(obs: &mut [f32], obs_dim: usize, vector_steps: u64) {
    for _ in 0..vector_steps {
        for o in obs.chunks_exact_mut(obs_dim) {
            o.fill(0.0);
            std::hint::black_box(&mut *o);
        }
    }
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
        for (k, (env, o)) in envs
            .iter_mut()
            .zip(obs.chunks_exact_mut(obs_dim))
            .enumerate()
        {
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
            for (env, obs) in self
                .envs
                .iter_mut()
                .zip(self.obs.chunks_exact_mut(self.obs_dim))
            {
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

/// The median of `values`, which it sorts.
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
