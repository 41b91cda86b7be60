//! `KVStore`: the public face of the engine. It owns the locks, the log and the commit path;
//! the tree itself is in `engine.rs`.
//!
//! Commit path (default durability), each step numbered as in docs/DURABILITY.md:
//! 1. check the batch against the limits; take the write lock;
//! 2. append one log record for the whole batch (`write`);
//! 3. apply it to the in-memory tree (copy-on-write pages, see `engine.rs`); release the lock;
//! 4. fsync the log, shared with every writer that appended meanwhile (group commit); return.
//!
//! Once the log passes `checkpoint_log_bytes`, the committing writer also checkpoints: changed
//! pages are written, the file synced, the other meta slot written and synced, the log truncated.

use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::batch::{BatchOp, WriteBatch};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::{
    DEFAULT_IDENTIFIER, FILE_HEADER_BYTES, FileHeader, HeaderError, MAX_IDENTIFIER_BYTES, MAX_VALUE_BYTES,
    META_SLOT_BYTES, META_SLOT_OFFSETS, Meta, max_key_bytes, now_ms, valid_page_size,
};
use crate::inspect::{CheckReport, PageInfo, PageSummary, RecoveryReport, Stats};
use crate::io::{FileIo, StdVfs, Vfs};
use crate::node::{Leaf, Node, Value, cmp_keys};
use crate::options::{Durability, OpenOptions};
use crate::wal::{self, LOG_HEADER_BYTES, LogOp, LogReader};
use crate::{compact, format, inspect_impl};

/// Buffered durability writes the log out once this many bytes have gathered.
const LOG_BUFFER_BYTES: usize = 1 << 20;
/// The smallest checkpoint threshold accepted: below it checkpoints would dominate.
const MIN_CHECKPOINT_LOG_BYTES: u64 = 64 * 1024;
/// How often a writer waiting for the lock (`lock_timeout`) tries again.
const LOCK_RETRY: Duration = Duration::from_millis(10);

/// An open store. Reads and writes take `&self` and may run on many threads (share it in an
/// `Arc`); changing the identifier takes `&mut self`.
///
/// ```no_run
/// use wind_kvstore::{KVStore, WriteBatch};
/// # fn main() -> wind_kvstore::Result<()> {
/// let store = KVStore::open("app.db", None)?;
/// store.put(b"user:1", b"alice")?;
/// let mut batch = WriteBatch::default();
/// batch.put(b"user:2", b"bob").delete(b"user:1");
/// store.write(batch)?;
/// for item in store.prefix(b"user:") {
///     let (key, value) = item?;
///     println!("{} = {}", String::from_utf8_lossy(&key), String::from_utf8_lossy(&value));
/// }
/// store.close()?;
/// # Ok(()) }
/// ```
pub struct KVStore {
    path: PathBuf,
    identifier: String,
    vfs: Arc<dyn Vfs>,
    inner: RwLock<Inner>,
    /// The log, shared with the sync path outside the write lock (`None`: read-only, no log).
    log_file: Option<Arc<dyn FileIo>>,
    /// Highest sequence number written to the log file, and highest known durable.
    written_seq: AtomicU64,
    synced_seq: Mutex<u64>,
    poison: Mutex<Option<String>>,
    durability: Durability,
    read_only: bool,
    cache_bytes: usize,
    checkpoint_log_bytes: u64,
    recovery: RecoveryReport,
    closed: bool,
}

struct Inner {
    engine: Engine,
    log: LogWriter,
}

struct LogWriter {
    file: Option<Arc<dyn FileIo>>,
    /// Bytes in the file.
    len: u64,
    /// Records not yet written (buffered durability).
    buf: Vec<u8>,
    next_seq: u64,
}

impl LogWriter {
    fn bytes(&self) -> u64 {
        self.len + self.buf.len() as u64
    }

    /// Write buffered records to the file. On failure the file is cut back to its last whole
    /// record and the records stay in the buffer: `Err` means none of them is in the log yet.
    fn write_out(&mut self) -> Result<()> {
        let Some(file) = &self.file else { return Err(Error::ReadOnly) };
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Err(e) = file.write_all_at(&self.buf, self.len) {
            if let Err(e2) = file.set_len(self.len) {
                return Err(Error::Poisoned {
                    reason: format!("log write failed ({e}) and the log could not be cut back ({e2})"),
                });
            }
            return Err(e.into());
        }
        self.len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// `<path><suffix>`: the log and temporary files sit beside the data file, named after it.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The log file of the store at `path`.
pub fn log_path(path: &Path) -> PathBuf {
    sibling(path, ".wal")
}

fn temp_path(path: &Path) -> PathBuf {
    sibling(path, ".tmp")
}

impl KVStore {
    /// Open the store at `path`, creating it (with `identifier`, default `KVStore`) if missing.
    /// An existing store keeps the identifier in its file.
    pub fn open(path: impl AsRef<Path>, identifier: Option<&str>) -> Result<KVStore> {
        let mut options = OpenOptions::new();
        if let Some(id) = identifier {
            options.identifier(id);
        }
        options.open(path)
    }

    pub(crate) fn open_with(path: &Path, opts: &OpenOptions) -> Result<KVStore> {
        if !valid_page_size(opts.page_size) {
            return Err(Error::InvalidOption(format!(
                "page size {} is not a power of two from 1024 to 65536",
                opts.page_size
            )));
        }
        if opts.checkpoint_log_bytes < MIN_CHECKPOINT_LOG_BYTES {
            return Err(Error::InvalidOption(format!(
                "checkpoint_log_bytes must be at least {MIN_CHECKPOINT_LOG_BYTES}"
            )));
        }
        let identifier = opts.identifier.as_deref().unwrap_or(DEFAULT_IDENTIFIER);
        check_identifier(identifier)?;
        let vfs: Arc<dyn Vfs> = opts.vfs.clone().unwrap_or_else(|| Arc::new(StdVfs));
        let log_path = log_path(path);

        let (data, log_file) = if opts.read_only {
            if !vfs.exists(path)? {
                return Err(Error::NotFound { path: path.to_owned() });
            }
            let log = if vfs.exists(&log_path)? { Some(vfs.open(&log_path, false)?) } else { None };
            (vfs.open(path, false)?, log)
        } else {
            if !opts.create && !vfs.exists(path)? {
                return Err(Error::NotFound { path: path.to_owned() });
            }
            // The log is also the lock: it is never replaced, unlike the data file.
            let log_is_new = !vfs.exists(&log_path)?;
            let log = vfs.open_or_create(&log_path)?;
            lock(&*log, path, opts.lock_timeout)?;
            let tmp = temp_path(path);
            if vfs.exists(&tmp)? {
                // A compaction or creation that did not finish: the store file is whole without it.
                vfs.remove(&tmp)?;
            }
            if !vfs.exists(path)? {
                if !opts.create {
                    return Err(Error::NotFound { path: path.to_owned() });
                }
                // A log left by a store whose file was removed: empty, it is just reset; with
                // records in it, it is refused rather than guessed about.
                if log.len()? > LOG_HEADER_BYTES {
                    return Err(Error::LogCorrupted {
                        offset: 0,
                        reason: format!(
                            "{} holds commits but its store file is missing; remove the log to start afresh",
                            log_path.display()
                        ),
                    });
                }
                log.set_len(0)?;
                // Syncs the directory: the new log's entry is durable with the store's.
                create_file(&*vfs, path, opts.page_size, identifier)?;
            } else if log_is_new {
                // A store without its log (copied alone, or the empty log removed after a clean
                // close): commits are acknowledged once the log is synced, so its directory
                // entry must be durable first, or a crash could take the log and them with it.
                vfs.sync_dir(&log_path)?;
            }
            (vfs.open(path, true)?, Some(log))
        };

        let (header, meta, slot) = read_page_zero(&*data, path)?;
        let engine = Engine::new(data, header, meta.clone(), slot, opts.cache_bytes, opts.read_only)?;
        let mut inner = Inner {
            engine,
            log: LogWriter {
                file: None,
                len: LOG_HEADER_BYTES,
                buf: Vec::new(),
                next_seq: meta.checkpoint_seq + 1,
            },
        };
        let recovery = match &log_file {
            Some(log) => recover(&mut inner, log.clone(), opts.read_only)?,
            None => RecoveryReport::default(),
        };
        if !opts.read_only {
            inner.log.file = log_file.clone();
        }
        let last_seq = inner.log.next_seq - 1;
        Ok(KVStore {
            path: path.to_owned(),
            identifier: inner.engine.meta.identifier.clone(),
            vfs,
            inner: RwLock::new(inner),
            log_file: if opts.read_only { None } else { log_file },
            written_seq: AtomicU64::new(last_seq),
            synced_seq: Mutex::new(last_seq),
            poison: Mutex::new(None),
            durability: opts.durability,
            read_only: opts.read_only,
            cache_bytes: opts.cache_bytes,
            checkpoint_log_bytes: opts.checkpoint_log_bytes,
            recovery,
            closed: false,
        })
    }

    // ------------------------------------------------------------------ locks and poison

    fn read_inner(&self) -> Result<RwLockReadGuard<'_, Inner>> {
        self.inner.read().map_err(|_| Error::Poisoned { reason: "a thread panicked inside the store".into() })
    }

    fn write_inner(&self) -> Result<RwLockWriteGuard<'_, Inner>> {
        self.inner
            .write()
            .map_err(|_| Error::Poisoned { reason: "a thread panicked inside the store".into() })
    }

    fn poison_guard(&self) -> MutexGuard<'_, Option<String>> {
        self.poison.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        match &*self.poison_guard() {
            Some(reason) => Err(Error::Poisoned { reason: reason.clone() }),
            None => Ok(()),
        }
    }

    fn set_poison(&self, reason: String) {
        let mut p = self.poison_guard();
        if p.is_none() {
            *p = Some(reason);
        }
    }

    /// Poison the store after a failure that left memory and disk possibly apart.
    fn fail_poisoned<T>(&self, what: &str, e: Error) -> Result<T> {
        let reason = match &e {
            Error::Poisoned { reason } => reason.clone(),
            e => format!("{what} failed: {e}"),
        };
        self.set_poison(reason);
        Err(e)
    }

    // ------------------------------------------------------------------ accessors

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get_identifier(&self) -> &str {
        &self.identifier
    }

    /// Change the identifier stored in the file (at most 64 bytes of UTF-8).
    pub fn set_identifier(&mut self, identifier: &str) -> Result<()> {
        check_identifier(identifier)?;
        self.commit(vec![LogOp::SetIdentifier(identifier.to_owned())])?;
        self.identifier = identifier.to_owned();
        Ok(())
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    pub fn page_size(&self) -> u32 {
        self.read_inner().map(|i| i.engine.page_size as u32).unwrap_or(0)
    }

    /// Largest key this store accepts (it depends on the page size: see docs/FORMAT.md).
    pub fn max_key_bytes(&self) -> usize {
        max_key_bytes(self.page_size())
    }

    /// Why the store refuses writes, if it does (see [`Error::Poisoned`]).
    pub fn poison_reason(&self) -> Option<String> {
        self.poison_guard().clone()
    }

    /// What recovery did when the store was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    // ------------------------------------------------------------------ reads

    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.read_inner()?.engine.get_bytes(key.as_ref())
    }

    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.read_inner()?.engine.get(key.as_ref())?.is_some())
    }

    /// Length of the value without reading it.
    pub fn value_len(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        Ok(self.read_inner()?.engine.get(key.as_ref())?.map(|v| v.len()))
    }

    /// At most `max` bytes from the start of the value (previews of large values).
    pub fn get_prefix(&self, key: impl AsRef<[u8]>, max: usize) -> Result<Option<Vec<u8>>> {
        let inner = self.read_inner()?;
        match inner.engine.get(key.as_ref())? {
            Some(v) => Ok(Some(inner.engine.read_value(&v, Some(max))?)),
            None => Ok(None),
        }
    }

    /// Number of keys, kept in the meta slot: O(1).
    pub fn len(&self) -> u64 {
        self.read_inner().map(|i| i.engine.meta.key_count).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every pair in key order.
    pub fn iter(&self) -> Iter<'_> {
        self.range_bounds(Bound::Unbounded, Bound::Unbounded)
    }

    /// Pairs with keys in `range`, in key order: `store.range(b"a".as_slice()..b"m".as_slice())`.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter<'_> {
        let own = |b: Bound<&K>| match b {
            Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
            Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
            Bound::Unbounded => Bound::Unbounded,
        };
        self.range_bounds(own(range.start_bound()), own(range.end_bound()))
    }

    pub fn range_bounds(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Iter<'_> {
        Iter { keys: KeyCursor::new(self, start, end) }
    }

    /// Pairs whose key starts with `prefix`, in key order.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter<'_> {
        let (start, end) = prefix_bounds(prefix.as_ref());
        self.range_bounds(start, end)
    }

    /// Keys with their value lengths, without reading values: for listings of stores with large
    /// values.
    pub fn keys(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Keys<'_> {
        Keys { keys: KeyCursor::new(self, start, end) }
    }

    /// Keys starting with `prefix`, with their value lengths.
    pub fn prefix_keys(&self, prefix: impl AsRef<[u8]>) -> Keys<'_> {
        let (start, end) = prefix_bounds(prefix.as_ref());
        self.keys(start, end)
    }

    /// Keys with their value lengths in descending key order, from `end` down to `start`,
    /// without reading values: for paging backwards through a listing.
    pub fn keys_rev(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> KeysRev<'_> {
        KeysRev { store: self, next: Some(end), start, buf: Default::default() }
    }

    /// Keys starting with `prefix`, with their value lengths, in descending key order.
    pub fn prefix_keys_rev(&self, prefix: impl AsRef<[u8]>) -> KeysRev<'_> {
        let (start, end) = prefix_bounds(prefix.as_ref());
        self.keys_rev(start, end)
    }

    // ------------------------------------------------------------------ writes

    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.check_sizes(key, Some(value))?;
        self.commit(vec![LogOp::Put(key.to_vec(), value.to_vec())])
    }

    /// Delete `key`; `Ok(true)` when it existed.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        self.check_sizes(key, None)?;
        self.check_writable()?;
        if !self.contains_key(key)? {
            return Ok(false);
        }
        self.commit(vec![LogOp::Delete(key.to_vec())])?;
        Ok(true)
    }

    /// Apply a batch all-or-nothing, also across a crash.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut ops = batch.ops;
        for op in &ops {
            match op {
                BatchOp::Put(k, v) => self.check_sizes(k, Some(v))?,
                BatchOp::Delete(k) => self.check_sizes(k, None)?,
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        // Key order (stable: a later write to the same key still wins) fills pages left to right.
        if !ops.is_sorted_by(|a, b| cmp_keys(batch_key(a), batch_key(b)).is_le()) {
            ops.sort_by(|a, b| cmp_keys(batch_key(a), batch_key(b)));
        }
        let ops = ops
            .into_iter()
            .map(|op| match op {
                BatchOp::Put(k, v) => LogOp::Put(k, v),
                BatchOp::Delete(k) => LogOp::Delete(k),
            })
            .collect();
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

    fn commit(&self, ops: Vec<LogOp>) -> Result<()> {
        self.check_writable()?;
        let seq = {
            let mut guard = self.write_inner()?;
            self.check_writable()?;
            let inner = &mut *guard;
            let seq = inner.log.next_seq;
            let record_start = inner.log.buf.len();
            wal::encode_record(seq, &ops, &mut inner.log.buf);
            if self.durability == Durability::Immediate || inner.log.buf.len() >= LOG_BUFFER_BYTES {
                if let Err(e) = inner.log.write_out() {
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
            if let Err(e) = apply(&mut inner.engine, ops) {
                return self.fail_poisoned("applying a logged commit", e);
            }
            if inner.log.bytes() > self.checkpoint_log_bytes
                && let Err(e) = self.checkpoint_locked(inner)
            {
                return self.fail_poisoned("checkpoint", e);
            }
            seq
        };
        if self.durability == Durability::Immediate {
            self.sync_to(seq)?;
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

    fn checkpoint_locked(&self, inner: &mut Inner) -> Result<()> {
        let seq = inner.log.next_seq - 1;
        inner.engine.checkpoint(seq)?;
        // Everything up to `seq` is now in the data file: the log can start over.
        inner.log.buf.clear();
        if let Some(file) = &inner.log.file
            && inner.log.len > LOG_HEADER_BYTES
        {
            file.set_len(LOG_HEADER_BYTES)?;
        }
        inner.log.len = LOG_HEADER_BYTES;
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
        if let Err(e) = self.checkpoint_locked(inner) {
            return self.fail_poisoned("checkpoint", e);
        }
        let tmp = temp_path(&self.path);
        let file = self.vfs.create(&tmp)?;
        let built = compact::build(&inner.engine, &*file, inner.log.next_seq - 1);
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
        let header = inner.engine.header.clone();
        match Engine::new(file, header, meta, 0, self.cache_bytes, false) {
            Ok(engine) => inner.engine = engine,
            Err(e) => return self.fail_poisoned("reopening the compacted file", e),
        }
        if let Err(e) = self.vfs.sync_dir(&self.path) {
            return self.fail_poisoned("syncing the directory after compaction", e.into());
        }
        Ok(())
    }

    // ------------------------------------------------------------------ inspection

    pub fn stats(&self) -> Stats {
        let Ok(inner) = self.read_inner() else { return Stats::default() };
        let e = &inner.engine;
        Stats {
            page_size: e.page_size as u32,
            page_count: e.meta.page_count,
            meta_pages: 1,
            branch_pages: e.meta.branch_pages,
            leaf_pages: e.meta.leaf_pages,
            overflow_pages: e.meta.overflow_pages,
            freelist_pages: e.meta.freelist_pages,
            free_pages: (e.free.len() + e.pending_free.len()) as u64,
            tree_depth: e.meta.depth,
            key_count: e.meta.key_count,
            file_bytes: e.data.len().unwrap_or(0),
            log_bytes: inner.log.bytes(),
            cache_hits: e.cache.hits(),
            cache_misses: e.cache.misses(),
            cache_bytes: e.cache.bytes(),
            dirty_pages: e.dirty.len() as u64,
            last_commit_seq: inner.log.next_seq - 1,
            checkpoint_seq: e.durable.checkpoint_seq,
        }
    }

    /// Walk every page and report what is wrong; an empty report on a healthy store.
    pub fn check(&self) -> Result<CheckReport> {
        self.check_with_progress(&mut |_, _| {})
    }

    /// [`KVStore::check`], calling `progress(pages_done, pages_total)` as it goes.
    pub fn check_with_progress(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<CheckReport> {
        let inner = self.read_inner()?;
        inspect_impl::check(&inner.engine, progress)
    }

    /// Every page in page-number order, with its type and fill.
    pub fn pages(&self) -> PageIter<'_> {
        PageIter { store: self, next: 0 }
    }

    pub fn page_count(&self) -> u64 {
        self.read_inner().map(|i| i.engine.meta.page_count).unwrap_or(0)
    }

    /// One page in detail: header fields, items, fill and checksum state.
    pub fn page_info(&self, page: u64) -> Result<PageInfo> {
        let inner = self.read_inner()?;
        inspect_impl::page_info(&inner.engine, page)
    }

    /// Free pages (including those freed since the last checkpoint), ascending.
    pub fn free_pages(&self) -> Result<Vec<u64>> {
        let inner = self.read_inner()?;
        let e = &inner.engine;
        let mut pages: Vec<u64> = e.free.iter().copied().chain(e.pending_free.iter().copied()).collect();
        pages.sort_unstable();
        Ok(pages)
    }

    /// Run `f` on the engine (unit tests of the tree beside its code).
    #[cfg(test)]
    pub(crate) fn with_engine<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        f(&mut self.inner.write().expect("lock").engine)
    }

    // ------------------------------------------------------------------ closing

    fn shutdown(&mut self) -> Result<()> {
        if self.read_only || self.poison_reason().is_some() {
            return Ok(());
        }
        let mut guard = self.write_inner()?;
        if let Err(e) = self.checkpoint_locked(&mut guard) {
            return self.fail_poisoned("checkpoint at close", e);
        }
        Ok(())
    }

    /// Checkpoint and close, reporting any error (dropping the store does the same silently).
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        self.shutdown()
    }
}

impl Drop for KVStore {
    fn drop(&mut self) {
        if !self.closed {
            // Nothing acknowledged depends on this: it only spares the next open a replay.
            let _ = self.shutdown();
        }
    }
}

impl std::fmt::Debug for KVStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KVStore")
            .field("path", &self.path)
            .field("identifier", &self.identifier)
            .field("read_only", &self.read_only)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

fn batch_key(op: &BatchOp) -> &[u8] {
    match op {
        BatchOp::Put(k, _) | BatchOp::Delete(k) => k,
    }
}

fn check_identifier(identifier: &str) -> Result<()> {
    if identifier.len() > MAX_IDENTIFIER_BYTES {
        return Err(Error::IdentifierTooLong { len: identifier.len(), max: MAX_IDENTIFIER_BYTES });
    }
    Ok(())
}

/// Apply one commit, all of it or (when a write fails) none of it to the tree: the values'
/// overflow chains are written first, then the tree changes in memory. Spilling changed pages
/// between operations bounds memory; a spill that fails keeps the pages in memory, so its error
/// waits for the end of the commit.
fn apply(engine: &mut Engine, ops: Vec<LogOp>) -> Result<()> {
    enum Ready {
        Put(Vec<u8>, Value),
        Delete(Vec<u8>),
        SetIdentifier(String),
    }
    let mut ready = Vec::with_capacity(ops.len());
    for op in ops {
        ready.push(match op {
            LogOp::Put(k, v) => {
                let value = engine.prepare_value(k.len(), v)?;
                Ready::Put(k, value)
            }
            LogOp::Delete(k) => Ready::Delete(k),
            LogOp::SetIdentifier(id) => Ready::SetIdentifier(id),
        });
    }
    let mut spill_error = None;
    for op in ready {
        match op {
            Ready::Put(k, value) => {
                engine.put_value(k, value)?;
            }
            Ready::Delete(k) => {
                engine.delete(&k)?;
            }
            Ready::SetIdentifier(id) => {
                engine.meta.identifier = id;
                engine.changed = true;
            }
        }
        if spill_error.is_none()
            && let Err(e) = engine.maybe_spill()
        {
            spill_error = Some(e);
        }
    }
    spill_error.map_or(Ok(()), Err)
}

fn lock(log: &dyn FileIo, path: &Path, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        if log.try_lock()? {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(Error::Locked { path: path.to_owned() });
        }
        std::thread::sleep(LOCK_RETRY);
    }
}

/// Write a new, empty store to a temporary file and move it into place.
fn create_file(vfs: &dyn Vfs, path: &Path, page_size: u32, identifier: &str) -> Result<()> {
    let ps = page_size as usize;
    let header = FileHeader { page_size, file_id: random_id(path), created_ms: now_ms() };
    let meta = Meta {
        checkpoint_id: 1,
        root: 1,
        page_count: 2,
        depth: 1,
        leaf_pages: 1,
        modified_ms: header.created_ms,
        identifier: identifier.to_owned(),
        ..Meta::default()
    };
    let mut buf = vec![0u8; 2 * ps];
    header.encode(&mut buf[..FILE_HEADER_BYTES]);
    meta.encode(&mut buf[META_SLOT_OFFSETS[0]..META_SLOT_OFFSETS[0] + META_SLOT_BYTES]);
    Node::Leaf(Leaf::default()).encode(&mut buf[ps..]);
    format::seal_page(1, &mut buf[ps..]);
    let tmp = temp_path(path);
    let file = vfs.create(&tmp)?;
    file.write_all_at(&buf, 0)?;
    file.sync_data()?;
    drop(file);
    vfs.rename(&tmp, path)?;
    vfs.sync_dir(path)?;
    Ok(())
}

/// An id that tells this store's log from another's: time, process and address bits hashed.
fn random_id(path: &Path) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms());
    h.write_u32(std::process::id());
    h.write(path.as_os_str().as_encoded_bytes());
    h.finish()
}

/// The file header and the meta slot in force.
fn read_page_zero(data: &dyn FileIo, path: &Path) -> Result<(FileHeader, Meta, usize)> {
    let len = data.len()?;
    let not_a_store = |reason: String| Error::NotAStore { path: path.to_owned(), reason };
    if len < FILE_HEADER_BYTES as u64 {
        return Err(not_a_store(format!("file is only {len} bytes")));
    }
    let mut head = [0u8; FILE_HEADER_BYTES];
    data.read_exact_at(&mut head, 0)?;
    let header = match FileHeader::decode(&head) {
        Ok(h) => h,
        Err(HeaderError::NotAStore(reason)) => return Err(not_a_store(reason)),
        Err(HeaderError::Version(version)) => {
            return Err(Error::UnsupportedVersion {
                path: path.to_owned(),
                version,
                supported: format::FORMAT_VERSION,
            });
        }
    };
    let ps = header.page_size as u64;
    if len < 2 * ps {
        return Err(Error::corrupted(1, format!("file is {len} bytes, shorter than two pages (truncated)")));
    }
    let mut best: Option<(Meta, usize)> = None;
    for (slot, offset) in META_SLOT_OFFSETS.iter().enumerate() {
        let mut b = [0u8; META_SLOT_BYTES];
        data.read_exact_at(&mut b, *offset as u64)?;
        if let Some(m) = Meta::decode(&b)
            && m.validate(header.page_size).is_ok()
            && best.as_ref().is_none_or(|(bm, _)| m.checkpoint_id > bm.checkpoint_id)
        {
            best = Some((m, slot));
        }
    }
    let (meta, slot) = best.ok_or_else(|| Error::corrupted(0, "neither meta slot is valid"))?;
    // A checkpoint extends the file to its page count before its meta slot is written, so a
    // shorter file lost its end. Refusing it here also bounds every walk and every allocation
    // sized by the page count by the file's real size.
    let file_pages = len / ps;
    if meta.page_count > file_pages {
        return Err(Error::corrupted(
            file_pages,
            format!(
                "file is {len} bytes ({file_pages} pages) but its last checkpoint has {} pages: the file is truncated",
                meta.page_count
            ),
        ));
    }
    Ok((header, meta, slot))
}

/// Replay the log into `inner` (see the module comment of `wal.rs`); a writable open then
/// checkpoints and truncates the log.
fn recover(inner: &mut Inner, log: Arc<dyn FileIo>, read_only: bool) -> Result<RecoveryReport> {
    let mut report = RecoveryReport::default();
    let len = log.len()?;
    let file_id = inner.engine.header.file_id;
    let mut head = [0u8; LOG_HEADER_BYTES as usize];
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

    let checkpoint_seq = inner.engine.durable.checkpoint_seq;
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

fn prefix_bounds(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    // The first key after every key with this prefix: drop trailing 0xff bytes, add one to
    // the last byte left. A prefix of only 0xff bytes has no such key.
    let mut end = prefix.to_vec();
    while end.last() == Some(&0xff) {
        end.pop();
    }
    let end = match end.last_mut() {
        Some(b) => {
            *b += 1;
            Bound::Excluded(end)
        }
        None => Bound::Unbounded,
    };
    (Bound::Included(prefix.to_vec()), end)
}

/// Walks keys a leaf at a time, resuming by key.
struct KeyCursor<'a> {
    store: &'a KVStore,
    next: Option<Bound<Vec<u8>>>,
    end: Bound<Vec<u8>>,
    buf: std::collections::VecDeque<(Vec<u8>, Value)>,
}

impl<'a> KeyCursor<'a> {
    fn new(store: &'a KVStore, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> KeyCursor<'a> {
        KeyCursor { store, next: Some(start), end, buf: Default::default() }
    }

    fn next_entry(&mut self) -> Option<Result<(Vec<u8>, Value)>> {
        loop {
            if let Some((k, v)) = self.buf.pop_front() {
                let in_range = match &self.end {
                    Bound::Unbounded => true,
                    Bound::Included(e) => k <= *e,
                    Bound::Excluded(e) => k < *e,
                };
                if !in_range {
                    self.buf.clear();
                    self.next = None;
                    return None;
                }
                return Some(Ok((k, v)));
            }
            let start = self.next.take()?;
            let chunk = self.store.read_inner().and_then(|inner| inner.engine.leaf_chunk(&start));
            match chunk {
                Ok((entries, high)) => {
                    // Resume after the last key seen, so a change between two leaves never
                    // makes the walk repeat or skip a key.
                    self.next = match (entries.last(), high) {
                        (Some((last, _)), Some(_)) => Some(Bound::Excluded(last.clone())),
                        (None, Some(h)) => Some(Bound::Included(h)),
                        (_, None) => None,
                    };
                    self.buf.extend(entries);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Ordered iterator over `(key, value)` pairs. It reads one leaf at a time and holds no lock
/// between calls; it sees each leaf as it is when read.
pub struct Iter<'a> {
    keys: KeyCursor<'a>,
}

impl Iterator for Iter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (key, value) = match self.keys.next_entry()? {
                Ok(e) => e,
                Err(e) => return Some(Err(e)),
            };
            return Some(match value {
                Value::Inline(v) => Ok((key, v)),
                // Large values are read when reached, by key: their pages may have been
                // reused since the leaf was read.
                Value::Overflow { .. } => match self.keys.store.get(&key) {
                    Ok(Some(v)) => Ok((key, v)),
                    Ok(None) => continue,
                    Err(e) => Err(e),
                },
            });
        }
    }
}

/// Ordered iterator over `(key, value length)` pairs; reads no values.
pub struct Keys<'a> {
    keys: KeyCursor<'a>,
}

impl Iterator for Keys<'_> {
    type Item = Result<(Vec<u8>, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.keys.next_entry()?.map(|(k, v)| (k, v.len())))
    }
}

/// Descending iterator over `(key, value length)` pairs; reads no values. Like [`Keys`], it
/// reads one leaf at a time, holds no lock between calls and resumes by key.
pub struct KeysRev<'a> {
    store: &'a KVStore,
    /// Where the next leaf to read ends (`None`: done).
    next: Option<Bound<Vec<u8>>>,
    start: Bound<Vec<u8>>,
    /// Entries of the leaf read last, greatest first.
    buf: std::collections::VecDeque<(Vec<u8>, u64)>,
}

impl Iterator for KeysRev<'_> {
    type Item = Result<(Vec<u8>, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((k, len)) = self.buf.pop_front() {
                let in_range = match &self.start {
                    Bound::Unbounded => true,
                    Bound::Included(s) => k >= *s,
                    Bound::Excluded(s) => k > *s,
                };
                if !in_range {
                    self.buf.clear();
                    self.next = None;
                    return None;
                }
                return Some(Ok((k, len)));
            }
            let end = self.next.take()?;
            let chunk = self.store.read_inner().and_then(|inner| inner.engine.leaf_chunk_rev(&end));
            match chunk {
                Ok((entries, low)) => {
                    // Resume before the smallest key seen, so a change between two leaves never
                    // makes the walk repeat or skip a key.
                    self.next = match (entries.last(), low) {
                        (Some((smallest, _)), Some(_)) => Some(Bound::Excluded(smallest.clone())),
                        (None, Some(low)) => Some(Bound::Excluded(low)),
                        (_, None) => None,
                    };
                    self.buf.extend(entries.into_iter().map(|(k, v)| (k, v.len())));
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Every page in page-number order.
pub struct PageIter<'a> {
    store: &'a KVStore,
    next: u64,
}

impl Iterator for PageIter<'_> {
    type Item = Result<PageSummary>;

    fn next(&mut self) -> Option<Self::Item> {
        let inner = match self.store.read_inner() {
            Ok(i) => i,
            Err(e) => return Some(Err(e)),
        };
        if self.next >= inner.engine.meta.page_count {
            return None;
        }
        let page = self.next;
        self.next += 1;
        Some(inspect_impl::page_summary(&inner.engine, page))
    }
}

impl PageIter<'_> {
    /// Continue from page `page`.
    pub fn starting_at(mut self, page: u64) -> Self {
        self.next = page;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<KVStore>();
    }

    #[test]
    fn prefix_bounds_cover_exactly_the_prefix() {
        assert_eq!(prefix_bounds(b"ab"), (Bound::Included(b"ab".to_vec()), Bound::Excluded(b"ac".to_vec())));
        assert_eq!(
            prefix_bounds(b"a\xff"),
            (Bound::Included(b"a\xff".to_vec()), Bound::Excluded(b"b".to_vec()))
        );
        assert_eq!(prefix_bounds(b"\xff\xff"), (Bound::Included(b"\xff\xff".to_vec()), Bound::Unbounded));
        assert_eq!(prefix_bounds(b""), (Bound::Included(vec![]), Bound::Unbounded));
    }
}
