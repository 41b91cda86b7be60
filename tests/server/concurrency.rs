//! Many sessions on one file at once.

use hyper::StatusCode;
use serde_json::json;

use crate::support::TestServer;

const SESSIONS: usize = 8;
const KEYS_PER_SESSION: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_sessions_writing_to_one_file_lose_nothing() {
    let server = TestServer::start().await;
    let mut writers = Vec::new();
    for w in 0..SESSIONS {
        let session = server.open("shared.db").await;
        let mut client = server.client().await;
        writers.push(tokio::spawn(async move {
            for i in 0..KEYS_PER_SESSION {
                let body =
                    json!([{"key": format!("w{w}:{i:03}"), "value": format!("value {w} {i}")}]).to_string();
                let reply = client.call(&session, "POST", "/api/put", &body).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
                assert_eq!(reply.text(), r#"{"status":"Inserted 1 key-value pairs"}"#);
            }
            session
        }));
    }
    assert_eq!(server.state.counts().sessions, SESSIONS);
    assert_eq!(server.state.counts().open_stores, 1, "one file, one open store");
    let mut sessions = Vec::new();
    for writer in writers {
        sessions.push(writer.await.unwrap());
    }

    // Every session sees every write.
    let mut client = server.client().await;
    let reply = client.call(&sessions[0], "GET", "/api/scan?limit=10000", "").await;
    let body = reply.json();
    assert_eq!(body["count"], SESSIONS * KEYS_PER_SESSION);
    assert_eq!(body["next"], serde_json::Value::Null);
    let pairs = body["pairs"].as_array().unwrap();
    for w in 0..SESSIONS {
        for i in 0..KEYS_PER_SESSION {
            let index = w * KEYS_PER_SESSION + i;
            assert_eq!(pairs[index]["key"], format!("w{w}:{i:03}"));
            assert_eq!(pairs[index]["value"], format!("value {w} {i}"));
        }
    }

    // The last session out closes the store; earlier closes leave it to the others.
    for (n, session) in sessions.iter().enumerate() {
        let reply = client.call(session, "GET", "/api/close", "").await;
        assert_eq!(reply.text(), r#"{"status":"Database closed"}"#);
        let open = server.state.counts().open_stores;
        assert_eq!(open, usize::from(n + 1 < SESSIONS), "after closing {} of {SESSIONS}", n + 1);
        if n + 1 < SESSIONS {
            let reply = client.call(&sessions[n + 1], "GET", "/api/get?key=w0:000", "").await;
            assert_eq!(reply.text(), r#"{"key":"w0:000","value":"value 0 0"}"#);
        }
    }

    // Closed cleanly: the lock is free, and nothing is left in the log to replay.
    let store = wind_kvstore::KVStore::open(server.data_dir.join("shared.db"), None).unwrap();
    assert_eq!(store.len().unwrap(), (SESSIONS * KEYS_PER_SESSION) as u64);
    assert_eq!(store.recovery_report().commits_replayed, 0);
    store.close().unwrap();
    server.stop().await;
}
