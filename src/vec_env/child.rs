//! The worker process's side ([`serve_worker`], run by the hidden `polytask env-worker`
//! command): it makes the rows the parent asks for with the ordinary registry, maps the
//! shared buffers and steps its rows with the ordinary [`Shard`], answering each request of
//! the parent ([`super::wire`]) until its stdin closes.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, RawFd};

use polytask_envs::{Env, ParamValue, Params, Registry};

use super::buffers::Buffers;
use super::shard::Shard;
use super::shm::Mapping;
use super::snapshot::RowSnapshot;
use super::wire::{self, RemoteFailure, Setup, SetupFailure, Shape, Spec, WireSpace};

/// Why a worker process stopped serving (its parent then reports the process as ended).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Its pipes failed, or the parent sent something it cannot read.
    #[error("env-worker: the connection to the parent failed: {0}")]
    Pipe(#[from] io::Error),
    /// It was started with a descriptor that is not open.
    #[error("env-worker: --shm-fd {0} is not an open descriptor (this command is started by the vector env, not by hand)")]
    BadDescriptor(RawFd),
    /// The parent sent a message out of order.
    #[error("env-worker: unexpected message (tag {0}) from the parent")]
    Unexpected(u8),
}

/// Serves the parent on stdin and stdout with the rows it asks for, made with `registry`,
/// in the buffers of shared-memory descriptor `shm_fd`; returns when stdin closes.
///
/// Before anything else it takes the protocol off the standard streams: stdout is kept for
/// the answers and descriptor 1 is pointed at stderr, stdin is kept for the requests and
/// descriptor 0 at `/dev/null`, so that an environment that prints or reads cannot garble
/// the protocol. It ignores SIGINT and SIGTERM: a Ctrl-C in the terminal reaches the whole
/// process group, and the parent, which stops training with a checkpoint, ends its workers
/// itself.
pub fn serve_worker(shm_fd: RawFd, registry: &Registry) -> Result<(), WorkerError> {
    // SAFETY: fcntl on a descriptor number; an invalid one is an error.
    if unsafe { libc::fcntl(shm_fd, libc::F_GETFD) } < 0 {
        return Err(WorkerError::BadDescriptor(shm_fd));
    }
    // SAFETY: installs SIG_IGN, which is always sound.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
    let (mut input, mut output) = take_protocol_streams()?;
    // SAFETY: the descriptor is open (checked above) and stays open for the process's life.
    let shm = unsafe { BorrowedFd::borrow_raw(shm_fd) };

    let Some((wire::SPEC, payload)) = wire::read_frame(&mut input)? else {
        return Ok(());
    };
    let spec: Spec = wire::decode(&payload)?;
    let envs = match make_rows(&spec, registry) {
        Ok((envs, shapes)) => {
            wire::write_value(&mut output, wire::SHAPES, &shapes)?;
            envs
        }
        Err(failure) => {
            return Ok(wire::write_value(
                &mut output,
                wire::SETUP_FAILED,
                &failure,
            )?)
        }
    };
    let setup: Setup = match wire::read_frame(&mut input)? {
        Some((wire::SETUP, payload)) => wire::decode(&payload)?,
        Some((tag, _)) => return Err(WorkerError::Unexpected(tag)),
        None => return Ok(()),
    };
    let mapping = match Mapping::map(shm.as_fd(), setup.dims.mapping_len()) {
        Ok(mapping) => mapping,
        Err(e) => {
            let failure = SetupFailure::SharedMemory {
                message: e.to_string(),
            };
            return Ok(wire::write_value(
                &mut output,
                wire::SETUP_FAILED,
                &failure,
            )?);
        }
    };
    let bufs = Buffers::in_mapping(mapping, setup.dims);
    let seeds: Vec<u64> = spec.tasks.iter().flat_map(|t| t.seeds.clone()).collect();
    let mut shard = Shard::new(setup.rows, setup.segments, envs);
    // SAFETY: the parent touches none of this shard's rows until it reads our answer.
    match unsafe { shard.reset(&bufs, &seeds) } {
        Ok(()) => wire::write_frame(&mut output, wire::READY, &[])?,
        Err(failure) => {
            wire::write_value(&mut output, wire::FAILED, &RemoteFailure::from(failure))?
        }
    }
    serve_steps(&mut shard, &bufs, &mut input, &mut output)
}

/// Answers step, save and load requests until stdin closes.
fn serve_steps(
    shard: &mut Shard,
    bufs: &Buffers,
    input: &mut impl io::Read,
    output: &mut impl Write,
) -> Result<(), WorkerError> {
    while let Some((tag, payload)) = wire::read_frame(input)? {
        match tag {
            wire::STEP => {
                // SAFETY: between a step request and our answer the parent touches none of
                // this shard's rows.
                match unsafe { shard.step(bufs) } {
                    Ok(()) => wire::write_frame(output, wire::STEPPED, &[])?,
                    Err(failure) => {
                        wire::write_value(output, wire::FAILED, &RemoteFailure::from(failure))?
                    }
                }
            }
            wire::SAVE => wire::write_value(output, wire::SAVED, &shard.save_rows())?,
            wire::LOAD => {
                let (steps, rows): (u64, Vec<RowSnapshot>) = wire::decode(&payload)?;
                let loaded =
                    (shard.load_rows(&rows, steps)).map_err(|(row, e)| (row, e.to_string()));
                wire::write_value(output, wire::LOADED, &loaded)?;
            }
            other => return Err(WorkerError::Unexpected(other)),
        }
    }
    Ok(())
}

/// Every row's environment, in row order, and each task's shape.
type Rows = (Vec<Box<dyn Env>>, Vec<Shape>);

/// Makes every row of `spec`, in order, and the shape of each task (from its first row);
/// the rows of a task must agree on their metric names.
fn make_rows(spec: &Spec, registry: &Registry) -> Result<Rows, SetupFailure> {
    let mut envs = Vec::new();
    let mut shapes = Vec::with_capacity(spec.tasks.len());
    for (t, task) in spec.tasks.iter().enumerate() {
        let params: Params = (task.params.iter())
            .map(|(k, v)| (k.as_str(), ParamValue::from(v.clone())))
            .collect();
        for k in 0..task.rows.len() {
            let env = registry
                .make(&task.env, &params)
                .map_err(|e| SetupFailure::Make {
                    task: t,
                    message: e.to_string(),
                })?;
            if k == 0 {
                shapes.push(Shape {
                    observation: WireSpace::from(env.observation_space()),
                    action: WireSpace::from(env.action_space()),
                    metrics: env.metric_names().to_vec(),
                });
            } else if env.metric_names() != shapes[t].metrics {
                return Err(SetupFailure::Invalid {
                    reason: metric_names_differ(&task.name, &shapes[t].metrics, env.metric_names()),
                });
            }
            envs.push(env);
        }
    }
    Ok((envs, shapes))
}

/// The message for instances of task `task` that report different metric names.
pub(super) fn metric_names_differ(task: &str, first: &[String], other: &[String]) -> String {
    format!(
        "task `{task}`: its environments report different metrics ({first:?} and {other:?}); \
         every instance of a task must report the same metric names"
    )
}

/// Duplicates stdin and stdout for the protocol (close-on-exec, so that subprocesses of the
/// environments do not inherit them), then points descriptor 0 at `/dev/null` and 1 at
/// stderr.
fn take_protocol_streams() -> io::Result<(BufReader<File>, File)> {
    let dup = |fd: RawFd| -> io::Result<File> {
        // SAFETY: duplicating a standard descriptor.
        let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        if new < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor that nothing else owns.
        Ok(unsafe { File::from_raw_fd(new) })
    };
    let (input, output) = (dup(0)?, dup(1)?);
    io::stdout().flush()?;
    let null = File::open("/dev/null")?;
    // SAFETY: dup2 onto the standard descriptors, whose old files are kept by the duplicates.
    unsafe {
        if libc::dup2(null.as_raw_fd(), 0) < 0 || libc::dup2(2, 1) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((BufReader::new(input), output))
}
