//! What the open of a store recovered from its log reaches the server's operator (the log) and
//! its clients (`GET /api/stats`).

use std::path::Path;

use hyper::StatusCode;
use serde_json::json;
use wind_kvstore::KVStore;

use crate::support::{Client, TestServer};

/// The first line of the report of a store whose third and last commit is damaged.
const REPLAY_STOP: &str =
    "log replay stopped at byte 96: record checksum mismatch (2 commit(s) replayed before it)";

/// Writes a store at `path` whose log holds three commits, the last one damaged (its last byte
/// flipped), as a crash and a bad sector would leave it.
fn store_with_replay_stop(path: &Path) {
    let live = path.with_extension("live");
    let store = KVStore::open(&live, None).unwrap();
    for key in ["k1", "k2", "k3"] {
        store.put(key.as_bytes(), b"v").unwrap();
    }
    std::fs::copy(&live, path).unwrap();
    let mut log = std::fs::read(wind_kvstore::log_path(&live)).unwrap();
    drop(store);
    let last = log.len() - 1;
    log[last] ^= 0xff;
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
    assert_eq!(
        body["recovery"],
        json!({"quiet": false, "data_may_be_missing": false, "commits_replayed": 2, "log_kept": false, "lines": [REPLAY_STOP]}),
        "{body}"
    );

    let body = c.call(&clean, "GET", "/api/stats", "").await.json();
    assert_eq!(body["recovery"]["quiet"], true, "{body}");
    assert_eq!(body["recovery"]["lines"], json!([]), "{body}");
    server.stop().await;
}

#[test]
fn the_open_logs_the_recovery_report() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    store_with_replay_stop(&data.join("damaged.db"));
    std::fs::write(dir.path().join("empty.toml"), "").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wkserver"))
        .args(["--port", "0", "--host", "127.0.0.1", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(dir.path().join("empty.toml"))
        .env_remove("WKSERVER_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line.trim().rsplit('/').next().unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut c = Client::connect(addr).await;
        for name in ["damaged.db", "clean.db"] {
            let reply =
                c.send("POST", "/api/open", &[], json!({"path": name}).to_string().into_bytes()).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        }
    });
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    let recovery: Vec<&str> = log.lines().filter(|l| l.contains("store recovery")).collect();
    assert_eq!(recovery.len(), 1, "one line, for damaged.db only:\n{log}");
    assert!(recovery[0].contains(" INFO "), "{log}");
    assert!(recovery[0].contains("damaged.db"), "{log}");
    assert!(recovery[0].contains(&format!("report=\"{REPLAY_STOP}\"")), "{log}");
}
