//! Reading the tree: one bounded descent from the root serves point lookups and the leaf-at-a-time
//! walks of scans, forwards and backwards.

use std::ops::Bound;
use std::sync::OnceLock;

use super::cache::PageBytes;
use super::overflow_chain::hand_on;
use super::pages::{NodeRef, Tree, UpperPage, UpperPages};
use crate::error::{Error, Result};
use crate::layout::node::{Node, NodeView, Value, ValueRef, cmp_keys};

/// One leaf's entries from a scan's position, and the first key of the next leaf (`None`: last).
pub(crate) type LeafChunk = (Vec<(Vec<u8>, Value)>, Option<Vec<u8>>);

/// Which separator a descent keeps for its caller.
#[derive(Clone, Copy)]
enum Keep {
    None,
    /// The first separator right of the path: the smallest key of the leaves to the right.
    High,
    /// The last separator left of the path: the smallest key the leaf may hold.
    Low,
}

impl<'a> Tree<'a> {
    /// The one bounded descent every reader uses. At each branch it takes the child after
    /// every separator for which `goes_right` holds, keeps the separator on the side `keep`
    /// names (the closest one seen, from the deepest branch that has one), and at the leaf calls
    /// `f` with the leaf and that separator.
    fn descend<T>(
        &self,
        goes_right: impl Fn(&[u8]) -> bool,
        keep: Keep,
        f: impl FnOnce(u64, &NodeRef<'_>, Option<Vec<u8>>) -> Result<T>,
    ) -> Result<T> {
        let depth = self.at.depth;
        let mut page = self.at.root;
        let mut from = 0;
        let mut kept: Option<Vec<u8>> = None;
        // The held slot of `page`, while the descent is within a published state's held pages.
        let mut slot = self.upper.map(|u| (u, u.root()));
        for level in 1..=depth {
            self.check_link(page, from)?;
            if level < depth
                && let Some((upper, at)) = slot
            {
                let held = self.upper_page(upper, at, page, level)?;
                let view = NodeView::new(page, &held.bytes)?;
                if view.is_leaf() {
                    return Err(Error::corrupted(
                        page,
                        format!("tree level {level} of {depth} holds the wrong kind of page"),
                    ));
                }
                let idx = view.partition_point(&goes_right)?;
                match keep {
                    Keep::High if idx < view.count() => kept = Some(view.key(idx)?.to_vec()),
                    Keep::Low if idx > 0 => kept = Some(view.key(idx - 1)?.to_vec()),
                    _ => {}
                }
                slot = held.children.get(idx).map(|c| (upper, c));
                from = page;
                page = view.child(idx)?;
                continue;
            }
            let node = self.node(page)?;
            let next = match &node {
                NodeRef::Working(Node::Leaf(_)) => None,
                NodeRef::Working(Node::Branch(b)) => {
                    let idx = b.partition_point(&goes_right);
                    match keep {
                        Keep::High if idx < b.len() => kept = Some(b.entry(idx).0.to_vec()),
                        Keep::Low if idx > 0 => kept = Some(b.entry(idx - 1).0.to_vec()),
                        _ => {}
                    }
                    Some(b.child(idx))
                }
                NodeRef::Clean(no, bytes) => {
                    let view = NodeView::new(*no, bytes)?;
                    if view.is_leaf() {
                        None
                    } else {
                        let idx = view.partition_point(&goes_right)?;
                        match keep {
                            Keep::High if idx < view.count() => kept = Some(view.key(idx)?.to_vec()),
                            Keep::Low if idx > 0 => kept = Some(view.key(idx - 1)?.to_vec()),
                            _ => {}
                        }
                        Some(view.child(idx)?)
                    }
                }
            };
            match next {
                None if level == depth => return f(page, &node, kept),
                Some(child) if level < depth => {
                    from = page;
                    page = child;
                }
                _ => {
                    return Err(Error::corrupted(
                        page,
                        format!("tree level {level} of {depth} holds the wrong kind of page"),
                    ));
                }
            }
        }
        Err(Error::corrupted(self.at.root, "tree has no levels"))
    }

    /// Descend to the leaf for `key` (the leftmost leaf for `None`). Calls `f` with the leaf and,
    /// when `keep` is [`Keep::High`], the smallest key of the leaves to its right, if any.
    fn with_leaf<T>(
        &self,
        key: Option<&[u8]>,
        keep: Keep,
        f: impl FnOnce(u64, &NodeRef<'_>, Option<Vec<u8>>) -> Result<T>,
    ) -> Result<T> {
        let goes_right = |sep: &[u8]| key.is_some_and(|k| cmp_keys(sep, k).is_le());
        self.descend(goes_right, keep, f)
    }

    /// The value of `key`, read whole.
    pub(crate) fn get_bytes(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        Ok(self.get_into(key, &mut out)?.then_some(out))
    }

    /// The value of `key` into `out` (cleared first, its capacity reused); `true` when the key
    /// exists.
    pub(crate) fn get_into(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        out.clear();
        self.get_with(key, &mut |piece| out.extend_from_slice(piece))
    }

    /// The value of `key` handed to `sink` a piece at a time (see [`Tree::read_value_with`]);
    /// `true` when the key exists. An inline value is one piece, lent from its leaf; an empty
    /// value is none.
    pub(crate) fn get_with(&self, key: &[u8], sink: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let found = self.with_leaf(Some(key), Keep::None, |leaf, node, _| match node {
            NodeRef::Working(Node::Leaf(l)) => Ok(match l.search(key) {
                Ok(i) => match l.entry(i).value {
                    ValueRef::Inline(v) => {
                        hand_on(sink, v);
                        Some(None)
                    }
                    v => Some(Some((leaf, v.to_value()))),
                },
                Err(_) => None,
            }),
            NodeRef::Working(Node::Branch(_)) => unreachable_branch(),
            NodeRef::Clean(no, bytes) => {
                let view = NodeView::new(*no, bytes)?;
                Ok(match view.search(key)? {
                    Ok(i) => match view.leaf_entry(i)?.value {
                        ValueRef::Inline(v) => {
                            hand_on(sink, v);
                            Some(None)
                        }
                        v => Some(Some((leaf, owned_value(v)))),
                    },
                    Err(_) => None,
                })
            }
        })?;
        match found {
            None => Ok(false),
            Some(None) => Ok(true),
            Some(Some((leaf, value))) => {
                self.check_value_link(&value, leaf)?;
                self.read_value_with(&value, None, sink)?;
                Ok(true)
            }
        }
    }

    /// An overflow value's first link must lie inside the file: checked where the leaf holding
    /// it is known, so the error names that leaf.
    fn check_value_link(&self, value: &Value, leaf: u64) -> Result<()> {
        match value {
            Value::Overflow { len, first } if *len > 0 => self.check_link(*first, leaf),
            _ => Ok(()),
        }
    }

    /// Whether `key` has a value, without copying it out.
    pub(crate) fn contains(&self, key: &[u8]) -> Result<bool> {
        self.with_leaf(Some(key), Keep::None, |_, node, _| match node {
            NodeRef::Working(Node::Leaf(l)) => Ok(l.search(key).is_ok()),
            NodeRef::Working(Node::Branch(_)) => unreachable_branch(),
            NodeRef::Clean(no, bytes) => Ok(NodeView::new(*no, bytes)?.search(key)?.is_ok()),
        })
    }

    /// How many of `keys` (ascending) have a value: the tree walked once from the root, each
    /// branch handing each child the keys that fall under it, each page read once (a published
    /// state's upper branch pages from where it holds them).
    pub(crate) fn count_present(&self, keys: &[&[u8]]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.count_under(self.at.root, 1, 0, keys, self.upper.map(UpperPages::root))
    }

    /// [`Tree::count_present`] under `page`, at `level` (1: the root), linked from `from`;
    /// `slot` holds the page once read, while the walk is within the held pages.
    fn count_under(
        &self,
        page: u64,
        level: u32,
        from: u64,
        keys: &[&[u8]],
        slot: Option<&'a OnceLock<UpperPage>>,
    ) -> Result<u64> {
        self.check_link(page, from)?;
        let bottom = level == self.at.depth;
        let wrong_kind = || {
            Error::corrupted(
                page,
                format!("tree level {level} of {} holds the wrong kind of page", self.at.depth),
            )
        };
        if !bottom && let (Some(upper), Some(slot)) = (self.upper, slot) {
            let held = self.upper_page(upper, slot, page, level)?;
            let view = NodeView::new(page, &held.bytes)?;
            if view.is_leaf() {
                return Err(wrong_kind());
            }
            return self.count_branch(&view, &held.children, (page, level), keys);
        }
        match &self.node(page)? {
            NodeRef::Working(Node::Leaf(l)) if bottom => {
                Ok(keys.iter().filter(|k| l.search(k).is_ok()).count() as u64)
            }
            NodeRef::Working(Node::Branch(b)) if !bottom => {
                let (mut total, mut at) = (0, 0);
                while at < keys.len() {
                    let idx = b.partition_point(|sep| cmp_keys(sep, keys[at]).is_le());
                    let sep = (idx < b.len()).then(|| b.entry(idx).0);
                    total += self.count_child(sep, b.child(idx), None, (page, level), keys, &mut at)?;
                }
                Ok(total)
            }
            NodeRef::Working(_) => Err(wrong_kind()),
            NodeRef::Clean(no, bytes) => {
                let view = NodeView::new(*no, bytes)?;
                match (view.is_leaf(), bottom) {
                    (true, true) => {
                        let mut found = 0;
                        for k in keys {
                            found += u64::from(view.search(k)?.is_ok());
                        }
                        Ok(found)
                    }
                    (false, false) => self.count_branch(&view, &[], (page, level), keys),
                    _ => Err(wrong_kind()),
                }
            }
        }
    }

    /// [`Tree::count_under`] for the branch `at_page` (its number and level) seen through
    /// `view`: each child counts its share of `keys`; `slots` are the children's held slots
    /// (none: not held).
    fn count_branch(
        &self,
        view: &NodeView<'_>,
        slots: &'a [OnceLock<UpperPage>],
        at_page: (u64, u32),
        keys: &[&[u8]],
    ) -> Result<u64> {
        let (mut total, mut at) = (0, 0);
        while at < keys.len() {
            let idx = view.partition_point(|sep| cmp_keys(sep, keys[at]).is_le())?;
            let sep = if idx < view.count() { Some(view.key(idx)?) } else { None };
            total += self.count_child(sep, view.child(idx)?, slots.get(idx), at_page, keys, &mut at)?;
        }
        Ok(total)
    }

    /// The count under `child` of the keys from `at` on that lie below `sep` (the separator
    /// after it; `None`: all the rest), `at` moved past them.
    fn count_child(
        &self,
        sep: Option<&[u8]>,
        child: u64,
        slot: Option<&'a OnceLock<UpperPage>>,
        (page, level): (u64, u32),
        keys: &[&[u8]],
        at: &mut usize,
    ) -> Result<u64> {
        let end =
            sep.map_or(keys.len(), |sep| *at + keys[*at..].partition_point(|k| cmp_keys(k, sep).is_lt()));
        // A damaged branch whose separators do not increase still moves on by one key.
        let end = end.max(*at + 1);
        let count = self.count_under(child, level + 1, page, &keys[*at..end], slot)?;
        *at = end;
        Ok(count)
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        self.with_leaf(Some(key), Keep::None, |_, node, _| match node {
            NodeRef::Working(Node::Leaf(l)) => Ok(l.search(key).ok().map(|i| l.entry(i).value.to_value())),
            NodeRef::Working(Node::Branch(_)) => unreachable_branch(),
            NodeRef::Clean(no, bytes) => {
                let view = NodeView::new(*no, bytes)?;
                match view.search(key)? {
                    Ok(i) => Ok(Some(owned_value(view.leaf_entry(i)?.value))),
                    Err(_) => Ok(None),
                }
            }
        })
    }

    /// The leaf where keys from `start` on begin, for reading its entries one at a time: a
    /// published tree's leaf is sealed bytes, read in place rather than copied out whole. Leaves
    /// with no entry from `start` on are passed over (each one a descent). `None`: no key from
    /// `start` on.
    pub(crate) fn leaf_from(&self, start: &Bound<Vec<u8>>) -> Result<Option<LeafAt>> {
        let mut position: Bound<Vec<u8>> = start.clone();
        // Each round moves right by one leaf; the bound only guards against a damaged tree whose
        // separators do not increase.
        for _ in 0..=self.at.page_count {
            let key = match &position {
                Bound::Unbounded => None,
                Bound::Included(k) | Bound::Excluded(k) => Some(k.as_slice()),
            };
            let leaf = self.with_leaf(key, Keep::High, |page, node, high| match node {
                NodeRef::Clean(no, bytes) => {
                    let view = NodeView::new(*no, bytes)?;
                    let next = match &position {
                        Bound::Unbounded => 0,
                        Bound::Included(k) => view.search(k)?.unwrap_or_else(|i| i),
                        Bound::Excluded(k) => view.search(k)?.map_or_else(|i| i, |i| i + 1),
                    };
                    Ok(LeafAt { page, bytes: bytes.clone(), next, count: view.count(), high })
                }
                // A published tree has no pages changed by a commit being built.
                NodeRef::Working(_) => {
                    Err(Error::corrupted(page, "internal: a published tree holds a page being changed"))
                }
            })?;
            if leaf.next < leaf.count {
                return Ok(Some(leaf));
            }
            let Some(high) = leaf.high else { return Ok(None) };
            if let Some(k) = key
                && high.as_slice() <= k
            {
                return Err(Error::corrupted(self.at.root, "branch separators are out of order"));
            }
            position = Bound::Included(high);
        }
        Err(Error::corrupted(self.at.root, "scan did not end: the tree has a cycle"))
    }

    /// The leaf after `leaf` (`None`: it was the last one). Its first key is past every key of
    /// `leaf`, and its own right bound past `leaf`'s, so a walk returns keys in order and ends
    /// even over a damaged tree.
    pub(crate) fn next_leaf(&self, leaf: &mut LeafAt) -> Result<Option<LeafAt>> {
        let Some(high) = leaf.high.take() else { return Ok(None) };
        let view = NodeView::new(leaf.page, &leaf.bytes)?;
        if let Some(last) = view.count().checked_sub(1)
            && cmp_keys(&high, view.key(last)?).is_le()
        {
            return Err(Error::corrupted(leaf.page, "a key lies past the separator on its right"));
        }
        let next = self.leaf_from(&Bound::Included(high.clone()))?;
        if let Some(n) = &next
            && n.high.as_deref().is_some_and(|h| cmp_keys(h, &high).is_le())
        {
            return Err(Error::corrupted(self.at.root, "branch separators are out of order"));
        }
        Ok(next)
    }

    /// The next entry of `leaf`, if any is left: its key and value, the value's link checked.
    pub(crate) fn next_in_leaf(&self, leaf: &mut LeafAt) -> Result<Option<(Vec<u8>, Value)>> {
        if leaf.next >= leaf.count {
            return Ok(None);
        }
        let view = NodeView::new(leaf.page, &leaf.bytes)?;
        let e = view.leaf_entry(leaf.next)?;
        leaf.next += 1;
        let value = owned_value(e.value);
        self.check_value_link(&value, leaf.page)?;
        Ok(Some((e.key.to_vec(), value)))
    }

    /// The entries of one leaf before `end`, in descending key order, and the smallest key that
    /// leaf may hold (`None`: it is the leftmost leaf). The mirror of [`Tree::leaf_from`], for
    /// walking keys backwards: each call is one descent.
    pub(crate) fn leaf_chunk_rev(&self, end: &Bound<Vec<u8>>) -> Result<LeafChunk> {
        let mut position: Bound<Vec<u8>> = end.clone();
        // Each round moves left by one leaf; the bound guards against a damaged tree whose
        // separators do not increase.
        for _ in 0..=self.at.page_count {
            let (entries, low) = self.with_leaf_below(&position, |node| {
                let keep = |k: &[u8]| match &position {
                    Bound::Unbounded => true,
                    Bound::Included(e) => k <= e.as_slice(),
                    Bound::Excluded(e) => k < e.as_slice(),
                };
                let mut out = Vec::new();
                match node {
                    NodeRef::Working(Node::Leaf(l)) => {
                        for e in l.iter().rev() {
                            if keep(e.key) {
                                out.push((e.key.to_vec(), e.value.to_value()));
                            }
                        }
                    }
                    NodeRef::Working(Node::Branch(_)) => return unreachable_branch(),
                    NodeRef::Clean(no, bytes) => {
                        let view = NodeView::new(*no, bytes)?;
                        for i in (0..view.count()).rev() {
                            let e = view.leaf_entry(i)?;
                            if keep(e.key) {
                                out.push((e.key.to_vec(), owned_value(e.value)));
                            }
                        }
                    }
                }
                Ok(out)
            })?;
            let Some(low) = low else { return Ok((entries, None)) };
            if !entries.is_empty() {
                return Ok((entries, Some(low)));
            }
            // The next position must lie strictly left of this one.
            let moves_left = match &position {
                Bound::Unbounded => true,
                Bound::Included(k) => low.as_slice() <= k.as_slice(),
                Bound::Excluded(k) => low.as_slice() < k.as_slice(),
            };
            if !moves_left {
                return Err(Error::corrupted(self.at.root, "branch separators are out of order"));
            }
            position = Bound::Excluded(low);
        }
        Err(Error::corrupted(self.at.root, "backward scan did not end: the tree has a cycle"))
    }

    /// Descend to the leaf holding the greatest keys within `end` (the rightmost leaf for
    /// `Unbounded`; for `Excluded(k)`, the leaf of the keys just below `k`). Calls `f` with the
    /// leaf, and returns its result with the smallest key that leaf may hold, if it has a left
    /// neighbour.
    fn with_leaf_below<T>(
        &self,
        end: &Bound<Vec<u8>>,
        f: impl FnOnce(&NodeRef<'_>) -> Result<T>,
    ) -> Result<(T, Option<Vec<u8>>)> {
        // Past every separator `<= k` (Included), or every separator `< k` (Excluded), or all.
        let goes_right = |sep: &[u8]| match end {
            Bound::Unbounded => true,
            Bound::Included(k) => cmp_keys(sep, k).is_le(),
            Bound::Excluded(k) => cmp_keys(sep, k).is_lt(),
        };
        self.descend(goes_right, Keep::Low, |_, node, low| Ok((f(node)?, low)))
    }
}

/// A leaf being read an entry at a time (see [`Tree::leaf_from`]).
pub(crate) struct LeafAt {
    page: u64,
    bytes: PageBytes,
    /// The index of the next entry to read, and how many the leaf has.
    next: usize,
    count: usize,
    /// The smallest key of the leaves to its right (`None`: it is the last leaf).
    high: Option<Vec<u8>>,
}

impl LeafAt {
    /// Whether every entry of the leaf has been read.
    pub(crate) fn done(&self) -> bool {
        self.next >= self.count
    }
}

fn unreachable_branch<T>() -> Result<T> {
    Err(Error::corrupted(0, "internal: a branch where a leaf was found"))
}

fn owned_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Inline(b) => Value::Inline(b.to_vec()),
        ValueRef::Overflow { len, first } => Value::Overflow { len, first },
    }
}
