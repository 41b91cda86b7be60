//! Atomic groups of writes.

/// Puts and deletes applied all-or-nothing by [`crate::KVStore::write`], also across a crash.
/// Later operations on the same key win.
///
/// The keys and small values are kept one after another in one buffer (not an allocation
/// each), so a batch of many pairs is a few allocations, given back whole when it is written; a
/// value of 64 KiB or more keeps an allocation of its own, so the buffer is not grown (and
/// copied) by it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// Every operation's key, each followed by its value when that is small.
    bytes: Vec<u8>,
    /// The values of 64 KiB or more.
    large: Vec<Vec<u8>>,
    /// Each operation in order: where its key starts in `bytes`, the key's length, and a put's
    /// value (`None`: a delete).
    ops: Vec<(usize, usize, Option<Stored>)>,
}

/// Where a put's value is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// This many bytes right after the key.
    AfterKey(usize),
    /// In `large`, at this index.
    Own(usize),
}

/// Values from this size on keep an allocation of their own.
const OWN_ALLOCATION_BYTES: usize = 64 << 10;

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Set `key` to `value` when the batch is written. Sizes are checked by
    /// [`KVStore::write`](crate::KVStore::write), which refuses the whole batch if one is too large.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        let (key, value) = (key.as_ref(), value.as_ref());
        let stored = if value.len() >= OWN_ALLOCATION_BYTES {
            self.large.push(value.to_vec());
            Stored::Own(self.large.len() - 1)
        } else {
            Stored::AfterKey(value.len())
        };
        self.ops.push((self.bytes.len(), key.len(), Some(stored)));
        self.bytes.extend_from_slice(key);
        if let Stored::AfterKey(_) = stored {
            self.bytes.extend_from_slice(value);
        }
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
        self.large.clear();
    }

    /// The operations in the order they were added: each key, and a put's value (`None`: a
    /// delete), borrowed from this batch.
    pub(crate) fn ops(&self) -> impl ExactSizeIterator<Item = (&[u8], Option<&[u8]>)> + '_ {
        self.ops.iter().map(|&(at, key_len, value)| {
            let after = at + key_len;
            let value = match value {
                Some(Stored::AfterKey(n)) => Some(&self.bytes[after..after + n]),
                Some(Stored::Own(i)) => Some(self.large[i].as_slice()),
                None => None,
            };
            (&self.bytes[at..after], value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_come_back_in_order_from_one_buffer() {
        let mut batch = WriteBatch::new();
        let big = vec![9u8; OWN_ALLOCATION_BYTES];
        batch.put(b"k1", b"v1").delete(b"gone").put(b"", b"").put(b"k1", vec![7u8; 5000]).delete(b"");
        batch.put(b"big", &big).put(b"after", b"small");
        assert_eq!(batch.len(), 7);
        assert_eq!(batch.large.len(), 1, "only the 64 KiB value has an allocation of its own");
        let seven = vec![7u8; 5000];
        let expected: Vec<(&[u8], Option<&[u8]>)> = vec![
            (b"k1", Some(b"v1")),
            (b"gone", None),
            (b"", Some(b"")),
            (b"k1", Some(&seven)),
            (b"", None),
            (b"big", Some(&big)),
            (b"after", Some(b"small")),
        ];
        assert_eq!(batch.ops().collect::<Vec<_>>(), expected);
        batch.clear();
        assert!(batch.is_empty() && batch.ops().next().is_none());
        batch.delete(b"x");
        assert_eq!(batch.ops().collect::<Vec<_>>(), vec![(&b"x"[..], None)]);
    }
}
