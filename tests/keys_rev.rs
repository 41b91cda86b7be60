//! `keys_rev`: the backward key walk the browser pages with, checked against a `BTreeMap`.

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::prelude::*;
use wind_kvstore::{KVStore, OpenOptions, WriteBatch};

fn open_small(dir: &tempfile::TempDir) -> KVStore {
    // 1 KiB pages give deep trees from few keys.
    OpenOptions::new().page_size(1024).open(dir.path().join("r.db")).expect("open")
}

fn model_rev(
    model: &BTreeMap<Vec<u8>, u64>,
    start: &Bound<Vec<u8>>,
    end: &Bound<Vec<u8>>,
) -> Vec<(Vec<u8>, u64)> {
    model.range::<Vec<u8>, _>((start.clone(), end.clone())).rev().map(|(k, v)| (k.clone(), *v)).collect()
}

fn bound(kind: u8, key: Vec<u8>) -> Bound<Vec<u8>> {
    match kind % 3 {
        0 => Bound::Unbounded,
        1 => Bound::Included(key),
        _ => Bound::Excluded(key),
    }
}

#[test]
fn walks_every_key_backwards_across_levels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_small(&dir);
    let mut batch = WriteBatch::new();
    let mut model = BTreeMap::new();
    for i in 0..5000u32 {
        let key = format!("key:{i:06}").into_bytes();
        let value = vec![b'v'; (i % 40) as usize];
        model.insert(key.clone(), value.len() as u64);
        batch.put(key, value);
    }
    store.write(batch).expect("write");
    let all: Vec<_> = store.keys_rev(Bound::Unbounded, Bound::Unbounded).map(|r| r.expect("key")).collect();
    assert_eq!(all, model_rev(&model, &Bound::Unbounded, &Bound::Unbounded));
    let some: Vec<_> = store.prefix_keys_rev(b"key:0012").map(|r| r.expect("key")).collect();
    assert_eq!(some.len(), 100);
    assert_eq!(some[0].0, b"key:001299".to_vec());
    assert_eq!(store.prefix_keys_rev(b"nope").count(), 0);
    // Checkpointed pages (clean) and changed pages (dirty) are walked alike.
    store.checkpoint().expect("checkpoint");
    for i in (0..5000u32).step_by(3) {
        let key = format!("key:{i:06}").into_bytes();
        store.delete(&key).expect("delete");
        model.remove(&key);
    }
    let all: Vec<_> = store.keys_rev(Bound::Unbounded, Bound::Unbounded).map(|r| r.expect("key")).collect();
    assert_eq!(all, model_rev(&model, &Bound::Unbounded, &Bound::Unbounded));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn matches_a_btreemap(
        keys in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..6), 0..400),
        deletes in proptest::collection::vec(any::<prop::sample::Index>(), 0..100),
        bounds in proptest::collection::vec((any::<u8>(), proptest::collection::vec(0u8..4, 0..5), any::<u8>(), proptest::collection::vec(0u8..4, 0..5)), 1..8),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_small(&dir);
        let mut model = BTreeMap::new();
        let mut batch = WriteBatch::new();
        for (i, key) in keys.iter().enumerate() {
            let value = vec![7u8; i % 90];
            model.insert(key.clone(), value.len() as u64);
            batch.put(key, value);
        }
        store.write(batch).expect("write");
        if !keys.is_empty() {
            for d in &deletes {
                let key = d.get(&keys);
                store.delete(key).expect("delete");
                model.remove(key);
            }
        }
        for (sk, s, ek, e) in bounds {
            let (start, end) = (bound(sk, s), bound(ek, e));
            let got: Vec<_> = store.keys_rev(start.clone(), end.clone()).map(|r| r.expect("key")).collect();
            // BTreeMap::range panics on a range whose start is after its end.
            let empty = match (&start, &end) {
                (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => {
                    s > e || (s == e && !(matches!(start, Bound::Included(_)) && matches!(end, Bound::Included(_))))
                }
                _ => false,
            };
            let want = if empty { Vec::new() } else { model_rev(&model, &start, &end) };
            prop_assert_eq!(got, want);
        }
    }
}
