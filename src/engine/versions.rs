//! Published versions and the snapshots that pin them.
//!
//! Each commit, once applied, is *published*: its tree (root, depth, page count, key count) and
//! the pages it changed become readable as one [`TreeState`]. A snapshot is a counted reference
//! to the state current when it was taken; the writer keeps a weak reference to every state it
//! published and reuses a page freed by version `v` only once no state older than `v` is still
//! referenced, so a snapshot's pages never change under it. Taking a snapshot is a read lock
//! held for one reference-count increment; it never waits for a commit, a spill or a
//! checkpoint's fsync, and dropping one takes no lock at all.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock, Weak};

use super::pages::{SharedPages, Tree, TreeRoot, UpperPages};

/// One published state of the tree.
pub(crate) struct TreeState {
    /// Counts commits published by this handle since it was opened: a snapshot's identity.
    pub(crate) version: u64,
    pub(crate) root: TreeRoot,
    pub(crate) key_count: u64,
    pub(crate) pages: Arc<SharedPages>,
    /// Its branch pages nearest the root, kept once read (see [`UpperPages`]).
    upper: UpperPages,
}

impl TreeState {
    pub(crate) fn new(version: u64, root: TreeRoot, key_count: u64, pages: Arc<SharedPages>) -> TreeState {
        TreeState { version, root, key_count, pages, upper: UpperPages::default() }
    }

    pub(crate) fn tree(&self) -> Tree<'_> {
        Tree::published(&self.pages, self.root, &self.upper)
    }
}

/// The current state, and every state published before it that a snapshot may still hold.
pub(crate) struct Versions {
    current: RwLock<Arc<TreeState>>,
    /// Older states, oldest first, as the writer published them.
    older: Mutex<VecDeque<(u64, Weak<TreeState>)>>,
}

impl Versions {
    pub(crate) fn new(initial: TreeState) -> Versions {
        Versions { current: RwLock::new(Arc::new(initial)), older: Mutex::new(VecDeque::new()) }
    }

    /// The current state. Holding it pins it: its pages stay as they are until it is dropped.
    pub(crate) fn pin(&self) -> Arc<TreeState> {
        // Publishing cannot panic halfway; a poisoned lock holds a whole state.
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
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

    pub(super) fn publish(&self, state: TreeState) {
        let state = Arc::new(state);
        let previous = {
            let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *current, state)
        };
        let weak = Arc::downgrade(&previous);
        let version = previous.version;
        drop(previous);
        if weak.strong_count() > 0 {
            self.older.lock().unwrap_or_else(|e| e.into_inner()).push_back((version, weak));
        }
    }
}
