//! Idle sessions and shutdown close stores cleanly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use wind_kvstore::KVStore;
use wind_kvstore::server::SESSION_HEADER;

use crate::support::{Client, TestServer};

/// The store at `path` was closed cleanly: its lock is free and its log holds no record.
fn assert_closed_cleanly(path: &Path, keys: u64) {
    let log = wind_kvstore::log_path(path);
    let log_bytes = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let store = KVStore::open(path, None).expect("the lock was released");
    assert_eq!(store.recovery_report().commits_replayed, 0, "nothing left to replay");
    assert_eq!(store.len().unwrap(), keys);
    assert!(log_bytes <= 512, "the log was checkpointed and emptied to its header ({log_bytes} bytes)");
    store.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_closed_cleanly() {
    let server = TestServer::start_with(|c| c.session_idle_secs = 1).await;
    let idle = server.open("idle.db").await;
    let mut c = server.client().await;
    let body = r#"[{"key":"a","value":"1"},{"key":"b","value":"2"}]"#;
    assert_eq!(c.call(&idle, "POST", "/api/put", body).await.status, StatusCode::OK);

    let deadline = Instant::now() + Duration::from_secs(10);
    // The store leaves the counts only once it is closed.
    while server.state.counts().open_stores > 0 {
        assert!(Instant::now() < deadline, "the idle session was never closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.state.counts().sessions, 0);
    let reply = c.call(&idle, "GET", "/api/get?key=a", "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_closed_cleanly(&server.data_dir.join("idle.db"), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_session_is_not_evicted() {
    let server = TestServer::start_with(|c| c.session_idle_secs = 1).await;
    let s = server.open("busy.db").await;
    let mut c = server.client().await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(c.call(&s, "GET", "/api/current", "").await.status, StatusCode::OK);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_server_closes_every_store() {
    let server = TestServer::start().await;
    let a = server.open("a.db").await;
    let _b = server.open("b.db").await;
    let mut c = server.client().await;
    c.call(&a, "POST", "/api/put", r#"[{"key":"k","value":"v"}]"#).await;
    let addr = server.addr;
    let data_dir = server.data_dir.clone();
    let state = server.state.clone();
    let started = Instant::now();
    let _dir = server.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(state.counts().sessions, 0);
    assert_eq!(state.counts().open_stores, 0);
    assert_closed_cleanly(&data_dir.join("a.db"), 1);
    assert_closed_cleanly(&data_dir.join("b.db"), 0);
    let reply = Client::connect_or_refused(addr).await;
    assert!(reply, "the listener is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_acknowledged_before_a_stop_survive_it() {
    const WRITERS: usize = 4;
    /// Enough to still be writing when the stop comes.
    const MAX_PUTS: usize = 5_000;
    let server = TestServer::start().await;
    let session = server.open("inflight.db").await;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut client = server.client().await;
        let session = session.clone();
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..MAX_PUTS {
                let key = format!("w{w}:{i:05}");
                let body = format!(r#"[{{"key":"{key}","value":"v"}}]"#);
                match client
                    .try_send("POST", "/api/put", &[(SESSION_HEADER, &session)], body.into_bytes())
                    .await
                {
                    Some(reply) if reply.status == StatusCode::OK => acknowledged.push(key),
                    // Refused or cut off by the stop: not acknowledged, and the writer is done.
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let data_dir = server.data_dir.clone();
    let _dir = server.stop().await;
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(!acknowledged.is_empty());
    assert!(acknowledged.len() < WRITERS * MAX_PUTS, "the stop came while writers were busy");
    let store = KVStore::open(data_dir.join("inflight.db"), None).unwrap();
    assert_eq!(store.recovery_report().commits_replayed, 0, "closed cleanly");
    for key in &acknowledged {
        assert!(store.contains_key(key).unwrap(), "acknowledged {key} was lost");
    }
    store.close().unwrap();
}

/// Kills the child if the test fails before it exits on its own.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Spawns the real binary, writes through it, sends `signal`, expects exit 0 within 5 s and
/// every store closed.
fn signal_test(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("server.toml");
    // A host name, not an address: it must resolve.
    std::fs::write(
        &config,
        format!("host = \"localhost\"\nport = 0\ndata_dir = {:?}\n", data.display().to_string()),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_wkserver"))
        .arg("--config")
        .arg(&config)
        .env_remove("WKSERVER_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("wkserver listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback());

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut c = Client::connect(addr).await;
        let reply = c.send("POST", "/api/open", &[], br#"{"path":"sig.db"}"#.to_vec()).await;
        let s = reply.header(SESSION_HEADER).unwrap();
        for i in 0..50 {
            let body = format!(r#"[{{"key":"k{i}","value":"v{i}"}}]"#);
            assert_eq!(c.call(&s, "POST", "/api/put", &body).await.status, StatusCode::OK);
        }
    });

    let sent = Instant::now();
    let status =
        Command::new("kill").arg(format!("-{signal}")).arg(child.0.id().to_string()).status().unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        if sent.elapsed() > Duration::from_secs(5) {
            panic!("wkserver did not exit within 5 s of SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0), "exit status after SIG{signal}");
    assert_closed_cleanly(&data.join("sig.db"), 50);
}

#[test]
fn sigterm_stops_the_binary_cleanly() {
    signal_test("TERM");
}

#[test]
fn sigint_stops_the_binary_cleanly() {
    signal_test("INT");
}
