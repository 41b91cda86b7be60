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
    shards: Vec<Mutex<LruCache<u64, PageBytes>>>,
    page_size: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl PageCache {
    pub(crate) fn new(cache_bytes: usize, page_size: usize) -> PageCache {
        let pages = cache_bytes / page_size;
        let per_shard = pages / SHARDS;
        let shards = match NonZeroUsize::new(per_shard) {
            Some(n) => (0..SHARDS).map(|_| Mutex::new(LruCache::new(n))).collect(),
            None => Vec::new(),
        };
        PageCache { shards, page_size, hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    fn shard(&self, page: u64) -> Option<&Mutex<LruCache<u64, PageBytes>>> {
        if self.shards.is_empty() {
            None
        } else {
            Some(&self.shards[usize::try_from(page % SHARDS as u64).unwrap_or(0)])
        }
    }

    /// A cached page, counting the hit or miss.
    pub(crate) fn get(&self, page: u64) -> Option<PageBytes> {
        let found = self.shard(page).and_then(|s| s.lock().ok()?.get(&page).cloned());
        match found {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        found
    }

    pub(crate) fn insert(&self, page: u64, bytes: PageBytes) {
        if let Some(Ok(mut s)) = self.shard(page).map(|s| s.lock()) {
            s.put(page, bytes);
        }
    }

    pub(crate) fn remove(&self, page: u64) {
        if let Some(Ok(mut s)) = self.shard(page).map(|s| s.lock()) {
            s.pop(&page);
        }
    }

    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
    pub(crate) fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    pub(crate) fn bytes(&self) -> u64 {
        let pages: usize = self.shards.iter().map(|s| s.lock().map(|s| s.len()).unwrap_or(0)).sum();
        (pages * self.page_size) as u64
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
