//! The store's iterators: keys and pairs in order, leaf by leaf, resuming by key; pages in order.

use std::ops::{Bound, RangeBounds};

use std::marker::PhantomData;

use super::KVStore;
use super::snapshot::Snapshot;
use crate::engine::LeafAt;
use crate::error::Result;
use crate::inspect::PageSummary;
use crate::layout::node::Value;

impl KVStore {
    /// Every pair in key order, as of now: the iterator reads one commit's state (its own
    /// snapshot, see [`Snapshot::iter`]) however long it lives.
    pub fn iter(&self) -> Iter<'_> {
        self.snapshot().iter()
    }

    /// Pairs with keys in `range`, in key order: `store.range(b"a".as_slice()..b"m".as_slice())`.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter<'_> {
        self.snapshot().range(range)
    }

    /// Pairs with keys between `start` and `end`, in key order: [`KVStore::range`] with owned bounds.
    pub fn range_bounds(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Iter<'_> {
        self.snapshot().range_bounds(start, end)
    }

    /// Pairs whose key starts with `prefix`, in key order.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter<'_> {
        self.snapshot().prefix(prefix)
    }

    /// Keys with their value lengths, without reading values: for listings of stores with large
    /// values.
    pub fn keys(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Keys<'_> {
        self.snapshot().keys(start, end)
    }

    /// Keys starting with `prefix`, with their value lengths.
    pub fn prefix_keys(&self, prefix: impl AsRef<[u8]>) -> Keys<'_> {
        self.snapshot().prefix_keys(prefix)
    }

    /// Keys with their value lengths in descending key order, from `end` down to `start`,
    /// without reading values: for paging backwards through a listing.
    pub fn keys_rev(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> KeysRev<'_> {
        self.snapshot().keys_rev(start, end)
    }

    /// Keys starting with `prefix`, with their value lengths, in descending key order.
    pub fn prefix_keys_rev(&self, prefix: impl AsRef<[u8]>) -> KeysRev<'_> {
        self.snapshot().prefix_keys_rev(prefix)
    }

    /// Every page in page-number order, with its type and fill.
    pub fn pages(&self) -> PageIter<'_> {
        // Pages as the tree holds every commit (a failed fold poisons the store and shows in
        // the first page read).
        let _ = self.fold_buffer();
        PageIter { store: self, next: 0 }
    }
}

impl Snapshot {
    // Each iterator holds its own clone of the snapshot, so it may outlive this one.

    /// Every pair of this snapshot in key order.
    pub fn iter(&self) -> Iter<'static> {
        self.range_bounds(Bound::Unbounded, Bound::Unbounded)
    }

    /// Pairs with keys in `range`, in key order.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter<'static> {
        let (start, end) = own_bounds(range);
        self.range_bounds(start, end)
    }

    /// Pairs with keys between `start` and `end`, in key order.
    pub fn range_bounds(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Iter<'static> {
        Iter::new(self.clone(), start, end)
    }

    /// Pairs whose key starts with `prefix`, in key order.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter<'static> {
        let (start, end) = prefix_bounds(prefix.as_ref());
        self.range_bounds(start, end)
    }

    /// Keys with their value lengths, without reading values.
    pub fn keys(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Keys<'static> {
        Keys::new(self.clone(), start, end)
    }

    /// Keys starting with `prefix`, with their value lengths.
    pub fn prefix_keys(&self, prefix: impl AsRef<[u8]>) -> Keys<'static> {
        let (start, end) = prefix_bounds(prefix.as_ref());
        self.keys(start, end)
    }

    /// Keys with their value lengths in descending key order, from `end` down to `start`.
    pub fn keys_rev(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> KeysRev<'static> {
        KeysRev::new(self.clone(), start, end)
    }

    /// Keys starting with `prefix`, with their value lengths, in descending key order.
    pub fn prefix_keys_rev(&self, prefix: impl AsRef<[u8]>) -> KeysRev<'static> {
        let (start, end) = prefix_bounds(prefix.as_ref());
        self.keys_rev(start, end)
    }
}

fn own_bounds<K: AsRef<[u8]>, R: RangeBounds<K>>(range: R) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let own = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    (own(range.start_bound()), own(range.end_bound()))
}

pub(super) fn prefix_bounds(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    // The first key after every key with this prefix: drop trailing 0xff bytes, add one to
    // the last byte left. A prefix of only 0xff bytes has no such key.
    let mut end = prefix.to_vec();
    while end.last() == Some(&0xff) {
        end.pop();
    }
    let end = match end.last_mut() {
        Some(b) => {
            *b += 1;
            Bound::Excluded(end)
        }
        None => Bound::Unbounded,
    };
    (Bound::Included(prefix.to_vec()), end)
}

/// Walks one snapshot's keys a leaf at a time: it holds the leaf it is in (its sealed bytes,
/// shared with the cache) and decodes one entry per step, so a short scan copies out only the
/// entries it returns. Past a leaf's last entry it descends again from the smallest key of the
/// leaves to its right. The snapshot's write buffer is merged in: a key it holds a change for
/// shows that change (a delete hides the tree's entry).
struct KeyCursor {
    snapshot: Snapshot,
    /// Where the next leaf to read starts, before the first one is read (`None`: started).
    start: Option<Bound<Vec<u8>>>,
    end: Bound<Vec<u8>>,
    /// The leaf being read (`None` once the walk is over).
    leaf: Option<LeafAt>,
    /// The tree's next entry, read ahead to compare with the buffer's, and whether the tree
    /// has none left.
    tree_next: Option<(Vec<u8>, Value)>,
    tree_done: bool,
    /// Where the buffer's next change is looked for.
    buffer_from: Bound<Vec<u8>>,
}

/// Whether `key` is inside `end` (at or before it, or before it).
fn before_end(end: &Bound<Vec<u8>>, key: &[u8]) -> bool {
    match end {
        Bound::Unbounded => true,
        Bound::Included(e) => key <= e.as_slice(),
        Bound::Excluded(e) => key < e.as_slice(),
    }
}

/// Whether `key` is inside `start` (at or after it, or after it).
fn after_start(start: &Bound<Vec<u8>>, key: &[u8]) -> bool {
    match start {
        Bound::Unbounded => true,
        Bound::Included(s) => key >= s.as_slice(),
        Bound::Excluded(s) => key > s.as_slice(),
    }
}

impl KeyCursor {
    fn new(snapshot: Snapshot, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> KeyCursor {
        let buffer_from = start.clone();
        KeyCursor {
            snapshot,
            start: Some(start),
            end,
            leaf: None,
            tree_next: None,
            tree_done: false,
            buffer_from,
        }
    }

    fn next_entry(&mut self) -> Option<Result<(Vec<u8>, Value)>> {
        match self.step() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.finish();
                None
            }
            Err(e) => {
                // An error ends the walk.
                self.finish();
                Some(Err(e))
            }
        }
    }

    /// End the walk: nothing more from the tree, and an end bound no key is inside, which
    /// stops the buffer's side too.
    fn finish(&mut self) {
        self.start = None;
        self.leaf = None;
        self.tree_next = None;
        self.tree_done = true;
        self.end = Bound::Excluded(Vec::new());
    }

    /// The next entry of the tree and the buffer merged.
    fn step(&mut self) -> Result<Option<(Vec<u8>, Value)>> {
        if self.snapshot.state.buffer().is_empty() {
            return self.tree_step();
        }
        loop {
            if self.tree_next.is_none() && !self.tree_done {
                self.tree_next = self.tree_step()?;
                self.tree_done = self.tree_next.is_none();
            }
            let buffered = self
                .snapshot
                .state
                .buffer()
                .first_from(self.buffer_from.as_ref().map(Vec::as_slice))
                .filter(|(k, _)| before_end(&self.end, k))
                .map(|(k, change)| (k.to_vec(), change.map(<[u8]>::to_vec)));
            let Some((key, change)) = buffered else { return Ok(self.tree_next.take()) };
            match &self.tree_next {
                Some((tree_key, _)) if *tree_key < key => return Ok(self.tree_next.take()),
                // The buffer's change replaces the tree's entry.
                Some((tree_key, _)) if *tree_key == key => self.tree_next = None,
                _ => {}
            }
            self.buffer_from = Bound::Excluded(key.clone());
            if let Some(value) = change {
                return Ok(Some((key, Value::Inline(value))));
            }
        }
    }

    /// The tree's next entry.
    fn tree_step(&mut self) -> Result<Option<(Vec<u8>, Value)>> {
        let tree = self.snapshot.state.tree();
        if let Some(start) = self.start.take() {
            self.leaf = tree.leaf_from(&start)?;
        }
        loop {
            let Some(leaf) = &mut self.leaf else { return Ok(None) };
            if leaf.done() {
                self.leaf = tree.next_leaf(leaf)?;
                continue;
            }
            let Some((k, v)) = tree.next_in_leaf(leaf)? else { continue };
            if !before_end(&self.end, &k) {
                self.leaf = None;
                return Ok(None);
            }
            return Ok(Some((k, v)));
        }
    }
}

/// Ordered iterator over `(key, value)` pairs of one snapshot: it reads one leaf at a time and
/// sees one commit's state from its first item to its last, whatever is committed meanwhile.
pub struct Iter<'a> {
    keys: KeyCursor,
    _store: PhantomData<&'a ()>,
}

impl Iter<'_> {
    fn new(snapshot: Snapshot, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Self {
        Iter { keys: KeyCursor::new(snapshot, start, end), _store: PhantomData }
    }
}

impl Iterator for Iter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let (key, value) = match self.keys.next_entry()? {
            Ok(e) => e,
            Err(e) => return Some(Err(e)),
        };
        match value {
            Value::Inline(v) => Some(Ok((key, v))),
            overflow => Some(self.keys.snapshot.state.tree().read_value(&overflow, None).map(|v| (key, v))),
        }
    }
}

/// Ordered iterator over `(key, value length)` pairs of one snapshot; reads no values.
pub struct Keys<'a> {
    keys: KeyCursor,
    _store: PhantomData<&'a ()>,
}

impl Keys<'_> {
    fn new(snapshot: Snapshot, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Self {
        Keys { keys: KeyCursor::new(snapshot, start, end), _store: PhantomData }
    }
}

impl Iterator for Keys<'_> {
    type Item = Result<(Vec<u8>, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.keys.next_entry()?.map(|(k, v)| (k, v.len())))
    }
}

/// Descending iterator over `(key, value length)` pairs of one snapshot; reads no values. Like
/// [`Keys`], it reads one leaf at a time, resumes by key and merges the snapshot's write buffer.
pub struct KeysRev<'a> {
    snapshot: Snapshot,
    _store: PhantomData<&'a ()>,
    /// Where the next leaf to read ends (`None`: the tree has no more).
    next: Option<Bound<Vec<u8>>>,
    start: Bound<Vec<u8>>,
    /// Entries of the leaf read last, greatest first.
    buf: std::collections::VecDeque<(Vec<u8>, u64)>,
    /// Where the buffer's next change is looked for (`None`: done).
    buffer_to: Option<Bound<Vec<u8>>>,
}

impl KeysRev<'_> {
    fn new(snapshot: Snapshot, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Self {
        let buffer_to = Some(end.clone());
        KeysRev { snapshot, _store: PhantomData, next: Some(end), start, buf: Default::default(), buffer_to }
    }

    /// The buffer's greatest change left inside the range: key, and value length (`None`: a delete).
    fn buffered(&self) -> Option<(Vec<u8>, Option<u64>)> {
        let to = self.buffer_to.as_ref()?;
        self.snapshot
            .state
            .buffer()
            .last_before(to.as_ref().map(Vec::as_slice))
            .filter(|(k, _)| after_start(&self.start, k))
            .map(|(k, change)| (k.to_vec(), change.map(|v| v.len() as u64)))
    }

    fn done(&mut self) -> Option<Result<(Vec<u8>, u64)>> {
        self.buf.clear();
        self.next = None;
        self.buffer_to = None;
        None
    }
}

impl Iterator for KeysRev<'_> {
    type Item = Result<(Vec<u8>, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.buf.is_empty()
                && let Some(end) = self.next.take()
            {
                // The tree's next leaf down, before comparing with the buffer.
                match self.snapshot.state.tree().leaf_chunk_rev(&end) {
                    Ok((entries, low)) => {
                        self.next = match (entries.last(), low) {
                            (Some((smallest, _)), Some(_)) => Some(Bound::Excluded(smallest.clone())),
                            (None, Some(low)) => Some(Bound::Excluded(low)),
                            (_, None) => None,
                        };
                        self.buf.extend(entries.into_iter().map(|(k, v)| (k, v.len())));
                    }
                    Err(e) => {
                        self.done();
                        return Some(Err(e));
                    }
                }
                continue;
            }
            let buffered = self.buffered();
            let order = match (self.buf.front(), &buffered) {
                (None, None) => return self.done(),
                (Some(_), None) => std::cmp::Ordering::Greater,
                (None, Some(_)) => std::cmp::Ordering::Less,
                (Some((tree_key, _)), Some((key, _))) => tree_key.cmp(key),
            };
            if order.is_eq() {
                // The buffer's change replaces the tree's entry.
                self.buf.pop_front();
            }
            let from_tree = order.is_gt();
            let (key, len) = if from_tree {
                let Some(entry) = self.buf.pop_front() else { continue };
                entry
            } else {
                let Some((key, change)) = buffered else { continue };
                self.buffer_to = Some(Bound::Excluded(key.clone()));
                let Some(len) = change else { continue };
                (key, len)
            };
            if !after_start(&self.start, &key) {
                return self.done();
            }
            return Some(Ok((key, len)));
        }
    }
}

/// Every page in page-number order.
pub struct PageIter<'a> {
    store: &'a KVStore,
    next: u64,
}

impl Iterator for PageIter<'_> {
    type Item = Result<PageSummary>;

    fn next(&mut self) -> Option<Self::Item> {
        let inner = match self.store.read_inner() {
            Ok(i) => i,
            Err(e) => return Some(Err(e)),
        };
        if self.next >= inner.engine.meta().page_count {
            return None;
        }
        let page = self.next;
        self.next += 1;
        Some(crate::inspect::page_info::page_summary(&inner.engine, page))
    }
}

impl PageIter<'_> {
    /// Continue from page `page`.
    pub fn starting_at(mut self, page: u64) -> Self {
        self.next = page;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds_cover_exactly_the_prefix() {
        assert_eq!(prefix_bounds(b"ab"), (Bound::Included(b"ab".to_vec()), Bound::Excluded(b"ac".to_vec())));
        assert_eq!(
            prefix_bounds(b"a\xff"),
            (Bound::Included(b"a\xff".to_vec()), Bound::Excluded(b"b".to_vec()))
        );
        assert_eq!(prefix_bounds(b"\xff\xff"), (Bound::Included(b"\xff\xff".to_vec()), Bound::Unbounded));
        assert_eq!(prefix_bounds(b""), (Bound::Included(vec![]), Bound::Unbounded));
    }
}
