//! Atomic groups of writes.

use std::borrow::Cow;

use crate::wal::LogOp;

/// Puts and deletes applied all-or-nothing by [`crate::KVStore::write`], also across a crash.
/// Later operations on the same key win.
///
/// The keys and values are kept one after another in one buffer (not an allocation each), so a
/// large batch is two allocations, given back whole when it is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// Every operation's key, then its value (a put's), one after another.
    bytes: Vec<u8>,
    /// Each operation in order: where its key starts in `bytes`, the key's length, and a put's
    /// value length (`None`: a delete).
    ops: Vec<(usize, usize, Option<usize>)>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Set `key` to `value` when the batch is written. Sizes are checked by
    /// [`KVStore::write`](crate::KVStore::write), which refuses the whole batch if one is too large.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.ops.push((self.bytes.len(), key.len(), Some(value.len())));
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(value);
        self
    }

    /// Remove `key` when the batch is written; a key that does not exist is no error.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        let key = key.as_ref();
        self.ops.push((self.bytes.len(), key.len(), None));
        self.bytes.extend_from_slice(key);
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

    /// Drop every operation, to reuse the batch (its buffers are kept).
    pub fn clear(&mut self) {
        self.ops.clear();
        self.bytes.clear();
    }

    /// The operations as the log records them, borrowing this batch's buffer, in the order
    /// they were added.
    pub(crate) fn log_ops(&self) -> Vec<LogOp<'_>> {
        self.ops
            .iter()
            .map(|&(at, key_len, value_len)| {
                let key = Cow::Borrowed(&self.bytes[at..at + key_len]);
                match value_len {
                    Some(n) => LogOp::Put(key, Cow::Borrowed(&self.bytes[at + key_len..at + key_len + n])),
                    None => LogOp::Delete(key),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_come_back_in_order_from_one_buffer() {
        let mut batch = WriteBatch::new();
        batch.put(b"k1", b"v1").delete(b"gone").put(b"", b"").put(b"k1", vec![7u8; 5000]).delete(b"");
        assert_eq!(batch.len(), 5);
        let ops = batch.log_ops();
        assert_eq!(
            ops,
            vec![
                LogOp::Put(b"k1".as_slice().into(), b"v1".as_slice().into()),
                LogOp::Delete(b"gone".as_slice().into()),
                LogOp::Put(b"".as_slice().into(), b"".as_slice().into()),
                LogOp::Put(b"k1".as_slice().into(), vec![7u8; 5000].into()),
                LogOp::Delete(b"".as_slice().into()),
            ]
        );
        batch.clear();
        assert!(batch.is_empty() && batch.log_ops().is_empty());
        batch.delete(b"x");
        assert_eq!(batch.log_ops(), vec![LogOp::Delete(b"x".as_slice().into())]);
    }
}
