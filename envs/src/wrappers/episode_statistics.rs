//! Records each episode's return and length, as Gymnasium's `RecordEpisodeStatistics`
//! (`gymnasium/wrappers/common.py`, Gymnasium 1.4), without its `info["episode"]` dict,
//! wall-clock time or queues: the finished episode is kept in the wrapper until the next one
//! ends.

use serde::{Deserialize, Serialize};

use super::Wrapper;
use crate::state::{load_tagged, save_tagged};
use crate::{Action, Env, EnvError, Step};

/// The return and length of one finished episode (Gymnasium's `info["episode"]["r"]` and
/// `["l"]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeStats {
    /// The undiscounted sum of the episode's rewards, as they reached this wrapper (so
    /// after any reward wrapper below it, before any above it).
    pub episode_return: f64,
    /// The episode's length, in environment steps.
    pub episode_length: u64,
}

/// An environment that sums the rewards and counts the steps of the running episode and,
/// when it ends (terminated or truncated), keeps the result; Gymnasium's
/// `RecordEpisodeStatistics`. Allocates nothing. Its saved state ([`Env::save_state`]) holds
/// the running sums, the episode count and the finished episode not yet taken.
#[derive(Debug)]
pub struct RecordEpisodeStatistics<E> {
    env: E,
    episode_return: f64,
    episode_length: u64,
    episodes: u64,
    last: Option<EpisodeStats>,
}

impl<E: Env> RecordEpisodeStatistics<E> {
    /// Wraps `env`.
    pub fn new(env: E) -> Self {
        Self {
            env,
            episode_return: 0.0,
            episode_length: 0,
            episodes: 0,
            last: None,
        }
    }

    /// The most recently finished episode, if any has finished; it stays until the next
    /// episode ends (a `reset` does not clear it).
    pub fn last_episode(&self) -> Option<EpisodeStats> {
        self.last
    }

    /// Like [`last_episode`](Self::last_episode), but clears it, so that each finished
    /// episode is handed out once.
    pub fn take_episode(&mut self) -> Option<EpisodeStats> {
        self.last.take()
    }

    /// How many episodes have finished since this wrapper was made (Gymnasium's
    /// `episode_count`).
    pub fn episodes(&self) -> u64 {
        self.episodes
    }

    /// The return of the running episode so far.
    pub fn current_return(&self) -> f64 {
        self.episode_return
    }

    /// The steps taken in the running episode so far.
    pub fn current_length(&self) -> u64 {
        self.episode_length
    }

    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }
}

/// What [`RecordEpisodeStatistics`] saves; `last` is the finished episode's return and length.
#[derive(Serialize, Deserialize)]
struct Saved {
    episode_return: f64,
    episode_length: u64,
    episodes: u64,
    last: Option<(f64, u64)>,
    inner: Vec<u8>,
}

impl<E: Env> Wrapper for RecordEpisodeStatistics<E> {
    type Inner = E;
    fn inner(&self) -> &E {
        &self.env
    }
    fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    fn reset(this: &mut Self, seed: Option<u64>, obs: &mut [f32]) {
        this.env.reset(seed, obs);
        this.episode_return = 0.0;
        this.episode_length = 0;
    }
    fn step(this: &mut Self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let step = this.env.step(action, obs)?;
        this.episode_return += step.reward;
        this.episode_length += 1;
        if step.done() {
            this.last = Some(EpisodeStats {
                episode_return: this.episode_return,
                episode_length: this.episode_length,
            });
            this.episodes += 1;
        }
        Ok(step)
    }
    fn save_state(this: &Self) -> Option<Vec<u8>> {
        let inner = this.env.save_state()?;
        Some(save_tagged(
            "RecordEpisodeStatistics",
            &Saved {
                episode_return: this.episode_return,
                episode_length: this.episode_length,
                episodes: this.episodes,
                last: this.last.map(|e| (e.episode_return, e.episode_length)),
                inner,
            },
        ))
    }
    fn load_state(this: &mut Self, state: &[u8]) -> Result<(), EnvError> {
        let saved: Saved = load_tagged(this.env.id(), "RecordEpisodeStatistics", state)?;
        this.env.load_state(&saved.inner)?;
        this.episode_return = saved.episode_return;
        this.episode_length = saved.episode_length;
        this.episodes = saved.episodes;
        this.last = saved
            .last
            .map(|(episode_return, episode_length)| EpisodeStats {
                episode_return,
                episode_length,
            });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::test_env::ScriptedEnv;
    use crate::wrappers::TimeLimit;

    #[test]
    fn records_return_and_length_when_an_episode_terminates() {
        let mut env = RecordEpisodeStatistics::new(ScriptedEnv::new(&[1.0, 0.5, -0.25], Some(4)));
        let mut obs = [0.0; 2];
        env.reset(Some(3), &mut obs);
        for _ in 0..3 {
            assert!(!env.step(Action::Discrete(0), &mut obs).unwrap().done());
            assert_eq!(env.last_episode(), None);
        }
        assert_eq!((env.current_return(), env.current_length()), (1.25, 3));
        let step = env.step(Action::Discrete(1), &mut obs).unwrap();
        assert!(step.terminated && !step.truncated);
        let expected = EpisodeStats {
            episode_return: 2.25,
            episode_length: 4,
        };
        assert_eq!(env.last_episode(), Some(expected));
        assert_eq!(env.episodes(), 1);

        // A reset starts counting afresh but keeps the finished episode until the next ends.
        env.reset(None, &mut obs);
        assert_eq!((env.current_return(), env.current_length()), (0.0, 0));
        env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!(env.last_episode(), Some(expected));
        assert_eq!(env.take_episode(), Some(expected));
        assert_eq!(env.take_episode(), None);
    }

    #[test]
    fn a_truncated_episode_counts_too() {
        let inner = TimeLimit::new(ScriptedEnv::new(&[2.0], None), 5);
        let mut env = RecordEpisodeStatistics::new(inner);
        let mut obs = [0.0; 2];
        for episode in 1..=2 {
            env.reset(None, &mut obs);
            let mut steps = 0;
            while !env.step(Action::Discrete(0), &mut obs).unwrap().truncated {
                steps += 1;
            }
            assert_eq!(steps, 4);
            let expected = EpisodeStats {
                episode_return: 10.0,
                episode_length: 5,
            };
            assert_eq!(env.last_episode(), Some(expected));
            assert_eq!(env.episodes(), episode);
        }
    }

    #[test]
    fn a_failed_step_changes_nothing() {
        let mut env = RecordEpisodeStatistics::new(ScriptedEnv::new(&[1.0], None));
        let mut obs = [0.0; 2];
        env.reset(None, &mut obs);
        env.step(Action::Discrete(1), &mut obs).unwrap();
        assert!(env.step(Action::Discrete(2), &mut obs).is_err());
        assert_eq!((env.current_return(), env.current_length()), (1.0, 1));
    }
}
