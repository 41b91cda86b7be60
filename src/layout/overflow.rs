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
//! a cycle or a wrong link is an error naming the page, never a loop. A page read from the file
//! is checked on its own first ([`check_page`]): its count fits the page and it does not link to
//! itself.

use crate::error::{Error, Result};
use crate::layout::file::{
    PAGE_HEADER_BYTES, PageKind, in_page_u16, page_count_field, page_next, seal_page_at, write_page_header,
};

pub(crate) fn data_per_page(page_size: usize) -> usize {
    page_size.saturating_sub(PAGE_HEADER_BYTES)
}

pub(crate) fn pages_for(len: u64, page_size: usize) -> u64 {
    len.div_ceil((data_per_page(page_size) as u64).max(1))
}

/// Fill `out` (one page) with chunk `chunk` of a chain whose next page is `next`, as written by
/// checkpoint `generation`.
pub(crate) fn encode_page(page_no: u64, chunk: &[u8], next: u64, generation: u64, out: &mut [u8]) {
    let end = PAGE_HEADER_BYTES + chunk.len();
    // The header and the data cover `..end`: only the rest needs zeroing.
    write_page_header(out, PageKind::Overflow, in_page_u16(chunk.len()), next);
    out[PAGE_HEADER_BYTES..end].copy_from_slice(chunk);
    out[end..].fill(0);
    seal_page_at(page_no, generation, out);
}

/// The invariants an overflow page keeps on its own, whatever chain it is in: checked when it is
/// read from the file.
pub(crate) fn check_page(page_no: u64, page: &[u8]) -> Result<()> {
    if page.first() != Some(&(PageKind::Overflow as u8)) {
        return Err(Error::corrupted(page_no, "expected an overflow page"));
    }
    let have = usize::from(page_count_field(page));
    let room = data_per_page(page.len());
    if have > room {
        return Err(Error::corrupted(page_no, format!("overflow page claims {have} bytes; it holds {room}")));
    }
    if page_next(page) == page_no {
        return Err(Error::corrupted(page_no, "overflow page links to itself"));
    }
    Ok(())
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
    if index >= total {
        return Err(Error::corrupted(page_no, format!("overflow page {index} of a chain of {total}")));
    }
    // `index < total`, so `index * per < len`.
    let expect = if index + 1 == total { len - index * per } else { per };
    let have = u64::from(page_count_field(page));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::file::put_u16;

    #[test]
    fn pages_and_chains_are_checked() {
        // The last page of a two-page chain of 1,108 bytes.
        let mut page = vec![0u8; 1024];
        encode_page(5, &[7u8; 100], 0, 1, &mut page);
        assert!(check_page(5, &page).is_ok());
        assert_eq!(read_chunk(5, &page, 1, 1108, 1024).unwrap(), (&[7u8; 100][..], 0));
        assert!(read_chunk(5, &page, 0, 1108, 1024).is_err(), "the first page must be full");
        assert!(read_chunk(5, &page, 2, 1108, 1024).is_err(), "an index past the chain");
        let mut linked = vec![0u8; 1024];
        encode_page(6, &[7u8; 100], 6, 1, &mut linked);
        assert!(check_page(6, &linked).is_err(), "a page linking to itself");
        put_u16(&mut page, 2, 1009);
        assert!(check_page(5, &page).is_err(), "more data than the page holds");
    }
}
