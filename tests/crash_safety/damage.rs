//! Torn and damaged logs, damaged data files: recovery keeps a prefix of the commits, damage is
//! a clear error or a problem `check()` names by page, never a panic, a hang or a huge
//! allocation.

use std::collections::BTreeSet;

use wind_kvstore::io::FaultyVfs;
use wind_kvstore::io::faulty::Rng;
use wind_kvstore::{Durability, Error, KVStore, PageType};

use crate::common::*;

// ---------------------------------------------------------------- logs

/// Bytes of the log header (format version 2: one sector).
const LOG_HEADER: usize = 512;
/// Where meta slot `slot` starts in page 0 (format version 2: after the header copy in its sector).
fn slot_at(slot: usize) -> usize {
    128 + 512 * slot
}

/// `(offset, length)` of each record of a log (format: docs/FORMAT.md): up to a header of zeros,
/// after which the writer's zeros written ahead fill the file.
fn records(log: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = LOG_HEADER;
    while at + 16 <= log.len() && log[at..at + 16] != [0; 16] {
        let body = u32::from_le_bytes(log[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, 16 + body));
        at += 16 + body;
    }
    assert!(log[at..].iter().all(|&b| b == 0), "zeros after the last record");
    out
}

/// A workload whose every op is one commit: puts (one with an overflow value) and deletes of
/// keys that exist, so op `i` is log record `i` after the checkpoint.
fn logged_ops(n: usize) -> Vec<Op> {
    let mut rng = Rng::new(77);
    let mut present = BTreeSet::new();
    let mut ops = Vec::new();
    for i in 0..n as u64 {
        let op = if i % 5 == 3 && !present.is_empty() {
            let k = present.iter().nth(rng.below(present.len() as u64) as usize).cloned().unwrap();
            present.remove(&k);
            Op::Delete(k)
        } else if i % 7 == 6 {
            let items = (0..4).map(|j| (key(100 + i * 4 + j), Some((20 + j as usize, i * 10 + j)))).collect();
            Op::Batch(items)
        } else {
            let k = key(rng.below(30));
            present.insert(k.clone());
            Op::Put(k, if i == n as u64 - 1 { 1500 } else { 10 + rng.below(60) as usize }, i)
        };
        if let Op::Batch(items) = &op {
            present.extend(items.iter().map(|(k, _)| k.clone()));
        }
        ops.push(op);
    }
    ops
}

/// The data file and log of a store killed (process only) after `ops`, with a checkpoint after
/// the first `base` ops: the log holds exactly ops `base..`.
fn killed_store(ops: &[Op], base: usize) -> (Vec<u8>, Vec<u8>) {
    let vfs = FaultyVfs::new();
    let mut opts = options(&vfs, Durability::Immediate);
    opts.checkpoint_log_bytes(64 << 20);
    let mut store = opts.open(db()).unwrap();
    for op in &ops[..base] {
        run_op(&mut store, op).unwrap();
    }
    store.checkpoint().unwrap();
    for op in &ops[base..] {
        run_op(&mut store, op).unwrap();
    }
    vfs.crash_now(None);
    drop(store);
    vfs.restart();
    (file(&vfs, &db()), file(&vfs, &wal()))
}

fn vfs_with(data: &[u8], log: &[u8]) -> FaultyVfs {
    let vfs = FaultyVfs::new();
    vfs.write_file(&db(), data);
    vfs.write_file(&wal(), log);
    vfs
}

/// Open after damage to the log: returns the store's state and where replay stopped.
fn recover(data: &[u8], log: &[u8], what: &str) -> (Model, Option<u64>) {
    let vfs = vfs_with(data, log);
    let store = options(&vfs, Durability::Immediate).open(db()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{what}: {:?}", report.problems);
    let stopped = store.recovery_report().stopped_at.as_ref().map(|(offset, _)| *offset);
    let state = dump(&store).unwrap();
    store.close().unwrap();
    // Recovery folded the log into the file: a second open agrees and replays nothing.
    let again = options(&vfs, Durability::Immediate).open(db()).unwrap();
    assert_eq!(dump(&again).unwrap(), state, "{what}: second open");
    assert_eq!(again.recovery_report().commits_replayed, 0);
    (state, stopped)
}

#[test]
fn log_torn_at_every_byte_of_its_last_records_recovers_a_prefix() {
    let ops = logged_ops(30);
    let states = states(&ops);
    let base = 10;
    let (data, log) = killed_store(&ops, base);
    let recs = records(&log);
    assert_eq!(recs.len(), ops.len() - base);
    let tail = if long_run() { recs.len() } else { 4 };
    let from = recs[recs.len() - tail].0;
    let (last, last_len) = recs[recs.len() - 1];
    let end = last + last_len;
    assert!(log.len() > end, "the writer wrote zeros ahead of its records");
    for cut in from..=end {
        // Torn two ways: the file cut there (a log that grew by appends), and everything from
        // there zeros (the writer's zeros written ahead, where the write never reached the disk).
        let zeroed = [&log[..cut], &vec![0; log.len() - cut][..]].concat();
        for (how, torn) in [("cut", &log[..cut]), ("zeroed", &zeroed[..])] {
            // The records the tear left as they were (zeroing bytes that were zeros changes
            // nothing), then where the log ends: cleanly when only zeros follow them (nothing,
            // or the zeros written ahead), else at the first record it damaged.
            let whole = recs
                .iter()
                .take_while(|(at, len)| torn.get(*at..at + len) == Some(&log[*at..at + len]))
                .count();
            let clean = recs
                .get(whole)
                .is_none_or(|(at, _)| torn.get(*at..).is_none_or(|rest| rest.iter().all(|&b| b == 0)));
            let what = format!("log {how} at byte {cut} of {end}");
            let (state, stopped) = recover(&data, torn, &what);
            assert!(
                state == states[base + whole],
                "{what}: expected the first {whole} logged commits, got {} (stopped at {stopped:?})",
                state.summary()
            );
            assert_eq!(stopped.is_some(), !clean, "{what}: stop reported {stopped:?}");
            if let Some(at) = stopped {
                assert_eq!(at as usize, recs[whole].0, "{what}");
            }
        }
    }
    eprintln!("torn log: {} cut points over the last {tail} records, cut and zeroed", end + 1 - from);
}

#[test]
fn flipped_byte_in_a_middle_record_stops_recovery_there() {
    let ops = logged_ops(30);
    let states = states(&ops);
    let base = 10;
    let (data, log) = killed_store(&ops, base);
    let recs = records(&log);
    let mut cases = 0;
    for (r, &(at, len)) in recs.iter().enumerate().take(recs.len() - 1).skip(1) {
        for pos in [0, 2, 5, 9, 16, 16 + (len - 16) / 2, len - 1] {
            let mut bad = log.clone();
            bad[at + pos] ^= 0x5a;
            let what = format!("record {r} byte {pos} flipped");
            let (state, stopped) = recover(&data, &bad, &what);
            assert_eq!(stopped, Some(at as u64), "{what}");
            assert!(state == states[base + r], "{what}: the records before it are kept");
            cases += 1;
        }
    }
    eprintln!("flipped log bytes: {cases} cases");
}

#[test]
fn a_log_of_another_store_is_refused_and_a_damaged_log_header_keeps_the_log() {
    let ops = logged_ops(12);
    let (data, log) = killed_store(&ops, 4);
    let (_, other_log) = killed_store(&ops, 6);
    let vfs = vfs_with(&data, &other_log);
    assert!(matches!(
        options(&vfs, Durability::Immediate).open(db()),
        Err(Error::LogCorrupted { offset: 0, .. })
    ));
    // A damaged header with records after the checkpoint behind it: the store opens at its
    // checkpoint, says commits may be missing, refuses writes, and leaves the log as found.
    let states = states(&ops);
    for at in [3, 9, 20, 300, 509] {
        let mut bad = log.clone();
        bad[at] ^= 1;
        let vfs = vfs_with(&data, &bad);
        let what = format!("log header byte {at} flipped");
        let store = options(&vfs, Durability::Immediate).open(db()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let report = store.recovery_report().clone();
        assert!(report.may_have_lost_data() && report.log_kept, "{what}: {report:?}");
        assert!(dump(&store).unwrap() == states[4], "{what}: the checkpoint's state");
        assert!(matches!(store.put(b"new", b"x"), Err(Error::Poisoned { .. })), "{what}: writes refused");
        drop(store);
        assert_eq!(file(&vfs, &wal()), bad, "{what}: the log is kept byte for byte");
        assert_eq!(file(&vfs, &db()), data, "{what}: nothing checkpointed over it");
    }
    // A damaged header with nothing after the checkpoint (a torn rewrite of the header): the
    // log starts afresh and the store is writable.
    let (data, log) = killed_store(&ops, 12);
    let mut bad = log.clone();
    bad[3] ^= 1;
    let vfs = vfs_with(&data, &bad);
    let store = options(&vfs, Durability::Immediate).open(db()).unwrap();
    assert!(!store.recovery_report().may_have_lost_data(), "{:?}", store.recovery_report());
    assert!(dump(&store).unwrap() == states[12]);
    store.put(b"new", b"x").unwrap();
}

// ---------------------------------------------------------------- data files

struct Base {
    data: Vec<u8>,
    log: Vec<u8>,
    model: Model,
    /// Every state the workload committed, in order (`model` is the last).
    committed: Vec<Model>,
    types: Vec<PageType>,
    active_slot: usize,
}

fn base_store() -> Base {
    let ops = mixed_workload(9, 150);
    let committed = states(&ops);
    let model = committed.last().unwrap().clone();
    let vfs = FaultyVfs::new();
    assert!(!run_workload(&vfs, Durability::Immediate, &ops).crashed);
    vfs.restart();
    let store = options(&vfs, Durability::Immediate).open(db()).unwrap();
    let types: Vec<PageType> = store.pages().map(|p| p.unwrap().page_type).collect();
    let info = store.page_info(0).unwrap();
    let active_slot = if format!("{:?}", info.items).contains("slot 1 (in force)") { 1 } else { 0 };
    drop(store);
    let base =
        Base { data: file(&vfs, &db()), log: file(&vfs, &wal()), model, committed, types, active_slot };
    assert!(base.types.contains(&PageType::Freelist) && base.types.contains(&PageType::Overflow));
    assert!(base.types.contains(&PageType::Branch) && base.types.contains(&PageType::Free));
    base
}

fn open_data(data: &[u8], log: &[u8]) -> wind_kvstore::Result<(FaultyVfs, KVStore)> {
    let vfs = vfs_with(data, log);
    let store = options(&vfs, Durability::Immediate).open(db())?;
    Ok((vfs, store))
}

fn names_page(e: &Error, pages: &[u64]) -> bool {
    matches!(e, Error::Corrupted { page, .. } if pages.contains(page))
}

/// A store opened on a file whose `damaged` pages are bad: `check()` names each damaged page
/// that is in use, and every read returns the right bytes or an error naming a damaged page.
fn assert_damage_reported(store: &KVStore, base: &Base, damaged: &[u64], what: &str) {
    let live: Vec<u64> = damaged
        .iter()
        .copied()
        .filter(|&p| {
            matches!(
                base.types.get(p as usize),
                Some(PageType::Branch | PageType::Leaf | PageType::Overflow | PageType::Freelist)
            )
        })
        .collect();
    let report = store.check().unwrap_or_else(|e| panic!("{what}: check: {e}"));
    for p in &live {
        assert!(
            report.problems.iter().any(|pr| pr.page == Some(*p)),
            "{what}: check does not name page {p}: {:?}",
            report.problems
        );
    }
    if live.is_empty() {
        assert!(report.is_ok(), "{what}: {:?}", report.problems);
    }
    for (k, v) in &base.model.map {
        match store.get(k) {
            Ok(Some(got)) => assert!(got == *v, "{what}: wrong value read"),
            Ok(None) => assert!(!live.is_empty(), "{what}: key lost without damage"),
            Err(e) => assert!(names_page(&e, &live), "{what}: {e}"),
        }
    }
    for item in store.iter() {
        match item {
            Ok((k, v)) => assert_eq!(base.model.map.get(&k), Some(&v), "{what}"),
            Err(e) => {
                assert!(names_page(&e, &live), "{what}: scan: {e}");
                break;
            }
        }
    }
}

/// Open a file with the pages in `damaged` spoiled; page 0 damage may only be a clear error.
fn try_damaged(base: &Base, data: &[u8], damaged: &[u64], what: &str) {
    match open_data(data, &base.log) {
        Ok((_vfs, store)) => assert_damage_reported(&store, base, damaged, what),
        Err(e) => assert!(
            names_page(&e, damaged)
                || matches!(e, Error::NotAStore { .. } | Error::UnsupportedVersion { .. }),
            "{what}: unclear error {e:?}"
        ),
    }
}

#[test]
fn garbage_pages_are_named() {
    let base = base_store();
    let ps = PAGE_SIZE as usize;
    let mut rng = Rng::new(5);
    for p in 0..base.types.len() {
        for fill in 0..2 {
            let mut data = base.data.clone();
            let page = &mut data[p * ps..(p + 1) * ps];
            if fill == 0 {
                rng.fill(page)
            } else {
                page.fill(0)
            }
            let what =
                format!("page {p} ({:?}) overwritten with {}", base.types[p], ["garbage", "zeros"][fill]);
            if p == 0 {
                assert!(open_data(&data, &base.log).is_err(), "{what}");
            } else {
                try_damaged(&base, &data, &[p as u64], &what);
            }
        }
    }
    eprintln!("garbage pages: {} files", 2 * base.types.len());
}

#[test]
fn bit_flips_are_errors_or_named_by_check() {
    let base = base_store();
    let ps = PAGE_SIZE as usize;
    let slot = slot_at(base.active_slot);
    let flips = if long_run() { 5000 } else { 400 };
    let mut rng = Rng::new(11);
    for i in 0..flips {
        let mut data = base.data.clone();
        let pos = rng.below(data.len() as u64) as usize;
        data[pos] ^= 1 << rng.below(8);
        let page = pos / ps;
        let what = format!("flip {i}: bit at byte {pos} (page {page}, {:?})", base.types[page]);
        if page != 0 {
            try_damaged(&base, &data, &[page as u64], &what);
        } else if pos < 128 {
            // The header's copy in the second sector stands in for it.
            let (_vfs, store) = open_data(&data, &base.log).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(dump(&store).unwrap(), base.model, "{what}");
            assert!(!store.recovery_report().notes.is_empty(), "{what}: the damage is reported");
        } else if (slot..slot + 256).contains(&pos) {
            // The slot in force fails its checksum, like a torn checkpoint: the store opens
            // the previous checkpoint (see docs/DURABILITY.md), or refuses to open with an error
            // naming page 0. Copy-on-write kept that checkpoint's pages whole, so what opens is
            // healthy and holds a state the workload committed: older, never invented.
            assert_older_checkpoint_or_refused(&base, &data, &what);
        } else {
            // Unused bytes of page 0 and the older slot: nothing in force changes.
            let (_vfs, store) = open_data(&data, &base.log).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(dump(&store).unwrap(), base.model, "{what}");
        }
    }
    // Every byte of the slot in force, one bit each: the random flips above rarely land there.
    let mut opened = 0;
    for (i, pos) in (slot..slot + 256).enumerate() {
        let mut data = base.data.clone();
        data[pos] ^= 1 << (i % 8);
        opened += usize::from(assert_older_checkpoint_or_refused(&base, &data, &format!("slot byte {pos}")));
    }
    assert!(opened > 0, "no flip in the slot in force fell back to the older checkpoint");
    eprintln!(
        "bit flips: {flips} files, and 256 in the slot in force ({opened} opened the older checkpoint)"
    );
}

/// The meta slot in force fails its checksum, like a torn checkpoint: the store opens the
/// previous checkpoint (see docs/DURABILITY.md), or refuses to open with an error naming page
/// 0. Copy-on-write kept that checkpoint's pages whole, so what opens is healthy and holds a
/// state the workload committed: older, never invented. `true` when it opened.
fn assert_older_checkpoint_or_refused(base: &Base, data: &[u8], what: &str) -> bool {
    match open_data(data, &base.log) {
        Ok((_vfs, store)) => {
            let report = store.check().unwrap_or_else(|e| panic!("{what}: check: {e}"));
            assert!(report.is_ok(), "{what}: {:?}", report.problems);
            let state = dump(&store).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(base.committed.contains(&state), "{what}: a state no commit made");
            true
        }
        Err(e) => {
            assert!(names_page(&e, &[0]), "{what}: unclear error {e:?}");
            false
        }
    }
}

#[test]
fn truncated_files_are_errors_or_named_by_check() {
    let base = base_store();
    let ps = PAGE_SIZE as usize;
    let mut cuts: Vec<usize> = vec![0, 1, 127, 128, 600, ps + 1];
    for p in 2..base.types.len() {
        cuts.extend([p * ps, p * ps + 100]);
    }
    for &cut in &cuts {
        let data = &base.data[..cut];
        let what = format!("file cut to {cut} bytes of {}", base.data.len());
        let first_missing = (cut / ps) as u64;
        let missing: Vec<u64> = (first_missing..base.types.len() as u64).collect();
        match open_data(data, &base.log) {
            Err(e) => assert!(
                matches!(e, Error::NotAStore { .. }) || names_page(&e, &missing),
                "{what}: unclear error {e:?}"
            ),
            Ok((_vfs, store)) => {
                // Only a file cut past its last page may open: nothing it needs is missing.
                let report = store.check().unwrap();
                assert!(report.is_ok(), "{what}: {:?}", report.problems);
                assert_damage_reported(&store, &base, &[], &what);
            }
        }
    }
    eprintln!("truncated files: {}", cuts.len());
}

#[test]
fn files_of_other_kinds_are_not_stores() {
    let base = base_store();
    let mut sqlite = b"SQLite format 3\0".to_vec();
    sqlite.resize(4096, 0);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let text = b"key=value\nother=thing\n".repeat(100);
    let mut files = vec![Vec::new(), sqlite, png, text, base.log.clone()];
    let mut rng = Rng::new(3);
    for _ in 0..if long_run() { 2000 } else { 100 } {
        let mut f = vec![0u8; rng.below(3 * PAGE_SIZE as u64) as usize];
        rng.fill(&mut f);
        files.push(f);
    }
    // A newer format version, with a correct header checksum.
    let mut newer = base.data.clone();
    newer[8..12].copy_from_slice(&3u32.to_le_bytes());
    let crc = crc32fast::hash(&newer[..124]);
    newer[124..128].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(open_data(&newer, &base.log), Err(Error::UnsupportedVersion { version: 3, .. })));
    for (i, f) in files.iter().enumerate() {
        let vfs = FaultyVfs::new();
        vfs.write_file(&db(), f);
        match options(&vfs, Durability::Immediate).open(db()) {
            Err(Error::NotAStore { reason, .. }) => assert!(!reason.is_empty()),
            other => panic!("file {i} ({} bytes): {other:?}", f.len()),
        }
    }
    eprintln!("files of other kinds: {}", files.len() + 1);
}

// ---------------------------------------------------------------- crafted damage

/// Recompute a page's checksum (docs/FORMAT.md: CRC32 seeded with the page number over bytes
/// 0..4 and 8..), so the damage below passes the checksum and reaches the structure checks.
fn reseal(data: &mut [u8], page: usize) {
    let ps = PAGE_SIZE as usize;
    let p = &mut data[page * ps..(page + 1) * ps];
    let mut h = crc32fast::Hasher::new_with_initial((page as u64 as u32) ^ ((page as u64 >> 32) as u32));
    h.update(&p[0..4]);
    h.update(&p[8..]);
    let crc = h.finalize();
    p[4..8].copy_from_slice(&crc.to_le_bytes());
}

fn reseal_meta(data: &mut [u8], slot: usize) {
    let at = slot_at(slot);
    let crc = crc32fast::hash(&data[at..at + 252]);
    data[at + 252..at + 256].copy_from_slice(&crc.to_le_bytes());
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Cycles and absurd sizes that pass every checksum: errors, never a hang or an abort.
#[test]
fn cycles_and_absurd_sizes_with_valid_checksums_are_errors() {
    let base = base_store();
    let ps = PAGE_SIZE as usize;
    let page_of = |t: PageType| base.types.iter().position(|x| *x == t).unwrap();
    let all_reads = |data: &[u8], what: &str| {
        if let Ok((_vfs, store)) = open_data(data, &base.log) {
            let report = store.check().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(!report.is_ok(), "{what}: check found nothing");
            for k in base.model.map.keys() {
                let _ = store.get(k);
            }
            let _ = dump(&store);
        }
    };

    // A branch whose leftmost child is itself.
    let b = page_of(PageType::Branch);
    let mut data = base.data.clone();
    data[b * ps + 8..b * ps + 16].copy_from_slice(&(b as u64).to_le_bytes());
    reseal(&mut data, b);
    all_reads(&data, "branch cycle");

    // Every overflow page linking to itself.
    let mut data = base.data.clone();
    for (p, t) in base.types.iter().enumerate() {
        if *t == PageType::Overflow && u64_at(&data, p * ps + 8) != 0 {
            data[p * ps + 8..p * ps + 16].copy_from_slice(&(p as u64).to_le_bytes());
            reseal(&mut data, p);
        }
    }
    all_reads(&data, "overflow cycle");

    // Every overflow value claiming 2^60 bytes.
    let mut data = base.data.clone();
    for (p, t) in base.types.iter().enumerate() {
        if *t != PageType::Leaf {
            continue;
        }
        let page = &mut data[p * ps..(p + 1) * ps];
        let count = u16::from_le_bytes([page[2], page[3]]) as usize;
        for i in 0..count {
            let at = u16::from_le_bytes([page[16 + 2 * i], page[17 + 2 * i]]) as usize;
            if page[at + 2] == 1 {
                page[at + 3..at + 11].copy_from_slice(&(1u64 << 60).to_le_bytes());
            }
        }
        reseal(&mut data, p);
    }
    all_reads(&data, "huge overflow length");

    // The free-list chain looping on its first page, the meta slot claiming as many pages in
    // it as the file has; then the meta slot claiming a file of 2^40 pages. Both slots get the
    // crafted copy, or the store would just open the other (see bit flips above).
    let slot = slot_at(base.active_slot);
    let both_slots = |data: &mut Vec<u8>| {
        reseal_meta(data, base.active_slot);
        let copy = data[slot..slot + 256].to_vec();
        let other = slot_at(1 - base.active_slot);
        data[other..other + 256].copy_from_slice(&copy);
    };
    let head = u64_at(&base.data, slot + 24) as usize;
    let page_count = u64_at(&base.data, slot + 32);
    let mut data = base.data.clone();
    data[head * ps + 8..head * ps + 16].copy_from_slice(&(head as u64).to_le_bytes());
    reseal(&mut data, head);
    data[slot + 96..slot + 104].copy_from_slice(&(page_count - 1).to_le_bytes());
    both_slots(&mut data);
    all_reads(&data, "free-list cycle");
    let mut data = base.data.clone();
    data[slot + 32..slot + 40].copy_from_slice(&(1u64 << 40).to_le_bytes());
    both_slots(&mut data);
    all_reads(&data, "page count of 2^40");
}

/// The same damage on the real file system, where reads of files past 64 KiB go through the
/// memory map.
#[test]
fn damaged_real_files_through_the_memory_map() {
    let base = base_store();
    let ps = PAGE_SIZE as usize;
    assert!(base.data.len() > 64 * 1024, "large enough to be mapped");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("real.db");
    let write = |data: &[u8]| {
        std::fs::write(&path, data).unwrap();
        std::fs::write(wind_kvstore::log_path(&path), &base.log).unwrap();
    };
    let open = || wind_kvstore::OpenOptions::new().open(&path);
    let mut files = 0;
    for (p, t) in base.types.iter().enumerate().skip(1) {
        if !matches!(t, PageType::Leaf | PageType::Overflow | PageType::Branch) || p % 3 != 0 {
            continue;
        }
        let mut data = base.data.clone();
        Rng::new(p as u64).fill(&mut data[p * ps..(p + 1) * ps]);
        write(&data);
        let store = open().unwrap_or_else(|e| panic!("page {p}: {e}"));
        assert_damage_reported(&store, &base, &[p as u64], &format!("real file, page {p} garbage"));
        files += 1;
    }
    write(&[]);
    assert!(matches!(open(), Err(Error::NotAStore { .. })));
    write(&base.data[..base.data.len() - ps]);
    assert!(matches!(open(), Err(Error::Corrupted { .. })));
    write(&base.data);
    let store = open().unwrap();
    assert_eq!(dump(&store).unwrap(), base.model);
    eprintln!("real files: {} damaged", files + 2);
}
