//! `check_env` on every built-in environment (all pass, with Gymnasium's warnings), and on
//! deliberately broken environments: each flaw is caught by the check that should catch it,
//! at the right step, with a message that names the environment id.

use std::sync::atomic::{AtomicU64, Ordering};

use polytask_envs::rng::{seeded, NpRandom};
use polytask_envs::{
    check_env, check_env_with, invalid_action, Action, At, BoxSpace, Check, CheckError,
    CheckOptions, Env, EnvError, Params, Registry, Space, Step, Violation,
};

#[test]
fn every_builtin_env_passes_with_gymnasiums_warnings() {
    let registry = Registry::builtin();
    // Five classic-control ids and ten MinAtar ids.
    assert_eq!(registry.specs().len(), 15);
    for spec in registry.specs() {
        let mut env = spec.make(&Params::new()).unwrap();
        let report = check_env(&mut *env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.env, spec.id);
        assert_eq!(report.steps, 500);
        let warnings: Vec<String> = report.warnings.iter().map(|w| w.to_string()).collect();
        // As Gymnasium's check_space_limit: CartPole's velocity bounds are infinite, and
        // Pendulum's torque range [-2, 2] is not normalised.
        let expected = match spec.id.as_str() {
            "CartPole-v1" => 2,
            "Pendulum-v1" => 1,
            _ => 0,
        };
        assert_eq!(warnings.len(), expected, "{}: {warnings:?}", spec.id);
        assert!(
            warnings.iter().all(|w| w.contains(&spec.id)),
            "{warnings:?}"
        );
        // Random CartPole episodes last about 20 steps.
        if spec.id == "CartPole-v1" {
            assert!(report.episodes >= 10, "{report:?}");
        }
    }
}

#[test]
fn builtin_envs_pass_with_other_seeds_parameters_and_short_time_limits() {
    let registry = Registry::builtin();
    let options = CheckOptions {
        seed: 7,
        steps: 300,
    };
    for spec in registry.specs() {
        let mut params = Params::new().with("max_episode_steps", 7.0);
        if spec.params.iter().any(|p| p.name == "reward_scale") {
            params.set("reward_scale", -2.0);
        }
        let mut env = spec.make(&params).unwrap();
        let report = check_env_with(&mut *env, &options).unwrap_or_else(|e| panic!("{e}"));
        // 300 steps, every episode truncated after at most 7.
        assert!(report.episodes >= 300 / 7, "{}: {report:?}", spec.id);
    }
}

/// What is wrong with a [`Walk`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum Flaw {
    None,
    /// Writes NaN into the observation at this step of the first episode.
    NanObservationAt(u64),
    /// Writes a position outside the space (1.5) at this step of the first episode.
    OutsideSpaceAt(u64),
    /// Returns an infinite reward at this step of the first episode.
    InfiniteRewardAt(u64),
    /// Never writes the second element of the observation.
    HalfWritten,
    /// Declares one observation element less than it writes (so it writes out of bounds).
    ShortSpace,
    /// Draws the start position from a global counter, not from the seed.
    UnseededReset,
    /// Adds global noise to the reward of every step after the first episode.
    UnseededStep,
    /// Indexes an array with the action: panics on an index outside `Discrete(2)`.
    PanicsOnInvalidAction,
    /// Clamps any action into `Discrete(2)`.
    AcceptsInvalidAction,
    /// Returns an error for the action 1 at this step.
    FailsAt(u64),
    /// Panics on reset.
    PanicsOnReset,
    /// `Discrete(0)` actions.
    EmptyActionSpace,
    /// An observation `Box` with low > high.
    InvertedBox,
}

/// The global state that [`Flaw::UnseededReset`] and [`Flaw::UnseededStep`] draw from.
static RESETS: AtomicU64 = AtomicU64::new(0);
static STEPS: AtomicU64 = AtomicU64::new(0);

/// A walk on positions 0..=20, left or right, from a seeded start in 5..=15; observation
/// `[position / 20, t / 50]`, reward -1 per step, terminates at either end, truncates after
/// 50 steps; with a [`Flaw`].
struct Walk {
    flaw: Flaw,
    position: i64,
    t: u64,
    episode: u64,
    rng: Option<NpRandom>,
    observation_space: Space,
    action_space: Space,
}

impl Walk {
    fn new(flaw: Flaw) -> Self {
        let (low, high) = match flaw {
            Flaw::ShortSpace => (vec![0.0], vec![1.0]),
            Flaw::InvertedBox => (vec![0.0, 1.0], vec![1.0, 0.0]),
            _ => (vec![0.0; 2], vec![1.0; 2]),
        };
        let n = if flaw == Flaw::EmptyActionSpace { 0 } else { 2 };
        Self {
            flaw,
            position: 0,
            t: 0,
            episode: 0,
            rng: None,
            observation_space: Space::Box(BoxSpace::new(low, high)),
            action_space: Space::Discrete(n),
        }
    }

    fn write(&self, obs: &mut [f32]) {
        obs[0] = self.position as f32 / 20.0;
        if self.flaw != Flaw::HalfWritten {
            obs[1] = self.t as f32 / 50.0;
        }
        if self.episode == 1 {
            match self.flaw {
                Flaw::NanObservationAt(t) if t == self.t => obs[0] = f32::NAN,
                Flaw::OutsideSpaceAt(t) if t == self.t => obs[0] = 1.5,
                _ => {}
            }
        }
    }
}

impl Env for Walk {
    fn id(&self) -> &str {
        "Walk-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        if self.flaw == Flaw::PanicsOnReset {
            panic!("reset is not implemented");
        }
        let draw = seeded(&mut self.rng, seed).next_raw();
        let draw = match self.flaw {
            Flaw::UnseededReset => RESETS.fetch_add(1, Ordering::SeqCst),
            _ => draw,
        };
        self.position = 5 + (draw % 11) as i64;
        self.t = 0;
        self.episode = if seed.is_some() { 1 } else { self.episode + 1 };
        self.write(obs);
    }
    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        const MOVES: [i64; 2] = [-1, 1];
        let a = match (self.flaw, action) {
            (Flaw::PanicsOnInvalidAction, Action::Discrete(a)) => a,
            (Flaw::AcceptsInvalidAction, Action::Discrete(a)) => a.min(1),
            (Flaw::AcceptsInvalidAction, Action::Continuous(_)) => 0,
            (_, Action::Discrete(a)) if a < 2 => a,
            _ => return Err(invalid_action(self.id(), action, &self.action_space)),
        };
        self.t += 1;
        if self.flaw == Flaw::FailsAt(self.t) && a == 1 {
            return Err(EnvError::Contract {
                env: self.id().to_string(),
                step: self.t,
                problem: "the walk broke".to_string(),
            });
        }
        self.position += MOVES[a];
        let mut reward = -1.0;
        match self.flaw {
            Flaw::InfiniteRewardAt(t) if t == self.t && self.episode == 1 => reward = f64::INFINITY,
            Flaw::UnseededStep if self.episode > 1 => {
                reward += STEPS.fetch_add(1, Ordering::SeqCst) as f64
            }
            _ => {}
        }
        if self.flaw == Flaw::ShortSpace {
            obs[1] = 0.0;
        }
        self.write(obs);
        Ok(Step {
            reward,
            terminated: self.position == 0 || self.position == 20,
            truncated: self.t == 50,
        })
    }
}

fn check(flaw: Flaw) -> CheckError {
    let mut env = Walk::new(flaw);
    let err = check_env(&mut env).expect_err("the flaw was not found");
    let message = err.to_string();
    assert!(message.contains("`Walk-v0`"), "{message}");
    assert_eq!(err.env, "Walk-v0");
    err
}

fn at(episode: u64, step: u64) -> Option<At> {
    Some(At { episode, step })
}

#[test]
fn the_unbroken_walk_passes() {
    let report = check_env(&mut Walk::new(Flaw::None)).unwrap();
    assert!(report.episodes > 10, "{report:?}");
    assert!(report.warnings.is_empty(), "{report:?}");
}

#[test]
fn a_nan_observation_is_caught_at_its_step() {
    let err = check(Flaw::NanObservationAt(3));
    assert_eq!((err.check, err.at), (Check::Rollout, at(1, 3)));
    assert!(matches!(
        err.violation,
        Violation::ObservationNotFinite { index: 0, value } if value.is_nan()
    ));
    assert_eq!(
        err.to_string(),
        "environment `Walk-v0` fails check_env's rollout check at episode 1, step 3: \
         observation[0] = NaN is not finite (the checker fills the buffer with NaN before each \
         call, so an element the environment did not write is NaN too)"
    );
}

#[test]
fn an_observation_outside_the_space_is_caught() {
    let err = check(Flaw::OutsideSpaceAt(2));
    assert_eq!((err.check, err.at), (Check::Rollout, at(1, 2)));
    assert_eq!(
        err.violation,
        Violation::ObservationOutsideSpace {
            index: 0,
            value: 1.5,
            space: "Box(0, 1, [2], float32)".to_string()
        }
    );
    // At the reset, too.
    let err = check(Flaw::OutsideSpaceAt(0));
    assert_eq!((err.check, err.at), (Check::Reset, at(1, 0)));
    assert!(err.to_string().contains("at episode 1, reset"), "{err}");
}

#[test]
fn an_infinite_reward_is_caught() {
    let err = check(Flaw::InfiniteRewardAt(4));
    assert_eq!((err.check, err.at), (Check::Rollout, at(1, 4)));
    assert_eq!(err.violation, Violation::RewardNotFinite(f64::INFINITY));
}

#[test]
fn an_element_left_unwritten_is_caught_as_nan() {
    let err = check(Flaw::HalfWritten);
    assert_eq!((err.check, err.at), (Check::Reset, at(1, 0)));
    assert!(matches!(
        err.violation,
        Violation::ObservationNotFinite { index: 1, .. }
    ));
}

#[test]
fn writing_past_the_declared_observation_is_a_caught_panic() {
    let err = check(Flaw::ShortSpace);
    assert_eq!((err.check, err.at), (Check::Reset, at(1, 0)));
    let Violation::Panicked(message) = &err.violation else {
        panic!("{err}");
    };
    assert!(message.contains("index out of bounds"), "{message}");
}

#[test]
fn a_panicking_reset_is_reported() {
    let err = check(Flaw::PanicsOnReset);
    assert_eq!(err.check, Check::Reset);
    assert_eq!(
        err.violation,
        Violation::Panicked("reset is not implemented".to_string())
    );
}

#[test]
fn a_reset_that_ignores_its_seed_is_not_deterministic() {
    let err = check(Flaw::UnseededReset);
    assert_eq!((err.check, err.at), (Check::ResetDeterminism, at(1, 0)));
    assert!(matches!(err.violation, Violation::NotDeterministic(_)));
    assert!(err.to_string().contains("observation[0]"), "{err}");
}

#[test]
fn a_step_that_ignores_the_seed_is_not_deterministic() {
    let err = check(Flaw::UnseededStep);
    assert_eq!(err.check, Check::StepDeterminism);
    // The first episode is deterministic; the first step of the second one is not.
    assert_eq!(err.at.map(|a| (a.episode, a.step)), Some((2, 1)));
    assert!(err.to_string().contains("the reward"), "{err}");
}

#[test]
fn a_panic_on_an_invalid_action_is_reported_not_propagated() {
    let err = check(Flaw::PanicsOnInvalidAction);
    assert_eq!((err.check, err.at), (Check::InvalidAction, at(1, 1)));
    let Violation::Panicked(message) = &err.violation else {
        panic!("{err}");
    };
    assert!(message.contains("index out of bounds"), "{message}");
    assert!(message.contains("Discrete(2)"), "{message}");
}

#[test]
fn accepting_an_invalid_action_is_an_error() {
    let err = check(Flaw::AcceptsInvalidAction);
    assert_eq!(err.check, Check::InvalidAction);
    assert_eq!(
        err.violation,
        Violation::InvalidActionAccepted {
            action: "Discrete(2)".to_string(),
            space: "Discrete(2)".to_string()
        }
    );
}

#[test]
fn an_error_for_a_valid_action_is_reported_with_its_source() {
    let err = check(Flaw::FailsAt(2));
    assert_eq!(err.check, Check::Rollout);
    let Violation::StepFailed { action, source } = &err.violation else {
        panic!("{err}");
    };
    assert_eq!(action, "Discrete(1)");
    assert!(matches!(**source, EnvError::Contract { step: 2, .. }));
    assert!(err.to_string().contains("the walk broke"), "{err}");
}

#[test]
fn invalid_spaces_are_reported_before_anything_runs() {
    let err = check(Flaw::EmptyActionSpace);
    assert_eq!((err.check, err.at), (Check::ActionSpace, None));
    assert!(err.to_string().contains("at least one element"), "{err}");
    let err = check(Flaw::InvertedBox);
    assert_eq!((err.check, err.at), (Check::ObservationSpace, None));
    assert!(
        err.to_string()
            .contains("low[1] = 1 is greater than high[1] = 0"),
        "{err}"
    );
}
