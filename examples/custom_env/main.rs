//! Your own environment in polytask: `Reach-v0` (reach.rs) implements `polytask_envs::Env`,
//! is registered under its id with a parameter, checked with `check_env`, and trained.
//!
//! ```sh
//! # check Reach-v0, train it with the library API on reach.toml, compare with the optimum
//! cargo run --release --example custom_env
//! # the whole polytask command line, with Reach-v0 registered
//! cargo run --release --example custom_env -- envs
//! cargo run --release --example custom_env -- train examples/custom_env/reach.toml
//! ```

mod reach;

use std::path::Path;
use std::process::ExitCode;

use polytask::config::RawConfig;
use polytask::envs::rng::NpRandom;
use polytask::envs::{check_env, Action, Env, Params, Registry};
use polytask::logger::TensorBoardLogger;

/// The run configuration that [`train_reach`] trains (copy it along with this file).
const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/custom_env/reach.toml"
);

fn main() -> ExitCode {
    let registry = reach::registry();
    if std::env::args_os().len() > 1 {
        // With arguments this is the `polytask` binary, Reach-v0 included.
        return polytask::app::main_with(registry);
    }
    match train_reach(&registry, Path::new("runs/custom_env"), None) {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// One task's evaluation after training, next to what the optimal and a random policy get.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The task's name in reach.toml.
    pub task: String,
    /// The trained policy's mean return in the final evaluation (greedy actions).
    pub trained: f64,
    /// The optimal policy's mean return, `-(length + 2) / 3`.
    pub optimal: f64,
    /// A uniformly random policy's mean return, estimated over 1000 episodes.
    pub random: f64,
}

/// Checks `Reach-v0` with `check_env`, trains on [`CONFIG`] (with `total_timesteps` if given)
/// into `run_dir`, and prints every task's evaluation next to the optimum and a random policy.
pub fn train_reach(
    registry: &Registry,
    run_dir: &Path,
    total_timesteps: Option<u64>,
) -> anyhow::Result<Vec<Comparison>> {
    let mut env = registry.make(reach::ID, &Params::new())?;
    let report = check_env(&mut *env)?;
    println!(
        "{} passes check_env ({} random steps)",
        report.env, report.steps
    );
    for warning in &report.warnings {
        println!("  warning: {warning}");
    }

    let mut raw = RawConfig::load(Path::new(CONFIG))?;
    if let Some(steps) = total_timesteps {
        raw.total_timesteps = steps;
    }
    let config = raw.validate(registry)?;
    let mut logger = TensorBoardLogger::create(run_dir)?;
    let outcome = polytask::train::train(&config, registry, run_dir, &mut logger)?;
    println!("run directory: {}", outcome.run_dir.display());

    let mut comparisons = Vec::new();
    for (task, evaluation) in config.tasks.iter().zip(&outcome.evaluation) {
        let length = task
            .params
            .number("length")
            .unwrap_or(reach::DEFAULT_LENGTH);
        let comparison = Comparison {
            task: task.name.clone(),
            trained: evaluation.mean(),
            optimal: reach::optimal_return(length as u32),
            random: random_return(registry, &task.params, 1000)?,
        };
        println!(
            "{}: trained {:.2}, optimal {:.2}, random {:.2} (mean return over {} episodes)",
            comparison.task,
            comparison.trained,
            comparison.optimal,
            comparison.random,
            evaluation.returns.len()
        );
        comparisons.push(comparison);
    }
    Ok(comparisons)
}

/// The mean return of a policy that picks actions uniformly at random, over `episodes`
/// seeded episodes of `Reach-v0` with `params` (time limit included).
pub fn random_return(registry: &Registry, params: &Params, episodes: u64) -> anyhow::Result<f64> {
    let mut env = registry.make(reach::ID, params)?;
    let mut rng = NpRandom::from_seed(0);
    let (mut obs, mut action) = ([0.0; 2], [0.0]);
    let mut total = 0.0;
    for episode in 0..episodes {
        env.reset(Some(episode), &mut obs);
        loop {
            env.action_space().sample_into(&mut rng, &mut action);
            let step = env.step(Action::from_flat(env.action_space(), &action), &mut obs)?;
            total += step.reward;
            if step.done() {
                break;
            }
        }
    }
    Ok(total / episodes as f64)
}
