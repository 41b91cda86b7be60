//! Wind-KVStore: an embedded, persistent key-value store in one file.
//!
//! [`KVStore`] keeps an ordered map of byte strings in a file of checksummed pages (a
//! copy-on-write B+tree) with a write-ahead log beside it. See `docs/ARCHITECTURE.md` for the
//! design and `docs/FORMAT.md` for the bytes.
//!
//! ```no_run
//! use wind_kvstore::KVStore;
//! # fn main() -> wind_kvstore::Result<()> {
//! let store = KVStore::open("app.db", Some("MyApp"))?;
//! store.put(b"k", b"v")?;
//! assert_eq!(store.get(b"k")?.as_deref(), Some(&b"v"[..]));
//! store.close()?;
//! # Ok(()) }
//! ```

mod batch;
/// Exit statuses and headless script running, shared by `wkstore-tui` and `wkshell`.
#[cfg(any(feature = "tui", feature = "shell"))]
pub mod cli;
#[cfg(feature = "command")]
pub mod command;
mod engine;
mod error;
mod inspect;
pub mod io;
mod layout;
mod options;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "shell")]
pub mod shell;
mod store;
/// Entry points of the fuzz targets in `fuzz/` and the crash tests (feature `fault-injection`).
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod test_support;
#[cfg(feature = "tui")]
pub mod tui;
mod wal;

pub use batch::WriteBatch;
pub use error::{Error, Result};
pub use inspect::{
    CheckReport, ChecksumState, PageInfo, PageItem, PageSummary, PageType, Problem, READER_HELD_LIST_PAGES,
    ReaderInfo, RecoveryReport, Stats,
};
pub use layout::file::{MAX_IDENTIFIER_BYTES, MAX_VALUE_BYTES};
pub use layout::node::max_key_bytes;
pub use options::{
    DEFAULT_CACHE_BYTES, DEFAULT_CHECKPOINT_LOG_BYTES, DEFAULT_READER_HOLD_BYTES, Durability,
    MAX_WRITE_BUFFER_BYTES, OpenOptions,
};
pub use store::{
    Iter, KVStore, Keys, KeysRev, PageIter, PageSizeSource, SalvageOptions, SalvageReport, SkipReason,
    SkippedPage, Snapshot, TEMP_SUFFIXES, is_store_or_log, is_temp_name, log_path, salvage,
};

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
