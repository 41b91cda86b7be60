//! The persisted free-page list: a chain of pages listing page numbers that hold nothing.
//!
//! ```text
//! free-list page
//! +------------------------+ 0
//! | page header, type 4    |  count = n page numbers, next = next free-list page (0: last)
//! +------------------------+ 16
//! | n x u64 page number    |
//! +------------------------+ 16 + 8n
//! | zero                   |
//! +------------------------+ page size
//! ```
//! The meta slot names the first page and how many pages and entries the chain has, so loading
//! it is bounded by numbers the slot's checksum vouches for.

use crate::error::{Error, Result};
use crate::layout::file::{
    PAGE_HEADER_BYTES, PageKind, get_u64, in_page_u16, page_count_field, page_next, put_u64, seal_page,
    write_page_header,
};

pub(crate) fn entries_per_page(page_size: usize) -> usize {
    (page_size - PAGE_HEADER_BYTES) / 8
}

pub(crate) fn encode_page(page_no: u64, entries: &[u64], next: u64, out: &mut [u8]) {
    out.fill(0);
    write_page_header(out, PageKind::Freelist, in_page_u16(entries.len()), next);
    for (i, p) in entries.iter().enumerate() {
        put_u64(out, PAGE_HEADER_BYTES + i * 8, *p);
    }
    seal_page(page_no, out);
}

/// Entries and next link of a verified free-list page.
pub(crate) fn decode_page(page_no: u64, page: &[u8], page_size: usize) -> Result<(Vec<u64>, u64)> {
    if page[0] != PageKind::Freelist as u8 {
        return Err(Error::corrupted(page_no, format!("expected a free-list page, found type {}", page[0])));
    }
    let n = page_count_field(page) as usize;
    if n > entries_per_page(page_size) {
        return Err(Error::corrupted(page_no, format!("free-list page claims {n} entries")));
    }
    let entries = (0..n).map(|i| get_u64(page, PAGE_HEADER_BYTES + i * 8)).collect();
    Ok((entries, page_next(page)))
}
