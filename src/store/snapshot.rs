//! Snapshots: one commit's state, read without a lock on the writer for as long as it is held.

use std::sync::Arc;

use crate::engine::TreeState;
use crate::error::Result;

/// A read-only view of the store as one commit left it. Every read through it (point reads,
/// scans, key listings, the count) sees that commit's state for the snapshot's whole life,
/// whatever is committed, checkpointed or spilled meanwhile; none of them waits for the writer,
/// and the writer never waits for it. It is `Send` and `Sync`, and cheap to clone.
///
/// While it lives, the pages it reaches are not reused, so the file may grow by the pages the
/// writer frees meanwhile, and the write buffer's runs it saw stay in memory (about one
/// buffer's worth, [`OpenOptions::write_buffer_bytes`](crate::OpenOptions::write_buffer_bytes)): drop
/// snapshots when done with them.
///
/// ```no_run
/// # fn main() -> wind_kvstore::Result<()> {
/// let store = wind_kvstore::KVStore::open("app.db", None)?;
/// let snapshot = store.snapshot();
/// store.put(b"k", b"new")?;
/// assert_eq!(snapshot.get(b"k")?, None); // the snapshot was taken before the put
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Snapshot {
    pub(super) state: Arc<TreeState>,
}

impl Snapshot {
    pub(super) fn new(state: Arc<TreeState>) -> Snapshot {
        Snapshot { state }
    }

    /// The value of `key`, read whole.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.state.get_bytes(key.as_ref())
    }

    /// The value of `key` into `buf` (cleared first, its capacity kept); `Ok(true)` when the key
    /// exists. See [`KVStore::get_into`](crate::KVStore::get_into).
    pub fn get_into(&self, key: impl AsRef<[u8]>, buf: &mut Vec<u8>) -> Result<bool> {
        self.state.get_into(key.as_ref(), buf)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.state.get(key.as_ref())?.is_some())
    }

    /// Length of the value without reading it.
    pub fn value_len(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        Ok(self.state.get(key.as_ref())?.map(|v| v.len()))
    }

    /// At most `max` bytes from the start of the value (previews of large values).
    pub fn get_prefix(&self, key: impl AsRef<[u8]>, max: usize) -> Result<Option<Vec<u8>>> {
        match self.state.get(key.as_ref())? {
            Some(v) => Ok(Some(self.state.tree().read_value(&v, Some(max))?)),
            None => Ok(None),
        }
    }

    /// Number of keys.
    pub fn len(&self) -> u64 {
        self.state.key_count
    }

    /// Whether the snapshot holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Identifies the commit this snapshot sees, among the states this handle has published: a
    /// later snapshot with the same number sees the same state.
    pub fn version(&self) -> u64 {
        self.state.commit_number()
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.state.commit_number())
            .field("keys", &self.state.key_count)
            .finish()
    }
}
