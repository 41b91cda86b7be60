//! A read-path workload for profilers: `valgrind --tool=callgrind target/release/examples/get_profile`.
//! Loads KEYS (default 200,000) pairs in one batch, then reads them all in random order.

// Test data: numbers cut to bytes and sizes wrap on purpose; the crate-wide lint is for values
// read from disk.
#![allow(clippy::cast_possible_truncation)]

use wind_kvstore::{OpenOptions, WriteBatch};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(200_000);
    let mut seed = 0x5eed_u64;
    let mut next = move || {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let data: Vec<(Vec<u8>, Vec<u8>)> = (0..keys)
        .map(|_| ((0..24).map(|_| next() as u8).collect(), (0..150).map(|_| next() as u8).collect()))
        .collect();
    let dir = std::env::temp_dir().join(format!("wk-get-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = OpenOptions::new().open(dir.join("p.db"))?;
    let mut batch = WriteBatch::default();
    for (k, v) in &data {
        batch.put(k, v);
    }
    store.write(batch)?;
    store.checkpoint()?;
    let start = std::time::Instant::now();
    let mut found = 0;
    for i in 0..keys {
        let j = (next() as usize) % keys;
        found += store.get(&data[j].0)?.is_some() as usize;
        let _ = i;
    }
    println!("{found} found, {:?} per get", start.elapsed() / keys as u32);
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
