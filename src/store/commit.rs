//! The commit path (see the module comment of `store`): writes checked against the limits, one log
//! record per commit, applied to the tree, synced with group commit; checkpoints and compaction.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use super::paths::{TempKind, create_temp};
use super::{KVStore, StoreState};
use crate::batch::WriteBatch;
use crate::engine::{Access, BUFFER_SLOT_BYTES, Change, Engine, compact};
use crate::error::{Error, Result};
use crate::io::FileIo;
use crate::layout::file::{FORMAT_VERSION, FileHeader, MAX_VALUE_BYTES};
use crate::layout::node::{ValueRef, key_order};
use crate::options::Durability;
use crate::wal::{self, LOG_HEADER_BYTES, LogOp, OpAt};

/// Changes a fold merges into the tree in one pass.
const FOLD_CHUNK: usize = 1024;

/// Buffered durability writes the log out once this many bytes have gathered.
const LOG_BUFFER_BYTES: usize = 1 << 20;

/// A commit's record larger than this goes to the log a piece at a time, never whole in memory
/// (`LogWriter::write_large`).
const LARGE_RECORD_BYTES: usize = 4 << 20;

/// Under [`Durability::Immediate`], a commit whose values in overflow chains add up to this
/// or more is not logged, but made durable by a checkpoint (see `commit_if`). Below it the
/// checkpoint's early write of the tree's changed pages can cost more than the log's second copy
/// of the values saves (`examples/value_sizes.rs`, docs/BENCHMARKS.md, seventh round).
const UNLOGGED_CHAIN_BYTES: usize = 2 << 20;

impl KVStore {
    /// Set `key` to `value`, replacing any value it had; durable on return under
    /// [`Durability::Immediate`]. A key or value over the limits fails ([`Error::KeyTooLarge`],
    /// [`Error::ValueTooLarge`]) with nothing written.
    ///
    /// The value is borrowed, not copied: the store holds one more copy of it while the call
    /// runs, in the log record (see `commit_if`).
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.check_sizes(key, Some(value))?;
        self.commit(vec![LogOp::Put(Cow::Borrowed(key), Cow::Borrowed(value))])
    }

    /// Delete `key`; `Ok(true)` when it existed. The test and the delete are one step: of two
    /// threads deleting the same key, one gets `true`. A missing key writes nothing.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        self.check_sizes(key, None)?;
        self.commit_if(vec![LogOp::Delete(Cow::Borrowed(key))], |engine| engine.contains(key))
    }

    /// Apply a batch all-or-nothing, also across a crash.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        for (k, v) in batch.ops() {
            self.check_sizes(k, v)?;
        }
        if batch.is_empty() {
            return Ok(());
        }
        // The operations borrow the batch's one buffer: the batch is the caller's copy.
        let mut ops: Vec<LogOp<'_>> = batch
            .ops()
            .map(|(k, v)| match v {
                Some(v) => LogOp::Put(Cow::Borrowed(k), Cow::Borrowed(v)),
                None => LogOp::Delete(Cow::Borrowed(k)),
            })
            .collect();
        // Key order (stable: a later write to the same key still wins) fills pages left to right.
        wal::sort_by_key(&mut ops);
        self.commit(ops)
    }

    fn check_sizes(&self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let max = self.max_key_bytes();
        if key.len() > max {
            return Err(Error::KeyTooLarge { len: key.len(), max });
        }
        if let Some(v) = value
            && v.len() as u64 > MAX_VALUE_BYTES
        {
            return Err(Error::ValueTooLarge { len: v.len() as u64, max: MAX_VALUE_BYTES });
        }
        Ok(())
    }

    pub(super) fn commit(&self, ops: Vec<LogOp<'_>>) -> Result<()> {
        self.commit_if(ops, |_| Ok(true)).map(|_| ())
    }

    /// Commit `ops` if `precondition` holds of the tree once the write lock is held; `Ok(false)`,
    /// with nothing logged, when it does not.
    ///
    /// Memory: the record is encoded once into the log buffer, the one copy of the values the
    /// store makes; a record over [`LARGE_RECORD_BYTES`] is written to the file a piece at a
    /// time instead (after the buffered records), so not even that copy is whole. A record that goes out at once (immediate durability, or a buffer past
    /// [`LOG_BUFFER_BYTES`]) is written and its buffer given back before the tree is touched;
    /// the tree then takes each value from the operation itself (a borrowed slice for `put`),
    /// writing an overflow chain page run by page run.
    ///
    /// A commit whose values in overflow chains add up to [`UNLOGGED_CHAIN_BYTES`] or more,
    /// under [`Durability::Immediate`], skips the log: it is applied (its chains written to
    /// pages the last checkpoint does not reach) and a checkpoint makes it durable before this
    /// returns, so those bytes are written once, not to the log and again to the data file. The
    /// checkpoint folds the write buffer, adds its syncs and writes the tree's changed pages
    /// sooner. A commit of small values, however large, is logged: a checkpoint would write
    /// every leaf it changed, where the log holds each change once and later checkpoints write
    /// the leaves for many commits.
    fn commit_if(
        &self,
        ops: Vec<LogOp<'_>>,
        precondition: impl FnOnce(&Engine) -> Result<bool>,
    ) -> Result<bool> {
        self.check_writable()?;
        let seq = {
            let mut guard = self.write_inner()?;
            self.check_writable()?;
            let inner = &mut *guard;
            if !precondition(&inner.engine)? {
                return Ok(false);
            }
            // Where the commit goes is decided first. Its record carries no key count change:
            // a commit kept in the write buffer is not looked up in the tree, and one applied to
            // the tree is counted as it goes (see `engine/buffer.rs`).
            let plan = plan(&inner.engine, &ops)?;
            let key_delta = None;
            // Only a commit for the tree holds values in overflow chains: the others are not counted.
            if self.durability == Durability::Immediate
                && matches!(plan, Plan::Tree)
                && chained_bytes(&inner.engine, &ops) >= UNLOGGED_CHAIN_BYTES
            {
                self.commit_unlogged(inner, &ops, plan)?;
                return Ok(true);
            }
            let seq = inner.log.next_seq;
            let record_start = inner.log.buf.len();
            let large = wal::record_len(&ops, key_delta) > LARGE_RECORD_BYTES;
            if !large {
                wal::encode_record(seq, &ops, key_delta, &mut inner.log.buf)?;
            }
            if large || self.durability == Durability::Immediate || inner.log.buf.len() >= LOG_BUFFER_BYTES {
                let written =
                    if large { inner.log.write_large(seq, &ops, key_delta) } else { inner.log.write_out() };
                if let Err(e) = written {
                    return match e {
                        Error::Poisoned { .. } => self.fail_poisoned("log write", e),
                        // Cut back cleanly: this commit is dropped and nothing of it applied;
                        // earlier buffered commits wait in the buffer for the next write-out.
                        e => {
                            inner.log.buf.truncate(record_start);
                            Err(e)
                        }
                    };
                }
                self.written_seq.fetch_max(seq, Ordering::SeqCst);
            }
            inner.log.next_seq += 1;
            if let Err(e) = apply(&mut inner.engine, &ops, plan) {
                return self.fail_poisoned("applying a logged commit", e);
            }
            // A full write buffer is folded into the tree by a checkpoint, which also starts the
            // log afresh: the log never holds more small commits than the buffer, so a replay
            // after a crash fills the buffer and no more.
            if (inner.log.bytes() > self.checkpoint_log_bytes || inner.engine.buffer_is_full())
                && let Err(e) = self.checkpoint_locked(inner)
            {
                return self.fail_poisoned("checkpoint", e);
            }
            seq
        };
        if self.durability == Durability::Immediate {
            self.sync_to(seq)?;
        }
        Ok(true)
    }

    /// A commit too large for the log (see `commit_if`): applied, then made durable by a
    /// checkpoint, which names its sequence number as the last commit it holds. Nothing is
    /// written before the apply, so a failure there or in the checkpoint poisons the store as a
    /// failed apply of a logged commit does; a crash before the checkpoint's K2 leaves the
    /// commit out (it was never acknowledged) and everything logged before it in.
    fn commit_unlogged(&self, inner: &mut StoreState, ops: &[LogOp<'_>], plan: Plan<'_>) -> Result<()> {
        inner.log.next_seq += 1;
        if let Err(e) = apply(&mut inner.engine, ops, plan) {
            return self.fail_poisoned("applying a commit too large for the log", e);
        }
        if let Err(e) = self.checkpoint_locked(inner) {
            return self.fail_poisoned("checkpoint of a commit too large for the log", e);
        }
        Ok(())
    }

    /// Make every commit up to `seq` durable, sharing one fsync with concurrent committers.
    fn sync_to(&self, seq: u64) -> Result<()> {
        let mut synced = self.synced_seq.lock().unwrap_or_else(|e| e.into_inner());
        if *synced >= seq {
            return Ok(());
        }
        // An fsync that failed (poisoning the store under this lock) may have dropped this
        // record, and a new fsync would not write it again but succeed: never acknowledge it.
        if let Some(reason) = self.poison_reason() {
            return Err(Error::Poisoned { reason });
        }
        let target = self.written_seq.load(Ordering::SeqCst);
        let Some(log) = &self.log_file else { return Err(Error::ReadOnly) };
        if let Err(e) = log.sync_data() {
            // The kernel may have dropped the unsynced pages: nothing after the last good sync
            // can be trusted to reach the disk, so stop accepting writes.
            return self.fail_poisoned("fsync of the log", e.into());
        }
        *synced = (*synced).max(target);
        Ok(())
    }

    pub(super) fn checkpoint_locked(&self, inner: &mut StoreState) -> Result<()> {
        let seq = inner.log.next_seq - 1;
        fold(&mut inner.engine)?;
        let before = inner.engine.durable().checkpoint_id;
        inner.engine.checkpoint(seq)?;
        // Everything up to `seq` is now in the data file: the log can start over, under a
        // header naming the new checkpoint.
        inner.log.clear_buffer();
        if let Some(file) = &inner.log.file
            && (inner.log.len > LOG_HEADER_BYTES || inner.engine.durable().checkpoint_id != before)
        {
            restart_log(&**file, &inner.engine)?;
            inner.log.restarted();
        }
        self.written_seq.fetch_max(seq, Ordering::SeqCst);
        let mut synced = self.synced_seq.lock().unwrap_or_else(|e| e.into_inner());
        *synced = (*synced).max(seq);
        Ok(())
    }

    /// Make every write so far durable (needed only with [`Durability::Buffered`]).
    pub fn flush(&self) -> Result<()> {
        self.check_writable()?;
        let seq = {
            let mut inner = self.write_inner()?;
            if let Err(e) = inner.log.write_out() {
                return self.fail_poisoned("log write", e);
            }
            let seq = inner.log.next_seq - 1;
            self.written_seq.fetch_max(seq, Ordering::SeqCst);
            seq
        };
        self.sync_to(seq)
    }

    /// Fold the log into the data file now.
    pub fn checkpoint(&self) -> Result<()> {
        self.check_writable()?;
        let mut inner = self.write_inner()?;
        if let Err(e) = self.checkpoint_locked(&mut inner) {
            return self.fail_poisoned("checkpoint", e);
        }
        Ok(())
    }

    /// Rewrite the store densely into a new file and put it in place of the old one: the file
    /// shrinks to its live data; identifier and keys are kept. A crash at any point leaves
    /// either the old or the new file whole.
    pub fn compact(&self) -> Result<()> {
        self.check_writable()?;
        let mut guard = self.write_inner()?;
        let inner = &mut *guard;
        // The new file holds every commit up to `seq` (the write buffer's merged in as it is
        // written, nothing folded or checkpointed into the old file first): once it is in place,
        // the log's records are ones its checkpoint covers, and a crash before the log starts
        // over replays none of them.
        let seq = inner.log.next_seq - 1;
        let header = FileHeader { version: FORMAT_VERSION, ..inner.engine.header().clone() };
        let (tmp, file) = create_temp(&*self.vfs, &self.path, &header, TempKind::Compact)?;
        let built = compact::build(&inner.engine, &*file, seq);
        let meta = match built.and_then(|m| file.sync_data().map(|_| m).map_err(Error::from)) {
            Ok(meta) => meta,
            Err(e) => {
                drop(file);
                let _ = self.vfs.remove(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = self.vfs.rename(&tmp, &self.path) {
            let _ = self.vfs.remove(&tmp);
            return Err(e.into());
        }
        let access = Access::Write {
            readers: self.vfs.reader_table(&self.path),
            hold_bytes: self.options.reader_hold_bytes,
        };
        match Engine::new(file, header, meta, 0, self.options.memory(), access, Some(self.versions.clone())) {
            Ok(engine) => inner.engine = engine,
            Err(e) => return self.fail_poisoned("reopening the compacted file", e),
        }
        if let Err(e) = self.vfs.sync_dir(&self.path) {
            return self.fail_poisoned("syncing the directory after compaction", e.into());
        }
        // The log follows the new file's checkpoint from now on; the records waiting in its
        // buffer are in the new file.
        inner.log.clear_buffer();
        if let Some(file) = &inner.log.file {
            if let Err(e) = restart_log(&**file, &inner.engine) {
                return self.fail_poisoned("restarting the log after compaction", e);
            }
            inner.log.restarted();
        }
        self.written_seq.fetch_max(seq, Ordering::SeqCst);
        let mut synced = self.synced_seq.lock().unwrap_or_else(|e| e.into_inner());
        *synced = (*synced).max(seq);
        Ok(())
    }
}

/// Start the log afresh after a checkpoint: a header naming the engine's last checkpoint (with a
/// copy of its meta slot), no records, synced, so that a record appended later never follows a
/// header that a crash could tear.
pub(super) fn restart_log(log: &dyn FileIo, engine: &Engine) -> Result<()> {
    log.write_all_at(&wal::encode_header(engine.header().file_id, engine.durable()), 0)?;
    log.set_len(LOG_HEADER_BYTES)?;
    log.sync_data()?;
    Ok(())
}

/// Where a commit goes, decided before it is logged ([`plan`]).
pub(super) enum Plan<'o> {
    /// Into the write buffer: its changes (ascending, one per key, the last of each) and their
    /// size there.
    Buffer { changes: Vec<(&'o [u8], Change<'o>)>, bytes: usize },
    /// To the tree, after the buffer's changes (a value that needs an overflow chain, or a
    /// commit larger than half the buffer).
    Tree,
}

/// Where `ops` go: into the write buffer when they fit there (values that fit in a leaf, at most
/// half the buffer in all); else to the tree.
pub(super) fn plan<'o>(engine: &Engine, ops: &'o [LogOp<'_>]) -> Result<Plan<'o>> {
    match buffered_bytes(engine, ops) {
        Some(bytes) => Ok(buffer_plan(ops, bytes)),
        None => Ok(Plan::Tree),
    }
}

/// [`Plan::Buffer`] for `ops`, which take `bytes` in the buffer.
fn buffer_plan<'o>(ops: &'o [LogOp<'_>], bytes: usize) -> Plan<'o> {
    let changes = ops
        .iter()
        .filter_map(|op| match op {
            LogOp::Put(k, v) => Some((k.as_ref(), Some(v.as_ref()))),
            LogOp::Delete(k) => Some((k.as_ref(), None)),
            LogOp::SetIdentifier(_) => None,
        })
        .collect();
    Plan::Buffer { changes: last_change_of_each_key(changes), bytes }
}

/// Apply one commit (`ops`, as [`plan`] placed them) and publish it: into the write buffer
/// (see `engine/buffer.rs`), or to the tree, all of it or (when a write fails) none of it: the
/// buffer's older changes first, then the values' overflow chains, then the tree changes in
/// memory. Spilling changed pages between operations bounds memory; a spill that fails keeps
/// the pages in memory, so its error waits for the end of the commit.
pub(super) fn apply(engine: &mut Engine, ops: &[LogOp<'_>], plan: Plan<'_>) -> Result<()> {
    let spill_error = apply_unpublished(engine, ops, plan)?;
    // Snapshots taken from here on see this commit.
    engine.publish();
    spill_error.map_or(Ok(()), Err)
}

/// [`apply`] without publishing, so a replay can apply many records and publish once. `Err`
/// when an operation failed part way (the working pages then hold part of the commit);
/// `Ok(Some(e))` when every operation was applied but a spill failed (its pages stay in memory).
pub(super) fn apply_unpublished(
    engine: &mut Engine,
    ops: &[LogOp<'_>],
    plan: Plan<'_>,
) -> Result<Option<Error>> {
    match plan {
        Plan::Buffer { changes, bytes } => {
            for op in ops {
                if let LogOp::SetIdentifier(id) = op {
                    engine.set_identifier(id.clone());
                }
            }
            engine.buffer_changes(&changes, bytes);
            Ok(None)
        }
        Plan::Tree => {
            if let Some(applied) = merge_into_tree(engine, ops) {
                return applied;
            }
            // A commit that changes no key the buffer holds goes to the tree beside it: reads
            // look in the buffer first, and find none of its keys there. One that does waits for
            // the buffer's changes to go first (published on their own, so that a commit that
            // then fails part way, an overflow chain the disk has no room for, leaves the tree
            // whole).
            let folded = if changes_buffered_keys(engine, ops) { fold_published(engine)? } else { None };
            let applied = apply_to_tree(engine, ops)?;
            Ok(folded.or(applied))
        }
    }
}

/// Whether `ops` change a key the write buffer holds a change for. A commit that does not can be
/// applied to the tree without folding the buffer first: the buffer's changes stay newer than
/// the tree's for their keys, and the key count the buffer keeps of its own keys (which of them
/// the tree holds) does not move. (Such a commit is one with a value for an overflow chain,
/// which the buffer does not take: folding the whole buffer for it cost a workload mixing such
/// values with small commits most of what the buffer saves.)
fn changes_buffered_keys(engine: &Engine, ops: &[LogOp<'_>]) -> bool {
    let buffer = engine.buffer();
    !buffer.is_empty() && ops.iter().filter_map(LogOp::key).any(|key| buffer.get(key).is_some())
}

/// A record replayed from the log: [`apply`], then the buffer folded if it holds twice its
/// limit (see [`Engine::buffer_is_over_full`]). A key count change the record carries (an
/// earlier build wrote one for a buffered commit) is not needed: the buffer counts its keys
/// when asked.
pub(super) fn replay(engine: &mut Engine, ops: &[LogOp<'_>]) -> Result<()> {
    let plan = plan(engine, ops)?;
    apply(engine, ops, plan)?;
    if engine.buffer_is_over_full() { fold(engine) } else { Ok(()) }
}

/// [`replay`] without publishing.
pub(super) fn replay_unpublished(engine: &mut Engine, ops: &[LogOp<'_>]) -> Result<Option<Error>> {
    let plan = plan(engine, ops)?;
    let spill_error = apply_unpublished(engine, ops, plan)?;
    if !engine.buffer_is_over_full() {
        return Ok(spill_error);
    }
    Ok(spill_error.or(fold_unpublished(engine)?))
}

/// Fold the write buffer into the tree and publish the result (nothing when it is empty):
/// before statistics, the integrity check, page inspection and checkpoints, which read pages.
pub(super) fn fold(engine: &mut Engine) -> Result<()> {
    fold_published(engine)?.map_or(Ok(()), Err)
}

/// [`fold`], a spill's error returned as `Ok(Some(e))`: the fold itself was applied and published.
fn fold_published(engine: &mut Engine) -> Result<Option<Error>> {
    if engine.buffer().is_empty() {
        return Ok(None);
    }
    let spill_error = fold_unpublished(engine)?;
    engine.publish_fold();
    Ok(spill_error)
}

/// The buffer's changes applied to the tree, unpublished: one change per key, in key order,
/// straight from its runs (every value in the buffer fits in a leaf).
fn fold_unpublished(engine: &mut Engine) -> Result<Option<Error>> {
    if engine.buffer().is_empty() {
        return Ok(None);
    }
    let buffer = engine.take_buffer();
    engine.begin_commit();
    let mut merge = ChunkedMerge::new(engine);
    let applied = buffer
        .try_for_each_change(|key, change| merge.push(engine, key, change))
        .and_then(|()| merge.finish(engine));
    drop(buffer);
    engine.folded();
    applied
}

/// Changes (ascending, one per key) merged into the tree a chunk at a time, each chunk in one
/// pass: the leaves a chunk reaches are taken and put back once, and a spill between chunks
/// bounds the pages held. A spill that fails keeps its pages in memory; its error waits for
/// [`ChunkedMerge::finish`].
struct ChunkedMerge<'c> {
    chunk: Vec<(&'c [u8], Change<'c>)>,
    size: usize,
    spill_error: Option<Error>,
}

impl<'c> ChunkedMerge<'c> {
    /// Chunks of [`FOLD_CHUNK`] changes, fewer when the engine may hold few changed pages (a
    /// change takes a leaf, and more when it splits).
    fn new(engine: &Engine) -> Self {
        let size = FOLD_CHUNK.min(engine.dirty_limit_pages() / 4).max(1);
        ChunkedMerge { chunk: Vec::with_capacity(size), size, spill_error: None }
    }

    fn push(&mut self, engine: &mut Engine, key: &'c [u8], change: Change<'c>) -> Result<()> {
        self.chunk.push((key, change));
        if self.chunk.len() == self.size { self.merge(engine) } else { Ok(()) }
    }

    fn merge(&mut self, engine: &mut Engine) -> Result<()> {
        engine.apply_sorted(&self.chunk)?;
        self.chunk.clear();
        if self.spill_error.is_none()
            && let Err(e) = engine.maybe_spill()
        {
            self.spill_error = Some(e);
        }
        Ok(())
    }

    /// The last chunk merged; a spill's error, if one failed.
    fn finish(mut self, engine: &mut Engine) -> Result<Option<Error>> {
        self.merge(engine)?;
        Ok(self.spill_error)
    }
}

/// The bytes `ops` take in the write buffer, or `None` when they do not go there: a value
/// needs an overflow chain, or they take more than half the buffer.
pub(super) fn buffered_bytes(engine: &Engine, ops: &[LogOp<'_>]) -> Option<usize> {
    buffer_size(
        engine,
        ops.iter().map(|op| match op {
            LogOp::Put(k, v) => (k.len(), Some(v.len())),
            LogOp::Delete(k) => (k.len(), None),
            LogOp::SetIdentifier(_) => (0, None),
        }),
    )
}

/// The bytes of the values of `ops` that go to overflow chains (do not fit in a leaf).
fn chained_bytes(engine: &Engine, ops: &[LogOp<'_>]) -> usize {
    ops.iter()
        .map(|op| match op {
            LogOp::Put(k, v) if !engine.fits_in_leaf(k.len(), v.len()) => v.len(),
            _ => 0,
        })
        .sum()
}

/// [`buffered_bytes`] of operations given as (key length, value length if a put).
fn buffer_size(engine: &Engine, ops: impl Iterator<Item = (usize, Option<usize>)>) -> Option<usize> {
    let mut bytes = 0usize;
    for (key, value) in ops {
        if let Some(v) = value
            && !engine.fits_in_leaf(key, v)
        {
            return None;
        }
        bytes += key + value.unwrap_or(0) + BUFFER_SLOT_BYTES;
    }
    (bytes <= engine.buffer_limit() / 2).then_some(bytes)
}

/// `changes` in ascending key order, one per key: the last of each (a later change to a key
/// wins; [`key_order`] is stable).
fn last_change_of_each_key<'k>(changes: Vec<(&'k [u8], Change<'k>)>) -> Vec<(&'k [u8], Change<'k>)> {
    if changes.windows(2).all(|w| w[0].0 < w[1].0) {
        return changes;
    }
    let order = key_order(changes.len(), |i| Some(changes[i].0));
    let mut out = Vec::with_capacity(order.len());
    for (j, &i) in order.iter().enumerate() {
        if order.get(j + 1).is_none_or(|&next| changes[next].0 != changes[i].0) {
            out.push(changes[i]);
        }
    }
    out
}

/// Records a batched replay gathers for the write buffer, put there as one run: their bodies as
/// read ([`wal::LogReader::next_record_into`]), their operations by where their bytes are in
/// them, and their size in the buffer.
pub(super) struct Gathered {
    /// The bodies read: the gathered records' and the one being looked at.
    pub(super) bodies: Vec<u8>,
    ops: Vec<OpAt>,
    bytes: usize,
}

impl Gathered {
    pub(super) fn new() -> Gathered {
        Gathered { bodies: Vec::new(), ops: Vec::new(), bytes: 0 }
    }

    /// The bytes a record's operations take in the buffer, or `None` when they do not go there
    /// (see [`buffered_bytes`]).
    pub(super) fn buffered_bytes(engine: &Engine, ops: &[OpAt]) -> Option<usize> {
        buffer_size(
            engine,
            ops.iter().map(|op| match op {
                OpAt::Put { key, value } => (key.len(), Some(value.len())),
                OpAt::Delete { key } => (key.len(), None),
                OpAt::SetIdentifier(_) => (0, None),
            }),
        )
    }

    /// Gather a record's operations (their bytes already in `bodies`), which take `bytes` in the
    /// buffer.
    pub(super) fn add(&mut self, ops: Vec<OpAt>, bytes: usize) {
        self.ops.extend(ops);
        self.bytes += bytes;
    }

    /// Bytes gathered, as they will take in the buffer.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Put what was gathered in the write buffer as one run (sorted once, the last change of
    /// each key), unpublished, and start gathering afresh (the bodies stay until the caller
    /// clears them). The buffer is folded if it then holds twice
    /// its limit (see [`Engine::buffer_is_over_full`]).
    pub(super) fn put_in_buffer(&mut self, engine: &mut Engine) -> Result<Option<Error>> {
        if self.ops.is_empty() {
            return Ok(None);
        }
        let mut changes = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            match op {
                OpAt::Put { key, value } => {
                    changes.push((&self.bodies[key.clone()], Some(&self.bodies[value.clone()])));
                }
                OpAt::Delete { key } => changes.push((&self.bodies[key.clone()], None)),
                OpAt::SetIdentifier(id) => engine.set_identifier(id.clone()),
            }
        }
        let changes = last_change_of_each_key(changes);
        engine.buffer_changes(&changes, self.bytes);
        self.ops.clear();
        self.bytes = 0;
        if engine.buffer_is_over_full() { fold_unpublished(engine) } else { Ok(None) }
    }
}

/// Apply a commit to the tree: the values' overflow chains first (each with its operation's
/// place), so a failed write leaves the tree untouched; inline values go to the tree from the
/// operations themselves.
fn apply_to_tree(engine: &mut Engine, ops: &[LogOp<'_>]) -> Result<Option<Error>> {
    engine.begin_commit();
    let mut chains = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let LogOp::Put(k, v) = op
            && let value @ ValueRef::Overflow { .. } = engine.prepare_value(k.len(), v)?
        {
            chains.push((i, value));
        }
    }
    let mut chains = chains.into_iter().peekable();
    let mut spill_error = None;
    for (i, op) in ops.iter().enumerate() {
        match op {
            LogOp::Put(k, v) => {
                let value =
                    chains.next_if(|(at, _)| *at == i).map_or(ValueRef::Inline(v), |(_, chain)| chain);
                engine.put_value(k, value)?;
            }
            LogOp::Delete(k) => {
                engine.delete(k)?;
            }
            LogOp::SetIdentifier(id) => {
                engine.set_identifier(id.clone());
            }
        }
        if spill_error.is_none()
            && let Err(e) = engine.maybe_spill()
        {
            spill_error = Some(e);
        }
    }
    Ok(spill_error)
}

/// A commit for the tree whose operations are in key order and whose values all fit in a leaf
/// (a batch's, as [`KVStore::write`] sorts them), merged into the tree in one pass per chunk
/// together with the write buffer's changes (the batch's change wins where both hold a key): each
/// leaf they reach is copied once for both, not once by the buffer's fold and again by the batch.
/// Pages are filled and packed as [`Engine::apply_sorted`] does. `None` for other commits (they
/// go a key at a time, after the buffer's fold when they change a key it holds).
fn merge_into_tree(engine: &mut Engine, ops: &[LogOp<'_>]) -> Option<Result<Option<Error>>> {
    let mut keys = ops.iter().filter_map(LogOp::key);
    let mut last = keys.next();
    for k in keys {
        if last.is_some_and(|l| l > k) {
            return None;
        }
        last = Some(k);
    }
    let inline = |op: &LogOp<'_>| match op {
        LogOp::Put(k, v) => engine.fits_in_leaf(k.len(), v.len()),
        _ => true,
    };
    if !ops.iter().all(inline) {
        return None;
    }
    let buffer = engine.take_buffer();
    engine.begin_commit();
    let mut buffered = buffer.changes().into_iter().peekable();
    let mut merge = ChunkedMerge::new(engine);
    let mut applied = Ok(());
    for (i, op) in ops.iter().enumerate() {
        if applied.is_err() {
            break;
        }
        let (key, change) = match op {
            LogOp::SetIdentifier(id) => {
                engine.set_identifier(id.clone());
                continue;
            }
            LogOp::Put(k, v) => (k.as_ref(), Some(v.as_ref())),
            LogOp::Delete(k) => (k.as_ref(), None),
        };
        // A later change to the same key wins (the operations are in a stable key order).
        if ops[i + 1..].iter().find_map(LogOp::key).is_some_and(|next| next == key) {
            continue;
        }
        while let Some((k, c)) = buffered.next_if(|(k, _)| *k <= key) {
            if k < key {
                applied = merge.push(engine, k, c);
                if applied.is_err() {
                    break;
                }
            }
        }
        if applied.is_ok() {
            applied = merge.push(engine, key, change);
        }
    }
    for (k, c) in buffered {
        if applied.is_err() {
            break;
        }
        applied = merge.push(engine, k, c);
    }
    let applied = applied.and_then(|()| merge.finish(engine));
    drop(buffer);
    engine.folded();
    Some(applied)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Keys that tie in their first 8 bytes, keys that are prefixes of others (and a key
        /// and itself followed by zeros), repeated keys: one change per key, the last, in key
        /// order.
        #[test]
        fn the_last_change_of_each_key_in_key_order(
            raw in proptest::collection::vec((0u8..3, proptest::collection::vec(0u8..3, 0..11), any::<bool>()), 0..80)
        ) {
            let keys: Vec<Vec<u8>> = raw
                .iter()
                .map(|(shared, tail, _)| if *shared == 0 { tail.clone() } else { [&b"sharedpfx"[..], tail].concat() })
                .collect();
            let values: Vec<[u8; 8]> = (0..raw.len()).map(|i| i.to_le_bytes()).collect();
            let changes: Vec<(&[u8], Change<'_>)> = keys
                .iter()
                .zip(&raw)
                .zip(&values)
                .map(|((k, (_, _, put)), v)| (k.as_slice(), put.then_some(&v[..])))
                .collect();
            let mut want: BTreeMap<&[u8], Change<'_>> = BTreeMap::new();
            for (k, c) in &changes {
                want.insert(k, *c);
            }
            let got = last_change_of_each_key(changes);
            prop_assert_eq!(got, want.into_iter().collect::<Vec<_>>());
        }
    }
}
