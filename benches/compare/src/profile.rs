//! `--profile WORKLOAD`: one workload on one engine, set up untimed, for a profiler. The work
//! itself runs inside [`measured`], a function that is never inlined, so a profiler can be told
//! to count only it (`valgrind --tool=callgrind --toggle-collect='*measured*'`). The close after
//! the workload is measured on a line of its own: what the workload left in memory is written
//! there.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};

use crate::engines::{self, Kind, Store};
use crate::workloads::{BATCH_SIZE, BATCHES, INDIVIDUAL_WRITES, LARGE_VALUE_BYTES, Pairs, SEED, read_keys};

pub const WORKLOADS: &str = "bulk, individual, nondurable, batch, reads, scans, removals, compact, open, recovery, large-write, large-read";

#[inline(never)]
fn measured<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    let out = f();
    eprintln!("measured part: {:.3} s", start.elapsed().as_secs_f64());
    out
}

fn load(store: &dyn Store, keys: u64) -> Result<()> {
    let mut pairs = Pairs::new(SEED);
    store.write(&mut |b| {
        for _ in 0..keys {
            let (k, v) = pairs.next_pair();
            b.put(&k, &v)?;
        }
        Ok(())
    })
}

pub fn run(kind: Kind, workload: &str, keys: u64, dir: &Path, cache_bytes: usize) -> Result<()> {
    let db_dir = dir.join("profile");
    let _ = std::fs::remove_dir_all(&db_dir);
    let store = engines::open(kind, &db_dir, cache_bytes)?;
    if workload == "bulk" {
        measured(|| load(&*store, keys))?;
        return store.close();
    }
    load(&*store, keys)?;
    match workload {
        "individual" => measured(|| {
            let mut pairs = Pairs::new(SEED ^ 1);
            (0..INDIVIDUAL_WRITES).try_for_each(|_| {
                let (k, v) = pairs.next_pair();
                store.write(&mut |b| b.put(&k, &v))
            })
        })?,
        "batch" => measured(|| {
            let mut pairs = Pairs::new(SEED ^ 1);
            (0..BATCHES).try_for_each(|_| {
                store.write(&mut |b| {
                    (0..BATCH_SIZE).try_for_each(|_| {
                        let (k, v) = pairs.next_pair();
                        b.put(&k, &v)
                    })
                })
            })
        })?,
        "reads" => measured(|| read_keys(&*store, 0, keys))?,
        "scans" => measured(|| {
            let mut pairs = Pairs::new(SEED);
            let mut reader = store.reader()?;
            (0..keys / 2).try_for_each(|_| {
                let (k, _) = pairs.next_pair();
                reader.scan(&k, 10, &mut |_, _| {}).map(|_| ())
            })
        })?,
        "removals" => measured(|| {
            let mut pairs = Pairs::new(SEED);
            store.write(&mut |b| (0..keys / 2).try_for_each(|_| b.delete(&pairs.next_pair().0)))
        })?,
        "nondurable" => {
            let mut store = store;
            store.set_durable(false)?;
            measured(|| {
                let mut pairs = Pairs::new(SEED ^ 1);
                (0..keys / 20).try_for_each(|_| {
                    let (k, v) = pairs.next_pair();
                    store.write(&mut |b| b.put(&k, &v))
                })
            })?;
            return measured(|| store.close());
        }
        "compact" => {
            let mut store = store;
            let mut pairs = Pairs::new(SEED);
            store.write(&mut |b| (0..keys / 2).try_for_each(|_| b.delete(&pairs.next_pair().0)))?;
            measured(|| store.compact())?;
            return store.close();
        }
        "open" => {
            store.close()?;
            let store = measured(|| engines::open(kind, &db_dir, cache_bytes))?;
            return store.close();
        }
        "recovery" => {
            store.close()?;
            crate::workloads::crash_child(kind, &db_dir, cache_bytes)?;
            let store = measured(|| engines::open(kind, &db_dir, cache_bytes))?;
            return store.close();
        }
        "large-write" | "large-read" => {
            let mut big = vec![0u8; LARGE_VALUE_BYTES];
            fastrand::Rng::with_seed(SEED).fill(&mut big);
            let keys: Vec<[u8; 8]> = (0..100u64).map(|i| i.to_be_bytes()).collect();
            let write = || {
                keys.chunks(20)
                    .try_for_each(|chunk| store.write(&mut |b| chunk.iter().try_for_each(|k| b.put(k, &big))))
            };
            if workload == "large-write" {
                measured(write)?;
                return measured(|| store.close());
            }
            write()?;
            // As the table's workload reads them: in the pieces the engine lends, every byte compared.
            measured(|| {
                let mut reader = store.reader()?;
                keys.iter().try_for_each(|k| {
                    let (mut ok, mut at) = (true, 0);
                    reader.get_chunks(k, &mut |piece| {
                        ok &= big.get(at..at + piece.len()) == Some(piece);
                        at += piece.len();
                    })?;
                    anyhow::ensure!(ok && at == big.len(), "a large value did not read back whole");
                    Ok(())
                })
            })?
        }
        other => bail!("unknown workload {other:?}: expected one of {WORKLOADS}"),
    }
    // What the workload left for later (an engine that buffers writes in memory writes them out
    // here): measured too, on its own line.
    measured(|| store.close())
}
