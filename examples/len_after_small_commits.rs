//! What the first `len()` costs after small commits: `cargo run --release --example
//! len_after_small_commits -- DIR`.
//!
//! A store of 200,000 keys (24 random bytes, 150-byte values) is loaded and checkpointed; then,
//! for each of 1, 100, 1,000, 10,000 and 50,000 single-put commits (new random keys, non-durable,
//! all in the write buffer), the first `len()` after them is timed, then a second one. A commit
//! does not look its key up in the tree for the count; the first `len()` after it does, for
//! every key new to the buffer since the last count (docs/BENCHMARKS.md, seventh round). Last,
//! 10,000 puts each followed by a `len()`, against 10,000 puts alone.

#[path = "common/pairs.rs"]
mod pairs;

use std::time::Instant;

use wind_kvstore::{Durability, OpenOptions};

const BASE_KEYS: u64 = 200_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: len_after_small_commits DIR")?);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("len.db");
    if path.exists() {
        return Err(format!("{} exists; remove it (and its .wal) first", path.display()).into());
    }
    let mut pairs = pairs::Pairs::new();
    let store = OpenOptions::new().durability(Durability::Buffered).open(&path)?;
    pairs.load(&store, BASE_KEYS)?;
    let mut keys = store.len()?;
    for commits in [1u64, 100, 1_000, 10_000, 50_000] {
        for _ in 0..commits {
            let (k, v) = pairs.next_pair();
            store.put(k, v)?;
        }
        keys += commits;
        let start = Instant::now();
        let first = store.len()?;
        let first_took = start.elapsed();
        let start = Instant::now();
        let second = store.len()?;
        let second_took = start.elapsed();
        assert_eq!((first, second), (keys, keys));
        println!(
            "after {commits:>6} small commits: first len() {:>9.1} µs, second {:>5.1} µs ({keys} keys)",
            first_took.as_secs_f64() * 1e6,
            second_took.as_secs_f64() * 1e6
        );
    }
    // Each from an empty buffer: 10,000 puts alone, then 10,000 each followed by a count, which
    // looks up the one key its commit added.
    let rounds = 10_000u64;
    store.checkpoint()?;
    let start = Instant::now();
    for _ in 0..rounds {
        let (k, v) = pairs.next_pair();
        store.put(k, v)?;
    }
    let alone = start.elapsed();
    keys += rounds;
    store.checkpoint()?;
    let start = Instant::now();
    for _ in 0..rounds {
        let (k, v) = pairs.next_pair();
        store.put(k, v)?;
        keys += 1;
        assert_eq!(store.len()?, keys);
    }
    let counted = start.elapsed();
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / rounds as f64;
    println!(
        "{rounds} puts: {:.2} µs each alone, {:.2} µs each with a len() after it",
        per(alone),
        per(counted)
    );
    store.close()?;
    Ok(())
}
