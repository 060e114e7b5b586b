//! What can go wrong choosing a task weighting or pairing it with an aggregator.

/// What can go wrong choosing a task weighting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightingError {
    /// No weighting has this name.
    #[error("unknown weighting `{name}`; available: {known}")]
    UnknownWeighting {
        /// The name asked for.
        name: String,
        /// The available names, comma separated.
        known: String,
    },
    /// The weighting has no hyperparameter of this name.
    #[error("weighting `{weighting}` has no parameter `{parameter}`; its parameters: {known}")]
    UnknownParameter {
        /// The weighting.
        weighting: String,
        /// The parameter asked for.
        parameter: String,
        /// The weighting's parameters, comma separated (`none` if it has none).
        known: String,
    },
    /// A hyperparameter value is out of its range.
    #[error("weighting `{weighting}`: parameter `{parameter}` = {value} {rule}")]
    InvalidParameter {
        /// The weighting.
        weighting: String,
        /// The parameter.
        parameter: String,
        /// The value given.
        value: f64,
        /// What the value must satisfy.
        rule: &'static str,
    },
    /// A role name other than `main` and `auxiliary`.
    #[error("unknown task role `{role}`; use main or auxiliary")]
    UnknownRole {
        /// The role asked for.
        role: String,
    },
    /// There are no tasks to weight.
    #[error("weighting `{weighting}` needs at least one task")]
    NoTasks {
        /// The weighting.
        weighting: String,
    },
    /// An auxiliary-task weighting without a main task.
    #[error(
        "weighting `{weighting}` weights auxiliary tasks by how they help the main task, \
         but no task has role `main`"
    )]
    NoMainTask {
        /// The weighting.
        weighting: String,
    },
    /// An auxiliary-task weighting without an auxiliary task.
    #[error("weighting `{weighting}` weights auxiliary tasks, but no task has role `auxiliary`")]
    NoAuxiliaryTask {
        /// The weighting.
        weighting: String,
    },
    /// More auxiliary tasks than the method's solver handles.
    #[error("weighting `{weighting}` handles at most {max} auxiliary tasks, got {count}")]
    TooManyAuxiliaryTasks {
        /// The weighting.
        weighting: String,
        /// The number of auxiliary tasks.
        count: usize,
        /// The most it handles.
        max: usize,
    },
    /// An aggregator name that [`crate::surgery::by_name`] does not know.
    #[error("unknown aggregator `{name}`; available: {known}")]
    UnknownAggregator {
        /// The name asked for.
        name: String,
        /// The available names, comma separated.
        known: String,
    },
    /// The weighting and the aggregator do not compose.
    #[error("weighting `{weighting}` does not compose with aggregator `{aggregator}`: {reason}")]
    Incompatible {
        /// The weighting.
        weighting: String,
        /// The aggregator.
        aggregator: String,
        /// Why, in one sentence.
        reason: &'static str,
    },
    /// Bytes that cannot restore the weighting's saved state ([`super::Weighting::load_state`]):
    /// truncated, saved by another weighting or for other tasks.
    #[error("weighting `{weighting}`: cannot restore the saved state: {reason}")]
    State {
        /// The weighting.
        weighting: String,
        /// What was wrong with the bytes.
        reason: String,
    },
}

impl WeightingError {
    /// The hyperparameter the error is about, if it is about one.
    pub fn parameter(&self) -> Option<&str> {
        match self {
            Self::UnknownParameter { parameter, .. } | Self::InvalidParameter { parameter, .. } => {
                Some(parameter)
            }
            _ => None,
        }
    }
}

impl From<crate::params::ParamError> for WeightingError {
    fn from(e: crate::params::ParamError) -> Self {
        use crate::params::ParamError;
        match e {
            ParamError::Invalid {
                method,
                parameter,
                value,
                rule,
            } => Self::InvalidParameter {
                weighting: method,
                parameter,
                value,
                rule,
            },
            ParamError::Unknown {
                method,
                parameter,
                known,
            } => Self::UnknownParameter {
                weighting: method,
                parameter,
                known,
            },
        }
    }
}
