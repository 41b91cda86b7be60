//! Atomic groups of writes.

use std::borrow::Cow;

use crate::wal::LogOp;

/// Puts and deletes applied all-or-nothing by [`crate::KVStore::write`], also across a crash.
/// Later operations on the same key win.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// Kept as the log's operations (puts and deletes only), so a write logs and applies them
    /// without converting them into a second list.
    pub(crate) ops: Vec<LogOp<'static>>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Set `key` to `value` when the batch is written. Sizes are checked by
    /// [`KVStore::write`](crate::KVStore::write), which refuses the whole batch if one is too large.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        self.ops.push(LogOp::Put(key.as_ref().to_vec(), Cow::Owned(value.as_ref().to_vec())));
        self
    }

    /// Remove `key` when the batch is written; a key that does not exist is no error.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.ops.push(LogOp::Delete(key.as_ref().to_vec()));
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch holds no operation (writing it does nothing).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Drop every operation, to reuse the batch.
    pub fn clear(&mut self) {
        self.ops.clear();
    }
}
