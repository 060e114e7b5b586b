//! A shard: a fixed run of consecutive rows with their environment instances, stepped as one
//! unit by one thread. Stepping a shard autoresets finished episodes in the same step (as
//! [`polytask_envs::wrappers::AutoReset`]) and records episode statistics (as
//! [`polytask_envs::wrappers::RecordEpisodeStatistics`]) directly into the shared buffers,
//! so the final observation is copied once and nothing is allocated.

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};

use polytask_envs::{Action, Env, EnvError};

use super::buffers::Buffers;
use super::layout::Segment;

/// Why a shard's step stopped; the vector env turns it into a
/// [`VecEnvError`](super::VecEnvError) naming the task and environment of `row`.
#[derive(Debug)]
pub(super) struct Failure {
    pub row: usize,
    pub kind: FailureKind,
}

#[derive(Debug)]
pub(super) enum FailureKind {
    Panic(String),
    Env(EnvError),
    InvalidAction(f32),
}

/// The environments of rows `rows`, one per row, and their running episode statistics.
pub(super) struct Shard {
    pub rows: Range<usize>,
    segments: Vec<Segment>,
    envs: Vec<Box<dyn Env>>,
    returns: Vec<f64>,
    lengths: Vec<u64>,
    /// The row being stepped, so that a panic can be attributed to it.
    current: usize,
}

impl Shard {
    /// A shard of `envs`, one per row of `rows`, laid out as `segments`.
    pub fn new(rows: Range<usize>, segments: Vec<Segment>, envs: Vec<Box<dyn Env>>) -> Self {
        assert_eq!(rows.len(), envs.len());
        let n = rows.len();
        Self {
            current: rows.start,
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
    }

    /// Resets every environment with its seed (`seeds[i]` for the shard's `i`-th row),
    /// writing the first observations.
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
                    shard.envs[local + i].reset(Some(seeds[local + i]), o);
                    shard.returns[local + i] = 0.0;
                    shard.lengths[local + i] = 0;
                }
            }
            Ok(())
        })
    }

    /// Steps every environment with its action from `bufs.actions`, writing observations,
    /// rewards, flags, final observations and finished episodes' statistics.
    ///
    /// # Safety
    /// The calling thread has exclusive access to this shard's rows of `bufs`.
    pub unsafe fn step(&mut self, bufs: &Buffers) -> Result<(), Failure> {
        // SAFETY: passed on from the caller.
        self.guarded(|shard| unsafe { shard.step_rows(bufs) })
    }

    /// Runs `f`, turning a panic into a [`Failure`] of the row being stepped.
    fn guarded(&mut self, f: impl FnOnce(&mut Self) -> Result<(), Failure>) -> Result<(), Failure> {
        match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(result) => result,
            Err(payload) => Err(Failure {
                row: self.current,
                kind: FailureKind::Panic(panic_message(payload.as_ref())),
            }),
        }
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
            current,
        } = self;
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
            let (od, ad) = (seg.obs_dim, seg.act_dim);
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
            let rows = envs[local.clone()]
                .iter_mut()
                .zip(returns[local.clone()].iter_mut().zip(&mut lengths[local]))
                .zip(obs.chunks_exact_mut(od).zip(final_obs.chunks_exact_mut(od)))
                .zip(actions.chunks_exact(ad))
                .zip(rewards.iter_mut().zip(terminated.iter_mut().zip(truncated)))
                .zip(ep_return.iter_mut().zip(ep_length.iter_mut()));
            *current = seg.rows.start;
            for (((((env, (ret, len)), (o, fin)), a), (rew, (term, trunc))), (ep_ret, ep_len)) in
                rows
            {
                let action = if seg.discrete {
                    let v = a[0];
                    if !(v >= 0.0 && v.fract() == 0.0) {
                        return Err(Failure {
                            row: *current,
                            kind: FailureKind::InvalidAction(v),
                        });
                    }
                    Action::Discrete(v as usize)
                } else {
                    Action::Continuous(a)
                };
                let step = env.step(action, o).map_err(|e| Failure {
                    row: *current,
                    kind: FailureKind::Env(e),
                })?;
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
                if step.terminated || step.truncated {
                    fin.copy_from_slice(o);
                    env.reset(None, o);
                    *ep_ret = *ret;
                    *ep_len = *len;
                    *ret = 0.0;
                    *len = 0;
                }
                *current += 1;
            }
        }
        Ok(())
    }
}

/// The message of a panic payload (`panic!` makes a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a payload that is not a string".to_string()
    }
}
