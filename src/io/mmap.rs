//! The memory map of the data file: the crate's only `unsafe`.

// The one module allowed `unsafe` (the crate denies `unsafe_code`): mapping a file is unsafe
// because another process could change it under the map; the SAFETY note below says why it is
// sound here.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::{Mmap, MmapOptions};

/// A read-only shared mapping of the first `len` bytes of a file.
pub(crate) struct Map {
    map: Option<Mmap>,
}

impl Map {
    pub(crate) fn new(file: &File, len: u64) -> io::Result<Map> {
        if len == 0 {
            return Ok(Map { map: None });
        }
        let len = usize::try_from(len).map_err(|_| io::Error::other("file too large to map"))?;
        // SAFETY: the mapping is read-only and shared. Only the data file is ever mapped, and no
        // process truncates it below a length another may have mapped (it only grows; compaction
        // writes a new file and renames it over the old one, leaving this inode and its mapping
        // intact). The log, which the writer cuts at every checkpoint, is read without a map
        // (`Vfs::open_unmapped`), so no reader faults when another process shrinks it. Every
        // read through it is bounds-checked against `len` in `bytes`. Bytes changed under
        // the map by this process's own writes or by another writer are just data: pages are
        // checksummed before use.
        let map = unsafe { MmapOptions::new().len(len).map(file)? };
        Ok(Map { map: Some(map) })
    }

    pub(crate) fn new_unmapped() -> Map {
        Map { map: None }
    }

    pub(crate) fn len(&self) -> u64 {
        self.map.as_ref().map_or(0, |m| m.len() as u64)
    }

    /// Drop this process's mapping of the pages holding `offset..offset + len` (inside the
    /// mapping; nothing otherwise): they stop counting in its resident memory and are read from
    /// the page cache again if touched.
    pub(crate) fn release(&self, offset: u64, len: usize) {
        let (Some(map), Ok(start)) = (self.map.as_ref(), usize::try_from(offset)) else { return };
        if start.checked_add(len).is_none_or(|end| end > map.len()) || len == 0 {
            return;
        }
        // SAFETY: the mapping is shared, read-only and of a file: MADV_DONTNEED only drops page
        // table entries, and a later access reads the file's bytes again from the page cache,
        // as any read through the map may see them change (see `new`). No byte of it is
        // trusted unchecked.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len) };
    }

    /// The mapped bytes `offset..offset + len`, if they lie inside the mapping.
    pub(crate) fn bytes(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let map = self.map.as_ref()?;
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(len)?;
        map.get(start..end)
    }
}
