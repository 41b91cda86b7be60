//! Writing the tree: inserts and deletes, copying each page they change to a fresh one (unless it
//! already is), splitting overfull pages and merging underfull neighbours.

use super::Engine;
use super::pages::NodeRef;
use crate::error::{Error, Result};
use crate::layout::file::{MAX_TREE_DEPTH, PAGE_HEADER_BYTES, PageKind};
use crate::layout::node::{Branch, Leaf, Node, NodeView, OldValue, ValueRef, cmp_keys};

struct Inserted {
    page: u64,
    split: Option<(Vec<u8>, u64)>,
    old: Option<OldValue>,
}

struct Deleted {
    page: u64,
    old: Option<OldValue>,
    underfull: bool,
}

impl Engine {
    /// Take `page` out for changing: the same page when the commit being built allocated it,
    /// else a copy on a page it allocates (and the original is released).
    pub(super) fn take_node(&mut self, page: u64) -> Result<(u64, Node)> {
        if let Some(node) = self.working.remove(&page) {
            return Ok((page, node));
        }
        let node = Node::decode_valid(page, &self.pages.read_raw(page)?)?;
        if self.this_commit.contains(&page) {
            // Written out by a spill in the middle of a large commit: still this commit's.
            return Ok((page, node));
        }
        let kind = node_kind(&node);
        let copy = self.alloc(kind)?;
        self.release(page, kind);
        Ok((copy, node))
    }

    /// Take `page` out to merge it away: it is released.
    fn take_node_to_free(&mut self, page: u64) -> Result<Node> {
        let node = match self.working.remove(&page) {
            Some(n) => n,
            None => Node::decode_valid(page, &self.pages.read_raw(page)?)?,
        };
        self.release(page, node_kind(&node));
        Ok(node)
    }

    pub(super) fn put_working(&mut self, page: u64, node: Node) {
        debug_assert!(self.this_commit.contains(&page));
        debug_assert!(node.size_is_consistent(), "kept byte count of page {page} is off");
        debug_assert!(
            node.encoded_len() <= self.page_size,
            "oversized node for page {page}: {}",
            node.encoded_len()
        );
        self.working.insert(page, node);
    }

    fn node_size(&self, page: u64) -> Result<(usize, bool)> {
        match self.tree().node(page)? {
            NodeRef::Working(n) => Ok((n.encoded_len(), matches!(n, Node::Leaf(_)))),
            NodeRef::Clean(no, bytes) => {
                let v = NodeView::new(no, &bytes)?;
                Ok((v.used_bytes()?, v.is_leaf()))
            }
        }
    }

    /// Insert or replace with a value from [`Engine::prepare_value`]; `Ok(true)` when the key
    /// is new.
    pub(crate) fn put_value(&mut self, key: &[u8], value: ValueRef<'_>) -> Result<bool> {
        self.changed = true;
        let root = self.meta.root;
        let ins = self.insert_rec(root, 1, true, key, value)?;
        self.meta.root = ins.page;
        if let Some((sep, right)) = ins.split {
            let new_root = self.alloc(PageKind::Branch)?;
            self.put_working(new_root, Node::Branch(Branch::new(ins.page, vec![(sep, right)])));
            self.meta.root = new_root;
            self.meta.depth += 1;
            if self.meta.depth > MAX_TREE_DEPTH {
                return Err(Error::corrupted(new_root, "tree grew past the depth limit"));
            }
        }
        let is_new = ins.old.is_none();
        if let Some(old) = ins.old {
            self.free_value(old, 0)?;
        } else {
            self.meta.key_count = self.meta.key_count.saturating_add(1);
        }
        Ok(is_new)
    }

    /// `rightmost`: this page is the last at its level, where appends in key order land.
    fn insert_rec(
        &mut self,
        page: u64,
        level: u32,
        rightmost: bool,
        key: &[u8],
        value: ValueRef<'_>,
    ) -> Result<Inserted> {
        let (page, node) = self.take_node(page)?;
        match node {
            Node::Leaf(mut leaf) => {
                if level != self.meta.depth {
                    return Err(Error::corrupted(page, "leaf above the bottom level of the tree"));
                }
                let (old, appended) = match leaf.search(key) {
                    Ok(i) => (Some(leaf.replace_value(i, value)), false),
                    Err(i) => {
                        leaf.insert(i, key, value);
                        (None, rightmost && i + 1 == leaf.len())
                    }
                };
                let split = if leaf.encoded_len() > self.page_size {
                    let right = split_leaf(&mut leaf, appended, self.page_size)
                        .ok_or_else(|| Error::corrupted(page, "leaf entries too large to split"))?;
                    let sep = right.entry(0).key.to_vec();
                    let rp = self.alloc(PageKind::Leaf)?;
                    self.put_working(rp, Node::Leaf(right));
                    Some((sep, rp))
                } else {
                    None
                };
                self.put_working(page, Node::Leaf(leaf));
                Ok(Inserted { page, split, old })
            }
            Node::Branch(mut br) => {
                if level >= self.meta.depth {
                    return Err(Error::corrupted(page, "branch at the bottom level of the tree"));
                }
                // Appends in key order (a load) go past the last separator of every rightmost
                // branch: one comparison instead of a search.
                let past_last = rightmost && br.len() > 0 && cmp_keys(br.entry(br.len() - 1).0, key).is_le();
                let idx = if past_last { br.len() } else { br.child_index(key) };
                let child = br.child(idx);
                self.tree().check_link(child, page)?;
                let last = idx + 1 == br.child_count();
                let ins = self.insert_rec(child, level + 1, rightmost && last, key, value)?;
                br.set_child(idx, ins.page);
                if let Some((sep, right)) = ins.split {
                    // The child's keys lie between its two separators unless a page was changed
                    // and resealed; then the new separator would break the branch's order.
                    let below = idx.checked_sub(1).map(|i| br.entry(i).0);
                    let above = (idx < br.len()).then(|| br.entry(idx).0);
                    if below.is_some_and(|b| cmp_keys(b, &sep).is_ge())
                        || above.is_some_and(|a| cmp_keys(&sep, a).is_ge())
                    {
                        return Err(Error::corrupted(
                            page,
                            "a child holds keys outside the range its parent gives it",
                        ));
                    }
                    br.insert(idx, &sep, right);
                }
                let split = if br.encoded_len() > self.page_size {
                    let (sep, right) = split_branch(&mut br, self.page_size)
                        .ok_or_else(|| Error::corrupted(page, "branch entries too large to split"))?;
                    let rp = self.alloc(PageKind::Branch)?;
                    self.put_working(rp, Node::Branch(right));
                    Some((sep, rp))
                } else {
                    None
                };
                self.put_working(page, Node::Branch(br));
                Ok(Inserted { page, split, old: ins.old })
            }
        }
    }

    /// Delete; `Ok(true)` when the key existed.
    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<bool> {
        // A missing key changes nothing: no page is copied.
        let Some(path) = self.path_to(key)? else { return Ok(false) };
        self.changed = true;
        let root = self.meta.root;
        let del = self.delete_rec(root, 1, key, &path)?;
        self.meta.root = del.page;
        self.collapse_root()?;
        if let Some(old) = del.old {
            self.meta.key_count = self.meta.key_count.saturating_sub(1);
            self.free_value(old, 0)?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// A root branch left with one child hands the root to it, as often as that holds.
    pub(super) fn collapse_root(&mut self) -> Result<()> {
        while self.meta.depth > 1 {
            let root = self.meta.root;
            let only_child = match self.tree().node(root)? {
                NodeRef::Working(Node::Branch(b)) if b.len() == 0 => Some(b.first_child),
                NodeRef::Clean(no, bytes) => {
                    let v = NodeView::new(no, &bytes)?;
                    (!v.is_leaf() && v.count() == 0).then(|| v.first_child())
                }
                _ => None,
            };
            let Some(child) = only_child else { break };
            self.tree().check_link(child, root)?;
            self.release(root, PageKind::Branch);
            self.meta.root = child;
            self.meta.depth -= 1;
        }
        Ok(())
    }

    /// The child taken at each branch on the way to `key`'s leaf, read in place; `None` when the
    /// key is not there.
    fn path_to(&self, key: &[u8]) -> Result<Option<Vec<usize>>> {
        let tree = self.tree();
        let goes_right = |sep: &[u8]| cmp_keys(sep, key).is_le();
        let mut path = Vec::with_capacity(self.meta.depth as usize);
        let mut page = self.meta.root;
        for level in 1..=self.meta.depth {
            let (leaf, next) = match tree.node(page)? {
                NodeRef::Working(Node::Leaf(l)) => (Some(l.search(key).is_ok()), None),
                NodeRef::Working(Node::Branch(b)) => {
                    let idx = b.partition_point(goes_right);
                    (None, Some((idx, b.child(idx))))
                }
                NodeRef::Clean(no, bytes) => {
                    let view = NodeView::new(no, &bytes)?;
                    if view.is_leaf() {
                        (Some(view.search(key)?.is_ok()), None)
                    } else {
                        let idx = view.partition_point(goes_right)?;
                        (None, Some((idx, view.child(idx)?)))
                    }
                }
            };
            match (leaf, next) {
                (Some(found), _) if level == self.meta.depth => return Ok(found.then_some(path)),
                (Some(_), _) => {
                    return Err(Error::corrupted(page, "leaf above the bottom level of the tree"));
                }
                (None, Some((idx, child))) if level < self.meta.depth => {
                    tree.check_link(child, page)?;
                    path.push(idx);
                    page = child;
                }
                _ => return Err(Error::corrupted(page, "branch at the bottom level of the tree")),
            }
        }
        Err(Error::corrupted(self.meta.root, "tree has no levels"))
    }

    /// Delete `key`, which `path` (from [`Engine::path_to`]) leads to: each branch on the way is
    /// taken for changing with the child already chosen, not searched again.
    fn delete_rec(&mut self, page: u64, level: u32, key: &[u8], path: &[usize]) -> Result<Deleted> {
        let (page, node) = self.take_node(page)?;
        let quarter = self.page_size / 4;
        match node {
            Node::Leaf(mut leaf) => {
                if level != self.meta.depth {
                    return Err(Error::corrupted(page, "leaf above the bottom level of the tree"));
                }
                let old = leaf.search(key).ok().map(|i| leaf.remove(i));
                let underfull = leaf.encoded_len() < quarter;
                self.put_working(page, Node::Leaf(leaf));
                Ok(Deleted { page, old, underfull })
            }
            Node::Branch(mut br) => {
                if level >= self.meta.depth {
                    return Err(Error::corrupted(page, "branch at the bottom level of the tree"));
                }
                let Some(&idx) = path.get(level as usize - 1).filter(|&&i| i < br.child_count()) else {
                    return Err(Error::corrupted(page, "a branch read again has fewer children"));
                };
                debug_assert_eq!(idx, br.child_index(key), "page {page} decoded differs from its view");
                let child = br.child(idx);
                self.tree().check_link(child, page)?;
                let del = self.delete_rec(child, level + 1, key, path)?;
                br.set_child(idx, del.page);
                if del.underfull && br.child_count() > 1 {
                    self.rebalance(&mut br, idx, page)?;
                }
                let underfull = br.encoded_len() < quarter;
                self.put_working(page, Node::Branch(br));
                Ok(Deleted { page, old: del.old, underfull })
            }
        }
    }

    /// Merge the underfull child `idx` of `br` with a neighbour when the two fit in one page.
    pub(super) fn rebalance(&mut self, br: &mut Branch, idx: usize, br_page: u64) -> Result<()> {
        let (li, ri) = if idx > 0 { (idx - 1, idx) } else { (0, 1) };
        let (lp, rp) = (br.child(li), br.child(ri));
        self.tree().check_link(lp, br_page)?;
        self.tree().check_link(rp, br_page)?;
        let (lsize, lleaf) = self.node_size(lp)?;
        let (rsize, rleaf) = self.node_size(rp)?;
        if lleaf != rleaf {
            return Err(Error::corrupted(br_page, "children of one branch are at different levels"));
        }
        let sep_len = br.entry_len(ri - 1);
        let merged = lsize + rsize - PAGE_HEADER_BYTES + if lleaf { 0 } else { sep_len };
        if merged > self.page_size {
            return Ok(());
        }
        let (lp2, left) = self.take_node(lp)?;
        let right = self.take_node_to_free(rp)?;
        let (sep, _) = br.remove(ri - 1);
        // Each page was valid alone; merged, their keys must still ascend (a page changed and
        // resealed can hold keys its neighbour's range owns): the merge would write a page that
        // breaks the layout's invariants.
        let out_of_order = |low: Option<&[u8]>, high: Option<&[u8]>| {
            low.zip(high).is_some_and(|(a, b)| cmp_keys(a, b).is_ge())
        };
        let merged = match (left, right) {
            (Node::Leaf(mut l), Node::Leaf(r)) => {
                let last = l.len().checked_sub(1).map(|i| l.entry(i).key);
                if out_of_order(last, r.iter().next().map(|e| e.key)) {
                    return Err(Error::corrupted(br_page, "keys out of order between neighbouring leaves"));
                }
                l.append(r);
                Node::Leaf(l)
            }
            (Node::Branch(mut l), Node::Branch(r)) => {
                let last = l.len().checked_sub(1).map(|i| l.entry(i).0);
                let first = (r.len() > 0).then(|| r.entry(0).0);
                if out_of_order(last, Some(&sep)) || out_of_order(Some(&sep), first) {
                    return Err(Error::corrupted(br_page, "keys out of order between neighbouring branches"));
                }
                let seam = l.child_count();
                l.append(&sep, r);
                // The children that now meet: merged too when one is underfull (many deletes
                // at once, a fold's, can leave both sides nearly empty).
                let quarter = self.page_size / 4;
                if self.node_size(l.child(seam - 1))?.0 < quarter
                    || self.node_size(l.child(seam))?.0 < quarter
                {
                    self.rebalance(&mut l, seam, lp2)?;
                }
                Node::Branch(l)
            }
            _ => return Err(Error::corrupted(br_page, "children of one branch are at different levels")),
        };
        self.put_working(lp2, merged);
        br.set_child(li, lp2);
        Ok(())
    }
}

pub(super) fn node_kind(node: &Node) -> PageKind {
    match node {
        Node::Leaf(_) => PageKind::Leaf,
        Node::Branch(_) => PageKind::Branch,
    }
}

/// Split an overfull leaf; returns the right half. After an append at the end of the last leaf
/// (a load in key order) the left page keeps everything but the new entry, so such loads fill
/// pages; any other split halves the bytes.
fn split_leaf(leaf: &mut Leaf, appended: bool, page_size: usize) -> Option<Leaf> {
    let sizes: Vec<usize> = (0..leaf.len()).map(|i| leaf.entry_len(i)).collect();
    let n = sizes.len();
    if n < 2 {
        return None;
    }
    let total: usize = sizes.iter().sum();
    let cut = if appended && PAGE_HEADER_BYTES + total - sizes[n - 1] <= page_size {
        n - 1
    } else {
        best_cut(&sizes, page_size, |left, _| left, |right, _| right)?
    };
    Some(leaf.split_off(cut))
}

/// Split an overfull branch around a middle separator; returns it and the right half.
fn split_branch(br: &mut Branch, page_size: usize) -> Option<(Vec<u8>, Branch)> {
    let sizes: Vec<usize> = (0..br.len()).map(|i| br.entry_len(i)).collect();
    if sizes.len() < 3 {
        return None;
    }
    // Entry m moves up: the left keeps entries ..m, the right m+1..
    let m = best_cut(&sizes, page_size, |left, _| left, |right, m_size| right - m_size)?;
    Some(br.split_at(m))
}

/// The cut index in `1..n` that balances the two halves best with both fitting a page.
/// `left_of(prefix)` and `right_of(suffix, size_at_cut)` give each half's body bytes.
fn best_cut(
    sizes: &[usize],
    page_size: usize,
    left_of: impl Fn(usize, usize) -> usize,
    right_of: impl Fn(usize, usize) -> usize,
) -> Option<usize> {
    let total: usize = sizes.iter().sum();
    let mut prefix = 0;
    let mut best: Option<(usize, usize)> = None;
    for cut in 1..sizes.len() {
        prefix += sizes[cut - 1];
        let left = PAGE_HEADER_BYTES + left_of(prefix, sizes[cut]);
        let right = PAGE_HEADER_BYTES + right_of(total - prefix, sizes[cut]);
        if left <= page_size && right <= page_size {
            let worst = left.max(right);
            if best.is_none_or(|(_, w)| worst < w) {
                best = Some((cut, worst));
            }
        }
    }
    best.map(|(cut, _)| cut)
}
