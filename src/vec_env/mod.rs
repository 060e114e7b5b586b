//! The vector environment: every environment instance of every task, stepped together by a
//! fixed set of threads, with the results in contiguous buffers that the learner reads
//! without copying.
//!
//! # Rows and buffers
//!
//! Each environment instance is a *row*. Rows are grouped by task, tasks in config order:
//! task 0's `n_0` instances are rows `0..n_0`, task 1's the next `n_1`, and so on
//! ([`TaskLayout::rows`]). Every buffer follows the same order:
//!
//! - observations ([`VecEnv::observations`]) and final observations are the concatenation
//!   of one `[n_t × obs_dim_t]` row-major block per task; [`VecEnv::task_observations`] is
//!   task `t`'s block, a slice from which the learner makes task `t`'s input tensor directly;
//! - actions ([`VecEnv::actions_mut`]) are likewise one `[n_t × act_dim_t]` block per task
//!   (`f32`; a discrete action is its index, `act_dim_t = 1`);
//! - rewards (`f32`), `terminated`, `truncated` and the statistics of finished episodes are
//!   one value per row, so task `t`'s values are the slice `rows_t` of each.
//!
//! Why this layout rather than one padded `[N × max_obs_dim]` array with a mask: the learner
//! has one input stem per task, so it needs each task's observations as a dense
//! `[n_t × obs_dim_t]` matrix anyway. With task blocks, that matrix *is* a slice of the
//! buffer (no gather, no copy, no padding to strip), tasks with large observations do not
//! inflate the memory and bandwidth of tasks with small ones, and the per-row buffers stay
//! dense for GAE. A padded array would only pay off for a network that takes every row
//! through the same input layer, which ours does not.
//!
//! # Threads and shards
//!
//! The rows are cut into `threads` contiguous *shards*, fixed for the vector env's life and
//! cut to take about equal time: each task's step is timed on a spare instance when the
//! vector env is made (`cost.rs`), so that a shard of cheap CartPoles gets more rows than a
//! shard of Acrobots, and the calling thread, which starts its shard without a hand-off,
//! gets a little more than the workers. Because tasks are contiguous and rows within a task
//! are contiguous, each shard's slice of every buffer is contiguous too: a worker touches
//! one run of memory per buffer, and only shard boundaries share a cache line.
//! [`VecEnv::step`] sends one message per worker for its whole shard (not one per
//! environment), steps shard 0 on the calling thread (which would otherwise only wait) and
//! waits for the others, spinning briefly before parking (`worker.rs` describes the
//! hand-off). A step allocates nothing.
//!
//! There is no asynchronous mode (EnvPool's `batch_size < num_envs`, where some envs step
//! while the learner computes the actions of the others). It cannot pay off where this
//! runs: in the synchronous step the calling thread already steps a shard instead of
//! waiting, so an asynchronous learner would free no core but add a third busy thread on a
//! 2-core machine; a vector step of classic-control environments (a few microseconds for
//! 64 CartPoles) is far shorter than the policy's forward pass that it would overlap with;
//! and EnvPool's own asynchronous mode measured no faster than its synchronous one on the
//! development machine (docs/performance.md, Vector env).
//!
//! # Worker processes
//!
//! Python environments (`gym:` ids) run in an embedded interpreter whose GIL lets one thread
//! at a time step them, so threads cannot step them in parallel. With
//! [`Options::python_workers`] their rows go to *worker processes* instead, as SB3's
//! `SubprocVecEnv` and EnvPool do: each is a *process shard*, a contiguous run of `gym:`
//! rows (`plan.rs` cuts them: at least one process per run of consecutive `gym:` rows, the
//! rest to the longest runs, equal rows per process), hosted by a child that is the
//! `polytask` binary itself ([`Options::worker_exe`]) re-executed as the hidden
//! `polytask env-worker`. The child makes its rows with the same registry and [`instance_seed`]
//! seeds, and steps them with the ordinary shard code (`child.rs`), so autoreset, episode
//! statistics, metrics and contract checks are the threads' own, and trajectories are
//! bit-identical to in-process ones by construction (tested). The other rows keep their
//! thread shards, cut by cost over those rows (a thread shard never spans a process's rows;
//! where native tasks sit on both sides of `gym:` ones that may add a thread).
//!
//! The buffers then live in one shared mapping of an anonymous memory file (`shm.rs`,
//! `memfd_create`; it has no name, so nothing is left behind by a killed run), which each
//! child inherits as a descriptor and maps; the arrays' places follow from the buffer sizes
//! alone (`buffers.rs`, `Dims`), computed alike on both sides. Per step, the parent writes a
//! 5-byte request to each child's stdin and reads a 5-byte answer from its stdout (`wire.rs`):
//! no serialisation and no allocation, and the pipe's system calls order the two processes'
//! accesses to the shared rows as the threads' release/acquire hand-off does. The requests go
//! out before the threads start, so processes step in parallel with each other and with the
//! thread shards. A child's failure of an environment comes back encoded (only then) and
//! becomes the usual error naming task, environment id, row and step; its stderr is the
//! parent's, so Python's warnings reach the user, and it points its own stdout at stderr so
//! that an environment's prints cannot garble the protocol.
//!
//! A child that dies (pipe end: reported at once, with its exit status) or does not answer a
//! step within [`Options::python_step_timeout`] (then it is killed) fails the step with
//! [`VecEnvError::Process`], naming its tasks, environment ids and rows; making the
//! environments has no timeout (a Meta-World environment takes seconds). A child ignores
//! SIGINT and SIGTERM (the parent's handler stops training with a checkpoint and then drops
//! the vector env), exits when its stdin closes, and is killed by the kernel if the thread
//! that started it ends (`PR_SET_PDEATHSIG`), so it never outlives the parent; dropping the
//! vector env closes the pipes, waits briefly and reaps every child. Saving and restoring
//! rows at checkpoints goes to the child over the same pipe; `gym:` environments cannot save
//! their own state, so a resumed run starts fresh episodes for them, as in process.
//!
//! # Episodes
//!
//! Finished episodes are reset in the same step, as
//! [`AutoReset`](polytask_envs::wrappers::AutoReset) does: the row's observation is the new
//! episode's first, its final observation the finished episode's last (for bootstrapping a
//! truncated episode), and its episode return and length are recorded. So are the episode's
//! per-step metrics ([`Env::metrics`], e.g. Meta-World's `success`): each metric's maximum
//! over the episode's steps, Meta-World's rule (an episode succeeded if `success` was 1 at
//! any step), in the episode-metrics buffer ([`VecEnv::episode_metrics`]; one block per task,
//! as wide as the task's [`TaskLayout::metrics`], width 0 for most tasks). The running maxima
//! are part of a row's saved state.
//!
//! # Determinism
//!
//! Instance `k` of task `t` is reset with the seed [`instance_seed`]`(seed, t, k)` and
//! afterwards continues its own random stream, so given the same actions the buffers are
//! bit-identical whatever the number of threads.
//!
//! # Failures
//!
//! An environment that returns an error or panics fails the step: [`VecEnv::step`] waits for
//! the other shards, then returns a [`VecEnvError`] naming the task, environment id, row,
//! step ([`RowStep`]) and message, and every later step returns [`VecEnvError::Poisoned`].
//! Dropping the vector env stops and joins its threads and reaps its worker processes.
//!
//! Every observation an environment writes (after a step or a reset) and every reward must
//! be finite (and every metric), else the step fails with [`VecEnvError::Contract`]: each row's observation is
//! filled with NaN before the call, so an environment that writes fewer elements than its
//! observation space has is caught too, and one that writes more panics on the slice's
//! bounds. A panic inside an environment is reported by the error alone: while the workers
//! run environments, the panic hook records where it happened instead of printing a panic
//! report (set `RUST_BACKTRACE=1` to get the report and backtrace as well).

mod buffers;
mod child;
mod cost;
mod error;
mod layout;
mod plan;
mod process;
mod shard;
mod shm;
mod snapshot;
mod wire;
mod worker;

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use crossbeam_utils::sync::Parker;
use polytask_envs::wrappers::EpisodeStats;
use polytask_envs::{Env, Registry};

use crate::config::Task;
use buffers::{Buffers, Dims};
use layout::{Layout, TaskShape};
use process::Process;
use shard::{Failure, FailureKind, Shard};
use worker::{Bell, Worker};

pub use child::{serve_worker, WorkerError};
pub use error::{ContractViolation, ProcessFault, RowStep, VecEnvError};
pub use layout::TaskLayout;
pub use snapshot::{FreshRows, RowSnapshot, VecEnvSnapshot};

/// How a [`VecEnv`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Threads that step environments, the calling thread included: `threads - 1` worker
    /// threads are started and [`VecEnv::step`] steps the first shard itself; more threads
    /// than rows are not used. 0 chooses automatically: one thread when a whole vector step
    /// costs under 50 µs, else one per core. Default 1.
    pub threads: usize,
    /// How long a waiting thread spins before it parks, both a worker waiting for the next
    /// step and the learner waiting for the workers. Spinning saves the microseconds that
    /// waking a parked thread costs, but occupies a core. Default 20 µs.
    pub spin: Duration,
    /// Worker processes for the rows of `gym:` (Python) tasks: `Some(0)` steps them in this
    /// process (under its one GIL), `Some(n)` in `n` processes (at least one per run of
    /// consecutive `gym:` rows, at most one per row), `None` chooses one per core, or none
    /// when there is no [`Options::worker_exe`]. Ignored without the `python` feature.
    /// Default `Some(0)`.
    pub python_workers: Option<usize>,
    /// How long a worker process may take to answer a step or a checkpoint request before
    /// it is killed and the step fails (making its environments is not bounded). Default
    /// 60 s.
    pub python_step_timeout: Duration,
    /// The executable that worker processes run (as `EXE env-worker`): a `polytask` binary
    /// that knows the same environment ids. Default: [`default_worker_exe`].
    pub worker_exe: Option<PathBuf>,
}

impl Options {
    /// The options of a training run of `config`: its threads, worker processes and step
    /// timeout, the rest defaults.
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            threads: config.threads,
            python_workers: config.python_workers,
            python_step_timeout: config.python_step_timeout,
            ..Self::default()
        }
    }
}

/// The environment variable naming the `polytask` binary that worker processes run, for a
/// program that uses polytask as a library (its own executable cannot serve as a worker).
pub const POLYTASK_WORKER_EXE: &str = "POLYTASK_WORKER_EXE";

/// The default [`Options::worker_exe`]: the executable named by [`POLYTASK_WORKER_EXE`] if
/// set, else this process's executable if it is a `polytask` binary (file name `polytask`),
/// else none: a program embedding the library (a test, an example) then steps `gym:` tasks
/// in its own process unless it names a worker executable.
pub fn default_worker_exe() -> Option<PathBuf> {
    if let Some(exe) = std::env::var_os(POLYTASK_WORKER_EXE).filter(|e| !e.is_empty()) {
        return Some(exe.into());
    }
    let exe = std::env::current_exe().ok()?;
    (exe.file_stem()? == "polytask").then_some(exe)
}

impl Default for Options {
    fn default() -> Self {
        Self {
            threads: 1,
            spin: Duration::from_micros(20),
            python_workers: Some(0),
            python_step_timeout: Duration::from_secs(60),
            worker_exe: default_worker_exe(),
        }
    }
}

/// Whether `task`'s rows go to worker processes when there are any: its id is a Python
/// Gymnasium one (and the binary can run those).
fn hosted_by_process(task: &Task) -> bool {
    cfg!(feature = "python") && task.env.starts_with(polytask_envs::adapters::GYM_PREFIX)
}

/// The number of worker processes asked for: see [`Options::python_workers`].
fn python_workers(options: &Options, tasks: &[Task]) -> usize {
    let gym_rows: usize = (tasks.iter())
        .filter(|t| hosted_by_process(t))
        .map(|t| t.num_envs)
        .sum();
    let cores = || std::thread::available_parallelism().map_or(1, |n| n.get());
    match options.python_workers {
        _ if gym_rows == 0 => 0,
        Some(n) => n.min(gym_rows),
        None if options.worker_exe.is_none() => 0,
        None => cores().min(gym_rows),
    }
}

/// A whole vector step cheaper than this (ns, on one core) is stepped by one thread when the
/// thread count is automatic: handing shards to other cores would cost about as much as it
/// saves, and a learner sharing the cores loses more to a busy worker than it gains.
const AUTO_SINGLE_THREAD_NS: f64 = 50_000.0;

/// The automatic thread count for the rows of `tasks` that threads step (`in_threads`):
/// one for a cheap vector step (see [`AUTO_SINGLE_THREAD_NS`]), else one per core, at most
/// one per environment.
fn auto_threads(costs: &[f64], tasks: &[Task], in_threads: &[bool]) -> usize {
    let threaded = || {
        (tasks.iter().zip(costs))
            .zip(in_threads)
            .filter(|(_, &on)| on)
    };
    let step_ns: f64 = threaded().map(|((t, c), _)| c * t.num_envs as f64).sum();
    let rows: usize = threaded()
        .map(|((t, _), _)| t.num_envs)
        .sum::<usize>()
        .max(1);
    if step_ns < AUTO_SINGLE_THREAD_NS {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(rows)
    }
}

/// The seed of instance `index` of task `task` in a vector env made with `seed`: a
/// SplitMix64 hash of the three, so that instances get unrelated random streams and the
/// same seed always gives the same streams.
pub fn instance_seed(seed: u64, task: usize, index: usize) -> u64 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    mix(mix(mix(seed) ^ task as u64) ^ index as u64)
}

/// Every environment instance of every task, stepped together by a fixed set of threads
/// (see the [module documentation](self) for the layout of the buffers).
pub struct VecEnv {
    layout: Layout,
    bufs: Arc<Buffers>,
    /// The first thread shard, stepped by the thread that calls [`VecEnv::step`]; none when
    /// worker processes host every row.
    local: Option<Shard>,
    workers: Vec<Worker>,
    /// The worker processes, in row order.
    processes: Vec<Process>,
    /// Where the calling thread parks while it waits for the workers, and what wakes it.
    parker: Parker,
    bell: Arc<Bell>,
    spin: Duration,
    epoch: u64,
    poisoned: Option<String>,
}

impl VecEnv {
    /// Makes `task.num_envs` instances of every task with `registry`, resets them with their
    /// seeds (see [`instance_seed`]) and starts `threads - 1` worker threads.
    pub fn new(
        tasks: &[Task],
        registry: &Registry,
        seed: u64,
        threads: usize,
    ) -> Result<Self, VecEnvError> {
        let options = Options {
            threads,
            ..Options::default()
        };
        Self::with_options(tasks, registry, seed, &options)
    }

    /// The layout that a vector env of `tasks` has (rows, buffer ranges, spaces), from one
    /// instance of each task's environment, made and dropped without a reset or a step: for
    /// a caller that needs only the tasks' shapes (`polytask eval` building the network).
    pub fn layouts(tasks: &[Task], registry: &Registry) -> Result<Vec<TaskLayout>, VecEnvError> {
        let shapes = (tasks.iter())
            .map(|task| Ok(TaskShape::of(task, &*make_env(registry, task)?)))
            .collect::<Result<Vec<_>, VecEnvError>>()?;
        Ok(Layout::new(shapes).tasks)
    }

    /// As [`VecEnv::new`], with every option.
    pub fn with_options(
        tasks: &[Task],
        registry: &Registry,
        seed: u64,
        options: &Options,
    ) -> Result<Self, VecEnvError> {
        let invalid = |reason: String| Err(VecEnvError::Invalid { reason });
        if tasks.is_empty() {
            return invalid("no tasks".to_string());
        }
        if let Some(task) = tasks.iter().find(|t| t.num_envs == 0) {
            return invalid(format!("task `{}` has no environments", task.name));
        }
        let seeds: Vec<u64> = (tasks.iter().enumerate())
            .flat_map(|(t, task)| (0..task.num_envs).map(move |k| instance_seed(seed, t, k)))
            .collect();
        let mut task_rows = Vec::with_capacity(tasks.len());
        for task in tasks {
            let start = task_rows
                .last()
                .map_or(0, |r: &std::ops::Range<usize>| r.end);
            task_rows.push(start..start + task.num_envs);
        }
        // Worker processes first, so that they make their environments while this thread
        // makes the others.
        let workers = python_workers(options, tasks);
        let in_process: Vec<bool> = tasks
            .iter()
            .map(|t| workers > 0 && hosted_by_process(t))
            .collect();
        let hosted: Vec<_> = task_rows
            .iter()
            .cloned()
            .zip(in_process.iter().copied())
            .collect();
        let process_rows = plan::process_shards(&hosted, workers);
        let worker_exe = match (&options.worker_exe, process_rows.is_empty()) {
            (Some(exe), _) => exe.as_path(),
            (None, true) => std::path::Path::new(""),
            (None, false) => {
                return Err(VecEnvError::Invalid {
                    reason: format!(
                        "python_workers = {workers} needs a polytask binary to run the worker \
                         processes, and this program is not one: set {POLYTASK_WORKER_EXE} to a \
                         polytask binary, or python_workers = 0 to step the gym: tasks in \
                         this process"
                    ),
                })
            }
        };
        let shm_file = match process_rows.is_empty() {
            true => None,
            false => Some(shm::memory_file().map_err(|cause| VecEnvError::SharedMemory { cause })?),
        };
        let mut processes = Vec::with_capacity(process_rows.len());
        for (i, rows) in process_rows.iter().enumerate() {
            let spec = process_spec(tasks, &task_rows, &seeds, rows.clone());
            let file = shm_file.as_ref().expect("made above").as_fd();
            processes.push(Process::spawn(
                i + 1,
                worker_exe,
                file,
                &spec,
                options.python_step_timeout,
            )?);
        }
        let mut envs = Vec::new();
        let mut shapes = Vec::with_capacity(tasks.len());
        let mut costs = Vec::with_capacity(tasks.len());
        for (task, &elsewhere) in tasks.iter().zip(&in_process) {
            if elsewhere {
                costs.push(0.0);
                shapes.push(None);
                continue;
            }
            let make = || make_env(registry, task);
            if options.threads != 1 {
                // Quietly: an environment that panics here is reported when it is reset.
                let mut spare = make()?;
                costs.push(shard::quiet_panics(|| cost::step_cost(&mut *spare)));
            } else {
                costs.push(1.0);
            }
            let mut shape: Option<TaskShape> = None;
            for _ in 0..task.num_envs {
                let env = make()?;
                match &shape {
                    None => shape = Some(TaskShape::of(task, &*env)),
                    Some(first) if env.metric_names() != first.metrics => {
                        let reason = child::metric_names_differ(
                            &task.name,
                            &first.metrics,
                            env.metric_names(),
                        );
                        return invalid(reason);
                    }
                    Some(_) => {}
                }
                envs.push(env);
            }
            shapes.push(shape);
        }
        remote_shapes(tasks, &task_rows, &mut processes, &mut shapes)?;
        let layout = Layout::new(
            shapes
                .into_iter()
                .map(|s| s.expect("every task's shape"))
                .collect(),
        );
        let dims = Dims {
            rows: layout.rows(),
            obs_len: layout.obs_len,
            act_len: layout.act_len,
            metrics_len: layout.metrics_len,
        };
        let bufs = match &shm_file {
            None => Buffers::new(dims),
            Some(file) => {
                let shared = shm::resize(file.as_fd(), dims.mapping_len())
                    .and_then(|()| shm::Mapping::map(file.as_fd(), dims.mapping_len()))
                    .map_err(|cause| VecEnvError::SharedMemory { cause })?;
                Buffers::in_mapping(shared, dims)
            }
        };
        let bufs = Arc::new(bufs);
        for process in &mut processes {
            let rows = process.rows.clone();
            let segments = layout.segments(rows.clone());
            process.setup(&wire::Setup {
                dims,
                rows,
                segments,
            });
        }
        let threads = match options.threads {
            0 => auto_threads(
                &costs,
                tasks,
                &in_process.iter().map(|p| !p).collect::<Vec<_>>(),
            ),
            n => n,
        };
        let native_rows: Vec<usize> = (0..layout.rows())
            .filter(|&r| !in_process[layout.row_task[r]])
            .collect();
        let row_costs: Vec<f64> = native_rows
            .iter()
            .map(|&r| costs[layout.row_task[r]])
            .collect();
        let mut envs = envs.into_iter();
        let mut shards = Vec::new();
        for rows in plan::thread_shards(&native_rows, &row_costs, threads, cost::HANDOFF_NS) {
            let mut shard = Shard::new(
                rows.clone(),
                layout.segments(rows.clone()),
                envs.by_ref().take(rows.len()).collect(),
            );
            // SAFETY: no worker thread exists yet, and no worker process touches these rows;
            // this thread is the only one with them.
            unsafe { shard.reset(&bufs, &seeds[rows]) }
                .map_err(|failure| failure_error(&layout, failure))?;
            shards.push(shard);
        }
        for process in &mut processes {
            match process.ready()? {
                Ok(None) => {}
                Ok(Some(failure)) => return Err(failure_error(&layout, failure)),
                Err(failure) => return Err(setup_error(tasks, process, failure)),
            }
        }
        // Every child has mapped the memory; the mappings keep it alive.
        drop(shm_file);
        let mut shards = shards.into_iter();
        let local = shards.next();
        let parker = Parker::new();
        let bell = Arc::new(Bell::new(&parker));
        let workers = shards
            .enumerate()
            .map(|(i, shard)| {
                let learner = Arc::clone(&bell);
                Worker::spawn(i + 1, shard, Arc::clone(&bufs), learner, options.spin).map_err(
                    |source| VecEnvError::Spawn {
                        worker: i + 1,
                        cause: source,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            layout,
            bufs,
            local,
            workers,
            processes,
            parker,
            bell,
            spin: options.spin,
            epoch: 0,
            poisoned: None,
        })
    }

    /// Steps every row with its action from the action buffer, then autoresets the rows
    /// whose episode ended. Allocates nothing (unless it fails).
    pub fn step(&mut self) -> Result<(), VecEnvError> {
        if let Some(first) = &self.poisoned {
            return Err(VecEnvError::Poisoned {
                first: first.clone(),
            });
        }
        self.epoch += 1;
        for process in &mut self.processes {
            process.request_step();
        }
        let deadline = self.processes.first().map(Process::deadline);
        for worker in &self.workers {
            worker.request(self.epoch);
        }
        // SAFETY: the workers and worker processes only touch their own shards' rows; the
        // learner's slices of the buffers are all dead, since `step` borrows `self` mutably.
        let mut first = (self.local.as_mut())
            .and_then(|local| unsafe { local.step(&self.bufs) }.err())
            .map(|failure| failure_error(&self.layout, failure));
        // Wait for every worker, even after a failure, so that none writes the buffers once
        // this returns.
        for (w, worker) in self.workers.iter().enumerate() {
            let error = match worker.finish(self.epoch, &self.parker, &self.bell, self.spin) {
                Ok(None) => None,
                Ok(Some(failure)) => Some(failure_error(&self.layout, failure)),
                Err(()) => Some(VecEnvError::WorkerLost {
                    worker: w + 1,
                    rows: format!("{:?}", worker.rows),
                }),
            };
            first = first.or(error);
        }
        for process in &mut self.processes {
            let deadline = deadline.expect("set when there are processes");
            let error = match process.finish_step(deadline) {
                Ok(None) => None,
                Ok(Some(failure)) => Some(failure_error(&self.layout, failure)),
                Err(error) => Some(error),
            };
            first = first.or(error);
        }
        match first {
            None => Ok(()),
            Some(error) => {
                self.poisoned = Some(error.to_string());
                Err(error)
            }
        }
    }

    /// The state of every row and buffer, for an exact resume (see [`VecEnvSnapshot`]).
    /// Rows whose environment cannot save its state are saved without it.
    ///
    /// A worker process that cannot answer poisons the vector env (the next step returns
    /// the error); its rows are saved as fresh (no environment state, episodes at their
    /// start).
    pub fn save_state(&mut self) -> VecEnvSnapshot {
        let mut saved: Vec<(usize, Vec<RowSnapshot>)> = Vec::new();
        if let Some(local) = &self.local {
            saved.push((local.rows.start, local.save_rows()));
        }
        for worker in &self.workers {
            let shard = worker.shard.lock().unwrap_or_else(PoisonError::into_inner);
            saved.push((shard.rows.start, shard.save_rows()));
        }
        for process in &mut self.processes {
            let rows = match process.save_rows() {
                Ok(rows) if rows.len() == process.rows.len() => rows,
                result => {
                    if let Err(error) = result {
                        self.poisoned.get_or_insert_with(|| error.to_string());
                    }
                    let fresh = RowSnapshot {
                        env: None,
                        episode_return: 0.0,
                        episode_length: 0,
                        metrics: Vec::new(),
                    };
                    vec![fresh; process.rows.len()]
                }
            };
            saved.push((process.rows.start, rows));
        }
        saved.sort_by_key(|(start, _)| *start);
        let rows = saved.into_iter().flat_map(|(_, rows)| rows).collect();
        VecEnvSnapshot {
            steps: self.epoch,
            rows,
            obs: self.observations().to_vec(),
            final_obs: self.final_observations().to_vec(),
            rewards: self.rewards().to_vec(),
            terminated: self.terminated().to_vec(),
            truncated: self.truncated().to_vec(),
            episode_return: self.episode_returns().to_vec(),
            episode_length: self.episode_lengths().to_vec(),
            // SAFETY: as in `observations`.
            episode_metrics: unsafe { self.bufs.episode_metrics.slice(0..self.layout.metrics_len) }
                .to_vec(),
        }
    }

    /// Restores a state saved by [`VecEnv::save_state`] of a vector env made for the same
    /// tasks. Rows saved without their environment's state keep the fresh episode this
    /// vector env started for them; they are returned per task, so the caller can say so.
    pub fn load_state(&mut self, saved: &VecEnvSnapshot) -> Result<FreshRows, VecEnvError> {
        let rows = self.num_rows();
        let fits = saved.rows.len() == rows
            && saved.obs.len() == self.bufs.obs.len()
            && saved.final_obs.len() == self.bufs.obs.len()
            && [
                saved.rewards.len(),
                saved.terminated.len(),
                saved.truncated.len(),
            ]
            .iter()
            .chain(&[saved.episode_return.len(), saved.episode_length.len()])
            .all(|&n| n == rows)
            && (saved.episode_metrics.is_empty()
                || saved.episode_metrics.len() == self.layout.metrics_len);
        if !fits {
            return Err(VecEnvError::Invalid {
                reason: "the saved state is of a vector env with other tasks".to_string(),
            });
        }
        let mut fresh = self.load_shard_rows(saved)?;
        fresh.sort_unstable();
        let restored = |row: &usize| fresh.binary_search(row).is_err();
        // SAFETY: no step is in flight (`&mut self`), so no worker touches the buffers.
        unsafe {
            for row in (0..rows).filter(restored) {
                let obs = self.layout.obs_range(row);
                self.bufs
                    .obs
                    .slice_mut(obs.clone())
                    .copy_from_slice(&saved.obs[obs.clone()]);
                self.bufs
                    .final_obs
                    .slice_mut(obs.clone())
                    .copy_from_slice(&saved.final_obs[obs]);
                let one = row..row + 1;
                self.bufs.rewards.slice_mut(one.clone())[0] = saved.rewards[row];
                self.bufs.terminated.slice_mut(one.clone())[0] = saved.terminated[row];
                self.bufs.truncated.slice_mut(one.clone())[0] = saved.truncated[row];
                self.bufs.episode_return.slice_mut(one.clone())[0] = saved.episode_return[row];
                self.bufs.episode_length.slice_mut(one)[0] = saved.episode_length[row];
                let metrics = self.layout.metrics_range(row);
                if !saved.episode_metrics.is_empty() {
                    self.bufs
                        .episode_metrics
                        .slice_mut(metrics.clone())
                        .copy_from_slice(&saved.episode_metrics[metrics]);
                }
            }
        }
        self.epoch = saved.steps;
        let mut per_task: FreshRows = Vec::new();
        for row in fresh {
            let task = &self.layout.tasks[self.layout.row_task[row]];
            match per_task.last_mut() {
                Some((name, _, n)) if *name == task.name => *n += 1,
                _ => per_task.push((task.name.clone(), task.env.clone(), 1)),
            }
        }
        Ok(per_task)
    }

    /// Loads every shard's rows from `saved`; returns the rows left fresh.
    fn load_shard_rows(&mut self, saved: &VecEnvSnapshot) -> Result<Vec<usize>, VecEnvError> {
        let layout = &self.layout;
        let error = |(row, source): (usize, polytask_envs::EnvError)| {
            let task = &layout.tasks[layout.row_task[row]];
            VecEnvError::State {
                task: task.name.clone(),
                env: task.env.clone(),
                row,
                cause: Box::new(source),
            }
        };
        let mut fresh = Vec::new();
        if let Some(local) = &mut self.local {
            let rows = local.rows.clone();
            fresh.extend(
                local
                    .load_rows(&saved.rows[rows], saved.steps)
                    .map_err(error)?,
            );
        }
        for worker in &self.workers {
            let mut shard = worker.shard.lock().unwrap_or_else(PoisonError::into_inner);
            let rows = shard.rows.clone();
            fresh.extend(
                shard
                    .load_rows(&saved.rows[rows], saved.steps)
                    .map_err(error)?,
            );
        }
        for process in &mut self.processes {
            let rows = process.rows.clone();
            match process.load_rows(&saved.rows[rows], saved.steps)? {
                Ok(rows) => fresh.extend(rows),
                Err((row, message)) => {
                    let env = process.env_of(row).to_string();
                    return Err(error((row, wire::external(&env, message))));
                }
            }
        }
        Ok(fresh)
    }

    /// The tasks' places in the buffers, in config order.
    pub fn tasks(&self) -> &[TaskLayout] {
        &self.layout.tasks
    }

    /// The total number of rows (environment instances over all tasks).
    pub fn num_rows(&self) -> usize {
        self.layout.rows()
    }

    /// The number of threads that step environments, the calling thread included (the
    /// requested number, capped at the number of rows that threads step).
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// The number of worker processes that step `gym:` rows (see
    /// [`Options::python_workers`]).
    pub fn python_workers(&self) -> usize {
        self.processes.len()
    }

    /// The process ids of the worker processes, in row order, with the rows each hosts.
    pub fn worker_processes(&self) -> Vec<(u32, std::ops::Range<usize>)> {
        (self.processes.iter())
            .map(|p| (p.pid(), p.rows.clone()))
            .collect()
    }

    /// The task index of every row.
    pub fn row_tasks(&self) -> &[usize] {
        &self.layout.row_task
    }

    /// All observations after the latest step (after [`VecEnv::new`]: the first ones), task
    /// block after task block. A row whose episode ended holds the next episode's first
    /// observation.
    pub fn observations(&self) -> &[f32] {
        // SAFETY: (for every accessor) no step is in flight: `step` waits for every shard it
        // starts, and takes `self` mutably, so this slice dies before the next step starts.
        unsafe { self.bufs.obs.slice(0..self.bufs.obs.len()) }
    }

    /// Task `task`'s observations, `[n_t × obs_dim_t]` row-major.
    pub fn task_observations(&self, task: usize) -> &[f32] {
        &self.observations()[self.layout.tasks[task].obs.clone()]
    }

    /// The final observations of the episodes that ended on the latest step, laid out as
    /// [`VecEnv::observations`]; only rows with `terminated` or `truncated` set hold one
    /// (the others hold stale values).
    pub fn final_observations(&self) -> &[f32] {
        // SAFETY: as in `observations`.
        unsafe { self.bufs.final_obs.slice(0..self.bufs.final_obs.len()) }
    }

    /// Task `task`'s final observations, `[n_t × obs_dim_t]` (see
    /// [`VecEnv::final_observations`]).
    pub fn task_final_observations(&self, task: usize) -> &[f32] {
        &self.final_observations()[self.layout.tasks[task].obs.clone()]
    }

    /// The final observation of row `row` if its episode ended on the latest step.
    pub fn final_observation(&self, row: usize) -> Option<&[f32]> {
        self.done(row)
            .then(|| &self.final_observations()[self.layout.obs_range(row)])
    }

    /// The action buffer, task block after task block (see the module documentation).
    pub fn actions(&self) -> &[f32] {
        // SAFETY: as in `observations`.
        unsafe { self.bufs.actions.slice(0..self.bufs.actions.len()) }
    }

    /// The action buffer, to write the next step's actions into.
    pub fn actions_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `observations`; `&mut self` makes this the only slice.
        unsafe { self.bufs.actions.slice_mut(0..self.bufs.actions.len()) }
    }

    /// Task `task`'s actions, `[n_t × act_dim_t]`, to write the next step's actions into.
    pub fn task_actions_mut(&mut self, task: usize) -> &mut [f32] {
        let range = self.layout.tasks[task].actions.clone();
        &mut self.actions_mut()[range]
    }

    /// The reward of every row on the latest step.
    pub fn rewards(&self) -> &[f32] {
        // SAFETY: as in `observations`.
        unsafe { self.bufs.rewards.slice(0..self.num_rows()) }
    }

    /// Whether the latest step terminated each row's episode (do not bootstrap).
    pub fn terminated(&self) -> &[bool] {
        // SAFETY: as in `observations`.
        unsafe { self.bufs.terminated.slice(0..self.num_rows()) }
    }

    /// Whether the latest step truncated each row's episode (bootstrap from the final
    /// observation).
    pub fn truncated(&self) -> &[bool] {
        // SAFETY: as in `observations`.
        unsafe { self.bufs.truncated.slice(0..self.num_rows()) }
    }

    /// The undiscounted return of the episode that each row finished on the latest step;
    /// meaningful only where `terminated` or `truncated` is set.
    pub fn episode_returns(&self) -> &[f64] {
        // SAFETY: as in `observations`.
        unsafe { self.bufs.episode_return.slice(0..self.num_rows()) }
    }

    /// The length (environment steps) of the episode that each row finished on the latest
    /// step; meaningful only where `terminated` or `truncated` is set.
    pub fn episode_lengths(&self) -> &[u64] {
        // SAFETY: as in `observations`.
        unsafe { self.bufs.episode_length.slice(0..self.num_rows()) }
    }

    /// Row `row`'s per-step metrics (its task's [`TaskLayout::metrics`], in that order),
    /// each the maximum over the steps of the episode that ended on the latest step (e.g.
    /// Meta-World's `success`: 1 if the episode succeeded at any step); stale where no
    /// episode ended, as [`VecEnv::episode_returns`]. Empty for a task without metrics.
    pub fn episode_metrics(&self, row: usize) -> &[f32] {
        let range = self.layout.metrics_range(row);
        // SAFETY: as in `observations`.
        unsafe { self.bufs.episode_metrics.slice(range) }
    }

    /// The statistics of the episode that row `row` finished on the latest step, if any.
    pub fn episode(&self, row: usize) -> Option<EpisodeStats> {
        self.done(row).then(|| EpisodeStats {
            episode_return: self.episode_returns()[row],
            episode_length: self.episode_lengths()[row],
        })
    }

    /// The episodes that ended on the latest step, as `(task index, statistics)` in row
    /// order; allocates nothing.
    pub fn finished_episodes(&self) -> impl Iterator<Item = (usize, EpisodeStats)> + '_ {
        (0..self.num_rows()).filter_map(|row| Some((self.layout.row_task[row], self.episode(row)?)))
    }

    fn done(&self, row: usize) -> bool {
        self.terminated()[row] || self.truncated()[row]
    }
}

impl std::fmt::Debug for VecEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VecEnv")
            .field("tasks", &self.layout.tasks)
            .field("threads", &self.threads())
            .field("python_workers", &self.python_workers())
            .field("steps", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// The error for a shard's failure, with the task and environment id of its row.
fn failure_error(layout: &Layout, failure: Failure) -> VecEnvError {
    let task = &layout.tasks[layout.row_task[failure.row]];
    let (name, env, row, at) = (task.name.clone(), task.env.clone(), failure.row, failure.at);
    let contract = |violation| VecEnvError::Contract {
        task: task.name.clone(),
        env: task.env.clone(),
        row,
        at,
        violation,
    };
    match failure.kind {
        FailureKind::Panic { message, location } => VecEnvError::Panic {
            task: name,
            env,
            row,
            at,
            message,
            location,
        },
        FailureKind::Env(source) => VecEnvError::Step {
            task: name,
            env,
            row,
            at,
            cause: Box::new(source),
        },
        FailureKind::InvalidAction(value) => VecEnvError::InvalidAction {
            task: name,
            env,
            row,
            at,
            value,
            space: task.action_space.to_string(),
        },
        FailureKind::ObservationNotFinite { index, value } => {
            contract(ContractViolation::ObservationNotFinite {
                index,
                value,
                obs_dim: task.obs_dim,
            })
        }
        FailureKind::RewardNotFinite(value) => {
            contract(ContractViolation::RewardNotFinite { value })
        }
        FailureKind::MetricNotFinite { index, value } => {
            contract(ContractViolation::MetricNotFinite {
                metric: task.metrics.get(index).cloned().unwrap_or_default(),
                value,
            })
        }
        FailureKind::MetricCount { got } => contract(ContractViolation::MetricCount {
            expected: task.metrics.len(),
            got,
        }),
    }
}

/// What worker process `process` hosts: its tasks' rows, seeds, ids and parameters.
fn process_spec(
    tasks: &[Task],
    task_rows: &[std::ops::Range<usize>],
    seeds: &[u64],
    rows: std::ops::Range<usize>,
) -> wire::Spec {
    let tasks = (tasks.iter().zip(task_rows))
        .filter_map(|(task, all)| {
            let mine = all.start.max(rows.start)..all.end.min(rows.end);
            (mine.start < mine.end).then(|| wire::SpecTask {
                name: task.name.clone(),
                env: task.env.clone(),
                params: (task.params.iter())
                    .map(|(k, v)| (k.to_string(), v.into()))
                    .collect(),
                seeds: seeds[mine.clone()].to_vec(),
                rows: mine,
            })
        })
        .collect();
    wire::Spec { tasks }
}

/// Fills in the shapes of the tasks that worker processes host, from their answers; the
/// processes hosting one task must agree on its metric names.
fn remote_shapes(
    tasks: &[Task],
    task_rows: &[std::ops::Range<usize>],
    processes: &mut [Process],
    shapes: &mut [Option<TaskShape>],
) -> Result<(), VecEnvError> {
    for process in processes {
        let answer = process.shapes()?;
        let remote = answer.map_err(|failure| setup_error(tasks, process, failure))?;
        let hosted = (task_rows.iter().enumerate())
            .filter(|(_, rows)| rows.start < process.rows.end && process.rows.start < rows.end);
        for ((t, _), shape) in hosted.zip(remote) {
            let task = &tasks[t];
            match &shapes[t] {
                Some(first) if first.metrics != shape.metrics => {
                    let reason =
                        child::metric_names_differ(&task.name, &first.metrics, &shape.metrics);
                    return Err(VecEnvError::Invalid { reason });
                }
                Some(_) => {}
                None => {
                    shapes[t] = Some(TaskShape {
                        name: task.name.clone(),
                        env: task.env.clone(),
                        num_envs: task.num_envs,
                        observation_space: shape.observation.into(),
                        action_space: shape.action.into(),
                        metrics: shape.metrics,
                    })
                }
            }
        }
    }
    Ok(())
}

/// The error for a worker process that could not make or set up its rows.
fn setup_error(tasks: &[Task], process: &Process, failure: wire::SetupFailure) -> VecEnvError {
    match failure {
        wire::SetupFailure::Make { task, message } => {
            let spec_task = (tasks.iter())
                .scan(0, |start, t| {
                    let rows = *start..*start + t.num_envs;
                    *start = rows.end;
                    Some((t, rows))
                })
                .filter(|(_, rows)| rows.start < process.rows.end && process.rows.start < rows.end)
                .nth(task);
            let (name, env) =
                spec_task.map_or_else(Default::default, |(t, _)| (t.name.clone(), t.env.clone()));
            let cause = Box::new(wire::external(&env, message));
            VecEnvError::Make {
                task: name,
                env,
                cause,
            }
        }
        wire::SetupFailure::Invalid { reason } => VecEnvError::Invalid { reason },
        wire::SetupFailure::SharedMemory { message } => VecEnvError::SharedMemory {
            cause: std::io::Error::other(message),
        },
    }
}

/// One instance of `task`'s environment, or the error naming the task.
fn make_env(registry: &Registry, task: &Task) -> Result<Box<dyn Env>, VecEnvError> {
    (registry.make(&task.env, &task.params)).map_err(|source| VecEnvError::Make {
        task: task.name.clone(),
        env: task.env.clone(),
        cause: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use polytask_envs::Params;

    fn task(env: &str, num_envs: usize) -> Task {
        Task {
            name: env.to_lowercase(),
            env: env.to_string(),
            params: Params::new(),
            num_envs,
            role: crate::config::Role::Main,
            normalize_obs: false,
            normalize_reward: false,
            threshold: None,
            obs_shape: Vec::new(),
        }
    }

    #[test]
    fn instance_seeds_differ_between_instances_tasks_and_run_seeds() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..4 {
            for t in 0..4 {
                for k in 0..64 {
                    assert!(seen.insert(instance_seed(seed, t, k)));
                }
            }
        }
        assert_eq!(instance_seed(7, 1, 2), instance_seed(7, 1, 2));
    }

    #[test]
    fn the_first_observations_are_the_seeded_resets() {
        let registry = Registry::builtin();
        let tasks = [task("CartPole-v1", 2), task("Pendulum-v1", 3)];
        let v = VecEnv::new(&tasks, &registry, 5, 2).unwrap();
        assert_eq!(v.num_rows(), 5);
        assert_eq!(v.row_tasks(), [0, 0, 1, 1, 1]);
        assert_eq!(v.task_observations(1).len(), 9);
        let mut expected = [0.0; 3];
        let mut env = registry.make("Pendulum-v1", &Params::new()).unwrap();
        env.reset(Some(instance_seed(5, 1, 2)), &mut expected);
        assert_eq!(&v.task_observations(1)[6..], expected);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let registry = Registry::builtin();
        let err = VecEnv::new(&[], &registry, 0, 1).unwrap_err();
        assert!(err.to_string().contains("no tasks"), "{err}");
        let err = VecEnv::new(&[task("Nope-v0", 1)], &registry, 0, 1).unwrap_err();
        assert!(err.to_string().contains("Nope-v0"), "{err}");
    }

    #[test]
    fn automatic_threads_keep_cheap_steps_on_one_thread() {
        let registry = Registry::builtin();
        let cheap = VecEnv::new(&[task("CartPole-v1", 8)], &registry, 0, 0).unwrap();
        assert_eq!(cheap.threads(), 1);
        let heavy = VecEnv::new(&[task("Acrobot-v1", 200)], &registry, 0, 0).unwrap();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(heavy.threads(), cores.min(200));
    }

    #[test]
    fn an_invalid_action_names_the_row_and_poisons_the_env() {
        let registry = Registry::builtin();
        let mut v = VecEnv::new(&[task("CartPole-v1", 4)], &registry, 0, 2).unwrap();
        v.actions_mut()[3] = 0.5;
        let err = v.step().unwrap_err();
        assert!(
            matches!(err, VecEnvError::InvalidAction { row: 3, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("CartPole-v1"), "{err}");
        v.actions_mut()[3] = 1.0;
        assert!(matches!(v.step(), Err(VecEnvError::Poisoned { .. })));
        let mut v = VecEnv::new(&[task("CartPole-v1", 4)], &registry, 0, 2).unwrap();
        v.actions_mut()[1] = 2.0;
        let err = v.step().unwrap_err();
        assert!(matches!(err, VecEnvError::Step { row: 1, .. }), "{err}");
    }
}
