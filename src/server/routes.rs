//! The route handlers. Each one finds its session, runs its engine work on the blocking pool,
//! and answers the original server's JSON shape (see `docs/SERVER.md`).

use std::path::Path;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Json, body::Bytes};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use super::paths;
use super::sessions::{Session, blocking};
use crate::command::{self, CommandError, FileAccess, Output, Statement};
use crate::{KVStore, MAX_VALUE_BYTES, WriteBatch};

/// The header that names a session, as the original server spelled it.
pub const SESSION_HEADER: &str = "X-Session-ID";
/// Set by `/api/del`: whether the key existed (the body keeps the original's fixed answer).
pub const KEY_EXISTED_HEADER: &str = "X-Key-Existed";
/// What `GET /` answers, word for word as the original did.
pub const BANNER: &str = "Wind-KVStore Server is Running!";
/// Pairs `/api/scan` returns when no `limit` is given.
pub const DEFAULT_SCAN_LIMIT: u64 = 100;
/// Most pairs one `/api/scan` returns: it bounds the memory one response holds. Larger listings
/// page with `start`.
pub const MAX_SCAN_LIMIT: u64 = 10_000;
/// `GET WHERE KEY=*` through `/api/execute` reads every pair into one response; above this many
/// keys it is refused in favour of `SCAN ... LIMIT`, so one request cannot exhaust memory.
pub const MAX_EXECUTE_ALL_PAIRS: u64 = 100_000;
/// Keys echoed in error messages are cut to this many characters.
const MAX_ECHOED_KEY_CHARS: usize = 64;

// ------------------------------------------------------------------ extractors

/// A JSON body of any content type, with errors that name the problem.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Syntax | Category::Eof | Category::Io => {
                    ApiError::bad_request("bad_json", format!("malformed JSON: {e}"))
                }
                Category::Data => ApiError::bad_request("bad_request", format!("unexpected JSON: {e}")),
            }
        })
    }
}

/// The raw body, limited to `max_body_bytes` (413 past it).
pub(crate) struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        body_bytes(req, state).await.map(RawBody)
    }
}

async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit_bytes: state.registry.config.max_body_bytes }
        } else {
            ApiError::bad_request("bad_body", rejection.body_text())
        }
    })
}

/// Query parameters, with errors that name the problem.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|rejection| ApiError::bad_request("bad_query", rejection.body_text()))
    }
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
fn answer(session: &str, body: impl serde::Serialize) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(session) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

fn store_closed() -> ApiError {
    ApiError::NoSession { message: "the session's store was closed: open it again with POST /api/open" }
}

/// Runs `f` on the session's store, on the blocking pool, under the store's read lock.
async fn with_store<T, F>(session: &Arc<Session>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&KVStore, &str) -> Result<T, ApiError> + Send + 'static,
{
    let s = session.clone();
    let result = blocking(move || s.store.read(|store| f(store, &s.name))).await?;
    session.touch();
    result.unwrap_or_else(|| Err(store_closed()))
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
    headers: HeaderMap,
    JsonBody(request): JsonBody<OpenRequest>,
) -> Result<Response, ApiError> {
    if let Ok(old) = state.registry.session(session_id(&headers)) {
        // Already gone is fine: the aim is that it is gone.
        let _ = state.registry.close_session(&old.id).await;
    }
    let id = state.registry.open(request.path).await?;
    Ok(answer(&id, json!({"status": "Database opened"})))
}

/// `GET /api/close`: closes the session (and its store, when no other session uses it).
pub(crate) async fn close(
    State(state): State<AppState>,
    InSession(session): InSession,
) -> Result<Response, ApiError> {
    state.registry.close_session(&session.id).await?;
    Ok(answer(&session.id, json!({"status": "Database closed"})))
}

#[derive(Deserialize)]
pub(crate) struct PutItem {
    key: String,
    value: Option<String>,
    #[serde(default)]
    encoding: Encoding,
    #[serde(default)]
    key_encoding: Encoding,
}

/// `POST /api/put [{"key": "k", "value": "v"}, ...]`: one atomic batch.
pub(crate) async fn put(
    InSession(session): InSession,
    JsonBody(items): JsonBody<Vec<PutItem>>,
) -> Result<Response, ApiError> {
    let mut pairs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
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
        pairs.push((key, value, name()));
    }
    let count = pairs.len();
    with_store(&session, move |store, store_name| {
        let max_key = store.max_key_bytes();
        let mut batch = WriteBatch::new();
        for (key, value, name) in &pairs {
            if key.len() > max_key {
                return Err(ApiError::bad_request(
                    "too_large",
                    format!(
                        "{name}: key is {} bytes; the limit is {max_key}; nothing was written",
                        key.len()
                    ),
                ));
            }
            if value.len() as u64 > MAX_VALUE_BYTES {
                return Err(ApiError::bad_request(
                    "too_large",
                    format!(
                        "{name}: value is {} bytes; the limit is {MAX_VALUE_BYTES}; nothing was written",
                        value.len()
                    ),
                ));
            }
            batch.put(key, value);
        }
        store.write(batch).map_err(|e| ApiError::from_store(e, store_name))
    })
    .await?;
    Ok(answer(&session.id, json!({"status": format!("Inserted {count} key-value pairs")})))
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
    InSession(session): InSession,
    ApiQuery(params): ApiQuery<GetParams>,
) -> Result<Response, ApiError> {
    let key =
        decode(&params.key, params.key_encoding, "key").map_err(|e| ApiError::bad_request("bad_key", e))?;
    let value =
        with_store(&session, move |store, name| store.get(&key).map_err(|e| ApiError::from_store(e, name)))
            .await?;
    let mut object = Map::new();
    object.insert("key".into(), params.key.into());
    if params.key_encoding == Encoding::Base64 {
        object.insert("key_encoding".into(), "base64".into());
    }
    match value {
        Some(value) => {
            let (v, encoding) = encode(&value, params.encoding == Encoding::Base64);
            object.insert("value".into(), v);
            if let Some(e) = encoding {
                object.insert("encoding".into(), e.into());
            }
        }
        None => {
            object.insert("value".into(), Value::Null);
        }
    }
    Ok(answer(&session.id, Value::Object(object)))
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
    InSession(session): InSession,
    JsonBody(request): JsonBody<DelRequest>,
) -> Result<Response, ApiError> {
    let key =
        decode(&request.key, request.key_encoding, "key").map_err(|e| ApiError::bad_request("bad_key", e))?;
    let existed = with_store(&session, move |store, name| {
        store.delete(&key).map_err(|e| ApiError::from_store(e, name))
    })
    .await?;
    let mut response = answer(&session.id, json!({"status": "Key deleted"}));
    response
        .headers_mut()
        .insert(KEY_EXISTED_HEADER, HeaderValue::from_static(if existed { "true" } else { "false" }));
    Ok(response)
}

/// `GET /api/id/get`: `{"identifier": ".."}`.
pub(crate) async fn identifier_get(InSession(session): InSession) -> Result<Response, ApiError> {
    let identifier = with_store(&session, |store, _| Ok(store.get_identifier().to_owned())).await?;
    Ok(answer(&session.id, json!({"identifier": identifier})))
}

#[derive(Deserialize)]
pub(crate) struct IdentifierRequest {
    identifier: String,
}

/// `POST /api/id/set {"identifier": ".."}`: `{"status": "Identifier updated"}`.
pub(crate) async fn identifier_set(
    InSession(session): InSession,
    JsonBody(request): JsonBody<IdentifierRequest>,
) -> Result<Response, ApiError> {
    let s = session.clone();
    let result = blocking(move || {
        s.store.write(|store| {
            store.set_identifier(&request.identifier).map_err(|e| ApiError::from_store(e, &s.name))
        })
    })
    .await?;
    session.touch();
    result.unwrap_or_else(|| Err(store_closed()))?;
    Ok(answer(&session.id, json!({"status": "Identifier updated"})))
}

/// `GET /api/current`: `{"path": ".."}`, the path as the client gave it to `/api/open`.
pub(crate) async fn current(InSession(session): InSession) -> Result<Response, ApiError> {
    Ok(answer(&session.id, json!({"path": session.name})))
}

/// `GET /api/compact`: `{"status": "Database compacted"}`.
pub(crate) async fn compact(InSession(session): InSession) -> Result<Response, ApiError> {
    with_store(&session, |store, name| store.compact().map_err(|e| ApiError::from_store(e, name))).await?;
    Ok(answer(&session.id, json!({"status": "Database compacted"})))
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

/// `GET /api/scan?prefix=&start=&limit=`: a page of pairs in key order and the key to resume
/// from (`next`, `null` at the end).
pub(crate) async fn scan(
    InSession(session): InSession,
    ApiQuery(params): ApiQuery<ScanParams>,
) -> Result<Response, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_SCAN_LIMIT);
    if !(1..=MAX_SCAN_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request("bad_query", format!("limit must be from 1 to {MAX_SCAN_LIMIT}")));
    }
    let decode_opt = |text: &Option<String>, what| {
        text.as_deref()
            .map(|t| decode(t, params.encoding, what))
            .transpose()
            .map_err(|e| ApiError::bad_request("bad_query", e))
    };
    let statement = Statement::Scan {
        prefix: decode_opt(&params.prefix, "prefix")?,
        from: decode_opt(&params.start, "start")?,
        limit: Some(limit),
    };
    let output = with_store(&session, move |store, name| {
        command::execute_shared(store, &statement, &FileAccess::Denied).map_err(|e| command_error(e, name))
    })
    .await?;
    let Output::Scan(page) = output else {
        return Err(ApiError::internal("SCAN answered something else"));
    };
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
    Ok(answer(&session.id, Value::Object(object)))
}

/// `GET /api/stats`: the store's counters (the `STATS` statement's JSON) and its path.
pub(crate) async fn stats(InSession(session): InSession) -> Result<Response, ApiError> {
    let stats = with_store(&session, |store, _| Ok(store.stats())).await?;
    let mut body = Output::Stats(stats).to_json();
    if let Value::Object(object) = &mut body {
        object.insert("path".into(), session.name.clone().into());
    }
    Ok(answer(&session.id, body))
}

/// Maps a failed statement used by a dedicated route.
fn command_error(error: CommandError, name: &str) -> ApiError {
    match error {
        CommandError::Store(e) => ApiError::from_store(e, name),
        other => ApiError::bad_request("bad_request", other.to_string()),
    }
}

/// `POST /api/execute` with statements as plain text: every statement runs in order (a failed
/// one does not stop the rest, as in the original), and the answer is
/// `{"status": "<the original's summary string>", "results": [<one JSON result per statement>]}`.
pub(crate) async fn execute(
    State(state): State<AppState>,
    InSession(session): InSession,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let text = String::from_utf8(body.to_vec())
        .map_err(|e| ApiError::bad_request("bad_body", format!("statements must be UTF-8 text: {e}")))?;
    let registry = state.registry.clone();
    let s = session.clone();
    let (status, results) = blocking(move || run_script(&s, &registry, &text)).await?;
    session.touch();
    Ok(answer(&session.id, ExecuteAnswer { status, results }))
}

/// `/api/execute`'s answer. A struct, not a map, so `status` comes first in the text as it did in
/// the original's (clients that scan the raw text find it where they did).
#[derive(serde::Serialize)]
struct ExecuteAnswer {
    status: String,
    results: Vec<Value>,
}

/// Runs `text` for `session`: the summary string and the JSON results.
fn run_script(session: &Session, registry: &super::sessions::Registry, text: &str) -> (String, Vec<Value>) {
    let root = &registry.root;
    let mut pieces = Vec::new();
    let mut results = Vec::new();
    for item in command::statements(text) {
        match item {
            Ok(located) => {
                let statement = located.statement;
                let shown = statement.to_string();
                let shown = shown.strip_suffix(';').unwrap_or(&shown);
                match run_statement(session, registry, &statement) {
                    Ok(output) => {
                        pieces.push(format!("\"{shown}: {output};\""));
                        results.push(output.to_json());
                    }
                    Err(e) => {
                        let message = paths::hide_root(root, &e.to_string());
                        pieces.push(format!("\"{shown}: Error: {message};\""));
                        results.push(error_json(&e, &message, Some(located.position)));
                    }
                }
            }
            Err(e) => {
                let error = CommandError::Parse(e);
                let message = error.to_string();
                pieces.push(format!("\"Error: {message};\""));
                results.push(error_json(&error, &message, None));
            }
        }
    }
    (pieces.join(" "), results)
}

fn error_json(error: &CommandError, message: &str, at: Option<command::Position>) -> Value {
    let mut value = command::error_to_json(error, at);
    if let (Value::Object(object), false) = (&mut value, matches!(error, CommandError::Parse(_))) {
        object.insert("message".into(), message.into());
    }
    value
}

fn run_statement(
    session: &Session,
    registry: &super::sessions::Registry,
    statement: &Statement,
) -> Result<Output, CommandError> {
    let root = &registry.root;
    if let Statement::Export { path } | Statement::Import { path } = statement {
        check_file_name(registry, path)?;
    }
    if matches!(statement, Statement::GetAll) {
        let keys = session.store.read(|store| store.len()).ok_or(CommandError::NoDatabase)?;
        if keys > MAX_EXECUTE_ALL_PAIRS {
            return Err(CommandError::FileAccessDenied(format!(
                "GET WHERE KEY=* would answer {keys} pairs; the server answers at most \
                 {MAX_EXECUTE_ALL_PAIRS} at once: use SCAN ... LIMIT n and FROM to page"
            )));
        }
    }
    let files = FileAccess::Within(root.clone());
    let output = if statement.needs_exclusive() {
        session.store.write(|store| command::execute(store, statement, &files))
    } else {
        session.store.read(|store| command::execute_shared(store, statement, &files))
    };
    let output = output.ok_or(CommandError::NoDatabase)??;
    Ok(relative_paths(output, root))
}

/// `EXPORT` and `IMPORT` files follow the same confinement as stores, and may not be an open
/// store's own files (an export over a live store would destroy it).
fn check_file_name(registry: &super::sessions::Registry, name: &str) -> Result<(), CommandError> {
    let resolved =
        paths::resolve(&registry.root, name).map_err(|e| CommandError::FileAccessDenied(e.message()))?;
    if registry.is_store_file(&resolved) {
        return Err(CommandError::FileAccessDenied(format!("'{name}' is an open store's file")));
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
        other => other,
    }
}

/// Any route not listed.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
