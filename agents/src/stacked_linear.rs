//! A layer of the actor's and the critic's towers stacked into one batched product
//! (`tower.rs`), and the tanh that follows it: each runs as libtorch's operation or as the
//! host loop of [`crate::kernels`], as the network's [`KernelChoice`] says.

use tch::Tensor;

use crate::host::Lease;
use crate::kernels::{layer, tanh, Backend, Kernel, KernelChoice};
use crate::linear::Linear;
use crate::profile::{self, Part};

/// A layer of the `k` towers stacked: weights `[k, out, in]`, the same transposed
/// `[k, in, out]`, biases `[k, 1, out]`; for a layer bound to the flat buffer, also that
/// buffer and the layer's place in it, for the host kernels.
#[derive(Debug)]
pub(crate) struct StackedLinear {
    weight: Tensor,
    weight_t: Tensor,
    bias: Tensor,
    host: Option<HostLayer>,
}

/// A stacked layer's parameters as the host kernels read them.
#[derive(Debug)]
struct HostLayer {
    flat: Tensor,
    shape: layer::Shape,
    place: layer::Placement,
}

impl StackedLinear {
    /// Views of `flat` for `k` layers whose weights start at `offset`, `stride` apart, each
    /// followed by its bias.
    pub(crate) fn view(
        flat: &Tensor,
        k: i64,
        [out, inputs]: [i64; 2],
        offset: i64,
        stride: i64,
    ) -> Self {
        Self {
            weight: flat.as_strided([k, out, inputs], [stride, inputs, 1], offset),
            weight_t: flat.as_strided([k, inputs, out], [stride, 1, inputs], offset),
            bias: flat.as_strided([k, 1, out], [stride, out, 1], offset + out * inputs),
            host: Some(HostLayer {
                flat: flat.shallow_clone(),
                shape: layer::Shape {
                    towers: k as usize,
                    out: out as usize,
                    inputs: inputs as usize,
                },
                place: layer::Placement {
                    offset: offset as usize,
                    tower_stride: stride as usize,
                    task_stride: 0,
                },
            }),
        }
    }

    /// The stacked weights `[k, out, in]`.
    pub(crate) fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Stacks of the layers' own tensors, differentiable with respect to them.
    pub(crate) fn stack(layers: &[&Linear]) -> Self {
        let weights: Vec<&Tensor> = layers.iter().map(|l| &l.weight).collect();
        let biases: Vec<&Tensor> = layers.iter().map(|l| &l.bias).collect();
        let weight = Tensor::stack(&weights, 0);
        Self {
            weight_t: weight.transpose(1, 2),
            weight,
            bias: Tensor::stack(&biases, 0).unsqueeze(1),
            host: None,
        }
    }

    /// `tanh(x Wᵀ + b)` for each of the `k` layers, `x` `[k, B, in]`, or `[B, in]` for all
    /// of them when `shared_input`.
    pub(crate) fn forward(&self, x: &Tensor, shared_input: bool, kernels: &KernelChoice) -> Tensor {
        let mut z = profile::time(Part::Products, || {
            self.product(x, shared_input, kernels.get(Kernel::Linear))
        });
        profile::time(Part::Activations, || {
            tanh_(&mut z, kernels.get(Kernel::Tanh))
        });
        z
    }

    /// `x Wᵀ + b` for each of the `k` layers (see [`StackedLinear::forward`]).
    pub(crate) fn product(&self, x: &Tensor, shared_input: bool, backend: Backend) -> Tensor {
        if backend == Backend::Host && !crate::host::grad_enabled() {
            if let Some(z) = self.product_on_host(x, shared_input) {
                return z;
            }
        }
        let k = self.weight.size()[0];
        let x = match shared_input {
            true => x.expand([k, x.size()[0], x.size()[1]], false),
            false => x.shallow_clone(),
        };
        self.bias.baddbmm(&x, &self.weight_t, 1.0, 1.0)
    }

    fn product_on_host(&self, x: &Tensor, shared_input: bool) -> Option<Tensor> {
        let host = self.host.as_ref()?;
        let lease = Lease::take()?;
        let (input, params) = (lease.read(x)?, lease.read(&host.flat)?);
        let rows = x.size()[x.dim() - 2];
        let z = crate::host::empty_f32(&[host.shape.towers as i64, rows, host.shape.out as i64]);
        let out = lease.write(&z)?;
        layer::linear(input, shared_input, params, host.shape, host.place, out);
        Some(z)
    }

    /// Writes `dz W` `[k, B, in]` into `dx` from `dz` `[k, B, out]`.
    pub(crate) fn input_grads(&self, dz: &Tensor, dx: &Tensor, backend: Backend) {
        let on_host = || {
            let host = self.host.as_ref()?;
            let lease = Lease::take()?;
            let (dz, params) = (lease.read(dz)?, lease.read(&host.flat)?);
            layer::input_grads(dz, params, host.shape, host.place, lease.write(dx)?);
            Some(())
        };
        if backend == Backend::Libtorch || on_host().is_none() {
            let _ = dz.bmm_out(dx, &self.weight);
        }
    }
}

/// `z ← tanh(z)`.
pub(crate) fn tanh_(z: &mut Tensor, backend: Backend) {
    let on_host = || {
        let lease = Lease::take()?;
        tanh::tanh_in_place(lease.write(z)?);
        Some(())
    };
    if backend == Backend::Libtorch || crate::host::grad_enabled() || on_host().is_none() {
        let _ = z.tanh_();
    }
}

/// `dx = dy (1 − y²)` into `dx`, through a tanh of output `y`.
pub(crate) fn tanh_backward(dx: &Tensor, dy: &Tensor, y: &Tensor, backend: Backend) {
    let on_host = || {
        let lease = Lease::take()?;
        let (dy, y) = (lease.read(dy)?, lease.read(y)?);
        tanh::tanh_backward(lease.write(dx)?, dy, y);
        Some(())
    };
    if backend == Backend::Libtorch || on_host().is_none() {
        let _ = Tensor::tanh_backward_grad_input(dx, dy, y);
    }
}
