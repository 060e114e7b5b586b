//! A wrapper written outside this crate against [`Wrapper`], overriding only `step`, behaves
//! as the environment it wraps in everything else: id, spaces, `reset`, and saved states
//! (the same bytes, loadable in either direction).

use polytask_envs::wrappers::Wrapper;
use polytask_envs::{Action, Env, EnvError, Params, Registry, Space, Step};

/// Multiplies every reward by `scale`; the only method it writes besides the accessors.
struct ScaleReward<E> {
    env: E,
    scale: f64,
}

impl<E: Env> Wrapper for ScaleReward<E> {
    type Inner = E;
    fn inner(&self) -> &E {
        &self.env
    }
    fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    fn step(this: &mut Self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let mut step = this.env.step(action, obs)?;
        step.reward *= this.scale;
        Ok(step)
    }
}

/// A power of two, so that scaled rewards compare exactly.
const SCALE: f64 = -0.25;

/// `id` with a short time limit, as the registry makes it (a `Box<dyn Env>` around a
/// `TimeLimit`), so that a few hundred steps cross several episode ends.
fn make(id: &str) -> Box<dyn Env> {
    let params = Params::new().with("max_episode_steps", 25.0);
    Registry::builtin().make(id, &params).unwrap()
}

/// Steps `env` and `twin` with the same actions (cycling through a fixed pattern from
/// `first`): observations and flags must be equal and rewards `SCALE` times the twin's.
/// Resets both with `reset(None)` after an episode end. Returns how many episodes ended.
fn lockstep(env: &mut impl Env, twin: &mut impl Env, first: usize, steps: usize) -> usize {
    let dim = twin.observation_space().flat_dim();
    let (mut obs, mut expected) = (vec![0.0f32; dim], vec![0.0f32; dim]);
    let mut ends = 0;
    for i in first..first + steps {
        let action = match twin.action_space() {
            Space::Discrete(n) => Action::Discrete((i / 3) % n),
            Space::Box(_) => Action::Continuous(&[[-1.5f32, 0.5, 2.0][i % 3]]),
        };
        let step = env.step(action, &mut obs).unwrap();
        let want = twin.step(action, &mut expected).unwrap();
        assert_eq!(obs, expected, "step {i}: observation");
        assert_eq!(
            (step.terminated, step.truncated),
            (want.terminated, want.truncated),
            "step {i}: flags"
        );
        assert_eq!(step.reward, want.reward * SCALE, "step {i}: reward");
        if step.done() {
            ends += 1;
            env.reset(None, &mut obs);
            twin.reset(None, &mut expected);
            assert_eq!(obs, expected, "step {i}: reset observation");
        }
    }
    ends
}

#[test]
fn a_wrapper_that_overrides_only_step_is_its_inner_env_in_everything_else() {
    for id in ["CartPole-v1", "Pendulum-v1"] {
        let mut env = ScaleReward {
            env: make(id),
            scale: SCALE,
        };
        let mut twin = make(id);

        assert_eq!(env.id(), id);
        assert_eq!(env.observation_space(), twin.observation_space());
        assert_eq!(env.action_space(), twin.action_space());
        assert!(matches!(
            (id, env.action_space()),
            ("CartPole-v1", Space::Discrete(2)) | ("Pendulum-v1", Space::Box(_))
        ));

        let dim = twin.observation_space().flat_dim();
        let (mut obs, mut expected) = (vec![0.0f32; dim], vec![0.0f32; dim]);
        env.reset(Some(11), &mut obs);
        twin.reset(Some(11), &mut expected);
        assert_eq!(obs, expected, "{id}: first observation");
        assert!(obs.iter().any(|&x| x != 0.0), "{id}: {obs:?}");
        let ends = lockstep(&mut env, &mut twin, 0, 60);
        assert!(ends >= 2, "{id}: only {ends} episode ends");

        // The saved state is the inner environment's, byte for byte: no tag of its own.
        let saved = env.save_state().unwrap();
        assert_eq!(Some(&saved), env.inner().save_state().as_ref());
        assert_eq!(Some(&saved), twin.save_state().as_ref());

        // Loading it back after moving on continues exactly as the run did from the save
        // point; a state saved by the bare environment loads into the wrapper too.
        let ends = lockstep(&mut env, &mut twin, 60, 40);
        assert!(ends >= 1, "{id}: no episode end after the save");
        let uninterrupted = twin.save_state().unwrap();
        env.load_state(&saved).unwrap();
        let mut resumed_twin = make(id);
        resumed_twin.load_state(&saved).unwrap();
        lockstep(&mut env, &mut resumed_twin, 60, 40);
        assert_eq!(env.save_state().as_ref(), Some(&uninterrupted));
        let mut wrapped = ScaleReward {
            env: make(id),
            scale: SCALE,
        };
        wrapped.load_state(&uninterrupted).unwrap();
        assert_eq!(wrapped.save_state().as_ref(), Some(&uninterrupted));
        lockstep(&mut wrapped, &mut twin, 100, 10);

        // Bytes the inner environment refuses are refused with its error, changing nothing.
        let before = env.save_state();
        let err = env.load_state(&saved[..saved.len() - 2]).unwrap_err();
        let inner_err = twin.load_state(&saved[..saved.len() - 2]).unwrap_err();
        assert_eq!(err, inner_err);
        assert!(
            matches!(err, EnvError::State { ref env, .. } if env == id),
            "{err}"
        );
        assert_eq!(env.save_state(), before);
    }
}
