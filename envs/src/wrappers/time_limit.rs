//! Truncates episodes after a fixed number of steps, as Gymnasium's `TimeLimit` wrapper
//! (`gymnasium/wrappers/common.py`, Gymnasium 1.4): `truncated` is set on the step that
//! reaches the limit, whether or not the episode also terminated there.

use serde::{Deserialize, Serialize};

use crate::state::{load_tagged, save_tagged};
use crate::{Action, Env, EnvError, Space, Step};

/// An environment whose episodes last at most `max_episode_steps` steps. Its saved state
/// ([`Env::save_state`]) is the steps taken in the running episode and the wrapped
/// environment's state; the limit is a parameter and is not saved.
#[derive(Debug)]
pub struct TimeLimit<E> {
    env: E,
    max_episode_steps: u64,
    elapsed: u64,
}

impl<E: Env> TimeLimit<E> {
    /// Wraps `env` with a limit of `max_episode_steps` steps per episode.
    pub fn new(env: E, max_episode_steps: u64) -> Self {
        Self {
            env,
            max_episode_steps,
            elapsed: 0,
        }
    }

    /// Steps taken in the current episode.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// The wrapped environment, mutably.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }
}

/// What [`TimeLimit`] saves.
#[derive(Serialize, Deserialize)]
struct Saved {
    elapsed: u64,
    inner: Vec<u8>,
}

impl<E: Env> Env for TimeLimit<E> {
    fn id(&self) -> &str {
        self.env.id()
    }
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        self.elapsed = 0;
        self.env.reset(seed, obs)
    }
    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let mut step = self.env.step(action, obs)?;
        self.elapsed += 1;
        if self.elapsed >= self.max_episode_steps {
            step.truncated = true;
        }
        Ok(step)
    }
    fn save_state(&self) -> Option<Vec<u8>> {
        let inner = self.env.save_state()?;
        Some(save_tagged(
            "TimeLimit",
            &Saved {
                elapsed: self.elapsed,
                inner,
            },
        ))
    }
    fn load_state(&mut self, state: &[u8]) -> Result<(), EnvError> {
        let saved: Saved = load_tagged(self.env.id(), "TimeLimit", state)?;
        self.env.load_state(&saved.inner)?;
        self.elapsed = saved.elapsed;
        Ok(())
    }
}
