//! The [`Wrapper`] trait: an environment built around another one, which by default behaves
//! exactly as the environment it wraps, as Gymnasium's `gymnasium.Wrapper`
//! (`gymnasium/core.py`, Gymnasium 1.4), whose methods all forward to `self.env` until a
//! subclass overrides them.
//!
//! A type that implements [`Wrapper`] is an [`Env`] through the blanket implementation
//! below, so a wrapper names its inner environment and writes only the methods it changes.
//!
//! The overridable methods take `this: &Self` / `this: &mut Self` instead of `self` on
//! purpose: they are then not methods in the `env.step(..)` sense, so code with both
//! [`Env`] and [`Wrapper`] in scope calls `env.step(..)` on a wrapper without ambiguity
//! (the convention of `Box::leak` and `Rc::strong_count`, for the same reason).

use crate::{Action, Env, EnvError, Space, Step};

/// An environment that wraps another, [`Inner`](Self::Inner), and forwards to it every
/// method it does not override; Rust's counterpart of Gymnasium's `gymnasium.Wrapper`.
///
/// Every type that implements `Wrapper` implements [`Env`], each [`Env`] method being the
/// `Wrapper` method of the same name; a wrapper never implements [`Env`] itself.
/// [`Box<E>`] is the wrapper that changes nothing, which is how `Box<dyn Env>` is an [`Env`].
///
/// A wrapper with dynamic state of its own (counters, statistics) overrides
/// [`save_state`](Self::save_state) and [`load_state`](Self::load_state) to nest the inner
/// environment's bytes inside its own, tagged with its name
/// ([`state::save_tagged`](crate::state::save_tagged)); one without (such as
/// [`ClipAction`](super::ClipAction)) keeps the defaults, which save and load the inner
/// environment's state as it is.
///
/// ```
/// use polytask_envs::classic::CartPole;
/// use polytask_envs::wrappers::Wrapper;
/// use polytask_envs::{Action, Env, EnvError, Step};
///
/// /// Multiplies every reward by `scale`; everything else is the inner environment's.
/// struct ScaleReward<E> {
///     env: E,
///     scale: f64,
/// }
///
/// impl<E: Env> Wrapper for ScaleReward<E> {
///     type Inner = E;
///     fn inner(&self) -> &E {
///         &self.env
///     }
///     fn inner_mut(&mut self) -> &mut E {
///         &mut self.env
///     }
///     fn step(this: &mut Self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
///         let mut step = this.env.step(action, obs)?;
///         step.reward *= this.scale;
///         Ok(step)
///     }
/// }
///
/// let mut env = ScaleReward { env: CartPole::new(), scale: 0.5 };
/// let mut obs = [0.0; 4];
/// env.reset(Some(0), &mut obs);
/// assert_eq!(env.step(Action::Discrete(1), &mut obs)?.reward, 0.5);
/// assert_eq!(env.id(), "CartPole-v1");
/// # Ok::<(), EnvError>(())
/// ```
pub trait Wrapper: Send {
    /// The wrapped environment's type (`dyn Env` for a `Box<dyn Env>`).
    type Inner: Env + ?Sized;

    /// The wrapped environment.
    fn inner(&self) -> &Self::Inner;

    /// The wrapped environment, mutably.
    fn inner_mut(&mut self) -> &mut Self::Inner;

    /// [`Env::id`]; by default the wrapped environment's.
    fn id(this: &Self) -> &str {
        this.inner().id()
    }

    /// [`Env::observation_space`]; by default the wrapped environment's.
    fn observation_space(this: &Self) -> &Space {
        this.inner().observation_space()
    }

    /// [`Env::action_space`]; by default the wrapped environment's.
    fn action_space(this: &Self) -> &Space {
        this.inner().action_space()
    }

    /// [`Env::reset`]; by default resets the wrapped environment.
    fn reset(this: &mut Self, seed: Option<u64>, obs: &mut [f32]) {
        this.inner_mut().reset(seed, obs)
    }

    /// [`Env::step`]; by default steps the wrapped environment.
    fn step(this: &mut Self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        this.inner_mut().step(action, obs)
    }

    /// [`Env::metric_names`]; by default the wrapped environment's.
    fn metric_names(this: &Self) -> &[String] {
        this.inner().metric_names()
    }

    /// [`Env::metrics`]; by default the wrapped environment's.
    fn metrics(this: &Self) -> &[f32] {
        this.inner().metrics()
    }

    /// [`Env::save_state`]; by default the wrapped environment's bytes, unchanged.
    fn save_state(this: &Self) -> Option<Vec<u8>> {
        this.inner().save_state()
    }

    /// [`Env::load_state`]; by default loads the bytes into the wrapped environment.
    fn load_state(this: &mut Self, state: &[u8]) -> Result<(), EnvError> {
        this.inner_mut().load_state(state)
    }
}

/// Every [`Wrapper`] is an [`Env`] whose methods are the wrapper's.
impl<W: Wrapper> Env for W {
    fn id(&self) -> &str {
        <W as Wrapper>::id(self)
    }
    fn observation_space(&self) -> &Space {
        <W as Wrapper>::observation_space(self)
    }
    fn action_space(&self) -> &Space {
        <W as Wrapper>::action_space(self)
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        <W as Wrapper>::reset(self, seed, obs)
    }
    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        <W as Wrapper>::step(self, action, obs)
    }
    fn metric_names(&self) -> &[String] {
        <W as Wrapper>::metric_names(self)
    }
    fn metrics(&self) -> &[f32] {
        <W as Wrapper>::metrics(self)
    }
    fn save_state(&self) -> Option<Vec<u8>> {
        <W as Wrapper>::save_state(self)
    }
    fn load_state(&mut self, state: &[u8]) -> Result<(), EnvError> {
        <W as Wrapper>::load_state(self, state)
    }
}

/// A box is the wrapper that changes nothing: `Box<dyn Env>` (what the
/// [`Registry`](crate::Registry) makes) is an [`Env`], and wraps like any other.
impl<E: Env + ?Sized> Wrapper for Box<E> {
    type Inner = E;

    fn inner(&self) -> &E {
        self
    }

    fn inner_mut(&mut self) -> &mut E {
        self
    }
}
