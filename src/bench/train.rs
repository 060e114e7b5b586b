//! `polytask bench train`: end-to-end training speed (environment steps per second, setup
//! included) of PPO on CartPole-v1 with rl-zoo's hyperparameters (`configs/cartpole.toml`),
//! or on MinAtar Breakout with the MinAtar network and gymnax-blines' hyperparameters
//! (`configs/minatar-breakout.toml`), against Stable-Baselines3 running the same
//! configuration in the same invocation (`scripts/bench_sb3.py`), when a Python with
//! stable-baselines3 (and `minatar`) is given. It also prints where polytask's iterations
//! spent their time and the machine's limit for the configuration (see [`super::limit`]).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use polytask_envs::Registry;

use polytask_agents::kernels::KernelChoice;

use super::learner::BenchNetwork;
use crate::config::{Config, RawConfig, RawKernels};
use crate::error::usage;
use crate::logger::MemoryLogger;
use crate::train::IterationSplit;

/// Arguments of `polytask bench train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Environment steps of each run.
    #[arg(long, default_value_t = 50_000)]
    pub steps: u64,
    /// Environment threads of polytask's run.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// A Python interpreter with stable-baselines3 installed: also time SB3 and print the ratio.
    #[arg(long, env = "POLYTASK_SB3_PYTHON")]
    pub sb3_python: Option<PathBuf>,
    /// Runs of each (alternating polytask and SB3); the median ratio is reported.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// polytask's kernel setting: `auto`, `host` or `libtorch`.
    #[arg(long, default_value = "auto")]
    pub kernels: String,
    /// The configuration: `cartpole`, `minatar-breakout` or `pendulum-sac`.
    #[arg(long, value_enum, default_value = "cartpole")]
    pub config: BenchConfig,
    /// `sac`: the SAC configuration (`--config pendulum-sac`), whatever `--config` says.
    #[arg(long, value_enum)]
    pub algo: Option<BenchAlgo>,
    /// libtorch's threads while learning, for polytask and SB3 alike (0: the config's
    /// automatic choice for polytask, torch's own for SB3).
    #[arg(long, default_value_t = 0)]
    pub learner_threads: usize,
}

/// The algorithm `polytask bench train --algo` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchAlgo {
    /// PPO, on the `--config` given.
    Ppo,
    /// SAC on Pendulum-v1 with rl-zoo's hyperparameters.
    Sac,
}

impl TrainArgs {
    /// The configuration timed: `--config`, or SAC's with `--algo sac`.
    fn bench_config(&self) -> BenchConfig {
        match self.algo {
            Some(BenchAlgo::Sac) => BenchConfig::PendulumSac,
            _ => self.config,
        }
    }
}

/// The configurations `polytask bench train` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchConfig {
    /// `configs/cartpole.toml`: PPO, CartPole-v1, rl-zoo's hyperparameters.
    Cartpole,
    /// `configs/minatar-breakout.toml`: PPO, MinAtar Breakout, the MinAtar network.
    MinatarBreakout,
    /// `configs/pendulum-sac.toml`: SAC, Pendulum-v1, rl-zoo's hyperparameters.
    PendulumSac,
}

impl BenchConfig {
    /// The shipped config file's text, its title and its policy's action count.
    fn shipped(self) -> (&'static str, &'static str, i64) {
        match self {
            Self::Cartpole => (CARTPOLE, "PPO, CartPole-v1, rl-zoo hyperparameters", 2),
            Self::MinatarBreakout => (
                MINATAR_BREAKOUT,
                "PPO, MinAtar/Breakout-v1, MinAtar network, gymnax-blines hyperparameters",
                3,
            ),
            Self::PendulumSac => (PENDULUM_SAC, "SAC, Pendulum-v1, rl-zoo hyperparameters", 1),
        }
    }

    /// The PPO learner's network and minibatch rows (256 rows and the 64 × 64 network for
    /// CartPole, 1024 rows and the MinAtar network for Breakout); `None` for SAC.
    fn learner_shape(self) -> Option<(BenchNetwork, usize)> {
        match self {
            Self::Cartpole => Some((BenchNetwork::Cartpole, 256)),
            Self::MinatarBreakout => Some((BenchNetwork::Minatar, 1024)),
            Self::PendulumSac => None,
        }
    }

    /// The name `scripts/bench_sb3.py --env` takes.
    fn sb3_env(self) -> &'static str {
        match self {
            Self::Cartpole => "cartpole",
            Self::MinatarBreakout => "minatar-breakout",
            Self::PendulumSac => "pendulum-sac",
        }
    }
}

/// rl-zoo's SAC configuration for Pendulum-v1, as shipped in `configs/pendulum-sac.toml`.
const PENDULUM_SAC: &str = include_str!("../../configs/pendulum-sac.toml");

/// The rl-zoo CartPole-v1 configuration, as shipped in `configs/cartpole.toml`.
const CARTPOLE: &str = include_str!("../../configs/cartpole.toml");

/// The MinAtar Breakout configuration, as shipped in `configs/minatar-breakout.toml`.
const MINATAR_BREAKOUT: &str = include_str!("../../configs/minatar-breakout.toml");

/// Runs the benchmark and returns its report.
pub fn run(args: &TrainArgs, registry: &Registry) -> anyhow::Result<String> {
    if args.steps == 0 || args.threads == 0 || args.repeat == 0 {
        return Err(usage(
            "bench train: --steps, --threads and --repeat must be at least 1",
        ));
    }
    let bench = args.bench_config();
    let (_, title, actions) = bench.shipped();
    let config = shipped(args, registry)?;
    let kernels = match bench {
        // SAC's learner does not use the calibrated kernels.
        BenchConfig::PendulumSac => KernelChoice::default(),
        _ => crate::train::kernels::resolve(&config, tch::Device::Cpu, None)?,
    };
    let mut report = String::new();
    let _ = writeln!(
        report,
        "{title}, {} steps, {} learner thread(s), CPU: {}",
        args.steps,
        crate::train::learner_threads(&config),
        crate::cpu::model()
    );
    if bench != BenchConfig::PendulumSac {
        let _ = writeln!(report, "  kernels: {}", kernels.summary());
    }
    let mut ratios = Vec::new();
    let mut speeds = Vec::new();
    for _ in 0..args.repeat {
        let (ours, split) = polytask_run(&config, registry)?;
        speeds.push(ours);
        let _ = writeln!(
            report,
            "  polytask          {ours:>10.0} steps/s   (collecting {:.0}% of each iteration's \
             time, learning {:.0}%)",
            100.0 * split.collect_share(),
            100.0 * (1.0 - split.collect_share())
        );
        if let Some(python) = &args.sb3_python {
            let steps = args.steps.to_string();
            let threads = args.learner_threads.to_string();
            let script_args = [
                "--steps",
                &steps,
                "--env",
                bench.sb3_env(),
                "--threads",
                &threads,
            ];
            let (sb3, versions) =
                super::python_baseline(python, "bench_sb3.py", &script_args, "sb3 ", "# ")?;
            let _ = writeln!(
                report,
                "  stable-baselines3 {sb3:>10.0} steps/s   ({versions})"
            );
            let _ = writeln!(report, "  ratio             {:>10.1}×", ours / sb3);
            ratios.push(ours / sb3);
        }
    }
    if args.sb3_python.is_none() {
        let _ = writeln!(
            report,
            "  (pass --sb3-python PYTHON to time stable-baselines3 alongside)"
        );
    } else if args.repeat > 1 {
        let median = crate::compare::median(&ratios);
        let _ = writeln!(report, "  median ratio      {median:>10.1}×");
    }
    let (limit, threads) = match bench.learner_shape() {
        None => {
            let split = super::sac_update::split(&config, actions, 500)?;
            let _ = writeln!(report, "  one SAC update:   {split}");
            super::limit::measure_sac(&config, actions)
        }
        Some((network, rows)) => {
            let split = learner_split(network, rows, kernels)?;
            let _ = writeln!(report, "  one learner step: {split}");
            super::limit::measure(&config, actions)
        }
    };
    let best = speeds.iter().copied().fold(0.0, f64::max);
    let _ = writeln!(
        report,
        "  machine limit     {:>10.0} steps/s   ({:.2}M multiply-adds per step in products \
         timed alone on {threads} thread(s) at {:.1} G/s; polytask's best run reaches {:.0}% \
         of it)",
        limit.sps,
        limit.macs_per_step / 1e6,
        limit.gmacs,
        100.0 * best / limit.sps
    );
    Ok(report)
}

/// The split of one PPO learner step of `network` on a minibatch of `rows` (see
/// [`BenchConfig::learner_shape`]), timed over 200 steps.
fn learner_split(
    network: BenchNetwork,
    rows: usize,
    kernels: KernelChoice,
) -> anyhow::Result<String> {
    use super::learner::BenchConv;
    let steps = 200;
    let args = super::learner::LearnerArgs {
        tasks: vec![1],
        network,
        conv: BenchConv::PerTask,
        rows,
        hidden: vec![64, 64],
        aggregators: Vec::new(),
        steps,
        repeat: 1,
        kernels: Vec::new(),
    };
    tch::set_num_threads(1);
    let (times, split) = super::learner::measure(&args, 1, &["sum".to_string()], kernels)?;
    Ok(format!(
        "{:.1} µs: {}",
        times[0].as_secs_f64() * 1e6,
        super::learner::describe(&split, steps)
    ))
}

/// The shipped config with `args`' steps, threads and kernels.
fn shipped(args: &TrainArgs, registry: &Registry) -> anyhow::Result<Config> {
    let (text, _, _) = args.bench_config().shipped();
    let mut raw: RawConfig = toml::from_str(text).context("the shipped config parses")?;
    raw.total_timesteps = args.steps;
    raw.threads = args.threads;
    raw.learner_threads = args.learner_threads;
    raw.kernels = RawKernels::Name(args.kernels.clone());
    raw.logging.quiet = true;
    raw.logging.eval_episodes = 0;
    raw.validate(registry)
}

/// One run's steps/s and the split of its iterations.
fn polytask_run(config: &Config, registry: &Registry) -> anyhow::Result<(f64, IterationSplit)> {
    let dir = std::env::temp_dir().join(format!("polytask-bench-train-{}", std::process::id()));
    // A bench run left behind by an interrupted bench would be refused as an existing run.
    let _ = std::fs::remove_dir_all(&dir);
    let start = Instant::now();
    let outcome = crate::train::train(config, registry, &dir, &mut MemoryLogger::new())?;
    let sps = outcome.task_steps.iter().sum::<u64>() as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((sps, outcome.split))
}
