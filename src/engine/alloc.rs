//! Allocation: which pages are free now, which become free once the next checkpoint is in force
//! or once no snapshot that reaches them is pinned, and the page counts by kind kept in the meta
//! slot. A page allocated by the commit being built changes in place; any other page is copied
//! first (see the module comment of the engine).

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
        let tree = self.tree();
        for _ in 0..meta.freelist_pages {
            tree.check_link(page, from)?;
            let bytes = self.pages.read_raw(page)?;
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
        self.this_commit.insert(page);
        self.since_checkpoint.insert(page);
        self.pages.forget(page);
        *self.counter(kind) += 1;
        page
    }

    /// `page` leaves the tree in the commit being built. A page that commit allocated is free at
    /// once; one a published version reaches is freed at this version; one the last checkpoint
    /// reaches also waits for the next checkpoint.
    pub(super) fn release(&mut self, page: u64, kind: PageKind) {
        let c = self.counter(kind);
        *c = c.saturating_sub(1);
        self.working.remove(&page);
        if self.this_commit.remove(&page) {
            self.since_checkpoint.remove(&page);
            self.pages.forget(page);
            self.free.insert(page);
        } else if self.since_checkpoint.remove(&page) {
            self.retire(page, self.version);
        } else {
            self.pending_free.push((page, self.version));
        }
    }

    /// `page` is free once no snapshot older than `version` is pinned.
    pub(super) fn retire(&mut self, page: u64, version: u64) {
        match self.retired.back_mut() {
            Some((v, pages)) if *v == version => pages.push(page),
            _ => self.retired.push_back((version, vec![page])),
        }
    }

    /// Pages freed at versions no pinned snapshot precedes become free.
    pub(super) fn reclaim(&mut self) {
        let oldest = self.versions.oldest_pinned();
        while let Some((version, _)) = self.retired.front() {
            if oldest.is_some_and(|o| o < *version) {
                break;
            }
            let Some((_, pages)) = self.retired.pop_front() else { break };
            for page in pages {
                self.pages.forget(page);
                self.free.insert(page);
            }
        }
    }

    fn retired_pages(&self) -> impl Iterator<Item = u64> + '_ {
        self.retired.iter().flat_map(|(_, pages)| pages.iter().copied())
    }

    /// Whether `page` is free now or becomes free once checkpoints and snapshots let it.
    pub(crate) fn is_free(&self, page: u64) -> bool {
        self.free.contains(&page)
            || self.pending_free.iter().any(|(p, _)| *p == page)
            || self.retired_pages().any(|p| p == page)
    }

    /// Pages free now or once checkpoints and snapshots let them.
    pub(crate) fn free_page_count(&self) -> u64 {
        let retired: usize = self.retired.iter().map(|(_, pages)| pages.len()).sum();
        (self.free.len() + self.pending_free.len() + retired) as u64
    }

    /// Pages free now or once checkpoints and snapshots let them, ascending.
    pub(crate) fn free_page_list(&self) -> Vec<u64> {
        let mut pages: Vec<u64> = self
            .free
            .iter()
            .copied()
            .chain(self.pending_free.iter().map(|(p, _)| *p))
            .chain(self.retired_pages())
            .collect();
        pages.sort_unstable();
        pages
    }
}
