//! The error type of the vector environment.

use polytask_envs::EnvError;

/// What can go wrong when making or stepping a [`VecEnv`](super::VecEnv).
///
/// Errors of a step name the task, the environment id and the row, so that a message that
/// reaches the user says which environment failed and why.
#[derive(Debug, thiserror::Error)]
pub enum VecEnvError {
    /// The vector env was asked for something it cannot be: no tasks, a task without
    /// environments, zero threads.
    #[error("vector env: {reason}")]
    Invalid {
        /// What was wrong.
        reason: String,
    },
    /// An environment of a task could not be made.
    #[error("task `{task}`: cannot make environment `{env}`: {source}")]
    Make {
        /// The task's name.
        task: String,
        /// The environment id.
        env: String,
        /// Why the registry refused.
        #[source]
        source: Box<EnvError>,
    },
    /// A worker thread could not be started.
    #[error("vector env: cannot start worker thread {worker}: {source}")]
    Spawn {
        /// The worker's index.
        worker: usize,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A discrete action that is not a non-negative whole number.
    #[error(
        "task `{task}`, environment `{env}` (row {row}): action {value} is not an index of \
         the action space {space}"
    )]
    InvalidAction {
        /// The task's name.
        task: String,
        /// The environment id.
        env: String,
        /// The row of the action buffer.
        row: usize,
        /// The value found in the action buffer.
        value: f32,
        /// The action space, formatted.
        space: String,
    },
    /// An environment's `step` returned an error.
    #[error("task `{task}`, environment `{env}` (row {row}) failed: {source}")]
    Step {
        /// The task's name.
        task: String,
        /// The environment id.
        env: String,
        /// The row whose environment failed.
        row: usize,
        /// The environment's error.
        #[source]
        source: Box<EnvError>,
    },
    /// An environment panicked while it was stepped or reset.
    #[error("task `{task}`, environment `{env}` (row {row}) panicked: {message}")]
    Panic {
        /// The task's name.
        task: String,
        /// The environment id.
        env: String,
        /// The row whose environment panicked.
        row: usize,
        /// The panic message.
        message: String,
    },
    /// A worker thread ended without reporting its shard's step (a bug in the vector env,
    /// not in an environment; those are caught and reported as [`VecEnvError::Panic`]).
    #[error("vector env: worker thread {worker} (rows {rows}) stopped without finishing its step")]
    WorkerLost {
        /// The worker's index.
        worker: usize,
        /// Its rows, formatted as a range.
        rows: String,
    },
    /// A step failed earlier; the environments are in an unknown state.
    #[error("vector env: a step failed earlier ({first}); make a new vector env")]
    Poisoned {
        /// The message of the first failure.
        first: String,
    },
}
