//! The files of a store: the data file the user names, and its companions beside it.

use std::path::{Path, PathBuf};

/// `<path><suffix>`: the log and temporary files sit beside the data file, named after it.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The log file of the store at `path`.
pub fn log_path(path: &Path) -> PathBuf {
    sibling(path, ".wal")
}

pub(crate) fn temp_path(path: &Path) -> PathBuf {
    sibling(path, ".tmp")
}

/// Whether the file at `path` begins like a Wind-KVStore data file or log (by its magic bytes):
/// for tools that must never overwrite or import one. A file that cannot be read is neither.
pub fn is_store_or_log(path: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 8];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
    read.is_ok() && (magic == crate::layout::file::FILE_MAGIC || magic == crate::wal::LOG_MAGIC)
}
