//! The data file's fixed layouts: the file header and meta slots on page 0, and the 16-byte
//! header every other page starts with. Leaf and branch bodies are in `node.rs`, overflow and
//! free-list bodies in `overflow.rs` and `freelist.rs` beside it, the log in `crate::wal`.
//!
//! ```text
//! page 0 (format version 2): two 512-byte sectors, each a whole copy of the file header and one
//! meta slot, so a write torn anywhere in one sector leaves the other sector readable
//! +--------------------------+ 0
//! | file header (128 bytes)  |     written at creation; rewritten unchanged with slot 0
//! | meta slot 0 (256 bytes)  | 128
//! | zero                     | 384
//! +--------------------------+ 512
//! | file header (copy)       |     written at creation; rewritten unchanged with slot 1
//! | meta slot 1 (256 bytes)  | 640
//! | zero                     | 896
//! +--------------------------+ 1024
//! | zero (to the page size)  |
//! +--------------------------+
//!
//! (format version 1: header at 0, slot 0 at 512, slot 1 at 768; read, and converted to version
//! 2 by a writable open)
//!
//! file header                          meta slot
//!   0  8  magic "WINDKVS\0"              0  4  magic "META"
//!   8  4  format version (2)             4  4  zero
//!  12  4  page size                      8  8  checkpoint id (the valid slot with the larger wins)
//!  16  8  file id (random, also in log) 16  8  root page
//!  24  8  created, unix ms              24  8  first free-list page (0: none)
//!  32 92  zero                          32  8  page count (file length / page size)
//! 124  4  CRC32 of bytes 0..124         40  8  key count
//!                                       48  8  last log sequence number in this checkpoint
//!                                       56  8  modified, unix ms
//!                                       64  4  tree depth (1: the root is a leaf)
//!                                       68  4  zero
//!                                       72  8  branch pages
//!                                       80  8  leaf pages
//!                                       88  8  overflow pages
//!                                       96  8  free-list pages
//!                                      104  8  free pages listed in the free list
//!                                      112  1  identifier length
//!                                      113 64  identifier (UTF-8)
//!                                      177 75  zero
//!                                      252  4  CRC32 of bytes 0..252
//!
//! page header (every page but page 0)
//!   0  1  type: 1 branch, 2 leaf, 3 overflow, 4 free list
//!   1  1  zero
//!   2  2  item count (overflow: data bytes on this page)
//!   4  4  CRC32 of bytes 0..4 and 8..page size, seeded with the page number
//!   8  8  next: branch: leftmost child; overflow, free list: next page of the chain (0: end)
//! ```
//!
//! All integers are little-endian. Page numbers are `u64` byte offsets divided by the page size;
//! page 0 is never a link target, so 0 means "none".

use crate::error::{Error, Result};

pub(crate) const FILE_MAGIC: [u8; 8] = *b"WINDKVS\0";
/// The format this build writes.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// The first format: still read (its data can be exported), converted by a writable open.
pub(crate) const FORMAT_VERSION_1: u32 = 1;

pub(crate) const MIN_PAGE_SIZE: u32 = 1024;
pub(crate) const MAX_PAGE_SIZE: u32 = 64 * 1024;
/// Chosen by measurement: see docs/FORMAT.md, "Page size".
pub(crate) const DEFAULT_PAGE_SIZE: u32 = 4096;

pub(crate) const FILE_HEADER_BYTES: usize = 128;
const HEADER_CRC: usize = FILE_HEADER_BYTES - 4;
pub(crate) const META_SLOT_BYTES: usize = 256;
/// A disk sector: the unit a torn write damages (docs/DURABILITY.md, assumption 3).
pub(crate) const SECTOR_BYTES: usize = 512;
/// Where each copy of the file header starts (version 2): one per sector.
pub(crate) const HEADER_OFFSETS: [usize; 2] = [0, SECTOR_BYTES];
/// Where each meta slot starts (version 2): after the header copy in its own sector.
pub(crate) const META_SLOT_OFFSETS: [usize; 2] = [FILE_HEADER_BYTES, SECTOR_BYTES + FILE_HEADER_BYTES];
/// Where the meta slots of a version-1 file start: both in the second sector.
pub(crate) const V1_META_SLOT_OFFSETS: [usize; 2] = [512, 768];
/// Bytes of page 0 that hold anything: both sectors.
pub(crate) const PAGE_ZERO_USED_BYTES: usize = 2 * SECTOR_BYTES;

/// The meta slot offsets of a file of `version`.
pub(crate) fn meta_slot_offsets(version: u32) -> [usize; 2] {
    if version == FORMAT_VERSION_1 { V1_META_SLOT_OFFSETS } else { META_SLOT_OFFSETS }
}

/// Longest identifier, in bytes: it lives in the meta slots.
pub const MAX_IDENTIFIER_BYTES: usize = 64;
pub(crate) const DEFAULT_IDENTIFIER: &str = "KVStore";

pub(crate) const PAGE_HEADER_BYTES: usize = 16;

/// Pages a store may have: page numbers fit in 40 bits, since the top 24 bits of a page header's
/// `next` field hold most of the page's generation. 2^40 pages of 1 KiB are 1 PiB.
pub(crate) const MAX_PAGE_COUNT: u64 = 1 << 40;
const PAGE_NEXT_MASK: u64 = MAX_PAGE_COUNT - 1;

/// Largest value: the log stores value lengths as `u32`.
pub const MAX_VALUE_BYTES: u64 = u32::MAX as u64;

/// A tree deeper than this is a damaged file (a cycle among branch pages would otherwise recurse
/// forever). With the smallest page and the largest keys a tree of 2^64 keys is far shallower.
pub(crate) const MAX_TREE_DEPTH: u32 = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum PageKind {
    Branch = 1,
    Leaf = 2,
    Overflow = 3,
    Freelist = 4,
}

impl PageKind {
    pub(crate) fn from_byte(b: u8) -> Option<PageKind> {
        match b {
            1 => Some(PageKind::Branch),
            2 => Some(PageKind::Leaf),
            3 => Some(PageKind::Overflow),
            4 => Some(PageKind::Freelist),
            _ => None,
        }
    }
}

pub(crate) fn valid_page_size(page_size: u32) -> bool {
    page_size.is_power_of_two() && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size)
}

// ---- little-endian helpers; callers have checked the bounds ----

pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
pub(crate) fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
pub(crate) fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// A count, length or offset inside one page as its `u16` field holds it. Pages are at most
/// `MAX_PAGE_SIZE` (64 KiB) bytes, so everything inside one is below 65,536; a larger number is a
/// bug in the encoder, caught in debug builds and saturated in release ones.
pub(crate) fn in_page_u16(n: usize) -> u16 {
    debug_assert!(n <= usize::from(u16::MAX), "{n} does not fit a page field");
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// A size inside one page (at most 64 KiB) as a `u32`, for the inspection types.
pub(crate) fn in_page_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

// ---- file header ----

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileHeader {
    /// [`FORMAT_VERSION`] or [`FORMAT_VERSION_1`].
    pub version: u32,
    pub page_size: u32,
    pub file_id: u64,
    pub created_ms: u64,
}

/// Why a file header was refused.
pub(crate) enum HeaderError {
    NotAStore(String),
    Version(u32),
}

impl FileHeader {
    pub(crate) fn encode(&self, out: &mut [u8]) {
        out[..FILE_HEADER_BYTES].fill(0);
        out[0..8].copy_from_slice(&FILE_MAGIC);
        put_u32(out, 8, self.version);
        put_u32(out, 12, self.page_size);
        put_u64(out, 16, self.file_id);
        put_u64(out, 24, self.created_ms);
        let crc = crc32fast::hash(&out[..HEADER_CRC]);
        put_u32(out, HEADER_CRC, crc);
    }

    pub(crate) fn decode(b: &[u8]) -> Result<FileHeader, HeaderError> {
        if b.len() < FILE_HEADER_BYTES {
            return Err(HeaderError::NotAStore(format!("file is only {} bytes", b.len())));
        }
        if b[0..8] != FILE_MAGIC {
            return Err(HeaderError::NotAStore("wrong magic bytes".into()));
        }
        if crc32fast::hash(&b[..HEADER_CRC]) != get_u32(b, HEADER_CRC) {
            return Err(HeaderError::NotAStore("file header checksum mismatch".into()));
        }
        let version = get_u32(b, 8);
        if version != FORMAT_VERSION && version != FORMAT_VERSION_1 {
            return Err(HeaderError::Version(version));
        }
        let page_size = get_u32(b, 12);
        if !valid_page_size(page_size) {
            return Err(HeaderError::NotAStore(format!("invalid page size {page_size}")));
        }
        Ok(FileHeader { version, page_size, file_id: get_u64(b, 16), created_ms: get_u64(b, 24) })
    }

    /// The sector of page 0 that holds meta slot `slot` (version 2): a copy of this header and
    /// `meta`, so that writing one slot rewrites nothing the other sector needs.
    pub(crate) fn encode_sector(&self, meta: &Meta) -> [u8; SECTOR_BYTES] {
        debug_assert_eq!(self.version, FORMAT_VERSION, "only version 2 is written");
        let mut b = [0u8; SECTOR_BYTES];
        self.encode(&mut b[..FILE_HEADER_BYTES]);
        meta.encode(&mut b[FILE_HEADER_BYTES..FILE_HEADER_BYTES + META_SLOT_BYTES]);
        b
    }
}

// ---- meta slot ----

const META_MAGIC: [u8; 4] = *b"META";
const META_CRC: usize = META_SLOT_BYTES - 4;

/// The state a checkpoint leaves behind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    pub checkpoint_id: u64,
    pub root: u64,
    pub freelist_head: u64,
    pub page_count: u64,
    pub key_count: u64,
    pub checkpoint_seq: u64,
    pub modified_ms: u64,
    pub depth: u32,
    pub branch_pages: u64,
    pub leaf_pages: u64,
    pub overflow_pages: u64,
    pub freelist_pages: u64,
    pub free_count: u64,
    pub identifier: String,
}

impl Meta {
    pub(crate) fn encode(&self, out: &mut [u8]) {
        let out = &mut out[..META_SLOT_BYTES];
        out.fill(0);
        out[0..4].copy_from_slice(&META_MAGIC);
        put_u64(out, 8, self.checkpoint_id);
        put_u64(out, 16, self.root);
        put_u64(out, 24, self.freelist_head);
        put_u64(out, 32, self.page_count);
        put_u64(out, 40, self.key_count);
        put_u64(out, 48, self.checkpoint_seq);
        put_u64(out, 56, self.modified_ms);
        put_u32(out, 64, self.depth);
        put_u64(out, 72, self.branch_pages);
        put_u64(out, 80, self.leaf_pages);
        put_u64(out, 88, self.overflow_pages);
        put_u64(out, 96, self.freelist_pages);
        put_u64(out, 104, self.free_count);
        let id = self.identifier.as_bytes();
        debug_assert!(id.len() <= MAX_IDENTIFIER_BYTES);
        // Callers check the limit; were it passed, cut at a character boundary, never inside one.
        let mut n = id.len().min(MAX_IDENTIFIER_BYTES);
        while !self.identifier.is_char_boundary(n) {
            n -= 1;
        }
        out[112] = u8::try_from(n).unwrap_or(u8::MAX);
        out[113..113 + n].copy_from_slice(&id[..n]);
        let crc = crc32fast::hash(&out[..META_CRC]);
        put_u32(out, META_CRC, crc);
    }

    /// `None` when the slot is torn, blank or damaged.
    pub(crate) fn decode(b: &[u8]) -> Option<Meta> {
        let b = b.get(..META_SLOT_BYTES)?;
        if b[0..4] != META_MAGIC || crc32fast::hash(&b[..META_CRC]) != get_u32(b, META_CRC) {
            return None;
        }
        let n = b[112] as usize;
        if n > MAX_IDENTIFIER_BYTES {
            return None;
        }
        let identifier = String::from_utf8(b[113..113 + n].to_vec()).ok()?;
        Some(Meta {
            checkpoint_id: get_u64(b, 8),
            root: get_u64(b, 16),
            freelist_head: get_u64(b, 24),
            page_count: get_u64(b, 32),
            key_count: get_u64(b, 40),
            checkpoint_seq: get_u64(b, 48),
            modified_ms: get_u64(b, 56),
            depth: get_u32(b, 64),
            branch_pages: get_u64(b, 72),
            leaf_pages: get_u64(b, 80),
            overflow_pages: get_u64(b, 88),
            freelist_pages: get_u64(b, 96),
            free_count: get_u64(b, 104),
            identifier,
        })
    }

    /// Fields that must hold for any meta this build writes; a slot failing them is damage.
    pub(crate) fn validate(&self, page_size: u32) -> Result<(), String> {
        // Both count up by one from here: the largest value could never be written next.
        if self.checkpoint_id == u64::MAX || self.checkpoint_seq == u64::MAX {
            return Err("checkpoint id or log sequence number at its largest".into());
        }
        if self.page_count < 2 {
            return Err(format!("page count {} is below 2", self.page_count));
        }
        if self.root == 0 || self.root >= self.page_count {
            return Err(format!("root page {} outside 1..{}", self.root, self.page_count));
        }
        if self.freelist_head >= self.page_count {
            return Err(format!("free-list page {} past the end", self.freelist_head));
        }
        if self.depth == 0 || self.depth > MAX_TREE_DEPTH {
            return Err(format!("tree depth {} out of range", self.depth));
        }
        let max_pages = (u64::MAX / page_size as u64).min(MAX_PAGE_COUNT);
        if self.page_count > max_pages {
            return Err(format!("page count {} too large", self.page_count));
        }
        // The free list lives in the file and lists pages of it: it has fewer pages than the
        // file, so walking it is bounded by the file's size.
        if self.freelist_pages >= self.page_count || self.free_count >= self.page_count {
            return Err(format!(
                "free list of {} pages listing {} pages in a file of {} pages",
                self.freelist_pages, self.free_count, self.page_count
            ));
        }
        Ok(())
    }
}

// ---- page header and checksum ----

pub(crate) fn page_kind_byte(page: &[u8]) -> u8 {
    page[0]
}
pub(crate) fn page_count_field(page: &[u8]) -> u16 {
    get_u16(page, 2)
}
pub(crate) fn page_next(page: &[u8]) -> u64 {
    get_u64(page, 8) & PAGE_NEXT_MASK
}

/// The page's generation: the low 32 bits of the checkpoint that wrote it (0: not recorded, as in
/// pages written before generations were kept). Byte 1 holds its low 8 bits, bytes 13..16 (the
/// top of the `next` field) the rest.
pub(crate) fn page_generation(page: &[u8]) -> u32 {
    u32::from_le_bytes([page[1], page[13], page[14], page[15]])
}

/// Record in `page` that checkpoint `checkpoint` writes it (before sealing it).
pub(crate) fn set_page_generation(page: &mut [u8], checkpoint: u64) {
    let [low, rest @ ..] = low_32_bits(checkpoint).to_le_bytes();
    page[1] = low;
    page[13..16].copy_from_slice(&rest);
}

fn low_32_bits(n: u64) -> u32 {
    u32::try_from(n & u64::from(u32::MAX)).unwrap_or(0)
}

/// How many checkpoints after `pinned` the checkpoint that wrote `page` came, when it came after:
/// the page was rewritten since the state a reader pinned, and the link that led to it is stale.
/// Generations are compared on a 2^32 circle, so a page unchanged for 2^31 checkpoints would
/// read as stale: compaction rewrites every page with a new generation.
pub(crate) fn generation_after(page: &[u8], pinned: u64) -> Option<u64> {
    let written = page_generation(page);
    let ahead = written.wrapping_sub(low_32_bits(pinned));
    (written != 0 && ahead != 0 && ahead < 1 << 31).then_some(u64::from(ahead))
}
pub(crate) fn stored_checksum(page: &[u8]) -> u32 {
    get_u32(page, 4)
}

pub(crate) fn write_page_header(page: &mut [u8], kind: PageKind, count: u16, next: u64) {
    page[0] = kind as u8;
    page[1] = 0;
    put_u16(page, 2, count);
    put_u32(page, 4, 0);
    debug_assert!(next < MAX_PAGE_COUNT, "page link {next} beyond the largest page number");
    put_u64(page, 8, next & PAGE_NEXT_MASK);
}

/// CRC32 of a page, seeded with its number so a page written to the wrong place fails too.
pub(crate) fn page_checksum(page_no: u64, page: &[u8]) -> u32 {
    let (low, high) = (page_no & u64::from(u32::MAX), page_no >> 32);
    let seed = u32::try_from(low ^ high).unwrap_or(u32::MAX);
    let mut h = crc32fast::Hasher::new_with_initial(seed);
    h.update(&page[0..4]);
    h.update(&page[8..]);
    h.finalize()
}

/// Seal `page` as it is (its generation included).
pub(crate) fn seal_page(page_no: u64, page: &mut [u8]) {
    let crc = page_checksum(page_no, page);
    put_u32(page, 4, crc);
}

/// Seal `page` as written by checkpoint `generation`.
pub(crate) fn seal_page_at(page_no: u64, generation: u64, page: &mut [u8]) {
    set_page_generation(page, generation);
    seal_page(page_no, page);
}

/// Verify a page read from disk: its checksum and that its type byte is known.
pub(crate) fn verify_page(page_no: u64, page: &[u8]) -> Result<PageKind> {
    let stored = stored_checksum(page);
    let computed = page_checksum(page_no, page);
    if stored != computed {
        return Err(Error::corrupted(
            page_no,
            format!("checksum mismatch (stored {stored:08x}, computed {computed:08x})"),
        ));
    }
    PageKind::from_byte(page_kind_byte(page))
        .ok_or_else(|| Error::corrupted(page_no, format!("unknown page type {}", page_kind_byte(page))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_compare_on_a_circle_and_zero_is_unknown() {
        let mut page = vec![0u8; 1024];
        write_page_header(&mut page, PageKind::Overflow, 3, (1 << 40) - 1);
        assert_eq!(generation_after(&page, 5), None, "generation 0: not recorded");
        for (written, pinned, after) in [
            (7u64, 7u64, None),
            (6, 7, None),
            (8, 7, Some(1)),
            (7 + (1 << 31) - 1, 7, Some((1 << 31) - 1)),
            (7 + (1 << 31), 7, None),
            ((1 << 32) + 2, (1 << 32) - 3, Some(5)),
            ((1 << 32) - 3, (1 << 32) + 2, None),
        ] {
            set_page_generation(&mut page, written);
            assert_eq!(generation_after(&page, pinned), after, "written {written}, pinned {pinned}");
        }
        set_page_generation(&mut page, 0x1234_5678_9abc);
        assert_eq!(page_generation(&page), 0x5678_9abc);
        assert_eq!(page_next(&page), (1 << 40) - 1, "the generation leaves the link alone");
        assert_eq!(page_count_field(&page), 3);
        seal_page(9, &mut page);
        assert!(verify_page(9, &page).is_ok());
        page[14] ^= 1;
        assert!(verify_page(9, &page).is_err(), "the checksum covers the generation");
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = FileHeader { version: FORMAT_VERSION, page_size: 4096, file_id: 0xdead_beef, created_ms: 42 };
        let mut b = vec![0u8; FILE_HEADER_BYTES];
        h.encode(&mut b);
        assert!(matches!(FileHeader::decode(&b), Ok(ref d) if *d == h));
        b[20] ^= 1;
        assert!(matches!(FileHeader::decode(&b), Err(HeaderError::NotAStore(_))));
        let mut other = vec![0u8; FILE_HEADER_BYTES];
        other[..6].copy_from_slice(b"SQLite");
        assert!(matches!(FileHeader::decode(&other), Err(HeaderError::NotAStore(_))));
    }

    #[test]
    fn meta_round_trips_and_rejects_torn_slots() {
        let m = Meta {
            checkpoint_id: 7,
            root: 3,
            page_count: 9,
            depth: 2,
            identifier: "Äpp".into(),
            ..Meta::default()
        };
        let mut b = vec![0u8; META_SLOT_BYTES];
        m.encode(&mut b);
        assert_eq!(Meta::decode(&b), Some(m.clone()));
        for i in [0, 8, 100, 113, 251, 255] {
            let mut t = b.clone();
            t[i] ^= 0x40;
            assert_eq!(Meta::decode(&t), None, "flip at {i}");
        }
        assert_eq!(Meta::decode(&[0u8; META_SLOT_BYTES]), None);
    }

    #[test]
    fn checksum_covers_every_byte_but_itself_and_the_page_number() {
        let mut p = vec![7u8; 1024];
        write_page_header(&mut p, PageKind::Leaf, 3, 0);
        seal_page(5, &mut p);
        assert!(verify_page(5, &p).is_ok());
        assert!(verify_page(6, &p).is_err(), "misplaced page");
        for i in [0usize, 2, 8, 500, 1023] {
            let mut t = p.clone();
            t[i] ^= 1;
            assert!(matches!(verify_page(5, &t), Err(Error::Corrupted { page: 5, .. })), "flip at {i}");
        }
    }

    #[test]
    fn key_limits_meet_the_promise_at_every_page_size() {
        let mut size = MIN_PAGE_SIZE;
        while size <= MAX_PAGE_SIZE {
            assert!(crate::layout::node::max_key_bytes(size) >= 255, "page size {size}");
            size *= 2;
        }
    }
}
