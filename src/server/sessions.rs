//! Sessions and the stores they share.
//!
//! - A session is a random version-4 UUID naming one open store and the path the client gave.
//! - Every store file is open at most once: sessions on the same file share one [`OpenStore`],
//!   counted; the last session to leave closes it (checkpoint, lock released).
//! - The table of stores holds, per file, either the open store or a `Busy` mark while one task
//!   opens or closes it. Whoever finds a `Busy` mark waits for that file alone, so a slow close
//!   (waiting for the store's own work in flight) never delays opens of other files. The table's
//!   lock is a plain mutex held for a few map operations, never across engine work.
//! - Opening and closing run in tasks of their own, so a client that disconnects mid-request
//!   cannot leave a store half opened, or opened and never closed.
//! - Engine work that may take long (open, close, writes, scans, compaction, `CHECK`) runs on
//!   the blocking pool; point reads run inline when the store is free (see `routes.rs`).
//! - Limits: sessions in all (`max_sessions`), sessions per client address
//!   (`max_sessions_per_client`), and distinct open stores (`max_open_stores`, which bounds the
//!   file descriptors stores hold).
//! - Idle sessions are closed by a sweeper; at shutdown every session is closed, each store
//!   given a bounded time to finish what it is doing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::config::ServerConfig;
use super::error::ApiError;
use super::logging::Escaped;
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
    /// Sessions using it; changed only under the registry's `stores` lock.
    sessions: AtomicUsize,
}

impl OpenStore {
    /// Runs `f` on the store under the read lock. Blocking.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&KVStore) -> T) -> Option<T> {
        let guard = self.store.read().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map(f)
    }

    /// The read lock if it can be had without waiting: `None` when a close or an
    /// `IDENTIFIER SET` holds or waits for the store. Never blocks.
    pub(crate) fn try_read(&self) -> Option<std::sync::RwLockReadGuard<'_, Option<KVStore>>> {
        match self.store.try_read() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Runs `f` on the store under the write lock. Blocking.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut KVStore) -> T) -> Option<T> {
        let mut guard = self.store.write().unwrap_or_else(PoisonError::into_inner);
        guard.as_mut().map(f)
    }

    /// Its path relative to the data directory `root`, as text (for metrics).
    pub(crate) fn path_in(&self, root: &Path) -> String {
        self.path.strip_prefix(root).unwrap_or(&self.path).to_string_lossy().into_owned()
    }

    /// Takes the store out (waiting for requests in flight) and closes it. Blocking.
    fn close(&self) {
        let taken = self.store.write().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(store) = taken {
            match store.close() {
                Ok(()) => tracing::info!(store = ?Escaped(&self.path.display()), "closed store"),
                Err(e) => {
                    tracing::error!(store = ?Escaped(&self.path.display()), error = ?Escaped(&e), "closing store")
                }
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
    /// `id` as a header value, made once: every answer to the session carries it.
    pub(crate) header: axum::http::HeaderValue,
    /// The address the session was opened from: sessions per client are limited.
    client: Option<IpAddr>,
    /// Milliseconds since the registry's epoch at the last request.
    last_active_ms: AtomicU64,
    /// Set when the session ends: a script it is running stops at its next statement.
    closed: AtomicBool,
}

impl Session {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
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
    /// Sessions open now.
    pub sessions: usize,
    /// Stores open now (including ones being closed).
    pub open_stores: usize,
}

/// A file in the table of stores.
enum Slot {
    Open(Arc<OpenStore>),
    /// A task is opening (`closing: false`) or closing the file; the receiver wakes when it is
    /// done (its sender is dropped).
    Busy {
        closing: bool,
        done: watch::Receiver<()>,
    },
}

#[derive(Default)]
struct SessionTable {
    by_id: HashMap<String, Arc<Session>>,
    /// Sessions existing or being opened, in all and per client address.
    reserved: usize,
    per_client: HashMap<IpAddr, usize>,
}

impl SessionTable {
    fn give_back(&mut self, client: Option<IpAddr>) {
        self.reserved = self.reserved.saturating_sub(1);
        if let Some(ip) = client
            && let Some(n) = self.per_client.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_client.remove(&ip);
            }
        }
    }
}

/// Everything the handlers share: configuration, sessions, open stores.
pub(crate) struct Registry {
    pub(crate) config: ServerConfig,
    /// Canonical data directory; every store path starts with it.
    pub(crate) root: PathBuf,
    epoch: Instant,
    sessions: Mutex<SessionTable>,
    stores: Mutex<HashMap<PathBuf, Slot>>,
    shutting_down: AtomicBool,
}

/// A reserved session slot, given back when dropped unless a session took it.
struct Reservation<'a> {
    registry: &'a Registry,
    client: Option<IpAddr>,
    kept: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.kept {
            lock(&self.registry.sessions).give_back(self.client);
        }
    }
}

/// Owns a `Busy` slot: removes it when dropped (unless `opened` replaced it), which wakes the
/// tasks waiting for the file.
struct BusyGuard<'a> {
    registry: &'a Registry,
    path: PathBuf,
    _done: watch::Sender<()>,
    opened: Option<Arc<OpenStore>>,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut stores = lock(&self.registry.stores);
        match self.opened.take() {
            Some(open) => {
                stores.insert(self.path.clone(), Slot::Open(open));
            }
            None => {
                stores.remove(&self.path);
            }
        }
        // `_done` is dropped after the table changed: waiters see the new state.
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
            epoch: Instant::now(),
            sessions: Mutex::new(SessionTable::default()),
            stores: Mutex::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn counts(&self) -> SessionCounts {
        let sessions = lock(&self.sessions).by_id.len();
        let open_stores = lock(&self.stores)
            .values()
            .filter(|slot| matches!(slot, Slot::Open(_) | Slot::Busy { closing: true, .. }))
            .count();
        SessionCounts { sessions, open_stores }
    }

    /// The stores open now (for metrics).
    pub(crate) fn open_stores(&self) -> Vec<Arc<OpenStore>> {
        lock(&self.stores)
            .values()
            .filter_map(|slot| match slot {
                Slot::Open(open) => Some(open.clone()),
                Slot::Busy { .. } => None,
            })
            .collect()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// The session named by the request's `X-Session-ID`, marked active.
    pub(crate) fn session(&self, id: Option<&str>) -> Result<Arc<Session>, ApiError> {
        let Some(id) = id else {
            return Err(ApiError::NoSession {
                message: "missing X-Session-ID header: open a store with POST /api/open first",
            });
        };
        let session = lock(&self.sessions).by_id.get(id).cloned().ok_or(ApiError::NoSession {
            message: "unknown session (closed, expired or never opened): open a store with POST /api/open",
        })?;
        self.touch(&session);
        Ok(session)
    }

    pub(crate) fn touch(&self, session: &Session) {
        session.last_active_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Opens (or joins) the store the client calls `name` for a new session; returns its id.
    /// Runs in a task of its own: a client that goes away does not stop it half-way.
    pub(crate) async fn open(
        self: &Arc<Self>,
        name: String,
        client: Option<IpAddr>,
    ) -> Result<String, ApiError> {
        let registry = self.clone();
        tokio::spawn(async move { registry.open_now(name, client).await })
            .await
            .map_err(|e| ApiError::internal(format!("open task failed: {e}")))?
    }

    async fn open_now(&self, name: String, client: Option<IpAddr>) -> Result<String, ApiError> {
        if self.is_shutting_down() {
            return Err(shutting_down());
        }
        let mut reservation = self.reserve(client)?;
        let root = self.root.clone();
        let resolve_name = name.clone();
        let path = blocking(move || paths::resolve(&root, &resolve_name)).await??;
        let store = self.acquire(&path, &name).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let header = axum::http::HeaderValue::from_str(&id)
            .map_err(|e| ApiError::internal(format!("a session id that is not a header value: {e}")))?;
        let session = Arc::new(Session {
            header,
            id: id.clone(),
            store,
            name,
            client,
            last_active_ms: AtomicU64::new(self.now_ms()),
            closed: AtomicBool::new(false),
        });
        lock(&self.sessions).by_id.insert(id.clone(), session);
        reservation.kept = true;
        Ok(id)
    }

    fn reserve(&self, client: Option<IpAddr>) -> Result<Reservation<'_>, ApiError> {
        let max = self.config.max_sessions;
        let per_client = self.config.max_sessions_per_client;
        let mut table = lock(&self.sessions);
        if table.reserved >= max {
            return Err(ApiError::Unavailable {
                code: "too_many_sessions",
                message: format!("the server already has {max} sessions; close one or try later"),
            });
        }
        if let Some(ip) = client {
            let mine = table.per_client.entry(ip).or_insert(0);
            if *mine >= per_client {
                return Err(ApiError::TooManyRequests {
                    code: "too_many_sessions_for_client",
                    message: format!(
                        "this client already has {per_client} sessions, the most one client may hold; close one first"
                    ),
                });
            }
            *mine += 1;
        }
        table.reserved += 1;
        Ok(Reservation { registry: self, client, kept: false })
    }

    /// The shared store at `path`, opening it if no session has it open. Waits while another
    /// task opens or closes this same file (and only then).
    async fn acquire(&self, path: &Path, name: &str) -> Result<Arc<OpenStore>, ApiError> {
        let guard = loop {
            let mut waiting = {
                let mut stores = lock(&self.stores);
                // Checked under the lock: `shutdown` sets the flag, then drains the table.
                if self.is_shutting_down() {
                    return Err(shutting_down());
                }
                match stores.get(path) {
                    Some(Slot::Open(open)) => {
                        open.sessions.fetch_add(1, Ordering::SeqCst);
                        return Ok(open.clone());
                    }
                    Some(Slot::Busy { done, .. }) => done.clone(),
                    None => {
                        let max = self.config.max_open_stores;
                        if stores.len() >= max {
                            return Err(ApiError::Unavailable {
                                code: "too_many_stores",
                                message: format!(
                                    "the server already has {max} stores open; close a session or try later"
                                ),
                            });
                        }
                        let (done, receiver) = watch::channel(());
                        stores.insert(path.to_path_buf(), Slot::Busy { closing: false, done: receiver });
                        break BusyGuard {
                            registry: self,
                            path: path.to_path_buf(),
                            _done: done,
                            opened: None,
                        };
                    }
                }
            };
            // Ends (with an error) when the task holding the file drops its sender.
            let _ = waiting.changed().await;
        };
        let mut guard = guard;
        let owned = path.to_path_buf();
        let opened = blocking(move || {
            let log = crate::log_path(&owned);
            let log_existed = log.exists();
            let result = OpenOptions::new().open(&owned);
            if result.is_err() && !log_existed {
                // The engine creates the log (it is also the lock) before it reads the store: a
                // refused open leaves nothing behind.
                let _ = std::fs::remove_file(&log);
            }
            result
        })
        .await?
        .map_err(|e| ApiError::from_store(e, name))?;
        tracing::info!(store = ?Escaped(&path.display()), "opened store");
        log_recovery(path, opened.recovery_report());
        let open = Arc::new(OpenStore {
            path: path.to_path_buf(),
            store: RwLock::new(Some(opened)),
            sessions: AtomicUsize::new(1),
        });
        guard.opened = Some(open.clone());
        drop(guard);
        Ok(open)
    }

    /// A session left `store`: closes it when it was the last one. Waits only for that store's
    /// own work in flight.
    async fn release(&self, store: Arc<OpenStore>) {
        let done = {
            let mut stores = lock(&self.stores);
            if store.sessions.fetch_sub(1, Ordering::SeqCst) != 1 {
                return;
            }
            let (done, receiver) = watch::channel(());
            stores.insert(store.path.clone(), Slot::Busy { closing: true, done: receiver });
            done
        };
        let guard = BusyGuard { registry: self, path: store.path.clone(), _done: done, opened: None };
        let closing = store.clone();
        if let Err(e) = blocking(move || closing.close()).await {
            tracing::error!(error = ?Escaped(&e), "closing a store");
        }
        drop(guard);
    }

    /// Whether `path` is a file of a store open (or being opened or closed) now, or one of the
    /// files beside it.
    pub(crate) fn is_store_file(&self, path: &Path) -> bool {
        lock(&self.stores).keys().any(|store| {
            path == store
                || paths::RESERVED_SUFFIXES.iter().any(|suffix| {
                    let mut sibling = store.as_os_str().to_owned();
                    sibling.push(suffix);
                    path == Path::new(&sibling)
                })
        })
    }

    /// Ends session `id`, closing its store if it was the last session on it. The close runs in
    /// a task of its own: it completes even if the client that asked goes away.
    pub(crate) async fn close_session(self: &Arc<Self>, id: &str) -> Result<(), ApiError> {
        let removed = {
            let mut table = lock(&self.sessions);
            let removed = table.by_id.remove(id);
            if let Some(session) = &removed {
                table.give_back(session.client);
            }
            removed
        };
        let Some(session) = removed else {
            return Err(ApiError::NoSession { message: "unknown session (already closed or expired)" });
        };
        session.closed.store(true, Ordering::SeqCst);
        let registry = self.clone();
        tokio::spawn(async move { registry.release(session.store.clone()).await })
            .await
            .map_err(|e| ApiError::internal(format!("close task failed: {e}")))
    }

    /// Closes sessions idle for longer than `session_idle_secs`; returns how many.
    pub(crate) async fn evict_idle(self: &Arc<Self>) -> usize {
        let idle_ms = u64::try_from(self.config.session_idle().as_millis()).unwrap_or(u64::MAX);
        let now = self.now_ms();
        let expired: Vec<Arc<Session>> = {
            let mut table = lock(&self.sessions);
            let ids: Vec<String> = table
                .by_id
                .values()
                .filter(|s| now.saturating_sub(s.last_active_ms.load(Ordering::Relaxed)) >= idle_ms)
                .map(|s| s.id.clone())
                .collect();
            let expired: Vec<Arc<Session>> = ids.iter().filter_map(|id| table.by_id.remove(id)).collect();
            for session in &expired {
                table.give_back(session.client);
            }
            expired
        };
        let count = expired.len();
        let mut closing = Vec::new();
        for session in expired {
            tracing::info!(idle_secs = self.config.session_idle_secs, "session expired");
            session.closed.store(true, Ordering::SeqCst);
            let registry = self.clone();
            closing.push(tokio::spawn(async move { registry.release(session.store.clone()).await }));
        }
        for task in closing {
            let _ = task.await;
        }
        count
    }

    /// Runs [`Registry::evict_idle`] periodically, until the server shuts down.
    pub(crate) async fn sweep(self: Arc<Self>) {
        let period = (self.config.session_idle() / SWEEPS_PER_IDLE_PERIOD).clamp(SWEEP_MIN, SWEEP_MAX);
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.is_shutting_down() {
            ticks.tick().await;
            self.evict_idle().await;
        }
    }

    /// Refuses new sessions from now on; scripts running stop at their next statement.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Refuses new sessions, ends every session and closes every store. A store still busy
    /// after `deadline` (a long statement that cannot be interrupted) is left as it is: its log
    /// holds every acknowledged write and the next open replays it.
    pub(crate) async fn shutdown(self: &Arc<Self>, deadline: Duration) {
        self.begin_shutdown();
        let until = tokio::time::Instant::now() + deadline;
        let all: Vec<Arc<Session>> = {
            let mut table = lock(&self.sessions);
            let all: Vec<Arc<Session>> = table.by_id.drain().map(|(_, s)| s).collect();
            table.reserved = 0;
            table.per_client.clear();
            all
        };
        for session in &all {
            session.closed.store(true, Ordering::SeqCst);
        }
        // Every open store is closed, whatever its session count (a request that raced the
        // shutdown may have opened one), each on its own blocking thread.
        let mut closing = Vec::new();
        loop {
            let mut wait = Vec::new();
            {
                let mut stores = lock(&self.stores);
                let paths: Vec<PathBuf> = stores.keys().cloned().collect();
                for path in paths {
                    match stores.get(&path) {
                        Some(Slot::Open(open)) => {
                            let open = open.clone();
                            let (done, receiver) = watch::channel(());
                            stores.insert(path.clone(), Slot::Busy { closing: true, done: receiver });
                            let registry = self.clone();
                            closing.push(tokio::spawn(async move {
                                let guard =
                                    BusyGuard { registry: &registry, path, _done: done, opened: None };
                                let store = open.clone();
                                let _ = blocking(move || store.close()).await;
                                drop(guard);
                            }));
                        }
                        Some(Slot::Busy { done, .. }) => wait.push(done.clone()),
                        None => {}
                    }
                }
            }
            if wait.is_empty() {
                break;
            }
            let all_done = async {
                for mut done in wait {
                    let _ = done.changed().await;
                }
            };
            if tokio::time::timeout_at(until, all_done).await.is_err() {
                let left = lock(&self.stores).len();
                tracing::warn!(
                    stores = left,
                    "stores still busy at the shutdown deadline; their logs are replayed at the next open"
                );
                return;
            }
        }
        for task in closing {
            let _ = tokio::time::timeout_at(until, task).await;
        }
    }
}

fn shutting_down() -> ApiError {
    ApiError::Unavailable { code: "shutting_down", message: "the server is shutting down".into() }
}

/// What the open of `path` recovered from its log, one line each: a warning when acknowledged
/// commits may be missing, otherwise information. Nothing for a quiet report.
fn log_recovery(path: &Path, report: &crate::RecoveryReport) {
    for line in report.lines() {
        if report.may_have_lost_data() {
            tracing::warn!(store = ?Escaped(&path.display()), report = ?Escaped(&line), "store recovery");
        } else {
            tracing::info!(store = ?Escaped(&path.display()), report = ?Escaped(&line), "store recovery");
        }
    }
}
