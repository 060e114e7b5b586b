//! `[[aux_losses]]`: auxiliary losses computed on a task's own rollout through extra heads on
//! the shared trunk — reward prediction and forward dynamics, as in UNREAL (Jaderberg et al.
//! 2017) and Shelhamer et al. 2017 ("Loss is its own reward"). Each is an auxiliary task of the
//! multi-task learner: its own input stem (the observation and the action taken), the shared
//! trunk, its own linear prediction head, and its own row of per-task gradients.

use serde::{Deserialize, Serialize};

/// What an auxiliary head predicts from `(s_t, a_t)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuxLossKind {
    /// The reward `r_t` (as the learner sees it, after any reward normalisation); loss
    /// `coef · mean_t (r̂_t − r_t)²`.
    RewardPrediction,
    /// The change of observation `s_{t+1} − s_t` (normalised observations where the task
    /// normalises them); loss `coef · mean_t mean_j (Δ̂_tj − Δ_tj)²` over the transitions
    /// whose next observation is known (not the last of an episode or of the rollout).
    ForwardDynamics,
}

impl AuxLossKind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RewardPrediction => "reward-prediction",
            Self::ForwardDynamics => "forward-dynamics",
        }
    }
}

/// One `[[aux_losses]]` table as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuxLoss {
    /// The name in logs and reports; defaults to `<task>-<kind>`.
    pub name: Option<String>,
    /// `reward-prediction` or `forward-dynamics`.
    pub kind: AuxLossKind,
    /// The name of the task whose rollouts it learns from.
    pub task: String,
    /// Multiplies the loss.
    #[serde(default = "default_coef")]
    pub coef: f64,
}

fn default_coef() -> f64 {
    1.0
}

/// A checked auxiliary loss.
#[derive(Debug, Clone, PartialEq)]
pub struct AuxLoss {
    /// Unique among tasks and auxiliary losses.
    pub name: String,
    /// What it predicts.
    pub kind: AuxLossKind,
    /// Index of its task in `Config::tasks`.
    pub task: usize,
    /// As [`RawAuxLoss::coef`], finite and positive.
    pub coef: f64,
}
