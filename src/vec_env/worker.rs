//! Worker threads and the hand-off between them and the learner thread.
//!
//! Each worker owns one [`Shard`] for its whole life. A step request is one message per
//! worker per vector step: the learner stores a new epoch number into the worker's `go`
//! word and the worker, after stepping its whole shard, stores the same number into its
//! `done` word (release stores, acquire loads). Both sides wait by spinning briefly (a
//! vector step of light environments takes microseconds, less than waking a parked thread
//! costs), then yield their core while they keep checking (so that on an oversubscribed
//! machine the awaited thread can run) until a configurable time has passed, and then park
//! (crossbeam's [`Parker`]). A [`Bell`] wakes a parked thread: the waiter raises its flag
//! before it parks and the notifier unparks only if it sees the flag, with a sequentially
//! consistent fence on each side between the store and the load (so that one of the two
//! always sees the other). In a step where nobody parks, no thread writes a cache line that
//! the other one reads, except `go`, `done` and the buffers themselves; each of those words
//! has a cache line of its own.
//!
//! A panic in an environment is caught in the worker ([`Shard::step`]) and reported as a
//! failure of its step; a worker thread that ends without reporting is noticed by the
//! learner's periodic check of [`JoinHandle::is_finished`], so a step never hangs on a dead
//! worker. Dropping a [`Worker`] asks it to stop and joins it.

use std::io;
use std::ops::Range;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
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

/// Spin-loop iterations before a waiter starts to yield its core: a few microseconds.
const PURE_SPINS: u32 = 256;

/// Wakes the thread that waits on a [`Parker`] in [`wait`], if it parked.
pub(super) struct Bell {
    /// Raised by the waiter before it parks, lowered when it wakes.
    parked: CachePadded<AtomicBool>,
    unparker: Unparker,
}

impl Bell {
    /// A bell for the thread that parks on `parker`.
    pub fn new(parker: &Parker) -> Self {
        Self {
            parked: CachePadded::new(AtomicBool::new(false)),
            unparker: parker.unparker().clone(),
        }
    }

    /// Wakes the waiter if it parked; call after the store that it waits for.
    fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) {
            self.unparker.unpark();
        }
    }
}

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
    worker: Bell,
}

/// The learner's handle on one worker thread.
pub(super) struct Worker {
    link: Arc<Link>,
    /// The worker's shard: locked by the worker for each step (uncontended), and by the
    /// learner between steps to save or restore the shard's state.
    pub shard: Arc<Mutex<Shard>>,
    handle: Option<JoinHandle<()>>,
    /// The rows of the worker's shard.
    pub rows: Range<usize>,
}

impl Worker {
    /// Starts worker `index`, which steps `shard` whenever asked and then rings `learner`.
    pub fn spawn(
        index: usize,
        shard: Shard,
        bufs: Arc<Buffers>,
        learner: Arc<Bell>,
        spin: Duration,
    ) -> io::Result<Self> {
        let parker = Parker::new();
        let link = Arc::new(Link {
            go: CachePadded::new(AtomicU64::new(0)),
            done: CachePadded::new(AtomicU64::new(0)),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            worker: Bell::new(&parker),
        });
        let rows = shard.rows.clone();
        let shard = Arc::new(Mutex::new(shard));
        let (theirs, their_shard) = (Arc::clone(&link), Arc::clone(&shard));
        let handle = thread::Builder::new()
            .name(format!("polytask-env-{index}"))
            .spawn(move || {
                let link = theirs;
                let lock = || their_shard.lock().unwrap_or_else(PoisonError::into_inner);
                lock().relocate();
                let mut seen = 0;
                loop {
                    let next = || link.go.load(Ordering::Acquire) != seen;
                    wait(next, &parker, &link.worker, spin, || false);
                    let epoch = link.go.load(Ordering::Acquire);
                    if epoch == STOP {
                        return;
                    }
                    seen = epoch;
                    // SAFETY: the learner touches none of this shard's rows between its
                    // request of `epoch` (acquired above) and our `done` store below.
                    let result = unsafe { lock().step(&bufs) };
                    if let Err(failure) = result {
                        *link.failure.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(failure);
                        link.failed.store(true, Ordering::Relaxed);
                    }
                    link.done.store(epoch, Ordering::Release);
                    learner.ring();
                }
            })?;
        Ok(Self {
            link,
            shard,
            handle: Some(handle),
            rows,
        })
    }

    /// Asks the worker to step its shard as step `epoch` (greater than every earlier one).
    pub fn request(&self, epoch: u64) {
        self.link.go.store(epoch, Ordering::Release);
        self.link.worker.ring();
    }

    /// Waits until the worker has finished step `epoch`, spinning for `spin` and then
    /// parking on `parker` (rung by `bell`). Returns the step's failure, if any, or
    /// `Err(())` if the worker thread ended without finishing it.
    pub fn finish(
        &self,
        epoch: u64,
        parker: &Parker,
        bell: &Bell,
        spin: Duration,
    ) -> Result<Option<Failure>, ()> {
        let link = &self.link;
        let finished = || self.handle.as_ref().is_none_or(JoinHandle::is_finished);
        let done = || link.done.load(Ordering::Acquire) == epoch;
        if !wait(done, parker, bell, spin, finished) {
            return Err(());
        }
        if link.failed.load(Ordering::Relaxed) {
            link.failed.store(false, Ordering::Relaxed);
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
        self.link.worker.ring();
        if let Some(handle) = self.handle.take() {
            // A panic outside an environment was already reported as a lost worker.
            let _ = handle.join();
        }
    }
}

/// Waits until `ready()`: spins briefly, then keeps checking while yielding the core until
/// `spin` has passed, then parks on `parker`, raising `bell`'s flag so that the notifier
/// unparks it. A parked waiter also wakes every [`LIVENESS_CHECK`], and gives up if
/// `give_up()`. Returns whether `ready()` holds.
fn wait(
    ready: impl Fn() -> bool,
    parker: &Parker,
    bell: &Bell,
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
        bell.parked.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if ready() {
            bell.parked.store(false, Ordering::Relaxed);
            return true;
        }
        parker.park_timeout(LIVENESS_CHECK);
        bell.parked.store(false, Ordering::Relaxed);
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
        let bell = Bell::new(&parker);
        assert!(wait(|| true, &parker, &bell, Duration::ZERO, || false));
        let start = Instant::now();
        assert!(!wait(
            || false,
            &parker,
            &bell,
            Duration::from_micros(10),
            || true
        ));
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(!bell.parked.load(Ordering::Relaxed));
    }

    #[test]
    fn a_ring_from_another_thread_ends_a_parked_wait() {
        for _ in 0..200 {
            let parker = Parker::new();
            let bell = Arc::new(Bell::new(&parker));
            let flag = Arc::new(AtomicBool::new(false));
            let (theirs, their_bell) = (Arc::clone(&flag), Arc::clone(&bell));
            let t = thread::spawn(move || {
                thread::sleep(Duration::from_micros(50));
                theirs.store(true, Ordering::Release);
                their_bell.ring();
            });
            // No spinning: the waiter parks at once, and must be woken by the ring well
            // before the liveness check would wake it.
            let start = Instant::now();
            assert!(wait(
                || flag.load(Ordering::Acquire),
                &parker,
                &bell,
                Duration::ZERO,
                || false
            ));
            t.join().unwrap();
            assert!(start.elapsed() < Duration::from_secs(1));
        }
    }
}
