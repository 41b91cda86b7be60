//! Wind-KVStore. The store is `Send + Sync`: readers on other threads share it through an `Arc`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use wind_kvstore::{Durability, KVStore, OpenOptions, WriteBatch};

use super::{Batch, Reader, Store};

pub struct Ours {
    path: PathBuf,
    cache_bytes: usize,
    durability: Durability,
    /// `None` only while the store is reopened with another durability.
    store: Option<Arc<KVStore>>,
}

impl Ours {
    pub fn open(dir: &Path, cache_bytes: usize) -> Result<Ours> {
        let path = dir.join("store.db");
        let store = open_store(&path, cache_bytes, Durability::Immediate)?;
        Ok(Ours { path, cache_bytes, durability: Durability::Immediate, store: Some(Arc::new(store)) })
    }
}

impl Ours {
    fn store(&self) -> Result<&Arc<KVStore>> {
        self.store.as_ref().context("the store is closed")
    }
}

fn close_store(store: Arc<KVStore>) -> Result<()> {
    Arc::try_unwrap(store).map_err(|_| anyhow::anyhow!("a reader still holds the store"))?.close()?;
    Ok(())
}

fn open_store(path: &Path, cache_bytes: usize, durability: Durability) -> Result<KVStore> {
    OpenOptions::new()
        .cache_bytes(cache_bytes)
        .durability(durability)
        .open(path)
        .context("opening wind-kvstore")
}

struct OursBatch(WriteBatch);

impl Batch for OursBatch {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.0.put(key, value);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.0.delete(key);
        Ok(())
    }
}

/// The store, and a buffer every get reads into (the caller sees a borrowed value, as from the
/// other engines).
struct OursReader(Arc<KVStore>, Vec<u8>);

impl Reader for OursReader {
    fn get(&mut self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let found = self.0.get_into(key, &mut self.1)?;
        if found {
            f(&self.1);
        }
        Ok(found)
    }

    /// `KVStore::get_chunks`: a value in an overflow chain a page at a time, each page checked
    /// and lent from the memory map, not copied.
    fn get_chunks(&mut self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<bool> {
        Ok(self.0.get_chunks(key, f)?)
    }

    fn scan(&mut self, start: &[u8], n: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<usize> {
        let mut seen = 0;
        for item in self.0.range(start..).take(n) {
            let (k, v) = item?;
            f(&k, &v);
            seen += 1;
        }
        Ok(seen)
    }
}

impl Store for Ours {
    fn write(&self, ops: &mut dyn FnMut(&mut dyn Batch) -> Result<()>) -> Result<()> {
        let mut batch = OursBatch(WriteBatch::default());
        ops(&mut batch)?;
        self.store()?.write(batch.0)?;
        Ok(())
    }

    fn set_durable(&mut self, durable: bool) -> Result<()> {
        let wanted = if durable { Durability::Immediate } else { Durability::Buffered };
        if wanted == self.durability {
            return Ok(());
        }
        // Durability is chosen at open: close (which checkpoints) and open again.
        if let Some(store) = self.store.take() {
            close_store(store)?;
        }
        self.store = Some(Arc::new(open_store(&self.path, self.cache_bytes, wanted)?));
        self.durability = wanted;
        Ok(())
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(OursReader(Arc::clone(self.store()?), Vec::new())))
    }

    fn len(&self) -> Result<u64> {
        Ok(self.store()?.len()?)
    }

    fn compact(&mut self) -> Result<()> {
        self.store()?.compact()?;
        Ok(())
    }

    fn stats(&self) -> Option<String> {
        let s = self.store().ok()?.stats();
        Some(format!(
            "page size {} B, {} pages ({} branch, {} leaf, {} overflow, {} free-list, {} free), depth {}, \
             file {} B, log {} B, cache {} hits / {} misses, {} dirty pages",
            s.page_size,
            s.page_count,
            s.branch_pages,
            s.leaf_pages,
            s.overflow_pages,
            s.freelist_pages,
            s.free_pages,
            s.tree_depth,
            s.file_bytes,
            s.log_bytes,
            s.cache_hits,
            s.cache_misses,
            s.dirty_pages
        ))
    }

    fn close(self: Box<Self>) -> Result<()> {
        match self.store {
            Some(store) => close_store(store),
            None => Ok(()),
        }
    }
}
