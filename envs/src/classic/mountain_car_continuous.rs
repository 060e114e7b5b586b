//! `MountainCarContinuous-v0`, matching Gymnasium 1.4's
//! `gymnasium/envs/classic_control/continuous_mountain_car.py` (`Continuous_MountainCarEnv`).
//!
//! Unlike the other classic environments, Gymnasium stores this state as `float32` after
//! every step (`np.array([position, velocity], dtype=np.float32)`), and under NumPy 2's
//! promotion rules (NEP 50) a Python float that meets a float32 is cast to float32. So a
//! step's arithmetic and comparisons are partly float32, partly float64, depending on
//! whether the state came from `reset` (float64) or a step (float32) and whether the action
//! was clipped (a Python float) or not (a float32). [`Num`] tracks which, to stay bit-exact.

use serde::{Deserialize, Serialize};

use super::{continuous1, needs_reset, py_square, REWARD_SCALE};
use crate::rng::{self, NpRandom};
use crate::state::{load_tagged, save_tagged};
use crate::{Action, BoxSpace, Env, EnvError, EnvSpec, ParamSpec, Resolved, Space, Step};

const ID: &str = "MountainCarContinuous-v0";

const MIN_ACTION: f64 = -1.0;
const MAX_ACTION: f64 = 1.0;
const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.45;

const PARAMS: [ParamSpec; 3] = [
    ParamSpec { name: "power", default: 0.0015, doc: "velocity change per step per unit of action (position units per step^2)" },
    ParamSpec { name: "goal_velocity", default: 0.0, doc: "least velocity at the goal for the episode to end (position units per step; Gymnasium's `goal_velocity`)" },
    REWARD_SCALE,
];

/// Gymnasium's `MountainCarContinuous-v0` spec: time limit 999 steps, reward threshold 90.
pub(super) fn spec() -> EnvSpec {
    EnvSpec::new(ID, &PARAMS, |p| Ok(Box::new(MountainCarContinuous::with_params(p)?)))
        .max_episode_steps(999)
        .reward_threshold(90.0)
        .summary("drive an underpowered car up a hill with a continuous throttle (Gymnasium 1.4 continuous_mountain_car.py)")
}

/// A number as NumPy sees it in continuous_mountain_car.py: a float32 scalar (`single`), or
/// a double (a NumPy float64 or a Python float). The value is held in `f64` either way.
#[derive(Debug, Clone, Copy)]
struct Num {
    value: f64,
    single: bool,
}

impl Num {
    fn double(value: f64) -> Self {
        Self {
            value,
            single: false,
        }
    }

    fn single(value: f32) -> Self {
        Self {
            value: f64::from(value),
            single: true,
        }
    }

    /// A Python float constant as it is compared with this number.
    fn constant(self, c: f64) -> f64 {
        if self.single {
            f64::from(c as f32)
        } else {
            c
        }
    }

    fn gt(self, c: f64) -> bool {
        self.value > self.constant(c)
    }

    fn lt(self, c: f64) -> bool {
        self.value < self.constant(c)
    }

    fn ge(self, c: f64) -> bool {
        self.value >= self.constant(c)
    }

    fn eq(self, c: f64) -> bool {
        self.value == self.constant(c)
    }
}

/// The continuous mountain car, step for step as Gymnasium 1.4's `Continuous_MountainCarEnv`
/// (`continuous_mountain_car.py`): the action (one value; clipped to `[-1, 1]` for the
/// dynamics as Gymnasium does, so any finite value is accepted) pushes with `power`, reward
/// `-0.1 a^2` per step plus 100 on reaching `position >= 0.45` with
/// `velocity >= goal_velocity`. It keeps stepping after termination, as Gymnasium.
#[derive(Debug, Clone)]
pub struct MountainCarContinuous {
    power: f64,
    goal_velocity: f64,
    reward_scale: f64,
    state: Option<[f64; 2]>,
    /// Whether Gymnasium would hold the state as float32 (true after any step).
    single: bool,
    rng: Option<NpRandom>,
    observation_space: Space,
    action_space: Space,
}

/// What [`MountainCarContinuous`] saves: everything that changes after construction,
/// including whether the state is held as float32 (it decides the precision of the next step).
#[derive(Serialize, Deserialize)]
struct Saved {
    state: Option<[f64; 2]>,
    single: bool,
    rng: Option<NpRandom>,
}

impl Default for MountainCarContinuous {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCarContinuous {
    /// The environment with Gymnasium's constants.
    pub fn new() -> Self {
        Self::build(PARAMS.map(|p| p.default))
    }

    /// The environment with checked parameters (`power` positive).
    pub fn with_params(p: &Resolved<'_>) -> Result<Self, EnvError> {
        Ok(Self::build([
            p.positive("power")?,
            p.finite("goal_velocity")?,
            p.finite("reward_scale")?,
        ]))
    }

    fn build([power, goal_velocity, reward_scale]: [f64; 3]) -> Self {
        let low = vec![MIN_POSITION as f32, -MAX_SPEED as f32];
        let high = vec![MAX_POSITION as f32, MAX_SPEED as f32];
        Self {
            power,
            goal_velocity,
            reward_scale,
            state: None,
            single: false,
            rng: None,
            observation_space: Space::Box(BoxSpace::new(low, high)),
            action_space: Space::Box(BoxSpace::new(
                vec![MIN_ACTION as f32],
                vec![MAX_ACTION as f32],
            )),
        }
    }

    /// The internal state `[position, velocity]`; `None` before the first reset. After a
    /// step both values are float32 values, as in Gymnasium.
    pub fn state(&self) -> Option<[f64; 2]> {
        self.state
    }

    /// Sets the internal state as a float64 array, as assigning
    /// `env.unwrapped.state = np.array([position, velocity])` in Gymnasium.
    pub fn set_state(&mut self, state: [f64; 2]) {
        self.state = Some(state);
        self.single = false;
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let [position, velocity] = self.state.unwrap_or_default();
        obs[..2].copy_from_slice(&[position as f32, velocity as f32]);
    }
}

impl Env for MountainCarContinuous {
    fn id(&self) -> &str {
        ID
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        let position = rng::seeded(&mut self.rng, seed).uniform(-0.6, -0.4);
        self.state = Some([position, 0.0]);
        self.single = false;
        self.write_obs(obs);
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let a = continuous1(ID, action, &self.action_space)?;
        let [p0, v0] = self.state.ok_or_else(|| needs_reset(ID))?;
        let single = self.single;

        // velocity += force * self.power - 0.0025 * math.cos(3 * position)
        let three_p = if single {
            f64::from(3.0 * p0 as f32)
        } else {
            3.0 * p0
        };
        let slope = 0.0025 * three_p.cos();
        // force = min(max(action[0], min_action), max_action): a Python float if clipped.
        let accel = if f64::from(a) < MIN_ACTION || f64::from(a) > MAX_ACTION {
            let force = if f64::from(a) < MIN_ACTION {
                MIN_ACTION
            } else {
                MAX_ACTION
            };
            Num::double(force * self.power - slope)
        } else {
            Num::single(a * self.power as f32 - slope as f32)
        };
        let mut velocity = if single {
            Num::single(v0 as f32 + accel.value as f32)
        } else {
            Num::double(v0 + accel.value)
        };
        if velocity.gt(MAX_SPEED) {
            velocity = Num::double(MAX_SPEED);
        }
        if velocity.lt(-MAX_SPEED) {
            velocity = Num::double(-MAX_SPEED);
        }
        let mut position = if single {
            Num::single(p0 as f32 + velocity.value as f32)
        } else {
            Num::double(p0 + velocity.value)
        };
        if position.gt(MAX_POSITION) {
            position = Num::double(MAX_POSITION);
        }
        if position.lt(MIN_POSITION) {
            position = Num::double(MIN_POSITION);
        }
        if position.eq(MIN_POSITION) && velocity.lt(0.0) {
            velocity = Num::double(0.0);
        }
        let terminated = position.ge(GOAL_POSITION) && velocity.ge(self.goal_velocity);

        let bonus = if terminated { 100.0 } else { 0.0 };
        let reward = bonus - py_square(f64::from(a)) * 0.1;

        self.state = Some([position.value, velocity.value].map(|v| f64::from(v as f32)));
        self.single = true;
        self.write_obs(obs);
        Ok(Step {
            reward: reward * self.reward_scale,
            terminated,
            truncated: false,
        })
    }

    fn save_state(&self) -> Option<Vec<u8>> {
        Some(save_tagged(
            ID,
            &Saved {
                state: self.state,
                single: self.single,
                rng: self.rng.clone(),
            },
        ))
    }

    fn load_state(&mut self, state: &[u8]) -> Result<(), EnvError> {
        let saved: Saved = load_tagged(ID, ID, state)?;
        self.state = saved.state;
        self.single = saved.single;
        self.rng = saved.rng;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // env = gymnasium.make("MountainCarContinuous-v0"); env.reset(seed=42)[0].tolist()
    #[test]
    fn seeded_reset_matches_gymnasium() {
        let mut env = MountainCarContinuous::new();
        let mut obs = [0.0f32; 2];
        env.reset(Some(42), &mut obs);
        assert_eq!(obs, [-0.4452087879180908_f64, 0.0].map(|v| v as f32));
    }

    #[test]
    fn out_of_range_actions_are_clipped_for_the_dynamics_but_not_the_reward() {
        let mut a = MountainCarContinuous::new();
        let mut b = MountainCarContinuous::new();
        let (mut oa, mut ob) = ([0.0f32; 2], [0.0f32; 2]);
        a.set_state([-0.5, 0.0]);
        b.set_state([-0.5, 0.0]);
        let sa = a.step(Action::Continuous(&[3.0]), &mut oa).unwrap();
        let sb = b.step(Action::Continuous(&[1.0]), &mut ob).unwrap();
        assert_eq!(oa, ob);
        assert!((sa.reward - -0.9).abs() < 1e-12 && (sb.reward - -0.1).abs() < 1e-12);
        assert!(a.step(Action::Continuous(&[f32::NAN]), &mut oa).is_err());
        assert!(a.step(Action::Continuous(&[0.0, 0.0]), &mut oa).is_err());
        assert!(a.step(Action::Discrete(0), &mut oa).is_err());
    }

    #[test]
    fn float32_constants_decide_comparisons_after_the_first_step() {
        // Gymnasium: np.float32(0.45) >= 0.45 is True under NumPy 2, though 0.45f32 < 0.45.
        let num = Num::single(0.45);
        assert!(num.ge(GOAL_POSITION));
        assert!(!Num::double(f64::from(0.45f32)).ge(GOAL_POSITION));
    }
}
