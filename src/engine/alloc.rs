//! Allocation: which pages are free now, which become free once the next checkpoint is in force,
//! once no snapshot of this handle that reaches them is pinned, or once no reader in another
//! process has pinned a checkpoint that reaches them; and the page counts by kind kept in the
//! meta slot. A page allocated by the commit being built changes in place; any other page is
//! copied first (see the module comment of the engine).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::{Engine, PageSet};
use crate::error::{Error, Result};
use crate::io::HeldSlot;
use crate::layout::file::PageKind;
use crate::layout::freelist::{self, FreeEntry};

/// How often a writer with nothing free, but pages held back for readers, reads the reader
/// table again.
pub(super) const READER_TABLE_INTERVAL: Duration = Duration::from_millis(10);

/// The part of the last checkpoint's free list the writer has not read yet: a chain of list
/// pages from `next` on. Read a page at a time, from its head, when nothing in memory is free
/// (`Engine::load_list_page`); a checkpoint puts the pages it writes in front of it and leaves
/// it as it is on disk.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FreeChain {
    /// The next page to read (0 when `pages` is 0).
    pub(crate) next: u64,
    /// The page that links to `next` (0: the meta slot), for the error a bad link gives.
    pub(crate) from: u64,
    /// Pages and entries left, from the meta slot's counts less what has been read.
    pub(crate) pages: u64,
    pub(crate) entries: u64,
}

impl FreeChain {
    /// The chain a meta slot names, with its counts checked against each other: a damaged slot
    /// is refused here, before any page of it is read.
    pub(super) fn of(meta: &crate::layout::file::Meta, per_page: usize) -> Result<FreeChain> {
        let chain = FreeChain {
            next: meta.freelist_head,
            from: 0,
            pages: meta.freelist_pages,
            entries: meta.free_count,
        };
        let fits =
            u64::try_from(per_page).map_or(true, |per| chain.entries <= chain.pages.saturating_mul(per));
        if (chain.pages == 0) != (chain.next == 0) || !fits {
            return Err(Error::corrupted(
                0,
                format!(
                    "the meta slot's free list (first page {}, {} pages, {} entries) does not add up",
                    chain.next, chain.pages, chain.entries
                ),
            ));
        }
        Ok(chain)
    }

    /// Where a new list page in front of this chain links to.
    pub(super) fn link(&self) -> u64 {
        if self.pages == 0 { 0 } else { self.next }
    }
}

impl Engine {
    /// Read the next page of the last checkpoint's free list: its entries become free (or held
    /// for readers), and the page itself is freed at the next checkpoint (the slot in force
    /// still reaches it). Everything the page says is checked before any of it is used: a page
    /// that fails leaves the state as it was.
    pub(super) fn load_list_page(&mut self) -> Result<()> {
        let chain = self.chain;
        let page = chain.next;
        if chain.pages == 0 {
            return Ok(());
        }
        self.tree().check_link(page, chain.from)?;
        if self.chain_seen.contains(&page)
            || self.free.contains(&page)
            || self.since_checkpoint.contains(&page)
        {
            return Err(Error::corrupted(chain.from, format!("the free list reaches page {page} twice")));
        }
        let bytes = self.pages.read_raw(page)?;
        let (list, next) = freelist::decode_page(page, &bytes, self.page_size, self.header.version)?;
        let n = list.len() as u64;
        if chain.pages == 1 && next != 0 {
            return Err(Error::corrupted(page, "free-list chain is longer than the meta slot says"));
        }
        if chain.pages > 1 && next == 0 {
            return Err(Error::corrupted(page, "free-list chain is shorter than the meta slot says"));
        }
        if n > chain.entries || (chain.pages == 1 && n != chain.entries) {
            return Err(Error::corrupted(
                page,
                format!(
                    "free list holds a different number of pages than the meta slot says ({})",
                    self.durable.free_count
                ),
            ));
        }
        let mut here = PageSet::default();
        for e in &list {
            if e.page == 0
                || e.page >= self.durable.page_count
                || e.page == page
                || !here.insert(e.page)
                || self.chain_seen.contains(&e.page)
                || self.free.contains(&e.page)
                || self.since_checkpoint.contains(&e.page)
            {
                return Err(Error::corrupted(page, format!("free list names page {} wrongly", e.page)));
            }
            if e.freed_at > self.durable.checkpoint_id {
                return Err(Error::corrupted(
                    page,
                    format!(
                        "free list says page {} was freed at checkpoint {}, after this one ({})",
                        e.page, e.freed_at, self.durable.checkpoint_id
                    ),
                ));
            }
        }
        self.chain = FreeChain { next, from: page, pages: chain.pages - 1, entries: chain.entries - n };
        *self.tail_cache.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
        self.chain_seen.extend(here);
        self.chain_seen.insert(page);
        self.meta.freelist_pages = self.meta.freelist_pages.saturating_sub(1);
        self.pages.forget(page);
        self.pending_free.push((page, self.version));
        for e in list {
            self.make_free(e);
        }
        Ok(())
    }

    /// The entries of the free list's pages not read yet, read without changing anything; for
    /// listings and the page map.
    pub(crate) fn unread_free_entries(&self) -> Result<Vec<FreeEntry>> {
        let mut chain = self.chain;
        let mut out = Vec::new();
        let tree = self.tree();
        while chain.pages > 0 {
            tree.check_link(chain.next, chain.from)?;
            let bytes = self.pages.read_raw(chain.next)?;
            let (list, next) =
                freelist::decode_page(chain.next, &bytes, self.page_size, self.header.version)?;
            if (chain.pages == 1) != (next == 0) {
                return Err(Error::corrupted(
                    chain.next,
                    "free-list chain does not end where the meta slot says",
                ));
            }
            out.extend(list);
            chain = FreeChain { next, from: chain.next, pages: chain.pages - 1, entries: 0 };
        }
        Ok(out)
    }

    /// The unread part's pages as a set, kept until the chain changes (the page map asks page by
    /// page); `None` when it cannot be read.
    fn unread_free_set(&self) -> Option<Arc<BTreeSet<u64>>> {
        let mut cache = self.tail_cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get_or_insert_with(|| {
                let entries = self.unread_free_entries().ok()?;
                Some(Arc::new(entries.into_iter().map(|e| e.page).collect()))
            })
            .clone()
    }

    /// `e` is free as far as this handle's snapshots go: free now, or held for readers in other
    /// processes.
    fn make_free(&mut self, e: FreeEntry) {
        self.pages.forget(e.page);
        if e.freed_at <= self.reader_floor {
            self.free.insert(e.page);
        } else {
            self.held.entry(e.freed_at).or_default().push(e.page);
            self.held_count += 1;
        }
    }

    /// Read the reader table and free the held pages no reader can reach any more. A table that
    /// cannot be read holds everything back: the file grows rather than a reader read a reused
    /// page.
    pub(super) fn read_reader_table(&mut self) {
        let Some(table) = &self.readers else { return };
        let scanned = table.scan();
        self.reader_count = scanned.as_ref().map_or(0, |slots| slots.len() as u64);
        let floor = match scanned {
            Ok(slots) => slots
                .iter()
                .filter_map(|slot| match slot {
                    HeldSlot::Pinned(_, r) if r.file_id == self.header.file_id => Some(r.checkpoint_id),
                    // A reader of another file of this name (one since replaced): it reads
                    // pages this writer never touches.
                    HeldSlot::Pinned(..) => None,
                    HeldSlot::Unknown(_) => Some(0),
                })
                .min()
                .unwrap_or(u64::MAX),
            Err(_) => 0,
        };
        self.reader_floor = floor;
        self.readers_read_at = Some(std::time::Instant::now());
        let still_held = self.held.split_off(&floor.saturating_add(1));
        for (_, pages) in std::mem::replace(&mut self.held, still_held) {
            self.held_count -= pages.len() as u64;
            for page in pages {
                self.pages.forget(page);
                self.free.insert(page);
            }
        }
    }

    /// Past the hold limit, make the pages freed longest ago free again, whoever pins them: a
    /// reader of that old state reads a page rewritten since as `Error::StalePage` (each page
    /// carries the checkpoint that wrote it), so the file stops growing without a wrong answer.
    pub(super) fn take_from_readers_past_limit(&mut self) {
        while self.held_count > self.hold_limit_pages {
            let Some((_, pages)) = self.held.pop_first() else { break };
            self.held_count -= pages.len() as u64;
            self.pages_taken_from_readers += pages.len() as u64;
            for page in pages {
                self.pages.forget(page);
                self.free.insert(page);
            }
        }
    }

    /// Held pages reused past the hold limit since this handle opened.
    pub(crate) fn pages_taken_from_readers(&self) -> u64 {
        self.pages_taken_from_readers
    }

    /// Pages held back from reuse for readers in other processes.
    pub(crate) fn pages_held_for_readers(&self) -> u64 {
        debug_assert_eq!(self.held_count, self.held.values().map(|pages| pages.len() as u64).sum::<u64>());
        self.held_count
    }

    fn counter(&mut self, kind: PageKind) -> &mut u64 {
        match kind {
            PageKind::Branch => &mut self.meta.branch_pages,
            PageKind::Leaf => &mut self.meta.leaf_pages,
            PageKind::Overflow => &mut self.meta.overflow_pages,
            PageKind::Freelist => &mut self.meta.freelist_pages,
        }
    }

    /// A page for the commit being built: a free one, read from the free list's next page when
    /// none in memory is, or else a new one at the end of the file. A list page that cannot be
    /// read is an error for the writer; a read-only engine (which writes no page to the file)
    /// stops reading the list and takes new pages.
    pub(super) fn alloc(&mut self, kind: PageKind) -> Result<u64> {
        while self.free.is_empty() && self.chain.pages > 0 && !self.chain_unusable {
            match self.load_list_page() {
                Ok(()) => {}
                Err(_) if self.read_only => self.chain_unusable = true,
                Err(e) => return Err(e),
            }
        }
        if self.free.is_empty() {
            // Nothing free in memory or on the list: past the hold limit, the oldest pages held
            // for readers go before the file grows.
            self.take_from_readers_past_limit();
        }
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
        // A counter read from a damaged (resealed) meta slot may be anything: never overflow.
        let c = self.counter(kind);
        *c = c.saturating_add(1);
        Ok(page)
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
            // No checkpoint reached it: only this handle's snapshots can.
            self.retire(FreeEntry { page, freed_at: 0 }, self.version);
        } else {
            self.pending_free.push((page, self.version));
        }
    }

    /// `e` is free once no snapshot older than `version` is pinned (and no reader needs it).
    pub(super) fn retire(&mut self, e: FreeEntry, version: u64) {
        match self.retired.back_mut() {
            Some((v, pages)) if *v == version => pages.push(e),
            _ => self.retired.push_back((version, vec![e])),
        }
    }

    /// Pages freed at versions no pinned snapshot precedes become free.
    pub(super) fn reclaim(&mut self) {
        let oldest = self.versions.oldest_pinned();
        while let Some((version, _)) = self.retired.front() {
            if oldest.is_some_and(|o| o < *version) {
                break;
            }
            let Some((_, entries)) = self.retired.pop_front() else { break };
            for e in entries {
                self.make_free(e);
            }
        }
    }

    fn retired_pages(&self) -> impl Iterator<Item = u64> + '_ {
        self.retired.iter().flat_map(|(_, entries)| entries.iter().map(|e| e.page))
    }

    fn held_pages(&self) -> impl Iterator<Item = u64> + '_ {
        self.held.values().flat_map(|pages| pages.iter().copied())
    }

    /// Whether `page` is free now or becomes free once checkpoints, snapshots and readers let it
    /// (a free list whose unread part cannot be read counts only what is in memory).
    pub(crate) fn is_free(&self, page: u64) -> bool {
        self.free.contains(&page)
            || self.pending_free.iter().any(|(p, _)| *p == page)
            || self.retired_pages().any(|p| p == page)
            || self.held_pages().any(|p| p == page)
            || self.unread_free_set().is_some_and(|set| set.contains(&page))
    }

    /// Pages in memory that are free now or once checkpoints, snapshots and readers let them.
    fn free_in_memory(&self) -> u64 {
        let retired: usize = self.retired.iter().map(|(_, entries)| entries.len()).sum();
        (self.free.len() + self.pending_free.len() + retired) as u64 + self.pages_held_for_readers()
    }

    /// Pages free now or once checkpoints, snapshots and readers let them: those in memory and
    /// the count of the free list's unread part (from the meta slot, nothing read).
    pub(crate) fn free_page_count(&self) -> u64 {
        self.free_in_memory().saturating_add(self.chain.entries)
    }

    /// Pages in memory that are free now or once checkpoints, snapshots and readers let them.
    pub(crate) fn free_pages_in_memory(&self) -> Vec<u64> {
        self.free
            .iter()
            .copied()
            .chain(self.pending_free.iter().map(|(p, _)| *p))
            .chain(self.retired_pages())
            .chain(self.held_pages())
            .collect()
    }

    /// Pages free now or once checkpoints, snapshots and readers let them, ascending: those in
    /// memory and the free list's unread part (read for this).
    pub(crate) fn free_page_list(&self) -> Result<Vec<u64>> {
        let mut pages = self.free_pages_in_memory();
        pages.extend(self.unread_free_entries()?.into_iter().map(|e| e.page));
        pages.sort_unstable();
        Ok(pages)
    }

    /// The unread part of the last checkpoint's free list.
    pub(crate) fn free_chain(&self) -> FreeChain {
        self.chain
    }
}
