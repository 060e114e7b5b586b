//! The jobs of a comparison: one training run per method, seed and (for the single-task
//! baseline) task, each with its own config file and run directory under the output folder.

use std::path::{Path, PathBuf};

use anyhow::Context;
use polytask_agents::kernels::KernelChoice;
use polytask_envs::Registry;
use serde::Deserialize;

use crate::config::{set_key, CompareSection, Config, KernelRequest, RawConfig, Role, SINGLE_TASK};
use crate::error::usage;

/// Checkpoints every this many iterations when the config asks for none, so that an
/// interrupted comparison can resume its runs.
const RESUMABLE_CHECKPOINT_INTERVAL: i64 = 25;

/// The same for SAC, whose iterations are `sac.train_freq` steps: a checkpoint every 2000
/// iterations (seconds of training) rather than after every few steps.
const SAC_RESUMABLE_CHECKPOINT_INTERVAL: i64 = 2000;

/// The file in a comparison's folder that records its jobs' kernel choice.
pub const KERNELS_FILE: &str = "kernels.toml";

/// One training run of a comparison.
#[derive(Debug, Clone)]
pub struct Job {
    /// The method's name.
    pub method: String,
    /// The run's seed.
    pub seed: u64,
    /// For single-task runs, the one task trained.
    pub task: Option<String>,
    /// The run directory, `OUT/runs/<method>/seed<seed>[/<task>]`.
    pub run_dir: PathBuf,
    /// The run's own config file, `OUT/jobs/<method>__seed<seed>[__<task>].toml`.
    pub config_path: PathBuf,
    /// That config's text.
    pub config_text: String,
}

impl Job {
    /// A short name for progress lines and errors.
    pub fn label(&self) -> String {
        match &self.task {
            Some(task) => format!("{} seed {} task {task}", self.method, self.seed),
            None => format!("{} seed {}", self.method, self.seed),
        }
    }
}

/// A task as the report sees it.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// The task's name.
    pub name: String,
    /// The return counted as solved, if any.
    pub threshold: Option<f64>,
    /// Main (the objective) or auxiliary (there to help).
    pub role: Role,
    /// The task's environment steps in every run ([`crate::train::task_budget`]): the
    /// single-task baseline gets as many as the task gets in the multi-task runs.
    pub budget: u64,
}

/// Everything a comparison will run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The config file's stem, for titles.
    pub name: String,
    /// Methods in the config's order.
    pub methods: Vec<String>,
    /// The method the others are judged against.
    pub baseline: String,
    /// The tasks, in config order.
    pub tasks: Vec<TaskInfo>,
    /// The seeds, one run of each method per seed.
    pub seeds: Vec<u64>,
    /// The largest task's environment steps ([`TaskInfo::budget`]), the plots' x range.
    pub budget: u64,
    /// The runs.
    pub jobs: Vec<Job>,
    /// [`CompareSection::success_threshold`](crate::config::CompareSection).
    pub success_threshold: f64,
}

/// Plans the comparison of the config at `path` (with `--set` overrides `sets`, and
/// `seeds` overriding `compare.seeds`) into the folder `out`; every job's config is
/// validated against `registry`, so bad methods fail before anything runs.
pub fn plan(
    path: &Path,
    sets: &[String],
    seeds: Option<usize>,
    out: &Path,
    registry: &Registry,
) -> anyhow::Result<Plan> {
    let mut base = RawConfig::load_with(path, sets)?;
    let file = path.display();
    let mut section = base.compare.take().ok_or_else(|| {
        usage(format!(
            "config file {file} has no [compare] section; add one with `methods = [...]` \
             (e.g. [\"single-task\", \"sum\", \"pcgrad\"])"
        ))
    })?;
    if let Some(n) = seeds {
        section.seeds = n;
    }
    check_section(&section, &file.to_string())?;
    let base_config = base.clone().validate(registry)?;
    let mut table = toml::Table::try_from(&base).expect("a config serialises");
    if base_config.logging.checkpoint_interval == 0 {
        let interval = match base_config.sac {
            Some(_) => SAC_RESUMABLE_CHECKPOINT_INTERVAL,
            None => RESUMABLE_CHECKPOINT_INTERVAL,
        };
        set(&mut table, "logging.checkpoint_interval", interval);
    }
    set(&mut table, "logging.quiet", true);
    // SAC's learner does not use the calibrated kernels.
    if base_config.kernels == KernelRequest::Auto && base_config.sac.is_none() {
        let choice = comparison_kernels(&base_config, out)?;
        let value = toml::Value::try_from(choice).expect("a kernel choice serialises");
        table.insert("kernels".into(), value);
    }
    let seeds: Vec<u64> = (0..section.seeds as u64).map(|k| base.seed + k).collect();
    let mut jobs = Vec::new();
    for method in &section.methods {
        for &seed in &seeds {
            let mut t = table.clone();
            set(&mut t, "seed", seed as i64);
            if method == SINGLE_TASK {
                // The baseline: each main task alone, without auxiliary tasks or losses.
                set(&mut t, "surgery.aggregator", "sum");
                t.remove("weighting");
                t.remove("aux_losses");
                for (k, task) in base_config.tasks.iter().enumerate() {
                    if task.role != Role::Main {
                        continue;
                    }
                    let mut single = t.clone();
                    let raw_task = single["tasks"].as_array().expect("tasks")[k].clone();
                    single.insert("tasks".into(), toml::Value::Array(vec![raw_task]));
                    let steps = crate::train::task_budget(&base_config, k);
                    set(&mut single, "total_timesteps", steps as i64);
                    let job = job(out, method, seed, Some(&task.name), single);
                    jobs.push(check_job(job, registry)?);
                }
            } else {
                apply_method(&mut t, method, &section)?;
                jobs.push(check_job(job(out, method, seed, None, t), registry)?);
            }
        }
    }
    Ok(Plan {
        name: path
            .file_stem()
            .map_or("compare".into(), |s| s.to_string_lossy().into_owned()),
        baseline: section.baseline().to_string(),
        methods: section.methods.clone(),
        tasks: base_config
            .tasks
            .iter()
            .enumerate()
            .map(|(k, t)| TaskInfo {
                name: t.name.clone(),
                threshold: t.threshold,
                role: t.role,
                budget: crate::train::task_budget(&base_config, k),
            })
            .collect(),
        seeds,
        budget: (0..base_config.tasks.len())
            .map(|k| crate::train::task_budget(&base_config, k))
            .max()
            .unwrap_or(base_config.total_timesteps),
        jobs,
        success_threshold: section.success_threshold,
    })
}

fn check_section(section: &CompareSection, file: &str) -> anyhow::Result<()> {
    if section.methods.is_empty() {
        return Err(usage(format!(
            "config file {file}: `compare.methods` is empty"
        )));
    }
    if !(section.success_threshold > 0.0 && section.success_threshold <= 1.0) {
        return Err(usage(format!(
            "config file {file}: `compare.success_threshold` = {} must be in (0, 1]",
            section.success_threshold
        )));
    }
    if section.seeds == 0 {
        return Err(usage(format!(
            "config file {file}: `compare.seeds` must be at least 1"
        )));
    }
    for (k, m) in section.methods.iter().enumerate() {
        if section.methods[..k].contains(m) {
            return Err(usage(format!(
                "config file {file}: `compare.methods` lists `{m}` twice"
            )));
        }
        let safe = m
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+.".contains(c));
        if !safe || m.starts_with('.') {
            return Err(usage(format!(
                "config file {file}: method name `{m}` is also a folder name; use letters, \
                 digits and - _ + . only"
            )));
        }
    }
    if !section.methods.iter().any(|m| m == section.baseline()) {
        return Err(usage(format!(
            "config file {file}: `compare.baseline` `{}` is not among `compare.methods`",
            section.baseline()
        )));
    }
    Ok(())
}

/// Applies a method to a run's config: a variant's overrides, or each `+`-separated part
/// of its name as an aggregator or a weighting (`pcgrad`, `uncertainty`,
/// `pcgrad+uncertainty`).
fn apply_method(
    table: &mut toml::Table,
    method: &str,
    section: &CompareSection,
) -> anyhow::Result<()> {
    if let Some(overrides) = section.variants.get(method) {
        for (key, value) in overrides {
            set_key(table, key, value.clone())
                .map_err(|e| usage(format!("config: `compare.variants.{method}`: {e}")))?;
        }
        return Ok(());
    }
    for part in method.split('+') {
        if polytask_agents::weighting::NAMES.contains(&part) {
            set(table, "weighting.name", part);
        } else {
            set(table, "surgery.aggregator", part);
        }
    }
    Ok(())
}

/// The kernel choice of every job of a comparison whose config says `kernels = "auto"`: the
/// one recorded in `out/kernels.toml` by an earlier start of the comparison, else this
/// machine's choice for the multi-task runs' shapes, recorded there, so that every job, on
/// this machine or another, and every resumption computes with the same kernels.
fn comparison_kernels(config: &Config, out: &Path) -> anyhow::Result<KernelChoice> {
    let path = out.join(KERNELS_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return toml::from_str(&text).map_err(|e| {
            usage(format!(
                "{} does not hold a kernel choice ({e}); delete it to choose again",
                path.display()
            ))
        });
    }
    let choice = crate::train::kernels::resolve(config, tch::Device::Cpu, None)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let text = toml::to_string(&choice).expect("a kernel choice serialises");
    crate::durable::replace_file(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(choice)
}

fn set(table: &mut toml::Table, key: &str, value: impl Into<toml::Value>) {
    set_key(table, key, value.into()).expect("internal keys are well formed");
}

fn job(out: &Path, method: &str, seed: u64, task: Option<&str>, table: toml::Table) -> Job {
    let mut run_dir = out.join("runs").join(method).join(format!("seed{seed}"));
    let mut file = format!("{method}__seed{seed}");
    if let Some(task) = task {
        run_dir.push(task);
        file.push_str(&format!("__{task}"));
    }
    Job {
        method: method.to_string(),
        seed,
        task: task.map(str::to_string),
        run_dir,
        config_path: out.join("jobs").join(format!("{file}.toml")),
        config_text: toml::to_string(&table).expect("a config serialises"),
    }
}

/// Validates a job's config; the error names the method (a misspelt aggregator, say).
fn check_job(job: Job, registry: &Registry) -> anyhow::Result<Job> {
    let table: toml::Table = toml::from_str(&job.config_text).expect("the plan writes TOML");
    let fail = |e: &dyn std::fmt::Display| usage(format!("method `{}`: {e:#}", job.method));
    let raw = RawConfig::deserialize(table).map_err(|e| fail(&e))?;
    raw.validate(registry).map_err(|e| fail(&e))?;
    Ok(job)
}
