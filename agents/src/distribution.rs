//! Action distributions: categorical over logits (discrete spaces) and diagonal Gaussian with
//! a state-independent log standard deviation (continuous spaces), as in CleanRL's `ppo.py`
//! and `ppo_continuous_action.py`.

use tch::{Kind, Tensor};

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
        Self::Categorical {
            log_probs: logits.log_softmax(-1, Kind::Float),
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
                (p / q).argmax(-1, false)
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
            Self::Categorical { log_probs } => log_probs
                .gather(-1, &actions.to_kind(Kind::Int64).unsqueeze(-1), false)
                .squeeze_dim(-1),
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
        let g = d_log_prob.unsqueeze(-1);
        match self {
            Self::Categorical { log_probs } => {
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
}
