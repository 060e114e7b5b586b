//! Where one [`super::Sac`] update's time goes: the wall-clock time of each stage of
//! [`super::Sac::update_timed`], the split that `polytask bench train --algo sac` prints.
//!
//! libtorch's CPU operations are synchronous, so a stage's wall-clock time is its cost; on
//! CUDA it would measure the kernels' launches, not their work.

use std::time::{Duration, Instant};

/// The time of each stage of the updates timed, summed over them (see
/// [`super::Sac::update_timed`]; the stages are those of the module documentation of
/// [`super`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SacTimings {
    /// Steps 1–2: the actor's forward pass on the observations, the sampled actions and
    /// their log-probabilities, the temperatures' Adam step.
    pub sample_alpha: Duration,
    /// Step 3's targets: the actor on the next observations and the target critic, without
    /// gradient tracking.
    pub targets: Duration,
    /// Step 3: the critic's forward and backward pass, the per-task gradients, the combine
    /// stage and Adam.
    pub critic: Duration,
    /// Step 4: the critic on the sampled actions, the actor's backward pass through it, the
    /// per-task gradients, the combine stage and Adam.
    pub actor: Duration,
    /// Step 5: the target critic's Polyak average.
    pub polyak: Duration,
    /// The updates timed.
    pub updates: u32,
}

impl SacTimings {
    /// Every stage with its name, in the update's order.
    pub fn parts(&self) -> [(&'static str, Duration); 5] {
        [
            ("sample+alpha", self.sample_alpha),
            ("targets", self.targets),
            ("critic", self.critic),
            ("actor", self.actor),
            ("polyak", self.polyak),
        ]
    }

    /// The time of all stages.
    pub fn total(&self) -> Duration {
        self.parts().iter().map(|(_, d)| *d).sum()
    }
}

/// A stopwatch over an update's stages that adds each lap to a [`SacTimings`], or does
/// nothing (one branch per lap) when the update is not timed.
#[derive(Debug)]
pub(super) struct Clock<'a> {
    timings: Option<(&'a mut SacTimings, Instant)>,
}

impl<'a> Clock<'a> {
    /// A clock that times nothing.
    pub(super) fn off() -> Self {
        Self { timings: None }
    }

    /// A clock adding to `timings`, started now.
    pub(super) fn on(timings: &'a mut SacTimings) -> Self {
        Self {
            timings: Some((timings, Instant::now())),
        }
    }

    /// Adds the time since the last lap (or the start) to the stage that `stage` picks.
    pub(super) fn lap(&mut self, stage: impl FnOnce(&mut SacTimings) -> &mut Duration) {
        if let Some((timings, last)) = &mut self.timings {
            let now = Instant::now();
            *stage(timings) += now - *last;
            *last = now;
        }
    }

    /// Counts one more update timed.
    pub(super) fn count_update(&mut self) {
        if let Some((timings, _)) = &mut self.timings {
            timings.updates += 1;
        }
    }
}
