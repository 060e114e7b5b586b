//! Where a learner step's time goes: when a [`Profile`] is active on a thread, the learner's
//! stages on that thread add their wall-clock time to its [`Part`]s (products, activations,
//! losses, optimizer); the caller's total minus their sum is "other" (batch gathering, heads'
//! bookkeeping, the aggregation's glue). Inactive, a timed stage costs one thread-local read.
//!
//! libtorch's CPU operations are synchronous, so a stage's wall-clock time is its cost; on
//! CUDA the split would measure launches, not work, and is not reported.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// A part of the learner step's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Matrix products of every layer, forward and backward.
    Products,
    /// tanh and its backward pass.
    Activations,
    /// The loss gradients: distributions, PPO/A2C terms, auxiliary losses.
    Losses,
    /// Weighting, aggregation, clipping and Adam.
    Optimizer,
}

impl Part {
    /// Every part, in report order.
    pub const ALL: [Part; 4] = [
        Self::Products,
        Self::Activations,
        Self::Losses,
        Self::Optimizer,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Products => "products",
            Self::Activations => "activations",
            Self::Losses => "losses",
            Self::Optimizer => "optimizer",
        }
    }
}

thread_local! {
    /// The active profile's totals per part, or `None`.
    static TOTALS: Cell<Option<[Duration; 4]>> = const { Cell::new(None) };
    /// Whether a timed stage is running on this thread.
    static TIMING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, adding its time to `part` when a profile is active on this thread. A stage
/// timed inside another counts as the outer one's part only.
#[inline]
pub fn time<R>(part: Part, f: impl FnOnce() -> R) -> R {
    if TOTALS.get().is_none() || TIMING.get() {
        return f();
    }
    TIMING.set(true);
    let start = Instant::now();
    let result = f();
    let elapsed = start.elapsed();
    TIMING.set(false);
    TOTALS.with(|totals| {
        if let Some(mut t) = totals.get() {
            t[part as usize] += elapsed;
            totals.set(Some(t));
        }
    });
    result
}

/// A profile active on this thread from [`Profile::start`] until [`Profile::finish`] (or
/// drop); profiles do not nest.
#[derive(Debug)]
pub struct Profile {
    start: Instant,
}

/// What a [`Profile`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    /// Wall-clock time from start to finish.
    pub total: Duration,
    /// Time in each of [`Part::ALL`].
    pub parts: [Duration; 4],
}

impl Split {
    /// The time outside every part.
    pub fn other(&self) -> Duration {
        self.total.saturating_sub(self.parts.iter().sum())
    }
}

impl Profile {
    /// Starts timing this thread's learner stages.
    pub fn start() -> Self {
        TOTALS.set(Some([Duration::ZERO; 4]));
        Self {
            start: Instant::now(),
        }
    }

    /// Stops timing and returns the split.
    pub fn finish(self) -> Split {
        let total = self.start.elapsed();
        let parts = TOTALS.get().unwrap_or_default();
        Split { total, parts }
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        TOTALS.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_stages_add_up_inside_a_profile_only() {
        let spin = |d: Duration| {
            let start = Instant::now();
            while start.elapsed() < d {}
        };
        time(Part::Products, || spin(Duration::from_millis(2)));
        let profile = Profile::start();
        time(Part::Products, || spin(Duration::from_millis(2)));
        time(Part::Optimizer, || {
            // Nested: counted once, as the optimizer's.
            time(Part::Losses, || spin(Duration::from_millis(1)))
        });
        spin(Duration::from_millis(1));
        let split = profile.finish();
        let [products, activations, losses, optimizer] = split.parts;
        assert!(products >= Duration::from_millis(2) && products < split.total);
        assert!(optimizer >= Duration::from_millis(1));
        assert_eq!(activations + losses, Duration::ZERO);
        assert!(split.other() >= Duration::from_millis(1));
        assert!(TOTALS.get().is_none(), "finished");
    }
}
