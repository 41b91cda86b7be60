//! The engine's state and its B+tree: the pages as of the last checkpoint, the pages changed
//! since, and the allocator that keeps the two apart.
//!
//! Invariant (copy-on-write): a page reachable from the meta slot in force (the last checkpoint)
//! is never written until the next checkpoint has switched slots. A write that changes such a
//! page copies it to a *fresh* page (one allocated since the checkpoint) and lists the old one
//! as *pending free*; fresh pages may be changed in place and written at any time. So a crash at
//! any moment leaves the last checkpoint intact, and the log replays what came after it.

mod alloc;
pub(crate) mod cache;
mod checkpoint;
pub(crate) mod compact;
mod overflow_chain;
mod pages;
mod tree_read;
mod tree_write;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::FileIo;
use crate::layout::file::{FileHeader, Meta};
use crate::layout::node::Node;
use cache::{PageBytes, PageCache};
pub(crate) use pages::{PageMap, PageSet};

/// The tree's pages and the allocator that keeps the last checkpoint's pages apart from the
/// changed ones. Its fields are private to the engine's modules: the store and the inspector see
/// it through the methods below, so the copy-on-write invariant is kept in one place.
pub(crate) struct Engine {
    page_size: usize,
    /// The data file (the log is the store's).
    file: Arc<dyn FileIo>,
    header: FileHeader,
    /// The live state: root, counts, identifier.
    meta: Meta,
    /// The state of the last checkpoint, and the slot it is in.
    durable: Meta,
    durable_slot: usize,
    /// Pages holding the persisted free list of the last checkpoint.
    durable_freelist: Vec<u64>,
    /// Tree pages changed since the last checkpoint and not yet written.
    dirty: PageMap<Node>,
    /// Pages allocated since the last checkpoint: free to change in place.
    fresh: PageSet,
    /// Pages that may be allocated now.
    free: BTreeSet<u64>,
    /// Pages the last checkpoint still reaches but the live tree does not: free after the next.
    pending_free: Vec<u64>,
    cache: PageCache,
    read_only: bool,
    /// A read-only open keeps here the pages replay would have written to the file.
    replayed_pages: PageMap<PageBytes>,
    /// Dirty pages beyond this are written out (to fresh pages) before the next operation.
    dirty_limit_pages: usize,
    /// Anything changed since the last checkpoint.
    changed: bool,
}

impl Engine {
    /// The engine over `file`, whose meta slot `slot` (holding `meta`) is in force.
    pub(crate) fn new(
        file: Arc<dyn FileIo>,
        header: FileHeader,
        meta: Meta,
        slot: usize,
        cache_bytes: usize,
        read_only: bool,
    ) -> Result<Engine> {
        let page_size = usize::try_from(header.page_size)
            .map_err(|_| Error::corrupted(0, "page size does not fit in memory"))?;
        let mut engine = Engine {
            page_size,
            file,
            header,
            durable: meta.clone(),
            meta,
            durable_slot: slot,
            durable_freelist: Vec::new(),
            dirty: PageMap::default(),
            fresh: PageSet::default(),
            free: BTreeSet::new(),
            pending_free: Vec::new(),
            cache: PageCache::new(cache_bytes, page_size),
            read_only,
            replayed_pages: PageMap::default(),
            dirty_limit_pages: (cache_bytes / 2 / page_size).max(256),
            changed: false,
        };
        engine.load_freelist()?;
        Ok(engine)
    }

    pub(crate) fn page_size(&self) -> usize {
        self.page_size
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
        &*self.file
    }

    pub(crate) fn cache(&self) -> &PageCache {
        &self.cache
    }

    /// A changed page not yet written, if `page` is one.
    pub(crate) fn dirty_node(&self, page: u64) -> Option<&Node> {
        self.dirty.get(&page)
    }

    pub(crate) fn dirty_count(&self) -> usize {
        self.dirty.len()
    }

    /// The bytes replay gave `page` in a read-only open (they are not in the file).
    pub(crate) fn replayed_page(&self, page: u64) -> Option<&PageBytes> {
        self.replayed_pages.get(&page)
    }

    /// Sets the identifier the next checkpoint writes.
    pub(crate) fn set_identifier(&mut self, identifier: String) {
        self.meta.identifier = identifier;
        self.changed = true;
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
        let first = store.with_engine(|e| match e.get(b"big").unwrap().unwrap() {
            crate::layout::node::Value::Overflow { len, first } => e.overflow_pages(len, first, 0).unwrap(),
            other => panic!("expected an overflow value, got {other:?}"),
        });
        assert_eq!(first.len() as u64, pages);
        // Written since the last checkpoint: the chain goes straight back to the free set.
        let free_before = store.stats().free_pages;
        store.put(b"big", b"small now").unwrap();
        assert_eq!(store.stats().overflow_pages, 0);
        assert_eq!(store.stats().free_pages, free_before + pages);
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
