//! Gymnasium's classic-control environments (`gymnasium/envs/classic_control/`, Gymnasium 1.4),
//! reproduced operation for operation: the same constants, integrators, rewards, termination
//! rules, spaces, reset distributions (drawn from [`crate::rng::NpRandom`] in Gymnasium's
//! order) and time limits, so that `reset(Some(seed))` and a sequence of actions give
//! Gymnasium's observations.
//!
//! Each environment's physical constants are parameters (defaults are Gymnasium's values),
//! and every environment accepts `reward_scale`, which multiplies the reward (`-1` flips its
//! sign, which makes tasks that conflict).
//!
//! Each saves its dynamic state ([`Env::save_state`](crate::Env::save_state)) as a small
//! private struct (state vector, random number generator, counters; never the parameters)
//! behind its id (see `wrappers::save_tagged`), so that the state of one environment is
//! refused by another even where the two structs have the same layout (MountainCar's and
//! Pendulum's do).

mod acrobot;
mod cartpole;
mod mountain_car;
mod mountain_car_continuous;
mod pendulum;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use mountain_car::MountainCar;
pub use mountain_car_continuous::MountainCarContinuous;
pub use pendulum::Pendulum;

use crate::rng::NpRandom;
use crate::state::{load_tagged, save_tagged};
use crate::{invalid_action, Action, EnvError, EnvSpec, ParamSpec, Space};

/// The specs of the five classic-control environments, with Gymnasium's time limits and
/// reward thresholds.
pub fn specs() -> Vec<EnvSpec> {
    vec![
        cartpole::spec(),
        acrobot::spec(),
        mountain_car::spec(),
        mountain_car_continuous::spec(),
        pendulum::spec(),
    ]
}

/// The `reward_scale` parameter that every classic environment accepts.
const REWARD_SCALE: ParamSpec = ParamSpec {
    name: "reward_scale",
    default: 1.0,
    doc: "factor applied to every reward (dimensionless; -1 flips the sign)",
};

/// The index of a discrete action, or `InvalidAction` if it is not in `0..n`.
fn discrete(env: &str, action: Action<'_>, space: &Space, n: usize) -> Result<usize, EnvError> {
    match action {
        Action::Discrete(a) if a < n => Ok(a),
        _ => Err(invalid_action(env, action, space)),
    }
}

/// The value of a one-dimensional continuous action. Like Gymnasium, a finite value outside
/// the bounds is accepted (the environment clips it); a wrong length or a non-finite value
/// is `InvalidAction`.
fn continuous1(env: &str, action: Action<'_>, space: &Space) -> Result<f32, EnvError> {
    match action {
        Action::Continuous(&[a]) if a.is_finite() => Ok(a),
        _ => Err(invalid_action(env, action, space)),
    }
}

/// `x ** 2` as Python and NumPy evaluate it on a float64: C `pow(x, 2.0)`, which (in glibc)
/// is not always the correctly rounded `x * x`. `black_box` keeps the compiler from
/// folding it into `x * x`.
fn py_square(x: f64) -> f64 {
    x.powf(std::hint::black_box(2.0))
}

/// `x ** 2` on a NumPy float32 scalar: C `powf(x, 2.0f)` (see [`py_square`]).
fn py_square_f32(x: f32) -> f32 {
    x.powf(std::hint::black_box(2.0))
}

/// The saved state of an environment whose whole dynamic state is its physical state and its
/// generator (Acrobot, MountainCar, Pendulum).
#[derive(serde::Serialize, serde::Deserialize)]
struct Physics<S> {
    state: Option<S>,
    rng: Option<NpRandom>,
}

/// [`Env::save_state`](crate::Env::save_state) of such an environment, tagged with its id.
fn save_physics<S: serde::Serialize + Copy>(
    id: &str,
    state: &Option<S>,
    rng: &Option<NpRandom>,
) -> Vec<u8> {
    save_tagged(
        id,
        &Physics {
            state: *state,
            rng: rng.clone(),
        },
    )
}

/// [`Env::load_state`](crate::Env::load_state) of such an environment.
fn load_physics<S: serde::de::DeserializeOwned>(
    id: &str,
    bytes: &[u8],
) -> Result<(Option<S>, Option<NpRandom>), EnvError> {
    let saved: Physics<S> = load_tagged(id, id, bytes)?;
    Ok((saved.state, saved.rng))
}

/// The error for `step` before the first `reset` (Gymnasium asserts the state exists).
fn needs_reset(env: &str) -> EnvError {
    EnvError::NeedsReset {
        env: env.to_string(),
        when: "before reset",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Env, Params, Registry};

    #[test]
    fn specs_carry_gymnasium_limits_and_thresholds() {
        let expected = [
            ("CartPole-v1", 500, Some(475.0)),
            ("Acrobot-v1", 500, Some(-100.0)),
            ("MountainCar-v0", 200, Some(-110.0)),
            ("MountainCarContinuous-v0", 999, Some(90.0)),
            ("Pendulum-v1", 200, None),
        ];
        let specs = specs();
        assert_eq!(specs.len(), expected.len());
        for (spec, (id, limit, threshold)) in specs.iter().zip(expected) {
            assert_eq!(spec.id, id);
            assert_eq!(spec.max_episode_steps, Some(limit), "{id}");
            assert_eq!(spec.reward_threshold, threshold, "{id}");
            assert!(spec.params.iter().any(|p| p.name == "reward_scale"), "{id}");
            assert!(!spec.summary.is_empty(), "{id}");
        }
    }

    #[test]
    fn made_envs_have_their_id_and_observations_in_space() {
        let registry = Registry::builtin();
        for id in [
            "CartPole-v1",
            "Acrobot-v1",
            "MountainCar-v0",
            "MountainCarContinuous-v0",
            "Pendulum-v1",
        ] {
            let mut env = registry.make(id, &Params::new()).unwrap();
            assert_eq!(env.id(), id);
            let mut obs = vec![0.0; env.observation_space().flat_dim()];
            env.reset(Some(0), &mut obs);
            assert!(env.observation_space().contains(&obs), "{id}: {obs:?}");
        }
    }

    #[test]
    fn stepping_before_reset_is_an_error() {
        let registry = Registry::builtin();
        for spec in registry.specs() {
            let mut env = spec.make(&Params::new()).unwrap();
            let mut obs = vec![0.0; env.observation_space().flat_dim()];
            let action = match env.action_space() {
                Space::Discrete(_) => Action::Discrete(0),
                Space::Box(_) => Action::Continuous(&[0.0]),
            };
            let err = env.step(action, &mut obs).unwrap_err();
            assert!(
                matches!(err, EnvError::NeedsReset { .. }),
                "{}: {err}",
                spec.id
            );
        }
    }
}
