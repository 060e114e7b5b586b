//! The curves of a finished run, read back from its TensorBoard event files: each task's
//! episodic returns and the gradient cosine similarity of each task pair, or their summary
//! for runs with more tasks than `logging.pairwise_limit` ([`SummaryCurves`]).
//!
//! A resumed run has several event files; a later file repeats the steps after the
//! checkpoint it started from, so its points replace the earlier file's from its first
//! step on.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::conflict_summary::{self, SummaryCurves};
use crate::logger::read_events;

/// A curve: `(step, value)` in step order.
pub type Curve = Vec<(u64, f64)>;

/// The curves of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunCurves {
    /// Episodic returns by task name, at the task's environment step.
    pub returns: BTreeMap<String, Curve>,
    /// Success rates (`charts/<task>/success_rate`) by task name, at the task's environment
    /// step; only tasks whose environments report `success`.
    pub success: BTreeMap<String, Curve>,
    /// Cosine similarity of the shared-weight gradients by task pair `a__b` (SAC's:
    /// `a__b (critic)` and `a__b (actor)`), at the global environment step (all tasks
    /// together).
    pub cos_sim: BTreeMap<String, Curve>,
    /// The summaries of the cosines by stage (`""` for PPO and A2C, `critic` and `actor` for
    /// SAC), at the global environment step; empty for a run that logged every pair.
    pub cos_summaries: BTreeMap<String, SummaryCurves>,
}

/// Reads the curves of the run in `run_dir`.
pub fn read_run(run_dir: &Path) -> anyhow::Result<RunCurves> {
    let mut tags: BTreeMap<String, Curve> = BTreeMap::new();
    let mut texts: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    let mut pairs: BTreeMap<String, usize> = BTreeMap::new();
    for file in event_files(run_dir)? {
        let events =
            read_events(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let mut fresh: BTreeMap<String, Curve> = BTreeMap::new();
        for (tag, step, value) in events.scalars {
            if tag.starts_with("charts/") && tag.ends_with("/episodic_return")
                || success_task(&tag).is_some()
                || cos_pair(&tag).is_some()
                || conflict_summary::scalar_field(&tag).is_some()
            {
                fresh.entry(tag).or_default().push((step, value));
            }
        }
        let mut fresh_texts: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
        for (tag, step, text) in events.texts {
            if conflict_summary::lowest_pairs_stage(&tag).is_some() {
                fresh_texts.entry(tag).or_default().push((step, text));
            }
        }
        for (tag, _, h) in &events.histograms {
            if let Some(stage) = conflict_summary::histogram_stage(tag) {
                let count = pairs.entry(stage).or_default();
                *count = (*count).max(h.num as usize);
            }
        }
        replace_from_first_step(&mut tags, fresh);
        replace_from_first_step(&mut texts, fresh_texts);
    }
    let mut curves = RunCurves::default();
    for (tag, curve) in tags {
        if let Some(pair) = cos_pair(&tag) {
            curves.cos_sim.insert(pair, curve);
        } else if let Some((stage, field)) = conflict_summary::scalar_field(&tag) {
            let summary = curves.cos_summaries.entry(stage).or_default();
            *summary.curve_mut(field) = curve;
        } else if let Some(task) = success_task(&tag) {
            curves.success.insert(task.to_string(), curve);
        } else if let Some(rest) = tag.strip_prefix("charts/") {
            let task = rest.trim_end_matches("/episodic_return");
            curves.returns.insert(task.to_string(), curve);
        }
    }
    for (tag, points) in texts {
        let Some(stage) = conflict_summary::lowest_pairs_stage(&tag) else {
            continue;
        };
        let summary = curves.cos_summaries.entry(stage).or_default();
        summary.lowest = (points.into_iter())
            .map(|(step, text)| (step, crate::train::pair_summary::parse_lowest_table(&text)))
            .collect();
    }
    for (stage, count) in pairs {
        if let Some(summary) = curves.cos_summaries.get_mut(&stage) {
            summary.pairs = count;
        }
    }
    Ok(curves)
}

/// Adds a later event file's points to `tags`: a resumed run's file repeats the steps after
/// its checkpoint, so its points replace the earlier ones from its first step on.
fn replace_from_first_step<T>(
    tags: &mut BTreeMap<String, Vec<(u64, T)>>,
    fresh: BTreeMap<String, Vec<(u64, T)>>,
) {
    for (tag, points) in fresh {
        let curve = tags.entry(tag).or_default();
        let first = points[0].0;
        curve.retain(|(s, _)| *s < first);
        curve.extend(points);
    }
}

/// The task of a success-rate tag `charts/<task>/success_rate`.
fn success_task(tag: &str) -> Option<&str> {
    tag.strip_prefix("charts/")?.strip_suffix("/success_rate")
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
