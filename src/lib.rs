//! polytask: multi-task reinforcement learning in which parallel environment workers feed
//! one shared actor-critic network, and per-task gradients are combined by gradient surgery
//! before every optimizer step.
//!
//! This crate is the runtime behind the `polytask` binary: the command line, configuration,
//! environment workers, training loop, logging and reports. Environments live in
//! [`polytask_envs`], networks and gradient surgery in [`polytask_agents`].
#![deny(missing_docs)]

pub mod app;
pub mod bench;
pub mod commands;
pub mod compare;
pub mod config;
pub mod cpu;
pub mod durable;
pub mod error;
pub mod heap;
pub mod interrupt;
pub mod logger;
pub mod run_lock;
pub mod train;
pub mod vec_env;

pub use polytask_agents as agents;
pub use polytask_envs as envs;
