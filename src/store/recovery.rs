//! Recovery: the log's records after the last checkpoint replayed into the tree at open. A
//! writable open then checkpoints and starts the log afresh; a read-only one keeps the result in
//! memory. Whatever suggests that acknowledged commits are missing (a gap in the sequence, a
//! whole record beyond a damaged one, a record that cannot be applied, a damaged log header with
//! records behind it) keeps the log as it is and is reported: nothing is cut or checkpointed
//! over it.

use std::path::PathBuf;
use std::sync::Arc;

use super::StoreState;
use super::commit::{self, Gathered, fold, replay_unpublished, restart_log};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::inspect::RecoveryReport;
use crate::io::FileIo;
use crate::layout::node::max_key_bytes;
use crate::wal::{self, LOG_HEADER_BYTES, LOG_HEADER_LEN, LogHeader, LogOp, LogReader};

/// How far past the last checkpoint a sequence number found in damage may be and still count as
/// one of this store's records (a random 8 bytes falls in this range once in 2^32).
const SEQ_WINDOW: u64 = 1 << 32;

/// What the start of the log holds.
pub(super) enum LogState {
    /// No log file (a read-only open of a store whose log is gone).
    Absent,
    /// Empty, or a header cut short before any record could follow it: a new log.
    Blank,
    /// A header that does not decode, with bytes after it.
    Damaged,
    /// A header.
    Header(LogHeader),
}

impl LogState {
    pub(super) fn read(log: &dyn FileIo) -> Result<LogState> {
        let len = log.len()?;
        let mut head = vec![0u8; usize::try_from(len.min(LOG_HEADER_BYTES)).unwrap_or(LOG_HEADER_LEN)];
        match log.read_exact_at(&mut head, 0) {
            // Cut by the writer while read: a new log as far as this open goes.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(LogState::Blank),
            other => other?,
        }
        Ok(match wal::decode_header(&head) {
            Some(h) => LogState::Header(h),
            None if len <= LOG_HEADER_BYTES => LogState::Blank,
            None => LogState::Damaged,
        })
    }

    /// The checkpoint the log says it follows.
    pub(super) fn follows(&self) -> Option<&crate::layout::file::Meta> {
        match self {
            LogState::Header(h) => h.follows.as_ref(),
            _ => None,
        }
    }
}

/// Copies a log whose record at the given offset is damaged to a file beside it; returns its path.
pub(super) type SetAside<'a> = dyn Fn(&Arc<dyn FileIo>, u64) -> Result<PathBuf> + 'a;

/// How recovery may change the files.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Replay {
    /// Replay, checkpoint and start the log afresh (unless something must be kept).
    Writable,
    /// Replay into memory only; write nothing.
    InMemory,
}

/// Makes the engine of the checkpoint in force afresh, as the open first made it.
pub(super) type Rebuild<'a> = dyn Fn() -> Result<Engine> + 'a;

/// Replay the log into `inner`. The log's file id was checked by the caller. Fills `report`, and
/// returns why writes must be refused when the log was left as found (data may be missing and
/// nothing may be cut or checkpointed over it).
///
/// With `rebuild`, the records are applied as one commit of the engine, published once at the
/// end: the pages near the root are decoded and encoded once, not once per record. A record that
/// cannot be applied leaves that commit half made, so then the engine is made afresh and the log
/// replayed again a record at a time, which keeps every record before the one that failed.
pub(super) fn recover(
    inner: &mut StoreState,
    log: Option<&Arc<dyn FileIo>>,
    state: &LogState,
    replay: Replay,
    report: &mut RecoveryReport,
    set_aside: &SetAside<'_>,
    rebuild: Option<&Rebuild<'_>>,
) -> Result<Option<String>> {
    let report_at_start = report.clone();
    let checkpoint_seq = inner.engine.durable().checkpoint_seq;
    let next_after_checkpoint = checkpoint_seq.checked_add(1).ok_or_else(|| {
        Error::corrupted(0, "the meta slot's last log sequence number is the largest there is")
    })?;
    let window = next_after_checkpoint..=next_after_checkpoint.saturating_add(SEQ_WINDOW);
    let writable = replay == Replay::Writable && report.data_may_be_missing.is_none();
    let kept = |report: &RecoveryReport| {
        report.data_may_be_missing.as_ref().map(|why| {
            format!("opened without writes: {why}; the log was kept as found (read what the store holds, or salvage it)")
        })
    };
    if report.data_may_be_missing.is_some() {
        // The caller found a newer checkpoint it cannot recover: replay what follows ours, but
        // change nothing on disk.
        report.log_kept = true;
    }
    let Some(log) = log else { return Ok(kept(report)) };
    let (start, len, version) = match state {
        LogState::Absent => return Ok(kept(report)),
        LogState::Blank => {
            if writable {
                restart_log(&**log, &inner.engine)?;
            }
            inner.log.restarted();
            return Ok(kept(report));
        }
        LogState::Damaged => {
            // A torn rewrite of the header leaves only records the checkpoint covers behind it;
            // a record after the checkpoint means commits the header no longer vouches for.
            let reader = LogReader::new(log.clone(), 0)?;
            if let Some(seq) = reader.record_beyond(wal::MIN_LOG_HEADER_BYTES - 1, window)? {
                report.stopped_at = Some((0, "log header is damaged".into()));
                report.data_may_be_missing = Some(format!(
                    "the log header is damaged and the log still holds commit {seq}, after the last checkpoint"
                ));
                report.log_kept = true;
                inner.log.goes_on_at(reader.len(), reader.len());
                return Ok(kept(report));
            }
            if writable {
                restart_log(&**log, &inner.engine)?;
                report.notes.push("the log header was damaged; the log held nothing after the last checkpoint and was started afresh".into());
            }
            inner.log.restarted();
            return Ok(kept(report));
        }
        LogState::Header(h) => (h.len, log.len()?, h.version),
    };

    // A log whose header names the checkpoint in force holds only commits after it, or (a crash
    // between rewriting the header and cutting the log) only commits it covers: a commit after it
    // behind one it covers means the checkpoint's record of its last commit is not what was
    // written.
    let mut covered_seen = false;
    let follows_this_checkpoint =
        state.follows().is_some_and(|m| m.checkpoint_id == inner.engine.durable().checkpoint_id);
    let max_key = max_key_bytes(inner.engine.header().page_size);
    let mut reader = LogReader::with_max_key_bytes(log.clone(), start, max_key)?.of_version(version);
    if replay == Replay::InMemory {
        reader = reader.beside_a_writer();
    }
    // A read-only open reads the log while a writer may be writing it: a record found damaged
    // may be one being written. It is read once more before the damage is believed.
    let mut read_again_at = None;
    let mut beyond = None;
    let mut expected: Option<u64> = None;
    let mut last_applied = checkpoint_seq;
    let batched = rebuild.is_some();
    // Each record's body is read into `gathered.bodies`; the batched replay gathers the records
    // for the write buffer there until a quarter of the buffer is gathered.
    let mut gathered = Gathered::new();
    let failed = 'replay: {
        loop {
            let offset = reader.offset();
            let mark = gathered.bodies.len();
            let wal::RecordAt { seq, ops, .. } = match reader.next_record_into(&mut gathered.bodies)? {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(damage) if replay == Replay::InMemory && read_again_at != Some(damage.offset) => {
                    read_again_at = Some(damage.offset);
                    continue;
                }
                Err(damage) => {
                    let want = expected.unwrap_or(next_after_checkpoint).max(next_after_checkpoint);
                    // A damaged record with a whole one of this store's after it: bit rot in an
                    // acknowledged record, or a crash that tore one record of a group whose sync
                    // never finished. The two look alike, so the log is copied aside before it is
                    // started afresh, and the report says so.
                    if let Some(seq) =
                        reader.record_beyond(damage.offset, want..=want.saturating_add(SEQ_WINDOW))?
                    {
                        beyond = Some((seq, damage.offset));
                    }
                    report.stopped_at = Some((damage.offset, damage.reason));
                    break;
                }
            };
            let want = expected.unwrap_or(seq.min(next_after_checkpoint));
            // Records the checkpoint covers may be skipped over: only a jump past the first record
            // after the checkpoint leaves commits out.
            let gap_is_covered = want <= checkpoint_seq && seq == next_after_checkpoint;
            if seq != want && !gap_is_covered {
                if seq > want.max(next_after_checkpoint) {
                    report.data_may_be_missing.get_or_insert(if expected.is_none() {
                    format!(
                        "the log starts at commit {seq}, but the checkpoint in force ends at commit {checkpoint_seq}: a newer checkpoint is missing"
                    )
                } else {
                    format!("the log holds commit {seq} but not commit {want}: commits between them are missing")
                });
                }
                report.stopped_at =
                    Some((offset, format!("sequence number {seq} where {want} was expected")));
                break;
            }
            if seq > checkpoint_seq && covered_seen && follows_this_checkpoint {
                report.stopped_at =
                    Some((offset, format!("commit {seq} after commits the checkpoint covers")));
                report.data_may_be_missing.get_or_insert(format!(
                "the log follows checkpoint {} (ending at commit {checkpoint_seq}) and holds commit {seq} \
                 after commits that checkpoint covers: the checkpoint's record of its last commit is damaged",
                inner.engine.durable().checkpoint_id
            ));
                break;
            }
            expected = seq.checked_add(1);
            if seq <= checkpoint_seq {
                covered_seen = true;
                gathered.bodies.truncate(mark);
                continue;
            }
            if batched {
                // Small records go to the write buffer, gathered and sorted once; a large one
                // goes to the tree after them.
                let engine = &mut inner.engine;
                let applied = match Gathered::buffered_bytes(engine, &ops) {
                    Some(bytes) => {
                        gathered.add(ops, bytes);
                        // Put there a quarter of the buffer at a time: the records' bodies and
                        // the run made of them are in memory together.
                        if gathered.bytes() < engine.buffer_limit() / 4 {
                            Ok(None)
                        } else {
                            let put = gathered.put_in_buffer(engine);
                            gathered.bodies.clear();
                            put
                        }
                    }
                    None => {
                        let applied = match gathered.put_in_buffer(engine) {
                            Ok(None) => {
                                let ops: Vec<LogOp<'_>> =
                                    ops.iter().map(|op| op.to_op(&gathered.bodies)).collect();
                                replay_unpublished(engine, &ops)
                            }
                            other => other,
                        };
                        gathered.bodies.clear();
                        applied
                    }
                };
                if !matches!(applied, Ok(None)) {
                    break 'replay true;
                }
            } else {
                let ops: Vec<LogOp<'_>> = ops.iter().map(|op| op.to_op(&gathered.bodies)).collect();
                let replayed = commit::replay(&mut inner.engine, &ops);
                drop(ops);
                gathered.bodies.clear();
                if let Err(e) = replayed {
                    if let (Replay::InMemory, Error::Io(_)) = (replay, &e) {
                        // A reader's scratch file failed: not the record's fault.
                        return Err(e);
                    }
                    report.stopped_at = Some((offset, format!("commit {seq} could not be applied: {e}")));
                    report.data_may_be_missing.get_or_insert(format!(
                        "commit {seq} (at byte {offset} of the log) could not be applied, nor any after it: {e}"
                    ));
                    break;
                }
            }
            last_applied = seq;
            report.commits_replayed += 1;
        }
        !matches!(gathered.put_in_buffer(&mut inner.engine), Ok(None))
    };
    if let (true, Some(rebuild)) = (failed, rebuild) {
        // Replay again a record at a time, from the checkpoint: it stops where this did, with
        // every record before kept.
        inner.engine = rebuild()?;
        *report = report_at_start;
        return recover(inner, Some(log), state, replay, report, set_aside, None);
    }
    if rebuild.is_some() && report.commits_replayed > report_at_start.commits_replayed {
        // Snapshots taken from here on see every replayed commit.
        inner.engine.publish();
    }
    inner.log.next_seq = last_applied.saturating_add(1);
    // Where the records end (the zeros the writer wrote ahead of them are not log), or the
    // file's end where the replay stopped early (the log is then kept as it is, or started
    // afresh below).
    let end = if report.stopped_at.is_none() { reader.offset() } else { len };
    inner.log.goes_on_at(end, len);
    if report.data_may_be_missing.is_some() {
        report.log_kept = true;
        return Ok(kept(report));
    }
    if let Some((seq, offset)) = beyond {
        let why = format!("the log holds commit {seq} after the damaged record at byte {offset}");
        if writable {
            let copy = set_aside(log, offset)?;
            report.data_may_be_missing = Some(format!("{why}; the log was copied to {}", copy.display()));
            report.log_kept = true;
        } else {
            // In memory only (read-only, or a file of an older format about to be rewritten):
            // nothing may start the log afresh.
            report.data_may_be_missing = Some(why);
            report.log_kept = true;
            return Ok(kept(report));
        }
    }
    // A log of an older format (version 1, or 2 without key counts) is started afresh: new
    // records never follow a header that says they cannot hold what they hold.
    let old_format = version != wal::LOG_VERSION;
    let follows_older = !matches!(state, LogState::Header(h) if h.follows.as_ref().is_some_and(|m| m.checkpoint_id == inner.engine.durable().checkpoint_id));
    let log_goes_on = report.stopped_at.is_none() && !old_format && !follows_older && !covered_seen;
    if writable && log_goes_on && report.commits_replayed > 0 {
        // The log ends with its last whole record: new commits follow it, and the replayed ones
        // stay where the replay left them (the write buffer, or the tree in memory) until the
        // next checkpoint. One sync first: a record read back is durable before anything new is
        // acknowledged after it.
        log.sync_data()?;
    } else if writable
        && (report.commits_replayed > 0
            || report.stopped_at.is_some()
            || len > start
            || old_format
            || follows_older)
    {
        fold(&mut inner.engine)?;
        inner.engine.checkpoint(last_applied)?;
        restart_log(&**log, &inner.engine)?;
        inner.log.restarted();
    }
    Ok(None)
}
