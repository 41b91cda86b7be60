//! Salvage of damaged store files, through the public API (`wind_kvstore::salvage`) and the real
//! binary (`wkstore-tui DAMAGED --salvage OUT`, `SALVAGE TO` in `--exec`). The damage is made by
//! hand from the layout in docs/FORMAT.md: page size at byte 12 of the header, the page type at
//! byte 0 of each page after page 0, garbage written over a page without resealing it.

// Test data: numbers cut to bytes on purpose; the crate-wide lint is for values read from disk.
#![allow(clippy::cast_possible_truncation)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use wind_kvstore::{KVStore, OpenOptions, PageSizeSource, SalvageOptions, WriteBatch, log_path, salvage};

const BIN: &str = env!("CARGO_BIN_EXE_wkstore-tui");

const TYPE_BRANCH: u8 = 1;
const TYPE_LEAF: u8 = 2;
const TYPE_OVERFLOW: u8 = 3;

fn key(i: u64) -> Vec<u8> {
    format!("key:{:08}", i.wrapping_mul(2_654_435_761) % 100_000_000).into_bytes()
}

/// The value of key `i`: the same in every version of the store, so any copy of it is right.
fn value(i: u64) -> Vec<u8> {
    let len = 20 + (i % 60);
    (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect()
}

/// A store of `n` keys written in batches of 500 with a checkpoint every 2,000 (so freed pages
/// hold old copies of leaves, as in any store that has lived a while). Returns the pairs.
fn build(path: &Path, n: u64, page_size: u32) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let store = OpenOptions::new().page_size(page_size).open(path).expect("create");
    let mut pairs = BTreeMap::new();
    let mut batch = WriteBatch::new();
    for i in 0..n {
        batch.put(key(i), value(i));
        pairs.insert(key(i), value(i));
        if (i + 1) % 500 == 0 {
            store.write(std::mem::take(&mut batch)).expect("write");
        }
        if (i + 1) % 2000 == 0 {
            store.checkpoint().expect("checkpoint");
        }
    }
    if !batch.is_empty() {
        store.write(batch).expect("write");
    }
    store.close().expect("close");
    pairs
}

fn page_size_of(bytes: &[u8]) -> usize {
    u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize
}

/// Pages after page 0 whose type byte is `kind`.
fn pages_of_type(bytes: &[u8], kind: u8) -> Vec<usize> {
    let ps = page_size_of(bytes);
    (1..bytes.len() / ps).filter(|n| bytes[n * ps] == kind).collect()
}

/// The pages the free list names (through the public API of a read-only open).
fn free_pages(path: &Path) -> BTreeSet<usize> {
    let store = OpenOptions::new().read_only(true).open(path).expect("open read-only");
    store.free_pages().expect("free list").into_iter().map(|p| p as usize).collect()
}

/// Overwrite page `n`'s body with garbage (its header and checksum left as they were).
fn garble(bytes: &mut [u8], ps: usize, n: usize, seed: u64) {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(n as u64) | 1;
    for b in &mut bytes[n * ps + 16..(n + 1) * ps] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
}

/// The keys of a leaf page, decoded from the layout in docs/FORMAT.md.
fn leaf_keys(page: &[u8]) -> Vec<Vec<u8>> {
    let count = u16::from_le_bytes([page[2], page[3]]) as usize;
    (0..count)
        .map(|i| {
            let at = u16::from_le_bytes([page[16 + 2 * i], page[17 + 2 * i]]) as usize;
            let key_len = u16::from_le_bytes([page[at], page[at + 1]]) as usize;
            let start = at + if page[at + 2] == 0 { 5 } else { 19 };
            page[start..start + key_len].to_vec()
        })
        .collect()
}

fn read_only(path: &Path) -> wind_kvstore::Result<KVStore> {
    OpenOptions::new().read_only(true).open(path)
}

/// Every pair of the store at `path`.
fn contents(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let store = OpenOptions::new().read_only(true).open(path).expect("open the salvaged store");
    assert!(store.check().expect("check").is_ok(), "the salvaged store is whole");
    store.iter().map(|item| item.expect("read")).collect()
}

/// `got` and `want` hold the same pairs; on a difference, says how they differ without printing
/// thousands of pairs.
fn assert_same(got: &BTreeMap<Vec<u8>, Vec<u8>>, want: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).take(5).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).take(5).collect();
    let wrong: Vec<_> = got.iter().filter(|(k, v)| want.get(*k).is_some_and(|w| w != *v)).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && wrong.is_empty(),
        "{} pairs, {} wanted; missing {missing:?}, extra {extra:?}, wrong values {wrong:?}",
        got.len(),
        want.len()
    );
}

/// Every key of `got` has the value `want` gives it.
fn assert_values_right(got: &BTreeMap<Vec<u8>, Vec<u8>>, want: &BTreeMap<Vec<u8>, Vec<u8>>) {
    for (k, v) in got {
        assert_eq!(want.get(k), Some(v), "key {:?}", String::from_utf8_lossy(k));
    }
}

#[test]
fn one_percent_of_live_leaves_garbled_gives_back_at_least_99_percent() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("damaged.db");
    let want = build(&src, 20_000, 4096);
    let free = free_pages(&src);
    let mut bytes = std::fs::read(&src).unwrap();
    let ps = page_size_of(&bytes);
    let live: Vec<usize> =
        pages_of_type(&bytes, TYPE_LEAF).into_iter().filter(|p| !free.contains(p)).collect();
    let hit = live.len().div_ceil(100);
    let targets: Vec<usize> = (0..hit).map(|i| live[i * live.len() / hit + live.len() / (2 * hit)]).collect();
    for &n in &targets {
        garble(&mut bytes, ps, n, 1);
    }
    std::fs::write(&src, &bytes).unwrap();
    let check = read_only(&src).expect("the meta slots are intact").check().unwrap();
    assert!(check.problems.len() >= hit, "the damage shows");

    let dst = dir.path().join("out.db");
    let report = salvage(&src, &dst, &SalvageOptions::new()).expect("salvage");
    let got = contents(&dst);
    let share = got.len() as f64 / want.len() as f64;
    println!(
        "1% of leaves garbled ({hit} of {} live leaves): {} of {} keys recovered ({:.2}%)",
        live.len(),
        got.len(),
        want.len(),
        share * 100.0
    );
    assert!(share >= 0.99, "recovered {share}");
    assert_values_right(&got, &want);
    assert_eq!(report.keys_recovered, got.len() as u64);
    assert_eq!(report.pages_bad_checksum, hit as u64);
    for n in &targets {
        assert!(report.skipped.iter().any(|s| s.page == *n as u64), "page {n} reported skipped");
    }
    assert!(!report.tree_whole);
}

#[test]
fn every_branch_page_garbled_gives_back_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("damaged.db");
    let want = build(&src, 20_000, 4096);
    let mut bytes = std::fs::read(&src).unwrap();
    let ps = page_size_of(&bytes);
    let branches = pages_of_type(&bytes, TYPE_BRANCH);
    assert!(branches.len() > 1, "a tree with several branch pages");
    for &n in &branches {
        garble(&mut bytes, ps, n, 2);
    }
    std::fs::write(&src, &bytes).unwrap();
    assert!(read_only(&src).and_then(|s| s.get(key(7))).is_err(), "the tree is unreadable");

    let dst = dir.path().join("out.db");
    let report = salvage(&src, &dst, &SalvageOptions::new()).expect("salvage");
    let got = contents(&dst);
    println!("all {} branch pages garbled: {} of {} keys recovered", branches.len(), got.len(), want.len());
    assert_same(&got, &want);
    assert_eq!(report.keys_recovered, 20_000);
    assert_eq!(report.pages_bad_checksum, branches.len() as u64);
    assert!(report.duplicate_keys > 0, "old copies of leaves were found and resolved");
}

#[test]
fn a_truncated_file_gives_back_the_keys_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("damaged.db");
    let want = build(&src, 20_000, 4096);
    let free = free_pages(&src);
    let bytes = std::fs::read(&src).unwrap();
    let ps = page_size_of(&bytes);
    // Cut in the middle of a page, halfway through the file.
    let cut = bytes.len() / 2 + ps / 3;
    let before: BTreeSet<Vec<u8>> = pages_of_type(&bytes, TYPE_LEAF)
        .into_iter()
        .filter(|n| (n + 1) * ps <= cut && !free.contains(n))
        .flat_map(|n| leaf_keys(&bytes[n * ps..(n + 1) * ps]))
        .collect();
    assert!(!before.is_empty());
    std::fs::write(&src, &bytes[..cut]).unwrap();
    // It opens read-only for inspection, saying what is missing (and refuses writes: see
    // tests/recovery.rs); salvage copies out what is left.
    let inspect = read_only(&src).expect("a truncated store opens read-only");
    assert!(inspect.recovery_report().may_have_lost_data(), "{:?}", inspect.recovery_report());
    drop(inspect);

    let dst = dir.path().join("out.db");
    let report = salvage(&src, &dst, &SalvageOptions::new()).expect("salvage");
    let got = contents(&dst);
    println!(
        "file cut at {cut} of {} bytes: {} keys recovered, {} of them in live leaves before the cut",
        bytes.len(),
        got.len(),
        before.len()
    );
    for k in &before {
        assert!(got.contains_key(k), "key {:?} before the cut", String::from_utf8_lossy(k));
    }
    assert_values_right(&got, &want);
    assert!(report.pages_past_end > 0);
    assert!(report.skipped.iter().any(|s| s.reason == wind_kvstore::SkipReason::PastEnd));
}

#[test]
fn a_garbled_header_is_read_from_its_copy_or_at_the_page_size_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("damaged.db");
    let want = build(&src, 3_000, 8192);
    // One commit after the last checkpoint, only in the log (the handle is leaked).
    let store = KVStore::open(&src, None).unwrap();
    store.put(b"late", b"in the log").unwrap();
    std::mem::forget(store);
    let mut with_late = want.clone();
    with_late.insert(b"late".to_vec(), b"in the log".to_vec());
    let original = std::fs::read(&src).unwrap();
    let garble_header = |bytes: &mut [u8]| {
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37) ^ 0x5a;
        }
    };

    // The header at byte 0 damaged: its copy at byte 512 (in the second sector of page 0) gives
    // the page size and the file id, so the log is read too.
    let mut bytes = original.clone();
    garble_header(&mut bytes[..128]);
    std::fs::write(&src, &bytes).unwrap();
    let dst = dir.path().join("copy.db");
    let report = salvage(&src, &dst, &SalvageOptions::new()).expect("salvage");
    assert_eq!((report.page_size, report.page_size_from), (8192, PageSizeSource::HeaderCopy));
    assert_eq!(report.log_records_applied, 1);
    assert!(report.tree_whole);
    assert_same(&contents(&dst), &with_late);

    // Both meta slots damaged, the header whole: the log header's copy of the slot of the
    // checkpoint it follows names the tree.
    let mut bytes = original.clone();
    for slot in [128, 512 + 128] {
        bytes[slot..slot + 256].fill(0x3c);
    }
    std::fs::write(&src, &bytes).unwrap();
    let dst = dir.path().join("log_meta.db");
    let report = salvage(&src, &dst, &SalvageOptions::new()).expect("salvage");
    assert!(report.tree_whole, "{:?}", report.notes);
    assert!(report.notes.iter().any(|n| n.contains("log header's copy")), "{:?}", report.notes);
    assert_same(&contents(&dst), &with_late);

    // Both copies of the header damaged: the page size is the one at which pages verify; the
    // meta slots are intact, so the tree is read whole, but nothing ties the log to the file.
    let mut bytes = original.clone();
    garble_header(&mut bytes[..128]);
    garble_header(&mut bytes[512..640]);
    std::fs::write(&src, &bytes).unwrap();
    let dst = dir.path().join("guessed.db");
    let report = salvage(&src, &dst, &SalvageOptions::new()).expect("salvage");
    assert_eq!((report.page_size, report.page_size_from), (8192, PageSizeSource::Guessed));
    assert!(report.tree_whole, "the tree is read at the guessed size");
    assert_eq!(report.log_records_applied, 0);
    assert!(report.notes.iter().any(|n| n.contains("log was not read")), "{:?}", report.notes);
    assert_same(&contents(&dst), &want);

    // All of page 0 gone (both meta slots too): every leaf is still read.
    bytes[..8192].fill(0xa5);
    std::fs::write(&src, &bytes).unwrap();
    let dst = dir.path().join("no_page_zero.db");
    let report = salvage(&src, &dst, &SalvageOptions::new()).expect("salvage");
    assert_eq!((report.page_size, report.page_size_from), (8192, PageSizeSource::Guessed));
    assert!(!report.tree_whole);
    assert_same(&contents(&dst), &want);
    println!(
        "garbled header and page 0: {} of {} keys recovered at the guessed page size",
        report.keys_recovered,
        want.len()
    );

    // A page size given for a file whose header is damaged is used as given.
    let dst = dir.path().join("given.db");
    let report = salvage(&src, &dst, SalvageOptions::new().page_size(8192)).expect("salvage");
    assert_eq!(report.page_size_from, PageSizeSource::Given);
    assert_same(&contents(&dst), &want);
}

#[test]
fn an_existing_destination_is_refused_and_the_source_never_changes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.db");
    let mut want = build(&src, 1_000, 4096);
    // Commits after the last checkpoint, only in the log: the handle is leaked so nothing
    // checkpoints them.
    let store = KVStore::open(&src, None).unwrap();
    store.put(b"only-in-log", b"yes").unwrap();
    store.delete(key(3)).unwrap();
    std::mem::forget(store);
    want.insert(b"only-in-log".to_vec(), b"yes".to_vec());
    want.remove(&key(3));
    let data_before = std::fs::read(&src).unwrap();
    let log_before = std::fs::read(log_path(&src)).unwrap();

    let dst = dir.path().join("exists.db");
    std::fs::write(&dst, b"precious").unwrap();
    let err = salvage(&src, &dst, &SalvageOptions::new()).expect_err("dst exists");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&dst).unwrap(), b"precious");

    let dst = dir.path().join("out.db");
    let report = salvage(&src, &dst, &SalvageOptions::new()).expect("salvage");
    assert_eq!(report.log_records_applied, 2);
    assert!(report.is_clean(), "{:?}", report.lines());
    assert_same(&contents(&dst), &want);
    assert_eq!(std::fs::read(&src).unwrap(), data_before, "the data file is unchanged");
    assert_eq!(std::fs::read(log_path(&src)).unwrap(), log_before, "the log is unchanged");
    // Salvaging into the same place again is refused: it exists now.
    assert!(salvage(&src, &dst, &SalvageOptions::new()).is_err());
}

#[test]
fn overflow_values_come_back_whole_or_are_reported_lost() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("damaged.db");
    let store = KVStore::open(&src, None).unwrap();
    let mut want = BTreeMap::new();
    for i in 0..40u64 {
        let big: Vec<u8> = (0..10_000 + i * 97).map(|j| (j * 31 + i) as u8).collect();
        store.put(format!("big:{i:02}"), &big).unwrap();
        want.insert(format!("big:{i:02}").into_bytes(), big);
    }
    store.close().unwrap();
    let free = free_pages(&src);
    let mut bytes = std::fs::read(&src).unwrap();
    let ps = page_size_of(&bytes);
    let overflow: Vec<usize> =
        pages_of_type(&bytes, TYPE_OVERFLOW).into_iter().filter(|p| !free.contains(p)).collect();
    // Three pages far apart: the middles of three different chains.
    let targets = [overflow[4], overflow[overflow.len() / 2], overflow[overflow.len() - 5]];
    for &n in &targets {
        garble(&mut bytes, ps, n, 3);
    }
    std::fs::write(&src, &bytes).unwrap();

    let dst = dir.path().join("out.db");
    let report = salvage(&src, &dst, &SalvageOptions::new()).expect("salvage");
    let got = contents(&dst);
    println!("3 overflow pages garbled: {} of 40 values whole, {} lost", got.len(), report.values_lost);
    assert_eq!(report.values_lost, 3);
    assert_eq!(got.len(), 40 - 3);
    for (k, v) in &got {
        assert_eq!(want.get(k), Some(v), "a value comes back whole");
    }
    for lost in &report.lost_keys {
        assert!(want.contains_key(lost) && !got.contains_key(lost), "a lost value is not written");
    }
    assert_eq!(report.lost_keys.len(), 3);
}

#[test]
fn old_copies_neither_bring_back_deleted_keys_nor_old_values_while_the_tree_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.db");
    let mut want = build(&src, 5_000, 4096);
    let store = KVStore::open(&src, None).unwrap();
    let mut batch = WriteBatch::new();
    for i in (0..5_000).step_by(2) {
        batch.delete(key(i));
        want.remove(&key(i));
    }
    // And new values for a quarter: the old copies keep the old ones.
    for i in (1..5_000).step_by(4) {
        batch.put(key(i), b"new value");
        want.insert(key(i), b"new value".to_vec());
    }
    store.write(batch).unwrap();
    store.close().unwrap();
    // Old copies of leaves holding deleted keys are still in the file.
    let bytes = std::fs::read(&src).unwrap();
    let ps = page_size_of(&bytes);
    let stale = pages_of_type(&bytes, TYPE_LEAF)
        .into_iter()
        .filter(|n| leaf_keys(&bytes[n * ps..(n + 1) * ps]).iter().any(|k| !want.contains_key(k)))
        .count();
    assert!(stale > 0, "the file keeps old leaves with deleted keys");

    let dst = dir.path().join("out.db");
    let report = salvage(&src, &dst, &SalvageOptions::new()).expect("salvage");
    assert!(report.tree_whole);
    assert!(report.duplicates_differing > 0, "old values were found and passed over");
    assert_eq!(report.duplicates_guessed, 0, "the tree decided");
    assert!(report.stale_keys_dropped > 0, "deleted keys were found in old leaves and left out");
    assert_same(&contents(&dst), &want);
}

fn tui(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("wkstore-tui runs")
}

#[test]
fn the_binary_salvages_with_a_flag_and_a_statement() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("damaged.db");
    let want = build(&src, 3_000, 4096);
    let mut bytes = std::fs::read(&src).unwrap();
    let ps = page_size_of(&bytes);
    for n in pages_of_type(&bytes, TYPE_BRANCH) {
        garble(&mut bytes, ps, n, 4);
    }
    std::fs::write(&src, &bytes).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();

    let out = dir.path().join("flag.db");
    let run = tui(&[&s(&src), "--salvage", &s(&out)]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&run.stderr));
    assert!(text.starts_with(&format!("Salvaged 3000 keys into '{}'", out.display())), "{text}");
    assert!(text.contains("keys recovered:       3000"), "{text}");
    assert!(text.contains("bad checksum"), "{text}");
    assert_same(&contents(&out), &want);

    // The output exists now: refused, status 1, nothing printed on stdout.
    let again = tui(&[&s(&src), "--salvage", &s(&out)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(again.stdout.is_empty());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // JSON report.
    let json_out = dir.path().join("json.db");
    let run = tui(&[&s(&src), "--salvage", &s(&json_out), "--format", "json"]);
    assert_eq!(run.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&run.stdout).expect("one JSON object");
    assert_eq!(json["kind"], "salvaged");
    assert_eq!(json["keys_recovered"], 3000);
    assert_eq!(json["values_lost"], 0);

    // The statement, on the damaged store opened read-only (opening reads page 0, the free list
    // and the log: the garbled branch pages are only met by a read).
    let stmt_out = dir.path().join("stmt.db");
    let script = format!("SALVAGE TO \"{}\";", stmt_out.display());
    let before = std::fs::read(&src).unwrap();
    let run = tui(&[&s(&src), "--read-only", "--exec", &script]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&run.stderr));
    assert!(text.starts_with("Salvaged 3000 keys"), "{text}");
    assert_same(&contents(&stmt_out), &want);
    assert_eq!(std::fs::read(&src).unwrap(), before);
}

#[test]
fn a_file_in_which_nothing_verifies_is_refused_and_a_missing_one_too() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("noise.db");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..256 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&src, &noise).unwrap();
    let dst = dir.path().join("out.db");
    let err = salvage(&src, &dst, &SalvageOptions::new()).expect_err("nothing verifies");
    assert!(err.to_string().contains("no page verifies"), "{err}");
    assert!(!dst.exists(), "nothing is created");
    let err = salvage(&dir.path().join("missing.db"), &dst, &SalvageOptions::new()).expect_err("missing");
    assert!(matches!(err, wind_kvstore::Error::NotFound { .. }), "{err}");
    assert!(!dst.exists());
}

/// Seal page `n` as the engine does (docs/FORMAT.md: CRC32 of bytes 0..4 and 8..page size, with
/// the page number as the initial value), so damage inside it passes the checksum.
fn reseal(bytes: &mut [u8], ps: usize, n: usize) {
    let page = &mut bytes[n * ps..(n + 1) * ps];
    let mut h = crc32fast::Hasher::new_with_initial(n as u32);
    h.update(&page[0..4]);
    h.update(&page[8..]);
    let crc = h.finalize();
    page[4..8].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn leaves_that_verify_but_do_not_decode_are_skipped_as_undecodable() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("damaged.db");
    let want = build(&src, 3_000, 4096);
    let free = free_pages(&src);
    let mut bytes = std::fs::read(&src).unwrap();
    let ps = page_size_of(&bytes);
    let live: Vec<usize> =
        pages_of_type(&bytes, TYPE_LEAF).into_iter().filter(|p| !free.contains(p)).collect();
    let (a, b, c, d) = (live[1], live[live.len() / 3], live[live.len() / 2], live[live.len() - 2]);
    // An item count that does not fit the page; an entry offset past its end; an unknown value
    // kind; a page type no build writes. Each resealed, so only decoding finds it.
    bytes[a * ps + 2..a * ps + 4].copy_from_slice(&60_000u16.to_le_bytes());
    bytes[b * ps + 16..b * ps + 18].copy_from_slice(&4095u16.to_le_bytes());
    let at = u16::from_le_bytes([bytes[c * ps + 16], bytes[c * ps + 17]]) as usize;
    bytes[c * ps + at + 2] = 7;
    bytes[d * ps] = 9;
    for n in [a, b, c, d] {
        reseal(&mut bytes, ps, n);
    }
    std::fs::write(&src, &bytes).unwrap();

    let dst = dir.path().join("out.db");
    let report = salvage(&src, &dst, &SalvageOptions::new()).expect("salvage");
    assert_eq!(report.pages_undecodable, 4, "{:?}", report.skipped);
    assert_eq!(report.pages_bad_checksum, 0);
    for n in [a, b, c, d] {
        let skipped = report.skipped.iter().find(|s| s.page == n as u64).expect("listed");
        assert!(matches!(skipped.reason, wind_kvstore::SkipReason::Undecodable(_)), "{skipped:?}");
    }
    let got = contents(&dst);
    assert_values_right(&got, &want);
    println!("4 leaves undecodable: {} of {} keys recovered", got.len(), want.len());
    assert!(got.len() as f64 >= want.len() as f64 * 0.95);
}

#[test]
fn random_damage_never_panics_and_never_returns_a_wrong_value() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.db");
    let want = build(&clean, 2_000, 1024);
    let original = std::fs::read(&clean).unwrap();
    let ps = page_size_of(&original);
    let pages = original.len() / ps;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut recovered = Vec::new();
    for round in 0..12 {
        let mut bytes = original.clone();
        // Garbage runs in a tenth of the pages, at random places (headers and page 0 included).
        for _ in 0..pages / 10 {
            let n = (next() as usize) % pages;
            let at = n * ps + (next() as usize) % ps;
            let end = (at + 1 + (next() as usize) % 64).min(bytes.len());
            for b in &mut bytes[at..end] {
                *b = next() as u8;
            }
        }
        if round % 3 == 2 {
            let cut = (next() as usize) % bytes.len();
            bytes.truncate(cut.max(ps * 3));
        }
        let src = dir.path().join(format!("r{round}.db"));
        std::fs::write(&src, &bytes).unwrap();
        let dst = dir.path().join(format!("r{round}.out.db"));
        match salvage(&src, &dst, &SalvageOptions::new()) {
            Ok(report) => {
                let got = contents(&dst);
                assert_eq!(report.keys_recovered, got.len() as u64);
                assert_values_right(&got, &want);
                recovered.push(got.len());
            }
            Err(e) => assert!(!dst.exists(), "round {round}: {e}"),
        }
    }
    println!("random damage, keys recovered of {} per round: {recovered:?}", want.len());
    assert!(recovered.len() >= 10, "most rounds salvage something");
}
