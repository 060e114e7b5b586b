//! Environments written for other Gymnasium implementations, made into polytask [`Env`]s.
//! Both adapters sit behind cargo features, so that the crate's default build stays free of
//! their dependencies:
//!
//! - feature `gymnasium-rs`: [`GymnasiumRs`] wraps an environment written against the
//!   [`gymnasium-rs`](https://crates.io/crates/gymnasium-rs) crate's `Env` trait;
//! - feature `python`: ids of the form `gym:<Gymnasium id>` (e.g. `gym:CartPole-v1`) make
//!   a real Python Gymnasium environment ([`PythonEnv`]), run by an embedded CPython.
//!   [`Registry::make`](crate::Registry::make) resolves them, so they work wherever an
//!   environment id is accepted. Without the feature such an id is an error that says how to
//!   rebuild.
//!
//! [`Env`]: crate::Env

#[cfg(feature = "gymnasium-rs")]
mod gymnasium_rs;
#[cfg(feature = "python")]
mod python;
#[cfg(feature = "python")]
mod python_path;

#[cfg(feature = "gymnasium-rs")]
pub use gymnasium_rs::{GymnasiumRs, RsAction, RsObservation};
#[cfg(feature = "python")]
pub use python::{gymnasium_version, PythonEnv};
#[cfg(feature = "python")]
pub use python_path::POLYTASK_PYTHON;

use crate::{Env, EnvError, Params};

/// The prefix of environment ids that name a Python Gymnasium environment: `gym:CartPole-v1`
/// is Gymnasium's `CartPole-v1`.
pub const GYM_PREFIX: &str = "gym:";

/// Makes the Python Gymnasium environment named by `id` (which starts with [`GYM_PREFIX`]).
#[cfg(feature = "python")]
pub(crate) fn make_gym(id: &str, params: &Params) -> Result<Box<dyn Env>, EnvError> {
    Ok(Box::new(PythonEnv::make(id, params)?))
}

/// Without the `python` feature a `gym:` id cannot be made; the error says how to rebuild.
#[cfg(not(feature = "python"))]
pub(crate) fn make_gym(id: &str, _params: &Params) -> Result<Box<dyn Env>, EnvError> {
    Err(EnvError::External {
        env: id.to_string(),
        message: "`gym:` ids run Python Gymnasium environments, which this build of polytask \
                  does not include; rebuild it with the `python` feature \
                  (`cargo build --release --features python`, which needs a Python 3 with a \
                  shared libpython, e.g. Debian's python3-dev) and install gymnasium for that \
                  Python (see docs/custom-envs.md, \"Python Gymnasium environments\")"
            .to_string(),
    })
}
