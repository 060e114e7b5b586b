//! One task's rollout: `num_steps × num_envs` transitions in flat step-major buffers, reused
//! from one iteration to the next, plus GAE's advantages and returns.

use polytask_agents::gae::{gae, Rollout};

use super::normalize::TaskNormalizer;

/// A task's transitions of one rollout (`index = step * envs + env`).
#[derive(Debug)]
pub struct TaskStorage {
    /// Environments of the task (columns).
    pub envs: usize,
    /// Values per observation.
    pub obs_dim: usize,
    /// Values per action as sampled (1 for a discrete index).
    pub act_dim: usize,
    /// Observations `[S·n × obs_dim]`.
    pub obs: Vec<f32>,
    /// Actions as sampled (before clipping to the box) `[S·n × act_dim]`.
    pub actions: Vec<f32>,
    /// `log π_old(a|s)`.
    pub log_probs: Vec<f32>,
    /// `V_old(s)`.
    pub values: Vec<f32>,
    /// Rewards.
    pub rewards: Vec<f32>,
    /// Terminal transitions.
    pub terminated: Vec<bool>,
    /// Truncated transitions.
    pub truncated: Vec<bool>,
    /// `V(final observation)` where truncated.
    pub final_values: Vec<f32>,
    /// Final observations of truncated transitions, `obs_dim` values each, in `final_index` order.
    pub final_obs: Vec<f32>,
    /// The transition index of each final observation.
    pub final_index: Vec<usize>,
    /// GAE advantages.
    pub advantages: Vec<f32>,
    /// GAE returns.
    pub returns: Vec<f32>,
}

impl TaskStorage {
    /// Buffers for `steps` steps of `envs` environments.
    pub fn new(steps: usize, envs: usize, obs_dim: usize, act_dim: usize) -> Self {
        let n = steps * envs;
        Self {
            envs,
            obs_dim,
            act_dim,
            obs: vec![0.0; n * obs_dim],
            actions: vec![0.0; n * act_dim],
            log_probs: vec![0.0; n],
            values: vec![0.0; n],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            final_values: vec![0.0; n],
            final_obs: Vec::with_capacity(n * obs_dim),
            final_index: Vec::with_capacity(n),
            advantages: vec![0.0; n],
            returns: vec![0.0; n],
        }
    }

    /// Forgets the final observations of the previous rollout.
    pub fn clear_finals(&mut self) {
        self.final_obs.clear();
        self.final_index.clear();
    }

    /// Records the final observation `obs` of the truncated transition `index`, normalised
    /// by `norm` (without updating it).
    pub fn push_final(&mut self, index: usize, obs: &[f32], norm: &TaskNormalizer) {
        self.final_index.push(index);
        let start = self.final_obs.len();
        self.final_obs.resize(start + obs.len(), 0.0);
        norm.normalize(obs, &mut self.final_obs[start..]);
    }

    /// Computes advantages and returns with GAE(λ), `last_values` being `V` of the
    /// observations after the last step.
    pub fn compute_advantages(&mut self, last_values: &[f32], gamma: f32, lambda: f32) {
        let rollout = Rollout {
            envs: self.envs,
            rewards: &self.rewards,
            values: &self.values,
            terminated: &self.terminated,
            truncated: &self.truncated,
            final_values: &self.final_values,
            last_values,
        };
        gae(
            &rollout,
            gamma,
            lambda,
            &mut self.advantages,
            &mut self.returns,
        );
    }

    /// `1 − Var[returns − values] / Var[returns]`, CleanRL's `explained_variance` (NaN when
    /// the returns do not vary).
    pub fn explained_variance(&self) -> f64 {
        let var = |xs: &mut dyn Iterator<Item = f64>| {
            let v: Vec<f64> = xs.collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64
        };
        let returns = var(&mut self.returns.iter().map(|&r| r as f64));
        let residual = var(&mut self
            .returns
            .iter()
            .zip(&self.values)
            .map(|(&r, &v)| (r - v) as f64));
        if returns == 0.0 {
            f64::NAN
        } else {
            1.0 - residual / returns
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explained_variance_is_one_for_perfect_values_and_zero_for_constant_ones() {
        let mut s = TaskStorage::new(2, 2, 1, 1);
        s.returns = vec![1.0, 2.0, 3.0, 4.0];
        s.values = s.returns.clone();
        assert_eq!(s.explained_variance(), 1.0);
        s.values = vec![2.5; 4];
        assert!(s.explained_variance().abs() < 1e-12);
    }
}
