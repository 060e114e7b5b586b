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
    pub fn sample(&self) -> Tensor {
        tch::no_grad(|| match self {
            Self::Categorical { log_probs } => log_probs.exp().multinomial(1, true).squeeze_dim(-1),
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
}
