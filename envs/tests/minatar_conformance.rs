//! Golden tests: the five MinAtar games (ten ids) against the real `minatar` 1.0.15 package.
//!
//! `tests/fixtures/minatar/<Game>-v<k>.json` were recorded through
//! `gymnasium.make("MinAtar/<Game>-v<k>", **params)` by `scripts/gen_minatar_fixtures.py`
//! (its docstring describes the format): whole runs of several episodes with sticky actions,
//! random and scripted actions, seeded first resets and unseeded later ones. Observations,
//! rewards and flags must be identical at every step, and each run's highest difficulty ramp
//! must equal the package's (so the long runs are known to cover ramping). A second test
//! saves the state in the middle of each run and checks that a fresh environment restored
//! from it steps on identically, across episode ends.

use std::path::PathBuf;

use polytask_envs::minatar::{
    ActionSet, Asterix, Breakout, Freeway, Game, MinAtar, Seaquest, SpaceInvaders,
};
use polytask_envs::{Action, Env, Params, Registry, Step};
use serde_json::Value;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

/// The fixture of `id`, from `tests/fixtures/minatar/`, or from the folder named by
/// `POLYTASK_MINATAR_FIXTURES` (e.g. one written by `gen_minatar_fixtures.py --stress 40`).
fn fixture(id: &str) -> Value {
    let name = id.strip_prefix("MinAtar/").unwrap();
    let dir = std::env::var_os("POLYTASK_MINATAR_FIXTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minatar"),
        PathBuf::from,
    );
    let path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The flat indices written as two base-64 characters each.
fn indices(code: &str) -> Vec<usize> {
    let digit = |c: u8| {
        ALPHABET
            .iter()
            .position(|&a| a == c)
            .expect("base-64 digit")
    };
    code.as_bytes()
        .chunks_exact(2)
        .map(|p| digit(p[0]) * 64 + digit(p[1]))
        .collect()
}

/// `gymnasium.make` keyword arguments as polytask parameters (booleans as 1/0).
fn params(v: &Value) -> Params {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, x)| {
            let value = x.as_f64().or_else(|| x.as_bool().map(f64::from)).unwrap();
            (k.as_str(), value)
        })
        .collect()
}

/// One recorded run: seed, actions, and per step the expected reward, flag and observation.
#[derive(Clone)]
struct Run {
    seed: u64,
    params: Params,
    policy: String,
    actions: Vec<usize>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    /// Step index -> 1-cells of the observation of the reset before that step.
    resets: Vec<Option<Vec<usize>>>,
    /// Per step, the cells that changed.
    changes: Vec<Vec<usize>>,
    ramps: Option<i64>,
}

fn runs(id: &str) -> Vec<Run> {
    let fx = fixture(id);
    assert_eq!(fx["id"], id);
    assert_eq!(fx["minatar"], "1.0.15");
    let runs = fx["runs"].as_array().unwrap();
    runs.iter()
        .map(|r| {
            let actions: Vec<usize> = r["actions"]
                .as_str()
                .unwrap()
                .bytes()
                .map(|b| usize::from(b - b'0'))
                .collect();
            let n = actions.len();
            let mut terminated = vec![false; n];
            for t in r["terminated"].as_array().unwrap() {
                terminated[t.as_u64().unwrap() as usize] = true;
            }
            let mut resets = vec![None; n];
            for (t, code) in r["resets"].as_object().unwrap() {
                let t: usize = t.parse().unwrap();
                if t < n {
                    resets[t] = Some(indices(code.as_str().unwrap()));
                }
            }
            Run {
                seed: r["seed"].as_u64().unwrap(),
                params: params(&r["params"]),
                policy: r["policy"].as_str().unwrap().to_string(),
                rewards: r["rewards"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect(),
                changes: r["obs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| indices(c.as_str().unwrap()))
                    .collect(),
                ramps: r["ramps"].as_i64(),
                actions,
                terminated,
                resets,
            }
        })
        .collect()
}

/// The observation's 1-cells.
fn ones(obs: &[f32]) -> Vec<usize> {
    assert!(obs.iter().all(|&v| v == 0.0 || v == 1.0), "not 0/1");
    (0..obs.len()).filter(|&i| obs[i] == 1.0).collect()
}

/// Replays `run` from step `from` (0: from the seeded reset; later: `env` is already at
/// that step, e.g. restored from a saved state, and `expected` holds its observation),
/// checking every step; returns the highest difficulty ramp seen.
fn replay<G: Game>(
    env: &mut MinAtar<G>,
    id: &str,
    run: &Run,
    from: usize,
    expected: &mut [bool],
) -> Option<i32> {
    let mut obs = vec![f32::NAN; env.observation_space().flat_dim()];
    let mut ramps = env.game().difficulty_ramp();
    for t in from..run.actions.len() {
        let at = || format!("{id} seed {} ({}) step {t}", run.seed, run.policy);
        if let Some(cells) = &run.resets[t] {
            env.reset((t == 0).then_some(run.seed), &mut obs);
            expected.iter_mut().for_each(|e| *e = false);
            cells.iter().for_each(|&i| expected[i] = true);
            assert_eq!(ones(&obs), *cells, "{} reset observation", at());
        }
        let step = env
            .step(Action::Discrete(run.actions[t]), &mut obs)
            .unwrap();
        for &i in &run.changes[t] {
            expected[i] = !expected[i];
        }
        let want: Vec<usize> = (0..expected.len()).filter(|&i| expected[i]).collect();
        assert_eq!(ones(&obs), want, "{} observation (1-cells)", at());
        let want_step = Step {
            reward: run.rewards[t],
            terminated: run.terminated[t],
            truncated: false,
        };
        assert_eq!(step, want_step, "{}", at());
        ramps = ramps.max(env.game().difficulty_ramp());
    }
    ramps
}

fn make<G: Game>(id: &str, params: &Params) -> MinAtar<G> {
    let spec = Registry::builtin().spec(id).unwrap().clone();
    let resolved = params.resolve(id, &spec.params).unwrap();
    let actions = if id.ends_with("-v0") {
        ActionSet::Full
    } else {
        ActionSet::Minimal
    };
    MinAtar::<G>::with_params(actions, &resolved).unwrap()
}

fn conforms<G: Game>(version: u8) {
    let id = format!("MinAtar/{}-v{version}", G::NAME);
    let runs = runs(&id);
    assert!(runs.len() >= 3, "{id}");
    let (mut steps, mut episodes) = (0, 0);
    for run in &runs {
        let mut env = make::<G>(&id, &run.params);
        let mut expected = vec![false; env.observation_space().flat_dim()];
        let ramps = replay(&mut env, &id, run, 0, &mut expected);
        assert_eq!(
            ramps.map(i64::from),
            run.ramps,
            "{id} seed {} ramps",
            run.seed
        );
        steps += run.actions.len();
        episodes += run.resets.iter().flatten().count();
    }
    // Through the registry too (the same code behind `Box<dyn Env>`): the first run.
    let run = &runs[0];
    let mut boxed = Registry::builtin().make(&id, &run.params).unwrap();
    let mut direct = make::<G>(&id, &run.params);
    let (mut a, mut b) = (vec![0.0; 100 * G::CHANNELS], vec![0.0; 100 * G::CHANNELS]);
    boxed.reset(Some(run.seed), &mut a);
    direct.reset(Some(run.seed), &mut b);
    for &action in &run.actions {
        let (sa, sb) = (
            boxed.step(Action::Discrete(action), &mut a).unwrap(),
            direct.step(Action::Discrete(action), &mut b).unwrap(),
        );
        assert_eq!((sa, &a), (sb, &b), "{id} through the registry");
        if sa.done() {
            boxed.reset(None, &mut a);
            direct.reset(None, &mut b);
        }
    }
    let long = runs.iter().map(|r| r.ramps.unwrap_or(0)).max().unwrap();
    println!(
        "{id}: {steps} steps in {episodes} episodes identical to minatar 1.0.15; highest ramp {long}"
    );
}

/// Saves the state halfway through each run, finishes the run, then restores the state into a
/// fresh environment and finishes it again: both must match the fixture.
fn resumes<G: Game>(version: u8) {
    let id = format!("MinAtar/{}-v{version}", G::NAME);
    for run in &runs(&id) {
        let half = run.actions.len() / 2;
        let mut env = make::<G>(&id, &run.params);
        let mut truncated = Run {
            actions: run.actions[..half].to_vec(),
            ..run.clone()
        };
        let mut expected = vec![false; env.observation_space().flat_dim()];
        replay(&mut env, &id, &truncated, 0, &mut expected);
        let saved = env.save_state().expect("MinAtar saves its state");
        let at_save = expected.clone();
        truncated.actions = run.actions.clone();
        replay(&mut env, &id, &truncated, half, &mut expected);

        let mut fresh = make::<G>(&id, &run.params);
        fresh.load_state(&saved).unwrap();
        let mut expected = at_save;
        replay(&mut fresh, &id, run, half, &mut expected);
    }
    // Bytes of another game, or cut short, are errors naming the id.
    let mut env = make::<G>(&id, &Params::new());
    let mut obs = vec![0.0; 100 * G::CHANNELS];
    env.reset(Some(1), &mut obs);
    let bytes = env.save_state().unwrap();
    let err = env.load_state(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(err.to_string().contains(&id), "{err}");
}

#[test]
fn asterix_matches_minatar() {
    conforms::<Asterix>(0);
    conforms::<Asterix>(1);
}

#[test]
fn breakout_matches_minatar() {
    conforms::<Breakout>(0);
    conforms::<Breakout>(1);
}

#[test]
fn freeway_matches_minatar() {
    conforms::<Freeway>(0);
    conforms::<Freeway>(1);
}

#[test]
fn seaquest_matches_minatar() {
    conforms::<Seaquest>(0);
    conforms::<Seaquest>(1);
}

#[test]
fn space_invaders_matches_minatar() {
    conforms::<SpaceInvaders>(0);
    conforms::<SpaceInvaders>(1);
}

#[test]
fn a_restored_state_continues_every_game_exactly() {
    for version in [0, 1] {
        resumes::<Asterix>(version);
        resumes::<Breakout>(version);
        resumes::<Freeway>(version);
        resumes::<Seaquest>(version);
        resumes::<SpaceInvaders>(version);
    }
}

#[test]
fn the_long_runs_cover_difficulty_ramping() {
    for name in ["Asterix", "Seaquest", "SpaceInvaders"] {
        let ramps = [0, 1]
            .into_iter()
            .flat_map(|v| runs(&format!("MinAtar/{name}-v{v}")))
            .filter_map(|r| r.ramps)
            .max();
        assert!(
            ramps.unwrap_or(0) >= 1,
            "{name}: no run ramps the difficulty"
        );
    }
}
