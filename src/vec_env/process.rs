//! The parent's handle on one worker process: a child running `polytask env-worker`
//! ([`super::child`]) that hosts a contiguous run of rows in the shared buffers.
//!
//! The child gets the shared memory as an inherited descriptor, the protocol on its stdin
//! and stdout ([`super::wire`]) and the parent's stderr. Between `fork` and `exec` it is set
//! to receive SIGKILL when the thread that started it ends (`PR_SET_PDEATHSIG`), so it never
//! outlives the parent. Every wait for an answer polls the pipe: an answer, the pipe's end
//! (the child died: its exit status is collected and reported at once) or, for steps and
//! checkpoints, the step timeout (the child is killed) ends it, so a step never hangs.
//! Dropping a [`Process`] closes its stdin, which the child takes as the order to exit,
//! waits briefly for it and kills it if it lingers, and reaps it.

use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::error::{ProcessFault, VecEnvError};
use super::shard::Failure;
use super::shm;
use super::snapshot::RowSnapshot;
use super::wire::{self, RemoteFailure, Setup, SetupFailure, Shape, Spec, HEADER};

/// How long a dropped process may take to exit after its stdin closes before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// One worker process and its pipes.
pub(super) struct Process {
    /// Its index, from 1 (for messages).
    pub index: usize,
    /// The rows it hosts.
    pub rows: Range<usize>,
    /// Its tasks and environment ids, for messages.
    hosted: String,
    /// The environment id of each of its tasks, with the task's rows.
    envs: Vec<(Range<usize>, String)>,
    child: Child,
    /// Closed (None) to ask the child to exit.
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Set when a write failed: the next answer awaited is reported as the child's fault.
    broken: Option<String>,
    /// Whether the child has been reaped.
    reaped: bool,
    /// The step timeout: how long a step or a checkpoint may take.
    timeout: Duration,
}

impl Process {
    /// Starts `exe env-worker` with the shared memory `shm` and sends it `spec`; `timeout`
    /// bounds its steps and checkpoints (not the making of its environments).
    pub fn spawn(
        index: usize,
        exe: &Path,
        shm: BorrowedFd<'_>,
        spec: &Spec,
        timeout: Duration,
    ) -> Result<Self, VecEnvError> {
        let spawn_error = |cause| VecEnvError::ProcessSpawn {
            worker: index,
            exe: exe.display().to_string(),
            cause,
        };
        let fd = shm.as_raw_fd();
        // SAFETY: getpid is always safe.
        let parent = unsafe { libc::getpid() };
        let mut command = Command::new(exe);
        command
            .args(["env-worker", "--shm-fd", &fd.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: the closure only makes async-signal-safe system calls (prctl, getppid,
        // fcntl), as required between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before the prctl took effect.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                shm::inheritable(fd)
            });
        }
        let mut child = command.spawn().map_err(spawn_error)?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        let (Some(stdin), Some(stdout)) = (stdin, stdout) else {
            unreachable!("both pipes were asked for");
        };
        let first = spec.tasks.first().map_or(0, |t| t.rows.start);
        let last = spec.tasks.last().map_or(0, |t| t.rows.end);
        let hosted = (spec.tasks.iter())
            .map(|t| format!("task `{}` (environment `{}`)", t.name, t.env))
            .collect::<Vec<_>>()
            .join(", ");
        let mut process = Self {
            index,
            rows: first..last,
            hosted,
            envs: (spec.tasks.iter())
                .map(|t| (t.rows.clone(), t.env.clone()))
                .collect(),
            child,
            stdin: Some(stdin),
            stdout,
            broken: None,
            reaped: false,
            timeout,
        };
        process.send_value(wire::SPEC, spec);
        Ok(process)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The environment id of row `row` (one of this process's rows).
    pub fn env_of(&self, row: usize) -> &str {
        (self.envs.iter())
            .find(|(rows, _)| rows.contains(&row))
            .map_or("", |(_, env)| env)
    }

    /// Waits (without a timeout: making environments may take long) for the shapes of the
    /// spec's tasks, or the reason they could not be made.
    pub fn shapes(&mut self) -> Result<Result<Vec<Shape>, SetupFailure>, VecEnvError> {
        match self.answer(None)? {
            (wire::SHAPES, payload) => Ok(Ok(self.decode(&payload)?)),
            (wire::SETUP_FAILED, payload) => Ok(Err(self.decode(&payload)?)),
            (tag, _) => Err(self.unexpected(tag)),
        }
    }

    /// Sends the child where its rows live.
    pub fn setup(&mut self, setup: &Setup) {
        self.send_value(wire::SETUP, setup);
    }

    /// Waits (without a timeout: resets may take long) until the child has reset its rows;
    /// the failure of a reset, or why the child could not set up.
    pub fn ready(&mut self) -> Result<Result<Option<Failure>, SetupFailure>, VecEnvError> {
        match self.answer(None)? {
            (wire::READY, _) => Ok(Ok(None)),
            (wire::FAILED, payload) => Ok(Ok(Some(self.failure(&payload)?))),
            (wire::SETUP_FAILED, payload) => Ok(Err(self.decode(&payload)?)),
            (tag, _) => Err(self.unexpected(tag)),
        }
    }

    /// Asks the child to step its rows. Allocates nothing; a failed write is reported by
    /// the next [`Process::finish_step`].
    pub fn request_step(&mut self) {
        let header = [wire::STEP, 0, 0, 0, 0];
        let written = match &mut self.stdin {
            Some(stdin) => stdin.write_all(&header),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        };
        if let Err(e) = written {
            self.broken
                .get_or_insert_with(|| format!("cannot send a step: {e}"));
        }
    }

    /// The deadline of a step requested now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// Waits until `deadline` for the child's step: its failure, if any. Allocates nothing
    /// unless the step failed.
    pub fn finish_step(&mut self, deadline: Instant) -> Result<Option<Failure>, VecEnvError> {
        let mut header = [0; HEADER];
        self.read_exact(&mut header, Some(deadline))?;
        match wire::parse_header(&header) {
            (wire::STEPPED, 0) => Ok(None),
            (wire::FAILED, len) => {
                let payload = self.payload(len, Some(deadline))?;
                Ok(Some(self.failure(&payload)?))
            }
            (tag, _) => Err(self.unexpected(tag)),
        }
    }

    /// The saved state of the child's rows.
    pub fn save_rows(&mut self) -> Result<Vec<RowSnapshot>, VecEnvError> {
        self.send_value(wire::SAVE, &());
        match self.answer(Some(Instant::now() + self.timeout))? {
            (wire::SAVED, payload) => self.decode(&payload),
            (tag, _) => Err(self.unexpected(tag)),
        }
    }

    /// Restores the child's rows (`rows[i]` for its `i`-th row): the rows left fresh, or the
    /// row that failed and its environment's message.
    pub fn load_rows(
        &mut self,
        rows: &[RowSnapshot],
        steps: u64,
    ) -> Result<Result<Vec<usize>, (usize, String)>, VecEnvError> {
        self.send_value(wire::LOAD, &(steps, rows));
        match self.answer(Some(Instant::now() + self.timeout))? {
            (wire::LOADED, payload) => self.decode(&payload),
            (tag, _) => Err(self.unexpected(tag)),
        }
    }

    fn send_value(&mut self, tag: u8, value: &impl serde::Serialize) {
        let written = match &mut self.stdin {
            Some(stdin) => wire::write_value(stdin, tag, value),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        };
        if let Err(e) = written {
            self.broken
                .get_or_insert_with(|| format!("cannot send a message: {e}"));
        }
    }

    /// The next frame, by `deadline` if one is given.
    fn answer(&mut self, deadline: Option<Instant>) -> Result<(u8, Vec<u8>), VecEnvError> {
        let mut header = [0; HEADER];
        self.read_exact(&mut header, deadline)?;
        let (tag, len) = wire::parse_header(&header);
        Ok((tag, self.payload(len, deadline)?))
    }

    fn payload(&mut self, len: usize, deadline: Option<Instant>) -> Result<Vec<u8>, VecEnvError> {
        let mut payload = vec![0; len];
        self.read_exact(&mut payload, deadline)?;
        Ok(payload)
    }

    fn decode<T: DeserializeOwned>(&mut self, payload: &[u8]) -> Result<T, VecEnvError> {
        wire::decode(payload).map_err(|e| {
            let message = format!("an unreadable message: {e}");
            self.fail(ProcessFault::Broken { message })
        })
    }

    fn failure(&mut self, payload: &[u8]) -> Result<Failure, VecEnvError> {
        let remote: RemoteFailure = self.decode(payload)?;
        let env = self.env_of(remote.row).to_string();
        Ok(remote.into_failure(&env))
    }

    fn unexpected(&mut self, tag: u8) -> VecEnvError {
        let message = format!("an unexpected message (tag {tag})");
        self.fail(ProcessFault::Broken { message })
    }

    /// Fills `buf` from the child's stdout, polling until `deadline`; the pipe's end, an
    /// error or the deadline is the child's fault (then the child is killed and reaped).
    fn read_exact(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> Result<(), VecEnvError> {
        let mut filled = 0;
        while filled < buf.len() {
            let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if wait == Some(Duration::ZERO) || !poll_readable(&self.stdout, wait) {
                let seconds = self.timeout.as_secs_f64();
                return Err(self.fail(ProcessFault::TimedOut { seconds }));
            }
            match self.stdout.read(&mut buf[filled..]) {
                Ok(0) => {
                    let status = self.reap_within(Duration::from_millis(500));
                    let fault = match &self.broken {
                        Some(message) if status.is_none() => ProcessFault::Broken {
                            message: message.clone(),
                        },
                        _ => ProcessFault::Ended {
                            status: describe(status),
                        },
                    };
                    return Err(self.fail(fault));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let message = format!("cannot read its answer: {e}");
                    return Err(self.fail(ProcessFault::Broken { message }));
                }
            }
        }
        Ok(())
    }

    /// Kills and reaps the child (if it still runs) and returns the error for `fault`.
    fn fail(&mut self, fault: ProcessFault) -> VecEnvError {
        self.stdin = None;
        if !self.reaped {
            // It may have ended already; then kill fails harmlessly.
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
        VecEnvError::Process {
            worker: self.index,
            pid: self.child.id(),
            rows: format!("{:?}", self.rows),
            hosted: self.hosted.clone(),
            fault,
        }
    }

    /// Waits up to `grace` for the child to end; its status if it did (then it is reaped).
    fn reap_within(&mut self, grace: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    return Some(status);
                }
                Ok(None) if start.elapsed() < grace => std::thread::sleep(Duration::from_millis(2)),
                _ => return None,
            }
        }
    }
}

impl Drop for Process {
    /// Closes the child's stdin (its order to exit), waits for it a moment, kills it if it
    /// lingers, and reaps it, so that no zombie is left.
    fn drop(&mut self) {
        self.stdin = None;
        if !self.reaped && self.reap_within(EXIT_GRACE).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `fd` is readable or at its end (true) or `timeout` passes (false; `None`
/// waits as long as it takes).
fn poll_readable(fd: &impl AsRawFd, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Rounded up, so that a wait never ends early.
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 {
            return true;
        }
        if n == 0 {
            return false;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // An unusable descriptor: let the read report it.
            return true;
        }
    }
}

/// An exit status as a phrase: `exit status 1`, `killed by signal 9 (SIGKILL)`.
fn describe(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "it closed its pipe and was killed".to_string();
    };
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(sig) => {
            let name = match sig {
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGSEGV => " (SIGSEGV)",
                libc::SIGABRT => " (SIGABRT)",
                libc::SIGTERM => " (SIGTERM)",
                libc::SIGBUS => " (SIGBUS)",
                _ => "",
            };
            format!("killed by signal {sig}{name}")
        }
        None => status.to_string(),
    }
}
