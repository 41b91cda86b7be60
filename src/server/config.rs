//! Server configuration: built-in defaults, then a TOML file, then the `WKSERVER_TOKEN`
//! environment variable, then command-line flags (the binary applies those).
//!
//! ```toml
//! # ~/.config/wind-kvstore/server.toml (Linux; see `default_config_path`)
//! host = "127.0.0.1"
//! port = 14514
//! data_dir = "/srv/wkserver"
//! auth_token = "change-me"
//! session_idle_secs = 1800
//! max_sessions = 1024
//! max_body_bytes = 16777216
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Port the original server listened on; its clients default to it.
pub const DEFAULT_PORT: u16 = 14514;
/// Loopback only: exposing stores to a network is a decision the operator makes with `--host`.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Sessions idle this long are closed (the original's 30 minutes).
pub const DEFAULT_SESSION_IDLE_SECS: u64 = 1800;
/// Sessions at once; each holds a slot in a map and, for its store, the file lock and a cache.
pub const DEFAULT_MAX_SESSIONS: usize = 1024;
/// Sessions one client address may hold: one client cannot take every session.
pub const DEFAULT_MAX_SESSIONS_PER_CLIENT: usize = 64;
/// Distinct stores open at once; each holds [`FDS_PER_STORE`] file descriptors.
pub const DEFAULT_MAX_OPEN_STORES: usize = 128;
/// Connections at once (each holds a file descriptor and a read buffer); more wait to be
/// accepted.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Connections one client address may hold at once; more are closed as soon as accepted.
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 128;
/// A connection must deliver a whole request head within this many seconds of being ready for
/// one, which also closes keep-alive connections idle that long.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
/// A request body must arrive whole within this many seconds.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;
/// File descriptors one open store may hold: its file, its log, and the compaction file or the
/// folder being synced while it compacts.
pub const FDS_PER_STORE: u64 = 3;
/// File descriptors kept for everything else: the listener, standard streams, the runtime's
/// own, exports and imports.
pub const RESERVED_FDS: u64 = 64;
/// Largest request body: a batch put of this size is held in memory about three times (text,
/// decoded pairs, the batch).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;
/// A body limit below this would refuse ordinary requests; it is a configuration mistake.
pub const MIN_MAX_BODY_BYTES: usize = 1024;
/// The environment variable that sets (and overrides the file's) bearer token.
pub const TOKEN_ENV: &str = "WKSERVER_TOKEN";
/// File name of the configuration file inside the user's configuration directory.
pub const CONFIG_FILE_NAME: &str = "server.toml";

/// Everything the server needs to know to run.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// A host name (`localhost`) or address to listen on.
    pub host: String,
    /// The port to listen on; `0` picks a free one.
    pub port: u16,
    /// Every store a client opens lives inside this directory.
    pub data_dir: PathBuf,
    /// When set, every request needs `Authorization: Bearer <token>`.
    pub auth_token: Option<String>,
    /// Seconds a session may stay idle before it is closed.
    pub session_idle_secs: u64,
    /// Sessions at once.
    pub max_sessions: usize,
    /// Sessions one client address may hold.
    pub max_sessions_per_client: usize,
    /// Distinct stores open at once.
    pub max_open_stores: usize,
    /// Connections at once.
    pub max_connections: usize,
    /// Connections one client address may hold.
    pub max_connections_per_client: usize,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Seconds to receive a request head (and the longest a keep-alive connection idles).
    pub header_timeout_secs: u64,
    /// Seconds to receive a request body.
    pub body_timeout_secs: u64,
    /// Host names (without port) the `Host` and `Origin` headers may carry. `None`: the
    /// loopback names when the server listens on a loopback address, anything otherwise.
    pub allowed_hosts: Option<Vec<String>>,
    /// PEM certificate chain and private key: serve HTTPS (the `tls` feature).
    pub tls_cert: Option<PathBuf>,
    /// The private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a secret: never printed.
        f.debug_struct("ServerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "<set>"))
            .field("session_idle_secs", &self.session_idle_secs)
            .field("max_sessions", &self.max_sessions)
            .field("max_sessions_per_client", &self.max_sessions_per_client)
            .field("max_open_stores", &self.max_open_stores)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_client", &self.max_connections_per_client)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("body_timeout_secs", &self.body_timeout_secs)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            data_dir: default_data_dir(),
            auth_token: None,
            session_idle_secs: DEFAULT_SESSION_IDLE_SECS,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_sessions_per_client: DEFAULT_MAX_SESSIONS_PER_CLIENT,
            max_open_stores: DEFAULT_MAX_OPEN_STORES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            header_timeout_secs: DEFAULT_HEADER_TIMEOUT_SECS,
            body_timeout_secs: DEFAULT_BODY_TIMEOUT_SECS,
            allowed_hosts: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// The keys a configuration file may hold; all optional, unknown keys are an error so a typo
/// does not silently leave a default in force.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    host: Option<String>,
    port: Option<u16>,
    data_dir: Option<PathBuf>,
    auth_token: Option<String>,
    session_idle_secs: Option<u64>,
    max_sessions: Option<usize>,
    max_sessions_per_client: Option<usize>,
    max_open_stores: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_client: Option<usize>,
    max_body_bytes: Option<usize>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    allowed_hosts: Option<Vec<String>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A value the server cannot run with.
    #[error("{0}")]
    Invalid(String),
}

impl ServerConfig {
    /// Applies the keys of the TOML text `text` (read from `origin`, named in errors).
    pub fn apply_toml(&mut self, text: &str, origin: &Path) -> Result<(), ConfigError> {
        let file: FileConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: origin.to_owned(), message: e.to_string() })?;
        let base = origin.parent().unwrap_or(Path::new("."));
        if let Some(host) = file.host {
            self.host = host;
        }
        if let Some(port) = file.port {
            self.port = port;
        }
        if let Some(dir) = file.data_dir {
            // A relative data directory is taken from the file's own folder, not from wherever
            // the server happens to be started.
            self.data_dir = if dir.is_relative() { base.join(dir) } else { dir };
        }
        if file.auth_token.is_some() {
            self.auth_token = file.auth_token;
        }
        if let Some(secs) = file.session_idle_secs {
            self.session_idle_secs = secs;
        }
        if let Some(n) = file.max_sessions {
            self.max_sessions = n;
        }
        if let Some(n) = file.max_body_bytes {
            self.max_body_bytes = n;
        }
        let numbers = [
            (file.max_sessions_per_client, &mut self.max_sessions_per_client),
            (file.max_open_stores, &mut self.max_open_stores),
            (file.max_connections, &mut self.max_connections),
            (file.max_connections_per_client, &mut self.max_connections_per_client),
        ];
        for (value, field) in numbers {
            if let Some(n) = value {
                *field = n;
            }
        }
        if let Some(secs) = file.header_timeout_secs {
            self.header_timeout_secs = secs;
        }
        if let Some(secs) = file.body_timeout_secs {
            self.body_timeout_secs = secs;
        }
        if file.allowed_hosts.is_some() {
            self.allowed_hosts = file.allowed_hosts;
        }
        let relative = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        if let Some(cert) = file.tls_cert {
            self.tls_cert = Some(relative(cert));
        }
        if let Some(key) = file.tls_key {
            self.tls_key = Some(relative(key));
        }
        Ok(())
    }

    /// Reads and applies the file at `path`. `required`: a missing file is an error (a file
    /// named with `--config`); otherwise it is skipped (the default location).
    pub fn apply_file(&mut self, path: &Path, required: bool) -> Result<(), ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => self.apply_toml(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(()),
            Err(source) => Err(ConfigError::Read { path: path.to_owned(), source }),
        }
    }

    /// Takes the token from `WKSERVER_TOKEN` when it is set.
    pub fn apply_env(&mut self) {
        if let Ok(token) = std::env::var(TOKEN_ENV) {
            self.auth_token = Some(token);
        }
    }

    /// Refuses values the server cannot run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.host.trim().is_empty() {
            return Err(ConfigError::Invalid("host must not be empty".into()));
        }
        if self.auth_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ConfigError::Invalid(
                "auth_token is empty: remove it to run without authentication, or set a secret".into(),
            ));
        }
        if self.session_idle_secs == 0 {
            return Err(ConfigError::Invalid("session_idle_secs must be at least 1".into()));
        }
        for (name, value) in [
            ("max_sessions", self.max_sessions),
            ("max_sessions_per_client", self.max_sessions_per_client),
            ("max_open_stores", self.max_open_stores),
            ("max_connections", self.max_connections),
            ("max_connections_per_client", self.max_connections_per_client),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
            }
        }
        if self.header_timeout_secs == 0 || self.body_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "header_timeout_secs and body_timeout_secs must be at least 1".into(),
            ));
        }
        if self.allowed_hosts.as_ref().is_some_and(|hosts| hosts.iter().any(|h| h.trim().is_empty())) {
            return Err(ConfigError::Invalid("allowed_hosts must not hold an empty name".into()));
        }
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => {}
            (Some(_), Some(_)) if cfg!(feature = "tls") => {}
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid(
                    "tls_cert is set but this wkserver was built without the `tls` feature".into(),
                ));
            }
            _ => return Err(ConfigError::Invalid("tls_cert and tls_key must be set together".into())),
        }
        if self.max_body_bytes < MIN_MAX_BODY_BYTES {
            return Err(ConfigError::Invalid(format!(
                "max_body_bytes must be at least {MIN_MAX_BODY_BYTES}"
            )));
        }
        Ok(())
    }

    /// `session_idle_secs` as a duration.
    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs)
    }

    /// File descriptors the limits allow the server to hold at once.
    pub fn fd_budget(&self) -> u64 {
        let stores = u64::try_from(self.max_open_stores).unwrap_or(u64::MAX);
        let connections = u64::try_from(self.max_connections).unwrap_or(u64::MAX);
        stores.saturating_mul(FDS_PER_STORE).saturating_add(connections).saturating_add(RESERVED_FDS)
    }

    /// Whether the server listens on a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    pub fn is_loopback(&self) -> bool {
        let host = self.host.trim().trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The host names `Host` and `Origin` may carry, lower-case; `None` when any is accepted.
    pub fn host_allow_list(&self) -> Option<Vec<String>> {
        match &self.allowed_hosts {
            Some(hosts) => Some(hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect()),
            None if self.is_loopback() => {
                Some(vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into(), "::1".into()])
            }
            None => None,
        }
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "wind-kvstore")
}

/// `server.toml` in the user's configuration directory (`~/.config/wind-kvstore/` on Linux).
pub fn default_config_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join(CONFIG_FILE_NAME))
}

/// `wkserver` in the user's data directory (`~/.local/share/wind-kvstore/wkserver` on Linux), or
/// `./wkserver-data` when the system names no home directory.
pub fn default_data_dir() -> PathBuf {
    project_dirs().map_or_else(|| PathBuf::from("wkserver-data"), |d| d.data_dir().join("wkserver"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_override_defaults_and_relative_data_dir_follows_the_file() {
        let mut config = ServerConfig::default();
        config
            .apply_toml(
                "host = \"localhost\"\nport = 8080\ndata_dir = \"stores\"\nauth_token = \"s3cret\"\n\
                 session_idle_secs = 5\nmax_sessions = 3\nmax_body_bytes = 4096\n",
                Path::new("/etc/wk/server.toml"),
            )
            .unwrap();
        assert_eq!(config.host, "localhost");
        assert_eq!(config.port, 8080);
        assert_eq!(config.data_dir, Path::new("/etc/wk/stores"));
        assert_eq!(config.auth_token.as_deref(), Some("s3cret"));
        assert_eq!((config.session_idle_secs, config.max_sessions, config.max_body_bytes), (5, 3, 4096));
        config.validate().unwrap();
        assert!(!format!("{config:?}").contains("s3cret"), "the token is never printed");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let mut config = ServerConfig::default();
        let err = config.apply_toml("prot = 1\n", Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.contains("prot"), "{err}");
        let err = config.apply_toml("port = \"x\"\n", Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.contains("port"), "{err}");
        for bad in ["max_sessions = 0", "session_idle_secs = 0", "max_body_bytes = 10", "auth_token = \" \""]
        {
            let mut config = ServerConfig::default();
            config.apply_toml(bad, Path::new("c.toml")).unwrap();
            assert!(config.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missing_default_file_is_skipped_but_a_named_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.toml");
        let mut config = ServerConfig::default();
        config.apply_file(&missing, false).unwrap();
        assert_eq!(config, ServerConfig::default());
        assert!(config.apply_file(&missing, true).is_err());
    }
}
