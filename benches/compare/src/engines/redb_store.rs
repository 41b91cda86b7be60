//! redb: one table, durability chosen per write transaction.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTableMetadata, Table, TableDefinition,
};

use super::{Batch, Reader, Store};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

pub struct RedbStore {
    db: Database,
    durable: AtomicBool,
}

impl RedbStore {
    pub fn open(dir: &Path, cache_bytes: usize) -> Result<RedbStore> {
        let db = Database::builder().set_cache_size(cache_bytes).create(dir.join("redb.db"))?;
        // The table exists from the start, so readers never find it missing.
        let txn = db.begin_write()?;
        txn.open_table(TABLE)?;
        txn.commit()?;
        Ok(RedbStore { db, durable: AtomicBool::new(true) })
    }
}

struct RedbBatch<'t>(Table<'t, &'static [u8], &'static [u8]>);

impl Batch for RedbBatch<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.0.insert(key, value)?;
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.0.remove(key)?;
        Ok(())
    }
}

struct RedbReader(ReadOnlyTable<&'static [u8], &'static [u8]>);

impl Reader for RedbReader {
    fn get(&mut self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<bool> {
        match self.0.get(key)? {
            Some(v) => {
                f(v.value());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn scan(&mut self, start: &[u8], n: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<usize> {
        let mut seen = 0;
        for item in self.0.range(start..)?.take(n) {
            let (k, v) = item?;
            f(k.value(), v.value());
            seen += 1;
        }
        Ok(seen)
    }
}

impl Store for RedbStore {
    fn write(&self, ops: &mut dyn FnMut(&mut dyn Batch) -> Result<()>) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        let durability =
            if self.durable.load(Ordering::Relaxed) { Durability::Immediate } else { Durability::None };
        txn.set_durability(durability)?;
        {
            let mut batch = RedbBatch(txn.open_table(TABLE)?);
            ops(&mut batch)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn set_durable(&mut self, durable: bool) -> Result<()> {
        self.durable.store(durable, Ordering::Relaxed);
        if durable {
            // Commits with Durability::None become durable with the next durable commit.
            self.write(&mut |_| Ok(()))?;
        }
        Ok(())
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        let txn = self.db.begin_read()?;
        Ok(Box::new(RedbReader(txn.open_table(TABLE)?)))
    }

    fn len(&self) -> Result<u64> {
        Ok(self.db.begin_read()?.open_table(TABLE)?.len()?)
    }

    fn compact(&mut self) -> Result<()> {
        while self.db.compact()? {}
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        drop(self.db);
        Ok(())
    }
}
