//! `polytask env-worker` (hidden): a worker process of the vector env, started by it to step
//! rows of Python environments in an interpreter of their own (see
//! [`crate::vec_env::serve_worker`]); not meant to be run by hand.

use polytask_envs::Registry;

/// Arguments of `polytask env-worker`.
#[derive(Debug, clap::Args)]
pub struct EnvWorkerArgs {
    /// The inherited descriptor of the shared memory that holds the vector env's buffers.
    #[arg(long)]
    pub shm_fd: i32,
}

/// Serves the parent vector env until it closes this process's stdin.
pub fn run(args: &EnvWorkerArgs, registry: &Registry) -> anyhow::Result<()> {
    crate::vec_env::serve_worker(args.shm_fd, registry)?;
    Ok(())
}
