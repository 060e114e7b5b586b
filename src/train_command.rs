//! `polytask train`: resolves the config and command-line overrides, creates the run
//! directory and its TensorBoard log, trains, and prints where everything went.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use polytask_envs::Registry;

use crate::cli::TrainArgs;
use crate::config::{Config, RawConfig};
use crate::logger::TensorBoardLogger;
use crate::train::{self, TrainOutcome};

/// Loads `args.config` with the overrides of `args` and checks it.
pub fn resolve_config(args: &TrainArgs, registry: &Registry) -> anyhow::Result<Config> {
    let mut raw = RawConfig::load_with(&args.config, &args.sets)?;
    if let Some(seed) = args.seed {
        raw.seed = seed;
    }
    if let Some(device) = &args.device {
        raw.device = device.clone();
    }
    if args.quiet {
        raw.logging.quiet = true;
    }
    raw.validate(registry)
}

/// The run directory: `logging.run_dir/<run name>`, by default
/// `<config file stem>__<seed>__<unix time>` as CleanRL names its runs.
pub fn run_dir(args: &TrainArgs, config: &Config) -> PathBuf {
    let name = args.run_name.clone().unwrap_or_else(|| {
        let stem = args
            .config
            .file_stem()
            .map_or("run".into(), |s| s.to_string_lossy().into_owned());
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("{stem}__{}__{time}", config.seed)
    });
    PathBuf::from(&config.logging.run_dir).join(name)
}

/// Runs `polytask train`.
pub fn run(args: &TrainArgs, registry: &Registry) -> anyhow::Result<()> {
    let config = resolve_config(args, registry)?;
    let dir = run_dir(args, &config);
    let mut logger = TensorBoardLogger::create(&dir)?;
    let outcome = if args.resume {
        train::resume(&config, registry, &dir, &mut logger)?
    } else {
        train::train(&config, registry, &dir, &mut logger)?
    };
    report(&outcome);
    Ok(())
}

fn report(outcome: &TrainOutcome) {
    println!("run directory: {}", outcome.run_dir.display());
    println!(
        "  tensorboard --logdir {}",
        outcome
            .run_dir
            .parent()
            .unwrap_or(&outcome.run_dir)
            .display()
    );
    println!(
        "  checkpoint:  {}",
        train::checkpoint_dir(&outcome.run_dir).display()
    );
    println!("  {:.0} environment steps/s", outcome.sps);
    for e in &outcome.evaluation {
        println!(
            "  eval {}: {:.2} ± {:.2} over {} episodes",
            e.task,
            e.mean(),
            e.std(),
            e.returns.len()
        );
    }
}
