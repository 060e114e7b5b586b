//! A shard: a fixed run of consecutive rows with their environment instances, stepped as one
//! unit by one thread. Stepping a shard autoresets finished episodes in the same step (as
//! [`polytask_envs::wrappers::AutoReset`]) and records episode statistics (as
//! [`polytask_envs::wrappers::RecordEpisodeStatistics`]) directly into the shared buffers,
//! so the final observation is copied once and nothing is allocated.
//!
//! After every call of an environment the shard checks what the [`Env`] contract promises and
//! a learner cannot do without: the observation is finite (the row is filled with NaN before
//! the call, so an element the environment does not write is caught too) and so is the
//! reward. Whether the observation lies inside the observation space is not checked here:
//! Gymnasium only warns about that, environments run through its adapters may stray
//! slightly, and a learner needs no bounds; [`polytask_envs::check_env`] checks it.
//!
//! A panic in an environment is caught and becomes a [`Failure`]. While a shard runs its
//! environments, the process's panic hook (installed once, by [`quiet_panics`]) records the
//! panic's location instead of printing it, so that the user sees one error message, not a
//! panic report followed by the same error; with `RUST_BACKTRACE` set the earlier hook prints
//! its report too. Panics anywhere else go to the earlier hook unchanged.

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use polytask_envs::{Action, Env, EnvError};
use serde::{Deserialize, Serialize};

use super::buffers::Buffers;
use super::error::RowStep;
use super::layout::Segment;
use super::snapshot::RowSnapshot;

/// Why a shard's step stopped; the vector env turns it into a
/// [`VecEnvError`](super::VecEnvError) naming the task and environment of `row`.
#[derive(Debug)]
pub(super) struct Failure {
    pub row: usize,
    pub at: RowStep,
    pub kind: FailureKind,
}

/// What went wrong in a row; `E` is the environment's error: an [`EnvError`] in the process
/// that stepped it, its message (`String`) on the way back from a worker process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum FailureKind<E = EnvError> {
    Panic {
        message: String,
        location: Option<String>,
    },
    Env(E),
    InvalidAction(f32),
    ObservationNotFinite {
        index: usize,
        value: f32,
    },
    RewardNotFinite(f64),
    /// Metric `index` (of the task's [`Env::metric_names`]) is NaN or infinite.
    MetricNotFinite {
        index: usize,
        value: f32,
    },
    /// [`Env::metrics`] returned `got` values instead of one per metric name.
    MetricCount {
        got: usize,
    },
}

impl<E> FailureKind<E> {
    /// The same failure with the environment's error converted by `f`.
    pub fn map_env<F>(self, f: impl FnOnce(E) -> F) -> FailureKind<F> {
        match self {
            FailureKind::Panic { message, location } => FailureKind::Panic { message, location },
            FailureKind::Env(e) => FailureKind::Env(f(e)),
            FailureKind::InvalidAction(v) => FailureKind::InvalidAction(v),
            FailureKind::ObservationNotFinite { index, value } => {
                FailureKind::ObservationNotFinite { index, value }
            }
            FailureKind::RewardNotFinite(v) => FailureKind::RewardNotFinite(v),
            FailureKind::MetricNotFinite { index, value } => {
                FailureKind::MetricNotFinite { index, value }
            }
            FailureKind::MetricCount { got } => FailureKind::MetricCount { got },
        }
    }
}

/// The environments of rows `rows`, one per row, and their running episode statistics.
pub(super) struct Shard {
    pub rows: Range<usize>,
    segments: Vec<Segment>,
    envs: Vec<Box<dyn Env>>,
    returns: Vec<f64>,
    lengths: Vec<u64>,
    /// Each metric's maximum over the steps of each row's running episode, laid out as the
    /// shard's block of the episode-metrics buffer (row after row, as wide as its task's
    /// metrics); a row's values are meaningful once its episode has taken a step.
    maxima: Vec<f32>,
    /// The row being stepped, so that a panic can be attributed to it.
    current: usize,
    /// Whether `current` is being reset (else stepped), for the same reason.
    resetting: bool,
    /// Steps taken (the same for every row).
    steps: u64,
}

impl Shard {
    /// A shard of `envs`, one per row of `rows`, laid out as `segments`.
    pub fn new(rows: Range<usize>, segments: Vec<Segment>, envs: Vec<Box<dyn Env>>) -> Self {
        assert_eq!(rows.len(), envs.len());
        let n = rows.len();
        let metrics = segments.iter().map(|s| s.metrics.len()).sum();
        Self {
            maxima: vec![0.0; metrics],
            current: rows.start,
            resetting: false,
            steps: 0,
            rows,
            segments,
            envs,
            returns: vec![0.0; n],
            lengths: vec![0; n],
        }
    }

    /// Moves the shard's own arrays to fresh allocations made by the calling thread, so
    /// that the ones a worker writes on every step share no cache line with arrays of the
    /// thread that made the shard (glibc's malloc serves each thread from its own arena).
    pub fn relocate(&mut self) {
        self.segments = self.segments.to_vec();
        self.envs = self.envs.drain(..).collect();
        self.returns = self.returns.to_vec();
        self.lengths = self.lengths.to_vec();
        self.maxima = self.maxima.to_vec();
    }

    /// The range of `maxima` that holds the shard's `i`-th row's metrics.
    fn row_maxima(&self, i: usize) -> Range<usize> {
        let row = self.rows.start + i;
        let base = self.segments.first().map_or(0, |s| s.metrics.start);
        let seg = (self.segments.iter())
            .find(|s| s.rows.contains(&row))
            .expect("every row of the shard is in a segment");
        let start = seg.metrics.start - base + (row - seg.rows.start) * seg.metrics_dim;
        start..start + seg.metrics_dim
    }

    /// The shard's rows' saved state, in row order (see [`super::snapshot`]).
    pub fn save_rows(&self) -> Vec<RowSnapshot> {
        (self.envs.iter().zip(self.returns.iter().zip(&self.lengths)))
            .enumerate()
            .map(
                |(i, (env, (&episode_return, &episode_length)))| RowSnapshot {
                    env: env.save_state(),
                    episode_return,
                    episode_length,
                    metrics: self.maxima[self.row_maxima(i)].to_vec(),
                },
            )
            .collect()
    }

    /// Restores the rows whose environment state was saved (`rows[i]` for the shard's
    /// `i`-th row) and the step counter; returns the indices of the rows left as they are
    /// (their environment could not save its state), or the first row that failed to load.
    pub fn load_rows(
        &mut self,
        rows: &[RowSnapshot],
        steps: u64,
    ) -> Result<Vec<usize>, (usize, EnvError)> {
        self.steps = steps;
        let mut fresh = Vec::new();
        for (i, saved) in rows.iter().enumerate() {
            let Some(bytes) = &saved.env else {
                fresh.push(self.rows.start + i);
                continue;
            };
            self.envs[i]
                .load_state(bytes)
                .map_err(|e| (self.rows.start + i, e))?;
            self.returns[i] = saved.episode_return;
            self.lengths[i] = saved.episode_length;
            let maxima = self.row_maxima(i);
            if saved.metrics.len() == maxima.len() {
                self.maxima[maxima].copy_from_slice(&saved.metrics);
            }
        }
        Ok(fresh)
    }

    /// Resets every environment with its seed (`seeds[i]` for the shard's `i`-th row),
    /// writing the first observations and checking that they are finite.
    ///
    /// # Safety
    /// The calling thread has exclusive access to this shard's rows of `bufs`.
    pub unsafe fn reset(&mut self, bufs: &Buffers, seeds: &[u64]) -> Result<(), Failure> {
        self.guarded(|shard| {
            for seg in &shard.segments {
                let local = seg.rows.start - shard.rows.start;
                // SAFETY: the segment's rows belong to this shard (caller's contract).
                let obs = unsafe { bufs.obs.slice_mut(seg.obs.clone()) };
                for (i, o) in obs.chunks_exact_mut(seg.obs_dim).enumerate() {
                    shard.current = seg.rows.start + i;
                    shard.resetting = true;
                    o.fill(f32::NAN);
                    shard.envs[local + i].reset(Some(seeds[local + i]), o);
                    shard.resetting = false;
                    let at = RowStep {
                        step: 0,
                        episode_step: 0,
                    };
                    check_observation(o, shard.current, at)?;
                    shard.returns[local + i] = 0.0;
                    shard.lengths[local + i] = 0;
                }
            }
            Ok(())
        })
    }

    /// Steps every environment with its action from `bufs.actions`, writing observations,
    /// rewards, flags, final observations and finished episodes' statistics, and checking
    /// that observations and rewards are finite.
    ///
    /// # Safety
    /// The calling thread has exclusive access to this shard's rows of `bufs`.
    pub unsafe fn step(&mut self, bufs: &Buffers) -> Result<(), Failure> {
        self.steps += 1;
        // SAFETY: passed on from the caller.
        self.guarded(|shard| unsafe { shard.step_rows(bufs) })
    }

    /// Runs `f`, turning a panic into a [`Failure`] of the row being stepped or reset.
    fn guarded(&mut self, f: impl FnOnce(&mut Self) -> Result<(), Failure>) -> Result<(), Failure> {
        let result = quiet_panics(|| catch_unwind(AssertUnwindSafe(|| f(self))));
        result.unwrap_or_else(|payload| {
            let episode_step = match self.resetting {
                true => 0,
                false => self.lengths[self.current - self.rows.start] + 1,
            };
            self.resetting = false;
            Err(Failure {
                row: self.current,
                at: RowStep {
                    step: self.steps,
                    episode_step,
                },
                kind: FailureKind::Panic {
                    message: polytask_envs::panic_message(payload.as_ref()),
                    location: LOCATION.with(|l| l.borrow_mut().take()),
                },
            })
        })
    }

    /// # Safety
    /// As [`Shard::step`].
    unsafe fn step_rows(&mut self, bufs: &Buffers) -> Result<(), Failure> {
        let Shard {
            rows,
            segments,
            envs,
            returns,
            lengths,
            maxima,
            current,
            resetting,
            steps,
        } = self;
        let step_count = *steps;
        let metrics_base = segments.first().map_or(0, |s| s.metrics.start);
        // Load the shard's actions, which the learner has just written from its core, all at
        // once: independent loads, so that their cache misses overlap instead of coming one
        // row at a time.
        if let (Some(first), Some(last)) = (segments.first(), segments.last()) {
            // SAFETY: the shard's actions, to which the caller has exclusive access.
            let actions = unsafe { bufs.actions.slice(first.actions.start..last.actions.end) };
            let lines = actions.chunks(16).fold(0.0, |sum, line| sum + line[0]);
            std::hint::black_box(lines);
        }
        for seg in segments.iter() {
            let local = seg.rows.start - rows.start..seg.rows.end - rows.start;
            let (od, ad, md) = (seg.obs_dim, seg.act_dim, seg.metrics_dim);
            let seg_maxima =
                &mut maxima[seg.metrics.start - metrics_base..seg.metrics.end - metrics_base];
            // SAFETY: the segment's ranges lie inside this shard's rows, to which the caller
            // has exclusive access; the slices are distinct buffers.
            let (obs, final_obs, actions, rewards, terminated, truncated, ep_return, ep_length) = unsafe {
                (
                    bufs.obs.slice_mut(seg.obs.clone()),
                    bufs.final_obs.slice_mut(seg.obs.clone()),
                    bufs.actions.slice(seg.actions.clone()),
                    bufs.rewards.slice_mut(seg.rows.clone()),
                    bufs.terminated.slice_mut(seg.rows.clone()),
                    bufs.truncated.slice_mut(seg.rows.clone()),
                    bufs.episode_return.slice_mut(seg.rows.clone()),
                    bufs.episode_length.slice_mut(seg.rows.clone()),
                )
            };
            // SAFETY: as above.
            let ep_metrics = unsafe { bufs.episode_metrics.slice_mut(seg.metrics.clone()) };
            let rows = envs[local.clone()]
                .iter_mut()
                .zip(
                    returns[local.clone()]
                        .iter_mut()
                        .zip(&mut lengths[local.clone()]),
                )
                .zip(obs.chunks_exact_mut(od).zip(final_obs.chunks_exact_mut(od)))
                .zip(actions.chunks_exact(ad))
                .zip(rewards.iter_mut().zip(terminated.iter_mut().zip(truncated)))
                .zip(ep_return.iter_mut().zip(ep_length.iter_mut()));
            *current = seg.rows.start;
            for (((((env, (ret, len)), (o, fin)), a), (rew, (term, trunc))), (ep_ret, ep_len)) in
                rows
            {
                let row = *current;
                let at = RowStep {
                    step: step_count,
                    episode_step: *len + 1,
                };
                let action = if seg.discrete {
                    let v = a[0];
                    if !(v >= 0.0 && v.fract() == 0.0) {
                        let kind = FailureKind::InvalidAction(v);
                        return Err(Failure { row, at, kind });
                    }
                    Action::Discrete(v as usize)
                } else {
                    Action::Continuous(a)
                };
                o.fill(f32::NAN);
                let step = env.step(action, o).map_err(|e| Failure {
                    row,
                    at,
                    kind: FailureKind::Env(e),
                })?;
                if !step.reward.is_finite() {
                    let kind = FailureKind::RewardNotFinite(step.reward);
                    return Err(Failure { row, at, kind });
                }
                // Written only when they change: these lines are shared with the
                // neighbouring shards (64 flags to a cache line), and a store would pull the
                // line over from their core even when the value stays the same.
                let reward = step.reward as f32;
                if rew.to_bits() != reward.to_bits() {
                    *rew = reward;
                }
                if *term != step.terminated {
                    *term = step.terminated;
                }
                if *trunc != step.truncated {
                    *trunc = step.truncated;
                }
                *ret += step.reward;
                *len += 1;
                let i = row - seg.rows.start;
                if md > 0 {
                    let row_maxima = &mut seg_maxima[i * md..(i + 1) * md];
                    update_maxima(&**env, row_maxima, *len == 1).map_err(|kind| Failure {
                        row,
                        at,
                        kind,
                    })?;
                }
                if step.terminated || step.truncated {
                    // The final observation now; the reset's with the others below.
                    check_observation(o, row, at)?;
                    fin.copy_from_slice(o);
                    *resetting = true;
                    o.fill(f32::NAN);
                    env.reset(None, o);
                    *resetting = false;
                    *ep_ret = *ret;
                    *ep_len = *len;
                    if md > 0 {
                        ep_metrics[i * md..(i + 1) * md]
                            .copy_from_slice(&seg_maxima[i * md..(i + 1) * md]);
                    }
                    *ret = 0.0;
                    *len = 0;
                }
                *current += 1;
            }
            // The segment's observations as they are now (the reset's where an episode
            // ended), checked in one pass that vectorises. `polytask bench envs --threads 1`
            // (64 CartPoles, release, 2-core machine): without checks the vector env ran at
            // 1.03-1.05x the plain loop; checking each row right after its step, 0.88-0.90x;
            // with this pass, 0.93-0.94x (the NaN fill costs about 0.02x of that).
            if obs.iter().fold(false, |bad, v| bad | !v.is_finite()) {
                let r = obs.iter().position(|v| !v.is_finite()).unwrap_or(0) / od;
                let at = RowStep {
                    step: step_count,
                    episode_step: lengths[local.start + r],
                };
                return check_observation(&obs[r * od..(r + 1) * od], seg.rows.start + r, at);
            }
        }
        Ok(())
    }
}

/// Folds the metrics of `env`'s latest step into `maxima`, its running episode's maxima
/// (replacing them on the episode's `first` step); a non-finite value or a wrong count is the
/// failure's kind.
#[inline]
fn update_maxima(env: &dyn Env, maxima: &mut [f32], first: bool) -> Result<(), FailureKind> {
    let values = env.metrics();
    if values.len() != maxima.len() {
        return Err(FailureKind::MetricCount { got: values.len() });
    }
    for (index, (max, &value)) in maxima.iter_mut().zip(values).enumerate() {
        if !value.is_finite() {
            return Err(FailureKind::MetricNotFinite { index, value });
        }
        *max = if first { value } else { max.max(value) };
    }
    Ok(())
}

/// A [`FailureKind::ObservationNotFinite`] of `row` if an element of `obs` is NaN or infinite.
#[inline]
fn check_observation(obs: &[f32], row: usize, at: RowStep) -> Result<(), Failure> {
    if obs.iter().all(|v| v.is_finite()) {
        return Ok(());
    }
    let index = obs.iter().position(|v| !v.is_finite()).unwrap_or(0);
    let value = obs[index];
    let kind = FailureKind::ObservationNotFinite { index, value };
    Err(Failure { row, at, kind })
}

thread_local! {
    /// Whether this thread is inside [`quiet_panics`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// The location of the latest panic inside [`quiet_panics`] on this thread.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`, which catches the panics of the environments it calls and reports them as
/// errors, with the panic hook quiet on this thread: such a panic's location is recorded
/// (for [`Shard::guarded`]'s report) instead of printed (see the module documentation).
pub(super) fn quiet_panics<R>(f: impl FnOnce() -> R) -> R {
    /// Leaves quiet mode however `f` ends.
    struct Loud;
    impl Drop for Loud {
        fn drop(&mut self) {
            QUIET.with(|q| q.set(false));
        }
    }
    install_panic_hook();
    QUIET.with(|q| q.set(true));
    let _loud = Loud;
    f()
}

/// Installs, once per process, a panic hook that records the location of panics inside
/// [`quiet_panics`] instead of printing them, unless `RUST_BACKTRACE` is set; it hands every
/// other panic to the hook installed before it.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let earlier = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let location = info.location().map(ToString::to_string);
                LOCATION.with(|l| *l.borrow_mut() = location);
                if std::env::var_os("RUST_BACKTRACE").is_none() {
                    return;
                }
            }
            earlier(info);
        }));
    });
}
