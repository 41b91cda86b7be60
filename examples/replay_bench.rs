//! Measures recovery: `cargo run --release --example replay_bench -- DIR [small|batches|full]`.
//!
//! - `small` (the default): 200,000 puts of 100 bytes to `DIR/replay.db`, one commit each
//!   (buffered, then flushed: every commit is its own record in the log).
//! - `batches`: a store of 200,000 keys (24 random bytes, 150-byte values) checkpointed, then 35
//!   commits of 1,000 random puts each in the log.
//! - `full`: the store of `batches`, then 76 such commits through a 16 MiB write buffer (the
//!   default's largest), which the 79th would fill and checkpoint: the fullest log such a
//!   store leaves (`wind-compare`'s "open after kill -9" replays part of one).
//!
//! `small` and `batches` write with the write buffer off, so that the log keeps every commit
//! (a full buffer would checkpoint). The replay reads no page of the tree for the key count:
//! the `len()` checked after each timed open looks the buffered keys up.
//!
//! Either way the commits are left in the log as a crash would leave them (the handle is
//! forgotten, so nothing checkpoints them); the two files are copied (and synced, as the
//! commits were before the crash) and the open that replays them is timed (median of 5, each
//! on a fresh copy). docs/BENCHMARKS.md quotes it.

#[path = "common/pairs.rs"]
mod pairs;

use std::time::{Duration, Instant};

use wind_kvstore::{Durability, OpenOptions, WriteBatch};

const COMMITS: u32 = 200_000;
const BASE_KEYS: u64 = 200_000;
const BATCHES: u64 = 35;
/// Commits of `BATCH_PUTS` that a 16 MiB write buffer holds without filling (214 bytes each
/// there: a 24-byte key, a 150-byte value, a 12-byte slot, and the key again with its end in
/// the list of keys new to the buffer, for the key count).
const FULL_BATCHES: u64 = 76;
const FULL_BUFFER_BYTES: usize = 16 << 20;
const BATCH_PUTS: u64 = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: replay_bench DIR")?);
    let path = dir.join("replay.db");
    if path.exists() {
        return Err(format!("{} exists; remove it (and its .wal) first", path.display()).into());
    }
    let (batches, buffer) = match std::env::args().nth(2).as_deref() {
        None | Some("small") => (0, 0),
        Some("batches") => (BATCHES, 0),
        Some("full") => (FULL_BATCHES, FULL_BUFFER_BYTES),
        Some(other) => return Err(format!("unknown scenario {other:?}: small, batches or full").into()),
    };
    // The opens that replay: the default write buffer, or the one `full` writes through.
    let options = || {
        let mut o = OpenOptions::new();
        if buffer > 0 {
            o.write_buffer_bytes(buffer);
        }
        o
    };
    // Every commit stays in the log: no checkpoint (and for `small` and `batches` no write
    // buffer, whose filling would checkpoint).
    let store = OpenOptions::new()
        .durability(Durability::Buffered)
        .checkpoint_log_bytes(1 << 30)
        .write_buffer_bytes(buffer)
        .open(&path)?;
    let (commits, keys) = if batches > 0 {
        let mut pairs = pairs::Pairs::new();
        pairs.load(&store, BASE_KEYS)?;
        for _ in 0..batches {
            let mut batch = WriteBatch::new();
            for _ in 0..BATCH_PUTS {
                let (k, v) = pairs.next_pair();
                batch.put(k, v);
            }
            store.write(batch)?;
        }
        (batches, BASE_KEYS + batches * BATCH_PUTS)
    } else {
        for i in 0..COMMITS {
            let key = format!("key:{:010}", u64::from(i).wrapping_mul(2_654_435_761) % 10_000_000_000);
            store.put(key, [b'v'; 100])?;
        }
        (u64::from(COMMITS), u64::from(COMMITS))
    };
    store.flush()?;
    let log = dir.join("replay.db.wal");
    let log_bytes = std::fs::metadata(&log)?.len();
    // A crash: no close, no checkpoint; the commits are only in the log.
    std::mem::forget(store);
    let (mut times, mut read_only) = (Vec::new(), Vec::new());
    for run in 0..5 {
        let copy = dir.join(format!("copy{run}.db"));
        let copy_log = dir.join(format!("copy{run}.db.wal"));
        std::fs::copy(&path, &copy)?;
        std::fs::copy(&log, &copy_log)?;
        // On disk, as the crashed writer's flush left them: the writer's open syncs the log
        // before it replays, which would otherwise write the copy out inside the timed open.
        for file in [&copy, &copy_log] {
            std::fs::File::open(file)?.sync_all()?;
        }
        // A reader first (it changes nothing on disk), then the writer's open.
        let start = Instant::now();
        let reader = options().read_only(true).open(&copy)?;
        read_only.push(start.elapsed());
        assert_eq!(reader.len().unwrap(), keys);
        drop(reader);
        let start = Instant::now();
        let store = options().open(&copy)?;
        let took = start.elapsed();
        assert_eq!(store.len().unwrap(), keys);
        assert_eq!(store.recovery_report().commits_replayed, commits);
        drop(store);
        times.push(took);
    }
    times.sort_unstable();
    read_only.sort_unstable();
    let median: Duration = times[times.len() / 2];
    let ms = |t: &Duration| format!("{:.0} ms", t.as_secs_f64() * 1000.0);
    println!(
        "{commits} commits in a {:.1} MiB log: open with recovery median {:.1} ms (of 5: {:?}); \
         read-only open median {:.1} ms (of 5: {:?})",
        log_bytes as f64 / f64::from(1 << 20),
        median.as_secs_f64() * 1000.0,
        times.iter().map(ms).collect::<Vec<_>>(),
        read_only[read_only.len() / 2].as_secs_f64() * 1000.0,
        read_only.iter().map(ms).collect::<Vec<_>>(),
    );
    Ok(())
}
