//! A read-only open beside a writer replays the commits still only in the log. The pages that
//! replay makes go to a private scratch file and are read back through the cache, so the memory
//! the reader takes is bounded by its cache, not by the log: this test counts every heap byte
//! the open allocates (its own binary, for the counting allocator).

// A global allocator is an `unsafe` trait: the counting wrapper below is the only `unsafe` here,
// and it hands every call to `System` unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use wind_kvstore::{Durability, OpenOptions};

/// `System`, counting the bytes live now and the most live since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to `System` unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `System::alloc`, with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `System::realloc`, with the caller's pointer and layout.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let live =
                    LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("replay.db");
    // The writer never checkpoints while the test reads: every commit stays in the log.
    let writer = OpenOptions::new()
        .durability(Durability::Buffered)
        .checkpoint_log_bytes(1 << 30)
        .open(&path)
        .expect("open writable");
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1_000) {
        let mut batch = wind_kvstore::WriteBatch::new();
        for &i in chunk {
            batch.put(key(i), value(i));
        }
        writer.write(batch).expect("commit");
    }
    let log_bytes = std::fs::metadata(path.with_file_name("replay.db.wal")).expect("log").len();
    assert!(log_bytes > 30 * MIB as u64, "the log holds the commits: {log_bytes} bytes");

    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let reader = OpenOptions::new().read_only(true).cache_bytes(MIB).open(&path).expect("open read-only");
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let kept = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    println!(
        "log {:.1} MiB: the read-only open peaked at {:.1} MiB of heap and kept {:.1} MiB",
        log_bytes as f64 / MIB as f64,
        peak as f64 / MIB as f64,
        kept as f64 / MIB as f64
    );

    assert_eq!(reader.len(), u64::from(KEYS), "the reader sees every commit in the log");
    for i in (0..KEYS).step_by(37) {
        assert_eq!(reader.get(key(i)).expect("get"), Some(value(i)), "key {i}");
    }
    assert_eq!(reader.iter().count(), usize::try_from(KEYS).expect("fits"));
    assert!(reader.check().expect("check").is_ok());
    assert!(peak < 12 * MIB, "the open peaked at {peak} bytes of heap for a {log_bytes}-byte log");
    assert!(kept < 6 * MIB, "the open kept {kept} bytes of heap for a {log_bytes}-byte log");
    drop(writer);
}
