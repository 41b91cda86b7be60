//! How a store is opened.

use std::sync::Arc;
use std::time::Duration;

use crate::io::Vfs;

/// When a write is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A write is durable when the call returns: its log record has been fsynced. Concurrent
    /// writers share one fsync (group commit).
    #[default]
    Immediate,
    /// Writes are buffered and made durable by [`KVStore::flush`](crate::KVStore::flush), a
    /// checkpoint or `close`.
    /// A crash loses a suffix of the recent writes, never part of a batch and never older data.
    Buffered,
}

/// Options for [`KVStore`](crate::KVStore): `OpenOptions::new().page_size(16384).open("x.db")`.
#[derive(Clone)]
pub struct OpenOptions {
    pub(crate) identifier: Option<String>,
    pub(crate) page_size: u32,
    pub(crate) cache_bytes: usize,
    pub(crate) durability: Durability,
    pub(crate) read_only: bool,
    pub(crate) create: bool,
    pub(crate) lock_timeout: Duration,
    pub(crate) checkpoint_log_bytes: u64,
    pub(crate) reader_hold_bytes: u64,
    pub(crate) write_buffer_bytes: Option<usize>,
    pub(crate) vfs: Option<Arc<dyn Vfs>>,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("identifier", &self.identifier)
            .field("page_size", &self.page_size)
            .field("cache_bytes", &self.cache_bytes)
            .field("durability", &self.durability)
            .field("read_only", &self.read_only)
            .field("create", &self.create)
            .field("lock_timeout", &self.lock_timeout)
            .field("checkpoint_log_bytes", &self.checkpoint_log_bytes)
            .field("reader_hold_bytes", &self.reader_hold_bytes)
            .field("write_buffer_bytes", &self.write_buffer_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            identifier: None,
            page_size: crate::layout::file::DEFAULT_PAGE_SIZE,
            cache_bytes: DEFAULT_CACHE_BYTES,
            durability: Durability::Immediate,
            read_only: false,
            create: true,
            lock_timeout: Duration::ZERO,
            checkpoint_log_bytes: DEFAULT_CHECKPOINT_LOG_BYTES,
            reader_hold_bytes: DEFAULT_READER_HOLD_BYTES,
            write_buffer_bytes: None,
            vfs: None,
        }
    }
}

/// Default size of the page cache: enough for the upper levels of a tree of tens of millions of
/// keys, small enough for an embedded library.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// The largest write buffer (see [`OpenOptions::write_buffer_bytes`]).
pub const MAX_WRITE_BUFFER_BYTES: usize = 256 << 20;

/// A writer holds back at most this many bytes of freed pages for readers in other processes
/// before it reuses the oldest of them (see [`OpenOptions::reader_hold_bytes`]).
pub const DEFAULT_READER_HOLD_BYTES: u64 = 1 << 30;

/// The log is checkpointed into the data file once it grows past this many bytes. It bounds both
/// recovery time and the memory held by pages changed since the last checkpoint.
pub const DEFAULT_CHECKPOINT_LOG_BYTES: u64 = 64 << 20;

impl OpenOptions {
    /// The defaults: create if missing, writable, [`Durability::Immediate`], 4 KiB pages, a
    /// [`DEFAULT_CACHE_BYTES`] cache, no lock wait, checkpoints every
    /// [`DEFAULT_CHECKPOINT_LOG_BYTES`] of log.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// The identifier written into a newly created store (default `KVStore`). An existing store
    /// keeps its own.
    pub fn identifier(&mut self, identifier: &str) -> &mut Self {
        self.identifier = Some(identifier.to_owned());
        self
    }

    /// Page size for a new store: a power of two from 1 KiB to 64 KiB. Ignored when opening an
    /// existing store, whose page size is in its header.
    pub fn page_size(&mut self, bytes: u32) -> &mut Self {
        self.page_size = bytes;
        self
    }

    /// Upper bound of the pages held in memory, in bytes: the page cache and the writer's changed
    /// pages not yet written (up to half of it) share it, the cache giving up what they take.
    pub fn cache_bytes(&mut self, bytes: usize) -> &mut Self {
        self.cache_bytes = bytes;
        self
    }

    /// When a write is on disk (default [`Durability::Immediate`]). It holds for this handle only:
    /// the file does not record it.
    pub fn durability(&mut self, durability: Durability) -> &mut Self {
        self.durability = durability;
        self
    }

    /// Open without the write lock and without writing anything; every write returns
    /// [`crate::Error::ReadOnly`].
    pub fn read_only(&mut self, read_only: bool) -> &mut Self {
        self.read_only = read_only;
        self
    }

    /// Create the store if it does not exist (default `true`).
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// How long to wait for another writer to release the lock before returning
    /// [`crate::Error::Locked`] (default: do not wait).
    ///
    /// The lock is the operating system's lock on the open file, and a process started by
    /// another thread shares this process's open files between its fork and its exec: a store
    /// closed and opened again at that moment can find its own lock still held for an instant.
    /// A program that reopens stores while it starts processes should wait a little here.
    pub fn lock_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.lock_timeout = timeout;
        self
    }

    /// Checkpoint once the log passes this many bytes (default 64 MiB; at least 64 KiB), or
    /// sooner, when the write buffer fills ([`OpenOptions::write_buffer_bytes`]).
    pub fn checkpoint_log_bytes(&mut self, bytes: u64) -> &mut Self {
        self.checkpoint_log_bytes = bytes;
        self
    }

    /// How many bytes of freed pages a writer keeps from reuse for readers in other processes
    /// that pinned an older checkpoint (default [`DEFAULT_READER_HOLD_BYTES`], 1 GiB): the file
    /// grows by at most about this much while a reader stays pinned. Past it the writer reuses
    /// the pages freed longest ago; a reader that still pins that old state then gets
    /// [`Error::StalePage`](crate::Error::StalePage) where it reaches one, never a wrong answer,
    /// and moves on with `refresh()`. `u64::MAX`: hold everything, whatever the file grows to.
    pub fn reader_hold_bytes(&mut self, bytes: u64) -> &mut Self {
        self.reader_hold_bytes = bytes;
        self
    }

    /// Bytes of small commits held in memory, in front of the tree, before a checkpoint folds
    /// them in (default: a quarter of [`OpenOptions::cache_bytes`], from 64 KiB to 16 MiB; at
    /// most [`MAX_WRITE_BUFFER_BYTES`]). A commit whose values all fit in a page, of at most
    /// half this size, waits there (after its log record, as every commit): many commits then
    /// change each page once. It also bounds what a replay after a crash reads back into
    /// memory. `0`: no buffer; every commit changes the tree's pages at once, and the log
    /// grows to [`OpenOptions::checkpoint_log_bytes`].
    pub fn write_buffer_bytes(&mut self, bytes: usize) -> &mut Self {
        self.write_buffer_bytes = Some(bytes);
        self
    }

    /// The engine's memory: the cache, and the write buffer.
    pub(crate) fn memory(&self) -> (usize, usize) {
        let buffer = self.write_buffer_bytes.unwrap_or((self.cache_bytes / 4).clamp(64 << 10, 16 << 20));
        (self.cache_bytes, buffer.min(MAX_WRITE_BUFFER_BYTES))
    }

    /// Use another file system layer (an in-memory or fault-injecting one in tests).
    pub fn vfs(&mut self, vfs: Arc<dyn Vfs>) -> &mut Self {
        self.vfs = Some(vfs);
        self
    }
}
