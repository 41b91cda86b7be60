//! One small adapter per engine, all behind the same three traits, so every workload is written
//! once and runs the same way on each engine.

use std::path::Path;

use anyhow::{Result, bail};

mod fjall_store;
mod lmdb_store;
mod ours;
mod redb_store;
mod sqlite_store;

/// The writes of one transaction.
pub trait Batch {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()>;
    fn delete(&mut self, key: &[u8]) -> Result<()>;
}

/// A reader (a read transaction where the engine has them), used by one thread.
pub trait Reader {
    /// Calls `f` with the value of `key`; `Ok(false)` when the key is absent.
    fn get(&mut self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<bool>;
    /// Calls `f` with the value of `key` in consecutive pieces, however the engine lends a large
    /// value most cheaply; `Ok(false)` when the key is absent. One piece, the whole value, unless
    /// the engine reads values in pieces.
    fn get_chunks(&mut self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<bool> {
        self.get(key, f)
    }
    /// Calls `f` with at most `n` pairs in key order from `start` on; returns how many it saw.
    fn scan(&mut self, start: &[u8], n: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<usize>;
}

/// An open database with one table of byte keys and byte values.
pub trait Store: Sync {
    /// Runs `ops` inside one transaction and commits it with the current durability.
    fn write(&self, ops: &mut dyn FnMut(&mut dyn Batch) -> Result<()>) -> Result<()>;
    /// Durable (the default): a commit is on disk when `write` returns. Not durable: commits may
    /// be lost in a crash until a later durable commit or `close`.
    fn set_durable(&mut self, durable: bool) -> Result<()>;
    fn reader(&self) -> Result<Box<dyn Reader + '_>>;
    fn len(&self) -> Result<u64>;
    /// Give free space back to the file system (each engine's own way; see [`Kind::compaction`]).
    fn compact(&mut self) -> Result<()>;
    fn close(self: Box<Self>) -> Result<()>;
    /// The engine's own account of its pages, where it has one (for the notes).
    fn stats(&self) -> Option<String> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Redb,
    Lmdb,
    Fjall,
    Sqlite,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Ours, Kind::Redb, Kind::Lmdb, Kind::Fjall, Kind::Sqlite];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Redb => "redb",
            Kind::Lmdb => "lmdb",
            Kind::Fjall => "fjall",
            Kind::Sqlite => "sqlite",
        }
    }

    pub fn parse(name: &str) -> Result<Kind> {
        match Kind::ALL.iter().find(|k| k.name() == name) {
            Some(k) => Ok(*k),
            None => bail!("unknown engine {name:?}: expected one of ours, redb, lmdb, fjall, sqlite"),
        }
    }

    /// How the engine is set up, for the output.
    pub fn setup(self) -> &'static str {
        match self {
            Kind::Ours => {
                "wind-kvstore (this crate), default page size, Durability::Immediate (Buffered for non-durable)"
            }
            Kind::Redb => "redb 4, Durability::Immediate (None for non-durable)",
            Kind::Lmdb => {
                "LMDB through heed 0.22, default flags (MDB_NOSYNC for non-durable); its cache is the OS page cache"
            }
            Kind::Fjall => {
                "fjall 3, each durable commit persisted with PersistMode::SyncData (Buffer for non-durable)"
            }
            Kind::Sqlite => {
                "SQLite (rusqlite, bundled), WITHOUT ROWID table, journal_mode=WAL, synchronous=FULL (OFF for non-durable)"
            }
        }
    }

    /// What "compaction" means for the engine.
    pub fn compaction(self) -> &'static str {
        match self {
            Kind::Ours => "KVStore::compact",
            Kind::Redb => "Database::compact until it has nothing left to do",
            Kind::Lmdb => "mdb_env_copy2 with MDB_CP_COMPACT, then the copy replaces the file",
            Kind::Fjall => "Keyspace::major_compact",
            Kind::Sqlite => "VACUUM, then wal_checkpoint(TRUNCATE)",
        }
    }
}

/// Open (creating if needed) the engine's database inside `dir`, with a cache of `cache_bytes`.
pub fn open(kind: Kind, dir: &Path, cache_bytes: usize) -> Result<Box<dyn Store>> {
    std::fs::create_dir_all(dir)?;
    Ok(match kind {
        Kind::Ours => Box::new(ours::Ours::open(dir, cache_bytes)?),
        Kind::Redb => Box::new(redb_store::RedbStore::open(dir, cache_bytes)?),
        Kind::Lmdb => Box::new(lmdb_store::LmdbStore::open(dir)?),
        Kind::Fjall => Box::new(fjall_store::FjallStore::open(dir, cache_bytes)?),
        Kind::Sqlite => Box::new(sqlite_store::SqliteStore::open(dir, cache_bytes)?),
    })
}
