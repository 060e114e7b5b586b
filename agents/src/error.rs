//! The error type of the agents crate.

/// What can go wrong when building or running a network or an aggregator.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// CUDA was asked for but cannot be used.
    #[error("CUDA was requested but is not available: {reason}")]
    CudaUnavailable {
        /// Why: no GPU, or libtorch's CUDA library could not be loaded.
        reason: String,
    },
    /// A device name other than `cpu`, `cuda`, `cuda:N` or `auto`.
    #[error("unknown device `{0}`; use cpu, cuda, cuda:N or auto")]
    UnknownDevice(String),
}
