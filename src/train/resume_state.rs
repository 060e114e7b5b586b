//! What a checkpoint holds beyond weights, optimizer and normalisers, so that a resumed run
//! continues exactly as the uninterrupted one would have (`resume.bin`, `postcard`-encoded):
//! the vector env (every environment's state, running episode statistics, the latest step's
//! buffers), the aggregator's and weighting's state (moving averages, their random streams),
//! the console's recent returns, the count of skipped updates, and the length of every
//! TensorBoard event file at the checkpoint.
//!
//! libtorch's own random stream (action sampling, minibatch shuffles) needs no saving: the
//! trainer reseeds it at the start of every iteration from the run's seed and the
//! iteration's number ([`iteration_seed`]).
//!
//! # Event files
//!
//! A run killed after its last checkpoint has logged values that the resumed run logs again.
//! On resume every event file is cut back to its length at the checkpoint, and files begun
//! after it are removed, so that each value is in the run's files exactly once.

use std::fs;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::error::usage;
use crate::vec_env::VecEnvSnapshot;

/// The prefix of TensorBoard event file names.
const EVENTS_PREFIX: &str = "events.out.tfevents.";

/// The exact-resume state (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    /// The vector env.
    pub envs: VecEnvSnapshot,
    /// [`Aggregator::save_state`](polytask_agents::surgery::Aggregator::save_state).
    pub aggregator: Vec<u8>,
    /// [`Weighting::save_state`](polytask_agents::weighting::Weighting::save_state).
    pub weighting: Vec<u8>,
    /// Each task's recent returns (console).
    pub recent_returns: Vec<Vec<f64>>,
    /// Updates skipped so far for a non-finite gradient.
    pub skipped_updates: u64,
    /// Every event file of the run directory (name) with its length at the checkpoint.
    pub event_files: Vec<(String, u64)>,
}

impl ResumeState {
    /// The encoded bytes.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("the resume state serialises")
    }

    /// Reads bytes written by [`ResumeState::encode`]; `path` names the file in the error.
    pub fn decode(bytes: &[u8], path: &Path) -> anyhow::Result<Self> {
        postcard::from_bytes(bytes).map_err(|e| {
            usage(format!(
                "checkpoint file {} is damaged: {e}",
                path.display()
            ))
        })
    }
}

/// The libtorch seed of iteration `iteration` of a run seeded with `seed`.
pub fn iteration_seed(seed: u64, iteration: u64) -> i64 {
    let mixed = crate::vec_env::instance_seed(seed, usize::MAX, iteration as usize);
    (mixed >> 1) as i64
}

/// Every event file in `run_dir` with its current length, by name.
pub fn event_files(run_dir: &Path) -> anyhow::Result<Vec<(String, u64)>> {
    let mut files = Vec::new();
    let entries =
        fs::read_dir(run_dir).with_context(|| format!("cannot list {}", run_dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", run_dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(EVENTS_PREFIX) {
            let len = entry
                .metadata()
                .with_context(|| format!("cannot read {}", entry.path().display()))?
                .len();
            files.push((name, len));
        }
    }
    files.sort();
    Ok(files)
}

/// Cuts the event files of `run_dir` back to `saved` (see the [module docs](self)), leaving
/// `keep` (the running logger's own file) alone.
pub fn rewind_event_files(
    run_dir: &Path,
    saved: &[(String, u64)],
    keep: Option<&Path>,
) -> anyhow::Result<()> {
    for (name, len) in event_files(run_dir)? {
        let path = run_dir.join(&name);
        if keep.is_some_and(|k| k.file_name() == path.file_name()) {
            continue;
        }
        match saved.iter().find(|(n, _)| *n == name) {
            Some(&(_, at)) if at < len => fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(at).and_then(|()| f.sync_all()))
                .with_context(|| format!("cannot truncate {}", path.display()))?,
            Some(_) => {}
            None => fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?,
        }
    }
    Ok(())
}
