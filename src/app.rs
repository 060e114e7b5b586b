//! The whole command-line program as a library function, so that a crate with its own
//! environments can ship a `polytask` binary that knows them: build a [`Registry`] (the
//! built-in one plus your ids) and hand it to [`main_with`].

use std::process::ExitCode;

use clap::Parser;
use polytask_envs::Registry;

use crate::commands::Cli;
use crate::error;

/// Parses the command line, runs the command against `registry`, reports any error as one
/// paragraph and returns 0 (success), 2 (usage or config error) or 1 (runtime failure). It
/// first sets the heap to keep freed tensor memory ([`crate::heap`]).
pub fn main_with(registry: Registry) -> ExitCode {
    crate::heap::keep_freed_memory();
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

/// Runs one parsed command against `registry` (see [`crate::commands::run`]).
pub fn run(cli: Cli, registry: &Registry) -> anyhow::Result<()> {
    crate::commands::run(cli, registry)
}
