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
    NotAStore {
        /// The file opened.
        path: PathBuf,
        /// What gave it away (`wrong magic bytes`, `file is only 12 bytes`, ...).
        reason: String,
    },

    /// The file was written by a newer (or unknown) format version.
    #[error("{path}: unsupported format version {version} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The file opened.
        path: PathBuf,
        /// The format version in the file's header.
        version: u32,
        /// The format version this build reads and writes.
        supported: u32,
    },

    /// A page failed its checksum or holds something impossible.
    #[error("corrupted page {page}: {reason}")]
    Corrupted {
        /// Number of the page at fault (0: the file header or the meta slots).
        page: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// A read followed a link into a page that a later checkpoint rewrote: the state this handle
    /// reads is gone from the file (a writer in another process reused its pages, which the
    /// reader table should have prevented: it was removed, or the writer does not use it). The
    /// store is not damaged; [`KVStore::refresh`](crate::KVStore::refresh) or a new open reads the
    /// newest state.
    #[error(
        "page {page} was rewritten by checkpoint {written_by}, after checkpoint {pinned} that this \
         handle reads (a writer reused it): refresh or reopen to read the newest state"
    )]
    StalePage {
        /// The page the link led to.
        page: u64,
        /// The checkpoint that wrote the page as it is now.
        written_by: u64,
        /// The checkpoint this handle reads.
        pinned: u64,
    },

    /// The write-ahead log holds a record that is damaged somewhere before its end.
    #[error("corrupted write-ahead log at byte {offset}: {reason}")]
    LogCorrupted {
        /// Byte offset in the log of the damage (0 when the log is refused as a whole: a damaged
        /// header, another store's log, a log whose store file is missing).
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// A key given to a put, a delete or a batch is longer than
    /// [`KVStore::max_key_bytes`](crate::KVStore::max_key_bytes); nothing is written.
    #[error("key is {len} bytes; the limit for this store is {max} bytes")]
    KeyTooLarge {
        /// Length of the key, in bytes.
        len: usize,
        /// The store's limit in bytes (it depends on the page size).
        max: usize,
    },

    /// A value given to a put or a batch is longer than [`MAX_VALUE_BYTES`](crate::MAX_VALUE_BYTES);
    /// nothing is written.
    #[error("value is {len} bytes; the limit is {max} bytes")]
    ValueTooLarge {
        /// Length of the value, in bytes.
        len: u64,
        /// The limit, in bytes.
        max: u64,
    },

    /// An identifier given to [`OpenOptions::identifier`](crate::OpenOptions::identifier) or
    /// [`KVStore::set_identifier`](crate::KVStore::set_identifier) is longer than
    /// [`MAX_IDENTIFIER_BYTES`](crate::MAX_IDENTIFIER_BYTES).
    #[error("identifier is {len} bytes; the limit is {max} bytes")]
    IdentifierTooLong {
        /// Length of the identifier, in bytes of UTF-8.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },

    /// Another handle, in this process or another, holds the write lock.
    #[error("{path} is locked by another process (or another handle in this one)")]
    Locked {
        /// The store's data file.
        path: PathBuf,
    },

    /// A write was attempted on a store opened read-only.
    #[error("the store is open read-only")]
    ReadOnly,

    /// An earlier I/O failure (a failed fsync, a failed write in the middle of a commit) left the
    /// in-memory state unreliable; reads still work, writes are refused until the store is reopened.
    #[error("the store refuses writes after an earlier failure: {reason}; reopen it to recover")]
    Poisoned {
        /// The failure that poisoned the store (the first one, when there were several).
        reason: String,
    },

    /// An option passed to [`crate::OpenOptions`] is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// The file does not exist and `create(false)` was asked for.
    #[error("{path}: no such store")]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },

    /// Any other failure of the file system: a read, write, sync, rename or lock call returned
    /// an error.
    #[error(transparent)]
    Io(#[from] io::Error),

    /// A commit whose log record would be larger than the log format holds (its body length is
    /// a `u32`): refused before anything is logged. Split it into smaller batches.
    #[error(
        "commit is {bytes} bytes in the log; one commit may be at most {max} bytes: split it into smaller batches"
    )]
    CommitTooLarge {
        /// Bytes the commit's record body would take.
        bytes: u64,
        /// The most one record body may hold.
        max: u64,
    },
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn corrupted(page: u64, reason: impl Into<String>) -> Error {
        Error::Corrupted { page, reason: reason.into() }
    }
}
