//! Opening a store: checking the options, taking the lock, creating a new file, reading the file
//! header and the meta slot in force, then replaying the log (`recovery.rs`).

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::paths::{log_path, temp_path};
use super::recovery::recover;
use super::{KVStore, StoreState, check_identifier};
use crate::engine::{Engine, Versions};
use crate::error::{Error, Result};
use crate::inspect::RecoveryReport;
use crate::io::{FileIo, StdVfs, Vfs};
use crate::layout::file::{
    self, DEFAULT_IDENTIFIER, FILE_HEADER_BYTES, FileHeader, HeaderError, META_SLOT_BYTES, META_SLOT_OFFSETS,
    Meta, now_ms, valid_page_size,
};
use crate::layout::node::{Leaf, Node};
use crate::options::OpenOptions;
use crate::wal::LOG_HEADER_BYTES;
use crate::wal::writer::LogWriter;

/// The smallest checkpoint threshold accepted: below it checkpoints would dominate.
const MIN_CHECKPOINT_LOG_BYTES: u64 = 64 * 1024;
/// How often a writer waiting for the lock (`lock_timeout`) tries again.
const LOCK_RETRY: Duration = Duration::from_millis(10);

impl KVStore {
    /// Open the store at `path`, creating it (with `identifier`, default `KVStore`) if missing.
    /// An existing store keeps the identifier in its file.
    pub fn open(path: impl AsRef<Path>, identifier: Option<&str>) -> Result<KVStore> {
        let mut options = OpenOptions::new();
        if let Some(id) = identifier {
            options.identifier(id);
        }
        options.open(path)
    }

    pub(crate) fn open_with(path: &Path, opts: &OpenOptions) -> Result<KVStore> {
        KVStore::open_continuing(path, opts, None)
    }

    /// Open; with `versions`, the states it publishes continue the numbering (and keep the
    /// snapshots) of the handle it replaces (`refresh`).
    pub(super) fn open_continuing(
        path: &Path,
        opts: &OpenOptions,
        versions: Option<Arc<Versions>>,
    ) -> Result<KVStore> {
        if !valid_page_size(opts.page_size) {
            return Err(Error::InvalidOption(format!(
                "page size {} is not a power of two from 1024 to 65536",
                opts.page_size
            )));
        }
        if opts.checkpoint_log_bytes < MIN_CHECKPOINT_LOG_BYTES {
            return Err(Error::InvalidOption(format!(
                "checkpoint_log_bytes must be at least {MIN_CHECKPOINT_LOG_BYTES}"
            )));
        }
        let identifier = opts.identifier.as_deref().unwrap_or(DEFAULT_IDENTIFIER);
        check_identifier(identifier)?;
        let vfs: Arc<dyn Vfs> = opts.vfs.clone().unwrap_or_else(|| Arc::new(StdVfs));
        let log_path = log_path(path);

        let (data, log_file, log_is_new) = if opts.read_only {
            if !vfs.exists(path)? {
                return Err(Error::NotFound { path: path.to_owned() });
            }
            // The writer cuts the log at every checkpoint: never read it through a map.
            let log = if vfs.exists(&log_path)? { Some(vfs.open_unmapped(&log_path)?) } else { None };
            (vfs.open(path, false)?, log, false)
        } else {
            if !opts.create && !vfs.exists(path)? {
                return Err(Error::NotFound { path: path.to_owned() });
            }
            // The log is also the lock: it is never replaced, unlike the data file.
            let log_is_new = !vfs.exists(&log_path)?;
            let log = vfs.open_or_create(&log_path)?;
            lock(&*log, path, opts.lock_timeout)?;
            let tmp = temp_path(path);
            if vfs.exists(&tmp)? {
                // A compaction or creation that did not finish: the store file is whole without it.
                vfs.remove(&tmp)?;
            }
            if !vfs.exists(path)? {
                if !opts.create {
                    return Err(Error::NotFound { path: path.to_owned() });
                }
                // A log left by a store whose file was removed: empty, it is just reset; with
                // records in it, it is refused rather than guessed about.
                if log.len()? > LOG_HEADER_BYTES {
                    return Err(Error::LogCorrupted {
                        offset: 0,
                        reason: format!(
                            "{} holds commits but its store file is missing; remove the log to start afresh",
                            log_path.display()
                        ),
                    });
                }
                log.set_len(0)?;
                // Syncs the directory: the new log's entry is durable with the store's.
                create_file(&*vfs, path, opts.page_size, identifier)?;
            } else if log_is_new {
                // A store without its log (copied alone, or the empty log removed after a clean
                // close): commits are acknowledged once the log is synced, so its directory
                // entry must be durable first, or a crash could take the log and them with it.
                vfs.sync_dir(&log_path)?;
            }
            (vfs.open(path, true)?, Some(log), log_is_new)
        };

        let (header, meta, slot) = match read_page_zero(&*data, path) {
            Ok(found) => found,
            Err(e) => {
                // Not a store (or not one this version reads): leave nothing beside it.
                if log_is_new {
                    drop(log_file);
                    let _ = vfs.remove(&log_path);
                }
                return Err(e);
            }
        };
        let engine =
            Engine::new(data, header, meta.clone(), slot, opts.cache_bytes, opts.read_only, versions)?;
        let versions = engine.versions().clone();
        let mut inner = StoreState {
            engine,
            log: LogWriter {
                file: None,
                len: LOG_HEADER_BYTES,
                buf: Vec::new(),
                next_seq: meta.checkpoint_seq + 1,
            },
        };
        let recovery = match &log_file {
            Some(log) => recover(&mut inner, log.clone(), opts.read_only)?,
            None => RecoveryReport::default(),
        };
        if !opts.read_only {
            inner.log.file = log_file.clone();
        }
        let last_seq = inner.log.next_seq - 1;
        Ok(KVStore {
            path: path.to_owned(),
            identifier: inner.engine.meta().identifier.clone(),
            vfs,
            inner: RwLock::new(inner),
            versions,
            log_file: if opts.read_only { None } else { log_file },
            written_seq: AtomicU64::new(last_seq),
            synced_seq: Mutex::new(last_seq),
            poison: Mutex::new(None),
            durability: opts.durability,
            read_only: opts.read_only,
            cache_bytes: opts.cache_bytes,
            checkpoint_log_bytes: opts.checkpoint_log_bytes,
            recovery,
            options: opts.clone(),
            closed: false,
        })
    }
}

fn lock(log: &dyn FileIo, path: &Path, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        if log.try_lock()? {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(Error::Locked { path: path.to_owned() });
        }
        std::thread::sleep(LOCK_RETRY);
    }
}

/// Write a new, empty store to a temporary file and move it into place.
fn create_file(vfs: &dyn Vfs, path: &Path, page_size: u32, identifier: &str) -> Result<()> {
    let ps = page_size as usize;
    let header = FileHeader { page_size, file_id: random_id(path), created_ms: now_ms() };
    let meta = Meta {
        checkpoint_id: 1,
        root: 1,
        page_count: 2,
        depth: 1,
        leaf_pages: 1,
        modified_ms: header.created_ms,
        identifier: identifier.to_owned(),
        ..Meta::default()
    };
    let mut buf = vec![0u8; 2 * ps];
    header.encode(&mut buf[..FILE_HEADER_BYTES]);
    meta.encode(&mut buf[META_SLOT_OFFSETS[0]..META_SLOT_OFFSETS[0] + META_SLOT_BYTES]);
    Node::Leaf(Leaf::default()).encode(&mut buf[ps..]);
    file::seal_page(1, &mut buf[ps..]);
    let tmp = temp_path(path);
    let file = vfs.create(&tmp)?;
    file.write_all_at(&buf, 0)?;
    file.sync_data()?;
    drop(file);
    vfs.rename(&tmp, path)?;
    vfs.sync_dir(path)?;
    Ok(())
}

/// An id that tells this store's log from another's: time, process and address bits hashed.
fn random_id(path: &Path) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms());
    h.write_u32(std::process::id());
    h.write(path.as_os_str().as_encoded_bytes());
    h.finish()
}

/// The file header and the meta slot in force.
fn read_page_zero(data: &dyn FileIo, path: &Path) -> Result<(FileHeader, Meta, usize)> {
    let len = data.len()?;
    let not_a_store = |reason: String| Error::NotAStore { path: path.to_owned(), reason };
    if len < FILE_HEADER_BYTES as u64 {
        return Err(not_a_store(format!("file is only {len} bytes")));
    }
    let mut head = [0u8; FILE_HEADER_BYTES];
    data.read_exact_at(&mut head, 0)?;
    let header = match FileHeader::decode(&head) {
        Ok(h) => h,
        Err(HeaderError::NotAStore(reason)) => return Err(not_a_store(reason)),
        Err(HeaderError::Version(version)) => {
            return Err(Error::UnsupportedVersion {
                path: path.to_owned(),
                version,
                supported: file::FORMAT_VERSION,
            });
        }
    };
    let ps = header.page_size as u64;
    if len < 2 * ps {
        return Err(Error::corrupted(1, format!("file is {len} bytes, shorter than two pages (truncated)")));
    }
    let mut best: Option<(Meta, usize)> = None;
    for (slot, offset) in META_SLOT_OFFSETS.iter().enumerate() {
        let mut b = [0u8; META_SLOT_BYTES];
        data.read_exact_at(&mut b, *offset as u64)?;
        if let Some(m) = Meta::decode(&b)
            && m.validate(header.page_size).is_ok()
            && best.as_ref().is_none_or(|(bm, _)| m.checkpoint_id > bm.checkpoint_id)
        {
            best = Some((m, slot));
        }
    }
    let (meta, slot) = best.ok_or_else(|| Error::corrupted(0, "neither meta slot is valid"))?;
    // A checkpoint extends the file to its page count before its meta slot is written, so a
    // shorter file lost its end. Refusing it here also bounds every walk and every allocation
    // sized by the page count by the file's real size.
    let file_pages = len / ps;
    if meta.page_count > file_pages {
        return Err(Error::corrupted(
            file_pages,
            format!(
                "file is {len} bytes ({file_pages} pages) but its last checkpoint has {} pages: the file is truncated",
                meta.page_count
            ),
        ));
    }
    Ok((header, meta, slot))
}

impl OpenOptions {
    /// Open (or create, unless [`OpenOptions::create`] said not to) the store at `path`.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<KVStore> {
        KVStore::open_with(path.as_ref(), self)
    }
}
