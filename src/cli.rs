//! The command line, parsed by clap into raw arguments; each command resolves them further.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// polytask: multi-task reinforcement learning with gradient surgery.
#[derive(Debug, Parser)]
#[command(name = "polytask", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a multi-task agent on the tasks of a config file.
    Train(TrainArgs),
    /// Compare methods (multi-task aggregators, single-task baseline) on a config's tasks
    /// with equal budgets and seeds; writes a report with tables and plots.
    Compare(CompareArgs),
    /// Evaluate a checkpoint: mean ± std return per task.
    Eval(EvalArgs),
    /// List the registered environment ids with their spaces and parameters.
    Envs,
    /// Step one environment with a random policy and print one JSON line per step.
    Rollout(RolloutArgs),
    /// Measure the speed of polytask's hot paths against plain baselines.
    Bench {
        /// What to measure.
        #[command(subcommand)]
        command: crate::bench::BenchCommand,
    },
}

/// Arguments of `polytask train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The TOML config file, e.g. configs/cartpole.toml.
    pub config: PathBuf,
    /// Override a config key, e.g. `--set algorithm.learning_rate=3e-4`; repeat for several.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Override the config's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the config's `device`: cpu, cuda, cuda:N or auto.
    #[arg(long)]
    pub device: Option<String>,
    /// Name of the run directory under `logging.run_dir` (default: config name, seed, time).
    #[arg(long)]
    pub run_name: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Continue the run named by `--run-name` from its checkpoint (weights, optimizer,
    /// normalisers, step counters); starts it if it has none.
    #[arg(long, requires = "run_name")]
    pub resume: bool,
}

/// Arguments of `polytask compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// A TOML config with a `[compare]` section, e.g. configs/compare-cartpole-family.toml.
    pub config: PathBuf,
    /// Seeds per method (overrides `compare.seeds`).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Runs at a time (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Output folder (default: `compare/<config name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue a comparison in --out: skip finished runs, resume unfinished ones from their
    /// checkpoints.
    #[arg(long)]
    pub resume: bool,
    /// Override a config key for every run, e.g. `--set total_timesteps=50000`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Print only the report's location.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `polytask eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A checkpoint folder (`<run dir>/checkpoint`) or a run directory holding one.
    pub checkpoint: PathBuf,
    /// Episodes per task.
    #[arg(long, default_value_t = 10)]
    pub episodes: usize,
    /// Take the most likely action instead of sampling.
    #[arg(long)]
    pub deterministic: bool,
    /// Seed of the evaluation environments and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Arguments of `polytask rollout`.
#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// Environment id, e.g. CartPole-v1 (see `polytask envs`).
    #[arg(long)]
    pub env: String,
    /// Environment parameter as NAME=VALUE; repeat for several.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Seed of the first reset and of the random policy.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of steps to take; episodes that end are reset and go on.
    #[arg(long, default_value_t = 1000)]
    pub steps: u64,
    /// Write the lines to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Parses `NAME=VALUE` pairs given with `--param` into environment parameters.
pub fn parse_params(pairs: &[String]) -> anyhow::Result<polytask_envs::Params> {
    let mut params = polytask_envs::Params::new();
    for pair in pairs {
        let (name, value) = pair.split_once('=').ok_or_else(|| {
            crate::error::usage(format!("--param `{pair}` is not of the form NAME=VALUE"))
        })?;
        let value: f64 = value.trim().parse().map_err(|_| {
            crate::error::usage(format!(
                "--param `{pair}`: the value `{value}` of `{name}` is not a number"
            ))
        })?;
        params.set(name.trim(), value);
    }
    Ok(params)
}
