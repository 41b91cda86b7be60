//! Allocation: which pages are free now, which become free once the next checkpoint is in force,
//! once no snapshot of this handle that reaches them is pinned, or once no reader in another
//! process has pinned a checkpoint that reaches them; and the page counts by kind kept in the
//! meta slot. A page allocated by the commit being built changes in place; any other page is
//! copied first (see the module comment of the engine).

use std::collections::BTreeSet;
use std::time::Duration;

use super::Engine;
use crate::error::{Error, Result};
use crate::io::HeldSlot;
use crate::layout::file::PageKind;
use crate::layout::freelist::{self, FreeEntry};

/// How often a writer with nothing free, but pages held back for readers, reads the reader
/// table again.
pub(super) const READER_TABLE_INTERVAL: Duration = Duration::from_millis(10);

impl Engine {
    pub(super) fn load_freelist(&mut self) -> Result<()> {
        let meta = &self.meta;
        let mut page = meta.freelist_head;
        let mut pages = Vec::new();
        let mut seen = BTreeSet::new();
        let mut entries = Vec::new();
        let mut from = 0;
        let tree = self.tree();
        for _ in 0..meta.freelist_pages {
            tree.check_link(page, from)?;
            let bytes = self.pages.read_raw(page)?;
            let (list, next) = freelist::decode_page(page, &bytes, self.page_size, self.header.version)?;
            for e in list {
                if e.page == 0 || e.page >= meta.page_count || !seen.insert(e.page) {
                    return Err(Error::corrupted(page, format!("free list names page {} wrongly", e.page)));
                }
                if e.freed_at > meta.checkpoint_id {
                    return Err(Error::corrupted(
                        page,
                        format!(
                            "free list says page {} was freed at checkpoint {}, after this one ({})",
                            e.page, e.freed_at, meta.checkpoint_id
                        ),
                    ));
                }
                entries.push(e);
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
        for e in entries {
            self.make_free(e);
        }
        Ok(())
    }

    /// `e` is free as far as this handle's snapshots go: free now, or held for readers in other
    /// processes.
    fn make_free(&mut self, e: FreeEntry) {
        self.pages.forget(e.page);
        if e.freed_at <= self.reader_floor {
            self.free.insert(e.page);
        } else {
            self.held.entry(e.freed_at).or_default().push(e.page);
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
        let mut held = self.pages_held_for_readers();
        while held > self.hold_limit_pages {
            let Some((_, pages)) = self.held.pop_first() else { break };
            held -= pages.len() as u64;
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
        self.held.values().map(|pages| pages.len() as u64).sum()
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
        // A counter read from a damaged (resealed) meta slot may be anything: never overflow.
        let c = self.counter(kind);
        *c = c.saturating_add(1);
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

    /// Whether `page` is free now or becomes free once checkpoints, snapshots and readers let it.
    pub(crate) fn is_free(&self, page: u64) -> bool {
        self.free.contains(&page)
            || self.pending_free.iter().any(|(p, _)| *p == page)
            || self.retired_pages().any(|p| p == page)
            || self.held_pages().any(|p| p == page)
    }

    /// Pages free now or once checkpoints, snapshots and readers let them.
    pub(crate) fn free_page_count(&self) -> u64 {
        let retired: usize = self.retired.iter().map(|(_, entries)| entries.len()).sum();
        (self.free.len() + self.pending_free.len() + retired) as u64 + self.pages_held_for_readers()
    }

    /// Pages free now or once checkpoints, snapshots and readers let them, ascending.
    pub(crate) fn free_page_list(&self) -> Vec<u64> {
        let mut pages: Vec<u64> = self
            .free
            .iter()
            .copied()
            .chain(self.pending_free.iter().map(|(p, _)| *p))
            .chain(self.retired_pages())
            .chain(self.held_pages())
            .collect();
        pages.sort_unstable();
        pages
    }

    /// Every free page with the checkpoint that freed it, for the persisted list; pages the
    /// last checkpoint still reaches are freed at `next_checkpoint`.
    pub(super) fn free_entries(&self, next_checkpoint: u64) -> Vec<FreeEntry> {
        let mut entries: Vec<FreeEntry> = self
            .free
            .iter()
            .map(|&page| FreeEntry { page, freed_at: 0 })
            .chain(self.pending_free.iter().map(|&(page, _)| FreeEntry { page, freed_at: next_checkpoint }))
            .chain(self.retired.iter().flat_map(|(_, entries)| entries.iter().copied()))
            .chain(
                self.held.iter().flat_map(|(&freed_at, pages)| {
                    pages.iter().map(move |&page| FreeEntry { page, freed_at })
                }),
            )
            .collect();
        entries.sort_unstable();
        entries
    }
}
