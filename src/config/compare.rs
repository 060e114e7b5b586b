//! `[compare]`: what `polytask compare` runs on a config's task set — the methods, seeds and
//! baseline. A training run ignores this section.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The name of the baseline method: one independent agent per task, same architecture and
/// hyperparameters, no sharing.
pub const SINGLE_TASK: &str = "single-task";

/// `[compare]`: methods and seeds of a comparison.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompareSection {
    /// The methods, each `single-task`, an aggregator name (`sum`, `pcgrad`, ...) or the
    /// name of one of [`CompareSection::variants`].
    pub methods: Vec<String>,
    /// Runs per method, with seeds `seed`, `seed + 1`, ...
    #[serde(default = "default_seeds")]
    pub seeds: usize,
    /// The method every other is judged against; `single-task` when listed, else the first.
    pub baseline: Option<String>,
    /// Named methods as config overrides, e.g.
    /// `pcgrad-slow = { "surgery.aggregator" = "pcgrad", "algorithm.learning_rate" = 3e-4 }`.
    #[serde(default)]
    pub variants: BTreeMap<String, BTreeMap<String, toml::Value>>,
    /// The success rate (of tasks whose environments report `success`, e.g. Meta-World's)
    /// at which the report's steps-to-success table counts a task as solved.
    #[serde(default = "default_success_threshold")]
    pub success_threshold: f64,
}

fn default_seeds() -> usize {
    3
}

fn default_success_threshold() -> f64 {
    0.9
}

impl CompareSection {
    /// The baseline method's name.
    pub fn baseline(&self) -> &str {
        match &self.baseline {
            Some(b) => b,
            None if self.methods.iter().any(|m| m == SINGLE_TASK) => SINGLE_TASK,
            None => &self.methods[0],
        }
    }
}
