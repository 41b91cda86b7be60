//! Merging many sorted changes into the tree at once (the write buffer's fold): one descent per
//! subtree the changes fall in, each leaf taken, changed by all of its changes and put back once,
//! split into as many pages as it then needs, and underfull pages merged with a neighbour by
//! their parent, as [`Engine::put_value`] and [`Engine::delete`] would leave them one key at a
//! time.

use super::Engine;
use super::buffer::Change;
use crate::error::{Error, Result};
use crate::layout::file::{MAX_TREE_DEPTH, PAGE_HEADER_BYTES};
use crate::layout::node::{Branch, Leaf, Node, NodeView, ValueRef, cmp_keys};

/// What merging changes into a subtree left in its place: its first page, the pages to its
/// right (each after its separator), and which of them (first included) are underfull.
struct Merged {
    first: u64,
    rest: Vec<(Vec<u8>, u64)>,
    underfull: Vec<bool>,
}

/// Pages put in place: the first, and the others after their separators.
type Placed = (u64, Vec<(Vec<u8>, u64)>);

impl Merged {
    /// A subtree the changes left as it was.
    fn unchanged(page: u64) -> Merged {
        Merged { first: page, rest: Vec::new(), underfull: vec![false] }
    }
}

impl Engine {
    /// Apply `changes` (ascending, one per key; `None` deletes) to the tree. Every value must fit
    /// in a leaf (the write buffer holds no other). The key count follows.
    pub(crate) fn apply_sorted(&mut self, changes: &[(&[u8], Change<'_>)]) -> Result<()> {
        debug_assert!(changes.windows(2).all(|w| cmp_keys(w[0].0, w[1].0).is_lt()));
        if changes.is_empty() {
            return Ok(());
        }
        let root = self.meta.root;
        let merged = self.merge_rec(root, 1, true, changes)?;
        let (mut first, mut rest) = (merged.first, merged.rest);
        // A root that split (into any number of pages) gets a parent, as many times as it takes.
        while !rest.is_empty() {
            let pieces = split_branch_to_fit(Branch::new(first, rest), self.page_size)
                .ok_or_else(|| Error::corrupted(first, "branch entries too large to split"))?;
            (first, rest) = self.place_pieces(None, pieces.into_iter().map(|(s, b)| (s, Node::Branch(b))))?;
            self.meta.depth += 1;
            if self.meta.depth > MAX_TREE_DEPTH {
                return Err(Error::corrupted(first, "tree grew past the depth limit"));
            }
        }
        self.meta.root = first;
        self.collapse_root()
    }

    /// Merge `changes` (all inside the key range of `page`, at `level`) into its subtree.
    /// `rightmost`: this page is the last at its level, where appends in key order land.
    fn merge_rec(
        &mut self,
        page: u64,
        level: u32,
        rightmost: bool,
        changes: &[(&[u8], Change<'_>)],
    ) -> Result<Merged> {
        if level == self.meta.depth && !self.leaf_would_change(page, changes)? {
            // Deletes of keys that are not there: nothing is copied.
            return Ok(Merged::unchanged(page));
        }
        let (page, node) = self.take_node(page)?;
        self.changed = true;
        match node {
            Node::Leaf(leaf) => {
                if level != self.meta.depth {
                    return Err(Error::corrupted(page, "leaf above the bottom level of the tree"));
                }
                self.merge_leaf(page, leaf, rightmost, changes)
            }
            Node::Branch(br) => {
                if level >= self.meta.depth {
                    return Err(Error::corrupted(page, "branch at the bottom level of the tree"));
                }
                self.merge_branch(page, br, level, rightmost, changes)
            }
        }
    }

    /// Whether `changes` change the leaf `page`: a put does; a delete does when its key is there.
    fn leaf_would_change(&self, page: u64, changes: &[(&[u8], Change<'_>)]) -> Result<bool> {
        if changes.iter().any(|(_, c)| c.is_some()) {
            return Ok(true);
        }
        match self.tree().node(page)? {
            super::pages::NodeRef::Working(Node::Leaf(l)) => {
                Ok(changes.iter().any(|(k, _)| l.search(k).is_ok()))
            }
            super::pages::NodeRef::Working(Node::Branch(_)) => Ok(true),
            super::pages::NodeRef::Clean(no, bytes) => {
                let view = NodeView::new(no, &bytes)?;
                if !view.is_leaf() {
                    // Taken and refused as a branch at the bottom level.
                    return Ok(true);
                }
                for (k, _) in changes {
                    if view.search(k)?.is_ok() {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }

    fn merge_leaf(
        &mut self,
        page: u64,
        mut leaf: Leaf,
        rightmost: bool,
        changes: &[(&[u8], Change<'_>)],
    ) -> Result<Merged> {
        // Keys in order past the last one of the last leaf (a load): its pages are filled.
        let appends = rightmost
            && leaf
                .len()
                .checked_sub(1)
                .is_none_or(|last| cmp_keys(leaf.entry(last).key, changes[0].0).is_lt());
        for &(key, change) in changes {
            match (leaf.search(key), change) {
                (Ok(i), Some(value)) => {
                    let old = leaf.replace_value(i, ValueRef::Inline(value));
                    self.free_value(old, 0)?;
                }
                (Ok(i), None) => {
                    let old = leaf.remove(i);
                    self.meta.key_count = self.meta.key_count.saturating_sub(1);
                    self.free_value(old, 0)?;
                }
                (Err(i), Some(value)) => {
                    leaf.insert(i, key, ValueRef::Inline(value));
                    self.meta.key_count = self.meta.key_count.saturating_add(1);
                }
                (Err(_), None) => {}
            }
        }
        let pieces = if leaf.encoded_len() <= self.page_size {
            Some(vec![(None, leaf)])
        } else if appends {
            pack_leaf(leaf, self.page_size)
        } else {
            split_leaf_to_fit(leaf, self.page_size)
        }
        .ok_or_else(|| Error::corrupted(page, "leaf entries too large to split"))?;
        let quarter = self.page_size / 4;
        let underfull = pieces.iter().map(|(_, l)| l.encoded_len() < quarter).collect();
        let (first, rest) =
            self.place_pieces(Some(page), pieces.into_iter().map(|(s, l)| (s, Node::Leaf(l))))?;
        Ok(Merged { first, rest, underfull })
    }

    fn merge_branch(
        &mut self,
        page: u64,
        mut br: Branch,
        level: u32,
        rightmost: bool,
        changes: &[(&[u8], Change<'_>)],
    ) -> Result<Merged> {
        // Each child's share of the changes: those below its upper separator.
        let mut parts = Vec::new();
        let mut start = 0;
        while start < changes.len() {
            let idx = br.child_index(changes[start].0);
            let end = if idx < br.len() {
                let above = br.entry(idx).0;
                start + changes[start..].partition_point(|(k, _)| cmp_keys(k, above).is_lt())
            } else {
                changes.len()
            };
            parts.push((idx, start..end));
            start = end;
        }
        // Right to left: the pages a child splits into go in after it, and the children to its
        // left keep their places.
        let mut underfull: Vec<usize> = Vec::new();
        for (idx, range) in parts.into_iter().rev() {
            let child = br.child(idx);
            self.tree().check_link(child, page)?;
            let last = idx + 1 == br.child_count();
            let merged = self.merge_rec(child, level + 1, rightmost && last, &changes[range])?;
            br.set_child(idx, merged.first);
            // The pages' keys lie between the child's two separators unless a page was changed
            // and resealed; then the new separators would break the branch's order.
            let mut below = idx.checked_sub(1).map(|i| br.entry(i).0.to_vec());
            let above = (idx < br.len()).then(|| br.entry(idx).0.to_vec());
            for (sep, _) in &merged.rest {
                if below.as_ref().is_some_and(|b| cmp_keys(b, sep).is_ge())
                    || above.as_ref().is_some_and(|a| cmp_keys(sep, a).is_ge())
                {
                    return Err(Error::corrupted(
                        page,
                        "a child holds keys outside the range its parent gives it",
                    ));
                }
                below = Some(sep.clone());
            }
            let added = merged.rest.len();
            for (j, (sep, right)) in merged.rest.iter().enumerate() {
                br.insert(idx + j, sep, *right);
            }
            for u in &mut underfull {
                *u += added;
            }
            underfull.extend(merged.underfull.iter().enumerate().filter(|(_, u)| **u).map(|(j, _)| idx + j));
        }
        // Underfull children merged with a neighbour, from the right: a merge takes one child
        // away, at or left of the one looked at.
        underfull.sort_unstable_by(|a, b| b.cmp(a));
        for idx in underfull {
            if br.child_count() > 1 && idx < br.child_count() {
                self.rebalance(&mut br, idx, page)?;
            }
        }
        let pieces = if br.encoded_len() <= self.page_size {
            vec![(None, br)]
        } else {
            split_branch_to_fit(br, self.page_size)
                .ok_or_else(|| Error::corrupted(page, "branch entries too large to split"))?
        };
        let quarter = self.page_size / 4;
        let underfull = pieces.iter().map(|(_, b)| b.encoded_len() < quarter).collect();
        let (first, rest) =
            self.place_pieces(Some(page), pieces.into_iter().map(|(s, b)| (s, Node::Branch(b))))?;
        Ok(Merged { first, rest, underfull })
    }

    /// Put nodes in place: the first on `page` (this commit's, from [`Engine::take_node`]) or a
    /// page allocated for it, each other on a page allocated for it. Returns the first page and
    /// the others after their separators.
    fn place_pieces(
        &mut self,
        page: Option<u64>,
        pieces: impl Iterator<Item = (Option<Vec<u8>>, Node)>,
    ) -> Result<Placed> {
        let mut first = None;
        let mut rest = Vec::new();
        for (sep, node) in pieces {
            let at = match (first, page) {
                (None, Some(p)) => p,
                _ => self.alloc(super::tree_write::node_kind(&node))?,
            };
            self.put_working(at, node);
            match (first, sep) {
                (None, _) => first = Some(at),
                (Some(_), Some(sep)) => rest.push((sep, at)),
                (Some(_), None) => return Err(Error::corrupted(at, "a split page without a separator")),
            }
        }
        let first = first.ok_or_else(|| Error::corrupted(page.unwrap_or(0), "a page merged into nothing"))?;
        Ok((first, rest))
    }
}

/// Cut `leaf` into pages filled in key order, each as full as it can be: for keys appended past
/// the end of the tree, where no key will land between them. Each piece after the first comes
/// with its first key as separator. `None` when an entry does not fit a page.
fn pack_leaf(mut leaf: Leaf, page_size: usize) -> Option<Vec<(Option<Vec<u8>>, Leaf)>> {
    let mut cuts = Vec::new();
    let mut used = PAGE_HEADER_BYTES;
    for i in 0..leaf.len() {
        let len = leaf.entry_len(i);
        if PAGE_HEADER_BYTES + len > page_size {
            return None;
        }
        if used + len > page_size {
            cuts.push(i);
            used = PAGE_HEADER_BYTES;
        }
        used += len;
    }
    let mut tails: Vec<Leaf> = cuts.iter().rev().map(|&at| leaf.split_off(at)).collect();
    tails.reverse();
    let mut out = vec![(None, leaf)];
    for tail in tails {
        let sep = tail.entry(0).key.to_vec();
        out.push((Some(sep), tail));
    }
    Some(out)
}

/// Cut `leaf` in halves by bytes, and those again, until each fits a page. `None` when an entry
/// does not fit a page.
fn split_leaf_to_fit(leaf: Leaf, page_size: usize) -> Option<Vec<(Option<Vec<u8>>, Leaf)>> {
    let mut out = Vec::new();
    halve_leaf(leaf, None, page_size, &mut out)?;
    Some(out)
}

fn halve_leaf(
    mut leaf: Leaf,
    sep: Option<Vec<u8>>,
    page_size: usize,
    out: &mut Vec<(Option<Vec<u8>>, Leaf)>,
) -> Option<()> {
    if leaf.encoded_len() <= page_size {
        out.push((sep, leaf));
        return Some(());
    }
    let sizes: Vec<usize> = (0..leaf.len()).map(|i| leaf.entry_len(i)).collect();
    let cut = half_cut(&sizes, |_| 0)?;
    let right = leaf.split_off(cut);
    let right_sep = right.entry(0).key.to_vec();
    halve_leaf(leaf, sep, page_size, out)?;
    halve_leaf(right, Some(right_sep), page_size, out)
}

/// Cut `br` around middle separators (each moves up) until each piece fits a page. `None` when
/// the entries cannot be cut so.
fn split_branch_to_fit(br: Branch, page_size: usize) -> Option<Vec<(Option<Vec<u8>>, Branch)>> {
    let mut out = Vec::new();
    halve_branch(br, None, page_size, &mut out)?;
    Some(out)
}

fn halve_branch(
    mut br: Branch,
    sep: Option<Vec<u8>>,
    page_size: usize,
    out: &mut Vec<(Option<Vec<u8>>, Branch)>,
) -> Option<()> {
    if br.encoded_len() <= page_size {
        out.push((sep, br));
        return Some(());
    }
    let sizes: Vec<usize> = (0..br.len()).map(|i| br.entry_len(i)).collect();
    if sizes.len() < 3 {
        return None;
    }
    // Entry m moves up: the left keeps entries ..m, the right m+1..
    let m = half_cut(&sizes, |m| sizes[m])?;
    let (up, right) = br.split_at(m);
    halve_branch(br, sep, page_size, out)?;
    halve_branch(right, Some(up), page_size, out)
}

/// The cut in `1..n` that leaves the two sides' bytes most even; `moved(cut)` bytes at the cut
/// leave both (a branch's separator moving up). `None` for fewer than two entries.
fn half_cut(sizes: &[usize], moved: impl Fn(usize) -> usize) -> Option<usize> {
    let total: usize = sizes.iter().sum();
    let mut prefix = 0;
    let mut best: Option<(usize, usize)> = None;
    for cut in 1..sizes.len() {
        prefix += sizes[cut - 1];
        let worst = prefix.max(total - prefix - moved(cut));
        if best.is_none_or(|(_, w)| worst < w) {
            best = Some((cut, worst));
        }
    }
    best.map(|(cut, _)| cut)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use crate::layout::node::ValueRef;
    use crate::{Durability, KVStore, OpenOptions};

    /// A store of 1 KiB pages whose commits go straight to the tree.
    fn store(dir: &std::path::Path, name: &str) -> KVStore {
        OpenOptions::new()
            .page_size(1024)
            .durability(Durability::Buffered)
            .write_buffer_bytes(0)
            .open(dir.join(name))
            .unwrap()
    }

    fn key(i: u16, long: bool) -> Vec<u8> {
        // Long keys fill branches fast, so a few hundred keys make a deep tree.
        if long { format!("{i:05}-{:060}", i).into_bytes() } else { format!("{i:05}").into_bytes() }
    }

    type Changes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

    /// Merge `changes` with `apply_sorted` into one store and a key at a time into another:
    /// the same keys, values and count, and both trees whole.
    fn merged_like_one_at_a_time(base: &[Vec<u8>], changes: &Changes) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        let (bulk, single) = (store(dir.path(), "bulk.db"), store(dir.path(), "single.db"));
        for s in [&bulk, &single] {
            for k in base {
                s.put(k, [7u8; 30]).unwrap();
            }
            s.checkpoint().unwrap();
        }
        let borrowed: Vec<(&[u8], Option<&[u8]>)> =
            changes.iter().map(|(k, v)| (k.as_slice(), v.as_deref())).collect();
        bulk.with_engine(|e| {
            e.begin_commit();
            e.apply_sorted(&borrowed).unwrap();
            e.publish();
        });
        single.with_engine(|e| {
            e.begin_commit();
            for (k, v) in &borrowed {
                match v {
                    Some(v) => e.put_value(k, ValueRef::Inline(v)).map(|_| ()).unwrap(),
                    None => e.delete(k).map(|_| ()).unwrap(),
                }
            }
            e.publish();
        });
        let dump = |s: &KVStore| s.iter().map(Result::unwrap).collect::<BTreeMap<_, _>>();
        prop_assert_eq!(dump(&bulk), dump(&single));
        prop_assert_eq!(bulk.len(), single.len());
        prop_assert_eq!(bulk.len(), dump(&bulk).len() as u64);
        for s in [&bulk, &single] {
            let report = s.check().unwrap();
            prop_assert!(report.is_ok(), "{:?}", report.problems);
            s.checkpoint().unwrap();
        }
        // The pages the merge wrote read back from the file as they were in memory.
        drop(bulk);
        let reopened = store(dir.path(), "bulk.db");
        prop_assert_eq!(dump(&reopened), dump(&single));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Puts of new and present keys and deletes of present and absent ones, over trees of
        /// one leaf to four levels, with values from empty to as large as a leaf holds: many pages
        /// split from one leaf, whole subtrees emptied.
        #[test]
        fn a_merge_leaves_what_one_change_at_a_time_leaves(
            base_n in 0u16..600,
            long in any::<bool>(),
            picks in proptest::collection::btree_map(0u16..1200, (any::<bool>(), 0usize..170), 0..500),
        ) {
            let base: Vec<Vec<u8>> = (0..base_n).map(|i| key(i * 2, long)).collect();
            let changes: Changes = picks
                .into_iter()
                .map(|(i, (put, len))| (key(i, long), put.then(|| vec![i.to_le_bytes()[0]; len])))
                .collect();
            merged_like_one_at_a_time(&base, &changes)?;
        }
    }

    #[test]
    fn deleting_every_key_at_once_leaves_one_empty_leaf() {
        let base: Vec<Vec<u8>> = (0..800).map(|i| key(i, true)).collect();
        let changes: Changes = base.iter().map(|k| (k.clone(), None)).collect();
        merged_like_one_at_a_time(&base, &changes).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), "t.db");
        for k in &base {
            s.put(k, [1u8; 30]).unwrap();
        }
        assert!(s.stats().tree_depth >= 3);
        let borrowed: Vec<(&[u8], Option<&[u8]>)> =
            changes.iter().map(|(k, _)| (k.as_slice(), None)).collect();
        s.with_engine(|e| {
            e.begin_commit();
            e.apply_sorted(&borrowed).unwrap();
            e.publish();
        });
        let st = s.stats();
        assert_eq!((st.tree_depth, st.key_count, st.branch_pages, st.leaf_pages), (1, 0, 0, 1), "{st:?}");
    }

    #[test]
    fn appends_past_the_last_key_fill_their_pages() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), "t.db");
        let changes: Changes = (0..2000).map(|i| (key(i, false), Some(vec![3u8; 40]))).collect();
        let borrowed: Vec<(&[u8], Option<&[u8]>)> =
            changes.iter().map(|(k, v)| (k.as_slice(), v.as_deref())).collect();
        s.with_engine(|e| {
            e.begin_commit();
            e.apply_sorted(&borrowed).unwrap();
            e.publish();
        });
        let st = s.stats();
        let per_page =
            (1024 - crate::layout::file::PAGE_HEADER_BYTES) / crate::layout::node::inline_entry_len(5, 40);
        assert_eq!(st.key_count, 2000);
        // Every page full but the last (halving would leave them half to full).
        assert_eq!(st.leaf_pages, 2000u64.div_ceil(per_page as u64), "{st:?}");
        assert!(s.check().unwrap().is_ok());
    }
}
