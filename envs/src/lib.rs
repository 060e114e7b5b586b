//! Environments for polytask: the [`Env`] trait (Gymnasium's conventions, allocation-free),
//! [`Space`]s, [`wrappers`], the [`Registry`] of ids, built-in environments whose
//! dynamics match Gymnasium 1.4's environments of the same id, and [`check_env()`], which checks
//! that an environment you wrote keeps the [`Env`] contract.
//!
//! This crate does not depend on libtorch: observations are plain `f32` slices.
#![deny(missing_docs)]

pub mod adapters;
mod check_env;
pub mod classic;
mod env;
mod error;
pub mod minatar;
mod params;
mod registry;
pub mod rng;
mod space;
pub mod state;
pub mod wrappers;

pub use check_env::{
    check_env, check_env_with, panic_message, At, Check, CheckError, CheckOptions, CheckReport,
    CheckWarning, Violation,
};
pub use env::{invalid_action, Action, Env, Step};
pub use error::EnvError;
pub use params::{ParamSpec, ParamValue, Params, Resolved};
pub use registry::{EnvSpec, MakeFn, Registry, MAX_EPISODE_STEPS};
pub use space::{BoxSpace, Space};
