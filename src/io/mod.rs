//! The file system, behind two small traits so tests can put a crashing or failing layer under
//! the engine. The engine calls nothing else: every byte it reads or writes and every sync goes
//! through [`FileIo`], every file it creates, renames or removes through [`Vfs`].

#[cfg(feature = "fault-injection")]
pub mod faulty;
mod mmap;
mod reader_table;
mod std_fs;

use std::io;
use std::path::Path;
use std::sync::Arc;

#[cfg(feature = "fault-injection")]
pub use faulty::{FaultPlan, FaultyVfs};
pub(crate) use reader_table::{HeldSlot, ReaderRecord, writer_of};
pub use reader_table::{ReaderSlot, ReaderTable};
pub use std_fs::StdVfs;

/// One open file.
pub trait FileIo: Send + Sync {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the length is 0.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Fill `buf` from `offset`; reading past the end is an `UnexpectedEof` error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// [`FileIo::read_exact_at`] through a copy that leaves nothing of the file mapped in this
    /// process: for a large value's pages, read once (mapped, they would count in the process's
    /// resident memory for as long as the map lives). The default is `read_exact_at`.
    fn read_exact_at_unmapped(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_exact_at(buf, offset)
    }
    /// Let go of the `len` bytes at `offset` if [`FileIo::with_bytes_at`] left them mapped in
    /// memory: they were read once and will not be soon again. The default does nothing.
    fn release_bytes_at(&self, _offset: u64, _len: usize) {}
    /// Call `f` with the `len` bytes at `offset`, read once and not kept (a run of a large
    /// value's pages): in place where the implementation holds them in memory already (a memory
    /// map), else read into `buf` (grown to `len` if shorter) first. The default reads them with
    /// [`FileIo::read_exact_at`]. `f` may use this file while it runs (it can be a reader's
    /// callback that writes to the store, extending the file): hold no lock across it.
    fn with_bytes_at(
        &self,
        offset: u64,
        len: usize,
        buf: &mut Vec<u8>,
        f: &mut dyn FnMut(&[u8]),
    ) -> io::Result<()> {
        through_buffer(len, buf, |b| self.read_exact_at(b, offset), f)
    }
    /// Write all of `buf` at `offset`, growing the file if needed.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Cut the file to `len` bytes, or extend it with zeros.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Make every write so far durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Take the exclusive write lock without waiting; `Ok(false)` when someone else holds it.
    fn try_lock(&self) -> io::Result<bool>;
}

/// The directory side: opening, renaming and removing files.
pub trait Vfs: Send + Sync {
    /// Open an existing file; `writable` asks for write access. Reads may go through a memory
    /// map: only for files that no process ever shrinks (the data file).
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileIo>>;
    /// Open an existing file for reading without ever mapping it: for a file another process
    /// may cut shorter at any moment (the log, which the writer cuts at each checkpoint), where
    /// a read through a map past the new end would kill the reader with SIGBUS. A read past the
    /// end is an ordinary `UnexpectedEof` instead.
    fn open_unmapped(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        self.open(path, false)
    }
    /// Create a file (truncating any that exists) for reading and writing.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn FileIo>>;
    /// Open a file for reading and writing, creating it empty if it does not exist.
    fn open_or_create(&self, path: &Path) -> io::Result<Arc<dyn FileIo>>;
    /// Whether a file exists at `path`.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Remove the file at `path`; like a rename, durable only after [`Vfs::sync_dir`].
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Atomically replace `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Make renames and creations in the directory of `path` durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// The reader table of the store at `path` (see `reader_table.rs`), where this file system
    /// has one: read-only handles pin their checkpoint in it and the writer reads it before
    /// reusing pages. `None` (the default) means readers in other processes cannot be seen.
    fn reader_table(&self, path: &Path) -> Option<ReaderTable> {
        let _ = path;
        None
    }
    /// A private scratch file for the store at `path`, removed from its directory as soon as it
    /// is made (so it is gone once dropped, whatever happens to the process): where a read-only
    /// handle keeps the pages of its replay of the log instead of in memory. `None` (the
    /// default): this file system has none, and those pages stay in memory.
    fn scratch(&self, path: &Path) -> Option<io::Result<Arc<dyn FileIo>>> {
        let _ = path;
        None
    }
    /// Whether a writer holds the lock of the store at `path` and its process id, where this
    /// file system can tell (`None`: it cannot; see [`crate::KVStore::writer`]).
    fn writer(&self, path: &Path) -> Option<io::Result<Option<Option<u32>>>> {
        let _ = path;
        None
    }
    /// A number that changes whenever the file at `path` is written, replaced or resized, read
    /// without mapping it (a read-only handle polls it to learn of other processes' commits);
    /// `None` when there is no file. The default reads its length and first 512 bytes.
    fn stamp(&self, path: &Path) -> io::Result<Option<u64>> {
        use std::hash::{Hash, Hasher};
        if !self.exists(path)? {
            return Ok(None);
        }
        let file = self.open_unmapped(path)?;
        let len = file.len()?;
        let mut head = vec![0u8; usize::try_from(len.min(512)).unwrap_or(512)];
        match file.read_exact_at(&mut head, 0) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
            other => other?,
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (len, head).hash(&mut h);
        Ok(Some(h.finish()))
    }
}

/// Read `len` bytes with `read` into `buf` (grown to `len` if shorter) and call `f` with them:
/// [`FileIo::with_bytes_at`] where the bytes are not in memory already.
pub(crate) fn through_buffer(
    len: usize,
    buf: &mut Vec<u8>,
    read: impl FnOnce(&mut [u8]) -> io::Result<()>,
    f: &mut dyn FnMut(&[u8]),
) -> io::Result<()> {
    if buf.len() < len {
        buf.resize(len, 0);
    }
    read(&mut buf[..len])?;
    f(&buf[..len]);
    Ok(())
}
