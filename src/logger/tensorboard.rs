//! [`TensorBoardLogger`]: writes a TensorBoard event file that `tensorboard --logdir runs`
//! shows, with scalars, text and histograms.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use super::proto::{
    dtype, Event, HistogramProto, PluginData, Summary, SummaryMetadata, SummaryValue, TensorProto,
    TensorShapeProto,
};
use super::record;
use super::{LogError, Logger};

/// How many equal-width buckets a histogram gets between its smallest and largest value
/// (the default of TensorFlow 2's `tf.summary.histogram`).
pub const HISTOGRAM_BUCKETS: usize = 30;

/// Tells apart the event files that one process creates in the same second.
static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes one TensorBoard event file, `events.out.tfevents.<unix time>.<hostname>.<pid>.<n>`,
/// in a run directory.
///
/// Scalars are stored as TensorBoard's `simple_value`, a 32-bit float. Writes go through a
/// buffer: call [`Logger::flush`] once per training iteration so that a running TensorBoard
/// sees them. The writer never panics: the first I/O error is kept, later values are
/// dropped (the file would be corrupt after a partial record), and [`Logger::flush`]
/// returns the error, naming the file, from then on. Dropping the logger flushes it.
#[derive(Debug)]
pub struct TensorBoardLogger {
    path: PathBuf,
    out: BufWriter<File>,
    /// The protobuf encoding of the event being written, reused between events.
    encoded: Vec<u8>,
    /// The framed record being written, reused between events.
    framed: Vec<u8>,
    /// The first write error: its kind and message (`io::Error` is not `Clone`).
    failure: Option<(io::ErrorKind, String)>,
}

impl TensorBoardLogger {
    /// Creates `run_dir` (and its parents) if needed and a new event file in it, and writes
    /// the file's version record.
    pub fn create(run_dir: &Path) -> Result<Self, LogError> {
        fs::create_dir_all(run_dir).map_err(|source| LogError::CreateDir {
            dir: run_dir.to_path_buf(),
            source,
        })?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "events.out.tfevents.{:010}.{}.{}.{}",
            now.as_secs(),
            hostname(),
            std::process::id(),
            FILE_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = run_dir.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| LogError::CreateFile {
                path: path.clone(),
                source,
            })?;
        let mut logger = TensorBoardLogger {
            path,
            out: BufWriter::new(file),
            encoded: Vec::new(),
            framed: Vec::new(),
            failure: None,
        };
        logger.write_event(&Event {
            wall_time: now.as_secs_f64(),
            step: 0,
            file_version: Some("brain.Event:2".to_owned()),
            summary: None,
        });
        logger.flush()?;
        Ok(logger)
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one summary value as its own event.
    fn write_value(&mut self, step: u64, value: SummaryValue) {
        let event = Event {
            wall_time: wall_time(),
            step: i64::try_from(step).unwrap_or(i64::MAX),
            file_version: None,
            summary: Some(Summary { value: vec![value] }),
        };
        self.write_event(&event);
    }

    fn write_event(&mut self, event: &Event) {
        if self.failure.is_some() {
            return;
        }
        self.encoded.clear();
        self.framed.clear();
        // Encoding into a `Vec` cannot run out of room; map the error anyway, never panic.
        let result = event
            .encode(&mut self.encoded)
            .map_err(io::Error::other)
            .and_then(|()| {
                record::frame(&self.encoded, &mut self.framed);
                self.out.write_all(&self.framed)
            });
        if let Err(e) = result {
            self.failure = Some((e.kind(), e.to_string()));
        }
    }
}

impl Logger for TensorBoardLogger {
    fn scalar(&mut self, tag: &str, value: f64, step: u64) {
        self.write_value(
            step,
            SummaryValue {
                tag: tag.to_owned(),
                simple_value: Some(value as f32),
                ..Default::default()
            },
        );
    }

    fn text(&mut self, tag: &str, text: &str, step: u64) {
        self.write_value(step, text_value(tag, text));
    }

    fn histogram(&mut self, tag: &str, values: &[f32], step: u64) {
        self.write_value(
            step,
            SummaryValue {
                tag: tag.to_owned(),
                histo: Some(histogram_proto(values)),
                ..Default::default()
            },
        );
    }

    fn event_file(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn flush(&mut self) -> Result<(), LogError> {
        let result = match &self.failure {
            Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
            None => self.out.flush(),
        };
        result.map_err(|source| {
            self.failure
                .get_or_insert_with(|| (source.kind(), source.to_string()));
            LogError::Write {
                path: self.path.clone(),
                source,
            }
        })
    }
}

/// A text value as TensorBoard's text plugin writes it (`text_pb` in
/// `tensorboard/plugins/text/summary_v2.py`): a scalar `DT_STRING` tensor.
fn text_value(tag: &str, text: &str) -> SummaryValue {
    SummaryValue {
        tag: tag.to_owned(),
        tensor: Some(TensorProto {
            dtype: dtype::STRING,
            tensor_shape: Some(TensorShapeProto::default()),
            string_val: vec![text.as_bytes().to_vec()],
            ..Default::default()
        }),
        metadata: Some(SummaryMetadata {
            plugin_data: Some(PluginData {
                plugin_name: "text".to_owned(),
                content: Vec::new(),
            }),
        }),
        ..Default::default()
    }
}

/// [`HISTOGRAM_BUCKETS`] equal-width buckets from the smallest to the largest finite value;
/// one bucket when they are all equal, none when there are no finite values. NaN and
/// infinite values are left out of every field (TensorBoard cannot place them).
fn histogram_proto(values: &[f32]) -> HistogramProto {
    let finite = || {
        values
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| f64::from(v))
    };
    let mut h = HistogramProto {
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        ..Default::default()
    };
    for v in finite() {
        h.min = h.min.min(v);
        h.max = h.max.max(v);
        h.num += 1.0;
        h.sum += v;
        h.sum_squares += v * v;
    }
    if h.num == 0.0 {
        return HistogramProto::default();
    }
    if h.min == h.max {
        h.bucket_limit = vec![h.max];
        h.bucket = vec![h.num];
        return h;
    }
    let width = (h.max - h.min) / HISTOGRAM_BUCKETS as f64;
    h.bucket = vec![0.0; HISTOGRAM_BUCKETS];
    for v in finite() {
        // Bucket i holds (limit[i - 1], limit[i]]; the smallest value goes into bucket 0.
        let above = ((v - h.min) / width).ceil() as usize;
        h.bucket[above.saturating_sub(1).min(HISTOGRAM_BUCKETS - 1)] += 1.0;
    }
    h.bucket_limit = (1..=HISTOGRAM_BUCKETS)
        .map(|i| {
            if i == HISTOGRAM_BUCKETS {
                h.max
            } else {
                h.min + width * i as f64
            }
        })
        .collect();
    h
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// This machine's name, safe inside a file name.
fn hostname() -> String {
    let name: String = gethostname::gethostname()
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logger::{read_events, read_scalars, read_texts};

    fn temp_run_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "polytask-logger-{name}-{}-{}",
            std::process::id(),
            FILE_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn scalars_texts_and_histograms_read_back() {
        let dir = temp_run_dir("roundtrip");
        let mut log = TensorBoardLogger::create(&dir.join("nested/run")).unwrap();
        let file_name = log
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(file_name.starts_with("events.out.tfevents."), "{file_name}");
        log.text("config", "lr = 2.5e-4\n| a | b |", 0);
        for step in [0u64, 128, 256] {
            log.scalar("charts/cartpole/episodic_return", step as f64 / 4.0, step);
            log.scalar("charts/SPS", 1000.0 + step as f64, step);
        }
        log.scalar("losses/big_step", -0.1, u64::from(u32::MAX) + 7);
        log.histogram("surgery/cos_sim", &[-1.0, 0.0, 0.5, 1.0, f32::NAN], 256);
        log.flush().unwrap();

        let scalars = read_scalars(&dir.join("nested/run")).unwrap();
        let expected: Vec<(String, u64, f64)> = vec![
            ("charts/cartpole/episodic_return".into(), 0, 0.0),
            ("charts/SPS".into(), 0, 1000.0),
            ("charts/cartpole/episodic_return".into(), 128, 32.0),
            ("charts/SPS".into(), 128, 1128.0),
            ("charts/cartpole/episodic_return".into(), 256, 64.0),
            ("charts/SPS".into(), 256, 1256.0),
            // simple_value is an f32.
            (
                "losses/big_step".into(),
                u64::from(u32::MAX) + 7,
                -0.1f32 as f64,
            ),
        ];
        assert_eq!(scalars, expected);
        assert_eq!(
            read_texts(log.path()).unwrap(),
            vec![("config".to_owned(), 0, "lr = 2.5e-4\n| a | b |".to_owned())]
        );
        let histograms = read_events(log.path()).unwrap().histograms;
        assert_eq!(histograms.len(), 1);
        let (tag, step, h) = &histograms[0];
        assert_eq!((tag.as_str(), *step), ("surgery/cos_sim", 256));
        assert_eq!(
            (h.min, h.max, h.num, h.sum, h.sum_squares),
            (-1.0, 1.0, 4.0, 0.5, 2.25)
        );
        assert_eq!(h.bucket_limits.len(), HISTOGRAM_BUCKETS);
        assert_eq!(h.bucket_counts.iter().sum::<f64>(), 4.0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn text_is_encoded_exactly_as_tensorboards_text_pb() {
        // /tmp/tbvenv/bin/python (pip install tensorboard==2.21.0):
        //   from tensorboard.plugins.text.summary_v2 import text_pb
        //   print(text_pb("notes", "hello").SerializeToString().hex())
        let summary = Summary {
            value: vec![text_value("notes", "hello")],
        };
        let hex: String = summary
            .encode_to_vec()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "0a1e0a056e6f746573420b08071200420568656c6c6f4a080a060a0474657874"
        );
    }

    #[test]
    fn histogram_buckets_are_right_closed_and_cover_min_to_max() {
        let values: Vec<f32> = (0..=30).map(|i| i as f32).collect();
        let h = histogram_proto(&values);
        assert_eq!((h.min, h.max, h.num), (0.0, 30.0, 31.0));
        assert_eq!(h.bucket_limit[0], 1.0);
        assert_eq!(h.bucket_limit[29], 30.0);
        // 0 and 1 in (.., 1]; then one value per bucket.
        assert_eq!(h.bucket[0], 2.0);
        assert!(h.bucket[1..].iter().all(|&c| c == 1.0));

        let same = histogram_proto(&[2.5; 4]);
        assert_eq!((same.bucket_limit, same.bucket), (vec![2.5], vec![4.0]));
        assert_eq!(histogram_proto(&[f32::NAN]), HistogramProto::default());
        assert_eq!(histogram_proto(&[]), HistogramProto::default());
    }

    #[test]
    fn two_loggers_in_one_directory_get_two_files() {
        let dir = temp_run_dir("two");
        let a = TensorBoardLogger::create(&dir).unwrap();
        let b = TensorBoardLogger::create(&dir).unwrap();
        assert_ne!(a.path(), b.path());
        drop((a, b));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_run_directory_is_an_error_naming_it() {
        let dir = temp_run_dir("blocked");
        fs::create_dir_all(&dir).unwrap();
        let blocker = dir.join("file");
        fs::write(&blocker, b"not a directory").unwrap();
        let err = TensorBoardLogger::create(&blocker.join("run")).unwrap_err();
        assert!(matches!(err, LogError::CreateDir { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&*blocker.to_string_lossy()),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_is_returned_by_flush_not_panicked() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        let Ok(file) = OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let mut log = TensorBoardLogger {
            path: PathBuf::from("/dev/full"),
            out: BufWriter::with_capacity(16, file),
            encoded: Vec::new(),
            framed: Vec::new(),
            failure: None,
        };
        log.scalar("a", 1.0, 0);
        log.scalar("b", 2.0, 1);
        for _ in 0..2 {
            let err = log.flush().unwrap_err();
            assert!(
                matches!(&err, LogError::Write { path, .. } if path == Path::new("/dev/full")),
                "{err:?}"
            );
        }
    }
}
