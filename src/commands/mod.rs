//! The command line: the top-level clap parser ([`Cli`]) and one module per command of the
//! `polytask` binary, each owning its arguments; [`crate::app`] parses and calls [`run`].

pub mod bench;
pub mod compare;
pub mod env_worker;
pub mod envs;
pub mod eval;
pub mod rollout;
pub mod train;

use clap::{Parser, Subcommand};
use polytask_envs::Registry;

pub use compare::CompareArgs;
pub use eval::EvalArgs;
pub use rollout::RolloutArgs;
pub use train::TrainArgs;

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
        command: bench::BenchCommand,
    },
    /// A worker process of the vector env (started by it, not by hand).
    #[command(hide = true)]
    EnvWorker(env_worker::EnvWorkerArgs),
}

/// Runs one parsed command against `registry`.
pub fn run(cli: Cli, registry: &Registry) -> anyhow::Result<()> {
    match cli.command {
        Command::Envs => {
            print!("{}", envs::listing(registry));
            Ok(())
        }
        Command::Rollout(args) => rollout::run(&args, registry),
        Command::Bench { command } => bench::run(&command, registry),
        Command::Train(args) => train::run(&args, registry),
        Command::Eval(args) => eval::run(&args, registry),
        Command::Compare(args) => compare::run(&args, registry),
        Command::EnvWorker(args) => env_worker::run(&args, registry),
    }
}
