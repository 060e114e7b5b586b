//! The error type of the environment crate.

/// What can go wrong when making or stepping an environment.
///
/// Every variant names the environment id so that a message reaching the user says which
/// task failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvError {
    /// No environment is registered under this id.
    #[error("unknown environment id `{id}`; registered ids: {known}")]
    UnknownEnv {
        /// The id that was asked for.
        id: String,
        /// The registered ids, comma separated.
        known: String,
    },
    /// A parameter name that the environment does not have.
    #[error("environment `{env}` has no parameter `{name}`; its parameters are: {known}")]
    UnknownParam {
        /// Environment id.
        env: String,
        /// The unknown parameter name.
        name: String,
        /// The environment's parameter names, comma separated.
        known: String,
    },
    /// A parameter value of the wrong type (a string where a number is needed).
    #[error("environment `{env}`: parameter `{name}` = {value} must be {expected}")]
    ParamType {
        /// Environment id.
        env: String,
        /// Parameter name.
        name: String,
        /// The value given, as written in TOML.
        value: String,
        /// What the environment takes, e.g. `a number`.
        expected: &'static str,
    },
    /// A parameter value outside its allowed range.
    #[error("environment `{env}`: parameter `{name}` = {value} is invalid: {reason}")]
    InvalidParam {
        /// Environment id.
        env: String,
        /// Parameter name.
        name: String,
        /// The value given.
        value: f64,
        /// Why it is rejected.
        reason: String,
    },
    /// An action outside the environment's action space.
    #[error("environment `{env}`: action {action} is outside the action space {space}")]
    InvalidAction {
        /// Environment id.
        env: String,
        /// The action, formatted.
        action: String,
        /// The action space, formatted.
        space: String,
    },
    /// `step` was called before the first `reset`, or after an episode ended without `reset`.
    #[error("environment `{env}`: step called {when}; call reset first")]
    NeedsReset {
        /// Environment id.
        env: String,
        /// "before reset" or "after the episode ended".
        when: &'static str,
    },
    /// An environment broke the Env contract (found by a checker or a wrapper).
    #[error("environment `{env}` broke the Env contract at step {step}: {problem}")]
    Contract {
        /// Environment id.
        env: String,
        /// Environment step (since the last reset) at which the problem was seen.
        step: u64,
        /// What was wrong.
        problem: String,
    },
    /// An environment run by another runtime (a Python Gymnasium environment behind a
    /// `gym:` id) could not be made or failed; the message says what to do about it.
    #[error("environment `{env}`: {message}")]
    External {
        /// Environment id.
        env: String,
        /// What went wrong, including the foreign error (e.g. the Python exception).
        message: String,
    },
    /// A saved state ([`Env::save_state`](crate::Env::save_state)) that this environment
    /// cannot restore: truncated, or saved by another environment or version.
    #[error("environment `{env}`: cannot restore the saved state: {reason}")]
    State {
        /// Environment id.
        env: String,
        /// What was wrong with the bytes.
        reason: String,
    },
    /// The environment cannot save or restore its state (it does not implement
    /// [`Env::save_state`](crate::Env::save_state)).
    #[error("environment `{env}` cannot save or restore its state")]
    StateUnsupported {
        /// Environment id.
        env: String,
    },
}
