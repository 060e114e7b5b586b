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
