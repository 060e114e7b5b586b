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

/// Runs `scripts/<script>` with `args` under `python` and reads the steps/s it prints on the
/// line starting with `rate_prefix`, and the versions on the line starting with
/// `versions_prefix`: the Python baselines that the benches time in the same invocation.
fn python_baseline(
    python: &std::path::Path,
    script: &str,
    args: &[&str],
    rate_prefix: &str,
    versions_prefix: &str,
) -> anyhow::Result<(f64, String)> {
    use anyhow::Context;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let out = std::process::Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        anyhow::bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let sps = stdout
        .lines()
        .find_map(|l| l.strip_prefix(rate_prefix)?.trim().parse().ok())
        .with_context(|| {
            format!(
                "{} printed no `{rate_prefix}<steps/s>` line: {stdout}",
                script.display()
            )
        })?;
    let versions = stdout
        .lines()
        .find_map(|l| l.strip_prefix(versions_prefix))
        .unwrap_or("")
        .to_string();
    Ok((sps, versions))
}
