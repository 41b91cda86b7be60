//! The library's one error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the store.
///
/// Damage to the file is always [`Error::Corrupted`] naming the page, never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file exists but is not a Wind-KVStore data file (wrong magic, too short, another format).
    #[error("{path}: not a Wind-KVStore file: {reason}")]
    NotAStore { path: PathBuf, reason: String },

    /// The file was written by a newer (or unknown) format version.
    #[error("{path}: unsupported format version {version} (this build reads version {supported})")]
    UnsupportedVersion { path: PathBuf, version: u32, supported: u32 },

    /// A page failed its checksum or holds something impossible.
    #[error("corrupted page {page}: {reason}")]
    Corrupted { page: u64, reason: String },

    /// The write-ahead log holds a record that is damaged somewhere before its end.
    #[error("corrupted write-ahead log at byte {offset}: {reason}")]
    LogCorrupted { offset: u64, reason: String },

    #[error("key is {len} bytes; the limit for this store is {max} bytes")]
    KeyTooLarge { len: usize, max: usize },

    #[error("value is {len} bytes; the limit is {max} bytes")]
    ValueTooLarge { len: u64, max: u64 },

    #[error("identifier is {len} bytes; the limit is {max} bytes")]
    IdentifierTooLong { len: usize, max: usize },

    /// Another handle, in this process or another, holds the write lock.
    #[error("{path} is locked by another process (or another handle in this one)")]
    Locked { path: PathBuf },

    /// A write was attempted on a store opened read-only.
    #[error("the store is open read-only")]
    ReadOnly,

    /// An earlier I/O failure (a failed fsync, a failed write in the middle of a commit) left the
    /// in-memory state unreliable; reads still work, writes are refused until the store is reopened.
    #[error("the store refuses writes after an earlier failure: {reason}; reopen it to recover")]
    Poisoned { reason: String },

    /// An option passed to [`crate::OpenOptions`] is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// The file does not exist and `create(false)` was asked for.
    #[error("{path}: no such store")]
    NotFound { path: PathBuf },

    #[error(transparent)]
    Io(#[from] io::Error),

    /// A commit whose log record would be larger than the log format holds (its body length is
    /// a `u32`): refused before anything is logged. Split it into smaller batches.
    #[error(
        "commit is {bytes} bytes in the log; one commit may be at most {max} bytes: split it into smaller batches"
    )]
    CommitTooLarge { bytes: u64, max: u64 },
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn corrupted(page: u64, reason: impl Into<String>) -> Error {
        Error::Corrupted { page, reason: reason.into() }
    }
}
