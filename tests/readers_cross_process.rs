//! Readers in other processes beside a writer that commits and checkpoints all the while.
//!
//! The writer is this test binary run again with `WK_XP_WRITER` naming the store: it moves
//! amounts between 20,000 accounts whose balances always add up to `TOTAL` (each move one batch),
//! checkpointing every few hundred kilobytes of log, until `<store>.stop` appears. The readers
//! are this process and more children: a long-lived read-only handle must read the same state
//! at every scan; fresh read-only opens in a loop must each see the constant sum, every account,
//! and a commit at least as new as the one before. Readers killed with SIGKILL give their slots
//! back, and the file stops growing once they are gone. Then the writer is killed with SIGKILL
//! mid-work: a read-only open beside it sees the constant sum, and a pinned handle keeps its
//! state while a second writer recovers the store and goes on. `WK_READERS_LONG=1` runs for 10 s
//! instead of 2 s per phase.
//!
//! The pinned handle reads with a small cache, so its pages come from the file again and again:
//! with the writer told to ignore the reader table, its scans fail within the first phase
//! ("tree level 3 of 3 holds the wrong kind of page": a page the writer reused).
//!
//! A second writer child (`WK_XP_LARGE_WRITER`) rewrites two values in overflow chains and their
//! generation in every commit: readers here read them a chunk at a time (`get_chunks`), a pinned
//! handle always the same generation's bytes, fresh opens one whole generation each, never older
//! than the last. With the writer ignoring the reader table, the pinned handle's chunked read
//! fails at once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wind_kvstore::{Durability, KVStore, OpenOptions, WriteBatch};

const WRITER_ENV: &str = "WK_XP_WRITER";
const READER_ENV: &str = "WK_XP_READER";
const ACCOUNTS: u64 = 20_000;
const TOTAL: u64 = ACCOUNTS * 1_000;

fn account(i: u64) -> String {
    format!("acct:{i:05}")
}

fn balance(value: &[u8]) -> u64 {
    u64::from_le_bytes(value[..8].try_into().expect("an 8-byte balance first"))
}

/// A balance followed by padding, so the accounts fill a few dozen pages and every move
/// rewrites pages the writer then frees.
fn value(balance: u64, salt: u64) -> Vec<u8> {
    let mut v = balance.to_le_bytes().to_vec();
    v.extend(std::iter::repeat_n(b'a' + (salt % 26) as u8, 90));
    v
}

fn phase() -> Duration {
    if std::env::var_os("WK_READERS_LONG").is_some() {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(2)
    }
}

fn writer_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.durability(Durability::Buffered).checkpoint_log_bytes(64 << 10);
    o
}

fn stop_file(path: &Path) -> PathBuf {
    path.with_extension("stop")
}

/// The writer's child mode: transfers until the stop file appears.
#[test]
fn xp_writer_child() {
    let Some(path) = std::env::var_os(WRITER_ENV).map(PathBuf::from) else { return };
    let store = writer_options().open(&path).unwrap();
    let mut n: u64 = 0;
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    // A parent that died without creating the stop file must not leave the writer running.
    let parent = std::os::unix::process::parent_id();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !stop_file(&path).exists()
        && Instant::now() < deadline
        && std::os::unix::process::parent_id() == parent
    {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let (a, b) = (rng % ACCOUNTS, (rng >> 20) % ACCOUNTS);
        if a == b {
            continue;
        }
        let (va, vb) = (store.get(account(a)).unwrap().unwrap(), store.get(account(b)).unwrap().unwrap());
        let amount = (rng >> 40) % 50;
        let (ba, bb) = (balance(&va), balance(&vb));
        let amount = amount.min(ba);
        let mut batch = WriteBatch::new();
        batch.put(account(a), value(ba - amount, n)).put(account(b), value(bb + amount, n));
        store.write(batch).unwrap();
        n += 1;
        if n.is_multiple_of(20) {
            // Commits reach the log file where readers replay them. A short pause keeps the
            // writer near 10,000 commits a second (about 40 checkpoints a second): the file a
            // pinned reader makes grow stays small.
            store.flush().unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    store.close().unwrap();
    println!("WK WRITER {n}");
}

/// A reader's child mode: open read-only, say so, and wait to be killed.
#[test]
fn xp_reader_child() {
    let Some(path) = std::env::var_os(READER_ENV).map(PathBuf::from) else { return };
    let store = OpenOptions::new().read_only(true).open(&path).unwrap();
    assert_eq!(scan(&store).unwrap().0, TOTAL);
    println!("WK READER READY");
    std::thread::sleep(Duration::from_secs(600));
}

fn spawn_child(test: &str, env: &str, path: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Sum and count of the accounts, and every balance, from one scan.
fn scan(store: &KVStore) -> wind_kvstore::Result<(u64, Vec<u64>)> {
    let mut sum = 0;
    let mut balances = Vec::new();
    for item in store.prefix("acct:") {
        let (_, v) = item?;
        sum += balance(&v);
        balances.push(balance(&v));
    }
    Ok((sum, balances))
}

fn wait_line(child: &mut Child, want: &str) {
    use std::io::{BufRead, BufReader};
    let out = child.stdout.as_mut().unwrap();
    let mut lines = BufReader::new(out).lines();
    loop {
        let line = lines.next().expect("the child said nothing").unwrap();
        if line.contains(want) {
            return;
        }
    }
}

#[test]
fn readers_in_other_processes_see_one_commit_beside_a_checkpointing_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    {
        let store = writer_options().open(&path).unwrap();
        let mut batch = WriteBatch::new();
        for i in 0..ACCOUNTS {
            batch.put(account(i), value(TOTAL / ACCOUNTS, 0));
        }
        store.write(batch).unwrap();
        store.close().unwrap();
    }
    let writer = spawn_child("xp_writer_child", WRITER_ENV, &path);

    // One long-lived handle: the same state at every scan while the writer runs on.
    std::thread::sleep(Duration::from_millis(200));
    // A small cache: the handle reads its pages from the file again and again, so a page the
    // writer reused under it would show.
    let pinned = OpenOptions::new().read_only(true).cache_bytes(64 << 10).open(&path).unwrap();
    let (sum, first) = scan(&pinned).unwrap();
    assert_eq!((sum, first.len() as u64), (TOTAL, ACCOUNTS));
    let held = pinned.readers().unwrap();
    assert!(held.iter().any(|r| r.pid == Some(std::process::id())), "this reader is in the table: {held:?}");
    let (start, mut scans) = (Instant::now(), 0);
    while start.elapsed() < phase() {
        let (sum, balances) = scan(&pinned).unwrap();
        assert_eq!(sum, TOTAL);
        assert!(balances == first, "scan {scans}: the pinned state changed");
        scans += 1;
    }

    // Fresh opens in a loop: each a whole commit, never older than the one before.
    let (start, mut opens, mut last_seq, mut newer) = (Instant::now(), 0, 0, 0);
    let mut last_report = None;
    while start.elapsed() < phase() {
        let store = OpenOptions::new().read_only(true).open(&path).unwrap();
        let (sum, balances) = scan(&store).unwrap();
        assert_eq!((sum, balances.len() as u64), (TOTAL, ACCOUNTS), "open {opens}");
        let seq = store.stats().last_commit_seq;
        assert!(
            seq >= last_seq,
            "open {opens} saw commit {seq} after {last_seq}: {:?} {:?} ({last_report:?})",
            store.stats(),
            store.recovery_report()
        );
        last_report = Some((store.stats(), store.recovery_report().clone()));
        newer += usize::from(seq > last_seq);
        last_seq = seq;
        opens += 1;
    }
    assert!(newer > 1, "the writer's commits were seen as they came ({newer} of {opens})");

    // A handle moved on with refresh() sees newer commits and still the constant sum.
    let mut moving = OpenOptions::new().read_only(true).open(&path).unwrap();
    let before = moving.stats().last_commit_seq;
    let version = moving.data_version();
    let deadline = Instant::now() + Duration::from_secs(20);
    while moving.data_version() == version {
        assert!(Instant::now() < deadline, "data_version never moved while the writer committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    moving.refresh().unwrap();
    assert!(moving.stats().last_commit_seq > before);
    assert_eq!(scan(&moving).unwrap().0, TOTAL);
    assert_eq!(scan(&pinned).unwrap().1, first, "the first handle still reads its commit");
    drop((pinned, moving));

    // Readers killed with SIGKILL: their slots are free again and the file stops growing.
    let mut readers: Vec<Child> = (0..3).map(|_| spawn_child("xp_reader_child", READER_ENV, &path)).collect();
    for r in &mut readers {
        wait_line(r, "WK READER READY");
    }
    let probe = OpenOptions::new().read_only(true).open(&path).unwrap();
    let others = probe.readers().unwrap().len();
    assert!(others >= 4, "three children and this probe hold slots: {others}");
    std::thread::sleep(phase());
    for r in &mut readers {
        r.kill().unwrap();
        r.wait().unwrap();
    }
    assert_eq!(probe.readers().unwrap().len(), 1, "the killed readers' slots were given back");
    drop(probe);
    // Once nobody pins old pages, the writer reuses them: the file settles.
    std::thread::sleep(phase());
    let settled = std::fs::metadata(&path).unwrap().len();
    std::thread::sleep(phase());
    let later = std::fs::metadata(&path).unwrap().len();
    assert!(later <= settled + settled / 10, "the file kept growing with no reader: {settled} -> {later}");

    // The writer killed with SIGKILL in the middle of its work, a reader pinned meanwhile: the
    // reader sees a whole commit, and a new writer recovers and goes on beside it.
    let reader = OpenOptions::new().read_only(true).cache_bytes(64 << 10).open(&path).unwrap();
    let mut writer = writer;
    writer.kill().unwrap();
    writer.wait().unwrap();
    let after_kill = OpenOptions::new().read_only(true).open(&path).unwrap();
    assert_eq!(scan(&after_kill).unwrap().0, TOTAL, "a read-only open beside a killed writer");
    drop(after_kill);
    let second = spawn_child("xp_writer_child", WRITER_ENV, &path);
    let (start, mut rescans) = (Instant::now(), 0);
    let pinned_balances = scan(&reader).unwrap().1;
    while start.elapsed() < phase() {
        let (sum, balances) = scan(&reader).unwrap();
        assert_eq!(sum, TOTAL);
        assert!(balances == pinned_balances, "the pinned state changed beside the new writer");
        rescans += 1;
    }
    std::fs::write(stop_file(&path), b"").unwrap();
    let out = second.wait_with_output().unwrap();
    assert!(out.status.success(), "the second writer failed");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let commits = stdout.lines().find(|l| l.contains("WK WRITER")).unwrap_or_default().to_owned();
    eprintln!(
        "{scans} scans of one pinned handle, {opens} fresh opens ({newer} saw a newer commit), file {settled} -> {later} bytes once readers were gone; after SIGKILL of the writer, {rescans} scans beside a second writer ({})",
        commits.trim()
    );
    drop(reader);
    let store = KVStore::open(&path, None).unwrap();
    assert_eq!(scan(&store).unwrap().0, TOTAL);
    assert!(store.check().unwrap().is_ok());
}

const LARGE_WRITER_ENV: &str = "WK_XP_LARGE_WRITER";

/// A value in an overflow chain, different for each `which` and `generation`.
fn large(which: u8, generation: u64) -> Vec<u8> {
    let seed = generation.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(which);
    (0..300_000u64).map(|i| (seed.wrapping_add(i).wrapping_mul(31) >> 7).to_le_bytes()[0]).collect()
}

/// The large writer's child mode: two large values and their generation rewritten in one batch
/// per commit, each commit flushed to the log (and checkpointed: every record is past the
/// threshold), until the stop file appears.
#[test]
fn xp_large_writer_child() {
    let Some(path) = std::env::var_os(LARGE_WRITER_ENV).map(PathBuf::from) else { return };
    let store = writer_options().open(&path).unwrap();
    let parent = std::os::unix::process::parent_id();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut generation = 0;
    while !stop_file(&path).exists()
        && Instant::now() < deadline
        && std::os::unix::process::parent_id() == parent
    {
        generation += 1;
        let mut batch = WriteBatch::new();
        batch.put("large:a", large(0, generation)).put("large:b", large(1, generation));
        batch.put("generation", generation.to_le_bytes());
        store.write(batch).unwrap();
        store.flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    store.close().unwrap();
    println!("WK WRITER {generation}");
}

/// One handle's view: its generation, and both large values read a chunk at a time, each
/// compared with that generation's bytes.
fn read_chunked(store: &KVStore) -> u64 {
    let generation = u64::from_le_bytes(store.get("generation").unwrap().unwrap().try_into().unwrap());
    for (which, key) in [(0, "large:a"), (1, "large:b")] {
        let mut value = Vec::new();
        assert!(store.get_chunks(key, |c| value.extend_from_slice(c)).unwrap());
        assert!(value == large(which, generation), "{key} is not generation {generation}'s");
    }
    generation
}

/// Readers in this process read values in overflow chains a chunk at a time (`get_chunks`)
/// beside a writer in another process that rewrites them, with their generation, in every
/// commit and checkpoints all the while: a pinned handle with a small cache reads the same
/// generation's bytes every time, fresh opens each read one whole generation, never older than
/// the one before.
#[test]
fn readers_in_other_processes_read_chunked_values_of_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.db");
    {
        let store = writer_options().open(&path).unwrap();
        let mut batch = WriteBatch::new();
        batch.put("large:a", large(0, 0)).put("large:b", large(1, 0)).put("generation", 0u64.to_le_bytes());
        store.write(batch).unwrap();
        store.close().unwrap();
    }
    let mut writer = spawn_child("xp_large_writer_child", LARGE_WRITER_ENV, &path);
    std::thread::sleep(Duration::from_millis(200));
    let pinned = OpenOptions::new().read_only(true).cache_bytes(64 << 10).open(&path).unwrap();
    let first = read_chunked(&pinned);
    let (start, mut opens, mut last, mut seen) = (Instant::now(), 0, 0, std::collections::BTreeSet::new());
    while start.elapsed() < phase() {
        assert_eq!(read_chunked(&pinned), first, "the pinned handle's generation moved");
        let store = OpenOptions::new().read_only(true).open(&path).unwrap();
        let generation = read_chunked(&store);
        assert!(generation >= last, "open {opens} read generation {generation} after {last}");
        last = generation;
        seen.insert(generation);
        opens += 1;
    }
    std::fs::write(stop_file(&path), b"").unwrap();
    wait_line(&mut writer, "WK WRITER");
    writer.wait().unwrap();
    assert!(
        seen.len() > 2,
        "the writer's commits were seen as they came: {} generations in {opens} opens",
        seen.len()
    );
    assert_eq!(read_chunked(&pinned), first);
}
