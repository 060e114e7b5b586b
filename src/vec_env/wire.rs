//! The messages between the vector env and its worker processes, over the child's stdin
//! (parent to child) and a duplicate of its original stdout (child to parent).
//!
//! Every message is a frame: a tag byte, the payload's length (`u32`, little-endian) and the
//! payload, `postcard`-encoded. A step is a frame without payload each way ([`STEP`], then
//! [`STEPPED`] or [`FAILED`]), read and written from stack arrays, so the parent's step
//! allocates nothing; payloads are encoded only when the vector env is made, at checkpoints
//! and on failure.

use std::io::{self, Read, Write};
use std::ops::Range;

use polytask_envs::{BoxSpace, ParamValue, Space};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::buffers::Dims;
use super::error::RowStep;
use super::layout::Segment;
use super::shard::{Failure, FailureKind};

// Parent to child.
/// [`Spec`]: the rows to make. Once, first.
pub(super) const SPEC: u8 = 1;
/// [`Setup`]: where the rows live in the shared buffers. Once, after [`SHAPES`].
pub(super) const SETUP: u8 = 2;
/// Step every row (no payload).
pub(super) const STEP: u8 = 3;
/// Save the rows' state (no payload); answered by [`SAVED`].
pub(super) const SAVE: u8 = 4;
/// `(steps, Vec<RowSnapshot>)`: restore the rows; answered by [`LOADED`].
pub(super) const LOAD: u8 = 5;

// Child to parent.
/// `Vec<Shape>`: one per [`SpecTask`], in order.
pub(super) const SHAPES: u8 = 10;
/// [`SetupFailure`]: the rows could not be made or set up; the child exits.
pub(super) const SETUP_FAILED: u8 = 11;
/// The rows are reset and their first observations written (no payload).
pub(super) const READY: u8 = 12;
/// The step (or the first reset) went well (no payload).
pub(super) const STEPPED: u8 = 13;
/// [`RemoteFailure`]: the step or the first reset failed.
pub(super) const FAILED: u8 = 14;
/// `Vec<RowSnapshot>`: the rows' saved state.
pub(super) const SAVED: u8 = 15;
/// `Result<Vec<usize>, (usize, String)>`: the rows left fresh, or the row that failed to
/// load and the error's message.
pub(super) const LOADED: u8 = 16;

/// The bytes of a frame's header.
pub(super) const HEADER: usize = 5;

/// What a worker process hosts: consecutive rows of one or more tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Spec {
    /// The tasks, in row order.
    pub tasks: Vec<SpecTask>,
}

/// One task's rows in a worker process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SpecTask {
    /// The task's name.
    pub name: String,
    /// The environment id.
    pub env: String,
    /// The environment's parameters.
    pub params: Vec<(String, WireParam)>,
    /// The rows (global indices).
    pub rows: Range<usize>,
    /// Each row's reset seed ([`super::instance_seed`]).
    pub seeds: Vec<u64>,
}

/// A [`ParamValue`], in postcard's terms (whose untagged serde form postcard cannot read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum WireParam {
    Number(f64),
    Bool(bool),
    Text(String),
}

impl From<&ParamValue> for WireParam {
    fn from(value: &ParamValue) -> Self {
        match value {
            ParamValue::Number(x) => Self::Number(*x),
            ParamValue::Bool(b) => Self::Bool(*b),
            ParamValue::Text(t) => Self::Text(t.clone()),
        }
    }
}

impl From<WireParam> for ParamValue {
    fn from(value: WireParam) -> Self {
        match value {
            WireParam::Number(x) => Self::Number(x),
            WireParam::Bool(b) => Self::Bool(b),
            WireParam::Text(t) => Self::Text(t),
        }
    }
}

/// The spaces and metric names of a task's environments, as a worker process made them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Shape {
    pub observation: WireSpace,
    pub action: WireSpace,
    pub metrics: Vec<String>,
}

/// A [`Space`], serialisable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum WireSpace {
    Discrete(usize),
    Box {
        low: Vec<f32>,
        high: Vec<f32>,
        shape: Vec<usize>,
    },
}

impl From<&Space> for WireSpace {
    fn from(space: &Space) -> Self {
        match space {
            Space::Discrete(n) => Self::Discrete(*n),
            Space::Box(b) => Self::Box {
                low: b.low.clone(),
                high: b.high.clone(),
                shape: b.shape.clone(),
            },
        }
    }
}

impl From<WireSpace> for Space {
    fn from(space: WireSpace) -> Self {
        match space {
            WireSpace::Discrete(n) => Space::Discrete(n),
            WireSpace::Box { low, high, shape } => Space::Box(BoxSpace { low, high, shape }),
        }
    }
}

/// Where a worker process's rows live in the shared buffers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Setup {
    /// The sizes of every buffer (all rows, not only the child's).
    pub dims: Dims,
    /// The child's rows.
    pub rows: Range<usize>,
    /// Their per-task runs, with their buffer ranges.
    pub segments: Vec<Segment>,
}

/// Why a worker process could not make or set up its rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum SetupFailure {
    /// Task `task` (index into [`Spec::tasks`]) could not be made: the registry's message.
    Make { task: usize, message: String },
    /// The rows' environments disagree (e.g. in their metric names).
    Invalid { reason: String },
    /// The shared memory could not be mapped.
    SharedMemory { message: String },
}

/// A [`Failure`], serialisable: an environment's error is flattened to its message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RemoteFailure {
    pub row: usize,
    pub step: u64,
    pub episode_step: u64,
    pub kind: RemoteKind,
}

/// A [`FailureKind`], serialisable: the environment's error as its message.
pub(super) type RemoteKind = FailureKind<String>;

impl From<Failure> for RemoteFailure {
    fn from(f: Failure) -> Self {
        let kind = f.kind.map_env(|e| e.to_string());
        Self {
            row: f.row,
            step: f.at.step,
            episode_step: f.at.episode_step,
            kind,
        }
    }
}

impl RemoteFailure {
    /// The failure, with an environment's error message rebuilt as an error of `env`.
    pub fn into_failure(self, env: &str) -> Failure {
        let kind = self.kind.map_env(|message| external(env, message));
        Failure {
            row: self.row,
            at: RowStep {
                step: self.step,
                episode_step: self.episode_step,
            },
            kind,
        }
    }
}

/// An error of environment `env` from the message of an error that a worker process
/// formatted: an [`EnvError::External`](polytask_envs::EnvError::External), whose message is
/// stripped of the `environment `<env>`: ` prefix that formatting it adds back.
pub(super) fn external(env: &str, message: String) -> polytask_envs::EnvError {
    let prefix = format!("environment `{env}`: ");
    let message = match message.strip_prefix(&prefix) {
        Some(rest) => rest.to_string(),
        None => message,
    };
    polytask_envs::EnvError::External {
        env: env.to_string(),
        message,
    }
}

/// Writes a frame with `payload` (already encoded).
pub(super) fn write_frame(out: &mut impl Write, tag: u8, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
    let mut header = [0; HEADER];
    header[0] = tag;
    header[1..].copy_from_slice(&len.to_le_bytes());
    if payload.is_empty() {
        out.write_all(&header)?;
    } else {
        let mut frame = Vec::with_capacity(HEADER + payload.len());
        frame.extend_from_slice(&header);
        frame.extend_from_slice(payload);
        out.write_all(&frame)?;
    }
    out.flush()
}

/// Writes a frame whose payload is `value`, encoded.
pub(super) fn write_value(out: &mut impl Write, tag: u8, value: &impl Serialize) -> io::Result<()> {
    let payload = postcard::to_allocvec(value).map_err(io::Error::other)?;
    write_frame(out, tag, &payload)
}

/// A frame's tag and payload length from its header.
pub(super) fn parse_header(header: &[u8; HEADER]) -> (u8, usize) {
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
    (header[0], len as usize)
}

/// Reads a frame from a blocking reader; `None` at end of input before a header.
pub(super) fn read_frame(input: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0; HEADER];
    let mut filled = 0;
    while filled < HEADER {
        match input.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let (tag, len) = parse_header(&header);
    let mut payload = vec![0; len];
    input.read_exact(&mut payload)?;
    Ok(Some((tag, payload)))
}

/// Decodes a payload.
pub(super) fn decode<T: DeserializeOwned>(payload: &[u8]) -> io::Result<T> {
    postcard::from_bytes(payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, STEP, &[]).unwrap();
        write_value(
            &mut bytes,
            LOADED,
            &Ok::<_, (usize, String)>(vec![3usize, 4]),
        )
        .unwrap();
        // The result variant, the length and two one-byte varints.
        assert_eq!(bytes.len(), HEADER + HEADER + 4);
        let mut input = &bytes[..];
        assert_eq!(read_frame(&mut input).unwrap(), Some((STEP, Vec::new())));
        let (tag, payload) = read_frame(&mut input).unwrap().unwrap();
        assert_eq!(tag, LOADED);
        let value: Result<Vec<usize>, (usize, String)> = decode(&payload).unwrap();
        assert_eq!(value, Ok(vec![3, 4]));
        assert_eq!(read_frame(&mut input).unwrap(), None);
    }

    #[test]
    fn an_environment_error_keeps_its_message_across_the_pipe() {
        let e = polytask_envs::EnvError::External {
            env: "gym:X-v0".into(),
            message: "step 3 raised ValueError".into(),
        };
        let rebuilt = external("gym:X-v0", e.to_string());
        assert_eq!(rebuilt.to_string(), e.to_string());
    }
}
