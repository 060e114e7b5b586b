//! Golden tests: the classic-control environments against the real Gymnasium.
//!
//! `tests/fixtures/<id>.json` were recorded from Gymnasium (version inside each file) by
//! `scripts/gen_gymnasium_fixtures.py`. Every observation and reward must agree within
//! [`TOL`] (absolute for values up to 1 in size, relative above: `|got - want| <= TOL *
//! max(1, |want|)`), and the terminated/truncated flags exactly. The largest deviation seen per
//! environment is printed (`cargo test -p polytask-envs --test gymnasium_conformance --
//! --nocapture`).

use std::path::PathBuf;

use polytask_envs::classic::{Acrobot, CartPole, MountainCar, MountainCarContinuous, Pendulum};
use polytask_envs::{Action, Env, EnvError, Params, Registry, Space};
use serde_json::Value;

const TOL: f64 = 1e-5;
const IDS: [&str; 5] = [
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Pendulum-v1",
];

fn fixture(id: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{id}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn params(v: &Value) -> Params {
    v.as_object().map_or_else(Params::new, |m| {
        m.iter()
            .map(|(k, x)| (k.as_str(), x.as_f64().unwrap()))
            .collect()
    })
}

/// The largest deviation seen, and where. Observations are compared as `f32` (the fixture's
/// 9 significant digits are exact for them) and rewards after rounding ours to 9 significant
/// digits as the fixture's were, so a deviation of 0 means identical to the recorded values.
#[derive(Default)]
struct Deviation {
    max: f64,
    at: String,
}

impl Deviation {
    fn check(&mut self, got: f64, want: f64, at: impl Fn() -> String) {
        assert!(
            (got - want).abs() <= TOL * want.abs().max(1.0),
            "{}: got {got}, Gymnasium {want}",
            at()
        );
        self.record((got - want).abs(), at);
    }

    fn check_reward(&mut self, got: f64, want: f64, at: impl Fn() -> String) {
        let rounded: f64 = format!("{got:.8e}").parse().unwrap();
        assert!(
            (got - want).abs() <= TOL * want.abs().max(1.0),
            "{} reward: got {got}, Gymnasium {want}",
            at()
        );
        self.record((rounded - want).abs(), || format!("{} reward", at()));
    }

    fn record(&mut self, dev: f64, at: impl Fn() -> String) {
        if dev > self.max {
            self.max = dev;
            self.at = at();
        }
    }

    fn check_obs(&mut self, got: &[f32], want: &Value, at: impl Fn() -> String) {
        let want = floats(want);
        assert_eq!(got.len(), want.len(), "{}", at());
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            self.check(f64::from(g), f64::from(w as f32), || {
                format!("{} obs[{i}]", at())
            });
        }
    }
}

/// The concrete environment for `id` with `params`, reset with seed 0 (as the generator
/// does) and then put into `state`.
fn env_in_state(id: &str, params: &Params, state: &[f64]) -> Box<dyn Env> {
    let registry = Registry::builtin();
    let spec = registry.spec(id).unwrap();
    let p = params.resolve(id, &spec.params).unwrap();
    let mut obs = [0.0f32; 8];
    macro_rules! make {
        ($ty:ty) => {{
            let mut env = <$ty>::with_params(&p).unwrap();
            env.reset(Some(0), &mut obs);
            env.set_state(state.try_into().expect("state length"));
            Box::new(env) as Box<dyn Env>
        }};
    }
    match id {
        "CartPole-v1" => make!(CartPole),
        "Acrobot-v1" => make!(Acrobot),
        "MountainCar-v0" => make!(MountainCar),
        "MountainCarContinuous-v0" => make!(MountainCarContinuous),
        "Pendulum-v1" => make!(Pendulum),
        _ => panic!("no fixture support for {id}"),
    }
}

fn step(env: &mut dyn Env, action: &Value, obs: &mut [f32]) -> polytask_envs::Step {
    let continuous;
    let action = match env.action_space() {
        Space::Discrete(_) => Action::Discrete(action.as_u64().unwrap() as usize),
        Space::Box(_) => {
            continuous = [action.as_f64().unwrap() as f32];
            Action::Continuous(&continuous)
        }
    };
    env.step(action, obs).unwrap()
}

fn conforms(id: &str) {
    let fx = fixture(id);
    assert_eq!(fx["id"], id);
    let registry = Registry::builtin();
    let mut dev = Deviation::default();

    // reset(seed=s), then reset() twice: the generator continues.
    let mut first_reset = Deviation::default();
    for case in fx["resets"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap();
        let mut env = registry.make(id, &Params::new()).unwrap();
        let mut obs = vec![0.0f32; env.observation_space().flat_dim()];
        for (k, want) in case["obs"].as_array().unwrap().iter().enumerate() {
            env.reset((k == 0).then_some(seed), &mut obs);
            first_reset.check_obs(&obs, want, || format!("{id} reset #{k} after seed {seed}"));
        }
    }

    // Fixed action sequences from set states, without a time limit.
    for traj in fx["trajectories"].as_array().unwrap() {
        let name = traj["name"].as_str().unwrap();
        let mut env = env_in_state(id, &params(&traj["params"]), &floats(&traj["state"]));
        let mut obs = vec![0.0f32; env.observation_space().flat_dim()];
        let actions = traj["actions"].as_array().unwrap();
        for (t, action) in actions.iter().enumerate() {
            let s = step(env.as_mut(), action, &mut obs);
            let at = || format!("{id} trajectory `{name}` step {t}");
            dev.check_obs(&obs, &traj["obs"][t], at);
            dev.check_reward(s.reward, traj["rewards"][t].as_f64().unwrap(), at);
            assert_eq!(
                u64::from(s.terminated),
                traj["terminated"][t].as_u64().unwrap(),
                "{} terminated",
                at()
            );
            assert!(!s.truncated, "{}", at());
        }
    }

    // Whole episodes through the registry (time limit included), resetting when one ends.
    for ep in fx["episodes"].as_array().unwrap() {
        let seed = ep["seed"].as_u64().unwrap();
        let mut env = registry.make(id, &Params::new()).unwrap();
        let mut obs = vec![0.0f32; env.observation_space().flat_dim()];
        for (t, action) in ep["actions"].as_array().unwrap().iter().enumerate() {
            let at = || format!("{id} episodes seed {seed} step {t}");
            if let Some(want) = ep["resets"].get(t.to_string()) {
                env.reset((t == 0).then_some(seed), &mut obs);
                dev.check_obs(&obs, want, || format!("{} reset", at()));
            }
            let s = step(env.as_mut(), action, &mut obs);
            dev.check_obs(&obs, &ep["obs"][t], at);
            dev.check_reward(s.reward, ep["rewards"][t].as_f64().unwrap(), at);
            assert_eq!(
                u64::from(s.terminated),
                ep["terminated"][t].as_u64().unwrap(),
                "{} terminated",
                at()
            );
            assert_eq!(
                u64::from(s.truncated),
                ep["truncated"][t].as_u64().unwrap(),
                "{} truncated",
                at()
            );
        }
    }
    println!(
        "{id} vs Gymnasium {}: max |deviation| {:.3e} in steps ({}), {:.3e} in seeded resets ({})",
        fx["gymnasium"].as_str().unwrap_or("?"),
        dev.max,
        if dev.at.is_empty() { "-" } else { &dev.at },
        first_reset.max,
        if first_reset.at.is_empty() {
            "-"
        } else {
            &first_reset.at
        },
    );
}

#[test]
fn cartpole_matches_gymnasium() {
    conforms("CartPole-v1");
}

#[test]
fn acrobot_matches_gymnasium() {
    conforms("Acrobot-v1");
}

#[test]
fn mountain_car_matches_gymnasium() {
    conforms("MountainCar-v0");
}

#[test]
fn mountain_car_continuous_matches_gymnasium() {
    conforms("MountainCarContinuous-v0");
}

#[test]
fn pendulum_matches_gymnasium() {
    conforms("Pendulum-v1");
}

/// One action valid in every classic environment.
fn some_action(space: &Space, t: usize) -> Action<'static> {
    const CONT: [[f32; 1]; 3] = [[-0.7], [0.3], [1.0]];
    match space {
        Space::Discrete(n) => Action::Discrete(t % n),
        Space::Box(_) => Action::Continuous(&CONT[t % 3]),
    }
}

/// Runs 300 steps from `reset(Some(5))`, resetting on episode end; observations and rewards.
fn run(id: &str, params: &Params) -> (Vec<f32>, Vec<f64>) {
    let mut env = Registry::builtin().make(id, params).unwrap();
    let mut obs = vec![0.0f32; env.observation_space().flat_dim()];
    let (mut all_obs, mut rewards) = (Vec::new(), Vec::new());
    env.reset(Some(5), &mut obs);
    for t in 0..300 {
        let s = env
            .step(some_action(env.action_space(), t), &mut obs)
            .unwrap();
        all_obs.extend_from_slice(&obs);
        rewards.push(s.reward);
        if s.done() {
            env.reset(None, &mut obs);
        }
    }
    (all_obs, rewards)
}

#[test]
fn every_env_rejects_unknown_and_invalid_parameters() {
    let registry = Registry::builtin();
    let first_physical = [
        ("CartPole-v1", "gravity"),
        ("Acrobot-v1", "dt"),
        ("MountainCar-v0", "force"),
        ("MountainCarContinuous-v0", "power"),
        ("Pendulum-v1", "g"),
    ];
    for (id, name) in first_physical {
        let err = registry
            .make(id, &Params::new().with("gravty", 1.0))
            .err()
            .unwrap();
        assert!(
            matches!(&err, EnvError::UnknownParam { name, .. } if name == "gravty"),
            "{id}: {err}"
        );
        assert!(err.to_string().contains("reward_scale"), "{id}: {err}");
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = registry
                .make(id, &Params::new().with(name, bad))
                .err()
                .unwrap();
            assert!(
                matches!(&err, EnvError::InvalidParam { name: n, .. } if n == name),
                "{id} {name}={bad}: {err}"
            );
        }
        let err = registry
            .make(id, &Params::new().with("reward_scale", f64::NAN))
            .err()
            .unwrap();
        assert!(matches!(err, EnvError::InvalidParam { .. }), "{id}");
        let spec = registry.spec(id).unwrap();
        assert!(spec.params.iter().all(|p| !p.doc.is_empty()), "{id}");
    }
}

#[test]
fn reward_scale_multiplies_rewards_and_leaves_dynamics_alone() {
    for id in IDS {
        let (obs, rewards) = run(id, &Params::new());
        for scale in [-1.0, 2.5, 0.0] {
            let (scaled_obs, scaled) = run(id, &Params::new().with("reward_scale", scale));
            assert_eq!(obs, scaled_obs, "{id} reward_scale={scale}");
            for (r, s) in rewards.iter().zip(&scaled) {
                assert_eq!(*s, r * scale, "{id} reward_scale={scale}");
            }
        }
        assert!(rewards.iter().any(|&r| r != 0.0), "{id}");
    }
}

#[test]
fn physical_parameters_change_the_dynamics() {
    let changed = [
        ("CartPole-v1", "gravity", 15.0),
        ("Acrobot-v1", "link_mass_2", 2.0),
        ("MountainCar-v0", "gravity", 0.003),
        ("MountainCarContinuous-v0", "power", 0.003),
        ("Pendulum-v1", "g", 5.0),
    ];
    for (id, name, value) in changed {
        let (obs, _) = run(id, &Params::new());
        let (other, _) = run(id, &Params::new().with(name, value));
        assert_ne!(obs, other, "{id} {name}={value}");
    }
}
