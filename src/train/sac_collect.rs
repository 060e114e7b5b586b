//! Acting with SAC: one step of every environment with actions from the policy (or uniformly
//! random ones before learning starts, as Stable-Baselines3's `learning_starts`), each
//! transition into its task's replay buffer with the episode's final observation where it
//! ended; and the policy for evaluation.
//!
//! SAC's actions live in `[-1, 1]`; the environments get them rescaled to their box,
//! `low + (a + 1) (high − low) / 2` (SB3's `unscale_action`), and the buffers keep the
//! `[-1, 1]` values, as SB3's do.

use polytask_agents::sac::{Sac, SacTask};
use polytask_envs::{BoxSpace, Space};
use rand::Rng;
use tch::{Device, Tensor};

use super::collect::{copy_to, obs_tensor, NonFiniteAction};
use super::episodes::EpisodeLog;
use super::evaluate::Policy;
use super::replay::TaskReplay;
use crate::error::usage;
use crate::vec_env::{TaskLayout, VecEnv};

/// SAC's view of every task and its action box, checked: box actions with finite bounds.
pub fn sac_tasks(layouts: &[TaskLayout]) -> anyhow::Result<(Vec<SacTask>, Vec<BoxSpace>)> {
    let checked: anyhow::Result<Vec<(SacTask, BoxSpace)>> = (layouts.iter())
        .map(|task| match &task.action_space {
            Space::Box(b) if b.low.iter().chain(&b.high).all(|x| x.is_finite()) => {
                let shape = SacTask {
                    obs_dim: task.obs_dim as i64,
                    action_dim: b.low.len() as i64,
                };
                Ok((shape, b.clone()))
            }
            Space::Box(_) => Err(usage(format!(
                "task `{}`: SAC needs an action box with finite bounds to squash its actions \
                 into; this task's box is unbounded",
                task.name
            ))),
            Space::Discrete(_) => Err(usage(format!(
                "task `{}` has discrete actions; SAC here takes box actions only (train it \
                 with PPO or A2C)",
                task.name
            ))),
        })
        .collect();
    Ok(checked?.into_iter().unzip())
}

/// Rescales `unit` actions (rows of `[-1, 1]` values) into the box `b`.
fn write_box_actions(b: &BoxSpace, unit: &[f32], out: &mut [f32]) {
    let bounds = b.low.iter().zip(&b.high).cycle();
    for ((o, &a), (&lo, &hi)) in out.iter_mut().zip(unit).zip(bounds) {
        *o = lo + 0.5 * (a.clamp(-1.0, 1.0) + 1.0) * (hi - lo);
    }
}

/// A trained SAC actor as evaluation's [`Policy`] (`tanh(μ)` when deterministic), with each
/// task's action box (from [`sac_tasks`]).
pub struct SacPolicy<'a> {
    /// The learner.
    pub sac: &'a Sac,
    /// Each task's action box.
    pub boxes: &'a [BoxSpace],
}

impl Policy for SacPolicy<'_> {
    fn device(&self) -> Device {
        self.sac.actor().flat_params().device()
    }

    fn write_actions(
        &self,
        obs: &[Tensor],
        deterministic: bool,
        envs: &mut VecEnv,
        scratch: &mut Vec<f32>,
        indices: &mut Vec<i64>,
    ) {
        let actions = self.sac.act(obs, deterministic);
        for (t, action) in actions.iter().enumerate() {
            let buffer = envs.task_actions_mut(t);
            scratch.resize(buffer.len(), 0.0);
            copy_to(action, scratch, indices);
            write_box_actions(&self.boxes[t], scratch, buffer);
        }
    }
}

/// Per-task buffers reused from one step to the next: the observations acted on and the
/// `[-1, 1]` actions taken.
#[derive(Debug)]
pub struct StepBuffers {
    obs: Vec<Vec<f32>>,
    actions: Vec<Vec<f32>>,
    indices: Vec<i64>,
}

impl StepBuffers {
    /// Buffers for the tasks of `envs`.
    pub fn new(envs: &VecEnv) -> Self {
        let tasks = envs.tasks();
        Self {
            obs: tasks
                .iter()
                .map(|t| vec![0.0; t.num_envs() * t.obs_dim])
                .collect(),
            actions: tasks
                .iter()
                .map(|t| vec![0.0; t.num_envs() * t.act_dim])
                .collect(),
            indices: Vec::new(),
        }
    }
}

/// Steps every environment once: with actions sampled from `sac`, or uniform in the box when
/// `random` (drawn from `rng`); stores each transition in its task's `replay` and counts the
/// step and finished episodes in `episodes`; `boxes` are the tasks' action boxes.
pub fn step(
    sac: &Sac,
    boxes: &[BoxSpace],
    envs: &mut VecEnv,
    replay: &mut [TaskReplay],
    buffers: &mut StepBuffers,
    random: Option<&mut dyn rand::RngCore>,
    episodes: &mut EpisodeLog,
) -> anyhow::Result<()> {
    for (t, obs) in buffers.obs.iter_mut().enumerate() {
        obs.copy_from_slice(envs.task_observations(t));
    }
    match random {
        Some(rng) => {
            for a in buffers.actions.iter_mut().flatten() {
                *a = rng.random_range(-1.0..=1.0);
            }
        }
        None => sample(sac, envs, buffers)?,
    }
    for (t, unit) in buffers.actions.iter().enumerate() {
        write_box_actions(&boxes[t], unit, envs.task_actions_mut(t));
    }
    envs.step()?;
    for (t, buffer) in replay.iter_mut().enumerate() {
        let task = &envs.tasks()[t];
        let (rows, d, a) = (task.rows.clone(), task.obs_dim, task.act_dim);
        let next = envs.task_observations(t);
        for (k, row) in rows.enumerate() {
            let next_obs = envs
                .final_observation(row)
                .unwrap_or(&next[k * d..(k + 1) * d]);
            buffer.push(
                &buffers.obs[t][k * d..(k + 1) * d],
                &buffers.actions[t][k * a..(k + 1) * a],
                envs.rewards()[row],
                next_obs,
                envs.terminated()[row],
            );
        }
    }
    episodes.record(envs);
    Ok(())
}

/// The policy's sampled actions for the observations in `buffers`, into its action buffers.
fn sample(sac: &Sac, envs: &VecEnv, buffers: &mut StepBuffers) -> anyhow::Result<()> {
    let device = sac.actor().flat_params().device();
    let obs: Vec<Tensor> = (envs.tasks().iter().zip(&buffers.obs))
        .map(|(task, o)| obs_tensor(o, task.obs_dim, device))
        .collect();
    let actions = sac.act(&obs, false);
    for (t, (action, out)) in actions.iter().zip(&mut buffers.actions).enumerate() {
        copy_to(action, out, &mut buffers.indices);
        if let Some(k) = out.iter().position(|a| !a.is_finite()) {
            let act_dim = envs.tasks()[t].act_dim;
            return Err(NonFiniteAction {
                task: t,
                row: k / act_dim,
                value: out[k],
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_actions_span_the_box_as_sb3_unscales_them() {
        let b = BoxSpace {
            low: vec![-2.0, 0.0],
            high: vec![2.0, 10.0],
            shape: vec![2],
        };
        let mut out = [0.0; 6];
        write_box_actions(&b, &[-1.0, -1.0, 0.0, 0.5, 1.0, 3.0], &mut out);
        assert_eq!(out, [-2.0, 0.0, 0.0, 7.5, 2.0, 10.0]);
    }
}
