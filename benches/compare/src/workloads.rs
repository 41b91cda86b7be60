//! The workloads, in redb's benchmark order and with its data shapes: 24-byte random keys and
//! 150-byte random values from a fixed seed. They run in a child process, one engine per child,
//! so the peak memory of each is its own.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::engines::{self, Kind, Store};
use crate::results::{EngineRun, Figure, Row, median, percentile};

pub const KEY_BYTES: usize = 24;
pub const VALUE_BYTES: usize = 150;
/// The seed of the main key stream: bulk load, then every later insert continues it.
pub const SEED: u64 = 3;
/// Seeds of the side streams, so they never meet the main keys.
const CHURN_SEED: u64 = 7;
const LARGE_SEED: u64 = 11;
const CRASH_SEED: u64 = 13;

pub const INDIVIDUAL_WRITES: u64 = 1_000;
pub const BATCHES: u64 = 100;
pub const BATCH_SIZE: u64 = 1_000;
const READ_RUNS: usize = 3;
const SCAN_LEN: usize = 10;
const CHURN_ROUNDS: u64 = 10;
pub const LARGE_VALUES: u64 = 400;
pub const LARGE_VALUE_BYTES: usize = 2 << 20;
/// Large values are committed this many to a durable transaction.
const LARGE_PER_COMMIT: u64 = 20;
/// The crash writer commits batches of this many keys; this many batches are acknowledged
/// before it is killed.
const CRASH_BATCH: u64 = 1_000;
const CRASH_ACKED_BATCHES: u64 = 10;
/// How long the crash writer keeps writing after its acknowledged batches, before the kill.
const CRASH_EXTRA_WRITING: Duration = Duration::from_millis(300);

/// The sizes of one run, all derived from the key count.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub keys: u64,
    pub nondurable_writes: u64,
    pub scans: u64,
    pub removals: u64,
    pub churn_keys: u64,
}

impl Plan {
    pub fn new(keys: u64) -> Plan {
        Plan {
            keys,
            nondurable_writes: (keys / 20).clamp(1_000, 50_000),
            scans: keys / 2,
            removals: keys / 2,
            churn_keys: (keys / 10).max(1_000),
        }
    }

    /// The workload names, in the order of the table.
    pub fn workloads(&self) -> Vec<String> {
        vec![
            format!("bulk load ({} keys, one batch)", thousands(self.keys)),
            format!("individual writes ({}, durable)", thousands(INDIVIDUAL_WRITES)),
            format!("batch writes ({BATCHES} x {}, durable)", thousands(BATCH_SIZE)),
            format!("non-durable writes ({} individual)", thousands(self.nondurable_writes)),
            "len()".into(),
            format!("random reads ({} gets, median of {READ_RUNS})", thousands(self.keys)),
            format!("random range reads ({} x {SCAN_LEN})", thousands(self.scans)),
            format!("random reads, 1 thread ({})", thousands(self.keys)),
            format!("random reads, 2 threads ({})", thousands(self.keys)),
            format!("removals ({}, one batch)", thousands(self.removals)),
            "file size before compaction".into(),
            "compaction".into(),
            "file size after compaction".into(),
            format!(
                "overwrite and delete churn ({CHURN_ROUNDS} rounds on {} keys)",
                thousands(self.churn_keys)
            ),
            "file size after churn".into(),
            "open after clean close".into(),
            "open after kill -9 (recovery)".into(),
            format!("large values write ({LARGE_VALUES} x 2 MiB, durable)"),
            format!("large values read ({LARGE_VALUES} x 2 MiB)"),
            "peak memory (max RSS)".into(),
            "peak heap (RssAnon, after each workload)".into(),
        ]
    }
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub struct Pairs(fastrand::Rng);

impl Pairs {
    pub fn new(seed: u64) -> Pairs {
        Pairs(fastrand::Rng::with_seed(seed))
    }

    pub fn next_pair(&mut self) -> ([u8; KEY_BYTES], [u8; VALUE_BYTES]) {
        let mut key = [0u8; KEY_BYTES];
        let mut value = [0u8; VALUE_BYTES];
        self.0.fill(&mut key);
        self.0.fill(&mut value);
        (key, value)
    }

    fn skip(&mut self, n: u64) {
        for _ in 0..n {
            self.next_pair();
        }
    }
}

/// Everything one engine's run measures, in table order.
struct Recorder {
    name: &'static str,
    names: Vec<String>,
    rows: Vec<Row>,
    /// Largest anonymous resident memory seen after a workload (the heap, without the pages
    /// of memory-mapped files that max RSS also counts).
    max_anon_bytes: u64,
}

impl Recorder {
    fn record(&mut self, figure: Figure) {
        let anon = rss_anon_bytes();
        self.max_anon_bytes = self.max_anon_bytes.max(anon);
        let workload = self.names[self.rows.len()].clone();
        let shown = match &figure {
            Figure::Time { secs, .. } => format!("{secs:.3} s"),
            Figure::Bytes { bytes } => format!("{:.1} MiB", *bytes as f64 / (1 << 20) as f64),
            Figure::NotApplicable { why } => why.clone(),
        };
        eprintln!(
            "[{}] {workload}: {shown} (heap after it: {:.1} MiB)",
            self.name,
            anon as f64 / (1 << 20) as f64
        );
        if std::env::var_os("WK_MALLINFO").is_some() {
            eprintln!("[{}]     {}", self.name, malloc_info());
        }
        self.rows.push(Row { workload, figure });
    }
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let start = Instant::now();
    let out = f()?;
    Ok((out, start.elapsed().as_secs_f64()))
}

/// Read `count` keys of the main stream starting at position `from`, checking every value.
pub fn read_keys(store: &dyn Store, from: u64, count: u64) -> Result<()> {
    let mut pairs = Pairs::new(SEED);
    pairs.skip(from);
    let mut reader = store.reader()?;
    let (mut sum, mut expected) = (0u64, 0u64);
    for _ in 0..count {
        let (key, value) = pairs.next_pair();
        let found = reader.get(&key, &mut |v| sum += u64::from(v[0]) + v.len() as u64)?;
        ensure!(found, "a loaded key is missing");
        expected += u64::from(value[0]) + VALUE_BYTES as u64;
    }
    ensure!(sum == expected, "values read back differ from those written");
    Ok(())
}

fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_bytes(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

/// Run every workload on one engine, in `dir`.
pub fn run(kind: Kind, plan: Plan, dir: &Path, cache_bytes: usize) -> Result<EngineRun> {
    let started = Instant::now();
    let mut out =
        EngineRun { engine: kind.name().into(), setup: kind.setup().into(), ..EngineRun::default() };
    let mut rec =
        Recorder { name: kind.name(), names: plan.workloads(), rows: Vec::new(), max_anon_bytes: 0 };
    let main_dir = dir.join("main");
    let mut store = engines::open(kind, &main_dir, cache_bytes)?;
    let mut pairs = Pairs::new(SEED);

    // Bulk load: every key in one transaction.
    let ((), secs) = timed(|| {
        store.write(&mut |b| {
            for _ in 0..plan.keys {
                let (k, v) = pairs.next_pair();
                b.put(&k, &v)?;
            }
            Ok(())
        })
    })?;
    rec.record(Figure::time(secs, plan.keys as f64, "ops"));
    out.note_stats("after bulk load", &*store);

    // Individual durable writes: one commit each. The disk's flush time drifts (a shared,
    // throttled virtual disk can move from 0.5 ms to 8 ms within a minute), so each commit is
    // paired with a probe taken just before it: a 4 KiB append + fdatasync on a file beside
    // the store, the way a log is written. The row counts the commits' time only.
    let mut probe = crate::probe::AppendProbe::create(&dir.join("paired-fsync-probe"))?;
    let mut latencies = Vec::with_capacity(INDIVIDUAL_WRITES as usize);
    let mut fsyncs = Vec::with_capacity(INDIVIDUAL_WRITES as usize);
    for _ in 0..INDIVIDUAL_WRITES {
        let (k, v) = pairs.next_pair();
        fsyncs.push(probe.append_and_sync()?);
        let start = Instant::now();
        store.write(&mut |b| b.put(&k, &v))?;
        latencies.push(start.elapsed().as_secs_f64() * 1e6);
    }
    probe.remove()?;
    out.individual_write_median_us = median(&latencies);
    out.individual_write_p99_us = percentile(&latencies, 0.99);
    out.individual_write_mean_us = latencies.iter().sum::<f64>() / latencies.len() as f64;
    out.paired_fsync_median_us = median(&fsyncs);
    out.paired_fsync_p99_us = percentile(&fsyncs, 0.99);
    out.paired_fsync_mean_us = fsyncs.iter().sum::<f64>() / fsyncs.len() as f64;
    let secs = latencies.iter().sum::<f64>() / 1e6;
    rec.record(Figure::time(secs, INDIVIDUAL_WRITES as f64, "ops"));

    // Batch writes: durable commits of BATCH_SIZE keys.
    let ((), secs) = timed(|| {
        for _ in 0..BATCHES {
            store.write(&mut |b| {
                for _ in 0..BATCH_SIZE {
                    let (k, v) = pairs.next_pair();
                    b.put(&k, &v)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    })?;
    rec.record(Figure::time(secs, (BATCHES * BATCH_SIZE) as f64, "ops"));
    out.note_stats("after batch writes", &*store);

    // Non-durable writes: one commit each, none waiting for the disk.
    store.set_durable(false)?;
    let ((), secs) = timed(|| {
        for _ in 0..plan.nondurable_writes {
            let (k, v) = pairs.next_pair();
            store.write(&mut |b| b.put(&k, &v))?;
        }
        Ok(())
    })?;
    store.set_durable(true)?;
    rec.record(Figure::time(secs, plan.nondurable_writes as f64, "ops"));
    out.note_stats("after non-durable writes", &*store);

    let total = plan.keys + INDIVIDUAL_WRITES + BATCHES * BATCH_SIZE + plan.nondurable_writes;
    let (len, secs) = timed(|| store.len())?;
    ensure!(len == total, "len() is {len}, expected {total}");
    rec.record(Figure::duration(secs));

    // Random reads of the bulk-loaded keys, three runs, the median kept.
    let mut runs = Vec::new();
    for _ in 0..READ_RUNS {
        runs.push(timed(|| read_keys(&*store, 0, plan.keys))?.1);
    }
    rec.record(Figure::Time {
        secs: median(&runs),
        count: Some(plan.keys as f64),
        unit: Some("ops".into()),
        runs,
    });

    // Random range reads: SCAN_LEN pairs from a random existing key.
    let ((), secs) = timed(|| {
        let mut pairs = Pairs::new(SEED);
        let mut reader = store.reader()?;
        let mut seen_total = 0u64;
        for _ in 0..plan.scans {
            let (key, _) = pairs.next_pair();
            let seen = reader.scan(&key, SCAN_LEN, &mut |k, v| {
                seen_total += u64::from(k[0] ^ v[0]) + 1;
            })?;
            ensure!(seen > 0, "a scan from an existing key found nothing");
        }
        ensure!(seen_total > 0, "scans saw nothing");
        Ok(())
    })?;
    rec.record(Figure::time(secs, (plan.scans * SCAN_LEN as u64) as f64, "pairs"));

    // Random reads split over 1 and 2 threads sharing the store.
    for threads in [1u64, 2] {
        let per_thread = plan.keys / threads;
        let ((), secs) = timed(|| {
            let shared: &dyn Store = &*store;
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| s.spawn(move || read_keys(shared, t * per_thread, per_thread)))
                    .collect();
                for h in handles {
                    h.join().map_err(|_| anyhow::anyhow!("a reader thread panicked"))??;
                }
                Ok(())
            })
        })?;
        rec.record(Figure::time(secs, (per_thread * threads) as f64, "ops"));
    }

    // Removals: the first half of the bulk-loaded keys, in one transaction.
    let ((), secs) = timed(|| {
        let mut pairs = Pairs::new(SEED);
        store.write(&mut |b| {
            for _ in 0..plan.removals {
                let (k, _) = pairs.next_pair();
                b.delete(&k)?;
            }
            Ok(())
        })
    })?;
    ensure!(store.len()? == total - plan.removals, "removals left the wrong count");
    rec.record(Figure::time(secs, plan.removals as f64, "ops"));
    out.note_stats("after removals", &*store);

    out.note_stats("before compaction", &*store);
    rec.record(Figure::Bytes { bytes: dir_bytes(&main_dir)? });
    let ((), secs) = timed(|| store.compact())?;
    rec.record(Figure::duration(secs));
    rec.record(Figure::Bytes { bytes: dir_bytes(&main_dir)? });

    // Churn: the same keys overwritten, deleted and written again, in durable batches.
    let churn = plan.churn_keys;
    let churn_key = |i: u64| -> [u8; KEY_BYTES] {
        let mut rng = fastrand::Rng::with_seed(CHURN_SEED ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut k = [0u8; KEY_BYTES];
        rng.fill(&mut k);
        k
    };
    let mut values = fastrand::Rng::with_seed(CHURN_SEED);
    let mut value = [0u8; VALUE_BYTES];
    store.write(&mut |b| {
        for i in 0..churn {
            values.fill(&mut value);
            b.put(&churn_key(i), &value)?;
        }
        Ok(())
    })?;
    let ((), secs) = timed(|| {
        for _ in 0..CHURN_ROUNDS {
            // Delete the first half; then write it back and overwrite the second half.
            store.write(&mut |b| (0..churn / 2).try_for_each(|i| b.delete(&churn_key(i))))?;
            store.write(&mut |b| {
                for i in 0..churn {
                    values.fill(&mut value);
                    b.put(&churn_key(i), &value)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    })?;
    let after_churn = total - plan.removals + churn;
    ensure!(store.len()? == after_churn, "churn left the wrong count");
    rec.record(Figure::time(secs, (CHURN_ROUNDS * (churn / 2 + churn)) as f64, "ops"));
    out.note_stats("after churn", &*store);
    rec.record(Figure::Bytes { bytes: dir_bytes(&main_dir)? });

    // Open after a clean close.
    store.close()?;
    let (store, secs) = timed(|| engines::open(kind, &main_dir, cache_bytes))?;
    ensure!(store.len()? == after_churn, "the count changed across close and open");
    read_keys(&*store, plan.removals, 1)?;
    rec.record(Figure::duration(secs));
    store.close()?;

    // Open after kill -9: a child writes durable batches and is killed while writing.
    let acked = crash_child(kind, &main_dir, cache_bytes)?;
    let (store, secs) = timed(|| engines::open(kind, &main_dir, cache_bytes))?;
    let len = store.len()?;
    let survived = crash_keys_present(&*store, acked)?;
    out.recovery_check = format!(
        "{} keys after recovery ({} before the crash writer; {} acknowledged writes {})",
        thousands(len),
        thousands(after_churn),
        thousands(acked),
        if survived { "all present" } else { "NOT all present" }
    );
    ensure!(survived, "acknowledged writes were lost in the crash: {}", out.recovery_check);
    rec.record(Figure::duration(secs));
    store.close()?;
    std::fs::remove_dir_all(&main_dir)?;

    // Large values in a fresh database.
    let large_dir = dir.join("large");
    let store = engines::open(kind, &large_dir, cache_bytes)?;
    let mut keys = Pairs::new(LARGE_SEED);
    let large_keys: Vec<[u8; KEY_BYTES]> = (0..LARGE_VALUES).map(|_| keys.next_pair().0).collect();
    let mut big = vec![0u8; LARGE_VALUE_BYTES];
    fastrand::Rng::with_seed(LARGE_SEED).fill(&mut big);
    let ((), secs) = timed(|| {
        for chunk in large_keys.chunks(LARGE_PER_COMMIT as usize) {
            store.write(&mut |b| {
                for key in chunk {
                    big[..KEY_BYTES].copy_from_slice(key);
                    b.put(key, &big)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    })?;
    let mib = (LARGE_VALUES * LARGE_VALUE_BYTES as u64) as f64 / (1 << 20) as f64;
    rec.record(Figure::time(secs, mib, "MiB"));
    let ((), secs) = timed(|| {
        let mut reader = store.reader()?;
        for key in &large_keys {
            big[..KEY_BYTES].copy_from_slice(key);
            let (mut ok, mut at) = (true, 0);
            // Every byte is compared, so an engine that maps the file reads it as well. Each
            // engine hands the value over as it lends it most cheaply: whole, or in pieces.
            reader.get_chunks(key, &mut |piece| {
                ok &= big.get(at..at + piece.len()) == Some(piece);
                at += piece.len();
            })?;
            ensure!(ok && at == LARGE_VALUE_BYTES, "a large value did not read back whole");
        }
        Ok(())
    })?;
    rec.record(Figure::time(secs, mib, "MiB"));
    out.note_stats("after the large values", &*store);
    store.close()?;
    std::fs::remove_dir_all(&large_dir)?;

    rec.record(Figure::Bytes { bytes: max_rss_bytes() });
    let anon = rec.max_anon_bytes;
    rec.record(Figure::Bytes { bytes: anon });
    out.rows = rec.rows;
    out.total_secs = started.elapsed().as_secs_f64();
    Ok(out)
}

fn crash_key(i: u64) -> [u8; KEY_BYTES] {
    let mut rng = fastrand::Rng::with_seed(CRASH_SEED ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut k = [0u8; KEY_BYTES];
    rng.fill(&mut k);
    k
}

fn crash_keys_present(store: &dyn Store, acked: u64) -> Result<bool> {
    let mut reader = store.reader()?;
    for i in 0..acked {
        if !reader.get(&crash_key(i), &mut |_| {})? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Start a child that writes durable batches into the store at `dir`; once it has acknowledged
/// some, let it write a little longer and kill it with SIGKILL. Returns how many writes it
/// acknowledged before it said so.
pub fn crash_child(kind: Kind, dir: &Path, cache_bytes: usize) -> Result<u64> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("--crash-writer")
        .arg(kind.name())
        .arg("--dir")
        .arg(dir)
        .arg("--cache-bytes")
        .arg(cache_bytes.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the crash writer")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if line.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        bail!("the crash writer did not get ready: {line:?}");
    }
    std::thread::sleep(CRASH_EXTRA_WRITING);
    // SAFETY: plain FFI call on the id of a child this process started and has not reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    ensure!(rc == 0, "kill failed: {}", std::io::Error::last_os_error());
    let status = child.wait()?;
    ensure!(!status.success(), "the crash writer finished before it was killed");
    Ok(CRASH_BATCH * CRASH_ACKED_BATCHES)
}

/// The body of the crash writer (`--crash-writer ENGINE`): writes durable batches until killed.
pub fn crash_writer(kind: Kind, dir: PathBuf, cache_bytes: usize) -> Result<()> {
    let store = engines::open(kind, &dir, cache_bytes)?;
    let mut value = [0u8; VALUE_BYTES];
    let mut rng = fastrand::Rng::with_seed(CRASH_SEED);
    // Bounded: the parent kills it long before the end.
    for batch in 0..100_000u64 {
        store.write(&mut |b| {
            for i in batch * CRASH_BATCH..(batch + 1) * CRASH_BATCH {
                rng.fill(&mut value);
                b.put(&crash_key(i), &value)?;
            }
            Ok(())
        })?;
        if batch + 1 == CRASH_ACKED_BATCHES {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready")?;
            out.flush()?;
        }
    }
    bail!("the crash writer was not killed")
}

/// What glibc's allocator holds now (`WK_MALLINFO=1`): the heap it took from the system, how
/// much of it is in use and free, the free part at its top (which it could give back), and
/// the blocks it mapped on their own. `RssAnon` counts the free part too.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn malloc_info() -> String {
    // SAFETY: a plain FFI call that reads the allocator's counters; it takes no pointer.
    let m = unsafe { libc::mallinfo2() };
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    format!(
        "malloc: heap {:.1} MiB, in use {:.1} MiB, free {:.1} MiB (at the top {:.1} MiB), mapped blocks {:.1} MiB",
        mib(m.arena),
        mib(m.uordblks),
        mib(m.fordblks),
        mib(m.keepcost),
        mib(m.hblkhd)
    )
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn malloc_info() -> String {
    "malloc: counters need glibc".into()
}

/// This process's anonymous resident memory now (`RssAnon` in /proc/self/status).
fn rss_anon_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// This process's peak resident set.
pub fn max_rss_bytes() -> u64 {
    // SAFETY: getrusage fills the zeroed struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return 0;
    }
    usage.ru_maxrss as u64 * 1024
}
