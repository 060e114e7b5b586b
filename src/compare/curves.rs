//! The curves of a finished run, read back from its TensorBoard event files: each task's
//! episodic returns and the gradient cosine similarity of each task pair.
//!
//! A resumed run has several event files; a later file repeats the steps after the
//! checkpoint it started from, so its points replace the earlier file's from its first
//! step on.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::logger::read_scalars;

/// A curve: `(step, value)` in step order.
pub type Curve = Vec<(u64, f64)>;

/// The curves of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunCurves {
    /// Episodic returns by task name, at the task's environment step.
    pub returns: BTreeMap<String, Curve>,
    /// Cosine similarity of the shared-weight gradients by task pair `a__b` (SAC's:
    /// `a__b (critic)` and `a__b (actor)`), at the global environment step (all tasks
    /// together).
    pub cos_sim: BTreeMap<String, Curve>,
}

/// Reads the curves of the run in `run_dir`.
pub fn read_run(run_dir: &Path) -> anyhow::Result<RunCurves> {
    let mut tags: BTreeMap<String, Curve> = BTreeMap::new();
    for file in event_files(run_dir)? {
        let scalars =
            read_scalars(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let mut fresh: BTreeMap<String, Curve> = BTreeMap::new();
        for (tag, step, value) in scalars {
            if tag.starts_with("charts/") && tag.ends_with("/episodic_return")
                || cos_pair(&tag).is_some()
            {
                fresh.entry(tag).or_default().push((step, value));
            }
        }
        for (tag, points) in fresh {
            let curve = tags.entry(tag).or_default();
            let first = points[0].0;
            curve.retain(|&(s, _)| s < first);
            curve.extend(points);
        }
    }
    let mut curves = RunCurves::default();
    for (tag, curve) in tags {
        if let Some(pair) = cos_pair(&tag) {
            curves.cos_sim.insert(pair, curve);
        } else if let Some(rest) = tag.strip_prefix("charts/") {
            let task = rest.trim_end_matches("/episodic_return");
            curves.returns.insert(task.to_string(), curve);
        }
    }
    Ok(curves)
}

/// The task pair of a cosine-similarity tag: `a__b` for `surgery/cos_sim/a__b`, `a__b (critic)`
/// for SAC's `surgery/critic/cos_sim/a__b`; `None` for other tags.
fn cos_pair(tag: &str) -> Option<String> {
    let rest = tag.strip_prefix("surgery/")?;
    if let Some(pair) = rest.strip_prefix("cos_sim/") {
        return Some(pair.to_string());
    }
    let (stage, pair) = rest.split_once("/cos_sim/")?;
    Some(format!("{pair} ({stage})"))
}

/// The event files directly inside `dir`, oldest first (their names start with the time).
fn event_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().contains("tfevents"))
        .collect();
    files.sort();
    Ok(files)
}
