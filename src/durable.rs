//! Files that survive a crash: written and `fsync`ed before they are renamed into place, and
//! the folder holding a rename `fsync`ed after it (the usual recipe of SQLite, LMDB and
//! PostgreSQL for a write that is either complete or absent after a power cut).
//!
//! Also the test-only *failpoints* that the crash tests use to stop the process at a named
//! step of a save: `POLYTASK_FAILPOINT=<name>` kills the process with SIGKILL when it gets
//! there, `POLYTASK_FAILPOINT=<name>@<n>` only the `n`-th time (counting from 1), and
//! `POLYTASK_FAILPOINT=<name>:enospc` (or `<name>@<n>:enospc`) makes the write there fail as
//! a full disk would, and `:sigint` / `:sigterm` send the process that signal there (as a
//! user's Ctrl-C at exactly that point would). The variable is read only when a save reaches a failpoint, so
//! failpoints cost nothing elsewhere.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable that arms a failpoint (for tests).
pub const FAILPOINT_VAR: &str = "POLYTASK_FAILPOINT";

/// Writes `bytes` to `path` and `fsync`s the file. Does not sync the folder: a caller that
/// renames the file, or a folder holding it, syncs the parent after the rename.
pub fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    failpoint_io(&format!("write:{}", name.unwrap_or_default()))?;
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `fsync`s the folder `dir`, so that renames and new entries in it are on disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The folder that holds `path` (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `path` so that after a crash `path` holds either its old content or
/// `bytes`, never a part: a synced staging file beside it, renamed over it, then the folder
/// synced.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut staging = path.as_os_str().to_owned();
    staging.push(".tmp");
    let staging = Path::new(&staging);
    write_synced(staging, bytes)?;
    fs::rename(staging, path)?;
    sync_dir(parent(path))
}

/// A failpoint: when `POLYTASK_FAILPOINT` names `name`, the process is killed here by
/// SIGKILL, as a crash or `kill -9` would end it (no destructors, no flush).
pub fn failpoint(name: &str) {
    match armed(name) {
        Some(Fault::Kill) => kill(),
        Some(Fault::Signal(signal)) => raise(signal),
        _ => {}
    }
}

fn kill() {
    raise(libc::SIGKILL);
}

fn raise(signal: i32) {
    // SAFETY: raise has no memory-safety preconditions.
    unsafe {
        libc::raise(signal);
    }
}

/// As [`failpoint`], and `POLYTASK_FAILPOINT=<name>:enospc` makes this return the error a
/// full disk gives (ENOSPC).
pub fn failpoint_io(name: &str) -> io::Result<()> {
    match armed(name) {
        Some(Fault::Kill) => {
            kill();
            Ok(())
        }
        Some(Fault::NoSpace) => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
        Some(Fault::Signal(signal)) => {
            raise(signal);
            Ok(())
        }
        None => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Kill,
    NoSpace,
    Signal(i32),
}

/// How often the armed failpoint has been reached.
static HITS: AtomicUsize = AtomicUsize::new(0);

fn armed(name: &str) -> Option<Fault> {
    let value = std::env::var(FAILPOINT_VAR).ok()?;
    let (point, fault) = match value.rsplit_once(':') {
        Some((point, "enospc")) => (point, Fault::NoSpace),
        Some((point, "sigint")) => (point, Fault::Signal(libc::SIGINT)),
        Some((point, "sigterm")) => (point, Fault::Signal(libc::SIGTERM)),
        _ => (value.as_str(), Fault::Kill),
    };
    let (point, nth) = match point.split_once('@') {
        Some((point, n)) => (point, n.parse().ok()?),
        None => (point, 1),
    };
    if point != name {
        return None;
    }
    let hit = HITS.fetch_add(1, Ordering::Relaxed) + 1;
    (hit == nth).then_some(fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_file_leaves_the_new_content_and_no_staging_file() {
        let dir = std::env::temp_dir().join(format!("polytask-durable-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.json");
        replace_file(&path, b"old").unwrap();
        replace_file(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parent_of_a_bare_name_is_the_current_folder() {
        assert_eq!(parent(Path::new("checkpoint")), Path::new("."));
        assert_eq!(parent(Path::new("runs/a/checkpoint")), Path::new("runs/a"));
    }
}
