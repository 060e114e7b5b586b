//! The PPO clipped-surrogate loss (Schulman et al. 2017, "Proximal Policy Optimization
//! Algorithms", eq. 7 and eq. 9), written as CleanRL's `ppo.py` computes it, including its
//! diagnostics `approx_kl` (the `(r − 1) − log r` estimator) and `clipfrac`; and A2C's loss.
//!
//! Each loss comes twice: as its value ([`ppo_loss`], [`a2c_loss`]: every term, for logging
//! and for libtorch's autograd) and as its gradient at the per-row quantities it reads
//! ([`ppo_grads`], [`a2c_grads`]), written out by hand so that a learner step needs no graph.

use tch::{Kind, Tensor};

use crate::host::{self, Lease};

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

/// The terms of a loss for one task's minibatch. `total` carries the gradient (when the
/// inputs do); the other fields are detached scalars for logging.
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
    /// `V_θ(s)`.
    pub new_value: &'a Tensor,
    /// `V_old(s)` recorded at collection.
    pub old_value: &'a Tensor,
    /// GAE advantages.
    pub advantages: &'a Tensor,
    /// GAE returns (advantages + old values).
    pub returns: &'a Tensor,
}

/// The gradient of a loss at the per-row quantities of its [`Batch`] and the entropy: what
/// [`crate::distribution::Distribution::backward`] and the value head propagate further.
///
/// # Shapes
/// `log_prob` and `value` are `[B]`.
#[derive(Debug)]
pub struct RowGradients {
    /// `∂L/∂ log π_θ(a_i|s_i)`.
    pub log_prob: Tensor,
    /// `∂L/∂V_θ(s_i)`.
    pub value: Tensor,
    /// `∂L/∂H_i`, the same for every row (`−ent_coef / B`).
    pub entropy: f64,
}

/// PPO's loss on one task's minibatch, with `entropy` `[B]` the entropy of `π_θ(·|s)`.
pub fn ppo_loss(b: &Batch<'_>, entropy: &Tensor, c: &PpoConfig) -> LossTerms {
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
    let adv = advantages(b, c);
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
    terms(policy, value, entropy, approx_kl, clipfrac, c)
}

/// The gradient of [`ppo_loss`]`(b, …).total` at `b.new_log_prob`, `b.new_value` and the
/// entropy, computed directly (no graph needed).
///
/// Where the surrogate's two branches are equal (inside the clip range, or by rounding at
/// its edge) the whole gradient goes through the unclipped one, and likewise for the clipped
/// value loss; autograd's `maximum` splits such ties in halves, which inside the clip range
/// sums to the same.
pub fn ppo_grads(b: &Batch<'_>, c: &PpoConfig) -> RowGradients {
    if let Some(grads) = ppo_grads_on_host(b, c) {
        return grads;
    }
    let rows = b.new_log_prob.size()[0] as f64;
    let adv = advantages(b, c);
    let ratio = (b.new_log_prob - b.old_log_prob).exp();
    // −min(A·r, A·clip(r)) reaches log π through A·r = A·r·∂log π wherever A·r ≤ A·clip(r).
    let unclipped = &adv * &ratio;
    let clipped_ratio = ratio.clamp(1.0 - c.clip_coef, 1.0 + c.clip_coef);
    let through = unclipped.le_tensor(&(adv * clipped_ratio));
    let log_prob = unclipped.where_scalarother(&through, 0.0) * (-1.0 / rows);
    let error = b.new_value - b.returns;
    let value = if c.clip_vloss {
        let delta = b.new_value - b.old_value;
        let clipped_delta = delta.clamp(-c.clip_coef, c.clip_coef);
        let clipped_error = (b.old_value + &clipped_delta) - b.returns;
        // The clipped value moves with V only where the clamp left the difference unchanged.
        let clipped_grad = clipped_error.where_scalarother(&delta.eq_tensor(&clipped_delta), 0.0);
        let larger = error.square().ge_tensor(&clipped_error.square());
        error.where_self(&larger, &clipped_grad) * (c.vf_coef / rows)
    } else {
        error * (c.vf_coef / rows)
    };
    RowGradients {
        log_prob,
        value,
        entropy: -c.ent_coef / rows,
    }
}

/// [`ppo_grads`] as one loop over host memory (see `host.rs`), when every tensor of `b` is a
/// contiguous CPU `f32` tensor: the same operations, row by row.
fn ppo_grads_on_host(b: &Batch<'_>, c: &PpoConfig) -> Option<RowGradients> {
    let lease = Lease::take()?;
    let inputs = [
        b.new_log_prob,
        b.old_log_prob,
        b.new_value,
        b.old_value,
        b.advantages,
        b.returns,
    ];
    let [new_lp, old_lp, new_v, old_v, adv, ret] = inputs.map(|t| lease.read::<f32>(t));
    let (new_lp, old_lp, new_v, old_v, adv, ret) = (new_lp?, old_lp?, new_v?, old_v?, adv?, ret?);
    let n = b.new_log_prob.numel();
    let (log_prob, value) = (host::empty_f32(&[n as i64]), host::empty_f32(&[n as i64]));
    let (d_lp, d_v) = (lease.write(&log_prob)?, lease.write(&value)?);
    let (shift, scale) = match c.norm_adv && n > 1 {
        true => mean_and_std(adv),
        false => (0.0, 1.0),
    };
    let (lo, hi, eps) = (
        (1.0 - c.clip_coef) as f32,
        (1.0 + c.clip_coef) as f32,
        c.clip_coef as f32,
    );
    let (k_lp, k_v) = ((-1.0 / n as f64) as f32, (c.vf_coef / n as f64) as f32);
    for i in 0..n {
        let a = (adv[i] - shift) / scale;
        let ratio = (new_lp[i] - old_lp[i]).exp();
        let unclipped = a * ratio;
        let through = unclipped <= a * ratio.clamp(lo, hi);
        d_lp[i] = if through { unclipped * k_lp } else { 0.0 };
        let error = new_v[i] - ret[i];
        d_v[i] = k_v
            * match c.clip_vloss {
                false => error,
                true => {
                    let delta = new_v[i] - old_v[i];
                    let clipped_delta = delta.clamp(-eps, eps);
                    let clipped_error = (old_v[i] + clipped_delta) - ret[i];
                    match error * error >= clipped_error * clipped_error {
                        true => error,
                        false if delta == clipped_delta => clipped_error,
                        false => 0.0,
                    }
                }
            };
    }
    Some(RowGradients {
        log_prob,
        value,
        entropy: -c.ent_coef / n as f64,
    })
}

/// The mean and the unbiased standard deviation plus 1e-8 of `x`, as [`normalize_advantages`]
/// divides by them.
fn mean_and_std(x: &[f32]) -> (f32, f32) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean as f32, var.sqrt() as f32 + 1e-8)
}

/// A2C's loss (Mnih et al. 2016) in Stable-Baselines3's form: `−E[A · log π]`, mean-squared
/// value error (no ½), entropy bonus (`entropy` `[B]`). `old_*` fields are only used for
/// `approx_kl`.
pub fn a2c_loss(b: &Batch<'_>, entropy: &Tensor, c: &PpoConfig) -> LossTerms {
    let adv = advantages(b, c);
    let policy = -(adv * b.new_log_prob).mean(Kind::Float);
    let value = (b.new_value - b.returns).square().mean(Kind::Float);
    let approx_kl = tch::no_grad(|| {
        let log_ratio = b.new_log_prob - b.old_log_prob;
        (log_ratio.exp() - 1.0 - log_ratio).mean(Kind::Float)
    });
    let clipfrac = Tensor::zeros([], (Kind::Float, b.advantages.device()));
    terms(policy, value, entropy, approx_kl, clipfrac, c)
}

/// The gradient of [`a2c_loss`]`(b, …).total` at `b.new_log_prob`, `b.new_value` and the
/// entropy, computed directly (no graph needed).
pub fn a2c_grads(b: &Batch<'_>, c: &PpoConfig) -> RowGradients {
    let rows = b.new_log_prob.size()[0] as f64;
    RowGradients {
        log_prob: advantages(b, c) * (-1.0 / rows),
        value: (b.new_value - b.returns) * (2.0 * c.vf_coef / rows),
        entropy: -c.ent_coef / rows,
    }
}

/// `(x − mean) / (std + 1e-8)` over a task's minibatch (unbiased std, as CleanRL); a single
/// value is left as it is.
pub fn normalize_advantages(x: &Tensor) -> Tensor {
    if x.numel() < 2 {
        return x.shallow_clone();
    }
    (x - x.mean(Kind::Float)) / (x.std(true) + 1e-8)
}

fn advantages(b: &Batch<'_>, c: &PpoConfig) -> Tensor {
    if c.norm_adv {
        normalize_advantages(b.advantages)
    } else {
        b.advantages.shallow_clone()
    }
}

fn terms(
    policy: Tensor,
    value: Tensor,
    entropy: &Tensor,
    approx_kl: Tensor,
    clipfrac: Tensor,
    c: &PpoConfig,
) -> LossTerms {
    let entropy = entropy.mean(Kind::Float);
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
        let l = ppo_loss(&b, &t(&[0.7, 0.5]), &c);
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
            new_value: &one,
            old_value: &zero,
            advantages: &zero,
            returns: &one,
        };
        let l = ppo_loss(
            &b,
            &zero,
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
            new_value: &v,
            old_value: &v,
            advantages: &adv,
            returns: &ret,
        };
        let l = a2c_loss(
            &b,
            &t(&[0.0, 0.0]),
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

    /// Autograd's gradient of `total` at (new log-prob, new value, entropy) against the
    /// hand-written one, on random rows with ratios on both sides of the clip range.
    fn check_grads(c: &PpoConfig, a2c: bool) {
        tch::manual_seed(7);
        let f = (Kind::Float, tch::Device::Cpu);
        let rows = 64;
        let new_lp = (Tensor::randn([rows], f) * 0.3 - 1.0).set_requires_grad(true);
        let old_lp = &new_lp.detach() + Tensor::randn([rows], f) * 0.3;
        let new_v = Tensor::randn([rows], f).set_requires_grad(true);
        let old_v = &new_v.detach() + Tensor::randn([rows], f) * 0.3;
        let entropy = Tensor::rand([rows], f).set_requires_grad(true);
        let adv = Tensor::randn([rows], f);
        let ret = Tensor::randn([rows], f);
        let b = Batch {
            new_log_prob: &new_lp,
            old_log_prob: &old_lp,
            new_value: &new_v,
            old_value: &old_v,
            advantages: &adv,
            returns: &ret,
        };
        let (total, grads) = if a2c {
            (a2c_loss(&b, &entropy, c).total, a2c_grads(&b, c))
        } else {
            (ppo_loss(&b, &entropy, c).total, ppo_grads(&b, c))
        };
        if !a2c {
            // The tensor operations (non-contiguous inputs) against the host loop.
            let inputs = [&new_lp, &old_lp, &new_v, &old_v, &adv, &ret].map(host::strided);
            let [new_log_prob, old_log_prob, new_value, old_value, advantages, returns] =
                inputs.each_ref();
            let on_ops = ppo_grads(
                &Batch {
                    new_log_prob,
                    old_log_prob,
                    new_value,
                    old_value,
                    advantages,
                    returns,
                },
                c,
            );
            let diff = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
            assert!(diff(&on_ops.log_prob, &grads.log_prob) < 1e-7, "{c:?}");
            assert!(diff(&on_ops.value, &grads.value) < 1e-7, "{c:?}");
        }
        let auto = Tensor::run_backward(&[total], &[&new_lp, &new_v, &entropy], false, false);
        let close = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]) < 1e-7;
        assert!(close(&auto[0], &grads.log_prob), "log-prob gradient, {c:?}");
        assert!(close(&auto[1], &grads.value), "value gradient, {c:?}");
        let entropy_grad = Tensor::full([rows], grads.entropy, f);
        assert!(close(&auto[2], &entropy_grad), "entropy gradient, {c:?}");
    }

    #[test]
    fn hand_written_gradients_match_autograd() {
        for clip_vloss in [false, true] {
            for norm_adv in [false, true] {
                for ent_coef in [0.0, 0.01] {
                    let c = PpoConfig {
                        clip_vloss,
                        norm_adv,
                        ent_coef,
                        ..PpoConfig::default()
                    };
                    check_grads(&c, false);
                    check_grads(&c, true);
                }
            }
        }
    }
}
