//! Builds a store for trying and measuring the browser: `cargo run --release --example
//! make_store -- PATH [KEYS]` writes KEYS (default 20,000) pairs in one `WriteBatch`: 24-byte
//! text keys (`user:0000000000000000042`) and 150-byte JSON values. `docs/TUI.md` uses it for
//! the 1,000,000-key measurement.

// Test data: numbers cut to bytes and sizes wrap on purpose; the crate-wide lint is for values
// read from disk.
#![allow(clippy::cast_possible_truncation)]

use std::time::Instant;

use wind_kvstore::{KVStore, WriteBatch};

/// Key and value sizes of the measurement (as in redb's benchmark).
const KEY_BYTES: usize = 24;
const VALUE_BYTES: usize = 150;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: make_store PATH [KEYS]")?;
    let keys: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(20_000);
    if std::path::Path::new(&path).exists() {
        return Err(format!("{path} exists; remove it (and {path}.wal) first").into());
    }
    let started = Instant::now();
    let store = KVStore::open(&path, Some("TuiBench"))?;
    let mut batch = WriteBatch::new();
    for i in 0..keys {
        let key = format!("user:{i:0width$}", width = KEY_BYTES - 5);
        let mut value = format!("{{\"id\":{i},\"name\":\"user {i}\",\"group\":{},\"pad\":\"", i % 97);
        while value.len() < VALUE_BYTES - 2 {
            value.push((b'a' + (value.len() % 26) as u8) as char);
        }
        value.push_str("\"}");
        debug_assert_eq!((key.len(), value.len()), (KEY_BYTES, VALUE_BYTES));
        batch.put(key, value);
    }
    store.write(batch)?;
    store.close()?;
    println!("{keys} keys written to {path} in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
