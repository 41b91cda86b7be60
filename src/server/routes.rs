//! The route handlers. Each one finds its session, runs its engine work (inline for point
//! reads when the store is free, on the blocking pool otherwise), and answers the original
//! server's JSON shape (see `docs/SERVER.md`).

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use super::paths;
use super::sessions::{Registry, Session, blocking};
use crate::command::{self, CommandError, FileAccess, Output, ScanPage, Statement};
use crate::{KVStore, MAX_VALUE_BYTES, WriteBatch};

/// The header that names a session, as the original server spelled it.
pub const SESSION_HEADER: &str = "X-Session-ID";
/// Set by `/api/del`: whether the key existed (the body keeps the original's fixed answer).
pub const KEY_EXISTED_HEADER: &str = "X-Key-Existed";
/// What `GET /` answers, word for word as the original did.
pub const BANNER: &str = "Wind-KVStore Server is Running!";
/// Pairs `/api/scan` returns when no `limit` is given.
pub const DEFAULT_SCAN_LIMIT: u64 = 100;
/// Most pairs one page of `/api/scan` (and one `SCAN` through `/api/execute`) holds: it bounds
/// the memory one answer takes. Longer listings page with `start` (`FROM`). Not to be confused
/// with the command language's own `command::MAX_SCAN_LIMIT`, which the server lowers to this.
pub const MAX_SCAN_PAGE_PAIRS: u64 = 10_000;
/// Most key and value bytes one page of `/api/scan` holds: a page ends early (with its `next`)
/// rather than pass it, so large values cannot make one answer huge.
pub const MAX_SCAN_PAGE_BYTES: usize = 8 << 20;
/// `GET WHERE KEY=*` through `/api/execute` answers every pair at once; above this many pairs
/// (or [`MAX_EXECUTE_ANSWER_BYTES`]) it is refused in favour of `SCAN ... LIMIT` and `FROM`.
pub const MAX_EXECUTE_ALL_PAIRS: u64 = 10_000;
/// Most bytes one `/api/execute` answer holds (the status text and, when asked for, the
/// results). A statement whose answer would pass it answers an error instead (a `SCAN` ends
/// early with its `Next page:` statement); statements that write still run.
pub const MAX_EXECUTE_ANSWER_BYTES: usize = 16 << 20;
/// Most statements one `/api/execute` request may hold: each answer takes memory, however
/// small the statement.
pub const MAX_EXECUTE_STATEMENTS: usize = 10_000;
/// `PAGES` through `/api/execute` lists at most this many pages at once (then `Next page:`).
pub const MAX_EXECUTE_PAGE_ROWS: u64 = 10_000;
/// Most items one `/api/put` may hold: each costs memory beyond its bytes in the batch.
pub const MAX_PUT_ITEMS: usize = 100_000;
/// Body limit of the routes whose bodies are one small JSON object (`/api/open`, `/api/del`,
/// `/api/id/set`): a key or a path, never megabytes.
pub const MAX_SMALL_BODY_BYTES: usize = 64 << 10;
/// A body declared larger than its route's limit but at most this large is read and dropped
/// before the 413, so that the client gets the answer rather than a reset connection.
const MAX_DRAIN_BYTES: u64 = 8 << 20;
/// Keys echoed in error messages are cut to this many characters.
const MAX_ECHOED_KEY_CHARS: usize = 64;
/// What the original server answered for text that is not a statement it knew.
const UNKNOWN_COMMAND: &str = "Unknown command";

// ------------------------------------------------------------------ extractors

/// Reads the body whole, refusing it past `limit` bytes (413, from the `Content-Length` alone
/// when it is given) or when it does not arrive within `body_timeout_secs` (408).
async fn body_bytes(req: Request, state: &AppState, limit: usize) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let timeout = Duration::from_secs(state.registry.config.body_timeout_secs);
    if let Some(n) = declared.filter(|n| *n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        if n <= MAX_DRAIN_BYTES {
            // Read the rest and throw it away before answering: closing a connection with
            // unread bytes makes the kernel reset it, and the client, still sending, would lose
            // the 413 (seen under load). Bounded in bytes and time; larger bodies are cut off.
            let mut body = req.into_body();
            let _ =
                tokio::time::timeout(timeout, async { while let Some(Ok(_)) = body.frame().await {} }).await;
        }
        return Err(ApiError::PayloadTooLarge { limit_bytes: limit });
    }
    let limited = http_body_util::Limited::new(req.into_body(), limit);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(ApiError::RequestTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge { limit_bytes: limit })
        }
        Ok(Err(e)) => Err(ApiError::bad_request("bad_body", format!("reading the body failed: {e}"))),
    }
}

fn json_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request("bad_json", format!("malformed JSON: {e}"))
        }
        Category::Data => ApiError::bad_request("bad_request", format!("unexpected JSON: {e}")),
    }
}

/// A small JSON body (at most [`MAX_SMALL_BODY_BYTES`]) of any content type, with errors that
/// name the problem.
pub(crate) struct SmallJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for SmallJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = MAX_SMALL_BODY_BYTES.min(state.registry.config.max_body_bytes);
        let bytes = body_bytes(req, state, limit).await?;
        serde_json::from_slice(&bytes).map(SmallJson).map_err(|e| json_error(&e))
    }
}

/// The raw body, limited to `max_body_bytes` (413 past it).
pub(crate) struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        body_bytes(req, state, state.registry.config.max_body_bytes).await.map(RawBody)
    }
}

/// Query parameters, with errors that name the problem. Every parameter must decode to UTF-8
/// text: a percent-encoded byte sequence that is not UTF-8 is a 400 (binary keys travel in
/// base64 with `key_encoding=base64`), never silently replaced.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        check_query_utf8(parts.uri.query().unwrap_or(""))?;
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|rejection| ApiError::bad_request("bad_query", rejection.body_text()))
    }
}

/// Refuses a query string whose names or values do not percent-decode to UTF-8.
fn check_query_utf8(query: &str) -> Result<(), ApiError> {
    // Plain ASCII with no escaped byte above 0x7f decodes to ASCII: nothing to check.
    let bytes = query.as_bytes();
    let high_escape = bytes.iter().enumerate().any(|(i, b)| {
        *b == b'%' && bytes.get(i + 1).is_some_and(|h| matches!(h, b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'))
    });
    if query.is_ascii() && !high_escape {
        return Ok(());
    }
    for part in query.split('&') {
        let bytes = percent_decode(part.as_bytes());
        if std::str::from_utf8(&bytes).is_err() {
            let name = part.split('=').next().unwrap_or("");
            return Err(ApiError::bad_request(
                "bad_query",
                format!(
                    "query parameter '{}' is not UTF-8 text once decoded; send binary keys in base64 with key_encoding=base64",
                    String::from_utf8_lossy(&percent_decode(name.as_bytes()))
                ),
            ));
        }
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; a `%` not
/// followed by two hex digits stands for itself.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (input.get(i + 1).copied().and_then(hex), input.get(i + 2).copied().and_then(hex)) {
                    (Some(high), Some(low)) => {
                        out.push(high * 16 + low);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The session named by `X-Session-ID`. Extracted before the body, so a request without a valid
/// session is refused (401) before its body is read.
pub(crate) struct InSession(pub Arc<Session>);

impl FromRequestParts<AppState> for InSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.registry.session(session_id(&parts.headers)).map(InSession)
    }
}

// ------------------------------------------------------------------ encodings

/// How a key or value travels in JSON: as its UTF-8 text, or base64 of its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Encoding {
    #[default]
    #[serde(alias = "utf-8", alias = "text")]
    Utf8,
    Base64,
}

fn decode(text: &str, encoding: Encoding, what: &str) -> Result<Vec<u8>, String> {
    match encoding {
        Encoding::Utf8 => Ok(text.as_bytes().to_vec()),
        Encoding::Base64 => BASE64.decode(text).map_err(|e| format!("{what} is not valid base64: {e}")),
    }
}

/// `bytes` as a JSON string, and `Some("base64")` when they had to be (or were asked to be)
/// base64-encoded.
fn encode(bytes: &[u8], force_base64: bool) -> (Value, Option<&'static str>) {
    match std::str::from_utf8(bytes) {
        Ok(text) if !force_base64 => (Value::String(text.to_owned()), None),
        _ => (Value::String(BASE64.encode(bytes)), Some("base64")),
    }
}

/// `{"key": .., "value": ..}` with `key_encoding` / `encoding` fields where base64 was used.
fn pair_json(key: &[u8], value: &[u8], force_base64: bool) -> Value {
    let mut object = Map::new();
    let (k, key_encoding) = encode(key, force_base64);
    let (v, encoding) = encode(value, force_base64);
    object.insert("key".into(), k);
    object.insert("value".into(), v);
    if let Some(e) = key_encoding {
        object.insert("key_encoding".into(), e.into());
    }
    if let Some(e) = encoding {
        object.insert("encoding".into(), e.into());
    }
    Value::Object(object)
}

/// A key as error messages show it: text, cut short.
fn echo_key(key: &str) -> String {
    let mut shown: String = key.chars().take(MAX_ECHOED_KEY_CHARS).collect();
    if shown.len() < key.len() {
        shown.push_str("...");
    }
    shown
}

// ------------------------------------------------------------------ helpers

fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// A JSON answer carrying the session header, as every answer to a session did in the original.
fn answer(session: &Session, body: impl serde::Serialize) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(SESSION_HEADER, session.header.clone());
    response
}

/// A JSON answer already serialised, carrying the session header.
fn answer_text(session: &Session, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(SESSION_HEADER, session.header.clone());
    response
}

fn store_closed() -> ApiError {
    ApiError::NoSession { message: "the session's store was closed: open it again with POST /api/open" }
}

/// Runs `f` on the session's store, on the blocking pool, under the store's read lock.
async fn with_store<T, F>(state: &AppState, session: &Arc<Session>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&KVStore, &str) -> Result<T, ApiError> + Send + 'static,
{
    let s = session.clone();
    let result = blocking(move || s.store.read(|store| f(store, &s.name))).await?;
    state.registry.touch(session);
    result.unwrap_or_else(|| Err(store_closed()))
}

/// Runs a short read `f` right here when the store is free (no hop to the blocking pool: a
/// point lookup costs far less than the hop), on the blocking pool when a close or an
/// `IDENTIFIER SET` holds or waits for the store.
async fn read_inline<T, F>(state: &AppState, session: &Arc<Session>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&KVStore, &str) -> Result<T, ApiError> + Send + 'static,
{
    if let Some(guard) = session.store.try_read() {
        return match guard.as_ref() {
            Some(store) => f(store, &session.name),
            None => Err(store_closed()),
        };
    }
    with_store(state, session, f).await
}

// ------------------------------------------------------------------ routes

/// `GET /`
pub(crate) async fn index() -> &'static str {
    BANNER
}

/// `GET /api/health`: no session needed.
pub(crate) async fn health(State(state): State<AppState>) -> Json<Value> {
    let counts = state.registry.counts();
    Json(json!({"status": "ok", "sessions": counts.sessions, "open_stores": counts.open_stores}))
}

#[derive(Deserialize)]
pub(crate) struct OpenRequest {
    path: String,
}

/// `POST /api/open {"path": "data.db"}`: a new session. A request that names a live session in
/// `X-Session-ID` ends that one first (the original reused the session for the new store).
pub(crate) async fn open(
    State(state): State<AppState>,
    client: super::middleware::ClientAddr,
    headers: HeaderMap,
    SmallJson(request): SmallJson<OpenRequest>,
) -> Result<Response, ApiError> {
    if let Ok(old) = state.registry.session(session_id(&headers)) {
        // Already gone is fine: the aim is that it is gone.
        let _ = state.registry.close_session(&old.id).await;
    }
    let id = state.registry.open(request.path, client.0).await?;
    let mut response = Json(json!({"status": "Database opened"})).into_response();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    Ok(response)
}

/// `GET /api/close`: closes the session (and its store, when no other session uses it).
pub(crate) async fn close(
    State(state): State<AppState>,
    InSession(session): InSession,
) -> Result<Response, ApiError> {
    state.registry.close_session(&session.id).await?;
    Ok(answer(&session, json!({"status": "Database closed"})))
}

/// One `/api/put` item as sent; strings without escapes are borrowed from the body.
#[derive(Deserialize)]
struct PutItem<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    value: Option<Cow<'a, str>>,
    #[serde(default)]
    encoding: Encoding,
    #[serde(default)]
    key_encoding: Encoding,
}

/// Reads the `/api/put` array straight into a batch, item by item, checking each: the body is
/// never held twice over as a tree of strings.
struct PutItems<'s> {
    batch: &'s mut WriteBatch,
    max_key: usize,
    /// Why the items were refused, when it was an item's fault (the JSON error is a stand-in).
    refused: &'s mut Option<ApiError>,
}

impl<'de> DeserializeSeed<'de> for PutItems<'_> {
    type Value = usize;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PutItems<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence of {\"key\", \"value\"} items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut count = 0usize;
        while let Some(item) = seq.next_element::<PutItem<'de>>()? {
            if count == MAX_PUT_ITEMS {
                *self.refused = Some(ApiError::bad_request(
                    "too_many_items",
                    format!(
                        "more than {MAX_PUT_ITEMS} items in one put; send them in several; nothing was written"
                    ),
                ));
                return Err(serde::de::Error::custom("too many items"));
            }
            if let Err(e) = add_item(self.batch, &item, count, self.max_key) {
                *self.refused = Some(e);
                return Err(serde::de::Error::custom("bad item"));
            }
            count += 1;
        }
        Ok(count)
    }
}

fn add_item(batch: &mut WriteBatch, item: &PutItem<'_>, i: usize, max_key: usize) -> Result<(), ApiError> {
    let name = || format!("item {i} (key \"{}\")", echo_key(&item.key));
    let key = decode(&item.key, item.key_encoding, "key")
        .map_err(|e| ApiError::bad_request("bad_item", format!("{}: {e}", name())))?;
    let Some(value) = &item.value else {
        return Err(ApiError::bad_request(
            "bad_item",
            format!("{}: missing \"value\"; nothing was written", name()),
        ));
    };
    let value = decode(value, item.encoding, "value")
        .map_err(|e| ApiError::bad_request("bad_item", format!("{}: {e}", name())))?;
    if key.len() > max_key {
        return Err(ApiError::bad_request(
            "too_large",
            format!("{}: key is {} bytes; the limit is {max_key}; nothing was written", name(), key.len()),
        ));
    }
    if u64::try_from(value.len()).unwrap_or(u64::MAX) > MAX_VALUE_BYTES {
        return Err(ApiError::bad_request(
            "too_large",
            format!(
                "{}: value is {} bytes; the limit is {MAX_VALUE_BYTES}; nothing was written",
                name(),
                value.len()
            ),
        ));
    }
    batch.put(&key, &value);
    Ok(())
}

/// `POST /api/put [{"key": "k", "value": "v"}, ...]`: one atomic batch. The body is parsed and
/// written on the blocking pool.
pub(crate) async fn put(
    State(state): State<AppState>,
    InSession(session): InSession,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let count = with_store(&state, &session, move |store, name| {
        let mut batch = WriteBatch::new();
        let mut refused = None;
        let seed = PutItems { batch: &mut batch, max_key: store.max_key_bytes(), refused: &mut refused };
        let mut deserializer = serde_json::Deserializer::from_slice(&body);
        let parsed = seed.deserialize(&mut deserializer).and_then(|count| deserializer.end().map(|()| count));
        let count = match parsed {
            Ok(count) => count,
            Err(e) => return Err(refused.unwrap_or_else(|| json_error(&e))),
        };
        drop(body);
        store.write(batch).map_err(|e| ApiError::from_store(e, name))?;
        Ok(count)
    })
    .await?;
    Ok(answer(&session, json!({"status": format!("Inserted {count} key-value pairs")})))
}

#[derive(Deserialize)]
pub(crate) struct GetParams {
    key: String,
    #[serde(default)]
    key_encoding: Encoding,
    /// `base64` to have the value in base64 even when it is text.
    #[serde(default)]
    encoding: Encoding,
}

/// `GET /api/get?key=k`: `{"key": "k", "value": "v"}`, `"value": null` when absent, and
/// `"encoding": "base64"` when the value is not UTF-8 text (or base64 was asked for).
pub(crate) async fn get(
    State(state): State<AppState>,
    InSession(session): InSession,
    ApiQuery(params): ApiQuery<GetParams>,
) -> Result<Response, ApiError> {
    let key =
        decode(&params.key, params.key_encoding, "key").map_err(|e| ApiError::bad_request("bad_key", e))?;
    let value = read_inline(&state, &session, move |store, name| {
        store.get(&key).map_err(|e| ApiError::from_store(e, name))
    })
    .await?;
    // Written by hand, in the order the original wrote its fields: the route is the hottest.
    let mut body = String::with_capacity(params.key.len() + value.as_ref().map_or(0, Vec::len) + 48);
    body.push_str("{\"key\":");
    push_json_string(&mut body, &params.key);
    if params.key_encoding == Encoding::Base64 {
        body.push_str(",\"key_encoding\":\"base64\"");
    }
    body.push_str(",\"value\":");
    match value {
        Some(value) => match std::str::from_utf8(&value) {
            Ok(text) if params.encoding != Encoding::Base64 => push_json_string(&mut body, text),
            _ => {
                push_json_string(&mut body, &BASE64.encode(&value));
                body.push_str(",\"encoding\":\"base64\"");
            }
        },
        None => body.push_str("null"),
    }
    body.push('}');
    Ok(answer_text(&session, body))
}

/// Appends `text` as a JSON string.
fn push_json_string(out: &mut String, text: &str) {
    // `Value::String`'s text is exactly the JSON string, quotes and escapes included.
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned()));
}

#[derive(Deserialize)]
pub(crate) struct DelRequest {
    key: String,
    #[serde(default)]
    key_encoding: Encoding,
}

/// `POST /api/del {"key": "k"}`: `{"status": "Key deleted"}` whether or not the key existed
/// (the original's answer); the `X-Key-Existed` header tells which.
pub(crate) async fn del(
    State(state): State<AppState>,
    InSession(session): InSession,
    SmallJson(request): SmallJson<DelRequest>,
) -> Result<Response, ApiError> {
    let key =
        decode(&request.key, request.key_encoding, "key").map_err(|e| ApiError::bad_request("bad_key", e))?;
    let existed = with_store(&state, &session, move |store, name| {
        store.delete(&key).map_err(|e| ApiError::from_store(e, name))
    })
    .await?;
    let mut response = answer(&session, json!({"status": "Key deleted"}));
    response
        .headers_mut()
        .insert(KEY_EXISTED_HEADER, HeaderValue::from_static(if existed { "true" } else { "false" }));
    Ok(response)
}

/// `GET /api/id/get`: `{"identifier": ".."}`.
pub(crate) async fn identifier_get(
    State(state): State<AppState>,
    InSession(session): InSession,
) -> Result<Response, ApiError> {
    let identifier = read_inline(&state, &session, |store, _| Ok(store.get_identifier().to_owned())).await?;
    Ok(answer(&session, json!({"identifier": identifier})))
}

#[derive(Deserialize)]
pub(crate) struct IdentifierRequest {
    identifier: String,
}

/// `POST /api/id/set {"identifier": ".."}`: `{"status": "Identifier updated"}`.
pub(crate) async fn identifier_set(
    State(state): State<AppState>,
    InSession(session): InSession,
    SmallJson(request): SmallJson<IdentifierRequest>,
) -> Result<Response, ApiError> {
    let s = session.clone();
    let result = blocking(move || {
        s.store.write(|store| {
            store.set_identifier(&request.identifier).map_err(|e| ApiError::from_store(e, &s.name))
        })
    })
    .await?;
    state.registry.touch(&session);
    result.unwrap_or_else(|| Err(store_closed()))?;
    Ok(answer(&session, json!({"status": "Identifier updated"})))
}

/// `GET /api/current`: `{"path": ".."}`, the path as the client gave it to `/api/open`.
pub(crate) async fn current(InSession(session): InSession) -> Result<Response, ApiError> {
    Ok(answer(&session, json!({"path": session.name})))
}

/// `GET /api/compact`: `{"status": "Database compacted"}`.
pub(crate) async fn compact(
    State(state): State<AppState>,
    InSession(session): InSession,
) -> Result<Response, ApiError> {
    with_store(&state, &session, |store, name| store.compact().map_err(|e| ApiError::from_store(e, name)))
        .await?;
    Ok(answer(&session, json!({"status": "Database compacted"})))
}

#[derive(Deserialize)]
pub(crate) struct ScanParams {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
    /// `base64`: `prefix` and `start` are base64, and every key and value comes back in base64.
    #[serde(default)]
    encoding: Encoding,
}

/// A page of at most `limit` pairs (clamped to [`MAX_SCAN_PAGE_PAIRS`]) and `max_bytes` of keys
/// and values: the command language's `SCAN` page with the server's bounds (a first pair larger
/// than `max_bytes` ends the page before it).
pub(crate) fn scan_page(
    store: &KVStore,
    prefix: Option<&[u8]>,
    from: Option<&[u8]>,
    limit: u64,
    max_bytes: usize,
) -> Result<ScanPage, crate::Error> {
    command::scan_page(store, prefix, from, limit.clamp(1, MAX_SCAN_PAGE_PAIRS), max_bytes)
}

/// `GET /api/scan?prefix=&start=&limit=`: a page of pairs in key order and the key to resume
/// from (`next`, `null` at the end).
pub(crate) async fn scan(
    State(state): State<AppState>,
    InSession(session): InSession,
    ApiQuery(params): ApiQuery<ScanParams>,
) -> Result<Response, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_SCAN_LIMIT);
    if !(1..=MAX_SCAN_PAGE_PAIRS).contains(&limit) {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("limit must be from 1 to {MAX_SCAN_PAGE_PAIRS}"),
        ));
    }
    let decode_opt = |text: &Option<String>, what| {
        text.as_deref()
            .map(|t| decode(t, params.encoding, what))
            .transpose()
            .map_err(|e| ApiError::bad_request("bad_query", e))
    };
    let prefix = decode_opt(&params.prefix, "prefix")?;
    let start = decode_opt(&params.start, "start")?;
    let page = with_store(&state, &session, move |store, name| {
        scan_page(store, prefix.as_deref(), start.as_deref(), limit, MAX_SCAN_PAGE_BYTES)
            .map_err(|e| ApiError::from_store(e, name))
    })
    .await?;
    let force = params.encoding == Encoding::Base64;
    let pairs: Vec<Value> = page.pairs.iter().map(|(k, v)| pair_json(k, v, force)).collect();
    let mut object = Map::new();
    object.insert("count".into(), pairs.len().into());
    object.insert("pairs".into(), pairs.into());
    match &page.next {
        Some(next) => {
            let (n, encoding) = encode(next, force);
            object.insert("next".into(), n);
            if let Some(e) = encoding {
                object.insert("next_encoding".into(), e.into());
            }
        }
        None => {
            object.insert("next".into(), Value::Null);
        }
    }
    Ok(answer(&session, Value::Object(object)))
}

/// `GET /api/stats`: the store's counters (the `STATS` statement's JSON) and its path.
pub(crate) async fn stats(
    State(state): State<AppState>,
    InSession(session): InSession,
) -> Result<Response, ApiError> {
    let (stats, recovery) =
        read_inline(&state, &session, |store, _| Ok((store.stats(), store.recovery_report().clone())))
            .await?;
    let mut body = Output::Stats(stats).to_json();
    if let Value::Object(object) = &mut body {
        object.insert("path".into(), session.name.clone().into());
        object.insert("recovery".into(), recovery_json(&recovery, &state.registry.root));
    }
    Ok(answer(&session, body))
}

/// The report of the store's open: whether it is quiet, whether acknowledged commits may be
/// missing, the commits replayed and the report's lines (paths relative to the data directory).
fn recovery_json(report: &crate::RecoveryReport, root: &Path) -> Value {
    let lines: Vec<String> = report.lines().iter().map(|line| paths::hide_root(root, line)).collect();
    json!({
        "quiet": report.is_quiet(),
        "data_may_be_missing": report.may_have_lost_data(),
        "commits_replayed": report.commits_replayed,
        "log_kept": report.log_kept,
        "lines": lines,
    })
}

#[derive(Deserialize)]
pub(crate) struct ExecuteParams {
    /// `true`: answer one typed JSON result per statement besides `status`.
    #[serde(default)]
    results: bool,
}

/// `POST /api/execute` with statements as plain text: every statement runs in order (a failed
/// one does not stop the rest, as in the original). The answer is `{"status": "<the original's
/// summary string>"}`, and with `?results=true` also `"results": [<one JSON result per
/// statement>]`.
pub(crate) async fn execute(
    State(state): State<AppState>,
    InSession(session): InSession,
    ApiQuery(params): ApiQuery<ExecuteParams>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let text = String::from_utf8(body.to_vec())
        .map_err(|e| ApiError::bad_request("bad_body", format!("statements must be UTF-8 text: {e}")))?;
    drop(body);
    let segments = split_segments(&text);
    if segments.len() > MAX_EXECUTE_STATEMENTS {
        return Err(ApiError::bad_request(
            "too_many_statements",
            format!("more than {MAX_EXECUTE_STATEMENTS} statements in one request; send them in several"),
        ));
    }
    let registry = state.registry.clone();
    let s = session.clone();
    let with_results = params.results;
    let body = blocking(move || run_script(&s, &registry, &text, with_results)).await?;
    state.registry.touch(&session);
    Ok(answer_text(&session, body))
}

/// The pieces of a script as the original server cut it: the text between one `;` and the
/// next (and after the last), except that a `;` inside a string literal or a `--` comment does
/// not cut. Each piece says where it starts (line and column, as the parser counts them).
fn split_segments(text: &str) -> Vec<(&str, command::Position)> {
    fn advance(pos: &mut command::Position, c: char) {
        if c == '\n' {
            pos.line = pos.line.saturating_add(1);
            pos.column = 1;
        } else {
            pos.column = pos.column.saturating_add(1);
        }
    }
    let mut segments = Vec::new();
    let mut start = 0usize;
    let mut pos = command::Position { line: 1, column: 1 };
    let mut start_pos = pos;
    let mut chars = text.char_indices().peekable();
    let (mut in_string, mut in_comment) = (false, false);
    while let Some((i, c)) = chars.next() {
        let mut cut = false;
        if in_comment {
            in_comment = c != '\n';
        } else if in_string {
            match c {
                '\\' => {
                    // The escaped character belongs to the string, whatever it is.
                    advance(&mut pos, c);
                    if let Some((_, escaped)) = chars.next() {
                        advance(&mut pos, escaped);
                    }
                    continue;
                }
                '"' => in_string = false,
                _ => {}
            }
        } else {
            match c {
                '"' => in_string = true,
                '-' if chars.peek().is_some_and(|(_, next)| *next == '-') => in_comment = true,
                ';' => cut = true,
                _ => {}
            }
        }
        advance(&mut pos, c);
        if cut {
            segments.push((&text[start..i], start_pos));
            start = i + 1;
            start_pos = pos;
        }
    }
    segments.push((&text[start..], start_pos));
    // The original skipped exactly these two; anything else (a newline, say) it ran, and
    // answered "Unknown command".
    segments.retain(|(segment, _)| !segment.is_empty() && *segment != " ");
    segments
}

/// Builds the answer to a script as it runs: the `status` text and, when asked for, the JSON
/// results, within [`MAX_EXECUTE_ANSWER_BYTES`].
struct ScriptAnswer {
    status: String,
    results: Option<String>,
}

impl ScriptAnswer {
    fn used(&self) -> usize {
        self.status.len() + self.results.as_ref().map_or(0, String::len)
    }

    fn remaining(&self) -> usize {
        MAX_EXECUTE_ANSWER_BYTES.saturating_sub(self.used())
    }

    /// Adds one statement's answer: `"<as written>: <text>;"` and its JSON result.
    fn push(&mut self, written: &str, text: &str, result: &Value) {
        if !self.status.is_empty() {
            self.status.push(' ');
        }
        self.status.push('"');
        self.status.push_str(written);
        self.status.push_str(": ");
        self.status.push_str(text);
        self.status.push_str(";\"");
        if let Some(results) = &mut self.results {
            if results.len() > 1 {
                results.push(',');
            }
            // Serialising a `Value` into a `String` cannot fail.
            results.push_str(&result.to_string());
        }
    }

    fn finish(self) -> String {
        let status = Value::String(self.status).to_string();
        match self.results {
            Some(mut results) => {
                results.push(']');
                format!("{{\"status\":{status},\"results\":{results}}}")
            }
            None => format!("{{\"status\":{status}}}"),
        }
    }
}

/// Runs `text` for `session` and returns the JSON answer. Each statement runs on its own, in
/// order; the script stops early (each remaining statement answering why) when the session
/// is closed or the server shuts down.
fn run_script(session: &Session, registry: &Registry, text: &str, with_results: bool) -> String {
    let root = &registry.root;
    let mut answer = ScriptAnswer { status: String::new(), results: with_results.then(|| "[".to_owned()) };
    // A listing's bytes appear in the status text (up to four times over: a byte that is not
    // printable shows as `\xNN`) and in the results (base64: a third more).
    let copies = if with_results { 6 } else { 4 };
    for (segment, position) in split_segments(text) {
        let parsed = command::statements_at(segment, position).next();
        let statement = match parsed {
            Some(Ok(located)) => located.statement,
            Some(Err(e)) => {
                let message = format!("{UNKNOWN_COMMAND}: {}", e.message());
                let error = CommandError::Parse(e);
                let mut result = command::error_to_json(&error, None);
                result["message"] = message.into();
                answer.push(segment, &format!("Error: {UNKNOWN_COMMAND}"), &result);
                continue;
            }
            None => {
                let result = json!({"kind": "error", "message": format!("{UNKNOWN_COMMAND}: no statement"), "line": position.line});
                answer.push(segment, &format!("Error: {UNKNOWN_COMMAND}"), &result);
                continue;
            }
        };
        let outcome = if registry.is_shutting_down() {
            Err(refusal("not run: the server is shutting down"))
        } else if session.is_closed() {
            Err(refusal("not run: the session was closed"))
        } else {
            run_statement(session, registry, &statement, answer.remaining() / copies)
        };
        match outcome {
            Ok(output) => {
                let mut text = output.to_string();
                if matches!((&statement, &output), (Statement::Del { .. }, Output::NotFound { .. })) {
                    // The original answered this whether or not the key existed; the result
                    // (`"kind": "not_found"`) tells which.
                    text = "Key deleted".to_owned();
                }
                let result = if with_results { output.to_json() } else { Value::Null };
                let size =
                    text.len() + segment.len() + if with_results { result.to_string().len() } else { 0 };
                if size > answer.remaining() {
                    let e = refusal(&format!(
                        "the answer would pass the limit of {MAX_EXECUTE_ANSWER_BYTES} bytes for one request; \
                         the statement ran, its answer is left out (page with SCAN ... LIMIT n FROM k)"
                    ));
                    push_error(&mut answer, segment, &e, root, position, with_results);
                } else {
                    answer.push(segment, &text, &result);
                }
            }
            Err(e) => push_error(&mut answer, segment, &e, root, position, with_results),
        }
    }
    answer.finish()
}

fn refusal(message: &str) -> CommandError {
    CommandError::FileAccessDenied(message.to_owned())
}

fn push_error(
    answer: &mut ScriptAnswer,
    segment: &str,
    error: &CommandError,
    root: &Path,
    position: command::Position,
    with_results: bool,
) {
    let message = paths::hide_root(root, &error.to_string());
    let result = if with_results { error_json(error, &message, Some(position)) } else { Value::Null };
    answer.push(segment, &format!("Error: {message}"), &result);
}

fn error_json(error: &CommandError, message: &str, at: Option<command::Position>) -> Value {
    let mut value = command::error_to_json(error, at);
    if let (Value::Object(object), false) = (&mut value, matches!(error, CommandError::Parse(_))) {
        object.insert("message".into(), message.into());
    }
    value
}

/// Runs one statement for the session, its listing bounded by `budget` bytes of keys and
/// values.
fn run_statement(
    session: &Session,
    registry: &Registry,
    statement: &Statement,
    budget: usize,
) -> Result<Output, CommandError> {
    let root = &registry.root;
    if let Statement::Export { path } | Statement::Import { path } = statement {
        check_file_name(registry, path, matches!(statement, Statement::Export { .. }))?;
    }
    let closed = || refusal("the session's store was closed: open it again with POST /api/open");
    match statement {
        Statement::Scan { prefix, from, limit } => {
            let limit = limit.unwrap_or(DEFAULT_SCAN_LIMIT).min(MAX_SCAN_PAGE_PAIRS);
            let page = session
                .store
                .read(|store| scan_page(store, prefix.as_deref(), from.as_deref(), limit, budget))
                .ok_or_else(closed)??;
            return Ok(Output::Scan(page));
        }
        Statement::GetAll => {
            let pairs = session.store.read(|store| all_pairs(store, budget)).ok_or_else(closed)??;
            return Ok(Output::Pairs { pairs });
        }
        _ => {}
    }
    let bounded;
    let statement = match statement {
        Statement::Pages { from, limit } => {
            bounded = Statement::Pages {
                from: *from,
                limit: Some(limit.unwrap_or(command::DEFAULT_PAGES_LIMIT).min(MAX_EXECUTE_PAGE_ROWS)),
            };
            &bounded
        }
        other => other,
    };
    let files = FileAccess::Within(root.clone());
    let output = if statement.needs_exclusive() {
        session.store.write(|store| command::execute(store, statement, &files))
    } else {
        session.store.read(|store| command::execute_shared(store, statement, &files))
    };
    let output = output.ok_or_else(closed)??;
    Ok(relative_paths(output, root))
}

/// Every pair, or an error once they pass [`MAX_EXECUTE_ALL_PAIRS`] pairs or `budget` bytes.
/// Pairs of keys and values, as listings hold them.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn all_pairs(store: &KVStore, budget: usize) -> Result<Pairs, CommandError> {
    let keys = store.len()?;
    let too_many = |what: String| {
        refusal(&format!(
            "GET WHERE KEY=* would answer {what}; one request answers at most {MAX_EXECUTE_ALL_PAIRS} pairs \
             and {MAX_EXECUTE_ANSWER_BYTES} bytes: use SCAN ... LIMIT n and FROM to page"
        ))
    };
    if keys > MAX_EXECUTE_ALL_PAIRS {
        return Err(too_many(format!("{keys} pairs")));
    }
    let mut pairs = Vec::new();
    let mut bytes = 0usize;
    for item in store.iter() {
        let (key, value) = item?;
        bytes += key.len() + value.len();
        if bytes > budget {
            return Err(too_many(format!("more than {budget} bytes")));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// `EXPORT` and `IMPORT` files follow the same confinement as stores (no reserved suffix), may
/// not be a store's own file, open or closed, and an export never replaces a file.
fn check_file_name(registry: &Registry, name: &str, export: bool) -> Result<(), CommandError> {
    let resolved =
        paths::resolve(&registry.root, name).map_err(|e| CommandError::FileAccessDenied(e.message()))?;
    if registry.is_store_file(&resolved) {
        return Err(refusal(&format!("'{name}' is an open store's file")));
    }
    if export {
        if std::fs::symlink_metadata(&resolved).is_ok() {
            return Err(refusal(&format!(
                "'{name}' exists; EXPORT never replaces a file: choose a new name, or remove the old file first"
            )));
        }
    } else if crate::is_store_or_log(&resolved) {
        return Err(refusal(&format!("'{name}' is a store or a store's log, not an export file")));
    }
    Ok(())
}

/// Outputs that name files name them relative to the data directory.
fn relative_paths(output: Output, root: &Path) -> Output {
    let relative = |path: std::path::PathBuf| path.strip_prefix(root).map(Path::to_path_buf).unwrap_or(path);
    match output {
        Output::Exported { path, pairs } => Output::Exported { path: relative(path), pairs },
        Output::Imported { path, pairs, identifier } => {
            Output::Imported { path: relative(path), pairs, identifier }
        }
        Output::Salvaged { path, report } => Output::Salvaged { path: relative(path), report },
        other => other,
    }
}

/// Any route not listed.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// A listed route with another method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_cut_as_the_original_cut_them() {
        let cut = |text| split_segments(text).into_iter().map(|(s, _)| s).collect::<Vec<_>>();
        assert_eq!(
            cut("\n    PUT \"a\":\"b\";    COUNT;\n    "),
            vec!["\n    PUT \"a\":\"b\"", "    COUNT", "\n    "]
        );
        assert_eq!(cut("COUNT; ;;COUNT"), vec!["COUNT", "COUNT"]);
        assert_eq!(
            cut("PUT \"a;b\":\"c\\\";\"; -- a ; comment\nCOUNT;"),
            vec!["PUT \"a;b\":\"c\\\";\"", " -- a ; comment\nCOUNT"]
        );
        let positions: Vec<_> =
            split_segments("COUNT;\nGET x;").into_iter().map(|(_, p)| (p.line, p.column)).collect();
        assert_eq!(positions, vec![(1, 1), (1, 7)]);
    }

    #[test]
    fn queries_must_decode_to_utf8() {
        assert!(check_query_utf8("key=%E2%9C%93&x=a+b").is_ok());
        assert!(check_query_utf8("key=%ff").is_err());
        assert!(check_query_utf8("key=%C3").is_err());
        assert!(check_query_utf8("key=100%").is_ok());
        assert_eq!(percent_decode(b"a%2Fb+c%zz"), b"a/b c%zz");
    }
}
