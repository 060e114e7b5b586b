//! `CartPole-v1`, matching Gymnasium 1.4's `gymnasium/envs/classic_control/cartpole.py`
//! (`CartPoleEnv` with the default `sutton_barto_reward=False` and the `euler` integrator).

use serde::{Deserialize, Serialize};

use super::{discrete, needs_reset, REWARD_SCALE};
use crate::rng::{self, NpRandom};
use crate::state::{load_tagged, save_tagged};
use crate::{Action, BoxSpace, Env, EnvError, EnvSpec, ParamSpec, Resolved, Space, Step};

const ID: &str = "CartPole-v1";

const PARAMS: [ParamSpec; 7] = [
    ParamSpec {
        name: "gravity",
        default: 9.8,
        doc: "gravitational acceleration (m/s^2)",
    },
    ParamSpec {
        name: "masscart",
        default: 1.0,
        doc: "mass of the cart (kg)",
    },
    ParamSpec {
        name: "masspole",
        default: 0.1,
        doc: "mass of the pole (kg)",
    },
    ParamSpec {
        name: "length",
        default: 0.5,
        doc: "half the pole's length (m)",
    },
    ParamSpec {
        name: "force_mag",
        default: 10.0,
        doc: "magnitude of the push on the cart (N)",
    },
    ParamSpec {
        name: "tau",
        default: 0.02,
        doc: "time between state updates (s)",
    },
    REWARD_SCALE,
];

/// Gymnasium's `CartPole-v1` spec: time limit 500 steps, reward threshold 475.
pub(super) fn spec() -> EnvSpec {
    EnvSpec::new(ID, &PARAMS, |p| Ok(Box::new(CartPole::with_params(p)?)))
        .max_episode_steps(500)
        .reward_threshold(475.0)
        .summary("balance a pole on a cart by pushing it left or right (Gymnasium 1.4 cartpole.py)")
}

/// The cart-pole balancing task, step for step as Gymnasium 1.4's `CartPoleEnv`
/// (`cartpole.py`): state `[x, x_dot, theta, theta_dot]` in `f64`, Euler integration,
/// reward 1 per step including the terminating one, termination when `|x| > 2.4` or
/// `|theta| > 12°`. After termination it keeps stepping with reward 0, as Gymnasium does
/// (which also warns).
#[derive(Debug, Clone)]
pub struct CartPole {
    gravity: f64,
    masspole: f64,
    total_mass: f64,
    length: f64,
    polemass_length: f64,
    force_mag: f64,
    tau: f64,
    reward_scale: f64,
    theta_threshold_radians: f64,
    x_threshold: f64,
    state: Option<[f64; 4]>,
    steps_beyond_terminated: Option<u64>,
    rng: Option<NpRandom>,
    observation_space: Space,
    action_space: Space,
}

/// What [`CartPole`] saves: everything that changes after construction.
#[derive(Serialize, Deserialize)]
struct Saved {
    state: Option<[f64; 4]>,
    steps_beyond_terminated: Option<u64>,
    rng: Option<NpRandom>,
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl CartPole {
    /// The environment with Gymnasium's constants.
    pub fn new() -> Self {
        Self::build(PARAMS.map(|p| p.default))
    }

    /// The environment with checked parameters (physical constants must be positive).
    pub fn with_params(p: &Resolved<'_>) -> Result<Self, EnvError> {
        Ok(Self::build([
            p.positive("gravity")?,
            p.positive("masscart")?,
            p.positive("masspole")?,
            p.positive("length")?,
            p.positive("force_mag")?,
            p.positive("tau")?,
            p.finite("reward_scale")?,
        ]))
    }

    fn build(
        [gravity, masscart, masspole, length, force_mag, tau, reward_scale]: [f64; 7],
    ) -> Self {
        let theta_threshold_radians = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
        let x_threshold = 2.4;
        let high = [
            (x_threshold * 2.0) as f32,
            f32::INFINITY,
            (theta_threshold_radians * 2.0) as f32,
            f32::INFINITY,
        ];
        Self {
            gravity,
            masspole,
            total_mass: masspole + masscart,
            length,
            polemass_length: masspole * length,
            force_mag,
            tau,
            reward_scale,
            theta_threshold_radians,
            x_threshold,
            state: None,
            steps_beyond_terminated: None,
            rng: None,
            observation_space: Space::Box(BoxSpace::new(high.map(|h| -h).to_vec(), high.to_vec())),
            action_space: Space::Discrete(2),
        }
    }

    /// The internal state `[x, x_dot, theta, theta_dot]` (m, m/s, rad, rad/s); `None` before
    /// the first reset.
    pub fn state(&self) -> Option<[f64; 4]> {
        self.state
    }

    /// Sets the internal state, as assigning `env.unwrapped.state` in Gymnasium (which leaves
    /// the after-termination counter alone).
    pub fn set_state(&mut self, state: [f64; 4]) {
        self.state = Some(state);
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let s = self.state.unwrap_or_default();
        for (o, v) in obs[..4].iter_mut().zip(s) {
            *o = v as f32;
        }
    }
}

impl Env for CartPole {
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
        let mut state = [0.0; 4];
        rng::seeded(&mut self.rng, seed).uniform_into(-0.05, 0.05, &mut state);
        self.state = Some(state);
        self.steps_beyond_terminated = None;
        self.write_obs(obs);
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let action = discrete(ID, action, &self.action_space, 2)?;
        let [mut x, mut x_dot, mut theta, mut theta_dot] =
            self.state.ok_or_else(|| needs_reset(ID))?;
        let force = if action == 1 {
            self.force_mag
        } else {
            -self.force_mag
        };
        let costheta = theta.cos();
        let sintheta = theta.sin();

        // The same float operations, in the same order, as cartpole.py.
        let temp =
            (force + self.polemass_length * (theta_dot * theta_dot) * sintheta) / self.total_mass;
        let thetaacc = (self.gravity * sintheta - costheta * temp)
            / (self.length * (4.0 / 3.0 - self.masspole * (costheta * costheta) / self.total_mass));
        let xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass;

        x += self.tau * x_dot;
        x_dot += self.tau * xacc;
        theta += self.tau * theta_dot;
        theta_dot += self.tau * thetaacc;
        self.state = Some([x, x_dot, theta, theta_dot]);

        let terminated = x < -self.x_threshold
            || x > self.x_threshold
            || theta < -self.theta_threshold_radians
            || theta > self.theta_threshold_radians;
        let reward = if !terminated {
            1.0
        } else if let Some(steps) = self.steps_beyond_terminated.as_mut() {
            *steps += 1;
            0.0
        } else {
            self.steps_beyond_terminated = Some(0);
            1.0
        };
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
                steps_beyond_terminated: self.steps_beyond_terminated,
                rng: self.rng.clone(),
            },
        ))
    }

    fn load_state(&mut self, state: &[u8]) -> Result<(), EnvError> {
        let saved: Saved = load_tagged(ID, ID, state)?;
        self.state = saved.state;
        self.steps_beyond_terminated = saved.steps_beyond_terminated;
        self.rng = saved.rng;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // env = gymnasium.make("CartPole-v1"); env.reset(seed=42)[0]  (Gymnasium 1.4.0)
    // .tolist() -> [0.02739560417830944, -0.006112155970185995, 0.03585979342460632, 0.019736802205443382]
    #[test]
    fn seeded_reset_matches_gymnasium() {
        let mut env = CartPole::new();
        let mut obs = [0.0f32; 4];
        env.reset(Some(42), &mut obs);
        let expected = [
            0.02739560417830944,
            -0.006112155970185995,
            0.03585979342460632,
            0.019736802205443382,
        ];
        assert_eq!(obs, expected.map(|e| e as f32));
    }

    #[test]
    fn keeps_stepping_after_termination_with_reward_zero() {
        let mut env = CartPole::new();
        let mut obs = [0.0f32; 4];
        env.reset(Some(0), &mut obs);
        env.set_state([2.39, 1.0, 0.0, 0.0]);
        let first = env.step(Action::Discrete(1), &mut obs).unwrap();
        assert!(first.terminated && first.reward == 1.0);
        let after = env.step(Action::Discrete(1), &mut obs).unwrap();
        assert!(after.terminated && after.reward == 0.0);
        env.reset(None, &mut obs);
        assert_eq!(env.step(Action::Discrete(0), &mut obs).unwrap().reward, 1.0);
    }

    #[test]
    fn a_restored_state_keeps_the_after_termination_counter() {
        let mut env = CartPole::new();
        let mut obs = [0.0f32; 4];
        env.reset(Some(0), &mut obs);
        env.set_state([2.39, 1.0, 0.0, 0.0]);
        assert_eq!(env.step(Action::Discrete(1), &mut obs).unwrap().reward, 1.0);
        let mut resumed = CartPole::new();
        resumed.load_state(&env.save_state().unwrap()).unwrap();
        let (mut a, mut b) = ([0.0f32; 4], [0.0f32; 4]);
        let step = resumed.step(Action::Discrete(1), &mut a).unwrap();
        assert_eq!(step, env.step(Action::Discrete(1), &mut b).unwrap());
        assert_eq!((step.terminated, step.reward, a), (true, 0.0, b));
    }

    #[test]
    fn rejects_actions_outside_discrete_two() {
        let mut env = CartPole::new();
        let mut obs = [0.0f32; 4];
        env.reset(Some(0), &mut obs);
        assert!(matches!(
            env.step(Action::Discrete(2), &mut obs),
            Err(EnvError::InvalidAction { .. })
        ));
        assert!(matches!(
            env.step(Action::Continuous(&[1.0]), &mut obs),
            Err(EnvError::InvalidAction { .. })
        ));
    }
}
