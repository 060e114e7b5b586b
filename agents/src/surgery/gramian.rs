//! The Gramian `G Gᵀ` of the task gradients, the `[T, T]` matrix of pairwise inner products
//! through which most aggregators can work without ever forming a `[P, P]` matrix.

use tch::{Kind, Tensor};

/// `grads · gradsᵀ` (`[T, P]` → `[T, T]`), copied to the CPU in `f64`, row-major.
pub fn gramian(grads: &Tensor) -> Vec<f64> {
    let g = grads
        .matmul(&grads.tr())
        .to_kind(Kind::Double)
        .to_device(tch::Device::Cpu);
    Vec::<f64>::try_from(g.reshape([-1])).expect("a [T, T] double tensor converts to Vec<f64>")
}

/// `Σ_t weights_t · grads_t` (`[T]`, `[T, P]` → `[P]`), on the device and of the kind of `grads`.
pub fn combine(weights: &[f64], grads: &Tensor) -> Tensor {
    let w = Tensor::from_slice(weights)
        .to_kind(grads.kind())
        .to_device(grads.device());
    w.unsqueeze(0).matmul(grads).squeeze_dim(0)
}

/// Machine epsilon of the floating-point kind of `grads` (the precision of its Gramian).
pub fn epsilon(grads: &Tensor) -> f64 {
    match grads.kind() {
        Kind::Double => f64::EPSILON,
        Kind::Half => 9.765_625e-4,
        Kind::BFloat16 => 7.812_5e-3,
        _ => f32::EPSILON as f64,
    }
}

/// A row-major `[T, T]` matrix as a CPU `f64` tensor, for the small dense linear algebra
/// (pseudo-inverse, eigendecomposition) some methods need.
pub(crate) fn square(values: &[f64], tasks: usize) -> Tensor {
    Tensor::from_slice(values).reshape([tasks as i64, tasks as i64])
}

/// A CPU `f64` tensor as a `Vec<f64>`.
pub(crate) fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.reshape([-1])).expect("a double tensor converts to Vec<f64>")
}
