//! Page access: every page a reader or the writer reads comes through [`SharedPages`] (verified
//! against its checksum, from the pages published but not yet written, the cache or the file),
//! and every page the writer writes goes out through [`PageRun`], runs of consecutive pages
//! gathered into one write. [`Tree`] is one state of the tree to read.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::Engine;
use super::cache::{PageBytes, PageCache, new_page_bytes};
use crate::error::{Error, Result};
use crate::io::{FileIo, ReaderSlot};
use crate::layout::file::{PageKind, generation_after, verify_page};
use crate::layout::node::{Node, NodeView};
use crate::layout::overflow;

/// Pages written in one `write` call at most when runs of consecutive pages are coalesced.
const MAX_WRITE_RUN_BYTES: usize = 1 << 20;

/// The same for the pages of one overflow chain: a large value goes to the file in one `write`
/// up to this size. The page cache keeps what one write brings in as large blocks (folios), and
/// reading a value back through the map is about twice as fast from 2 MiB blocks as from the
/// 128 KiB ones 1 MiB writes at unaligned offsets leave (docs/BENCHMARKS.md, sixth round).
const MAX_CHAIN_WRITE_BYTES: usize = 8 << 20;

/// Hashes page numbers with one multiply: they are small dense integers, not attacker-chosen
/// strings, so the default SipHash would only cost time on every page lookup.
#[derive(Default)]
pub(crate) struct PageNoHasher(u64);

impl Hasher for PageNoHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type PageMap<V> = HashMap<u64, V, BuildHasherDefault<PageNoHasher>>;
pub(crate) type PageSet = HashSet<u64, BuildHasherDefault<PageNoHasher>>;

/// How many shards the map of unwritten pages is split into, by page number: readers on
/// several threads rarely meet on one lock.
const UNWRITTEN_SHARDS: usize = 16;

/// The pages every reader shares: the data file, the cache of verified page images, and the pages
/// of published commits not yet written to the file. Snapshots hold it (through their
/// `TreeState`), so a compaction that swaps the engine's file leaves them reading the old one.
///
/// A page number here always means one content for as long as any snapshot can reach it: the
/// engine never changes a published page in place and reuses a freed page only once no snapshot
/// that could reach it is alive. So readers need no lock beyond the short ones of each map.
pub(crate) struct SharedPages {
    page_size: usize,
    file: Arc<dyn FileIo>,
    cache: PageCache,
    /// Sealed images of published pages not yet in the file (a read-only store keeps every page
    /// its replay made here, never in the file).
    unwritten: Vec<RwLock<PageMap<PageBytes>>>,
    /// How many pages `unwritten` holds, so reads skip its locks when it is empty.
    unwritten_count: AtomicUsize,
    /// A read-only engine's slot in the reader table: held while any state reading these pages
    /// lives, so the writer in another process keeps their checkpoint's pages.
    _pin: Option<ReaderSlot>,
    /// No page read from the file may have been written by a checkpoint after this one: for a
    /// reader, the checkpoint it pinned (a later page means its link is stale); for the writer,
    /// the checkpoint it writes next (a later page is damage).
    generation_limit: AtomicU64,
    /// Whether these pages are a reader's pinned checkpoint (a page past the limit is stale) or
    /// the writer's (a page past the limit is damage).
    pinned: bool,
    /// A read-only engine's private file for the pages its replay of the log made, so they are
    /// read like any page (through the cache) rather than held in memory: `in_scratch` names
    /// them; every other page is read from `file`.
    pub(super) scratch: Option<Arc<dyn FileIo>>,
    in_scratch: RwLock<PageSet>,
    scratch_count: AtomicUsize,
}

impl SharedPages {
    pub(crate) fn new(
        file: Arc<dyn FileIo>,
        page_size: usize,
        cache_bytes: usize,
        pin: Option<ReaderSlot>,
        (generation_limit, pinned): (u64, bool),
    ) -> SharedPages {
        SharedPages {
            _pin: pin,
            generation_limit: AtomicU64::new(generation_limit),
            pinned,
            scratch: None,
            in_scratch: RwLock::new(PageSet::default()),
            scratch_count: AtomicUsize::new(0),
            page_size,
            file,
            cache: PageCache::new(cache_bytes, page_size),
            unwritten: (0..UNWRITTEN_SHARDS).map(|_| RwLock::new(PageMap::default())).collect(),
            unwritten_count: AtomicUsize::new(0),
        }
    }

    /// The writer moved to checkpoint `limit - 1`: pages it writes now carry `limit`.
    pub(super) fn set_generation_limit(&self, limit: u64) {
        self.generation_limit.store(limit, Ordering::Release);
    }

    pub(crate) fn file(&self) -> &Arc<dyn FileIo> {
        &self.file
    }

    pub(crate) fn cache(&self) -> &PageCache {
        &self.cache
    }

    fn shard(&self, page: u64) -> &RwLock<PageMap<PageBytes>> {
        &self.unwritten[usize::try_from(page % UNWRITTEN_SHARDS as u64).unwrap_or(0)]
    }

    /// The image of a published page that is not in the file yet.
    pub(crate) fn unwritten(&self, page: u64) -> Option<PageBytes> {
        if self.unwritten_count.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.shard(page).read().unwrap_or_else(|e| e.into_inner()).get(&page).cloned()
    }

    pub(crate) fn unwritten_count(&self) -> usize {
        self.unwritten_count.load(Ordering::Acquire)
    }

    /// Publish the sealed image of `page`.
    pub(super) fn put_unwritten(&self, page: u64, bytes: PageBytes) {
        let mut shard = self.shard(page).write().unwrap_or_else(|e| e.into_inner());
        if shard.insert(page, bytes).is_none() {
            self.unwritten_count.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The unwritten pages, ascending, for writing them out.
    pub(super) fn unwritten_pages(&self) -> Vec<(u64, PageBytes)> {
        let mut pages: Vec<(u64, PageBytes)> = Vec::with_capacity(self.unwritten_count());
        for shard in &self.unwritten {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            pages.extend(shard.iter().map(|(p, b)| (*p, b.clone())));
        }
        pages.sort_unstable_by_key(|(p, _)| *p);
        pages
    }

    /// `page` is in the file now (and in the cache): drop its unwritten image.
    pub(super) fn written(&self, page: u64, bytes: PageBytes) {
        self.cache.insert(page, bytes);
        self.drop_unwritten(page);
    }

    fn drop_unwritten(&self, page: u64) {
        if self.unwritten_count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut shard = self.shard(page).write().unwrap_or_else(|e| e.into_inner());
        if shard.remove(&page).is_some() {
            self.unwritten_count.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// `page` is free for reuse: no image of its old content may be served again.
    pub(super) fn forget(&self, page: u64) {
        self.cache.remove(page);
        self.drop_unwritten(page);
    }

    /// The page size in bytes, fixed when the store was created.
    pub(crate) fn page_size(&self) -> usize {
        self.page_size
    }

    /// The file that holds `page`: the scratch file for a page a reader's replay made.
    fn file_of(&self, page: u64) -> &Arc<dyn FileIo> {
        match &self.scratch {
            Some(scratch)
                if self.scratch_count.load(Ordering::Acquire) > 0
                    && self.in_scratch.read().unwrap_or_else(|e| e.into_inner()).contains(&page) =>
            {
                scratch
            }
            _ => &self.file,
        }
    }

    /// Write `bytes`, pages from `first_page` on, to the scratch file.
    fn write_scratch(&self, scratch: &Arc<dyn FileIo>, first_page: u64, bytes: &[u8]) -> Result<()> {
        scratch.write_all_at(bytes, first_page * self.page_size as u64)?;
        let mut pages = self.in_scratch.write().unwrap_or_else(|e| e.into_inner());
        for i in 0..(bytes.len() / self.page_size) as u64 {
            if pages.insert(first_page + i) {
                self.scratch_count.fetch_add(1, Ordering::AcqRel);
            }
        }
        Ok(())
    }

    pub(crate) fn read_from_file(&self, page: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.page_size];
        self.read_from_file_into(page, &mut buf)?;
        Ok(buf)
    }

    /// Fill `buf` (one page) with `page` as the file holds it.
    fn read_from_file_into(&self, page: u64, buf: &mut [u8]) -> Result<()> {
        let offset = page
            .checked_mul(self.page_size as u64)
            .ok_or_else(|| Error::corrupted(page, "page number past any file"))?;
        match self.file_of(page).read_exact_at(buf, offset) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(Error::corrupted(page, "page lies past the end of the file (truncated file)"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `page` read from the file into `bytes`, a buffer the caller alone holds (a new one, or a
    /// spare of the cache), checked before anything believes it: its checksum, then the
    /// invariants of its layout (a page changed and resealed passes the checksum). Pages in
    /// memory come from the encoder and are not checked again; the cache holds checked pages.
    fn read_checked_into(&self, page: u64, mut bytes: PageBytes) -> Result<PageBytes> {
        if bytes.len() != self.page_size {
            bytes = new_page_bytes(self.page_size);
        }
        let buf = match Arc::get_mut(&mut bytes) {
            Some(buf) => buf,
            // Never the case for a new buffer or a spare; a shared one must not be written.
            None => return self.read_checked_into(page, new_page_bytes(self.page_size)),
        };
        self.read_from_file_into(page, buf)?;
        let kind = verify_page(page, &bytes)?;
        self.check_generation(page, &bytes)?;
        match kind {
            PageKind::Leaf | PageKind::Branch => NodeView::new(page, &bytes)?.validate()?,
            PageKind::Overflow => overflow::check_page(page, &bytes)?,
            // Checked entry by entry where the free list is loaded (`freelist::decode_page`).
            PageKind::Freelist => {}
        }
        Ok(bytes)
    }

    /// `bytes`, read from the file as `page`, was written no later than the checkpoint these pages
    /// may reach.
    pub(crate) fn check_generation(&self, page: u64, bytes: &[u8]) -> Result<()> {
        let limit = self.generation_limit.load(Ordering::Acquire);
        let Some(ahead) = generation_after(bytes, limit) else { return Ok(()) };
        let written_by = limit.saturating_add(ahead);
        Err(if self.pinned {
            Error::StalePage { page, written_by, pinned: limit }
        } else {
            Error::corrupted(
                page,
                format!("its generation says checkpoint {written_by} wrote it, after any checkpoint yet"),
            )
        })
    }

    /// Verified bytes of a published page: unwritten, cached, or read from the file.
    pub(crate) fn read_raw(&self, page: u64) -> Result<PageBytes> {
        if let Some(b) = self.unwritten(page) {
            return Ok(b);
        }
        if let Some(b) = self.cache.get(page) {
            return Ok(b);
        }
        // One allocation at most: straight into the buffer the cache keeps, and none once the
        // cache is full and evicts pages no reader holds (see `cache.rs`).
        let bytes = self.read_checked_into(page, self.cache.buffer(page))?;
        self.cache.insert(page, bytes.clone());
        Ok(bytes)
    }

    /// A page read without going through the cache (overflow chains would only evict tree pages).
    pub(crate) fn read_uncached(&self, page: u64) -> Result<PageBytes> {
        if let Some(b) = self.unwritten(page) {
            return Ok(b);
        }
        self.read_checked_into(page, new_page_bytes(self.page_size))
    }

    /// The bytes of `page` as they are, unverified: for inspecting damage.
    pub(crate) fn read_unverified(&self, page: u64) -> Result<PageBytes> {
        match self.unwritten(page) {
            Some(b) => Ok(b),
            None => {
                let mut bytes = new_page_bytes(self.page_size);
                if let Some(buf) = Arc::get_mut(&mut bytes) {
                    self.read_from_file_into(page, buf)?;
                }
                Ok(bytes)
            }
        }
    }

    /// The writer holds `pages` changed pages beside the cache: the cache's budget shrinks by as
    /// many, so the two stay within the budget together.
    pub(crate) fn reserve_for_changed(&self, pages: usize) {
        self.cache.reserve(pages);
    }

    /// Whether these are a reader's pages (a read-only handle, whose file another process may
    /// write).
    pub(crate) fn is_reader(&self) -> bool {
        self.pinned
    }

    /// The file holding every page of `first..first + count`, when one file holds them all and
    /// none is an unwritten page in memory: they can then be read from it in one piece.
    pub(crate) fn run_file(&self, first: u64, count: u64) -> Option<&Arc<dyn FileIo>> {
        let run = first..first.checked_add(count)?;
        if self.unwritten_count() > 0 && run.clone().any(|page| self.unwritten(page).is_some()) {
            return None;
        }
        let file = self.file_of(first);
        let mixed = self.scratch_count.load(Ordering::Acquire) > 0
            && run.skip(1).any(|page| !Arc::ptr_eq(self.file_of(page), file));
        (!mixed).then_some(file)
    }
}

/// Where a tree starts, and how far its links may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TreeRoot {
    pub(crate) root: u64,
    pub(crate) depth: u32,
    pub(crate) page_count: u64,
}

/// One state of the tree to read: a published version (a snapshot's), or the writer's own,
/// with the pages its commit has changed so far.
pub(crate) struct Tree<'a> {
    pub(super) pages: &'a SharedPages,
    pub(super) working: Option<&'a PageMap<Node>>,
    pub(super) at: TreeRoot,
    /// A published state's branch pages nearest the root, kept with the state once read.
    pub(super) upper: Option<&'a UpperPages>,
}

/// At most how many branch pages below the root a published state keeps (16 MiB of 4 KiB pages):
/// with the cache's own bound (an eighth of its pages), what a state keeps beside the cache
/// stays small even when the cache evicts them.
const MAX_UPPER_PAGES: usize = 4096;

/// The branch pages of one published state nearest the root, each kept the first time a reader
/// passes through it and never changed after (a state's pages do not change while it lives).
/// Every descent passes through them: taken from the shared cache, they would make every reader
/// thread take the same shard lock and count references on the same few pages; kept here, a
/// reader takes no lock and writes no shared counter to pass them. The root is always kept;
/// below it, a branch's children are kept while the state's budget of pages lasts (see
/// [`MAX_UPPER_PAGES`]), the deepest branch levels and the leaves go through the cache.
#[derive(Default)]
pub(crate) struct UpperPages {
    root: OnceLock<UpperPage>,
    /// Children slots given out so far, against the budget.
    reserved: AtomicUsize,
}

pub(super) struct UpperPage {
    pub(super) bytes: PageBytes,
    /// Its children by index, when they are branches and the budget allowed; else empty.
    pub(super) children: Box<[OnceLock<UpperPage>]>,
}

impl UpperPages {
    pub(super) fn root(&self) -> &OnceLock<UpperPage> {
        &self.root
    }
}

/// A page as a reader sees it: changed by the commit being built, or sealed bytes.
pub(crate) enum NodeRef<'a> {
    Working(&'a Node),
    Clean(u64, PageBytes),
}

impl<'a> Tree<'a> {
    /// The tree published at `at` over `pages`, keeping its upper branch pages in `upper`.
    pub(crate) fn published(pages: &'a SharedPages, at: TreeRoot, upper: &'a UpperPages) -> Tree<'a> {
        Tree { pages, working: None, at, upper: Some(upper) }
    }

    /// The branch page `page` at `level` (1: the root), from `slot` once read, else read
    /// (verified, like any page) and kept there.
    pub(super) fn upper_page(
        &self,
        upper: &UpperPages,
        slot: &'a OnceLock<UpperPage>,
        page: u64,
        level: u32,
    ) -> Result<&'a UpperPage> {
        if let Some(held) = slot.get() {
            return Ok(held);
        }
        let bytes = self.pages.read_raw(page)?;
        let mut children = 0;
        if level + 1 < self.at.depth {
            let view = NodeView::new(page, &bytes)?;
            let want = if view.is_leaf() { 0 } else { view.count() + 1 };
            let budget = (self.pages.cache.capacity_pages() / 8).min(MAX_UPPER_PAGES);
            if want > 0 && upper.reserved.fetch_add(want, Ordering::Relaxed) + want <= budget {
                children = want;
            }
        }
        let held = UpperPage { bytes, children: (0..children).map(|_| OnceLock::new()).collect() };
        Ok(slot.get_or_init(|| held))
    }

    pub(crate) fn page_size(&self) -> usize {
        self.pages.page_size
    }

    /// `page` must be a tree, overflow or free-list page of this file; `from` names the page
    /// holding the link, for the error.
    pub(crate) fn check_link(&self, page: u64, from: u64) -> Result<()> {
        if page == 0 || page >= self.at.page_count {
            return Err(Error::corrupted(
                from,
                format!("link to page {page}, outside 1..{}", self.at.page_count),
            ));
        }
        Ok(())
    }

    pub(crate) fn node(&self, page: u64) -> Result<NodeRef<'a>> {
        if let Some(n) = self.working.and_then(|w| w.get(&page)) {
            return Ok(NodeRef::Working(n));
        }
        Ok(NodeRef::Clean(page, self.pages.read_raw(page)?))
    }
}

impl Engine {
    fn write_at_page(&mut self, first_page: u64, bytes: &[u8]) -> Result<()> {
        if self.read_only {
            // A read-only store writes nothing to the store's files: the pages go to its scratch
            // file, or stay in memory.
            if let Some(scratch) = &self.pages.scratch {
                return self.pages.write_scratch(scratch, first_page, bytes);
            }
            for (i, chunk) in bytes.chunks(self.page_size).enumerate() {
                self.pages.put_unwritten(first_page + i as u64, Arc::from(chunk));
            }
            return Ok(());
        }
        self.pages.file.write_all_at(bytes, first_page * self.page_size as u64)?;
        Ok(())
    }
}

/// Pages to write, gathered into runs of consecutive page numbers so each run is one write.
pub(crate) struct PageRun {
    page_size: usize,
    /// The pages' bytes, run after run, in one buffer kept across flushes.
    buf: Vec<u8>,
    /// Each run of consecutive pages: its first page and where its bytes start in `buf`.
    runs: Vec<(u64, usize)>,
    /// Bytes gathered before [`PageRun::full`] says to flush.
    limit: usize,
}

impl PageRun {
    pub(crate) fn new(page_size: usize) -> PageRun {
        PageRun { page_size, buf: Vec::new(), runs: Vec::new(), limit: MAX_WRITE_RUN_BYTES }
    }

    /// A run for the `pages` pages of one overflow chain: written in one piece up to
    /// [`MAX_CHAIN_WRITE_BYTES`], in `buf` (emptied; grown at once to the size it needs).
    pub(crate) fn for_chain(page_size: usize, pages: usize, mut buf: Vec<u8>) -> PageRun {
        let limit = pages.saturating_mul(page_size).clamp(page_size, MAX_CHAIN_WRITE_BYTES.max(page_size));
        buf.clear();
        buf.reserve_exact(limit);
        PageRun { page_size, buf, runs: Vec::new(), limit }
    }

    /// The buffer, for the next run ([`PageRun::for_chain`]).
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Make room for `page` at the end of `buf`: it extends the last run or starts one.
    fn start_page(&mut self, page: u64) {
        let extends = matches!(self.runs.last(), Some(&(first, at)) if first + ((self.buf.len() - at) / self.page_size) as u64 == page);
        if !extends {
            self.runs.push((page, self.buf.len()));
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact((16 * self.page_size).min(self.limit));
        }
    }

    /// A zeroed buffer for `page`.
    pub(crate) fn next_page(&mut self, page: u64) -> &mut [u8] {
        self.start_page(page);
        let at = self.buf.len();
        self.buf.resize(at + self.page_size, 0);
        &mut self.buf[at..]
    }

    /// A copy of `image`, the bytes of `page`.
    pub(crate) fn push_page(&mut self, page: u64, image: &[u8]) {
        debug_assert_eq!(image.len(), self.page_size);
        self.start_page(page);
        self.buf.extend_from_slice(image);
    }

    pub(crate) fn full(&self) -> bool {
        self.buf.len() >= self.limit
    }

    pub(crate) fn flush(&mut self, engine: &mut Engine) -> Result<()> {
        let ends = self.runs.iter().skip(1).map(|&(_, at)| at).chain(std::iter::once(self.buf.len()));
        for (&(first, at), end) in self.runs.iter().zip(ends) {
            engine.write_at_page(first, &self.buf[at..end])?;
        }
        self.runs.clear();
        self.buf.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages_before_full(mut run: PageRun, page_size: usize) -> usize {
        let page = vec![7u8; page_size];
        let mut n = 0;
        while !run.full() {
            run.push_page(n as u64, &page);
            n += 1;
        }
        n
    }

    /// A chain goes out in one write up to 8 MiB; other runs in 1 MiB writes.
    #[test]
    fn a_chain_is_written_in_one_run_up_to_its_limit() {
        // A 2 MiB value: 515 pages of 4 KiB (4,080 bytes of data each).
        assert_eq!(pages_before_full(PageRun::for_chain(4096, 515, Vec::new()), 4096), 515);
        assert_eq!(PageRun::for_chain(4096, 515, Vec::new()).buf.capacity(), 515 * 4096, "taken at once");
        let reused = PageRun::for_chain(4096, 515, vec![1u8; 600 * 4096]);
        assert!(reused.buf.is_empty() && reused.buf.capacity() >= 600 * 4096, "a buffer handed in is reused");
        assert_eq!(pages_before_full(PageRun::for_chain(4096, 10_000, Vec::new()), 4096), (8 << 20) / 4096);
        assert_eq!(pages_before_full(PageRun::for_chain(4096, 0, Vec::new()), 4096), 1);
        assert_eq!(pages_before_full(PageRun::new(4096), 4096), (1 << 20) / 4096);
    }
}
