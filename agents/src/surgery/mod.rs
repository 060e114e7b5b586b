//! Gradient surgery: combining the per-task gradients of the shared weights into one update.
//!
//! Every method implements [`Aggregator`]: it takes the matrix of per-task gradients
//! `grads` of shape `[T, P]` (row `t` is task `t`'s gradient of its loss with respect to the
//! `P` shared parameters, flattened) and returns one gradient of shape `[P]` for the optimizer.
//! Methods are chosen by name with [`by_name`].

mod gramian;
mod mean;
mod pcgrad;
mod stats;
mod sum;

pub use gramian::gramian;
pub use mean::Mean;
pub use pcgrad::PcGrad;
pub use stats::GradStats;
pub use sum::Sum;

use tch::Tensor;

/// Combines per-task gradients `[T, P]` into one gradient `[P]`.
pub trait Aggregator: Send {
    /// The aggregated gradient of `grads` (`[T, P]`, one row per task); shape `[P]`, on the
    /// device and of the kind of `grads`.
    fn aggregate(&mut self, grads: &Tensor) -> Tensor;

    /// Re-seeds the method's random choices (PCGrad's task order, ...). Deterministic methods
    /// ignore it.
    fn reseed(&mut self, _seed: u64) {}
}

/// What can go wrong choosing an aggregator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SurgeryError {
    /// No aggregator has this name.
    #[error("unknown aggregator `{name}`; available: {known}")]
    UnknownAggregator {
        /// The name asked for.
        name: String,
        /// The available names, comma separated.
        known: String,
    },
}

/// The names [`by_name`] accepts.
pub const NAMES: &[&str] = &["sum", "mean", "pcgrad"];

/// The aggregator called `name` (lower case), with its published default hyperparameters.
pub fn by_name(name: &str) -> Result<Box<dyn Aggregator>, SurgeryError> {
    match name {
        "sum" => Ok(Box::new(Sum)),
        "mean" => Ok(Box::new(Mean)),
        "pcgrad" => Ok(Box::new(PcGrad::new(0))),
        _ => Err(SurgeryError::UnknownAggregator {
            name: name.to_string(),
            known: NAMES.join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_and_unknown_names_list_the_known_ones() {
        let g = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]);
        for name in NAMES {
            assert_eq!(
                by_name(name).unwrap().aggregate(&g).size(),
                vec![2],
                "{name}"
            );
        }
        let err = by_name("pcgard").err().unwrap();
        assert_eq!(
            err.to_string(),
            "unknown aggregator `pcgard`; available: sum, mean, pcgrad"
        );
    }
}
