//! `KVStore`: the public face of the engine. It owns the locks, the log and the commit path;
//! the tree itself is in `engine/`. Opening is in `open.rs`, replay in `recovery.rs`, the
//! commit path in `commit.rs`, iterators in `iter.rs`.
//!
//! Commit path (default durability), each step numbered as in docs/DURABILITY.md:
//! 1. check the batch against the limits; take the write lock;
//! 2. append one log record for the whole batch (`write`);
//! 3. apply it to the in-memory tree (copy-on-write pages, see `engine/mod.rs`); release the lock;
//! 4. fsync the log, shared with every writer that appended meanwhile (group commit); return.
//!
//! Once the log passes `checkpoint_log_bytes`, the committing writer also checkpoints: changed
//! pages are written, the file synced, the other meta slot written and synced, the log truncated.
//! A commit with 2 MiB or more of values in overflow chains skips steps 2 and 4: it is applied
//! and checkpointed at once, so those values are written once (`commit_unlogged`).

mod commit;
mod iter;
mod open;
mod paths;
mod recovery;
mod salvage;
mod snapshot;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::engine::{Engine, Versions};
use crate::error::{Error, Result};
use crate::inspect::{self, CheckReport, PageInfo, ReaderInfo, RecoveryReport, Stats};
use crate::io::{FileIo, HeldSlot, Vfs};
use crate::layout::file::{MAX_IDENTIFIER_BYTES, MAX_PAGE_SIZE};
use crate::layout::node::max_key_bytes;
use crate::options::{Durability, OpenOptions};
use crate::wal::LogOp;
use crate::wal::writer::LogWriter;
pub use iter::{Iter, Keys, KeysRev, PageIter};
pub use paths::{TEMP_SUFFIXES, is_store_or_log, is_temp_name, log_path};
pub use salvage::{PageSizeSource, SalvageOptions, SalvageReport, SkipReason, SkippedPage, salvage};
pub use snapshot::Snapshot;

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
    inner: RwLock<StoreState>,
    /// The published states: what snapshots read, without taking `inner`.
    versions: Arc<Versions>,
    /// The log, shared with the sync path outside the write lock (`None`: read-only, no log).
    log_file: Option<Arc<dyn FileIo>>,
    /// Highest sequence number written to the log file, and highest known durable.
    written_seq: AtomicU64,
    synced_seq: Mutex<u64>,
    poison: Mutex<Option<String>>,
    durability: Durability,
    read_only: bool,
    checkpoint_log_bytes: u64,
    recovery: RecoveryReport,
    /// A read-only handle's last look at the files, and how many changes it has seen.
    seen_on_disk: Mutex<(Option<DiskStamp>, u64)>,
    /// A read-only handle's look at the files just before it read them: while they still look
    /// so, there is nothing newer to refresh to.
    read_stamp: Option<DiskStamp>,
    /// What the store was opened with, for [`KVStore::refresh`].
    options: OpenOptions,
    closed: bool,
}

/// What a read-only handle saw of the data file and the log (see [`crate::io::Vfs::stamp`]),
/// and whether a record follows the end of the log it replayed: the writer overwrites zeros it
/// wrote ahead, so a commit may change neither the log's length nor (within the clock's tick)
/// its modification time.
type DiskStamp = (Option<u64>, Option<u64>, bool);

/// What the data file and the log at `path` look like now, or `None` when that cannot be told;
/// `log_end`: where the records the handle replayed end (`None`: not looked at, as at open).
fn disk_stamp(vfs: &dyn Vfs, path: &Path, log_end: Option<u64>) -> Option<DiskStamp> {
    let data = vfs.stamp(path).ok()?;
    let log = vfs.stamp(&log_path(path)).ok()?;
    let grew = log_end.is_some_and(|end| {
        let mut head = [0u8; crate::wal::RECORD_HEADER_BYTES];
        vfs.open_unmapped(&log_path(path))
            .and_then(|f| f.read_exact_at(&mut head, end))
            .is_ok_and(|()| head != [0; crate::wal::RECORD_HEADER_BYTES])
    });
    Some((data, log, grew))
}

/// What the store's lock guards: the tree and the log's writing end, changed together by a commit.
struct StoreState {
    engine: Engine,
    log: LogWriter,
}

impl KVStore {
    // ------------------------------------------------------------------ locks and poison

    fn read_inner(&self) -> Result<RwLockReadGuard<'_, StoreState>> {
        self.inner.read().map_err(|_| Error::Poisoned { reason: "a thread panicked inside the store".into() })
    }

    fn write_inner(&self) -> Result<RwLockWriteGuard<'_, StoreState>> {
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

    /// The data file's path as given at open; the log is beside it ([`log_path`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The identifier stored in the file (set at creation or by [`KVStore::set_identifier`]).
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

    /// Whether the store was opened read-only: every write then fails with [`Error::ReadOnly`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The durability this handle was opened with.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The file's page size in bytes, fixed when the store was created. It is read from the
    /// published state, outside the store's lock, so it stays right after a thread panicked
    /// inside the store.
    pub fn page_size(&self) -> u32 {
        // At most `MAX_PAGE_SIZE` (64 KiB): the header's page size is checked at open.
        u32::try_from(self.versions.pin().pages.page_size()).unwrap_or(MAX_PAGE_SIZE)
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

    /// A snapshot of the store as the last commit left it: see [`Snapshot`]. Every read and
    /// iterator of `KVStore` takes one of its own.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.versions.pin())
    }

    /// A number that changes whenever a commit is made, like SQLite's `PRAGMA data_version`: on
    /// a writable handle, at each commit it publishes; on a read-only handle, also whenever any
    /// process commits to the store or checkpoints or compacts it (it looks at the files: two
    /// small reads), so a browser can poll it and call [`KVStore::refresh`] when it moves. It
    /// never goes down for one handle, across refreshes included.
    pub fn data_version(&self) -> u64 {
        let local = self.versions.pin().commit_number();
        if !self.read_only {
            return local;
        }
        let stamp = self.disk_stamp();
        let mut seen = self.seen_on_disk.lock().unwrap_or_else(|e| e.into_inner());
        if stamp != seen.0 {
            *seen = (stamp, seen.1 + 1);
        }
        local + seen.1
    }

    /// What the store's files look like now (see [`crate::io::Vfs::stamp`]).
    fn disk_stamp(&self) -> Option<DiskStamp> {
        let log_end = self.read_inner().ok().map(|inner| inner.log.len);
        disk_stamp(&*self.vfs, &self.path, log_end)
    }

    /// Move a read-only handle to the newest state on disk, as a new open would see it: the
    /// last checkpoint and the commits in the log after it (another process's commits included).
    /// Snapshots and iterators taken before keep the state they had. A writable handle always
    /// sees its own commits: for it this does nothing.
    pub fn refresh(&mut self) -> Result<()> {
        if !self.read_only {
            return Ok(());
        }
        // The files as they are before the open: a commit during it shows as a change later.
        let stamp = self.disk_stamp();
        if stamp.is_some() && stamp == self.read_stamp {
            // Nothing was committed, checkpointed or compacted since this handle read the files.
            return Ok(());
        }
        let bumps = self.seen_on_disk.lock().unwrap_or_else(|e| e.into_inner()).1;
        *self = KVStore::open_continuing(&self.path, &self.options, Some(self.versions.clone()))?;
        *self.seen_on_disk.lock().unwrap_or_else(|e| e.into_inner()) = (stamp, bumps);
        Ok(())
    }

    /// The value of `key` as of the last commit, or `None` when the key does not exist.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.versions.with_current(|state| state.get_bytes(key.as_ref()))
    }

    /// The value of `key` into `buf`, which is cleared first and keeps its capacity: `Ok(true)`
    /// when the key exists (`buf` is then empty only for an empty value). For reading many
    /// values without an allocation each.
    ///
    /// ```no_run
    /// # fn main() -> wind_kvstore::Result<()> {
    /// let store = wind_kvstore::KVStore::open("app.db", None)?;
    /// let mut buf = Vec::new();
    /// for key in ["a", "b", "c"] {
    ///     if store.get_into(key, &mut buf)? {
    ///         println!("{key}: {} bytes", buf.len());
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get_into(&self, key: impl AsRef<[u8]>, buf: &mut Vec<u8>) -> Result<bool> {
        self.versions.with_current(|state| state.get_into(key.as_ref(), buf))
    }

    /// The value of `key` handed to `f` a chunk at a time, in order, without a copy of the
    /// whole value: `Ok(true)` when the key exists. For large values: hashing, comparing or
    /// sending one, where [`get_into`](KVStore::get_into) would first copy it all into a buffer.
    ///
    /// `f` sees each chunk once, and never an empty one (nothing at all for an empty value). A
    /// small value is one chunk; one in an overflow chain comes a page's data at a time, each
    /// page checked (checksum, generation, its place in the chain) before its bytes are
    /// passed on, and lent straight from the memory map where the chain is read in place. The
    /// chunks are of one committed state, as any read is. If a page turns out damaged part way,
    /// the call returns the error after `f` has seen the chunks before it: checked bytes of the
    /// value, but not all of them.
    ///
    /// ```no_run
    /// # fn main() -> wind_kvstore::Result<()> {
    /// let store = wind_kvstore::KVStore::open("app.db", None)?;
    /// let mut sum = 0u64;
    /// if store.get_chunks("video", |chunk| sum += chunk.iter().map(|&b| u64::from(b)).sum::<u64>())? {
    ///     println!("byte sum {sum}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get_chunks(&self, key: impl AsRef<[u8]>, mut f: impl FnMut(&[u8])) -> Result<bool> {
        self.versions.with_current(|state| state.get_with(key.as_ref(), &mut f))
    }

    /// Whether `key` exists, without reading its value.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        self.versions.with_current(|state| Ok(state.get(key.as_ref())?.is_some()))
    }

    /// Length of the value without reading it.
    pub fn value_len(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        self.versions.with_current(|state| Ok(state.get(key.as_ref())?.map(|v| v.len())))
    }

    /// At most `max` bytes from the start of the value (previews of large values).
    pub fn get_prefix(&self, key: impl AsRef<[u8]>, max: usize) -> Result<Option<Vec<u8>>> {
        self.snapshot().get_prefix(key, max)
    }

    /// Number of keys as of the last commit. The tree's count is kept in the meta slot; the
    /// write buffer's keys are looked up in the tree when a state's count is first asked for
    /// (a commit does not look them up: see [`Snapshot::len`]), so after small commits the first
    /// call reads pages and can fail on a damaged one; repeated calls are O(1).
    pub fn len(&self) -> Result<u64> {
        self.versions.with_current(|state| state.key_count())
    }

    /// Whether the store holds no key (see [`KVStore::len`]).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    // ------------------------------------------------------------------ inspection

    /// Page counts, sizes and cache counters (all zero if a thread panicked inside the store).
    pub fn stats(&self) -> Stats {
        // A failed fold poisons the store; the counts are then of the tree as it is.
        let _ = self.fold_buffer();
        let Ok(inner) = self.read_inner() else { return Stats::default() };
        let e = &inner.engine;
        let (meta, cache) = (e.meta(), e.cache());
        Stats {
            page_size: e.header().page_size,
            page_count: meta.page_count,
            meta_pages: 1,
            branch_pages: meta.branch_pages,
            leaf_pages: meta.leaf_pages,
            overflow_pages: meta.overflow_pages,
            freelist_pages: meta.freelist_pages,
            free_pages: e.free_page_count(),
            tree_depth: meta.depth,
            key_count: meta.key_count,
            file_bytes: e.file().len().unwrap_or(0),
            log_bytes: inner.log.bytes(),
            cache_hits: cache.hits(),
            cache_misses: cache.misses(),
            cache_bytes: cache.bytes(),
            dirty_pages: e.dirty_count() as u64,
            last_commit_seq: inner.log.next_seq - 1,
            checkpoint_seq: e.durable().checkpoint_seq,
            checkpoint_id: e.durable().checkpoint_id,
            format_version: e.header().version,
            readers: e.reader_count(),
            pages_held_for_readers: e.pages_held_for_readers(),
            pages_taken_from_readers: e.pages_taken_from_readers(),
        }
    }

    /// The writer that has the store open now, in this process or another: `Ok(None)` when no
    /// writer holds its lock, `Ok(Some(pid))` when one does (`pid` is `None` where the kernel's
    /// lock table cannot name it, and on a custom [`crate::io::Vfs`]).
    pub fn writer(&self) -> Result<Option<Option<u32>>> {
        match self.vfs.writer(&self.path) {
            Some(found) => Ok(found?),
            // A file system that cannot tell: this handle itself may be the writer.
            None => Ok((!self.read_only).then_some(None)),
        }
    }

    /// The readers in the store's reader table now: read-only handles, in this process and
    /// others, each with the checkpoint it pinned (like `mdb_stat -r`). Empty where the file
    /// system has no reader table (a custom [`crate::io::Vfs`]).
    pub fn readers(&self) -> Result<Vec<ReaderInfo>> {
        let Some(table) = self.vfs.reader_table(&self.path) else { return Ok(Vec::new()) };
        let freed = open::freed_at_in_newest_list(&*self.vfs, &self.path);
        let held =
            |pinned: u64| freed.as_ref().map(|f| (f.len() - f.partition_point(|&at| at <= pinned)) as u64);
        let mut out: Vec<ReaderInfo> = table
            .scan()?
            .into_iter()
            .map(|slot| match slot {
                HeldSlot::Pinned(slot, r) => ReaderInfo {
                    slot,
                    pid: Some(r.pid),
                    checkpoint_id: Some(r.checkpoint_id),
                    pinned_since_ms: Some(r.since_ms),
                    pages_held: held(r.checkpoint_id),
                },
                HeldSlot::Unknown(slot) => ReaderInfo {
                    slot,
                    pid: None,
                    checkpoint_id: None,
                    pinned_since_ms: None,
                    pages_held: None,
                },
            })
            .collect();
        out.sort_by_key(|r| r.slot);
        Ok(out)
    }

    /// Walk every page and report what is wrong; an empty report on a healthy store.
    pub fn check(&self) -> Result<CheckReport> {
        self.check_with_progress(&mut |_, _| {})
    }

    /// [`KVStore::check`], calling `progress(pages_done, pages_total)` as it goes.
    pub fn check_with_progress(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<CheckReport> {
        // A write buffer that cannot be merged into the tree (a damaged page on its way) leaves
        // the tree to be checked as it stands, the merge's error first among the problems.
        let folded = self.fold_buffer();
        // Taken between two commits; the walk itself holds no lock, so writers go on.
        let input = inspect::check::CheckInput::capture(&self.read_inner()?.engine);
        let mut report = inspect::check::check(&input, progress)?;
        if let Err(e) = folded {
            let page = match &e {
                Error::Corrupted { page, .. } => Some(*page),
                _ => None,
            };
            let message = format!("the write buffer's changes could not be merged into the tree: {e}");
            report.problems.insert(0, inspect::Problem { page, message });
        }
        Ok(report)
    }

    /// Pages in the store, page 0 included: page numbers run `0..page_count()`.
    pub fn page_count(&self) -> u64 {
        let _ = self.fold_buffer();
        self.read_inner().map(|i| i.engine.meta().page_count).unwrap_or(0)
    }

    /// One page in detail: header fields, items, fill and checksum state.
    pub fn page_info(&self, page: u64) -> Result<PageInfo> {
        inspect::page_info::page_info(&self.read_folded()?.engine, page)
    }

    /// Free pages (including those freed since the last checkpoint), ascending.
    pub fn free_pages(&self) -> Result<Vec<u64>> {
        self.read_folded()?.engine.free_page_list()
    }

    /// Run `f` on the engine (unit tests of the tree beside its code).
    #[cfg(test)]
    pub(crate) fn with_engine<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        self.fold_buffer().expect("fold");
        f(&mut self.inner.write().expect("lock").engine)
    }

    /// Fold the write buffer into the tree (see `engine/buffer.rs`), for what reads pages:
    /// statistics, the integrity check, page inspection. On a read-only handle the tree it
    /// changes is its own, in memory.
    fn fold_buffer(&self) -> Result<()> {
        if self.read_inner()?.engine.buffer().is_empty() {
            return Ok(());
        }
        let mut inner = self.write_inner()?;
        if let Err(e) = commit::fold(&mut inner.engine) {
            return self.fail_poisoned("folding the write buffer into the tree", e);
        }
        Ok(())
    }

    /// The store's state for reading pages, the write buffer folded into the tree first.
    fn read_folded(&self) -> Result<RwLockReadGuard<'_, StoreState>> {
        self.fold_buffer()?;
        self.read_inner()
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

fn check_identifier(identifier: &str) -> Result<()> {
    if identifier.len() > MAX_IDENTIFIER_BYTES {
        return Err(Error::IdentifierTooLong { len: identifier.len(), max: MAX_IDENTIFIER_BYTES });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic inside the store poisons its lock: the page size and the key limit it gives stay
    /// right (they read 0 and underflowed before).
    #[test]
    fn page_size_and_key_limit_survive_a_poisoned_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::OpenOptions::new().page_size(2048).open(dir.path().join("p.db")).unwrap();
        let limit = store.max_key_bytes();
        assert_eq!(limit, max_key_bytes(2048));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.with_engine(|_| panic!("a panic inside the store's lock"))
        }));
        assert!(panicked.is_err());
        assert!(matches!(store.put(b"k", b"v"), Err(Error::Poisoned { .. })));
        assert_eq!(store.page_size(), 2048);
        assert_eq!(store.max_key_bytes(), limit);
    }

    #[test]
    fn store_is_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<KVStore>();
    }
}
