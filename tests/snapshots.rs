//! Snapshots in one process: readers on other threads see one commit's state for as long as they
//! read, while a writer commits, checkpoints and compacts beside them.
//!
//! The transfer test keeps an invariant every commit keeps (the values of 3,000 keys always sum
//! to 3,000,000, each commit moving an amount between two of them): a torn read, a scan that
//! mixes two commits, or a page reused under a reader shows up as a wrong sum or a wrong count,
//! which a key-by-key check would miss. `WK_SNAPSHOT_LONG=1` runs it for 10 s instead of 2 s.

// Test data: account numbers index a table; numbers cut to bytes wrap on purpose.
#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use wind_kvstore::{Durability, KVStore, OpenOptions, WriteBatch};

const ACCOUNTS: u64 = 3_000;
const TOTAL: u64 = 3_000_000;

/// Account `i`'s key: `moved` accounts carry a suffix (see the writer).
fn account(i: u64, moved: bool) -> Vec<u8> {
    format!("acct:{i:05}{}", if moved { "m" } else { "" }).into_bytes()
}

fn amount(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes).expect("utf-8").parse().expect("a number")
}

fn open(path: &std::path::Path) -> KVStore {
    OpenOptions::new()
        .page_size(1024)
        .durability(Durability::Buffered)
        .checkpoint_log_bytes(64 * 1024)
        .cache_bytes(256 * 1024)
        .open(path)
        .expect("open")
}

fn run_for() -> Duration {
    if std::env::var_os("WK_SNAPSHOT_LONG").is_some() {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(2)
    }
}

/// Cheap deterministic numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn scans_beside_a_committing_and_checkpointing_writer_see_whole_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir.path().join("bank.db")));
    let mut batch = WriteBatch::new();
    for i in 0..ACCOUNTS {
        batch.put(account(i, false), (TOTAL / ACCOUNTS).to_string());
    }
    store.write(batch).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(4));
    let writer = {
        let (store, stop, commits, start) = (store.clone(), stop.clone(), commits.clone(), start.clone());
        thread::spawn(move || {
            start.wait();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            let mut moved = vec![false; ACCOUNTS as usize];
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (a, b) = (rng.below(ACCOUNTS), rng.below(ACCOUNTS));
                if a == b {
                    continue;
                }
                let (ma, mb) = (moved[a as usize], moved[b as usize]);
                let snap = store.snapshot();
                let va = amount(&snap.get(account(a, ma)).unwrap().unwrap());
                let vb = amount(&snap.get(account(b, mb)).unwrap().unwrap());
                drop(snap);
                let amount_moved = rng.below(va + 1);
                let mut batch = WriteBatch::new();
                batch.put(account(a, ma), (va - amount_moved).to_string());
                // Account b also moves to its other key in the same commit: a scan that mixed
                // two commits would count it twice or not at all.
                batch.delete(account(b, mb)).put(account(b, !mb), (vb + amount_moved).to_string());
                moved[b as usize] = !mb;
                store.write(batch).unwrap();
                n += 1;
                if n.is_multiple_of(500) {
                    store.checkpoint().unwrap();
                }
                if n.is_multiple_of(3_000) {
                    store.compact().unwrap();
                }
            }
            commits.store(n, Ordering::Relaxed);
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (store, stop, start) = (store.clone(), stop.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut scans = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Reader 0 keeps one snapshot for many scans: they must agree exactly.
                    if r == 0 {
                        let snap = store.snapshot();
                        let first: Vec<(Vec<u8>, Vec<u8>)> =
                            snap.prefix(b"acct:").map(|i| i.unwrap()).collect();
                        for _ in 0..3 {
                            let again: Vec<(Vec<u8>, Vec<u8>)> =
                                snap.prefix(b"acct:").map(|i| i.unwrap()).collect();
                            assert!(again == first, "one snapshot gave two different scans");
                        }
                        let sum: u64 = first.iter().map(|(_, v)| amount(v)).sum();
                        assert_eq!((first.len() as u64, sum), (ACCOUNTS, TOTAL), "snapshot scan");
                        assert_eq!(snap.len().unwrap(), ACCOUNTS);
                        // The descending listing of the same snapshot (the write buffer merged
                        // the other way) is the same keys, lengths and all.
                        let mut rev: Vec<(Vec<u8>, u64)> =
                            snap.prefix_keys_rev(b"acct:").map(|i| i.unwrap()).collect();
                        rev.reverse();
                        let lengths: Vec<(Vec<u8>, u64)> =
                            first.iter().map(|(k, v)| (k.clone(), v.len() as u64)).collect();
                        assert!(rev == lengths, "descending listing differs from the scan");
                    } else {
                        let mut count = 0;
                        let mut sum = 0;
                        for item in store.prefix(b"acct:") {
                            let (_, v) = item.unwrap();
                            count += 1;
                            sum += amount(&v);
                        }
                        assert_eq!((count, sum), (ACCOUNTS, TOTAL), "store scan");
                    }
                    scans += 1;
                }
                scans
            })
        })
        .collect();
    thread::sleep(run_for());
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    let scans: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    let commits = commits.load(Ordering::Relaxed);
    eprintln!("{commits} commits, {scans} scans, every one whole");
    assert!(commits > 100 && scans > 10, "too little ran: {commits} commits, {scans} scans");
    assert!(store.check().unwrap().is_ok());
}

/// The bytes of large value `which` at generation `generation`: every byte depends on both.
fn large_value(which: u8, generation: u64) -> Vec<u8> {
    let seed = generation.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(which);
    (0..1_200_000u64).map(|i| (seed.wrapping_add(i).wrapping_mul(31) >> 7).to_le_bytes()[0]).collect()
}

/// Under immediate durability, commits with 2 MiB or more of values in overflow chains skip the
/// log and are checkpointed at once (DURABILITY.md). Readers on other threads, holding snapshots
/// across them, see each such commit whole: two large values and a small key of the same
/// generation, their bytes as written (read whole, and a chunk at a time), while small logged
/// commits go on in between.
#[test]
fn snapshots_beside_commits_too_large_for_the_log_see_them_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        OpenOptions::new()
            .page_size(1024)
            .durability(Durability::Immediate)
            .cache_bytes(256 * 1024)
            .open(dir.path().join("large.db"))
            .expect("open"),
    );
    let write_generation = |store: &KVStore, generation: u64| {
        let mut batch = WriteBatch::new();
        batch.put("large:a", large_value(0, generation)).put("large:b", large_value(1, generation));
        batch.put("generation", generation.to_string());
        store.write(batch).unwrap();
    };
    write_generation(&store, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(3));
    let writer = {
        let (store, stop, start) = (store.clone(), stop.clone(), start.clone());
        thread::spawn(move || {
            start.wait();
            let mut generation = 0;
            while !stop.load(Ordering::Relaxed) || generation < 3 {
                generation += 1;
                write_generation(&store, generation);
                store.put(format!("small:{generation}"), "logged").unwrap();
            }
            generation
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, stop, start) = (store.clone(), stop.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let (mut reads, mut generations) = (0u64, std::collections::BTreeSet::new());
                while !stop.load(Ordering::Relaxed) {
                    let snap = store.snapshot();
                    let generation = amount(&snap.get("generation").unwrap().unwrap());
                    // Read the values twice, with commits going on in between: whole, then
                    // a chunk at a time in place in the map the writer keeps extending.
                    let chunked = |key: &str| {
                        let mut value = Vec::new();
                        assert!(snap.get_chunks(key, |c| value.extend_from_slice(c)).unwrap());
                        value
                    };
                    for whole in [true, false] {
                        let read =
                            |key: &str| if whole { snap.get(key).unwrap().unwrap() } else { chunked(key) };
                        assert!(read("large:a") == large_value(0, generation));
                        assert!(read("large:b") == large_value(1, generation));
                        assert_eq!(amount(&read("generation")), generation);
                    }
                    generations.insert(generation);
                    reads += 1;
                }
                (reads, generations.len())
            })
        })
        .collect();
    thread::sleep(run_for());
    stop.store(true, Ordering::Relaxed);
    let generations = writer.join().expect("writer");
    let seen: Vec<(u64, usize)> = readers.into_iter().map(|r| r.join().expect("reader")).collect();
    eprintln!("{generations} large commits; reads and generations seen per reader: {seen:?}");
    assert!(seen.iter().all(|&(reads, distinct)| reads > 3 && distinct > 1), "too little ran: {seen:?}");
    // The large commits skipped the log: it holds at most the small puts since the last one.
    let log_bytes = store.stats().log_bytes;
    assert!(log_bytes < 64 << 10, "the log holds {log_bytes} bytes");
    let Ok(store) = Arc::try_unwrap(store) else { panic!("the writer and readers let go of the handle") };
    store.close().unwrap();
    let store = OpenOptions::new().page_size(1024).open(dir.path().join("large.db")).unwrap();
    for g in [1, generations / 2, generations] {
        assert_eq!(store.get(format!("small:{g}")).unwrap().as_deref(), Some(&b"logged"[..]), "small:{g}");
    }
    assert_eq!(amount(&store.get("generation").unwrap().unwrap()), generations);
    assert!(store.get("large:b").unwrap().unwrap() == large_value(1, generations));
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn of_threads_deleting_one_key_exactly_one_deletes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir.path().join("d.db")));
    for round in 0..100 {
        store.put(b"contested", format!("{round}")).unwrap();
        let start = Arc::new(Barrier::new(4));
        let deleted: usize = (0..4)
            .map(|_| {
                let (store, start) = (store.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    store.delete(b"contested").unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(deleted, 1, "round {round}");
        assert_eq!(store.get(b"contested").unwrap(), None);
    }
}

#[test]
fn a_snapshot_outlives_commits_checkpoints_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("s.db"));
    for i in 0..2_000u32 {
        store.put(format!("k{i:05}"), vec![b'a'; 40 + (i % 7) as usize]).unwrap();
    }
    store.put(b"big", vec![7u8; 20_000]).unwrap();
    let before: Vec<(Vec<u8>, Vec<u8>)> = store.iter().map(|i| i.unwrap()).collect();
    let snap = store.snapshot();
    let iter_started = store.iter();
    // Rewrite, delete and compact everything the snapshot sees.
    for i in 0..2_000u32 {
        if i % 3 == 0 {
            store.delete(format!("k{i:05}")).unwrap();
        } else {
            store.put(format!("k{i:05}"), b"changed").unwrap();
        }
    }
    store.put(b"big", b"small").unwrap();
    store.checkpoint().unwrap();
    store.compact().unwrap();
    for i in 0..500u32 {
        store.put(format!("new{i}"), vec![b'n'; 100]).unwrap();
    }
    store.checkpoint().unwrap();
    let seen: Vec<(Vec<u8>, Vec<u8>)> = snap.iter().map(|i| i.unwrap()).collect();
    assert!(seen == before, "the snapshot changed");
    let seen_by_iter: Vec<(Vec<u8>, Vec<u8>)> = iter_started.map(|i| i.unwrap()).collect();
    assert!(seen_by_iter == before, "an iterator created before the writes changed");
    assert_eq!(snap.get(b"big").unwrap().unwrap(), vec![7u8; 20_000]);
    assert_eq!(snap.len().unwrap(), 2_001);
    assert_eq!(store.get(b"big").unwrap().unwrap(), b"small");
    assert_eq!(store.len().unwrap(), 2_001 - 667 + 500);
    drop(snap);
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn pages_held_by_a_snapshot_are_reused_once_it_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let store = open(&path);
    let churn = |store: &KVStore, tag: u8| {
        for round in 0..20u32 {
            let mut batch = WriteBatch::new();
            for i in 0..200u32 {
                batch.put(format!("k{i:04}"), vec![tag.wrapping_add(round as u8); 60]);
            }
            store.write(batch).unwrap();
        }
        store.checkpoint().unwrap();
    };
    churn(&store, 0);
    let settled = store.page_count();
    let snap = store.snapshot();
    churn(&store, 1);
    let held = store.page_count();
    assert!(held > settled, "a pinned snapshot holds its pages back ({held} vs {settled})");
    drop(snap);
    for tag in 2..6 {
        churn(&store, tag);
    }
    let after = store.page_count();
    assert!(after <= held + 2, "pages were not reused after the snapshot went: {after} > {held}");
    assert!(store.check().unwrap().is_ok());
}

#[derive(Debug, Clone)]
enum Step {
    Put(u16, u8),
    Delete(u16),
    Batch(Vec<(u16, Option<u8>)>),
    Take,
    Drop(usize),
    Checkpoint,
    Compact,
    Verify,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..300u16, any::<u8>()).prop_map(|(k, v)| Step::Put(k, v)),
        3 => (0..300u16).prop_map(Step::Delete),
        2 => proptest::collection::vec((0..300u16, proptest::option::of(any::<u8>())), 1..40).prop_map(Step::Batch),
        2 => Just(Step::Take),
        1 => (0..8usize).prop_map(Step::Drop),
        1 => Just(Step::Checkpoint),
        1 => Just(Step::Compact),
        2 => Just(Step::Verify),
    ]
}

/// What a snapshot should read: the map as it was when the snapshot was taken.
type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(k: u16) -> Vec<u8> {
    format!("key{k:03}").into_bytes()
}

fn value(k: u16, v: u8) -> Vec<u8> {
    // Some values overflow a 1 KiB page.
    let len = if v.is_multiple_of(16) { 1_500 + usize::from(v) } else { usize::from(v % 60) };
    let mut out = vec![v; len];
    out.extend_from_slice(&k.to_le_bytes());
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Snapshots against clones of a `BTreeMap` model, through random interleavings of writes,
    /// checkpoints, compactions, snapshots and drops: each snapshot reads exactly the model as
    /// it was when the snapshot was taken.
    #[test]
    fn snapshots_read_the_model_as_it_was(steps in proptest::collection::vec(step(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("m.db"));
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut held: Vec<(wind_kvstore::Snapshot, Model)> = Vec::new();
        for step in steps {
            match step {
                Step::Put(k, v) => {
                    store.put(key(k), value(k, v)).unwrap();
                    model.insert(key(k), value(k, v));
                }
                Step::Delete(k) => {
                    let existed = store.delete(key(k)).unwrap();
                    prop_assert_eq!(existed, model.remove(&key(k)).is_some());
                }
                Step::Batch(ops) => {
                    let mut batch = WriteBatch::new();
                    for (k, v) in &ops {
                        match v {
                            Some(v) => { batch.put(key(*k), value(*k, *v)); }
                            None => { batch.delete(key(*k)); }
                        }
                    }
                    store.write(batch).unwrap();
                    for (k, v) in ops {
                        match v {
                            Some(v) => { model.insert(key(k), value(k, v)); }
                            None => { model.remove(&key(k)); }
                        }
                    }
                }
                Step::Take => held.push((store.snapshot(), model.clone())),
                Step::Drop(i) => {
                    if !held.is_empty() {
                        held.remove(i % held.len());
                    }
                }
                Step::Checkpoint => store.checkpoint().unwrap(),
                Step::Compact => store.compact().unwrap(),
                Step::Verify => {
                    for (snap, want) in &held {
                        let got: BTreeMap<Vec<u8>, Vec<u8>> = snap.iter().map(|i| i.unwrap()).collect();
                        prop_assert!(&got == want, "a snapshot drifted from its model");
                        prop_assert_eq!(snap.len().unwrap(), want.len() as u64);
                        let rev: Vec<Vec<u8>> = snap.keys_rev(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded).map(|i| i.unwrap().0).collect();
                        prop_assert!(rev.iter().rev().eq(want.keys()), "backward walk");
                    }
                }
            }
        }
        for (snap, want) in &held {
            let got: BTreeMap<Vec<u8>, Vec<u8>> = snap.iter().map(|i| i.unwrap()).collect();
            prop_assert!(&got == want, "a snapshot drifted from its model");
        }
        let now: BTreeMap<Vec<u8>, Vec<u8>> = store.iter().map(|i| i.unwrap()).collect();
        prop_assert!(now == model);
        drop(held);
        prop_assert!(store.check().unwrap().is_ok());
    }
}

/// One small commit for the count test: a put (of a key the tree may hold, or not), a delete
/// (of a key that may be absent), or a batch of both.
#[derive(Debug, Clone)]
enum CountStep {
    Put(u16),
    Delete(u16),
    Batch(Vec<(u16, bool)>),
}

fn count_step() -> impl Strategy<Value = CountStep> {
    let k = 0u16..400;
    prop_oneof![
        k.clone().prop_map(CountStep::Put),
        k.clone().prop_map(CountStep::Delete),
        proptest::collection::vec((k, any::<bool>()), 1..40).prop_map(CountStep::Batch),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Commits kept in the write buffer are not counted as they are made: a snapshot's `len()`
    /// looks the buffer's keys up in the tree when first asked, from what snapshots before it
    /// counted. Asked in any order (newer snapshots before older ones, some twice, the store
    /// itself between them), every count is the model's at that commit; and the fold that a
    /// checkpoint makes counts the same.
    #[test]
    fn buffered_commits_are_counted_when_asked_in_any_order(
        tree_keys in proptest::collection::btree_set(0u16..400, 0..200),
        steps in proptest::collection::vec(count_step(), 1..40),
        order in proptest::collection::vec(any::<prop::sample::Index>(), 1..60),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("n.db"));
        let mut model: std::collections::BTreeSet<u16> = tree_keys.clone();
        let mut batch = WriteBatch::new();
        for k in &tree_keys {
            batch.put(key(*k), b"in the tree");
        }
        store.write(batch).unwrap();
        store.checkpoint().unwrap();
        let mut held = vec![(store.snapshot(), model.len() as u64)];
        for step in steps {
            match step {
                CountStep::Put(k) => {
                    store.put(key(k), b"put").unwrap();
                    model.insert(k);
                }
                CountStep::Delete(k) => {
                    prop_assert_eq!(store.delete(key(k)).unwrap(), model.remove(&k));
                }
                CountStep::Batch(ops) => {
                    let mut batch = WriteBatch::new();
                    for (k, put) in &ops {
                        if *put {
                            batch.put(key(*k), b"batch");
                            model.insert(*k);
                        } else {
                            batch.delete(key(*k));
                            model.remove(k);
                        }
                    }
                    store.write(batch).unwrap();
                }
            }
            held.push((store.snapshot(), model.len() as u64));
        }
        for i in order {
            let (snap, want) = &held[i.index(held.len())];
            prop_assert_eq!(snap.len().unwrap(), *want, "snapshot at version {}", snap.version());
            prop_assert_eq!(store.len().unwrap(), model.len() as u64);
        }
        for (snap, want) in held.iter().rev() {
            prop_assert_eq!(snap.len().unwrap(), *want);
        }
        store.checkpoint().unwrap();
        prop_assert_eq!(store.len().unwrap(), model.len() as u64);
        prop_assert_eq!(store.stats().key_count, model.len() as u64);
        drop(held);
        drop(store);
        let reopened = open(&dir.path().join("n.db"));
        prop_assert_eq!(reopened.len().unwrap(), model.len() as u64);
    }
}

#[test]
fn a_running_check_holds_no_writer_back() {
    use std::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir.path().join("c.db")));
    for i in 0..3_000u32 {
        store.put(format!("k{i:05}"), [1u8; 50]).unwrap();
    }
    store.checkpoint().unwrap();
    let (paused_tx, paused_rx) = mpsc::channel::<()>();
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let checker = {
        let store = store.clone();
        thread::spawn(move || {
            let mut paused = false;
            store.check_with_progress(&mut |done, _| {
                // Halfway through the walk, wait for the writer to commit around it.
                if !paused && done > 50 {
                    paused = true;
                    paused_tx.send(()).unwrap();
                    resume_rx.recv().unwrap();
                }
            })
        })
    };
    paused_rx.recv_timeout(Duration::from_secs(30)).expect("the check reached its pause");
    let (done_tx, done_rx) = mpsc::channel();
    let writer = {
        let store = store.clone();
        thread::spawn(move || {
            for i in 0..3_000u32 {
                store.put(format!("k{i:05}"), [2u8; 50]).unwrap();
            }
            store.checkpoint().unwrap();
            done_tx.send(()).unwrap();
        })
    };
    let finished = done_rx.recv_timeout(Duration::from_secs(60));
    resume_tx.send(()).unwrap();
    assert!(finished.is_ok(), "writes waited for a paused check");
    writer.join().unwrap();
    let report = checker.join().unwrap().unwrap();
    assert!(report.is_ok(), "the check saw a state no commit made: {:?}", report.problems);
    let started = Instant::now();
    assert!(store.check().unwrap().is_ok());
    eprintln!("check after the writes: {:?}", started.elapsed());
}
