//! Environments written against the [`gymnasium-rs`](https://crates.io/crates/gymnasium-rs)
//! crate (version 0.1.1, trait `gymnasium_rs::core::Env<Obs, Action>`), made into polytask
//! [`Env`]s.
//!
//! What the adapter translates:
//!
//! | gymnasium-rs 0.1.1                         | polytask                                   |
//! |--------------------------------------------|--------------------------------------------|
//! | `Space::Discrete(n)` (`n: i32`, `n > 0`)   | [`Space::Discrete`]`(n)`                   |
//! | `Space::Box { low, high }` (1-D `f32`)     | [`Space::Box`] of shape `[low.len()]`      |
//! | `reset(Option<i32>, Options) -> (Obs, Info)` | `reset(Option<u64>, &mut [f32])`         |
//! | `step(A) -> (Obs, f32, bool, bool, Info)`  | `step(Action, &mut [f32]) -> Step`         |
//!
//! - Seeds: gymnasium-rs takes an `i32` seed, so a polytask seed is reduced to its low 32
//!   bits (reinterpreted as `i32`); seeds that differ only above bit 31 give the same episode.
//! - Observations: `Array1<f32>` (for a `Box` space) or `i32` (for a `Discrete` space; see
//!   [`RsObservation`]); actions: `i32` (Discrete) or `Array1<f32>` (Box; see [`RsAction`]).
//!   Info maps are dropped; reset options are always empty.
//! - Per step the crate's API allocates (an owned observation and an info map) and a Box
//!   action is built as an `Array1`; the adapter copies the observation into the caller's
//!   buffer. Unlike polytask's own environments it is therefore not allocation-free.
//! - Time limits: gymnasium-rs's `TimeLimitWrapper` borrows its environment and is not `Send`;
//!   register the adapter in an [`EnvSpec`](crate::EnvSpec) with `max_episode_steps` instead,
//!   so that polytask's [`TimeLimit`](crate::wrappers::TimeLimit) applies.
//! - Saved state: gymnasium-rs's `Env` trait exposes no way to read or set an environment's
//!   state (nor its random generator), so the adapter keeps [`Env::save_state`]'s default
//!   `None`; a resumed training run starts fresh episodes for it.
//! - The crate's own `CartPole` is not Gymnasium's `CartPole-v1` (nor polytask's), as
//!   `envs/tests/gymnasium_rs_adapter.rs` pins: its total mass is 1.0 kg (Gymnasium: cart
//!   1.0 + pole 0.1), its cart acceleration subtracts `length * thetaacc * cos(theta) /
//!   total_mass` (Gymnasium: `masspole * length * ...`), it computes in `f32`, its start
//!   state comes from `StdRng` (not NumPy's generator, so a seed gives another start state),
//!   it gives reward 0 (not 1) on the terminating step, and its observation space bounds the
//!   velocities by `±f32::MAX` (not `±inf`) and the angle by `±12°` (not `±24°`).

use std::marker::PhantomData;

use gymnasium_rs::core::{Env as RsEnv, Options, Space as RsSpace};
use ndarray::Array1;

use crate::{invalid_action, Action, BoxSpace, Env, EnvError, Space, Step};

/// An observation type of a gymnasium-rs environment that the adapter can flatten.
pub trait RsObservation {
    /// Writes the observation into `out` (whose length is the observation space's
    /// [`Space::flat_dim`]); a length that does not fit is described in the error.
    fn write_flat(&self, out: &mut [f32]) -> Result<(), String>;
}

/// A `Box` observation: the array, element by element.
impl RsObservation for Array1<f32> {
    fn write_flat(&self, out: &mut [f32]) -> Result<(), String> {
        if self.len() != out.len() {
            return Err(format!(
                "an observation of {} values; its observation space holds {}",
                self.len(),
                out.len()
            ));
        }
        for (o, &v) in out.iter_mut().zip(self.iter()) {
            *o = v;
        }
        Ok(())
    }
}

/// A `Discrete` observation: the index as one value.
impl RsObservation for i32 {
    fn write_flat(&self, out: &mut [f32]) -> Result<(), String> {
        match out {
            [o] => {
                *o = *self as f32;
                Ok(())
            }
            _ => Err(format!(
                "a discrete observation; its observation space holds {} values",
                out.len()
            )),
        }
    }
}

/// An action type of a gymnasium-rs environment that polytask's [`Action`]s convert to.
pub trait RsAction: Sized {
    /// The action for `action`, already checked to lie in the action space; `None` when
    /// `action` is of the other kind (discrete for a continuous type or the reverse).
    fn from_action(action: Action<'_>) -> Option<Self>;
}

/// A `Discrete` action: the index.
impl RsAction for i32 {
    fn from_action(action: Action<'_>) -> Option<Self> {
        match action {
            Action::Discrete(a) => i32::try_from(a).ok(),
            Action::Continuous(_) => None,
        }
    }
}

/// A `Box` action: the vector, copied into a new array (gymnasium-rs takes it by value).
impl RsAction for Array1<f32> {
    fn from_action(action: Action<'_>) -> Option<Self> {
        match action {
            Action::Continuous(values) => Some(Array1::from(values.to_vec())),
            Action::Discrete(_) => None,
        }
    }
}

/// A gymnasium-rs environment `E` (observations `O`, actions `A`) as a polytask [`Env`].
///
/// ```
/// use gymnasium_rs::envs::cartpole::CartPole;
/// use polytask_envs::{adapters::GymnasiumRs, EnvSpec, Registry};
///
/// let mut registry = Registry::builtin();
/// registry.register(
///     EnvSpec::new("RsCartPole-v1", &[], |_| {
///         Ok(Box::new(GymnasiumRs::new("RsCartPole-v1", CartPole::new())?))
///     })
///     .max_episode_steps(500),
/// );
/// ```
pub struct GymnasiumRs<E, O, A>
where
    E: RsEnv<O, A>,
    O: RsObservation,
    A: RsAction,
{
    id: String,
    env: E,
    observation_space: Space,
    action_space: Space,
    /// Whether `reset` has been called.
    reset_done: bool,
    /// Steps since the last reset, for error messages.
    steps: u64,
    /// A broken observation from `reset`, reported by the next `step` (reset cannot fail).
    fault: Option<String>,
    types: PhantomData<fn(A) -> O>,
}

impl<E, O, A> GymnasiumRs<E, O, A>
where
    E: RsEnv<O, A>,
    O: RsObservation,
    A: RsAction,
{
    /// Wraps `env` under the id `id` (used in error messages), translating its spaces.
    /// A space polytask cannot represent (a non-positive `Discrete` size, `Box` bounds of
    /// different lengths, a NaN bound or `low > high`) is an [`EnvError::Contract`].
    pub fn new(id: impl Into<String>, env: E) -> Result<Self, EnvError> {
        let id = id.into();
        let observation_space = translate(&id, "observation", env.observation_space())?;
        let action_space = translate(&id, "action", env.action_space())?;
        Ok(Self {
            id,
            env,
            observation_space,
            action_space,
            reset_done: false,
            steps: 0,
            fault: None,
            types: PhantomData,
        })
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// The wrapped environment, mutably.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }

    fn contract(&self, problem: String) -> EnvError {
        EnvError::Contract {
            env: self.id.clone(),
            step: self.steps,
            problem,
        }
    }
}

/// The low 32 bits of `seed` as the `i32` that gymnasium-rs's `reset` takes.
fn seed_i32(seed: u64) -> i32 {
    seed as u32 as i32
}

/// Whether `action` lies in `space` as polytask's own environments check it: a discrete index
/// below `n`, or a finite vector of the box's length (out-of-bounds values are the
/// environment's to clip, as in Gymnasium).
fn in_space(action: Action<'_>, space: &Space) -> bool {
    match (action, space) {
        (Action::Discrete(a), Space::Discrete(n)) => a < *n,
        (Action::Continuous(v), Space::Box(b)) => {
            v.len() == b.low.len() && v.iter().all(|x| x.is_finite())
        }
        _ => false,
    }
}

fn translate(id: &str, which: &str, space: RsSpace) -> Result<Space, EnvError> {
    let problem = match &space {
        RsSpace::Discrete(n) if *n > 0 => return Ok(Space::Discrete(*n as usize)),
        RsSpace::Box { low, high }
            if low.len() == high.len() && low.iter().zip(high).all(|(l, h)| l <= h) =>
        {
            return Ok(Space::Box(BoxSpace::new(low.to_vec(), high.to_vec())));
        }
        RsSpace::Discrete(_) => "a Discrete space needs at least one element",
        RsSpace::Box { .. } => "Box bounds must have equal lengths and satisfy low <= high",
    };
    Err(EnvError::Contract {
        env: id.to_string(),
        step: 0,
        problem: format!("its {which} space {space:?} is not usable: {problem}"),
    })
}

impl<E, O, A> Env for GymnasiumRs<E, O, A>
where
    E: RsEnv<O, A> + Send,
    O: RsObservation,
    A: RsAction,
{
    fn id(&self) -> &str {
        &self.id
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        let (first, _info) = self.env.reset(seed.map(seed_i32), Options::new());
        self.reset_done = true;
        self.steps = 0;
        self.fault = first
            .write_flat(obs)
            .err()
            .map(|p| format!("reset returned {p}"));
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        if !self.reset_done {
            return Err(EnvError::NeedsReset {
                env: self.id.clone(),
                when: "before reset",
            });
        }
        if let Some(problem) = self.fault.take() {
            return Err(self.contract(problem));
        }
        let converted = in_space(action, &self.action_space)
            .then(|| A::from_action(action))
            .flatten();
        let Some(converted) = converted else {
            return Err(invalid_action(&self.id, action, &self.action_space));
        };
        let (next, reward, terminated, truncated, _info) = self.env.step(converted);
        self.steps += 1;
        next.write_flat(obs)
            .map_err(|p| self.contract(format!("step returned {p}")))?;
        Ok(Step {
            reward: f64::from(reward),
            terminated,
            truncated,
        })
    }
}

/// Closes the wrapped environment, as Gymnasium's `env.close()`.
impl<E, O, A> Drop for GymnasiumRs<E, O, A>
where
    E: RsEnv<O, A>,
    O: RsObservation,
    A: RsAction,
{
    fn drop(&mut self) {
        self.env.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_keep_their_low_32_bits() {
        assert_eq!(seed_i32(7), 7);
        assert_eq!(seed_i32(u32::MAX as u64), -1);
        assert_eq!(seed_i32((1 << 32) + 5), 5);
    }

    #[test]
    fn unusable_spaces_are_contract_errors_naming_the_env() {
        let err = translate("X-v0", "action", RsSpace::Discrete(0)).unwrap_err();
        assert!(err.to_string().contains("X-v0") && err.to_string().contains("Discrete(0)"));
        let bad_box = RsSpace::Box {
            low: Array1::from(vec![1.0f32]),
            high: Array1::from(vec![0.0f32]),
        };
        let err = translate("X-v0", "observation", bad_box).unwrap_err();
        assert!(err.to_string().contains("observation space"), "{err}");
    }

    #[test]
    fn observations_of_the_wrong_length_are_described() {
        let mut out = [0.0f32; 2];
        assert!(Array1::from(vec![1.0f32, 2.0]).write_flat(&mut out).is_ok());
        assert_eq!(out, [1.0, 2.0]);
        let err = Array1::from(vec![1.0f32]).write_flat(&mut out).unwrap_err();
        assert!(err.contains("1 values") && err.contains("holds 2"), "{err}");
        assert!(3i32.write_flat(&mut out).is_err());
        let mut one = [0.0f32];
        3i32.write_flat(&mut one).unwrap();
        assert_eq!(one, [3.0]);
    }

    #[test]
    fn actions_convert_only_to_their_own_kind() {
        assert_eq!(i32::from_action(Action::Discrete(1)), Some(1));
        assert_eq!(i32::from_action(Action::Continuous(&[1.0])), None);
        let a = Array1::<f32>::from_action(Action::Continuous(&[0.5, -1.0])).unwrap();
        assert_eq!(a.to_vec(), vec![0.5, -1.0]);
        assert!(Array1::<f32>::from_action(Action::Discrete(0)).is_none());
        let space = Space::Box(BoxSpace::new(vec![-1.0; 2], vec![1.0; 2]));
        assert!(in_space(Action::Continuous(&[3.0, 0.0]), &space));
        assert!(!in_space(Action::Continuous(&[f32::NAN, 0.0]), &space));
        assert!(!in_space(Action::Continuous(&[0.0]), &space));
        assert!(!in_space(Action::Discrete(0), &space));
    }
}
