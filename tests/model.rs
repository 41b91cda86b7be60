//! Model-based property tests: long random operation sequences against a `BTreeMap`, with
//! reopens, compactions and checkpoints inside them, at the smallest, default and largest page
//! sizes. `PROPTEST_CASES` raises the number of sequences (default: a few per page size).

// Test data: numbers cut to bytes and sizes wrap on purpose; the crate-wide lint is for values
// read from disk.
#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use proptest::prelude::*;
use wind_kvstore::{Durability, KVStore, OpenOptions, WriteBatch};

/// Operations per sequence: the acceptance asks for at least 10,000.
const OPS: usize = 10_000;

#[derive(Debug, Clone)]
enum KeySpec {
    /// One of a small set of keys, so that overwrites and deletes hit.
    Small(u16),
    /// Arbitrary bytes, 1 byte to the key limit (the `u8` scales the length).
    Bytes(Vec<u8>),
    /// A key exactly at the limit.
    Max(u8),
}

#[derive(Debug, Clone)]
enum ValSpec {
    Len(u32, u8),
}

#[derive(Debug, Clone)]
enum Op {
    Put(KeySpec, ValSpec),
    Delete(KeySpec),
    Get(KeySpec),
    Batch(Vec<(KeySpec, Option<ValSpec>)>),
    Range(KeySpec, KeySpec),
    /// Keys and value lengths in descending order, between two keys.
    KeysRev(KeySpec, KeySpec),
    Prefix(u8),
    Reopen,
    Compact,
    Checkpoint,
}

fn key_strategy() -> impl Strategy<Value = KeySpec> {
    prop_oneof![
        8 => (0u16..1500).prop_map(KeySpec::Small),
        2 => prop::collection::vec(any::<u8>(), 1..=64).prop_map(KeySpec::Bytes),
        1 => any::<u8>().prop_map(KeySpec::Max),
    ]
}

fn val_strategy() -> impl Strategy<Value = ValSpec> {
    prop_oneof![
        20 => (0u32..200, any::<u8>()).prop_map(|(l, s)| ValSpec::Len(l, s)),
        4 => (200u32..6000, any::<u8>()).prop_map(|(l, s)| ValSpec::Len(l, s)),
        1 => (6000u32..70_000, any::<u8>()).prop_map(|(l, s)| ValSpec::Len(l, s)),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        400 => (key_strategy(), val_strategy()).prop_map(|(k, v)| Op::Put(k, v)),
        150 => key_strategy().prop_map(Op::Delete),
        150 => key_strategy().prop_map(Op::Get),
        20 => prop::collection::vec((key_strategy(), prop::option::weighted(0.8, val_strategy())), 1..40).prop_map(Op::Batch),
        20 => (key_strategy(), key_strategy()).prop_map(|(a, b)| Op::Range(a, b)),
        10 => (key_strategy(), key_strategy()).prop_map(|(a, b)| Op::KeysRev(a, b)),
        10 => any::<u8>().prop_map(Op::Prefix),
        2 => Just(Op::Reopen),
        1 => Just(Op::Compact),
        2 => Just(Op::Checkpoint),
    ]
}

fn key_bytes(spec: &KeySpec, max_key: usize) -> Vec<u8> {
    match spec {
        KeySpec::Small(n) => format!("k{n:04}").into_bytes(),
        KeySpec::Bytes(b) => b.clone(),
        KeySpec::Max(fill) => vec![*fill; max_key],
    }
}

fn val_bytes(spec: &ValSpec) -> Vec<u8> {
    let ValSpec::Len(len, seed) = spec;
    let mut x = u32::from(*seed).wrapping_mul(0x9E37_79B9) | 1;
    (0..*len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// How a model run opens its store: page size, durability, and the write buffer's size (`None`:
/// the default).
#[derive(Clone, Copy)]
struct Setup {
    page_size: u32,
    durability: Durability,
    write_buffer: Option<usize>,
}

impl Setup {
    fn new(page_size: u32, durability: Durability) -> Setup {
        Setup { page_size, durability, write_buffer: None }
    }
}

fn open(path: &Path, setup: Setup) -> KVStore {
    let mut options = OpenOptions::new();
    options
        .page_size(setup.page_size)
        .durability(setup.durability)
        .cache_bytes(256 * 1024)
        .checkpoint_log_bytes(512 * 1024);
    if let Some(bytes) = setup.write_buffer {
        options.write_buffer_bytes(bytes);
    }
    options.open(path).expect("open")
}

fn assert_same(store: &KVStore, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    assert_eq!(store.len().unwrap(), model.len() as u64);
    let lengths: Vec<(Vec<u8>, u64)> = model.iter().map(|(k, v)| (k.clone(), v.len() as u64)).collect();
    let keys: Vec<(Vec<u8>, u64)> =
        store.keys(Bound::Unbounded, Bound::Unbounded).map(|r| r.expect("keys")).collect();
    assert!(keys == lengths, "key listing differs from the model");
    let mut rev: Vec<(Vec<u8>, u64)> =
        store.keys_rev(Bound::Unbounded, Bound::Unbounded).map(|r| r.expect("keys_rev")).collect();
    rev.reverse();
    assert!(rev == lengths, "descending key listing differs from the model");
    let got: Vec<(Vec<u8>, Vec<u8>)> = store.iter().map(|r| r.expect("scan")).collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert!(got == want, "full scan differs from the model ({} vs {} pairs)", got.len(), want.len());
    let report = store.check().expect("check");
    assert!(report.is_ok(), "check found problems: {:?}", report.problems);
}

fn run(ops: Vec<Op>, setup: Setup) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.db");
    let mut store = open(&path, setup);
    let max_key = store.max_key_bytes();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Put(k, v) => {
                let (k, v) = (key_bytes(k, max_key), val_bytes(v));
                store.put(&k, &v).expect("put");
                model.insert(k, v);
            }
            Op::Delete(k) => {
                let k = key_bytes(k, max_key);
                assert_eq!(store.delete(&k).expect("delete"), model.remove(&k).is_some());
            }
            Op::Get(k) => {
                let k = key_bytes(k, max_key);
                assert_eq!(store.get(&k).expect("get"), model.get(&k).cloned());
            }
            Op::Batch(items) => {
                let mut batch = WriteBatch::default();
                for (k, v) in items {
                    let k = key_bytes(k, max_key);
                    match v {
                        Some(v) => {
                            let v = val_bytes(v);
                            batch.put(&k, &v);
                            model.insert(k, v);
                        }
                        None => {
                            batch.delete(&k);
                            model.remove(&k);
                        }
                    }
                }
                store.write(batch).expect("batch");
            }
            Op::Range(a, b) => {
                let (a, b) = (key_bytes(a, max_key), key_bytes(b, max_key));
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let got: Vec<Vec<u8>> = store
                    .range_bounds(Bound::Included(lo.clone()), Bound::Excluded(hi.clone()))
                    .take(50)
                    .map(|r| r.expect("range").0)
                    .collect();
                let want: Vec<Vec<u8>> = model
                    .range::<Vec<u8>, _>((Bound::Included(lo), Bound::Excluded(hi)))
                    .take(50)
                    .map(|(k, _)| k.clone())
                    .collect();
                assert_eq!(got, want, "range at op {i}");
            }
            Op::KeysRev(a, b) => {
                let (a, b) = (key_bytes(a, max_key), key_bytes(b, max_key));
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let got: Vec<(Vec<u8>, u64)> = store
                    .keys_rev(Bound::Excluded(lo.clone()), Bound::Included(hi.clone()))
                    .take(50)
                    .map(|r| r.expect("keys_rev"))
                    .collect();
                let want: Vec<(Vec<u8>, u64)> = model
                    .range::<Vec<u8>, _>((Bound::Excluded(lo), Bound::Included(hi)))
                    .rev()
                    .take(50)
                    .map(|(k, v)| (k.clone(), v.len() as u64))
                    .collect();
                assert_eq!(got, want, "keys_rev at op {i}");
            }
            Op::Prefix(p) => {
                let prefix = format!("k{}", p % 16).into_bytes();
                let got: Vec<Vec<u8>> = store.prefix(&prefix).map(|r| r.expect("prefix").0).collect();
                let want: Vec<Vec<u8>> = model.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
                assert_eq!(got, want, "prefix at op {i}");
            }
            Op::Reopen => {
                drop(store);
                store = open(&path, setup);
            }
            Op::Compact => store.compact().expect("compact"),
            Op::Checkpoint => store.checkpoint().expect("checkpoint"),
        }
        if i % 2500 == 2499 {
            assert_same(&store, &model);
        }
    }
    assert_same(&store, &model);
    drop(store);
    let store = open(&path, setup);
    assert_same(&store, &model);
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    ProptestConfig { cases, max_shrink_iters: 64, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn model_default_page_size(ops in prop::collection::vec(op_strategy(), OPS)) {
        run(ops, Setup::new(4096, Durability::Buffered));
    }

    #[test]
    fn model_smallest_pages(ops in prop::collection::vec(op_strategy(), OPS)) {
        run(ops, Setup::new(1024, Durability::Buffered));
    }

    #[test]
    fn model_largest_pages(ops in prop::collection::vec(op_strategy(), OPS)) {
        run(ops, Setup::new(65536, Durability::Buffered));
    }

    #[test]
    fn model_immediate_durability(ops in prop::collection::vec(op_strategy(), 2_000)) {
        run(ops, Setup::new(4096, Durability::Immediate));
    }

    /// Every commit straight to the tree: batches (in key order, values in leaves) merged in one
    /// pass, neighbouring leaves they change packed together.
    #[test]
    fn model_without_write_buffer(ops in prop::collection::vec(op_strategy(), OPS)) {
        run(ops, Setup { write_buffer: Some(0), ..Setup::new(1024, Durability::Buffered) });
    }

    /// A buffer of 2 KiB: folded every few commits, and batches over half of it merged into the
    /// tree beside it.
    #[test]
    fn model_small_write_buffer(ops in prop::collection::vec(op_strategy(), OPS)) {
        run(ops, Setup { write_buffer: Some(2048), ..Setup::new(1024, Durability::Buffered) });
    }
}

/// Values from 0 bytes to several MiB, across reopen and compaction.
#[test]
fn multi_mib_values_across_reopen_and_compact() {
    for page_size in [1024u32, 4096, 65536] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.db");
        let mut model = BTreeMap::new();
        let store = open(&path, Setup::new(page_size, Durability::Immediate));
        for (i, len) in [0u32, 1, 1000, 5000, 70_000, 1 << 20, 3 << 20, 6 << 20].into_iter().enumerate() {
            let (k, v) = (vec![i as u8, 0xff, 0], val_bytes(&ValSpec::Len(len, i as u8)));
            store.put(&k, &v).unwrap();
            model.insert(k, v);
        }
        store.put([1u8, 0xff, 0], b"overwrites a MiB value").unwrap();
        model.insert(vec![1u8, 0xff, 0], b"overwrites a MiB value".to_vec());
        assert_same(&store, &model);
        drop(store);
        let store = open(&path, Setup::new(page_size, Durability::Immediate));
        assert_same(&store, &model);
        store.compact().unwrap();
        assert_same(&store, &model);
    }
}
