//! `wkserver`'s HTTP API: the original server's routes and JSON, with sessions that are checked,
//! store paths confined to a data directory, bounded bodies, optional bearer-token auth, idle
//! sessions closed cleanly and a graceful shutdown that closes every store.
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
mod middleware;
mod paths;
mod routes;
mod sessions;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use config::{
    CONFIG_FILE_NAME, ConfigError, DEFAULT_HOST, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SESSIONS, DEFAULT_PORT,
    DEFAULT_SESSION_IDLE_SECS, MIN_MAX_BODY_BYTES, ServerConfig, TOKEN_ENV, default_config_path,
    default_data_dir,
};
pub use error::ApiError;
pub use paths::MAX_STORE_PATH_BYTES;
pub use routes::{
    BANNER, DEFAULT_SCAN_LIMIT, KEY_EXISTED_HEADER, MAX_EXECUTE_ALL_PAIRS, MAX_SCAN_LIMIT, SESSION_HEADER,
};
pub use sessions::SessionCounts;

use sessions::Registry;

/// After a shutdown signal, requests in flight get this long to finish; then the stores are
/// closed regardless. With the closing checkpoints it keeps the whole shutdown under 5 seconds.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    registry: Arc<Registry>,
}

impl AppState {
    /// Checks the configuration and creates the data directory if it is missing.
    pub fn new(config: ServerConfig) -> std::io::Result<AppState> {
        config.validate().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Ok(AppState { registry: Arc::new(Registry::new(config)?) })
    }

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
        self.registry.shutdown().await;
    }
}

/// The router with every route and layer: body limit, bearer token, access log.
pub fn app(state: AppState) -> Router {
    let max_body_bytes = state.registry.config.max_body_bytes;
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
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::require_token))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(middleware::access_log))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` completes, then stops accepting, lets requests
/// in flight finish (at most [`SHUTDOWN_GRACE`]), and closes every session and store.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(state.registry.clone().sweep());
    let (stop, mut signal) = tokio::sync::watch::channel(false);
    let service = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        let _ = signal.wait_for(|s| *s).await;
    });
    let mut server = tokio::spawn(server.into_future());
    let result = tokio::select! {
        finished = &mut server => finished,
        () = shutdown => {
            tracing::info!("shutting down: no new connections; finishing requests in flight");
            let _ = stop.send(true);
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(finished) => finished,
                Err(_) => {
                    tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; closing stores anyway");
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    sweeper.abort();
    state.shutdown().await;
    tracing::info!("every store closed");
    match result {
        Ok(served) => served,
        Err(e) => Err(std::io::Error::other(format!("server task failed: {e}"))),
    }
}

#[cfg(test)]
mod tests;
