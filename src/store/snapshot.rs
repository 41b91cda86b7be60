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

    /// The value of `key` handed to `f` a chunk at a time; `Ok(true)` when the key exists. See
    /// [`KVStore::get_chunks`](crate::KVStore::get_chunks).
    pub fn get_chunks(&self, key: impl AsRef<[u8]>, mut f: impl FnMut(&[u8])) -> Result<bool> {
        self.state.get_with(key.as_ref(), &mut f)
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

    /// Number of keys. Counted once per snapshot: O(1) when the commits before it went to the
    /// tree; after commits held in the write buffer, the first call looks the buffer's keys up
    /// in the tree (a walk over the leaves they fall in, shared with the snapshots before it),
    /// so it reads pages and can fail on a damaged one.
    pub fn len(&self) -> Result<u64> {
        self.state.key_count()
    }

    /// Whether the snapshot holds no key (see [`Snapshot::len`]).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
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
            .field("keys", &self.state.counted_keys())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Durability, OpenOptions};

    /// A commit that goes to the write buffer publishes the same tree: the new state keeps the
    /// upper branch pages the states before it read, so readers and the writer's own lookups do
    /// not read them again after every small commit. A commit that changes the tree starts over.
    #[test]
    fn a_commit_to_the_buffer_keeps_the_upper_pages_a_tree_change_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = OpenOptions::new()
            .page_size(1024)
            .durability(Durability::Buffered)
            .open(dir.path().join("t.db"))
            .unwrap();
        let key = |i: u32| format!("{:08x}-{i:030}", i.wrapping_mul(2_654_435_761)).into_bytes();
        for i in 0..3000 {
            store.put(key(i), [1u8; 20]).unwrap();
        }
        store.checkpoint().unwrap();
        let before = store.snapshot();
        assert_eq!(before.get(key(7)).unwrap().as_deref(), Some(&[1u8; 20][..]));

        store.put(key(1), b"buffered").unwrap();
        assert!(store.delete(key(2)).unwrap(), "a key only the tree holds is found through the held pages");
        assert!(!store.delete(key(5000)).unwrap());
        // A batch's keys counted in one walk through the held pages: 3 in the tree, 2 not.
        let mut batch = crate::WriteBatch::new();
        batch.put(key(10), b"x").put(key(6000), b"x").delete(key(11)).delete(key(6001)).put(key(2999), b"y");
        store.write(batch).unwrap();
        assert_eq!(store.len().unwrap(), 2999);
        let buffered = store.snapshot();
        assert!(buffered.state.version > before.state.version);
        assert!(buffered.state.shares_upper_pages_with(&before.state));
        assert_eq!(buffered.len().unwrap(), 2999);
        assert_eq!(before.len().unwrap(), 3000);

        store.checkpoint().unwrap();
        let folded = store.snapshot();
        assert!(!folded.state.shares_upper_pages_with(&buffered.state), "the fold changed the tree");
        assert_eq!(folded.get(key(1)).unwrap().as_deref(), Some(&b"buffered"[..]));
        assert_eq!(folded.get(key(2)).unwrap(), None);
        assert_eq!(folded.len().unwrap(), 2999);
    }
}
