//! `polytask bench train`: end-to-end training speed (environment steps per second, setup
//! included) of PPO on CartPole-v1 with rl-zoo's hyperparameters (`configs/cartpole.toml`),
//! against Stable-Baselines3 running the same configuration in the same invocation
//! (`scripts/bench_sb3.py`), when a Python with stable-baselines3 is given.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use polytask_envs::Registry;

use polytask_agents::kernels::KernelChoice;

use crate::config::{Config, RawConfig, RawKernels};
use crate::error::usage;
use crate::logger::MemoryLogger;

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
}

/// The rl-zoo CartPole-v1 configuration, as shipped in `configs/cartpole.toml`.
const CARTPOLE: &str = include_str!("../../configs/cartpole.toml");

/// Runs the benchmark and returns its report.
pub fn run(args: &TrainArgs, registry: &Registry) -> anyhow::Result<String> {
    if args.steps == 0 || args.threads == 0 || args.repeat == 0 {
        return Err(usage(
            "bench train: --steps, --threads and --repeat must be at least 1",
        ));
    }
    let config = cartpole(args, registry)?;
    let kernels = crate::train::kernels::resolve(&config, tch::Device::Cpu, None)?;
    let mut report = String::new();
    let _ = writeln!(
        report,
        "PPO, CartPole-v1, rl-zoo hyperparameters, {} steps, CPU: {}",
        args.steps,
        crate::cpu::model()
    );
    let _ = writeln!(report, "  kernels: {}", kernels.summary());
    let mut ratios = Vec::new();
    for _ in 0..args.repeat {
        let ours = polytask_sps(&config, registry)?;
        let _ = writeln!(report, "  polytask          {ours:>10.0} steps/s");
        if let Some(python) = &args.sb3_python {
            let steps = args.steps.to_string();
            let (sb3, versions) =
                super::python_baseline(python, "bench_sb3.py", &["--steps", &steps], "sb3 ", "# ")?;
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
    let _ = writeln!(report, "  one learner step: {}", learner_split(kernels)?);
    Ok(report)
}

/// The split of one learner step of this configuration (one minibatch of 256 rows, the
/// 64 × 64 network), timed over 200 steps.
fn learner_split(kernels: KernelChoice) -> anyhow::Result<String> {
    let steps = 200;
    let args = super::learner::LearnerArgs {
        tasks: vec![1],
        rows: 256,
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

/// The shipped CartPole config with `args`' steps, threads and kernels.
fn cartpole(args: &TrainArgs, registry: &Registry) -> anyhow::Result<Config> {
    let mut raw: RawConfig = toml::from_str(CARTPOLE).context("configs/cartpole.toml parses")?;
    raw.total_timesteps = args.steps;
    raw.threads = args.threads;
    raw.kernels = RawKernels::Name(args.kernels.clone());
    raw.logging.quiet = true;
    raw.logging.eval_episodes = 0;
    raw.validate(registry)
}

fn polytask_sps(config: &Config, registry: &Registry) -> anyhow::Result<f64> {
    let dir = std::env::temp_dir().join(format!("polytask-bench-train-{}", std::process::id()));
    // A bench run left behind by an interrupted bench would be refused as an existing run.
    let _ = std::fs::remove_dir_all(&dir);
    let start = Instant::now();
    let outcome = crate::train::train(config, registry, &dir, &mut MemoryLogger::new())?;
    let sps = outcome.task_steps.iter().sum::<u64>() as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(sps)
}
