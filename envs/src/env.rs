//! The environment interface, following Gymnasium's `Env` (`reset`, `step`, spaces;
//! Gymnasium 1.4), made allocation-free: observations are written into the caller's buffer.

use crate::{EnvError, Space};

/// An action handed to [`Env::step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action<'a> {
    /// An index into a `Discrete(n)` action space.
    Discrete(usize),
    /// A point of a `Box` action space, flat.
    Continuous(&'a [f32]),
}

impl<'a> Action<'a> {
    /// Reads an action from its flat `f32` layout (see [`Space::flat_dim`]): one value holding
    /// the index for a discrete space, the vector itself for a box.
    pub fn from_flat(space: &Space, flat: &'a [f32]) -> Self {
        match space {
            Space::Discrete(_) => Action::Discrete(flat[0] as usize),
            Space::Box(_) => Action::Continuous(flat),
        }
    }
}

/// The outcome of one [`Env::step`], without the observation (written into the caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Step {
    /// The reward for this transition.
    pub reward: f64,
    /// The episode ended in a terminal state of the MDP (do not bootstrap).
    pub terminated: bool,
    /// The episode was cut short, e.g. by a time limit (bootstrap from the observation).
    pub truncated: bool,
}

impl Step {
    /// Whether the episode is over, for either reason.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// A reinforcement-learning environment with Gymnasium's semantics.
///
/// Observations are flat `f32` slices of length `observation_space().flat_dim()`;
/// `reset` and `step` write them into a buffer that the caller owns, so stepping allocates
/// nothing. An implementation must be deterministic given the seed passed to `reset`.
///
/// An environment built around another one implements
/// [`Wrapper`](crate::wrappers::Wrapper) instead, and is an `Env` through it; so is
/// `Box<dyn Env>`.
pub trait Env: Send {
    /// The registered id of this environment, e.g. `CartPole-v1`; used in error messages.
    fn id(&self) -> &str;

    /// The space that observations belong to.
    fn observation_space(&self) -> &Space;

    /// The space that actions belong to.
    fn action_space(&self) -> &Space;

    /// Starts a new episode and writes its first observation into `obs`.
    ///
    /// `Some(seed)` re-seeds the environment's random number generator (as Gymnasium's
    /// `reset(seed=...)`); `None` continues its current stream.
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]);

    /// Applies `action`, writes the next observation into `obs` and returns the reward and
    /// the end-of-episode flags. An action outside the action space is an error.
    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError>;

    /// The names of the per-step metrics this environment reports besides its reward (as
    /// Gymnasium environments do in their step's `info`, e.g. Meta-World's `success`), fixed
    /// for the environment's life. Default: none.
    fn metric_names(&self) -> &[String] {
        &[]
    }

    /// The metrics' values after the latest [`Env::step`] (or reset), in
    /// [`Env::metric_names`] order; a slice the environment owns, so reading it allocates
    /// nothing. Default: none.
    fn metrics(&self) -> &[f32] {
        &[]
    }

    /// The environment's complete dynamic state (its physical state, random number generator
    /// and counters) as bytes that [`Env::load_state`] restores, so that a resumed training
    /// run continues every episode exactly; `None` (the default) when the environment cannot
    /// save it, in which case a resumed run starts fresh episodes for it. Called at
    /// checkpoints only, so it may allocate. [`crate::state`] has the encoding helpers.
    fn save_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Restores a state saved by [`Env::save_state`] of an environment made with the same id
    /// and parameters. After it, `step` behaves exactly as it would have after the save.
    /// Bytes it cannot read are an [`EnvError::State`]; the default implementation is an
    /// [`EnvError::StateUnsupported`].
    fn load_state(&mut self, state: &[u8]) -> Result<(), EnvError> {
        let _ = state;
        Err(EnvError::StateUnsupported {
            env: self.id().to_string(),
        })
    }
}

/// The error for an action that is not in `space`; shared by the built-in environments.
pub fn invalid_action(env: &str, action: Action<'_>, space: &Space) -> EnvError {
    let action = match action {
        Action::Discrete(a) => a.to_string(),
        Action::Continuous(a) => format!("{a:?}"),
    };
    EnvError::InvalidAction {
        env: env.to_string(),
        action,
        space: space.to_string(),
    }
}
