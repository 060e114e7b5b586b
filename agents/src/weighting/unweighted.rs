//! `none`: every task gradient keeps weight 1 (the default; the aggregator alone decides).

use super::{check, Weighting, WeightingInput};

/// All weights 1.
#[derive(Debug, Clone)]
pub struct Unweighted {
    weights: Vec<f64>,
}

impl Unweighted {
    /// Weights 1 for `tasks` tasks.
    pub fn new(tasks: usize) -> Self {
        Self {
            weights: vec![1.0; tasks],
        }
    }
}

impl Weighting for Unweighted {
    fn name(&self) -> &'static str {
        "none"
    }

    fn weights(&mut self, input: &WeightingInput<'_>) -> &[f64] {
        check(input, self.weights.len(), "none", false);
        &self.weights
    }
}
