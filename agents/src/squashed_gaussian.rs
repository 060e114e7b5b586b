//! SAC's policy distribution: a diagonal Gaussian whose samples are squashed by `tanh` into
//! `(-1, 1)` (Haarnoja et al. 2018, arXiv:1812.05905, appendix C), as Stable-Baselines3's
//! `SquashedDiagGaussianDistribution` with its state-dependent log-std clamped to
//! `[-20, 2]`. Actions in `(-1, 1)` map to a task's box with [`to_box`].

use tch::{Kind, Tensor};

/// Lower clamp of the log-std (SB3's `LOG_STD_MIN`).
pub const LOG_STD_MIN: f64 = -20.0;
/// Upper clamp of the log-std (SB3's `LOG_STD_MAX`).
pub const LOG_STD_MAX: f64 = 2.0;
/// Added inside the log of the tanh correction, as SB3 and CleanRL do.
const EPSILON: f64 = 1e-6;

/// The distribution over a batch: `mean` and `log_std` are `[B, d]`.
#[derive(Debug)]
pub struct SquashedGaussian {
    /// Means of the Gaussian before squashing.
    pub mean: Tensor,
    /// Log standard deviations, clamped to `[LOG_STD_MIN, LOG_STD_MAX]`.
    pub log_std: Tensor,
}

impl SquashedGaussian {
    /// The distribution from a policy head's output `[B, 2d]`: means, then unclamped
    /// log-stds.
    pub fn from_head(out: &Tensor) -> Self {
        let d = out.size()[1] / 2;
        Self {
            mean: out.narrow(1, 0, d),
            log_std: out.narrow(1, d, d).clamp(LOG_STD_MIN, LOG_STD_MAX),
        }
    }

    /// A reparameterised sample `a = tanh(μ + σ ε)`, `ε ~ N(0, I)` drawn from libtorch's
    /// generator, and its log-density `[B]`:
    /// `log π(a) = Σ_i [log N(u_i; μ_i, σ_i) − log(1 − a_i² + 1e-6)]` (eq. 26 of the paper).
    /// Both carry the graph back to `mean` and `log_std`.
    pub fn rsample(&self) -> (Tensor, Tensor) {
        let eps = self.mean.randn_like();
        self.squash(&eps)
    }

    /// [`SquashedGaussian::rsample`] with the noise `eps` `[B, d]` given.
    pub fn squash(&self, eps: &Tensor) -> (Tensor, Tensor) {
        let u = &self.mean + self.log_std.exp() * eps;
        let a = u.tanh();
        let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        let gaussian = eps.square() * -0.5 - &self.log_std - half_log_2pi;
        let correction = (a.square().neg() + (1.0 + EPSILON)).log();
        let log_prob = (gaussian - correction).sum_dim_intlist(-1, false, Kind::Float);
        (a, log_prob)
    }

    /// The deterministic action `tanh(μ)`.
    pub fn mode(&self) -> Tensor {
        self.mean.tanh()
    }
}

/// `a` in `[-1, 1]` mapped linearly onto the box `[low, high]` (SB3's `unscale_action`):
/// `low + (a + 1) (high − low) / 2`.
pub fn to_box(a: &Tensor, low: &Tensor, high: &Tensor) -> Tensor {
    low + (a + 1.0) * 0.5 * (high - low)
}

/// The inverse of [`to_box`] (SB3's `scale_action`).
pub fn from_box(action: &Tensor, low: &Tensor, high: &Tensor) -> Tensor {
    (action - low) * 2.0 / (high - low) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(values: &[f32], shape: [i64; 2]) -> Tensor {
        Tensor::from_slice(values).view(shape)
    }

    #[test]
    fn the_log_density_is_the_papers_change_of_variables() {
        // One row, two dimensions, by hand: u = μ + σ ε, a = tanh(u),
        // log π = Σ (−ε²/2 − log σ − log √(2π) − log(1 − a² + 1e-6)).
        let (mu, log_std, eps) = ([0.3f64, -1.2], [-0.5f64, 0.4], [0.7f64, -1.5]);
        let dist = SquashedGaussian {
            mean: t(&[0.3, -1.2], [1, 2]),
            log_std: t(&[-0.5, 0.4], [1, 2]),
        };
        let (a, log_prob) = dist.squash(&t(&[0.7, -1.5], [1, 2]));
        let mut expected = 0.0;
        for i in 0..2 {
            let u = mu[i] + log_std[i].exp() * eps[i];
            let ai = u.tanh();
            assert!((a.double_value(&[0, i as i64]) - ai).abs() < 1e-6);
            expected += -0.5 * eps[i] * eps[i]
                - log_std[i]
                - 0.5 * (2.0 * std::f64::consts::PI).ln()
                - (1.0 - ai * ai + 1e-6).ln();
        }
        assert!((log_prob.double_value(&[0]) - expected).abs() < 1e-5);
    }

    #[test]
    fn the_density_integrates_to_one_over_the_squashed_interval() {
        // One dimension: ∫ π(a) da over (−1, 1) by the midpoint rule, with π from the
        // change of variables evaluated at the u that gives each a.
        let (mu, log_std) = (0.4f64, -0.3f64);
        let n = 200_000;
        let a: Vec<f32> = (0..n)
            .map(|k| (-1.0 + (k as f64 + 0.5) * 2.0 / n as f64) as f32)
            .collect();
        let a = Tensor::from_slice(&a).view([n, 1]);
        let u = a.atanh();
        let eps = (u - mu) / log_std.exp();
        let dist = SquashedGaussian {
            mean: Tensor::full([n, 1], mu, (Kind::Float, tch::Device::Cpu)),
            log_std: Tensor::full([n, 1], log_std, (Kind::Float, tch::Device::Cpu)),
        };
        let (_, log_prob) = dist.squash(&eps);
        let integral = log_prob.exp().sum(Kind::Double).double_value(&[]) * 2.0 / n as f64;
        assert!((integral - 1.0).abs() < 1e-3, "{integral}");
    }

    #[test]
    fn the_head_is_split_and_its_log_std_clamped() {
        let dist = SquashedGaussian::from_head(&t(&[1.0, 2.0, -30.0, 5.0], [1, 4]));
        assert_eq!(
            Vec::<f32>::try_from(dist.mean.view([-1])).unwrap(),
            [1.0, 2.0]
        );
        let log_std = Vec::<f32>::try_from(dist.log_std.view([-1])).unwrap();
        assert_eq!(log_std, [LOG_STD_MIN as f32, LOG_STD_MAX as f32]);
        let mode = Vec::<f32>::try_from(dist.mode().view([-1])).unwrap();
        assert!((mode[0] - 1f32.tanh()).abs() < 1e-7 && (mode[1] - 2f32.tanh()).abs() < 1e-7);
    }

    #[test]
    fn box_scaling_round_trips() {
        let (low, high) = (t(&[-2.0, 0.0], [1, 2]), t(&[2.0, 10.0], [1, 2]));
        let a = t(&[-1.0, 0.5], [1, 2]);
        let action = to_box(&a, &low, &high);
        assert_eq!(
            Vec::<f32>::try_from(action.view([-1])).unwrap(),
            [-2.0, 7.5]
        );
        let back = from_box(&action, &low, &high);
        assert_eq!(Vec::<f32>::try_from(back.view([-1])).unwrap(), [-1.0, 0.5]);
    }
}
