//! Measures recovery of a log of many small commits: `cargo run --release --example replay_bench
//! -- DIR` writes 200,000 puts of 100 bytes to `DIR/replay.db`, one commit each (buffered, then
//! flushed: every commit is its own record in the log), leaves them in the log as a crash would
//! (the handle is forgotten, so nothing checkpoints them), copies the two files, and times the
//! open that replays them (median of 5, each on a fresh copy). docs/BENCHMARKS.md quotes it.

use std::time::{Duration, Instant};

use wind_kvstore::{Durability, OpenOptions};

const COMMITS: u32 = 200_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: replay_bench DIR")?);
    let path = dir.join("replay.db");
    if path.exists() {
        return Err(format!("{} exists; remove it (and its .wal) first", path.display()).into());
    }
    let store =
        OpenOptions::new().durability(Durability::Buffered).checkpoint_log_bytes(1 << 30).open(&path)?;
    for i in 0..COMMITS {
        let key = format!("key:{:010}", u64::from(i).wrapping_mul(2_654_435_761) % 10_000_000_000);
        store.put(key, [b'v'; 100])?;
    }
    store.flush()?;
    let log = dir.join("replay.db.wal");
    let log_bytes = std::fs::metadata(&log)?.len();
    // A crash: no close, no checkpoint; the commits are only in the log.
    std::mem::forget(store);
    let mut times = Vec::new();
    for run in 0..5 {
        let copy = dir.join(format!("copy{run}.db"));
        std::fs::copy(&path, &copy)?;
        std::fs::copy(&log, dir.join(format!("copy{run}.db.wal")))?;
        let start = Instant::now();
        let store = OpenOptions::new().open(&copy)?;
        let took = start.elapsed();
        assert_eq!(store.len(), u64::from(COMMITS));
        assert_eq!(store.recovery_report().commits_replayed, u64::from(COMMITS));
        drop(store);
        times.push(took);
    }
    times.sort_unstable();
    let median: Duration = times[times.len() / 2];
    println!(
        "{COMMITS} commits in a {:.1} MiB log: open with recovery median {:.1} ms (of 5: {:?})",
        log_bytes as f64 / f64::from(1 << 20),
        median.as_secs_f64() * 1000.0,
        times.iter().map(|t| format!("{:.0} ms", t.as_secs_f64() * 1000.0)).collect::<Vec<_>>()
    );
    Ok(())
}
