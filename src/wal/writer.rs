//! The log's writing end: records appended to a buffer and written out (at once for immediate
//! durability, in batches for buffered), cut back cleanly when a write fails.
//!
//! The file is kept longer than its records, by zeros written ahead a step at a time
//! ([`LOG_EXTEND_BYTES`]): a record then overwrites bytes the file already holds, and the fsync
//! that makes it durable does not also change the file's size (on ext4 a durable commit took
//! about a quarter less time; BENCHMARKS.md). A record header of zeros ends the log (see `wal`).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::FileIo;

/// The open log of a writable store (a read-only store has one with no file).
pub(crate) struct LogWriter {
    pub(crate) file: Option<Arc<dyn FileIo>>,
    /// Bytes of the log: its header and whole records. The file may be longer, with zeros.
    pub(crate) len: u64,
    /// Bytes in the file: `len` and the zeros written ahead of it.
    allocated: u64,
    /// Records not yet written (buffered durability).
    pub(crate) buf: Vec<u8>,
    pub(crate) next_seq: u64,
}

/// Records reaching past the zeros written ahead are followed by zeros up to the next multiple
/// of this: a step of about 400 single-key commits, and a small file for the crash tests, which
/// copy the log at every sync.
pub(crate) const LOG_EXTEND_BYTES: u64 = 64 << 10;

/// Past this, the buffer's memory is given back once it is written out: one large commit must
/// not keep its size in memory for the life of the store.
const KEEP_BUFFER_BYTES: usize = 4 << 20;

impl LogWriter {
    /// Empty the buffer, giving back its memory after a large commit.
    pub(crate) fn clear_buffer(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > KEEP_BUFFER_BYTES {
            self.buf.shrink_to(KEEP_BUFFER_BYTES / 4);
        }
    }

    /// The writing end of a log that follows the checkpoint `meta`, before recovery: no file yet,
    /// an empty log, the next record the one after the checkpoint's.
    pub(crate) fn after(meta: &crate::layout::file::Meta) -> LogWriter {
        LogWriter {
            file: None,
            len: super::LOG_HEADER_BYTES,
            allocated: super::LOG_HEADER_BYTES,
            buf: Vec::new(),
            next_seq: meta.checkpoint_seq.saturating_add(1),
        }
    }

    /// The log was started afresh (its header written, the file cut to it).
    pub(crate) fn restarted(&mut self) {
        self.len = super::LOG_HEADER_BYTES;
        self.allocated = super::LOG_HEADER_BYTES;
    }

    /// Records end at `len` in a file of `file_len` bytes (zeros after them): new ones go on
    /// from there.
    pub(crate) fn goes_on_at(&mut self, len: u64, file_len: u64) {
        self.len = len;
        self.allocated = file_len.max(len);
    }

    /// After records were written up to `end`: when they reached past the zeros written ahead,
    /// write zeros from `end` to the next step of [`LOG_EXTEND_BYTES`] (only past the records:
    /// zeros they would overwrite at once are not written).
    fn write_ahead(&mut self, file: &dyn FileIo, end: u64) -> Result<()> {
        if end <= self.allocated {
            return Ok(());
        }
        let target = end.next_multiple_of(LOG_EXTEND_BYTES);
        let zeros = vec![0u8; usize::try_from(target - end).unwrap_or(0)];
        file.write_all_at(&zeros, end)?;
        self.allocated = target;
        Ok(())
    }

    /// Bytes of the log: in the file and still buffered.
    pub(crate) fn bytes(&self) -> u64 {
        self.len + self.buf.len() as u64
    }

    /// Write buffered records to the file. On failure the file is cut back to its last whole
    /// record and the records stay in the buffer: `Err` means none of them is in the log yet.
    pub(crate) fn write_out(&mut self) -> Result<()> {
        let Some(file) = &self.file else { return Err(Error::ReadOnly) };
        if self.buf.is_empty() {
            return Ok(());
        }
        let file = file.clone();
        let end = self.len + self.buf.len() as u64;
        let written = file.write_all_at(&self.buf, self.len).map_err(Error::from);
        if let Err(e) = written.and_then(|()| self.write_ahead(&*file, end)) {
            self.allocated = self.len;
            return Err(cut_back(&*file, self.len, e));
        }
        self.len += self.buf.len() as u64;
        self.clear_buffer();
        Ok(())
    }

    /// Append the record of `ops` straight to the file, a piece at a time (`wal::write_record`),
    /// after the buffered records: for a commit too large to build whole in memory. On failure
    /// the file is cut back to its last whole record, as [`LogWriter::write_out`] does.
    pub(crate) fn write_large(
        &mut self,
        seq: u64,
        ops: &[super::LogOp<'_>],
        key_delta: Option<i64>,
    ) -> Result<()> {
        self.write_out()?;
        let Some(file) = &self.file else { return Err(Error::ReadOnly) };
        // Not written ahead with zeros (the record alone may be gigabytes): it reaches past them.
        match super::write_record(seq, (ops, key_delta), &**file, self.len, WRITE_PIECE_BYTES) {
            Ok(n) => {
                self.len += n;
                self.allocated = self.allocated.max(self.len);
                Ok(())
            }
            Err(e @ Error::CommitTooLarge { .. }) => Err(e),
            Err(e) => {
                self.allocated = self.len;
                Err(cut_back(&**file, self.len, e))
            }
        }
    }
}

/// After a failed write: the log cut back to `len`, its last whole record, and the write's
/// error; or a poison when even the cut fails.
fn cut_back(file: &dyn FileIo, len: u64, e: Error) -> Error {
    match file.set_len(len) {
        Ok(()) => e,
        Err(e2) => Error::Poisoned {
            reason: format!("log write failed ({e}) and the log could not be cut back ({e2})"),
        },
    }
}

/// A large record goes to the file in pieces of about this many bytes.
const WRITE_PIECE_BYTES: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_commit_does_not_keep_its_buffer() {
        let mut w = LogWriter { file: None, len: 0, allocated: 0, buf: vec![7u8; 64 << 20], next_seq: 1 };
        w.clear_buffer();
        assert!(w.buf.is_empty() && w.buf.capacity() <= KEEP_BUFFER_BYTES, "{}", w.buf.capacity());
        // A small buffer keeps its memory for the next commits.
        w.buf.extend_from_slice(&[1u8; 1 << 20]);
        let cap = w.buf.capacity();
        w.clear_buffer();
        assert_eq!(w.buf.capacity(), cap);
    }
}
