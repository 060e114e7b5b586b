//! Checkpoints: a folder holding the weights (`model.safetensors`), Adam's moments
//! (`optimizer.safetensors`) and `state.json` (the resolved config, step counters, task
//! shapes). A checkpoint is written into a fresh folder beside the target and swapped in by
//! renames, so a crash never leaves a half-written checkpoint under the target's name.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use polytask_agents::actor_critic::ActorCritic;
use polytask_agents::update::MultiTaskOptimizer;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::error::usage;

/// File names inside a checkpoint folder.
const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";

/// What `state.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Format version of the checkpoint.
    pub version: u32,
    /// The run's resolved configuration, TOML.
    pub config: String,
    /// Training iterations completed.
    pub iteration: u64,
    /// Environment steps per task so far.
    pub task_steps: Vec<u64>,
    /// Adam's step count.
    pub optimizer_steps: i64,
    /// Each task's observation and reward normalisation statistics.
    pub normalizers: Vec<super::NormalizerState>,
}

/// The current format version.
pub const VERSION: u32 = 1;

/// Writes a checkpoint of `net`, `opt` and `state` to the folder `dir`, atomically.
pub fn save(
    dir: &Path,
    net: &ActorCritic,
    opt: &MultiTaskOptimizer,
    state: &CheckpointState,
) -> anyhow::Result<()> {
    let staging = sibling(dir, "tmp");
    let old = sibling(dir, "old");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    net.save(&staging.join(MODEL))
        .with_context(|| format!("cannot write {}", staging.join(MODEL).display()))?;
    let (first, second) = opt.adam().state();
    let mut named: Vec<(String, &Tensor)> = Vec::new();
    named.extend(
        first
            .iter()
            .enumerate()
            .map(|(k, t)| (format!("first.{k}"), t)),
    );
    named.extend(
        second
            .iter()
            .enumerate()
            .map(|(k, t)| (format!("second.{k}"), t)),
    );
    Tensor::write_safetensors(&named, staging.join(OPTIMIZER))
        .context("cannot write the optimizer state")?;
    let json = serde_json::to_string_pretty(state).expect("checkpoint state serialises");
    fs::write(staging.join(STATE), json).context("cannot write state.json")?;
    let _ = fs::remove_dir_all(&old);
    if dir.exists() {
        fs::rename(dir, &old)
            .with_context(|| format!("cannot move the previous checkpoint {}", dir.display()))?;
    }
    fs::rename(&staging, dir)
        .with_context(|| format!("cannot move the new checkpoint into {}", dir.display()))?;
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

/// Reads `state.json` of the checkpoint folder `dir`; a missing or malformed checkpoint is a
/// usage error naming the path.
pub fn load_state(dir: &Path) -> anyhow::Result<CheckpointState> {
    let path = dir.join(STATE);
    let text = fs::read_to_string(&path).map_err(|e| {
        usage(format!(
            "{} is not a polytask checkpoint folder: cannot read {} ({e})",
            dir.display(),
            path.display()
        ))
    })?;
    let state: CheckpointState = serde_json::from_str(&text)
        .map_err(|e| usage(format!("checkpoint {} is malformed: {e}", path.display())))?;
    if state.version != VERSION {
        return Err(usage(format!(
            "checkpoint {} has format version {}, this polytask reads version {VERSION}",
            path.display(),
            state.version
        )));
    }
    Ok(state)
}

/// Loads the weights of the checkpoint folder `dir` into `net` (built for the same tasks).
pub fn load_weights(dir: &Path, net: &mut ActorCritic) -> anyhow::Result<()> {
    let path = dir.join(MODEL);
    net.load(&path)
        .map_err(|e| usage(format!("cannot load the weights {}: {e}", path.display())))
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map_or_else(|| "checkpoint".into(), |n| n.to_string_lossy().into_owned());
    dir.with_file_name(format!("{name}.{suffix}"))
}
