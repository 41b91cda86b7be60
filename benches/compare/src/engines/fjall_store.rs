//! fjall: one keyspace; a durable commit is persisted with fdatasync before `write` returns.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode};

use super::{Batch, Reader, Store};

pub struct FjallStore {
    db: Database,
    keyspace: Keyspace,
    durable: AtomicBool,
}

impl FjallStore {
    pub fn open(dir: &Path, cache_bytes: usize) -> Result<FjallStore> {
        let db = Database::builder(dir.join("fjall")).cache_size(cache_bytes as u64).open()?;
        let keyspace = db.keyspace("kv", KeyspaceCreateOptions::default)?;
        Ok(FjallStore { db, keyspace, durable: AtomicBool::new(true) })
    }
}

struct FjallBatch<'a> {
    batch: OwnedWriteBatch,
    keyspace: &'a Keyspace,
}

impl Batch for FjallBatch<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.batch.insert(self.keyspace, key, value);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.batch.remove(self.keyspace, key);
        Ok(())
    }
}

struct FjallReader(Keyspace);

impl Reader for FjallReader {
    fn get(&mut self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<bool> {
        match self.0.get(key)? {
            Some(v) => {
                f(&v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn scan(&mut self, start: &[u8], n: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<usize> {
        let mut seen = 0;
        for guard in self.0.range(start..).take(n) {
            let (k, v) = guard.into_inner()?;
            f(&k, &v);
            seen += 1;
        }
        Ok(seen)
    }
}

impl Store for FjallStore {
    fn write(&self, ops: &mut dyn FnMut(&mut dyn Batch) -> Result<()>) -> Result<()> {
        let mut batch = self.db.batch();
        if self.durable.load(Ordering::Relaxed) {
            batch = batch.durability(Some(PersistMode::SyncData));
        }
        let mut b = FjallBatch { batch, keyspace: &self.keyspace };
        ops(&mut b)?;
        b.batch.commit()?;
        Ok(())
    }

    fn set_durable(&mut self, durable: bool) -> Result<()> {
        self.durable.store(durable, Ordering::Relaxed);
        if durable {
            self.db.persist(PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(FjallReader(self.keyspace.clone())))
    }

    fn len(&self) -> Result<u64> {
        Ok(self.keyspace.len()? as u64)
    }

    fn compact(&mut self) -> Result<()> {
        self.keyspace.major_compact()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.persist(PersistMode::SyncAll)?;
        drop(self.keyspace);
        drop(self.db);
        Ok(())
    }
}
