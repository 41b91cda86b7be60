//! Durable puts of values of one size, alone and among batches of small commits:
//! `cargo run --release --example value_sizes -- DIR`.
//!
//! For each size (256 KiB to 6 MiB), a fresh store under `DIR` takes 64 MiB of values of that
//! size, each in a durable `put` of its own: once with nothing between them ("alone"), once with
//! a durable batch of 1,000 small puts (24-byte keys, 150-byte values) before each ("mixed", whose
//! time counts the batches too). Prints the time and the rate of the large values' bytes.
//! docs/BENCHMARKS.md quotes it (seventh round: which commits skip the log).

#[path = "common/pairs.rs"]
#[allow(dead_code)] // `Pairs::load` is not used here
mod pairs;

use std::time::Instant;

use wind_kvstore::{KVStore, WriteBatch};

const TOTAL_BYTES: usize = 64 << 20;
const SIZES: [usize; 5] = [256 << 10, 1 << 20, 2 << 20, 3 << 20, 6 << 20];
const SMALL_PUTS: u64 = 1_000;

fn run(dir: &std::path::Path, size: usize, mixed: bool) -> Result<f64, Box<dyn std::error::Error>> {
    let run_dir = dir.join(format!("sizes-{size}-{mixed}"));
    std::fs::create_dir_all(&run_dir)?;
    let store = KVStore::open(run_dir.join("v.db"), None)?;
    let mut pairs = pairs::Pairs::new();
    let mut value: Vec<u8> = (0..=250u8).cycle().take(size).collect();
    let start = Instant::now();
    for i in 0..TOTAL_BYTES / size {
        if mixed {
            let mut batch = WriteBatch::new();
            for _ in 0..SMALL_PUTS {
                let (k, v) = pairs.next_pair();
                batch.put(k, v);
            }
            store.write(batch)?;
        }
        value[..8].copy_from_slice(&(i as u64).to_le_bytes());
        store.put(format!("large{i:06}"), &value)?;
    }
    let secs = start.elapsed().as_secs_f64();
    store.close()?;
    std::fs::remove_dir_all(&run_dir)?;
    Ok(secs)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: value_sizes DIR")?);
    std::fs::create_dir_all(&dir)?;
    for size in SIZES {
        let alone = run(&dir, size, false)?;
        let mixed = run(&dir, size, true)?;
        let mib = TOTAL_BYTES as f64 / f64::from(1 << 20);
        println!(
            "{:>5} KiB x {:>3}: alone {:.2} s ({:.0} MiB/s); mixed with batches of {SMALL_PUTS} small puts {:.2} s",
            size >> 10,
            TOTAL_BYTES / size,
            alone,
            mib / alone,
            mixed,
        );
    }
    Ok(())
}
