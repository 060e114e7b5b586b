//! `polytask bench`: measurements of polytask's hot paths against plain baselines measured
//! in the same run ([`crate::bench`] holds them, each with its own arguments).

use clap::Subcommand;
use polytask_envs::Registry;

use crate::bench;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Steps/s of the vector env against a plain single-threaded loop over the same envs.
    Envs(bench::envs::EnvsArgs),
    /// Each learner kernel (tanh, products) as a host loop against libtorch's operation.
    Kernels(bench::kernels::KernelsArgs),
    /// Time of a learner step with a surgery aggregator against the plain summed step.
    Learner(bench::learner::LearnerArgs),
    /// Time of each gradient-surgery aggregator on a random `[T, P]` matrix against `sum`.
    Surgery(bench::surgery::SurgeryArgs),
    /// End-to-end PPO training speed on CartPole-v1, optionally against Stable-Baselines3.
    Train(bench::train::TrainArgs),
}

/// Runs `polytask bench <command>` and prints its report.
pub fn run(command: &BenchCommand, registry: &Registry) -> anyhow::Result<()> {
    let report = match command {
        BenchCommand::Envs(args) => bench::envs::run(args, registry)?,
        BenchCommand::Kernels(args) => bench::kernels::run(args)?,
        BenchCommand::Learner(args) => bench::learner::run(args)?,
        BenchCommand::Surgery(args) => bench::surgery::run(args)?,
        BenchCommand::Train(args) => bench::train::run(args, registry)?,
    };
    print!("{report}");
    Ok(())
}
