//! The page cache: verified page images, least recently used evicted first, bounded in bytes.
//! Split in shards by page number so readers on several threads rarely wait for each other.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;

/// Shards: enough that two or four reader threads rarely meet on a lock.
const SHARDS: usize = 16;

pub(crate) type PageBytes = Arc<[u8]>;

pub(crate) struct PageCache {
    shards: Vec<Shard>,
    page_size: usize,
    capacity_pages: usize,
    /// Lookups while caching is off (no shard): counted as misses.
    uncached: AtomicU64,
}

/// One shard: its pages and its own hit and miss counts, counted under its lock (a counter
/// shared by all shards would be one cache line every reader thread writes on every page),
/// aligned so that two shards never share a cache line.
#[repr(align(128))]
struct Shard(Mutex<ShardInner>);

struct ShardInner {
    lru: LruCache<u64, PageBytes>,
    hits: u64,
    misses: u64,
}

impl PageCache {
    pub(crate) fn new(cache_bytes: usize, page_size: usize) -> PageCache {
        let pages = cache_bytes / page_size;
        let per_shard = pages / SHARDS;
        let shards = match NonZeroUsize::new(per_shard) {
            Some(n) => (0..SHARDS)
                .map(|_| Shard(Mutex::new(ShardInner { lru: LruCache::new(n), hits: 0, misses: 0 })))
                .collect(),
            None => Vec::new(),
        };
        PageCache { shards, page_size, capacity_pages: per_shard * SHARDS, uncached: AtomicU64::new(0) }
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

    pub(crate) fn insert(&self, page: u64, bytes: PageBytes) {
        if let Some(Ok(mut s)) = self.shard(page).map(|s| s.lock()) {
            s.lru.put(page, bytes);
        }
    }

    pub(crate) fn remove(&self, page: u64) {
        if let Some(Ok(mut s)) = self.shard(page).map(|s| s.lock()) {
            s.lru.pop(&page);
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
    fn zero_bytes_disables_caching() {
        let c = PageCache::new(0, 4096);
        c.insert(1, Arc::from(vec![0u8; 4096]));
        assert!(c.get(1).is_none());
    }
}
