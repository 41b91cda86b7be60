//! Overflow pages: a value too large to sit in its leaf lives in its own chain of pages.
//!
//! ```text
//! overflow page
//! +------------------------+ 0
//! | page header, type 3    |  count = data bytes on this page, next = next page (0: last)
//! +------------------------+ 16
//! | value bytes            |  every page but the last is full
//! +------------------------+ 16 + count
//! | zero                   |
//! +------------------------+ page size
//! ```
//! The leaf entry holds the value's length and the first page. A chain of a value of `len`
//! bytes has exactly `ceil(len / (page size - 16))` pages; a reader stops after that many, so
//! a cycle or a wrong link is an error naming the page, never a loop.

use crate::error::{Error, Result};
use crate::layout::file::{
    PAGE_HEADER_BYTES, PageKind, in_page_u16, page_count_field, page_next, seal_page, write_page_header,
};

pub(crate) fn data_per_page(page_size: usize) -> usize {
    page_size - PAGE_HEADER_BYTES
}

pub(crate) fn pages_for(len: u64, page_size: usize) -> u64 {
    len.div_ceil(data_per_page(page_size) as u64)
}

/// Fill `out` (one page) with chunk `chunk` of a chain whose next page is `next`.
pub(crate) fn encode_page(page_no: u64, chunk: &[u8], next: u64, out: &mut [u8]) {
    out.fill(0);
    write_page_header(out, PageKind::Overflow, in_page_u16(chunk.len()), next);
    out[PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + chunk.len()].copy_from_slice(chunk);
    seal_page(page_no, out);
}

/// The data of overflow page `index` of a chain of `len` bytes, checked against what the chain
/// must look like there. Returns the data and the next link.
pub(crate) fn read_chunk(
    page_no: u64,
    page: &[u8],
    index: u64,
    len: u64,
    page_size: usize,
) -> Result<(&[u8], u64)> {
    let per = data_per_page(page_size) as u64;
    let total = pages_for(len, page_size);
    let expect = if index + 1 == total { len - index * per } else { per };
    let have = page_count_field(page) as u64;
    if page[0] != PageKind::Overflow as u8 {
        return Err(Error::corrupted(page_no, format!("expected an overflow page, found type {}", page[0])));
    }
    if have != expect {
        return Err(Error::corrupted(
            page_no,
            format!("overflow page holds {have} bytes, the chain needs {expect}"),
        ));
    }
    let next = page_next(page);
    if (index + 1 == total) != (next == 0) {
        return Err(Error::corrupted(
            page_no,
            "overflow chain length does not match the value length".to_string(),
        ));
    }
    // `have` equals `expect`, at most the data bytes of one page.
    Ok((&page[PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + usize::from(page_count_field(page))], next))
}
