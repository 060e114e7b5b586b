//! An environment checker after Gymnasium's `gymnasium.utils.env_checker.check_env`
//! (Gymnasium 1.x, with the observation and reward checks of its `passive_env_checker`):
//! run it on an environment you wrote before you train on it.
//!
//! See [`check_env`] for the checks.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::SeedableRng;

use crate::{Action, Env, EnvError, Space, Step};

/// How [`check_env_with`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// The seed of the seeded resets and of the random actions. Default 123, the seed that
    /// Gymnasium's `check_reset_seed_determinism` uses.
    pub seed: u64,
    /// Random steps in the rollout (episodes are reset as they end). Default 500.
    pub steps: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            seed: 123,
            steps: 500,
        }
    }
}

/// The checks of [`check_env`], in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The observation space is a valid space.
    ObservationSpace,
    /// The action space is a valid space.
    ActionSpace,
    /// The first observation of a seeded reset.
    Reset,
    /// Two resets with the same seed give the same observation.
    ResetDeterminism,
    /// Random actions, with resets as episodes end.
    Rollout,
    /// The same seed and actions give the same trajectory.
    StepDeterminism,
    /// Actions outside the action space return an error.
    InvalidAction,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Check::ObservationSpace => "observation space",
            Check::ActionSpace => "action space",
            Check::Reset => "reset",
            Check::ResetDeterminism => "reset determinism",
            Check::Rollout => "rollout",
            Check::StepDeterminism => "step determinism",
            Check::InvalidAction => "invalid action",
        })
    }
}

/// Where in the checker's run a problem appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    /// The episode of the check, from 1 (each check starts again at 1 with a seeded reset).
    pub episode: u64,
    /// The step of that episode, from 1; 0 is the reset that started it.
    pub step: u64,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            0 => write!(f, "episode {}, reset", self.episode),
            step => write!(f, "episode {}, step {step}", self.episode),
        }
    }
}

/// What was wrong, in a [`CheckError`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Violation {
    /// The space is not a valid space.
    #[error("invalid space {space}: {reason}")]
    InvalidSpace {
        /// The space, formatted.
        space: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An observation element is NaN or infinite.
    #[error(
        "observation[{index}] = {value} is not finite (the checker fills the buffer with NaN \
         before each call, so an element the environment did not write is NaN too)"
    )]
    ObservationNotFinite {
        /// The element's index in the flat observation.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// An observation element lies outside the observation space.
    #[error("observation[{index}] = {value} is outside the observation space {space}")]
    ObservationOutsideSpace {
        /// The element's index in the flat observation.
        index: usize,
        /// Its value.
        value: f32,
        /// The observation space, formatted.
        space: String,
    },
    /// `step` returned a NaN or infinite reward.
    #[error("reward = {0} is not finite")]
    RewardNotFinite(f64),
    /// `step` returned an error for an action inside the action space.
    #[error("step returned an error for action {action}: {source}")]
    StepFailed {
        /// The action, formatted.
        action: String,
        /// The environment's error.
        #[source]
        source: Box<EnvError>,
    },
    /// The environment panicked.
    #[error("panicked: {0}")]
    Panicked(String),
    /// Repeating a seeded reset (and the same actions) gave a different result.
    #[error("not deterministic: {0} differs from the first run with the same seed and actions")]
    NotDeterministic(String),
    /// `step` accepted an action outside the action space instead of returning an error.
    #[error("step returned Ok for action {action}, which is outside the action space {space}; return an error (e.g. polytask_envs::invalid_action)")]
    InvalidActionAccepted {
        /// The action, formatted.
        action: String,
        /// The action space, formatted.
        space: String,
    },
}

/// A failed check of [`check_env`]: which environment, which check, where, and what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("environment `{env}` fails check_env's {check} check{}: {violation}", at_suffix(*.at))]
pub struct CheckError {
    /// The environment's id.
    pub env: String,
    /// The check that failed.
    pub check: Check,
    /// The episode and step, for checks that step the environment.
    pub at: Option<At>,
    /// What was wrong.
    #[source]
    pub violation: Violation,
}

fn at_suffix(at: Option<At>) -> String {
    at.map_or_else(String::new, |at| format!(" at {at}"))
}

/// Something [`check_env`] advises against but accepts (Gymnasium logs these as warnings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckWarning {
    /// The check that found it.
    pub check: Check,
    /// What it is, naming the environment id.
    pub message: String,
}

impl fmt::Display for CheckWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} check: {}", self.check, self.message)
    }
}

/// What a passing [`check_env`] saw.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// The environment's id.
    pub env: String,
    /// Steps taken in the rollout.
    pub steps: u64,
    /// Episodes that ended during the rollout.
    pub episodes: u64,
    /// What passed but is not recommended.
    pub warnings: Vec<CheckWarning>,
}

/// Checks that `env` keeps the [`Env`] contract, with [`CheckOptions::default`]: Gymnasium's
/// `gymnasium.utils.env_checker.check_env`, for polytask environments.
///
/// It drives one environment through these checks, in order, and stops at the
/// first failure, returning a [`CheckError`] that names the environment id, the [`Check`]
/// and the episode and step:
///
/// 1. **spaces**: a `Discrete(n)` has `n > 0`; a `Box` has as many bounds as its shape has
///    elements (at least one), no NaN bound, `low <= high`, no `low = +inf` or `high = -inf`;
/// 2. **reset**: `reset(Some(seed))` writes every element of the observation (the buffer is
///    filled with NaN before each call, so an element left unwritten shows up as NaN), the
///    observation is finite and inside the observation space;
/// 3. **reset determinism**: a second `reset` with the same seed writes the same observation,
///    bit for bit (Gymnasium's `check_reset_seed_determinism`);
/// 4. **rollout**: `steps` random actions sampled from the action space, with `reset(None)`
///    whenever an episode ends; every step must return `Ok`, write a finite observation
///    inside the space and a finite reward;
/// 5. **step determinism**: `reset` with the same seed and the same actions again give the
///    same observations, rewards and flags, bit for bit, over the whole rollout (Gymnasium's
///    `check_step_determinism`, extended from one step to the rollout);
/// 6. **invalid actions**: an action outside the action space returns `Err` (for
///    `Discrete(n)`: index `n`, and a continuous action; for `Box`: a vector one element too
///    long, a NaN vector, and a discrete action). A finite action outside a `Box`'s bounds
///    may be accepted: like Gymnasium's `MountainCarContinuous` and `Pendulum`, an
///    environment may clip it.
///
/// A panic in any call is caught and reported as a failure of the check that made the call.
///
/// Stricter than Gymnasium, which only warns about them: a NaN or infinite observation or
/// reward, an observation outside the observation space and an empty `Box` (`low > high`)
/// are errors here, because a learner cannot use them (and polytask's vector env stops
/// training on non-finite values). What Gymnasium's `check_space_limit` warns about stays a
/// [`CheckWarning`] in the [`CheckReport`]: infinite `Box` bounds, `low == high`, and a `Box`
/// action space that is not symmetric and normalised (`[-1, 1]` or `[0, 1]`).
pub fn check_env(env: &mut dyn Env) -> Result<CheckReport, CheckError> {
    check_env_with(env, &CheckOptions::default())
}

/// [`check_env`] with a chosen seed and rollout length.
pub fn check_env_with(
    env: &mut dyn Env,
    options: &CheckOptions,
) -> Result<CheckReport, CheckError> {
    let mut checker = Checker {
        id: env.id().to_string(),
        observation_space: env.observation_space().clone(),
        action_space: env.action_space().clone(),
        warnings: Vec::new(),
        env,
    };
    checker.spaces()?;
    let seed = options.seed;
    let mut first = vec![f32::NAN; checker.observation_space.flat_dim()];
    checker.reset(Check::Reset, Some(seed), &mut first, At::reset(1))?;
    let mut again = vec![f32::NAN; first.len()];
    checker.reset(
        Check::ResetDeterminism,
        Some(seed),
        &mut again,
        At::reset(1),
    )?;
    if let Some(what) = first_difference("observation", &first, &again) {
        return Err(checker.fail(
            Check::ResetDeterminism,
            Some(At::reset(1)),
            Violation::NotDeterministic(what),
        ));
    }
    let recorded = checker.rollout(Check::Rollout, options, None)?;
    checker.rollout(Check::StepDeterminism, options, Some(&recorded))?;
    checker.invalid_actions(seed)?;
    Ok(CheckReport {
        env: checker.id,
        steps: options.steps,
        episodes: recorded.episodes,
        warnings: checker.warnings,
    })
}

impl At {
    fn reset(episode: u64) -> Self {
        Self { episode, step: 0 }
    }
}

/// Everything a rollout produced, to compare a second run against.
#[derive(Debug, Default)]
struct Trajectory {
    /// The observation after each call (the resets included), concatenated.
    observations: Vec<f32>,
    /// Reward, terminated, truncated of each step.
    steps: Vec<Step>,
    episodes: u64,
}

struct Checker<'a> {
    id: String,
    observation_space: Space,
    action_space: Space,
    warnings: Vec<CheckWarning>,
    env: &'a mut dyn Env,
}

impl Checker<'_> {
    fn fail(&self, check: Check, at: Option<At>, violation: Violation) -> CheckError {
        CheckError {
            env: self.id.clone(),
            check,
            at,
            violation,
        }
    }

    fn warn(&mut self, check: Check, message: String) {
        let message = format!("environment `{}`: {message}", self.id);
        self.warnings.push(CheckWarning { check, message });
    }

    fn spaces(&mut self) -> Result<(), CheckError> {
        for (check, space) in [
            (Check::ObservationSpace, self.observation_space.clone()),
            (Check::ActionSpace, self.action_space.clone()),
        ] {
            if let Err(reason) = validate_space(&space) {
                let space = space.to_string();
                return Err(self.fail(check, None, Violation::InvalidSpace { space, reason }));
            }
            for message in space_warnings(&space, check == Check::ActionSpace) {
                self.warn(check, message);
            }
        }
        Ok(())
    }

    /// Resets into `obs` (filled with NaN first) and checks the observation.
    fn reset(
        &mut self,
        check: Check,
        seed: Option<u64>,
        obs: &mut [f32],
        at: At,
    ) -> Result<(), CheckError> {
        obs.fill(f32::NAN);
        let env = &mut *self.env;
        catch_unwind(AssertUnwindSafe(|| env.reset(seed, obs))).map_err(|payload| {
            self.fail(
                check,
                Some(at),
                Violation::Panicked(panic_message(&*payload)),
            )
        })?;
        self.observation(check, obs, at)
    }

    /// Checks that `obs` is finite and inside the observation space.
    fn observation(&self, check: Check, obs: &[f32], at: At) -> Result<(), CheckError> {
        if let Some((index, &value)) = obs.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(self.fail(
                check,
                Some(at),
                Violation::ObservationNotFinite { index, value },
            ));
        }
        if let Some((index, value)) = outside(&self.observation_space, obs) {
            let space = self.observation_space.to_string();
            let violation = Violation::ObservationOutsideSpace {
                index,
                value,
                space,
            };
            return Err(self.fail(check, Some(at), violation));
        }
        Ok(())
    }

    /// Steps `options.steps` random actions from a seeded reset, resetting ended episodes,
    /// and checks every result; with `expected`, also that each equals the recorded one.
    fn rollout(
        &mut self,
        check: Check,
        options: &CheckOptions,
        expected: Option<&Trajectory>,
    ) -> Result<Trajectory, CheckError> {
        let dim = self.observation_space.flat_dim();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(options.seed);
        let mut action = vec![0.0; self.action_space.flat_dim()];
        let mut obs = vec![f32::NAN; dim];
        let mut run = Trajectory::default();
        let mut at = At::reset(1);
        self.reset(check, Some(options.seed), &mut obs, at)?;
        run.observations.extend_from_slice(&obs);
        for _ in 0..options.steps {
            at.step += 1;
            self.action_space.sample_into(&mut rng, &mut action);
            let act = Action::from_flat(&self.action_space, &action);
            obs.fill(f32::NAN);
            let env = &mut *self.env;
            let step = match catch_unwind(AssertUnwindSafe(|| env.step(act, &mut obs))) {
                Ok(Ok(step)) => step,
                Ok(Err(source)) => {
                    let action = format_action(act);
                    return Err(self.fail(
                        check,
                        Some(at),
                        Violation::StepFailed {
                            action,
                            source: Box::new(source),
                        },
                    ));
                }
                Err(payload) => {
                    let message = panic_message(&*payload);
                    return Err(self.fail(check, Some(at), Violation::Panicked(message)));
                }
            };
            self.observation(check, &obs, at)?;
            if !step.reward.is_finite() {
                return Err(self.fail(check, Some(at), Violation::RewardNotFinite(step.reward)));
            }
            run.observations.extend_from_slice(&obs);
            run.steps.push(step);
            if let Some(expected) = expected {
                self.compare(expected, &run, at)?;
            }
            if step.done() {
                run.episodes += 1;
                at = At::reset(at.episode + 1);
                self.reset(check, None, &mut obs, at)?;
                run.observations.extend_from_slice(&obs);
                if let Some(expected) = expected {
                    self.compare(expected, &run, at)?;
                }
            }
        }
        Ok(run)
    }

    /// Compares the latest call of `run` with the same call of `expected`: the reward and
    /// flags of a step (`at.step > 0`), then the observation it wrote.
    fn compare(&self, expected: &Trajectory, run: &Trajectory, at: At) -> Result<(), CheckError> {
        let mut what = None;
        if at.step > 0 {
            let got = run.steps[run.steps.len() - 1];
            let want = expected.steps[run.steps.len() - 1];
            if want.reward.to_bits() != got.reward.to_bits() {
                what = Some(format!("the reward ({} then {})", want.reward, got.reward));
            } else if (want.terminated, want.truncated) != (got.terminated, got.truncated) {
                what = Some(format!(
                    "terminated/truncated ({}/{} then {}/{})",
                    want.terminated, want.truncated, got.terminated, got.truncated
                ));
            }
        }
        if what.is_none() {
            let end = run.observations.len();
            let start = end - self.observation_space.flat_dim();
            what = match expected.observations.get(start..end) {
                Some(want) => first_difference("observation", want, &run.observations[start..]),
                None => Some("the number of episodes".to_string()),
            };
        }
        match what {
            Some(what) => {
                let violation = Violation::NotDeterministic(what);
                Err(self.fail(Check::StepDeterminism, Some(at), violation))
            }
            None => Ok(()),
        }
    }

    /// Steps actions outside the action space; each must return `Err`.
    fn invalid_actions(&mut self, seed: u64) -> Result<(), CheckError> {
        let check = Check::InvalidAction;
        let mut obs = vec![f32::NAN; self.observation_space.flat_dim()];
        let (nan, long);
        let actions: Vec<Action<'_>> = match &self.action_space {
            Space::Discrete(n) => vec![Action::Discrete(*n), Action::Continuous(&[0.0])],
            Space::Box(b) => {
                long = vec![0.0; b.low.len() + 1];
                nan = vec![f32::NAN; b.low.len()];
                vec![
                    Action::Continuous(&long),
                    Action::Continuous(&nan),
                    Action::Discrete(0),
                ]
            }
        };
        for action in actions {
            let at = At::reset(1);
            self.reset(check, Some(seed), &mut obs, at)?;
            let env = &mut *self.env;
            let at = Some(At { step: 1, ..at });
            match catch_unwind(AssertUnwindSafe(|| env.step(action, &mut obs))) {
                Ok(Err(_)) => {}
                Ok(Ok(_)) => {
                    let action = format_action(action);
                    let space = self.action_space.to_string();
                    return Err(self.fail(
                        check,
                        at,
                        Violation::InvalidActionAccepted { action, space },
                    ));
                }
                Err(payload) => {
                    let message = format!(
                        "{} (on action {}, outside the action space; return an error instead)",
                        panic_message(&*payload),
                        format_action(action)
                    );
                    return Err(self.fail(check, at, Violation::Panicked(message)));
                }
            }
        }
        Ok(())
    }
}

/// Why `space` is not a valid space, if it is not.
fn validate_space(space: &Space) -> Result<(), String> {
    let b = match space {
        Space::Discrete(0) => return Err("a Discrete space needs at least one element".into()),
        Space::Discrete(_) => return Ok(()),
        Space::Box(b) => b,
    };
    let elements: usize = b.shape.iter().product();
    if b.low.len() != b.high.len() || b.low.len() != elements {
        return Err(format!(
            "{} low and {} high bounds for shape {:?} ({elements} elements)",
            b.low.len(),
            b.high.len(),
            b.shape
        ));
    }
    if elements == 0 {
        return Err("a Box space needs at least one element".into());
    }
    for (i, (&lo, &hi)) in b.low.iter().zip(&b.high).enumerate() {
        if lo.is_nan() || hi.is_nan() {
            return Err(format!("bound {i} is NaN"));
        }
        if lo > hi {
            return Err(format!("low[{i}] = {lo} is greater than high[{i}] = {hi}"));
        }
        if lo == f32::INFINITY || hi == f32::NEG_INFINITY {
            return Err(format!("element {i} has the empty range [{lo}, {hi}]"));
        }
    }
    Ok(())
}

/// Gymnasium's `check_space_limit` warnings about a valid space.
fn space_warnings(space: &Space, action: bool) -> Vec<String> {
    let Space::Box(b) = space else {
        return Vec::new();
    };
    let kind = if action { "action" } else { "observation" };
    let bounds = || b.low.iter().zip(&b.high);
    let normalized =
        bounds().all(|(&l, &h)| (l == 0.0 || l.abs() == h.abs()) && l >= -1.0 && h <= 1.0);
    [
        (b.low.contains(&f32::NEG_INFINITY), format!("a Box {kind} space minimum value is -infinity; this is probably too low")),
        (b.high.contains(&f32::INFINITY), format!("a Box {kind} space maximum value is infinity; this is probably too high")),
        (bounds().any(|(l, h)| l == h), format!("a Box {kind} space has equal minimum and maximum values")),
        (action && !normalized, format!("the Box action space {space} is not symmetric and normalized; Gymnasium and Stable-Baselines3 recommend [-1, 1] or [0, 1]")),
    ]
    .into_iter()
    .filter_map(|(warn, message)| warn.then_some(message))
    .collect()
}

/// The first element of `x` (in the flat layout) that is not in `space`, if any.
fn outside(space: &Space, x: &[f32]) -> Option<(usize, f32)> {
    match space {
        Space::Discrete(_) => (!space.contains(x)).then(|| (0, x[0])),
        Space::Box(b) => x
            .iter()
            .zip(b.low.iter().zip(&b.high))
            .position(|(v, (lo, hi))| !(v >= lo && v <= hi))
            .map(|i| (i, x[i])),
    }
}

/// "`what`[i]: a then b" for the first element where `a` and `b` differ bit for bit.
fn first_difference(what: &str, a: &[f32], b: &[f32]) -> Option<String> {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x.to_bits() != y.to_bits())?;
    Some(format!("{what}[{i}] ({} then {})", a[i], b[i]))
}

fn format_action(action: Action<'_>) -> String {
    match action {
        Action::Discrete(a) => format!("Discrete({a})"),
        Action::Continuous(a) => format!("Continuous({a:?})"),
    }
}

/// The message of a panic payload (`panic!` makes a `&str` or a `String`), for reporting an
/// environment that panicked.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a payload that is not a string".to_string()
    }
}
