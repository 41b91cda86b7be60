//! What recovery does with signs of missing commits, through the public API on real files: a
//! damaged meta slot recovered from the copy in the log header, a sequence gap that proves a newer
//! checkpoint existed, a record that cannot be applied, and a version-1 store converted. Each
//! case starts from the files as a crash leaves them (copied while the writer still runs).

use std::path::{Path, PathBuf};

use wind_kvstore::{Durability, Error, OpenOptions, PageItem, PageType, log_path};

fn opts() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.durability(Durability::Immediate);
    o
}

/// The store's two files as they are now, copied beside it as `name`: what a crash leaves.
fn crash_image(store_path: &Path, name: &str) -> PathBuf {
    let to = store_path.with_file_name(name);
    std::fs::copy(store_path, &to).unwrap();
    std::fs::copy(log_path(store_path), log_path(&to)).unwrap();
    to
}

const SLOT_AT: [usize; 2] = [128, 640];

/// A store of 3,000 keys `key00000`.. with 40-byte values: a tree of many leaves.
fn store_of_3000_keys(path: &Path) -> wind_kvstore::KVStore {
    let store = opts().open(path).unwrap();
    let mut batch = wind_kvstore::WriteBatch::new();
    for i in 0..3_000u32 {
        batch.put(format!("key{i:05}"), [b'v'; 40]);
    }
    store.write(batch).unwrap();
    store
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The meta slot in force: the one whose checkpoint id (at byte 8 of the slot) is larger.
fn slot_in_force(data: &[u8]) -> usize {
    if u64_at(data, SLOT_AT[1] + 8) > u64_at(data, SLOT_AT[0] + 8) { 1 } else { 0 }
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_damaged_meta_slot_in_force_is_recovered_from_the_log_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = opts().open(&path).unwrap();
    store.put("k1", "1").unwrap();
    store.checkpoint().unwrap();
    store.put("k2", "2").unwrap();
    store.checkpoint().unwrap();
    store.put("k3", "3").unwrap();
    let image = crash_image(&path, "crashed.db");
    drop(store);
    let data = std::fs::read(&image).unwrap();
    let slot = slot_in_force(&data);
    flip(&image, SLOT_AT[slot] + 16);

    // Before format version 2 this opened the older checkpoint without k2 and k3, checkpointed
    // and cut the log: an acknowledged write lost without a word.
    let store = opts().open(&image).unwrap();
    let report = store.recovery_report().clone();
    assert!(!report.may_have_lost_data(), "{report:?}");
    assert!(report.notes.iter().any(|n| n.contains("copy in the log header")), "{report:?}");
    for (k, v) in [("k1", "1"), ("k2", "2"), ("k3", "3")] {
        assert_eq!(store.get(k).unwrap().as_deref(), Some(v.as_bytes()), "{k}");
    }
    assert!(store.check().unwrap().is_ok());
    store.put("k4", "4").unwrap();
    store.close().unwrap();
    let again = opts().open(&image).unwrap();
    assert_eq!(again.len().unwrap(), 4);
    assert!(again.recovery_report().is_quiet(), "{:?}", again.recovery_report());
}

#[test]
fn a_sequence_gap_keeps_the_log_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = opts().open(&path).unwrap();
    store.put("k1", "1").unwrap();
    store.checkpoint().unwrap();
    // The log as it follows the first checkpoint.
    let old_header = std::fs::read(log_path(&path)).unwrap()[..512].to_vec();
    store.put("k2", "2").unwrap();
    store.checkpoint().unwrap();
    store.put("k3", "3").unwrap();
    store.put("k4", "4").unwrap();
    let image = crash_image(&path, "crashed.db");
    drop(store);
    // The newer checkpoint's slot is damaged, and the log's header no longer names it: only
    // the gap in the sequence numbers tells that a checkpoint (with k2) is missing.
    let data = std::fs::read(&image).unwrap();
    flip(&image, SLOT_AT[slot_in_force(&data)] + 16);
    let mut log = std::fs::read(log_path(&image)).unwrap();
    log[..512].copy_from_slice(&old_header);
    std::fs::write(log_path(&image), &log).unwrap();
    let data = std::fs::read(&image).unwrap();

    let store = opts().open(&image).unwrap();
    let report = store.recovery_report().clone();
    assert!(report.may_have_lost_data() && report.log_kept, "{report:?}");
    assert!(report.lines()[0].contains("newer checkpoint is missing"), "{:?}", report.lines());
    assert_eq!(store.get("k1").unwrap().as_deref(), Some(&b"1"[..]), "what the store holds is served");
    assert!(matches!(store.put("k5", "5"), Err(Error::Poisoned { .. })));
    assert!(store.poison_reason().unwrap().contains("the log was kept"));
    store.close().unwrap();
    assert_eq!(std::fs::read(log_path(&image)).unwrap(), log, "the log is kept byte for byte");
    assert_eq!(std::fs::read(&image).unwrap(), data, "nothing was checkpointed over it");
    // A read-only open says the same.
    let ro = OpenOptions::new().read_only(true).open(&image).unwrap();
    assert!(ro.recovery_report().may_have_lost_data());
}

/// The store's leaves in the checkpoint, each with its keys.
fn leaves(store: &wind_kvstore::KVStore) -> Vec<(u64, Vec<Vec<u8>>)> {
    store
        .pages()
        .map(|p| p.unwrap())
        .filter(|p| p.page_type == PageType::Leaf)
        .map(|p| {
            let keys = store
                .page_info(p.number)
                .unwrap()
                .items
                .into_iter()
                .filter_map(|i| match i {
                    PageItem::LeafEntry { key, .. } => Some(key),
                    _ => None,
                })
                .collect();
            (p.number, keys)
        })
        .collect()
}

/// Garble 100 bytes of page `page` of the data file at `path`: a damaged page.
fn garble_page(path: &Path, page: u64, page_size: usize) {
    let mut data = std::fs::read(path).unwrap();
    let at = usize::try_from(page).unwrap() * page_size;
    for b in &mut data[at + 100..at + 200] {
        *b ^= 0xa5;
    }
    std::fs::write(path, &data).unwrap();
}

#[test]
fn a_record_that_cannot_be_applied_stops_replay_and_the_rest_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = store_of_3000_keys(&path);
    store.checkpoint().unwrap();
    // The leaf that holds key01500 in the checkpoint, and a key on another page.
    let page_size = store.page_size() as usize;
    let leaves: Vec<(u64, Vec<Vec<u8>>)> = leaves(&store);
    let leaf = leaves.iter().find(|(_, keys)| keys.iter().any(|k| k == b"key01500")).unwrap().0;
    let other = leaves.iter().find(|(_, keys)| !keys.iter().any(|k| k == b"key01500")).unwrap().1[0].clone();
    // Two commits replay can apply, then the one it cannot: a writer's replay applies the records
    // as one commit first, and must start again a record at a time to keep these two. The third
    // goes to the tree (its value needs overflow pages): a small commit would wait in the write
    // buffer, which a replay fills without reading the tree (see the next test).
    store.put("zz:first", "1").unwrap();
    store.put("zz:second", "2").unwrap();
    store.put("key01500", vec![b'n'; 3 * page_size]).unwrap();
    let image = crash_image(&path, "crashed.db");
    drop(store);
    // Garble that leaf: a damaged page under a logged commit.
    garble_page(&image, leaf, page_size);
    let log = std::fs::read(log_path(&image)).unwrap();

    // Before: every open, writable or read-only, failed while replaying this record.
    let store = opts().open(&image).unwrap();
    let report = store.recovery_report().clone();
    assert!(report.may_have_lost_data(), "{report:?}");
    assert!(report.stopped_at.as_ref().unwrap().1.contains("could not be applied"), "{report:?}");
    assert_eq!(report.commits_replayed, 2, "the commits before the failing one are kept: {report:?}");
    assert_eq!(store.get("zz:first").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.get("zz:second").unwrap().as_deref(), Some(&b"2"[..]));
    assert!(store.get(&other).unwrap().is_some(), "a key on another page is served");
    assert!(matches!(store.put("x", "y"), Err(Error::Poisoned { .. })));
    store.close().unwrap();
    assert_eq!(std::fs::read(log_path(&image)).unwrap(), log, "the log is kept");
    // A reader's replay also applies the records as one commit first, then a record at a time
    // from an engine made afresh: the same two commits, and one slot in the reader table (the
    // first try's is given back).
    let ro = OpenOptions::new().read_only(true).open(&image).unwrap();
    let report = ro.recovery_report();
    assert!(report.may_have_lost_data());
    assert_eq!(report.commits_replayed, 2, "{report:?}");
    assert_eq!(ro.get("zz:first").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(ro.get("zz:second").unwrap().as_deref(), Some(&b"2"[..]));
    assert!(ro.get(&other).unwrap().is_some());
    assert_eq!(ro.readers().unwrap().len(), 1, "{:?}", ro.readers());
}

/// A small commit over a damaged leaf: the replay puts it in the write buffer without reading the
/// tree (its keys are counted when a count is asked for), so the open serves it; counting its
/// keys meets the damage and says so, and so does the fold of the buffer into the tree, which
/// fails and keeps the log: nothing acknowledged is lost, and every open serves the commit again.
#[test]
fn damage_under_a_buffered_commit_is_met_at_the_fold_and_the_log_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = store_of_3000_keys(&path);
    store.checkpoint().unwrap();
    let page_size = store.page_size() as usize;
    let leaf = leaves(&store).into_iter().find(|(_, keys)| keys.iter().any(|k| k == b"key01500")).unwrap().0;
    store.put("zz:first", "1").unwrap();
    store.put("key01500", "new").unwrap();
    let image = crash_image(&path, "crashed.db");
    drop(store);
    garble_page(&image, leaf, page_size);
    let log = std::fs::read(log_path(&image)).unwrap();

    for round in 0..2 {
        let store = opts().open(&image).unwrap();
        let report = store.recovery_report().clone();
        assert_eq!(report.commits_replayed, 2, "round {round}: {report:?}");
        assert!(!report.may_have_lost_data(), "round {round}: {report:?}");
        // Counting looks the buffered keys up in the tree: an error naming the leaf, not a count.
        match store.len() {
            Err(Error::Corrupted { page, .. }) => assert_eq!(page, leaf),
            other => panic!("round {round}: {other:?}"),
        }
        assert_eq!(store.get("key01500").unwrap().as_deref(), Some(&b"new"[..]));
        assert_eq!(store.get("zz:first").unwrap().as_deref(), Some(&b"1"[..]));
        // A key beside it on the damaged leaf: an error naming the page, not a wrong answer.
        match store.get("key01499") {
            Err(Error::Corrupted { page, .. }) => assert_eq!(page, leaf),
            other => panic!("round {round}: {other:?}"),
        }
        // The fold meets the leaf: the checkpoint fails, the store refuses writes from then on.
        match store.checkpoint() {
            Err(Error::Corrupted { page, .. }) => assert_eq!(page, leaf),
            other => panic!("round {round}: {other:?}"),
        }
        assert!(matches!(store.put("x", "y"), Err(Error::Poisoned { .. })));
        drop(store);
        assert_eq!(std::fs::read(log_path(&image)).unwrap(), log, "round {round}: the log is kept");
    }
    let ro = OpenOptions::new().read_only(true).open(&image).unwrap();
    assert_eq!(ro.get("key01500").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(ro.get("zz:first").unwrap().as_deref(), Some(&b"1"[..]));
}

/// The log as a build of log format 2 left it: header version 2, records without key count
/// entries (or `with_counts`, a header that says 2 over records that hold them).
fn as_version_2_log(image: &Path, with_counts: bool) {
    let log = std::fs::read(log_path(image)).unwrap();
    let mut header = log[..512].to_vec();
    header[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32fast::hash(&header[..508]);
    header[508..512].copy_from_slice(&crc.to_le_bytes());
    let records = with_key_counts(&log[512..], with_counts.then_some(1));
    std::fs::write(log_path(image), [header, records].concat()).unwrap();
}

#[test]
fn a_version_2_log_is_counted_by_lookups_and_started_afresh_as_version_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = store_of_3000_keys(&path);
    store.checkpoint().unwrap();
    // New keys, a key written twice, an overwrite and deletes: only lookups in the tree can
    // tell what each does to the count.
    store.put("zz:new", "1").unwrap();
    store.put("zz:new", "2").unwrap();
    store.put("key00001", "overwritten").unwrap();
    let mut batch = wind_kvstore::WriteBatch::new();
    batch.put("zz:other", "3");
    batch.delete("key00002");
    batch.delete("key00003");
    batch.delete("not there");
    store.write(batch).unwrap();
    assert_eq!(store.len().unwrap(), 3_000);
    let image = crash_image(&path, "v2log.db");
    let mixed = crash_image(&path, "mixed.db");
    let counted = crash_image(&path, "counted.db");
    drop(store);
    as_version_2_log(&image, false);
    as_version_2_log(&mixed, true);
    // As an earlier build of format 3 wrote the log: a key count entry in each record (here +1
    // each, which four records of these do not add up to): checked, and not trusted for the count.
    let log = std::fs::read(log_path(&counted)).unwrap();
    std::fs::write(log_path(&counted), [&log[..512], &with_key_counts(&log[512..], Some(1))].concat())
        .unwrap();
    let ro = OpenOptions::new().read_only(true).open(&counted).unwrap();
    assert_eq!((ro.len().unwrap(), ro.recovery_report().commits_replayed), (3_000, 4));
    assert!(ro.recovery_report().stopped_at.is_none(), "{:?}", ro.recovery_report());
    drop(ro);

    let ro = OpenOptions::new().read_only(true).open(&image).unwrap();
    assert_eq!((ro.len().unwrap(), ro.recovery_report().commits_replayed), (3_000, 4));
    drop(ro);
    let store = opts().open(&image).unwrap();
    assert!(store.recovery_report().stopped_at.is_none(), "{:?}", store.recovery_report());
    assert_eq!(store.len().unwrap(), 3_000);
    assert_eq!(store.get("key00001").unwrap().as_deref(), Some(&b"overwritten"[..]));
    assert_eq!(store.get("key00002").unwrap(), None);
    // Started afresh under a version-3 header before anything new follows it.
    let log = std::fs::read(log_path(&image)).unwrap();
    assert_eq!((log.len(), &log[8..12]), (512, &3u32.to_le_bytes()[..]));
    store.put("zz:after", "4").unwrap();
    let again = crash_image(&image, "again.db");
    drop(store);
    let store = opts().open(&again).unwrap();
    assert_eq!((store.len().unwrap(), store.recovery_report().commits_replayed), (3_001, 1));
    drop(store);

    // A version-2 header over records that hold key count entries: not what that format holds,
    // so the replay stops at the first one, as at any record that does not decode.
    let ro = OpenOptions::new().read_only(true).open(&mixed).unwrap();
    let report = ro.recovery_report();
    assert!(
        report.stopped_at.as_ref().is_some_and(|(at, why)| *at == 512 && why.contains("kind 4")),
        "{report:?}"
    );
}

/// A version-1 store (header at byte 0 with version 1, meta slots at 512 and 768, a 32-byte log
/// header), made from a compacted version-2 one: the page layouts are otherwise the same, and a
/// compacted store has no free list (whose entries changed size).
fn version_1_store(dir: &Path) -> PathBuf {
    let path = dir.join("v2.db");
    let store = opts().open(&path).unwrap();
    for i in 0..500u32 {
        store.put(format!("old{i:04}"), format!("value {i}")).unwrap();
    }
    store.compact().unwrap();
    for i in 0..20u32 {
        store.put(format!("logged{i:02}"), "in the log").unwrap();
    }
    let image = crash_image(&path, "v1.db");
    drop(store);
    let mut data = std::fs::read(&image).unwrap();
    let slot = data[SLOT_AT[0]..SLOT_AT[0] + 256].to_vec();
    let mut header = data[..128].to_vec();
    header[8..12].copy_from_slice(&1u32.to_le_bytes());
    let crc = crc32fast::hash(&header[..124]);
    header[124..128].copy_from_slice(&crc.to_le_bytes());
    data[..1024].fill(0);
    data[..128].copy_from_slice(&header);
    data[512..768].copy_from_slice(&slot);
    std::fs::write(&image, &data).unwrap();
    let log = std::fs::read(log_path(&image)).unwrap();
    let mut v1_log = Vec::new();
    v1_log.extend_from_slice(b"WINDKVL\0");
    v1_log.extend_from_slice(&1u32.to_le_bytes());
    v1_log.extend_from_slice(&[0; 4]);
    v1_log.extend_from_slice(&log[16..24]);
    v1_log.extend_from_slice(&[0; 4]);
    let crc = crc32fast::hash(&v1_log[..28]);
    v1_log.extend_from_slice(&crc.to_le_bytes());
    v1_log.extend_from_slice(&with_key_counts(&log[512..], None));
    std::fs::write(log_path(&image), v1_log).unwrap();
    image
}

/// Where the records of `records` (a log's bytes after its header) end: at a header of zeros,
/// the start of the zeros the writer wrote ahead, or at the end.
fn records_end(records: &[u8]) -> usize {
    let mut at = 0;
    while records.get(at..at + 16).is_some_and(|h| h != [0; 16]) {
        at += 16 + u32::from_le_bytes(records[at..at + 4].try_into().unwrap()) as usize;
    }
    at.min(records.len())
}

/// The end of the records of the log of the store at `path`, in bytes from the log's start.
fn log_records_end(path: &Path) -> u64 {
    let log = std::fs::read(log_path(path)).unwrap();
    512 + records_end(&log[512..]) as u64
}

/// `records` (a log's records after its header, up to the zeros written ahead) with their key
/// count entries taken out, and with `count`, one of that value put first in each record's body
/// instead (as an earlier build of format 3 wrote them).
fn with_key_counts(mut records: &[u8], count: Option<i64>) -> Vec<u8> {
    let mut out = Vec::new();
    // Up to the zeros the writer wrote ahead (which a log before format 3 never held).
    records = &records[..records_end(records)];
    while records.len() >= 16 {
        let body_len = u32::from_le_bytes(records[0..4].try_into().unwrap()) as usize;
        let (record, rest) = records.split_at(16 + body_len);
        records = rest;
        let mut body = record[16..].to_vec();
        let mut entries = u32::from_le_bytes(body[0..4].try_into().unwrap());
        if body.get(4) == Some(&4) {
            body.drain(4..13);
            entries -= 1;
        }
        if let Some(delta) = count {
            body.splice(4..4, std::iter::once(4u8).chain(delta.to_le_bytes()));
            entries += 1;
        }
        body[0..4].copy_from_slice(&entries.to_le_bytes());
        let len = u32::try_from(body.len()).unwrap().to_le_bytes();
        let mut h = crc32fast::Hasher::new();
        h.update(&len);
        h.update(&record[8..16]);
        h.update(&body);
        out.extend_from_slice(&len);
        out.extend_from_slice(&h.finalize().to_le_bytes());
        out.extend_from_slice(&record[8..16]);
        out.extend_from_slice(&body);
    }
    assert!(records.is_empty(), "a whole number of records");
    out
}

#[test]
fn a_version_1_store_is_read_and_a_writable_open_converts_it() {
    let dir = tempfile::tempdir().unwrap();
    let image = version_1_store(dir.path());
    let before = std::fs::read(&image).unwrap();

    let ro = OpenOptions::new().read_only(true).open(&image).unwrap();
    assert_eq!(ro.stats().format_version, 1);
    assert_eq!(ro.len().unwrap(), 520, "the checkpoint and the 20 logged commits");
    assert!(ro.check().unwrap().is_ok());
    drop(ro);
    assert_eq!(std::fs::read(&image).unwrap(), before, "a read-only open changes nothing");

    let store = opts().open(&image).unwrap();
    let report = store.recovery_report().clone();
    assert!(report.notes.iter().any(|n| n.contains("converted from format version 1")), "{report:?}");
    assert_eq!(store.stats().format_version, 2);
    assert_eq!(store.len().unwrap(), 520);
    assert_eq!(store.get("logged19").unwrap().as_deref(), Some(&b"in the log"[..]));
    assert_eq!(store.get("old0042").unwrap().as_deref(), Some(&b"value 42"[..]));
    assert!(store.check().unwrap().is_ok());
    store.put("new", "after the conversion").unwrap();
    store.close().unwrap();
    let again = opts().open(&image).unwrap();
    assert_eq!((again.len().unwrap(), again.stats().format_version), (521, 2));
    assert!(again.recovery_report().is_quiet(), "{:?}", again.recovery_report());
    assert_eq!(std::fs::metadata(log_path(&image)).unwrap().len(), 512, "a version-2 log header");
}

#[test]
fn a_truncated_file_opens_read_only_for_inspection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = store_of_3000_keys(&path);
    store.close().unwrap();
    let data = std::fs::read(&path).unwrap();
    let pages = data.len() / 4096;
    std::fs::write(&path, &data[..(pages / 2) * 4096]).unwrap();

    // Writable: refused, naming the first missing page and what to do.
    match opts().open(&path) {
        Err(Error::Corrupted { page, reason }) => {
            assert_eq!(usize::try_from(page).unwrap(), pages / 2);
            assert!(reason.contains("read-only") && reason.contains("salvage"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Read-only: opens, says what is missing; the page map names the missing pages, reads give
    // right values or errors naming a page, check() lists the damage.
    let ro = OpenOptions::new().read_only(true).open(&path).unwrap();
    let report = ro.recovery_report().clone();
    assert!(report.may_have_lost_data(), "{report:?}");
    assert!(report.lines()[0].contains("truncated"), "{:?}", report.lines());
    let map: Vec<_> = ro.pages().collect();
    assert_eq!(map.len(), pages, "the page map covers the checkpoint's pages");
    for (n, p) in map.iter().enumerate().skip(pages / 2) {
        let n64 = u64::try_from(n).unwrap();
        assert!(matches!(p, Err(Error::Corrupted { page, .. }) if *page == n64), "page {n}: {p:?}");
    }
    assert!(map[..pages / 2].iter().all(Result::is_ok), "the pages before the cut read");
    let (mut served, mut named) = (0, 0);
    for i in 0..3_000u32 {
        match ro.get(format!("key{i:05}")) {
            Ok(Some(v)) => {
                assert_eq!(v, [b'v'; 40]);
                served += 1;
            }
            Ok(None) => panic!("key{i:05} read as missing"),
            Err(Error::Corrupted { page, .. }) => {
                assert!(
                    usize::try_from(page).unwrap() >= pages / 2,
                    "an error names a page past the cut: {page}"
                );
                named += 1;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(served > 0 && served + named == 3_000, "{served} served, {named} named a missing page");
    assert!(!ro.check().unwrap().is_ok(), "check() names the missing pages");
}

/// 3,000 values of 2 KiB (overflow chains at the default page size): a batch whose record is
/// over 4 MiB.
fn big_value(i: u32) -> Vec<u8> {
    (0..2048u32).map(|j| (i.wrapping_mul(31) ^ j).to_le_bytes()[0]).collect()
}

fn big_batch() -> wind_kvstore::WriteBatch {
    let mut batch = wind_kvstore::WriteBatch::new();
    for i in 0..3_000u32 {
        batch.put(format!("big{i:05}"), big_value(i));
    }
    batch
}

/// A commit whose record is larger than the store builds whole in memory (over 4 MiB) goes to
/// the log a piece at a time, its header last (under buffered durability; under immediate
/// durability it is not logged, next test): recovered whole after a crash, and not at all when
/// the crash tore it (the commit before it kept, nothing reported missing).
#[test]
fn a_commit_logged_in_pieces_is_recovered_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = opts().durability(Durability::Buffered).open(&path).unwrap();
    store.put("before", "1").unwrap();
    store.flush().unwrap();
    let log_before = log_records_end(&path);
    store.write(big_batch()).unwrap();
    store.flush().unwrap();
    let log_after = log_records_end(&path);
    assert!(log_after - log_before > 5 << 20, "a record of {} bytes", log_after - log_before);
    let whole = crash_image(&path, "whole.db");
    let torn = [crash_image(&path, "cut.db"), crash_image(&path, "headless.db")];
    drop(store);

    let store = opts().open(&whole).unwrap();
    assert_eq!(store.recovery_report().commits_replayed, 2, "{:?}", store.recovery_report());
    assert_eq!(store.len().unwrap(), 3_001);
    for i in (0..3_000u32).step_by(97) {
        assert_eq!(store.get(format!("big{i:05}")).unwrap().unwrap(), big_value(i), "big{i:05}");
    }
    drop(store);

    // Torn: the log cut in the middle of the large record (its header is whole but the body is
    // not), or the header missing (the body written, the crash before the header).
    for (tear, torn) in torn.iter().enumerate() {
        let name = torn.display();
        let mut log = std::fs::read(log_path(torn)).unwrap();
        if tear == 0 {
            log.truncate(usize::try_from(log_before + (3 << 20)).unwrap());
        } else {
            let at = usize::try_from(log_before).unwrap();
            log[at..at + 16].fill(0);
        }
        std::fs::write(log_path(torn), &log).unwrap();
        let store = opts().open(torn).unwrap();
        let report = store.recovery_report().clone();
        assert_eq!(report.commits_replayed, 1, "{name}: {report:?}");
        assert!(!report.may_have_lost_data(), "{name}: {report:?}");
        assert_eq!(store.get("before").unwrap().as_deref(), Some(&b"1"[..]), "{name}");
        assert_eq!(store.get("big00000").unwrap(), None, "{name}");
        store.put("after", "2").unwrap();
        store.close().unwrap();
    }
}

/// Under immediate durability a commit with 2 MiB or more of values in overflow chains skips
/// the log: a checkpoint makes it durable before it returns, so its values are written once.
/// The log then holds no record (the commits before it are in the same checkpoint), and a crash
/// right after it loses nothing; the commits after it are logged as usual and replayed.
#[test]
fn a_commit_too_large_for_the_log_is_checkpointed_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = opts().open(&path).unwrap();
    store.put("before", "1").unwrap();
    let checkpoints = store.stats().checkpoint_id;
    assert!(log_records_end(&path) > 512, "the put before it is logged");
    store.write(big_batch()).unwrap();
    assert_eq!(log_records_end(&path), 512, "the log holds no record beyond its header");
    assert_eq!(store.stats().checkpoint_id, checkpoints + 1, "one checkpoint made it durable");
    let right_after = crash_image(&path, "right-after.db");
    store.put("after", "2").unwrap();
    let later = crash_image(&path, "later.db");
    drop(store);

    for (image, replayed, len) in [(&right_after, 0, 3_001), (&later, 1, 3_002)] {
        let name = image.display();
        let store = opts().open(image).unwrap();
        let report = store.recovery_report().clone();
        assert_eq!(report.commits_replayed, replayed, "{name}: {report:?}");
        assert!(!report.may_have_lost_data(), "{name}: {report:?}");
        assert_eq!(store.len().unwrap(), len, "{name}");
        assert_eq!(store.get("before").unwrap().as_deref(), Some(&b"1"[..]), "{name}");
        for i in (0..3_000u32).step_by(97) {
            assert_eq!(store.get(format!("big{i:05}")).unwrap().unwrap(), big_value(i), "{name}: big{i:05}");
        }
        assert!(store.check().unwrap().is_ok(), "{name}");
        // Commits go on from it: the next is logged (after those the open replayed, which
        // stay in the log) and replayed after another crash.
        store.put("next", "3").unwrap();
        let again = crash_image(image, "again.db");
        drop(store);
        let store = opts().open(&again).unwrap();
        let report = store.recovery_report();
        assert_eq!(report.commits_replayed, replayed + 1, "{name}: {report:?}");
        assert_eq!(store.get("next").unwrap().as_deref(), Some(&b"3"[..]), "{name}");
        assert_eq!(store.len().unwrap(), len + 1, "{name}");
    }
}

/// Replay applies many records' operations in key order, the last of each key only. The log here
/// changes the same keys again and again across records (new, overwritten, deleted, put back,
/// overflow values replaced by small ones and back, the identifier changed in between); a
/// writable and a read-only open of the crash image both hold exactly what the commits left.
#[test]
fn replay_in_key_order_keeps_the_last_change_of_every_key() {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = store_of_3000_keys(&path);
    store.checkpoint().unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> =
        (0..3_000u32).map(|i| (format!("key{i:05}").into_bytes(), vec![b'v'; 40])).collect();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for commit in 0..300u64 {
        if commit % 97 == 0 {
            store.set_identifier(&format!("id-{commit}")).unwrap();
        }
        let mut batch = wind_kvstore::WriteBatch::new();
        for _ in 0..(1 + next() % 20) {
            // 200 keys, a third of them beside the existing ones: each changed many times.
            let key = format!("key{:05}", next() % 200 * 15).into_bytes();
            match next() % 5 {
                0 => {
                    batch.delete(&key);
                    model.remove(&key);
                }
                1 => {
                    let big = vec![(commit % 251) as u8; 9_000];
                    batch.put(&key, &big);
                    model.insert(key, big);
                }
                _ => {
                    let v = format!("c{commit}-{}", next() % 1000).into_bytes();
                    batch.put(&key, &v);
                    model.insert(key, v);
                }
            }
        }
        store.write(batch).unwrap();
    }
    let image = crash_image(&path, "crashed.db");
    drop(store);
    let check = |s: &wind_kvstore::KVStore| {
        let report = s.recovery_report();
        assert!(!report.may_have_lost_data(), "{report:?}");
        assert_eq!(report.commits_replayed, 300 + 4, "{report:?}");
        let got: BTreeMap<Vec<u8>, Vec<u8>> = s.iter().map(|kv| kv.unwrap()).collect();
        assert!(got == model, "the recovered store differs from the commits");
        assert_eq!(s.len().unwrap(), model.len() as u64);
        assert_eq!(s.get_identifier(), "id-291");
        assert!(s.check().unwrap().is_ok());
    };
    let ro = OpenOptions::new().read_only(true).open(&image).unwrap();
    check(&ro);
    drop(ro);
    let store = opts().open(&image).unwrap();
    check(&store);
    store.close().unwrap();
    let store = opts().open(&image).unwrap();
    assert_eq!(store.recovery_report().commits_replayed, 0, "the writable open checkpointed");
    assert_eq!(store.iter().map(|kv| kv.unwrap()).collect::<BTreeMap<_, _>>(), model);
}

/// A value of `len` bytes in an overflow chain, different for each `seed`.
fn chained_value(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| i.to_le_bytes()[0].wrapping_mul(7) ^ seed).collect()
}

/// The store reads as `model` says: each key, the count, a scan in key order.
fn assert_reads_as(
    store: &wind_kvstore::KVStore,
    model: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    when: &str,
) {
    for (key, value) in model {
        assert!(store.get(key).unwrap().as_ref() == Some(value), "{when}: {}", String::from_utf8_lossy(key));
    }
    assert_eq!(store.len().unwrap(), model.len() as u64, "{when}");
    let scanned: Vec<(Vec<u8>, Vec<u8>)> = store.iter().map(|kv| kv.unwrap()).collect();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert!(scanned == expected, "{when}: the scan differs");
}

/// A commit with values in overflow chains (logged: under 2 MiB) that changes no key the write
/// buffer holds goes to the tree beside the buffer, which is not folded for it; one that changes
/// a buffered key folds the buffer first. Either way the store reads as the commits say (the
/// buffered key replaced by a chain, a tree key replaced by a chain, deletes in the buffer and in
/// such a commit, the count, scans), a snapshot taken between keeps its state, and a crash image
/// taken before any checkpoint replays to the same state.
#[test]
fn chained_values_beside_buffered_commits_read_and_replay_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = store_of_3000_keys(&path);
    store.checkpoint().unwrap();
    let mut model: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
        (0..3_000u32).map(|i| (format!("key{i:05}").into_bytes(), vec![b'v'; 40])).collect();
    let put = |model: &mut std::collections::BTreeMap<Vec<u8>, Vec<u8>>, key: &str, value: Vec<u8>| {
        store.put(key, &value).unwrap();
        model.insert(key.as_bytes().to_vec(), value);
    };
    put(&mut model, "key00010", b"buffered".to_vec());
    put(&mut model, "new:small", b"s".to_vec());
    let snapshot = store.snapshot();
    let before = model.clone();
    put(&mut model, "big:a", chained_value(1, 300_000));
    put(&mut model, "key00020", chained_value(2, 300_000));
    put(&mut model, "key00010", chained_value(3, 300_000));
    assert!(store.delete("key00030").unwrap());
    model.remove(&b"key00030"[..]);
    let mut batch = wind_kvstore::WriteBatch::new();
    batch.put("big:b", chained_value(4, 200_000)).delete("key00040").put("new:small2", "t");
    store.write(batch).unwrap();
    model.insert(b"big:b".to_vec(), chained_value(4, 200_000));
    model.remove(&b"key00040"[..]);
    model.insert(b"new:small2".to_vec(), b"t".to_vec());
    assert_reads_as(&store, &model, "after the commits");
    for (key, value) in &before {
        assert!(
            snapshot.get(key).unwrap().as_ref() == Some(value),
            "snapshot: {}",
            String::from_utf8_lossy(key)
        );
    }
    assert_eq!(snapshot.get("big:a").unwrap(), None);
    assert_eq!(store.stats().checkpoint_seq, 1, "no checkpoint since the load's");
    let image = crash_image(&path, "crashed.db");
    drop(snapshot);
    drop(store);

    let store = opts().open(&image).unwrap();
    assert_eq!(store.recovery_report().commits_replayed, 7);
    assert_reads_as(&store, &model, "after the replay");
    assert!(store.check().unwrap().is_ok());
    store.checkpoint().unwrap();
    assert_reads_as(&store, &model, "after a checkpoint");
}
