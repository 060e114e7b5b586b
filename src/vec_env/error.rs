//! The error type of the vector environment.

use std::fmt;

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
    #[error("task `{task}`: cannot make environment `{env}`: {cause}")]
    Make {
        /// The task's name.
        task: String,
        /// The environment id.
        env: String,
        /// Why the registry refused.
        cause: Box<EnvError>,
    },
    /// A worker thread could not be started.
    #[error("vector env: cannot start worker thread {worker}: {cause}")]
    Spawn {
        /// The worker's index.
        worker: usize,
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// A discrete action that is not a non-negative whole number.
    #[error(
        "task `{task}`, environment `{env}` (row {row}, {at}): action {value} is not an \
         index of the action space {space}"
    )]
    InvalidAction {
        /// The task's name.
        task: String,
        /// The environment id.
        env: String,
        /// The row of the action buffer.
        row: usize,
        /// The step it was meant for.
        at: RowStep,
        /// The value found in the action buffer.
        value: f32,
        /// The action space, formatted.
        space: String,
    },
    /// An environment's `step` returned an error.
    #[error("task `{task}`, environment `{env}` (row {row}, {at}) failed: {cause}")]
    Step {
        /// The task's name.
        task: String,
        /// The environment id.
        env: String,
        /// The row whose environment failed.
        row: usize,
        /// The step that failed.
        at: RowStep,
        /// The environment's error.
        cause: Box<EnvError>,
    },
    /// An environment panicked while it was stepped or reset.
    #[error(
        "task `{task}`, environment `{env}` (row {row}, {at}) panicked{}: {message}",
        location.as_ref().map_or_else(String::new, |l| format!(" at {l}"))
    )]
    Panic {
        /// The task's name.
        task: String,
        /// The environment id.
        env: String,
        /// The row whose environment panicked.
        row: usize,
        /// The step or reset that panicked.
        at: RowStep,
        /// The panic message.
        message: String,
        /// Where the panic happened (`file:line:column`), when the vector env's panic hook
        /// saw it (see [`VecEnv`](super::VecEnv), Failures).
        location: Option<String>,
    },
    /// An environment broke the [`Env`](polytask_envs::Env) contract in a way the vector env
    /// checks on every step: it wrote a NaN or infinite observation (or left an element of
    /// it unwritten), or returned a NaN or infinite reward.
    #[error(
        "task `{task}`, environment `{env}` (row {row}, {at}) broke the Env contract: \
         {violation}; polytask_envs::check_env finds such problems before training"
    )]
    Contract {
        /// The task's name.
        task: String,
        /// The environment id.
        env: String,
        /// The row whose environment broke the contract.
        row: usize,
        /// The step or reset that did.
        at: RowStep,
        /// What was wrong.
        violation: ContractViolation,
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
    /// An environment could not restore the state saved in a checkpoint.
    #[error(
        "task `{task}`, environment `{env}` (row {row}): cannot restore its saved state: {cause}"
    )]
    State {
        /// The task's name.
        task: String,
        /// The environment id.
        env: String,
        /// The row.
        row: usize,
        /// The environment's error.
        cause: Box<EnvError>,
    },
    /// The shared memory for worker processes could not be made or mapped.
    #[error("vector env: cannot set up the shared memory of the worker processes: {cause}")]
    SharedMemory {
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// A worker process could not be started.
    #[error("vector env: cannot start worker process {worker} ({exe} env-worker): {cause}")]
    ProcessSpawn {
        /// The worker process's index, from 1.
        worker: usize,
        /// The executable, as given by [`Options::worker_exe`](super::Options::worker_exe).
        exe: String,
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// A worker process crashed, stopped answering or could not be reached; it has been
    /// killed (if it was still running) and reaped.
    #[error("vector env: worker process {worker} (pid {pid}, rows {rows}: {hosted}) {fault}")]
    Process {
        /// The worker process's index, from 1.
        worker: usize,
        /// Its process id.
        pid: u32,
        /// The rows it hosted, formatted as a range.
        rows: String,
        /// The tasks and environment ids of those rows, e.g. ``task `walker` (environment
        /// `gym:Walker2d-v5`)``.
        hosted: String,
        /// What happened to it.
        fault: ProcessFault,
    },
    /// A step failed earlier; the environments are in an unknown state.
    #[error("vector env: a step failed earlier ({first}); make a new vector env")]
    Poisoned {
        /// The message of the first failure.
        first: String,
    },
}

/// Which call of a row's environment failed: a reset or a step, counted as the row's
/// environment steps since the vector env was made (every row takes one step per
/// [`VecEnv::step`](super::VecEnv::step), so this is also the number of vector steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowStep {
    /// Steps the row had taken, the failing one included; 0 for the reset when the vector
    /// env was made.
    pub step: u64,
    /// The failing step's place in its episode, from 1; 0 when the failing call was the
    /// reset that starts an episode (after step `step`).
    pub episode_step: u64,
}

impl fmt::Display for RowStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.step, self.episode_step) {
            (0, _) => f.write_str("first reset"),
            (step, 0) => write!(f, "reset after step {step}"),
            (step, episode_step) => write!(f, "step {step}, episode step {episode_step}"),
        }
    }
}

/// What happened to a worker process, in a [`VecEnvError::Process`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProcessFault {
    /// It ended (crashed, was killed, or exited) while the vector env needed it.
    #[error("ended unexpectedly ({status})")]
    Ended {
        /// How it ended, e.g. `killed by signal 9 (SIGKILL)` or `exit status 101`.
        status: String,
    },
    /// It did not answer within the step timeout, and was killed.
    #[error(
        "did not answer within {seconds} s (the step timeout, config key          `python_step_timeout`) and was killed"
    )]
    TimedOut {
        /// The timeout, in seconds.
        seconds: f64,
    },
    /// Its pipe failed, or it sent a message that the parent cannot read.
    #[error("broke the connection: {message}")]
    Broken {
        /// What went wrong.
        message: String,
    },
}

/// What an environment did wrong, in a [`VecEnvError::Contract`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ContractViolation {
    /// An observation element is NaN or infinite.
    #[error(
        "observation[{index}] = {value} is not finite (the vector env fills the observation \
         with NaN before each call, so an element that the environment does not write is NaN \
         too; its observation space has {obs_dim} elements)"
    )]
    ObservationNotFinite {
        /// The element's index in the flat observation.
        index: usize,
        /// Its value.
        value: f32,
        /// The length of the observation ([`Space::flat_dim`](polytask_envs::Space::flat_dim)).
        obs_dim: usize,
    },
    /// The reward is NaN or infinite.
    #[error("reward = {value} is not finite")]
    RewardNotFinite {
        /// The reward returned by `step`.
        value: f64,
    },
    /// A per-step metric ([`Env::metrics`](polytask_envs::Env::metrics)) is NaN or infinite.
    #[error("metric `{metric}` = {value} is not finite")]
    MetricNotFinite {
        /// The metric's name.
        metric: String,
        /// Its value.
        value: f32,
    },
    /// [`Env::metrics`](polytask_envs::Env::metrics) returned another number of values than
    /// [`Env::metric_names`](polytask_envs::Env::metric_names) has names.
    #[error("metrics() returned {got} values for the {expected} names of metric_names()")]
    MetricCount {
        /// The number of names.
        expected: usize,
        /// The number of values.
        got: usize,
    },
}
