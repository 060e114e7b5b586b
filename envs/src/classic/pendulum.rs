//! `Pendulum-v1`, matching Gymnasium 1.4's `gymnasium/envs/classic_control/pendulum.py`
//! (`PendulumEnv`).

use std::f64::consts::PI;

use super::{
    continuous1, load_physics, needs_reset, py_square, py_square_f32, save_physics, REWARD_SCALE,
};
use crate::rng::{self, NpRandom};

use crate::{Action, BoxSpace, Env, EnvError, EnvSpec, ParamSpec, Resolved, Space, Step};

const ID: &str = "Pendulum-v1";

const PARAMS: [ParamSpec; 7] = [
    ParamSpec {
        name: "g",
        default: 10.0,
        doc: "gravitational acceleration (m/s^2; Gymnasium's `g` argument)",
    },
    ParamSpec {
        name: "m",
        default: 1.0,
        doc: "mass of the pendulum (kg)",
    },
    ParamSpec {
        name: "l",
        default: 1.0,
        doc: "length of the pendulum (m)",
    },
    ParamSpec {
        name: "max_speed",
        default: 8.0,
        doc: "bound on the angular velocity (rad/s)",
    },
    ParamSpec {
        name: "max_torque",
        default: 2.0,
        doc: "bound on the applied torque, the action space's bound (N m)",
    },
    ParamSpec {
        name: "dt",
        default: 0.05,
        doc: "time step per action (s)",
    },
    REWARD_SCALE,
];

/// Gymnasium's `Pendulum-v1` spec: time limit 200 steps, no reward threshold.
pub(super) fn spec() -> EnvSpec {
    EnvSpec::new(ID, &PARAMS, |p| Ok(Box::new(Pendulum::with_params(p)?)))
        .max_episode_steps(200)
        .summary("swing up and hold an inverted pendulum with a bounded torque (Gymnasium 1.4 pendulum.py)")
}

/// The inverted pendulum swing-up, step for step as Gymnasium 1.4's `PendulumEnv`
/// (`pendulum.py`): state `[theta, theta_dot]` in `f64`, semi-implicit Euler step of `dt`,
/// torque clipped to `±max_torque` (so any finite action is accepted, as in Gymnasium),
/// reward `-(angle_normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2)`, never terminating.
/// Observation: `[cos theta, sin theta, theta_dot]`.
#[derive(Debug, Clone)]
pub struct Pendulum {
    g: f64,
    m: f64,
    l: f64,
    max_speed: f64,
    max_torque: f64,
    dt: f64,
    reward_scale: f64,
    state: Option<[f64; 2]>,
    rng: Option<NpRandom>,
    observation_space: Space,
    action_space: Space,
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

impl Pendulum {
    /// The environment with Gymnasium's constants.
    pub fn new() -> Self {
        Self::build(PARAMS.map(|p| p.default))
    }

    /// The environment with checked parameters (all physical constants positive).
    pub fn with_params(p: &Resolved<'_>) -> Result<Self, EnvError> {
        Ok(Self::build([
            p.positive("g")?,
            p.positive("m")?,
            p.positive("l")?,
            p.positive("max_speed")?,
            p.positive("max_torque")?,
            p.positive("dt")?,
            p.finite("reward_scale")?,
        ]))
    }

    fn build([g, m, l, max_speed, max_torque, dt, reward_scale]: [f64; 7]) -> Self {
        let high = [1.0, 1.0, max_speed as f32];
        let torque = max_torque as f32;
        Self {
            g,
            m,
            l,
            max_speed,
            max_torque,
            dt,
            reward_scale,
            state: None,
            rng: None,
            observation_space: Space::Box(BoxSpace::new(high.map(|h| -h).to_vec(), high.to_vec())),
            action_space: Space::Box(BoxSpace::new(vec![-torque], vec![torque])),
        }
    }

    /// The internal state `[theta, theta_dot]` (rad, rad/s; theta 0 is upright); `None`
    /// before the first reset.
    pub fn state(&self) -> Option<[f64; 2]> {
        self.state
    }

    /// Sets the internal state, as assigning `env.unwrapped.state` in Gymnasium.
    pub fn set_state(&mut self, state: [f64; 2]) {
        self.state = Some(state);
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let [theta, theta_dot] = self.state.unwrap_or_default();
        obs[..3].copy_from_slice(&[theta.cos() as f32, theta.sin() as f32, theta_dot as f32]);
    }
}

/// pendulum.py's `angle_normalize`: `((x + pi) % (2 * pi)) - pi` with Python's floored `%`.
fn angle_normalize(x: f64) -> f64 {
    py_mod(x + PI, 2.0 * PI) - PI
}

/// Python's (and NumPy's `npy_divmod`) float `a % b`: the result takes the sign of `b`.
fn py_mod(a: f64, b: f64) -> f64 {
    let m = a % b;
    if m == 0.0 {
        0.0f64.copysign(b)
    } else if (b < 0.0) != (m < 0.0) {
        m + b
    } else {
        m
    }
}

impl Env for Pendulum {
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
        // self.np_random.uniform(low=[-pi, -1], high=[pi, 1]): one draw per element.
        let rng = rng::seeded(&mut self.rng, seed);
        let theta = rng.uniform(-PI, PI);
        let theta_dot = rng.uniform(-1.0, 1.0);
        self.state = Some([theta, theta_dot]);
        self.write_obs(obs);
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let u = continuous1(ID, action, &self.action_space)?;
        let [th, thdot] = self.state.ok_or_else(|| needs_reset(ID))?;
        let (g, m, l, dt) = (self.g, self.m, self.l, self.dt);

        // u = np.clip(u, -max_torque, max_torque)[0]: a float32, so NumPy 2 evaluates
        // `0.001 * (u**2)` and `3.0 / (m * l**2) * u` in float32.
        let bound = self.max_torque as f32;
        let u = u.max(-bound).min(bound);
        let torque_cost = f64::from(0.001f64 as f32 * py_square_f32(u));
        let costs = py_square(angle_normalize(th)) + 0.1 * py_square(thdot) + torque_cost;

        let torque_acc = f64::from((3.0 / (m * py_square(l))) as f32 * u);
        let newthdot = thdot + (3.0 * g / (2.0 * l) * th.sin() + torque_acc) * dt;
        let newthdot = newthdot.clamp(-self.max_speed, self.max_speed);
        let newth = th + newthdot * dt;

        self.state = Some([newth, newthdot]);
        self.write_obs(obs);
        Ok(Step {
            reward: -costs * self.reward_scale,
            terminated: false,
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

    // env = gymnasium.make("Pendulum-v1"); env.reset(seed=42)[0].tolist()  (Gymnasium 1.4.0)
    #[test]
    fn seeded_reset_matches_gymnasium() {
        let mut env = Pendulum::new();
        let mut obs = [0.0f32; 3];
        env.reset(Some(42), &mut obs);
        assert_eq!(
            obs,
            [
                -0.14995256066322327_f64,
                0.9886931777000427,
                -0.12224312126636505
            ]
            .map(|v| v as f32)
        );
    }

    #[test]
    fn angle_normalize_uses_floored_modulo() {
        assert!((angle_normalize(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert!((angle_normalize(-3.0 * PI / 2.0) - PI / 2.0).abs() < 1e-12);
        assert_eq!(angle_normalize(-PI), -PI);
        assert_eq!(py_mod(-1.0, 3.0), 2.0);
        assert_eq!(py_mod(1.0, -3.0), -2.0);
    }

    #[test]
    fn upright_and_still_costs_nothing_and_torque_is_clipped() {
        let mut env = Pendulum::new();
        let mut obs = [0.0f32; 3];
        env.set_state([0.0, 0.0]);
        let step = env.step(Action::Continuous(&[0.0]), &mut obs).unwrap();
        assert_eq!(step.reward, 0.0);
        assert_eq!(obs, [1.0, 0.0, 0.0]);
        let mut big = Pendulum::new();
        let mut two = Pendulum::new();
        big.set_state([0.5, 0.1]);
        two.set_state([0.5, 0.1]);
        let (mut ob, mut ot) = ([0.0f32; 3], [0.0f32; 3]);
        let sb = big.step(Action::Continuous(&[100.0]), &mut ob).unwrap();
        let st = two.step(Action::Continuous(&[2.0]), &mut ot).unwrap();
        assert_eq!((ob, sb.reward), (ot, st.reward));
    }
}
