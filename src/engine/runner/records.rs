//! The records file: every finished record as one JSON line (format in docs/results.md,
//! written by [`RequestRecord::write_jsonl`]), gathered in a buffer and written out in large
//! pieces by the collector task.
//!
//! A write error (disk full, a closed pipe) stops writing and is kept for the result, but never
//! stops the run: the measurement is worth more than its per-request log. Nothing here decides
//! what a record holds.

use std::io::Write;

use crate::core::record::RequestRecord;

/// Writes records as JSON lines; a write error stops writing but never the run.
pub(super) struct RecordsWriter {
    out: Option<std::fs::File>,
    /// Lines not yet written to `out`.
    buf: Vec<u8>,
    /// Records handed to the file (buffered or written).
    pub(super) written: u64,
    /// The first write error; later records are not written.
    pub(super) error: Option<String>,
}

/// Bytes of records gathered before they are written out.
const RECORDS_BUF: usize = 64 * 1024;

impl RecordsWriter {
    /// A writer to `out`, or one that writes nothing (no records file asked for).
    pub(super) fn new(out: Option<std::fs::File>) -> Self {
        RecordsWriter {
            buf: Vec::with_capacity(if out.is_some() { RECORDS_BUF } else { 0 }),
            out,
            written: 0,
            error: None,
        }
    }

    /// Appends one record's line, writing the buffer out when it is full.
    #[inline]
    pub(super) fn write(&mut self, r: &RequestRecord) {
        if self.out.is_none() {
            return;
        }
        r.write_jsonl(&mut self.buf);
        self.written += 1;
        if self.buf.len() >= RECORDS_BUF {
            self.flush();
        }
    }

    /// Writes the buffered lines out; the first error closes the writer.
    pub(super) fn flush(&mut self) {
        if let Some(out) = self.out.as_mut() {
            if let Err(e) = out.write_all(&self.buf) {
                self.error = Some(e.to_string());
                self.out = None;
            }
        }
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::record::{Outcome, Phase};

    fn rec(i: u64) -> RequestRecord {
        let mut r = RequestRecord::unsent(i, "m".into(), Phase::Measure, Outcome::Ok, i, i + 1);
        r.error = Some(format!("note {i}"));
        r
    }

    #[test]
    fn every_record_reaches_the_file_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("records.jsonl");
        let mut w = RecordsWriter::new(Some(std::fs::File::create(&path).expect("create")));
        // Enough lines to pass the buffer size several times, so both the size-triggered and
        // the final flush are exercised.
        let n = 3 * RECORDS_BUF as u64 / 100 + 7;
        for i in 0..n {
            w.write(&rec(i));
        }
        w.flush();
        assert_eq!(w.written, n);
        assert!(w.error.is_none());
        let text = std::fs::read_to_string(&path).expect("read back");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, n);
        for (i, line) in lines.iter().enumerate() {
            let back: RequestRecord = serde_json::from_str(line).expect("each line is a record");
            assert_eq!(back.index, i as u64);
            assert_eq!(back.error.as_deref(), Some(format!("note {i}").as_str()));
        }
    }

    #[test]
    fn without_a_file_nothing_is_counted() {
        let mut w = RecordsWriter::new(None);
        w.write(&rec(1));
        w.flush();
        assert_eq!(w.written, 0);
        assert!(w.error.is_none());
    }

    #[test]
    fn a_write_error_is_kept_and_later_records_are_dropped_quietly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("records.jsonl");
        std::fs::write(&path, b"").expect("create");
        // Opened for reading only: every write fails.
        let read_only = std::fs::File::open(&path).expect("open");
        let mut w = RecordsWriter::new(Some(read_only));
        w.write(&rec(0));
        w.flush();
        let first = w.error.clone().expect("the failed write is reported");
        assert_eq!(w.written, 1);
        // The writer is closed: further records neither fail again nor replace the error.
        for i in 1..10 {
            w.write(&rec(i));
        }
        w.flush();
        assert_eq!(w.error.as_deref(), Some(first.as_str()));
        assert_eq!(w.written, 1);
        assert_eq!(std::fs::read(&path).expect("read").len(), 0);
    }
}
