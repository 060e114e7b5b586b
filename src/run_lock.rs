//! One run at a time per run directory: `polytask train` holds an exclusive advisory lock
//! (`flock`) on `RUN/lock` for its whole life and writes its host and process id into it.
//! The operating system drops the lock when the holder ends however it ends (crash, `kill
//! -9`, a node lost by a cluster), so a lock left by a dead process is simply taken over: a
//! requeued cluster job resumes its run without anyone removing a stale file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::usage;

/// The lock file's name inside a run directory.
pub const LOCK_FILE: &str = "lock";

/// The held lock of a run directory; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock of `run_dir` (created if missing), or fails with a usage error naming
    /// the run directory and the holder's host and process id.
    pub fn acquire(run_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("cannot create the run directory {}", run_dir.display()))?;
        let path = run_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another process"
                } else {
                    holder
                };
                return Err(usage(format!(
                    "the run directory {} is in use by {holder}; wait for that run to end, \
                     or give this one another --run-name",
                    run_dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        let me = format!(
            "pid {} on host {}\n",
            std::process::id(),
            gethostname::gethostname().to_string_lossy()
        );
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(me.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_taken_after_release() {
        let dir = std::env::temp_dir().join(format!("polytask-lock-{}", std::process::id()));
        let first = RunLock::acquire(&dir).unwrap();
        let err = RunLock::acquire(&dir).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        let again = RunLock::acquire(&dir).unwrap();
        assert!(again.path().exists());
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
