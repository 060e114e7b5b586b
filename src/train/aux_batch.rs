//! The data of the auxiliary losses (`[[aux_losses]]`): inputs `(s_t, a_t)`, targets and a
//! mask of usable rows, made from their task's rollout, and the losses' gradients at the
//! prediction heads.

use polytask_agents::actor_critic::{ActionSpec, TaskShape};
use tch::{Device, Kind, Tensor};

use super::morans_i::{Grid, MoransI};
use super::storage::TaskStorage;
use crate::config::{AuxLoss, AuxLossKind};

/// The network's view of an auxiliary loss on a task shaped `source`: input the observation
/// and the action (one-hot for a discrete space), output the prediction (a linear head; the
/// unused log-std of the continuous head shape stays at its initial value).
pub fn aux_shape(aux: &AuxLoss, source: &TaskShape) -> TaskShape {
    let action_inputs = match source.action {
        ActionSpec::Discrete(n) | ActionSpec::Continuous(n) => n,
    };
    let outputs = match aux.kind {
        AuxLossKind::RewardPrediction => 1,
        AuxLossKind::ForwardDynamics => source.obs_dim,
        AuxLossKind::MoransI => {
            let maps = aux
                .maps
                .as_ref()
                .expect("a checked morans-i loss has its maps");
            maps.resolutions.len() as i64 * source.obs_dim
        }
    };
    TaskShape::vector(
        source.obs_dim + action_inputs,
        ActionSpec::Continuous(outputs),
    )
}

/// One auxiliary loss's rollout as tensors, rows in the order of its task's storage.
#[derive(Debug)]
pub struct AuxBatch {
    /// `[N, obs_dim + action inputs]`.
    pub inputs: Tensor,
    /// `[N, outputs]`.
    pub targets: Tensor,
    /// `[N]`, 1 where the row's target is known.
    pub mask: Tensor,
}

impl AuxBatch {
    /// The batch of `aux` from its task's storage `s` (with `action` its task's action head).
    pub fn new(aux: &AuxLoss, s: &TaskStorage, action: ActionSpec, device: Device) -> Self {
        let n = s.values.len() as i64;
        let obs = Tensor::from_slice(&s.obs).view([n, s.obs_dim as i64]);
        let actions = Tensor::from_slice(&s.actions);
        let encoded = match action {
            ActionSpec::Discrete(k) => actions.to_kind(Kind::Int64).one_hot(k).to_kind(Kind::Float),
            ActionSpec::Continuous(d) => actions.view([n, d]),
        };
        let inputs = Tensor::cat(&[&obs, &encoded], 1);
        let (targets, mask) = match aux.kind {
            AuxLossKind::RewardPrediction => (
                Tensor::from_slice(&s.rewards).view([n, 1]),
                Tensor::ones([n], (Kind::Float, Device::Cpu)),
            ),
            AuxLossKind::ForwardDynamics => dynamics(s, &obs),
            AuxLossKind::MoransI => (
                morans_i_maps(aux, s),
                Tensor::ones([n], (Kind::Float, Device::Cpu)),
            ),
        };
        let to = |t: Tensor| t.to_device(device);
        Self {
            inputs: to(inputs),
            targets: to(targets),
            mask: to(mask),
        }
    }

    /// The rows `idx` (a minibatch), or all rows (the same tensors) for `None`.
    pub fn rows(&self, idx: Option<&Tensor>) -> Self {
        let pick = |x: &Tensor| match idx {
            Some(idx) => x.index_select(0, idx),
            None => x.shallow_clone(),
        };
        Self {
            inputs: pick(&self.inputs),
            targets: pick(&self.targets),
            mask: pick(&self.mask),
        }
    }

    /// The loss `coef · Σ_r m_r Σ_j (p_rj − y_rj)² / (outputs · max(1, Σ_r m_r))` of the
    /// predictions `pred` and its gradient with respect to `pred`.
    pub fn loss_and_grad(&self, pred: &Tensor, coef: f64) -> (Tensor, Tensor) {
        let outputs = pred.size()[1] as f64;
        let count = self.mask.sum(Kind::Float).clamp_min(1.0);
        let err = (pred - &self.targets) * self.mask.unsqueeze(1);
        let scale = &count * outputs;
        let loss = err.square().sum(Kind::Float) / &scale * coef;
        let grad = err * (2.0 * coef) / scale;
        (loss, grad)
    }
}

/// The Moran's I maps `[N, resolutions × obs_dim]` of every observation in `s`.
fn morans_i_maps(aux: &AuxLoss, s: &TaskStorage) -> Tensor {
    let maps = aux
        .maps
        .as_ref()
        .expect("a checked morans-i loss has its maps");
    let [height, width, channels] = maps.image;
    let grid = Grid {
        height,
        width,
        channels,
    };
    let mut maps = MoransI::new(grid, &maps.resolutions);
    let outputs = maps.outputs();
    let mut targets = vec![0.0f32; s.values.len() * outputs];
    for (obs, out) in s
        .obs
        .chunks_exact(s.obs_dim)
        .zip(targets.chunks_exact_mut(outputs))
    {
        maps.maps(obs, out);
    }
    Tensor::from_slice(&targets).view([s.values.len() as i64, outputs as i64])
}

/// Targets `s_{t+1} − s_t` and the mask of rows whose next observation is in the rollout
/// (not the last step, not the end of an episode).
fn dynamics(s: &TaskStorage, obs: &Tensor) -> (Tensor, Tensor) {
    let (envs, dim) = (s.envs as i64, s.obs_dim as i64);
    let steps = s.values.len() as i64 / envs;
    let by_step = obs.view([steps, envs, dim]);
    let delta = by_step.narrow(0, 1, steps - 1) - by_step.narrow(0, 0, steps - 1);
    let last = Tensor::zeros([1, envs, dim], (Kind::Float, Device::Cpu));
    let targets = Tensor::cat(&[delta, last], 0).view([steps * envs, dim]);
    let ended: Vec<f32> = s
        .terminated
        .iter()
        .zip(&s.truncated)
        .enumerate()
        .map(|(i, (&te, &tr))| {
            let last_step = i as i64 >= (steps - 1) * envs;
            if te || tr || last_step {
                0.0
            } else {
                1.0
            }
        })
        .collect();
    (targets, Tensor::from_slice(&ended))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ImageMaps;

    fn storage() -> TaskStorage {
        // 3 steps of 2 environments with 1-D observations; env 1's episode ends at step 0.
        let mut s = TaskStorage::new(3, 2, 1, 1);
        s.obs.copy_from_slice(&[0.0, 10.0, 1.0, 20.0, 3.0, 21.0]);
        s.actions.copy_from_slice(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        s.rewards.copy_from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        s.terminated[1] = true;
        s
    }

    fn aux(kind: AuxLossKind) -> AuxLoss {
        AuxLoss {
            name: "a".into(),
            kind,
            task: 0,
            coef: 1.0,
            maps: None,
        }
    }

    #[test]
    fn dynamics_targets_are_observation_changes_within_episodes() {
        let b = AuxBatch::new(
            &aux(AuxLossKind::ForwardDynamics),
            &storage(),
            ActionSpec::Discrete(2),
            Device::Cpu,
        );
        let targets: Vec<f32> = b.targets.view([-1]).try_into().unwrap();
        let mask: Vec<f32> = b.mask.try_into().unwrap();
        assert_eq!(targets[..4], [1.0, 10.0, 2.0, 1.0]);
        assert_eq!(mask, vec![1.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        let inputs: Vec<f32> = b.inputs.view([-1]).try_into().unwrap();
        assert_eq!(
            inputs[..6],
            [0.0, 0.0, 1.0, 10.0, 1.0, 0.0],
            "obs then one-hot action"
        );
    }

    #[test]
    fn the_gradient_is_the_derivative_of_the_masked_mean_square() {
        let b = AuxBatch::new(
            &aux(AuxLossKind::ForwardDynamics),
            &storage(),
            ActionSpec::Discrete(2),
            Device::Cpu,
        );
        let pred = Tensor::from_slice(&[0.5f32, 3.0, 2.0, 0.0, 9.0, 9.0])
            .view([6, 1])
            .set_requires_grad(true);
        let (loss, grad) = b.loss_and_grad(&pred, 0.5);
        // Rows 0, 2, 3 count: errors -0.5, 0, -1 → 0.5 · (0.25 + 0 + 1) / 3.
        assert!((loss.double_value(&[]) - 0.5 * 1.25 / 3.0).abs() < 1e-6);
        loss.backward();
        let auto: Vec<f32> = pred.grad().view([-1]).try_into().unwrap();
        let hand: Vec<f32> = grad.view([-1]).try_into().unwrap();
        for (a, h) in auto.iter().zip(&hand) {
            assert!((a - h).abs() < 1e-6, "{auto:?} vs {hand:?}");
        }
        let r = AuxBatch::new(
            &aux(AuxLossKind::RewardPrediction),
            &storage(),
            ActionSpec::Discrete(2),
            Device::Cpu,
        );
        let rewards: Vec<f32> = r.targets.view([-1]).try_into().unwrap();
        assert_eq!(rewards, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn morans_i_targets_are_each_observations_maps() {
        // 2 steps of 1 environment, 2 × 2 images of 1 channel, 2 actions.
        let mut s = TaskStorage::new(2, 1, 4, 1);
        s.obs
            .copy_from_slice(&[0.0, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]);
        let loss = AuxLoss {
            maps: Some(ImageMaps {
                image: [2, 2, 1],
                resolutions: vec![1, 2],
            }),
            ..aux(AuxLossKind::MoransI)
        };
        let source = TaskShape::vector(4, ActionSpec::Discrete(2));
        let shape = aux_shape(&loss, &source);
        assert_eq!(
            (shape.obs_dim, shape.action),
            (6, ActionSpec::Continuous(8))
        );
        let b = AuxBatch::new(&loss, &s, ActionSpec::Discrete(2), Device::Cpu);
        assert_eq!(b.targets.size(), [2, 8]);
        let targets: Vec<f32> = b.targets.view([-1]).try_into().unwrap();
        let mut maps = MoransI::new(
            Grid {
                height: 2,
                width: 2,
                channels: 1,
            },
            &[1, 2],
        );
        let mut expected = vec![0.0; 8];
        maps.maps(&s.obs[..4], &mut expected);
        assert_eq!(targets[..8], expected[..]);
        assert!(expected[..4].iter().any(|&v| v != 0.0));
        // The second image is constant, and a 1 × 1 grid has no spatial structure.
        assert_eq!(targets[8..], [0.0; 8]);
        assert_eq!(targets[4..8], [0.0; 4]);
        let mask: Vec<f32> = b.mask.try_into().unwrap();
        assert_eq!(mask, vec![1.0, 1.0]);
    }
}
