//! The loss-gradients stage of an update: each task's PPO (or A2C) loss and each auxiliary
//! loss differentiated by hand at the network's heads ([`ppo_grads`], [`a2c_grads`],
//! [`AuxBatch::loss_and_grad`]), ready for [`ActorCritic::backward_into`].
//!
//! [`AuxBatch::loss_and_grad`]: super::aux_batch::AuxBatch::loss_and_grad
//! [`ActorCritic::backward_into`]: polytask_agents::actor_critic::ActorCritic::backward_into

use polytask_agents::actor_critic::{HeadGradients, Output};
use polytask_agents::ppo::{a2c_grads, a2c_loss, ppo_grads, ppo_loss, Batch, LossTerms, PpoConfig};
use tch::{Kind, Tensor};

use super::minibatch::Minibatch;
use crate::config::{AlgorithmConfig, AlgorithmName, AuxLoss};

/// The losses of an update: the algorithm's, with its coefficients, and the auxiliary
/// losses' weights.
#[derive(Debug)]
pub struct Loss {
    algorithm: AlgorithmName,
    /// Clip range, coefficients and whether to normalise advantages per minibatch.
    pub config: PpoConfig,
    aux_coefs: Vec<f64>,
}

/// What the stage gives for one minibatch.
#[derive(Debug)]
pub struct LossGradients {
    /// Each network task's gradients at its heads: the tasks', then the auxiliary losses'.
    pub heads: Vec<HeadGradients>,
    /// Each task's loss terms (detached scalars), when asked for; else empty.
    pub terms: Vec<LossTerms>,
    /// Each auxiliary loss (a scalar tensor).
    pub aux_losses: Vec<Tensor>,
}

impl Loss {
    /// The losses of `config`'s algorithm, and of the auxiliary losses `aux`.
    pub fn new(config: &AlgorithmConfig, aux: &[AuxLoss]) -> Self {
        Self {
            algorithm: config.name,
            config: PpoConfig {
                clip_coef: config.clip_coef,
                clip_vloss: config.clip_vloss,
                vf_coef: config.vf_coef,
                ent_coef: config.ent_coef,
                norm_adv: config.norm_adv,
            },
            aux_coefs: aux.iter().map(|a| a.coef).collect(),
        }
    }

    /// The gradients at the heads of the network's output `out` on `mb`; the loss terms too
    /// when `terms` (they cost an entropy and a few reductions per task).
    pub fn gradients(&self, mb: &Minibatch, out: &Output, terms: bool) -> LossGradients {
        let tasks = mb.tasks.len();
        let mut heads = Vec::with_capacity(tasks + mb.aux.len());
        let mut all_terms = Vec::new();
        for (t, b) in mb.tasks.iter().enumerate() {
            let dist = &out.dists[t];
            let new_log_prob = dist.log_prob(&b.actions);
            let batch = Batch {
                new_log_prob: &new_log_prob,
                old_log_prob: &b.log_probs,
                new_value: &out.values[t],
                old_value: &b.values,
                advantages: &b.advantages,
                returns: &b.returns,
            };
            let grads = match self.algorithm {
                AlgorithmName::Ppo | AlgorithmName::Sac => ppo_grads(&batch, &self.config),
                AlgorithmName::A2c => a2c_grads(&batch, &self.config),
            };
            let (policy, log_std) = dist.backward(&b.actions, &grads.log_prob, grads.entropy);
            heads.push(HeadGradients {
                policy,
                value: grads.value,
                log_std,
            });
            if terms {
                let entropy = dist.entropy();
                all_terms.push(match self.algorithm {
                    AlgorithmName::Ppo | AlgorithmName::Sac => {
                        ppo_loss(&batch, &entropy, &self.config)
                    }
                    AlgorithmName::A2c => a2c_loss(&batch, &entropy, &self.config),
                });
            }
        }
        let mut aux_losses = Vec::with_capacity(mb.aux.len());
        for (j, b) in mb.aux.iter().enumerate() {
            let pred = out.dists[tasks + j].mode();
            let (loss, grad) = b.loss_and_grad(&pred, self.aux_coefs[j]);
            heads.push(HeadGradients {
                value: out.values[tasks + j].zeros_like(),
                log_std: Some(Tensor::zeros(
                    [pred.size()[1]],
                    (Kind::Float, pred.device()),
                )),
                policy: grad,
            });
            aux_losses.push(loss);
        }
        LossGradients {
            heads,
            terms: all_terms,
            aux_losses,
        }
    }

    /// Each auxiliary loss of the network's output `out` on `mb` (no gradients).
    pub fn aux_losses(&self, mb: &Minibatch, out: &Output) -> Vec<Tensor> {
        let tasks = mb.tasks.len();
        (mb.aux.iter().zip(&self.aux_coefs).enumerate())
            .map(|(j, (b, &coef))| b.loss_and_grad(&out.dists[tasks + j].mode(), coef).0)
            .collect()
    }
}
