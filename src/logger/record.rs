//! TFRecord framing, the container format of TensorBoard event files. Each record is
//!
//! ```text
//! u64 LE   length of the data
//! u32 LE   masked CRC-32C of those 8 length bytes
//! [u8]     data (one serialized `Event`)
//! u32 LE   masked CRC-32C of the data
//! ```
//!
//! as in TensorFlow's `tensorflow/core/lib/io/record_writer.cc` and TensorBoard's
//! `tensorboard/summary/writer/record_writer.py`.

/// Bytes of framing around each record's data.
pub(crate) const OVERHEAD: usize = 8 + 4 + 4;

/// TensorFlow's CRC mask: rotate right by 15 bits and add a constant, so that a CRC of data
/// that itself contains CRCs stays well distributed (`tensorflow/core/lib/hash/crc32c.h`).
pub(crate) fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Frames `data` into `buf` (appended), ready to be written in one call.
pub(crate) fn frame(data: &[u8], buf: &mut Vec<u8>) {
    let len = (data.len() as u64).to_le_bytes();
    buf.reserve(OVERHEAD + data.len());
    buf.extend_from_slice(&len);
    buf.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    buf.extend_from_slice(data);
    buf.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordError {
    /// The checksum of the length or of the data does not match.
    Checksum {
        /// Where the record starts.
        offset: u64,
        /// `"length"` or `"data"`.
        what: &'static str,
    },
}

/// Iterates over the records of an event file held in memory, checking both checksums.
///
/// A record cut short at the end of the file (a writer that is still running, or one that
/// was killed mid-write) ends the iteration quietly, as TensorBoard's own reader does; a
/// checksum mismatch is an error and ends it too.
pub(crate) struct Records<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Records<'a> {
    /// Reads the records of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Records {
            bytes,
            pos: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    /// The record's offset in the file and its data.
    type Item = Result<(u64, &'a [u8]), RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let offset = self.pos;
        let rest = &self.bytes[offset..];
        let header = rest.get(..12)?;
        let (len_bytes, len_crc) = header.split_at(8);
        if masked_crc32c(len_bytes) != u32_le(len_crc) {
            self.failed = true;
            return Some(Err(RecordError::Checksum {
                offset: offset as u64,
                what: "length",
            }));
        }
        let len = usize::try_from(u64::from_le_bytes(len_bytes.try_into().ok()?)).ok()?;
        let end = 12usize.checked_add(len)?.checked_add(4)?;
        let record = rest.get(..end)?;
        let data = &record[12..12 + len];
        if masked_crc32c(data) != u32_le(&record[12 + len..]) {
            self.failed = true;
            return Some(Err(RecordError::Checksum {
                offset: offset as u64,
                what: "data",
            }));
        }
        self.pos += end;
        Some(Ok((offset as u64, data)))
    }
}

fn u32_le(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The CRC-32C (Castagnoli) check value from the CRC catalogue.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    /// The first record of every TensorBoard event file, `Event { wall_time: 1.0,
    /// file_version: "brain.Event:2" }`, as framed by TensorBoard's own writer:
    ///
    /// ```python
    /// # /tmp/tbvenv/bin/python (pip install tensorboard==2.21.0)
    /// import io
    /// from tensorboard.compat.proto import event_pb2
    /// from tensorboard.summary.writer.record_writer import RecordWriter
    /// buf = io.BytesIO()
    /// RecordWriter(buf).write(
    ///     event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
    /// print(buf.getvalue().hex())
    /// ```
    const FILE_VERSION_RECORD: &str = "1800000000000000a37f4b2209000000000000f03f1a0d627261\
                                       696e2e4576656e743a3286bf577a";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn framing_matches_tensorboards_record_writer() {
        let expected = unhex(FILE_VERSION_RECORD);
        let data = &expected[12..expected.len() - 4];
        let mut framed = Vec::new();
        frame(data, &mut framed);
        assert_eq!(framed, expected);
    }

    #[test]
    fn records_round_trip_and_a_cut_tail_is_ignored() {
        let mut file = Vec::new();
        frame(b"first", &mut file);
        frame(b"", &mut file);
        frame(b"third record", &mut file);
        let whole: Vec<_> = Records::new(&file).map(Result::unwrap).collect();
        assert_eq!(
            whole,
            vec![
                (0, &b"first"[..]),
                (21, &b""[..]),
                (37, &b"third record"[..])
            ]
        );
        for cut in 38..file.len() {
            let read: Vec<_> = Records::new(&file[..cut]).map(Result::unwrap).collect();
            assert_eq!(read.len(), 2, "file cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_is_a_checksum_error() {
        let mut file = Vec::new();
        frame(b"payload", &mut file);
        let mut bad_data = file.clone();
        bad_data[14] ^= 1;
        assert_eq!(
            Records::new(&bad_data).next(),
            Some(Err(RecordError::Checksum {
                offset: 0,
                what: "data"
            }))
        );
        let mut bad_len = file.clone();
        bad_len[0] ^= 1;
        assert_eq!(
            Records::new(&bad_len).next(),
            Some(Err(RecordError::Checksum {
                offset: 0,
                what: "length"
            }))
        );
    }
}
