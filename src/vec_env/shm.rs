//! The shared memory that holds the vector env's buffers when it has worker processes: an
//! anonymous memory file (`memfd_create`), which the parent sizes and maps and each worker
//! process inherits as a file descriptor and maps too (`MAP_SHARED`), so that both see the
//! same pages.
//!
//! Why a memory file rather than a named file in `/dev/shm`: it has no name, so nothing is
//! left behind when the processes are killed (the memory is freed with the last mapping or
//! descriptor), and no other process can open it. The file is made close-on-exec; only the
//! worker processes get it, by clearing that flag between `fork` and `exec`
//! ([`inheritable`]).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// A new, empty anonymous memory file, closed on `exec` (see [`inheritable`]).
pub(super) fn memory_file() -> io::Result<OwnedFd> {
    const NAME: &CStr = c"polytask-vec-env";
    // SAFETY: a valid C string; the flags are valid.
    let fd = unsafe { libc::memfd_create(NAME.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets the length of `file` to `len` bytes (new bytes are zero).
pub(super) fn resize(file: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(io::Error::other)?;
    // SAFETY: a valid descriptor and length.
    if unsafe { libc::ftruncate(file.as_raw_fd(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clears the close-on-exec flag of descriptor `fd`, so that a program about to be executed
/// inherits it. Meant for `pre_exec`, between `fork` and `exec`: it only makes a system call
/// (async-signal-safe).
pub(super) fn inheritable(fd: i32) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor number; an invalid one is an error, not UB.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A shared, read-write mapping of the first `len` bytes of a memory file, unmapped on drop.
pub(super) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a Mapping is an address range; every access to its bytes goes through the buffers
// (`buffers.rs`), whose discipline excludes data races.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of `file`, which must be at least that long.
    pub fn map(file: BorrowedFd<'_>, len: usize) -> io::Result<Self> {
        // SAFETY: fstat into a zeroed struct of the right type.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor and a valid out-pointer.
        if unsafe { libc::fstat(file.as_raw_fd(), &mut stat) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if (stat.st_size as u64) < len as u64 || len == 0 {
            return Err(io::Error::other(format!(
                "the shared memory holds {} bytes, {len} are needed",
                stat.st_size
            )));
        }
        // SAFETY: a new mapping chosen by the kernel, of a file at least `len` long.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap gave address 0"))?;
        Ok(Self { ptr, len })
    }

    /// A mapping of `len` bytes of a new memory file of its own, all zero.
    #[cfg(test)]
    pub fn create(len: usize) -> io::Result<Self> {
        let file = memory_file()?;
        resize(std::os::fd::AsFd::as_fd(&file), len)?;
        Self::map(std::os::fd::AsFd::as_fd(&file), len)
    }

    /// The first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range mapped in `map`; a Mapping is dropped once, after every buffer
        // that points into it (see `Buffers`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn two_mappings_of_one_file_share_their_bytes() {
        let file = memory_file().unwrap();
        resize(file.as_fd(), 4096).unwrap();
        let (a, b) = (
            Mapping::map(file.as_fd(), 4096).unwrap(),
            Mapping::map(file.as_fd(), 4096).unwrap(),
        );
        // SAFETY: both in bounds; single thread.
        unsafe {
            assert_eq!(*b.as_ptr().add(100), 0);
            *a.as_ptr().add(100) = 7;
            assert_eq!(*b.as_ptr().add(100), 7);
        }
        assert!(Mapping::map(file.as_fd(), 8192).is_err());
    }
}
