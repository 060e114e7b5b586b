//! Clips continuous actions into the action space's bounds, as Gymnasium's `ClipAction`
//! (`gymnasium/wrappers/transform_action.py`, Gymnasium 1.4): `np.clip(action, low, high)`
//! elementwise, and the wrapper's action space becomes an unbounded `Box` of the same shape.
//!
//! Unlike Gymnasium (which rejects a non-`Box` action space), a `Discrete` action space is
//! allowed and its actions pass through unchanged, so that one wrapper stack fits every task.

use super::Wrapper;
use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

/// An environment that accepts any real action vector and clips it into the wrapped
/// environment's `Box` bounds; Gymnasium's `ClipAction`. Discrete actions pass through.
/// The clipped action is written into a buffer made in [`new`](Self::new), so stepping
/// allocates nothing. It has no state of its own, so it keeps [`Wrapper`]'s defaults:
/// [`Env::save_state`] and [`Env::load_state`] are the wrapped environment's.
#[derive(Debug)]
pub struct ClipAction<E> {
    env: E,
    action_space: Space,
    clipped: Vec<f32>,
}

impl<E: Env> ClipAction<E> {
    /// Wraps `env`.
    pub fn new(env: E) -> Self {
        let (action_space, clipped) = match env.action_space() {
            Space::Box(b) => {
                let n = b.low.len();
                let unbounded = BoxSpace {
                    low: vec![f32::NEG_INFINITY; n],
                    high: vec![f32::INFINITY; n],
                    shape: b.shape.clone(),
                };
                (Space::Box(unbounded), vec![0.0; n])
            }
            discrete @ Space::Discrete(_) => (discrete.clone(), Vec::new()),
        };
        Self {
            env,
            action_space,
            clipped,
        }
    }

    /// The wrapped environment's action space, whose bounds actions are clipped into.
    pub fn clip_space(&self) -> &Space {
        self.env.action_space()
    }

    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }
}

impl<E: Env> Wrapper for ClipAction<E> {
    type Inner = E;
    fn inner(&self) -> &E {
        &self.env
    }
    fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    /// An unbounded `Box` of the wrapped shape for a `Box` space; the wrapped `Discrete`
    /// space otherwise.
    fn action_space(this: &Self) -> &Space {
        &this.action_space
    }
    fn step(this: &mut Self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let (Action::Continuous(a), Space::Box(b)) = (action, this.env.action_space()) else {
            return this.env.step(action, obs);
        };
        if a.len() != this.clipped.len() {
            // Wrong length: nothing to clip; the wrapped environment reports the error.
            return this.env.step(action, obs);
        }
        // As np.clip: NaN stays NaN (and the wrapped environment rejects it).
        b.clip(a, &mut this.clipped);
        this.env.step(Action::Continuous(&this.clipped), obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::test_env::ScriptedEnv;

    fn box_env() -> ClipAction<ScriptedEnv> {
        let inner =
            ScriptedEnv::new(&[0.0], None).with_box_actions(&[-1.0, 0.0, -2.0], &[1.0, 0.5, 2.0]);
        ClipAction::new(inner)
    }

    #[test]
    fn clips_each_element_into_its_bounds() {
        let mut env = box_env();
        let mut obs = [0.0; 2];
        env.reset(None, &mut obs);
        env.step(Action::Continuous(&[-3.0, 0.25, 7.5]), &mut obs)
            .unwrap();
        assert_eq!(env.inner().last_action, [-1.0, 0.25, 2.0]);
        env.step(
            Action::Continuous(&[f32::INFINITY, f32::NEG_INFINITY, -2.0]),
            &mut obs,
        )
        .unwrap();
        assert_eq!(env.inner().last_action, [1.0, 0.0, -2.0]);
        env.step(Action::Continuous(&[1.0, 0.5, 1.999]), &mut obs)
            .unwrap();
        assert_eq!(env.inner().last_action, [1.0, 0.5, 1.999]);
    }

    #[test]
    fn action_space_becomes_unbounded_with_the_same_shape() {
        let env = box_env();
        let Space::Box(b) = env.action_space() else {
            panic!("not a Box")
        };
        assert_eq!(b.shape, vec![3]);
        assert!(env.action_space().contains(&[-1e30, 0.0, 1e30]));
        assert_eq!(env.clip_space(), env.inner().action_space());
    }

    #[test]
    fn nan_and_wrong_length_reach_the_wrapped_env_and_fail_there() {
        let mut env = box_env();
        let mut obs = [0.0; 2];
        env.reset(None, &mut obs);
        let err = env
            .step(Action::Continuous(&[0.0, f32::NAN, 0.0]), &mut obs)
            .unwrap_err();
        assert!(matches!(err, EnvError::InvalidAction { .. }), "{err}");
        let err = env
            .step(Action::Continuous(&[0.0, 0.0]), &mut obs)
            .unwrap_err();
        assert!(matches!(err, EnvError::InvalidAction { .. }), "{err}");
    }

    #[test]
    fn discrete_actions_pass_through() {
        let mut env = ClipAction::new(ScriptedEnv::new(&[0.0], None));
        assert_eq!(env.action_space(), &Space::Discrete(2));
        let mut obs = [0.0; 2];
        env.reset(None, &mut obs);
        env.step(Action::Discrete(1), &mut obs).unwrap();
        assert_eq!(env.inner().last_action, [1.0]);
        assert!(env.step(Action::Discrete(5), &mut obs).is_err());
    }
}
