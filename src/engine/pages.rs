//! Page access: every page the engine reads comes through here (verified against its checksum,
//! from the cache, the file, or the pages a read-only replay keeps in memory), and every page it
//! writes goes out through [`PageRun`], runs of consecutive pages gathered into one write.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::Engine;
use super::cache::PageBytes;
use crate::error::{Error, Result};
use crate::layout::file::verify_page;
use crate::layout::node::Node;

/// Pages written in one `write` call at most when runs of consecutive pages are coalesced.
const MAX_WRITE_RUN_BYTES: usize = 1 << 20;

/// Hashes page numbers with one multiply: they are small dense integers, not attacker-chosen
/// strings, so the default SipHash would only cost time on every page lookup.
#[derive(Default)]
pub(crate) struct PageNoHasher(u64);

impl Hasher for PageNoHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type PageMap<V> = HashMap<u64, V, BuildHasherDefault<PageNoHasher>>;
pub(crate) type PageSet = HashSet<u64, BuildHasherDefault<PageNoHasher>>;

/// A page as a reader sees it: changed in memory, or verified bytes from the file.
pub(crate) enum NodeRef<'a> {
    Dirty(&'a Node),
    Clean(u64, PageBytes),
}

impl Engine {
    /// `page` must be a tree, overflow or free-list page of this file; `from` names the page
    /// holding the link, for the error.
    pub(super) fn check_link(&self, page: u64, from: u64) -> Result<()> {
        if page == 0 || page >= self.meta.page_count {
            return Err(Error::corrupted(
                from,
                format!("link to page {page}, outside 1..{}", self.meta.page_count),
            ));
        }
        Ok(())
    }

    pub(crate) fn read_from_file(&self, page: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.page_size];
        let offset = page * self.page_size as u64;
        match self.file.read_exact_at(&mut buf, offset) {
            Ok(()) => Ok(buf),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(Error::corrupted(page, "page lies past the end of the file (truncated file)"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Verified bytes of a page that is not dirty: from memory, the cache or the file.
    pub(crate) fn read_raw(&self, page: u64) -> Result<PageBytes> {
        if !self.replayed_pages.is_empty()
            && let Some(b) = self.replayed_pages.get(&page)
        {
            return Ok(b.clone());
        }
        if let Some(b) = self.cache.get(page) {
            return Ok(b);
        }
        let buf = self.read_from_file(page)?;
        verify_page(page, &buf)?;
        let bytes: PageBytes = Arc::from(buf);
        self.cache.insert(page, bytes.clone());
        Ok(bytes)
    }

    /// A page read without going through the cache (overflow chains would only evict tree pages).
    pub(super) fn read_uncached(&self, page: u64) -> Result<PageBytes> {
        if let Some(b) = self.replayed_pages.get(&page) {
            return Ok(b.clone());
        }
        let buf = self.read_from_file(page)?;
        verify_page(page, &buf)?;
        Ok(Arc::from(buf))
    }

    pub(crate) fn node(&self, page: u64) -> Result<NodeRef<'_>> {
        if !self.dirty.is_empty()
            && let Some(n) = self.dirty.get(&page)
        {
            return Ok(NodeRef::Dirty(n));
        }
        Ok(NodeRef::Clean(page, self.read_raw(page)?))
    }

    fn write_at_page(&mut self, first_page: u64, bytes: &[u8]) -> Result<()> {
        if self.read_only {
            for (i, chunk) in bytes.chunks(self.page_size).enumerate() {
                self.replayed_pages.insert(first_page + i as u64, Arc::from(chunk));
            }
            return Ok(());
        }
        self.file.write_all_at(bytes, first_page * self.page_size as u64)?;
        Ok(())
    }
}

/// Pages to write, gathered into runs of consecutive page numbers so each run is one write.
pub(crate) struct PageRun {
    page_size: usize,
    runs: Vec<(u64, Vec<u8>)>,
    bytes: usize,
}

impl PageRun {
    pub(crate) fn new(page_size: usize) -> PageRun {
        PageRun { page_size, runs: Vec::new(), bytes: 0 }
    }

    /// A zeroed buffer for `page`.
    pub(crate) fn next_page(&mut self, page: u64) -> &mut [u8] {
        let extend = matches!(self.runs.last(), Some((first, buf)) if *first + (buf.len() / self.page_size) as u64 == page);
        if !extend {
            self.runs.push((page, Vec::new()));
        }
        self.bytes += self.page_size;
        let (_, buf) = self.runs.last_mut().expect("a run was just pushed");
        let at = buf.len();
        buf.resize(at + self.page_size, 0);
        &mut buf[at..]
    }

    pub(crate) fn full(&self) -> bool {
        self.bytes >= MAX_WRITE_RUN_BYTES
    }

    pub(crate) fn flush(&mut self, engine: &mut Engine) -> Result<()> {
        for (first, buf) in std::mem::take(&mut self.runs) {
            engine.write_at_page(first, &buf)?;
        }
        self.bytes = 0;
        Ok(())
    }
}
