//! The real file system: `std::fs` with positioned I/O, reads served from a memory map.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use super::ReaderTable;
use super::mmap::Map;
use super::{FileIo, Vfs};

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdVfs;

struct StdFile {
    file: File,
    /// Reads go through the map; it is remapped when a read falls past its end. Shared, so a
    /// caller reading bytes in place ([`FileIo::with_bytes_at`]) holds the map it reads and no
    /// lock: the code it runs on them may write, and so remap or extend the file.
    map: Option<RwLock<Arc<Map>>>,
}

/// Below this many bytes a mapping is not worth its set-up.
const MIN_MAP_BYTES: u64 = 64 * 1024;

impl StdFile {
    fn new(file: File, mapped: bool) -> StdFile {
        StdFile { file, map: mapped.then(|| RwLock::new(Arc::new(Map::new_unmapped()))) }
    }

    /// A map holding the `len` bytes at `offset`, the file mapped again first when they lie
    /// past the map's end but inside the file (it has grown since it was mapped). `None`: this
    /// file is not mapped, or not those bytes (past the file's end, or a file too small to be
    /// worth a map); the caller reads them with `pread`.
    fn map_of(&self, offset: u64, len: usize) -> io::Result<Option<Arc<Map>>> {
        let Some(map) = &self.map else { return Ok(None) };
        let current = map.read().map_err(|_| io::Error::other("map lock poisoned"))?.clone();
        if current.bytes(offset, len).is_some() {
            return Ok(Some(current));
        }
        drop(current);
        let file_len = self.file.metadata()?.len();
        let end = offset.saturating_add(len as u64);
        if end > file_len || file_len < MIN_MAP_BYTES {
            return Ok(None);
        }
        let mut m = map.write().map_err(|_| io::Error::other("map lock poisoned"))?;
        if m.len() < end {
            *m = Arc::new(Map::new(&self.file, file_len)?);
        }
        Ok(Some(m.clone()))
    }
}

impl FileIo for StdFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        // The common case copies under the lock, without taking a share of the map.
        if let Some(map) = &self.map
            && let Ok(m) = map.read()
            && let Some(bytes) = m.bytes(offset, buf.len())
        {
            buf.copy_from_slice(bytes);
            return Ok(());
        }
        if let Some(map) = self.map_of(offset, buf.len())?
            && let Some(bytes) = map.bytes(offset, buf.len())
        {
            buf.copy_from_slice(bytes);
            return Ok(());
        }
        self.file.read_exact_at(buf, offset)
    }

    fn read_exact_at_unmapped(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn release_bytes_at(&self, offset: u64, len: usize) {
        if let Some(map) = &self.map
            && let Ok(m) = map.read()
        {
            // Bytes of an older map (remapped since) are let go of with it.
            m.release(offset, len);
        }
    }

    fn with_bytes_at(
        &self,
        offset: u64,
        len: usize,
        buf: &mut Vec<u8>,
        f: &mut dyn FnMut(&[u8]),
    ) -> io::Result<()> {
        // No lock is held while `f` runs: it may be a reader's callback that writes.
        if let Some(map) = self.map_of(offset, len)?
            && let Some(bytes) = map.bytes(offset, len)
        {
            f(bytes);
            return Ok(());
        }
        super::through_buffer(len, buf, |b| self.file.read_exact_at(b, offset), f)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if let Some(map) = &self.map {
            // Never leave a mapping longer than the file: touching it would fault.
            let mut m = map.write().map_err(|_| io::Error::other("map lock poisoned"))?;
            if m.len() > len {
                // A reader still holding the longer map reads only pages below `len`: the data
                // file is never cut below a page in use (see `mmap.rs`).
                *m = Arc::new(Map::new_unmapped());
            }
            self.file.set_len(len)
        } else {
            self.file.set_len(len)
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn try_lock(&self) -> io::Result<bool> {
        match self.file.try_lock() {
            Ok(()) => Ok(true),
            Err(fs::TryLockError::WouldBlock) => Ok(false),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

impl Vfs for StdVfs {
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileIo>> {
        let file = OpenOptions::new().read(true).write(writable).open(path)?;
        Ok(Arc::new(StdFile::new(file, true)))
    }

    fn open_unmapped(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let file = OpenOptions::new().read(true).open(path)?;
        Ok(Arc::new(StdFile::new(file, false)))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
        Ok(Arc::new(StdFile::new(file, true)))
    }

    fn open_or_create(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        Ok(Arc::new(StdFile::new(file, false)))
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    }

    fn scratch(&self, path: &Path) -> Option<io::Result<Arc<dyn FileIo>>> {
        Some(scratch_file(path).map(|file| Arc::new(StdFile::new(file, false)) as Arc<dyn FileIo>))
    }

    fn reader_table(&self, path: &Path) -> Option<ReaderTable> {
        Some(ReaderTable::for_store(path))
    }

    fn writer(&self, path: &Path) -> Option<io::Result<Option<Option<u32>>>> {
        let mut log = path.as_os_str().to_owned();
        log.push(".wal");
        Some(super::writer_of(Path::new(&log)))
    }

    fn stamp(&self, path: &Path) -> io::Result<Option<u64>> {
        use std::hash::{Hash, Hasher};
        use std::os::unix::fs::MetadataExt;
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let m = file.metadata()?;
        // The log's header names its checkpoint: it changes at every checkpoint even when the
        // length and the (coarse) modification time come out the same.
        let mut head = [0u8; 32];
        let got = file.read_at(&mut head, 0).unwrap_or(0);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec(), m.ctime_nsec(), &head[..got]).hash(&mut h);
        Ok(Some(h.finish()))
    }
}

/// An unnamed file on the store's disk: made in its reader table's directory (the reader that
/// asks has just taken a slot there), or in the system's temporary directory when there is none,
/// and unlinked at once. Only its owner can read it (mode 0600) while it has a name.
fn scratch_file(store: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let table = ReaderTable::for_store(store);
    let dir = if table.dir().is_dir() { table.dir().to_owned() } else { std::env::temp_dir() };
    let name = format!(".scratch.{}.{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let path = dir.join(name);
    let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path)?;
    fs::remove_file(&path)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped_len(file: &StdFile) -> u64 {
        file.map.as_ref().map_or(0, |m| m.read().unwrap().len())
    }

    /// A run read in place after the file has grown past its map maps the file again and reads
    /// the new bytes there, as a page read does (it read them with `pread` before).
    #[test]
    fn bytes_past_the_map_of_a_grown_file_are_read_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grown");
        std::fs::write(&path, vec![1u8; 128 * 1024]).unwrap();
        let mut page = vec![0u8; 4096];
        let std_file = StdFile::new(OpenOptions::new().read(true).write(true).open(&path).unwrap(), true);
        std_file.read_exact_at(&mut page, 0).unwrap();
        assert_eq!(mapped_len(&std_file), 128 * 1024);

        std_file.write_all_at(&[7u8; 64 * 1024], 128 * 1024).unwrap();
        let mut seen = Vec::new();
        std_file.with_bytes_at(128 * 1024 + 4096, 8192, &mut Vec::new(), &mut |b| seen = b.to_vec()).unwrap();
        assert_eq!(seen, vec![7u8; 8192]);
        assert_eq!(mapped_len(&std_file), 192 * 1024, "the grown file is mapped again");

        // Past the file's end: not mapped, and the read fails as a `pread` there does.
        let mut buf = Vec::new();
        assert!(std_file.with_bytes_at(190 * 1024, 8192, &mut buf, &mut |_| ()).is_err());
        assert_eq!(mapped_len(&std_file), 192 * 1024);
    }
}
