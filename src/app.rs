//! The whole command-line program as a library function, so that a crate with its own
//! environments can ship a `polytask` binary that knows them: build a [`Registry`] (the
//! built-in one plus your ids) and hand it to [`main_with`].

use std::process::ExitCode;

use clap::Parser;
use polytask_envs::Registry;

use crate::cli::{Cli, Command};
use crate::{envs_list, error, eval_command, rollout, train_command};

/// Parses the command line, runs the command against `registry`, reports any error as one
/// paragraph and returns 0 (success), 2 (usage or config error) or 1 (runtime failure).
pub fn main_with(registry: Registry) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", error::one_paragraph(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    match run(cli, &registry) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<error::Interrupted>() => {
            eprintln!("{err}");
            ExitCode::from(error::exit_code(&err) as u8)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(error::exit_code(&err) as u8)
        }
    }
}

/// Runs one parsed command against `registry`.
pub fn run(cli: Cli, registry: &Registry) -> anyhow::Result<()> {
    match cli.command {
        Command::Envs => {
            print!("{}", envs_list::listing(registry));
            Ok(())
        }
        Command::Rollout(args) => rollout::run(&args, registry),
        Command::Bench { command } => crate::bench::run(&command, registry),
        Command::Train(args) => train_command::run(&args, registry),
        Command::Eval(args) => eval_command::run(&args, registry),
        Command::Compare(args) => crate::compare::run(&args, registry),
    }
}
