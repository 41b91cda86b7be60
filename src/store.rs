//! `KVStore`: the public face of the engine.

use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};

use crate::batch::WriteBatch;
use crate::error::Result;
use crate::inspect::{CheckReport, PageInfo, PageSummary, RecoveryReport, Stats};
use crate::options::{Durability, OpenOptions};

/// An open store. Reads and writes take `&self` and may run from many threads (share it in an
/// `Arc`); changing the identifier takes `&mut self`.
pub struct KVStore {
    path: PathBuf,
    identifier: String,
}

/// Ordered iterator over a key range, yielding `(key, value)` pairs. It reads one leaf page at a
/// time and resumes by key, so it never holds a lock between calls and never skips or repeats a key.
pub struct Iter<'a> {
    store: &'a KVStore,
}

impl Iterator for Iter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        let _ = self.store;
        todo!()
    }
}

/// Iterator over all pages in page-number order.
pub struct PageIter<'a> {
    store: &'a KVStore,
}

impl Iterator for PageIter<'_> {
    type Item = Result<PageSummary>;
    fn next(&mut self) -> Option<Self::Item> {
        let _ = self.store;
        todo!()
    }
}

impl KVStore {
    /// Open the store at `path`, creating it (with `identifier`, default `KVStore`) if missing.
    pub fn open(path: impl AsRef<Path>, identifier: Option<&str>) -> Result<KVStore> {
        let mut options = OpenOptions::new();
        if let Some(id) = identifier {
            options.identifier(id);
        }
        options.open(path)
    }

    pub(crate) fn open_with(_path: &Path, _options: &OpenOptions) -> Result<KVStore> {
        todo!()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn get_identifier(&self) -> &str {
        &self.identifier
    }
    pub fn set_identifier(&mut self, _identifier: &str) -> Result<()> {
        todo!()
    }
    pub fn is_read_only(&self) -> bool {
        todo!()
    }
    pub fn durability(&self) -> Durability {
        todo!()
    }
    pub fn page_size(&self) -> u32 {
        todo!()
    }
    pub fn put(&self, _key: impl AsRef<[u8]>, _value: impl AsRef<[u8]>) -> Result<()> {
        todo!()
    }
    pub fn get(&self, _key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        todo!()
    }
    /// Length of the value without reading it (for previews of large values).
    pub fn value_len(&self, _key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        todo!()
    }
    /// Up to `max` bytes from the start of the value.
    pub fn get_prefix(&self, _key: impl AsRef<[u8]>, _max: usize) -> Result<Option<Vec<u8>>> {
        todo!()
    }
    /// Delete `key`; `Ok(true)` when it existed.
    pub fn delete(&self, _key: impl AsRef<[u8]>) -> Result<bool> {
        todo!()
    }
    pub fn write(&self, _batch: WriteBatch) -> Result<()> {
        todo!()
    }
    pub fn len(&self) -> u64 {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn iter(&self) -> Iter<'_> {
        todo!()
    }
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, _range: R) -> Iter<'_> {
        todo!()
    }
    pub fn range_bounds(&self, _start: Bound<Vec<u8>>, _end: Bound<Vec<u8>>) -> Iter<'_> {
        todo!()
    }
    pub fn prefix(&self, _prefix: impl AsRef<[u8]>) -> Iter<'_> {
        todo!()
    }
    pub fn flush(&self) -> Result<()> {
        todo!()
    }
    pub fn checkpoint(&self) -> Result<()> {
        todo!()
    }
    pub fn compact(&self) -> Result<()> {
        todo!()
    }
    pub fn stats(&self) -> Stats {
        todo!()
    }
    pub fn check(&self) -> Result<CheckReport> {
        todo!()
    }
    pub fn check_with_progress(&self, _progress: &mut dyn FnMut(u64, u64)) -> Result<CheckReport> {
        todo!()
    }
    pub fn pages(&self) -> PageIter<'_> {
        todo!()
    }
    pub fn page_info(&self, _page: u64) -> Result<PageInfo> {
        todo!()
    }
    pub fn free_pages(&self) -> Result<Vec<u64>> {
        todo!()
    }
    pub fn recovery_report(&self) -> &RecoveryReport {
        todo!()
    }
    pub fn close(self) -> Result<()> {
        todo!()
    }
}
