//! Wrappers that change or observe an environment, after `gymnasium.wrappers` (Gymnasium 1.4).
//!
//! Each wraps any `E: Env` and implements [`Wrapper`], which makes it an
//! [`Env`](crate::Env) that forwards to `E` whatever it does not change (as Gymnasium's
//! `gymnasium.Wrapper`); so they stack, e.g.
//! `AutoReset<RecordEpisodeStatistics<TimeLimit<CartPole>>>`, and `Box<dyn Env>` wraps too.
//! A wrapper of your own implements [`Wrapper`] the same way and writes only what it
//! changes. None allocates per step.
//!
//! Each saves its own dynamic state ([`Env::save_state`](crate::Env::save_state): counters,
//! statistics, never its parameters) with the wrapped environment's bytes nested inside, and
//! returns `None` when the wrapped environment does. The state is tagged with the wrapper's
//! name, so that a state saved by a different stack of wrappers is refused, not misread.
//! A failed `load_state` changes nothing.
//!
//! # Normalisation: the trainer's or the wrappers'
//!
//! Observations and rewards can be normalised in two places, with the same running
//! statistic ([`RunningMeanStd`]) but a different scope. To train with `polytask train`, use
//! the trainer's: the keys `normalize_obs` and `normalize_reward` of a `[[tasks]]` entry (both
//! `false` by default) keep one statistic per task, shared by all of the task's
//! environments and updated with all of their values at each step, as Stable-Baselines3's
//! `VecNormalize` (normalised observations and rewards clipped to ±10; the discounted return
//! uses `algorithm.gamma` and restarts at every episode end). These statistics are saved in
//! the checkpoint, restored on resume and used frozen by `polytask eval`. Use the wrappers
//! [`NormalizeObservation`] and [`NormalizeReward`] when you build a pipeline of your own on
//! this crate (your own loop or vector env, an environment stack that must behave as its
//! Python Gymnasium counterpart): each wrapped environment keeps its own statistic, as
//! Gymnasium's wrappers of those names (no clipping; the return restarts only when an
//! episode terminates), saved with that environment's state. Do not use both on one task:
//! the trainer would normalise values that are already normalised.

mod autoreset;
mod clip_action;
mod episode_statistics;
mod normalize_observation;
mod normalize_reward;
mod running_mean_std;
#[cfg(test)]
mod test_env;
mod time_limit;
mod wrapper;

pub use autoreset::AutoReset;
pub use clip_action::ClipAction;
pub use episode_statistics::{EpisodeStats, RecordEpisodeStatistics};
pub use normalize_observation::{NormalizeObservation, DEFAULT_EPSILON};
pub use normalize_reward::{NormalizeReward, DEFAULT_GAMMA};
pub use running_mean_std::{RunningMeanStd, INITIAL_COUNT};
pub use time_limit::TimeLimit;
pub use wrapper::Wrapper;

#[cfg(test)]
mod tests {
    use super::test_env::ScriptedEnv;
    use super::*;
    use crate::classic::MountainCar;
    use crate::state::{load_tagged, save_tagged};
    use crate::Env;
    use crate::EnvError;

    /// `stateless` wraps an environment that cannot save; `saving` is the same stack over
    /// MountainCar (whose observations have the scripted env's length).
    fn saves_none_and_passes_loads_down(mut saving: impl Env, mut stateless: impl Env) {
        assert_eq!(stateless.save_state(), None);
        saving.reset(Some(0), &mut [0.0; 2]);
        let err = stateless
            .load_state(&saving.save_state().unwrap())
            .unwrap_err();
        let unsupported = EnvError::StateUnsupported {
            env: "Scripted-v0".into(),
        };
        assert_eq!(err, unsupported);
    }

    #[test]
    fn a_wrapper_over_an_env_that_cannot_save_saves_none_and_cannot_load() {
        let scripted = || ScriptedEnv::new(&[1.0], None);
        let car = MountainCar::new;
        saves_none_and_passes_loads_down(TimeLimit::new(car(), 5), TimeLimit::new(scripted(), 5));
        saves_none_and_passes_loads_down(AutoReset::new(car()), AutoReset::new(scripted()));
        saves_none_and_passes_loads_down(ClipAction::new(car()), ClipAction::new(scripted()));
        saves_none_and_passes_loads_down(
            RecordEpisodeStatistics::new(car()),
            RecordEpisodeStatistics::new(scripted()),
        );
        saves_none_and_passes_loads_down(
            NormalizeObservation::new(car()),
            NormalizeObservation::new(scripted()),
        );
        saves_none_and_passes_loads_down(
            NormalizeReward::new(car()),
            NormalizeReward::new(scripted()),
        );
    }

    #[test]
    fn statistics_of_the_wrong_length_are_refused_and_change_nothing() {
        let mut four = NormalizeObservation::new(crate::classic::CartPole::new());
        four.reset(Some(0), &mut [0.0; 4]);
        let mut two = NormalizeObservation::new(MountainCar::new());
        two.reset(Some(0), &mut [0.0; 2]);
        let before = two.save_state();
        let err = two.load_state(&four.save_state().unwrap()).unwrap_err();
        assert!(
            matches!(err, EnvError::State { ref reason, .. } if reason.contains("4 elements, not 2")),
            "{err}"
        );
        assert_eq!(two.save_state(), before);
    }

    #[test]
    fn a_state_tagged_for_another_wrapper_is_refused() {
        let bytes = save_tagged("TimeLimit", &(3u64, vec![1u8]));
        let err = load_tagged::<(u64, Vec<u8>)>("X-v0", "AutoReset", &bytes).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("X-v0"), "{message}");
        assert!(
            message.contains("`TimeLimit`, not of `AutoReset`"),
            "{message}"
        );
        let back = load_tagged::<(u64, Vec<u8>)>("X-v0", "TimeLimit", &bytes).unwrap();
        assert_eq!(back, (3, vec![1]));
    }
}
