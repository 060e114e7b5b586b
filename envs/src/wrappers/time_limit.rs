//! Truncates episodes after a fixed number of steps, as Gymnasium's `TimeLimit` wrapper
//! (`gymnasium/wrappers/common.py`, Gymnasium 1.4): `truncated` is set on the step that
//! reaches the limit, whether or not the episode also terminated there.

use serde::{Deserialize, Serialize};

use super::Wrapper;
use crate::state::{load_tagged, save_tagged};
use crate::{Action, Env, EnvError, Step};

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

impl<E: Env> Wrapper for TimeLimit<E> {
    type Inner = E;
    fn inner(&self) -> &E {
        &self.env
    }
    fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    fn reset(this: &mut Self, seed: Option<u64>, obs: &mut [f32]) {
        this.elapsed = 0;
        this.env.reset(seed, obs)
    }
    fn step(this: &mut Self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let mut step = this.env.step(action, obs)?;
        this.elapsed += 1;
        if this.elapsed >= this.max_episode_steps {
            step.truncated = true;
        }
        Ok(step)
    }
    fn save_state(this: &Self) -> Option<Vec<u8>> {
        let inner = this.env.save_state()?;
        Some(save_tagged(
            "TimeLimit",
            &Saved {
                elapsed: this.elapsed,
                inner,
            },
        ))
    }
    fn load_state(this: &mut Self, state: &[u8]) -> Result<(), EnvError> {
        let saved: Saved = load_tagged(this.env.id(), "TimeLimit", state)?;
        this.env.load_state(&saved.inner)?;
        this.elapsed = saved.elapsed;
        Ok(())
    }
}
