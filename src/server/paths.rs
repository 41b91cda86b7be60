//! Confines store paths to the data directory.
//!
//! A client names a store by a relative path (`"data.db"`, `"team/a.db"`). It is refused when it
//! is absolute, contains `..`, names a folder that does not exist, or leads outside the data
//! directory through a symbolic link (a linked folder, a linked store file, or a link planted
//! where the store's log or compaction file goes). What remains is one canonical path inside
//! the data directory: two names for the same file (through a link inside the directory) give
//! the same canonical path, so they share one open store.
//!
//! Names that end in a companion suffix ([`RESERVED_SUFFIXES`]: a store's log, the exporter's
//! partial file) or have the shape of the engine's temporary files ([`crate::is_temp_name`]) are
//! refused as stores and as export or import files: opening such a name as a store would let an
//! export replace another store's file, or stand in the way of another store's compaction (the
//! engine itself never removes or replaces a file that is not provably its own).
//!
//! The data directory belongs to the operator; clients cannot create links through the API, so
//! the checks are not raced by them.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::error::ApiError;

/// Longest store name accepted: far above any real name, short enough to log and echo.
pub const MAX_STORE_PATH_BYTES: usize = 1024;

/// Longest name of one folder in a store path: the usual file-system limit (`NAME_MAX`).
pub const MAX_PATH_COMPONENT_BYTES: usize = 255;

/// Files kept beside a store `N` under `N` plus one of these: its log (`.wal`), the exporter's
/// unfinished file (`.partial`), the reader table (the folder `.readers`) and a damaged log
/// copied aside by recovery (`.wal.<offset>.damaged`). No store, export or import may be named
/// with one of them (in any letter case), no folder of a store path may end in `.readers`, and a
/// link planted under one of them beside a store is refused. The engine's temporary files
/// (`N.<file id>.create`, `N.<file id>.compact`) are refused by shape.
pub const RESERVED_SUFFIXES: [&str; 4] = [".wal", ".partial", ".readers", ".damaged"];

/// The longest name a store's file gets beside its own: `.<16 hex digits>.compact`, a temporary
/// file's. A file name leaves room for it within [`MAX_PATH_COMPONENT_BYTES`].
const LONGEST_SUFFIX_BYTES: usize = 25;

fn refused(message: String) -> ApiError {
    ApiError::bad_request("bad_path", message)
}

/// The canonical path of the store the client calls `name`, inside `root` (which must itself be
/// canonical). Blocking: it reads the file system.
pub fn resolve(root: &Path, name: &str) -> Result<PathBuf, ApiError> {
    if name.is_empty() {
        return Err(refused("path is empty".into()));
    }
    if name.len() > MAX_STORE_PATH_BYTES {
        return Err(refused(format!("path is longer than {MAX_STORE_PATH_BYTES} bytes")));
    }
    if name.chars().any(char::is_control) {
        return Err(refused("path contains a control character (a NUL, a newline, ...)".into()));
    }
    let relative = Path::new(name);
    if relative.has_root() || relative.is_absolute() {
        // The name is not echoed: the client's guess at a server path stays out of answers.
        return Err(refused("absolute paths are not allowed; name a file inside the data directory".into()));
    }
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(refused(format!("'{name}': '..' is not allowed"))),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refused("absolute paths are not allowed".into()));
            }
        }
    }
    let Some((file_name, folders)) = parts.split_last() else {
        return Err(refused(format!("'{name}' names no file")));
    };
    if folders.iter().any(|f| f.len() > MAX_PATH_COMPONENT_BYTES) {
        return Err(refused(format!("a folder name is longer than {MAX_PATH_COMPONENT_BYTES} bytes")));
    }
    // Inside another store's reader table a store would be taken for a reader's slot.
    if folders.iter().any(|f| f.to_string_lossy().to_ascii_lowercase().ends_with(".readers")) {
        return Err(refused(format!(
            "'{name}': folders ending in '.readers' are kept for the reader tables of stores"
        )));
    }
    let file_limit = MAX_PATH_COMPONENT_BYTES - LONGEST_SUFFIX_BYTES;
    if file_name.len() > file_limit {
        return Err(refused(format!("the file name is longer than {file_limit} bytes")));
    }
    if let Some(suffix) = reserved_suffix(&file_name.to_string_lossy()) {
        return Err(refused(format!(
            "'{name}': names ending in '{suffix}' are kept for the files beside a store; choose another name"
        )));
    }
    if crate::is_temp_name(&file_name.to_string_lossy()) {
        return Err(refused(format!(
            "'{name}': names ending in '.<16 hex digits>.create' or '.compact' are kept for the files beside a store; choose another name"
        )));
    }

    let parent = folders.iter().fold(root.to_path_buf(), |p, part| p.join(part));
    let parent = match parent.canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(refused(format!("'{name}': its folder does not exist in the data directory")));
        }
        Err(e) => return Err(ApiError::internal(format!("resolving '{name}': {e}"))),
    };
    if !parent.starts_with(root) {
        return Err(refused(format!("'{name}' leads outside the data directory")));
    }
    if !parent.is_dir() {
        return Err(refused(format!("'{name}': its folder is not a folder")));
    }

    let mut target = parent.join(file_name);
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.file_type().is_symlink() => {
            target = match target.canonicalize() {
                Ok(t) => t,
                // A dangling link: opening it would create its target, wherever that is.
                Err(_) => return Err(refused(format!("'{name}' is a link that leads nowhere"))),
            };
            if !target.starts_with(root) {
                return Err(refused(format!("'{name}' leads outside the data directory")));
            }
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(ApiError::internal(format!("resolving '{name}': {e}"))),
    }
    if target == root {
        return Err(refused(format!("'{name}' names the data directory itself")));
    }
    if target.is_dir() {
        return Err(refused(format!("'{name}' is a folder, not a store")));
    }
    if let Some(suffix) = target.file_name().and_then(|n| reserved_suffix(&n.to_string_lossy())) {
        return Err(refused(format!(
            "'{name}' leads to a file ending in '{suffix}', kept for the files beside a store"
        )));
    }
    if target.file_name().is_some_and(|n| crate::is_temp_name(&n.to_string_lossy())) {
        return Err(refused(format!("'{name}' leads to a store's temporary file, kept beside the store")));
    }
    for suffix in RESERVED_SUFFIXES {
        let mut sibling = OsString::from(target.as_os_str());
        sibling.push(suffix);
        let is_link =
            std::fs::symlink_metadata(PathBuf::from(sibling)).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            return Err(refused(format!(
                "'{name}{suffix}' beside the store is a link; refusing to write through it"
            )));
        }
    }
    Ok(target)
}

/// The reserved suffix `file_name` ends with, if any (ASCII letter case ignored).
pub(crate) fn reserved_suffix(file_name: &str) -> Option<&'static str> {
    let lower = file_name.to_ascii_lowercase();
    RESERVED_SUFFIXES.into_iter().find(|suffix| lower.ends_with(suffix))
}

/// Replaces every mention of `root` in `text` with nothing, so messages from deeper layers name
/// files relative to the data directory.
pub fn hide_root(root: &Path, text: &str) -> String {
    let root = root.display().to_string();
    if root.is_empty() || !text.contains(&root) {
        return text.to_owned();
    }
    let with_slash = format!("{root}{}", std::path::MAIN_SEPARATOR);
    text.replace(&with_slash, "").replace(&root, ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir(&root).unwrap();
        let root = root.canonicalize().unwrap();
        (dir, root)
    }

    fn code(r: Result<PathBuf, ApiError>) -> String {
        match r {
            Ok(p) => format!("ok {}", p.display()),
            Err(e) => e.code().to_owned(),
        }
    }

    #[test]
    fn plain_names_resolve_inside() {
        let (_d, root) = setup();
        assert_eq!(resolve(&root, "a.db").unwrap(), root.join("a.db"));
        assert_eq!(resolve(&root, "./a.db").unwrap(), root.join("a.db"));
        std::fs::create_dir(root.join("team")).unwrap();
        assert_eq!(resolve(&root, "team/b.db").unwrap(), root.join("team/b.db"));
    }

    #[test]
    fn escapes_are_refused() {
        let (d, root) = setup();
        for bad in ["", "/etc/passwd", "../x.db", "a/../../x.db", "team/../a.db", ".", "./", "nofolder/x.db"]
        {
            assert_eq!(code(resolve(&root, bad)), "bad_path", "{bad:?}");
        }
        assert_eq!(code(resolve(&root, &"a".repeat(MAX_STORE_PATH_BYTES + 1))), "bad_path");
        assert_eq!(code(resolve(&root, "a\0b")), "bad_path");
        assert_eq!(code(resolve(&root, "a\nb")), "bad_path");
        // A reader table that exists: a store inside it is still refused.
        std::fs::create_dir(root.join("v.db.readers")).unwrap();
        for reserved in [
            "v.db.readers",
            "v.db.wal.512.damaged",
            "v.db.readers/0",
            "v.db.wal",
            "v.partial",
            "V.WAL",
            "x/../v.wal",
            "v.0123456789abcdef.compact",
            "v.db.0123456789ABCDEF.Create",
        ] {
            assert_eq!(code(resolve(&root, reserved)), "bad_path", "{reserved}");
        }
        assert_eq!(code(resolve(&root, &format!("{}/x.db", "d".repeat(256)))), "bad_path");
        assert_eq!(code(resolve(&root, &"f".repeat(231))), "bad_path");
        assert!(resolve(&root, &"f".repeat(230)).is_ok());

        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("linkdir")).unwrap();
        std::os::unix::fs::symlink(outside.join("f.db"), root.join("dangling.db")).unwrap();
        std::fs::write(outside.join("g.db"), b"").unwrap();
        std::os::unix::fs::symlink(outside.join("g.db"), root.join("out.db")).unwrap();
        for bad in ["linkdir/x.db", "dangling.db", "out.db"] {
            let e = resolve(&root, bad).unwrap_err();
            assert_eq!(e.code(), "bad_path", "{bad}");
            assert!(!e.message().contains(&*root.to_string_lossy()), "{}", e.message());
        }
        std::fs::write(root.join("c.db"), b"").unwrap();
        std::os::unix::fs::symlink(outside.join("c.db.wal"), root.join("c.db.wal")).unwrap();
        assert_eq!(code(resolve(&root, "c.db")), "bad_path");
    }

    #[test]
    fn links_inside_resolve_to_their_target() {
        let (_d, root) = setup();
        std::fs::write(root.join("real.db"), b"").unwrap();
        std::os::unix::fs::symlink(root.join("real.db"), root.join("alias.db")).unwrap();
        assert_eq!(resolve(&root, "alias.db").unwrap(), root.join("real.db"));
    }

    #[test]
    fn root_is_hidden_from_messages() {
        let root = Path::new("/srv/data");
        assert_eq!(hide_root(root, "/srv/data/a.db: boom"), "a.db: boom");
        assert_eq!(hide_root(root, "in /srv/data"), "in .");
        assert_eq!(hide_root(root, "nothing"), "nothing");
    }
}
