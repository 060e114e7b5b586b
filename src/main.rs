//! The `polytask` binary: parses the command line, runs the command, reports any error as one
//! paragraph and exits with 0 (success), 2 (usage or config error) or 1 (runtime failure).

use std::process::ExitCode;

use clap::Parser;
use polytask::cli::{Cli, Command};
use polytask::envs::Registry;
use polytask::{envs_list, error, eval_command, rollout, train_command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", error::one_paragraph(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(error::exit_code(&err) as u8)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let registry = Registry::builtin();
    match cli.command {
        Command::Envs => {
            print!("{}", envs_list::listing(&registry));
            Ok(())
        }
        Command::Rollout(args) => rollout::run(&args, &registry),
        Command::Bench { command } => polytask::bench::run(&command, &registry),
        Command::Train(args) => train_command::run(&args, &registry),
        Command::Eval(args) => eval_command::run(&args, &registry),
    }
}
