//! Networks, action distributions, PPO/A2C losses and gradient surgery for polytask, on
//! libtorch (tch). This crate knows nothing of threads, files or the command line.
#![deny(missing_docs)]

pub mod actor_critic;
pub mod adam;
pub mod calibrate;
pub mod combine;
pub mod conv;
pub mod device;
pub mod distribution;
mod error;
pub mod gae;
mod host;
pub mod kernels;
mod linear;
mod params;
pub mod ppo;
pub mod profile;
mod state;
mod stem;
pub mod surgery;
mod tower;
pub mod update;
pub mod weighting;

pub use error::AgentError;
