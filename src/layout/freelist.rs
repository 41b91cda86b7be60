//! The persisted free-page list: a chain of pages listing page numbers that hold nothing, each
//! with the checkpoint that freed it.
//!
//! ```text
//! free-list page (format version 2)
//! +------------------------+ 0
//! | page header, type 4    |  count = n entries, next = next free-list page (0: last)
//! +------------------------+ 16
//! | n x (u64 page number,  |  freed at: the first checkpoint that no longer reaches the page
//! |      u64 freed at)     |  (0: no checkpoint ever reached it)
//! +------------------------+ 16 + 16n
//! | zero                   |
//! +------------------------+ page size
//!
//! (format version 1: n x u64 page number, no "freed at")
//! ```
//! A page freed at checkpoint `f` is reachable only from checkpoints before `f`: a writer may
//! reuse it once no reader in any process has pinned a checkpoint before `f` (docs/DURABILITY.md,
//! "Reading"). The meta slot names the first page and how many pages and entries the chain has,
//! so loading it is bounded by numbers the slot's checksum vouches for.

use crate::error::{Error, Result};
use crate::layout::file::{
    FORMAT_VERSION_1, PAGE_HEADER_BYTES, PageKind, get_u64, in_page_u16, page_count_field, page_next,
    put_u64, seal_page, write_page_header,
};

/// One free page and the checkpoint that freed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FreeEntry {
    pub page: u64,
    pub freed_at: u64,
}

fn entry_bytes(version: u32) -> usize {
    if version == FORMAT_VERSION_1 { 8 } else { 16 }
}

/// Entries one free-list page of a file of `version` holds.
pub(crate) fn entries_per_page(page_size: usize, version: u32) -> usize {
    (page_size - PAGE_HEADER_BYTES) / entry_bytes(version)
}

/// Bytes of a page listing `n` entries (the page map's fill).
pub(crate) fn used_bytes(n: usize, version: u32) -> usize {
    PAGE_HEADER_BYTES + n * entry_bytes(version)
}

/// A version-2 free-list page.
pub(crate) fn encode_page(page_no: u64, entries: &[FreeEntry], next: u64, out: &mut [u8]) {
    out.fill(0);
    write_page_header(out, PageKind::Freelist, in_page_u16(entries.len()), next);
    for (i, e) in entries.iter().enumerate() {
        put_u64(out, PAGE_HEADER_BYTES + i * 16, e.page);
        put_u64(out, PAGE_HEADER_BYTES + i * 16 + 8, e.freed_at);
    }
    seal_page(page_no, out);
}

/// Entries and next link of a verified free-list page of a file of `version` (version-1
/// entries have `freed_at` 0).
pub(crate) fn decode_page(
    page_no: u64,
    page: &[u8],
    page_size: usize,
    version: u32,
) -> Result<(Vec<FreeEntry>, u64)> {
    if page[0] != PageKind::Freelist as u8 {
        return Err(Error::corrupted(page_no, format!("expected a free-list page, found type {}", page[0])));
    }
    let n = page_count_field(page) as usize;
    if n > entries_per_page(page_size, version) || page.len() < page_size {
        return Err(Error::corrupted(page_no, format!("free-list page claims {n} entries")));
    }
    let size = entry_bytes(version);
    let entries = (0..n)
        .map(|i| {
            let at = PAGE_HEADER_BYTES + i * size;
            let freed_at = if size == 16 { get_u64(page, at + 8) } else { 0 };
            FreeEntry { page: get_u64(page, at), freed_at }
        })
        .collect();
    Ok((entries, page_next(page)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::file::{FORMAT_VERSION, verify_page};

    #[test]
    fn entries_round_trip_with_their_checkpoint() {
        let entries = [FreeEntry { page: 7, freed_at: 0 }, FreeEntry { page: 9, freed_at: 42 }];
        let mut page = vec![0u8; 1024];
        encode_page(3, &entries, 11, &mut page);
        assert!(verify_page(3, &page).is_ok());
        let (back, next) = decode_page(3, &page, 1024, FORMAT_VERSION).unwrap();
        assert_eq!((back.as_slice(), next), (&entries[..], 11));
        assert_eq!(entries_per_page(1024, FORMAT_VERSION), 63);
        assert_eq!(entries_per_page(1024, FORMAT_VERSION_1), 126);
    }

    #[test]
    fn a_count_past_the_page_is_damage() {
        let mut page = vec![0u8; 1024];
        encode_page(3, &[], 0, &mut page);
        page[2] = 64;
        assert!(matches!(decode_page(3, &page, 1024, FORMAT_VERSION), Err(Error::Corrupted { page: 3, .. })));
    }
}
