//! Values too large to sit in a leaf: each lives in its own chain of overflow pages, written whole
//! before the tree changes and released whole when the value is replaced or deleted.

use std::borrow::Cow;

use super::Engine;
use super::pages::{PageRun, Tree};
use crate::error::{Error, Result};
use crate::layout::file::PageKind;
use crate::layout::node::{OldValue, Value, inline_entry_len, key_limit_of_page, max_inline_entry};
use crate::layout::overflow;

impl Engine {
    /// The value as a leaf will hold it: inline (owned, copied only when small enough to sit in
    /// a leaf), or written to a new overflow chain straight from the slice given, with no copy of
    /// its own beyond one run of pages (`PageRun`, at most 1 MiB) at a time. This is
    /// the only write to the file a put makes, so a batch does it for all its values before it
    /// changes the tree, and a failing write leaves the tree as it was.
    ///
    /// A key over the page's key limit is refused here, before anything is written: the commit
    /// path checks it first, but a put replayed from the log reaches the tree only through here,
    /// and such a key would make a leaf no split can fit.
    pub(crate) fn prepare_value(&mut self, key_len: usize, value: Cow<'_, [u8]>) -> Result<Value> {
        let max = key_limit_of_page(self.page_size);
        if key_len > max {
            return Err(Error::KeyTooLarge { len: key_len, max });
        }
        if inline_entry_len(key_len, value.len()) <= max_inline_entry(self.page_size) {
            Ok(Value::Inline(value.into_owned()))
        } else {
            self.write_overflow(&value)
        }
    }

    fn write_overflow(&mut self, value: &[u8]) -> Result<Value> {
        let per = overflow::data_per_page(self.page_size);
        let chunks: Vec<&[u8]> = value.chunks(per).collect();
        let pages =
            (0..chunks.len()).map(|_| self.alloc(PageKind::Overflow)).collect::<Result<Vec<u64>>>()?;
        self.check_page_count()?;
        let mut run = PageRun::new(self.page_size);
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
        Ok(Value::Overflow { len: value.len() as u64, first: pages.first().copied().unwrap_or(0) })
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

impl Tree<'_> {
    /// The bytes of a value; `max` stops reading after that many.
    pub(crate) fn read_value(&self, value: &Value, max: Option<usize>) -> Result<Vec<u8>> {
        let (len, first) = match value {
            Value::Inline(v) => {
                let n = max.map_or(v.len(), |m| m.min(v.len()));
                return Ok(v[..n].to_vec());
            }
            Value::Overflow { len, first } => (*len, *first),
        };
        let want = max.map_or(len, |m| (m as u64).min(len));
        let total = self.chain_pages(len, first)?;
        // `want` is at most the value's length, which `chain_pages` bounded by the file's size.
        let mut out = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        let mut page = first;
        let mut from = 0;
        for index in 0..total {
            if out.len() as u64 >= want {
                break;
            }
            self.check_link(page, from)?;
            let bytes = self.pages.read_uncached(page)?;
            let (chunk, next) = overflow::read_chunk(page, &bytes, index, len, self.page_size())?;
            let left = want - out.len() as u64;
            let take = usize::try_from(left).map_or(chunk.len(), |left| chunk.len().min(left));
            out.extend_from_slice(&chunk[..take]);
            from = page;
            page = next;
        }
        Ok(out)
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
