//! The PPO clipped-surrogate loss (Schulman et al. 2017, "Proximal Policy Optimization
//! Algorithms", eq. 7 and eq. 9), written as CleanRL's `ppo.py` computes it, including its
//! diagnostics `approx_kl` (the `(r − 1) − log r` estimator) and `clipfrac`.

use tch::{Kind, Tensor};

/// PPO's loss coefficients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PpoConfig {
    /// Surrogate clipping range ε.
    pub clip_coef: f64,
    /// Clip the value loss around the old values with the same ε (as CleanRL's `clip_vloss`).
    pub clip_vloss: bool,
    /// Value-loss coefficient.
    pub vf_coef: f64,
    /// Entropy-bonus coefficient.
    pub ent_coef: f64,
    /// Normalise advantages within the minibatch (of one task).
    pub norm_adv: bool,
}

impl Default for PpoConfig {
    /// CleanRL's defaults: ε = 0.2, clipped value loss, c1 = 0.5, c2 = 0.01, normalised advantages.
    fn default() -> Self {
        Self {
            clip_coef: 0.2,
            clip_vloss: true,
            vf_coef: 0.5,
            ent_coef: 0.01,
            norm_adv: true,
        }
    }
}

/// The terms of a loss for one task's minibatch. `total` carries the gradient; the other
/// fields are detached scalars for logging.
#[derive(Debug)]
pub struct LossTerms {
    /// `policy − ent_coef · entropy + vf_coef · value`.
    pub total: Tensor,
    /// The (clipped-surrogate) policy loss.
    pub policy: Tensor,
    /// The value loss.
    pub value: Tensor,
    /// The mean policy entropy.
    pub entropy: Tensor,
    /// Estimated KL divergence between the old and new policy, `E[(r − 1) − log r]`.
    pub approx_kl: Tensor,
    /// Fraction of samples whose ratio was clipped.
    pub clipfrac: Tensor,
}

/// What the policy and critic say about a minibatch now, and what they said at collection.
///
/// # Shapes
/// Every tensor is `[B]`.
#[derive(Debug)]
pub struct Batch<'a> {
    /// `log π_θ(a|s)` under the current parameters.
    pub new_log_prob: &'a Tensor,
    /// `log π_old(a|s)` recorded at collection.
    pub old_log_prob: &'a Tensor,
    /// Entropy of `π_θ(·|s)`.
    pub entropy: &'a Tensor,
    /// `V_θ(s)`.
    pub new_value: &'a Tensor,
    /// `V_old(s)` recorded at collection.
    pub old_value: &'a Tensor,
    /// GAE advantages.
    pub advantages: &'a Tensor,
    /// GAE returns (advantages + old values).
    pub returns: &'a Tensor,
}

/// PPO's loss on one task's minibatch.
pub fn ppo_loss(b: &Batch<'_>, c: &PpoConfig) -> LossTerms {
    let log_ratio = b.new_log_prob - b.old_log_prob;
    let ratio = log_ratio.exp();
    let (approx_kl, clipfrac) = tch::no_grad(|| {
        let kl = ((&ratio - 1.0) - &log_ratio).mean(Kind::Float);
        let clipped = (&ratio - 1.0)
            .abs()
            .gt(c.clip_coef)
            .to_kind(Kind::Float)
            .mean(Kind::Float);
        (kl, clipped)
    });
    let adv = if c.norm_adv {
        normalize(b.advantages)
    } else {
        b.advantages.shallow_clone()
    };
    let unclipped = -&adv * &ratio;
    let clipped = -&adv * ratio.clamp(1.0 - c.clip_coef, 1.0 + c.clip_coef);
    let policy = unclipped.maximum(&clipped).mean(Kind::Float);
    let value: Tensor = if c.clip_vloss {
        let unclipped = (b.new_value - b.returns).square();
        let v_clipped = b.old_value + (b.new_value - b.old_value).clamp(-c.clip_coef, c.clip_coef);
        unclipped
            .maximum(&(v_clipped - b.returns).square())
            .mean(Kind::Float)
            * 0.5
    } else {
        (b.new_value - b.returns).square().mean(Kind::Float) * 0.5
    };
    let entropy = b.entropy.mean(Kind::Float);
    let total = &policy - c.ent_coef * &entropy + c.vf_coef * &value;
    LossTerms {
        total,
        policy: policy.detach(),
        value: value.detach(),
        entropy: entropy.detach(),
        approx_kl,
        clipfrac,
    }
}

/// A2C's loss (Mnih et al. 2016) in Stable-Baselines3's form: `−E[A · log π]`, mean-squared
/// value error (no ½), entropy bonus. `old_*` fields are only used for `approx_kl`.
pub fn a2c_loss(b: &Batch<'_>, c: &PpoConfig) -> LossTerms {
    let adv = if c.norm_adv {
        normalize(b.advantages)
    } else {
        b.advantages.shallow_clone()
    };
    let policy = -(adv * b.new_log_prob).mean(Kind::Float);
    let value = (b.new_value - b.returns).square().mean(Kind::Float);
    let entropy = b.entropy.mean(Kind::Float);
    let total = &policy - c.ent_coef * &entropy + c.vf_coef * &value;
    let approx_kl = tch::no_grad(|| {
        let log_ratio = b.new_log_prob - b.old_log_prob;
        (log_ratio.exp() - 1.0 - log_ratio).mean(Kind::Float)
    });
    LossTerms {
        total,
        policy: policy.detach(),
        value: value.detach(),
        entropy: entropy.detach(),
        approx_kl,
        clipfrac: Tensor::zeros([], (Kind::Float, b.advantages.device())),
    }
}

fn normalize(x: &Tensor) -> Tensor {
    if x.numel() < 2 {
        return x.shallow_clone();
    }
    (x - x.mean(Kind::Float)) / (x.std(true) + 1e-8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32]) -> Tensor {
        Tensor::from_slice(v)
    }

    fn scalar(x: &Tensor) -> f64 {
        x.double_value(&[])
    }

    #[test]
    fn matches_the_clipped_surrogate_by_hand() {
        // ratios e^{0.5}=1.6487 (clipped at 1.2 for A>0), e^{-0.5}=0.6065 (clipped at 0.8 for A<0)
        let new = t(&[0.5, -0.5]);
        let old = t(&[0.0, 0.0]);
        let adv = t(&[1.0, -1.0]);
        let zeros = t(&[0.0, 0.0]);
        let b = Batch {
            new_log_prob: &new,
            old_log_prob: &old,
            entropy: &t(&[0.7, 0.5]),
            new_value: &t(&[1.0, 2.0]),
            old_value: &zeros,
            advantages: &adv,
            returns: &t(&[0.0, 0.0]),
        };
        let c = PpoConfig {
            norm_adv: false,
            clip_vloss: false,
            ..PpoConfig::default()
        };
        let l = ppo_loss(&b, &c);
        // max(-1·1.6487, -1·1.2) = -1.2 ; max(1·0.6065, 1·0.8) = 0.8 ; mean = -0.2
        assert!((scalar(&l.policy) + 0.2).abs() < 1e-6);
        assert!((scalar(&l.value) - 0.5 * (1.0 + 4.0) / 2.0).abs() < 1e-6);
        assert!((scalar(&l.entropy) - 0.6).abs() < 1e-6);
        let kl = ((0.5f64.exp() - 1.0 - 0.5) + ((-0.5f64).exp() - 1.0 + 0.5)) / 2.0;
        assert!((scalar(&l.approx_kl) - kl).abs() < 1e-6);
        assert_eq!(scalar(&l.clipfrac), 1.0);
        let total = -0.2 - 0.01 * 0.6 + 0.5 * 1.25;
        assert!((scalar(&l.total) - total).abs() < 1e-6);
    }

    #[test]
    fn value_clipping_keeps_the_larger_error() {
        // old V = 0, new V = 1, return = 1: unclipped error 0, clipped V = 0.2 → error 0.64.
        let one = t(&[1.0]);
        let zero = t(&[0.0]);
        let b = Batch {
            new_log_prob: &zero,
            old_log_prob: &zero,
            entropy: &zero,
            new_value: &one,
            old_value: &zero,
            advantages: &zero,
            returns: &one,
        };
        let l = ppo_loss(
            &b,
            &PpoConfig {
                norm_adv: false,
                ..PpoConfig::default()
            },
        );
        assert!((scalar(&l.value) - 0.5 * 0.64).abs() < 1e-6);
    }

    #[test]
    fn a2c_is_the_advantage_weighted_log_likelihood() {
        let lp = t(&[-1.0, -2.0]);
        let adv = t(&[2.0, 1.0]);
        let v = t(&[0.0, 1.0]);
        let ret = t(&[1.0, 1.0]);
        let b = Batch {
            new_log_prob: &lp,
            old_log_prob: &lp,
            entropy: &t(&[0.0, 0.0]),
            new_value: &v,
            old_value: &v,
            advantages: &adv,
            returns: &ret,
        };
        let l = a2c_loss(
            &b,
            &PpoConfig {
                norm_adv: false,
                ..PpoConfig::default()
            },
        );
        assert!(
            (scalar(&l.policy) - 2.0).abs() < 1e-6,
            "-(2·-1 + 1·-2)/2 = 2"
        );
        assert!((scalar(&l.value) - 0.5).abs() < 1e-6);
        assert_eq!(scalar(&l.approx_kl), 0.0);
    }
}
