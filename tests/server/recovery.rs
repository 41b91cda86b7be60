//! What the open of a store recovered from its log reaches the server's operator (the log) and
//! its clients (`GET /api/stats`).

use std::path::Path;

use hyper::StatusCode;
use serde_json::json;
use wind_kvstore::KVStore;

use crate::support::{Client, TestServer};

/// The first line of the report of a store whose third and last commit is damaged: how it
/// starts and ends (the byte offset between depends on the log header's size).
const REPLAY_STOP: (&str, &str) =
    ("log replay stopped at byte ", ": record checksum mismatch (2 commit(s) replayed before it)");

fn is_replay_stop(line: &str) -> bool {
    line.starts_with(REPLAY_STOP.0) && line.ends_with(REPLAY_STOP.1)
}

/// Writes a store at `path` whose log holds three commits, the last one damaged (its last byte
/// flipped), as a crash and a bad sector would leave it.
fn store_with_replay_stop(path: &Path) {
    store_with_damaged_record(path, 0);
}

/// Writes a store at `path` whose log holds three commits, with the last byte of the one
/// `from_end` records before the last flipped (0: the last record).
fn store_with_damaged_record(path: &Path, from_end: u64) {
    let live = path.with_extension("live");
    let store = KVStore::open(&live, None).unwrap();
    for key in ["k1", "k2", "k3"] {
        store.put(key.as_bytes(), b"v").unwrap();
    }
    std::fs::copy(&live, path).unwrap();
    let mut log = std::fs::read(wind_kvstore::log_path(&live)).unwrap();
    drop(store);
    // The records' ends (docs/FORMAT.md), up to the zeros the writer wrote ahead of them.
    let mut ends = Vec::new();
    let mut at = 512;
    while log.get(at..at + 16).is_some_and(|h| h != [0; 16]) {
        at += 16 + u32::from_le_bytes(log[at..at + 4].try_into().unwrap()) as usize;
        ends.push(at);
    }
    assert_eq!(ends.len(), 3, "three records");
    log[ends[2 - usize::try_from(from_end).unwrap()] - 1] ^= 0xff;
    std::fs::write(wind_kvstore::log_path(path), log).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_carry_the_recovery_report() {
    let server = TestServer::start().await;
    store_with_replay_stop(&server.data_dir.join("damaged.db"));
    let damaged = server.open("damaged.db").await;
    let clean = server.open("clean.db").await;
    let mut c = server.client().await;

    let reply = c.call(&damaged, "GET", "/api/stats", "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["key_count"], 2);
    let recovery = &body["recovery"];
    assert_eq!(recovery["quiet"], false, "{body}");
    assert_eq!(recovery["data_may_be_missing"], false, "{body}");
    assert_eq!(recovery["commits_replayed"], 2, "{body}");
    assert!(recovery["log_kept"].is_boolean(), "{body}");
    assert_eq!(recovery["lines"].as_array().map(Vec::len), Some(1), "{body}");
    assert!(is_replay_stop(recovery["lines"][0].as_str().unwrap()), "{body}");

    let body = c.call(&clean, "GET", "/api/stats", "").await.json();
    assert_eq!(body["recovery"]["quiet"], true, "{body}");
    assert_eq!(body["recovery"]["lines"], json!([]), "{body}");

    // A damaged record with a whole one after it: commits may be missing.
    store_with_damaged_record(&server.data_dir.join("gap.db"), 1);
    let gap = server.open("gap.db").await;
    let body = c.call(&gap, "GET", "/api/stats", "").await.json();
    assert_eq!(body["recovery"]["data_may_be_missing"], true, "{body}");
    assert_eq!(body["recovery"]["log_kept"], true, "{body}");
    let first = body["recovery"]["lines"][0].as_str().unwrap();
    assert!(first.starts_with("acknowledged commits may be missing"), "{body}");
    assert!(
        !first.contains(&*server.data_dir.to_string_lossy()),
        "paths relative to the data directory: {body}"
    );
    server.stop().await;
}

#[test]
fn the_open_logs_the_recovery_report() {
    use std::io::Read;
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    store_with_replay_stop(&data.join("damaged.db"));
    store_with_damaged_record(&data.join("gap.db"), 1);
    let (mut child, addr) = crate::support::spawn_binary(&data, &dir.path().join("empty.toml"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut c = Client::connect(addr).await;
        for name in ["damaged.db", "clean.db", "gap.db"] {
            let reply =
                c.send("POST", "/api/open", &[], json!({"path": name}).to_string().into_bytes()).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        }
    });
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    let gap: Vec<&str> =
        log.lines().filter(|l| l.contains("store recovery") && l.contains("gap.db")).collect();
    assert!(gap.len() >= 2 && gap.iter().all(|l| l.contains(" WARN ")), "warnings for gap.db:\n{log}");
    assert!(gap[0].contains("report=\"acknowledged commits may be missing"), "{log}");
    let recovery: Vec<&str> =
        log.lines().filter(|l| l.contains("store recovery") && !l.contains("gap.db")).collect();
    assert_eq!(recovery.len(), 1, "one line, for damaged.db only:\n{log}");
    assert!(recovery[0].contains(" INFO "), "{log}");
    assert!(recovery[0].contains("damaged.db"), "{log}");
    let report =
        recovery[0].split_once("report=\"").map(|(_, r)| r.trim_end_matches('"')).unwrap_or_default();
    assert!(is_replay_stop(report), "{log}");
}
