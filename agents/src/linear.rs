//! A fully connected layer with CleanRL's orthogonal initialisation (`layer_init`: orthogonal
//! weights with a gain, zero bias), and its gradients for a hand-written backward pass.
//!
//! Layers with a few outputs (the policy and value heads) run as loops over host memory on
//! the CPU (see `host.rs`): there a libtorch product costs more in dispatch than in arithmetic.

use multiversion::multiversion;
use tch::{nn, Kind, Tensor};

use crate::host::{self, axpy, dot, Lease};
use crate::profile::{self, Part};

/// Layers with at most this many outputs run on host memory when they can.
const HOST_OUTPUTS: i64 = 8;

/// `y = x Wᵀ + b`, weights `[out, in]`.
#[derive(Debug)]
pub struct Linear {
    /// Weights `[out, in]`.
    pub weight: Tensor,
    /// Bias `[out]`.
    pub bias: Tensor,
}

impl Linear {
    /// A layer `inputs → outputs` under `path`, orthogonal with `gain`, zero bias.
    pub fn new(path: &nn::Path<'_>, inputs: i64, outputs: i64, gain: f64) -> Self {
        Self {
            weight: path.orthogonal("weight", &[outputs, inputs], gain),
            bias: path.zeros("bias", &[outputs]),
        }
    }

    /// `[out, in]`.
    pub(crate) fn shape(&self) -> [i64; 2] {
        let size = self.weight.size();
        [size[0], size[1]]
    }

    /// Number of parameters (weights and bias).
    pub(crate) fn numel(&self) -> i64 {
        (self.weight.numel() + self.bias.numel()) as i64
    }

    /// Applies the layer to `x` `[B, in]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        profile::time(Part::Products, || {
            if self.shape()[0] <= HOST_OUTPUTS && !host::grad_enabled() {
                if let Some(out) = self.forward_on_host(x) {
                    return out;
                }
            }
            x.linear(&self.weight, Some(&self.bias))
        })
    }

    /// [`Linear::forward`] as a loop over host memory, or `None` unless `x` and the layer are
    /// contiguous CPU `f32` tensors (see `host.rs`).
    fn forward_on_host(&self, x: &Tensor) -> Option<Tensor> {
        let lease = Lease::take()?;
        let (rows, w, b) = (
            lease.read(x)?,
            lease.read(&self.weight)?,
            lease.read(&self.bias)?,
        );
        let out = host::empty_f32(&[x.size()[0], self.shape()[0]]);
        forward_rows(rows, w, b, lease.write(&out)?);
        Some(out)
    }

    /// Writes the gradients of a loss at this layer's weight and bias into `weight` `[out, in]`
    /// and `bias` `[out]` (`∂L/∂W = dzᵀ x`, `∂L/∂b = Σ_rows dz`), and its gradient at the input,
    /// `dz W`, into `input` `[B, in]` (added to what `input` holds when `accumulate`), from
    /// the gradient `dz` `[B, out]` at the layer's output and its input `x` `[B, in]`.
    pub(crate) fn backward_into(
        &self,
        dz: &Tensor,
        x: &Tensor,
        grads: [&Tensor; 3],
        accumulate: bool,
    ) {
        profile::time(Part::Products, || {
            self.backward_any(dz, x, grads, accumulate)
        });
    }

    /// [`Linear::backward_into`] on host memory where it can, else by tensor operations.
    fn backward_any(&self, dz: &Tensor, x: &Tensor, grads: [&Tensor; 3], accumulate: bool) {
        if self.shape()[0] <= HOST_OUTPUTS
            && self.backward_on_host(dz, x, grads, accumulate).is_some()
        {
            return;
        }
        let [weight, bias, input] = grads;
        let _ = dz.tr().mm_out(weight, x);
        let _ = dz.sum_intlist_out(bias, [0i64].as_slice(), false, Kind::Float);
        match accumulate {
            true => drop(input.shallow_clone().addmm_(dz, &self.weight)),
            false => drop(dz.mm_out(input, &self.weight)),
        }
    }

    /// [`Linear::backward_into`] as a loop over host memory, or `None`, writing nothing,
    /// unless every tensor is a contiguous CPU `f32` tensor and the three gradient buffers
    /// share no memory with each other or with the inputs (see `host.rs`).
    fn backward_on_host(
        &self,
        dz: &Tensor,
        x: &Tensor,
        [weight, bias, input]: [&Tensor; 3],
        accumulate: bool,
    ) -> Option<()> {
        let lease = Lease::take()?;
        let rows = Rows {
            dz: lease.read(dz)?,
            x: lease.read(x)?,
            w: lease.read(&self.weight)?,
        };
        let grads = [
            lease.write(weight)?,
            lease.write(bias)?,
            lease.write(input)?,
        ];
        backward_rows(rows, grads, accumulate);
        Some(())
    }
}

/// Writes `∂L/∂W = dzᵀ x` into `weight` `[out, in]` and `∂L/∂b = Σ_rows dz` into `bias` on
/// host memory, summed through `transposed` `[in, out]` (scratch) so that the loops run along
/// the outputs: fast for layers with few inputs (the stems). Returns `false`, writing nothing,
/// unless every tensor is a contiguous CPU `f32` tensor and the three written ones share no
/// memory with each other or with `dz` and `x` (see `host.rs`).
pub(crate) fn weight_grads_on_host(
    dz: &Tensor,
    x: &Tensor,
    [weight, bias]: [&Tensor; 2],
    transposed: &Tensor,
) -> bool {
    let weight_grads = || {
        let lease = Lease::take()?;
        let (dz, x) = (lease.read(dz)?, lease.read(x)?);
        let written = [
            lease.write(weight)?,
            lease.write(bias)?,
            lease.write(transposed)?,
        ];
        weight_grads_rows(dz, x, written);
        Some(())
    };
    weight_grads().is_some()
}

#[multiversion(targets = "simd")]
fn weight_grads_rows(dz: &[f32], x: &[f32], [dw, db, dwt]: [&mut [f32]; 3]) {
    let (outputs, inputs) = (db.len(), dw.len() / db.len());
    dwt.fill(0.0);
    db.fill(0.0);
    for (dz, x) in dz.chunks_exact(outputs).zip(x.chunks_exact(inputs)) {
        axpy(db, 1.0, dz);
        for (dwt, &x) in dwt.chunks_exact_mut(outputs).zip(x) {
            axpy(dwt, x, dz);
        }
    }
    for (i, row) in dwt.chunks_exact(outputs).enumerate() {
        for (o, &v) in row.iter().enumerate() {
            dw[o * inputs + i] = v;
        }
    }
}

/// `o = x Wᵀ + b` row by row (`x` `[B, in]`, `w` `[out, in]`, `b` `[out]`, `o` `[B, out]`).
#[multiversion(targets = "simd")]
fn forward_rows(x: &[f32], w: &[f32], b: &[f32], o: &mut [f32]) {
    let inputs = w.len() / b.len();
    for (x, o) in x.chunks_exact(inputs).zip(o.chunks_exact_mut(b.len())) {
        for ((o, w), &b) in o.iter_mut().zip(w.chunks_exact(inputs)).zip(b) {
            *o = b + dot(x, w);
        }
    }
}

/// What [`backward_rows`] reads: the gradient at the output `[B, out]`, the input `[B, in]`
/// and the weights `[out, in]`.
struct Rows<'a> {
    dz: &'a [f32],
    x: &'a [f32],
    w: &'a [f32],
}

/// [`Linear::backward_into`] on host memory: `dw = dzᵀ x`, `db = Σ dz`, `dx (+)= dz W`.
#[multiversion(targets = "simd")]
fn backward_rows<'a>(r: Rows<'a>, [dw, db, dx]: [&mut [f32]; 3], accumulate: bool) {
    let (outputs, inputs) = (db.len(), dw.len() / db.len());
    dw.fill(0.0);
    db.fill(0.0);
    if !accumulate {
        dx.fill(0.0);
    }
    let rows =
        (r.dz.chunks_exact(outputs).zip(r.x.chunks_exact(inputs))).zip(dx.chunks_exact_mut(inputs));
    for ((dz, x), dx) in rows {
        for (o, &d) in dz.iter().enumerate() {
            db[o] += d;
            axpy(&mut dw[o * inputs..(o + 1) * inputs], d, x);
            axpy(dx, d, &r.w[o * inputs..(o + 1) * inputs]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn host_loops_match_the_tensor_operations() {
        tch::manual_seed(6);
        let f = (Kind::Float, Device::Cpu);
        let vs = nn::VarStore::new(Device::Cpu);
        let layer = tch::no_grad(|| {
            let layer = Linear::new(&vs.root(), 13, 3, 1.0);
            let _ = layer.bias.shallow_clone().normal_(0.0, 1.0);
            layer
        });
        let x = Tensor::randn([21, 13], f);
        let diff = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        let out = tch::no_grad(|| layer.forward(&x));
        let reference = tch::no_grad(|| x.linear(&layer.weight, Some(&layer.bias)));
        assert!(diff(&out, &reference) < 1e-5);
        let dz = Tensor::randn([21, 3], f);
        for accumulate in [false, true] {
            let start = Tensor::randn([21, 13], f);
            let fresh = || {
                [
                    Tensor::zeros([3, 13], f),
                    Tensor::zeros([3], f),
                    start.copy(),
                ]
            };
            let (host, ops) = (fresh(), fresh());
            tch::no_grad(|| {
                layer.backward_into(&dz, &x, host.each_ref(), accumulate);
                // A non-contiguous gradient takes the tensor operations.
                layer.backward_into(&crate::host::strided(&dz), &x, ops.each_ref(), accumulate);
            });
            for (a, b) in host.iter().zip(&ops) {
                assert!(diff(a, b) < 1e-5, "accumulate {accumulate}");
            }
            let dx =
                dz.mm(&layer.weight.detach()) + if accumulate { start } else { x.zeros_like() };
            assert!(diff(&host[1], &dz.sum_dim_intlist(0, false, Kind::Float)) < 1e-5);
            assert!(diff(&host[2], &dx) < 1e-5);
            let dw = dz.tr().mm(&x);
            assert!(diff(&host[0], &dw) < 1e-5);
        }
        let (weight, bias) = (Tensor::zeros([3, 13], f), Tensor::zeros([3], f));
        let transposed = Tensor::zeros([13, 3], f);
        assert!(weight_grads_on_host(&dz, &x, [&weight, &bias], &transposed));
        assert!(diff(&weight, &dz.tr().mm(&x)) < 1e-5);
        assert!(diff(&bias, &dz.sum_dim_intlist(0, false, Kind::Float)) < 1e-5);
        let strided = crate::host::strided(&dz);
        assert!(!weight_grads_on_host(
            &strided,
            &x,
            [&weight, &bias],
            &transposed
        ));
    }
}
