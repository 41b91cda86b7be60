//! A stale link is an error, never a wrong answer.
//!
//! A read-only handle pins its checkpoint in the reader table, and the writer keeps every page
//! that checkpoint reaches. Here the pin is lost on purpose: the table's folder is removed under
//! the reader (anyone with write access to the folder can do it), so the writer sees no reader
//! and rewrites the pages of the old state. Each page carries the checkpoint that wrote it, so
//! the reader, following a link of its old state into a rewritten page, gets
//! `Error::StalePage` naming the page instead of an answer from another state.

use std::path::Path;

use wind_kvstore::{Durability, Error, KVStore, OpenOptions};

const KEYS: u32 = 20_000;

fn key(i: u32) -> Vec<u8> {
    format!("user:{i:06}").into_bytes()
}

fn value(i: u32, round: u32) -> Vec<u8> {
    format!("round {round} of key {i}: {}", "x".repeat(40)).into_bytes()
}

fn writer(path: &Path) -> KVStore {
    OpenOptions::new()
        .page_size(1024)
        .durability(Durability::Buffered)
        .checkpoint_log_bytes(256 * 1024)
        .open(path)
        .expect("open writable")
}

/// What a read of key `i` by the stale reader gave.
enum Read {
    Right,
    Stale,
}

fn read_old(reader: &KVStore, i: u32) -> Read {
    match reader.get(key(i)) {
        Ok(Some(v)) if v == value(i, 0) => Read::Right,
        Err(Error::StalePage { page, written_by, pinned }) => {
            assert!(page > 0 && written_by > pinned, "page {page}, written by {written_by}, pinned {pinned}");
            Read::Stale
        }
        other => panic!("key {i}: a wrong answer from a stale link: {other:?}"),
    }
}

#[test]
fn a_reader_whose_pages_were_reused_gets_an_error_never_a_wrong_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("stale.db");
    let w = writer(&path);
    for i in 0..KEYS {
        w.put(key(i), value(i, 0)).expect("put");
    }
    w.close().expect("close");
    let w = writer(&path);

    // A small cache: the reader goes to the file for nearly every page.
    let reader =
        OpenOptions::new().read_only(true).cache_bytes(16 * 1024).open(&path).expect("open read-only");
    assert_eq!(reader.stats().readers, 0, "a reader does not count itself");
    let table = path.with_file_name("stale.db.readers");
    assert!(table.is_dir(), "the read-only open made the reader table");
    std::fs::remove_dir_all(&table).expect("remove the reader table");

    // Two rounds of rewriting every key, with checkpoints all along: the writer, seeing no
    // reader, reuses the pages of the state the reader pinned.
    for round in 1..=2 {
        for i in 0..KEYS {
            w.put(key(i), value(i, round)).expect("put");
        }
    }
    w.close().expect("close");

    let (mut right, mut stale) = (0, 0);
    for i in 0..KEYS {
        match read_old(&reader, i) {
            Read::Right => right += 1,
            Read::Stale => stale += 1,
        }
    }
    assert!(stale > KEYS / 2, "most of the old state's pages were reused: {stale} stale, {right} right");

    // A scan stops at the first stale page with the same error.
    let mut scanned = 0u32;
    let mut stopped = None;
    for item in reader.iter() {
        match item {
            Ok((k, v)) => {
                assert_eq!((k, v), (key(scanned), value(scanned, 0)), "scan item {scanned}");
                scanned += 1;
            }
            Err(e) => {
                stopped = Some(e);
                break;
            }
        }
    }
    assert!(matches!(stopped, Some(Error::StalePage { .. })), "the scan stopped with {stopped:?}");

    // check() on the stale handle names the rewritten pages rather than calling them damaged.
    let report = reader.check().expect("check");
    assert!(!report.is_ok(), "a stale state cannot pass check");
    assert!(
        report.problems.iter().any(|p| p.message.contains("rewritten by checkpoint")),
        "check names the stale pages: {:?}",
        report.problems.first()
    );

    // The store itself is whole: a new read-only open reads the newest state.
    let fresh = OpenOptions::new().read_only(true).open(&path).expect("open read-only again");
    for i in (0..KEYS).step_by(97) {
        assert_eq!(fresh.get(key(i)).expect("get"), Some(value(i, 2)));
    }
    assert!(fresh.check().expect("check").is_ok(), "the store passes check");
}

/// The file size after three rounds of rewriting every key while a reader pins the first state,
/// with the writer holding at most `hold` bytes for it; and whether the reader's answers were
/// right or stale (never wrong), with how many were stale.
fn rewrite_beside_a_pinned_reader(dir: &Path, hold: Option<u64>, pinned: bool) -> (u64, u32, u64) {
    let path = dir.join("held.db");
    let w = writer(&path);
    for i in 0..KEYS {
        w.put(key(i), value(i, 0)).expect("put");
    }
    w.close().expect("close");
    let mut options = OpenOptions::new();
    options.page_size(1024).durability(Durability::Buffered).checkpoint_log_bytes(256 * 1024);
    if let Some(bytes) = hold {
        options.reader_hold_bytes(bytes);
    }
    let w = options.open(&path).expect("open writable");
    let reader = pinned.then(|| {
        OpenOptions::new().read_only(true).cache_bytes(16 * 1024).open(&path).expect("open read-only")
    });
    for round in 1..=3 {
        for i in 0..KEYS {
            w.put(key(i), value(i, round)).expect("put");
        }
    }
    let taken = w.stats().pages_taken_from_readers;
    w.close().expect("close");
    let stale = reader.map_or(0, |r| (0..KEYS).filter(|&i| matches!(read_old(&r, i), Read::Stale)).count());
    let size = std::fs::metadata(&path).expect("store").len();
    (size, u32::try_from(stale).expect("fits"), taken)
}

#[test]
fn a_reader_pinned_for_long_makes_the_file_grow_by_the_hold_limit_at_most() {
    let run = |hold, pinned| {
        let dir = tempfile::tempdir().expect("temp dir");
        rewrite_beside_a_pinned_reader(dir.path(), hold, pinned)
    };
    let (alone, _, _) = run(None, false);
    let (held, held_stale, held_taken) = run(None, true);
    let limit = 512 * 1024;
    let (bounded, bounded_stale, taken) = run(Some(limit), true);
    println!(
        "file after 3 rounds: {alone} bytes with no reader, {held} with a pinned reader, \
         {bounded} with it and a {limit}-byte hold limit ({taken} pages taken, {bounded_stale} stale reads)"
    );
    assert_eq!((held_stale, held_taken), (0, 0), "under the default limit the reader's state is kept whole");
    assert!(held > alone + 2 * limit, "a pinned reader holds the old pages: {held} against {alone}");
    assert!(taken > 0 && bounded_stale > 0, "past the limit the writer reuses the reader's pages");
    assert!(
        bounded <= alone + limit + limit / 2,
        "the file grew past the hold limit: {bounded} against {alone}"
    );
}
