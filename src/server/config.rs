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
//! max_body_bytes = 67108864
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
/// Largest request body: a batch put of this size is held in memory twice (text and decoded).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;
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
    pub port: u16,
    /// Every store a client opens lives inside this directory.
    pub data_dir: PathBuf,
    /// When set, every request needs `Authorization: Bearer <token>`.
    pub auth_token: Option<String>,
    pub session_idle_secs: u64,
    pub max_sessions: usize,
    pub max_body_bytes: usize,
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
            .field("max_body_bytes", &self.max_body_bytes)
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
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
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
    max_body_bytes: Option<usize>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
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
        if self.max_sessions == 0 {
            return Err(ConfigError::Invalid("max_sessions must be at least 1".into()));
        }
        if self.max_body_bytes < MIN_MAX_BODY_BYTES {
            return Err(ConfigError::Invalid(format!(
                "max_body_bytes must be at least {MIN_MAX_BODY_BYTES}"
            )));
        }
        Ok(())
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs)
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
