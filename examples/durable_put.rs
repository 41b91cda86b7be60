//! Durable single puts against the fsync floor of this disk:
//! `cargo run --release --example durable_put -- [N]`.

use std::os::unix::fs::FileExt;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let dir = std::env::current_dir()?.join(format!("durable-put-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let probe = std::fs::File::create(dir.join("probe"))?;
    let store = wind_kvstore::KVStore::open(dir.join("d.db"), None)?;
    let (mut fsyncs, mut puts) = (Vec::new(), Vec::new());
    for i in 0..n {
        let t = Instant::now();
        probe.write_all_at(&[1u8; 200], (i * 200) as u64)?;
        probe.sync_data()?;
        fsyncs.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        store.put(format!("key{i:08}"), [7u8; 150])?;
        puts.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (f, p) = (median(fsyncs), median(puts));
    println!("append 200 B + fdatasync: median {f:.0} us; durable put: median {p:.0} us; ratio {:.2}", p / f);
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
