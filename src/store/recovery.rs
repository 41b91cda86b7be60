//! Recovery: the log's records after the last checkpoint replayed into the tree at open. A
//! writable open then checkpoints and truncates the log; a read-only one keeps the result in
//! memory.

use std::sync::Arc;

use super::StoreState;
use super::commit::apply;
use crate::error::{Error, Result};
use crate::inspect::RecoveryReport;
use crate::io::FileIo;
use crate::wal::{self, LOG_HEADER_BYTES, LogReader};

/// Replay the log into `inner` (see the module comment of `crate::wal`); a writable open then
/// checkpoints and truncates the log.
pub(super) fn recover(
    inner: &mut StoreState,
    log: Arc<dyn FileIo>,
    read_only: bool,
) -> Result<RecoveryReport> {
    let mut report = RecoveryReport::default();
    let len = log.len()?;
    let file_id = inner.engine.header().file_id;
    let mut head = [0u8; wal::LOG_HEADER_LEN];
    let header_ok = if len >= LOG_HEADER_BYTES {
        log.read_exact_at(&mut head, 0)?;
        wal::decode_header(&head)
    } else {
        None
    };
    match header_ok {
        Some(id) if id == file_id => {}
        Some(_) => {
            return Err(Error::LogCorrupted {
                offset: 0,
                reason: "the log belongs to another store (file ids differ)".into(),
            });
        }
        None if len > LOG_HEADER_BYTES => {
            return Err(Error::LogCorrupted { offset: 0, reason: "log header is damaged".into() });
        }
        None => {
            // A new log, or one whose creation was cut short before any record.
            if !read_only {
                log.set_len(0)?;
                log.write_all_at(&wal::encode_header(file_id), 0)?;
                log.sync_data()?;
            }
            inner.log.len = LOG_HEADER_BYTES;
            return Ok(report);
        }
    }

    let checkpoint_seq = inner.engine.durable().checkpoint_seq;
    let mut reader = LogReader::new(log.clone())?;
    let mut expected: Option<u64> = None;
    let mut last_applied = checkpoint_seq;
    loop {
        let offset = reader.offset();
        let (seq, ops) = match reader.next_record()? {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(damage) => {
                report.stopped_at = Some((damage.offset, damage.reason));
                break;
            }
        };
        let want = expected.unwrap_or(seq.min(checkpoint_seq + 1));
        if seq != want {
            report.stopped_at = Some((offset, format!("sequence number {seq} where {want} was expected")));
            break;
        }
        expected = Some(seq + 1);
        if seq <= checkpoint_seq {
            continue;
        }
        apply(&mut inner.engine, ops)?;
        last_applied = seq;
        report.commits_replayed += 1;
    }
    inner.log.next_seq = last_applied + 1;
    inner.log.len = len;
    if !read_only && (report.commits_replayed > 0 || report.stopped_at.is_some() || len > LOG_HEADER_BYTES) {
        inner.engine.checkpoint(last_applied)?;
        log.set_len(LOG_HEADER_BYTES)?;
        log.sync_data()?;
        inner.log.len = LOG_HEADER_BYTES;
    }
    Ok(report)
}
