//! Space: a workload that overwrites and deletes the same keys many times must not grow the
//! file without bound, and must leak no page.

// Test data: numbers cut to bytes and sizes wrap on purpose; the crate-wide lint is for values
// read from disk.
#![allow(clippy::cast_possible_truncation)]

use wind_kvstore::{Durability, OpenOptions, WriteBatch};

#[test]
fn churn_on_the_same_keys_stays_within_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("churn.db");
    let store = OpenOptions::new()
        .durability(Durability::Buffered)
        .checkpoint_log_bytes(1 << 20)
        .open(&path)
        .unwrap();
    let mut sizes = Vec::new();
    for round in 0..300u32 {
        for k in 0..200u32 {
            // Values from a few bytes to two overflow pages, changing size every round.
            let len = ((k * 37 + round * 101) % 9000) as usize;
            store.put(format!("key{k:03}"), vec![round as u8; len]).unwrap();
        }
        for k in (0..200u32).filter(|k| (k + round) % 3 == 0) {
            store.delete(format!("key{k:03}")).unwrap();
        }
        if round % 50 == 49 {
            store.checkpoint().unwrap();
            sizes.push(std::fs::metadata(&path).unwrap().len());
        }
    }
    eprintln!("file size at each checkpoint: {sizes:?}");
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    // Live data is about 133 keys of 4.5 KB on average: 0.6 MB. Between two checkpoints every
    // changed page is copied once, so the file holds at most the live pages, their copies and
    // the pages of one checkpoint interval's churn. The bound: 8 MiB, and no growth once the
    // free list is warm.
    let last = *sizes.last().unwrap();
    assert!(last < 8 << 20, "file grew to {last} bytes: {sizes:?}");
    assert!(sizes[sizes.len() - 1] <= sizes[1] + (sizes[1] / 4), "file keeps growing: {sizes:?}");
    store.compact().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 2 << 20);
}

/// Random keys written into a store of full leaves (a load in key order) leave its pages nearly
/// full, whether they wait in the write buffer and are folded into the tree or come in batches
/// too large for the buffer: the neighbouring leaves a fold or a batch changes are packed again
/// together, where one key at a time would split each full leaf into two half-full ones.
#[test]
fn random_writes_into_full_leaves_keep_them_nearly_full() {
    let key = |n: u64| format!("k{n:010}");
    // (write buffer, keys per batch): batches that wait in the buffer, then ones that do not fit.
    for (buffer, per_batch) in [(1usize << 20, 500usize), (256 << 10, 20_000)] {
        let dir = tempfile::tempdir().unwrap();
        let store = OpenOptions::new()
            .durability(Durability::Buffered)
            .write_buffer_bytes(buffer)
            .open(dir.path().join("fill.db"))
            .unwrap();
        let mut load = WriteBatch::new();
        for i in 0..40_000u64 {
            load.put(key(i * 10), [1u8; 100]);
        }
        store.write(load).unwrap();
        store.checkpoint().unwrap();
        let loaded = store.stats().leaf_pages;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let fresh: Vec<u64> = (0..10_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 40_000) * 10 + 1 + x % 9
            })
            .collect();
        for chunk in fresh.chunks(per_batch) {
            let mut batch = WriteBatch::new();
            for &n in chunk {
                batch.put(key(n), [2u8; 100]);
            }
            store.write(batch).unwrap();
        }
        store.checkpoint().unwrap();
        let stats = store.stats();
        let keys = stats.key_count;
        // The leaves the keys need at the load's fill. A fold of few keys (the last, here) adds
        // a page to each run of neighbouring leaves it reaches; split one key at a time, every
        // leaf reached would become two.
        let full = loaded * keys / 40_000;
        assert!(
            stats.leaf_pages <= full * 125 / 100,
            "buffer {buffer}, batches of {per_batch}: {} leaves for {keys} keys; full ones: {full}",
            stats.leaf_pages
        );
        let report = store.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(store.iter().count() as u64, keys);
    }
}
