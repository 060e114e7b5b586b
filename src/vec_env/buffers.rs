//! The vector env's buffers, shared by the learner thread and the worker threads without
//! locks: each worker writes only its shard's rows, and only while its step is in flight;
//! the learner reads and writes only while no step is in flight. The hand-off in
//! [`worker`](super::worker) (a release store of the step request or its completion, read
//! with acquire) orders every access of one side before every access of the other.

use std::ops::Range;
use std::ptr::NonNull;

/// A fixed-length heap array that several threads access through raw pointers, each under
/// the discipline described in the module documentation. It is never reallocated, so the
/// pointer stays valid for its whole life.
pub(super) struct RawBuf<T> {
    ptr: NonNull<T>,
    len: usize,
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
        Self { ptr, len }
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
}

impl Buffers {
    pub fn new(rows: usize, obs_len: usize, act_len: usize) -> Self {
        Self {
            obs: RawBuf::new(obs_len),
            final_obs: RawBuf::new(obs_len),
            actions: RawBuf::new(act_len),
            rewards: RawBuf::new(rows),
            terminated: RawBuf::new(rows),
            truncated: RawBuf::new(rows),
            episode_return: RawBuf::new(rows),
            episode_length: RawBuf::new(rows),
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
    #[should_panic]
    fn out_of_bounds_is_refused() {
        let b = RawBuf::<f32>::new(2);
        // SAFETY: single thread; the call panics before making a slice.
        unsafe {
            b.slice(1..3);
        }
    }
}
