//! Crash at every sync point of a workload, for many seeds, and recover.

use wind_kvstore::Durability;
use wind_kvstore::io::FaultyVfs;

use crate::common::*;

/// Seeds per crash point: each decides which unsynced writes are kept, dropped or torn.
fn seeds() -> u64 {
    if long_run() { 200 } else { 20 }
}

/// What one campaign covered, for the summary line.
pub struct Coverage {
    pub crash_points: u64,
    pub runs: u64,
}

/// Run `ops` once to count its syncs, then crash at each of them with each seed.
fn crash_at_every_sync(durability: Durability, ops: &[Op], label: &str) -> Coverage {
    let states = states(ops);
    let dry = FaultyVfs::new();
    let outcome = run_workload(&dry, durability, ops);
    assert!(!outcome.crashed && outcome.acked == ops.len());
    let total = dry.syncs();
    verify_recovered(&dry.fork(), &states, ops.len(), ops.len(), &format!("{label}: no crash"));
    let mut runs = 0;
    for point in 1..=total {
        for seed in 0..seeds() {
            let vfs = FaultyVfs::new();
            vfs.crash_at_sync(point, seed);
            let out = run_workload(&vfs, durability, ops);
            assert!(out.crashed, "{label}: sync {point} of {total} was not reached");
            vfs.restart();
            let what = format!("{label}: crash at sync {point}/{total}, seed {seed}, {out:?}");
            verify_recovered(&vfs, &states, out.durable, out.attempted, &what);
            runs += 1;
        }
    }
    eprintln!("{label}: {total} crash points x {} seeds = {runs} crashes recovered", seeds());
    Coverage { crash_points: total, runs }
}

#[test]
fn crash_at_every_sync_immediate() {
    let ops = mixed_workload(1, if long_run() { 400 } else { 90 });
    let c = crash_at_every_sync(Durability::Immediate, &ops, "immediate");
    assert!(c.crash_points >= 50, "the workload should sync often: {}", c.crash_points);
    assert_eq!(c.runs, c.crash_points * seeds());
}

#[test]
fn crash_at_every_sync_buffered() {
    let ops = mixed_workload(2, if long_run() { 400 } else { 120 });
    let c = crash_at_every_sync(Durability::Buffered, &ops, "buffered");
    assert!(c.crash_points >= 10, "{}", c.crash_points);
    assert_eq!(c.runs, c.crash_points * seeds());
}

/// Commits too large for the log (a batch with 2 MiB or more of values in overflow chains,
/// under immediate durability) are made durable by a checkpoint instead, between small logged
/// commits: a crash at any sync keeps every acknowledged commit, and the one in flight whole or
/// not at all.
#[test]
fn crash_at_every_sync_with_commits_too_large_for_the_log() {
    const MIB: usize = 1 << 20;
    let big = |n: u64, tag: u64| (key(n), Some((MIB + MIB / 2 + n as usize, tag)));
    let mut ops: Vec<Op> = (0..4).map(|i| Op::Put(key(i), 50, i)).collect();
    ops.push(Op::Batch(vec![
        big(10, 100),
        big(11, 101),
        big(12, 102),
        (key(1), None),
        (key(2), Some((70, 103))),
    ]));
    ops.push(Op::Put(key(5), 60, 104));
    ops.push(Op::Delete(key(10)));
    ops.push(Op::Batch(vec![big(11, 105), big(13, 106), big(14, 107)]));
    ops.push(Op::Put(key(6), 60, 108));
    let c = crash_at_every_sync(Durability::Immediate, &ops, "commits too large for the log");
    assert!(c.crash_points >= 10, "{}", c.crash_points);
}

/// A free list of many pages (some 1,800 free pages on about 30 list pages), read back a page at a time
/// and extended: values in overflow chains written and checkpointed, deleted and checkpointed,
/// then puts that take free pages from the list's head mixed with deletes that add to it and
/// checkpoints that write the list's new head in front of the part not read. A crash at any
/// sync leaves a store whose free list `check()` finds whole.
#[test]
fn crash_at_every_sync_with_a_large_free_list() {
    let mut ops: Vec<Op> = (0..200).map(|i| Op::Put(key(i), 9000, i)).collect();
    ops.push(Op::Checkpoint);
    ops.extend((0..200).map(|i| Op::Delete(key(i))));
    ops.push(Op::Checkpoint);
    let mut rng = wind_kvstore::io::faulty::Rng::new(7);
    for i in 0..60u64 {
        let op = match rng.below(10) {
            0..=3 => Op::Put(key(300 + rng.below(40)), 1 + rng.below(6000) as usize, 1000 + i),
            4..=6 => Op::Delete(key(300 + rng.below(40))),
            7 => Op::Flush,
            _ => Op::Checkpoint,
        };
        ops.push(op);
    }
    let c = crash_at_every_sync(Durability::Buffered, &ops, "large free list");
    assert!(c.crash_points >= 20, "{}", c.crash_points);
}

/// A store emptied by deletes, then compacted: crashes inside the compaction (the checkpoint
/// before it, the new file's sync, the rename's directory sync) leave the old or the new file.
#[test]
fn crash_during_compaction() {
    let mut ops: Vec<Op> = (0..120).map(|i| Op::Put(key(i), if i % 7 == 0 { 3000 } else { 90 }, i)).collect();
    ops.push(Op::Checkpoint);
    ops.extend((0..110).map(|i| Op::Delete(key(i))));
    ops.push(Op::Compact);
    ops.push(Op::Put(key(500), 10, 500));
    ops.push(Op::Compact);
    // Only the syncs from the first compaction on are of interest; earlier ones are covered
    // by the mixed workloads. Count them with a dry run up to the checkpoint before it: the
    // deletes after it wait in memory (buffered durability) and sync nothing, and a close right
    // after a checkpoint has nothing to write.
    let before = {
        let vfs = FaultyVfs::new();
        run_workload(&vfs, Durability::Buffered, &ops[..=120]);
        vfs.syncs()
    };
    let states = states(&ops);
    let dry = FaultyVfs::new();
    run_workload(&dry, Durability::Buffered, &ops);
    let total = dry.syncs();
    let mut runs = 0;
    for point in before + 1..=total {
        for seed in 0..seeds() {
            let vfs = FaultyVfs::new();
            vfs.crash_at_sync(point, seed);
            let out = run_workload(&vfs, Durability::Buffered, &ops);
            assert!(out.crashed);
            vfs.restart();
            let what = format!("compaction: crash at sync {point}/{total}, seed {seed}, {out:?}");
            verify_recovered(&vfs, &states, out.durable, out.attempted, &what);
            // The open removes a compaction's leftover once it is provably the store's (its
            // header, written and synced first, carries the store's file id); a file whose
            // header never reached the disk stays, as anything under that name not ours would.
            let id = &file(&vfs, &db())[16..24];
            let left: Vec<_> = vfs
                .paths()
                .into_iter()
                .filter(|p| p.to_string_lossy().ends_with(".compact"))
                .filter(|p| vfs.read_file(p).is_some_and(|b| b.len() >= 24 && &b[16..24] == id))
                .collect();
            assert!(left.is_empty(), "{what}: our own temp file left: {left:?}");
            runs += 1;
        }
    }
    eprintln!("compaction: {} crash points x {} seeds = {runs} crashes recovered", total - before, seeds());
}

/// Crash while recovering (replaying the log, syncing it) or at the close that follows
/// (checkpointing what was replayed), then recover again.
#[test]
fn crash_during_recovery() {
    let ops = mixed_workload(3, 60);
    let states = states(&ops);
    // Crash images with a log full of records: the machine dies right after an acked op,
    // keeping what was synced.
    let mut runs = 0;
    let mut points = 0;
    for (cut, seed) in [(20usize, 2u64), (35, 3), (59, 6)] {
        let base = FaultyVfs::new();
        let out = run_workload(&base, Durability::Immediate, &ops[..cut]);
        assert!(!out.crashed);
        // Re-run without closing: the close above folded everything into the data file.
        let base = FaultyVfs::new();
        {
            let mut store = options(&base, Durability::Immediate).open(db()).unwrap();
            for op in &ops[..cut] {
                run_op(&mut store, op).unwrap();
            }
            base.crash_now(Some(seed));
        }
        base.restart();
        let lo = cut;
        // Count recovery's syncs.
        let dry = base.fork();
        drop(options(&dry, Durability::Immediate).open(db()).unwrap());
        let recovery_syncs = dry.syncs();
        assert!(recovery_syncs >= 2, "recovery and its close should sync and checkpoint: {recovery_syncs}");
        for point in 1..=recovery_syncs {
            points += 1;
            for seed in 0..seeds() {
                let vfs = base.fork();
                vfs.crash_at_sync(point, seed);
                drop(options(&vfs, Durability::Immediate).open(db()));
                assert!(vfs.crashed(), "recovery sync {point} not reached");
                vfs.restart();
                // And crash the second recovery too, half-way.
                let second = vfs.fork();
                second.crash_at_sync(1 + seed % recovery_syncs, seed + 1000);
                drop(options(&second, Durability::Immediate).open(db()));
                second.restart();
                let what = format!("crash in recovery after op {cut}, sync {point}, seed {seed}");
                verify_recovered(&vfs, &states, lo, lo, &what);
                verify_recovered(&second, &states, lo, lo, &format!("{what}, crashed twice"));
                runs += 2;
            }
        }
    }
    eprintln!("recovery: {points} crash points x {} seeds x 2 = {runs} crashes recovered", seeds());
}

/// A store whose log was removed after a clean close (or whose file was copied without it):
/// the new log's directory entry must be durable before a commit is acknowledged.
#[test]
fn crash_after_the_log_is_recreated() {
    let ops = vec![Op::Put(key(1), 10, 1), Op::Put(key(2), 3000, 2)];
    let states = states(&ops);
    for seed in 0..seeds() {
        let vfs = FaultyVfs::new();
        let out = run_workload(&vfs, Durability::Immediate, &ops[..1]);
        assert!(!out.crashed);
        vfs.remove_file(&wal());
        {
            let mut store = options(&vfs, Durability::Immediate).open(db()).unwrap();
            run_op(&mut store, &ops[1]).unwrap();
            vfs.crash_now(Some(seed));
        }
        vfs.restart();
        verify_recovered(&vfs, &states, 2, 2, &format!("log recreated, seed {seed}"));
    }
}

/// Writers on several threads share fsyncs (group commit): after a crash at any sync, each
/// thread's acknowledged puts are all there, and of the rest at most the one in flight.
#[test]
fn crash_with_concurrent_writers() {
    const THREADS: u64 = 3;
    const PUTS: u64 = 15;
    let run = |vfs: &FaultyVfs| -> Vec<u64> {
        let store = match options(vfs, Durability::Immediate).open(db()) {
            Ok(s) => std::sync::Arc::new(s),
            Err(_) => return vec![0; THREADS as usize],
        };
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut acked = 0;
                    for i in 0..PUTS {
                        let len = if i % 4 == 0 { 2000 } else { 50 };
                        if store.put(key(t * 100 + i), value_bytes(len, t * 100 + i)).is_err() {
                            break;
                        }
                        acked += 1;
                    }
                    acked
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    };
    let dry = FaultyVfs::new();
    run(&dry);
    let total = dry.syncs();
    let mut runs = 0;
    for point in 1..=total {
        for seed in 0..seeds() {
            let vfs = FaultyVfs::new();
            vfs.crash_at_sync(point, seed);
            let acked = run(&vfs);
            if !vfs.crashed() {
                // Group commit made fewer syncs this time: the point was not reached.
                continue;
            }
            vfs.restart();
            let store = options(&vfs, Durability::Immediate).open(db()).unwrap();
            assert!(store.check().unwrap().is_ok());
            for t in 0..THREADS {
                let present: Vec<bool> =
                    (0..PUTS).map(|i| store.get(key(t * 100 + i)).unwrap().is_some()).collect();
                let n = present.iter().take_while(|p| **p).count() as u64;
                assert!(present[n as usize..].iter().all(|p| !p), "thread {t}: a gap in {present:?}");
                let what = format!(
                    "sync {point}/{total} seed {seed} thread {t}: {n} present, {} acked",
                    acked[t as usize]
                );
                assert!(n >= acked[t as usize] && n <= acked[t as usize] + 1, "{what}");
                for i in 0..n {
                    let len = if i % 4 == 0 { 2000 } else { 50 };
                    assert_eq!(
                        store.get(key(t * 100 + i)).unwrap(),
                        Some(value_bytes(len, t * 100 + i)),
                        "{what}"
                    );
                }
            }
            runs += 1;
        }
    }
    assert!(runs >= total * seeds() / 2, "most crash points reached: {runs}");
    eprintln!("concurrent writers: {total} crash points x {} seeds, {runs} crashes recovered", seeds());
}

/// A crash with small commits in the write buffer, a reopen whose replay puts them back there
/// and keeps the log going (no checkpoint at open), more commits, and a second crash: the
/// commits of both runs are there, and the key count agrees with a scan before anything folds
/// the buffer into the tree.
#[test]
fn commits_after_a_replay_that_kept_the_log_survive_a_second_crash() {
    let ops = mixed_workload(11, 120);
    let states = states(&ops);
    for seed in 0..seeds() {
        let what = format!("seed {seed}");
        let vfs = FaultyVfs::new();
        {
            let mut store = options(&vfs, Durability::Immediate).open(db()).unwrap();
            for op in &ops[..70] {
                run_op(&mut store, op).unwrap();
            }
            vfs.crash_now(Some(seed));
        }
        vfs.restart();
        let log_before = file(&vfs, &wal()).len();
        {
            let mut store = options(&vfs, Durability::Immediate).open(db()).unwrap();
            let replayed = store.recovery_report().commits_replayed;
            // The scan and the count read the replayed buffer as it is (neither folds it).
            let got = dump(&store).unwrap();
            assert_eq!(store.len().unwrap(), got.map.len() as u64, "{what}: key count after the replay");
            assert!(states[70] == got, "{what}: after the first crash: {}", got.summary());
            if replayed > 0 && store.recovery_report().stopped_at.is_none() {
                assert!(
                    file(&vfs, &wal()).len() >= log_before,
                    "{what}: a clean log is kept going after a replay of {replayed} commits"
                );
            }
            for op in &ops[70..] {
                run_op(&mut store, op).unwrap();
            }
            vfs.crash_now(Some(seed + 1000));
        }
        vfs.restart();
        verify_recovered(&vfs, &states, ops.len(), ops.len(), &format!("{what}, crashed twice"));
    }
}
