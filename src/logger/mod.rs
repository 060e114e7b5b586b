//! Logging of training metrics: the [`Logger`] trait with a TensorBoard writer
//! ([`TensorBoardLogger`]) and an in-memory one for tests ([`MemoryLogger`]), a reader for
//! event files ([`read_events`]), and the console progress bar ([`Progress`]).
//!
//! Every value is logged against the global environment step (all environments of all
//! tasks), as CleanRL does, under tags such as `charts/<task>/episodic_return`.

mod console;
mod event_reader;
mod memory;
mod proto;
mod record;
mod tensorboard;

use std::io;
use std::path::PathBuf;

pub use console::Progress;
pub use event_reader::{read_events, read_scalars, read_texts, EventLog, Histogram};
pub use memory::MemoryLogger;
pub use tensorboard::{TensorBoardLogger, HISTOGRAM_BUCKETS};

/// Where the trainer sends its metrics, each against the global environment step.
///
/// Logging a value cannot fail: writers keep their first error and return it from
/// [`flush`](Logger::flush), which the trainer calls once per iteration, so that the
/// training loop is not cluttered with error handling per value and no error is lost.
pub trait Logger {
    /// Logs one scalar (a loss, a return, `charts/SPS`).
    fn scalar(&mut self, tag: &str, value: f64, step: u64);
    /// Logs a text, shown as Markdown by TensorBoard (the resolved config, as a table).
    fn text(&mut self, tag: &str, text: &str, step: u64);
    /// Logs the distribution of `values` (NaN and infinite values are left out).
    fn histogram(&mut self, tag: &str, values: &[f32], step: u64);
    /// Makes everything logged so far visible to readers, or returns the first error of any
    /// write since the logger was created.
    fn flush(&mut self) -> Result<(), LogError>;
    /// The event file this logger appends to, if it writes one (a resumed run keeps it and
    /// truncates the others to the checkpoint, see `train::resume_state`).
    fn event_file(&self) -> Option<&std::path::Path> {
        None
    }
}

impl<L: Logger + ?Sized> Logger for &mut L {
    fn scalar(&mut self, tag: &str, value: f64, step: u64) {
        (**self).scalar(tag, value, step);
    }
    fn text(&mut self, tag: &str, text: &str, step: u64) {
        (**self).text(tag, text, step);
    }
    fn histogram(&mut self, tag: &str, values: &[f32], step: u64) {
        (**self).histogram(tag, values, step);
    }
    fn flush(&mut self) -> Result<(), LogError> {
        (**self).flush()
    }
    fn event_file(&self) -> Option<&std::path::Path> {
        (**self).event_file()
    }
}

impl<L: Logger + ?Sized> Logger for Box<L> {
    fn scalar(&mut self, tag: &str, value: f64, step: u64) {
        (**self).scalar(tag, value, step);
    }
    fn text(&mut self, tag: &str, text: &str, step: u64) {
        (**self).text(tag, text, step);
    }
    fn histogram(&mut self, tag: &str, values: &[f32], step: u64) {
        (**self).histogram(tag, values, step);
    }
    fn flush(&mut self) -> Result<(), LogError> {
        (**self).flush()
    }
    fn event_file(&self) -> Option<&std::path::Path> {
        (**self).event_file()
    }
}

/// Why a log could not be written or read. Each variant names the file or directory; the
/// underlying I/O error is the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The run directory could not be created.
    #[error("cannot create the run directory {}", dir.display())]
    CreateDir {
        /// The run directory.
        dir: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The event file could not be created.
    #[error("cannot create the TensorBoard event file {}", path.display())]
    CreateFile {
        /// The event file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Writing to the event file failed; values logged since then are lost.
    #[error("cannot write the TensorBoard event file {}", path.display())]
    Write {
        /// The event file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// An event file or run directory could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// An event file holds a damaged record.
    #[error("the TensorBoard event file {} is corrupt at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The event file.
        path: PathBuf,
        /// Where the damaged record starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A directory to read holds no event file.
    #[error("no TensorBoard event file (events.out.tfevents.*) in {}", dir.display())]
    NoEventFiles {
        /// The directory.
        dir: PathBuf,
    },
}
