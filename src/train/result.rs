//! `result.json`: what a finished run reports — steps per task, final evaluation, speed.
//! It is written last, atomically, so its presence marks a run as finished (`polytask
//! compare --resume` relies on that).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::TrainOutcome;

/// The file name inside a run directory.
pub const RESULT_FILE: &str = "result.json";

/// One task's final numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task's name.
    pub task: String,
    /// Environment steps the task took.
    pub steps: u64,
    /// Returns of the final evaluation's episodes (empty without evaluation).
    pub eval_returns: Vec<f64>,
    /// The task's environment metrics in the final evaluation (e.g. `success`): each
    /// episode's value, by metric name; absent for tasks without metrics.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub eval_metrics: BTreeMap<String, Vec<f64>>,
}

impl TaskResult {
    /// The final evaluation's mean of metric `name` (for `success`: the success rate);
    /// `None` if the task has no such metric or was not evaluated.
    pub fn eval_rate(&self, name: &str) -> Option<f64> {
        let values = self.eval_metrics.get(name).filter(|v| !v.is_empty())?;
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }

    /// Mean evaluation return; NaN without evaluation.
    pub fn eval_mean(&self) -> f64 {
        self.eval_returns.iter().sum::<f64>() / self.eval_returns.len() as f64
    }
}

/// A finished run's `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Per task, in config order.
    pub tasks: Vec<TaskResult>,
    /// Environment steps per second (all tasks together) of the last start of the run.
    pub sps: f64,
}

impl RunResult {
    /// The result of `outcome` for tasks named `names`.
    pub fn of(outcome: &TrainOutcome, names: &[String]) -> Self {
        let tasks = outcome
            .task_steps
            .iter()
            .enumerate()
            .zip(names)
            .map(|((t, &steps), name)| {
                let eval = outcome.evaluation.get(t);
                TaskResult {
                    task: name.clone(),
                    steps,
                    eval_returns: eval.map_or_else(Vec::new, |e| e.returns.clone()),
                    eval_metrics: eval
                        .map_or_else(BTreeMap::new, |e| e.metrics.iter().cloned().collect()),
                }
            })
            .collect();
        Self {
            tasks,
            sps: outcome.sps,
        }
    }

    /// Writes `run_dir/result.json` through a temporary file and a rename.
    pub fn write(&self, run_dir: &Path) -> anyhow::Result<()> {
        let path = run_dir.join(RESULT_FILE);
        let json = serde_json::to_string_pretty(self).expect("results serialise");
        crate::durable::replace_file(&path, json.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads `run_dir/result.json`; `Ok(None)` when the run has not finished.
    pub fn read(run_dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = run_dir.join(RESULT_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let result = serde_json::from_str(&text)
            .map_err(|e| crate::error::usage(format!("{} is malformed: {e}", path.display())))?;
        Ok(Some(result))
    }
}
