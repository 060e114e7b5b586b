//! `polytask train`: resolves the config and command-line overrides, creates the run
//! directory and its TensorBoard log, trains, and prints where everything went.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use polytask_envs::Registry;

use crate::config::{Config, RawConfig};
use crate::error::Interrupted;
use crate::logger::TensorBoardLogger;
use crate::train::{self, TrainOutcome};

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

/// Runs `polytask train`. The first SIGINT or SIGTERM stops it after the current update
/// with a checkpoint, and the error says the exact command that resumes the run.
pub fn run(args: &TrainArgs, registry: &Registry) -> anyhow::Result<()> {
    let config = resolve_config(args, registry)?;
    let dir = run_dir(args, &config);
    crate::interrupt::install();
    let mut logger = TensorBoardLogger::create(&dir)?;
    let result = if args.resume {
        train::resume(&config, registry, &dir, &mut logger)
    } else {
        train::train(&config, registry, &dir, &mut logger)
    };
    match result {
        Ok(outcome) => {
            report(&outcome);
            Ok(())
        }
        Err(err) => Err(with_resume_command(err, &dir)),
    }
}

/// Adds to an [`Interrupted`] error the command that resumes the run in `run_dir`: this
/// process's own command line with `--run-name` set and `--resume` added.
fn with_resume_command(err: anyhow::Error, run_dir: &Path) -> anyhow::Error {
    let Some(stop) = err.downcast_ref::<Interrupted>() else {
        return err;
    };
    let name = run_dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut words: Vec<String> = Vec::new();
    let mut args = std::env::args();
    words.extend(
        args.next()
            .map(|exe| exe.rsplit('/').next().unwrap_or(&exe).to_string()),
    );
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--resume" => {}
            "--run-name" => {
                args.next();
            }
            _ if arg.starts_with("--run-name=") => {}
            _ => words.push(arg),
        }
    }
    words.extend(["--run-name".to_string(), name, "--resume".to_string()]);
    let command: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
    anyhow::Error::new(Interrupted {
        signal: stop.signal,
        message: format!("{}; continue it with: {}", stop.message, command.join(" ")),
    })
}

/// `word` quoted for a POSIX shell where it needs to be.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
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
        println!("  eval {}: {}", e.task, e.summary());
    }
    let successes: Vec<f64> = (outcome.evaluation.iter())
        .filter_map(|e| e.metric_mean("success"))
        .collect();
    if successes.len() > 1 {
        let mean = successes.iter().sum::<f64>() / successes.len() as f64;
        println!(
            "  eval success_rate, mean over the {} tasks: {mean:.3}",
            successes.len()
        );
    }
}
