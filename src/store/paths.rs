//! The files of a store: the data file the user names, and its companions beside it.
//!
//! A store `N` has its log `N.wal`, and while it is being created or compacted a temporary file
//! whose name carries the store's file id: `N.<file id>.create` and `N.<file id>.compact` (16
//! lower-case hex digits). No other store's file can be one of ours by accident: a store named
//! like that has a file id of its own in its header, and an open removes a leftover only when
//! both its name and its header carry the store's file id (or it is too short to be anything
//! but the start of our own, see [`is_own_temp`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::{FileIo, Vfs};
use crate::layout::file::{FILE_HEADER_BYTES, FileHeader, HeaderError};

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

/// What a temporary file of a store is for; it ends the file's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TempKind {
    /// A new store, renamed to `N` once whole.
    Create,
    /// The compacted copy, renamed over `N` once whole.
    Compact,
}

/// The suffixes of temporary files, after the file id: for tools that refuse such names.
pub const TEMP_SUFFIXES: [&str; 2] = [".create", ".compact"];

/// `<path>.<file id in 16 hex digits>.create` or `.compact`.
pub(crate) fn temp_path(path: &Path, file_id: u64, kind: TempKind) -> PathBuf {
    let suffix = match kind {
        TempKind::Create => TEMP_SUFFIXES[0],
        TempKind::Compact => TEMP_SUFFIXES[1],
    };
    sibling(path, &format!(".{file_id:016x}{suffix}"))
}

/// Whether `file_name` has the shape of a store's temporary file (`<name>.<16 hex
/// digits>.create` or `.compact`, ASCII letter case ignored), whoever's it is.
pub fn is_temp_name(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    TEMP_SUFFIXES.iter().any(|suffix| {
        lower.strip_suffix(suffix).and_then(|rest| rest.rsplit_once('.')).is_some_and(|(name, id)| {
            !name.is_empty() && id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
        })
    })
}

/// The file id in the header of the file at `path`; `None` when it has no store header (missing,
/// short, another kind of file).
fn header_file_id(vfs: &dyn Vfs, path: &Path) -> Result<Option<u64>> {
    if !vfs.exists(path)? {
        return Ok(None);
    }
    let file = vfs.open_unmapped(path)?;
    if file.len()? < FILE_HEADER_BYTES as u64 {
        return Ok(None);
    }
    let mut head = [0u8; FILE_HEADER_BYTES];
    file.read_exact_at(&mut head, 0)?;
    Ok(FileHeader::decode(&head).ok().map(|h| h.file_id))
}

/// Whether the temporary file at `temp` (whose name the caller built with [`temp_path`], so it
/// carries `file_id`) is provably the store's own: its header carries `file_id` too; or it holds
/// no store's header at all (shorter than one, or not one), which is what a crash or a failed
/// sync can leave of our own file, and is no store's data. A file at that name holding another
/// store's header (of any file id or format version) is never taken.
fn is_own_temp(vfs: &dyn Vfs, temp: &Path, file_id: u64) -> Result<bool> {
    let file = vfs.open_unmapped(temp)?;
    let len = file.len()?;
    if len < FILE_HEADER_BYTES as u64 {
        return Ok(true);
    }
    let mut head = [0u8; FILE_HEADER_BYTES];
    file.read_exact_at(&mut head, 0)?;
    Ok(match FileHeader::decode(&head) {
        Ok(header) => header.file_id == file_id,
        Err(HeaderError::Version(_)) => false,
        Err(HeaderError::NotAStore(_)) => true,
    })
}

/// Removes what an interrupted compaction of the store at `path` left beside it: only a file
/// provably its own. Anything else under that name (another store named so, a file whose header
/// never reached the disk) is left alone. Called with the store's lock held.
pub(crate) fn remove_own_leftover(vfs: &dyn Vfs, path: &Path) -> Result<()> {
    let Some(file_id) = header_file_id(vfs, path)? else {
        // No store header: the open refuses the file itself, and has nothing to clean.
        return Ok(());
    };
    let temp = temp_path(path, file_id, TempKind::Compact);
    if vfs.exists(&temp)? && is_own_temp(vfs, &temp, file_id)? {
        vfs.remove(&temp)?;
    }
    Ok(())
}

/// Creates the temporary file of `kind` for a rewrite of the store at `path` whose new file will
/// have `header` (its file id names the file): makes way for it ([`clear_temp`]), then writes
/// the header at its start and syncs it (**P0**), so that a leftover from here on is provably the
/// store's own. A failure removes the file.
pub(crate) fn create_temp(
    vfs: &dyn Vfs,
    path: &Path,
    header: &FileHeader,
    kind: TempKind,
) -> Result<(PathBuf, Arc<dyn FileIo>)> {
    let temp = temp_path(path, header.file_id, kind);
    clear_temp(vfs, &temp, header.file_id)?;
    let file = vfs.create(&temp)?;
    let mut head = [0u8; FILE_HEADER_BYTES];
    header.encode(&mut head);
    if let Err(e) = file.write_all_at(&head, 0).and_then(|()| file.sync_data()) {
        drop(file);
        let _ = vfs.remove(&temp);
        return Err(e.into());
    }
    Ok((temp, file))
}

/// Makes way for the store's temporary file at `temp`: removes a leftover that is provably its
/// own, and refuses (naming the file) when something else has that name, rather than replace it.
pub(crate) fn clear_temp(vfs: &dyn Vfs, temp: &Path, file_id: u64) -> Result<()> {
    if !vfs.exists(temp)? {
        return Ok(());
    }
    if is_own_temp(vfs, temp, file_id)? {
        vfs.remove(temp)?;
        return Ok(());
    }
    Err(Error::Io(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!(
            "{} is in the way of this store's temporary file and is not this store's: move it away",
            temp.display()
        ),
    )))
}

/// Whether the file at `path` begins like a Wind-KVStore data file or log (by its magic bytes):
/// for tools that must never overwrite or import one. A file that cannot be read is neither.
pub fn is_store_or_log(path: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 8];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
    read.is_ok() && (magic == crate::layout::file::FILE_MAGIC || magic == crate::wal::LOG_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_carry_the_file_id_and_have_one_shape() {
        let compact = temp_path(Path::new("/d/app.db"), 0x00ab_cdef_0123_4567, TempKind::Compact);
        assert_eq!(compact, Path::new("/d/app.db.00abcdef01234567.compact"));
        let create = temp_path(Path::new("app.db"), u64::MAX, TempKind::Create);
        assert_eq!(create, Path::new("app.db.ffffffffffffffff.create"));
        for name in ["app.db.00abcdef01234567.compact", "x.FFFFFFFFFFFFFFFF.Create"] {
            assert!(is_temp_name(name), "{name}");
        }
        for name in [
            "app.db.tmp",
            "app.compact",
            ".00abcdef01234567.compact",
            "app.00abcdef0123456.compact",
            "app.00abcdef012345678.compact",
            "app.00abcdef0123456g.create",
            "app.00abcdef01234567.compacted",
        ] {
            assert!(!is_temp_name(name), "{name}");
        }
    }
}
