//! Space: a workload that overwrites and deletes the same keys many times must not grow the
//! file without bound, and must leak no page.

// Test data: numbers cut to bytes and sizes wrap on purpose; the crate-wide lint is for values
// read from disk.
#![allow(clippy::cast_possible_truncation)]

use wind_kvstore::{Durability, OpenOptions};

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
