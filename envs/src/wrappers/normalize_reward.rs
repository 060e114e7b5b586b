//! Scales rewards by the standard deviation of a discounted return, as Gymnasium's
//! `NormalizeReward` (`gymnasium/wrappers/stateful_reward.py`, Gymnasium 1.4).
//!
//! Each step updates an exponentially discounted sum of rewards,
//! `g = g * gamma * (1 - terminated) + reward`, feeds `g` to a [`RunningMeanStd`] (unless
//! frozen) and returns `reward / sqrt(var + epsilon)`; the mean is not subtracted. Exactly as
//! in Gymnasium, `g` is only cleared by a *terminating* step, and by that step itself (so the
//! terminal reward starts the next accumulation); truncation and `reset` leave it alone.

use serde::{Deserialize, Serialize};

use super::normalize_observation::DEFAULT_EPSILON;
use super::{RunningMeanStd, Wrapper};
use crate::state::bad_state;
use crate::state::{load_tagged, save_tagged};
use crate::{Action, Env, EnvError, Step};

/// The default discount of [`NormalizeReward`] (Gymnasium's `gamma=0.99`).
pub const DEFAULT_GAMMA: f64 = 0.99;

/// An environment whose rewards are divided by the running standard deviation of a
/// discounted return; Gymnasium's `NormalizeReward`, with [`freeze`](Self::freeze) as its
/// `update_running_mean = False`. Allocates nothing.
///
/// Its saved state ([`Env::save_state`]) holds the statistics, the discounted return and
/// whether the statistics are frozen (which [`freeze`](Self::freeze) may switch during a
/// run); `gamma` and `epsilon` are parameters and are not saved.
#[derive(Debug)]
pub struct NormalizeReward<E> {
    env: E,
    rms: RunningMeanStd,
    discounted_return: f64,
    gamma: f64,
    epsilon: f64,
    frozen: bool,
}

impl<E: Env> NormalizeReward<E> {
    /// Wraps `env` with [`DEFAULT_GAMMA`] and [`DEFAULT_EPSILON`].
    pub fn new(env: E) -> Self {
        Self {
            env,
            rms: RunningMeanStd::new(1),
            discounted_return: 0.0,
            gamma: DEFAULT_GAMMA,
            epsilon: DEFAULT_EPSILON,
            frozen: false,
        }
    }

    /// Wraps `env` with the given discount (in `[0, 1]`) and `epsilon` (positive), as
    /// Gymnasium checks them.
    pub fn with_params(env: E, gamma: f64, epsilon: f64) -> Result<Self, EnvError> {
        let invalid = |name: &str, value: f64, reason: &str| EnvError::InvalidParam {
            env: env.id().to_string(),
            name: name.into(),
            value,
            reason: reason.into(),
        };
        if !(0.0..=1.0).contains(&gamma) {
            return Err(invalid(
                "gamma",
                gamma,
                "NormalizeReward needs a discount in [0, 1]",
            ));
        }
        if !(epsilon > 0.0 && epsilon.is_finite()) {
            let reason = "NormalizeReward needs a positive, finite epsilon";
            return Err(invalid("epsilon", epsilon, reason));
        }
        Ok(Self {
            gamma,
            epsilon,
            ..Self::new(env)
        })
    }

    /// Stops updating the statistics (for evaluation); rewards are still scaled with the
    /// current ones. The discounted return keeps accumulating.
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

    /// The running statistics of the discounted return (one element), e.g. for a checkpoint.
    pub fn stats(&self) -> &RunningMeanStd {
        &self.rms
    }

    /// Replaces the statistics (e.g. loaded from a checkpoint). They must track one
    /// element; otherwise nothing changes.
    pub fn set_stats(&mut self, stats: RunningMeanStd) -> Result<(), EnvError> {
        if stats.dim() != 1 {
            return Err(EnvError::InvalidParam {
                env: self.env.id().to_string(),
                name: "reward statistics length".into(),
                value: stats.dim() as f64,
                reason: "reward statistics have 1 element".into(),
            });
        }
        self.rms = stats;
        Ok(())
    }

    /// The discounted return accumulated so far (Gymnasium's `discounted_reward`).
    pub fn discounted_return(&self) -> f64 {
        self.discounted_return
    }

    /// The discount factor.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// The `epsilon` added to the variance.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }
}

/// What [`NormalizeReward`] saves.
#[derive(Serialize, Deserialize)]
struct Saved {
    rms: RunningMeanStd,
    discounted_return: f64,
    frozen: bool,
    inner: Vec<u8>,
}

impl<E: Env> Wrapper for NormalizeReward<E> {
    type Inner = E;
    fn inner(&self) -> &E {
        &self.env
    }
    fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    fn step(this: &mut Self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let mut step = this.env.step(action, obs)?;
        let keep = if step.terminated { 0.0 } else { 1.0 };
        this.discounted_return = this.discounted_return * this.gamma * keep + step.reward;
        if !this.frozen {
            // A batch of one: variance 0, count 1.
            this.rms.update_one(&[this.discounted_return]);
        }
        step.reward /= (this.rms.var()[0] + this.epsilon).sqrt();
        Ok(step)
    }
    fn save_state(this: &Self) -> Option<Vec<u8>> {
        let inner = this.env.save_state()?;
        Some(save_tagged(
            "NormalizeReward",
            &Saved {
                rms: this.rms.clone(),
                discounted_return: this.discounted_return,
                frozen: this.frozen,
                inner,
            },
        ))
    }
    fn load_state(this: &mut Self, state: &[u8]) -> Result<(), EnvError> {
        let saved: Saved = load_tagged(this.env.id(), "NormalizeReward", state)?;
        if saved.rms.dim() != 1 {
            let reason = format!("reward statistics of {} elements, not 1", saved.rms.dim());
            return Err(bad_state(this.env.id(), reason));
        }
        this.env.load_state(&saved.inner)?;
        this.rms = saved.rms;
        this.discounted_return = saved.discounted_return;
        this.frozen = saved.frozen;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::test_env::ScriptedEnv;

    // Expected numbers from Gymnasium 1.4 on the same reward sequence (rewards 1, -0.5, 2 by
    // step of the episode; episode 1 terminates at step 3, episode 2 is truncated at step 2,
    // episode 3 terminates at step 2):
    //
    //     import gymnasium as gym, numpy as np
    //     from gymnasium.wrappers import NormalizeReward
    //     class Scripted(gym.Env):
    //         observation_space = gym.spaces.Box(-1e6, 1e6, (2,), np.float64)
    //         action_space = gym.spaces.Discrete(2)
    //         rewards = [1.0, -0.5, 2.0]
    //         def reset(self, seed=None, options=None):
    //             self.t = 0
    //             return np.zeros(2), {}
    //         def step(self, a):
    //             self.t += 1
    //             r = self.rewards[(self.t - 1) % 3]
    //             return np.zeros(2), r, self.t == self.term, self.t == self.trunc, {}
    //     inner = Scripted()
    //     env = NormalizeReward(inner)
    //     out = []
    //     for term, trunc in [(3, None), (None, 2), (2, None)]:
    //         inner.term, inner.trunc = term, trunc
    //         env.reset()
    //         while True:
    //             _, r, te, tr, _ = env.step(0)
    //             out.append((float(r), env.discounted_reward.item()))
    //             if te or tr: break
    //     print(out)
    //     print(env.return_rms.mean.tolist(), env.return_rms.var.tolist(), env.return_rms.count)
    //     env.update_running_mean = False
    //     print(float(env.step(0)[1]), env.discounted_reward.item(), env.return_rms.count)
    const EXPECTED: [(f64, f64); 7] = [
        (70.71421321062337, 1.0),
        (-1.9596619562052393, 0.49),
        (3.188609125961765, 2.0),
        (1.0460535364811832, 2.98),
        (-0.544875682030713, 2.4502),
        (0.9640172186170867, 3.425698),
        (-0.3808807534736191, -0.5),
    ];

    #[test]
    fn matches_gymnasium_across_termination_and_truncation() {
        let mut env = NormalizeReward::new(ScriptedEnv::new(&[1.0, -0.5, 2.0], None));
        let mut obs = [0.0; 2];
        let mut out = Vec::new();
        for (term, trunc) in [(Some(3), None), (None, Some(2)), (Some(2), None)] {
            env.inner_mut().terminate_after = term;
            env.inner_mut().truncate_after = trunc;
            env.reset(None, &mut obs);
            loop {
                let step = env.step(Action::Discrete(0), &mut obs).unwrap();
                out.push((step.reward, env.discounted_return()));
                if step.done() {
                    break;
                }
            }
        }
        assert_eq!(out, EXPECTED);
        assert_eq!(env.stats().mean(), &[1.6922469679004588]);
        assert_eq!(env.stats().var(), &[1.723304217746303]);
        assert_eq!(env.stats().count(), 7.0001);

        env.freeze();
        let before = env.stats().clone();
        env.inner_mut().terminate_after = None;
        let step = env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!(
            (step.reward, env.discounted_return()),
            (1.5235230138944764, 1.505)
        );
        assert_eq!(env.stats(), &before);
        env.unfreeze();
        env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!(env.stats().count(), before.count() + 1.0);
    }

    #[test]
    fn loaded_statistics_scale_rewards() {
        let mut env =
            NormalizeReward::with_params(ScriptedEnv::new(&[3.0], None), 0.5, 0.25).unwrap();
        env.set_stats(RunningMeanStd::from_parts(vec![7.0], vec![2.0], 5.0).unwrap())
            .unwrap();
        env.freeze();
        let mut obs = [0.0; 2];
        env.reset(None, &mut obs);
        let step = env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!(step.reward, 2.0); // 3 / sqrt(2 + 0.25); the mean is not subtracted
        env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!(env.discounted_return(), 4.5); // 3 * 0.5 + 3
    }

    #[test]
    fn rejects_bad_parameters_and_statistics() {
        let make = || ScriptedEnv::new(&[1.0], None);
        for (gamma, eps) in [
            (1.5, 1e-8),
            (-0.1, 1e-8),
            (f64::NAN, 1e-8),
            (0.9, 0.0),
            (0.9, -1.0),
        ] {
            let err = NormalizeReward::with_params(make(), gamma, eps);
            assert!(
                matches!(err, Err(EnvError::InvalidParam { .. })),
                "{gamma} {eps}"
            );
        }
        assert!(NormalizeReward::with_params(make(), 1.0, 1e-8).is_ok());
        assert!(NormalizeReward::with_params(make(), 0.0, 1e-8).is_ok());
        let mut env = NormalizeReward::new(make());
        assert!(env.set_stats(RunningMeanStd::new(2)).is_err());
        assert_eq!(env.stats(), &RunningMeanStd::new(1));
    }
}
