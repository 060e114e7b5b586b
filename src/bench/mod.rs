//! `polytask bench`: measurements of polytask's hot paths, each printed next to a plain
//! baseline measured in the same run.

pub mod envs;
pub mod learner;
pub mod surgery;
pub mod train;

use clap::Subcommand;
use polytask_envs::Registry;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Steps/s of the vector env against a plain single-threaded loop over the same envs.
    Envs(envs::EnvsArgs),
    /// Time of a learner step with a surgery aggregator against the plain summed step.
    Learner(learner::LearnerArgs),
    /// Time of each gradient-surgery aggregator on a random `[T, P]` matrix against `sum`.
    Surgery(surgery::SurgeryArgs),
    /// End-to-end PPO training speed on CartPole-v1, optionally against Stable-Baselines3.
    Train(train::TrainArgs),
}

/// Runs `polytask bench <command>` and prints its report.
pub fn run(command: &BenchCommand, registry: &Registry) -> anyhow::Result<()> {
    let report = match command {
        BenchCommand::Envs(args) => envs::run(args, registry)?,
        BenchCommand::Learner(args) => learner::run(args)?,
        BenchCommand::Surgery(args) => surgery::run(args)?,
        BenchCommand::Train(args) => train::run(args, registry)?,
    };
    print!("{report}");
    Ok(())
}
