//! The reader table: which checkpoint each read-only handle, in any process, has pinned.
//!
//! It is a directory beside the store, `NAME.readers/`, of small slot files `0`, `1`, ... A
//! reader holds one slot for the life of its state by an exclusive OS lock on the slot's file
//! (`File::try_lock`), and writes into it the checkpoint it reads. The writer reads the table
//! before it reuses pages freed by a checkpoint: a slot whose lock it can take is free (its
//! reader closed it or died: the OS released the lock), a slot it cannot take is a live reader.
//! Nothing needs cleaning after a crash, and no file is ever shrunk or mapped.
//!
//! ```text
//! slot file (64 bytes)
//!   0  4  magic "WKRD"
//!   4  4  process id of the reader
//!   8  8  file id of the store
//!  16  8  checkpoint id the reader has pinned
//!  24  8  last log sequence number its state includes
//!  32  8  pinned since, unix ms
//!  40 20  zero
//!  60  4  CRC32 of bytes 0..60
//! ```

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Slots in one table: a reader finding all of them held gets an error.
pub(crate) const MAX_READER_SLOTS: u32 = 256;
const SLOT_BYTES: usize = 64;
const SLOT_MAGIC: [u8; 4] = *b"WKRD";

/// What one reader has pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReaderRecord {
    pub pid: u32,
    pub file_id: u64,
    pub checkpoint_id: u64,
    pub log_seq: u64,
    pub since_ms: u64,
}

impl ReaderRecord {
    fn encode(&self) -> [u8; SLOT_BYTES] {
        let mut b = [0u8; SLOT_BYTES];
        b[0..4].copy_from_slice(&SLOT_MAGIC);
        b[4..8].copy_from_slice(&self.pid.to_le_bytes());
        b[8..16].copy_from_slice(&self.file_id.to_le_bytes());
        b[16..24].copy_from_slice(&self.checkpoint_id.to_le_bytes());
        b[24..32].copy_from_slice(&self.log_seq.to_le_bytes());
        b[32..40].copy_from_slice(&self.since_ms.to_le_bytes());
        let crc = crc32fast::hash(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8; SLOT_BYTES]) -> Option<ReaderRecord> {
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
        if b[0..4] != SLOT_MAGIC || crc32fast::hash(&b[..60]).to_le_bytes() != b[60..64] {
            return None;
        }
        Some(ReaderRecord {
            pid: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            file_id: u64_at(8),
            checkpoint_id: u64_at(16),
            log_seq: u64_at(24),
            since_ms: u64_at(32),
        })
    }
}

/// One held slot as the writer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeldSlot {
    /// A reader and what it pinned.
    Pinned(u32, ReaderRecord),
    /// A reader still writing its slot (or one whose slot does not read back): it may pin any
    /// checkpoint, so the writer holds every page back for it.
    Unknown(u32),
}

/// The reader table of one store.
#[derive(Debug, Clone)]
pub struct ReaderTable {
    dir: PathBuf,
}

/// A slot a reader holds: released (its lock dropped) when this is dropped.
#[derive(Debug)]
pub struct ReaderSlot {
    file: File,
    #[cfg_attr(not(test), allow(dead_code))]
    index: u32,
}

impl ReaderTable {
    /// The table of the store at `store`: the directory `<store>.readers`.
    pub(crate) fn for_store(store: &Path) -> ReaderTable {
        let mut name = store.as_os_str().to_owned();
        name.push(".readers");
        ReaderTable { dir: PathBuf::from(name) }
    }

    /// The table's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Take a free slot, creating the table if there is none yet.
    pub(crate) fn acquire(&self) -> io::Result<ReaderSlot> {
        match fs::create_dir(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && self.dir.is_dir() => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot create the reader table {}: {e}", self.dir.display()),
                ));
            }
        }
        for index in 0..MAX_READER_SLOTS {
            let path = self.dir.join(index.to_string());
            let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
            match file.try_lock() {
                Ok(()) => return Ok(ReaderSlot { file, index }),
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "the reader table {} is full: {MAX_READER_SLOTS} readers have this store open",
            self.dir.display()
        )))
    }

    /// Every held slot. A table that does not exist has none.
    pub(crate) fn scan(&self) -> io::Result<Vec<HeldSlot>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut held = Vec::new();
        for entry in entries {
            let entry = entry?;
            let Some(index) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|i| *i < MAX_READER_SLOTS)
            else {
                continue;
            };
            let file = match File::open(entry.path()) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            match file.try_lock_shared() {
                // Nobody holds it: a free slot (closed, or its reader died).
                Ok(()) => continue,
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(e),
            }
            let mut b = [0u8; SLOT_BYTES];
            let record = match file.read_exact_at(&mut b, 0) {
                Ok(()) => ReaderRecord::decode(&b),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => None,
                Err(e) => return Err(e),
            };
            held.push(record.map_or(HeldSlot::Unknown(index), |r| HeldSlot::Pinned(index, r)));
        }
        Ok(held)
    }
}

impl ReaderSlot {
    /// Write what this reader pins. The slot is read by writers in other processes through the
    /// page cache: no sync is needed (a crash ends the reader too).
    pub(crate) fn publish(&self, record: &ReaderRecord) -> io::Result<()> {
        self.file.write_all_at(&record.encode(), 0)
    }

    /// The slot's number in its table.
    #[cfg(test)]
    fn index(&self) -> u32 {
        self.index
    }
}

/// Whether a writer holds the store's lock (an exclusive lock on its log, `log`), and which
/// process, as the kernel's lock table (`/proc/locks` on Linux) says: `Ok(None)` when no writer
/// has the store open, `Ok(Some(None))` when one does but its process cannot be told.
pub(crate) fn writer_of(log: &Path) -> io::Result<Option<Option<u32>>> {
    use std::os::unix::fs::MetadataExt;
    let file = match File::open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        // Nobody holds the exclusive lock: no writer.
        Ok(()) => return Ok(None),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => return Err(e),
    }
    let meta = file.metadata()?;
    let dev = meta.dev();
    // The kernel's encoding of a device number: major in bits 8..20 and 32..44, minor in the
    // rest; /proc/locks prints them in hex.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
    let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
    let want = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let table = fs::read_to_string("/proc/locks").unwrap_or_default();
    let pid = table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1394 fe:00:10010644 0 EOF"
        let at = fields.iter().position(|f| *f == "WRITE")?;
        let (pid, node) = (fields.get(at + 1)?, fields.get(at + 2)?);
        (*node == want).then(|| pid.parse::<u32>().ok()).flatten()
    });
    Ok(Some(pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(checkpoint_id: u64) -> ReaderRecord {
        ReaderRecord { pid: 7, file_id: 9, checkpoint_id, log_seq: 3, since_ms: 1 }
    }

    #[test]
    fn held_slots_are_seen_and_dropped_ones_are_free() {
        let dir = tempfile::tempdir().unwrap();
        let table = ReaderTable::for_store(&dir.path().join("s.db"));
        assert_eq!(table.scan().unwrap(), vec![], "no table yet: no readers");
        let a = table.acquire().unwrap();
        let b = table.acquire().unwrap();
        let (ia, ib) = (a.index(), b.index());
        assert_ne!(ia, ib);
        let mut seen = table.scan().unwrap();
        seen.sort_by_key(|h| format!("{h:?}"));
        assert_eq!(seen, vec![HeldSlot::Unknown(ia), HeldSlot::Unknown(ib)], "not written yet");
        a.publish(&record(5)).unwrap();
        b.publish(&record(6)).unwrap();
        let mut seen = table.scan().unwrap();
        seen.sort_by_key(|h| match h {
            HeldSlot::Pinned(_, r) => r.checkpoint_id,
            HeldSlot::Unknown(_) => 0,
        });
        assert_eq!(seen, vec![HeldSlot::Pinned(ia, record(5)), HeldSlot::Pinned(ib, record(6))]);
        drop(a);
        assert_eq!(table.scan().unwrap(), vec![HeldSlot::Pinned(ib, record(6))]);
        assert_eq!(table.acquire().unwrap().index(), ia, "a free slot is taken again");
    }

    #[test]
    fn the_writer_is_named_by_the_kernels_lock_table() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("s.db.wal");
        assert_eq!(writer_of(&log).unwrap(), None, "no log: no writer");
        let file = File::create(&log).unwrap();
        assert_eq!(writer_of(&log).unwrap(), None, "not locked: no writer");
        file.try_lock().unwrap();
        assert_eq!(writer_of(&log).unwrap(), Some(Some(std::process::id())));
        drop(file);
        assert_eq!(writer_of(&log).unwrap(), None, "the lock went with the file");
    }

    #[test]
    fn a_damaged_slot_pins_everything() {
        let dir = tempfile::tempdir().unwrap();
        let table = ReaderTable::for_store(&dir.path().join("s.db"));
        let a = table.acquire().unwrap();
        a.publish(&record(5)).unwrap();
        a.file.write_all_at(&[0xff], 20).unwrap();
        assert_eq!(table.scan().unwrap(), vec![HeldSlot::Unknown(a.index())]);
    }
}
