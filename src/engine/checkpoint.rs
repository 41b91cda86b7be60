//! Spills and checkpoints: changed pages go to their fresh places in the file (a spill, any time),
//! then a checkpoint writes the new free list, syncs, and switches the meta slot (see
//! docs/DURABILITY.md for the order of the syncs).

use std::sync::Arc;

use super::Engine;
use super::pages::PageRun;
use crate::error::Result;
use crate::layout::file::{META_SLOT_BYTES, META_SLOT_OFFSETS, PageKind, now_ms, seal_page};
use crate::layout::freelist;

impl Engine {
    /// Write every dirty page to its (fresh) place in the file and keep it in the cache.
    pub(crate) fn spill(&mut self) -> Result<()> {
        if self.read_only || self.dirty.is_empty() {
            return Ok(());
        }
        let mut pages: Vec<u64> = self.dirty.keys().copied().collect();
        pages.sort_unstable();
        let mut run = PageRun::new(self.page_size);
        let mut written = Vec::with_capacity(pages.len());
        for page in pages {
            let node = &self.dirty[&page];
            let buf = run.next_page(page);
            node.encode(buf);
            seal_page(page, buf);
            written.push((page, Arc::<[u8]>::from(&*buf)));
            if run.full() {
                run.flush(self)?;
            }
        }
        run.flush(self)?;
        self.dirty.clear();
        for (page, bytes) in written {
            self.cache.insert(page, bytes);
        }
        Ok(())
    }

    pub(crate) fn maybe_spill(&mut self) -> Result<()> {
        if self.dirty.len() > self.dirty_limit_pages { self.spill() } else { Ok(()) }
    }

    /// Fold every change into the data file: write changed pages and a new free list, sync,
    /// switch the meta slot to one naming them (and `seq` as the last log record covered), sync.
    pub(crate) fn checkpoint(&mut self, seq: u64) -> Result<()> {
        debug_assert!(!self.read_only);
        if !self.changed
            && seq == self.durable.checkpoint_seq
            && self.meta.identifier == self.durable.identifier
        {
            return Ok(());
        }
        // The free list after this checkpoint: what is free now, what becomes free once the old
        // checkpoint is gone, and the old free list's own pages, less the pages the new list
        // is written to.
        let per = freelist::entries_per_page(self.page_size);
        let old_lists = std::mem::take(&mut self.durable_freelist);
        self.meta.freelist_pages -= old_lists.len() as u64;
        let mut listed = self.free.len() + self.pending_free.len() + old_lists.len();
        let mut list_pages = Vec::new();
        while list_pages.len() < listed.div_ceil(per) {
            if self.free.first().is_some() {
                listed -= 1;
            }
            list_pages.push(self.alloc(PageKind::Freelist));
        }
        let mut entries: Vec<u64> = self.free.iter().copied().collect();
        entries.extend(self.pending_free.iter().copied());
        entries.extend(old_lists.iter().copied());
        entries.sort_unstable();

        self.spill()?;
        let mut run = PageRun::new(self.page_size);
        let chunks: Vec<&[u64]> = if entries.is_empty() { Vec::new() } else { entries.chunks(per).collect() };
        for (i, &page) in list_pages.iter().enumerate() {
            let next = list_pages.get(i + 1).copied().unwrap_or(0);
            let buf = run.next_page(page);
            freelist::encode_page(page, chunks.get(i).copied().unwrap_or(&[]), next, buf);
            if run.full() {
                run.flush(self)?;
            }
        }
        run.flush(self)?;
        let want_len = self.meta.page_count * self.page_size as u64;
        if self.file.len()? < want_len {
            self.file.set_len(want_len)?;
        }
        self.file.sync_data()?;

        let slot = 1 - self.durable_slot;
        let mut meta = self.meta.clone();
        meta.checkpoint_id = self.durable.checkpoint_id + 1;
        meta.checkpoint_seq = seq;
        meta.modified_ms = now_ms();
        meta.freelist_head = list_pages.first().copied().unwrap_or(0);
        meta.free_count = entries.len() as u64;
        let mut buf = [0u8; META_SLOT_BYTES];
        meta.encode(&mut buf);
        self.file.write_all_at(&buf, META_SLOT_OFFSETS[slot] as u64)?;
        self.file.sync_data()?;

        self.meta = meta.clone();
        self.durable = meta;
        self.durable_slot = slot;
        self.durable_freelist = list_pages;
        self.fresh.clear();
        self.pending_free.clear();
        self.free = entries.into_iter().collect();
        self.changed = false;
        Ok(())
    }
}
