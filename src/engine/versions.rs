//! Published versions and the snapshots that pin them.
//!
//! Each commit, once applied, is *published*: its tree (root, depth, page count, key count) and
//! the pages it changed become readable as one [`TreeState`]. A snapshot is a counted reference
//! to the state current when it was taken; the writer keeps a weak reference to every state it
//! published and reuses a page freed by version `v` only once no state older than `v` is still
//! referenced, so a snapshot's pages never change under it. Taking a snapshot is a read lock
//! held for one reference-count increment; it never waits for a commit, a spill or a
//! checkpoint's fsync, and dropping one takes no lock at all. A one-shot read (`KVStore::get`)
//! pins the state the same way through a per-thread shard of handles on it, so reader threads
//! do not all write one lock word and one reference count on every read.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use super::buffer::WriteBuffer;
use super::overflow_chain::hand_on;
use super::pages::{SharedPages, Tree, TreeRoot, UpperPages};
use crate::error::Result;
use crate::layout::node::Value;

/// One published state of the tree.
pub(crate) struct TreeState {
    /// Counts commits published by this handle since it was opened: a snapshot's identity.
    pub(crate) version: u64,
    /// Of those publishes, how many only folded the write buffer into the tree (the same keys
    /// and values as the one before): not commits.
    pub(crate) folds: u64,
    pub(crate) root: TreeRoot,
    /// Keys in its tree (its meta slot's count).
    tree_keys: u64,
    /// Keys in the tree and the buffer together, once counted ([`TreeState::key_count`]).
    key_count: OnceLock<u64>,
    pub(crate) pages: Arc<SharedPages>,
    /// Its branch pages nearest the root, kept once read (see [`UpperPages`]); shared with the
    /// state before it when the two have the same tree (a commit that went to the write buffer).
    upper: Arc<UpperPages>,
    /// The changes not yet in its tree: read before it.
    buffer: WriteBuffer,
}

impl TreeState {
    pub(crate) fn new(
        (version, folds): (u64, u64),
        root: TreeRoot,
        tree_keys: u64,
        pages: Arc<SharedPages>,
        buffer: WriteBuffer,
    ) -> TreeState {
        TreeState {
            version,
            folds,
            root,
            tree_keys,
            key_count: OnceLock::new(),
            pages,
            upper: Arc::default(),
            buffer,
        }
    }

    /// Keys in the tree and the buffer together: the tree's count, with the buffer's keys
    /// looked up in the tree the first time it is asked (see `WriteBuffer::key_count`); kept.
    pub(crate) fn key_count(&self) -> Result<u64> {
        if let Some(&n) = self.key_count.get() {
            return Ok(n);
        }
        let n = self.buffer.key_count(self.tree_keys, &self.tree())?;
        Ok(*self.key_count.get_or_init(|| n))
    }

    /// [`TreeState::key_count`] if it has been counted.
    pub(crate) fn counted_keys(&self) -> Option<u64> {
        self.key_count.get().copied()
    }

    /// Whether `self` has the tree `root` over `pages`. Pages are copied on write, and a page a
    /// published state reaches is neither changed nor reused while that state is current: the
    /// same root page in the same pages is the same tree. (The page count may have grown since,
    /// by pages outside the tree: a checkpoint's free list, a value's overflow chain.)
    pub(crate) fn has_tree(&self, root: TreeRoot, pages: &Arc<SharedPages>) -> bool {
        (self.root.root, self.root.depth) == (root.root, root.depth) && Arc::ptr_eq(&self.pages, pages)
    }

    /// Whether the two states hold their upper branch pages in one place.
    #[cfg(test)]
    pub(crate) fn shares_upper_pages_with(&self, other: &TreeState) -> bool {
        Arc::ptr_eq(&self.upper, &other.upper)
    }

    /// Counts the commits behind this state (folds of the buffer left out): two states with the
    /// same number hold the same keys and values.
    pub(crate) fn commit_number(&self) -> u64 {
        self.version - self.folds
    }

    /// Its tree, without the changes in its buffer (scans merge the two; see [`TreeState::buffer`]).
    pub(crate) fn tree(&self) -> Tree<'_> {
        Tree::published(&self.pages, self.root, &self.upper)
    }

    pub(crate) fn buffer(&self) -> &WriteBuffer {
        &self.buffer
    }

    /// The value of `key`: the buffer's change if it holds one, else the tree's.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        match self.buffer.get(key) {
            Some(change) => Ok(change.map(|v| Value::Inline(v.to_vec()))),
            None => self.tree().get(key),
        }
    }

    /// The value of `key`, read whole.
    pub(crate) fn get_bytes(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.buffer.get(key) {
            Some(change) => Ok(change.map(<[u8]>::to_vec)),
            None => self.tree().get_bytes(key),
        }
    }

    /// The value of `key` into `out` (cleared first); `true` when the key exists.
    pub(crate) fn get_into(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        out.clear();
        self.get_with(key, &mut |piece| out.extend_from_slice(piece))
    }

    /// The value of `key` handed to `sink` a piece at a time (`Tree::get_with`); `true` when
    /// the key exists.
    pub(crate) fn get_with(&self, key: &[u8], sink: &mut dyn FnMut(&[u8])) -> Result<bool> {
        match self.buffer.get(key) {
            Some(change) => {
                hand_on(sink, change.unwrap_or_default());
                Ok(change.is_some())
            }
            None => self.tree().get_with(key, sink),
        }
    }
}

/// The current state, and every state published before it that a snapshot may still hold.
pub(crate) struct Versions {
    current: RwLock<Arc<TreeState>>,
    /// The current state again, once per shard, each behind a handle with a reference count of
    /// its own: a one-shot read ([`Versions::with_current`]) counts on its thread's shard, so
    /// reader threads do not all write the same lock word and the same count on every read.
    shards: [PinShard; PIN_SHARDS],
    /// Older states, oldest first, as the writer published them.
    older: Mutex<VecDeque<(u64, Weak<TreeState>)>>,
}

/// How many shards reader threads are spread over.
const PIN_SHARDS: usize = 8;

/// A shard's handle on the current state (`None` until a reader needs it after a publish),
/// aligned so that two shards never share a cache line.
#[repr(align(128))]
struct PinShard(RwLock<Option<Arc<ShardPin>>>);

/// A counted handle on one state, on a cache line of its own: while one lives, so does its state.
#[repr(align(128))]
struct ShardPin(Arc<TreeState>);

/// Spreads threads over the shards, in the order they first read.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % PIN_SHARDS;
}

impl Versions {
    pub(crate) fn new(initial: TreeState) -> Versions {
        Versions {
            current: RwLock::new(Arc::new(initial)),
            shards: std::array::from_fn(|_| PinShard(RwLock::new(None))),
            older: Mutex::new(VecDeque::new()),
        }
    }

    /// The current state. Holding it pins it: its pages stay as they are until it is dropped.
    pub(crate) fn pin(&self) -> Arc<TreeState> {
        // Publishing cannot panic halfway; a poisoned lock holds a whole state.
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Run `f` on the current state, pinned for the call through this thread's shard: the same
    /// guarantees as [`Versions::pin`] (the state's pages stay as they are until `f` returns),
    /// with the locking and counting on a cache line few other threads write.
    pub(crate) fn with_current<T>(&self, f: impl FnOnce(&TreeState) -> T) -> T {
        let shard = &self.shards[SHARD.with(|s| *s)].0;
        let held = shard.read().unwrap_or_else(|e| e.into_inner()).clone();
        let pin = match held {
            Some(pin) => pin,
            None => {
                let mut slot = shard.write().unwrap_or_else(|e| e.into_inner());
                // The lock order is shard, then current, as in `publish`.
                slot.get_or_insert_with(|| Arc::new(ShardPin(self.pin()))).clone()
            }
        };
        f(&pin.0)
    }

    /// The oldest version some snapshot still holds, if any older than the current one.
    pub(crate) fn oldest_pinned(&self) -> Option<u64> {
        let mut older = self.older.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((_, state)) = older.front() {
            if state.strong_count() > 0 {
                break;
            }
            older.pop_front();
        }
        older.front().map(|(version, _)| *version)
    }

    pub(super) fn publish(&self, mut state: TreeState) {
        {
            // Only the writer publishes: the current state cannot change between here and the
            // write lock below.
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            if current.has_tree(state.root, &state.pages) {
                state.upper = current.upper.clone();
            }
        }
        let state = Arc::new(state);
        let (previous, stale) = {
            // Every shard is locked, then the current state, while the state changes: a read
            // that begins once any shard shows the new state finds it in every shard.
            let mut shards: [_; PIN_SHARDS] =
                std::array::from_fn(|i| self.shards[i].0.write().unwrap_or_else(|e| e.into_inner()));
            let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
            let stale: [_; PIN_SHARDS] = std::array::from_fn(|i| shards[i].take());
            (std::mem::replace(&mut *current, state), stale)
        };
        // The shards' handles on the previous state go before its count is looked at: a reader
        // still holding one keeps the state counted as pinned.
        drop(stale);
        let weak = Arc::downgrade(&previous);
        let version = previous.version;
        drop(previous);
        if weak.strong_count() > 0 {
            self.older.lock().unwrap_or_else(|e| e.into_inner()).push_back((version, weak));
        }
    }
}
