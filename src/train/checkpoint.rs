//! Checkpoints: a folder holding the weights (`model.safetensors`), Adam's moments
//! (`optimizer.safetensors`), the environments' and random streams' state (`resume.bin`,
//! see [`super::resume_state`]) and `state.json` (the resolved config, step counters,
//! normalisers), written last: a folder whose `state.json` parses is complete.
//!
//! # Never missing
//!
//! [`save`] writes every file of the new checkpoint into `checkpoint.tmp/`, `fsync`s each file
//! and the folder, then moves `checkpoint/` to `checkpoint.old/`, moves `checkpoint.tmp/` to
//! `checkpoint/`, `fsync`s the run directory after each rename and only then removes
//! `checkpoint.old/`. At every instant one of the three folders holds a complete checkpoint:
//! `checkpoint/` before the first rename, `checkpoint.old/` (and the complete `.tmp/`) between
//! the two, `checkpoint/` after. [`Checkpoint::find`] looks in that order of preference —
//! `checkpoint/`, then the newer `.tmp/`, then `.old/` — and the next save first puts a
//! survivor back under the real name before clearing the leftovers. The crash tests kill the
//! process at each of these steps (`tests/reliability.rs`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use polytask_agents::actor_critic::ActorCritic;
use polytask_agents::kernels::KernelChoice;
use polytask_agents::update::MultiTaskOptimizer;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::durable::{self, failpoint};
use crate::error::usage;

/// File names inside a checkpoint folder.
const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";
/// The exact-resume state (environments, random streams, episode bookkeeping).
pub const RESUME: &str = "resume.bin";

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
    /// The learner's kernel choice, which a resumed run keeps (absent from checkpoints
    /// saved before the choice existed: those ran libtorch's kernels).
    #[serde(default)]
    pub kernels: KernelChoice,
}

/// The current format version (2: normalisers with every running sum, `resume.bin`; 3: the
/// vector env's environment metrics in `resume.bin`).
pub const VERSION: u32 = 3;

/// The one field read before the rest, so that another version is named as such.
#[derive(Deserialize)]
struct Version {
    version: u32,
}

/// A complete checkpoint found on disk: its folder and its `state.json`.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The folder it was read from (`checkpoint/`, or a survivor of an interrupted save).
    pub dir: PathBuf,
    /// Its `state.json`.
    pub state: CheckpointState,
}

impl Checkpoint {
    /// The complete checkpoint saved under `dir` (a checkpoint folder such as
    /// `RUN/checkpoint`), looking also at the `.tmp` and `.old` folders that an interrupted
    /// save leaves (see the [module docs](self)); `Ok(None)` when there is none. A
    /// `state.json` from another format version is a usage error naming it.
    pub fn find(dir: &Path) -> anyhow::Result<Option<Self>> {
        // The save protocol only ever gives `dir` itself a complete checkpoint, so a broken
        // one there is reported rather than skipped (skipping would start the run afresh).
        if dir.exists() {
            let state = read_state(dir)?.map_err(|problem| {
                usage(format!(
                    "checkpoint {} is damaged: {problem}; move it away to start afresh",
                    dir.join(STATE).display()
                ))
            })?;
            return Ok(Some(Self {
                dir: dir.to_path_buf(),
                state,
            }));
        }
        for candidate in [sibling(dir, "tmp"), sibling(dir, "old")] {
            if let Ok(state) = read_state(&candidate)? {
                return Ok(Some(Self {
                    dir: candidate,
                    state,
                }));
            }
        }
        Ok(None)
    }

    /// As [`Checkpoint::find`], but a missing checkpoint is a usage error naming `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        Self::find(dir)?.ok_or_else(|| {
            usage(format!(
                "{} is not a polytask checkpoint folder: it holds no complete {STATE}",
                dir.display()
            ))
        })
    }

    /// Loads the weights into `net` (built for the same tasks).
    pub fn load_weights(&self, net: &mut ActorCritic) -> anyhow::Result<()> {
        let path = self.dir.join(MODEL);
        net.load(&path)
            .map_err(|e| usage(format!("cannot load the weights {}: {e}", path.display())))
    }

    /// Every tensor of the checkpoint's `model.safetensors` (`optimizer = false`) or
    /// `optimizer.safetensors`, by name.
    pub fn read_tensors(&self, optimizer: bool) -> anyhow::Result<Vec<(String, Tensor)>> {
        let path = self.dir.join(if optimizer { OPTIMIZER } else { MODEL });
        Tensor::read_safetensors(&path)
            .map_err(|e| usage(format!("cannot load {}: {e}", path.display())))
    }

    /// Restores Adam's moments and step count into `opt`.
    pub fn load_optimizer(&self, opt: &mut MultiTaskOptimizer) -> anyhow::Result<()> {
        let path = self.dir.join(OPTIMIZER);
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
            .set_state(
                moments("first."),
                moments("second."),
                self.state.optimizer_steps,
            )
            .map_err(|e| bad(&e))
    }

    /// Restores each task's normaliser.
    pub fn restore_normalizers(&self, norms: &mut [super::TaskNormalizer]) -> anyhow::Result<()> {
        let states = &self.state.normalizers;
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
                self.dir.display()
            )))
        }
    }

    /// The exact-resume state file's bytes; `None` when the checkpoint has none.
    pub fn resume_bytes(&self) -> anyhow::Result<Option<Vec<u8>>> {
        let path = self.dir.join(RESUME);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

/// Reads `dir/state.json`: `Ok(Err(problem))` when the file is missing or does not parse
/// (an incomplete save), an error for another format version.
fn read_state(dir: &Path) -> anyhow::Result<Result<CheckpointState, String>> {
    let path = dir.join(STATE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if let Ok(Version { version }) = serde_json::from_str(&text) {
        if version != VERSION {
            return Err(usage(format!(
                "checkpoint {} has format version {version}, this polytask reads version \
                 {VERSION}",
                path.display()
            )));
        }
    }
    let state: CheckpointState = match serde_json::from_str(&text) {
        Ok(state) => state,
        Err(e) => return Ok(Err(e.to_string())),
    };
    Ok(Ok(state))
}

/// Writes a checkpoint of `net`, `opt`, `state` and the exact-resume bytes `resume` to the
/// folder `dir`, so that a complete checkpoint is on disk at every instant (see the
/// [module docs](self)). Refuses, naming the task's parameters, to write weights that are
/// not finite.
pub fn save(
    dir: &Path,
    net: &ActorCritic,
    opt: &MultiTaskOptimizer,
    state: &CheckpointState,
    resume: &[u8],
) -> anyhow::Result<()> {
    save_tensors(dir, &net.named_params(), &adam_tensors(opt), state, resume)
}

/// [`save`] for any learner: the tensors of `model.safetensors` and
/// `optimizer.safetensors` by name. Refuses to write model tensors that are not finite.
pub fn save_tensors(
    dir: &Path,
    model: &[(String, &Tensor)],
    optimizer: &[(String, &Tensor)],
    state: &CheckpointState,
    resume: &[u8],
) -> anyhow::Result<()> {
    let finite = |t: &Tensor| t.isfinite().all().int64_value(&[]) != 0;
    if let Some((name, _)) = model.iter().find(|(_, t)| !finite(t)) {
        anyhow::bail!(
            "refusing to write a checkpoint to {}: the network's weights are not finite \
             ({name})",
            dir.display()
        );
    }
    settle(dir)?;
    let staging = sibling(dir, "tmp");
    let old = sibling(dir, "old");
    fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    write_tensors(&staging.join(MODEL), model, "write:model")?;
    failpoint("checkpoint:model-written");
    write_tensors(&staging.join(OPTIMIZER), optimizer, "write:optimizer")?;
    let file = staging.join(RESUME);
    durable::write_synced(&file, resume)
        .with_context(|| format!("cannot write {}", file.display()))?;
    let json = serde_json::to_string_pretty(state).expect("checkpoint state serialises");
    let file = staging.join(STATE);
    durable::write_synced(&file, json.as_bytes())
        .with_context(|| format!("cannot write {}", file.display()))?;
    sync(&staging)?;
    failpoint("checkpoint:staged");
    let parent = durable::parent(dir);
    if dir.exists() {
        fs::rename(dir, &old)
            .with_context(|| format!("cannot move the previous checkpoint {}", dir.display()))?;
        sync(parent)?;
    }
    failpoint("checkpoint:old-moved");
    fs::rename(&staging, dir)
        .with_context(|| format!("cannot move the new checkpoint into {}", dir.display()))?;
    sync(parent)?;
    failpoint("checkpoint:swapped");
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

/// Puts the newest complete checkpoint under `dir`'s own name (after an interrupted save)
/// and removes the leftover `.tmp` and `.old` folders.
fn settle(dir: &Path) -> anyhow::Result<()> {
    if let Some(found) = Checkpoint::find(dir)? {
        if found.dir != dir {
            let _ = fs::remove_dir_all(dir);
            fs::rename(&found.dir, dir).with_context(|| {
                format!(
                    "cannot move the surviving checkpoint {} back to {}",
                    found.dir.display(),
                    dir.display()
                )
            })?;
            sync(durable::parent(dir))?;
        }
    }
    for leftover in [sibling(dir, "tmp"), sibling(dir, "old")] {
        if leftover.exists() {
            fs::remove_dir_all(&leftover)
                .with_context(|| format!("cannot remove {}", leftover.display()))?;
        }
    }
    Ok(())
}

/// Adam's moments by name (`first.<k>`, `second.<k>`), as [`Checkpoint::load_optimizer`]
/// reads them.
fn adam_tensors(opt: &MultiTaskOptimizer) -> Vec<(String, &Tensor)> {
    let (first, second) = opt.adam().state();
    let mut out: Vec<(String, &Tensor)> = Vec::new();
    out.extend((first.iter().enumerate()).map(|(k, t)| (format!("first.{k}"), t)));
    out.extend((second.iter().enumerate()).map(|(k, t)| (format!("second.{k}"), t)));
    out
}

/// Writes `tensors` to the safetensors file `path` and syncs it; `point` names the failpoint
/// that the crash tests trigger.
fn write_tensors(path: &Path, tensors: &[(String, &Tensor)], point: &str) -> anyhow::Result<()> {
    durable::failpoint_io(point)
        .and_then(|()| Tensor::write_safetensors(tensors, path).map_err(std::io::Error::other))
        .and_then(|()| sync_file(path))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn sync_file(path: &Path) -> std::io::Result<()> {
    fs::File::open(path)?.sync_all()
}

fn sync(dir: &Path) -> anyhow::Result<()> {
    durable::sync_dir(dir).with_context(|| format!("cannot sync {}", dir.display()))
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map_or_else(|| "checkpoint".into(), |n| n.to_string_lossy().into_owned());
    dir.with_file_name(format!("{name}.{suffix}"))
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
