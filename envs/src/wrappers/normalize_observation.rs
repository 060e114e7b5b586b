//! Normalizes observations to roughly zero mean and unit variance with running statistics,
//! as Gymnasium's `NormalizeObservation` (`gymnasium/wrappers/stateful_observation.py`,
//! Gymnasium 1.4): every observation, from `reset` and from `step`, first updates the
//! statistics (unless frozen) and is then replaced by `(obs - mean) / sqrt(var + epsilon)`.
//!
//! One difference: Gymnasium keeps these statistics in `float32` (the dtype of the wrapper's
//! observation space); here they are `f64`, so results agree with Gymnasium's to `f32`
//! rounding, and bit for bit with Gymnasium's wrapper given `float64` statistics
//! (`obs_rms = RunningMeanStd(shape, dtype=np.float64)`).

use serde::{Deserialize, Serialize};

use super::{RunningMeanStd, Wrapper};
use crate::state::bad_state;
use crate::state::{load_tagged, save_tagged};
use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

/// The default `epsilon` of [`NormalizeObservation`] and [`NormalizeReward`](super::NormalizeReward)
/// (Gymnasium's `1e-8`), added to the variance before the square root.
pub const DEFAULT_EPSILON: f64 = 1e-8;

/// An environment whose observations are normalized by running mean and variance;
/// Gymnasium's `NormalizeObservation`, with [`freeze`](Self::freeze) as its
/// `update_running_mean = False`. Its observation space is an unbounded `Box` of the wrapped
/// space's shape (shape `[1]` for a `Discrete` space). Allocates nothing per step.
///
/// Its saved state ([`Env::save_state`]) holds the statistics and whether they are frozen
/// (which [`freeze`](Self::freeze) may switch during a run); `epsilon` is a parameter and is
/// not saved.
#[derive(Debug)]
pub struct NormalizeObservation<E> {
    env: E,
    observation_space: Space,
    rms: RunningMeanStd,
    epsilon: f64,
    frozen: bool,
}

impl<E: Env> NormalizeObservation<E> {
    /// Wraps `env` with `epsilon` [`DEFAULT_EPSILON`] and fresh statistics.
    pub fn new(env: E) -> Self {
        let dim = env.observation_space().flat_dim();
        let shape = match env.observation_space() {
            Space::Box(b) => b.shape.clone(),
            Space::Discrete(_) => vec![1],
        };
        let observation_space = Space::Box(BoxSpace {
            low: vec![f32::NEG_INFINITY; dim],
            high: vec![f32::INFINITY; dim],
            shape,
        });
        let rms = RunningMeanStd::new(dim);
        Self {
            env,
            observation_space,
            rms,
            epsilon: DEFAULT_EPSILON,
            frozen: false,
        }
    }

    /// Wraps `env` with the given `epsilon`, which must be positive (as Gymnasium checks).
    pub fn with_epsilon(env: E, epsilon: f64) -> Result<Self, EnvError> {
        if !(epsilon > 0.0 && epsilon.is_finite()) {
            return Err(EnvError::InvalidParam {
                env: env.id().to_string(),
                name: "epsilon".into(),
                value: epsilon,
                reason: "NormalizeObservation needs a positive, finite epsilon".into(),
            });
        }
        Ok(Self {
            epsilon,
            ..Self::new(env)
        })
    }

    /// Stops updating the statistics (for evaluation); observations are still normalized
    /// with the current ones.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Resumes updating the statistics.
    pub fn unfreeze(&mut self) {
        self.frozen = false;
    }

    /// Whether the statistics are frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// The running statistics of the raw observations (e.g. to save in a checkpoint).
    pub fn stats(&self) -> &RunningMeanStd {
        &self.rms
    }

    /// Replaces the running statistics (e.g. loaded from a checkpoint). They must track as
    /// many elements as an observation has; otherwise nothing changes and the error names
    /// the environment and both lengths.
    pub fn set_stats(&mut self, stats: RunningMeanStd) -> Result<(), EnvError> {
        let dim = self.observation_space.flat_dim();
        if stats.dim() != dim {
            return Err(EnvError::InvalidParam {
                env: self.env.id().to_string(),
                name: "observation statistics length".into(),
                value: stats.dim() as f64,
                reason: format!("observations of this environment have {dim} elements"),
            });
        }
        self.rms = stats;
        Ok(())
    }

    /// The `epsilon` added to the variance.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }

    fn normalize(&mut self, obs: &mut [f32]) {
        if !self.frozen {
            self.rms.update_one(obs);
        }
        let stats = self.rms.mean().iter().zip(self.rms.var());
        for (x, (mean, var)) in obs.iter_mut().zip(stats) {
            *x = ((f64::from(*x) - mean) / (var + self.epsilon).sqrt()) as f32;
        }
    }
}

/// What [`NormalizeObservation`] saves.
#[derive(Serialize, Deserialize)]
struct Saved {
    rms: RunningMeanStd,
    frozen: bool,
    inner: Vec<u8>,
}

impl<E: Env> Wrapper for NormalizeObservation<E> {
    type Inner = E;
    fn inner(&self) -> &E {
        &self.env
    }
    fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    fn observation_space(this: &Self) -> &Space {
        &this.observation_space
    }
    fn reset(this: &mut Self, seed: Option<u64>, obs: &mut [f32]) {
        this.env.reset(seed, obs);
        this.normalize(obs);
    }
    fn step(this: &mut Self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let step = this.env.step(action, obs)?;
        this.normalize(obs);
        Ok(step)
    }
    fn save_state(this: &Self) -> Option<Vec<u8>> {
        let inner = this.env.save_state()?;
        Some(save_tagged(
            "NormalizeObservation",
            &Saved {
                rms: this.rms.clone(),
                frozen: this.frozen,
                inner,
            },
        ))
    }
    fn load_state(this: &mut Self, state: &[u8]) -> Result<(), EnvError> {
        let saved: Saved = load_tagged(this.env.id(), "NormalizeObservation", state)?;
        let (got, want) = (saved.rms.dim(), this.rms.dim());
        if got != want {
            let reason = format!("observation statistics of {got} elements, not {want}");
            return Err(bad_state(this.env.id(), reason));
        }
        this.env.load_state(&saved.inner)?;
        this.rms = saved.rms;
        this.frozen = saved.frozen;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::test_env::ScriptedEnv;

    // The test env's observations are [episode, t]. Expected numbers from Gymnasium 1.4's
    // wrapper on the same sequence, with float64 observations and statistics:
    //
    //     import gymnasium as gym, numpy as np
    //     from gymnasium.wrappers import NormalizeObservation
    //     from gymnasium.wrappers.utils import RunningMeanStd
    //     class Scripted(gym.Env):
    //         observation_space = gym.spaces.Box(-1e6, 1e6, (2,), np.float64)
    //         action_space = gym.spaces.Discrete(2)
    //         def __init__(self): self.e, self.t = -1, 0
    //         def reset(self, seed=None, options=None):
    //             self.e, self.t = self.e + 1, 0
    //             return np.array([self.e, self.t], np.float64), {}
    //         def step(self, a):
    //             self.t += 1
    //             return np.array([self.e, self.t], np.float64), 0.0, self.t == 3, False, {}
    //     env = NormalizeObservation(Scripted())
    //     env.obs_rms = RunningMeanStd(shape=(2,), dtype=np.float64)  # f64 statistics, as ours
    //     out = [env.reset()[0]]
    //     for _ in range(3): out.append(env.step(0)[0])
    //     out.append(env.reset()[0])
    //     for _ in range(2): out.append(env.step(0)[0])
    //     print([o.tolist() for o in out])
    //     print(env.obs_rms.mean.tolist(), env.obs_rms.var.tolist(), env.obs_rms.count)
    //     env.update_running_mean = False
    //     print(env.step(0)[0].tolist(), env.obs_rms.count)
    const EXPECTED: [[f32; 2]; 8] = [
        [0.0, 0.0],
        [0.0, 0.99995],
        [0.0, 1.2247449],
        [0.0, 1.3416475],
        [1.9999, -1.0289627],
        [1.4141781, -0.15615414],
        [1.1546813, 0.69338566],
        [1.1546813, 1.6641005],
    ];

    #[test]
    fn matches_gymnasium_on_reset_and_step_observations() {
        let mut env = NormalizeObservation::new(ScriptedEnv::new(&[0.0], Some(3)));
        let mut out = Vec::new();
        let mut obs = [0.0f32; 2];
        env.reset(None, &mut obs);
        out.push(obs);
        for _ in 0..3 {
            env.step(Action::Discrete(0), &mut obs).unwrap();
            out.push(obs);
        }
        env.reset(None, &mut obs);
        out.push(obs);
        for _ in 0..2 {
            env.step(Action::Discrete(0), &mut obs).unwrap();
            out.push(obs);
        }
        assert_eq!(out, EXPECTED[..7]);
        assert_eq!(
            env.stats().mean(),
            &[0.4285653062099113, 1.2856959186297339]
        );
        assert_eq!(env.stats().var(), &[0.24491137003332325, 1.06124722965849]);
        assert_eq!(env.stats().count(), 7.0001);

        env.freeze();
        assert!(env.is_frozen());
        let before = env.stats().clone();
        env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!(obs, EXPECTED[7]);
        assert_eq!(env.stats(), &before);
        env.unfreeze();
        env.reset(None, &mut obs);
        assert_eq!(env.stats().count(), before.count() + 1.0);
    }

    #[test]
    fn loaded_statistics_are_used_as_they_are() {
        let mut env =
            NormalizeObservation::with_epsilon(ScriptedEnv::new(&[0.0], None), 0.5).unwrap();
        let stats = RunningMeanStd::from_parts(vec![1.0, -2.0], vec![3.5, 0.5], 10.0).unwrap();
        env.set_stats(stats.clone()).unwrap();
        env.freeze();
        let mut obs = [0.0f32; 2];
        env.reset(None, &mut obs);
        env.step(Action::Discrete(0), &mut obs).unwrap();
        // Raw observation [0, 1]: (0 - 1) / sqrt(3.5 + 0.5), (1 + 2) / sqrt(0.5 + 0.5).
        assert_eq!(obs, [-0.5, 3.0]);
        assert_eq!(env.stats(), &stats);
    }

    #[test]
    fn rejects_bad_epsilon_and_statistics_of_the_wrong_length() {
        for eps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = NormalizeObservation::with_epsilon(ScriptedEnv::new(&[0.0], None), eps);
            assert!(matches!(err, Err(EnvError::InvalidParam { .. })), "{eps}");
        }
        let mut env = NormalizeObservation::new(ScriptedEnv::new(&[0.0], None));
        let err = env.set_stats(RunningMeanStd::new(3)).unwrap_err();
        assert!(err.to_string().contains("Scripted-v0"), "{err}");
        assert_eq!(env.stats(), &RunningMeanStd::new(2));
    }

    #[test]
    fn observation_space_is_unbounded_with_the_same_shape() {
        let env = NormalizeObservation::new(ScriptedEnv::new(&[0.0], None));
        let Space::Box(b) = env.observation_space() else {
            panic!("not a Box")
        };
        assert_eq!(b.shape, vec![2]);
        assert!(b.low.iter().all(|&l| l == f32::NEG_INFINITY));
        assert!(b.high.iter().all(|&h| h == f32::INFINITY));
    }
}
