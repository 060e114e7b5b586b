//! The vector env's state for an exact resume: each row's environment state
//! ([`Env::save_state`](polytask_envs::Env::save_state)) and running episode statistics,
//! and the per-row buffers of the latest step (observations, final observations, rewards,
//! flags), so that a run resumed from a checkpoint steps on exactly as it would have.

use serde::{Deserialize, Serialize};

/// One row's saved state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowSnapshot {
    /// The environment's own state; `None` when it cannot save one.
    pub env: Option<Vec<u8>>,
    /// The return of the unfinished episode so far.
    pub episode_return: f64,
    /// The length of the unfinished episode so far.
    pub episode_length: u64,
    /// Each per-step metric's maximum over the unfinished episode so far (empty for a task
    /// without metrics, and in states saved before metrics existed).
    #[serde(default)]
    pub metrics: Vec<f32>,
}

/// A whole vector env's saved state, from [`VecEnv::save_state`](super::VecEnv::save_state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VecEnvSnapshot {
    /// Vector steps taken.
    pub steps: u64,
    /// Every row, in row order.
    pub rows: Vec<RowSnapshot>,
    /// The observation buffer.
    pub obs: Vec<f32>,
    /// The final-observation buffer.
    pub final_obs: Vec<f32>,
    /// The latest rewards.
    pub rewards: Vec<f32>,
    /// The latest `terminated` flags.
    pub terminated: Vec<bool>,
    /// The latest `truncated` flags.
    pub truncated: Vec<bool>,
    /// The returns of the episodes that ended on the latest step.
    pub episode_return: Vec<f64>,
    /// The lengths of the episodes that ended on the latest step.
    pub episode_length: Vec<u64>,
    /// The metrics of the episodes that ended on the latest step (see
    /// [`VecEnv::episode_metrics`](super::VecEnv::episode_metrics)).
    #[serde(default)]
    pub episode_metrics: Vec<f32>,
}

/// The rows of a restored vector env whose environments could not save their state, and so
/// start fresh episodes: `(task name, environment id, rows)` per task.
pub type FreshRows = Vec<(String, String, usize)>;
