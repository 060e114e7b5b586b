//! Action distributions: categorical over logits (discrete spaces) and diagonal Gaussian with
//! a state-independent log standard deviation (continuous spaces), as in CleanRL's `ppo.py`
//! and `ppo_continuous_action.py`.

use tch::{Kind, Tensor};

use crate::host::{self, Lease};

/// A batch of action distributions, one per row.
#[derive(Debug)]
pub enum Distribution {
    /// Categorical with normalised log-probabilities `[B, n]` (see [`Distribution::categorical`]).
    Categorical {
        /// `log_softmax(logits)`, `[B, n]`.
        log_probs: Tensor,
    },
    /// Diagonal Gaussian with `mean` `[B, d]` and `log_std` `[d]`.
    Normal {
        /// Means `[B, d]`.
        mean: Tensor,
        /// Log standard deviations `[d]`, shared by every row.
        log_std: Tensor,
    },
}

const LOG_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

impl Distribution {
    /// A categorical distribution over unnormalised `logits` `[B, n]`.
    pub fn categorical(logits: &Tensor) -> Self {
        let on_host = match logits.dim() == 2 && !logits.requires_grad() {
            true => log_softmax_on_host(logits),
            false => None,
        };
        Self::Categorical {
            log_probs: on_host.unwrap_or_else(|| logits.log_softmax(-1, Kind::Float)),
        }
    }

    /// One action per row, drawn with libtorch's generator (seeded by `tch::manual_seed`):
    /// `[B]` indices (as `Int64`) for a categorical, `[B, d]` for a Gaussian.
    ///
    /// A categorical draws exactly as libtorch's `multinomial(p, 1)` does (the exponential
    /// race `argmax(p / q)`, `q ~ Exp(1)`, the same draws from the generator), without its
    /// validity checks, which cost more than the draw itself on a small batch.
    pub fn sample(&self) -> Tensor {
        tch::no_grad(|| match self {
            Self::Categorical { log_probs } => {
                let p = log_probs.exp();
                let q = p.empty_like().exponential_(1.0);
                let on_host = match host::all_on_host(Kind::Float, &[log_probs]) {
                    true => race_on_host(&p, &q),
                    false => None,
                };
                on_host.unwrap_or_else(|| (p / q).argmax(-1, false))
            }
            Self::Normal { mean, log_std } => mean + log_std.exp() * mean.randn_like(),
        })
    }

    /// The most likely action per row (argmax / mean), for deterministic evaluation.
    pub fn mode(&self) -> Tensor {
        match self {
            Self::Categorical { log_probs } => log_probs.argmax(-1, false),
            Self::Normal { mean, .. } => mean.shallow_clone(),
        }
    }

    /// `log π(a|s)` per row, `[B]`; `actions` as returned by [`Distribution::sample`].
    pub fn log_prob(&self, actions: &Tensor) -> Tensor {
        match self {
            Self::Categorical { log_probs } => {
                let on_host = match log_probs.requires_grad() {
                    true => None,
                    false => gather_on_host(log_probs, actions),
                };
                on_host.unwrap_or_else(|| {
                    log_probs
                        .gather(-1, &actions.to_kind(Kind::Int64).unsqueeze(-1), false)
                        .squeeze_dim(-1)
                })
            }
            Self::Normal { mean, log_std } => {
                let z = (actions - mean) / log_std.exp();
                (z.square() * -0.5 - log_std - LOG_SQRT_2PI).sum_dim_intlist(-1, false, Kind::Float)
            }
        }
    }

    /// The gradient at the head's output (logits `[B, n]` or means `[B, d]`), and at the
    /// log standard deviations `[d]` of a Gaussian, of a loss whose gradient is `d_log_prob`
    /// `[B]` at `log π(a_i|s_i)` (`actions` as for [`Distribution::log_prob`]) and
    /// `d_entropy` at every row's entropy `H_i`.
    ///
    /// Categorical: `∂ log π(a)/∂z_j = 1[j = a] − p_j` and `∂H/∂z_j = −p_j (log p_j + H)`.
    /// Gaussian with `u = (a − μ)/σ`: `∂ log π/∂μ = u/σ`, `∂ log π/∂log σ = u² − 1`,
    /// `∂H/∂log σ = 1`.
    pub fn backward(
        &self,
        actions: &Tensor,
        d_log_prob: &Tensor,
        d_entropy: f64,
    ) -> (Tensor, Option<Tensor>) {
        match self {
            Self::Categorical { log_probs } => {
                if let Some(grad) = backward_on_host(log_probs, actions, d_log_prob, d_entropy) {
                    return (grad, None);
                }
                let g = d_log_prob.unsqueeze(-1);
                let p = log_probs.exp();
                let mut grad = if d_entropy == 0.0 {
                    p * -&g
                } else {
                    let h = -(&p * log_probs).sum_dim_intlist(-1, true, Kind::Float);
                    -(p * ((log_probs + h) * d_entropy + &g))
                };
                let index = actions.to_kind(Kind::Int64).unsqueeze(-1);
                let _ = grad.scatter_add_(-1, &index, &g);
                (grad, None)
            }
            Self::Normal { mean, log_std } => {
                let g = d_log_prob.unsqueeze(-1);
                let std = log_std.exp();
                let u = (actions - mean) / &std;
                let d_mean = &g * &u / std;
                let rows = mean.size()[0] as f64;
                let d_log_std = (g * (u.square() - 1.0)).sum_dim_intlist(0, false, Kind::Float)
                    + d_entropy * rows;
                (d_mean, Some(d_log_std))
            }
        }
    }

    /// The entropy per row, `[B]`.
    pub fn entropy(&self) -> Tensor {
        match self {
            Self::Categorical { log_probs } => {
                -(log_probs.exp() * log_probs).sum_dim_intlist(-1, false, Kind::Float)
            }
            Self::Normal { mean, log_std } => {
                let per_row = (log_std + 0.5 + LOG_SQRT_2PI).sum(Kind::Float);
                per_row.expand([mean.size()[0]], false)
            }
        }
    }
}

/// `z_j − max z − log Σ_k exp(z_k − max z)`, as libtorch's `log_softmax`.
fn log_softmax_row(z: &[f32], out: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = z.iter().map(|&v| (v - max).exp()).sum();
    let log_sum = sum.ln();
    for (o, &v) in out.iter_mut().zip(z) {
        *o = v - max - log_sum;
    }
}

/// `argmax_j p_j / q_j`, the first index on ties (as libtorch's `argmax`).
fn exponential_race(p: &[f32], q: &[f32]) -> i64 {
    let mut best = (0, f32::NEG_INFINITY);
    for (j, (&p, &q)) in p.iter().zip(q).enumerate() {
        let x = p / q;
        if x > best.1 || x.is_nan() && !best.1.is_nan() {
            best = (j as i64, x);
        }
    }
    best.0
}

/// `log_softmax(logits, -1)` of `logits` `[B, n]`, row by row on host memory, or `None`
/// unless `logits` is a contiguous CPU `f32` tensor (see `host.rs`).
fn log_softmax_on_host(logits: &Tensor) -> Option<Tensor> {
    let lease = Lease::take()?;
    let z = lease.read(logits)?;
    let log_probs = logits.empty_like();
    let out = lease.write(&log_probs)?;
    let n = logits.size()[1].max(1) as usize;
    for (z, out) in z.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        log_softmax_row(z, out);
    }
    Some(log_probs)
}

/// The [`exponential_race`] of every row of `p` and `q` `[B, n]` on host memory, as
/// [`Distribution::sample`] draws: `[B]` `Int64` actions, or `None` unless `p` and `q` are
/// contiguous CPU `f32` tensors.
fn race_on_host(p: &Tensor, q: &Tensor) -> Option<Tensor> {
    let lease = Lease::take()?;
    let (p_rows, q_rows) = (lease.read(p)?, lease.read(q)?);
    let n = p.size().last().copied().unwrap_or(1).max(1) as usize;
    let actions = Tensor::empty([(p.numel() / n) as i64], (Kind::Int64, p.device()));
    let out = lease.write(&actions)?;
    let rows = p_rows.chunks_exact(n).zip(q_rows.chunks_exact(n));
    for ((p, q), out) in rows.zip(out) {
        *out = exponential_race(p, q);
    }
    Some(actions)
}

/// [`Distribution::log_prob`] of a categorical on host memory, or `None` unless its
/// log-probabilities `[B, n]` and `actions` `[B]` are contiguous CPU `f32` and `Int64`
/// tensors (see `host.rs`).
fn gather_on_host(log_probs: &Tensor, actions: &Tensor) -> Option<Tensor> {
    if !categorical_shapes(log_probs, actions) {
        return None;
    }
    let lease = Lease::take()?;
    let (lp, a) = (lease.read::<f32>(log_probs)?, lease.read::<i64>(actions)?);
    let out = host::empty_f32(&[actions.numel() as i64]);
    let o = lease.write::<f32>(&out)?;
    let n = lp.len() / a.len().max(1);
    for (i, (o, &a)) in o.iter_mut().zip(a).enumerate() {
        *o = lp[i * n + action_index(a, n)];
    }
    Some(out)
}

/// [`Distribution::backward`] of a categorical on host memory, or `None` unless its
/// log-probabilities `[B, n]`, `actions` `[B]` and `d_log_prob` `[B]` are contiguous CPU
/// tensors (`f32`, `Int64`, `f32`; see `host.rs`).
fn backward_on_host(
    log_probs: &Tensor,
    actions: &Tensor,
    d_log_prob: &Tensor,
    d_entropy: f64,
) -> Option<Tensor> {
    if !categorical_shapes(log_probs, actions) {
        return None;
    }
    let lease = Lease::take()?;
    let lp = lease.read::<f32>(log_probs)?;
    let a = lease.read::<i64>(actions)?;
    let g = lease.read::<f32>(d_log_prob)?;
    let grad = log_probs.empty_like();
    let out = lease.write::<f32>(&grad)?;
    let n = lp.len() / a.len().max(1);
    let rows = lp.chunks_exact(n).zip(out.chunks_exact_mut(n));
    for (((lp, out), &a), &g) in rows.zip(a).zip(g) {
        categorical_row_backward(lp, out, g, d_entropy as f32);
        out[action_index(a, n)] += g;
    }
    Some(grad)
}

/// Whether a categorical's log-probabilities `[B, n]` and actions `[B]` have the shapes that
/// the loops of [`gather_on_host`] and [`backward_on_host`] take.
fn categorical_shapes(log_probs: &Tensor, actions: &Tensor) -> bool {
    log_probs.dim() == 2 && actions.dim() == 1 && actions.size()[0] == log_probs.size()[0]
}

/// An action as an index into `n` logits.
///
/// # Panics
/// If the action is not one of the `n`: actions come from [`Distribution::sample`].
fn action_index(a: i64, n: usize) -> usize {
    usize::try_from(a)
        .ok()
        .filter(|&a| a < n)
        .unwrap_or_else(|| panic!("action {a} is not one of the {n} of a categorical"))
}

/// One row of the categorical backward pass without the action's indicator term:
/// `−p_j g` when `d_entropy` is 0, else `−p_j ((log p_j + H) d_entropy + g)`.
fn categorical_row_backward(lp: &[f32], out: &mut [f32], g: f32, d_entropy: f32) {
    if d_entropy == 0.0 {
        for (o, &l) in out.iter_mut().zip(lp) {
            *o = l.exp() * -g;
        }
        return;
    }
    let h = -lp.iter().map(|&l| l.exp() * l).sum::<f32>();
    for (o, &l) in out.iter_mut().zip(lp) {
        *o = -(l.exp() * ((l + h) * d_entropy + g));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categorical_log_prob_and_entropy() {
        let logits = Tensor::from_slice(&[0.0f32, (3.0f32).ln()]).reshape([1, 2]);
        let d = Distribution::categorical(&logits);
        let lp = d.log_prob(&Tensor::from_slice(&[1i64])).double_value(&[0]);
        assert!((lp - 0.75f64.ln()).abs() < 1e-6);
        let h = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        assert!((d.entropy().double_value(&[0]) - h).abs() < 1e-6);
    }

    #[test]
    fn normal_log_prob_and_entropy_match_the_formula() {
        let mean = Tensor::from_slice(&[1.0f32, -1.0]).reshape([1, 2]);
        let log_std = Tensor::from_slice(&[0.0f32, (2.0f32).ln()]);
        let d = Distribution::Normal { mean, log_std };
        let a = Tensor::from_slice(&[2.0f32, -1.0]).reshape([1, 2]);
        let expected = (-0.5 - LOG_SQRT_2PI) + (-(2.0f64).ln() - LOG_SQRT_2PI);
        assert!((d.log_prob(&a).double_value(&[0]) - expected).abs() < 1e-6);
        let h = 2.0 * (0.5 + LOG_SQRT_2PI) + (2.0f64).ln();
        assert!((d.entropy().double_value(&[0]) - h).abs() < 1e-6);
    }

    #[test]
    fn categorical_samples_follow_the_probabilities() {
        tch::manual_seed(0);
        let logits = Tensor::from_slice(&[0.0f32, (3.0f32).ln()])
            .reshape([1, 2])
            .repeat([4000, 1]);
        let d = Distribution::categorical(&logits);
        let ones = d
            .sample()
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        assert!((ones - 0.75).abs() < 0.03, "{ones}");
    }

    /// `backward` against autograd of `Σ_i g_i log π(a_i|s_i) + d_H Σ_i H_i`.
    fn check_backward(logits_or_mean: &Tensor, log_std: Option<&Tensor>, actions: &Tensor) {
        let rows = logits_or_mean.size()[0];
        let g = Tensor::randn([rows], (Kind::Float, tch::Device::Cpu));
        for d_entropy in [0.0, -0.3] {
            let d = match log_std {
                Some(log_std) => Distribution::Normal {
                    mean: logits_or_mean.shallow_clone(),
                    log_std: log_std.shallow_clone(),
                },
                None => Distribution::categorical(logits_or_mean),
            };
            let loss = (d.log_prob(actions) * &g).sum(Kind::Float)
                + d.entropy().sum(Kind::Float) * d_entropy;
            let mut inputs = vec![logits_or_mean];
            inputs.extend(log_std);
            let auto = Tensor::run_backward(&[loss], &inputs, false, false);
            let (head, d_log_std) = tch::no_grad(|| d.backward(actions, &g, d_entropy));
            let diff = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
            assert!(diff(&auto[0], &head) < 1e-5, "head, d_H = {d_entropy}");
            if let Some(d_log_std) = d_log_std {
                assert!(
                    diff(&auto[1], &d_log_std) < 1e-4,
                    "log-std, d_H = {d_entropy}"
                );
            }
        }
    }

    #[test]
    fn backward_matches_autograd() {
        tch::manual_seed(1);
        let f = (Kind::Float, tch::Device::Cpu);
        let logits = Tensor::randn([7, 3], f).set_requires_grad(true);
        let actions = Tensor::randint(3, [7], (Kind::Int64, tch::Device::Cpu));
        check_backward(&logits, None, &actions);
        let mean = Tensor::randn([7, 2], f).set_requires_grad(true);
        let log_std = (Tensor::randn([2], f) * 0.5).set_requires_grad(true);
        let actions = Tensor::randn([7, 2], f);
        check_backward(&mean, Some(&log_std), &actions);
    }

    #[test]
    fn host_loops_match_the_tensor_operations() {
        tch::manual_seed(5);
        let f = (Kind::Float, tch::Device::Cpu);
        let logits = Tensor::randn([33, 4], f) * 2.0;
        let host = Distribution::categorical(&logits);
        let reference = logits.log_softmax(-1, Kind::Float);
        let Distribution::Categorical { log_probs } = &host else {
            unreachable!()
        };
        assert!((log_probs - &reference).abs().max().double_value(&[]) < 1e-6);
        // Non-contiguous log-probabilities take the tensor operations.
        let on_ops = Distribution::Categorical {
            log_probs: crate::host::strided(&reference),
        };
        for seed in [0, 9] {
            // libtorch's generator is global, and the other tests of this binary draw from it
            // on their own threads: a draw of theirs between a seeding and its sample would
            // make the two samples differ. A real mismatch shows on every attempt.
            let same = (0..5).any(|_| {
                tch::manual_seed(seed);
                let actions = host.sample();
                tch::manual_seed(seed);
                actions.equal(&on_ops.sample())
            });
            assert!(same, "seed {seed}");
        }
        let actions = host.sample();
        let diff = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        assert!(diff(&host.log_prob(&actions), &on_ops.log_prob(&actions)) < 1e-7);
        let g = Tensor::randn([33], f);
        for d_entropy in [0.0, -0.2] {
            let (a, _) = host.backward(&actions, &g, d_entropy);
            let (b, _) = on_ops.backward(&actions, &g, d_entropy);
            assert!(diff(&a, &b) < 1e-6, "d_H = {d_entropy}");
        }
    }
}
