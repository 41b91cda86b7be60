//! Spills and checkpoints: changed pages go to their fresh places in the file (a spill, any time),
//! then a checkpoint writes the free list's new head, syncs, and switches the meta slot (see
//! docs/DURABILITY.md for the order of the syncs).

use std::sync::Arc;

use super::cache::new_page_bytes;
use super::pages::PageRun;
use super::{Engine, FreeChain};
use crate::error::Result;
use crate::layout::file::{HEADER_OFFSETS, PageKind, now_ms, seal_page_at};
use crate::layout::freelist::{self, FreeEntry};

impl Engine {
    /// Seal the pages the commit being built has changed so far into unwritten page images. No
    /// published version reaches them, so no reader sees them before the commit is published.
    pub(super) fn seal_working(&mut self) {
        let mut pages: Vec<u64> = self.working.keys().copied().collect();
        pages.sort_unstable();
        let generation = self.generation();
        // Each node is dropped as soon as its image is made, so the two are not all held at once
        // (a commit that changes thousands of pages would briefly need twice their memory).
        for page in pages {
            let Some(node) = self.working.remove(&page) else { continue };
            let mut bytes = new_page_bytes(self.page_size);
            let buf = Arc::get_mut(&mut bytes).expect("a page image just made has no other owner");
            node.encode(buf);
            drop(node);
            seal_page_at(page, generation, buf);
            self.pages.put_unwritten(page, bytes);
        }
    }

    /// Write every changed page to its place in the file (a place no checkpoint and no pinned
    /// snapshot reaches) and keep it in the cache. A write that fails keeps the pages in memory.
    pub(crate) fn spill(&mut self) -> Result<()> {
        self.seal_working();
        let nowhere = self.read_only && self.pages.scratch.is_none();
        if nowhere || self.pages.unwritten_count() == 0 {
            return Ok(());
        }
        if !self.read_only {
            self.check_page_count()?;
        }
        let mut run = PageRun::new(self.page_size);
        let mut in_run = Vec::new();
        for (page, bytes) in self.pages.unwritten_pages() {
            run.push_page(page, &bytes);
            in_run.push((page, bytes));
            if run.full() {
                run.flush(self)?;
                for (page, bytes) in in_run.drain(..) {
                    self.pages.written(page, bytes);
                }
            }
        }
        run.flush(self)?;
        for (page, bytes) in in_run {
            self.pages.written(page, bytes);
        }
        self.pages.reserve_for_changed(self.reserved_pages());
        Ok(())
    }

    pub(crate) fn maybe_spill(&mut self) -> Result<()> {
        let dirty = self.dirty_count();
        self.pages.reserve_for_changed(self.reserved_pages());
        if dirty > self.dirty_limit_pages { self.spill() } else { Ok(()) }
    }

    /// Fold every change into the data file: write changed pages and the free list's new head,
    /// sync, switch the meta slot to one naming them (and `seq` as the last log record covered),
    /// sync. Runs between commits.
    ///
    /// The free list is written in two parts, in front of the part of the old list not read yet
    /// (which stays as it is on disk, named by both slots):
    /// - first the pages the writer keeps in memory after the checkpoint: those waiting for a
    ///   snapshot of this handle (retired) or for readers in other processes (held). They are
    ///   freed at the next checkpoint, which writes their entries again;
    /// - then the pages it can forget: free now, or freed at this checkpoint when no snapshot of
    ///   this handle waits for them. They become the head of the unread part, read back a page at
    ///   a time as commits need free pages.
    ///
    /// So a checkpoint writes the entries that changed since the last one (and the rest of the
    /// list pages it read), never the whole list.
    pub(crate) fn checkpoint(&mut self, seq: u64) -> Result<()> {
        debug_assert!(!self.read_only);
        debug_assert!(self.working.is_empty() && self.this_commit.is_empty(), "checkpoint inside a commit");
        if !self.changed
            && seq == self.durable.checkpoint_seq
            && self.meta.identifier == self.durable.identifier
        {
            return Ok(());
        }
        self.reclaim();
        let id = self
            .durable
            .checkpoint_id
            .checked_add(1)
            .ok_or_else(|| crate::error::Error::corrupted(0, "the checkpoint id is at its largest"))?;
        // A snapshot older than the current state keeps what the commits since freed (and the
        // list pages read) in memory; with none, they go to the part left on disk.
        let keep = self.versions.oldest_pinned().is_some();
        let per = freelist::entries_per_page(self.page_size, self.header.version);
        let mut list_pages = Vec::new();
        loop {
            let (kept, left) = self.list_sizes(keep);
            if list_pages.len() >= kept.div_ceil(per) + left.div_ceil(per) {
                break;
            }
            match self.alloc(PageKind::Freelist) {
                Ok(page) => list_pages.push(page),
                // A list page that cannot be read: give back what was taken, change nothing.
                Err(e) => {
                    for page in list_pages {
                        self.release(page, PageKind::Freelist);
                    }
                    return Err(e);
                }
            }
        }
        let (mut kept, mut left) = self.list_entries(id, keep);
        kept.sort_unstable();
        left.sort_unstable();
        let kept_pages = kept.len().div_ceil(per);
        let tail = self.chain.link();

        self.spill()?;
        let mut run = PageRun::new(self.page_size);
        let chunks: Vec<&[FreeEntry]> = kept.chunks(per).chain(left.chunks(per)).collect();
        for (i, &page) in list_pages.iter().enumerate() {
            let next = list_pages.get(i + 1).copied().unwrap_or(tail);
            let buf = run.next_page(page);
            freelist::encode_page(page, chunks.get(i).copied().unwrap_or(&[]), next, buf);
            // A list page may be a reader's old tree page reused: it carries its checkpoint too.
            seal_page_at(page, id, buf);
            if run.full() {
                run.flush(self)?;
            }
        }
        run.flush(self)?;
        let file = self.pages.file().clone();
        let want_len = self.meta.page_count * self.page_size as u64;
        if file.len()? < want_len {
            file.set_len(want_len)?;
        }
        file.sync_data()?;

        let slot = 1 - self.durable_slot;
        let mut meta = self.meta.clone();
        meta.checkpoint_id = id;
        meta.checkpoint_seq = seq;
        meta.modified_ms = now_ms();
        meta.freelist_head = list_pages.first().copied().unwrap_or(tail);
        meta.freelist_pages = list_pages.len() as u64 + self.chain.pages;
        meta.free_count = (kept.len() + left.len()) as u64 + self.chain.entries;
        // The slot's whole sector: a copy of the file header and the slot.
        file.write_all_at(&self.header.encode_sector(&meta), HEADER_OFFSETS[slot] as u64)?;
        file.sync_data()?;

        // The unread part now starts at the first page listing what this handle forgot.
        let (kept_list, left_list) = list_pages.split_at(kept_pages);
        self.chain = FreeChain {
            next: left_list.first().copied().unwrap_or(tail),
            from: kept_list.last().copied().unwrap_or(0),
            pages: left_list.len() as u64 + self.chain.pages,
            entries: left.len() as u64 + self.chain.entries,
        };
        if self.chain.pages == 0 {
            self.chain = FreeChain::default();
        }
        self.chain_seen.clear();
        *self.tail_cache.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
        self.meta = meta.clone();
        self.durable = meta;
        self.durable_slot = slot;
        self.pages.set_generation_limit(self.generation());
        self.this_commit.clear();
        self.since_checkpoint.clear();
        self.free.clear();
        // Pages the old checkpoint reached, and the old list's pages read, are free now as far
        // as the file goes; a snapshot taken before this point, or a reader in another process
        // that pinned the old checkpoint, may still read them. Read the reader table only now:
        // a reader that pins the old checkpoint after this read sees the new slot when it checks
        // the meta again, and moves to it.
        let version = self.version;
        let pending = std::mem::take(&mut self.pending_free);
        if keep {
            for (page, _) in pending {
                self.retire(FreeEntry { page, freed_at: id }, version);
            }
        }
        // The pages listing what stays in memory are written again at the next checkpoint.
        self.meta.freelist_pages -= kept_list.len() as u64;
        for &page in kept_list {
            self.pending_free.push((page, version));
        }
        self.read_reader_table();
        self.reclaim();
        self.changed = false;
        Ok(())
    }

    /// How many entries the free list written now holds: kept in memory, and left on disk.
    fn list_sizes(&self, keep: bool) -> (usize, usize) {
        let retired: usize = self.retired.iter().map(|(_, entries)| entries.len()).sum();
        let held = usize::try_from(self.pages_held_for_readers()).unwrap_or(usize::MAX);
        let pending = self.pending_free.len();
        if keep {
            (retired + held + pending, self.free.len())
        } else {
            (retired + held, self.free.len() + pending)
        }
    }

    /// The entries of [`Engine::list_sizes`], each with the checkpoint that freed it: pages the
    /// last checkpoint still reaches are freed at `next_checkpoint`.
    fn list_entries(&self, next_checkpoint: u64, keep: bool) -> (Vec<FreeEntry>, Vec<FreeEntry>) {
        let pending =
            self.pending_free.iter().map(|&(page, _)| FreeEntry { page, freed_at: next_checkpoint });
        let mut kept: Vec<FreeEntry> =
            self.retired
                .iter()
                .flat_map(|(_, entries)| entries.iter().copied())
                .chain(self.held.iter().flat_map(|(&freed_at, pages)| {
                    pages.iter().map(move |&page| FreeEntry { page, freed_at })
                }))
                .collect();
        let mut left: Vec<FreeEntry> =
            self.free.iter().map(|&page| FreeEntry { page, freed_at: 0 }).collect();
        if keep {
            kept.extend(pending)
        } else {
            left.extend(pending)
        }
        (kept, left)
    }
}
