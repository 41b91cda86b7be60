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
mod buffer;
pub(crate) mod cache;
mod checkpoint;
pub(crate) mod compact;
mod overflow_chain;
mod pages;
mod tree_merge;
mod tree_read;
mod tree_write;
mod versions;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::io::{FileIo, ReaderSlot, ReaderTable};
use crate::layout::file::{FileHeader, MAX_PAGE_COUNT, Meta};
use crate::layout::freelist::{self, FreeEntry};
use crate::layout::node::Node;
pub(crate) use alloc::FreeChain;
pub(crate) use buffer::{Change, SLOT_BYTES as BUFFER_SLOT_BYTES, WriteBuffer};
use cache::PageCache;

/// The pages changed in memory and not yet in the file (decoded nodes of the commit being built,
/// sealed images of published commits) that the writer holds at most, as a share of the cache
/// budget, before a spill writes them out. They count against the budget: the cache gives up as
/// many pages as they take (`PageCache::reserve`), so cached and changed pages together stay
/// within it. Half: a quarter (not sharing the budget) saved about 35 MiB of peak heap but cost a
/// tenth of the batch-write speed and replayed a large log at half the speed (BENCHMARKS.md,
/// "Peak heap").
const DIRTY_LIMIT_CACHE_DIVISOR: usize = 2;

/// The fewest changed pages held before a spill, whatever the cache: below it a small cache
/// would spill after nearly every operation of a batch.
const MIN_DIRTY_LIMIT_PAGES: usize = 256;

pub(crate) use pages::{PageMap, PageSet, SharedPages, Tree, TreeRoot};
pub(crate) use tree_read::LeafAt;
pub(crate) use versions::{TreeState, Versions};

/// How an engine uses its file.
pub(crate) enum Access {
    /// The writer: it reads `readers` (if its file system has a reader table) before reusing
    /// pages a checkpoint freed.
    /// Past `hold_bytes` of pages held back for readers, it reuses the oldest of them.
    Write { readers: Option<ReaderTable>, hold_bytes: u64 },
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
    /// Publishes that only folded the write buffer (see [`TreeState::commit_number`]).
    folds: u64,
    /// The live state: root, counts, identifier.
    meta: Meta,
    /// The state of the last checkpoint, and the slot it is in.
    durable: Meta,
    durable_slot: usize,
    /// The part of the last checkpoint's free list not read yet (read as pages are needed).
    chain: FreeChain,
    /// Pages read from the free list since the last checkpoint, and its pages read: an entry
    /// naming one again is damage.
    chain_seen: PageSet,
    /// A read-only engine that met a free-list page it cannot read takes new pages instead.
    chain_unusable: bool,
    /// The pages the unread part of the free list names (`None` inside: it cannot be read), as
    /// of the last look; cleared whenever the chain changes.
    tail_cache: Mutex<Option<Option<Arc<BTreeSet<u64>>>>>,
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
    /// Pages in `held`, counted as they come and go: the allocator compares it with the limit
    /// below whenever the file would grow.
    held_count: u64,
    /// Pages held for readers past which the oldest are reused (`OpenOptions::reader_hold_bytes`).
    hold_limit_pages: u64,
    /// Held pages reused past that limit since this engine opened.
    pages_taken_from_readers: u64,
    reader_count: u64,
    read_only: bool,
    /// Unwritten pages beyond this are written out (to their fresh places) before the next
    /// operation.
    dirty_limit_pages: usize,
    /// Anything changed since the last checkpoint.
    changed: bool,
    /// Small commits' changes not yet in the tree (see `buffer.rs`).
    buffer: WriteBuffer,
    /// Bytes the buffer holds at most before it is folded into the tree.
    buffer_limit: usize,
    /// Bytes of a buffer being folded into the tree, still in memory.
    folding_bytes: usize,
    /// The buffer the overflow chains of the commit being built are written from, kept from one
    /// chain to the next (a commit of many large values touches its memory once) and let go of
    /// when the commit is published.
    chain_buf: Vec<u8>,
}

impl Engine {
    /// The engine over `file`, whose meta slot `slot` (holding `meta`) is in force, with a
    /// cache of `memory.0` bytes and a write buffer of `memory.1`. `versions` carries the
    /// snapshots of an engine this one replaces (compaction), if any.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        file: Arc<dyn FileIo>,
        header: FileHeader,
        meta: Meta,
        slot: usize,
        (cache_bytes, buffer_limit): (usize, usize),
        access: Access,
        versions: Option<Arc<Versions>>,
    ) -> Result<Engine> {
        let page_size = usize::try_from(header.page_size)
            .map_err(|_| Error::corrupted(0, "page size does not fit in memory"))?;
        let (read_only, readers, pin, scratch, hold_bytes) = match access {
            Access::Write { readers, hold_bytes } => (false, readers, None, None, hold_bytes),
            Access::Read { pin, scratch } => (true, None, pin, scratch, u64::MAX),
        };
        // A reader checks that no page it reads was written after the checkpoint it pinned; the
        // writer, after the checkpoint it writes next.
        let limit = if read_only { meta.checkpoint_id } else { meta.checkpoint_id.saturating_add(1) };
        let mut pages = SharedPages::new(file, page_size, cache_bytes, pin, (limit, read_only));
        pages.scratch = scratch;
        let pages = Arc::new(pages);
        // The free list is not read here: its pages are read as the writer needs free pages.
        // A reader can do without it (it allocates nothing on disk), so a slot whose counts do
        // not add up leaves a reader with no free list and refuses a writer.
        let chain = match FreeChain::of(&meta, freelist::entries_per_page(page_size, header.version)) {
            Ok(chain) => chain,
            Err(_) if read_only => FreeChain::default(),
            Err(e) => return Err(e),
        };
        let root = TreeRoot { root: meta.root, depth: meta.depth, page_count: meta.page_count };
        let (version, folds) = versions.as_ref().map_or((0, 0), |v| {
            let current = v.pin();
            (current.version + 1, current.folds)
        });
        let buffer = WriteBuffer::new(buffer_limit);
        let state = TreeState::new((version, folds), root, meta.key_count, pages.clone(), buffer.clone());
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
            folds,
            durable: meta.clone(),
            meta,
            durable_slot: slot,
            chain,
            chain_seen: PageSet::default(),
            chain_unusable: false,
            tail_cache: Mutex::new(None),
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
            held_count: 0,
            hold_limit_pages: hold_bytes / page_size as u64,
            pages_taken_from_readers: 0,
            reader_count: 0,
            read_only,
            dirty_limit_pages: (cache_bytes / DIRTY_LIMIT_CACHE_DIVISOR / page_size)
                .max(MIN_DIRTY_LIMIT_PAGES),
            changed: false,
            buffer,
            buffer_limit,
            folding_bytes: 0,
            chain_buf: Vec::new(),
        };
        engine.read_reader_table();
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

    /// Changed pages held in memory before a spill writes them out.
    pub(crate) fn dirty_limit_pages(&self) -> usize {
        self.dirty_limit_pages
    }

    /// Pages changed in memory and not yet in the file.
    pub(crate) fn dirty_count(&self) -> usize {
        self.working.len() + self.pages.unwritten_count()
    }

    /// The writer's own state of the tree: the last published version plus what the commit
    /// being built has changed so far.
    pub(crate) fn tree(&self) -> Tree<'_> {
        Tree { pages: &self.pages, working: Some(&self.working), at: self.tree_root(), upper: None }
    }

    /// Where the live tree starts.
    pub(crate) fn tree_root(&self) -> TreeRoot {
        TreeRoot { root: self.meta.root, depth: self.meta.depth, page_count: self.meta.page_count }
    }

    /// Whether the commit being built has changed no page yet.
    pub(crate) fn working_is_empty(&self) -> bool {
        self.working.is_empty() && self.this_commit.is_empty()
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
        self.chain_buf = Vec::new();
        let root = self.tree_root();
        let state = TreeState::new(
            (self.version, self.folds),
            root,
            self.meta.key_count,
            self.pages.clone(),
            self.buffer.clone(),
        );
        self.versions.publish(state);
        self.version += 1;
    }

    /// [`Engine::publish`] after folding the write buffer into the tree: a new state of the same
    /// keys and values, so not counted as a commit.
    pub(crate) fn publish_fold(&mut self) {
        self.folds += 1;
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use crate::{Durability, Error, KVStore, OpenOptions};

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
    fn count_present_walks_the_tree_once_and_counts_like_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        for i in (0..6000).step_by(2) {
            store.put(key(i), [1u8; 20]).unwrap();
        }
        store.checkpoint().unwrap();
        // Published pages, and pages a commit being built has changed: both kinds of node.
        store.with_engine(|e| {
            assert!(e.meta().depth >= 3, "{}", e.meta().depth);
            e.begin_commit();
            e.put_value(&key(1), crate::layout::node::ValueRef::Inline(b"x")).unwrap();
            for (from, step) in [(0u32, 1u32), (0, 2), (1, 2), (3, 7), (5999, 1)] {
                let mut keys: Vec<Vec<u8>> = (from..6000).step_by(step as usize).map(key).collect();
                keys.sort();
                let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                let want = refs.iter().filter(|k| e.tree().contains(k).unwrap()).count() as u64;
                assert_eq!(e.tree().count_present(&refs).unwrap(), want, "from {from} step {step}");
            }
            assert_eq!(e.tree().count_present(&[]).unwrap(), 0);
            e.publish();
        });
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

    /// A store of 1 KiB pages (63 entries per list page) with some 6,000 free pages listed on
    /// about 95 list pages: 300 values in overflow chains, checkpointed, deleted but for one,
    /// checkpointed. Closed.
    fn store_with_a_long_free_list(dir: &std::path::Path) -> std::path::PathBuf {
        let store = small_store(dir);
        for i in 0..300 {
            store.put(format!("v{i:03}"), vec![7u8; 20_000]).unwrap();
        }
        store.checkpoint().unwrap();
        for i in 1..300 {
            store.delete(format!("v{i:03}")).unwrap();
        }
        store.checkpoint().unwrap();
        drop(store);
        dir.join("t.db")
    }

    /// Pages of `after` that differ from `before` (pages past its end included).
    fn pages_changed(before: &[u8], after: &[u8]) -> usize {
        after
            .chunks(1024)
            .enumerate()
            .filter(|(i, page)| before.get(i * 1024..(i + 1) * 1024) != Some(*page))
            .count()
    }

    #[test]
    fn a_checkpoint_after_one_put_writes_a_few_pages_whatever_the_free_list_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = store_with_a_long_free_list(dir.path());
        let store = small_store(dir.path());
        let list_pages = store.stats().freelist_pages;
        assert!(list_pages > 80, "{:?}", store.stats());
        for round in 0..4 {
            let before = std::fs::read(&path).unwrap();
            store.put(format!("one{round}"), b"x").unwrap();
            store.checkpoint().unwrap();
            let after = std::fs::read(&path).unwrap();
            // The meta, the leaf and its copy's parent, the list's new head (the rest of the list
            // page read for free pages, the pages freed): not the list's other pages.
            let changed = pages_changed(&before, &after);
            assert!(changed <= 8, "round {round}: {changed} pages written, {list_pages} list pages");
        }
        assert!(store.stats().freelist_pages >= list_pages - 4, "{:?}", store.stats());
        assert_eq!(store.free_pages().unwrap().len() as u64, store.stats().free_pages);
        assert_healthy(&store);
    }

    #[test]
    fn open_reads_no_free_list_page_and_a_damaged_one_is_an_error_once_reached() {
        let dir = tempfile::tempdir().unwrap();
        let path = store_with_a_long_free_list(dir.path());
        let store = small_store(dir.path());
        let free = store.stats().free_pages;
        let mut last = store.with_engine(|e| e.free_chain().next);
        while store.page_info(last).unwrap().next != 0 {
            last = store.page_info(last).unwrap().next;
        }
        drop(store);
        // Garble the list's last page: its checksum fails.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = usize::try_from(last).unwrap() * 1024 + 200;
        bytes[at..at + 100].fill(0xEE);
        std::fs::write(&path, &bytes).unwrap();

        let store = small_store(dir.path());
        assert_eq!(store.stats().free_pages, free, "counted from the meta slot");
        assert_eq!(store.get(b"v000").unwrap().unwrap(), vec![7u8; 20_000]);
        store.put(b"one", b"x").unwrap();
        store.checkpoint().unwrap();
        assert!(matches!(store.free_pages(), Err(Error::Corrupted { page, .. }) if page == last));
        let report = store.check().unwrap();
        assert!(report.problems.iter().any(|p| p.page == Some(last)), "{:?}", report.problems);
        // Free pages are taken from the list's head; the damaged page is met last, with an error
        // naming it, before the file grows.
        let pages = store.page_count();
        let mut failed = None;
        for i in 0..400 {
            if let Err(e) = store.put(format!("w{i:03}"), vec![1u8; 20_000]) {
                failed = Some(e);
                break;
            }
        }
        assert!(matches!(failed, Some(Error::Corrupted { page, .. }) if page == last), "{failed:?}");
        assert_eq!(store.page_count(), pages, "the file did not grow while free pages were listed");
    }
}
