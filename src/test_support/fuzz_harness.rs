//! What the fuzz targets in `fuzz/` run, and the bounded proptest forms of them in
//! `tests/crash_safety/`: each takes arbitrary bytes and panics only when the store breaks a
//! promise (feature `fault-injection`).
//!
//! - [`open_bytes`]: the bytes become a data file or a log, raw or as mutations of a real
//!   store with every checksum recomputed (so damage gets past the checksums and reaches the
//!   structure checks). Opening, checking, reading every key and page, and writing must end in
//!   `Ok` or an error: never a panic, a hang or an allocation the file cannot justify.
//! - [`resealed_pages`]: the bytes pick one page of a real store and change fields of it (bytes,
//!   `u16` and `u64` fields set to boundary values, two slots swapped); only that page's checksum
//!   is recomputed, so the damage reaches the decoders' invariant checks. The same promise as
//!   [`open_bytes`].
//! - [`model_ops`]: the bytes become a sequence of operations, reopens, power cuts and injected
//!   faults (failing writes and syncs, a full disk, a crash at the n-th sync) over
//!   [`FaultyVfs`]; the store must always agree with a `BTreeMap` model: exactly while healthy,
//!   and after a fault or a crash at a state no older than the last durable one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::io::FaultyVfs;
use crate::io::faulty::Rng;
use crate::layout::file::{FILE_HEADER_BYTES, HEADER_OFFSETS, META_SLOT_BYTES, META_SLOT_OFFSETS, seal_page};
use crate::wal;
use crate::{Durability, KVStore, OpenOptions, WriteBatch};

/// Page size of the fuzzed stores: small, so little input makes deep trees.
const PAGE_SIZE: u32 = 1024;
/// Work done on an opened store is bounded by these, whatever the file claims.
const MAX_KEYS_READ: usize = 10_000;
const MAX_PAGES_INSPECTED: u64 = 10_000;

fn db() -> PathBuf {
    PathBuf::from("/fuzz/store.db")
}

/// A small real store (data file and log, closed cleanly), made once.
fn reference() -> &'static (Vec<u8>, Vec<u8>) {
    static REF: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    REF.get_or_init(|| {
        let vfs = FaultyVfs::new();
        let store = options(&vfs, Durability::Immediate).open(db()).expect("reference store");
        // Small, so each run is quick, but with branches, overflow chains and a free list.
        for i in 0..120u32 {
            let len = if i % 9 == 0 { 2500 } else { (i % 50) as usize };
            store.put(format!("key{i:04}"), vec![i.to_le_bytes()[0]; len]).expect("reference put");
        }
        for i in (0..120u32).step_by(4) {
            store.delete(format!("key{i:04}")).expect("reference delete");
        }
        store.checkpoint().expect("reference checkpoint");
        store.put(b"after", b"checkpoint").expect("reference put");
        store.close().expect("reference close");
        vfs.restart();
        let log = crate::log_path(&db());
        (vfs.read_file(&db()).expect("data"), vfs.read_file(&log).expect("log"))
    })
}

fn options(vfs: &FaultyVfs, durability: Durability) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.vfs(Arc::new(vfs.clone()))
        .page_size(PAGE_SIZE)
        .durability(durability)
        .checkpoint_log_bytes(64 * 1024)
        .cache_bytes(64 * 1024);
    o
}

/// Recompute the file header's, both meta slots' and every page's checksum.
fn reseal(data: &mut [u8]) {
    let ps = PAGE_SIZE as usize;
    for at in HEADER_OFFSETS {
        if data.len() >= at + FILE_HEADER_BYTES {
            let crc = crc32fast::hash(&data[at..at + FILE_HEADER_BYTES - 4]);
            data[at + FILE_HEADER_BYTES - 4..at + FILE_HEADER_BYTES].copy_from_slice(&crc.to_le_bytes());
        }
    }
    for at in META_SLOT_OFFSETS {
        if data.len() >= at + META_SLOT_BYTES {
            let crc = crc32fast::hash(&data[at..at + META_SLOT_BYTES - 4]);
            data[at + META_SLOT_BYTES - 4..at + META_SLOT_BYTES].copy_from_slice(&crc.to_le_bytes());
        }
    }
    for (page, chunk) in data.chunks_mut(ps).enumerate().skip(1) {
        if chunk.len() == ps {
            seal_page(page as u64, chunk);
        }
    }
}

/// Apply `(offset, value)` mutations read from `input` to `data`.
fn mutate(data: &mut Vec<u8>, input: &[u8]) {
    for m in input.chunks(4) {
        if m.len() < 4 || data.is_empty() {
            break;
        }
        let at = u32::from_le_bytes([m[0], m[1], m[2], 0]) as usize % data.len();
        match m[3] {
            // Rarely: cut the file here.
            0 => data.truncate(at),
            v => data[at] = v,
        }
    }
}

/// A log of records with correct checksums and sequence numbers, their bodies from `input`.
fn log_of(header: &[u8], first_seq: u64, input: &[u8]) -> Vec<u8> {
    let mut log = header.to_vec();
    let mut rest = input;
    let mut seq = first_seq;
    while let Some((&n, tail)) = rest.split_first() {
        let n = (n as usize).min(tail.len());
        let (body, tail) = tail.split_at(n);
        let start = log.len();
        // A record header (docs/FORMAT.md) around the fuzzed body: length, checksum, sequence.
        log.extend_from_slice(&u32::try_from(body.len()).expect("a small record").to_le_bytes());
        log.extend_from_slice(&[0; 4]);
        log.extend_from_slice(&seq.to_le_bytes());
        log.extend_from_slice(body);
        let rec = &mut log[start..];
        let mut h = crc32fast::Hasher::new();
        h.update(&rec[0..4]);
        h.update(&rec[8..]);
        let crc = h.finalize();
        rec[4..8].copy_from_slice(&crc.to_le_bytes());
        seq += 1;
        rest = tail;
    }
    log
}

/// Open a store from arbitrary bytes and use it; panics only on a broken promise (a panic
/// inside the store is one).
pub fn open_bytes(input: &[u8]) {
    let Some((&mode, input)) = input.split_first() else { return };
    let (ref_data, ref_log) = reference();
    let (data, log) = match mode % 4 {
        0 => (input.to_vec(), None),
        1 => {
            let mut d = ref_data.clone();
            mutate(&mut d, input);
            reseal(&mut d);
            (d, Some(ref_log.clone()))
        }
        2 => {
            let mut d = ref_data.clone();
            mutate(&mut d, input);
            (d, Some(ref_log.clone()))
        }
        _ => {
            let first_seq = u64::from(mode >> 2);
            let header = &ref_log[..wal::LOG_HEADER_LEN.min(ref_log.len())];
            (ref_data.clone(), Some(log_of(header, first_seq, input)))
        }
    };
    open_and_use(&data, log.as_deref());
}

/// Writes that decode and re-encode every leaf of the reference store, so a damaged one is met
/// on the write path too: every third key deleted (one commit), then every key put again with a
/// value one byte longer (another).
fn rewrite_every_leaf(store: &KVStore) {
    let keys: Vec<(Vec<u8>, usize)> = (0..120u32)
        .filter(|i| i % 4 != 0)
        .map(|i| (format!("key{i:04}").into_bytes(), if i % 9 == 0 { 2500 } else { (i % 50) as usize }))
        .chain([(b"after".to_vec(), 10)])
        .collect();
    let mut deletes = WriteBatch::default();
    for (k, _) in keys.iter().step_by(3) {
        deletes.delete(k);
    }
    let _ = store.write(deletes);
    let mut puts = WriteBatch::default();
    for (k, len) in &keys {
        puts.put(k, vec![7u8; len + 1]);
    }
    let _ = store.write(puts);
    let _ = store.checkpoint();
}

/// Values a `u16` field of a page is set to: around the header, the slots, the limits of
/// entries and the end of a 1 KiB page (docs/FORMAT.md, "Limits").
const U16_EDGES: [u16; 16] =
    [0, 1, 2, 15, 16, 17, 252, 253, 315, 316, 1007, 1008, 1022, 1023, 1024, u16::MAX];

/// The page of the reference store `input` picks, with the fields it names changed and only that
/// page resealed; `None` when the input is too short to pick one.
pub fn resealed_page(input: &[u8]) -> Option<(Vec<u8>, u64)> {
    let (pick, edits) = input.split_first_chunk::<2>()?;
    let (ref_data, _) = reference();
    let ps = PAGE_SIZE as usize;
    let pages = ref_data.len() / ps;
    let pick = usize::from(u16::from_le_bytes(*pick));
    // Most inputs pick a leaf or branch, where one changed field does the most harm.
    let tree_pages: Vec<usize> = (1..pages).filter(|p| matches!(ref_data[p * ps], 1 | 2)).collect();
    let page = match pick % 4 {
        0 => 1 + pick / 4 % pages.checked_sub(1).filter(|n| *n > 0)?,
        _ => *tree_pages.get(pick / 4 % tree_pages.len().max(1))?,
    };
    let page_no = page as u64;
    let u64_edges =
        [0, 1, 2, page_no, page_no + 1, pages as u64 - 1, pages as u64, 1 << 32, 1 << 60, u64::MAX];
    let mut data = ref_data.clone();
    let bytes = &mut data[page * ps..(page + 1) * ps];
    // Where the page's entries start, if it is a leaf or branch: edits may aim at their fields.
    let count = usize::from(u16::from_le_bytes([bytes[2], bytes[3]]));
    let slot = |i: usize| (16 + 2 * i).min(ps - 2);
    for e in edits.chunks_exact(4) {
        let at = usize::from(u16::from_le_bytes([e[1], e[2]]));
        // Half the edits land in the header and the first slots, where one byte matters most.
        let at = if e[0] & 0x80 != 0 { at % 48 } else { at % ps };
        let u16_edge = U16_EDGES[usize::from(e[3]) % U16_EDGES.len()];
        match e[0] % 6 {
            0 => bytes[at] = e[3],
            1 => {
                let at = at.min(ps - 2);
                bytes[at..at + 2].copy_from_slice(&u16_edge.to_le_bytes());
            }
            2 => {
                let at = at.min(ps - 8);
                let v = u64_edges[usize::from(e[3]) % u64_edges.len()];
                bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
            3 | 4 => {
                // Swap two entry slots (keys out of order), or copy one over another (two slots
                // on one entry: the entries overlap).
                let (a, b) = (slot(usize::from(e[1]) % count.max(1)), slot(usize::from(e[3]) % count.max(1)));
                let (x, y) = ([bytes[a], bytes[a + 1]], [bytes[b], bytes[b + 1]]);
                if e[0] % 6 == 3 {
                    bytes[a..a + 2].copy_from_slice(&y);
                }
                bytes[b..b + 2].copy_from_slice(&x);
            }
            _ => {
                // A field of an entry: its key length, kind, value length or link.
                let s = slot(usize::from(e[1]) % count.max(1));
                let entry = usize::from(u16::from_le_bytes([bytes[s], bytes[s + 1]]));
                let at = (entry + usize::from(e[2] % 20)).min(ps - 2);
                bytes[at..at + 2].copy_from_slice(&u16_edge.to_le_bytes());
            }
        }
    }
    seal_page(page_no, bytes);
    Some((data, page_no))
}

/// A store made of `data` (and `log`), opened read-only and then writable, used each way.
fn open_and_use(data: &[u8], log: Option<&[u8]>) {
    let vfs = FaultyVfs::new();
    vfs.write_file(&db(), data);
    if let Some(log) = log {
        vfs.write_file(&crate::log_path(&db()), log);
    }
    for read_only in [true, false] {
        let mut o = options(&vfs, Durability::Immediate);
        o.read_only(read_only).create(false);
        if let Ok(store) = o.open(db()) {
            if !read_only {
                rewrite_every_leaf(&store);
            }
            exercise(&store, read_only);
        }
    }
}

/// Open the reference store with one page changed and resealed ([`resealed_page`]) and use it;
/// panics only on a broken promise (a panic inside the store is one).
pub fn resealed_pages(input: &[u8]) {
    let Some((data, _)) = resealed_page(input) else { return };
    open_and_use(&data, Some(&reference().1));
}

/// Everything a user can do to a store, bounded; errors are fine, panics are not.
fn exercise(store: &KVStore, read_only: bool) {
    let _ = store.check();
    let _ = store.stats();
    let _ = store.free_pages();
    let pages = store.page_count().min(MAX_PAGES_INSPECTED);
    for page in 0..pages {
        let _ = store.page_info(page);
    }
    for summary in store.pages().take(usize::try_from(MAX_PAGES_INSPECTED).unwrap_or(usize::MAX)) {
        let _ = summary;
    }
    let mut keys = Vec::new();
    for item in store.keys(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded).take(MAX_KEYS_READ) {
        match item {
            Ok((k, _)) => keys.push(k),
            Err(_) => break,
        }
    }
    for k in &keys {
        let _ = store.get(k);
        let _ = store.get_prefix(k, 10);
    }
    for item in store.iter().take(MAX_KEYS_READ) {
        if item.is_err() {
            break;
        }
    }
    if !read_only {
        let _ = store.put(b"fuzz", b"value");
        let _ = store.put(b"fuzz-large", vec![7u8; 3000]);
        if let Some(k) = keys.first() {
            let _ = store.delete(k);
        }
        let _ = store.checkpoint();
        let _ = store.compact();
        let _ = store.check();
    }
}

// ---------------------------------------------------------------- model-based operations

/// The state the store must show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Model {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    /// Flush (Buffered) or checkpoint: everything before it becomes durable.
    Durable(bool),
    Compact,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Put(k, v) => {
                self.map.insert(k.clone(), v.clone());
            }
            Op::Delete(k) => {
                self.map.remove(k);
            }
            Op::Batch(items) => {
                for (k, v) in items {
                    match v {
                        Some(v) => self.map.insert(k.clone(), v.clone()),
                        None => self.map.remove(k),
                    };
                }
            }
            Op::Durable(_) | Op::Compact => {}
        }
    }
}

fn run(store: &KVStore, op: &Op) -> crate::Result<()> {
    match op {
        Op::Put(k, v) => store.put(k, v),
        Op::Delete(k) => store.delete(k).map(|_| ()),
        Op::Batch(items) => {
            let mut b = WriteBatch::default();
            for (k, v) in items {
                match v {
                    Some(v) => b.put(k, v),
                    None => b.delete(k),
                };
            }
            store.write(b)
        }
        Op::Durable(true) => store.flush(),
        Op::Durable(false) => store.checkpoint(),
        Op::Compact => store.compact(),
    }
}

fn read_all(store: &KVStore) -> crate::Result<Model> {
    let mut map = BTreeMap::new();
    for item in store.iter() {
        let (k, v) = item?;
        map.insert(k, v);
    }
    Ok(Model { map })
}

/// Reads the input a byte at a time; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
}

struct Harness {
    vfs: FaultyVfs,
    durability: Durability,
    store: Option<KVStore>,
    /// States the store may come back in after a power cut: the last durable one first, the
    /// current one last.
    states: Vec<Model>,
    /// A fault was injected: the next operations may fail.
    armed: bool,
}

impl Harness {
    fn current(&self) -> &Model {
        self.states.last().expect("never empty")
    }

    fn open(&self) -> KVStore {
        options(&self.vfs, self.durability)
            .open(db())
            .unwrap_or_else(|e| panic!("reopen without faults failed: {e}"))
    }

    /// After a failure, a crash or on request: end the process (cutting the power when
    /// `power_cut` says so), start again, and check that the store came back in one of the
    /// states allowed: exactly the current one after a clean close, else any since the last
    /// durable one, or `also` (the state with the operation that failed or was cut short).
    fn restart(&mut self, power_cut: Option<u64>, lossy: bool, also: Option<Model>) {
        if let Some(seed) = power_cut {
            self.vfs.crash_now(Some(seed));
        }
        let poisoned = self.store.as_ref().is_some_and(|s| s.poison_reason().is_some());
        self.store = None;
        let crashed = self.vfs.crashed();
        self.vfs.restart();
        let store = self.open();
        let report = store.check().unwrap_or_else(|e| panic!("check after restart failed: {e}"));
        assert!(report.is_ok(), "check after restart: {:?}", report.problems);
        let got = read_all(&store).unwrap_or_else(|e| panic!("reads after restart failed: {e}"));
        // A clean close keeps everything; a crash or a poisoned store may lose what was not
        // durable yet.
        let allowed: Vec<&Model> = if crashed || poisoned || lossy || also.is_some() {
            self.states.iter().chain(also.as_ref()).collect()
        } else {
            vec![self.current()]
        };
        assert!(
            allowed.iter().any(|m| **m == got),
            "after restart the store holds {} keys, none of the {} states allowed (current: {} keys)",
            got.map.len(),
            allowed.len(),
            self.current().map.len()
        );
        self.states = vec![got];
        self.store = Some(store);
        self.armed = false;
    }

    fn step(&mut self, op: Op) {
        let store = self.store.as_ref().expect("open");
        let result = run(store, &op);
        let mut after = self.current().clone();
        after.apply(&op);
        if self.vfs.crashed() {
            return self.restart(None, true, Some(after));
        }
        match result {
            Ok(()) => {
                let durable =
                    self.durability == Durability::Immediate || matches!(op, Op::Durable(_) | Op::Compact);
                if durable {
                    self.states.clear();
                }
                self.states.push(after);
            }
            Err(e) => {
                assert!(self.armed, "an operation failed with no fault injected: {e}");
                self.vfs.clear_faults();
                self.restart(None, true, Some(after));
            }
        }
    }

    fn verify_reads(&mut self) {
        let store = self.store.as_ref().expect("open");
        match read_all(store) {
            Ok(got) => assert!(got == *self.current(), "reads disagree with the model"),
            Err(e) => assert!(self.armed, "reads failed with no fault injected: {e}"),
        }
    }
}

/// Run the operations, faults and crashes the bytes describe against the model.
pub fn model_ops(input: &[u8]) {
    let mut input = Input(input);
    let flags = input.byte();
    let durability = if flags & 1 == 0 { Durability::Immediate } else { Durability::Buffered };
    let vfs = FaultyVfs::new();
    let store = options(&vfs, durability).open(db()).expect("create");
    let mut h = Harness { vfs, durability, store: Some(store), states: vec![Model::default()], armed: false };
    let mut tag = 0u64;
    let mut value = |len: usize| {
        tag += 1;
        let mut v = vec![0u8; len];
        Rng::new(tag).fill(&mut v);
        v
    };
    let key = |b: u8| format!("k{:02}", b % 40).into_bytes();
    while !input.0.is_empty() {
        match input.byte() % 16 {
            0..=4 => {
                let k = key(input.byte());
                let v = value(input.byte() as usize);
                h.step(Op::Put(k, v));
            }
            5 => {
                let k = key(input.byte());
                let v = value(1000 + 40 * input.byte() as usize);
                h.step(Op::Put(k, v));
            }
            6 | 7 => h.step(Op::Delete(key(input.byte()))),
            8 => {
                let n = 1 + input.byte() % 6;
                let items = (0..n)
                    .map(|_| {
                        let k = key(input.byte());
                        let b = input.byte();
                        (k, (b % 4 != 0).then(|| value(b as usize * 8)))
                    })
                    .collect();
                h.step(Op::Batch(items));
            }
            9 => h.step(Op::Durable(true)),
            10 => h.step(Op::Durable(false)),
            11 => h.step(Op::Compact),
            12 => {
                let store = h.store.take().expect("open");
                let r = store.close();
                let failed = h.vfs.crashed() || r.is_err();
                assert!(!failed || h.armed, "close failed with no fault injected: {r:?}");
                h.restart(None, failed, None);
            }
            13 => {
                let seed = u64::from(input.byte());
                h.restart(Some(seed), true, None);
            }
            14 => {
                let n = u64::from(input.byte() % 16) + 1;
                let seed = u64::from(input.byte());
                match input.byte() % 4 {
                    0 => h.vfs.fail_io_at(n),
                    1 => h.vfs.fail_sync_at(n, seed),
                    2 => h.vfs.crash_at_sync(n, seed),
                    _ => {
                        let total = h.vfs.total_bytes();
                        h.vfs.set_capacity(Some(total + n * 512));
                    }
                }
                h.armed = true;
            }
            _ => h.verify_reads(),
        }
    }
    h.vfs.clear_faults();
    let lossy = h.armed;
    h.restart(None, lossy, None);
}
