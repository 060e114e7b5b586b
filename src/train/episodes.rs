//! Per-task bookkeeping of environment steps and finished episodes during training.

use std::collections::VecDeque;

use crate::vec_env::VecEnv;

/// Episodes kept per task for the console's recent mean return and the metrics' rates.
pub const RECENT: usize = 20;

/// A finished episode, stamped with its task's environment-step count when it ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finished {
    /// Task index.
    pub task: usize,
    /// The task's environment steps so far.
    pub task_step: u64,
    /// Undiscounted return.
    pub episode_return: f64,
    /// Length in steps.
    pub length: u64,
}

/// The rate of one of a task's environment metrics (e.g. Meta-World's `success`) over its
/// recent episodes, when one of them ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricRate {
    /// Task index.
    pub task: usize,
    /// Index into the task's metric names.
    pub metric: usize,
    /// The task's environment steps so far.
    pub task_step: u64,
    /// The mean, over the task's last (up to [`RECENT`]) episodes, of each episode's value
    /// of the metric (its maximum over the episode's steps: for a 0/1 flag such as
    /// `success`, whether it was reached at any step).
    pub rate: f64,
}

/// Environment steps per task, the episodes finished since the last drain, and the recent
/// returns (and metric values) of each task.
#[derive(Debug)]
pub struct EpisodeLog {
    envs_per_task: Vec<u64>,
    task_steps: Vec<u64>,
    pending: Vec<Finished>,
    pending_rates: Vec<MetricRate>,
    recent: Vec<VecDeque<f64>>,
    /// Per task, per metric: the values of the recent episodes. Not part of a checkpoint: a
    /// resumed run's rates start from the episodes after the resume.
    recent_metrics: Vec<Vec<VecDeque<f64>>>,
}

impl EpisodeLog {
    /// A log for tasks with `envs_per_task[t]` environments and `metrics[t]` environment
    /// metrics each.
    pub fn with_metrics(envs_per_task: &[usize], metrics: &[usize]) -> Self {
        let tasks = envs_per_task.len();
        let window = || VecDeque::with_capacity(RECENT);
        let rows = envs_per_task.iter().sum::<usize>();
        Self {
            envs_per_task: envs_per_task.iter().map(|&n| n as u64).collect(),
            task_steps: vec![0; tasks],
            pending: Vec::with_capacity(rows * 4),
            pending_rates: Vec::with_capacity(rows * 4 * metrics.iter().max().unwrap_or(&0)),
            recent: (0..tasks).map(|_| window()).collect(),
            recent_metrics: (metrics.iter())
                .map(|&m| (0..m).map(|_| window()).collect())
                .collect(),
        }
    }

    /// Counts one step of every environment and notes the episodes that ended on it.
    pub fn record(&mut self, envs: &VecEnv) {
        for (steps, n) in self.task_steps.iter_mut().zip(&self.envs_per_task) {
            *steps += n;
        }
        for row in 0..envs.num_rows() {
            let Some(stats) = envs.episode(row) else {
                continue;
            };
            let task = envs.row_tasks()[row];
            let task_step = self.task_steps[task];
            self.pending.push(Finished {
                task,
                task_step,
                episode_return: stats.episode_return,
                length: stats.episode_length,
            });
            push_recent(&mut self.recent[task], stats.episode_return);
            let windows = &mut self.recent_metrics[task];
            for (metric, (window, &value)) in windows
                .iter_mut()
                .zip(envs.episode_metrics(row))
                .enumerate()
            {
                push_recent(window, f64::from(value));
                self.pending_rates.push(MetricRate {
                    task,
                    metric,
                    task_step,
                    rate: window.iter().sum::<f64>() / window.len() as f64,
                });
            }
        }
    }

    /// Takes the metric rates noted since the last call.
    pub fn drain_rates(&mut self) -> std::vec::Drain<'_, MetricRate> {
        self.pending_rates.drain(..)
    }

    /// Environment steps taken by task `t`.
    pub fn task_steps(&self, t: usize) -> u64 {
        self.task_steps[t]
    }

    /// Environment steps taken by every task.
    pub fn all_task_steps(&self) -> Vec<u64> {
        self.task_steps.clone()
    }

    /// Sets the step counters, when a run resumes from a checkpoint.
    pub fn set_task_steps(&mut self, steps: &[u64]) {
        self.task_steps.copy_from_slice(steps);
    }

    /// The recent returns of every task (oldest first), for a checkpoint.
    pub fn recent_returns(&self) -> Vec<Vec<f64>> {
        self.recent
            .iter()
            .map(|r| r.iter().copied().collect())
            .collect()
    }

    /// Restores the recent returns saved by [`EpisodeLog::recent_returns`]; `None` if they
    /// are not of as many tasks.
    pub fn set_recent_returns(&mut self, recent: &[Vec<f64>]) -> Option<()> {
        if recent.len() != self.recent.len() {
            return None;
        }
        for (mine, saved) in self.recent.iter_mut().zip(recent) {
            mine.clear();
            mine.extend(saved.iter().rev().take(RECENT).rev());
        }
        Some(())
    }

    /// Environment steps taken by all tasks together.
    pub fn global_step(&self) -> u64 {
        self.task_steps.iter().sum()
    }

    /// Takes the episodes finished since the last call.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Finished> {
        self.pending.drain(..)
    }

    /// Mean return of task `t`'s last (up to 20) episodes; NaN before the first.
    pub fn recent_mean(&self, t: usize) -> f64 {
        let r = &self.recent[t];
        if r.is_empty() {
            f64::NAN
        } else {
            r.iter().sum::<f64>() / r.len() as f64
        }
    }
}

/// Appends `value` to a window of the last [`RECENT`] values.
fn push_recent(window: &mut VecDeque<f64>, value: f64) {
    if window.len() == RECENT {
        window.pop_front();
    }
    window.push_back(value);
}

/// Every task's environment metric names, in task order.
pub fn task_metrics(envs: &VecEnv) -> Vec<Vec<String>> {
    envs.tasks().iter().map(|t| t.metrics.clone()).collect()
}

/// The number of metrics of each task.
pub fn metric_widths(metrics: &[Vec<String>]) -> Vec<usize> {
    metrics.iter().map(Vec::len).collect()
}
