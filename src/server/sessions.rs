//! Sessions and the stores they share.
//!
//! - A session is a random version-4 UUID naming one open store and the path the client gave.
//! - Every store file is open at most once: sessions on the same file share one [`OpenStore`],
//!   counted; the last session to leave closes it (checkpoint, lock released).
//! - Opening and closing stores is serialised by one async lock (`gate`), so a file closing for
//!   its last session is closed before anyone opens it again. Reads and writes do not take it:
//!   they hold only the store's own read lock.
//! - Engine work (open, close, every read and write) runs on the blocking pool, never on the
//!   async workers. Concurrent writers are on different blocking threads, so the engine's group
//!   commit shares their fsyncs.
//! - Idle sessions are closed by a sweeper; at shutdown every session is closed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::config::ServerConfig;
use super::error::ApiError;
use super::paths;
use crate::{KVStore, OpenOptions};

/// The sweeper looks for idle sessions this many times per idle period, so a session is closed
/// at most a quarter period late.
const SWEEPS_PER_IDLE_PERIOD: u32 = 4;
/// ... but never more often than this, nor less often than `SWEEP_MAX`.
const SWEEP_MIN: Duration = Duration::from_millis(100);
const SWEEP_MAX: Duration = Duration::from_secs(30);

/// One store file, open once, shared by the sessions on it.
pub(crate) struct OpenStore {
    /// Canonical path inside the data directory: the key in the registry.
    path: PathBuf,
    /// `None` once closed. Reads and writes take the read lock (the engine is `Sync`);
    /// `IDENTIFIER SET` and closing take the write lock, so a close waits for requests in flight.
    store: RwLock<Option<KVStore>>,
    /// Sessions using it; changed only under the registry lock.
    sessions: AtomicUsize,
}

impl OpenStore {
    /// Runs `f` on the store under the read lock. Blocking.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&KVStore) -> T) -> Option<T> {
        let guard = self.store.read().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map(f)
    }

    /// Runs `f` on the store under the write lock. Blocking.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut KVStore) -> T) -> Option<T> {
        let mut guard = self.store.write().unwrap_or_else(PoisonError::into_inner);
        guard.as_mut().map(f)
    }

    /// Takes the store out (waiting for requests in flight) and closes it. Blocking.
    fn close(&self) {
        let taken = self.store.write().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(store) = taken {
            match store.close() {
                Ok(()) => tracing::info!("closed store {}", self.path.display()),
                Err(e) => tracing::error!("closing store {}: {e}", self.path.display()),
            }
        }
    }
}

/// A client's session.
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) store: Arc<OpenStore>,
    /// The path as the client gave it (what `/api/current` answers and errors name).
    pub(crate) name: String,
    last_active: Mutex<Instant>,
}

impl Session {
    pub(crate) fn touch(&self) {
        *lock(&self.last_active) = Instant::now();
    }

    fn idle_since(&self) -> Instant {
        *lock(&self.last_active)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs blocking engine work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))
}

/// Counters for `/api/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCounts {
    pub sessions: usize,
    pub open_stores: usize,
}

/// Everything the handlers share: configuration, sessions, open stores.
pub(crate) struct Registry {
    pub(crate) config: ServerConfig,
    /// Canonical data directory; every store path starts with it.
    pub(crate) root: PathBuf,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Sessions existing or being opened: checked against `max_sessions` before any work.
    reserved: AtomicUsize,
    /// Open stores by canonical path; changed only while `gate` is held.
    stores: Mutex<HashMap<PathBuf, Arc<OpenStore>>>,
    /// Held across every open and close of a store file.
    gate: tokio::sync::Mutex<()>,
    shutting_down: AtomicBool,
}

/// A reserved session slot, given back when dropped unless a session took it.
struct Reservation<'a> {
    registry: &'a Registry,
    kept: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.registry.reserved.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Registry {
    /// Creates the data directory if needed. Blocking.
    pub(crate) fn new(config: ServerConfig) -> std::io::Result<Registry> {
        std::fs::create_dir_all(&config.data_dir)?;
        let root = config.data_dir.canonicalize()?;
        Ok(Registry {
            config,
            root,
            sessions: Mutex::new(HashMap::new()),
            reserved: AtomicUsize::new(0),
            stores: Mutex::new(HashMap::new()),
            gate: tokio::sync::Mutex::new(()),
            shutting_down: AtomicBool::new(false),
        })
    }

    pub(crate) fn counts(&self) -> SessionCounts {
        SessionCounts { sessions: lock(&self.sessions).len(), open_stores: lock(&self.stores).len() }
    }

    /// The session named by the request's `X-Session-ID`, marked active.
    pub(crate) fn session(&self, id: Option<&str>) -> Result<Arc<Session>, ApiError> {
        let Some(id) = id else {
            return Err(ApiError::NoSession {
                message: "missing X-Session-ID header: open a store with POST /api/open first",
            });
        };
        let session = lock(&self.sessions).get(id).cloned().ok_or(ApiError::NoSession {
            message: "unknown session (closed, expired or never opened): open a store with POST /api/open",
        })?;
        session.touch();
        Ok(session)
    }

    /// Opens (or joins) the store the client calls `name` for a new session; returns its id.
    pub(crate) async fn open(&self, name: String) -> Result<String, ApiError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(shutting_down());
        }
        let mut reservation = self.reserve()?;
        let root = self.root.clone();
        let resolve_name = name.clone();
        let path = blocking(move || paths::resolve(&root, &resolve_name)).await??;
        let store = self.acquire(&path, &name).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let session =
            Arc::new(Session { id: id.clone(), store, name, last_active: Mutex::new(Instant::now()) });
        lock(&self.sessions).insert(id.clone(), session);
        reservation.kept = true;
        Ok(id)
    }

    fn reserve(&self) -> Result<Reservation<'_>, ApiError> {
        let max = self.config.max_sessions;
        let before = self.reserved.fetch_add(1, Ordering::SeqCst);
        let reservation = Reservation { registry: self, kept: false };
        if before >= max {
            return Err(ApiError::Unavailable {
                code: "too_many_sessions",
                message: format!("the server already has {max} sessions; close one or try later"),
            });
        }
        Ok(reservation)
    }

    /// The shared store at `path`, opening it if no session has it open.
    async fn acquire(&self, path: &Path, name: &str) -> Result<Arc<OpenStore>, ApiError> {
        let _gate = self.gate.lock().await;
        // Checked under the gate: `shutdown` drains the stores under it after setting the flag.
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(shutting_down());
        }
        if let Some(open) = lock(&self.stores).get(path) {
            open.sessions.fetch_add(1, Ordering::SeqCst);
            return Ok(open.clone());
        }
        let owned = path.to_path_buf();
        let store = blocking(move || OpenOptions::new().open(&owned)).await?;
        let store = store.map_err(|e| ApiError::from_store(e, name))?;
        tracing::info!("opened store {}", path.display());
        let open = Arc::new(OpenStore {
            path: path.to_path_buf(),
            store: RwLock::new(Some(store)),
            sessions: AtomicUsize::new(1),
        });
        lock(&self.stores).insert(path.to_path_buf(), open.clone());
        Ok(open)
    }

    /// A session left `store`: close it when it was the last one.
    async fn release(&self, store: Arc<OpenStore>) {
        let _gate = self.gate.lock().await;
        if store.sessions.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        // Closed while the gate is held, so nobody reopens the file before it is closed; it
        // leaves the map (and the counts) once closed.
        let closing = store.clone();
        if let Err(e) = blocking(move || closing.close()).await {
            tracing::error!("{e}");
        }
        lock(&self.stores).remove(&store.path);
    }

    /// Whether `path` is an open store's file (or one of the files beside it).
    pub(crate) fn is_store_file(&self, path: &Path) -> bool {
        lock(&self.stores).keys().any(|store| {
            path == store
                || [".wal", ".tmp"].iter().any(|suffix| {
                    let mut sibling = store.as_os_str().to_owned();
                    sibling.push(suffix);
                    path == Path::new(&sibling)
                })
        })
    }

    /// Ends session `id`, closing its store if it was the last session on it.
    pub(crate) async fn close_session(&self, id: &str) -> Result<(), ApiError> {
        let removed = lock(&self.sessions).remove(id);
        let Some(session) = removed else {
            return Err(ApiError::NoSession { message: "unknown session (already closed or expired)" });
        };
        self.reserved.fetch_sub(1, Ordering::SeqCst);
        self.release(session.store.clone()).await;
        Ok(())
    }

    /// Closes sessions idle for longer than `session_idle_secs`; returns how many.
    pub(crate) async fn evict_idle(&self) -> usize {
        let idle = self.config.session_idle();
        let now = Instant::now();
        let expired: Vec<Arc<Session>> = {
            let mut sessions = lock(&self.sessions);
            let ids: Vec<String> = sessions
                .values()
                .filter(|s| now.saturating_duration_since(s.idle_since()) >= idle)
                .map(|s| s.id.clone())
                .collect();
            ids.iter().filter_map(|id| sessions.remove(id)).collect()
        };
        for session in &expired {
            tracing::info!("session expired after {} s idle", idle.as_secs());
            self.reserved.fetch_sub(1, Ordering::SeqCst);
            self.release(session.store.clone()).await;
        }
        expired.len()
    }

    /// Runs [`Registry::evict_idle`] periodically, until the server shuts down.
    pub(crate) async fn sweep(self: Arc<Self>) {
        let period = (self.config.session_idle() / SWEEPS_PER_IDLE_PERIOD).clamp(SWEEP_MIN, SWEEP_MAX);
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.shutting_down.load(Ordering::SeqCst) {
            ticks.tick().await;
            self.evict_idle().await;
        }
    }

    /// Refuses new sessions from now on, ends every session and closes every store.
    pub(crate) async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let all: Vec<Arc<Session>> = lock(&self.sessions).drain().map(|(_, s)| s).collect();
        for session in all {
            self.reserved.fetch_sub(1, Ordering::SeqCst);
            self.release(session.store.clone()).await;
        }
        // A store opened by a request that raced the shutdown is closed here all the same.
        let _gate = self.gate.lock().await;
        let left: Vec<Arc<OpenStore>> = lock(&self.stores).drain().map(|(_, s)| s).collect();
        for store in left {
            if let Err(e) = blocking(move || store.close()).await {
                tracing::error!("{e}");
            }
        }
    }
}

fn shutting_down() -> ApiError {
    ApiError::Unavailable { code: "shutting_down", message: "the server is shutting down".into() }
}
