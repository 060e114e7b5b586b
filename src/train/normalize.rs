//! Per-task observation and reward normalisation, as Stable-Baselines3's `VecNormalize`
//! (`stable_baselines3/common/vec_env/vec_normalize.py`): observations are standardised by
//! a running mean and variance and clipped to ±10; rewards are divided by the running
//! standard deviation of the discounted return and clipped to ±10; ε = 1e-8.

use polytask_envs::wrappers::RunningMeanStd;
use serde::{Deserialize, Serialize};

const CLIP: f64 = 10.0;
const EPSILON: f64 = 1e-8;

/// One task's normalisation statistics.
#[derive(Debug, Clone)]
pub struct TaskNormalizer {
    obs: Option<RunningMeanStd>,
    ret: Option<RunningMeanStd>,
    returns: Vec<f64>,
    gamma: f64,
}

/// The statistics as stored in a checkpoint: everything that the next normalised value
/// depends on, so that a resumed run normalises exactly as the uninterrupted one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizerState {
    /// Observation mean, variance and count, when observations are normalised.
    pub obs: Option<(Vec<f64>, Vec<f64>, f64)>,
    /// Discounted-return mean, variance and count, when rewards are normalised.
    pub ret: Option<(f64, f64, f64)>,
    /// Each environment's running discounted return (for reward normalisation).
    pub returns: Vec<f64>,
}

impl TaskNormalizer {
    /// A normaliser for a task with `envs` environments and `obs_dim`-long observations.
    pub fn new(
        obs_dim: usize,
        envs: usize,
        normalize_obs: bool,
        normalize_reward: bool,
        gamma: f64,
    ) -> Self {
        Self {
            obs: normalize_obs.then(|| RunningMeanStd::new(obs_dim)),
            ret: normalize_reward.then(|| RunningMeanStd::new(1)),
            returns: vec![0.0; envs],
            gamma,
        }
    }

    /// Adds the observations `raw` (rows of `obs_dim`) to the statistics, then writes them
    /// normalised into `out`.
    pub fn observe(&mut self, raw: &[f32], out: &mut [f32]) {
        if let Some(stats) = &mut self.obs {
            stats.update(raw);
        }
        self.normalize(raw, out);
    }

    /// Writes `raw` normalised with the current statistics into `out`, without updating them.
    pub fn normalize(&self, raw: &[f32], out: &mut [f32]) {
        match &self.obs {
            None => out.copy_from_slice(raw),
            Some(stats) => {
                let dim = stats.dim();
                for (i, (o, &x)) in out.iter_mut().zip(raw).enumerate() {
                    let j = i % dim;
                    let z = (x as f64 - stats.mean()[j]) / (stats.var()[j] + EPSILON).sqrt();
                    *o = z.clamp(-CLIP, CLIP) as f32;
                }
            }
        }
    }

    /// Scales the rewards of one step (one per environment) in place, updating the
    /// discounted-return statistics; `done[e]` restarts environment `e`'s return.
    pub fn rewards(&mut self, rewards: &mut [f32], done: impl Fn(usize) -> bool) {
        let Some(stats) = &mut self.ret else { return };
        for (r, &x) in self.returns.iter_mut().zip(rewards.iter()) {
            *r = *r * self.gamma + x as f64;
        }
        stats.update(&self.returns);
        let scale = (stats.var()[0] + EPSILON).sqrt();
        for (e, x) in rewards.iter_mut().enumerate() {
            *x = (*x as f64 / scale).clamp(-CLIP, CLIP) as f32;
            if done(e) {
                self.returns[e] = 0.0;
            }
        }
    }

    /// The statistics, for a checkpoint.
    pub fn state(&self) -> NormalizerState {
        NormalizerState {
            obs: self
                .obs
                .as_ref()
                .map(|s| (s.mean().to_vec(), s.var().to_vec(), s.count())),
            ret: self
                .ret
                .as_ref()
                .map(|s| (s.mean()[0], s.var()[0], s.count())),
            returns: self.returns.clone(),
        }
    }

    /// Restores statistics saved by [`TaskNormalizer::state`]; `None` if they do not fit.
    pub fn restore(&mut self, state: &NormalizerState) -> Option<()> {
        if state.obs.is_some() != self.obs.is_some() || state.ret.is_some() != self.ret.is_some() {
            return None;
        }
        if let (Some(stats), Some((mean, var, count))) = (&mut self.obs, &state.obs) {
            if mean.len() != stats.dim() {
                return None;
            }
            *stats = RunningMeanStd::from_parts(mean.clone(), var.clone(), *count)?;
        }
        if let (Some(stats), Some((mean, var, count))) = (&mut self.ret, state.ret) {
            *stats = RunningMeanStd::from_parts(vec![mean], vec![var], count)?;
        }
        if state.returns.len() != self.returns.len() {
            return None;
        }
        self.returns.copy_from_slice(&state.returns);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_are_standardised_and_clipped() {
        let mut n = TaskNormalizer::new(2, 2, true, false, 0.99);
        let mut out = [0.0; 4];
        n.observe(&[1.0, 10.0, 3.0, 10.0], &mut out);
        // mean (2, 10), var (1, 0): first column ±1, second 0, up to the prior (mean 0, var 1,
        // count 1e-4): the second column's mean is 9.9995 and its variance 0.005.
        assert!(
            (out[0] + 1.0).abs() < 1e-3 && (out[2] - 1.0).abs() < 1e-3,
            "{out:?}"
        );
        assert!(
            (out[1] - 0.00704).abs() < 1e-4 && out[1] == out[3],
            "{out:?}"
        );
        n.normalize(&[1e6, 10.0], &mut out[..2]);
        assert_eq!(out[0], 10.0, "clipped");
    }

    #[test]
    fn rewards_are_scaled_by_the_discounted_return_std_and_returns_restart() {
        let mut n = TaskNormalizer::new(1, 1, false, true, 0.5);
        let mut r = [2.0f32];
        n.rewards(&mut r, |_| false);
        // returns = [2]; var after one sample of batch-variance 0 from the prior: ≈ 0 → clipped.
        assert_eq!(r[0], 10.0);
        let mut r = [2.0f32];
        n.rewards(&mut r, |_| true);
        // returns = 2·0.5 + 2 = 3; the statistics now hold 2 and 3: var ≈ 0.25.
        assert!((r[0] - 4.0).abs() < 0.01, "{r:?}");
        assert_eq!(n.returns[0], 0.0, "done restarts the return");
    }

    #[test]
    fn disabled_normalisers_pass_values_through_and_state_round_trips() {
        let mut n = TaskNormalizer::new(2, 1, false, false, 0.99);
        let mut out = [0.0; 2];
        n.observe(&[3.0, -4.0], &mut out);
        assert_eq!(out, [3.0, -4.0]);
        let mut r = [5.0f32];
        n.rewards(&mut r, |_| false);
        assert_eq!(r, [5.0]);
        let mut m = TaskNormalizer::new(2, 1, true, true, 0.99);
        m.observe(&[1.0, 2.0, 3.0, 5.0], &mut [0.0; 4]);
        let mut copy = TaskNormalizer::new(2, 1, true, true, 0.99);
        copy.restore(&m.state()).unwrap();
        assert_eq!(copy.state(), m.state());
        assert!(n.restore(&m.state()).is_none(), "settings differ");
    }
}
