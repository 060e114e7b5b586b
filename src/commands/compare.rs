//! `polytask compare`: trains every method of a config's `[compare]` section on the same
//! tasks, budgets and seeds, then writes the report ([`crate::compare`] does the work).

use std::path::{Path, PathBuf};

use anyhow::Context;
use polytask_envs::Registry;

use crate::compare;
use crate::error::usage;

/// Arguments of `polytask compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// A TOML config with a `[compare]` section, e.g. configs/compare-cartpole-family.toml.
    pub config: PathBuf,
    /// Seeds per method (overrides `compare.seeds`).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Runs at a time (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Output folder (default: `compare/<config name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue a comparison in --out: skip finished runs, resume unfinished ones from their
    /// checkpoints.
    #[arg(long)]
    pub resume: bool,
    /// Override a config key for every run, e.g. `--set total_timesteps=50000`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Print only the report's location.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `polytask compare`.
pub fn run(args: &CompareArgs, registry: &Registry) -> anyhow::Result<()> {
    if args.jobs == Some(0) {
        return Err(usage("compare: --jobs must be at least 1"));
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.config));
    let plan = compare::plan(&args.config, &args.sets, args.seeds, &out, registry)?;
    check_out(&out, args.resume)?;
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let parallel = args.jobs.unwrap_or_else(default_jobs);
    crate::interrupt::install();
    if !args.quiet {
        println!(
            "compare {}: {} methods × {} seeds = {} runs, {} at a time, into {}",
            plan.name,
            plan.methods.len(),
            plan.seeds.len(),
            plan.jobs.len(),
            parallel,
            out.display()
        );
    }
    let failed = compare::jobs::run_jobs(&plan.jobs, parallel, args.quiet)?;
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} runs failed ({}); their train.log files say why. Fix the cause and run \
             the same command with --resume: finished runs are kept",
            failed.len(),
            plan.jobs.len(),
            failed.join(", ")
        );
    }
    let summary = compare::summarise(&plan)?;
    let plots = compare::plots::draw_all(&out, &plan, &summary)?;
    compare::report::write_all(&out, &plan, &summary, &plots)?;
    println!("report: {}", out.join("report.md").display());
    println!("  tensorboard --logdir {}", out.join("runs").display());
    Ok(())
}

/// `compare/<config file stem>`.
fn default_out(config: &Path) -> PathBuf {
    let stem = config
        .file_stem()
        .map_or("compare".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from("compare").join(stem)
}

/// One job per core: a classic-control run keeps about one core busy.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Refuses to mix a new comparison into a folder holding runs, unless resuming.
fn check_out(out: &Path, resume: bool) -> anyhow::Result<()> {
    let runs = out.join("runs");
    let has_runs = std::fs::read_dir(&runs).is_ok_and(|mut d| d.next().is_some());
    if has_runs && !resume {
        return Err(usage(format!(
            "{} already holds runs; pass --resume to continue that comparison (finished runs \
             are kept), or choose another --out",
            out.display()
        )));
    }
    Ok(())
}
