//! Opening a store: checking the options, taking the lock, creating a new file, reading the file
//! header and the meta slot in force, then replaying the log (`recovery.rs`).

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::paths::{TempKind, clear_temp, create_temp, log_path, remove_own_leftover, temp_path};
use super::recovery::{LogState, Rebuild, Replay, recover};
use super::{DiskStamp, KVStore, StoreState, check_identifier, disk_stamp};
use crate::engine::{Access, Engine, Versions, compact};
use crate::error::{Error, Result};
use crate::inspect::RecoveryReport;
use crate::io::{FileIo, ReaderRecord, ReaderSlot, ReaderTable, StdVfs, Vfs};
use crate::layout::file::{
    self, DEFAULT_IDENTIFIER, FILE_HEADER_BYTES, FORMAT_VERSION, FileHeader, HEADER_OFFSETS, HeaderError,
    META_SLOT_BYTES, Meta, PAGE_ZERO_USED_BYTES, SECTOR_BYTES, meta_slot_offsets, now_ms, valid_page_size,
};
use crate::layout::node::{Leaf, Node};
use crate::options::OpenOptions;
use crate::wal::writer::LogWriter;
use crate::wal::{self, LOG_HEADER_BYTES};

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
        if path.as_os_str().is_empty() {
            return Err(Error::InvalidOption("the store's path is empty".into()));
        }
        let vfs: Arc<dyn Vfs> = opts.vfs.clone().unwrap_or_else(|| Arc::new(StdVfs));
        let log_path = log_path(path);

        if opts.read_only {
            return open_read_only(path, opts, vfs, versions);
        }
        if !opts.create && !vfs.exists(path)? {
            return Err(Error::NotFound { path: path.to_owned() });
        }
        // The log is also the lock: it is never replaced, unlike the data file.
        let log_is_new = !vfs.exists(&log_path)?;
        let log = vfs.open_or_create(&log_path)?;
        lock(&*log, path, opts.lock_timeout)?;
        // A compaction or conversion that did not finish: the store file is whole without it.
        remove_own_leftover(&*vfs, path)?;
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
            if let Err(e) = create_file(&*vfs, path, opts.page_size, identifier) {
                // No store could be made (a directory in the way, no such folder): leave
                // nothing beside it.
                if log_is_new {
                    drop(log);
                    let _ = vfs.remove(&log_path);
                }
                return Err(e);
            }
        } else if log_is_new {
            // A store without its log (copied alone, or the empty log removed after a clean
            // close): commits are acknowledged once the log is synced, so its directory
            // entry must be durable first, or a crash could take the log and them with it.
            vfs.sync_dir(&log_path)?;
        }
        let data = vfs.open(path, true)?;
        let found = read_page_zero(&*data, path).and_then(|page0| {
            let state = LogState::read(&*log)?;
            check_log_owner(&state, &page0.header, &log_path)?;
            Ok((page0, state))
        });
        let (page0, state) = match found {
            Ok(found) => found,
            Err(e) => {
                // Not a store (or not one this version reads): leave nothing beside it.
                if log_is_new {
                    drop(log);
                    let _ = vfs.remove(&log_path);
                }
                return Err(e);
            }
        };
        let mut report = RecoveryReport::default();
        let (meta, slot) = choose_meta(&page0, state.follows(), &mut report, false)?;
        let version = page0.header.version;
        let write_access =
            || Access::Write { readers: vfs.reader_table(path), hold_bytes: opts.reader_hold_bytes };
        let engine_over = |access, versions| {
            Engine::new(
                data.clone(),
                page0.header.clone(),
                meta.clone(),
                slot,
                opts.memory(),
                access,
                versions,
            )
        };
        // A version-1 file is replayed in memory, then rewritten in the current format.
        let access = if version == FORMAT_VERSION {
            write_access()
        } else {
            Access::Read { pin: None, scratch: None }
        };
        let mut inner =
            StoreState { engine: engine_over(access, versions.clone())?, log: LogWriter::after(&meta) };
        let replay = if version == FORMAT_VERSION { Replay::Writable } else { Replay::InMemory };
        let aside = |log: &Arc<dyn FileIo>, offset: u64| copy_log_aside(&*vfs, &log_path, &**log, offset);
        // A writer's replay applies the records as one commit, and starts again a record at a
        // time from an engine made afresh if one fails (nothing reads the store before the open
        // returns; what the first try spilled went to pages the checkpoint in force does not use).
        let rebuild = || engine_over(write_access(), None);
        let batched = version == FORMAT_VERSION && versions.is_none();
        let refuse = recover(
            &mut inner,
            Some(&log),
            &state,
            replay,
            &mut report,
            &aside,
            batched.then_some(&rebuild as &Rebuild<'_>),
        )?;
        if version != FORMAT_VERSION && refuse.is_none() {
            // The new file is written from the tree: the replayed commits waiting in the write
            // buffer go into it first.
            super::commit::fold(&mut inner.engine)?;
            convert_to_current(&*vfs, path, &inner, &*log)?;
            drop(inner);
            drop(log);
            let mut store = KVStore::open_continuing(path, opts, versions)?;
            store.recovery.notes.insert(
                0,
                format!("converted from format version {version} to version {FORMAT_VERSION} (the file was rewritten)"),
            );
            store.recovery.commits_replayed += report.commits_replayed;
            return Ok(store);
        }
        let poison = refuse;
        inner.log.file = Some(log.clone());
        Ok(KVStore::assemble(path, opts, vfs, inner, Some(log), report, poison, None))
    }

    /// Put an opened store together.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        path: &Path,
        opts: &OpenOptions,
        vfs: Arc<dyn Vfs>,
        inner: StoreState,
        log_file: Option<Arc<dyn FileIo>>,
        recovery: RecoveryReport,
        poison: Option<String>,
        read_stamp: Option<DiskStamp>,
    ) -> KVStore {
        let last_seq = inner.log.next_seq - 1;
        let versions = inner.engine.versions().clone();
        KVStore {
            path: path.to_owned(),
            identifier: inner.engine.meta().identifier.clone(),
            vfs,
            inner: RwLock::new(inner),
            versions,
            log_file: if opts.read_only { None } else { log_file },
            written_seq: AtomicU64::new(last_seq),
            synced_seq: Mutex::new(last_seq),
            poison: Mutex::new(poison),
            durability: opts.durability,
            read_only: opts.read_only,
            checkpoint_log_bytes: opts.checkpoint_log_bytes,
            recovery,
            seen_on_disk: Mutex::new((read_stamp, 0)),
            read_stamp,
            options: opts.clone(),
            closed: false,
        }
    }
}

/// A read-only open of a truncated file goes on (for inspection) when at most this many pages
/// are missing; more is a damaged meta slot as likely as a cut file, and would size every walk.
const MAX_MISSING_PAGES_READ_ONLY: u64 = 1 << 20;

/// How many times a read-only open starts again when the writer moved on while it read.
const READ_ATTEMPTS: u32 = 50;

/// A read-only open: pin the checkpoint in force in the reader table (so that no writer in any
/// process reuses its pages), make sure it is still the one in force, then replay the log after
/// it into memory. A writer that checkpoints meanwhile makes it start again.
fn open_read_only(
    path: &Path,
    opts: &OpenOptions,
    vfs: Arc<dyn Vfs>,
    versions: Option<Arc<Versions>>,
) -> Result<KVStore> {
    if !vfs.exists(path)? {
        return Err(Error::NotFound { path: path.to_owned() });
    }
    let log_path = log_path(path);
    let table = vfs.reader_table(path);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last_attempt = attempt >= READ_ATTEMPTS;
        // The files before anything is read: a commit after this shows as a change later.
        let read_stamp = disk_stamp(&*vfs, path, None);
        // Opened again each time: a compaction replaces the file by a rename.
        let data = vfs.open(path, false)?;
        // The writer cuts the log at every checkpoint: never read it through a map.
        let log = if vfs.exists(&log_path)? { Some(vfs.open_unmapped(&log_path)?) } else { None };
        let page0 = read_page_zero(&*data, path)?;
        let state = match &log {
            Some(log) => LogState::read(&**log)?,
            None => LogState::Absent,
        };
        check_log_owner(&state, &page0.header, &log_path)?;
        let mut report = RecoveryReport::default();
        let newest = page0.newest_id();
        if !last_attempt && state.follows().is_some_and(|m| newest.is_none_or(|n| m.checkpoint_id > n)) {
            // The writer has cut the log after a checkpoint newer than the slots we read.
            std::thread::yield_now();
            continue;
        }
        let (meta, slot) = choose_meta(&page0, state.follows(), &mut report, true)?;
        let pin = match &table {
            Some(table) => match pin_checkpoint(table, &page0.header, &meta) {
                Ok(slot) => Some(slot),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                    ) =>
                {
                    report.notes.push(format!(
                        "no reader table ({e}): a writer in another process would not know this reader"
                    ));
                    None
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        // A checkpoint between reading page 0 and pinning may have let the writer reuse pages of
        // `meta` before it saw the pin: read the slots again.
        if pin.is_some() && !last_attempt && read_page_zero(&*data, path)?.newest_id() != newest {
            continue;
        }
        // The pages a replay of the log makes go to a scratch file, so the memory a reader takes
        // is its cache, not the log's size.
        let scratch = match (&log, &state) {
            (Some(log), LogState::Header(h)) if log.len()? > h.len => match vfs.scratch(path) {
                Some(Ok(file)) => Some(file),
                Some(Err(e)) => {
                    report.notes.push(format!(
                        "no scratch file for the log's replay ({e}): its pages are held in memory"
                    ));
                    None
                }
                None => None,
            },
            _ => None,
        };
        let had_pin = pin.is_some();
        let reader_engine = |pin: Option<ReaderSlot>| {
            Engine::new(
                data.clone(),
                page0.header.clone(),
                meta.clone(),
                slot,
                opts.memory(),
                Access::Read { pin, scratch: scratch.clone() },
                versions.clone(),
            )
        };
        let engine = reader_engine(pin)?;
        let mut inner = StoreState { engine, log: LogWriter::after(&meta) };
        let aside = |_: &Arc<dyn FileIo>, _: u64| Err(Error::ReadOnly);
        // Like a writer's, a first open's replay applies the records as one commit. Its fallback
        // (a record that cannot be applied) makes the engine afresh with a slot of its own in the
        // reader table, taken while the first engine's still pins the checkpoint, so the pages
        // of `meta` are never unpinned in between; the scratch file is shared (the first
        // engine's pages in it are dropped with it).
        let rebuild = || {
            let pin = match (&table, had_pin) {
                (Some(table), true) => Some(pin_checkpoint(table, &page0.header, &meta)?),
                _ => None,
            };
            reader_engine(pin)
        };
        // A read-only handle writes nothing anyway: what recovery would refuse changes nothing.
        let _refuse = recover(
            &mut inner,
            log.as_ref(),
            &state,
            Replay::InMemory,
            &mut report,
            &aside,
            versions.is_none().then_some(&rebuild as &Rebuild<'_>),
        )?;
        inner.engine.spill()?;
        if !last_attempt {
            // The writer restarts the log only after a new checkpoint is in force: if the slots
            // still say what they said before the log was read, the log was not cut under us (a
            // clean end or a stop is then where the log ended); if they moved on, read again.
            let data = vfs.open(path, false)?;
            if read_page_zero(&*data, path)?.newest_id() != newest {
                continue;
            }
        }
        return Ok(KVStore::assemble(path, opts, vfs, inner, None, report, None, read_stamp));
    }
}

/// Take a slot in the reader table and write `meta`'s checkpoint into it.
fn pin_checkpoint(table: &ReaderTable, header: &FileHeader, meta: &Meta) -> std::io::Result<ReaderSlot> {
    let slot = table.acquire()?;
    slot.publish(&ReaderRecord {
        pid: std::process::id(),
        file_id: header.file_id,
        checkpoint_id: meta.checkpoint_id,
        log_seq: meta.checkpoint_seq,
        since_ms: now_ms(),
    })?;
    Ok(slot)
}

/// Copy the log, whose record at `offset` is damaged, to `<log>.<offset>.damaged` beside it
/// (synced, with its directory entry) before recovery starts the log afresh.
fn copy_log_aside(
    vfs: &dyn Vfs,
    log_path: &Path,
    log: &dyn FileIo,
    offset: u64,
) -> Result<std::path::PathBuf> {
    let mut name = log_path.as_os_str().to_owned();
    name.push(format!(".{offset}.damaged"));
    let copy_path = std::path::PathBuf::from(name);
    let len = usize::try_from(log.len()?)
        .map_err(|_| Error::LogCorrupted { offset, reason: "log too large to copy".into() })?;
    let mut bytes = vec![0u8; len];
    log.read_exact_at(&mut bytes, 0)?;
    let copy = vfs.create(&copy_path)?;
    copy.write_all_at(&bytes, 0)?;
    copy.sync_data()?;
    vfs.sync_dir(&copy_path)?;
    Ok(copy_path)
}

/// A log that names another data file is refused.
fn check_log_owner(state: &LogState, header: &FileHeader, log_path: &Path) -> Result<()> {
    match state {
        LogState::Header(h) if h.file_id != header.file_id => Err(Error::LogCorrupted {
            offset: 0,
            reason: format!("{} belongs to another store (file ids differ)", log_path.display()),
        }),
        _ => Ok(()),
    }
}

/// Rewrite a store of an older format, as replayed into `inner`, in the current format: a whole
/// new file beside it, synced, renamed over it; then a log that follows the new file.
fn convert_to_current(vfs: &dyn Vfs, path: &Path, inner: &StoreState, log: &dyn FileIo) -> Result<()> {
    let header = FileHeader { version: FORMAT_VERSION, ..inner.engine.header().clone() };
    let (tmp, file) = create_temp(vfs, path, &header, TempKind::Compact)?;
    let built = compact::build(&inner.engine, &*file, inner.log.next_seq - 1)
        .and_then(|meta| file.sync_data().map(|()| meta).map_err(Error::from));
    let meta = match built {
        Ok(meta) => meta,
        Err(e) => {
            drop(file);
            let _ = vfs.remove(&tmp);
            return Err(e);
        }
    };
    drop(file);
    vfs.rename(&tmp, path)?;
    vfs.sync_dir(path)?;
    log.write_all_at(&wal::encode_header(inner.engine.header().file_id, &meta), 0)?;
    log.set_len(LOG_HEADER_BYTES)?;
    log.sync_data()?;
    Ok(())
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
    let header =
        FileHeader { version: FORMAT_VERSION, page_size, file_id: random_id(path), created_ms: now_ms() };
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
    for at in HEADER_OFFSETS {
        buf[at..at + SECTOR_BYTES].copy_from_slice(&header.encode_sector(&meta));
    }
    Node::Leaf(Leaf::default()).encode(&mut buf[ps..]);
    file::seal_page(1, &mut buf[ps..]);
    let tmp = temp_path(path, header.file_id, TempKind::Create);
    clear_temp(vfs, &tmp, header.file_id)?;
    let file = vfs.create(&tmp)?;
    let written = file.write_all_at(&buf, 0).and_then(|()| file.sync_data());
    drop(file);
    if let Err(e) = written.and_then(|()| vfs.rename(&tmp, path)) {
        let _ = vfs.remove(&tmp);
        return Err(e.into());
    }
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

/// Page 0 as found: the file header (from either sector) and the meta slots that verify.
struct PageZero {
    header: FileHeader,
    slots: [Option<Meta>; 2],
    file_len: u64,
    /// Sectors whose header copy did not verify.
    damaged_headers: usize,
}

impl PageZero {
    fn best(&self) -> Option<(Meta, usize)> {
        let mut best: Option<(Meta, usize)> = None;
        for (slot, m) in self.slots.iter().enumerate() {
            if let Some(m) = m
                && best.as_ref().is_none_or(|(b, _)| m.checkpoint_id > b.checkpoint_id)
            {
                best = Some((m.clone(), slot));
            }
        }
        best
    }

    fn newest_id(&self) -> Option<u64> {
        self.best().map(|(m, _)| m.checkpoint_id)
    }
}

fn read_page_zero(data: &dyn FileIo, path: &Path) -> Result<PageZero> {
    let len = data.len()?;
    let not_a_store = |reason: String| Error::NotAStore { path: path.to_owned(), reason };
    if len < FILE_HEADER_BYTES as u64 {
        return Err(not_a_store(format!("file is only {len} bytes")));
    }
    let mut page0 =
        vec![0u8; usize::try_from(len.min(PAGE_ZERO_USED_BYTES as u64)).unwrap_or(FILE_HEADER_BYTES)];
    data.read_exact_at(&mut page0, 0)?;
    let decode = |at: usize| page0.get(at..at + FILE_HEADER_BYTES).map(FileHeader::decode);
    let (header, damaged_headers) = match decode(HEADER_OFFSETS[0]) {
        Some(Ok(h)) => (h, 0),
        Some(Err(HeaderError::Version(version))) => {
            return Err(Error::UnsupportedVersion {
                path: path.to_owned(),
                version,
                supported: FORMAT_VERSION,
            });
        }
        Some(Err(HeaderError::NotAStore(_))) | None => match decode(HEADER_OFFSETS[1]) {
            // The first sector is damaged; the second holds a whole copy (version 2).
            Some(Ok(h)) if h.version == FORMAT_VERSION => (h, 1),
            _ => return Err(not_a_store(reason_of(&page0, decode(HEADER_OFFSETS[0])))),
        },
    };
    let ps = u64::from(header.page_size);
    if len < 2 * ps {
        return Err(Error::corrupted(1, format!("file is {len} bytes, shorter than two pages (truncated)")));
    }
    let mut slots = [None, None];
    for (slot, offset) in meta_slot_offsets(header.version).iter().enumerate() {
        slots[slot] = page0
            .get(*offset..offset + META_SLOT_BYTES)
            .and_then(Meta::decode)
            .filter(|m| m.validate(header.page_size).is_ok());
    }
    Ok(PageZero { header, slots, file_len: len, damaged_headers })
}

fn reason_of(page0: &[u8], first: Option<Result<FileHeader, HeaderError>>) -> String {
    match first {
        Some(Err(HeaderError::NotAStore(reason))) => reason,
        _ => format!("file is only {} bytes", page0.len()),
    }
}

/// The checkpoint to open: the valid meta slot with the larger id, or the copy in the log header
/// when the log follows a newer checkpoint than either slot holds (the slot that held it is
/// damaged). A newer checkpoint that cannot be recovered is reported as missing data.
fn choose_meta(
    page0: &PageZero,
    follows: Option<&Meta>,
    report: &mut RecoveryReport,
    read_only: bool,
) -> Result<(Meta, usize)> {
    let ps = u64::from(page0.header.page_size);
    let file_pages = page0.file_len / ps;
    if page0.damaged_headers > 0 {
        report.notes.push("the file header in the first sector of page 0 is damaged; its copy in the second sector was used".into());
    }
    let best = page0.best();
    let (meta, slot) = match (best, follows) {
        (best, Some(h)) if best.as_ref().is_none_or(|(m, _)| h.checkpoint_id > m.checkpoint_id) => {
            let usable = h.validate(page0.header.page_size).is_ok() && h.page_count <= file_pages;
            match best {
                _ if usable => {
                    report.notes.push(format!(
                        "the meta slot of checkpoint {} is damaged; the checkpoint was read from the copy in the log header",
                        h.checkpoint_id
                    ));
                    // The next checkpoint overwrites the damaged slot, not the one still valid.
                    let slot = page0.slots.iter().position(Option::is_some).unwrap_or(1);
                    (h.clone(), slot)
                }
                Some((m, slot)) => {
                    report.data_may_be_missing = Some(format!(
                        "the log follows checkpoint {}, but the newest meta slot that verifies holds checkpoint {} (the newer one is damaged)",
                        h.checkpoint_id, m.checkpoint_id
                    ));
                    (m, slot)
                }
                None => {
                    return Err(Error::corrupted(
                        0,
                        "neither meta slot is valid, nor the copy in the log header",
                    ));
                }
            }
        }
        (Some(found), _) => found,
        (None, _) => return Err(Error::corrupted(0, "neither meta slot is valid")),
    };
    // A checkpoint extends the file to its page count before its meta slot is written, so a
    // shorter file lost its end. Refusing it here also bounds every walk and every allocation
    // sized by the page count by the file's real size.
    if meta.page_count > file_pages {
        let missing = meta.page_count - file_pages;
        if read_only && missing <= MAX_MISSING_PAGES_READ_ONLY {
            // Open for inspection: pages past the end read as errors naming them (the page map
            // shows them), everything before them is served.
            report.data_may_be_missing.get_or_insert(format!(
                "the file is truncated: it holds {file_pages} of the {} pages of its last checkpoint; pages {file_pages} to {} are missing (salvage copies out what is left)",
                meta.page_count,
                meta.page_count - 1
            ));
            return Ok((meta, slot));
        }
        return Err(Error::corrupted(
            file_pages,
            format!(
                "file is {} bytes ({file_pages} pages) but its last checkpoint has {} pages: the file is truncated; open it read-only to inspect it, or salvage it (wkstore-tui FILE --salvage OUT)",
                page0.file_len, meta.page_count
            ),
        ));
    }
    Ok((meta, slot))
}

impl OpenOptions {
    /// Open (or create, unless [`OpenOptions::create`] said not to) the store at `path`.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<KVStore> {
        KVStore::open_with(path.as_ref(), self)
    }
}

/// The checkpoint that freed each page on the free list of the newest checkpoint in the file,
/// ascending, read straight from the file (not through a handle's pages, which may pin an older
/// checkpoint): for [`KVStore::readers`]. `None` when the list is longer than
/// [`crate::inspect::READER_HELD_LIST_PAGES`] or any page of it does not read back whole.
pub(super) fn freed_at_in_newest_list(vfs: &dyn Vfs, path: &Path) -> Option<Vec<u64>> {
    let data = vfs.open_unmapped(path).ok()?;
    let page0 = read_page_zero(&*data, path).ok()?;
    let (meta, _) = page0.best()?;
    if meta.freelist_pages > crate::inspect::READER_HELD_LIST_PAGES {
        return None;
    }
    let ps = usize::try_from(page0.header.page_size).ok()?;
    let mut buf = vec![0u8; ps];
    let mut freed = Vec::new();
    let mut page = meta.freelist_head;
    for _ in 0..meta.freelist_pages {
        if page == 0 || page >= meta.page_count {
            return None;
        }
        data.read_exact_at(&mut buf, page.checked_mul(ps as u64)?).ok()?;
        file::verify_page(page, &buf).ok()?;
        let (entries, next) =
            crate::layout::freelist::decode_page(page, &buf, ps, page0.header.version).ok()?;
        freed.extend(entries.iter().map(|e| e.freed_at));
        page = next;
    }
    freed.sort_unstable();
    Some(freed)
}
