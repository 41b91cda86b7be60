//! SQLite through rusqlite (bundled): a `WITHOUT ROWID` table, WAL journal, `synchronous=FULL`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Result, anyhow};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Batch, Reader, Store};

pub struct SqliteStore {
    path: PathBuf,
    cache_bytes: usize,
    /// The writer; readers open their own connections.
    conn: Mutex<Connection>,
}

fn connect(path: &Path, cache_bytes: usize) -> Result<Connection> {
    let conn = Connection::open(path)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    anyhow::ensure!(mode.eq_ignore_ascii_case("wal"), "SQLite refused WAL mode ({mode})");
    conn.execute_batch(&format!(
        "PRAGMA synchronous=FULL; PRAGMA cache_size=-{};
         CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;",
        cache_bytes / 1024
    ))?;
    Ok(conn)
}

impl SqliteStore {
    pub fn open(dir: &Path, cache_bytes: usize) -> Result<SqliteStore> {
        let path = dir.join("sqlite.db");
        let conn = connect(&path, cache_bytes)?;
        Ok(SqliteStore { path, cache_bytes, conn: Mutex::new(conn) })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn.lock().map_err(|_| anyhow!("connection lock poisoned"))
    }
}

struct SqliteBatch<'t, 'c>(&'t Transaction<'c>);

impl Batch for SqliteBatch<'_, '_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.0
            .prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")?
            .execute(params![key, value])?;
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.0.prepare_cached("DELETE FROM kv WHERE k = ?1")?.execute(params![key])?;
        Ok(())
    }
}

struct SqliteReader(Connection);

impl Reader for SqliteReader {
    fn get(&mut self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let mut stmt = self.0.prepare_cached("SELECT v FROM kv WHERE k = ?1")?;
        let found = stmt
            .query_row(params![key], |row| {
                f(row.get_ref(0)?.as_blob()?);
                Ok(())
            })
            .optional()?;
        Ok(found.is_some())
    }

    fn scan(&mut self, start: &[u8], n: usize, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<usize> {
        let mut stmt = self.0.prepare_cached("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")?;
        let mut rows = stmt.query(params![start, n as i64])?;
        let mut seen = 0;
        while let Some(row) = rows.next()? {
            f(row.get_ref(0)?.as_blob()?, row.get_ref(1)?.as_blob()?);
            seen += 1;
        }
        Ok(seen)
    }
}

impl Store for SqliteStore {
    fn write(&self, ops: &mut dyn FnMut(&mut dyn Batch) -> Result<()>) -> Result<()> {
        let mut conn = self.conn()?;
        let txn = conn.transaction()?;
        ops(&mut SqliteBatch(&txn))?;
        txn.commit()?;
        Ok(())
    }

    fn set_durable(&mut self, durable: bool) -> Result<()> {
        let level = if durable { "FULL" } else { "OFF" };
        self.conn()?.execute_batch(&format!("PRAGMA synchronous={level}"))?;
        if durable {
            // Make the unsynced commits durable: a checkpoint syncs the WAL and the database.
            self.conn()?.query_row("PRAGMA wal_checkpoint(FULL)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(SqliteReader(connect(&self.path, self.cache_bytes)?)))
    }

    fn len(&self) -> Result<u64> {
        let n: i64 = self.conn()?.query_row("SELECT COUNT(*) FROM kv", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn compact(&mut self) -> Result<()> {
        let conn = self.conn()?;
        conn.execute_batch("VACUUM")?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        let conn = self.conn.into_inner().map_err(|_| anyhow!("connection lock poisoned"))?;
        conn.close().map_err(|(_, e)| e)?;
        Ok(())
    }
}
