//! Memory of a large write: during `put` and a `WriteBatch` commit the store holds at most one
//! more copy of the value than the caller does (the log record it is encoded into), in both
//! durability modes. Memory of a read-only open: bounded by its cache, not by the log it replays.
//! Memory of a large read: the value's pages do not stay mapped. Measured with a counting global allocator, which is why this test is a
//! binary of its own: every allocation of the process goes through it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use wind_kvstore::{Durability, KVStore, OpenOptions, WriteBatch};

/// `System`, counting the bytes allocated now and the most allocated at once since the last
/// [`reset_peak`].
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn grew(by: usize) {
        let now = CURRENT.fetch_add(by, Ordering::SeqCst) + by;
        PEAK.fetch_max(now, Ordering::SeqCst);
    }

    fn shrank(by: usize) {
        CURRENT.fetch_sub(by, Ordering::SeqCst);
    }
}

// SAFETY: every call is passed on to `System` unchanged; the counters only observe sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Counting::grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Counting::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) };
        Counting::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A moving realloc holds both blocks for a moment: count the new one first.
        Counting::grew(new_size);
        // SAFETY: as for `dealloc`; `new_size` is the caller's, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            Counting::shrank(new_size);
        } else {
            Counting::shrank(layout.size());
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One measurement at a time: the counters are the whole process's.
static SERIAL: Mutex<()> = Mutex::new(());

/// Heap in use now, and the peak set back to it.
fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::SeqCst);
    PEAK.store(now, Ordering::SeqCst);
    now
}

/// The most heap held at once since `base` was taken by [`reset_peak`], beyond `base`.
fn peak_above(base: usize) -> usize {
    PEAK.load(Ordering::SeqCst).saturating_sub(base)
}

const VALUE_BYTES: usize = 64 << 20;

/// A value whose bytes differ along it, so a read-back proves the right bytes were stored.
fn big_value() -> Vec<u8> {
    let pattern: Vec<u8> = (0..=250u8).collect();
    let mut value = Vec::with_capacity(VALUE_BYTES);
    while value.len() < VALUE_BYTES {
        let n = pattern.len().min(VALUE_BYTES - value.len());
        value.extend_from_slice(&pattern[..n]);
    }
    value
}

fn open(dir: &tempfile::TempDir, durability: Durability) -> KVStore {
    OpenOptions::new().durability(durability).open(dir.path().join("memory.db")).unwrap()
}

/// Peak heap beyond what the caller holds while `write` runs, as a multiple of the value.
fn ratio(extra: usize) -> f64 {
    extra as f64 / VALUE_BYTES as f64
}

/// Beyond the caller's own copy, one more copy of the value and slack, not two.
const LIMIT: f64 = 1.5;

fn check_put(durability: Durability) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, durability);
    store.put("small", "before").unwrap();
    let value = big_value();
    let base = reset_peak();
    store.put("big", &value).unwrap();
    let extra = peak_above(base);
    eprintln!("put ({durability:?}): peak extra heap {extra} bytes, {:.3}x the value", ratio(extra));
    assert!(
        ratio(extra) < LIMIT,
        "put ({durability:?}) held {extra} bytes beyond the caller's value ({:.3}x of {VALUE_BYTES})",
        ratio(extra)
    );
    drop(store);
    let store = open(&dir, durability);
    assert!(store.get("big").unwrap().as_deref() == Some(&value[..]), "the value survives a reopen");
    assert_eq!(store.get("small").unwrap().as_deref(), Some(&b"before"[..]));
}

fn check_batch(durability: Durability) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, durability);
    let value = big_value();
    let mut batch = WriteBatch::new();
    batch.put("big", &value).put("small", "beside it").delete("nothing");
    // The batch holds a copy of its own: the caller's, for this measurement.
    let base = reset_peak();
    store.write(batch).unwrap();
    let extra = peak_above(base);
    eprintln!("batch ({durability:?}): peak extra heap {extra} bytes, {:.3}x the value", ratio(extra));
    assert!(
        ratio(extra) < LIMIT,
        "a batch ({durability:?}) held {extra} bytes beyond the caller's value ({:.3}x of {VALUE_BYTES})",
        ratio(extra)
    );
    drop(store);
    let store = open(&dir, durability);
    assert!(store.get("big").unwrap().as_deref() == Some(&value[..]), "the value survives a reopen");
    assert_eq!(store.get("small").unwrap().as_deref(), Some(&b"beside it"[..]));
}

#[test]
fn a_durable_put_holds_the_value_at_most_twice() {
    check_put(Durability::Immediate);
}

#[test]
fn a_buffered_put_holds_the_value_at_most_twice() {
    check_put(Durability::Buffered);
}

#[test]
fn a_durable_batch_holds_its_value_at_most_twice() {
    check_batch(Durability::Immediate);
}

#[test]
fn a_buffered_batch_holds_its_value_at_most_twice() {
    check_batch(Durability::Buffered);
}

// A read-only open beside a writer replays the commits still only in the log. The pages that
// replay makes go to a private scratch file and are read back through the cache, so the memory
// the reader takes is bounded by its cache, not by the log.

const KEYS: u32 = 150_000;
const MIB: usize = 1 << 20;

fn key(i: u32) -> Vec<u8> {
    // Scattered, so the replay touches pages all over the tree.
    format!("k:{:08}", i.wrapping_mul(2_654_435_761) % 100_000_000).into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    format!("{i:>200}").into_bytes()
}

#[test]
fn a_read_only_open_takes_memory_by_its_cache_not_by_the_log() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("replay.db");
    // The writer never checkpoints while the test reads: every commit stays in the log (no
    // write buffer, whose filling would checkpoint).
    let writer = OpenOptions::new()
        .durability(Durability::Buffered)
        .checkpoint_log_bytes(1 << 30)
        .write_buffer_bytes(0)
        .open(&path)
        .expect("open writable");
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1_000) {
        let mut batch = WriteBatch::new();
        for &i in chunk {
            batch.put(key(i), value(i));
        }
        writer.write(batch).expect("commit");
    }
    let log_bytes = std::fs::metadata(path.with_file_name("replay.db.wal")).expect("log").len();
    assert!(log_bytes > 30 * MIB as u64, "the log holds the commits: {log_bytes} bytes");

    let before = reset_peak();
    let reader = OpenOptions::new().read_only(true).cache_bytes(MIB).open(&path).expect("open read-only");
    let peak = peak_above(before);
    let kept = CURRENT.load(Ordering::SeqCst).saturating_sub(before);
    println!(
        "log {:.1} MiB: the read-only open peaked at {:.1} MiB of heap and kept {:.1} MiB",
        log_bytes as f64 / MIB as f64,
        peak as f64 / MIB as f64,
        kept as f64 / MIB as f64
    );

    assert_eq!(reader.len().unwrap(), u64::from(KEYS), "the reader sees every commit in the log");
    for i in (0..KEYS).step_by(37) {
        assert_eq!(reader.get(key(i)).expect("get"), Some(value(i)), "key {i}");
    }
    assert_eq!(reader.iter().count(), usize::try_from(KEYS).expect("fits"));
    assert!(reader.check().expect("check").is_ok());
    assert!(peak < 12 * MIB, "the open peaked at {peak} bytes of heap for a {log_bytes}-byte log");
    assert!(kept < 6 * MIB, "the open kept {kept} bytes of heap for a {log_bytes}-byte log");
    drop(writer);
}

/// This process's resident memory mapped from files (`RssFile` in /proc/self/status), in bytes.
fn mapped_resident() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("RssFile:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssFile");
    kib * 1024
}

/// A large value read through the memory map is let go of once read: its pages do not stay in
/// the process's resident memory for as long as the map lives (a benchmark that read 800 MiB of
/// values ended with 800 MiB resident). The writer reads it in place and drops the mapping; a
/// read-only handle reads it with a copy.
#[test]
fn reading_a_large_value_leaves_none_of_it_mapped() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("temp dir");
    let value = big_value();
    let store = open(&dir, Durability::Immediate);
    store.put("big", &value).expect("put");
    store.close().expect("close");
    // The file is now whole on disk, its pages in the page cache: each open maps it afresh.
    let store = open(&dir, Durability::Immediate);
    let reader = OpenOptions::new().read_only(true).open(dir.path().join("memory.db")).expect("read-only");
    for (who, handle) in [("writer", &store), ("read-only handle", &reader)] {
        let before = mapped_resident();
        let mut out = Vec::new();
        assert!(handle.get_into("big", &mut out).expect("read"));
        assert!(out == value, "{who}: the value read back whole");
        let grew = mapped_resident().saturating_sub(before);
        println!("{who}: reading a {} MiB value left {} KiB more mapped", VALUE_BYTES >> 20, grew >> 10);
        assert!(grew < VALUE_BYTES / 8, "{who}: {grew} bytes of the {VALUE_BYTES}-byte value stayed mapped");
    }
}
