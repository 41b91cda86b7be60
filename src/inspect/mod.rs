//! What the store tells about itself: statistics, pages, and the integrity check's findings.
//! The browser, the `PAGES` / `PAGE n` / `FREELIST` / `CHECK` commands and the tests all read
//! the store through these types; nothing outside the engine touches a page.

pub(crate) mod check;
pub(crate) mod page_info;

use std::fmt;

/// What a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PageType {
    /// Page 0: the file header and the two meta slots.
    Meta,
    /// An interior B+tree node: separator keys and child page numbers.
    Branch,
    /// A B+tree leaf: keys with inline values or references to overflow chains.
    Leaf,
    /// One link of a large value's chain.
    Overflow,
    /// A page of the persisted free-page list.
    Freelist,
    /// Not in use; will be reused before the file grows.
    Free,
}

impl PageType {
    /// Every page type, in declaration order.
    pub const ALL: [PageType; 6] = [
        PageType::Meta,
        PageType::Branch,
        PageType::Leaf,
        PageType::Overflow,
        PageType::Freelist,
        PageType::Free,
    ];

    /// The lower-case name (`"leaf"`, `"freelist"`, ...) that `Display` writes.
    pub fn name(self) -> &'static str {
        match self {
            PageType::Meta => "meta",
            PageType::Branch => "branch",
            PageType::Leaf => "leaf",
            PageType::Overflow => "overflow",
            PageType::Freelist => "freelist",
            PageType::Free => "free",
        }
    }
}

impl fmt::Display for PageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counters describing a store, all O(1) to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Page size in bytes.
    pub page_size: u32,
    /// Pages in the file, page 0 included.
    pub page_count: u64,
    /// Pages holding the file header and the meta slots: always 1 (page 0).
    pub meta_pages: u64,
    /// Branch (interior) pages of the B+tree.
    pub branch_pages: u64,
    /// Leaf pages of the B+tree.
    pub leaf_pages: u64,
    /// Pages of overflow chains, which hold values too large for a leaf.
    pub overflow_pages: u64,
    /// Pages of the persisted free-page list.
    pub freelist_pages: u64,
    /// Free pages, including pages freed since the last checkpoint (reused after it).
    pub free_pages: u64,
    /// Levels in the B+tree: 1 when the root is a leaf.
    pub tree_depth: u32,
    /// Keys in the store.
    pub key_count: u64,
    /// Length of the data file in bytes.
    pub file_bytes: u64,
    /// Length of the write-ahead log in bytes, records still buffered included.
    pub log_bytes: u64,
    /// Page reads served from the cache since the store was opened or last compacted.
    pub cache_hits: u64,
    /// Page reads that missed the cache and went to the file, counted like `cache_hits`.
    pub cache_misses: u64,
    /// Bytes currently held by the page cache.
    pub cache_bytes: u64,
    /// Pages changed since the last checkpoint and held in memory.
    pub dirty_pages: u64,
    /// Log sequence number of the last commit.
    pub last_commit_seq: u64,
    /// Log sequence number covered by the data file's current meta slot.
    pub checkpoint_seq: u64,
    /// Id of the checkpoint in force (one more at each checkpoint).
    pub checkpoint_id: u64,
    /// Format version of the data file (2 for stores this build creates).
    pub format_version: u32,
    /// Readers in the reader table (read-only handles in this and other processes), as of the
    /// writer's last look at it (at each checkpoint); 0 for a read-only handle.
    pub readers: u64,
    /// Free pages the writer holds back because a reader has pinned a checkpoint that reaches
    /// them; they are reused once it moves on or closes. Counted among the pages the writer has
    /// in memory: held pages still on the unread part of the free list are not (see
    /// [`ReaderInfo::pages_held`], read from the list itself). 0 on a read-only handle.
    pub pages_held_for_readers: u64,
    /// Held pages the writer reused since it opened because more than
    /// [`OpenOptions::reader_hold_bytes`](crate::OpenOptions::reader_hold_bytes) were held: a
    /// reader still pinning the state they belonged to gets `Error::StalePage` where it reaches
    /// one. 0 on a read-only handle.
    pub pages_taken_from_readers: u64,
}

/// One reader in the store's reader table (see [`crate::KVStore::readers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReaderInfo {
    /// The slot the reader holds in the table.
    pub slot: u32,
    /// Process id of the reader (`None` while the reader is still writing its slot).
    pub pid: Option<u32>,
    /// The checkpoint the reader has pinned: the writer keeps every page it reaches.
    pub checkpoint_id: Option<u64>,
    /// When the reader pinned it, Unix milliseconds.
    pub pinned_since_ms: Option<u64>,
    /// Pages the writer holds back because of this reader, as of the last checkpoint: the free
    /// list's pages freed after the checkpoint it pinned (other readers may hold them too).
    /// `None` when not known: the list is over [`READER_HELD_LIST_PAGES`] pages or could not be
    /// read whole (the writer rewrote it meanwhile).
    pub pages_held: Option<u64>,
}

/// [`ReaderInfo::pages_held`] is counted from a free list of at most this many pages.
pub const READER_HELD_LIST_PAGES: u64 = 4096;

impl Stats {
    /// Fraction of page reads served from the cache (0 when nothing was read yet).
    pub fn cache_hit_ratio(&self) -> f64 {
        let total = self.cache_hits + self.cache_misses;
        if total == 0 { 0.0 } else { self.cache_hits as f64 / total as f64 }
    }

    /// Pages of `page_type`: the count field for that type (`leaf_pages` for [`PageType::Leaf`], ...).
    pub fn pages_of(&self, page_type: PageType) -> u64 {
        match page_type {
            PageType::Meta => self.meta_pages,
            PageType::Branch => self.branch_pages,
            PageType::Leaf => self.leaf_pages,
            PageType::Overflow => self.overflow_pages,
            PageType::Freelist => self.freelist_pages,
            PageType::Free => self.free_pages,
        }
    }
}

/// One page as the page map shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSummary {
    /// Page number, from 0.
    pub number: u64,
    /// What the page holds.
    pub page_type: PageType,
    /// Items on the page: entries of a leaf, children of a branch, page numbers of a free-list page.
    pub items: u32,
    /// Bytes of the page in use, header included.
    pub used_bytes: u32,
}

/// The checksum of a page as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumState {
    /// The stored CRC32 matches the page.
    Valid,
    /// The stored CRC32 does not match.
    Invalid {
        /// The CRC32 in the page's header.
        stored: u32,
        /// The CRC32 of the page's bytes as read.
        computed: u32,
    },
    /// The page is changed in memory since the last checkpoint; its checksum is written with it.
    NotYetWritten,
    /// Free pages and page 0 (whose slots carry their own checksums) are not checked as pages.
    NotApplicable,
}

/// One item of a page, as `PAGE n` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageItem {
    /// A leaf entry; `overflow` is the first page of the value's chain when it is not inline.
    LeafEntry {
        /// The key.
        key: Vec<u8>,
        /// Length of the value in bytes.
        value_len: u64,
        /// First page of the value's overflow chain; `None` when the value is inline.
        overflow: Option<u64>,
    },
    /// A branch child; `key` is the smallest key the child may hold (`None` for the leftmost).
    BranchChild {
        /// Smallest key the child may hold; `None` for the leftmost child.
        key: Option<Vec<u8>>,
        /// Page number of the child.
        child: u64,
    },
    /// An overflow page's data and the next link of its chain (0 ends the chain).
    OverflowData {
        /// Bytes of the value held on this page.
        data_bytes: u32,
        /// Page number of the next link; 0 on the last page of the chain.
        next: u64,
    },
    /// A page number listed on a free-list page.
    FreePage {
        /// Number of the free page.
        page: u64,
    },
    /// A field of page 0.
    MetaField {
        /// The field's name; a meta slot's fields carry the slot (`slot 0 (in force): root page`).
        name: String,
        /// The field's value as text.
        value: String,
    },
}

/// Everything known about one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    /// Page number, from 0.
    pub number: u64,
    /// What the page holds; for a page that fails its checksum, the type its type byte names
    /// ([`PageType::Free`] when it names none).
    pub page_type: PageType,
    /// The type byte as stored (differs from `page_type` for free pages holding stale data).
    pub stored_type: u8,
    /// Items on the page: entries of a leaf, children of a branch, page numbers of a free-list
    /// page (for a page that fails its checksum: the header's count field as stored).
    pub item_count: u32,
    /// The header's next pointer (overflow and free-list chains; the leftmost child of a branch).
    pub next: u64,
    /// Whether the page's stored checksum matches its bytes.
    pub checksum: ChecksumState,
    /// Bytes of the page in use, header included (0 for free pages and pages that fail their
    /// checksum).
    pub used_bytes: u32,
    /// Bytes of the page not in use: the page size minus `used_bytes`.
    pub free_bytes: u32,
    /// The decoded items (none for free pages and pages that fail their checksum).
    pub items: Vec<PageItem>,
}

/// A problem the integrity check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The page at fault, when one is.
    pub page: Option<u64>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.page {
            Some(page) => write!(f, "page {page}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The integrity check's result: empty `problems` on a healthy store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Pages the walk reached (tree, overflow chains, free list, free pages), page 0 included.
    pub pages_checked: u64,
    /// Keys found in the leaves.
    pub keys_checked: u64,
    /// Every problem found, in the order found.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Whether the check found no problem.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What recovery did when the store was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Commits replayed from the log.
    pub commits_replayed: u64,
    /// Where replay stopped early and why, when the log ended in a torn or damaged record.
    pub stopped_at: Option<(u64, String)>,
    /// Why acknowledged commits may be missing from what the store serves, when there is a sign
    /// of it: a record after the stop that the log still holds, a checkpoint newer than the meta
    /// slots describe. `None` when the stop (if any) is what a crash leaves.
    pub data_may_be_missing: Option<String>,
    /// Whether the log was left as found (not cut back to its header) so that nothing in it is
    /// lost; the store then opened read-only, or writes go on after the kept records.
    pub log_kept: bool,
    /// Other things the open did that a person should hear about (a conversion from an older
    /// format, a damaged meta slot passed over), one sentence each.
    pub notes: Vec<String>,
}

impl RecoveryReport {
    /// Whether the open found nothing worth telling: no commits replayed after damage, no stop,
    /// no sign of missing data, no notes.
    pub fn is_quiet(&self) -> bool {
        self.stopped_at.is_none() && self.data_may_be_missing.is_none() && self.notes.is_empty()
    }

    /// Whether acknowledged commits may be missing (front-ends exit with a distinct status).
    pub fn may_have_lost_data(&self) -> bool {
        self.data_may_be_missing.is_some()
    }

    /// The report as sentences for a person, most important first; empty when
    /// [`is_quiet`](Self::is_quiet).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(why) = &self.data_may_be_missing {
            out.push(format!("acknowledged commits may be missing: {why}"));
        }
        if let Some((offset, reason)) = &self.stopped_at {
            out.push(format!(
                "log replay stopped at byte {offset}: {reason} ({} commit(s) replayed before it)",
                self.commits_replayed
            ));
        }
        if self.log_kept && (self.stopped_at.is_some() || self.data_may_be_missing.is_some()) {
            out.push("the log was kept as found; nothing in it was discarded".to_string());
        }
        out.extend(self.notes.iter().cloned());
        out
    }
}
