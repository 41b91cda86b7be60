//! `wkserver`'s HTTP API: the original server's routes and JSON, with sessions that are checked,
//! store paths confined to a data directory (companion-file names refused), bounded bodies and
//! answers, per-client limits, header and body timeouts, a `Host` allow-list, optional
//! bearer-token auth and HTTPS (feature `tls`), Prometheus metrics, idle sessions closed
//! cleanly and a graceful shutdown that closes every store within 5 seconds.
//!
//! The connection loop is the server's own (hyper's HTTP/1.1 connection API): it enforces the
//! connection limits and the request-head timeout, and gives hyper's framing errors the JSON
//! error shape (`framing.rs`).
//!
//! ```no_run
//! use wind_kvstore::server::{AppState, ServerConfig, serve};
//! # async fn run() -> std::io::Result<()> {
//! let config = ServerConfig { data_dir: "stores".into(), ..ServerConfig::default() };
//! let state = AppState::new(config)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:14514").await?;
//! serve(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! Routes, JSON shapes and the security model are documented in `docs/SERVER.md`.

mod config;
mod error;
mod framing;
mod logging;
mod metrics;
mod middleware;
mod paths;
mod routes;
mod sessions;
#[cfg(feature = "tls")]
mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

pub use config::{
    CONFIG_FILE_NAME, ConfigError, DEFAULT_BODY_TIMEOUT_SECS, DEFAULT_HEADER_TIMEOUT_SECS, DEFAULT_HOST,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
    DEFAULT_MAX_OPEN_STORES, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_CLIENT, DEFAULT_PORT,
    DEFAULT_SESSION_IDLE_SECS, FDS_PER_STORE, MIN_MAX_BODY_BYTES, RESERVED_FDS, ServerConfig, TOKEN_ENV,
    default_config_path, default_data_dir,
};
pub use error::ApiError;
pub use middleware::{MAX_HEADER_BYTES, MAX_URI_BYTES};
pub use paths::{MAX_PATH_COMPONENT_BYTES, MAX_STORE_PATH_BYTES, RESERVED_SUFFIXES};
pub use routes::{
    BANNER, DEFAULT_SCAN_LIMIT, KEY_EXISTED_HEADER, MAX_EXECUTE_ALL_PAIRS, MAX_EXECUTE_ANSWER_BYTES,
    MAX_EXECUTE_PAGE_ROWS, MAX_EXECUTE_STATEMENTS, MAX_PUT_ITEMS, MAX_SCAN_PAGE_BYTES, MAX_SCAN_PAGE_PAIRS,
    MAX_SMALL_BODY_BYTES, SESSION_HEADER,
};
pub use sessions::SessionCounts;

use metrics::Metrics;
use sessions::Registry;

/// After a shutdown signal, requests in flight get this long to finish (scripts stop at their
/// next statement at once); then the stores are closed regardless.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(2500);
/// Closing the stores at shutdown may take this long; a store still busy then (one statement
/// that cannot be interrupted) is left to its log, which the next open replays. With
/// [`SHUTDOWN_GRACE`] it keeps the whole stop under 5 seconds.
pub const SHUTDOWN_CLOSE_DEADLINE: Duration = Duration::from_millis(1500);
/// The largest request head (request line and headers) read; larger ones get 431.
pub const MAX_HEAD_BYTES: usize = 64 << 10;

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    /// Host names `Host` and `Origin` may carry (lower-case); `None`: any.
    allowed_hosts: Arc<Option<Vec<String>>>,
}

impl AppState {
    /// Checks the configuration (the file-descriptor budget included) and creates the data
    /// directory if it is missing.
    pub fn new(config: ServerConfig) -> std::io::Result<AppState> {
        config.validate().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        check_fd_budget(&config)?;
        let allowed_hosts = Arc::new(config.host_allow_list());
        Ok(AppState { registry: Arc::new(Registry::new(config)?), metrics: Arc::default(), allowed_hosts })
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.registry.config
    }

    /// Sessions and open stores right now.
    pub fn counts(&self) -> SessionCounts {
        self.registry.counts()
    }

    /// Closes sessions idle longer than `session_idle_secs` now (the server also does it on a
    /// timer); returns how many it closed.
    pub async fn evict_idle(&self) -> usize {
        self.registry.evict_idle().await
    }

    /// Ends every session and closes every store; new sessions are refused from then on.
    pub async fn shutdown(&self) {
        self.registry.shutdown(SHUTDOWN_CLOSE_DEADLINE).await;
    }
}

/// The soft limit on open files, where the system says (Linux: `/proc/self/limits`).
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Refuses to start when the limits could make the server run out of file descriptors: then
/// opens and accepts would fail at random instead of answering 503.
fn check_fd_budget(config: &ServerConfig) -> std::io::Result<()> {
    let budget = config.fd_budget();
    match open_files_limit() {
        Some(limit) if limit < budget => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "max_open_stores {} x {FDS_PER_STORE} + max_connections {} + {RESERVED_FDS} = {budget} file \
                 descriptors, but this process may open only {limit} (ulimit -n): raise the limit \
                 (LimitNOFILE= in a systemd unit) or lower max_open_stores or max_connections",
                config.max_open_stores, config.max_connections
            ),
        )),
        _ => Ok(()),
    }
}

/// The router with every route and layer: access log and metrics, guard (target length, host
/// allow-list), bearer token. Body limits are each route's (see `routes.rs`).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(routes::index))
        .route("/api/health", get(routes::health))
        .route("/api/open", post(routes::open))
        .route("/api/close", get(routes::close))
        .route("/api/put", post(routes::put))
        .route("/api/get", get(routes::get))
        .route("/api/del", post(routes::del))
        .route("/api/id/get", get(routes::identifier_get))
        .route("/api/id/set", post(routes::identifier_set))
        .route("/api/current", get(routes::current))
        .route("/api/compact", get(routes::compact))
        .route("/api/execute", post(routes::execute))
        .route("/api/scan", get(routes::scan))
        .route("/api/stats", get(routes::stats))
        .route("/metrics", get(metrics_route))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::require_token))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::guard))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::access_log))
        .with_state(state)
}

/// `GET /metrics`: Prometheus text exposition (no session needed; the token is, when set).
async fn metrics_route(State(state): State<AppState>) -> Response {
    let counts = state.registry.counts();
    let root = state.registry.root.clone();
    let stores = state.registry.open_stores();
    // Statistics are read off the async workers: a store may be busy.
    let stats = sessions::blocking(move || {
        stores
            .iter()
            .filter_map(|open| {
                let name = open.path_in(&root);
                open.read(|store| (name, store.stats()))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let text = state.metrics.render(counts.sessions, counts.open_stores, &stats);
    let mut response = Response::new(Body::from(text));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response.into_response()
}

/// Connections per client address, against `max_connections_per_client`.
struct ClientConnections {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`ClientConnections`], given back when dropped.
struct ConnectionSlot {
    clients: Arc<ClientConnections>,
    ip: IpAddr,
}

impl ClientConnections {
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot { clients: self.clone(), ip })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.clients.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then stops accepting, lets requests
/// in flight finish (at most [`SHUTDOWN_GRACE`]; scripts stop at their next statement), and
/// closes every session and store (at most [`SHUTDOWN_CLOSE_DEADLINE`]).
///
/// Connections are limited (`max_connections`, `max_connections_per_client`) and must send
/// each request head within `header_timeout_secs`. With `tls_cert` and `tls_key` set (the
/// `tls` feature), connections are HTTPS.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.registry.config.clone();
    #[cfg(feature = "tls")]
    let acceptor = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let router = app(state.clone());
    let sweeper = tokio::spawn(state.registry.clone().sweep());
    let (stop, stopping) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let clients = Arc::new(ClientConnections {
        max: config.max_connections_per_client,
        open: Mutex::new(HashMap::new()),
    });
    let header_timeout = Duration::from_secs(config.header_timeout_secs);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // pause a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = clients.enter(addr.ip()) else {
            tracing::warn!(client = %addr, "connection refused: the client has too many open");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stopping = stopping.clone();
        let metrics = state.metrics.clone();
        #[cfg(feature = "tls")]
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            metrics.connections.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "tls")]
            if let Some(acceptor) = acceptor {
                match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => serve_connection(tls, addr, router, header_timeout, stopping).await,
                    _ => tracing::debug!(client = %addr, "TLS handshake failed or timed out"),
                }
                metrics.connections.fetch_sub(1, Ordering::Relaxed);
                drop((permit, slot));
                return;
            }
            serve_connection(stream, addr, router, header_timeout, stopping).await;
            metrics.connections.fetch_sub(1, Ordering::Relaxed);
            drop((permit, slot));
        });
    }
    drop(listener);
    state.registry.begin_shutdown();
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    let _ = stop.send(true);
    let all = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all)).await.is_err() {
        tracing::warn!(grace = ?SHUTDOWN_GRACE, "requests still running after the grace period; closing stores anyway");
    }
    sweeper.abort();
    state.registry.shutdown(SHUTDOWN_CLOSE_DEADLINE).await;
    tracing::info!("every store closed");
    Ok(())
}

/// Serves HTTP/1.1 on one connection until the client closes it, a head does not arrive in
/// time, or the server stops (then requests in flight finish and the connection closes).
async fn serve_connection<S>(
    stream: S,
    addr: SocketAddr,
    router: Router,
    header_timeout: Duration,
    mut stopping: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(addr));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .writev(false);
    let connection = builder.serve_connection(TokioIo::new(framing::JsonFramingErrors::new(stream)), service);
    tokio::pin!(connection);
    let mut asked_to_stop = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(client = %addr, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = stopping.wait_for(|stop| *stop), if !asked_to_stop => {
                connection.as_mut().graceful_shutdown();
                asked_to_stop = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;
