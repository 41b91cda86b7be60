//! Allocation: which pages are free now, which become free at the next checkpoint, and the
//! page counts by kind kept in the meta slot. A page allocated since the last checkpoint is
//! *fresh* and may change in place; any other page is copied first (see the module comment of
//! the engine).

use std::collections::BTreeSet;

use super::Engine;
use crate::error::{Error, Result};
use crate::layout::file::PageKind;
use crate::layout::freelist;

impl Engine {
    pub(super) fn load_freelist(&mut self) -> Result<()> {
        let meta = &self.meta;
        let mut page = meta.freelist_head;
        let mut pages = Vec::new();
        let mut entries = BTreeSet::new();
        let mut from = 0;
        for _ in 0..meta.freelist_pages {
            self.check_link(page, from)?;
            let bytes = self.read_raw(page)?;
            let (list, next) = freelist::decode_page(page, &bytes, self.page_size)?;
            for p in list {
                if p == 0 || p >= meta.page_count || !entries.insert(p) {
                    return Err(Error::corrupted(page, format!("free list names page {p} wrongly")));
                }
            }
            pages.push(page);
            from = page;
            page = next;
        }
        if page != 0 {
            return Err(Error::corrupted(from, "free-list chain is longer than the meta slot says"));
        }
        if entries.len() as u64 != meta.free_count {
            return Err(Error::corrupted(
                meta.freelist_head,
                format!("free list holds {} pages, the meta slot says {}", entries.len(), meta.free_count),
            ));
        }
        self.durable_freelist = pages;
        self.free = entries;
        Ok(())
    }

    fn counter(&mut self, kind: PageKind) -> &mut u64 {
        match kind {
            PageKind::Branch => &mut self.meta.branch_pages,
            PageKind::Leaf => &mut self.meta.leaf_pages,
            PageKind::Overflow => &mut self.meta.overflow_pages,
            PageKind::Freelist => &mut self.meta.freelist_pages,
        }
    }

    pub(super) fn alloc(&mut self, kind: PageKind) -> u64 {
        let page = match self.free.pop_first() {
            Some(p) => p,
            None => {
                self.meta.page_count += 1;
                self.meta.page_count - 1
            }
        };
        self.fresh.insert(page);
        self.cache.remove(page);
        self.replayed_pages.remove(&page);
        *self.counter(kind) += 1;
        page
    }

    pub(super) fn release(&mut self, page: u64, kind: PageKind) {
        let c = self.counter(kind);
        *c = c.saturating_sub(1);
        self.dirty.remove(&page);
        if self.fresh.remove(&page) {
            self.free.insert(page);
        } else {
            self.pending_free.push(page);
        }
    }

    /// Whether `page` is free now or becomes free at the next checkpoint.
    pub(crate) fn is_free(&self, page: u64) -> bool {
        self.free.contains(&page) || self.pending_free.contains(&page)
    }

    /// Pages free now or at the next checkpoint.
    pub(crate) fn free_page_count(&self) -> u64 {
        (self.free.len() + self.pending_free.len()) as u64
    }

    /// Pages free now or at the next checkpoint, ascending.
    pub(crate) fn free_page_list(&self) -> Vec<u64> {
        let mut pages: Vec<u64> =
            self.free.iter().copied().chain(self.pending_free.iter().copied()).collect();
        pages.sort_unstable();
        pages
    }
}
