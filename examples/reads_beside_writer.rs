//! Reads beside a writer making small commits:
//! `cargo run --release --example reads_beside_writer -- DIR`.
//!
//! A store of 200,000 keys (16-byte keys, 100-byte values) in `DIR/m.db`, loaded in one batch,
//! checkpointed and read once whole (the cache warm). Then one thread makes 1,000,000 random
//! gets while another puts random keys one commit at a time (`Durability::Buffered`, so each
//! goes to the write buffer) for as long as the gets run. Prints the gets' time and the writer's
//! commits. docs/BENCHMARKS.md (sixth round) quotes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use wind_kvstore::{Durability, OpenOptions, WriteBatch};

const KEYS: u64 = 200_000;
const GETS: u64 = 1_000_000;

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// xorshift64: a fixed sequence of key numbers below `KEYS`.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state % KEYS
}

fn main() -> wind_kvstore::Result<()> {
    let dir = std::env::args().nth(1).expect("usage: reads_beside_writer DIR");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(OpenOptions::new().durability(Durability::Buffered).open(format!("{dir}/m.db"))?);
    let mut batch = WriteBatch::new();
    for i in 0..KEYS {
        batch.put(key(i), [7u8; 100]);
    }
    store.write(batch)?;
    store.checkpoint()?;
    for i in 0..KEYS {
        store.get(key(i))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || -> wind_kvstore::Result<u64> {
            let (mut commits, mut state) = (0, 1);
            while !stop.load(Ordering::Relaxed) {
                store.put(key(next(&mut state)), [8u8; 100])?;
                commits += 1;
            }
            Ok(commits)
        })
    };
    let mut state = 2;
    let start = Instant::now();
    for _ in 0..GETS {
        assert!(store.get(key(next(&mut state)))?.is_some());
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let commits = writer.join().expect("writer thread")?;
    println!(
        "{GETS} gets beside a writer: {:.0} ms; the writer's commits meanwhile: {commits} ({:.0} k/s)",
        secs * 1e3,
        commits as f64 / secs / 1e3
    );
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
