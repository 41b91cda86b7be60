//! Failing syncs and a full disk.

use wind_kvstore::io::FaultyVfs;
use wind_kvstore::{Durability, Error, KVStore};

use crate::common::*;

fn seeds() -> u64 {
    if long_run() { 40 } else { 4 }
}

/// Reads of everything, and `check()`, on a store that may be poisoned.
fn assert_readable(store: &KVStore, states: &[Model], lo: usize, hi: usize, what: &str) {
    let got = dump(store).unwrap_or_else(|e| panic!("{what}: reads failed: {e}"));
    assert!(
        (lo..=hi).any(|j| states[j] == got),
        "{what}: reads show {} (none of states {lo}..={hi})",
        got.summary()
    );
    let report = store.check().unwrap_or_else(|e| panic!("{what}: check failed: {e}"));
    // A poisoned store keeps in memory what the failed operation did to the allocator (pages
    // it took, counts it changed): leaks that reopening discards. Anything else is damage.
    let poisoned = store.poison_reason().is_some();
    let damage: Vec<_> = report
        .problems
        .iter()
        .filter(|p| {
            !(poisoned && (p.message.contains("leaked") || p.message.contains("the meta slot counts")))
        })
        .collect();
    assert!(damage.is_empty(), "{what}: {damage:?}");
}

/// Every sync of a workload fails once, in turn: the store refuses writes from then on, reads
/// still work, and after a restart (and after a power cut) nothing acknowledged is missing.
#[test]
fn failing_fsync_poisons_the_store_and_loses_nothing_acknowledged() {
    let ops = mixed_workload(4, 60);
    let states = states(&ops);
    let dry = FaultyVfs::new();
    run_workload(&dry, Durability::Immediate, &ops);
    let total = dry.syncs();
    let mut poisoned = 0;
    for point in 1..=total {
        for seed in 0..seeds() {
            let what = format!("fsync {point}/{total} fails, seed {seed}");
            let vfs = FaultyVfs::new();
            vfs.fail_sync_at(point, seed);
            let mut store = match options(&vfs, Durability::Immediate).open(db()) {
                Ok(s) => s,
                Err(e) => {
                    assert!(matches!(e, Error::Io(_)), "{what}: open: {e}");
                    verify_recovered(&vfs.fork(), &states, 0, 0, &what);
                    continue;
                }
            };
            let mut failed = None;
            for (i, op) in ops.iter().enumerate() {
                if let Err(e) = run_op(&mut store, op) {
                    failed = Some((i, e));
                    break;
                }
            }
            let Some((i, e)) = failed else {
                // The failing sync is one of close's.
                assert!(store.close().is_err(), "{what}: the failed sync went unnoticed");
                verify_recovered(&vfs.fork(), &states, ops.len(), ops.len(), &what);
                vfs.crash_now(Some(seed));
                vfs.restart();
                verify_recovered(&vfs, &states, ops.len(), ops.len(), &format!("{what}, then a power cut"));
                continue;
            };
            if let Some(reason) = store.poison_reason() {
                poisoned += 1;
                assert!(reason.contains("Input/output error"), "{what}: {reason}");
                assert!(matches!(store.put(b"later", b"x"), Err(Error::Poisoned { .. })), "{what}");
                assert!(matches!(store.write(Default::default()), Ok(()) | Err(Error::Poisoned { .. })));
                assert!(matches!(store.delete(key(1)), Err(Error::Poisoned { .. })), "{what}");
                assert!(matches!(store.flush(), Err(Error::Poisoned { .. })), "{what}");
                assert!(matches!(store.compact(), Err(Error::Poisoned { .. })), "{what}");
            } else {
                // Only a compaction may fail cleanly: its new file is dropped, the old one kept.
                assert_eq!(ops[i], Op::Compact, "{what}: op {i} failed ({e}) without poisoning the store");
            }
            assert_readable(&store, &states, i, i + 1, &what);
            drop(store);
            verify_recovered(&vfs.fork(), &states, i, i + 1, &format!("{what}, restarted"));
            vfs.crash_now(Some(seed));
            vfs.restart();
            verify_recovered(&vfs, &states, i, i + 1, &format!("{what}, then a power cut"));
        }
    }
    assert!(poisoned > total as usize, "most failures should poison: {poisoned}");
    eprintln!("failing fsync: {total} sync points x {} seeds", seeds());
}

fn is_out_of_space(e: &Error) -> bool {
    match e {
        Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        Error::Poisoned { reason } => reason.contains("No space left"),
        _ => false,
    }
}

/// The disk fills up at many different moments (log append, overflow pages, checkpoint
/// growth): a clear error, a readable store, and once space returns the next write or a
/// reopen works, with nothing acknowledged lost even across a power cut.
#[test]
fn full_disk_gives_a_clear_error_and_recovers_when_space_returns() {
    let ops = mixed_workload(5, 400);
    let states = states(&ops);
    let rounds = if long_run() { 400 } else { 48 };
    for round in 0..rounds {
        for durability in [Durability::Immediate, Durability::Buffered] {
            let what = format!("{durability:?} disk full, round {round}");
            let vfs = FaultyVfs::new();
            let mut store = options(&vfs, durability).open(db()).unwrap();
            let warmup = 20;
            for op in &ops[..warmup] {
                run_op(&mut store, op).unwrap();
            }
            store.flush().unwrap();
            // From no room at all to about 70 KiB, at offsets that differ from round to round.
            vfs.set_capacity(Some(vfs.total_bytes() + (round % 48) * 1531 + (round / 48) * 97));
            let mut durable = warmup;
            let mut failed = None;
            for (i, op) in ops.iter().enumerate().skip(warmup) {
                match run_op(&mut store, op) {
                    Ok(()) if durability == Durability::Immediate || op.makes_durable() => durable = i + 1,
                    Ok(()) => {}
                    Err(e) => {
                        failed = Some((i, e));
                        break;
                    }
                }
            }
            let Some((i, e)) = failed else { panic!("{what}: the disk never filled") };
            assert!(is_out_of_space(&e), "{what}: op {i}: unclear error {e:?}");
            assert_readable(&store, &states, i, i + 1, &what);
            vfs.set_capacity(None);
            if store.poison_reason().is_none() {
                // Nothing was applied: the next write works at once.
                assert_readable(&store, &states, i, i, &what);
                run_op(&mut store, &ops[i])
                    .unwrap_or_else(|e| panic!("{what}: retry after space returned: {e}"));
                store.flush().unwrap();
                vfs.crash_now(Some(round));
                drop(store);
                vfs.restart();
                verify_recovered(&vfs, &states, i + 1, i + 1, &format!("{what}, retried, power cut"));
            } else {
                drop(store);
                // Reopening while the disk is still full may fail, clearly; once space is back
                // it works.
                let still_full = vfs.fork();
                still_full.set_capacity(Some(still_full.total_bytes()));
                match options(&still_full, durability).open(db()) {
                    Ok(s) => drop(s),
                    Err(e) => assert!(is_out_of_space(&e), "{what}: reopen on a full disk: {e:?}"),
                }
                vfs.crash_now(Some(round));
                vfs.restart();
                verify_recovered(&vfs, &states, durable, i + 1, &format!("{what}, reopened"));
            }
        }
    }
}

/// Buffered durability: a log write that fails (here: the disk is full) must not throw away
/// the earlier commits waiting in the buffer. After space returns, `flush` makes them durable.
#[test]
fn failed_buffered_log_write_keeps_the_buffered_commits() {
    // Inline values only, and room for every changed page in memory: nothing but the log
    // buffer's write-out touches the disk.
    let ops: Vec<Op> = (0..1500).map(|i| Op::Put(key(i), 900, i)).collect();
    let vfs = FaultyVfs::new();
    let mut opts = options(&vfs, Durability::Buffered);
    // Large enough that the 1 MiB log buffer fills before a checkpoint folds it away.
    opts.page_size(4096).checkpoint_log_bytes(64 << 20).cache_bytes(64 << 20);
    let mut store = opts.open(db()).unwrap();
    vfs.set_capacity(Some(vfs.total_bytes() + (512 << 10)));
    let mut failed = None;
    for (i, op) in ops.iter().enumerate() {
        if let Err(e) = run_op(&mut store, op) {
            failed = Some((i, e));
            break;
        }
    }
    let (i, e) = failed.expect("the disk fills");
    assert!(is_out_of_space(&e), "{e:?}");
    assert!(i > 100, "the buffer held earlier commits: {i}");
    vfs.set_capacity(None);
    let states = vec![states(&ops[..i]).pop().unwrap()];
    assert_readable(&store, &states, 0, 0, "after the failed write");
    assert_eq!(store.poison_reason(), None, "a log write that failed cleanly does not poison");
    store.flush().expect("flush after space returned");
    // The process dies: what it wrote stays, what it held in memory goes.
    vfs.crash_now(None);
    drop(store);
    vfs.restart();
    verify_recovered(&vfs, &states, 0, 0, "flushed after a failed buffered write");
}

/// Several writers share fsyncs: when one fails, a writer whose record it covered must not be
/// acknowledged by a later fsync that "succeeds" only because the failed one forgot the dirty
/// data. Every acknowledged put survives a power cut.
#[test]
fn failing_fsync_with_concurrent_writers_acknowledges_nothing_lost() {
    const THREADS: u64 = 4;
    const PUTS: u64 = 25;
    let mut failures = 0;
    for point in 1..=20 {
        for seed in 0..if long_run() { 40 } else { 6 } {
            let vfs = FaultyVfs::new();
            let store = std::sync::Arc::new(options(&vfs, Durability::Immediate).open(db()).unwrap());
            vfs.fail_sync_at(point, seed);
            vfs.set_sync_latency(Some(std::time::Duration::from_micros(300)));
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let store = store.clone();
                    std::thread::spawn(move || {
                        let mut acked = Vec::new();
                        for i in 0..PUTS {
                            match store.put(key(t * 100 + i), value_bytes(40, t * 100 + i)) {
                                Ok(()) => acked.push(t * 100 + i),
                                Err(_) => break,
                            }
                        }
                        acked
                    })
                })
                .collect();
            let acked: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
            failures += u64::from(store.poison_reason().is_some());
            vfs.crash_now(Some(seed));
            drop(store);
            vfs.restart();
            let store = options(&vfs, Durability::Immediate).open(db()).unwrap();
            for k in acked {
                assert_eq!(
                    store.get(key(k)).unwrap(),
                    Some(value_bytes(40, k)),
                    "fsync {point} failed (seed {seed}): acknowledged put {k} lost"
                );
            }
        }
    }
    assert!(failures > 0);
}

/// The writer's log is written ahead with zeros, so a commit leaves its length as it was; this
/// file system's stamp of a file is its length and its first bytes only (no modification time):
/// a read-only handle must still see every commit (`data_version` moves, `refresh` reads it),
/// by the record that now follows the end of the log it replayed.
#[test]
fn a_reader_sees_commits_that_leave_the_log_its_length() {
    let vfs = FaultyVfs::new();
    let writer = options(&vfs, Durability::Immediate).open(db()).unwrap();
    writer.put(b"k0", b"v").unwrap();
    let log_len = file(&vfs, &wal()).len();
    let mut reader = options(&vfs, Durability::Immediate).read_only(true).open(db()).unwrap();
    for i in 1..50u32 {
        let seen = reader.data_version();
        writer.put(format!("k{i}"), b"v").unwrap();
        assert_eq!(file(&vfs, &wal()).len(), log_len, "commit {i} left the log its length");
        assert_ne!(reader.data_version(), seen, "commit {i}: the reader's data_version did not move");
        reader.refresh().unwrap();
        assert_eq!(reader.get(format!("k{i}")).unwrap().as_deref(), Some(&b"v"[..]), "commit {i}");
        assert_eq!(reader.len().unwrap(), u64::from(i) + 1);
    }
}
