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
