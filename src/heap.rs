//! The process's heap settings: libtorch allocates every intermediate tensor afresh from the
//! C heap, and a learner step frees and re-allocates the same few megabytes hundreds of times
//! a second. glibc's defaults serve blocks above its `mmap` threshold with fresh pages and
//! return the heap's free top to the kernel past its trim threshold, so each update
//! page-faults its tensors back in: a five-task SAC run of 1,500 steps took 4 million minor
//! page faults and 11% of its time in the kernel (`configs/pendulum-family-sac.toml`, one
//! learner thread, 2-core AMD EPYC machine). Raising both thresholds (glibc's `mallopt`,
//! `M_MMAP_THRESHOLD` and `M_TRIM_THRESHOLD`) keeps freed blocks for reuse: 30 thousand
//! faults, no kernel time, 6% more steps/s in that run.

/// Largest block glibc still serves from the heap (32 MiB, the most `M_MMAP_THRESHOLD`
/// takes on 64-bit systems); larger ones are mapped and unmapped as before.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Free memory at the heap's top that glibc keeps instead of returning it (128 MiB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 128 << 20;

/// Keeps freed tensor memory in the heap for reuse (see the module documentation). Call it
/// once, before the first allocation that matters; a no-op outside glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; any values are accepted or refused
    // (return 0) without undefined behaviour.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
