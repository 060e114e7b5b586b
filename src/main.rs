//! The `polytask` binary: parses the command line, runs the command, reports any error as one
//! paragraph and exits with 0 (success), 2 (usage or config error) or 1 (runtime failure).

use std::process::ExitCode;

use clap::Parser;
use polytask::cli::{Cli, Command};
use polytask::config::RawConfig;
use polytask::envs::Registry;
use polytask::{envs_list, error, random_policy, rollout};

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
        Command::Train(args) => {
            let mut raw = RawConfig::load(&args.config)?;
            raw.seed = args.seed.unwrap_or(raw.seed);
            let config = raw.validate(&registry)?;
            for r in random_policy::run(&config, &registry)? {
                println!(
                    "{}: random policy, {} episodes, mean return {:.2}",
                    r.task, r.episodes, r.mean_return
                );
            }
            Ok(())
        }
    }
}
