//! Host-memory access to small CPU tensors, for the learner's elementwise steps written as
//! plain loops.
//!
//! On the small batches of a learner step (a few hundred rows, a few thousand parameters) a
//! libtorch operation costs microseconds of dispatch and allocation for nanoseconds of
//! arithmetic. The PPO gradients, the categorical distribution's backward pass, gradient
//! clipping and Adam therefore run as loops over the tensors' memory when every tensor
//! involved is a contiguous CPU tensor of the expected kind; elsewhere (CUDA) they stay
//! tensor operations. Both forms compute the same formulas and are tested against each other.
//!
//! All the `unsafe` of those loops is here: behind [`Lease`], and in [`gemm`], which hands
//! slices that a lease lent to `matrixmultiply`'s `sgemm` after checking that every element
//! it touches lies inside them. [`Lease`] lends a tensor's elements as
//! a slice only after checking what makes the slice valid, and answers `None` for a tensor
//! that fails a check, so that the caller takes the tensor operations instead.
//!
//! # Safety argument
//!
//! `slice::from_raw_parts{,_mut}(ptr, len)` gives a sound `&'a [T]` (`&'a mut [T]`) when
//! (1) `ptr` is non-null and aligned, and points at `len` valid `T`s in one allocation of at
//! most `isize::MAX` bytes; and (2) for all of `'a` that memory stays allocated and is not
//! written (is neither read nor written) other than through the slice.
//!
//! [`Lease::read`] and [`Lease::write`] check (1), in a few operations per tensor:
//! - the device is the CPU, so `data_ptr` is a host address (a CUDA tensor's is a device one);
//! - the kind is `T`'s, and `T` is `f32` or `i64` (the sealed [`Plain`]): the elements are
//!   `T`'s bytes, and every bit pattern is a valid `T`;
//! - the tensor is contiguous, so its elements are the `numel` consecutive `T`s from
//!   `data_ptr` (which includes the storage offset), inside its storage. Sparse and MKL-DNN
//!   tensors have no strides: libtorch refuses `is_contiguous` on them (tch panics) before
//!   any pointer is taken;
//! - the pointer is non-null and aligned for `T`, and `numel · size_of::<T>()` fits in
//!   `isize`, checked as such (a view reinterpreting another kind's bytes may be misaligned).
//!
//! For (2):
//! - every slice borrows the tensor handle it came from, which holds the storage alive, and
//!   the lease that lent it;
//! - a thread holds at most one lease at a time ([`Lease::take`] answers `None` while its
//!   lease lives; a lease is not `Send`), and [`Lease::release`] takes `&mut`, so every
//!   slice alive on a thread was lent by that thread's lease since its last release. The
//!   lease records the address range of each loan and refuses a write whose range meets any
//!   other loan's, and a read whose range meets a write's. Two tensors sharing storage
//!   (views, `shallow_clone`) are caught by their addresses, whatever handles they come
//!   through. So no two live slices of a thread overlap unless both are read-only.
//!
//! What the checks cannot see, and the callers keep to:
//! - libtorch operations. A `&Tensor` lets libtorch write a tensor (in-place and `_out`
//!   operations, or a `shallow_clone` of the handle), and no borrow can stop that. Between a
//!   loan and the last use of its slice, the kernels call no libtorch operation that writes,
//!   reallocates or (for a written tensor) reads a lent tensor's storage, through any handle;
//!   operations that only read metadata or allocate fresh tensors (`size`, `empty_like`) are
//!   fine.
//! - other threads. `Tensor` is `Send` but not `Sync`, so one handle is used by one thread at
//!   a time; but two handles of one storage can live on two threads, whose leases do not see
//!   each other. The learner uses a step's tensors on one thread, and libtorch's own worker
//!   threads run only inside a libtorch operation, which the previous point excludes.
//! - fresh outputs. The elements of `Tensor::empty` are whatever libtorch's allocator left:
//!   always valid `f32`s and `i64`s, but arbitrary. The kernels write a fresh output before
//!   they read it.
//! - autograd. Writing through a slice does not bump the tensor's version counter, so
//!   autograd would not notice the write to a tensor it saved; only tensors outside any graph
//!   are written (fresh outputs, gradient buffers, and parameters and moments under
//!   `no_grad`).

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

use tch::kind::Element;
use tch::{Device, Kind, Tensor};

/// Whether every tensor lives in host memory as a contiguous tensor of `kind`: the first of
/// the checks of a [`Lease`], for a caller that must choose its path before lending.
pub(crate) fn all_on_host(kind: Kind, tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| t.device() == Device::Cpu && t.kind() == kind && t.is_contiguous())
}

/// The element types a [`Lease`] lends: numbers for which every bit pattern is a valid value.
pub(crate) trait Plain: Element + Copy + sealed::Sealed {}

impl Plain for f32 {}
impl Plain for i64 {}

mod sealed {
    /// Keeps [`super::Plain`] to the types listed in this file.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for i64 {}
}

/// The most tensors a lease lends between releases (a kernel here lends at most eight); a
/// loan beyond them is refused, and the caller takes the tensor operations.
const LOANS: usize = 12;

thread_local! {
    /// Whether this thread holds a [`Lease`].
    static LEASED: Cell<bool> = const { Cell::new(false) };
}

/// The bytes `[start, end)` of one loan, and whether they were lent for writing.
#[derive(Debug, Clone, Copy)]
struct Loan {
    start: usize,
    end: usize,
    written: bool,
}

impl Loan {
    /// A placeholder for an unused entry.
    const UNUSED: Self = Self {
        start: 0,
        end: 0,
        written: false,
    };

    /// Whether the two loans cannot coexist: their bytes meet and one of them is written.
    fn conflicts(self, other: Self) -> bool {
        (self.written || other.written) && self.start < other.end && other.start < self.end
    }
}

/// Lends tensors' elements as slices to a host-memory kernel, after checking each tensor and
/// that no written slice overlaps another (see the module's safety argument). A tensor that
/// fails a check is refused with `None` (and not recorded): a kernel lends all its tensors
/// before it writes any, so that on a refusal its caller can take the tensor operations.
///
/// A thread holds one lease at a time; every slice borrows the lease and the tensor.
#[derive(Debug)]
pub(crate) struct Lease {
    /// The loans since the last release, in `loans[..len]`.
    loans: [Cell<Loan>; LOANS],
    len: Cell<usize>,
    /// Not `Send`: the lease stands for its thread's one lease.
    _thread: PhantomData<*const ()>,
}

impl Lease {
    /// This thread's lease, or `None` while another lease of this thread lives.
    pub(crate) fn take() -> Option<Self> {
        if LEASED.replace(true) {
            return None;
        }
        Some(Self {
            loans: [const { Cell::new(Loan::UNUSED) }; LOANS],
            len: Cell::new(0),
            _thread: PhantomData,
        })
    }

    /// The elements of `t` to read, or `None` unless `t` is a contiguous CPU tensor of `T`'s
    /// kind whose bytes no written loan of this lease meets.
    pub(crate) fn read<'a, T: Plain>(&'a self, t: &'a Tensor) -> Option<&'a [T]> {
        let (ptr, len) = self.lend::<T>(t, false)?;
        // SAFETY: `lend` checked (1) of the module's safety argument and recorded the loan so
        // that no slice of this thread writes these bytes while `'a` lasts (2).
        Some(unsafe { std::slice::from_raw_parts(ptr.as_ptr(), len) })
    }

    /// The elements of `t` to write, or `None` unless `t` is a contiguous CPU tensor of `T`'s
    /// kind whose bytes no other loan of this lease meets.
    #[allow(
        clippy::mut_from_ref,
        reason = "exclusive by the lease's record of loans, not by a borrow"
    )]
    pub(crate) fn write<'a, T: Plain>(&'a self, t: &'a Tensor) -> Option<&'a mut [T]> {
        let (ptr, len) = self.lend::<T>(t, true)?;
        // SAFETY: `lend` checked (1) of the module's safety argument and recorded the loan so
        // that no other slice of this thread reads or writes these bytes while `'a` lasts (2).
        Some(unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), len) })
    }

    /// Ends every loan (no slice of this lease lives: this takes `&mut`), so that the same
    /// tensors can be lent again, for the next kernel.
    pub(crate) fn release(&mut self) {
        self.len.set(0);
    }

    /// Checks `t` and records its loan: the address and length of its elements, or `None`.
    fn lend<T: Plain>(&self, t: &Tensor, written: bool) -> Option<(NonNull<T>, usize)> {
        if !all_on_host(T::KIND, &[t]) {
            return None;
        }
        let len = t.numel();
        if len == 0 {
            // No bytes: nothing to overlap, and an empty slice needs only an aligned pointer.
            return Some((NonNull::dangling(), 0));
        }
        let ptr = NonNull::new(t.data_ptr().cast::<T>()).filter(|p| p.is_aligned())?;
        let bytes = (len.checked_mul(size_of::<T>())).filter(|&b| b <= isize::MAX as usize)?;
        let start = ptr.as_ptr().addr();
        let loan = Loan {
            start,
            end: start.checked_add(bytes)?,
            written,
        };
        let count = self.len.get();
        let lent = &self.loans[..count];
        if count == LOANS || lent.iter().any(|l| l.get().conflicts(loan)) {
            return None;
        }
        self.loans[count].set(loan);
        self.len.set(count + 1);
        Some((ptr, len))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // At thread exit the flag may already be gone, and with it the need to clear it.
        let _ = LEASED.try_with(|leased| leased.set(false));
    }
}

/// A fresh CPU `f32` tensor of `shape`, its elements left for the caller to write.
pub(crate) fn empty_f32(shape: &[i64]) -> Tensor {
    Tensor::empty(shape, (Kind::Float, Device::Cpu))
}

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

/// A matrix inside a slice: element `(i, j)` at `i · row_stride + j · col_stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between consecutive rows' elements.
    pub row_stride: usize,
    /// Distance between consecutive columns' elements.
    pub col_stride: usize,
}

impl Matrix {
    /// A `rows × cols` matrix stored row after row.
    pub(crate) fn row_major(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The same elements read as the transposed matrix.
    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// One past the offset of the last element (0 when empty).
    fn span(self) -> usize {
        match self.rows * self.cols {
            0 => 0,
            _ => (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride + 1,
        }
    }

    /// Whether distinct elements sit at distinct offsets (rows apart by at least a row's
    /// reach, or columns apart by at least a column's).
    fn distinct(self) -> bool {
        let (rows, cols) = (self.rows, self.cols);
        let row_reach = (cols.saturating_sub(1)) * self.col_stride;
        let col_reach = (rows.saturating_sub(1)) * self.row_stride;
        (rows <= 1 || self.row_stride > row_reach) && (cols <= 1 || self.col_stride > 0)
            || (cols <= 1 || self.col_stride > col_reach) && (rows <= 1 || self.row_stride > 0)
    }
}

/// `c ← α a b + β c` on host memory (`matrixmultiply`'s `sgemm`, one thread); with `β = 0`
/// `c`'s old elements are not read.
///
/// # Panics
/// When the shapes disagree, a matrix reaches past its slice, or two elements of `c` share
/// an offset: callers build the matrices from the shapes of the tensors they lent.
pub(crate) fn gemm(
    alpha: f32,
    (a, am): (&[f32], Matrix),
    (b, bm): (&[f32], Matrix),
    beta: f32,
    (c, cm): (&mut [f32], Matrix),
) {
    assert!(am.cols == bm.rows && cm.rows == am.rows && cm.cols == bm.cols);
    assert!(am.span() <= a.len() && bm.span() <= b.len() && cm.span() <= c.len());
    assert!(cm.distinct());
    let stride = |s: usize| isize::try_from(s).expect("slice strides fit in isize");
    // SAFETY: the asserts keep every element that sgemm reads or writes inside its slice
    // (each matrix's furthest element is at `span − 1`), and no two elements of `c` alias;
    // `c` is a `&mut` slice, so it overlaps neither `a` nor `b`.
    unsafe {
        matrixmultiply::sgemm(
            am.rows,
            am.cols,
            bm.cols,
            alpha,
            a.as_ptr(),
            stride(am.row_stride),
            stride(am.col_stride),
            b.as_ptr(),
            stride(bm.row_stride),
            stride(bm.col_stride),
            beta,
            c.as_mut_ptr(),
            stride(cm.row_stride),
            stride(cm.col_stride),
        );
    }
}

/// A copy of `t` that is not contiguous (every other element of a larger buffer), for tests
/// that run the tensor-operation form of a step against its host form.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(n: i64) -> Tensor {
        Tensor::arange(n, (Kind::Float, Device::Cpu))
    }

    #[test]
    fn a_contiguous_cpu_tensor_lends_its_elements_in_order() {
        let lease = Lease::take().unwrap();
        let t = floats(6).reshape([2, 3]);
        assert_eq!(
            lease.read::<f32>(&t).unwrap(),
            &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        // A view with a storage offset starts at its own first element.
        let row = t.select(0, 1);
        assert!(row.is_contiguous());
        assert_eq!(lease.read::<f32>(&row).unwrap(), &[3.0, 4.0, 5.0]);
        let actions = Tensor::from_slice(&[7i64, -2, 40]);
        assert_eq!(lease.read::<i64>(&actions).unwrap(), &[7, -2, 40]);
        let empty = floats(0);
        assert!(lease.read::<f32>(&empty).unwrap().is_empty());
        let out = Tensor::zeros([2, 2], (Kind::Float, Device::Cpu));
        lease
            .write::<f32>(&out)
            .unwrap()
            .copy_from_slice(&[1.5, -2.0, 0.25, 8.0]);
        drop(lease);
        assert_eq!(
            Vec::<f32>::try_from(&out.reshape([-1])).unwrap(),
            [1.5, -2.0, 0.25, 8.0]
        );
    }

    #[test]
    fn a_non_contiguous_tensor_or_one_of_another_kind_is_refused() {
        let lease = Lease::take().unwrap();
        let square = floats(9).reshape([3, 3]);
        let transposed = square.tr();
        assert!(!transposed.is_contiguous());
        assert!(lease.read::<f32>(&transposed).is_none());
        assert!(lease.write::<f32>(&transposed).is_none());
        assert!(lease.read::<f32>(&strided(&floats(4))).is_none());
        let doubles = Tensor::from_slice(&[1.0f64, 2.0]);
        assert!(lease.read::<f32>(&doubles).is_none());
        let ints = Tensor::from_slice(&[1i64, 2]);
        assert!(lease.write::<f32>(&ints).is_none());
        assert!(lease.read::<i64>(&floats(2)).is_none());
        let int32 = Tensor::from_slice(&[1i32, 2]);
        assert!(lease.read::<i64>(&int32).is_none());
        // The refusals recorded nothing: the same bytes can still be lent for writing.
        assert_eq!(lease.write::<f32>(&square).unwrap().len(), 9);
    }

    #[test]
    fn a_write_meeting_another_loan_is_refused_while_reads_may_share() {
        let mut lease = Lease::take().unwrap();
        let buffer = floats(8);
        let (low, high) = (buffer.narrow(0, 0, 4), buffer.narrow(0, 4, 4));
        let middle = buffer.narrow(0, 3, 2);
        // Two reads of the same bytes, through different handles, coexist.
        let a = lease.read::<f32>(&low).unwrap();
        let handle = buffer.shallow_clone();
        let b = lease.read::<f32>(&handle).unwrap();
        assert_eq!((a[3], b[3]), (3.0, 3.0));
        // Writing bytes that are being read is refused, one shared element is enough.
        assert!(lease.write::<f32>(&middle).is_none());
        assert!(lease.write::<f32>(&high).is_none());
        lease.release();
        // Adjacent ranges do not meet.
        let written = lease.write::<f32>(&high).unwrap();
        assert_eq!(lease.read::<f32>(&low).unwrap(), &[0.0, 1.0, 2.0, 3.0]);
        // Nothing else may touch written bytes, not even a read or the same tensor again.
        assert!(lease.read::<f32>(&middle).is_none());
        assert!(lease.read::<f32>(&buffer).is_none());
        assert!(lease.write::<f32>(&high.shallow_clone()).is_none());
        written[0] = -1.0;
        lease.release();
        assert_eq!(lease.read::<f32>(&middle).unwrap(), &[3.0, -1.0]);
    }

    #[test]
    fn a_thread_holds_one_lease_at_a_time() {
        let lease = Lease::take().unwrap();
        assert!(Lease::take().is_none());
        let other = std::thread::spawn(|| Lease::take().is_some());
        assert!(other.join().unwrap(), "another thread has its own lease");
        drop(lease);
        assert!(Lease::take().is_some());
    }

    #[test]
    fn a_lease_refuses_loans_beyond_its_capacity_until_released() {
        let mut lease = Lease::take().unwrap();
        let tensors: Vec<Tensor> = (0..=LOANS as i64).map(|n| floats(n + 1)).collect();
        let (last, first) = tensors.split_last().unwrap();
        for t in first {
            assert!(lease.read::<f32>(t).is_some());
        }
        assert!(lease.read::<f32>(last).is_none());
        lease.release();
        assert_eq!(lease.read::<f32>(last).unwrap().len(), LOANS + 1);
    }
}
