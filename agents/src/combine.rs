//! The combine stage of a learner step: the per-task gradients of one backward pass become one
//! update — task weights first (a [`Weighting`], if any), then gradient surgery on the shared
//! weights (an [`Aggregator`]) — written into the flat gradient buffer that
//! [`crate::update::MultiTaskOptimizer::apply`] then clips and applies.
//!
//! `G` travels with its Gramian ([`GradMatrix`]): computed at most once per step, read by the
//! weighting, turned into `D (G Gᵀ) D` by a diagonal weighting, read by the aggregator and by
//! the logged statistics ([`GradStats`]).

use tch::Tensor;

use crate::actor_critic::TaskGradients;
use crate::surgery::{Aggregator, GradMatrix, GradStats};
use crate::weighting::{Diagnostic, Weighting, WeightingError, WeightingInput};

/// What the combine stage leaves for logging.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    /// The weighting's weights of this step (`None` without a weighting).
    pub weights: Option<Vec<f64>>,
    /// Norms, cosines and conflicts of the task gradients before weighting, when asked for.
    pub stats: Option<GradStats>,
}

/// The weighting (optional) and the aggregator of a learner, with what the weighting
/// accumulates over a rollout iteration.
pub struct Combiner {
    aggregator: Box<dyn Aggregator>,
    weighting: Option<Box<dyn Weighting>>,
    /// Per row of `G`, the sum of this iteration's loss signals, and how many steps they sum.
    signal_sums: Vec<f64>,
    steps: usize,
}

impl std::fmt::Debug for Combiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Combiner")
            .field("aggregator", &self.aggregator.name())
            .field("weighting", &self.weighting.as_ref().map(|w| w.name()))
            .finish()
    }
}

impl Combiner {
    /// Combines with `aggregator`, after weighting the rows with `weighting` if there is one
    /// (`None`: every weight 1, nothing computed).
    pub fn new(aggregator: Box<dyn Aggregator>, weighting: Option<Box<dyn Weighting>>) -> Self {
        Self {
            aggregator,
            weighting,
            signal_sums: Vec::new(),
            steps: 0,
        }
    }

    /// The aggregator.
    pub fn aggregator(&self) -> &dyn Aggregator {
        self.aggregator.as_ref()
    }

    /// The aggregator, mutably (to reseed it or restore its state).
    pub fn aggregator_mut(&mut self) -> &mut dyn Aggregator {
        self.aggregator.as_mut()
    }

    /// The weighting, if there is one.
    pub fn weighting(&self) -> Option<&dyn Weighting> {
        self.weighting.as_deref()
    }

    /// Whether the weighting wants [`Combiner::after_step`] (FAMO).
    pub fn wants_losses_after_step(&self) -> bool {
        (self.weighting.as_ref()).is_some_and(|w| w.wants_losses_after_step())
    }

    /// The weighting's diagnostics of the last step (none without a weighting).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        self.weighting.as_ref().map_or(&[], |w| w.diagnostics())
    }

    /// Combines one step's `grads` in place: scales the rows of `G` (and, where the weighting
    /// says so, each task's own gradient) by the weights, aggregates the shared rows, and
    /// writes the result into the shared part of the flat gradient. `signals` gives one
    /// positive loss signal per row (called only with a weighting); `stats` asks for the
    /// statistics of `G` before weighting.
    pub fn combine(
        &mut self,
        grads: &mut TaskGradients,
        signals: impl FnOnce() -> Vec<f64>,
        lr: f64,
        stats: bool,
    ) -> Combined {
        let mut g = GradMatrix::new(grads.shared.shallow_clone());
        let mut before = None;
        let weights = self.weighting.as_mut().map(|weighting| {
            let losses = signals();
            if self.signal_sums.len() != losses.len() {
                self.signal_sums = vec![0.0; losses.len()];
            }
            (self.signal_sums.iter_mut().zip(&losses)).for_each(|(s, x)| *s += x);
            self.steps += 1;
            let input = WeightingInput {
                losses: &losses,
                grads: &g,
                lr,
            };
            let w = weighting.weights(&input).to_vec();
            before = stats.then(|| GradStats::of(&g));
            g.scale_rows(&w);
            if weighting.weights_task_specific() {
                for (own, &wt) in grads.own.iter_mut().zip(&w) {
                    *own *= wt;
                }
            }
            w
        });
        if g.grads().size()[1] > 0 {
            let aggregated = tch::no_grad(|| self.aggregator.aggregate(&g));
            grads.write_shared(&aggregated);
        }
        if stats && before.is_none() {
            before = Some(GradStats::of(&g));
        }
        Combined {
            weights,
            stats: before,
        }
    }

    /// The same minibatch's loss signals after the optimizer step, for the weighting.
    pub fn after_step(&mut self, signals: &[f64]) {
        if let Some(w) = &mut self.weighting {
            w.after_step(signals);
        }
    }

    /// Ends a rollout iteration: hands the weighting each row's mean loss signal over the
    /// iteration's steps (DWA's "epoch"), and starts the next sums.
    pub fn end_iteration(&mut self) {
        if let (Some(w), true) = (&mut self.weighting, self.steps > 0) {
            let means: Vec<f64> = (self.signal_sums.iter())
                .map(|s| s / self.steps as f64)
                .collect();
            w.end_iteration(&means);
        }
        self.signal_sums.iter_mut().for_each(|s| *s = 0.0);
        self.steps = 0;
    }

    /// The weighting's state ([`Weighting::save_state`]); empty without a weighting.
    pub fn save_weighting_state(&self) -> Vec<u8> {
        (self.weighting.as_ref()).map_or_else(Vec::new, |w| w.save_state())
    }

    /// Restores the weighting's state ([`Weighting::load_state`]); without a weighting, only
    /// empty bytes are accepted.
    pub fn load_weighting_state(&mut self, bytes: &[u8]) -> Result<(), WeightingError> {
        match &mut self.weighting {
            Some(w) => w.load_state(bytes),
            None => match crate::state::stateless(bytes) {
                None => Ok(()),
                Some(reason) => Err(WeightingError::State {
                    weighting: "none".to_string(),
                    reason,
                }),
            },
        }
    }
}

impl TaskGradients {
    /// Writes `aggregated` (`[P]`) as the shared part of the flat gradient.
    fn write_shared(&mut self, aggregated: &Tensor) {
        let shared = aggregated.size()[0];
        tch::no_grad(|| self.flat.narrow(0, 0, shared).copy_(aggregated));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::surgery;
    use crate::weighting::{self, Role};

    /// Two tasks, three shared parameters, one own parameter each; `flat` holds the shared
    /// part, then the two own gradients.
    fn gradients() -> TaskGradients {
        let flat = Tensor::from_slice(&[0.0f32, 0.0, 0.0, 2.0, -3.0]);
        let shared = Tensor::from_slice(&[1.0f32, 0.0, 2.0, -1.0, 1.0, 0.0]).reshape([2, 3]);
        let own = vec![flat.narrow(0, 3, 1), flat.narrow(0, 4, 1)];
        TaskGradients { shared, own, flat }
    }

    fn values(t: &Tensor) -> Vec<f32> {
        Vec::try_from(t.reshape([-1])).unwrap()
    }

    #[test]
    fn without_a_weighting_the_aggregate_is_written_to_the_shared_part() {
        let mut combiner = Combiner::new(surgery::by_name("sum").unwrap(), None);
        let mut grads = gradients();
        let signals = || -> Vec<f64> { panic!("no weighting reads loss signals") };
        let combined = combiner.combine(&mut grads, signals, 0.1, true);
        assert_eq!(values(&grads.flat), [0.0, 1.0, 2.0, 2.0, -3.0]);
        assert_eq!(combined.weights, None);
        let stats = combined.stats.unwrap();
        assert_eq!(stats.conflicts, 1, "g_0 · g_1 = -1");
        assert!((stats.norms[0] - 5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn weights_scale_the_rows_and_own_gradients_before_surgery() {
        let roles = [Role::Main, Role::Auxiliary];
        let weighting = weighting::optional("uncertainty", &BTreeMap::new(), &roles).unwrap();
        let mut combiner = Combiner::new(surgery::by_name("sum").unwrap(), weighting);
        let mut grads = gradients();
        let combined = combiner.combine(&mut grads, || vec![1.0, 4.0], 0.1, true);
        let w = combined.weights.unwrap();
        assert_eq!(w.len(), 2);
        let (w0, w1) = (w[0] as f32, w[1] as f32);
        let expected = [w0 - w1, w1, 2.0 * w0, 2.0 * w0, -3.0 * w1];
        for (got, want) in values(&grads.flat).iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        // The statistics are those of G before weighting.
        assert!((combined.stats.unwrap().norms[1] - 2f64.sqrt()).abs() < 1e-12);
        combiner.end_iteration();
    }

    #[test]
    fn without_a_weighting_only_an_empty_state_loads() {
        let mut combiner = Combiner::new(surgery::by_name("sum").unwrap(), None);
        assert!(combiner.save_weighting_state().is_empty());
        assert!(combiner.load_weighting_state(&[]).is_ok());
        let err = combiner.load_weighting_state(&[1, 2]).unwrap_err();
        assert!(err.to_string().contains("`none`"), "{err}");
    }
}
