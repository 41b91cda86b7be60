//! Hostile and careless clients: every one refused with the stated status, the server stays up.

use hyper::StatusCode;
use serde_json::{Value, json};
use wind_kvstore::server::SESSION_HEADER;

use crate::support::{Reply, TestServer};

/// An error answer: the JSON error shape, nothing about where the data directory is.
fn assert_error(reply: &Reply, status: StatusCode, code: &str, server: &TestServer) {
    assert_eq!(reply.status, status, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["error"], code, "{body}");
    let message = body["message"].as_str().unwrap();
    assert_eq!(body["status"], format!("Error: {message}"));
    assert!(!reply.text().contains(&*server.outside().to_string_lossy()), "a path leaked: {}", reply.text());
}

async fn still_up(server: &TestServer) {
    let reply = server.request("GET", "/api/health", &[], "").await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_leading_outside_the_data_directory_are_refused() {
    let server = TestServer::start().await;
    let outside = server.outside().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("victim.db"), b"not yours").unwrap();
    std::os::unix::fs::symlink(&outside, server.data_dir.join("linked-dir")).unwrap();
    std::os::unix::fs::symlink(outside.join("victim.db"), server.data_dir.join("linked.db")).unwrap();
    std::os::unix::fs::symlink(outside.join("new.db"), server.data_dir.join("dangling.db")).unwrap();
    let absolute = outside.join("abs.db").display().to_string();

    for path in [
        absolute.as_str(),
        "/etc/passwd",
        "../escape.db",
        "a/../../escape.db",
        "./../escape.db",
        "linked-dir/x.db",
        "linked.db",
        "dangling.db",
        "",
        "missing-folder/x.db",
    ] {
        let reply = server.request("POST", "/api/open", &[], &json!({"path": path}).to_string()).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_path", &server);
        assert!(reply.header(SESSION_HEADER).is_none());
    }
    let entries: Vec<_> = std::fs::read_dir(&outside).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, ["victim.db"], "nothing was created outside");
    assert_eq!(std::fs::read(outside.join("victim.db")).unwrap(), b"not yours");
    assert!(!server.outside().join("escape.db").exists());
    assert_eq!(server.state.counts().sessions, 0);

    // A link that stays inside is fine, and shares the store with its target's name.
    std::os::unix::fs::symlink(server.data_dir.join("real.db"), server.data_dir.join("alias.db")).unwrap();
    let real = server.open("real.db").await;
    let alias = server.open("alias.db").await;
    assert_eq!(server.state.counts().open_stores, 1);
    let mut c = server.client().await;
    c.call(&real, "POST", "/api/put", r#"[{"key":"k","value":"v"}]"#).await;
    let reply = c.call(&alias, "GET", "/api/get?key=k", "").await;
    assert_eq!(reply.text(), r#"{"key":"k","value":"v"}"#);
    still_up(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_get_413() {
    let server = TestServer::start_with(|c| c.max_body_bytes = 4096).await;
    let s = server.open("big.db").await;
    let big_value = "x".repeat(8192);
    let put = json!([{"key": "k", "value": big_value}]).to_string();
    for (path, body) in
        [("/api/put", put.as_str()), ("/api/execute", big_value.as_str()), ("/api/open", put.as_str())]
    {
        let reply = server.request("POST", path, &[(SESSION_HEADER, &s)], body).await;
        assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", &server);
    }
    // Just under the limit is fine.
    let small = json!([{"key": "k", "value": "x".repeat(3000)}]).to_string();
    let reply = server.request("POST", "/api/put", &[(SESSION_HEADER, &s)], &small).await;
    assert_eq!(reply.status, StatusCode::OK);
    still_up(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_gets_400_naming_the_problem_and_writes_nothing() {
    let server = TestServer::start().await;
    let s = server.open("m.db").await;
    let mut c = server.client().await;
    let cases: [(&str, &str, &str, &str); 8] = [
        ("/api/open", r#"{"path": }"#, "bad_json", "expected value at line 1 column 10"),
        ("/api/open", r#"{"path": "a.db""#, "bad_json", "EOF while parsing"),
        ("/api/open", r#"{"file": "a.db"}"#, "bad_request", "missing field `path`"),
        ("/api/put", r#"{"key":"a","value":"b"}"#, "bad_request", "expected a sequence"),
        (
            "/api/put",
            r#"[{"key":"a","value":"1"},{"key":"b"}]"#,
            "bad_item",
            "item 1 (key \"b\"): missing \"value\"",
        ),
        ("/api/put", r#"[{"key":"a","value":"1"},{"key":"b","value":null}]"#, "bad_item", "item 1"),
        ("/api/put", r#"[{"key":"a","value":"!!","encoding":"base64"}]"#, "bad_item", "not valid base64"),
        ("/api/del", r#"{"key": 12}"#, "bad_request", "invalid type: integer `12`"),
    ];
    for (path, body, code, needle) in cases {
        let reply = c.call(&s, "POST", path, body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, code, &server);
        let message = reply.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(needle), "{path} {body}: {message}");
    }
    let reply = c.call(&s, "POST", "/api/put", r#"[{"key":"a","value":"1","encoding":"hex"}]"#).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", &server);
    assert!(reply.json()["message"].as_str().unwrap().contains("unknown variant `hex`"));
    let reply = c.call(&s, "GET", "/api/get", "").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_query", &server);
    assert!(reply.json()["message"].as_str().unwrap().contains("missing field `key`"));
    let reply = c.send("POST", "/api/execute", &[(SESSION_HEADER, &s)], vec![0xff, 0xfe, b';']).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_body", &server);

    // The batch with a bad item wrote nothing, not even its good first item.
    let reply = c.call(&s, "GET", "/api/get?key=a", "").await;
    assert_eq!(reply.text(), r#"{"key":"a","value":null}"#);
    let reply = c.call(&s, "GET", "/api/stats", "").await;
    assert_eq!(reply.json()["key_count"], 0);

    // A key over the store's limit is named, and the batch is refused whole.
    let long = "k".repeat(100_000);
    let reply = c
        .call(&s, "POST", "/api/put", &json!([{"key":"a","value":"1"},{"key": long,"value":"2"}]).to_string())
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "too_large", &server);
    assert!(reply.json()["message"].as_str().unwrap().starts_with("item 1 (key \"kkk"));
    let reply = c.call(&s, "GET", "/api/get?key=a", "").await;
    assert_eq!(reply.text(), r#"{"key":"a","value":null}"#);
    still_up(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_token_is_required_on_every_route() {
    let server = TestServer::start_with(|c| c.auth_token = Some("s3cret-token".into())).await;
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer s3cret-toke"),
        Some("s3cret-token"),
        Some("Basic s3cret-token"),
    ] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
        for (method, path, body) in
            [("GET", "/", ""), ("GET", "/api/health", ""), ("POST", "/api/open", r#"{"path":"t.db"}"#)]
        {
            let reply = server.request(method, path, &headers, body).await;
            assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized", &server);
            assert_eq!(reply.header("www-authenticate").as_deref(), Some("Bearer"));
        }
    }
    assert_eq!(server.state.counts().sessions, 0);
    let auth = [("Authorization", "Bearer s3cret-token")];
    let reply = server.request("POST", "/api/open", &auth, r#"{"path":"t.db"}"#).await;
    assert_eq!(reply.status, StatusCode::OK);
    let s = reply.header(SESSION_HEADER).unwrap();
    // The session alone is not enough.
    let reply = server.request("GET", "/api/current", &[(SESSION_HEADER, &s)], "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = server.request("GET", "/api/current", &[(SESSION_HEADER, &s), auth[0]], "").await;
    assert_eq!(reply.text(), r#"{"path":"t.db"}"#);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_or_missing_sessions_get_401_and_create_nothing() {
    let server = TestServer::start().await;
    let real = server.open("s.db").await;
    for headers in [
        vec![],
        vec![(SESSION_HEADER, "not-a-uuid")],
        vec![(SESSION_HEADER, "6f1c2a9e-7b3d-4c8e-9a1f-2b3c4d5e6f70")],
    ] {
        for (method, path, body) in [
            ("POST", "/api/put", r#"[{"key":"a","value":"b"}]"#),
            ("GET", "/api/get?key=a", ""),
            ("GET", "/api/current", ""),
            ("POST", "/api/execute", "PUT \"a\":\"b\";"),
            ("GET", "/api/close", ""),
        ] {
            let reply = server.request(method, path, &headers, body).await;
            assert_error(&reply, StatusCode::UNAUTHORIZED, "no_session", &server);
            assert!(reply.header(SESSION_HEADER).is_none());
        }
    }
    assert_eq!(server.state.counts().sessions, 1, "only the real session exists");
    let reply = server.request("GET", "/api/get?key=a", &[(SESSION_HEADER, &real)], "").await;
    assert_eq!(reply.text(), r#"{"key":"a","value":null}"#, "nothing was written through a bad session");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_beyond_the_maximum_get_503() {
    let server = TestServer::start_with(|c| c.max_sessions = 2).await;
    let a = server.open("a.db").await;
    let _b = server.open("b.db").await;
    let reply = server.request("POST", "/api/open", &[], r#"{"path":"c.db"}"#).await;
    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "too_many_sessions", &server);
    assert!(!server.data_dir.join("c.db").exists(), "a refused open touches no file");
    assert_eq!(server.state.counts().sessions, 2);
    server.request("GET", "/api/close", &[(SESSION_HEADER, &a)], "").await;
    server.open("c.db").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_keys_and_values_travel_as_base64() {
    let server = TestServer::start().await;
    let s = server.open("bin.db").await;
    let mut c = server.client().await;
    // key 0xff00, value 0x00 0x01 0xfe; and a text pair.
    let body = r#"[{"key":"/wA=","key_encoding":"base64","value":"AAH+","encoding":"base64"},{"key":"t","value":"text"}]"#;
    assert_eq!(c.call(&s, "POST", "/api/put", body).await.status, StatusCode::OK);
    let reply = c.call(&s, "GET", "/api/get?key=%2FwA%3D&key_encoding=base64", "").await;
    assert_eq!(
        reply.json(),
        json!({"key": "/wA=", "key_encoding": "base64", "value": "AAH+", "encoding": "base64"})
    );
    let reply = c.call(&s, "GET", "/api/get?key=t&encoding=base64", "").await;
    assert_eq!(reply.json(), json!({"key": "t", "value": "dGV4dA==", "encoding": "base64"}));
    let reply = c.call(&s, "GET", "/api/scan", "").await;
    assert_eq!(
        reply.json(),
        json!({"count": 2, "next": null, "pairs": [
            {"key": "t", "value": "text"},
            {"key": "/wA=", "key_encoding": "base64", "value": "AAH+", "encoding": "base64"},
        ]})
    );
    let reply = c.call(&s, "POST", "/api/del", r#"{"key":"/wA=","key_encoding":"base64"}"#).await;
    assert_eq!(reply.header("x-key-existed").as_deref(), Some("true"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_pages_by_prefix_with_a_resume_key() {
    let server = TestServer::start().await;
    let s = server.open("scan.db").await;
    let mut c = server.client().await;
    let items: Vec<Value> =
        (0..25).map(|i| json!({"key": format!("user:{i:02}"), "value": format!("v{i}")})).collect();
    c.call(&s, "POST", "/api/put", &Value::from(items).to_string()).await;
    c.call(&s, "POST", "/api/put", r#"[{"key":"zzz","value":"other"}]"#).await;
    let mut seen = Vec::new();
    let mut start = String::new();
    for _ in 0..10 {
        let reply = c.call(&s, "GET", &format!("/api/scan?prefix=user%3A&limit=10&start={start}"), "").await;
        let body = reply.json();
        for pair in body["pairs"].as_array().unwrap() {
            seen.push(pair["key"].as_str().unwrap().to_owned());
        }
        match body["next"].as_str() {
            Some(next) => start = next.replace(':', "%3A"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("user:{i:02}")).collect();
    assert_eq!(seen, expected);
    for bad in ["limit=0", "limit=10001", "limit=x"] {
        let reply = c.call(&s, "GET", &format!("/api/scan?{bad}"), "").await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_query", &server);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_every_route_never_gets_a_5xx() {
    let server = TestServer::start().await;
    let s = server.open("g.db").await;
    let bodies: [&[u8]; 9] = [
        b"",
        b"null",
        b"[]",
        b"{}",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        b"\xff\xfe\x00garbage",
        b"{\"path\":\"\\u0000\"}",
        b"PUT \"a",
        b"[{\"key\":\"\",\"value\":\"\"}]",
    ];
    let routes = [
        ("POST", "/api/open"),
        ("POST", "/api/put"),
        ("POST", "/api/del"),
        ("POST", "/api/id/set"),
        ("POST", "/api/execute"),
        ("GET", "/api/get?key=%ff%00"),
        ("GET", "/api/scan?prefix=%ff&start=%00&limit=18446744073709551616"),
        ("GET", "/api/get?key=a&key_encoding=base64"),
        ("DELETE", "/api/put"),
    ];
    let mut c = server.client().await;
    for (method, path) in routes {
        for body in bodies {
            let reply = c.send(method, path, &[(SESSION_HEADER, &s)], body.to_vec()).await;
            assert!(
                !reply.status.is_server_error(),
                "{method} {path} {body:?}: {} {}",
                reply.status,
                reply.text()
            );
            if reply.status != StatusCode::OK {
                assert!(reply.json()["error"].is_string(), "{method} {path}: {}", reply.text());
            }
        }
    }
    still_up(&server).await;
    server.stop().await;
}
