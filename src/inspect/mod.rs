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
    pub const ALL: [PageType; 6] = [
        PageType::Meta,
        PageType::Branch,
        PageType::Leaf,
        PageType::Overflow,
        PageType::Freelist,
        PageType::Free,
    ];

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
    pub page_size: u32,
    /// Pages in the file, page 0 included.
    pub page_count: u64,
    pub meta_pages: u64,
    pub branch_pages: u64,
    pub leaf_pages: u64,
    pub overflow_pages: u64,
    pub freelist_pages: u64,
    /// Free pages, including pages freed since the last checkpoint (reused after it).
    pub free_pages: u64,
    /// Levels in the B+tree: 1 when the root is a leaf.
    pub tree_depth: u32,
    pub key_count: u64,
    pub file_bytes: u64,
    pub log_bytes: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Bytes currently held by the page cache.
    pub cache_bytes: u64,
    /// Pages changed since the last checkpoint and held in memory.
    pub dirty_pages: u64,
    /// Log sequence number of the last commit.
    pub last_commit_seq: u64,
    /// Log sequence number covered by the data file's current meta slot.
    pub checkpoint_seq: u64,
}

impl Stats {
    /// Fraction of page reads served from the cache (0 when nothing was read yet).
    pub fn cache_hit_ratio(&self) -> f64 {
        let total = self.cache_hits + self.cache_misses;
        if total == 0 { 0.0 } else { self.cache_hits as f64 / total as f64 }
    }

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
    pub number: u64,
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
    Invalid { stored: u32, computed: u32 },
    /// The page is changed in memory since the last checkpoint; its checksum is written with it.
    NotYetWritten,
    /// Free pages and page 0 (whose slots carry their own checksums) are not checked as pages.
    NotApplicable,
}

/// One item of a page, as `PAGE n` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageItem {
    /// A leaf entry; `overflow` is the first page of the value's chain when it is not inline.
    LeafEntry { key: Vec<u8>, value_len: u64, overflow: Option<u64> },
    /// A branch child; `key` is the smallest key the child may hold (`None` for the leftmost).
    BranchChild { key: Option<Vec<u8>>, child: u64 },
    /// An overflow page's data and the next link of its chain (0 ends the chain).
    OverflowData { data_bytes: u32, next: u64 },
    /// A page number listed on a free-list page.
    FreePage { page: u64 },
    /// A field of page 0.
    MetaField { name: String, value: String },
}

/// Everything known about one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    pub number: u64,
    pub page_type: PageType,
    /// The type byte as stored (differs from `page_type` for free pages holding stale data).
    pub stored_type: u8,
    /// Items on the page: entries of a leaf, children of a branch, page numbers of a free-list
    /// page (for a page that fails its checksum: the header's count field as stored).
    pub item_count: u32,
    /// The header's next pointer (overflow and free-list chains; the leftmost child of a branch).
    pub next: u64,
    pub checksum: ChecksumState,
    pub used_bytes: u32,
    pub free_bytes: u32,
    pub items: Vec<PageItem>,
}

/// A problem the integrity check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The page at fault, when one is.
    pub page: Option<u64>,
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
    pub pages_checked: u64,
    pub keys_checked: u64,
    pub problems: Vec<Problem>,
}

impl CheckReport {
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
}
