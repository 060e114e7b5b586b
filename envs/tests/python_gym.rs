//! `gym:` ids against the real Python Gymnasium (feature `python`): for the same seed and
//! actions `gym:CartPole-v1` gives exactly the observations of polytask's `CartPole-v1`
//! (and `gym:Pendulum-v1` those of `Pendulum-v1`, through a Box action space), truncation
//! maps through, and unsupported spaces or Python errors are clear errors.
//!
//! Skipped with a message when Python Gymnasium is not importable (see docs/custom-envs.md,
//! "Python Gymnasium environments"); `scripts/test` installs it and sets
//! `POLYTASK_REQUIRE_GYMNASIUM=1`, which turns the skip into a failure.

#![cfg(feature = "python")]

use polytask_envs::adapters::gymnasium_version;
use polytask_envs::{Action, Env, EnvError, Params, Registry, Space};
use rand::SeedableRng;

/// Whether Gymnasium is importable; prints why a test is skipped when it is not.
fn gymnasium_available(test: &str) -> bool {
    match gymnasium_version() {
        Ok(_) => true,
        Err(e) if std::env::var_os("POLYTASK_REQUIRE_GYMNASIUM").is_some() => {
            panic!("POLYTASK_REQUIRE_GYMNASIUM is set, but {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: Python gymnasium is not importable. {e}");
            false
        }
    }
}

fn make(id: &str, params: &Params) -> Box<dyn Env> {
    Registry::builtin()
        .make(id, params)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Steps `gym` and `native` side by side with the same random actions over several episodes
/// (seeded resets and unseeded ones) and asserts identical observations, rewards and flags.
/// Returns the number of steps compared and of truncations seen.
fn compare(
    gym: &mut dyn Env,
    native: &mut dyn Env,
    episodes: u64,
    steps_cap: usize,
) -> (usize, usize) {
    assert_eq!(gym.observation_space(), native.observation_space());
    assert_eq!(gym.action_space(), native.action_space());
    let dim = native.observation_space().flat_dim();
    let (mut got, mut want) = (vec![0.0f32; dim], vec![0.0f32; dim]);
    let mut action = vec![0.0f32; native.action_space().flat_dim()];
    let mut policy = rand_pcg::Pcg64::seed_from_u64(11);
    let (mut steps, mut truncations) = (0, 0);
    for episode in 0..episodes {
        // Even episodes re-seed, odd ones continue the generator as Gymnasium's reset().
        let seed = (episode % 2 == 0).then_some(episode * 7 + 1);
        gym.reset(seed, &mut got);
        native.reset(seed, &mut want);
        assert_eq!(got, want, "episode {episode}: first observation");
        for t in 0..steps_cap {
            native.action_space().sample_into(&mut policy, &mut action);
            let a = Action::from_flat(native.action_space(), &action);
            let g = gym.step(a, &mut got).unwrap();
            let w = native.step(a, &mut want).unwrap();
            assert_eq!(got, want, "episode {episode} step {t}");
            assert_eq!(g, w, "episode {episode} step {t}");
            steps += 1;
            truncations += usize::from(g.truncated);
            if g.done() {
                break;
            }
        }
    }
    (steps, truncations)
}

#[test]
fn gym_cartpole_observations_equal_the_native_ones() {
    if !gymnasium_available("gym_cartpole_observations_equal_the_native_ones") {
        return;
    }
    let mut gym = make("gym:CartPole-v1", &Params::new());
    let mut native = make("CartPole-v1", &Params::new());
    assert_eq!(gym.id(), "gym:CartPole-v1");
    let (steps, _) = compare(&mut *gym, &mut *native, 20, 600);
    assert!(steps > 200, "only {steps} steps compared");
}

#[test]
fn time_limits_come_from_gymnasium_and_truncation_maps_through() {
    if !gymnasium_available("time_limits_come_from_gymnasium_and_truncation_maps_through") {
        return;
    }
    // Pendulum never terminates: every episode ends by its time limit (here 20 steps).
    let params = Params::new().with("max_episode_steps", 20.0);
    let mut gym = make("gym:Pendulum-v1", &params);
    let mut native = make("Pendulum-v1", &params);
    let (steps, truncations) = compare(&mut *gym, &mut *native, 4, 100);
    assert_eq!((steps, truncations), (80, 4));
    // Without the parameter, Gymnasium's registered limit of 200 steps applies (only once).
    let mut gym = make("gym:Pendulum-v1", &Params::new());
    let mut native = make("Pendulum-v1", &Params::new());
    assert_eq!(compare(&mut *gym, &mut *native, 1, 1000), (200, 1));
}

#[test]
fn discrete_observations_are_one_value() {
    if !gymnasium_available("discrete_observations_are_one_value") {
        return;
    }
    let mut env = make("gym:FrozenLake-v1", &Params::new());
    assert_eq!(env.observation_space(), &Space::Discrete(16));
    assert_eq!(env.action_space(), &Space::Discrete(4));
    let mut obs = [f32::NAN];
    env.reset(Some(0), &mut obs);
    assert_eq!(obs, [0.0]);
    for t in 0..50 {
        let step = env.step(Action::Discrete(t % 4), &mut obs).unwrap();
        assert!(env.observation_space().contains(&obs), "{obs:?}");
        if step.done() {
            env.reset(None, &mut obs);
        }
    }
}

#[test]
fn unsupported_spaces_and_python_errors_are_clear() {
    if !gymnasium_available("unsupported_spaces_and_python_errors_are_clear") {
        return;
    }
    let registry = Registry::builtin();
    let message = |id: &str, params: &Params| match registry.make(id, params) {
        Ok(_) => panic!("{id} was made"),
        Err(e) => {
            assert!(matches!(e, EnvError::External { .. }), "{e}");
            e.to_string()
        }
    };
    let m = message("gym:Blackjack-v1", &Params::new());
    assert!(
        m.contains("gym:Blackjack-v1") && m.contains("observation space Tuple("),
        "{m}"
    );
    let m = message("gym:NoSuchEnv-v0", &Params::new());
    assert!(
        m.contains("gymnasium.make failed") && m.contains("NoSuchEnv"),
        "{m}"
    );
    let m = message("gym:CartPole-v1", &Params::new().with("no_such_kwarg", 1.0));
    assert!(m.contains("no_such_kwarg"), "{m}");
    let mut env = registry.make("gym:CartPole-v1", &Params::new()).unwrap();
    let mut obs = [0.0f32; 4];
    let err = env.step(Action::Discrete(0), &mut obs).unwrap_err();
    assert!(matches!(err, EnvError::NeedsReset { .. }), "{err}");
    env.reset(Some(0), &mut obs);
    let err = env.step(Action::Discrete(2), &mut obs).unwrap_err();
    assert!(matches!(err, EnvError::InvalidAction { .. }), "{err}");
}

/// Whether Meta-World is importable (`scripts/test` installs it and sets
/// `POLYTASK_REQUIRE_MUJOCO=1`, which turns the skip into a failure).
fn metaworld_env(test: &str, params: &Params) -> Option<Box<dyn Env>> {
    if !gymnasium_available(test) {
        return None;
    }
    match Registry::builtin().make("gym:polytask/Meta-World-MT10", params) {
        Ok(env) => Some(env),
        Err(e)
            if std::env::var_os("POLYTASK_REQUIRE_MUJOCO").is_none()
                && e.to_string().contains("No module named") =>
        {
            eprintln!("SKIPPED {test}: Meta-World is not importable. {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// `gym:polytask/Meta-World-MT10` with `env_name = "push-v3"` is the environment at
/// push-v3's position in Meta-World's own MT10 vector env (`gym.make_vec("Meta-World/MT10",
/// seed=1)`, metaworld 3.1.1): the same goals, first observation, observations, rewards and
/// `success` metric for the same actions (fixture from scripts/gen_metaworld_fixtures.py).
#[test]
fn metaworld_mt10_tasks_are_the_environments_of_metaworlds_mt10() {
    let text = include_str!("fixtures/metaworld/mt10-push-v3.json");
    let fixture: serde_json::Value = serde_json::from_str(text).unwrap();
    let params = Params::new()
        .with("env_name", "push-v3")
        .with("seed", fixture["seed"].as_f64().unwrap())
        .with("info_metrics", "success")
        .with("disable_env_checker", true);
    let test = "metaworld_mt10_tasks_are_the_environments_of_metaworlds_mt10";
    let Some(mut env) = metaworld_env(test, &params) else {
        return;
    };
    assert_eq!(env.metric_names(), ["success"]);
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        let values = v.as_array().unwrap();
        values.iter().map(|x| x.as_f64().unwrap() as f32).collect()
    };
    let close = |got: &[f32], want: &[f32], what: &str| {
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{what}: {got:?} vs {want:?}"
            );
        }
    };
    let mut obs = vec![0.0f32; 39];
    env.reset(fixture["reset_seed"].as_u64(), &mut obs);
    close(&obs, &floats(&fixture["first_obs"]), "first observation");
    let steps = fixture["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    for (t, step) in steps.iter().enumerate() {
        let action = floats(&step["action"]);
        let out = env.step(Action::Continuous(&action), &mut obs).unwrap();
        close(&obs, &floats(&step["obs"]), &format!("step {t}"));
        let reward = step["reward"].as_f64().unwrap();
        assert!(
            (out.reward - reward).abs() <= 1e-9 * reward.abs().max(1.0),
            "step {t}"
        );
        assert_eq!(env.metrics(), [step["success"].as_f64().unwrap() as f32]);
    }
}
