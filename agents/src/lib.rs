//! Networks, action distributions, PPO/A2C and SAC losses and gradient surgery for polytask, on
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
pub mod sac;
pub mod squashed_gaussian;
mod stacked_linear;
mod state;
mod stem;
pub mod surgery;
pub mod task_net;
pub mod task_shape;
mod tower;
pub mod update;
pub mod weighting;

pub use error::AgentError;
