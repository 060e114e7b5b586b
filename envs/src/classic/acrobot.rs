//! `Acrobot-v1`, matching Gymnasium 1.4's `gymnasium/envs/classic_control/acrobot.py`
//! (`AcrobotEnv` with `book_or_nips = "book"`, one `rk4` step of `dt` per action).

use std::f64::consts::PI;

use super::{discrete, load_physics, needs_reset, py_square, save_physics, REWARD_SCALE};
use crate::rng::{self, NpRandom};

use crate::{Action, BoxSpace, Env, EnvError, EnvSpec, ParamSpec, Resolved, Space, Step};

const ID: &str = "Acrobot-v1";

// Gymnasium's class constants, lower-cased. `LINK_LENGTH_2` is left out: acrobot.py only
// uses it for drawing, never in the dynamics.
const PARAMS: [ParamSpec; 12] = [
    ParamSpec {
        name: "dt",
        default: 0.2,
        doc: "integration time step per action (s)",
    },
    ParamSpec {
        name: "link_length_1",
        default: 1.0,
        doc: "length of the first link (m)",
    },
    ParamSpec {
        name: "link_mass_1",
        default: 1.0,
        doc: "mass of the first link (kg)",
    },
    ParamSpec {
        name: "link_mass_2",
        default: 1.0,
        doc: "mass of the second link (kg)",
    },
    ParamSpec {
        name: "link_com_pos_1",
        default: 0.5,
        doc: "distance from the first joint to the first link's centre of mass (m)",
    },
    ParamSpec {
        name: "link_com_pos_2",
        default: 0.5,
        doc: "distance from the second joint to the second link's centre of mass (m)",
    },
    ParamSpec {
        name: "link_moi",
        default: 1.0,
        doc: "moment of inertia of each link (kg m^2)",
    },
    ParamSpec {
        name: "max_vel_1",
        default: 4.0 * PI,
        doc: "bound on the first joint's angular velocity (rad/s)",
    },
    ParamSpec {
        name: "max_vel_2",
        default: 9.0 * PI,
        doc: "bound on the second joint's angular velocity (rad/s)",
    },
    ParamSpec {
        name: "torque_noise_max",
        default: 0.0,
        doc: "half-width of uniform noise added to the torque (N m; 0 = none)",
    },
    ParamSpec {
        name: "gravity",
        default: 9.8,
        doc: "gravitational acceleration, the local `g` of `_dsdt` (m/s^2)",
    },
    REWARD_SCALE,
];

/// Gymnasium's `Acrobot-v1` spec: time limit 500 steps, reward threshold -100.
pub(super) fn spec() -> EnvSpec {
    EnvSpec::new(ID, &PARAMS, |p| Ok(Box::new(Acrobot::with_params(p)?)))
        .max_episode_steps(500)
        .reward_threshold(-100.0)
        .summary("swing a two-link pendulum's tip above the bar by torquing its middle joint (Gymnasium 1.4 acrobot.py)")
}

/// The two-link acrobot, step for step as Gymnasium 1.4's `AcrobotEnv` (`acrobot.py`):
/// state `[theta1, theta2, dtheta1, dtheta2]` in `f64` integrated with `rk4` over `dt`,
/// angles wrapped to `[-pi, pi]`, velocities bounded, reward -1 per step and 0 on the
/// terminating step (tip above height 1). It keeps stepping after termination, as Gymnasium.
/// Observation: `[cos th1, sin th1, cos th2, sin th2, dth1, dth2]`.
#[derive(Debug, Clone)]
pub struct Acrobot {
    dt: f64,
    l1: f64,
    m1: f64,
    m2: f64,
    lc1: f64,
    lc2: f64,
    moi: f64,
    max_vel_1: f64,
    max_vel_2: f64,
    torque_noise_max: f64,
    g: f64,
    reward_scale: f64,
    state: Option<[f64; 4]>,
    rng: Option<NpRandom>,
    observation_space: Space,
    action_space: Space,
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

impl Acrobot {
    /// The environment with Gymnasium's constants.
    pub fn new() -> Self {
        Self::build(PARAMS.map(|p| p.default))
    }

    /// The environment with checked parameters (lengths, masses, inertia, `dt` and the
    /// velocity bounds must be positive; noise and gravity at least 0).
    pub fn with_params(p: &Resolved<'_>) -> Result<Self, EnvError> {
        let non_negative = |name| p.check(name, |v| v >= 0.0, "must be finite and at least 0");
        Ok(Self::build([
            p.positive("dt")?,
            p.positive("link_length_1")?,
            p.positive("link_mass_1")?,
            p.positive("link_mass_2")?,
            p.positive("link_com_pos_1")?,
            p.positive("link_com_pos_2")?,
            p.positive("link_moi")?,
            p.positive("max_vel_1")?,
            p.positive("max_vel_2")?,
            non_negative("torque_noise_max")?,
            non_negative("gravity")?,
            p.finite("reward_scale")?,
        ]))
    }

    fn build(v: [f64; 12]) -> Self {
        let [dt, l1, m1, m2, lc1, lc2, moi, max_vel_1, max_vel_2, torque_noise_max, g, reward_scale] =
            v;
        let high = [1.0, 1.0, 1.0, 1.0, max_vel_1 as f32, max_vel_2 as f32];
        Self {
            dt,
            l1,
            m1,
            m2,
            lc1,
            lc2,
            moi,
            max_vel_1,
            max_vel_2,
            torque_noise_max,
            g,
            reward_scale,
            state: None,
            rng: None,
            observation_space: Space::Box(BoxSpace::new(high.map(|h| -h).to_vec(), high.to_vec())),
            action_space: Space::Discrete(3),
        }
    }

    /// The internal state `[theta1, theta2, dtheta1, dtheta2]` (rad, rad, rad/s, rad/s);
    /// `None` before the first reset.
    pub fn state(&self) -> Option<[f64; 4]> {
        self.state
    }

    /// Sets the internal state, as assigning `env.unwrapped.state` in Gymnasium.
    pub fn set_state(&mut self, state: [f64; 4]) {
        self.state = Some(state);
    }

    /// `_dsdt`: the time derivative of `[theta1, theta2, dtheta1, dtheta2, torque]`, "book"
    /// dynamics, in acrobot.py's order of float operations.
    fn dsdt(&self, s: &[f64; 5]) -> [f64; 5] {
        let (m1, m2, l1, lc1, lc2, i1, i2, g) = (
            self.m1, self.m2, self.l1, self.lc1, self.lc2, self.moi, self.moi, self.g,
        );
        let [theta1, theta2, dtheta1, dtheta2, a] = *s;
        let d1 = m1 * py_square(lc1)
            + m2 * (py_square(l1) + py_square(lc2) + 2.0 * l1 * lc2 * theta2.cos())
            + i1
            + i2;
        let d2 = m2 * (py_square(lc2) + l1 * lc2 * theta2.cos()) + i2;
        let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
        let phi1 = -m2 * l1 * lc2 * py_square(dtheta2) * theta2.sin()
            - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
            + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
            + phi2;
        let ddtheta2 =
            (a + d2 / d1 * phi1 - m2 * l1 * lc2 * py_square(dtheta1) * theta2.sin() - phi2)
                / (m2 * py_square(lc2) + i2 - py_square(d2) / d1);
        let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
        [dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0]
    }

    /// acrobot.py's `rk4(self._dsdt, s_augmented, [0, self.dt])`: one classic Runge-Kutta step.
    fn rk4(&self, y0: [f64; 5]) -> [f64; 5] {
        let dt = self.dt; // `t[1] - t[0]`
        let dt2 = dt / 2.0;
        let add = |y: &[f64; 5], h: f64, k: &[f64; 5]| std::array::from_fn(|i| y[i] + h * k[i]);
        let k1 = self.dsdt(&y0);
        let k2 = self.dsdt(&add(&y0, dt2, &k1));
        let k3 = self.dsdt(&add(&y0, dt2, &k2));
        let k4 = self.dsdt(&add(&y0, dt, &k3));
        std::array::from_fn(|i| y0[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let [t1, t2, d1, d2] = self.state.unwrap_or_default();
        let ob = [t1.cos(), t1.sin(), t2.cos(), t2.sin(), d1, d2];
        for (o, v) in obs[..6].iter_mut().zip(ob) {
            *o = v as f32;
        }
    }
}

/// acrobot.py's `wrap`: shifts `x` by whole periods `M - m` into `[m, M]`.
fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    if !x.is_finite() {
        return x; // Gymnasium would loop forever on an infinite angle.
    }
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

/// acrobot.py's `bound`: Python's `min(max(x, m), M)`.
fn bound(x: f64, m: f64, big_m: f64) -> f64 {
    let lower = if m > x { m } else { x };
    if big_m < lower {
        big_m
    } else {
        lower
    }
}

impl Env for Acrobot {
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
        rng::seeded(&mut self.rng, seed).uniform_into(-0.1, 0.1, &mut state);
        // acrobot.py keeps the initial state as float32 (`.astype(np.float32)`).
        self.state = Some(state.map(|v| f64::from(v as f32)));
        self.write_obs(obs);
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let action = discrete(ID, action, &self.action_space, 3)?;
        let [s0, s1, s2, s3] = self.state.ok_or_else(|| needs_reset(ID))?;
        let mut torque = [-1.0, 0.0, 1.0][action];
        if self.torque_noise_max > 0.0 {
            let rng = rng::seeded(&mut self.rng, None);
            torque += rng.uniform(-self.torque_noise_max, self.torque_noise_max);
        }
        let ns = self.rk4([s0, s1, s2, s3, torque]);
        let state = [
            wrap(ns[0], -PI, PI),
            wrap(ns[1], -PI, PI),
            bound(ns[2], -self.max_vel_1, self.max_vel_1),
            bound(ns[3], -self.max_vel_2, self.max_vel_2),
        ];
        self.state = Some(state);
        let terminated = -state[0].cos() - (state[1] + state[0]).cos() > 1.0;
        let reward = if terminated { 0.0 } else { -1.0 };
        self.write_obs(obs);
        Ok(Step {
            reward: reward * self.reward_scale,
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

    // env = gymnasium.make("Acrobot-v1"); env.reset(seed=42)[0].tolist()  (Gymnasium 1.4.0)
    // NumPy takes cos/sin of the float32 initial state in float32 with its own SIMD code, so
    // the reset observation may differ from ours in the last bit.
    #[test]
    fn seeded_reset_matches_gymnasium() {
        let mut env = Acrobot::new();
        let mut obs = [0.0f32; 6];
        env.reset(Some(42), &mut obs);
        let expected = [
            0.99849933385849,
            0.0547637976706028,
            0.9999252557754517,
            -0.012224007397890091,
            0.07171958684921265,
            0.039473604410886765,
        ];
        for (o, e) in obs.iter().zip(expected) {
            assert!((f64::from(*o) - e).abs() < 1e-7, "{obs:?}");
        }
    }

    #[test]
    fn wrap_and_bound_follow_acrobot_py() {
        assert_eq!(wrap(3.0 * PI, -PI, PI), 3.0 * PI - 2.0 * PI);
        assert_eq!(wrap(-4.0, -PI, PI), -4.0 + 2.0 * PI);
        assert_eq!(wrap(1.0, -PI, PI), 1.0);
        assert_eq!(bound(20.0, -4.0 * PI, 4.0 * PI), 4.0 * PI);
        assert_eq!(bound(-20.0, -4.0 * PI, 4.0 * PI), -4.0 * PI);
        assert!(bound(f64::NAN, -1.0, 1.0).is_nan());
    }

    #[test]
    fn hanging_still_without_torque_stays_put() {
        let mut env = Acrobot::new();
        let mut obs = [0.0f32; 6];
        env.set_state([0.0; 4]);
        let step = env.step(Action::Discrete(1), &mut obs).unwrap();
        // cos(-pi/2) is 6e-17, not 0, so it drifts by that much, as in Gymnasium.
        for (o, e) in obs.iter().zip([1.0, 0.0, 1.0, 0.0, 0.0, 0.0]) {
            assert!((o - e).abs() < 1e-15, "{obs:?}");
        }
        assert_eq!((step.reward, step.terminated), (-1.0, false));
        assert!(env.step(Action::Discrete(3), &mut obs).is_err());
    }
}
