//! Measures what a large free list costs: `cargo run --release --example freelist_bench -- DIR`
//! builds `DIR/free.db` with 2 KiB pages and about 266,000 free pages (515 values of 1 MiB, each
//! an overflow chain of 517 pages, written, checkpointed, then deleted but for one, checkpointed),
//! then times opening it (median of 9) and a checkpoint after one put (median of 21).
//! docs/BENCHMARKS.md ("Free list") quotes it.

use std::time::{Duration, Instant};

use wind_kvstore::OpenOptions;

const VALUES: u32 = 515;
const VALUE_BYTES: usize = 1 << 20;

fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.page_size(2048);
    o
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort_unstable();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: freelist_bench DIR")?;
    let path = std::path::Path::new(&dir).join("free.db");
    if path.exists() {
        return Err(format!("{} exists; remove it (and its .wal) first", path.display()).into());
    }
    let started = Instant::now();
    let store = options().open(&path)?;
    let value = vec![7u8; VALUE_BYTES];
    for i in 0..VALUES {
        store.put(format!("value{i:04}"), &value)?;
    }
    store.checkpoint()?;
    for i in 1..VALUES {
        store.delete(format!("value{i:04}"))?;
    }
    store.checkpoint()?;
    store.close()?;
    println!("built {} in {:.1} s", path.display(), started.elapsed().as_secs_f64());

    let mut opens = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        let store = options().open(&path)?;
        opens.push(t.elapsed());
        store.close()?;
    }
    let store = options().open(&path)?;
    let s = store.stats();
    println!("{} pages, {} free, {} free-list pages", s.page_count, s.free_pages, s.freelist_pages);
    let mut checkpoints = Vec::new();
    for i in 0..21u32 {
        store.put(b"one", i.to_le_bytes())?;
        let t = Instant::now();
        store.checkpoint()?;
        checkpoints.push(t.elapsed());
    }
    let s = store.stats();
    println!("after: {} pages, {} free, {} free-list pages", s.page_count, s.free_pages, s.freelist_pages);
    println!("open: {:.2} ms (median of 9)", median(opens));
    println!("one-put checkpoint: {:.2} ms (median of 21)", median(checkpoints));
    store.close()?;
    Ok(())
}
