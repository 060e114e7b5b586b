//! `MountainCar-v0`, matching Gymnasium 1.4's `gymnasium/envs/classic_control/mountain_car.py`
//! (`MountainCarEnv`).

use super::{discrete, load_physics, needs_reset, save_physics, REWARD_SCALE};
use crate::rng::{self, NpRandom};

use crate::{Action, BoxSpace, Env, EnvError, EnvSpec, ParamSpec, Resolved, Space, Step};

const ID: &str = "MountainCar-v0";

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;

const PARAMS: [ParamSpec; 4] = [
    ParamSpec { name: "force", default: 0.001, doc: "velocity change per step from the engine (position units per step^2)" },
    ParamSpec { name: "gravity", default: 0.0025, doc: "scale of the slope's pull, times cos(3 x) (position units per step^2)" },
    ParamSpec { name: "goal_velocity", default: 0.0, doc: "least velocity at the goal for the episode to end (position units per step; Gymnasium's `goal_velocity`)" },
    REWARD_SCALE,
];

/// Gymnasium's `MountainCar-v0` spec: time limit 200 steps, reward threshold -110.
pub(super) fn spec() -> EnvSpec {
    EnvSpec::new(ID, &PARAMS, |p| Ok(Box::new(MountainCar::with_params(p)?)))
        .max_episode_steps(200)
        .reward_threshold(-110.0)
        .summary("drive an underpowered car up a hill by rocking it, 3 discrete pushes (Gymnasium 1.4 mountain_car.py)")
}

/// The discrete mountain car, step for step as Gymnasium 1.4's `MountainCarEnv`
/// (`mountain_car.py`): state `[position, velocity]` in `f64`, velocity clipped to
/// `±0.07`, position to `[-1.2, 0.6]` (stopping at the left wall), reward -1 per step,
/// termination at `position >= 0.5` with `velocity >= goal_velocity`. Actions: 0 push left,
/// 1 no push, 2 push right. It keeps stepping after termination, as Gymnasium.
#[derive(Debug, Clone)]
pub struct MountainCar {
    force: f64,
    gravity: f64,
    goal_velocity: f64,
    reward_scale: f64,
    state: Option<[f64; 2]>,
    rng: Option<NpRandom>,
    observation_space: Space,
    action_space: Space,
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCar {
    /// The environment with Gymnasium's constants.
    pub fn new() -> Self {
        Self::build(PARAMS.map(|p| p.default))
    }

    /// The environment with checked parameters (`force` and `gravity` positive).
    pub fn with_params(p: &Resolved<'_>) -> Result<Self, EnvError> {
        Ok(Self::build([
            p.positive("force")?,
            p.positive("gravity")?,
            p.finite("goal_velocity")?,
            p.finite("reward_scale")?,
        ]))
    }

    fn build([force, gravity, goal_velocity, reward_scale]: [f64; 4]) -> Self {
        let low = vec![MIN_POSITION as f32, -MAX_SPEED as f32];
        let high = vec![MAX_POSITION as f32, MAX_SPEED as f32];
        Self {
            force,
            gravity,
            goal_velocity,
            reward_scale,
            state: None,
            rng: None,
            observation_space: Space::Box(BoxSpace::new(low, high)),
            action_space: Space::Discrete(3),
        }
    }

    /// The internal state `[position, velocity]`; `None` before the first reset.
    pub fn state(&self) -> Option<[f64; 2]> {
        self.state
    }

    /// Sets the internal state, as assigning `env.unwrapped.state` in Gymnasium.
    pub fn set_state(&mut self, state: [f64; 2]) {
        self.state = Some(state);
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let [position, velocity] = self.state.unwrap_or_default();
        obs[..2].copy_from_slice(&[position as f32, velocity as f32]);
    }
}

impl Env for MountainCar {
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
        self.write_obs(obs);
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let action = discrete(ID, action, &self.action_space, 3)?;
        let [mut position, mut velocity] = self.state.ok_or_else(|| needs_reset(ID))?;
        velocity += (action as f64 - 1.0) * self.force + (3.0 * position).cos() * (-self.gravity);
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position += velocity;
        position = position.clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION && velocity >= self.goal_velocity;
        self.state = Some([position, velocity]);
        self.write_obs(obs);
        Ok(Step {
            reward: -self.reward_scale,
            terminated,
            truncated: false,
        })
    }

    fn save_state(&self) -> Option<Vec<u8>> {
        Some(save_physics(ID, &self.state, &self.rng))
    }

    fn load_state(&mut self, state: &[u8]) -> Result<(), EnvError> {
        (self.state, self.rng) = load_physics(ID, state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // env = gymnasium.make("MountainCar-v0"); env.reset(seed=42)[0].tolist()  (Gymnasium 1.4.0)
    #[test]
    fn seeded_reset_matches_gymnasium() {
        let mut env = MountainCar::new();
        let mut obs = [0.0f32; 2];
        env.reset(Some(42), &mut obs);
        assert_eq!(obs, [-0.4452087879180908_f64, 0.0].map(|v| v as f32));
    }

    #[test]
    fn the_left_wall_stops_the_car() {
        let mut env = MountainCar::new();
        let mut obs = [0.0f32; 2];
        env.set_state([-1.19, -0.05]);
        let step = env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!(env.state(), Some([MIN_POSITION, 0.0]));
        assert_eq!((step.reward, step.terminated), (-1.0, false));
    }

    #[test]
    fn reaching_the_flag_moving_right_terminates() {
        let mut env = MountainCar::new();
        let mut obs = [0.0f32; 2];
        env.set_state([0.49, 0.03]);
        assert!(env.step(Action::Discrete(2), &mut obs).unwrap().terminated);
    }
}
