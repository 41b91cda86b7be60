//! The temporary files of creation and compaction: named with the store's file id, removed at
//! open only when provably the store's own, never in place of another store's file.

use std::path::{Path, PathBuf};

use wind_kvstore::{KVStore, log_path};

fn file_id(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    u64::from_le_bytes(bytes[16..24].try_into().unwrap())
}

fn compact_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{:016x}.compact", file_id(path)));
    PathBuf::from(name)
}

/// A store at `path` holding `keys`, each with value `v`, left open.
fn store_with(path: &Path, keys: &[&str]) -> KVStore {
    let store = KVStore::open(path, None).unwrap();
    for key in keys {
        store.put(key.as_bytes(), b"v").unwrap();
    }
    store
}

fn assert_keys(path: &Path, keys: &[&str]) {
    let store = KVStore::open(path, None).unwrap();
    let got: Vec<Vec<u8>> = store.iter().map(|r| r.unwrap().0).collect();
    let want: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
    assert_eq!(got, want, "{}", path.display());
    store.close().unwrap();
}

#[test]
fn stores_named_like_another_stores_temp_files_survive_its_opens_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    store_with(&victim, &["v"]).close().unwrap();
    // Two other stores, open, each with two acknowledged writes: one under the name the engine
    // used to give every temporary file, one under the name of victim's compaction file.
    let named_old = dir.path().join("victim.tmp");
    let named_new = compact_path(&victim);
    let others = [store_with(&named_old, &["o1", "o2"]), store_with(&named_new, &["n1", "n2"])];

    let store = KVStore::open(&victim, None).unwrap();
    // The compaction will not replace a file that is not its own: it says which, and goes on.
    let err = store.compact().unwrap_err().to_string();
    assert!(err.contains(&*named_new.file_name().unwrap().to_string_lossy()), "{err}");
    assert!(err.contains("is not this store's"), "{err}");
    store.put(b"w", b"v").unwrap();
    store.close().unwrap();
    assert_keys(&victim, &["v", "w"]);

    for other in others {
        other.close().unwrap();
    }
    assert_keys(&named_old, &["o1", "o2"]);
    assert_keys(&named_new, &["n1", "n2"]);
    // With nothing in its way, the compaction works and leaves no file beside the store.
    std::fs::rename(&named_new, dir.path().join("moved")).unwrap();
    std::fs::rename(log_path(&named_new), dir.path().join("moved.wal")).unwrap();
    let store = KVStore::open(&victim, None).unwrap();
    store.compact().unwrap();
    store.close().unwrap();
    assert!(!named_new.exists());
    assert_keys(&victim, &["v", "w"]);
}

#[test]
fn creating_a_store_leaves_a_file_named_like_its_old_temp_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let other = store_with(&dir.path().join("fresh.tmp"), &["o1", "o2"]);
    let fresh = dir.path().join("fresh");
    store_with(&fresh, &["f"]).close().unwrap();
    other.close().unwrap();
    assert_keys(&dir.path().join("fresh.tmp"), &["o1", "o2"]);
    assert_keys(&fresh, &["f"]);
    // Nothing but the two stores and their logs.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["fresh", "fresh.tmp", "fresh.tmp.wal", "fresh.wal"]);
}

#[test]
fn our_own_leftover_of_a_crashed_compaction_is_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    store_with(&victim, &["a", "b"]).close().unwrap();
    let leftover = compact_path(&victim);
    let whole = std::fs::read(&victim).unwrap();
    // A whole copy (a crash before the rename was durable), just its header (a crash before the
    // tree was written): both carry the store's file id in name and header. Or less than a
    // header, or a header that never reached the disk (a crash or a failed sync before it was
    // synced, with or without the pages after it): no store's header, so no store's data.
    for bytes in [&whole[..], &whole[..128], &[][..], &whole[..100], &[0u8; 128][..], &[0u8; 4096][..]] {
        std::fs::write(&leftover, bytes).unwrap();
        let store = KVStore::open(&victim, None).unwrap();
        assert!(!leftover.exists(), "a leftover of {} bytes was kept", bytes.len());
        assert_eq!(store.len().unwrap(), 2);
        store.close().unwrap();
    }
    // Another store's file there (its header carries another file id) is not ours: it is left
    // alone, and the compaction refuses to replace it.
    store_with(&dir.path().join("other"), &["o"]).close().unwrap();
    let other_id = std::fs::read(dir.path().join("other")).unwrap();
    for bytes in [&other_id[..], &other_id[..128]] {
        std::fs::write(&leftover, bytes).unwrap();
        let store = KVStore::open(&victim, None).unwrap();
        assert_eq!(std::fs::read(&leftover).unwrap(), bytes);
        assert!(store.compact().is_err());
        assert_eq!(std::fs::read(&leftover).unwrap(), bytes);
        store.close().unwrap();
    }
    assert_keys(&victim, &["a", "b"]);
}
