//! Workloads, the model they are checked against, and helpers shared by the crash tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wind_kvstore::io::FaultyVfs;
use wind_kvstore::io::faulty::Rng;
use wind_kvstore::{Durability, KVStore, OpenOptions, Result, WriteBatch};

/// Small pages: deep trees, splits, merges and overflow chains from a few hundred keys.
pub const PAGE_SIZE: u32 = 1024;
/// The smallest checkpoint threshold the store accepts, so workloads checkpoint often.
pub const CHECKPOINT_LOG_BYTES: u64 = 64 * 1024;
pub const IDENTIFIER: &str = "CrashTest";

pub fn db() -> PathBuf {
    PathBuf::from("/crash/store.db")
}

pub fn wal() -> PathBuf {
    wind_kvstore::log_path(&db())
}

/// Whether the long campaign was asked for (`WK_CRASH_LONG=1`).
pub fn long_run() -> bool {
    std::env::var("WK_CRASH_LONG").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A value's bytes, all determined by its description: `len` bytes seeded by `tag`.
pub fn value_bytes(len: usize, tag: u64) -> Vec<u8> {
    let mut rng = Rng::new(tag);
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    v
}

/// A value by description: `(length, tag)`, see [`value_bytes`].
pub type ValueSpec = (usize, u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(Vec<u8>, usize, u64),
    Delete(Vec<u8>),
    /// `None` deletes.
    Batch(Vec<(Vec<u8>, Option<ValueSpec>)>),
    SetIdentifier(String),
    Flush,
    Checkpoint,
    Compact,
}

impl Op {
    /// After this op returns `Ok`, is everything before it durable in `Buffered` mode too?
    pub fn makes_durable(&self) -> bool {
        matches!(self, Op::Flush | Op::Checkpoint | Op::Compact)
    }
}

/// The state a store should show: its pairs and identifier.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Model {
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
    pub identifier: String,
}

impl Model {
    pub fn new() -> Model {
        Model { map: BTreeMap::new(), identifier: IDENTIFIER.to_owned() }
    }

    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Put(k, len, tag) => {
                self.map.insert(k.clone(), value_bytes(*len, *tag));
            }
            Op::Delete(k) => {
                self.map.remove(k);
            }
            Op::Batch(items) => {
                for (k, v) in items {
                    match v {
                        Some((len, tag)) => self.map.insert(k.clone(), value_bytes(*len, *tag)),
                        None => self.map.remove(k),
                    };
                }
            }
            Op::SetIdentifier(id) => self.identifier = id.clone(),
            Op::Flush | Op::Checkpoint | Op::Compact => {}
        }
    }

    /// Short description for failure messages.
    pub fn summary(&self) -> String {
        format!("{} keys, identifier {:?}", self.map.len(), self.identifier)
    }
}

/// `states[i]`: the model after the first `i` ops.
pub fn states(ops: &[Op]) -> Vec<Model> {
    let mut out = vec![Model::new()];
    let mut m = Model::new();
    for op in ops {
        m.apply(op);
        out.push(m.clone());
    }
    out
}

/// Run one op. `set_identifier` needs `&mut`.
pub fn run_op(store: &mut KVStore, op: &Op) -> Result<()> {
    match op {
        Op::Put(k, len, tag) => store.put(k, value_bytes(*len, *tag)),
        Op::Delete(k) => store.delete(k).map(|_| ()),
        Op::Batch(items) => {
            let mut b = WriteBatch::default();
            for (k, v) in items {
                match v {
                    Some((len, tag)) => b.put(k, value_bytes(*len, *tag)),
                    None => b.delete(k),
                };
            }
            store.write(b)
        }
        Op::SetIdentifier(id) => store.set_identifier(id),
        Op::Flush => store.flush(),
        Op::Checkpoint => store.checkpoint(),
        Op::Compact => store.compact(),
    }
}

pub fn key(n: u64) -> Vec<u8> {
    format!("key{n:04}").into_bytes()
}

/// A mixed workload: small puts and overwrites, values in overflow chains (which also grow
/// the file and the log past the checkpoint threshold), deletes, batches, identifier changes,
/// flushes, explicit checkpoints and one compaction.
pub fn mixed_workload(seed: u64, ops: usize) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(ops);
    let mut tag = seed << 32;
    let mut next_tag = || {
        tag += 1;
        tag
    };
    for i in 0..ops {
        let k = key(rng.below(60));
        let op = match rng.below(100) {
            _ if i == ops / 2 => Op::Compact,
            0..=44 => Op::Put(k, 1 + rng.below(120) as usize, next_tag()),
            45..=59 => Op::Put(k, 1500 + rng.below(9000) as usize, next_tag()),
            60..=74 => Op::Delete(k),
            75..=86 => {
                let n = 2 + rng.below(8);
                let items = (0..n)
                    .map(|_| {
                        let k = key(rng.below(60));
                        match rng.below(5) {
                            0 => (k, None),
                            1 => (k, Some((2000 + rng.below(3000) as usize, next_tag()))),
                            _ => (k, Some((1 + rng.below(200) as usize, next_tag()))),
                        }
                    })
                    .collect();
                Op::Batch(items)
            }
            87..=89 => Op::SetIdentifier(format!("id-{i}")),
            90..=95 => Op::Flush,
            _ => Op::Checkpoint,
        };
        out.push(op);
    }
    out
}

pub fn options(vfs: &FaultyVfs, durability: Durability) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.vfs(Arc::new(vfs.clone()))
        .page_size(PAGE_SIZE)
        .identifier(IDENTIFIER)
        .durability(durability)
        .checkpoint_log_bytes(CHECKPOINT_LOG_BYTES)
        .cache_bytes(256 * 1024);
    o
}

/// What a run of a workload got done before it ended or the machine crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Ops that returned `Ok` before the crash.
    pub acked: usize,
    /// Ops whose effects are promised to survive a crash: all acked ops in `Immediate` mode,
    /// those up to the last acked flush, checkpoint or compaction in `Buffered` mode.
    pub durable: usize,
    /// Ops started: `acked`, plus one when the crash hit an op in flight.
    pub attempted: usize,
    pub crashed: bool,
}

/// Open the store on `vfs` and run `ops` until they end or the file system crashes; then close
/// (or drop, after a crash).
pub fn run_workload(vfs: &FaultyVfs, durability: Durability, ops: &[Op]) -> Outcome {
    let mut out = Outcome { acked: 0, durable: 0, attempted: 0, crashed: false };
    let mut store = match options(vfs, durability).open(db()) {
        Ok(s) => s,
        Err(e) => {
            assert!(vfs.crashed(), "open failed without a crash: {e}");
            out.crashed = true;
            return out;
        }
    };
    for (i, op) in ops.iter().enumerate() {
        out.attempted = i + 1;
        let r = run_op(&mut store, op);
        if vfs.crashed() {
            out.crashed = true;
            return out;
        }
        if let Err(e) = r {
            panic!("op {i} {op:?} failed without a fault: {e}");
        }
        out.acked = i + 1;
        if durability == Durability::Immediate || op.makes_durable() {
            out.durable = i + 1;
        }
    }
    let r = store.close();
    if vfs.crashed() {
        out.crashed = true;
        return out;
    }
    r.expect("close without a fault");
    out.durable = ops.len();
    out
}

/// Everything the store shows.
pub fn dump(store: &KVStore) -> Result<Model> {
    let mut map = BTreeMap::new();
    for item in store.iter() {
        let (k, v) = item?;
        map.insert(k, v);
    }
    Ok(Model { map, identifier: store.get_identifier().to_owned() })
}

/// Open after a crash and check: open succeeds, `check()` is clean, and the contents equal
/// `states[j]` for some `j` in `lo..=hi`. Returns `j`.
pub fn verify_recovered(vfs: &FaultyVfs, states: &[Model], lo: usize, hi: usize, what: &str) -> usize {
    let store = options(vfs, Durability::Immediate)
        .open(db())
        .unwrap_or_else(|e| panic!("{what}: open after the crash failed: {e}"));
    let report = store.check().unwrap_or_else(|e| panic!("{what}: check failed: {e}"));
    assert!(report.is_ok(), "{what}: check found {:?}", report.problems);
    let got = dump(&store).unwrap_or_else(|e| panic!("{what}: reading back failed: {e}"));
    assert_eq!(store.len().unwrap(), got.map.len() as u64, "{what}: key count");
    let found = (lo..=hi).rev().find(|&j| states[j] == got);
    let Some(j) = found else {
        let nearest = states.iter().position(|s| *s == got);
        panic!(
            "{what}: recovered state ({}) is none of the states {lo}..={hi} (it equals state {nearest:?}); \
             state {lo}: {}, state {hi}: {}",
            got.summary(),
            states[lo].summary(),
            states[hi].summary()
        );
    };
    store.close().unwrap_or_else(|e| panic!("{what}: close after recovery failed: {e}"));
    j
}

/// Bytes of `path` on `vfs`, which must exist.
pub fn file(vfs: &FaultyVfs, path: &Path) -> Vec<u8> {
    vfs.read_file(path).unwrap_or_else(|| panic!("{} missing", path.display()))
}
