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

/// Restores Adam's moments from the checkpoint folder `dir` into `opt`, with `steps` steps
/// taken.
pub fn load_optimizer(dir: &Path, opt: &mut MultiTaskOptimizer, steps: i64) -> anyhow::Result<()> {
    let path = dir.join(OPTIMIZER);
    let bad = |e: &dyn std::fmt::Display| {
        usage(format!(
            "cannot load the optimizer state {}: {e}",
            path.display()
        ))
    };
    let named = Tensor::read_safetensors(&path).map_err(|e| bad(&e))?;
    let moments = |prefix: &str| -> Vec<Tensor> {
        let mut found: Vec<(usize, Tensor)> = named
            .iter()
            .filter_map(|(name, t)| {
                let k = name.strip_prefix(prefix)?.parse().ok()?;
                Some((k, t.shallow_clone()))
            })
            .collect();
        found.sort_by_key(|(k, _)| *k);
        found.into_iter().map(|(_, t)| t).collect()
    };
    opt.adam_mut()
        .set_state(moments("first."), moments("second."), steps)
        .map_err(|e| bad(&e))
}

/// Restores each task's normaliser from `states` (saved in the checkpoint folder `dir`).
pub fn restore_normalizers(
    dir: &Path,
    norms: &mut [super::TaskNormalizer],
    states: &[super::NormalizerState],
) -> anyhow::Result<()> {
    let fits = norms.len() == states.len()
        && norms
            .iter_mut()
            .zip(states)
            .all(|(n, s)| n.restore(s).is_some());
    if fits {
        Ok(())
    } else {
        Err(usage(format!(
            "checkpoint {}: its normalisation statistics do not fit the config's tasks",
            dir.display()
        )))
    }
}

/// Checks that a checkpoint's config `saved` describes the same run as `current`: equal but
/// for `total_timesteps` (a run may be extended) and `[logging]`.
pub fn check_same_run(saved: &str, current: &str, run_dir: &Path) -> anyhow::Result<()> {
    let strip = |text: &str| -> Option<toml::Table> {
        let mut table: toml::Table = toml::from_str(text).ok()?;
        table.remove("total_timesteps");
        table.remove("logging");
        table.remove("compare");
        Some(table)
    };
    match (strip(saved), strip(current)) {
        (Some(a), Some(b)) if a == b => Ok(()),
        _ => Err(usage(format!(
            "cannot resume {}: its checkpoint was trained with another config (only \
             `total_timesteps` and `[logging]` may change); start a new run instead",
            run_dir.display()
        ))),
    }
}
