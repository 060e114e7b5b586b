//! Adam (Kingma & Ba 2015, Algorithm 1) applied to explicitly given gradients, so that the
//! gradient can be anything gradient surgery produced; plus clipping by global norm
//! (Pascanu et al. 2013), as PyTorch's `clip_grad_norm_`.

use multiversion::multiversion;
use tch::Tensor;

use crate::host::{self, Lease};

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
        // The host loop's factors, as `adam_on_host` takes them.
        let weights = [1.0 - c.beta1, 1.0 - c.beta2].map(|w| w as f32);
        let scaled = (lr != 0.0).then(|| {
            [
                (c.eps * bias2_sqrt) as f32,
                (-bias1 / (lr * bias2_sqrt)) as f32,
            ]
        });
        tch::no_grad(|| {
            let mut lease = Lease::take();
            for (k, (p, g)) in params.iter().zip(grads).enumerate() {
                let (m, v, scratch) = (
                    &mut self.first[k],
                    &mut self.second[k],
                    &mut self.scratch[k],
                );
                if let Some(lease) = lease.as_mut() {
                    let stepped = step_on_host(lease, [p, g, m, v], weights, scaled);
                    lease.release();
                    if stepped.is_some() {
                        continue;
                    }
                }
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

/// [`adam_on_host`] on a parameter `p`, its gradient `g` and its moments `m`, `v`, lent by
/// `lease`; `None`, changing nothing, unless all four are contiguous CPU `f32` tensors and
/// the three written ones share no memory with each other or with the gradient.
fn step_on_host(
    lease: &Lease,
    [p, g, m, v]: [&Tensor; 4],
    weights: [f32; 2],
    scaled: Option<[f32; 2]>,
) -> Option<()> {
    let g = lease.read(g)?;
    let (p, m, v) = (lease.write(p)?, lease.write(m)?, lease.write(v)?);
    adam_on_host(p, g, [m, v], weights, scaled);
    Some(())
}

/// [`Adam::step`] on host memory: the same operations, element by element, in `f32`:
/// `m ← m + w₁ (g − m)`, `v ← v + w₂ (g² − v)` (`weights` = `[w₁, w₂]`), then, unless
/// `scaled` is `None` (`lr` = 0), `p ← p + m / ((√v + ε√b₂) · f)` with `scaled` = `[ε√b₂, f]`.
#[multiversion(targets = "simd")]
fn adam_on_host(
    p: &mut [f32],
    g: &[f32],
    [m, v]: [&mut [f32]; 2],
    [w1, w2]: [f32; 2],
    scaled: Option<[f32; 2]>,
) {
    for ((m, v), &g) in m.iter_mut().zip(v.iter_mut()).zip(g) {
        *m += w1 * (g - *m);
        *v += w2 * (g * g - *v);
    }
    let Some([eps, factor]) = scaled else { return };
    for ((p, &m), &v) in p.iter_mut().zip(m.iter()).zip(v.iter()) {
        *p += m / ((v.sqrt() + eps) * factor);
    }
}

/// Scales `grads` in place so that their joint L2 norm is at most `max_norm` (as PyTorch's
/// `clip_grad_norm_`, with its 1e-6 guard); returns the norm before clipping as a scalar
/// tensor. Nothing is read back from the device; on the CPU it is one pass over the
/// gradients' memory, and a second only when they are scaled.
pub fn clip_global_norm(grads: &mut [Tensor], max_norm: f64) -> Tensor {
    if let Some(norm) = clip_on_host(grads, max_norm) {
        return norm;
    }
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

/// [`clip_global_norm`] on host memory, or `None`, changing nothing, unless every gradient is
/// a contiguous CPU `f32` tensor. Each gradient is lent alone, so gradients may share memory
/// as they may for the tensor operations.
fn clip_on_host(grads: &mut [Tensor], max_norm: f64) -> Option<Tensor> {
    let mut lease = Lease::take()?;
    let squares: f32 = (grads.iter())
        .map(|g| {
            let square = lease.read(g).map(sum_of_squares);
            lease.release();
            square
        })
        .sum::<Option<f32>>()?;
    let norm = squares.sqrt();
    let scale = (max_norm as f32 / (norm + 1e-6)).min(1.0);
    if scale < 1.0 {
        for g in grads.iter_mut() {
            match lease.write(g) {
                Some(g) => scale_in_place(g, scale),
                // The gradient passed the same checks above, and nothing changed it since; were
                // it refused all the same, libtorch scales it, with the same product.
                None => drop(g.g_mul_scalar_(f64::from(scale))),
            }
            lease.release();
        }
    }
    Some(Tensor::from(norm))
}

/// `Σ x_i²`.
#[multiversion(targets = "simd")]
fn sum_of_squares(x: &[f32]) -> f32 {
    host::dot(x, x)
}

#[multiversion(targets = "simd")]
fn scale_in_place(x: &mut [f32], scale: f32) {
    x.iter_mut().for_each(|v| *v *= scale);
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

    #[test]
    fn host_steps_match_the_tensor_operations() {
        tch::manual_seed(3);
        let f = (Kind::Float, tch::Device::Cpu);
        let p = Tensor::randn([40], f);
        let on_ops = host::strided(&p);
        let (mut host_adam, mut ops_adam) = (
            Adam::new(&[&p], AdamConfig::default()),
            Adam::new(&[&on_ops], AdamConfig::default()),
        );
        for lr in [0.01, 0.0, 0.003, 0.01] {
            let g = Tensor::randn([40], f);
            host_adam.step(&[&p], &[g.shallow_clone()], lr);
            ops_adam.step(&[&on_ops], &[host::strided(&g)], lr);
        }
        let diff = (&p - &on_ops).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "{diff}");
        let moments = (&host_adam.state().1[0] - &ops_adam.state().1[0])
            .abs()
            .max();
        assert!(moments.double_value(&[]) < 1e-9);
    }

    #[test]
    fn host_clipping_matches_the_tensor_operations() {
        tch::manual_seed(4);
        let f = (Kind::Float, tch::Device::Cpu);
        for max_norm in [0.5, 100.0] {
            let mut grads = vec![Tensor::randn([37], f), Tensor::randn([5], f)];
            let mut on_ops: Vec<Tensor> = grads.iter().map(host::strided).collect();
            let norm = clip_global_norm(&mut grads, max_norm).double_value(&[]);
            let ops_norm = clip_global_norm(&mut on_ops, max_norm).double_value(&[]);
            assert!((norm - ops_norm).abs() < 1e-5 * norm, "{norm} {ops_norm}");
            for (a, b) in grads.iter().zip(&on_ops) {
                assert!((a - b).abs().max().double_value(&[]) < 1e-6);
            }
        }
    }
}
