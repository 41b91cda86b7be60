//! LMDB through heed: the unnamed database of one environment.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use heed::types::Bytes;
use heed::{CompactionOption, Database, Env, EnvFlags, EnvOpenOptions, FlagSetMode, RoTxn, RwTxn, WithTls};

use super::{Batch, Reader, Store};

/// Address space reserved for the map; LMDB grows the file only as pages are used.
const MAP_BYTES: usize = 64 << 30;

type Db = Database<Bytes, Bytes>;

pub struct LmdbStore {
    dir: PathBuf,
    env: Option<Env>,
    db: Db,
}

fn open_env(dir: &Path) -> Result<(Env, Db)> {
    // SAFETY (heed's contract): this process opens the environment once and nothing else
    // changes its files while it is open.
    let env = unsafe { EnvOpenOptions::new().map_size(MAP_BYTES).open(dir)? };
    let mut txn = env.write_txn()?;
    let db: Db = env.create_database(&mut txn, None)?;
    txn.commit()?;
    Ok((env, db))
}

impl LmdbStore {
    pub fn open(dir: &Path) -> Result<LmdbStore> {
        let (env, db) = open_env(dir)?;
        Ok(LmdbStore { dir: dir.to_owned(), env: Some(env), db })
    }

    fn env(&self) -> Result<&Env> {
        self.env.as_ref().context("the environment is closed")
    }
}

struct LmdbBatch<'t, 'e> {
    txn: &'t mut RwTxn<'e>,
    db: Db,
}

impl Batch for LmdbBatch<'_, '_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.put(self.txn, key, value)?;
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.db.delete(self.txn, key)?;
        Ok(())
    }
}

struct LmdbReader<'e> {
    txn: RoTxn<'e, WithTls>,
    db: Db,
}

impl Reader for LmdbReader<'_> {
    fn get(&mut self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<bool> {
        match self.db.get(&self.txn, key)? {
            Some(v) => {
                f(v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn scan(&mut self, start: &[u8], n: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<usize> {
        let range: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Included(start), Bound::Unbounded);
        let mut seen = 0;
        for item in self.db.range(&self.txn, &range)?.take(n) {
            let (k, v) = item?;
            f(k, v);
            seen += 1;
        }
        Ok(seen)
    }
}

impl Store for LmdbStore {
    fn write(&self, ops: &mut dyn FnMut(&mut dyn Batch) -> Result<()>) -> Result<()> {
        let env = self.env()?;
        let mut txn = env.write_txn()?;
        ops(&mut LmdbBatch { txn: &mut txn, db: self.db })?;
        txn.commit()?;
        Ok(())
    }

    fn set_durable(&mut self, durable: bool) -> Result<()> {
        let env = self.env()?;
        let mode = if durable { FlagSetMode::Disable } else { FlagSetMode::Enable };
        // SAFETY (heed's contract): no transaction is open while the flag changes.
        unsafe { env.set_flags(EnvFlags::NO_SYNC, mode)? };
        if durable {
            env.force_sync()?;
        }
        Ok(())
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(LmdbReader { txn: self.env()?.read_txn()?, db: self.db }))
    }

    fn len(&self) -> Result<u64> {
        let txn = self.env()?.read_txn()?;
        Ok(self.db.len(&txn)?)
    }

    fn compact(&mut self) -> Result<()> {
        // LMDB compacts by copying: write a compacted copy, close, move it over the data file.
        let copy = self.dir.join("compacted.mdb");
        self.env()?.copy_to_path(&copy, CompactionOption::Enabled)?.sync_all()?;
        if let Some(env) = self.env.take() {
            env.prepare_for_closing().wait();
        }
        std::fs::rename(&copy, self.dir.join("data.mdb"))?;
        let (env, db) = open_env(&self.dir)?;
        self.env = Some(env);
        self.db = db;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        if let Some(env) = self.env {
            env.prepare_for_closing().wait();
        }
        Ok(())
    }
}
