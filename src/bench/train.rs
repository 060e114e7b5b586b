//! `polytask bench train`: end-to-end training speed (environment steps per second, setup
//! included) of PPO on CartPole-v1 with rl-zoo's hyperparameters (`configs/cartpole.toml`),
//! against Stable-Baselines3 running the same configuration in the same invocation
//! (`scripts/bench_sb3.py`), when a Python with stable-baselines3 is given.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use polytask_envs::Registry;

use crate::config::RawConfig;
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
}

/// The rl-zoo CartPole-v1 configuration, as shipped in `configs/cartpole.toml`.
const CARTPOLE: &str = include_str!("../../configs/cartpole.toml");

/// Runs the benchmark and returns its report.
pub fn run(args: &TrainArgs, registry: &Registry) -> anyhow::Result<String> {
    if args.steps == 0 || args.threads == 0 {
        return Err(usage(
            "bench train: --steps and --threads must be at least 1",
        ));
    }
    let ours = polytask_sps(args, registry)?;
    let mut report = String::new();
    let _ = writeln!(
        report,
        "PPO, CartPole-v1, rl-zoo hyperparameters, {} steps, CPU",
        args.steps
    );
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
    } else {
        let _ = writeln!(
            report,
            "  (pass --sb3-python PYTHON to time stable-baselines3 alongside)"
        );
    }
    Ok(report)
}

fn polytask_sps(args: &TrainArgs, registry: &Registry) -> anyhow::Result<f64> {
    let mut raw: RawConfig = toml::from_str(CARTPOLE).context("configs/cartpole.toml parses")?;
    let dir = std::env::temp_dir().join(format!("polytask-bench-train-{}", std::process::id()));
    raw.total_timesteps = args.steps;
    raw.threads = args.threads;
    raw.logging.quiet = true;
    raw.logging.eval_episodes = 0;
    let config = raw.validate(registry)?;
    // A bench run left behind by an interrupted bench would be refused as an existing run.
    let _ = std::fs::remove_dir_all(&dir);
    let start = Instant::now();
    let outcome = crate::train::train(&config, registry, &dir, &mut MemoryLogger::new())?;
    let sps = outcome.task_steps.iter().sum::<u64>() as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(sps)
}
