//! Spills and checkpoints: changed pages go to their fresh places in the file (a spill, any time),
//! then a checkpoint writes the new free list, syncs, and switches the meta slot (see
//! docs/DURABILITY.md for the order of the syncs).

use super::Engine;
use super::cache::PageBytes;
use super::pages::PageRun;
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
        for page in pages {
            let node = &self.working[&page];
            let mut buf = vec![0u8; self.page_size];
            node.encode(&mut buf);
            seal_page_at(page, generation, &mut buf);
            self.pages.put_unwritten(page, PageBytes::from(buf));
        }
        self.working.clear();
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
            run.next_page(page).copy_from_slice(&bytes);
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
        Ok(())
    }

    pub(crate) fn maybe_spill(&mut self) -> Result<()> {
        if self.dirty_count() > self.dirty_limit_pages { self.spill() } else { Ok(()) }
    }

    /// Fold every change into the data file: write changed pages and a new free list, sync,
    /// switch the meta slot to one naming them (and `seq` as the last log record covered), sync.
    /// Runs between commits.
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
        // The free list after this checkpoint: what is free now, what waits for snapshots or
        // readers, what becomes free once the old checkpoint is gone (freed at this one), and
        // the old free list's own pages, less the pages the new list is written to.
        let per = freelist::entries_per_page(self.page_size, self.header.version);
        let old_lists = std::mem::take(&mut self.durable_freelist);
        self.meta.freelist_pages -= old_lists.len() as u64;
        let retired: usize = self.retired.iter().map(|(_, pages)| pages.len()).sum();
        let mut listed = self.free.len()
            + retired
            + self.pending_free.len()
            + old_lists.len()
            + usize::try_from(self.pages_held_for_readers()).unwrap_or(usize::MAX);
        let mut list_pages = Vec::new();
        while list_pages.len() < listed.div_ceil(per) {
            if self.free.first().is_some() {
                listed -= 1;
            }
            list_pages.push(self.alloc(PageKind::Freelist));
        }
        let mut entries = self.free_entries(id);
        entries.extend(old_lists.iter().map(|&page| FreeEntry { page, freed_at: id }));
        entries.sort_unstable();

        self.spill()?;
        let mut run = PageRun::new(self.page_size);
        let chunks: Vec<&[FreeEntry]> =
            if entries.is_empty() { Vec::new() } else { entries.chunks(per).collect() };
        for (i, &page) in list_pages.iter().enumerate() {
            let next = list_pages.get(i + 1).copied().unwrap_or(0);
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
        meta.freelist_head = list_pages.first().copied().unwrap_or(0);
        meta.free_count = entries.len() as u64;
        // The slot's whole sector: a copy of the file header and the slot.
        file.write_all_at(&self.header.encode_sector(&meta), HEADER_OFFSETS[slot] as u64)?;
        file.sync_data()?;

        self.meta = meta.clone();
        self.durable = meta;
        self.durable_slot = slot;
        self.durable_freelist = list_pages;
        self.pages.set_generation_limit(self.generation());
        self.this_commit.clear();
        self.since_checkpoint.clear();
        // Pages the old checkpoint reached, and its free list's pages, are free now as far as
        // the file goes; a snapshot taken before this point, or a reader in another process
        // that pinned the old checkpoint, may still read them. Read the reader table only now:
        // a reader that pins the old checkpoint after this read sees the new slot when it checks
        // the meta again, and moves to it.
        let version = self.version;
        for (page, _) in std::mem::take(&mut self.pending_free) {
            self.retire(FreeEntry { page, freed_at: id }, version);
        }
        for page in old_lists {
            self.retire(FreeEntry { page, freed_at: id }, version);
        }
        self.read_reader_table();
        self.reclaim();
        self.changed = false;
        Ok(())
    }
}
