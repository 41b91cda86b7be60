//! Wind-KVStore: an embedded, single-file key-value store.

mod batch;
pub mod command;
mod error;
mod format;
pub mod headless;
mod inspect;
pub mod io;
mod options;
pub mod shell;
mod store;

pub use batch::WriteBatch;
pub use error::{Error, Result};
pub use inspect::{
    ChecksumState, CheckReport, PageInfo, PageItem, PageSummary, PageType, Problem, RecoveryReport, Stats,
};
pub use options::{DEFAULT_CACHE_BYTES, DEFAULT_CHECKPOINT_LOG_BYTES, Durability, OpenOptions};
pub use format::{MAX_IDENTIFIER_BYTES, MAX_VALUE_BYTES, max_key_bytes};
pub use store::{Iter, KVStore, Keys, PageIter, log_path};
mod cache;
mod engine;
mod freelist;
mod node;
mod overflow;
mod wal;
mod compact;
mod inspect_impl;
