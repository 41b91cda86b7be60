//! Measures the workloads that decide the default page size, at each page size:
//! `cargo run --release --example page_size -- [KEYS]` (default 200,000 keys of 24 random bytes
//! with 150-byte random values, as in redb's benchmark).

// Test data: numbers cut to bytes and sizes wrap on purpose; the crate-wide lint is for values
// read from disk.
#![allow(clippy::cast_possible_truncation)]

use std::time::{Duration, Instant};

use wind_kvstore::{Durability, OpenOptions, WriteBatch};

fn rng(seed: &mut u64) -> u64 {
    // xorshift64*: fixed, dependency-free, good enough for benchmark data.
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn bytes(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng(seed) as u8).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(200_000);
    let mut seed = 0x5eed_u64;
    let data: Vec<(Vec<u8>, Vec<u8>)> =
        (0..keys).map(|_| (bytes(&mut seed, 24), bytes(&mut seed, 150))).collect();
    let mut order: Vec<usize> = (0..keys).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng(&mut seed) as usize % (i + 1));
    }
    println!("| page size | bulk load | random get | 1,000 durable puts | scan all | file size |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for page_size in [1024u32, 2048, 4096, 8192, 16384, 65536] {
        let dir = tempfile_dir()?;
        let path = dir.join("bench.db");
        let store = OpenOptions::new().page_size(page_size).open(&path)?;
        let t = Instant::now();
        let mut batch = WriteBatch::default();
        for (k, v) in &data {
            batch.put(k, v);
        }
        store.write(batch)?;
        store.checkpoint()?;
        let bulk = t.elapsed();
        let t = Instant::now();
        for &i in &order {
            assert!(store.get(&data[i].0)?.is_some());
        }
        let get = t.elapsed() / keys as u32;
        let t = Instant::now();
        for (k, v) in data.iter().take(1000) {
            store.put(k, v)?;
        }
        let puts = t.elapsed();
        let t = Instant::now();
        assert_eq!(store.iter().count(), keys);
        let scan = t.elapsed();
        drop(store);
        let size = std::fs::metadata(&path)?.len();
        let store = OpenOptions::new().durability(Durability::Buffered).open(&path)?;
        drop(store);
        println!(
            "| {page_size} | {} | {} | {} | {} | {:.1} MiB |",
            ms(bulk),
            ns(get),
            ms(puts),
            ms(scan),
            size as f64 / (1 << 20) as f64
        );
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn ns(d: Duration) -> String {
    format!("{} ns", d.as_nanos())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("wk-page-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
