//! Wrappers that change or observe an environment, after `gymnasium.wrappers` (Gymnasium 1.4).
//!
//! Each wraps any `E: Env` and is itself an [`Env`](crate::Env), so they stack, e.g.
//! `AutoReset<RecordEpisodeStatistics<TimeLimit<CartPole>>>`; `Box<dyn Env>` wraps too. None
//! allocates per step.

mod autoreset;
mod clip_action;
mod episode_statistics;
mod normalize_observation;
mod normalize_reward;
mod running_mean_std;
#[cfg(test)]
mod test_env;
mod time_limit;

pub use autoreset::AutoReset;
pub use clip_action::ClipAction;
pub use episode_statistics::{EpisodeStats, RecordEpisodeStatistics};
pub use normalize_observation::{NormalizeObservation, DEFAULT_EPSILON};
pub use normalize_reward::{NormalizeReward, DEFAULT_GAMMA};
pub use running_mean_std::{RunningMeanStd, INITIAL_COUNT};
pub use time_limit::TimeLimit;
