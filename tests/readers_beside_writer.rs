//! Read-only `wkstore-tui --exec` processes beside a writer that commits and checkpoints all the
//! while: none may die of a signal. (While the log was read through a memory map, a reader
//! replaying it as the writer cut it at a checkpoint died of SIGBUS: 7 runs in 200 here; and a
//! record cut away under the reader was an I/O error: 33 in 200.) Nor may any end in an error:
//! each pins its checkpoint in the reader table, so the writer never reuses a page it reads (see
//! docs/DURABILITY.md, "Reading"). `WK_READERS_LONG=1` runs 1,000 readers instead of 200.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use wind_kvstore::{Durability, OpenOptions, WriteBatch};

const BIN: &str = env!("CARGO_BIN_EXE_wkstore-tui");

#[test]
fn read_only_runs_beside_a_checkpointing_writer_never_die_of_a_signal() {
    let runs: usize = if std::env::var_os("WK_READERS_LONG").is_some() { 1_000 } else { 200 };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.db");
    let store = Arc::new(
        OpenOptions::new()
            .durability(Durability::Buffered)
            .checkpoint_log_bytes(64 << 20)
            .open(&path)
            .unwrap(),
    );
    let mut batch = WriteBatch::new();
    for i in 0..5_000u32 {
        batch.put(format!("key{i:05}"), vec![b'v'; 100]);
    }
    store.write(batch).unwrap();
    store.checkpoint().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop, commits) = (store.clone(), stop.clone(), commits.clone());
        thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let mut batch = WriteBatch::new();
                for j in 0..20u32 {
                    let k = (n.wrapping_mul(7919) + j * 131) % 5_000;
                    batch.put(format!("key{k:05}"), vec![b'a' + (n % 26) as u8; 100 + (j as usize % 50)]);
                }
                store.write(batch).unwrap();
                // Log records reach the file for readers to replay (enough of them that a reader
                // would map the log), then the writer cuts the log at a checkpoint.
                store.flush().unwrap();
                n += 1;
                if n.is_multiple_of(100) {
                    store.checkpoint().unwrap();
                }
                commits.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let (mut signalled, mut failed) = (Vec::new(), 0usize);
    let mut first_error = None;
    for run in 0..runs {
        let out = Command::new(BIN)
            .arg(&path)
            .args(["--read-only", "--exec", "COUNT; SCAN LIMIT 10;"])
            .output()
            .expect("wkstore-tui runs");
        if let Some(signal) = out.status.signal() {
            signalled.push((run, signal, String::from_utf8_lossy(&out.stderr).into_owned()));
        } else if !out.status.success() {
            failed += 1;
            first_error.get_or_insert_with(|| String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let commits = commits.load(Ordering::Relaxed);
    eprintln!(
        "{runs} read-only runs beside {commits} commits: {} killed by a signal, {failed} ended in an error{}",
        signalled.len(),
        first_error.map(|e| format!(" (the first: {e})")).unwrap_or_default()
    );
    assert!(commits > 0, "the writer committed nothing");
    assert!(signalled.is_empty(), "readers killed by a signal: {signalled:?}");
    assert_eq!(failed, 0, "readers ended in an error");
}

/// The writer's log is written ahead with zeros, so a commit changes neither its length nor,
/// within the clock's tick, its modification time: a read-only handle must still see every
/// commit (`data_version` moves, `refresh` reads it), however quickly they follow each other.
#[test]
fn a_reader_sees_commits_that_leave_the_log_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let writer = OpenOptions::new().durability(Durability::Immediate).open(&path).unwrap();
    writer.put("k0", "v").unwrap();
    let log_len = std::fs::metadata(wind_kvstore::log_path(&path)).unwrap().len();
    assert_eq!(log_len % (64 << 10), 0, "the log is written ahead 64 KiB at a time: {log_len}");
    let mut reader = OpenOptions::new().read_only(true).open(&path).unwrap();
    for i in 1..200u32 {
        let seen = reader.data_version();
        writer.put(format!("k{i}"), "v").unwrap();
        assert_eq!(std::fs::metadata(wind_kvstore::log_path(&path)).unwrap().len(), log_len);
        assert_ne!(reader.data_version(), seen, "commit {i}: the reader's data_version did not move");
        reader.refresh().unwrap();
        assert_eq!(reader.get(format!("k{i}")).unwrap().as_deref(), Some(&b"v"[..]), "commit {i}");
        assert_eq!(reader.len().unwrap(), u64::from(i) + 1);
    }
}
