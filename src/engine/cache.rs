//! The page cache: verified page images, least recently used evicted first, bounded in bytes.
//! Split in shards by page number so readers on several threads rarely wait for each other.
//!
//! Page buffers are recycled: a page evicted (or removed) while no reader holds it is kept as a
//! spare of its shard, and the next miss in that shard reads into it instead of allocating. Once
//! the cache is full, a steady stream of misses allocates nothing, so the buffers stay the ones
//! first allocated, whichever thread misses: without this, each reader thread's misses allocated
//! new buffers in that thread's malloc arena while the evicted ones were freed into another arena
//! that kept them, and the process held close to two caches' worth of pages.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;

/// Shards: enough that two or four reader threads rarely meet on a lock.
const SHARDS: usize = 16;

/// Spare page buffers a shard keeps at most (8 × 16 shards × 4 KiB: 512 KiB beside the cache's
/// budget): enough for the miss that follows each eviction, not a second cache.
const SPARES_PER_SHARD: usize = 8;

pub(crate) type PageBytes = Arc<[u8]>;

/// A new zeroed page buffer, allocated once (an `Arc::from(vec)` would allocate twice).
pub(crate) fn new_page_bytes(page_size: usize) -> PageBytes {
    std::iter::repeat_n(0u8, page_size).collect()
}

pub(crate) struct PageCache {
    shards: Vec<Shard>,
    page_size: usize,
    capacity_pages: usize,
    /// Lookups while caching is off (no shard): counted as misses.
    uncached: AtomicU64,
    /// Pages of the budget the writer's changed pages take (`reserve`): the cache holds at most
    /// the rest, so the two together stay within the budget.
    reserved: AtomicUsize,
}

/// One shard: its pages and its own hit and miss counts, counted under its lock (a counter
/// shared by all shards would be one cache line every reader thread writes on every page),
/// aligned so that two shards never share a cache line.
#[repr(align(128))]
struct Shard(Mutex<ShardInner>);

struct ShardInner {
    lru: LruCache<u64, PageBytes>,
    /// Evicted buffers of `page_size` bytes that nothing else holds (each one's only reference
    /// is here), for the next miss; at most [`SPARES_PER_SHARD`].
    spares: Vec<PageBytes>,
    hits: u64,
    misses: u64,
}

impl ShardInner {
    /// Keep `old` as a spare when it is a page buffer nothing else holds and the shard has room;
    /// else drop this reference (a reader holding the page keeps its bytes unchanged).
    fn keep_spare(&mut self, mut old: PageBytes, page_size: usize) {
        if self.spares.len() < SPARES_PER_SHARD && old.len() == page_size && Arc::get_mut(&mut old).is_some()
        {
            self.spares.push(old);
        }
    }
}

impl PageCache {
    pub(crate) fn new(cache_bytes: usize, page_size: usize) -> PageCache {
        let pages = cache_bytes / page_size;
        let per_shard = pages / SHARDS;
        let shards = match NonZeroUsize::new(per_shard) {
            Some(n) => (0..SHARDS)
                .map(|_| {
                    Shard(Mutex::new(ShardInner {
                        lru: LruCache::new(n),
                        spares: Vec::with_capacity(SPARES_PER_SHARD),
                        hits: 0,
                        misses: 0,
                    }))
                })
                .collect(),
            None => Vec::new(),
        };
        PageCache {
            shards,
            page_size,
            capacity_pages: per_shard * SHARDS,
            uncached: AtomicU64::new(0),
            reserved: AtomicUsize::new(0),
        }
    }

    fn shard(&self, page: u64) -> Option<&Mutex<ShardInner>> {
        if self.shards.is_empty() {
            None
        } else {
            Some(&self.shards[usize::try_from(page % SHARDS as u64).unwrap_or(0)].0)
        }
    }

    /// A cached page, counting the hit or miss.
    pub(crate) fn get(&self, page: u64) -> Option<PageBytes> {
        let Some(shard) = self.shard(page) else {
            self.uncached.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let Ok(mut s) = shard.lock() else { return None };
        let found = s.lru.get(&page).cloned();
        match found {
            Some(_) => s.hits += 1,
            None => s.misses += 1,
        }
        found
    }

    /// Cache `bytes` as `page`; the page it evicts (or replaces) becomes a spare if nothing
    /// else holds it.
    pub(crate) fn insert(&self, page: u64, bytes: PageBytes) {
        if let Some(Ok(mut s)) = self.shard(page).map(|s| s.lock()) {
            if let Some((_, old)) = s.lru.push(page, bytes) {
                s.keep_spare(old, self.page_size);
            }
            // What the writer's changed pages take of the budget is not cached.
            let limit = self.shard_limit();
            while s.lru.len() > limit {
                let Some((_, old)) = s.lru.pop_lru() else { break };
                s.keep_spare(old, self.page_size);
            }
        }
    }

    /// Pages one shard may hold now: its share of the budget the changed pages leave (at least
    /// one page).
    fn shard_limit(&self) -> usize {
        let reserved = self.reserved.load(Ordering::Relaxed);
        (self.capacity_pages.saturating_sub(reserved) / SHARDS).max(1)
    }

    /// The writer holds `pages` changed pages in memory, beside the cache: the cache gives up as
    /// many of its budget, at once.
    pub(crate) fn reserve(&self, pages: usize) {
        let before = self.reserved.swap(pages, Ordering::Relaxed);
        if pages <= before {
            return;
        }
        // Give the pages up now, not as pages are next cached: the memory they take is being
        // taken already.
        let limit = self.shard_limit();
        for shard in &self.shards {
            if let Ok(mut s) = shard.0.lock() {
                while s.lru.len() > limit {
                    let Some((_, old)) = s.lru.pop_lru() else { break };
                    s.keep_spare(old, self.page_size);
                }
            }
        }
    }

    pub(crate) fn remove(&self, page: u64) {
        if let Some(Ok(mut s)) = self.shard(page).map(|s| s.lock())
            && let Some(old) = s.lru.pop(&page)
        {
            s.keep_spare(old, self.page_size);
        }
    }

    /// A buffer of `page_size` bytes to read `page` into on a miss, held by no one but the
    /// caller (`Arc::get_mut` succeeds on it): a spare of the page's shard, else a new one. Its
    /// bytes are whatever it held before; the caller overwrites all of them.
    pub(crate) fn buffer(&self, page: u64) -> PageBytes {
        let spare = self.shard(page).and_then(|s| s.lock().ok()).and_then(|mut s| s.spares.pop());
        match spare {
            Some(b) => b,
            None => new_page_bytes(self.page_size),
        }
    }

    fn sum(&self, f: impl Fn(&ShardInner) -> u64) -> u64 {
        self.shards.iter().map(|s| s.0.lock().map(|s| f(&s)).unwrap_or(0)).sum()
    }

    /// How many pages the cache holds at most.
    pub(crate) fn capacity_pages(&self) -> usize {
        self.capacity_pages
    }

    pub(crate) fn hits(&self) -> u64 {
        self.sum(|s| s.hits)
    }
    pub(crate) fn misses(&self) -> u64 {
        self.sum(|s| s.misses) + self.uncached.load(Ordering::Relaxed)
    }

    pub(crate) fn bytes(&self) -> u64 {
        let pages = self.sum(|s| s.lru.len() as u64);
        pages * self.page_size as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_bytes_and_counts_hits() {
        let c = PageCache::new(64 * 1024, 1024);
        for p in 0..1000u64 {
            c.insert(p, Arc::from(vec![p.to_le_bytes()[0]; 1024]));
        }
        assert!(c.bytes() <= 64 * 1024);
        assert!(c.get(999).is_some());
        assert!(c.get(0).is_none());
        assert_eq!((c.hits(), c.misses()), (1, 1));
        c.remove(999);
        assert!(c.get(999).is_none());
    }

    #[test]
    fn changed_pages_take_their_share_of_the_budget() {
        // 16 shards of 4 pages; shard 0 holds pages 0, 16, 32, ...
        let c = PageCache::new(64 * 1024, 1024);
        let shard0 = |n: u64| (0..n).map(|i| i * 16);
        for page in shard0(4) {
            c.insert(page, c.buffer(page));
        }
        assert!(shard0(4).all(|p| c.get(p).is_some()), "a shard holds its share of the budget");
        // The writer holds 32 changed pages: half the budget is theirs, and the shard gives up
        // its pages at once, before anything else is cached.
        c.reserve(32);
        assert_eq!(shard0(4).filter(|&p| c.get(p).is_some()).count(), 2);
        c.insert(64, c.buffer(64));
        assert_eq!(shard0(5).filter(|&p| c.get(p).is_some()).count(), 2);
        // More changed pages than the budget: a shard still keeps one page.
        c.reserve(1000);
        c.insert(80, c.buffer(80));
        assert_eq!(shard0(6).filter(|&p| c.get(p).is_some()).count(), 1);
        // Written out: the whole budget is the cache's again.
        c.reserve(0);
        for page in shard0(6) {
            c.insert(page, c.buffer(page));
        }
        assert_eq!(shard0(6).filter(|&p| c.get(p).is_some()).count(), 4);
    }

    #[test]
    fn evicted_buffers_are_reused_for_the_next_miss() {
        // 16 shards of 2 pages: pages 0, 16, 32 all fall in shard 0.
        let c = PageCache::new(32 * 1024, 1024);
        let first = c.buffer(0);
        let first_at = first.as_ptr();
        c.insert(0, first);
        c.insert(16, c.buffer(16));
        c.insert(32, c.buffer(32)); // evicts page 0, which nothing else holds
        let mut reused = c.buffer(48);
        assert_eq!(reused.as_ptr(), first_at, "the evicted buffer is handed out again");
        assert!(Arc::get_mut(&mut reused).is_some(), "a spare is held by the caller alone");
        assert_eq!(reused.len(), 1024);
    }

    #[test]
    fn a_buffer_a_reader_holds_is_never_reused() {
        let c = PageCache::new(32 * 1024, 1024);
        c.insert(0, Arc::from(vec![7u8; 1024]));
        let held = c.get(0).expect("cached");
        c.insert(16, c.buffer(16));
        c.insert(32, c.buffer(32)); // evicts page 0 while `held` still reads it
        c.remove(16); // removed and unheld: a spare
        for page in [48, 64, 80] {
            let mut b = c.buffer(page);
            assert_ne!(b.as_ptr(), held.as_ptr(), "a buffer a reader holds was handed out");
            Arc::get_mut(&mut b).expect("held by the caller alone").fill(1);
        }
        assert!(held.iter().all(|b| *b == 7), "the reader's page changed under it");
    }

    #[test]
    fn spares_stay_bounded() {
        let c = PageCache::new(32 * 1024, 1024);
        for p in 0..1000u64 {
            c.insert(p, c.buffer(p));
        }
        for p in 0..1000u64 {
            c.remove(p);
        }
        let spares: usize = c.shards.iter().map(|s| s.0.lock().map(|s| s.spares.len()).unwrap_or(0)).sum();
        assert!(spares <= SHARDS * SPARES_PER_SHARD, "{spares} spares");
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn zero_bytes_disables_caching() {
        let c = PageCache::new(0, 4096);
        c.insert(1, Arc::from(vec![0u8; 4096]));
        assert!(c.get(1).is_none());
    }
}
