//! Host-memory access to small CPU tensors, for the learner's elementwise steps written as
//! plain loops.
//!
//! On the small batches of a learner step (a few hundred rows, a few thousand parameters) a
//! libtorch operation costs microseconds of dispatch and allocation for nanoseconds of
//! arithmetic. The PPO gradients, the categorical distribution's backward pass, gradient
//! clipping and Adam therefore run as loops over the tensors' memory when every tensor
//! involved is a contiguous CPU tensor of the expected kind; elsewhere (CUDA) they stay
//! tensor operations. Both forms compute the same formulas and are tested against each other.

use tch::kind::Element;
use tch::{Device, Kind, Tensor};

/// Whether every tensor lives in host memory as a contiguous tensor of `kind`.
pub(crate) fn all_on_host(kind: Kind, tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| t.device() == Device::Cpu && t.kind() == kind && t.is_contiguous())
}

/// The elements of `t`, a contiguous CPU tensor of `T`'s kind (as [`all_on_host`] checks).
///
/// # Safety
/// Nothing may write to `t`'s elements (through any tensor sharing its storage) while the
/// slice lives.
unsafe fn slice<T: Element>(t: &Tensor) -> &[T] {
    debug_assert!(all_on_host(T::KIND, &[t]));
    match t.numel() {
        0 => &[],
        n => std::slice::from_raw_parts(t.data_ptr() as *const T, n),
    }
}

/// The elements of `t`, a contiguous CPU tensor of `T`'s kind, writable.
///
/// # Safety
/// No other slice or tensor operation may read or write `t`'s elements while this slice lives.
#[allow(clippy::mut_from_ref)]
unsafe fn slice_mut<T: Element>(t: &Tensor) -> &mut [T] {
    debug_assert!(all_on_host(T::KIND, &[t]));
    match t.numel() {
        0 => &mut [],
        n => std::slice::from_raw_parts_mut(t.data_ptr() as *mut T, n),
    }
}

/// [`slice`] of an `f32` tensor.
///
/// # Safety
/// As [`slice`].
pub(crate) unsafe fn f32s(t: &Tensor) -> &[f32] {
    slice(t)
}

/// [`slice`] of an `i64` tensor.
///
/// # Safety
/// As [`slice`].
pub(crate) unsafe fn i64s(t: &Tensor) -> &[i64] {
    slice(t)
}

/// [`slice_mut`] of an `f32` tensor.
///
/// # Safety
/// As [`slice_mut`].
#[allow(clippy::mut_from_ref)]
pub(crate) unsafe fn f32s_mut(t: &Tensor) -> &mut [f32] {
    slice_mut(t)
}

/// [`slice_mut`] of an `i64` tensor.
///
/// # Safety
/// As [`slice_mut`].
#[allow(clippy::mut_from_ref)]
pub(crate) unsafe fn i64s_mut(t: &Tensor) -> &mut [i64] {
    slice_mut(t)
}

/// A fresh CPU `f32` tensor of `shape`, its elements left for the caller to write.
pub(crate) fn empty_f32(shape: &[i64]) -> Tensor {
    Tensor::empty(shape, (Kind::Float, Device::Cpu))
}

/// A copy of `t` that is not contiguous (every other element of a larger buffer), for tests
/// that run the tensor-operation form of a step against its host form.
/// `Σ a_i b_i`, summed in eight lanes so that the compiler can vectorise it (inlined into
/// the callers' multiversioned loops).
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = (a8.remainder().iter().zip(b8.remainder()))
        .map(|(x, y)| x * y)
        .sum();
    for (a, b) in a8.zip(b8) {
        for k in 0..8 {
            lanes[k] += a[k] * b[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `y += a x`.
#[inline(always)]
pub(crate) fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    y.iter_mut().zip(x).for_each(|(y, &x)| *y += a * x);
}

#[cfg(test)]
pub(crate) fn strided(t: &Tensor) -> Tensor {
    let copy = Tensor::stack(&[t.detach(), t.detach()], -1).select(-1, 0);
    assert!(!copy.is_contiguous());
    copy
}

/// Whether libtorch records operations for autograd on this thread.
pub(crate) fn grad_enabled() -> bool {
    // SAFETY: at_grad_set_enabled only swaps libtorch's thread-local grad-mode flag; it is
    // set back to what it was at once.
    unsafe {
        let previous = torch_sys::at_grad_set_enabled(1);
        torch_sys::at_grad_set_enabled(previous);
        previous != 0
    }
}
