//! Per-task bookkeeping of environment steps and finished episodes during training.

use std::collections::VecDeque;

use crate::vec_env::VecEnv;

/// Episodes kept per task for the console's recent mean return.
const RECENT: usize = 20;

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

/// Environment steps per task, the episodes finished since the last drain, and the recent
/// returns of each task.
#[derive(Debug)]
pub struct EpisodeLog {
    envs_per_task: Vec<u64>,
    task_steps: Vec<u64>,
    pending: Vec<Finished>,
    recent: Vec<VecDeque<f64>>,
}

impl EpisodeLog {
    /// A log for tasks with `envs_per_task[t]` environments each.
    pub fn new(envs_per_task: &[usize]) -> Self {
        let tasks = envs_per_task.len();
        Self {
            envs_per_task: envs_per_task.iter().map(|&n| n as u64).collect(),
            task_steps: vec![0; tasks],
            pending: Vec::with_capacity(envs_per_task.iter().sum::<usize>() * 4),
            recent: (0..tasks)
                .map(|_| VecDeque::with_capacity(RECENT))
                .collect(),
        }
    }

    /// Counts one step of every environment and notes the episodes that ended on it.
    pub fn record(&mut self, envs: &VecEnv) {
        for (steps, n) in self.task_steps.iter_mut().zip(&self.envs_per_task) {
            *steps += n;
        }
        for (task, stats) in envs.finished_episodes() {
            self.pending.push(Finished {
                task,
                task_step: self.task_steps[task],
                episode_return: stats.episode_return,
                length: stats.episode_length,
            });
            let recent = &mut self.recent[task];
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(stats.episode_return);
        }
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
