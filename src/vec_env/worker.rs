//! Worker threads and the hand-off between them and the learner thread.
//!
//! Each worker owns one [`Shard`] for its whole life. A step request is one message per
//! worker per vector step: the learner stores a new epoch number into the worker's `go`
//! word (release) and the worker, after stepping its whole shard, stores the same number
//! into its `done` word (release). Both sides wait by spinning for a short, configurable
//! time (a vector step of light environments takes microseconds, less than waking a parked
//! thread costs), then yield their core while they keep checking (so that on an
//! oversubscribed machine the awaited thread can run), and then park (crossbeam's
//! [`Parker`]); each store is followed by an
//! `unpark` of the other side, whose token makes a lost wake-up impossible. The two words
//! live on separate cache lines so that the spinning reader does not disturb the writer.
//!
//! A panic in an environment is caught in the worker ([`Shard::step`]) and reported as a
//! failure of its step; a worker thread that ends without reporting is noticed by the
//! learner's periodic check of [`JoinHandle::is_finished`], so a step never hangs on a dead
//! worker. Dropping a [`Worker`] asks it to stop and joins it.

use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_utils::sync::{Parker, Unparker};
use crossbeam_utils::CachePadded;

use super::buffers::Buffers;
use super::shard::{Failure, Shard};

/// The `go` value that asks a worker to exit.
const STOP: u64 = u64::MAX;

/// How often a parked learner looks for a worker that ended without reporting.
const LIVENESS_CHECK: Duration = Duration::from_millis(20);

/// What the learner and one worker share.
struct Link {
    /// The epoch of the latest step request, or [`STOP`]. Written by the learner.
    go: CachePadded<AtomicU64>,
    /// The epoch of the latest finished step. Written by the worker.
    done: CachePadded<AtomicU64>,
    /// Set (before `done`) when the step failed; the failure is in `failure`.
    failed: AtomicBool,
    failure: Mutex<Option<Failure>>,
    /// Wakes the worker.
    worker: Unparker,
}

/// The learner's handle on one worker thread.
pub(super) struct Worker {
    link: Arc<Link>,
    handle: Option<JoinHandle<()>>,
    /// The rows of the worker's shard.
    pub rows: Range<usize>,
}

impl Worker {
    /// Starts worker `index`, which steps `shard` whenever asked and then wakes `learner`.
    pub fn spawn(
        index: usize,
        mut shard: Shard,
        bufs: Arc<Buffers>,
        learner: Unparker,
        spin: Duration,
    ) -> io::Result<Self> {
        let parker = Parker::new();
        let link = Arc::new(Link {
            go: CachePadded::new(AtomicU64::new(0)),
            done: CachePadded::new(AtomicU64::new(0)),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            worker: parker.unparker().clone(),
        });
        let rows = shard.rows.clone();
        let theirs = Arc::clone(&link);
        let handle = thread::Builder::new()
            .name(format!("polytask-env-{index}"))
            .spawn(move || {
                let link = theirs;
                let mut seen = 0;
                loop {
                    wait(|| link.go.load(Ordering::Acquire) != seen, &parker, spin, || false);
                    let epoch = link.go.load(Ordering::Acquire);
                    if epoch == STOP {
                        return;
                    }
                    seen = epoch;
                    // SAFETY: the learner touches none of this shard's rows between its
                    // request of `epoch` (acquired above) and our `done` store below.
                    if let Err(failure) = unsafe { shard.step(&bufs) } {
                        *link.failure.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(failure);
                        link.failed.store(true, Ordering::Relaxed);
                    }
                    link.done.store(epoch, Ordering::Release);
                    learner.unpark();
                }
            })?;
        Ok(Self {
            link,
            handle: Some(handle),
            rows,
        })
    }

    /// Asks the worker to step its shard as step `epoch` (greater than every earlier one).
    pub fn request(&self, epoch: u64) {
        self.link.go.store(epoch, Ordering::Release);
        self.link.worker.unpark();
    }

    /// Waits until the worker has finished step `epoch`, spinning for `spin` and then
    /// parking on `learner`. Returns the step's failure, if any, or `Err(())` if the worker
    /// thread ended without finishing it.
    pub fn finish(
        &self,
        epoch: u64,
        learner: &Parker,
        spin: Duration,
    ) -> Result<Option<Failure>, ()> {
        let link = &self.link;
        let finished = || self.handle.as_ref().is_none_or(JoinHandle::is_finished);
        let done = wait(
            || link.done.load(Ordering::Acquire) == epoch,
            learner,
            spin,
            finished,
        );
        if !done {
            return Err(());
        }
        if link.failed.swap(false, Ordering::Relaxed) {
            Ok(link
                .failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take())
        } else {
            Ok(None)
        }
    }
}

impl Drop for Worker {
    /// Asks the worker to stop and joins it. A worker is never dropped while its step is in
    /// flight (the vector env waits for every step it starts), so this returns as soon as
    /// the worker wakes up.
    fn drop(&mut self) {
        self.link.go.store(STOP, Ordering::Release);
        self.link.worker.unpark();
        if let Some(handle) = self.handle.take() {
            // A panic outside an environment was already reported as a lost worker.
            let _ = handle.join();
        }
    }
}

/// Spin-loop iterations before a waiter starts to yield its core: about a microsecond,
/// less than a vector step of light environments.
const PURE_SPINS: u32 = 256;

/// Waits until `ready()`: spins briefly, then keeps checking while yielding the core (so
/// that on a machine with more runnable threads than cores the thread it waits for can
/// run) until `spin` has passed, then parks on `parker`. A parked waiter wakes on its
/// unparker or every [`LIVENESS_CHECK`], when it gives up if `give_up()`. Returns whether
/// `ready()` holds.
fn wait(
    ready: impl Fn() -> bool,
    parker: &Parker,
    spin: Duration,
    mut give_up: impl FnMut() -> bool,
) -> bool {
    for _ in 0..PURE_SPINS {
        if ready() {
            return true;
        }
        std::hint::spin_loop();
    }
    let start = Instant::now();
    while start.elapsed() < spin {
        thread::yield_now();
        if ready() {
            return true;
        }
    }
    loop {
        parker.park_timeout(LIVENESS_CHECK);
        if ready() {
            return true;
        }
        if give_up() {
            // The thread may have finished the step just before ending.
            return ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_returns_at_once_when_ready_and_gives_up_when_told() {
        let parker = Parker::new();
        assert!(wait(|| true, &parker, Duration::ZERO, || false));
        let start = Instant::now();
        assert!(!wait(|| false, &parker, Duration::from_micros(10), || true));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn an_unpark_from_another_thread_ends_a_parked_wait() {
        let parker = Parker::new();
        let unparker = parker.unparker().clone();
        let flag = Arc::new(AtomicBool::new(false));
        let theirs = Arc::clone(&flag);
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            theirs.store(true, Ordering::Release);
            unparker.unpark();
        });
        assert!(wait(
            || flag.load(Ordering::Acquire),
            &parker,
            Duration::ZERO,
            || false
        ));
        t.join().unwrap();
    }
}
