//! Resets an environment as soon as an episode ends, in the same step, as Gymnasium's vector
//! environments do in `AutoresetMode.SAME_STEP` (`gymnasium/vector/sync_vector_env.py`,
//! Gymnasium 1.4): the step that ends an episode returns the finished episode's reward and
//! flags with the first observation of the next episode, and the finished episode's last
//! observation is kept aside (Gymnasium's `info["final_obs"]`), so that a learner can
//! bootstrap a truncated episode from it.

use serde::{Deserialize, Serialize};

use super::Wrapper;
use crate::state::bad_state;
use crate::state::{load_tagged, save_tagged};
use crate::{Action, Env, EnvError, Step};

/// An environment that never needs an explicit `reset` after the first; Gymnasium's
/// same-step autoreset for one environment. The final observation is copied into a buffer
/// made in [`new`](Self::new), so stepping allocates nothing. Its saved state
/// ([`Env::save_state`]) holds the final observation, so that
/// [`final_observation`](Self::final_observation) answers the same after a restore.
#[derive(Debug)]
pub struct AutoReset<E> {
    env: E,
    final_obs: Vec<f32>,
    has_final: bool,
}

impl<E: Env> AutoReset<E> {
    /// Wraps `env`.
    pub fn new(env: E) -> Self {
        let final_obs = vec![0.0; env.observation_space().flat_dim()];
        Self {
            env,
            final_obs,
            has_final: false,
        }
    }

    /// The last observation of the episode that ended on the latest step, or `None` if the
    /// latest step did not end an episode (or no step was taken since a `reset`). Valid until
    /// the next `step` or `reset`.
    pub fn final_observation(&self) -> Option<&[f32]> {
        self.has_final.then_some(&self.final_obs[..])
    }

    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }
}

/// What [`AutoReset`] saves: the final observation if the latest step ended an episode.
#[derive(Serialize, Deserialize)]
struct Saved {
    final_obs: Option<Vec<f32>>,
    inner: Vec<u8>,
}

impl<E: Env> Wrapper for AutoReset<E> {
    type Inner = E;
    fn inner(&self) -> &E {
        &self.env
    }
    fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    fn reset(this: &mut Self, seed: Option<u64>, obs: &mut [f32]) {
        this.has_final = false;
        this.env.reset(seed, obs)
    }
    /// Steps the wrapped environment; if that ends the episode, copies `obs` into the final
    /// observation and resets (continuing the random stream: `reset(None)`), writing the new
    /// episode's first observation into `obs`. The returned [`Step`] is the finished one's.
    fn step(this: &mut Self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        this.has_final = false;
        let step = this.env.step(action, obs)?;
        if step.done() {
            this.final_obs.copy_from_slice(obs);
            this.has_final = true;
            this.env.reset(None, obs);
        }
        Ok(step)
    }
    fn save_state(this: &Self) -> Option<Vec<u8>> {
        let inner = this.env.save_state()?;
        Some(save_tagged(
            "AutoReset",
            &Saved {
                final_obs: this.has_final.then(|| this.final_obs.clone()),
                inner,
            },
        ))
    }
    fn load_state(this: &mut Self, state: &[u8]) -> Result<(), EnvError> {
        let saved: Saved = load_tagged(this.env.id(), "AutoReset", state)?;
        if let Some(final_obs) = &saved.final_obs {
            if final_obs.len() != this.final_obs.len() {
                let (got, want) = (final_obs.len(), this.final_obs.len());
                let reason = format!("a final observation of {got} elements, not {want}");
                return Err(bad_state(this.env.id(), reason));
            }
        }
        this.env.load_state(&saved.inner)?;
        this.has_final = saved.final_obs.is_some();
        if let Some(final_obs) = saved.final_obs {
            this.final_obs.copy_from_slice(&final_obs);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::test_env::ScriptedEnv;
    use crate::wrappers::{
        ClipAction, EpisodeStats, NormalizeObservation, NormalizeReward, RecordEpisodeStatistics,
        TimeLimit,
    };
    use crate::Space;

    #[test]
    fn keeps_the_final_observation_and_resets_in_the_same_step() {
        let mut env = AutoReset::new(ScriptedEnv::new(&[1.0, 2.0], Some(2)));
        let mut obs = [0.0; 2];
        env.reset(Some(7), &mut obs);
        assert_eq!((obs, env.final_observation()), ([0.0, 0.0], None));

        let step = env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!(
            step,
            Step {
                reward: 1.0,
                terminated: false,
                truncated: false
            }
        );
        assert_eq!((obs, env.final_observation()), ([0.0, 1.0], None));

        // The episode terminates at t = 2: the step is the finished episode's, the observation
        // the new episode's first, and the final observation the finished episode's last.
        let step = env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!(
            step,
            Step {
                reward: 2.0,
                terminated: true,
                truncated: false
            }
        );
        assert_eq!(obs, [1.0, 0.0]);
        assert_eq!(env.final_observation(), Some(&[0.0, 2.0][..]));
        assert_eq!(env.inner().seeds, [Some(7), None]);

        // Valid until the next step.
        env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!((obs, env.final_observation()), ([1.0, 1.0], None));
    }

    #[test]
    fn truncation_resets_too_and_an_explicit_reset_clears_the_final_observation() {
        let mut env = AutoReset::new(TimeLimit::new(ScriptedEnv::new(&[0.5], None), 1));
        let mut obs = [0.0; 2];
        env.reset(None, &mut obs);
        let step = env.step(Action::Discrete(1), &mut obs).unwrap();
        assert!(step.truncated && !step.terminated);
        assert_eq!(env.final_observation(), Some(&[0.0, 1.0][..]));
        assert_eq!(obs, [1.0, 0.0]);
        assert_eq!(env.inner().elapsed(), 0);
        env.reset(Some(1), &mut obs);
        assert_eq!(env.final_observation(), None);
        assert_eq!(obs, [2.0, 0.0]);
    }

    #[test]
    fn a_failed_step_neither_resets_nor_reports_a_final_observation() {
        let mut env = AutoReset::new(ScriptedEnv::new(&[0.0], Some(1)));
        let mut obs = [0.0; 2];
        env.reset(None, &mut obs);
        env.step(Action::Discrete(0), &mut obs).unwrap();
        assert!(env.final_observation().is_some());
        assert!(env.step(Action::Discrete(9), &mut obs).is_err());
        assert_eq!(env.final_observation(), None);
        assert_eq!(env.inner().resets, 2);
    }

    #[test]
    fn composes_with_statistics_and_time_limit() {
        // The scripted env never terminates; the time limit truncates every 4th step.
        let inner = TimeLimit::new(ScriptedEnv::new(&[1.0, -0.5], None), 4);
        let mut env = AutoReset::new(RecordEpisodeStatistics::new(inner));
        let mut obs = [0.0; 2];
        env.reset(Some(0), &mut obs);
        let mut finished = Vec::new();
        for i in 1..=9 {
            let step = env.step(Action::Discrete(0), &mut obs).unwrap();
            assert_eq!(step.truncated, i % 4 == 0, "step {i}");
            if step.done() {
                finished.push((
                    env.inner_mut().take_episode().unwrap(),
                    env.final_observation().unwrap().to_vec(),
                ));
            } else {
                assert_eq!(env.inner_mut().take_episode(), None);
            }
        }
        let stats = EpisodeStats {
            episode_return: 1.0,
            episode_length: 4,
        };
        assert_eq!(finished, [(stats, vec![0.0, 4.0]), (stats, vec![1.0, 4.0])]);
        assert_eq!(obs, [2.0, 1.0]);
        assert_eq!(env.inner().current_length(), 1);
    }

    #[test]
    fn cartpole_stream_equals_stepping_and_resetting_by_hand() {
        use crate::classic::CartPole;
        let make = || TimeLimit::new(CartPole::new(), 12);
        let mut auto = AutoReset::new(RecordEpisodeStatistics::new(make()));
        let mut manual = make();
        let (mut obs, mut expected) = ([0.0f32; 4], [0.0f32; 4]);
        auto.reset(Some(42), &mut obs);
        manual.reset(Some(42), &mut expected);
        assert_eq!(obs, expected);
        let (mut length, mut ends) = (0u64, [0; 2]);
        for i in 0..200 {
            let action = Action::Discrete((i / 7) % 2);
            let step = auto.step(action, &mut obs).unwrap();
            assert_eq!(manual.step(action, &mut expected).unwrap(), step);
            length += 1;
            if step.done() {
                assert_eq!(auto.final_observation(), Some(&expected[..]));
                let stats = auto.inner_mut().take_episode().unwrap();
                let ep = EpisodeStats {
                    episode_return: length as f64,
                    episode_length: length,
                };
                assert_eq!(stats, ep);
                manual.reset(None, &mut expected);
                ends[usize::from(step.truncated)] += 1;
                length = 0;
            } else {
                assert_eq!(auto.final_observation(), None);
            }
            assert_eq!(obs, expected, "step {i}");
        }
        // Both kinds of episode end were exercised.
        assert!(ends[0] > 0 && ends[1] > 0, "{ends:?}");
    }

    #[test]
    fn a_full_stack_behind_a_box_dyn_env() {
        let inner = ScriptedEnv::new(&[1.0], Some(3)).with_box_actions(&[-1.0], &[1.0]);
        let stack = NormalizeReward::new(NormalizeObservation::new(ClipAction::new(inner)));
        let boxed: Box<dyn Env> = Box::new(RecordEpisodeStatistics::new(stack));
        let mut env = AutoReset::new(boxed);
        let mut obs = [0.0; 2];
        env.reset(Some(5), &mut obs);
        for _ in 0..3 {
            // Out of bounds: the step only succeeds because ClipAction clips it.
            env.step(Action::Continuous(&[4.0]), &mut obs).unwrap();
        }
        // Normalized observations: the final one is the finished episode's last, not the
        // reset observation that replaced it.
        let final_obs = env.final_observation().unwrap();
        assert!(final_obs[1] > 0.0 && obs[1] < 0.0, "{final_obs:?} {obs:?}");
        assert!(matches!(env.action_space(), Space::Box(b) if b.high[0] == f32::INFINITY));
    }
}
