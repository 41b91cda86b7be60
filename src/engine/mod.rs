//! The engine's state and its B+tree: the pages as of the last checkpoint, the versions published
//! since, the commit being built, and the allocator that keeps them apart.
//!
//! Invariants (copy-on-write, twice over):
//! - A page reachable from the meta slot in force (the last checkpoint) is never written until
//!   the next checkpoint has switched slots. A crash at any moment leaves the last checkpoint
//!   intact, and the log replays what came after it.
//! - A page reachable from a published version is never changed: a commit that changes it copies
//!   it to a page allocated by that same commit (which it may change in place until it is
//!   published), and the old page is freed *at* the commit's version. It is reused only once no
//!   snapshot older than that version is pinned (see `versions.rs`), so every snapshot reads one
//!   commit's state for its whole life without a lock on the writer.

mod alloc;
pub(crate) mod cache;
mod checkpoint;
pub(crate) mod compact;
mod overflow_chain;
mod pages;
mod tree_read;
mod tree_write;
mod versions;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::io::{FileIo, ReaderSlot, ReaderTable};
use crate::layout::file::{FileHeader, MAX_PAGE_COUNT, Meta};
use crate::layout::freelist::FreeEntry;
use crate::layout::node::Node;
use cache::PageCache;
pub(crate) use pages::{PageMap, PageSet, SharedPages, Tree, TreeRoot};
pub(crate) use tree_read::LeafAt;
pub(crate) use versions::{TreeState, Versions};

/// How an engine uses its file.
pub(crate) enum Access {
    /// The writer: it reads `readers` (if its file system has a reader table) before reusing
    /// pages a checkpoint freed.
    Write { readers: Option<ReaderTable> },
    /// A read-only engine; `pin` is its slot in the reader table, held as long as any state of
    /// this engine is; `scratch`, a private file for the pages its replay of the log makes
    /// (without one they stay in memory).
    Read { pin: Option<ReaderSlot>, scratch: Option<Arc<dyn FileIo>> },
}

/// The tree's pages and the allocator that keeps the last checkpoint's pages and the published
/// versions' pages apart from the ones a commit changes. Its fields are private to the engine's
/// modules: the store and the inspector see it through the methods below, so the copy-on-write
/// invariants are kept in one place.
pub(crate) struct Engine {
    page_size: usize,
    header: FileHeader,
    /// The data file, the cache and the published pages not yet written; snapshots share it.
    pages: Arc<SharedPages>,
    /// The published states and the snapshots that pin them.
    versions: Arc<Versions>,
    /// The version the commit being built publishes.
    version: u64,
    /// The live state: root, counts, identifier.
    meta: Meta,
    /// The state of the last checkpoint, and the slot it is in.
    durable: Meta,
    durable_slot: usize,
    /// Pages holding the persisted free list of the last checkpoint.
    durable_freelist: Vec<u64>,
    /// Tree pages changed by the commit being built, decoded; sealed and published at its end.
    working: PageMap<Node>,
    /// Pages allocated by the commit being built: no snapshot reaches them, so they change in
    /// place.
    this_commit: PageSet,
    /// Pages allocated since the last checkpoint: it does not reach them.
    since_checkpoint: PageSet,
    /// Pages that may be allocated now.
    free: BTreeSet<u64>,
    /// Pages the last checkpoint reaches that commits since have freed, each with the version
    /// that freed it: free once the next checkpoint is in force and no older snapshot is pinned.
    pending_free: Vec<(u64, u64)>,
    /// Freed pages, by the version that freed them, ascending: free once no snapshot of this
    /// handle older than that version is pinned (and, for a page a checkpoint reached, once no
    /// reader in another process has pinned a checkpoint before the one that freed it).
    retired: VecDeque<(u64, Vec<FreeEntry>)>,
    /// Pages freed at a checkpoint (the key: its id) that readers in other processes may still
    /// reach: free once no reader has pinned a checkpoint before it.
    held: BTreeMap<u64, Vec<u64>>,
    /// The oldest checkpoint a reader in another process has pinned (`u64::MAX`: none), as of
    /// the last look at the reader table.
    reader_floor: u64,
    /// The reader table, for a writer whose file system has one.
    readers: Option<ReaderTable>,
    /// When the reader table was last read, and how many readers it held.
    readers_read_at: Option<Instant>,
    reader_count: u64,
    read_only: bool,
    /// Unwritten pages beyond this are written out (to their fresh places) before the next
    /// operation.
    dirty_limit_pages: usize,
    /// Anything changed since the last checkpoint.
    changed: bool,
    /// Why a read-only engine opened without its free list, if it did.
    freelist_unreadable: Option<String>,
}

impl Engine {
    /// The engine over `file`, whose meta slot `slot` (holding `meta`) is in force. `versions`
    /// carries the snapshots of an engine this one replaces (compaction), if any.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        file: Arc<dyn FileIo>,
        header: FileHeader,
        meta: Meta,
        slot: usize,
        cache_bytes: usize,
        access: Access,
        versions: Option<Arc<Versions>>,
    ) -> Result<Engine> {
        let page_size = usize::try_from(header.page_size)
            .map_err(|_| Error::corrupted(0, "page size does not fit in memory"))?;
        let (read_only, readers, pin, scratch) = match access {
            Access::Write { readers } => (false, readers, None, None),
            Access::Read { pin, scratch } => (true, None, pin, scratch),
        };
        // A reader checks that no page it reads was written after the checkpoint it pinned; the
        // writer, after the checkpoint it writes next.
        let limit = if read_only { meta.checkpoint_id } else { meta.checkpoint_id.saturating_add(1) };
        let mut pages = SharedPages::new(file, page_size, cache_bytes, pin, (limit, read_only));
        pages.scratch = scratch;
        let pages = Arc::new(pages);
        let root = TreeRoot { root: meta.root, depth: meta.depth, page_count: meta.page_count };
        let version = versions.as_ref().map_or(0, |v| v.pin().version + 1);
        let state = TreeState::new(version, root, meta.key_count, pages.clone());
        let versions = match versions {
            Some(v) => {
                v.publish(state);
                v
            }
            None => Arc::new(Versions::new(state)),
        };
        let mut engine = Engine {
            page_size,
            header,
            pages,
            versions,
            version: version + 1,
            durable: meta.clone(),
            meta,
            durable_slot: slot,
            durable_freelist: Vec::new(),
            working: PageMap::default(),
            this_commit: PageSet::default(),
            since_checkpoint: PageSet::default(),
            free: BTreeSet::new(),
            pending_free: Vec::new(),
            retired: VecDeque::new(),
            held: BTreeMap::new(),
            reader_floor: u64::MAX,
            readers,
            readers_read_at: None,
            reader_count: 0,
            freelist_unreadable: None,
            read_only,
            dirty_limit_pages: (cache_bytes / 2 / page_size).max(256),
            changed: false,
        };
        engine.read_reader_table();
        match engine.load_freelist() {
            Ok(()) => {}
            // A reader can do without the free list (it allocates nothing on disk): a damaged or
            // missing one is reported, not fatal, so a damaged store still opens for inspection.
            Err(e) if read_only => engine.freelist_unreadable = Some(e.to_string()),
            Err(e) => return Err(e),
        }
        Ok(engine)
    }

    pub(crate) fn page_size(&self) -> usize {
        self.page_size
    }

    /// The generation pages written now carry: the checkpoint that will reach them. A reader's
    /// pages (its replay of the log) never reach the file: they carry the checkpoint it read.
    pub(crate) fn generation(&self) -> u64 {
        if self.read_only { self.durable.checkpoint_id } else { self.durable.checkpoint_id.saturating_add(1) }
    }

    /// Refuse to write a file of more pages than page links can name.
    pub(crate) fn check_page_count(&self) -> Result<()> {
        if self.meta.page_count > MAX_PAGE_COUNT {
            return Err(Error::Io(std::io::Error::other(format!(
                "the store is at its largest: {MAX_PAGE_COUNT} pages"
            ))));
        }
        Ok(())
    }

    /// Why this read-only engine opened without its free list, if it did.
    pub(crate) fn freelist_unreadable(&self) -> Option<&str> {
        self.freelist_unreadable.as_deref()
    }

    /// Readers in the reader table at the writer's last look.
    pub(crate) fn reader_count(&self) -> u64 {
        self.reader_count
    }

    pub(crate) fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The live state: root, depth, counts by page kind, identifier.
    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The state of the last checkpoint.
    pub(crate) fn durable(&self) -> &Meta {
        &self.durable
    }

    /// The meta slot (0 or 1) the last checkpoint is in.
    pub(crate) fn durable_slot(&self) -> usize {
        self.durable_slot
    }

    /// The pages that hold the last checkpoint's free list, in chain order.
    pub(crate) fn durable_freelist(&self) -> &[u64] {
        &self.durable_freelist
    }

    /// The data file, for reads of the file header and meta slots and its length.
    pub(crate) fn file(&self) -> &dyn FileIo {
        &**self.pages.file()
    }

    pub(crate) fn cache(&self) -> &PageCache {
        self.pages.cache()
    }

    pub(crate) fn pages(&self) -> &SharedPages {
        &self.pages
    }

    pub(crate) fn versions(&self) -> &Arc<Versions> {
        &self.versions
    }

    /// Pages changed in memory and not yet in the file.
    pub(crate) fn dirty_count(&self) -> usize {
        self.working.len() + self.pages.unwritten_count()
    }

    /// The writer's own state of the tree: the last published version plus what the commit
    /// being built has changed so far.
    pub(crate) fn tree(&self) -> Tree<'_> {
        let at = TreeRoot { root: self.meta.root, depth: self.meta.depth, page_count: self.meta.page_count };
        Tree { pages: &self.pages, working: Some(&self.working), at, upper: None }
    }

    /// Sets the identifier the next checkpoint writes.
    pub(crate) fn set_identifier(&mut self, identifier: String) {
        self.meta.identifier = identifier;
        self.changed = true;
    }

    /// Start a commit: pages whose last reader is gone become free. When nothing is free but
    /// pages wait for readers in other processes, look at the reader table again (at most every
    /// few milliseconds) before the file grows.
    pub(crate) fn begin_commit(&mut self) {
        if self.free.is_empty()
            && !self.held.is_empty()
            && self.readers_read_at.is_none_or(|at| at.elapsed() >= alloc::READER_TABLE_INTERVAL)
        {
            self.read_reader_table();
        }
        self.reclaim();
    }

    /// End a commit: seal the pages it changed, make them readable, and make its tree the one
    /// new snapshots see.
    pub(crate) fn publish(&mut self) {
        self.seal_working();
        self.this_commit.clear();
        let root =
            TreeRoot { root: self.meta.root, depth: self.meta.depth, page_count: self.meta.page_count };
        self.versions.publish(TreeState::new(self.version, root, self.meta.key_count, self.pages.clone()));
        self.version += 1;
    }
}

#[cfg(test)]
mod tests {
    use crate::{Durability, KVStore, OpenOptions};

    fn small_store(dir: &std::path::Path) -> KVStore {
        OpenOptions::new().page_size(1024).durability(Durability::Buffered).open(dir.join("t.db")).unwrap()
    }

    fn key(i: u32) -> Vec<u8> {
        // Spread keys so inserts land all over the tree, long enough to make branches fill fast.
        format!("{:08x}-{:040}", i.wrapping_mul(2_654_435_761), i).into_bytes()
    }

    fn assert_healthy(store: &KVStore) {
        let report = store.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
    }

    #[test]
    fn splits_and_merges_at_every_level() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let mut depths = vec![1];
        let mut n = 0u32;
        while store.stats().tree_depth < 4 {
            store.put(key(n), [n.to_le_bytes()[0]; 20]).unwrap();
            n += 1;
            let depth = store.stats().tree_depth;
            if depth != *depths.last().unwrap() {
                assert_eq!(depth, depths.last().unwrap() + 1, "the tree grows one level at a time");
                depths.push(depth);
                assert_healthy(&store);
            }
        }
        store.checkpoint().unwrap();
        assert_healthy(&store);
        // Delete in a different order than inserted; every level must merge back down.
        let mut order: Vec<u32> = (0..n).collect();
        order.sort_by_key(|i| i.wrapping_mul(40_503) % 7919);
        for (done, i) in order.iter().enumerate() {
            assert!(store.delete(key(*i)).unwrap());
            if done % 500 == 0 {
                assert_healthy(&store);
            }
        }
        let s = store.stats();
        assert_eq!((s.tree_depth, s.key_count, s.branch_pages, s.leaf_pages), (1, 0, 0, 1), "{s:?}");
        assert_healthy(&store);
    }

    #[test]
    fn overflow_chains_are_allocated_and_freed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let value: Vec<u8> = (0..100_000u32).map(|i| i.to_le_bytes()[0]).collect();
        store.put(b"big", &value).unwrap();
        let per_page = 1024 - 16;
        let pages = (value.len() as u64).div_ceil(per_page);
        assert_eq!(store.stats().overflow_pages, pages);
        let first = store.with_engine(|e| match e.tree().get(b"big").unwrap().unwrap() {
            crate::layout::node::Value::Overflow { len, first } => {
                e.tree().overflow_pages(len, first, 0).unwrap()
            }
            other => panic!("expected an overflow value, got {other:?}"),
        });
        assert_eq!(first.len() as u64, pages);
        // Written since the last checkpoint: the chain goes back to the free set whole, with the
        // leaf's old copy (a commit never changes a page an earlier commit published).
        let free_before = store.stats().free_pages;
        store.put(b"big", b"small now").unwrap();
        assert_eq!(store.stats().overflow_pages, 0);
        assert_eq!(store.stats().free_pages, free_before + pages + 1);
        assert_eq!(store.get(b"big").unwrap().unwrap(), b"small now");
        assert_healthy(&store);
    }

    #[test]
    fn checkpointed_pages_wait_for_the_next_checkpoint_and_free_pages_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        for i in 0..2000 {
            store.put(key(i), [1u8; 30]).unwrap();
        }
        store.checkpoint().unwrap();
        for i in 0..2000 {
            store.delete(key(i)).unwrap();
        }
        // Everything freed was reachable from the checkpoint: pending, not yet reusable.
        let pending = store.with_engine(|e| e.pending_free.len());
        assert!(pending > 50, "{pending}");
        store.checkpoint().unwrap();
        assert_eq!(store.with_engine(|e| e.pending_free.len()), 0);
        let free = store.free_pages().unwrap();
        let pages = store.page_count();
        drop(store);
        let store = small_store(dir.path());
        assert_eq!(store.free_pages().unwrap(), free, "the free list survives a reopen");
        for i in 0..2000 {
            store.put(key(i), [2u8; 30]).unwrap();
        }
        store.checkpoint().unwrap();
        assert!(
            store.page_count() <= pages + 2,
            "free pages are reused before the file grows: {pages} -> {} ({:?}, {} free before)",
            store.page_count(),
            store.stats(),
            free.len()
        );
        assert_healthy(&store);
    }
}
