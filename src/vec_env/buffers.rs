//! The vector env's buffers, shared by the learner thread and the worker threads without
//! locks: each worker writes only its shard's rows, and only while its step is in flight;
//! the learner reads and writes only while no step is in flight. The hand-off in
//! [`worker`](super::worker) (a release store of the step request or its completion, read
//! with acquire) orders every access of one side before every access of the other.
//!
//! When the vector env has worker processes, the buffers live in one shared mapping
//! ([`super::shm`]) instead of the heap, laid out by [`Dims`] identically in the parent and
//! in each child, under the same discipline: a child touches only its shard's rows, only
//! between the parent's step request and its answer (pipe messages, whose system calls
//! order the memory accesses of the two processes).

use std::ops::Range;
use std::ptr::NonNull;

use serde::{Deserialize, Serialize};

use super::shm::Mapping;

/// A fixed-length array, on the heap or in a shared mapping, that several threads access
/// through raw pointers, each under the discipline described in the module documentation.
/// It is never reallocated, so the pointer stays valid for its whole life.
pub(super) struct RawBuf<T> {
    ptr: NonNull<T>,
    len: usize,
    /// Whether the array is a heap allocation of this RawBuf (else it lies in a mapping
    /// that outlives it).
    owned: bool,
}

// SAFETY: a RawBuf is a Box<[T]> whose accesses are synchronised by its users (see the
// module documentation); sending or sharing it is sound for T: Send.
unsafe impl<T: Send> Send for RawBuf<T> {}
// SAFETY: as above; every access goes through the unsafe methods whose contract excludes
// data races.
unsafe impl<T: Send> Sync for RawBuf<T> {}

impl<T: Copy + Default> RawBuf<T> {
    fn new(len: usize) -> Self {
        let boxed: Box<[T]> = vec![T::default(); len].into_boxed_slice();
        let ptr = NonNull::new(Box::into_raw(boxed) as *mut T).expect("Box is never null");
        Self {
            ptr,
            len,
            owned: true,
        }
    }

    /// `len` elements at byte offset `offset` of `mapping`.
    ///
    /// # Safety
    /// The range lies inside the mapping, is aligned for `T`, holds valid `T`s (zero bytes
    /// are, for the buffers' types) and overlaps no other RawBuf's; the mapping outlives the
    /// RawBuf.
    unsafe fn in_mapping(mapping: &Mapping, offset: usize, len: usize) -> Self {
        assert!(offset + len * size_of::<T>() <= mapping.len());
        assert_eq!(offset % align_of::<T>(), 0);
        // SAFETY: inside the mapping (checked above), which is non-null.
        let ptr = unsafe { mapping.as_ptr().add(offset) } as *mut T;
        Self {
            ptr: NonNull::new(ptr).expect("a mapping is never at address 0"),
            len,
            owned: false,
        }
    }
}

impl<T> RawBuf<T> {
    /// The elements in `range`, shared.
    ///
    /// # Safety
    /// No thread may write any element of `range` while the returned slice lives.
    pub unsafe fn slice(&self, range: Range<usize>) -> &[T] {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds (checked above) of a live allocation; no concurrent writer by
        // the caller's contract.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(range.start), range.len()) }
    }

    /// The elements in `range`, exclusively.
    ///
    /// # Safety
    /// No other reference to any element of `range` may exist, in any thread, while the
    /// returned slice lives.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut(&self, range: Range<usize>) -> &mut [T] {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds (checked above) of a live allocation; exclusive by the caller's
        // contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(range.start), range.len()) }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl<T> Drop for RawBuf<T> {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // SAFETY: ptr and len come from Box::into_raw of a Box<[T]> in `new`, and a RawBuf
        // is dropped once, when no slice of it is alive (slices borrow it).
        drop(unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            ))
        });
    }
}

/// Every buffer of a vector env. Observation-shaped buffers are indexed by the layout's
/// observation offsets, action-shaped by its action offsets, the rest by row.
pub(super) struct Buffers {
    /// Observations after the latest step (the next episode's first one where an episode
    /// ended), in the layout's observation order.
    pub obs: RawBuf<f32>,
    /// The last observation of each episode that ended on the latest step (stale in rows
    /// whose episode did not end).
    pub final_obs: RawBuf<f32>,
    /// The actions of the next step, in the layout's action order.
    pub actions: RawBuf<f32>,
    /// Rewards of the latest step.
    pub rewards: RawBuf<f32>,
    /// Whether the latest step terminated the row's episode.
    pub terminated: RawBuf<bool>,
    /// Whether the latest step truncated the row's episode.
    pub truncated: RawBuf<bool>,
    /// The return of the episode that ended on the latest step (stale elsewhere).
    pub episode_return: RawBuf<f64>,
    /// The length of the episode that ended on the latest step (stale elsewhere).
    pub episode_length: RawBuf<u64>,
    /// The per-step metrics' maxima over the episode that ended on the latest step (stale
    /// elsewhere), row after row, each row as wide as its task's metrics.
    pub episode_metrics: RawBuf<f32>,
    /// The shared mapping that holds the arrays, if they are not on the heap; declared last
    /// so that it is unmapped after the arrays are dropped.
    _mapping: Option<Mapping>,
}

/// The sizes that determine the buffers' layout: the same in the parent and in every worker
/// process, which both compute the arrays' places in the shared mapping from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Dims {
    pub rows: usize,
    pub obs_len: usize,
    pub act_len: usize,
    pub metrics_len: usize,
}

/// Byte offsets of the arrays in a shared mapping, each on a cache line of its own.
struct Offsets {
    at: [usize; 9],
    len: usize,
}

impl Dims {
    /// The arrays' byte offsets and the mapping's length, in [`Buffers`]' field order.
    fn offsets(&self) -> Offsets {
        let sizes = [
            self.obs_len * 4,
            self.obs_len * 4,
            self.act_len * 4,
            self.rows * 4,
            self.rows,
            self.rows,
            self.rows * 8,
            self.rows * 8,
            self.metrics_len * 4,
        ];
        let mut at = [0; 9];
        let mut next = 0;
        for (offset, size) in at.iter_mut().zip(sizes) {
            *offset = next;
            next = (next + size).next_multiple_of(CACHE_LINE);
        }
        Offsets {
            at,
            len: next.max(CACHE_LINE),
        }
    }

    /// The length in bytes of a mapping that holds buffers of these sizes.
    pub fn mapping_len(&self) -> usize {
        self.offsets().len
    }
}

/// Alignment of each array in a shared mapping.
const CACHE_LINE: usize = 128;

impl Buffers {
    /// Buffers on the heap.
    pub fn new(dims: Dims) -> Self {
        Self {
            obs: RawBuf::new(dims.obs_len),
            final_obs: RawBuf::new(dims.obs_len),
            actions: RawBuf::new(dims.act_len),
            rewards: RawBuf::new(dims.rows),
            terminated: RawBuf::new(dims.rows),
            truncated: RawBuf::new(dims.rows),
            episode_return: RawBuf::new(dims.rows),
            episode_length: RawBuf::new(dims.rows),
            episode_metrics: RawBuf::new(dims.metrics_len),
            _mapping: None,
        }
    }

    /// Buffers in `mapping`, laid out by `dims`; the mapping's length must be at least
    /// [`Dims::mapping_len`] (it is refused otherwise). A fresh mapping is all zero bytes,
    /// which are valid values of every array (0.0, `false`, 0).
    pub fn in_mapping(mapping: Mapping, dims: Dims) -> Self {
        let Offsets { at, len } = dims.offsets();
        assert!(
            mapping.len() >= len,
            "the mapping is too short for the buffers"
        );
        // SAFETY: the offsets are disjoint ranges inside the mapping (checked above), each
        // aligned to a cache line; the mapping's bytes are valid values (documented
        // precondition of the mapping's users: only these arrays write them); the mapping
        // is stored in the Buffers and dropped after the arrays.
        unsafe {
            Self {
                obs: RawBuf::in_mapping(&mapping, at[0], dims.obs_len),
                final_obs: RawBuf::in_mapping(&mapping, at[1], dims.obs_len),
                actions: RawBuf::in_mapping(&mapping, at[2], dims.act_len),
                rewards: RawBuf::in_mapping(&mapping, at[3], dims.rows),
                terminated: RawBuf::in_mapping(&mapping, at[4], dims.rows),
                truncated: RawBuf::in_mapping(&mapping, at[5], dims.rows),
                episode_return: RawBuf::in_mapping(&mapping, at[6], dims.rows),
                episode_length: RawBuf::in_mapping(&mapping, at[7], dims.rows),
                episode_metrics: RawBuf::in_mapping(&mapping, at[8], dims.metrics_len),
                _mapping: Some(mapping),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_view_the_same_storage() {
        let b = RawBuf::<f32>::new(6);
        // SAFETY: single thread, and each slice dies before the next is made.
        unsafe {
            b.slice_mut(2..4).copy_from_slice(&[1.0, 2.0]);
            assert_eq!(b.slice(0..6), [0.0, 0.0, 1.0, 2.0, 0.0, 0.0]);
        }
        assert_eq!(b.len(), 6);
    }

    #[test]
    fn shared_buffers_are_disjoint_and_aligned() {
        let dims = Dims {
            rows: 3,
            obs_len: 7,
            act_len: 3,
            metrics_len: 2,
        };
        let Offsets { at, len } = dims.offsets();
        assert!(at.windows(2).all(|w| w[0] < w[1] && w[1] % CACHE_LINE == 0));
        assert_eq!(len, dims.mapping_len());
        let bufs = Buffers::in_mapping(Mapping::create(len).unwrap(), dims);
        // SAFETY: single thread, and each slice dies before the next is made.
        unsafe {
            bufs.obs.slice_mut(0..7).fill(1.5);
            bufs.episode_metrics.slice_mut(0..2).fill(2.5);
            assert_eq!(bufs.final_obs.slice(0..7), [0.0; 7]);
            assert_eq!(bufs.obs.slice(6..7), [1.5]);
            assert_eq!(bufs.terminated.slice(0..3), [false; 3]);
            assert_eq!(bufs.episode_metrics.slice(0..2), [2.5; 2]);
        }
    }

    #[test]
    #[should_panic]
    fn out_of_bounds_is_refused() {
        let b = RawBuf::<f32>::new(2);
        // SAFETY: single thread; the call panics before making a slice.
        unsafe {
            b.slice(1..3);
        }
    }
}
