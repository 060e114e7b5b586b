//! Collecting one rollout: the policy acts in every environment of every task for
//! `num_steps` steps; transitions go into each task's [`TaskStorage`], finished episodes to
//! the logger.

use polytask_agents::actor_critic::ActorCritic;
use polytask_envs::Space;
use tch::{Device, Kind, Tensor};

use super::episodes::EpisodeLog;
use super::normalize::TaskNormalizer;
use super::storage::TaskStorage;
use crate::vec_env::VecEnv;

/// Each task's current observations, normalised with the current statistics (not updated),
/// as `[n_t, obs_dim_t]` tensors on `device`.
pub fn observations(envs: &VecEnv, norms: &[TaskNormalizer], device: Device) -> Vec<Tensor> {
    let mut scratch = Vec::new();
    envs.tasks()
        .iter()
        .enumerate()
        .map(|(t, task)| {
            let raw = envs.task_observations(t);
            scratch.resize(raw.len(), 0.0);
            norms[t].normalize(raw, &mut scratch);
            obs_tensor(&scratch, task.obs_dim, device)
        })
        .collect()
}

/// A `[rows, obs_dim]` tensor from flat observations.
pub fn obs_tensor(flat: &[f32], obs_dim: usize, device: Device) -> Tensor {
    Tensor::from_slice(flat)
        .view([-1, obs_dim as i64])
        .to_device(device)
}

/// A sampled action with a NaN or infinite element: the policy's weights have diverged.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("the policy sampled a non-finite action ({value}) for its environment {row}")]
pub struct NonFiniteAction {
    /// The task's index.
    pub task: usize,
    /// The environment's index within the task.
    pub row: usize,
    /// The bad value.
    pub value: f32,
}

/// Steps every environment `steps` times with actions sampled from `net`, filling `storage`.
pub fn collect(
    net: &ActorCritic,
    envs: &mut VecEnv,
    norms: &mut [TaskNormalizer],
    storage: &mut [TaskStorage],
    steps: usize,
    episodes: &mut EpisodeLog,
) -> anyhow::Result<()> {
    let device = net.device();
    storage.iter_mut().for_each(TaskStorage::clear_finals);
    let spaces: Vec<Space> = envs
        .tasks()
        .iter()
        .map(|t| t.action_space.clone())
        .collect();
    let (mut scratch, mut indices) = (Vec::new(), Vec::new());
    for step in 0..steps {
        // Normalise (and count) this step's observations into storage, then act on them.
        let mut obs = Vec::with_capacity(storage.len());
        for (t, s) in storage.iter_mut().enumerate() {
            let block = step * s.envs * s.obs_dim..(step + 1) * s.envs * s.obs_dim;
            norms[t].observe(envs.task_observations(t), &mut s.obs[block.clone()]);
            obs.push(obs_tensor(&s.obs[block], s.obs_dim, device));
        }
        let out = tch::no_grad(|| net.forward(&obs));
        for (t, s) in storage.iter_mut().enumerate() {
            let (n, base) = (s.envs, step * s.envs);
            let actions = base * s.act_dim..(base + n) * s.act_dim;
            let action = out.dists[t].sample();
            let log_prob = out.dists[t].log_prob(&action);
            let sampled = [&action, &log_prob, &out.values[t]];
            let rows = [actions.clone(), base..base + n, base..base + n];
            if device == Device::Cpu {
                let columns = [&mut s.actions, &mut s.log_probs, &mut s.values];
                for ((x, rows), column) in sampled.iter().zip(rows).zip(columns) {
                    copy_to(x, &mut column[rows], &mut indices);
                }
            } else {
                // One copy from the device: actions, log-probabilities and values in one tensor.
                let flat = sampled.map(|x| x.to_kind(Kind::Float).reshape([-1]));
                scratch.resize(n * (s.act_dim + 2), 0.0);
                copy_to(&Tensor::cat(&flat, 0), &mut scratch, &mut indices);
                let (a, rest) = scratch.split_at(n * s.act_dim);
                s.actions[rows[0].clone()].copy_from_slice(a);
                s.log_probs[rows[1].clone()].copy_from_slice(&rest[..n]);
                s.values[rows[2].clone()].copy_from_slice(&rest[n..]);
            }
            let sampled = &s.actions[actions];
            if let Some(k) = sampled.iter().position(|a| !a.is_finite()) {
                let (row, value) = (k / s.act_dim, sampled[k]);
                return Err(NonFiniteAction {
                    task: t,
                    row,
                    value,
                }
                .into());
            }
            write_env_actions(&spaces[t], sampled, envs.task_actions_mut(t));
        }
        envs.step()?;
        record_step(envs, norms, storage, step);
        episodes.record(envs);
    }
    Ok(())
}

/// Copies a tensor's values (any kind, any device) into `dst` as `f32`; integer indices pass
/// through `indices` (a reusable scratch buffer) without a tensor conversion.
pub fn copy_to(tensor: &Tensor, dst: &mut [f32], indices: &mut Vec<i64>) {
    match tensor.kind() {
        Kind::Float => tensor.copy_data(dst, dst.len()),
        Kind::Int64 => {
            indices.resize(dst.len(), 0);
            tensor.copy_data(indices, dst.len());
            dst.iter_mut()
                .zip(indices.iter())
                .for_each(|(d, &i)| *d = i as f32);
        }
        _ => tensor.to_kind(Kind::Float).copy_data(dst, dst.len()),
    }
}

/// Writes sampled actions into the environment's action buffer, clipped into a box's bounds
/// (as Stable-Baselines3 and CleanRL's `ClipAction` do); discrete indices pass unchanged.
pub fn write_env_actions(space: &Space, sampled: &[f32], env_actions: &mut [f32]) {
    match space {
        Space::Discrete(_) => env_actions.copy_from_slice(sampled),
        Space::Box(b) => b.clip(sampled, env_actions),
    }
}

fn record_step(
    envs: &VecEnv,
    norms: &mut [TaskNormalizer],
    storage: &mut [TaskStorage],
    step: usize,
) {
    for (t, s) in storage.iter_mut().enumerate() {
        let rows = envs.tasks()[t].rows.clone();
        let base = step * s.envs;
        let done = |row: usize| envs.terminated()[row] || envs.truncated()[row];
        s.rewards[base..base + s.envs].copy_from_slice(&envs.rewards()[rows.clone()]);
        s.terminated[base..base + s.envs].copy_from_slice(&envs.terminated()[rows.clone()]);
        s.truncated[base..base + s.envs].copy_from_slice(&envs.truncated()[rows.clone()]);
        norms[t].rewards(&mut s.rewards[base..base + s.envs], |k| {
            done(rows.start + k)
        });
        for (k, row) in rows.enumerate() {
            if envs.truncated()[row] && !envs.terminated()[row] {
                let final_obs = envs
                    .final_observation(row)
                    .expect("a truncated row has a final observation");
                s.push_final(base + k, final_obs, &norms[t]);
            }
        }
    }
}

/// Fills each task's `final_values` with `V` of its truncated episodes' final observations,
/// and returns `V` of the current observations (to bootstrap the rollout's last step).
pub fn bootstrap_values(
    net: &ActorCritic,
    envs: &VecEnv,
    norms: &[TaskNormalizer],
    storage: &mut [TaskStorage],
) -> Vec<Vec<f32>> {
    let device = net.device();
    let finals: Vec<Tensor> = storage
        .iter()
        .map(|s| obs_tensor(&s.final_obs, s.obs_dim, device))
        .collect();
    let final_values = net.values(&finals);
    let (mut scratch, mut indices) = (Vec::new(), Vec::new());
    for (s, v) in storage.iter_mut().zip(&final_values) {
        scratch.resize(s.final_index.len(), 0.0);
        copy_to(v, &mut scratch, &mut indices);
        for (&i, &value) in s.final_index.iter().zip(&scratch) {
            s.final_values[i] = value;
        }
    }
    let last = net.values(&observations(envs, norms, device));
    last.iter()
        .zip(storage.iter())
        .map(|(v, s)| {
            let mut out = vec![0.0; s.envs];
            copy_to(v, &mut out, &mut indices);
            out
        })
        .collect()
}
