//! A real process killed with SIGKILL at random moments, many times over one store: every
//! acknowledged write and delete survives, the write in flight is whole or absent.
//!
//! The child is this test binary run again with `WK_CRASH_CHILD_DIR` set: the `sigkill_child`
//! test then writes to the store in that directory and prints `WK BEGIN <op>` before each
//! operation and `WK ACK` after it returns. `WK_CRASH_KILLS` sets the number of kills.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wind_kvstore::io::faulty::Rng;
use wind_kvstore::{KVStore, OpenOptions};

use crate::common::*;

const CHILD_DIR_ENV: &str = "WK_CRASH_CHILD_DIR";
const CHILD_SEED_ENV: &str = "WK_CRASH_CHILD_SEED";
/// Operations a child runs at most before it exits by itself.
const CHILD_MAX_OPS: u64 = 5000;
/// How long the parent waits for a child's next line before giving up on it.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

fn store_path(dir: &Path) -> std::path::PathBuf {
    dir.join("killed.db")
}

fn child_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.page_size(PAGE_SIZE).identifier(IDENTIFIER).checkpoint_log_bytes(CHECKPOINT_LOG_BYTES);
    o
}

fn encode(op: &Op) -> String {
    match op {
        Op::Put(k, len, tag) => format!("P {} {len} {tag}", String::from_utf8_lossy(k)),
        Op::Delete(k) => format!("D {}", String::from_utf8_lossy(k)),
        Op::Batch(items) => {
            let mut s = "B".to_string();
            for (k, v) in items {
                let k = String::from_utf8_lossy(k);
                match v {
                    Some((len, tag)) => s += &format!(" {k}={len}:{tag}"),
                    None => s += &format!(" {k}=-"),
                }
            }
            s
        }
        Op::Checkpoint => "K".into(),
        Op::Compact => "C".into(),
        Op::Flush => "F".into(),
        Op::SetIdentifier(id) => format!("I {id}"),
    }
}

fn decode(line: &str) -> Op {
    let mut t = line.split(' ');
    let num = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok()).expect("number");
    match t.next() {
        Some("P") => {
            let k = t.next().expect("key").as_bytes().to_vec();
            Op::Put(k, num(t.next()) as usize, num(t.next()))
        }
        Some("D") => Op::Delete(t.next().expect("key").as_bytes().to_vec()),
        Some("B") => Op::Batch(
            t.map(|item| {
                let (k, v) = item.split_once('=').expect("k=v");
                let v = (v != "-").then(|| {
                    let (len, tag) = v.split_once(':').expect("len:tag");
                    (len.parse().unwrap(), tag.parse().unwrap())
                });
                (k.as_bytes().to_vec(), v)
            })
            .collect(),
        ),
        Some("K") => Op::Checkpoint,
        Some("C") => Op::Compact,
        Some("F") => Op::Flush,
        Some("I") => Op::SetIdentifier(t.next().unwrap_or_default().to_string()),
        other => panic!("unknown op {other:?} in {line:?}"),
    }
}

fn child_op(rng: &mut Rng, n: u64, seed: u64) -> Op {
    let tag = (seed << 20) + n;
    match rng.below(100) {
        0..=49 => Op::Put(key(rng.below(80)), 1 + rng.below(150) as usize, tag),
        50..=64 => Op::Put(key(rng.below(80)), 1500 + rng.below(5000) as usize, tag),
        65..=79 => Op::Delete(key(rng.below(80))),
        80..=95 => Op::Batch(
            (0..2 + rng.below(6))
                .map(|j| {
                    let k = key(rng.below(80));
                    if rng.below(4) == 0 {
                        (k, None)
                    } else {
                        (k, Some((1 + rng.below(400) as usize, tag * 8 + j)))
                    }
                })
                .collect(),
        ),
        96..=97 => Op::Checkpoint,
        _ => Op::Compact,
    }
}

/// The child: does nothing unless started by `sigkill_loop`.
#[test]
fn sigkill_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else { return };
    let seed: u64 = std::env::var(CHILD_SEED_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut store = child_options().open(store_path(Path::new(&dir))).expect("child: open");
    println!("WK OPEN");
    let mut rng = Rng::new(seed);
    for n in 0..CHILD_MAX_OPS {
        let op = child_op(&mut rng, n, seed);
        println!("WK BEGIN {}", encode(&op));
        run_op(&mut store, &op).expect("child: op");
        println!("WK ACK");
    }
    println!("WK DONE");
}

fn kills() -> u64 {
    std::env::var("WK_CRASH_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(if long_run() {
        1000
    } else {
        50
    })
}

#[test]
fn sigkill_loop() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut model = Model::new();
    let mut rng = Rng::new(0x5151);
    let (mut acks_total, mut inflight_kept, mut inflight_lost, mut finished) = (0u64, 0u64, 0u64, 0u64);
    let rounds = kills();
    let started = Instant::now();
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["sigkill::sigkill_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_SEED_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness may print its own text before ours on the first line.
                if let Some((_, rest)) = line.split_once("WK ")
                    && tx.send(rest.to_string()).is_err()
                {
                    break;
                }
            }
        });
        // Kill after a random number of acknowledgements (0: possibly while opening and
        // recovering), a random moment after it.
        let target = rng.below(30);
        let mut lines = Vec::new();
        let mut acks = 0;
        let mut done = false;
        while acks < target && !done {
            let line =
                rx.recv_timeout(LINE_TIMEOUT).unwrap_or_else(|e| panic!("round {round}: child silent: {e}"));
            acks += u64::from(line == "ACK");
            done = line == "DONE";
            lines.push(line);
        }
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        child.kill().expect("SIGKILL");
        let status = child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        finished += u64::from(status.success());

        let mut inflight = None;
        for line in &lines {
            if let Some(op) = line.strip_prefix("BEGIN ") {
                inflight = Some(decode(op));
            } else if line == "ACK" {
                model.apply(&inflight.take().expect("ACK follows BEGIN"));
                acks_total += 1;
            }
        }
        let what = format!("kill {round} after {} lines", lines.len());
        let path = store_path(dir.path());
        if !path.exists() {
            assert!(model.map.is_empty(), "{what}: store file missing");
            continue;
        }
        let reader =
            child_options().read_only(true).open(&path).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
        let report = reader.check().unwrap();
        assert!(report.is_ok(), "{what}: {:?}", report.problems);
        let got = dump(&reader).unwrap_or_else(|e| panic!("{what}: read: {e}"));
        if got != model {
            let mut with = model.clone();
            let op = inflight
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: acknowledged state lost: {}", got.summary()));
            with.apply(op);
            assert!(
                got == with,
                "{what}: neither the acknowledged state nor it plus the op in flight {op:?}"
            );
            model = with;
            inflight_kept += 1;
        } else if inflight.is_some() {
            inflight_lost += 1;
        }
    }
    // The store is whole for a writer too.
    let store = KVStore::open(store_path(dir.path()), None).unwrap();
    assert_eq!(dump(&store).unwrap().map, model.map);
    assert!(store.check().unwrap().is_ok());
    eprintln!(
        "SIGKILL: {rounds} kills, {acks_total} acknowledged ops verified, op in flight kept {inflight_kept} / \
         absent {inflight_lost} times, {finished} children finished, {:.1?}",
        started.elapsed()
    );
}
