//! The numbers of a finished comparison, per method and task: each seed's final evaluation
//! return, binned learning curve, area under it and steps to the task's threshold; and per
//! multi-task method the gradient cosine similarity of each task pair at every logged update.

use std::collections::BTreeMap;

use super::conflict_summary::SummaryCurves;
use super::curves::{read_run, Curve, RunCurves};
use super::plan::{Job, Plan};
use super::stats;
use crate::train::RunResult;

/// Points on each binned curve.
pub const BINS: usize = 50;

/// One method on one task, one entry per seed (in seed order).
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// Mean return of each seed's final evaluation.
    pub final_returns: Vec<f64>,
    /// Each seed's learning curve on [`BINS`] intervals of the budget.
    pub binned: Vec<Vec<f64>>,
    /// Each seed's area under the learning curve (mean return over training).
    pub auc: Vec<f64>,
    /// Each seed's steps to the threshold (`None`: not reached, or no threshold).
    pub to_threshold: Vec<Option<u64>>,
    /// Each seed's final evaluation success rate; NaN where the task reports no `success`.
    pub final_success: Vec<f64>,
    /// Each seed's steps until its training success rate (`charts/<task>/success_rate`, the
    /// mean of the last 20 episodes, counted once 20 episodes ended) first reached the
    /// plan's success threshold (`None`: never, or no `success`).
    pub to_success: Vec<Option<u64>>,
}

impl Cell {
    /// Whether the task reports a success rate.
    pub fn has_success(&self) -> bool {
        self.final_success.iter().any(|s| !s.is_nan())
    }
}

/// Everything the report and plots show, plus the raw curves for `results.csv`.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// `(method, task)` → its cell.
    pub cells: BTreeMap<(String, String), Cell>,
    /// `method` → task pair `a__b` → each seed's cosine of every logged update, at the
    /// task's environment step.
    pub cos_updates: BTreeMap<String, BTreeMap<String, Vec<Curve>>>,
    /// `method` → stage (`""`, or SAC's `critic` and `actor`) → each seed's summary of the
    /// cosines, at the task's environment step: runs with more tasks than
    /// `logging.pairwise_limit`.
    pub cos_summaries: BTreeMap<String, BTreeMap<String, Vec<SummaryCurves>>>,
    /// `(method, seed, task, curve)` of every run, in plan order.
    pub curves: Vec<(String, u64, String, Curve)>,
}

impl Summary {
    /// The cell of `method` on `task`.
    pub fn cell(&self, method: &str, task: &str) -> Option<&Cell> {
        self.cells.get(&(method.to_string(), task.to_string()))
    }

    /// The multi-task methods of `methods` that logged gradient cosines, per pair or as
    /// summaries, in that order.
    pub fn conflict_methods<'a>(&self, methods: &'a [String]) -> Vec<&'a String> {
        (methods.iter())
            .filter(|m| self.cos_updates.contains_key(*m) || self.cos_summaries.contains_key(*m))
            .collect()
    }

    /// Whether some method logged gradient cosines.
    pub fn has_conflicts(&self) -> bool {
        !self.cos_updates.is_empty() || !self.cos_summaries.is_empty()
    }
}

/// Reads every job's results and curves and summarises them.
pub fn summarise(plan: &Plan) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    for job in &plan.jobs {
        let result = RunResult::read(&job.run_dir)?.ok_or_else(|| {
            anyhow::anyhow!(
                "run {} has not finished ({} has no result.json)",
                job.label(),
                job.run_dir.display()
            )
        })?;
        let curves = read_run(&job.run_dir)?;
        add_run(&mut summary, plan, job, &result, &curves);
    }
    Ok(summary)
}

fn add_run(summary: &mut Summary, plan: &Plan, job: &Job, result: &RunResult, curves: &RunCurves) {
    for task in &result.tasks {
        let info = plan.tasks.iter().find(|t| t.name == task.task);
        let threshold = info.and_then(|t| t.threshold);
        let budget = info.map_or(plan.budget, |t| t.budget);
        let curve = curves.returns.get(&task.task).cloned().unwrap_or_default();
        let binned = stats::binned(&curve, budget, BINS);
        let cell = summary
            .cells
            .entry((job.method.clone(), task.task.clone()))
            .or_default();
        cell.final_returns.push(task.eval_mean());
        cell.auc.push(stats::auc(&binned));
        cell.binned.push(binned);
        cell.to_threshold
            .push(threshold.and_then(|th| stats::steps_to_threshold(&curve, th)));
        cell.final_success
            .push(task.eval_rate("success").unwrap_or(f64::NAN));
        let success = curves.success.get(&task.task);
        // Each point is already the mean of the last 20 episodes (fewer at the start, which
        // are skipped here, as steps_to_threshold waits for a full window).
        cell.to_success.push(success.and_then(|curve| {
            let mut full = curve.iter().skip(stats::THRESHOLD_WINDOW - 1);
            let reached = full.find(|&&(_, rate)| rate >= plan.success_threshold);
            reached.map(|&(step, _)| step)
        }));
        summary
            .curves
            .push((job.method.clone(), job.seed, task.task.clone(), curve));
    }
    let tasks = result.tasks.len() as u64;
    for (pair, curve) in &curves.cos_sim {
        // Logged at the global step; with equal environments per task, a task's own step
        // is the global step over the number of tasks.
        let per_task: Curve = curve.iter().map(|&(s, v)| (s / tasks, v)).collect();
        summary
            .cos_updates
            .entry(job.method.clone())
            .or_default()
            .entry(pair.clone())
            .or_default()
            .push(per_task);
    }
    for (stage, curves) in &curves.cos_summaries {
        summary
            .cos_summaries
            .entry(job.method.clone())
            .or_default()
            .entry(stage.clone())
            .or_default()
            .push(curves.per_task(tasks));
    }
}

/// Mean and 95% CI half-width over seeds of binned curves, bin by bin (bins where a seed
/// has no value yet are left out for that seed).
pub fn band(curves: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let bins = curves.first().map_or(0, Vec::len);
    (0..bins)
        .map(|k| {
            let xs: Vec<f64> = curves
                .iter()
                .map(|c| c[k])
                .filter(|v| !v.is_nan())
                .collect();
            if xs.is_empty() {
                (f64::NAN, f64::NAN)
            } else {
                stats::mean_ci95(&xs)
            }
        })
        .collect()
}
