//! Router tests without a socket (`oneshot`); the socket tests are in `tests/server/`.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

fn state(dir: &std::path::Path) -> AppState {
    AppState::new(ServerConfig { data_dir: dir.join("data"), ..ServerConfig::default() }).unwrap()
}

async fn call(state: &AppState, mut request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    // As an HTTP/1.1 client sends it; the host allow-list needs it.
    request.headers_mut().insert("host", axum::http::HeaderValue::from_static("127.0.0.1:14514"));
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, headers, body)
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn banner_health_and_unknown_routes() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let (status, _, body) = call(&state, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, BANNER.as_bytes()));

    let (status, _, body) = call(&state, Request::get("/api/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&body), json!({"status": "ok", "sessions": 0, "open_stores": 0}));

    let (status, _, body) = call(&state, Request::get("/api/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json_of(&body)["error"], "not_found");

    let (status, _, body) = call(&state, Request::get("/api/put").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json_of(&body)["error"], "method_not_allowed");
}

#[tokio::test]
async fn data_routes_need_a_known_session_and_create_none() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let unknown = "5a1b3c6e-0000-4000-8000-000000000000";
    for (method, uri, body) in [
        ("GET", "/api/get?key=a", ""),
        ("POST", "/api/put", r#"[{"key":"a","value":"b"}]"#),
        // The session is checked before the body is read.
        ("POST", "/api/put", "{not json"),
        ("POST", "/api/del", r#"{"key":"a"}"#),
        ("GET", "/api/id/get", ""),
        ("POST", "/api/id/set", r#"{"identifier":"x"}"#),
        ("GET", "/api/current", ""),
        ("GET", "/api/compact", ""),
        ("POST", "/api/execute", "COUNT;"),
        ("GET", "/api/scan", ""),
        ("GET", "/api/stats", ""),
        ("GET", "/api/close", ""),
    ] {
        for session in [None, Some(unknown)] {
            let mut request = Request::builder().method(method).uri(uri);
            if let Some(id) = session {
                request = request.header(SESSION_HEADER, id);
            }
            let (status, headers, answer) = call(&state, request.body(Body::from(body)).unwrap()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} {session:?}");
            assert!(headers.get(SESSION_HEADER).is_none(), "no session handed out");
            let answer = json_of(&answer);
            assert_eq!(answer["error"], "no_session");
            assert!(answer["status"].as_str().unwrap().starts_with("Error: "));
        }
    }
    assert_eq!(state.counts(), SessionCounts { sessions: 0, open_stores: 0 });
}

#[tokio::test]
async fn bodies_are_checked_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let open = |body: &'static str| Request::post("/api/open").body(Body::from(body)).unwrap();

    let (status, _, body) = call(&state, open("{\"path\": ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body = json_of(&body);
    assert_eq!(body["error"], "bad_json");
    assert!(body["message"].as_str().unwrap().contains("line 1"), "{body}");

    let (status, _, body) = call(&state, open("{\"pth\": \"a.db\"}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json_of(&body)["message"].as_str().unwrap().contains("missing field `path`"));

    let (status, _, body) = call(&state, open("{\"path\": 5}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json_of(&body)["message"].as_str().unwrap().contains("invalid type"));
    assert_eq!(state.counts().sessions, 0);
}

#[tokio::test]
async fn a_session_opens_writes_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let (status, headers, body) =
        call(&state, Request::post("/api/open").body(Body::from(r#"{"path":"t.db"}"#)).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, br#"{"status":"Database opened"}"#);
    let id = headers[SESSION_HEADER].to_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);

    let with = |method: &str, uri: &str, body: &'static str| {
        Request::builder().method(method).uri(uri).header(SESSION_HEADER, &id).body(Body::from(body)).unwrap()
    };
    let (status, _, body) =
        call(&state, with("POST", "/api/put", r#"[{"key":"a","value":"/w==","encoding":"base64"}]"#)).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, br#"{"status":"Inserted 1 key-value pairs"}"#.as_slice())
    );
    let (_, _, body) = call(&state, with("GET", "/api/get?key=a", "")).await;
    assert_eq!(json_of(&body), json!({"key": "a", "value": "/w==", "encoding": "base64"}));
    let (_, headers, body) = call(&state, with("POST", "/api/del", r#"{"key":"zz"}"#)).await;
    assert_eq!(body, br#"{"status":"Key deleted"}"#);
    assert_eq!(headers[KEY_EXISTED_HEADER], "false");
    assert_eq!(state.counts(), SessionCounts { sessions: 1, open_stores: 1 });
    let (_, _, body) = call(&state, with("GET", "/api/close", "")).await;
    assert_eq!(body, br#"{"status":"Database closed"}"#);
    assert_eq!(state.counts(), SessionCounts { sessions: 0, open_stores: 0 });
}

#[tokio::test]
async fn readers_runs_through_execute() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let (status, headers, _) =
        call(&state, Request::post("/api/open").body(Body::from(r#"{"path":"r.db"}"#)).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let id = headers[SESSION_HEADER].to_str().unwrap().to_owned();
    let reader = crate::OpenOptions::new().read_only(true).open(dir.path().join("data/r.db")).unwrap();
    let pinned = reader.stats().checkpoint_id;

    let request = Request::post("/api/execute?results=true")
        .header(SESSION_HEADER, &id)
        .body(Body::from("READERS;"))
        .unwrap();
    let (status, _, body) = call(&state, request).await;
    assert_eq!(status, StatusCode::OK);
    let answer = json_of(&body);
    let result = &answer["results"][0];
    assert_eq!(result["kind"], "readers", "{answer}");
    assert_eq!(result["read_only"], false);
    assert_eq!(result["readers"][0]["pid"], std::process::id(), "{answer}");
    assert_eq!(result["readers"][0]["checkpoint_id"], pinned, "{answer}");
    let status_text = answer["status"].as_str().unwrap();
    assert!(status_text.starts_with("\"READERS: ") && status_text.contains("1 reader; "), "{status_text}");
    drop(reader);
}
