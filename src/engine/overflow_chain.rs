//! Values too large to sit in a leaf: each lives in its own chain of overflow pages, written whole
//! before the tree changes and released whole when the value is replaced or deleted.

use std::sync::Arc;

use super::Engine;
use super::pages::{PageRun, SharedPages, Tree};
use crate::error::{Error, Result};
use crate::io::{FileIo, through_buffer};
use crate::layout::file::{PageKind, verify_page};
use crate::layout::node::{OldValue, Value, ValueRef, inline_entry_len, key_limit_of_page, max_inline_entry};
use crate::layout::overflow;

impl Engine {
    /// The value as a leaf will hold it: inline (the slice itself, copied into the leaf when the
    /// tree changes), or written to a new overflow chain straight from the slice, with no copy of
    /// its own beyond one run of pages (`PageRun::for_chain`, at most 8 MiB, in a buffer the commit's
    /// chains share) at a time. This is
    /// the only write to the file a put makes, so a batch does it for all its values before it
    /// changes the tree, and a failing write leaves the tree as it was.
    ///
    /// A key over the page's key limit is refused here, before anything is written: the commit
    /// path checks it first, but a put replayed from the log reaches the tree only through here,
    /// and such a key would make a leaf no split can fit.
    pub(crate) fn prepare_value<'v>(&mut self, key_len: usize, value: &'v [u8]) -> Result<ValueRef<'v>> {
        let max = key_limit_of_page(self.page_size);
        if key_len > max {
            return Err(Error::KeyTooLarge { len: key_len, max });
        }
        if inline_entry_len(key_len, value.len()) <= max_inline_entry(self.page_size) {
            Ok(ValueRef::Inline(value))
        } else {
            self.write_overflow(value)
        }
    }

    fn write_overflow(&mut self, value: &[u8]) -> Result<ValueRef<'static>> {
        let per = overflow::data_per_page(self.page_size);
        let chunks: Vec<&[u8]> = value.chunks(per).collect();
        let pages =
            (0..chunks.len()).map(|_| self.alloc(PageKind::Overflow)).collect::<Result<Vec<u64>>>()?;
        self.check_page_count()?;
        let mut run = PageRun::for_chain(self.page_size, pages.len(), std::mem::take(&mut self.chain_buf));
        let generation = self.generation();
        for (i, chunk) in chunks.iter().enumerate() {
            let next = pages.get(i + 1).copied().unwrap_or(0);
            let buf = run.next_page(pages[i]);
            overflow::encode_page(pages[i], chunk, next, generation, buf);
            if run.full() {
                run.flush(self)?;
            }
        }
        run.flush(self)?;
        self.chain_buf = run.into_buffer();
        Ok(ValueRef::Overflow { len: value.len() as u64, first: pages.first().copied().unwrap_or(0) })
    }

    pub(super) fn free_value(&mut self, value: OldValue, from: u64) -> Result<()> {
        if let OldValue::Overflow { len, first } = value {
            let pages = self.tree().overflow_pages(len, first, from)?;
            for page in pages {
                self.release(page, PageKind::Overflow);
            }
        }
        Ok(())
    }
}

/// At most how many bytes of consecutive chain pages one read takes in: the map's read lock is
/// held for no more than checking and copying this much (a buffer that takes them stays in the
/// core's cache), and a chain that is not laid out in consecutive pages costs at most this much
/// read for nothing per page it reaches.
const MAX_RUN_BYTES: usize = 128 * 1024;

/// Where a walk along a chain stands: page `page`, number `index` of the chain, linked from
/// `from` (0 for the first page).
struct ChainStep {
    index: u64,
    page: u64,
    from: u64,
}

/// Bytes of a file read in place in its memory map, to let go of once read
/// ([`FileIo::release_bytes_at`]).
struct Mapped<'f> {
    file: &'f Arc<dyn FileIo>,
    offset: u64,
    len: usize,
}

/// A value being read out of its chain: `len` bytes in `total` pages, of which the caller wants
/// the first `want`, handed to `sink` a page's data at a time (`taken` so far).
struct ValueRead<'s> {
    len: u64,
    total: u64,
    want: u64,
    taken: u64,
    sink: &'s mut dyn FnMut(&[u8]),
}

impl ValueRead<'_> {
    fn done(&self, step: &ChainStep) -> bool {
        step.index >= self.total || self.taken >= self.want
    }

    /// Hand on the part of `chunk` (data of the page `step` stands on, checked) the caller wants.
    fn take(&mut self, chunk: &[u8]) {
        let left = self.want - self.taken;
        let take = usize::try_from(left).map_or(chunk.len(), |left| chunk.len().min(left));
        if take > 0 {
            (self.sink)(&chunk[..take]);
        }
        self.taken += take as u64;
    }
}

impl Tree<'_> {
    /// The bytes of a value; `max` stops reading after that many.
    ///
    /// A chain is usually written in consecutive pages, so the walk takes a run of pages from
    /// the one it stands on in one call (`FileIo::with_bytes_at`: in place in the memory map,
    /// or read into a buffer), checks each page there as any page read from the file is checked
    /// (checksum, generation, `overflow::check_page`, its place in the chain) and copies its
    /// data once into the output, for as long as the chain's links stay inside the run. Pages
    /// of the run past where the chain leaves it are never believed. A run holding a page still
    /// in memory or in another file, or a run read that fails, falls back to reading one page.
    pub(crate) fn read_value(&self, value: &Value, max: Option<usize>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_value_into(value, max, &mut out)?;
        Ok(out)
    }

    /// [`Tree::read_value`] into `out` (cleared first, its capacity reused).
    pub(crate) fn read_value_into(&self, value: &Value, max: Option<usize>, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        // Room for the value, whose length `chain_pages` bounds by the file's size.
        if let Value::Overflow { len, first } = value {
            self.chain_pages(*len, *first)?;
        }
        out.reserve(max.map_or(value.len(), |m| (m as u64).min(value.len())).try_into().unwrap_or(0));
        self.read_value_with(value, max, &mut |piece| out.extend_from_slice(piece))
    }

    /// The bytes of a value, or its first `max`, handed to `sink` in order a piece at a time
    /// (never an empty one): an inline value whole, a chain's pages each as it is checked,
    /// straight from the memory map where the chain is read in place (no copy of the value is
    /// made). A length the file cannot hold fails before the first piece; on an error part way,
    /// the pieces already handed on are the value's own bytes, checked, but not all of them.
    pub(crate) fn read_value_with(
        &self,
        value: &Value,
        max: Option<usize>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<()> {
        let (len, first) = match value {
            Value::Inline(v) => {
                let n = max.map_or(v.len(), |m| m.min(v.len()));
                hand_on(sink, &v[..n]);
                return Ok(());
            }
            Value::Overflow { len, first } => (*len, *first),
        };
        let want = max.map_or(len, |m| (m as u64).min(len));
        let total = self.chain_pages(len, first)?;
        let mut read = ValueRead { len, total, want, taken: 0, sink };
        let mut step = ChainStep { index: 0, page: first, from: 0 };
        let per = overflow::data_per_page(self.page_size()) as u64;
        let max_run = (MAX_RUN_BYTES / self.page_size()).max(1) as u64;
        let mut run_buf = Vec::new();
        // Bytes read in place in a memory map and not let go of yet: consecutive runs are let go
        // of together, once the chain leaves them or the read ends.
        let mut mapped: Option<Mapped<'_>> = None;
        // Pages to try in the next run: cut to what the last run used when the chain left it,
        // doubled after each run it filled, so a scattered chain soon reads page by page.
        let mut guess = max_run;
        // Each turn reads at least one page of the chain and advances `step.index`.
        while !read.done(&step) {
            self.check_link(step.page, step.from)?;
            let needed = (want - read.taken).div_ceil(per.max(1)).min(total - step.index);
            // `check_link` put `step.page` below the page count, so the run holds at least it.
            let n = guess.min(needed).min(self.at.page_count - step.page);
            let used =
                if n > 1 { self.read_run(&mut step, n, &mut read, (&mut run_buf, &mut mapped))? } else { 0 };
            if used == 0 {
                let bytes = self.pages.read_uncached(step.page)?;
                let (chunk, next) =
                    overflow::read_chunk(step.page, &bytes, step.index, len, self.page_size())?;
                read.take(chunk);
                step = ChainStep { index: step.index + 1, page: next, from: step.page };
                guess = (guess * 2).min(max_run);
            } else if used < n && !read.done(&step) {
                guess = used;
            } else {
                guess = (guess * 2).min(max_run);
            }
        }
        if let Some(m) = mapped {
            m.file.release_bytes_at(m.offset, m.len);
        }
        Ok(())
    }

    /// Take the `n` pages from `step.page` on in one piece (in place, or read into `buf`) and
    /// walk the chain through them, checking each page it reaches; returns how many it walked
    /// (0: the run could not be taken in one piece, so nothing was).
    fn read_run<'p>(
        &'p self,
        step: &mut ChainStep,
        n: u64,
        read: &mut ValueRead,
        (buf, mapped): (&mut Vec<u8>, &mut Option<Mapped<'p>>),
    ) -> Result<u64> {
        let page_size = self.page_size();
        let start = step.page;
        let Some(file) = self.pages.run_file(start, n) else { return Ok(0) };
        let (Ok(bytes), Some(offset)) = (usize::try_from(n), start.checked_mul(page_size as u64)) else {
            return Ok(0);
        };
        let bytes = bytes * page_size;
        let mut walked = Ok(0);
        // A failed read (past the end of a cut file, an I/O error) is left to the page by page
        // read, which names the page.
        let mut walk = |images: &[u8]| walked = self.walk_run(start, images, step, read);
        let taken = if self.pages.is_reader() {
            // A writer in another process may reuse these pages under a reader (past its hold
            // limit): bytes checked in place could change before they are copied. The reader
            // checks a copy, as it does every page it reads.
            through_buffer(bytes, buf, |b| file.read_exact_at_unmapped(b, offset), &mut walk)
        } else {
            // This process's pages change only where no snapshot reads (copy on write). Read
            // in place, then let go of: a large value is read once, and its pages must not stay
            // in the process's resident memory for as long as the map lives.
            match mapped {
                Some(m) if Arc::ptr_eq(m.file, file) && m.offset + m.len as u64 == offset => m.len += bytes,
                _ => {
                    if let Some(m) = mapped.take() {
                        m.file.release_bytes_at(m.offset, m.len);
                    }
                    *mapped = Some(Mapped { file, offset, len: bytes });
                }
            }
            file.with_bytes_at(offset, bytes, buf, &mut walk)
        };
        if taken.is_err() {
            return Ok(0);
        }
        walked
    }

    /// Walk the chain from `step` through `images`, the pages from `start` on, for as long as
    /// its links stay among them, checking each page it reaches; returns how many it walked.
    fn walk_run(&self, start: u64, images: &[u8], step: &mut ChainStep, read: &mut ValueRead) -> Result<u64> {
        let page_size = self.page_size();
        let mut used = 0;
        for (page, image) in (start..).zip(images.chunks_exact(page_size)) {
            if step.page != page || read.done(step) {
                break;
            }
            self.check_link(page, step.from)?;
            check_read_page(self.pages, page, image)?;
            let (chunk, next) = overflow::read_chunk(page, image, step.index, read.len, page_size)?;
            read.take(chunk);
            *step = ChainStep { index: step.index + 1, page: next, from: page };
            used += 1;
        }
        Ok(used)
    }

    /// Pages in the chain of a value of `len` bytes. A length (from a leaf on disk) whose chain
    /// could not fit in the file is damage, named at `page`: walks and buffers sized by it
    /// stay bounded by the file.
    pub(crate) fn chain_pages(&self, len: u64, page: u64) -> Result<u64> {
        let total = overflow::pages_for(len, self.page_size());
        if total >= self.at.page_count {
            return Err(Error::corrupted(
                page,
                format!(
                    "a value of {len} bytes needs {total} overflow pages; the file has {}",
                    self.at.page_count
                ),
            ));
        }
        Ok(total)
    }

    /// Page `index` of the chain of a value of `len` bytes: its data and next link. `from` is
    /// the page that links to `page`, for errors.
    pub(crate) fn overflow_chunk(
        &self,
        page: u64,
        from: u64,
        index: u64,
        len: u64,
    ) -> Result<(Vec<u8>, u64)> {
        self.check_link(page, from)?;
        let bytes = self.pages.read_uncached(page)?;
        let (chunk, next) = overflow::read_chunk(page, &bytes, index, len, self.page_size())?;
        Ok((chunk.to_vec(), next))
    }

    /// The pages of an overflow chain, checked link by link.
    pub(crate) fn overflow_pages(&self, len: u64, first: u64, from: u64) -> Result<Vec<u64>> {
        let total = self.chain_pages(len, from)?;
        let mut pages = Vec::new();
        let (mut page, mut from) = (first, from);
        for index in 0..total {
            self.check_link(page, from)?;
            let bytes = self.pages.read_uncached(page)?;
            let (_, next) = overflow::read_chunk(page, &bytes, index, len, self.page_size())?;
            pages.push(page);
            from = page;
            page = next;
        }
        Ok(pages)
    }
}

/// Hand `piece` to `sink` unless it is empty.
pub(crate) fn hand_on(sink: &mut dyn FnMut(&[u8]), piece: &[u8]) {
    if !piece.is_empty() {
        sink(piece);
    }
}

/// The checks a page read from the file passes before its bytes are believed (as
/// `SharedPages::read_uncached` makes them): its checksum, its generation, and the invariants of
/// an overflow page.
fn check_read_page(pages: &SharedPages, page: u64, image: &[u8]) -> Result<()> {
    verify_page(page, image)?;
    pages.check_generation(page, image)?;
    overflow::check_page(page, image)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use crate::layout::node::Value;
    use crate::{Durability, Error, KVStore, OpenOptions};

    const PAGE_BYTES: u32 = 1024;

    fn open(path: &Path) -> KVStore {
        OpenOptions::new().page_size(PAGE_BYTES).durability(Durability::Buffered).open(path).unwrap()
    }

    /// `len` bytes that differ from page to page of a chain and from `seed` to `seed`.
    fn value(seed: u32, len: usize) -> Vec<u8> {
        (0..u32::try_from(len).unwrap())
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).wrapping_add(seed).to_le_bytes()[0])
            .collect()
    }

    /// The pages of the chain of the value at `key`.
    fn chain(store: &KVStore, key: &[u8]) -> Vec<u64> {
        store.with_engine(|e| match e.tree().get(key).unwrap().unwrap() {
            Value::Overflow { len, first } => e.tree().overflow_pages(len, first, 0).unwrap(),
            other => panic!("expected an overflow value, got {other:?}"),
        })
    }

    fn contiguous(pages: &[u64]) -> bool {
        pages.windows(2).all(|w| w[1] == w[0] + 1)
    }

    #[test]
    fn a_long_chain_reads_back_whole_and_in_part() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("t.db"));
        // Some 300 pages: several runs, the last one partly filled.
        let big = value(1, 300_000);
        store.put(b"big", &big).unwrap();
        assert!(contiguous(&chain(&store, b"big")));
        assert_eq!(store.get(b"big").unwrap().unwrap(), big);
        for max in [0, 1, 1008, 1009, 200_000, 299_999, 300_000, 400_000] {
            let part = store.get_prefix(b"big", max).unwrap().unwrap();
            assert_eq!(part, &big[..max.min(big.len())], "the first {max} bytes");
        }
        store.checkpoint().unwrap();
        drop(store);
        let store = open(&dir.path().join("t.db"));
        assert_eq!(store.get(b"big").unwrap().unwrap(), big, "read back from the file after a reopen");
    }

    #[test]
    fn a_chain_in_scattered_pages_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("t.db"));
        for i in 0..60u32 {
            store.put(format!("v{i:02}"), value(i, 3000)).unwrap();
        }
        store.checkpoint().unwrap();
        for i in (0..60u32).step_by(2) {
            store.delete(format!("v{i:02}")).unwrap();
        }
        // Freed pages become free to reuse once no checkpoint can reach them.
        store.checkpoint().unwrap();
        store.checkpoint().unwrap();
        let big = value(7, 100_000);
        store.put(b"big", &big).unwrap();
        let pages = chain(&store, b"big");
        assert!(!contiguous(&pages), "the chain takes the freed pages: {pages:?}");
        assert_eq!(store.get(b"big").unwrap().unwrap(), big);
        for i in (1..60u32).step_by(2) {
            assert_eq!(store.get(format!("v{i:02}")).unwrap().unwrap(), value(i, 3000));
        }
        store.checkpoint().unwrap();
        drop(store);
        let store = open(&dir.path().join("t.db"));
        assert_eq!(store.get(b"big").unwrap().unwrap(), big);
    }

    #[test]
    fn a_damaged_page_in_the_middle_of_a_run_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = open(&path);
        let big = value(3, 60_000);
        store.put(b"big", &big).unwrap();
        let pages = chain(&store, b"big");
        assert!(contiguous(&pages));
        store.checkpoint().unwrap();
        drop(store);
        let damaged = pages[20];
        let mut file = std::fs::read(&path).unwrap();
        file[usize::try_from(damaged * u64::from(PAGE_BYTES)).unwrap() + 500] ^= 0x40;
        std::fs::write(&path, &file).unwrap();
        let store = open(&path);
        match store.get(b"big") {
            Err(Error::Corrupted { page, .. }) => assert_eq!(page, damaged),
            other => panic!("expected damage at page {damaged}, got {other:?}"),
        }
        // The pages before it are intact: a read that stops short of it succeeds.
        let part = store.get_prefix(b"big", 20 * (PAGE_BYTES as usize - 16)).unwrap().unwrap();
        assert_eq!(part, &big[..20 * (PAGE_BYTES as usize - 16)]);
    }

    #[test]
    fn a_read_only_handle_reads_a_chain_its_replay_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = open(&path);
        writer.put(b"old", value(1, 50_000)).unwrap();
        writer.checkpoint().unwrap();
        writer.put(b"new", value(2, 50_000)).unwrap();
        writer.flush().unwrap();
        // The commit of `new` is only in the log: the reader's replay writes its chain to its
        // own scratch file, beside the pages of `old` in the data file.
        let reader = OpenOptions::new().read_only(true).open(&path).unwrap();
        assert_eq!(reader.get(b"new").unwrap().unwrap(), value(2, 50_000));
        assert_eq!(reader.get(b"old").unwrap().unwrap(), value(1, 50_000));
    }

    #[test]
    fn values_read_back_beside_a_concurrent_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(&dir.path().join("t.db")));
        let fixed = value(9, 150_000);
        store.put(b"fixed", &fixed).unwrap();
        let writer = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for round in 0..40u32 {
                    for i in 0..4u32 {
                        store
                            .put(format!("churn{i}"), value(round * 4 + i, 40_000 + round as usize * 100))
                            .unwrap();
                    }
                    if round % 5 == 0 {
                        store.checkpoint().unwrap();
                    }
                }
            })
        };
        for _ in 0..40 {
            assert_eq!(store.get(b"fixed").unwrap().unwrap(), fixed);
            let snapshot = store.snapshot();
            if let Some(v) = snapshot.get(b"churn0").unwrap() {
                // Whatever round it is from, it reads back whole and as written.
                let round = (0..40u32).find(|r| v.len() == 40_000 + *r as usize * 100).unwrap();
                assert_eq!(v, value(round * 4, v.len()));
            }
        }
        writer.join().unwrap();
        assert_eq!(store.get(b"fixed").unwrap().unwrap(), fixed);
    }
}
