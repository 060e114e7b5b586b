//! `[[aux_losses]]`: auxiliary losses computed on a task's own rollout through extra heads on
//! the shared trunk — reward prediction and forward dynamics, as in UNREAL (Jaderberg et al.
//! 2017) and Shelhamer et al. 2017 ("Loss is its own reward"), and SXL's local Moran's I maps
//! of image observations (Klemmer and Neill 2021). Each is an auxiliary task of the
//! multi-task learner: its own input stem (the observation and the action taken), the shared
//! trunk, its own linear prediction head, and its own row of per-task gradients.

use serde::{Deserialize, Serialize};

use super::Task;
use crate::error::usage;

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
    /// The local Moran's I maps of the observation `s_t` (an image `[H, W, C]`), one per
    /// channel and resolution, each scaled to `[−1, 1]` (see `crate::train::morans_i`); loss
    /// `coef · mean_t mean_j (Î_tj − I_tj)²`.
    MoransI,
}

impl AuxLossKind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RewardPrediction => "reward-prediction",
            Self::ForwardDynamics => "forward-dynamics",
            Self::MoransI => "morans-i",
        }
    }
}

/// One `[[aux_losses]]` table as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuxLoss {
    /// The name in logs and reports; defaults to `<task>-<kind>`.
    pub name: Option<String>,
    /// `reward-prediction`, `forward-dynamics` or `morans-i`.
    pub kind: AuxLossKind,
    /// The name of the task whose rollouts it learns from.
    pub task: String,
    /// Multiplies the loss.
    #[serde(default = "default_coef")]
    pub coef: f64,
    /// `morans-i` only: the pooling factors of its maps, each dividing the image's height
    /// and width (default `[1]`; e.g. `[1, 2, 5]` on MinAtar's 10 × 10 grid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolutions: Option<Vec<usize>>,
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
    /// `morans-i` only: the maps it predicts.
    pub maps: Option<ImageMaps>,
}

/// The Moran's I maps a `morans-i` loss predicts.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageMaps {
    /// Its task's image shape `[height, width, channels]`.
    pub image: [usize; 3],
    /// As [`RawAuxLoss::resolutions`], checked.
    pub resolutions: Vec<usize>,
}

/// The maps of `aux_losses[i]`, learning from `task`: only `morans-i` has them, on an image
/// task, and each factor of its `resolutions` divides the image's height and width.
pub(super) fn check_maps(
    i: usize,
    raw: &RawAuxLoss,
    task: &Task,
) -> anyhow::Result<Option<ImageMaps>> {
    if raw.kind != AuxLossKind::MoransI {
        return match raw.resolutions {
            Some(_) => Err(usage(format!(
                "config: `aux_losses[{i}].resolutions` is for kind = \"morans-i\" only"
            ))),
            None => Ok(None),
        };
    }
    let &[height, width, channels] = task.obs_shape.as_slice() else {
        return Err(usage(format!(
            "config: aux_losses[{i}] (kind \"morans-i\") needs a task with image observations \
             [height, width, channels]; task `{}` observes {:?}",
            task.name, task.obs_shape
        )));
    };
    let resolutions = raw.resolutions.clone().unwrap_or_else(|| vec![1]);
    let fits = |&f: &usize| f >= 1 && height % f == 0 && width % f == 0;
    if resolutions.is_empty() || !resolutions.iter().all(fits) {
        return Err(usage(format!(
            "config: `aux_losses[{i}].resolutions` = {resolutions:?}: each factor must divide \
             the {height} × {width} image of task `{}` (and at least one is needed)",
            task.name
        )));
    }
    Ok(Some(ImageMaps {
        image: [height, width, channels],
        resolutions,
    }))
}
