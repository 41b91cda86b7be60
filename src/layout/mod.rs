//! The on-disk layouts: each module draws its bytes in a comment at its top and encodes and
//! decodes them, treating what it reads as hostile. Nothing here imports from the engine or the
//! store above it: `file` (file header, meta slots, page header and checksum) is the bottom, and
//! `node`, `freelist` and `overflow` build on it. The log's record layout is in `crate::wal`.

pub(crate) mod entries;
pub(crate) mod file;
pub(crate) mod freelist;
pub(crate) mod node;
pub(crate) mod overflow;
