//! Gradient surgery: combining the per-task gradients of the shared weights into one update.
//!
//! Every method implements [`Aggregator`]: it takes the matrix of per-task gradients
//! `grads` of shape `[T, P]` (row `t` is task `t`'s gradient of its loss with respect to the
//! `P` shared parameters, flattened) and returns one gradient of shape `[P]` for the optimizer.
//! Methods are chosen by name with [`by_name`], or [`by_name_with`] to override their
//! hyperparameters.

mod aligned_mtl;
mod cagrad;
mod config;
mod dual_cone;
mod dualproj;
mod grad_matrix;
mod graddrop;
mod gradvac;
mod gramian;
mod imtl_g;
mod mean;
mod mgda;
mod nash_mtl;
mod pcgrad;
mod random;
mod stats;
mod sum;
mod upgrad;

pub use aligned_mtl::AlignedMtl;
pub use cagrad::CaGrad;
pub use config::ConFig;
pub use dualproj::DualProj;
pub use grad_matrix::GradMatrix;
pub use graddrop::GradDrop;
pub use gradvac::GradVac;
pub use gramian::{combine, gramian};
pub use imtl_g::ImtlG;
pub use mean::Mean;
pub use mgda::Mgda;
pub use nash_mtl::NashMtl;
pub use pcgrad::PcGrad;
pub use random::RandomWeighting;
pub use stats::GradStats;
pub use sum::Sum;
pub use upgrad::UpGrad;

use std::collections::BTreeMap;

use crate::params::Params;
use tch::Tensor;

/// Combines per-task gradients `[T, P]` into one gradient `[P]`.
pub trait Aggregator: Send {
    /// The method's name, as [`by_name`] knows it.
    fn name(&self) -> &'static str;

    /// The aggregated gradient of `grads` (`[T, P]`, one row per task); shape `[P]`, on the
    /// device and of the kind of `grads`.
    fn aggregate(&mut self, g: &GradMatrix) -> Tensor;

    /// Re-seeds the method's random choices (PCGrad's task order, ...). Deterministic methods
    /// ignore it.
    fn reseed(&mut self, _seed: u64) {}

    /// The task weights `w` of the last [`Aggregator::aggregate`] call, for methods whose
    /// result is `Σ_t w_t g_t` (one weight per task); `None` for the others.
    fn task_weights(&self) -> Option<&[f64]> {
        None
    }

    /// The state the method carries from one [`Aggregator::aggregate`] call to the next
    /// (EMA targets, random number generator, ...), as bytes that
    /// [`Aggregator::load_state`] restores, so that a resumed training run continues exactly
    /// as the uninterrupted one. Empty for a method without such state. To resume, build the
    /// method with the same name and parameters, [`Aggregator::reseed`] it as before, then
    /// load: the loaded generator replaces the reseeded one.
    fn save_state(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Restores the state saved by [`Aggregator::save_state`] of a method of the same name and
    /// parameters. Bytes that do not hold such a state (truncated, from another method) are a
    /// [`SurgeryError::State`], and the method is left as it was.
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), SurgeryError> {
        match crate::state::stateless(bytes) {
            None => Ok(()),
            Some(reason) => Err(state_error(self.name(), reason)),
        }
    }
}

/// The [`SurgeryError::State`] of `aggregator` for `reason`.
fn state_error(aggregator: &str, reason: String) -> SurgeryError {
    SurgeryError::State {
        aggregator: aggregator.to_string(),
        reason,
    }
}

/// The state struct that `aggregator` saved in `bytes`, or the error saying why not.
fn decode_state<T: serde::de::DeserializeOwned>(
    aggregator: &str,
    bytes: &[u8],
) -> Result<T, SurgeryError> {
    crate::state::decode(aggregator, bytes).map_err(|reason| state_error(aggregator, reason))
}

/// The state of a method whose only memory between calls is its random number generator
/// (PCGrad's task orders, random weighting's draws).
#[derive(serde::Serialize, serde::Deserialize)]
struct RngState {
    rng: rand_pcg::Pcg64,
}

/// [`Aggregator::save_state`] of `aggregator`, whose state is the generator `rng`.
fn save_rng(aggregator: &str, rng: &rand_pcg::Pcg64) -> Vec<u8> {
    crate::state::encode(aggregator, &RngState { rng: rng.clone() })
}

/// The generator saved by [`save_rng`] for `aggregator` in `bytes`, or why not.
fn load_rng(aggregator: &str, bytes: &[u8]) -> Result<rand_pcg::Pcg64, SurgeryError> {
    decode_state::<RngState>(aggregator, bytes).map(|state| state.rng)
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
    /// The aggregator has no hyperparameter of this name.
    #[error("aggregator `{aggregator}` has no parameter `{parameter}`; its parameters: {known}")]
    UnknownParameter {
        /// The aggregator.
        aggregator: String,
        /// The parameter asked for.
        parameter: String,
        /// The aggregator's parameters, comma separated (`none` if it has none).
        known: String,
    },
    /// A hyperparameter value is out of its range.
    #[error("aggregator `{aggregator}`: parameter `{parameter}` = {value} {rule}")]
    InvalidParameter {
        /// The aggregator.
        aggregator: String,
        /// The parameter.
        parameter: String,
        /// The value given.
        value: f64,
        /// What the value must satisfy.
        rule: &'static str,
    },
    /// Bytes that cannot restore the aggregator's saved state ([`Aggregator::load_state`]):
    /// truncated, or saved by another aggregator or version.
    #[error("aggregator `{aggregator}`: cannot restore the saved state: {reason}")]
    State {
        /// The aggregator.
        aggregator: String,
        /// What was wrong with the bytes.
        reason: String,
    },
}

impl From<crate::params::ParamError> for SurgeryError {
    fn from(e: crate::params::ParamError) -> Self {
        use crate::params::ParamError;
        match e {
            ParamError::Invalid {
                method,
                parameter,
                value,
                rule,
            } => Self::InvalidParameter {
                aggregator: method,
                parameter,
                value,
                rule,
            },
            ParamError::Unknown {
                method,
                parameter,
                known,
            } => Self::UnknownParameter {
                aggregator: method,
                parameter,
                known,
            },
        }
    }
}

impl SurgeryError {
    /// The hyperparameter the error is about, if it is about one.
    pub fn parameter(&self) -> Option<&str> {
        match self {
            Self::UnknownAggregator { .. } | Self::State { .. } => None,
            Self::UnknownParameter { parameter, .. } | Self::InvalidParameter { parameter, .. } => {
                Some(parameter)
            }
        }
    }
}

/// The names [`by_name`] accepts.
pub const NAMES: &[&str] = &[
    "sum",
    "mean",
    "pcgrad",
    "mgda",
    "cagrad",
    "upgrad",
    "dualproj",
    "imtl-g",
    "aligned-mtl",
    "config",
    "random",
    "graddrop",
    "gradvac",
    "nash-mtl",
];

/// The aggregator called `name` (lower case), with its published default hyperparameters.
pub fn by_name(name: &str) -> Result<Box<dyn Aggregator>, SurgeryError> {
    by_name_with(name, &BTreeMap::new())
}

/// The aggregator called `name` (lower case), with the hyperparameters in `params` and the
/// published defaults for the others. Unknown names, unknown parameters and values out of
/// range are errors.
pub fn by_name_with(
    name: &str,
    params: &BTreeMap<String, f64>,
) -> Result<Box<dyn Aggregator>, SurgeryError> {
    let mut p = Params::new(name, params);
    let method: Box<dyn Aggregator> = match name {
        "sum" => Box::new(Sum),
        "mean" => Box::new(Mean),
        "pcgrad" => Box::new(PcGrad::new(0)),
        "mgda" => Box::new(Mgda::from_params(&mut p)?),
        "cagrad" => Box::new(CaGrad::from_params(&mut p)?),
        "upgrad" => Box::new(UpGrad::default()),
        "dualproj" => Box::new(DualProj::default()),
        "imtl-g" => Box::new(ImtlG::default()),
        "aligned-mtl" => Box::new(AlignedMtl::default()),
        "config" => Box::new(ConFig::default()),
        "random" => Box::new(RandomWeighting::new(0)),
        "graddrop" => Box::new(GradDrop),
        "gradvac" => Box::new(GradVac::from_params(&mut p)?),
        "nash-mtl" => Box::new(NashMtl::from_params(&mut p)?),
        _ => {
            return Err(SurgeryError::UnknownAggregator {
                name: name.to_string(),
                known: NAMES.join(", "),
            })
        }
    };
    p.finish()?;
    Ok(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_and_unknown_names_list_the_known_ones() {
        let g = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]);
        for name in NAMES {
            let mut method = by_name(name).unwrap();
            assert_eq!(method.name(), *name);
            assert_eq!(
                method
                    .aggregate(&crate::surgery::GradMatrix::from(&g))
                    .size(),
                vec![2],
                "{name}"
            );
        }
        let err = by_name("pcgard").err().unwrap();
        assert_eq!(
            err.to_string(),
            format!(
                "unknown aggregator `pcgard`; available: {}",
                NAMES.join(", ")
            )
        );
    }

    #[test]
    fn parameters_are_checked_by_name_and_range() {
        let params = |k: &str, v: f64| BTreeMap::from([(k.to_string(), v)]);
        assert!(by_name_with("mgda", &params("max_iters", 5.0)).is_ok());
        let unknown = by_name_with("mgda", &params("c", 0.4)).err().unwrap();
        assert_eq!(unknown.parameter(), Some("c"));
        assert_eq!(
            unknown.to_string(),
            "aggregator `mgda` has no parameter `c`; its parameters: epsilon, max_iters"
        );
        let none = by_name_with("sum", &params("c", 0.4)).err().unwrap();
        assert!(none.to_string().ends_with("its parameters: none"), "{none}");
        let bad = by_name_with("mgda", &params("epsilon", -1.0))
            .err()
            .unwrap();
        assert_eq!(bad.parameter(), Some("epsilon"));
        assert!(bad.to_string().contains("must be positive"), "{bad}");
    }
}
