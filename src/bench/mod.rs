//! `polytask bench`: measurements of polytask's hot paths, each printed next to a plain
//! baseline measured in the same run.

pub mod envs;

use clap::Subcommand;
use polytask_envs::Registry;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Steps/s of the vector env against a plain single-threaded loop over the same envs.
    Envs(envs::EnvsArgs),
}

/// Runs `polytask bench <command>` and prints its report.
pub fn run(command: &BenchCommand, registry: &Registry) -> anyhow::Result<()> {
    match command {
        BenchCommand::Envs(args) => {
            print!("{}", envs::run(args, registry)?);
            Ok(())
        }
    }
}
