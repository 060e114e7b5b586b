//! Reads TensorBoard event files back: the values that polytask writes, and the same kinds
//! of values written by TensorBoard, `torch.utils.tensorboard` or TensorFlow 2 (scalars as
//! `simple_value` or as `scalars`-plugin tensors, text-plugin tensors, `HistogramProto`s).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use prost::Message;

use super::proto::{dtype, Event, HistogramProto, SummaryValue, TensorProto};
use super::record::{RecordError, Records};
use super::LogError;

/// A histogram as stored in an event file: bucket `i` counts the values in
/// `(bucket_limits[i - 1], bucket_limits[i]]`, the first bucket starting at `min`.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub num: f64,
    /// Their sum.
    pub sum: f64,
    /// The sum of their squares.
    pub sum_squares: f64,
    /// The right edge of each bucket.
    pub bucket_limits: Vec<f64>,
    /// The count of each bucket.
    pub bucket_counts: Vec<f64>,
}

/// Every value of a run that polytask can read, each as `(tag, global step, value)` in the
/// order written (files in name order, which is creation-time order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventLog {
    /// Scalars, widened to `f64`.
    pub scalars: Vec<(String, u64, f64)>,
    /// Texts (several strings in one tensor are joined with newlines).
    pub texts: Vec<(String, u64, String)>,
    /// Histograms.
    pub histograms: Vec<(String, u64, Histogram)>,
}

/// The scalars of an event file, or of every event file in a run directory, as
/// `(tag, global step, value)`. See [`read_events`].
pub fn read_scalars(path: &Path) -> Result<Vec<(String, u64, f64)>, LogError> {
    read_events(path).map(|log| log.scalars)
}

/// The texts of an event file, or of every event file in a run directory, as
/// `(tag, global step, text)`. See [`read_events`].
pub fn read_texts(path: &Path) -> Result<Vec<(String, u64, String)>, LogError> {
    read_events(path).map(|log| log.texts)
}

/// Reads an event file, or every `*tfevents*` file directly inside a run directory.
///
/// A record cut short at the end of a file (a writer still running, or killed mid-write) is
/// ignored, as TensorBoard does; a checksum mismatch or an undecodable record is
/// [`LogError::Corrupt`]. Values of other kinds (images, graphs, tensor histograms, scalar
/// tensors of other types than `float` and `double`) are skipped. Negative steps read as 0.
pub fn read_events(path: &Path) -> Result<EventLog, LogError> {
    let read_error = |source| LogError::Read {
        path: path.to_path_buf(),
        source,
    };
    let files = if fs::metadata(path).map_err(read_error)?.is_dir() {
        let mut files = Vec::new();
        for entry in fs::read_dir(path).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let is_file = entry.file_type().map_err(read_error)?.is_file();
            if is_file && entry.file_name().to_string_lossy().contains("tfevents") {
                files.push(entry.path());
            }
        }
        if files.is_empty() {
            return Err(LogError::NoEventFiles {
                dir: path.to_path_buf(),
            });
        }
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut reader = Reader::default();
    for file in files {
        reader.read_file(file)?;
    }
    Ok(reader.log)
}

/// What has been read so far, and which plugin each tag belongs to: TensorFlow 2 writers
/// send a tag's plugin only with its first value.
#[derive(Default)]
struct Reader {
    log: EventLog,
    plugin_of_tag: HashMap<String, String>,
}

impl Reader {
    fn read_file(&mut self, path: PathBuf) -> Result<(), LogError> {
        let bytes = fs::read(&path).map_err(|source| LogError::Read {
            path: path.clone(),
            source,
        })?;
        for record in Records::new(&bytes) {
            let (offset, data) = match record {
                Ok(record) => record,
                Err(RecordError::Checksum { offset, what }) => {
                    return Err(LogError::Corrupt {
                        path,
                        offset,
                        reason: format!("the checksum of the record's {what} does not match"),
                    })
                }
            };
            let event = Event::decode(data).map_err(|e| LogError::Corrupt {
                path: path.clone(),
                offset,
                reason: format!("the record is not a TensorBoard Event ({e})"),
            })?;
            let step = u64::try_from(event.step).unwrap_or(0);
            for value in event.summary.into_iter().flat_map(|s| s.value) {
                self.add_value(step, value);
            }
        }
        Ok(())
    }

    fn add_value(&mut self, step: u64, value: SummaryValue) {
        let plugin = value.metadata.and_then(|m| m.plugin_data);
        if let Some(plugin) = plugin {
            self.plugin_of_tag
                .insert(value.tag.clone(), plugin.plugin_name);
        }
        if let Some(v) = value.simple_value {
            self.log.scalars.push((value.tag, step, f64::from(v)));
        } else if let Some(h) = value.histo {
            self.log.histograms.push((value.tag, step, histogram(h)));
        } else if let Some(tensor) = value.tensor {
            match self.plugin_of_tag.get(&value.tag).map(String::as_str) {
                Some("scalars") => {
                    if let Some(v) = scalar_of(&tensor) {
                        self.log.scalars.push((value.tag, step, v));
                    }
                }
                Some("text") if tensor.dtype == dtype::STRING => {
                    let strings: Vec<_> = tensor
                        .string_val
                        .iter()
                        .map(|s| String::from_utf8_lossy(s))
                        .collect();
                    self.log.texts.push((value.tag, step, strings.join("\n")));
                }
                _ => {}
            }
        }
    }
}

/// The value of a one-element `float` or `double` tensor, from its typed field or its
/// little-endian `tensor_content`.
fn scalar_of(tensor: &TensorProto) -> Option<f64> {
    let content = &tensor.tensor_content;
    match tensor.dtype {
        dtype::FLOAT => match (tensor.float_val.first(), content.get(..4)) {
            (Some(&v), _) => Some(f64::from(v)),
            (None, Some(b)) => Some(f64::from(f32::from_le_bytes(b.try_into().ok()?))),
            (None, None) => None,
        },
        dtype::DOUBLE => match (tensor.double_val.first(), content.get(..8)) {
            (Some(&v), _) => Some(v),
            (None, Some(b)) => Some(f64::from_le_bytes(b.try_into().ok()?)),
            (None, None) => None,
        },
        _ => None,
    }
}

fn histogram(h: HistogramProto) -> Histogram {
    Histogram {
        min: h.min,
        max: h.max,
        num: h.num,
        sum: h.sum,
        sum_squares: h.sum_squares,
        bucket_limits: h.bucket_limit,
        bucket_counts: h.bucket,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by TensorBoard 2.21.0's own `EventFileWriter` (no TensorFlow, no torch):
    ///
    /// ```python
    /// # python3 -m venv /tmp/tbvenv && /tmp/tbvenv/bin/pip install tensorboard==2.21.0
    /// # run from the repository root with /tmp/tbvenv/bin/python
    /// import glob, os, shutil, tempfile
    /// import numpy as np
    /// from tensorboard.compat.proto import event_pb2, summary_pb2
    /// from tensorboard.plugins.scalar.summary_v2 import scalar_pb
    /// from tensorboard.plugins.text.summary_v2 import text_pb
    /// from tensorboard.summary.writer.event_file_writer import EventFileWriter
    ///
    /// def add(writer, step, summary):
    ///     writer.add_event(event_pb2.Event(wall_time=1700000000.0 + step, step=step, summary=summary))
    ///
    /// tmp = tempfile.mkdtemp()
    /// w = EventFileWriter(tmp)
    /// # Scalars as torch.utils.tensorboard writes them: simple_value.
    /// for step, value in [(0, 10.5), (1, 20.25), (2, -3.0)]:
    ///     add(w, step, summary_pb2.Summary(value=[summary_pb2.Summary.Value(
    ///         tag="charts/episodic_return", simple_value=value)]))
    /// # Scalars as TensorFlow 2 writes them: a float tensor of the scalars plugin, whose
    /// # metadata only the first value carries.
    /// first = scalar_pb("losses/value_loss", 0.5)
    /// add(w, 1, first)
    /// later = scalar_pb("losses/value_loss", 0.25)
    /// later.value[0].ClearField("metadata")
    /// add(w, 2, later)
    /// add(w, 0, text_pb("config", "| key | value |\n|-----|-------|\n| lr | 0.00025 |"))
    /// # A HistogramProto as torch.utils.tensorboard writes it (numpy buckets).
    /// values = np.array([1.0, 2.0, 2.5, 4.0])
    /// counts, limits = np.histogram(values, bins=3)
    /// add(w, 3, summary_pb2.Summary(value=[summary_pb2.Summary.Value(
    ///     tag="weights", histo=summary_pb2.HistogramProto(
    ///         min=values.min(), max=values.max(), num=len(values), sum=values.sum(),
    ///         sum_squares=(values ** 2).sum(), bucket_limit=limits[1:].tolist(),
    ///         bucket=counts.tolist()))]))
    /// w.close()
    /// os.makedirs("tests/fixtures/tensorboard", exist_ok=True)
    /// shutil.copy(glob.glob(os.path.join(tmp, "events.out.tfevents.*"))[0],
    ///             "tests/fixtures/tensorboard/events.out.tfevents.1700000000.tensorboard-2.21.0")
    /// ```
    const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tensorboard");

    #[test]
    fn reads_a_file_written_by_tensorboard_itself() {
        let log = read_events(Path::new(FIXTURE_DIR)).unwrap();
        let scalars: Vec<(&str, u64, f64)> = log
            .scalars
            .iter()
            .map(|(tag, step, v)| (tag.as_str(), *step, *v))
            .collect();
        assert_eq!(
            scalars,
            [
                ("charts/episodic_return", 0, 10.5),
                ("charts/episodic_return", 1, 20.25),
                ("charts/episodic_return", 2, -3.0),
                ("losses/value_loss", 1, 0.5),
                ("losses/value_loss", 2, 0.25),
            ]
        );
        assert_eq!(
            log.texts,
            [(
                "config".to_owned(),
                0,
                "| key | value |\n|-----|-------|\n| lr | 0.00025 |".to_owned()
            )]
        );
        let expected = Histogram {
            min: 1.0,
            max: 4.0,
            num: 4.0,
            sum: 9.5,
            sum_squares: 27.25,
            bucket_limits: vec![2.0, 3.0, 4.0],
            bucket_counts: vec![1.0, 2.0, 1.0],
        };
        assert_eq!(log.histograms, [("weights".to_owned(), 3, expected)]);
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("polytask-reader-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn damaged_files_are_errors_naming_the_file_and_offset() {
        let dir = temp_dir("damaged");
        let original = fs::read(
            fs::read_dir(FIXTURE_DIR)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().contains("tfevents"))
                .unwrap(),
        )
        .unwrap();
        // Damage the data of the second record, after the file-version record.
        let second = 16 + u64::from_le_bytes(original[..8].try_into().unwrap());
        let mut bytes = original.clone();
        bytes[second as usize + 14] ^= 0x40;
        let path = dir.join("events.out.tfevents.damaged");
        fs::write(&path, &bytes).unwrap();
        match read_scalars(&path) {
            Err(LogError::Corrupt {
                path: p, offset, ..
            }) => assert_eq!((p, offset), (path, second)),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // A file cut in the middle of its last record reads up to that record.
        let cut = dir.join("events.out.tfevents.cut");
        fs::write(&cut, &original[..original.len() - 3]).unwrap();
        assert_eq!(read_texts(&cut).unwrap().len(), 1);
        assert!(read_events(&cut).unwrap().histograms.is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_paths_and_empty_directories_are_errors_naming_them() {
        let dir = temp_dir("empty");
        let err = read_scalars(&dir).unwrap_err();
        assert!(
            matches!(&err, LogError::NoEventFiles { dir: d } if *d == dir),
            "{err:?}"
        );
        let missing = dir.join("nothing-here");
        let err = read_scalars(&missing).unwrap_err();
        assert!(
            matches!(&err, LogError::Read { path, .. } if *path == missing),
            "{err:?}"
        );
        assert!(err.to_string().contains("nothing-here"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
