//! Networks, action distributions, PPO/A2C losses and gradient surgery for polytask, on
//! libtorch (tch). This crate knows nothing of threads, files or the command line.
#![deny(missing_docs)]

pub mod device;
pub mod surgery;
mod error;

pub use error::AgentError;
