//! Salvage: the keys a damaged data file still holds, copied into a new store.
//!
//! Opening a store trusts page 0 and follows the tree from the meta slot in force; one bad page
//! on that path and the keys under it are out of reach, and a truncated file does not open at
//! all. Salvage trusts nothing and reads every page itself:
//!
//! 1. the page size: from the file header, else from the header's copy at byte 512 (format 2
//!    keeps one there), else the power of two from 1 KiB to 64 KiB at which pages verify;
//! 2. every page, once: each leaf whose checksum verifies and whose entries decode is kept,
//!    whatever the branch pages above it say; anything else is counted as skipped, with why;
//! 3. the trees of both meta slots, as far as they can be read, and the free list of the newer:
//!    they say which leaf copy is current (the store is copy-on-write, so freed pages keep old
//!    copies of leaves until they are reused) and which key ranges lost their pages;
//! 4. the log records after the checkpoint, when the log belongs to this file (later win);
//! 5. the result into a new store through [`KVStore`](crate::KVStore), in batches. The source is only read.
//!
//! Which copy of a key wins: the current tree's; else (the key lies under a damaged part of the
//! current tree) the older checkpoint's tree, else a leaf neither tree reaches that is not on the
//! free list, else one on the free list (freed by the later checkpoint first); among equals, the
//! highest page number. Keys only in
//! leaves outside the current tree are taken only in the ranges its damage hides, so a key
//! deleted before the last checkpoint does not come back from a stale page. The newest valid
//! slot's tree is the current one only when no slot is damaged and the log does not start after
//! its checkpoint; else a newer checkpoint may be lost, and every copy is taken, ranked as above.
//! An overflow value is written whole or not at all.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::paths::log_path;
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::io::{FileIo, StdVfs, Vfs};
use crate::layout::file::{
    self, FILE_HEADER_BYTES, FORMAT_VERSION, FORMAT_VERSION_1, FileHeader, HEADER_OFFSETS, HeaderError,
    MAX_PAGE_SIZE, MAX_TREE_DEPTH, META_SLOT_BYTES, MIN_PAGE_SIZE, Meta, PageKind, meta_slot_offsets,
    valid_page_size,
};
use crate::layout::node::{NodeView, Value, ValueRef, cmp_keys, max_key_bytes};
use crate::layout::{freelist, overflow};
use crate::options::{Durability, OpenOptions};
use crate::wal::{self, LogOp, LogReader};

/// Pages checksummed at each candidate page size when no header is readable: enough to tell
/// the one size at which pages verify from the others, at which none do.
const PAGE_SIZE_PROBE_PAGES: u64 = 4096;
/// Most pairs and bytes of keys and values written to the new store in one commit, as `IMPORT`.
const BATCH_PAIRS: usize = 10_000;
const BATCH_BYTES: usize = 16 << 20;
/// Most pages and keys the report names one by one; its counts are always whole.
const LISTED_MAX: usize = 1000;

/// How [`salvage`] reads the damaged file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SalvageOptions {
    /// The page size to read the file at when neither copy of the file header is readable;
    /// `None`: try each power of two from 1 KiB to 64 KiB and take the one at which pages verify.
    pub page_size: Option<u32>,
}

impl SalvageOptions {
    /// The defaults: the page size from the header, guessed when the header is damaged.
    pub fn new() -> SalvageOptions {
        SalvageOptions::default()
    }

    /// Read the file at this page size when its header is damaged.
    pub fn page_size(&mut self, bytes: u32) -> &mut Self {
        self.page_size = Some(bytes);
        self
    }
}

/// Where the page size [`salvage`] read the file at came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageSizeSource {
    /// The file header at byte 0.
    #[default]
    Header,
    /// The copy of the file header at byte 512.
    HeaderCopy,
    /// [`SalvageOptions::page_size`].
    Given,
    /// The power of two at which pages verify; the header was unreadable.
    Guessed,
}

/// Why a page gave nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Its checksum does not match its bytes (and it is not all zeros).
    BadChecksum,
    /// Its checksum matches but its contents do not decode (unknown type, entries out of bounds
    /// or out of order).
    Undecodable(String),
    /// The file ends before it: the file was cut short.
    PastEnd,
}

/// One page that gave nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPage {
    /// The page number.
    pub page: u64,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// What [`salvage`] found and saved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SalvageReport {
    /// The page size the file was read at.
    pub page_size: u32,
    /// Where that page size came from.
    pub page_size_from: PageSizeSource,
    /// Length of the damaged file, in bytes.
    pub file_bytes: u64,
    /// Pages read from the file, page 0 included.
    pub pages_read: u64,
    /// Leaf pages that verified and decoded, wherever they were.
    pub leaves_recovered: u64,
    /// Pages skipped because their checksum did not match.
    pub pages_bad_checksum: u64,
    /// Pages skipped because they verified but did not decode.
    pub pages_undecodable: u64,
    /// Pages the newest readable meta slot counts (or a partial last page) that the file no
    /// longer holds.
    pub pages_past_end: u64,
    /// Pages of zeros: allocated, never written. Not damage.
    pub pages_blank: u64,
    /// The skipped pages one by one, the first [`SalvageReport::LISTED_MAX`] of them.
    pub skipped: Vec<SkippedPage>,
    /// Whether the current tree (from the newest valid meta slot, with no sign of a newer lost
    /// one) was read whole: then every key came from it or from the log.
    pub tree_whole: bool,
    /// Keys written to the new store.
    pub keys_recovered: u64,
    /// Keys whose value was in an overflow chain that did not verify: not written.
    pub values_lost: u64,
    /// The keys of [`SalvageReport::values_lost`], the first [`SalvageReport::LISTED_MAX`].
    pub lost_keys: Vec<Vec<u8>>,
    /// Keys found in more than one leaf (old copies of pages not yet reused).
    pub duplicate_keys: u64,
    /// Of those, keys whose copies held different values; the current tree's copy won where it
    /// was readable.
    pub duplicates_differing: u64,
    /// Of those, keys where no trusted tree told which copy is current, so one was chosen by rank
    /// (see `docs/DURABILITY.md`, "Salvage") and page number.
    pub duplicates_guessed: u64,
    /// Keys whose only copy was on a page of the free list: an old value, or a key deleted since.
    pub keys_from_free_pages: u64,
    /// Keys found only in old copies of leaves, in key ranges the current tree reads whole: keys
    /// deleted before the last checkpoint, not written.
    pub stale_keys_dropped: u64,
    /// Log records applied after the leaves.
    pub log_records_applied: u64,
    /// Other findings, one sentence each (a damaged meta slot, a log not used and why, ...).
    pub notes: Vec<String>,
}

impl SalvageReport {
    /// How many pages and keys the report names one by one.
    pub const LISTED_MAX: usize = LISTED_MAX;

    /// Pages skipped, for any reason.
    pub fn pages_skipped(&self) -> u64 {
        self.pages_bad_checksum + self.pages_undecodable + self.pages_past_end
    }

    /// Whether nothing was found damaged: no page skipped, no value lost, the tree whole.
    pub fn is_clean(&self) -> bool {
        self.pages_skipped() == 0 && self.values_lost == 0 && self.tree_whole
    }

    /// The report as lines for a person.
    pub fn lines(&self) -> Vec<String> {
        let from = match self.page_size_from {
            PageSizeSource::Header => "from the file header",
            PageSizeSource::HeaderCopy => "from the copy of the file header",
            PageSizeSource::Given => "as given",
            PageSizeSource::Guessed => "guessed: the header is damaged",
        };
        let mut out = vec![
            format!("page size:            {} ({from})", self.page_size),
            format!("pages read:           {}", self.pages_read),
            format!("leaves recovered:     {}", self.leaves_recovered),
            format!(
                "pages skipped:        {} ({} bad checksum, {} undecodable, {} past the end)",
                self.pages_skipped(),
                self.pages_bad_checksum,
                self.pages_undecodable,
                self.pages_past_end
            ),
            format!("blank pages:          {}", self.pages_blank),
            format!(
                "current tree:         {}",
                if self.tree_whole { "whole" } else { "damaged, or not known to be the newest" }
            ),
            format!("keys recovered:       {}", self.keys_recovered),
            format!("values lost:          {}", self.values_lost),
            format!(
                "duplicate keys:       {} ({} with differing values, {} chosen without a tree)",
                self.duplicate_keys, self.duplicates_differing, self.duplicates_guessed
            ),
            format!("keys from free pages: {}", self.keys_from_free_pages),
            format!("stale keys dropped:   {}", self.stale_keys_dropped),
            format!("log records applied:  {}", self.log_records_applied),
        ];
        for skipped in &self.skipped {
            let why = match &skipped.reason {
                SkipReason::BadChecksum => "bad checksum".to_owned(),
                SkipReason::Undecodable(why) => format!("undecodable: {why}"),
                SkipReason::PastEnd => "past the end of the file".to_owned(),
            };
            out.push(format!("  page {}: {why}", skipped.page));
        }
        if self.skipped.len() as u64 != self.pages_skipped() {
            out.push(format!(
                "  ({} more skipped pages not listed)",
                self.pages_skipped() - self.skipped.len() as u64
            ));
        }
        out.extend(self.notes.iter().map(|n| format!("note: {n}")));
        out
    }

    fn skip(&mut self, page: u64, reason: SkipReason) {
        match reason {
            SkipReason::BadChecksum => self.pages_bad_checksum += 1,
            SkipReason::Undecodable(_) => self.pages_undecodable += 1,
            SkipReason::PastEnd => self.pages_past_end += 1,
        }
        if self.skipped.len() < LISTED_MAX {
            self.skipped.push(SkippedPage { page, reason });
        }
    }
}

/// Copy every key the store file at `src` still holds into a new store at `dst`, reading the
/// file's pages directly rather than through its tree (see the module documentation). `dst` (and
/// its log) must not exist; `src` is only read. Fails only when nothing can be read at all (no
/// page size at which pages verify) or the new store cannot be written; damage is in the report.
pub fn salvage(src: &Path, dst: &Path, options: &SalvageOptions) -> Result<SalvageReport> {
    for path in [dst.to_owned(), log_path(dst)] {
        if path.symlink_metadata().is_ok() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} already exists; salvage writes only a new store", path.display()),
            )));
        }
    }
    let vfs = StdVfs;
    if !vfs.exists(src)? {
        return Err(Error::NotFound { path: src.to_owned() });
    }
    // Never through a map: a damaged file is read with ordinary reads, each range-checked.
    let data = vfs.open_unmapped(src)?;
    let mut report = SalvageReport { file_bytes: data.len()?, ..SalvageReport::default() };
    let (page_size, header) = find_page_size(&*data, src, options, &mut report)?;
    report.page_size = page_size;
    let file = PagedFile::new(data, page_size, report.file_bytes);

    let slots = read_slots(&file, header.as_ref().map(|h| h.version), &mut report);
    let version = slots.version;
    let log = read_log(src, header.as_ref(), &mut report)?;
    let (metas, trusted) = current_checkpoint(slots, &log, page_size, &mut report);
    let scan = scan_pages(&file, &metas, &mut report);
    let pairs = choose(&file, &metas, version, trusted, scan, &mut report);
    let (mut pairs, identifier) = apply_log(&metas, log.records, pairs, &mut report);
    write_store(&file, dst, page_size, identifier.as_deref(), &mut pairs, &mut report)?;
    Ok(report)
}

/// The checkpoints known, newest first (the slots' and the log header's copy of the one it
/// follows, format 2), and whether the newest is known to be the last one written: only then is
/// its tree the whole truth outside its damage.
fn current_checkpoint(
    slots: Slots,
    log: &LogRead,
    page_size: u32,
    report: &mut SalvageReport,
) -> (Vec<Meta>, bool) {
    let mut metas = slots.metas;
    // The log header is written after the slot of the checkpoint it follows: when both slots are
    // damaged or older, its copy names the current tree.
    let mut confirmed = false;
    if let Some(follows) = log.follows.clone().filter(|m| m.validate(page_size).is_ok()) {
        let newest = metas.first().map(|m| m.checkpoint_id);
        confirmed = newest.is_none_or(|id| follows.checkpoint_id >= id);
        if newest.is_none_or(|id| follows.checkpoint_id > id) {
            report.notes.push(format!(
                "the log header's copy of the meta slot (checkpoint {}) is newer than any valid slot: its tree was used",
                follows.checkpoint_id
            ));
            metas.insert(0, follows);
        }
    }
    // A damaged slot may have held a newer checkpoint than the one in hand, and a log that starts
    // after its checkpoint proves one: then leaf copies its tree does not reach may be newer.
    let log_gap = match (metas.first(), log.records.first()) {
        (Some(meta), Some((seq, _))) => *seq > meta.checkpoint_seq + 1,
        _ => false,
    };
    let trusted = (slots.damaged == 0 || confirmed) && !log_gap;
    if !metas.is_empty() && !trusted {
        report.notes.push(
            "a newer checkpoint than the meta slot in hand may be lost (a slot is damaged, or the log starts \
             after its checkpoint): every leaf copy was considered, and where copies differ the surviving \
             tree's was taken, which may be the older value"
                .into(),
        );
    }
    (metas, trusted)
}

/// The damaged file, read a page at a time.
struct PagedFile {
    data: Arc<dyn FileIo>,
    page_size: usize,
    page_bytes: u32,
    /// Whole pages in the file.
    pages: u64,
}

impl PagedFile {
    fn new(data: Arc<dyn FileIo>, page_size: u32, len: u64) -> PagedFile {
        PagedFile {
            data,
            page_size: page_size as usize,
            page_bytes: page_size,
            pages: len / u64::from(page_size),
        }
    }

    /// Page `n` into `buf`, or `None` when the file does not hold it whole (or cannot be read).
    fn read(&self, n: u64, buf: &mut [u8]) -> Option<()> {
        if n >= self.pages {
            return None;
        }
        let offset = n.checked_mul(self.page_size as u64)?;
        self.data.read_exact_at(buf, offset).ok()
    }

    fn buffer(&self) -> Vec<u8> {
        vec![0u8; self.page_size]
    }
}

fn find_page_size(
    data: &dyn FileIo,
    src: &Path,
    options: &SalvageOptions,
    report: &mut SalvageReport,
) -> Result<(u32, Option<FileHeader>)> {
    let len = report.file_bytes;
    // Format 2 keeps a copy of the header at the start of each sector of page 0.
    let sources = [PageSizeSource::Header, PageSizeSource::HeaderCopy];
    for (offset, source) in HEADER_OFFSETS.iter().map(|o| *o as u64).zip(sources) {
        if len < offset + FILE_HEADER_BYTES as u64 {
            continue;
        }
        let mut head = [0u8; FILE_HEADER_BYTES];
        data.read_exact_at(&mut head, offset)?;
        match FileHeader::decode(&head) {
            Ok(header) => {
                report.page_size_from = source;
                if source != PageSizeSource::Header {
                    report.notes.push("the file header is damaged; its copy at byte 512 was used".into());
                }
                return Ok((header.page_size, Some(header)));
            }
            // An intact header of another format: its pages may not be laid out as read here.
            Err(HeaderError::Version(version)) => {
                return Err(Error::UnsupportedVersion {
                    path: src.to_owned(),
                    version,
                    supported: file::FORMAT_VERSION,
                });
            }
            Err(HeaderError::NotAStore(_)) => {}
        }
    }
    if let Some(size) = options.page_size {
        if !valid_page_size(size) {
            return Err(Error::InvalidOption(format!(
                "page size {size} is not a power of two from 1024 to 65536"
            )));
        }
        report.page_size_from = PageSizeSource::Given;
        report.notes.push("the file header is damaged; the page size given was used".into());
        return Ok((size, None));
    }
    // Only at the right size do pages verify: at any other, each "page" is a slice of one or
    // several real pages checksummed under the wrong number.
    let mut best: Option<(u64, u32)> = None;
    let mut size = MIN_PAGE_SIZE;
    while size <= MAX_PAGE_SIZE {
        let pages = (len / u64::from(size)).min(PAGE_SIZE_PROBE_PAGES);
        let mut buf = vec![0u8; size as usize];
        let mut verified = 0u64;
        for n in 1..pages {
            data.read_exact_at(&mut buf, n * u64::from(size))?;
            if file::verify_page(n, &buf).is_ok() {
                verified += 1;
            }
        }
        if verified > 0 && best.is_none_or(|(v, _)| verified > v) {
            best = Some((verified, size));
        }
        size *= 2;
    }
    let Some((verified, size)) = best else {
        return Err(Error::NotAStore {
            path: src.to_owned(),
            reason: "the file header is damaged and no page verifies at any page size".into(),
        });
    };
    report.page_size_from = PageSizeSource::Guessed;
    report.notes.push(format!(
        "the file header is damaged; page size {size} guessed ({verified} pages verify at it)"
    ));
    Ok((size, None))
}

/// What the meta slots of page 0 hold.
struct Slots {
    /// The valid ones, newest first.
    metas: Vec<Meta>,
    /// Slots neither valid nor blank.
    damaged: usize,
    /// The format the slots were read as.
    version: u32,
    /// What was wrong with the slots that are not valid.
    notes: Vec<String>,
}

/// The meta slots, at the offsets of the header's format; with the header unreadable, at those
/// of the format in which more slots are valid (the current one on a tie).
fn read_slots(file: &PagedFile, version: Option<u32>, report: &mut SalvageReport) -> Slots {
    let mut slots = match version {
        Some(version) => read_metas(file, version),
        None => {
            let current = read_metas(file, FORMAT_VERSION);
            let old = read_metas(file, FORMAT_VERSION_1);
            if old.metas.len() > current.metas.len() { old } else { current }
        }
    };
    report.notes.append(&mut slots.notes);
    if slots.metas.is_empty() {
        report.notes.push("no meta slot is valid: no tree tells which leaf copies are current".into());
    }
    slots
}

/// The meta slots at the offsets of format `version`.
fn read_metas(file: &PagedFile, version: u32) -> Slots {
    let mut metas = Vec::new();
    let mut damaged = 0;
    let mut notes = Vec::new();
    for (slot, offset) in meta_slot_offsets(version).iter().enumerate() {
        let mut b = [0u8; META_SLOT_BYTES];
        let read = file.data.read_exact_at(&mut b, *offset as u64);
        match read.as_ref().ok().and_then(|()| Meta::decode(&b)) {
            Some(meta) => match meta.validate(file.page_bytes) {
                Ok(()) => metas.push(meta),
                Err(why) => {
                    damaged += 1;
                    notes.push(format!("meta slot {slot} is not usable: {why}"));
                }
            },
            // A slot no checkpoint has written yet is zeros: not damage.
            None if read.is_ok() && b.iter().all(|x| *x == 0) => {}
            None => {
                damaged += 1;
                notes.push(format!("meta slot {slot} is damaged"));
            }
        }
    }
    metas.sort_by_key(|m| std::cmp::Reverse(m.checkpoint_id));
    Slots { metas, damaged, version, notes }
}

/// The pairs salvage writes, each value inline or where its overflow chain starts.
type Pairs = BTreeMap<Vec<u8>, Value>;

/// One leaf's entries as they sit on its page.
type LeafEntries = Vec<(Vec<u8>, Value)>;

/// What reading every page found.
struct Scan {
    /// Leaves that verified and decoded, by page number.
    leaves: HashMap<u64, LeafEntries>,
}

/// A leaf's entries, or why they cannot be used.
fn decode_leaf(page_no: u64, page: &[u8]) -> std::result::Result<LeafEntries, String> {
    let view = NodeView::new(page_no, page).map_err(|e| e.to_string())?;
    let mut entries: LeafEntries = Vec::with_capacity(view.count());
    for i in 0..view.count() {
        let entry = view.leaf_entry(i).map_err(|e| e.to_string())?;
        if let Some((last, _)) = entries.last()
            && cmp_keys(last, entry.key).is_ge()
        {
            return Err(format!("entry {i} is out of key order"));
        }
        let value = match entry.value {
            ValueRef::Inline(v) => Value::Inline(v.to_vec()),
            ValueRef::Overflow { len, first } => Value::Overflow { len, first },
        };
        entries.push((entry.key.to_vec(), value));
    }
    Ok(entries)
}

fn scan_pages(file: &PagedFile, metas: &[Meta], report: &mut SalvageReport) -> Scan {
    let mut leaves = HashMap::new();
    let mut buf = file.buffer();
    report.pages_read = file.pages.min(1);
    for n in 1..file.pages {
        if file.read(n, &mut buf).is_none() {
            report.skip(n, SkipReason::PastEnd);
            continue;
        }
        report.pages_read += 1;
        if file::stored_checksum(&buf) != file::page_checksum(n, &buf) {
            if buf.iter().all(|b| *b == 0) {
                report.pages_blank += 1;
            } else {
                report.skip(n, SkipReason::BadChecksum);
            }
            continue;
        }
        match PageKind::from_byte(file::page_kind_byte(&buf)) {
            Some(PageKind::Leaf) => match decode_leaf(n, &buf) {
                Ok(entries) => {
                    report.leaves_recovered += 1;
                    leaves.insert(n, entries);
                }
                Err(why) => report.skip(n, SkipReason::Undecodable(why)),
            },
            Some(_) => {}
            None => report.skip(n, SkipReason::Undecodable(format!("unknown page type {}", buf[0]))),
        }
    }
    // Pages the newest checkpoint counts that the file no longer holds, and a torn last page.
    let counted = metas.first().map_or(0, |m| m.page_count);
    let partial = u64::from(!report.file_bytes.is_multiple_of(file.page_size as u64));
    let missing = counted.saturating_sub(file.pages).max(partial);
    if missing > 0 {
        report.notes.push(format!(
            "the file is cut short: {} bytes, {missing} page(s) missing at its end",
            report.file_bytes
        ));
        // Counted whole, listed up to the report's bound: the count comes from the disk.
        report.pages_past_end += missing;
        let room = LISTED_MAX.saturating_sub(report.skipped.len());
        for page in (file.pages..file.pages.saturating_add(missing)).take(room) {
            report.skipped.push(SkippedPage { page, reason: SkipReason::PastEnd });
        }
    }
    Scan { leaves }
}

/// A key range `[lo, hi)`; `None` is unbounded.
type KeyRange = (Option<Vec<u8>>, Option<Vec<u8>>);

/// What one tree's walk reached.
#[derive(Default)]
struct TreeWalk {
    /// Leaves reached that verified and decoded.
    leaves: HashSet<u64>,
    /// The key ranges under pages that could not be read.
    damaged: Vec<KeyRange>,
}

/// Walk the tree of `meta` as far as its pages allow, never deeper than its depth, never to a
/// page twice.
fn walk_tree(file: &PagedFile, meta: &Meta, scan: &Scan) -> TreeWalk {
    let mut walk = TreeWalk::default();
    let mut seen = HashSet::new();
    let mut buf = file.buffer();
    let depth = meta.depth.min(MAX_TREE_DEPTH);
    let mut stack: Vec<(u64, u32, KeyRange)> = vec![(meta.root, 1, (None, None))];
    while let Some((page, level, range)) = stack.pop() {
        let in_file = page != 0 && page < meta.page_count && seen.insert(page);
        if level == depth {
            if in_file && scan.leaves.contains_key(&page) {
                walk.leaves.insert(page);
            } else {
                walk.damaged.push(range);
            }
            continue;
        }
        let children =
            if in_file && file.read(page, &mut buf).is_some() { branch_children(page, &buf) } else { None };
        let Some((first, entries)) = children else {
            walk.damaged.push(range);
            continue;
        };
        let (lo, hi) = range;
        let mut below = lo;
        let mut child = first;
        for (key, next) in entries {
            stack.push((child, level + 1, (below, Some(key.clone()))));
            below = Some(key);
            child = next;
        }
        stack.push((child, level + 1, (below, hi)));
    }
    walk
}

/// A branch page's entries: `(key, child)`.
type BranchEntries = Vec<(Vec<u8>, u64)>;

/// A verified branch page's leftmost child and its entries.
fn branch_children(page_no: u64, page: &[u8]) -> Option<(u64, BranchEntries)> {
    if file::verify_page(page_no, page).ok()? != PageKind::Branch {
        return None;
    }
    let view = NodeView::new(page_no, page).ok()?;
    let mut entries = Vec::with_capacity(view.count());
    for i in 0..view.count() {
        let (key, child) = view.branch_entry(i).ok()?;
        entries.push((key.to_vec(), child));
    }
    Some((view.first_child(), entries))
}

/// The pages the free list of `meta` names, as far as it can be read, each with the checkpoint
/// that freed it (format 2; 0 in format 1).
fn free_pages(file: &PagedFile, meta: &Meta, version: u32, report: &mut SalvageReport) -> HashMap<u64, u64> {
    let mut free = HashMap::new();
    let mut buf = file.buffer();
    let mut page = meta.freelist_head;
    // The slot counts the chain's pages; one more step finds a link that does not end. A chain
    // is never longer than the file.
    for _ in 0..=meta.freelist_pages.min(file.pages) {
        if page == 0 {
            return free;
        }
        let decoded = file
            .read(page, &mut buf)
            .and_then(|()| file::verify_page(page, &buf).ok())
            .and_then(|_| freelist::decode_page(page, &buf, file.page_size, version).ok());
        let Some((entries, next)) = decoded else {
            report.notes.push(format!("the free list is damaged at page {page}; the rest of it is unknown"));
            return free;
        };
        free.extend(entries.iter().map(|e| (e.page, e.freed_at)));
        page = next;
    }
    report.notes.push("the free list is longer than its meta slot says; the rest of it is unknown".into());
    free
}

/// Ranges sorted by their start, overlapping ones merged.
fn merge_ranges(mut ranges: Vec<KeyRange>) -> Vec<KeyRange> {
    // `None` as a start is the lowest key; as an end, beyond the highest.
    ranges.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<KeyRange> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        if let Some(last) = out.last_mut() {
            let overlaps = match (&last.1, &lo) {
                (None, _) => true,
                (Some(end), Some(start)) => start <= end,
                (Some(_), None) => true,
            };
            if overlaps {
                if last.1.is_some() && hi.as_ref().is_none_or(|h| Some(h) > last.1.as_ref()) {
                    last.1 = hi;
                }
                continue;
            }
        }
        out.push((lo, hi));
    }
    out
}

/// Whether `key` lies in one of `ranges` (sorted and merged).
fn in_ranges(ranges: &[KeyRange], key: &[u8]) -> bool {
    let after = ranges.partition_point(|(lo, _)| lo.as_deref().is_none_or(|lo| lo <= key));
    after > 0 && ranges[after - 1].1.as_deref().is_none_or(|hi| key < hi)
}

/// How much a leaf copy is trusted, the higher the newer it is known to be: its class (3 the
/// current tree, 2 the older checkpoint's, 1 neither nor free, 0 free), then for a free page the
/// checkpoint that freed it (a later one freed a later copy).
fn rank(page: u64, current: &TreeWalk, older: &TreeWalk, free: &HashMap<u64, u64>) -> (u8, u64) {
    if current.leaves.contains(&page) {
        (3, 0)
    } else if older.leaves.contains(&page) {
        (2, 0)
    } else if let Some(freed_at) = free.get(&page) {
        (0, *freed_at)
    } else {
        (1, 0)
    }
}

/// One copy of a key's value: its rank, its page, the value.
type LeafCopy = ((u8, u64), u64, Value);

/// One key's value per the leaves, the copies resolved (see the module documentation).
fn choose(
    file: &PagedFile,
    metas: &[Meta],
    version: u32,
    trusted: bool,
    scan: Scan,
    report: &mut SalvageReport,
) -> Pairs {
    let empty = TreeWalk::default();
    let current = metas.first().map(|m| walk_tree(file, m, &scan));
    let older = metas.get(1).map(|m| walk_tree(file, m, &scan));
    let free = metas.first().map(|m| free_pages(file, m, version, report)).unwrap_or_default();
    // With no readable meta slot, or one that may not be the newest, no tree is the whole truth:
    // every key range is treated as damaged.
    let damaged = match &current {
        Some(walk) if trusted => merge_ranges(walk.damaged.clone()),
        _ => vec![(None, None)],
    };
    report.tree_whole = current.is_some() && damaged.is_empty();
    if let Some(walk) = &current
        && !walk.damaged.is_empty()
    {
        report.notes.push(format!(
            "the current tree is damaged: {} subtree(s) unreadable; their keys come from other copies of their leaves",
            walk.damaged.len()
        ));
    }
    let current = current.unwrap_or_default();
    let older = older.as_ref().unwrap_or(&empty);

    // Every copy of every key: (rank, page, value).
    let mut copies: BTreeMap<Vec<u8>, Vec<LeafCopy>> = BTreeMap::new();
    let mut pages: Vec<_> = scan.leaves.into_iter().collect();
    pages.sort_by_key(|(page, _)| *page);
    for (page, entries) in pages {
        let r = rank(page, &current, older, &free);
        for (key, value) in entries {
            copies.entry(key).or_default().push((r, page, value));
        }
    }
    let mut out = BTreeMap::new();
    for (key, mut list) in copies {
        // Best first: rank, then the higher page number.
        list.sort_by_key(|(rank, page, _)| std::cmp::Reverse((*rank, *page)));
        let ((best_rank, _), _, best) = list.swap_remove(0);
        // Outside the damage the current tree is the whole truth: a key only old copies hold
        // was deleted before the last checkpoint.
        if best_rank < 3 && !in_ranges(&damaged, &key) {
            report.stale_keys_dropped += 1;
            continue;
        }
        if !list.is_empty() {
            report.duplicate_keys += 1;
            if list.iter().any(|(_, _, v)| *v != best) {
                report.duplicates_differing += 1;
                if best_rank < 2 || !trusted {
                    report.duplicates_guessed += 1;
                }
            }
        }
        if best_rank == 0 {
            report.keys_from_free_pages += 1;
        }
        out.insert(key, best);
    }
    if report.duplicates_guessed > 0 {
        report.notes.push(format!(
            "{} key(s) had differing copies that no trusted tree ranks: the best-ranked was taken (a tree's, else one \
             not on the free list, else the one freed last; then the highest page)",
            report.duplicates_guessed
        ));
    }
    out
}

/// What the log holds: its records in sequence, and the checkpoint its header says it follows
/// (format 2).
#[derive(Default)]
struct LogRead {
    records: Vec<(u64, Vec<LogOp<'static>>)>,
    follows: Option<Meta>,
}

/// The log, when it belongs to this file: its records up to the first damaged one or break in
/// the sequence, as recovery reads them.
fn read_log(src: &Path, header: Option<&FileHeader>, report: &mut SalvageReport) -> Result<LogRead> {
    let mut read = LogRead::default();
    let log = log_path(src);
    if !StdVfs.exists(&log)? {
        return Ok(read);
    }
    let Some(header) = header else {
        report.notes.push(
            "the log was not read: with the file header damaged, it cannot be told to belong to this file"
                .into(),
        );
        return Ok(read);
    };
    let file = StdVfs.open_unmapped(&log)?;
    // The header is the first `LOG_HEADER_LEN` bytes, or fewer in a format-1 log.
    let head_len = file.len()?.min(wal::LOG_HEADER_BYTES);
    let mut head = vec![0u8; usize::try_from(head_len).unwrap_or(wal::LOG_HEADER_LEN)];
    let log_header = match file.read_exact_at(&mut head, 0) {
        Ok(()) => wal::decode_header(&head),
        Err(_) => None,
    };
    let log_header = match log_header {
        Some(h) if h.file_id == header.file_id => h,
        Some(_) => {
            report.notes.push("the log belongs to another store (file ids differ); not read".into());
            return Ok(read);
        }
        None => {
            if file.len()? > wal::MIN_LOG_HEADER_BYTES {
                report.notes.push("the log header is damaged; the log was not read".into());
            }
            return Ok(read);
        }
    };
    read.follows = log_header.follows;
    let records = &mut read.records;
    let mut reader = LogReader::new(file, log_header.len)?.of_version(log_header.version);
    loop {
        // The key count entries are not needed: salvage counts the keys it writes.
        let (seq, ops) = match reader.next_record()? {
            Ok(Some(record)) => (record.seq, record.ops),
            Ok(None) => break,
            Err(damage) => {
                report
                    .notes
                    .push(format!("the log ends in damage at byte {}: {}", damage.offset, damage.reason));
                break;
            }
        };
        if records.last().is_some_and(|(last, _)| seq != last + 1) {
            report
                .notes
                .push(format!("the log breaks its sequence at record {seq}; the rest was not applied"));
            break;
        }
        records.push((seq, ops));
    }
    Ok(read)
}

/// The log's records after the newest valid checkpoint applied over the leaves' pairs (later
/// win, deletes remove); and the identifier.
fn apply_log(
    metas: &[Meta],
    records: Vec<(u64, Vec<LogOp<'static>>)>,
    mut pairs: Pairs,
    report: &mut SalvageReport,
) -> (Pairs, Option<String>) {
    let mut identifier = metas.first().map(|m| m.identifier.clone());
    let checkpoint_seq = metas.first().map(|m| m.checkpoint_seq);
    if let (Some(covered), Some((first, _))) = (checkpoint_seq, records.first())
        && *first > covered + 1
    {
        report.notes.push(format!(
            "the log starts at commit {first} but the meta slot covers only up to {covered}: the commits between are only in the pages"
        ));
    }
    for (seq, ops) in records {
        if checkpoint_seq.is_some_and(|covered| seq <= covered) {
            continue;
        }
        for op in ops {
            match op {
                LogOp::Put(key, value) => {
                    pairs.insert(key.into_owned(), Value::Inline(value.into_owned()));
                }
                LogOp::Delete(key) => {
                    pairs.remove(key.as_ref());
                }
                LogOp::SetIdentifier(id) => identifier = Some(id),
            }
        }
        report.log_records_applied += 1;
    }
    (pairs, identifier)
}

/// A value in an overflow chain, read whole; `None` when any page of the chain fails its checks.
fn read_chain(file: &PagedFile, len: u64, first: u64) -> Option<Vec<u8>> {
    let pages = overflow::pages_for(len, file.page_size);
    // A chain longer than the file is damage, not an allocation.
    if pages > file.pages || len > file::MAX_VALUE_BYTES {
        return None;
    }
    let mut value = Vec::with_capacity(usize::try_from(len).ok()?);
    let mut buf = file.buffer();
    let mut page = first;
    for index in 0..pages {
        if page == 0 {
            return None;
        }
        file.read(page, &mut buf)?;
        file::verify_page(page, &buf).ok()?;
        let (chunk, next) = overflow::read_chunk(page, &buf, index, len, file.page_size).ok()?;
        value.extend_from_slice(chunk);
        page = next;
    }
    (value.len() as u64 == len).then_some(value)
}

fn write_store(
    file: &PagedFile,
    dst: &Path,
    page_size: u32,
    identifier: Option<&str>,
    pairs: &mut Pairs,
    report: &mut SalvageReport,
) -> Result<()> {
    let mut options = OpenOptions::new();
    options.page_size(page_size).durability(Durability::Buffered);
    if let Some(id) = identifier {
        options.identifier(id);
    }
    let store = options.open(dst)?;
    let max_key = max_key_bytes(page_size);
    let mut batch = WriteBatch::new();
    let mut batch_bytes = 0usize;
    let mut too_long = 0u64;
    for (key, value) in std::mem::take(pairs) {
        if key.len() > max_key {
            too_long += 1;
            continue;
        }
        let value = match value {
            Value::Inline(v) => v,
            Value::Overflow { len, first } => match read_chain(file, len, first) {
                Some(v) => v,
                None => {
                    report.values_lost += 1;
                    if report.lost_keys.len() < LISTED_MAX {
                        report.lost_keys.push(key);
                    }
                    continue;
                }
            },
        };
        batch_bytes += key.len() + value.len();
        batch.put(&key, &value);
        report.keys_recovered += 1;
        if batch.len() >= BATCH_PAIRS || batch_bytes >= BATCH_BYTES {
            store.write(std::mem::take(&mut batch))?;
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        store.write(batch)?;
    }
    if too_long > 0 {
        report.notes.push(format!("{too_long} key(s) longer than the page size allows were not written"));
    }
    if report.values_lost > 0 {
        report.notes.push(format!(
            "{} value(s) in overflow chains that do not verify were lost; their keys were not written",
            report.values_lost
        ));
    }
    store.close()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(lo: Option<&str>, hi: Option<&str>) -> KeyRange {
        (lo.map(|s| s.as_bytes().to_vec()), hi.map(|s| s.as_bytes().to_vec()))
    }

    #[test]
    fn ranges_merge_and_contain_their_keys() {
        let merged =
            merge_ranges(vec![r(Some("m"), Some("p")), r(Some("a"), Some("c")), r(Some("b"), Some("d"))]);
        assert_eq!(merged, vec![r(Some("a"), Some("d")), r(Some("m"), Some("p"))]);
        for (key, inside) in [("a", true), ("c", true), ("d", false), ("l", false), ("m", true), ("p", false)]
        {
            assert_eq!(in_ranges(&merged, key.as_bytes()), inside, "{key}");
        }
        let everything = merge_ranges(vec![r(None, None), r(Some("x"), Some("y"))]);
        assert_eq!(everything, vec![r(None, None)]);
        assert!(in_ranges(&everything, b""));
        assert!(in_ranges(&everything, b"\xff"));
        let open_ends = merge_ranges(vec![r(Some("k"), None), r(None, Some("b"))]);
        assert!(in_ranges(&open_ends, b"a") && !in_ranges(&open_ends, b"c") && in_ranges(&open_ends, b"zz"));
        assert!(!in_ranges(&[], b"a"));
    }
}
