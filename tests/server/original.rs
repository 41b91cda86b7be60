//! The original Python client's sequence, with the original answers byte for byte.

use hyper::StatusCode;
use serde_json::json;
use wind_kvstore::server::SESSION_HEADER;

use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_clients_sequence_gets_the_original_answers() {
    let server = TestServer::start().await;
    let mut c = server.client().await;

    let reply = c.send("GET", "/", &[], vec![]).await;
    assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "Wind-KVStore Server is Running!"));

    // open: the client reads the session from the X-Session-ID header.
    let reply = c
        .send(
            "POST",
            "/api/open",
            &[("Content-Type", "application/json")],
            br#"{"path": "test.kv"}"#.to_vec(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), r#"{"status":"Database opened"}"#);
    let id = reply.header(SESSION_HEADER).unwrap();
    let s = id.as_str();

    // put: three pairs in one request, then one pair per request as the Python client sends them.
    let reply = c
        .call(s, "POST", "/api/put", r#"[{"key":"name","value":"Alice"},{"key":"age","value":"25"},{"key":"city","value":"New York"}]"#)
        .await;
    assert_eq!(reply.text(), r#"{"status":"Inserted 3 key-value pairs"}"#);
    for (key, value) in [("name", "Alice"), ("age", "25"), ("city", "New York")] {
        let reply = c.call(s, "POST", "/api/put", &json!([{"key": key, "value": value}]).to_string()).await;
        assert_eq!(reply.text(), r#"{"status":"Inserted 1 key-value pairs"}"#);
        assert_eq!(reply.header(SESSION_HEADER).as_deref(), Some(s));
    }

    // get
    let reply = c.call(s, "GET", "/api/get?key=name", "").await;
    assert_eq!(reply.text(), r#"{"key":"name","value":"Alice"}"#);
    let reply = c.call(s, "GET", "/api/get?key=city", "").await;
    assert_eq!(reply.text(), r#"{"key":"city","value":"New York"}"#);

    // delete, then get the deleted key
    let reply = c.call(s, "POST", "/api/del", r#"{"key":"city"}"#).await;
    assert_eq!(reply.text(), r#"{"status":"Key deleted"}"#);
    let reply = c.call(s, "GET", "/api/get?key=city", "").await;
    assert_eq!(reply.text(), r#"{"key":"city","value":null}"#);

    // identifier
    let reply = c.call(s, "POST", "/api/id/set", r#"{"identifier":"test_db_123"}"#).await;
    assert_eq!(reply.text(), r#"{"status":"Identifier updated"}"#);
    let reply = c.call(s, "GET", "/api/id/get", "").await;
    assert_eq!(reply.text(), r#"{"identifier":"test_db_123"}"#);

    // current, compact
    let reply = c.call(s, "GET", "/api/current", "").await;
    assert_eq!(reply.text(), r#"{"path":"test.kv"}"#);
    let reply = c.call(s, "GET", "/api/compact", "").await;
    assert_eq!(reply.text(), r#"{"status":"Database compacted"}"#);

    // execute: the script as the Python client sends it (a triple-quoted string whose lines end
    // in `\`), answered with the original's `status` alone: each piece between two `;` echoed
    // as written, the whitespace after the last `;` included (the original ran it, and answered
    // "Unknown command").
    let script = "\n            PUT \"color\":\"blue\";            PUT \"size\":\"large\";            IDENTIFIER SET \"advanced_db_456\";\n            ";
    let reply = c
        .send("POST", "/api/execute", &[(SESSION_HEADER, s), ("Content-Type", "text/plain")], script.into())
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let expected_status = "\"\n            PUT \"color\":\"blue\": Inserted 1 key-value pairs;\" \
         \"            PUT \"size\":\"large\": Inserted 1 key-value pairs;\" \
         \"            IDENTIFIER SET \"advanced_db_456\": Identifier set to 'advanced_db_456';\" \
         \"\n            : Error: Unknown command;\"";
    assert_eq!(
        reply.text(),
        json!({"status": expected_status}).to_string(),
        "the original's body, byte for byte"
    );
    assert_eq!(reply.header(SESSION_HEADER).as_deref(), Some(s));
    let reply = c.call(s, "GET", "/api/get?key=color", "").await;
    assert_eq!(reply.text(), r#"{"key":"color","value":"blue"}"#);
    let reply = c.call(s, "GET", "/api/id/get", "").await;
    assert_eq!(reply.text(), r#"{"identifier":"advanced_db_456"}"#);

    // close ends the session.
    let reply = c.call(s, "GET", "/api/close", "").await;
    assert_eq!(reply.text(), r#"{"status":"Database closed"}"#);
    let reply = c.call(s, "GET", "/api/current", "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.state.counts().sessions, 0);
    assert_eq!(server.state.counts().open_stores, 0);

    // The file holds what the session wrote.
    let store = wind_kvstore::KVStore::open(server.data_dir.join("test.kv"), None).unwrap();
    assert_eq!(store.get_identifier(), "advanced_db_456");
    assert_eq!(store.get(b"name").unwrap().as_deref(), Some(&b"Alice"[..]));
    assert_eq!(store.get(b"city").unwrap(), None);
    store.close().unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_reports_each_statement_and_goes_on_past_errors() {
    let server = TestServer::start().await;
    let s = server.open("e.db").await;
    let mut c = server.client().await;
    let script = "PUT \"a\":\"1\"; GET WHERE KEY=\"a\"; GET WHERE KEY \"a\"; DEL WHERE KEY=\"zz\"; COUNT; FROB;GET WHERE KEY=*;";
    // Without `results=true`: the status alone, as the original answered.
    let reply = c.call(&s, "POST", "/api/execute", script).await;
    assert_eq!(reply.status, StatusCode::OK);
    let expected = "\"PUT \"a\":\"1\": Inserted 1 key-value pairs;\" \" GET WHERE KEY=\"a\": 1;\" \
         \" GET WHERE KEY \"a\": Error: Unknown command;\" \" DEL WHERE KEY=\"zz\": Key deleted;\" \
         \" COUNT: 1;\" \" FROB: Error: Unknown command;\" \"GET WHERE KEY=*: Found 1 key-value pairs:\n\"a\": \"1\";\"";
    assert_eq!(reply.json(), json!({"status": expected}));

    // With it: the same status, then one typed result per piece of the status.
    let reply = c.call(&s, "POST", "/api/execute?results=true", script).await;
    assert!(reply.text().starts_with(r#"{"status":"#), "status first, as in the original");
    let body = reply.json();
    assert_eq!(body["status"], expected);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 7);
    assert_eq!(results[0], json!({"kind": "inserted", "count": 1, "message": "Inserted 1 key-value pairs"}));
    assert_eq!(results[1], json!({"kind": "value", "key": "a", "value": "1"}));
    assert_eq!(results[2]["kind"], "error");
    assert_eq!(results[2]["column"], 47);
    assert!(results[2]["message"].as_str().unwrap().contains("expected '=' after KEY"), "{}", results[2]);
    assert_eq!(results[3]["kind"], "not_found", "the result tells the key did not exist");
    assert_eq!(results[4], json!({"kind": "count", "count": 1}));
    assert_eq!(results[5]["kind"], "error");
    assert_eq!(results[6]["kind"], "pairs");
    let reply = c.call(&s, "POST", "/api/execute?results=maybe", "COUNT;").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // EXPORT and IMPORT stay inside the data directory and away from stores' files.
    let reply = c.call(&s, "POST", "/api/execute?results=true", "EXPORT \"/tmp/x.txt\"; EXPORT \"../x.txt\"; EXPORT \"e.db\"; EXPORT \"e.db.wal\"; EXPORT \"dump.txt\";").await;
    let results = reply.json()["results"].as_array().unwrap().clone();
    for r in &results[..4] {
        assert_eq!(r["kind"], "error", "{r}");
    }
    assert_eq!(results[4]["kind"], "exported", "{}", results[4]);
    assert_eq!(results[4]["path"], "dump.txt", "paths are shown relative to the data directory");
    assert!(!reply.text().contains(&*server.data_dir.to_string_lossy()));
    assert!(server.data_dir.join("dump.txt").exists());
    server.stop().await;
}
