//! Collecting one rollout: the policy acts in every environment of every task for
//! `num_steps` steps; transitions go into each task's [`TaskStorage`], finished episodes to
//! the logger.

use polytask_agents::actor_critic::ActorCritic;
use polytask_envs::Space;
use tch::{Device, Kind, Tensor};

use super::episodes::EpisodeLog;
use super::storage::TaskStorage;
use crate::vec_env::{TaskLayout, VecEnv};

/// Each task's current observations as `[n_t, obs_dim_t]` tensors on `device`.
pub fn observations(envs: &VecEnv, device: Device) -> Vec<Tensor> {
    envs.tasks()
        .iter()
        .enumerate()
        .map(|(t, task)| obs_tensor(envs.task_observations(t), task.obs_dim, device))
        .collect()
}

/// A `[rows, obs_dim]` tensor from flat observations.
pub fn obs_tensor(flat: &[f32], obs_dim: usize, device: Device) -> Tensor {
    Tensor::from_slice(flat)
        .view([-1, obs_dim as i64])
        .to_device(device)
}

/// Steps every environment `steps` times with actions sampled from `net`, filling `storage`.
pub fn collect(
    net: &ActorCritic,
    envs: &mut VecEnv,
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
    for step in 0..steps {
        let obs = observations(envs, device);
        let out = tch::no_grad(|| net.forward(&obs));
        for (t, s) in storage.iter_mut().enumerate() {
            let (n, base) = (s.envs, step * s.envs);
            s.obs[base * s.obs_dim..(base + n) * s.obs_dim]
                .copy_from_slice(envs.task_observations(t));
            let action = out.dists[t].sample();
            let log_prob = out.dists[t].log_prob(&action);
            copy_to(
                &action,
                &mut s.actions[base * s.act_dim..(base + n) * s.act_dim],
            );
            copy_to(&log_prob, &mut s.log_probs[base..base + n]);
            copy_to(&out.values[t], &mut s.values[base..base + n]);
            let sampled = &s.actions[base * s.act_dim..(base + n) * s.act_dim];
            write_env_actions(&spaces[t], sampled, envs.task_actions_mut(t));
        }
        envs.step()?;
        record_step(envs, storage, step);
        episodes.record(envs);
    }
    Ok(())
}

/// Copies a tensor's values (any kind, any device) into `dst` as `f32`.
pub fn copy_to(tensor: &Tensor, dst: &mut [f32]) {
    let cpu = tensor
        .to_kind(Kind::Float)
        .to_device(Device::Cpu)
        .contiguous();
    cpu.copy_data(dst, dst.len());
}

/// Writes sampled actions into the environment's action buffer, clipped into a box's bounds
/// (as Stable-Baselines3 and CleanRL's `ClipAction` do); discrete indices pass unchanged.
pub fn write_env_actions(space: &Space, sampled: &[f32], env_actions: &mut [f32]) {
    match space {
        Space::Discrete(_) => env_actions.copy_from_slice(sampled),
        Space::Box(b) => {
            let bounds = b.low.iter().zip(&b.high).cycle();
            for ((dst, &a), (&lo, &hi)) in env_actions.iter_mut().zip(sampled).zip(bounds) {
                *dst = a.clamp(lo, hi);
            }
        }
    }
}

fn record_step(envs: &VecEnv, storage: &mut [TaskStorage], step: usize) {
    for (t, s) in storage.iter_mut().enumerate() {
        let TaskLayout { rows, .. } = &envs.tasks()[t];
        let base = step * s.envs;
        for (k, row) in rows.clone().enumerate() {
            s.rewards[base + k] = envs.rewards()[row];
            s.terminated[base + k] = envs.terminated()[row];
            s.truncated[base + k] = envs.truncated()[row];
            if envs.truncated()[row] && !envs.terminated()[row] {
                let final_obs = envs
                    .final_observation(row)
                    .expect("a truncated row has a final observation");
                s.push_final(base + k, final_obs);
            }
        }
    }
}

/// Fills each task's `final_values` with `V` of its truncated episodes' final observations,
/// and returns `V` of the current observations (to bootstrap the rollout's last step).
pub fn bootstrap_values(
    net: &ActorCritic,
    envs: &VecEnv,
    storage: &mut [TaskStorage],
) -> Vec<Vec<f32>> {
    let device = net.device();
    let finals: Vec<Tensor> = storage
        .iter()
        .map(|s| obs_tensor(&s.final_obs, s.obs_dim, device))
        .collect();
    let final_values = net.values(&finals);
    let mut scratch = Vec::new();
    for (s, v) in storage.iter_mut().zip(&final_values) {
        scratch.resize(s.final_index.len(), 0.0);
        copy_to(v, &mut scratch);
        for (&i, &value) in s.final_index.iter().zip(&scratch) {
            s.final_values[i] = value;
        }
    }
    let last = net.values(&observations(envs, device));
    last.iter()
        .zip(storage.iter())
        .map(|(v, s)| {
            let mut out = vec![0.0; s.envs];
            copy_to(v, &mut out);
            out
        })
        .collect()
}
