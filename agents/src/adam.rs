//! Adam (Kingma & Ba 2015, Algorithm 1) applied to explicitly given gradients, so that the
//! gradient can be anything gradient surgery produced; plus clipping by global norm
//! (Pascanu et al. 2013), as PyTorch's `clip_grad_norm_`.

use tch::Tensor;

/// Adam's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// β₁, decay of the first moment.
    pub beta1: f64,
    /// β₂, decay of the second moment.
    pub beta2: f64,
    /// ε added to the denominator; CleanRL and Stable-Baselines3 use 1e-5 for PPO.
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-5,
        }
    }
}

/// Adam's state for a fixed list of parameters.
#[derive(Debug)]
pub struct Adam {
    config: AdamConfig,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    /// One buffer per parameter for intermediate results, so that a step allocates nothing.
    scratch: Vec<Tensor>,
    steps: i64,
}

impl Adam {
    /// Zero moments for `params`.
    pub fn new(params: &[&Tensor], config: AdamConfig) -> Self {
        let zeros = || params.iter().map(|p| p.zeros_like()).collect();
        Self {
            config,
            first: zeros(),
            second: zeros(),
            scratch: zeros(),
            steps: 0,
        }
    }

    /// Steps taken.
    pub fn steps(&self) -> i64 {
        self.steps
    }

    /// The moment tensors (first moments, then second), for checkpoints.
    pub fn state(&self) -> (&[Tensor], &[Tensor]) {
        (&self.first, &self.second)
    }

    /// Restores the state saved from [`Adam::state`] and [`Adam::steps`]; the moment tensors
    /// must match the parameters' shapes, in order.
    pub fn set_state(
        &mut self,
        first: Vec<Tensor>,
        second: Vec<Tensor>,
        steps: i64,
    ) -> Result<(), String> {
        let same = |a: &[Tensor], b: &[Tensor]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.size() == y.size())
        };
        if !same(&first, &self.first) || !same(&second, &self.second) {
            return Err(
                "the saved optimizer state does not match the network's parameters".to_string(),
            );
        }
        let device = self.first.first().map_or(tch::Device::Cpu, Tensor::device);
        let to = |v: Vec<Tensor>| v.into_iter().map(|t| t.to_device(device)).collect();
        (self.first, self.second, self.steps) = (to(first), to(second), steps);
        self.scratch = self.first.iter().map(Tensor::zeros_like).collect();
        Ok(())
    }

    /// One update `θ ← θ − lr · m̂ / (√v̂ + ε)` of every parameter with its gradient, as
    /// PyTorch's single-tensor Adam computes it (`m ← lerp(m, g, 1 − β₁)`,
    /// `v ← lerp(v, g², 1 − β₂)`, `θ ← θ − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)`), with
    /// in-place operations and no allocation.
    pub fn step(&mut self, params: &[&Tensor], grads: &[Tensor], lr: f64) {
        let c = self.config;
        self.steps += 1;
        let bias1 = 1.0 - c.beta1.powi(self.steps as i32);
        let bias2_sqrt = (1.0 - c.beta2.powi(self.steps as i32)).sqrt();
        tch::no_grad(|| {
            for (k, (p, g)) in params.iter().zip(grads).enumerate() {
                let (m, v, scratch) = (
                    &mut self.first[k],
                    &mut self.second[k],
                    &mut self.scratch[k],
                );
                let _ = m.lerp_(g, 1.0 - c.beta1);
                let _ = v.lerp_(&g.mul_out(scratch, g), 1.0 - c.beta2);
                if lr == 0.0 {
                    continue;
                }
                // m / (√v/√b₂ + ε) · lr/b₁ = m / ((√v + ε√b₂) · b₁/(lr √b₂)): one addcdiv_.
                let _ = v
                    .sqrt_out(scratch)
                    .g_add_scalar_(c.eps * bias2_sqrt)
                    .g_mul_scalar_(-bias1 / (lr * bias2_sqrt));
                let _ = p.shallow_clone().addcdiv_(m, scratch);
            }
        });
    }
}

/// Scales `grads` in place so that their joint L2 norm is at most `max_norm` (as PyTorch's
/// `clip_grad_norm_`, with its 1e-6 guard); returns the norm before clipping as a scalar
/// tensor. Nothing is read back from the device.
pub fn clip_global_norm(grads: &mut [Tensor], max_norm: f64) -> Tensor {
    tch::no_grad(|| {
        let norm = match grads {
            [only] => only.norm(),
            _ => {
                let norms: Vec<Tensor> = grads.iter().map(Tensor::norm).collect();
                Tensor::stack(&norms, 0).norm()
            }
        };
        let mut scale = &norm + 1e-6;
        let _ = scale.reciprocal_().g_mul_scalar_(max_norm).clamp_max_(1.0);
        for g in grads.iter_mut() {
            let _ = g.g_mul_(&scale);
        }
        norm
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn first_step_moves_each_weight_by_lr_against_the_gradient_sign() {
        // After one step m̂ = g and v̂ = g², so the update is lr · g / (|g| + ε).
        let p = Tensor::from_slice(&[1.0f32, -2.0, 0.5]);
        let g = Tensor::from_slice(&[0.3f32, -4.0, 0.0]);
        let mut adam = Adam::new(
            &[&p],
            AdamConfig {
                eps: 1e-8,
                ..AdamConfig::default()
            },
        );
        adam.step(&[&p], &[g], 0.1);
        let got = Vec::<f32>::try_from(&p).unwrap();
        let want = [0.9f32, -1.9, 0.5];
        assert!(
            got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{got:?}"
        );
    }

    #[test]
    fn matches_the_bias_corrected_recursion_over_several_steps() {
        let p = Tensor::from_slice(&[0.0f64]);
        let mut adam = Adam::new(&[&p], AdamConfig::default());
        let (mut m, mut v, mut theta) = (0.0f64, 0.0f64, 0.0f64);
        for (t, g) in [1.0f64, -0.5, 2.0, 0.25].into_iter().enumerate() {
            adam.step(&[&p], &[Tensor::from_slice(&[g])], 0.01);
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            let (mh, vh) = (
                m / (1.0 - 0.9f64.powi(t as i32 + 1)),
                v / (1.0 - 0.999f64.powi(t as i32 + 1)),
            );
            theta -= 0.01 * mh / (vh.sqrt() + 1e-5);
        }
        assert!((p.double_value(&[0]) - theta).abs() < 1e-12);
    }

    #[test]
    fn clipping_rescales_to_the_global_norm() {
        let mut grads = vec![Tensor::from_slice(&[3.0f32]), Tensor::from_slice(&[4.0f32])];
        let norm = clip_global_norm(&mut grads, 0.5).double_value(&[]);
        assert!((norm - 5.0).abs() < 1e-6);
        let total = grads
            .iter()
            .map(|g| g.square().sum(Kind::Float).double_value(&[]))
            .sum::<f64>()
            .sqrt();
        assert!((total - 0.5).abs() < 1e-5);
        let mut small = vec![Tensor::from_slice(&[0.1f32])];
        let _ = clip_global_norm(&mut small, 0.5);
        assert_eq!(small[0].double_value(&[0]), 0.1f32 as f64);
    }
}
