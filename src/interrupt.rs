//! Graceful interruption: the first SIGINT (Ctrl-C) or SIGTERM asks the running command to
//! stop at the next safe point (the trainer: after the current update, with a checkpoint);
//! a second one ends the process at once, with the exit status of that signal (128 + its
//! number, as a shell reports a process killed by it).
//!
//! Built on `signal-hook`'s flag handlers, which only store to atomics in the signal handler
//! (async-signal-safe); everything else happens in the program's own thread when it looks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

/// The handlers' shared state: the first signal's number (0: none yet).
struct Flags {
    signal: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Option<Flags>> = OnceLock::new();

/// Installs the handlers (once per process; later calls do nothing). Where they cannot be
/// installed, signals keep their default action (the process ends at once).
pub fn install() {
    FLAGS.get_or_init(|| {
        let signal = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            // Registered first, so that it looks at `seen` before this signal sets it: the
            // second signal of either kind exits at once.
            signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&seen))
                .ok()?;
            signal_hook::flag::register(sig, Arc::clone(&seen)).ok()?;
            signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize).ok()?;
        }
        Some(Flags { signal })
    });
}

/// The signal that asked to stop, if one arrived since [`install`].
pub fn requested() -> Option<i32> {
    let flags = FLAGS.get()?.as_ref()?;
    match flags.signal.load(Ordering::Relaxed) {
        0 => None,
        sig => Some(sig as i32),
    }
}

/// The conventional name of `signal`, for messages.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
