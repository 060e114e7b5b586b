//! Exact resume ([`Env::save_state`] / [`Env::load_state`]): a state saved mid-episode and
//! loaded into a freshly made environment continues bit for bit as the original did, through
//! several episode ends (each started with `reset(None)`, so that the random stream of the
//! environment must have been saved too); bytes that are garbage, truncated or saved by
//! another environment are an [`EnvError::State`] naming the environment, not a panic.

use polytask_envs::classic::{CartPole, Pendulum};
use polytask_envs::wrappers::{
    AutoReset, ClipAction, NormalizeObservation, NormalizeReward, RecordEpisodeStatistics,
    TimeLimit, Wrapper,
};
use polytask_envs::{Action, Env, EnvError, Params, Registry};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// A time limit short enough that a few hundred steps cross several episode ends.
const LIMIT: f64 = 40.0;

/// One step as seen from outside, bit for bit: the observation after it (after the reset if
/// the step ended an episode and the player resets), the reward, the flags, and whatever
/// else `probe` reads from the environment (a wrapper's final observation, statistics).
#[derive(Debug, PartialEq)]
struct Record {
    obs: Vec<u32>,
    reward: u64,
    terminated: bool,
    truncated: bool,
    probe: Vec<u64>,
}

/// How a test plays an environment.
struct Player<'a, E: ?Sized> {
    /// Call `reset(None)` after a step that ends an episode (not for [`AutoReset`]).
    reset_on_done: bool,
    /// Extra values to compare after each step.
    probe: &'a dyn Fn(&E) -> Vec<u64>,
}

impl<E: Env + ?Sized> Player<'_, E> {
    /// Takes `steps` random actions drawn from `actions`; returns the records and how many
    /// episodes ended.
    fn play(&self, env: &mut E, actions: &mut Pcg64, steps: usize) -> (Vec<Record>, usize) {
        let mut obs = vec![0.0f32; env.observation_space().flat_dim()];
        let mut flat = vec![0.0f32; env.action_space().flat_dim()];
        let (mut records, mut ends) = (Vec::with_capacity(steps), 0);
        for i in 0..steps {
            let space = env.action_space().clone();
            space.sample_into(actions, &mut flat);
            let step = env
                .step(Action::from_flat(&space, &flat), &mut obs)
                .unwrap_or_else(|e| panic!("step {i}: {e}"));
            if step.done() {
                ends += 1;
                if self.reset_on_done {
                    env.reset(None, &mut obs);
                }
            }
            records.push(Record {
                obs: obs.iter().map(|x| x.to_bits()).collect(),
                reward: step.reward.to_bits(),
                terminated: step.terminated,
                truncated: step.truncated,
                probe: (self.probe)(env),
            });
        }
        (records, ends)
    }

    /// Resets `make()` with `seed`, plays `warmup` steps, saves, plays `steps` more; then
    /// loads the state into another `make()` and replays the same actions, which must give
    /// the same records and end in the same state. Returns the episode ends after the save.
    fn round_trip(
        &self,
        make: &dyn Fn() -> Box<E>,
        seed: u64,
        warmup: usize,
        steps: usize,
    ) -> usize {
        let mut env = make();
        let id = env.id().to_string();
        let mut obs = vec![0.0f32; env.observation_space().flat_dim()];
        env.reset(Some(seed), &mut obs);
        let mut actions = Pcg64::seed_from_u64(seed.wrapping_add(1));
        self.play(&mut env, &mut actions, warmup);
        let saved = env
            .save_state()
            .unwrap_or_else(|| panic!("{id} saves no state"));
        let mut replay_actions = actions.clone();
        let (expected, ends) = self.play(&mut env, &mut actions, steps);

        let mut resumed = make();
        resumed
            .load_state(&saved)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let (got, _) = self.play(&mut resumed, &mut replay_actions, steps);
        if let Some(i) = (0..steps).find(|&i| got[i] != expected[i]) {
            panic!(
                "{id} (seed {seed}, saved after {warmup} steps) diverges {i} steps after the \
                 load:\n  resumed  {:?}\n  original {:?}",
                got[i], expected[i]
            );
        }
        assert_eq!(resumed.save_state(), env.save_state(), "{id}: final states");
        ends
    }
}

fn registry_env(id: &str, params: &Params) -> Box<dyn Env> {
    Registry::builtin()
        .make(id, params)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn builtin_ids() -> Vec<String> {
    let ids: Vec<String> = Registry::builtin().ids().map(str::to_string).collect();
    assert!(!ids.is_empty(), "the builtin registry is empty");
    ids
}

const PLAIN: Player<'static, dyn Env> = Player {
    reset_on_done: true,
    probe: &|_| Vec::new(),
};

#[test]
fn every_builtin_env_resumes_bit_for_bit_through_several_episodes() {
    for id in builtin_ids() {
        let params = Params::new().with("max_episode_steps", LIMIT);
        let make = || registry_env(&id, &params);
        let ends = PLAIN.round_trip(&make, 42, 23, 400);
        assert!(ends >= 5, "{id}: only {ends} episode ends after the save");
        // Saved right after the seeded reset, and before any reset at all.
        PLAIN.round_trip(&make, 7, 0, 100);
        let (mut fresh, mut resumed) = (make(), make());
        resumed.load_state(&fresh.save_state().unwrap()).unwrap();
        assert_eq!(resumed.save_state(), fresh.save_state(), "{id}");
        let mut obs = vec![0.0; fresh.observation_space().flat_dim()];
        let mut again = obs.clone();
        fresh.reset(Some(3), &mut obs);
        resumed.reset(Some(3), &mut again);
        assert_eq!(obs, again, "{id}");
    }
}

#[test]
fn random_draws_inside_step_resume_too() {
    // Acrobot's torque noise draws from the environment's generator on every step.
    let params = Params::new()
        .with("max_episode_steps", LIMIT)
        .with("torque_noise_max", 0.5);
    let make = || registry_env("Acrobot-v1", &params);
    assert!(PLAIN.round_trip(&make, 5, 17, 200) >= 4);
}

type Chain =
    AutoReset<RecordEpisodeStatistics<NormalizeReward<NormalizeObservation<TimeLimit<CartPole>>>>>;

#[test]
fn a_stacked_wrapper_chain_resumes_bit_for_bit() {
    let make = || {
        let env = TimeLimit::new(CartPole::new(), 30);
        let env = NormalizeReward::new(NormalizeObservation::new(env));
        Box::new(AutoReset::new(RecordEpisodeStatistics::new(env)))
    };
    let player = Player::<Chain> {
        reset_on_done: false,
        probe: &|env| {
            let stats = env.inner();
            let final_obs = env.final_observation().unwrap_or(&[]);
            let mut probe: Vec<u64> = final_obs.iter().map(|x| u64::from(x.to_bits())).collect();
            if let Some(last) = stats.last_episode() {
                probe.extend([last.episode_return.to_bits(), last.episode_length]);
            }
            probe.extend([stats.episodes(), stats.current_return().to_bits()]);
            let reward_rms = stats.inner().stats();
            probe.extend([reward_rms.var()[0].to_bits(), reward_rms.count().to_bits()]);
            probe.push(stats.inner().discounted_return().to_bits());
            probe
        },
    };
    let ends = player.round_trip(&make, 11, 45, 300);
    assert!(ends >= 5, "only {ends} episode ends");
    // Saved on the very step that ended an episode: the final observation is restored.
    let mut env = make();
    let mut obs = [0.0f32; 4];
    env.reset(Some(0), &mut obs);
    while !env.step(Action::Discrete(1), &mut obs).unwrap().done() {}
    let mut resumed = make();
    resumed.load_state(&env.save_state().unwrap()).unwrap();
    assert_eq!(resumed.final_observation(), env.final_observation());
    assert!(resumed.final_observation().is_some());
    // `(*x)`: a `Box` is itself a wrapper, whose inner environment is the boxed chain.
    assert_eq!(
        (*resumed).inner().last_episode(),
        (*env).inner().last_episode()
    );
}

#[test]
fn a_continuous_chain_with_clipping_and_frozen_statistics_resumes_bit_for_bit() {
    type Continuous = AutoReset<ClipAction<NormalizeObservation<TimeLimit<Pendulum>>>>;
    let make = || {
        let mut normalized = NormalizeObservation::new(TimeLimit::new(Pendulum::new(), 25));
        normalized.freeze();
        Box::new(AutoReset::new(ClipAction::new(normalized)))
    };
    let player = Player::<Continuous> {
        reset_on_done: false,
        probe: &|env| {
            let rms = env.inner().inner().stats();
            rms.mean().iter().map(|m| m.to_bits()).collect()
        },
    };
    // Unfreeze before saving: the flag is part of the state, so the resumed copy (made
    // frozen) must update its statistics as the original does.
    let mut env = make();
    let mut obs = [0.0f32; 3];
    env.reset(Some(9), &mut obs);
    (*env).inner_mut().inner_mut().unfreeze();
    let mut actions = Pcg64::seed_from_u64(3);
    player.play(&mut env, &mut actions, 10);
    let saved = env.save_state().unwrap();
    let mut replay_actions = actions.clone();
    let (expected, ends) = player.play(&mut env, &mut actions, 120);
    let mut resumed = make();
    resumed.load_state(&saved).unwrap();
    assert!(!(*resumed).inner().inner().is_frozen());
    let (got, _) = player.play(&mut resumed, &mut replay_actions, 120);
    assert!(ends >= 4);
    assert!(got == expected, "the resumed chain diverged");
    assert_ne!(
        expected[0].probe, expected[119].probe,
        "statistics never moved"
    );
}

fn assert_state_error(err: EnvError, id: &str, what: &str) {
    assert!(
        matches!(&err, EnvError::State { env, .. } if env == id),
        "{id}, {what}: {err:?}"
    );
}

#[test]
fn garbage_truncated_or_overlong_bytes_are_errors_naming_the_env_and_change_nothing() {
    for id in builtin_ids() {
        let mut env = registry_env(&id, &Params::new());
        let mut obs = vec![0.0; env.observation_space().flat_dim()];
        env.reset(Some(1), &mut obs);
        let saved = env.save_state().unwrap();
        let garbage: [(&str, Vec<u8>); 5] = [
            ("empty", Vec::new()),
            ("0xff bytes", vec![0xff; 64]),
            ("zero bytes", vec![0; 3]),
            ("truncated", saved[..saved.len() - 1].to_vec()),
            ("one byte too many", [&saved[..], &[0]].concat()),
        ];
        for (what, bytes) in garbage {
            let err = env.load_state(&bytes).unwrap_err();
            assert_state_error(err, &id, what);
            assert_eq!(env.save_state().unwrap(), saved, "{id}: {what} changed it");
        }
        // Every prefix is refused, none panics.
        for len in 0..saved.len() {
            let err = env.load_state(&saved[..len]).unwrap_err();
            assert_state_error(err, &id, &format!("{len}-byte prefix"));
        }
    }
}

#[test]
fn a_state_of_another_env_is_an_error_not_a_silent_success() {
    let ids = builtin_ids();
    for from in &ids {
        let mut source = registry_env(from, &Params::new());
        let mut obs = vec![0.0; source.observation_space().flat_dim()];
        source.reset(Some(2), &mut obs);
        let saved = source.save_state().unwrap();
        for to in ids.iter().filter(|to| *to != from) {
            let mut target = registry_env(to, &Params::new());
            match target.load_state(&saved) {
                Err(err) => assert_state_error(err, to, &format!("state of {from}")),
                Ok(()) => panic!("{to} loaded a state saved by {from}"),
            }
        }
    }
    // Unwrapped too: a CartPole state into an Acrobot says whose state it was.
    let mut cartpole = CartPole::new();
    cartpole.reset(Some(0), &mut [0.0; 4]);
    let err = polytask_envs::classic::Acrobot::new()
        .load_state(&cartpole.save_state().unwrap())
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("Acrobot-v1"), "{message}");
    assert!(
        message.contains("the state of `CartPole-v1`, not of `Acrobot-v1`"),
        "{message}"
    );
}

#[test]
fn a_wrapper_chain_refuses_a_state_of_the_bare_env() {
    let mut bare = TimeLimit::new(CartPole::new(), 30);
    bare.reset(Some(0), &mut [0.0; 4]);
    let saved = bare.save_state().unwrap();
    let mut chain = AutoReset::new(NormalizeObservation::new(TimeLimit::new(
        CartPole::new(),
        30,
    )));
    assert_state_error(
        chain.load_state(&saved).unwrap_err(),
        "CartPole-v1",
        "bare state",
    );
}

fn ids_strategy() -> impl Strategy<Value = String> {
    proptest::sample::select(builtin_ids())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_save_point_resumes_bit_for_bit(
        id in ids_strategy(),
        seed in any::<u64>(),
        warmup in 0usize..300,
        steps in 1usize..150,
    ) {
        let params = Params::new().with("max_episode_steps", LIMIT);
        PLAIN.round_trip(&|| registry_env(&id, &params), seed, warmup, steps);
    }
}
