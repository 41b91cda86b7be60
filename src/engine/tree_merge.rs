//! Merging many sorted changes into the tree at once (the write buffer's fold): one descent per
//! subtree the changes fall in, each leaf taken, changed by all of its changes and put back once,
//! split into as many pages as it then needs, and underfull pages merged with a neighbour by
//! their parent, as [`Engine::put_value`] and [`Engine::delete`] would leave them one key at a
//! time.

use super::Engine;
use super::buffer::Change;
use crate::error::{Error, Result};
use crate::layout::file::{MAX_TREE_DEPTH, PAGE_HEADER_BYTES, PageKind};
use crate::layout::node::{Branch, Leaf, Node, NodeView, ValueRef, cmp_keys};

/// What merging changes into a subtree left in its place: its first page and the pages to its
/// right, each after its separator.
struct Merged {
    first: u64,
    rest: Vec<(Vec<u8>, u64)>,
}

/// Pages put in place: the first, and the others after their separators.
type Placed = (u64, Vec<(Vec<u8>, u64)>);

impl Merged {
    /// A subtree the changes left as it was.
    fn unchanged(page: u64) -> Merged {
        Merged { first: page, rest: Vec::new() }
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
            vec![leaf]
        } else {
            let room = self.page_size - PAGE_HEADER_BYTES;
            let sizes: Vec<usize> = (0..leaf.len()).map(|i| leaf.entry_len(i)).collect();
            let cuts = if appends { fill_cuts(&sizes, room) } else { halving_cuts(&sizes, room) }
                .ok_or_else(|| Error::corrupted(page, "leaf entries too large to split"))?;
            cut_leaves(&[&leaf], &cuts, self.page_size)
        };
        let (first, rest) = self.place_pieces(Some(page), with_separators(pieces))?;
        Ok(Merged { first, rest })
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
            for (j, (sep, right)) in merged.rest.iter().enumerate() {
                br.insert(idx + j, sep, *right);
            }
        }
        if level + 1 == self.meta.depth {
            self.repack_leaf_runs(&mut br, page)?;
        }
        // Underfull children this commit changed merged with a neighbour, from the right: a
        // merge takes one child away, at or left of the one looked at.
        let quarter = self.page_size / 4;
        let mut idx = br.child_count();
        while idx > 0 && br.child_count() > 1 {
            idx -= 1;
            let underfull = self.working.get(&br.child(idx)).is_some_and(|n| n.encoded_len() < quarter);
            if underfull {
                self.rebalance(&mut br, idx, page)?;
                idx = idx.min(br.child_count());
            }
        }
        let pieces = if br.encoded_len() <= self.page_size {
            vec![(None, br)]
        } else {
            split_branch_to_fit(br, self.page_size)
                .ok_or_else(|| Error::corrupted(page, "branch entries too large to split"))?
        };
        let (first, rest) =
            self.place_pieces(Some(page), pieces.into_iter().map(|(s, b)| (s, Node::Branch(b))))?;
        Ok(Merged { first, rest })
    }

    /// Runs of neighbouring leaves under `br` that this commit has changed (each is written
    /// anyway) packed into as few pages as hold their entries, evenly. Random changes reach most
    /// leaves of a run at once; split one by one, a full leaf and a key become two half-full pages.
    fn repack_leaf_runs(&mut self, br: &mut Branch, br_page: u64) -> Result<()> {
        let changed = |e: &Engine, page: u64| matches!(e.working.get(&page), Some(Node::Leaf(_)));
        let mut end = br.child_count();
        while end > 0 {
            if !changed(self, br.child(end - 1)) {
                end -= 1;
                continue;
            }
            let mut start = end - 1;
            while start > 0 && changed(self, br.child(start - 1)) {
                start -= 1;
            }
            if end - start > 1 {
                self.repack_run(br, start..end, br_page)?;
            }
            end = start;
        }
        Ok(())
    }

    /// [`Engine::repack_leaf_runs`] for the children `run` of `br`, all leaves this commit holds.
    fn repack_run(&mut self, br: &mut Branch, run: std::ops::Range<usize>, br_page: u64) -> Result<()> {
        let room = self.page_size - PAGE_HEADER_BYTES;
        let pages: Vec<u64> = run.clone().map(|i| br.child(i)).collect();
        let leaves: Vec<&Leaf> = pages
            .iter()
            .filter_map(|p| match self.working.get(p) {
                Some(Node::Leaf(l)) => Some(l),
                _ => None,
            })
            .collect();
        let used: usize = leaves.iter().map(|l| l.encoded_len() - PAGE_HEADER_BYTES).sum();
        if leaves.len() != pages.len() || used.div_ceil(room) >= pages.len() {
            return Ok(());
        }
        let sizes: Vec<usize> = leaves.iter().flat_map(|l| (0..l.len()).map(|i| l.entry_len(i))).collect();
        let Some(cuts) = even_cuts(&sizes, room).filter(|c| c.len() + 1 < pages.len()) else {
            return Ok(());
        };
        // Each leaf was valid alone; together their keys must still ascend (a page changed and
        // resealed can hold keys its neighbour's range owns).
        let mut last: Option<&[u8]> = None;
        for leaf in &leaves {
            if let Some(first) = leaf.iter().next().map(|e| e.key)
                && last.is_some_and(|l| cmp_keys(l, first).is_ge())
            {
                return Err(Error::corrupted(br_page, "keys out of order between neighbouring leaves"));
            }
            last = leaf.iter().next_back().map(|e| e.key).or(last);
        }
        let pieces = cut_leaves(&leaves, &cuts, self.page_size);
        for p in &pages {
            self.working.remove(p);
        }
        for _ in 1..pages.len() {
            br.remove(run.start);
        }
        for (j, (sep, piece)) in with_separators(pieces).enumerate() {
            if let Some(sep) = sep {
                br.insert(run.start + j - 1, &sep, pages[j]);
            }
            self.put_working(pages[j], piece);
        }
        br.set_child(run.start, pages[0]);
        for &page in &pages[cuts.len() + 1..] {
            self.release(page, PageKind::Leaf);
        }
        Ok(())
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

/// Where to cut entries of `sizes` bytes into pieces of at most `limit` bytes, each filled in
/// order as full as it can be (for keys appended past the end of the tree, where no key will
/// land between them): the start of each piece after the first. `None` when an entry is larger
/// than `limit`.
fn fill_cuts(sizes: &[usize], limit: usize) -> Option<Vec<usize>> {
    let mut cuts = Vec::new();
    let mut used = 0;
    for (i, &len) in sizes.iter().enumerate() {
        if len > limit {
            return None;
        }
        if used + len > limit {
            cuts.push(i);
            used = 0;
        }
        used += len;
    }
    Some(cuts)
}

/// [`fill_cuts`] into the fewest pieces of at most `room` bytes, as even as they can be.
fn even_cuts(sizes: &[usize], room: usize) -> Option<Vec<usize>> {
    let fewest = fill_cuts(sizes, room)?.len();
    // The smallest limit that still needs no more pieces.
    let total: usize = sizes.iter().sum();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let (mut low, mut high) = (largest.max(total.div_ceil(fewest + 1)), room);
    while low < high {
        let mid = low + (high - low) / 2;
        if fill_cuts(sizes, mid).is_some_and(|c| c.len() <= fewest) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    fill_cuts(sizes, low)
}

/// Where to cut entries of `sizes` bytes in halves by bytes, and those again, until each piece
/// holds at most `room` bytes. `None` when an entry is larger than `room`.
fn halving_cuts(sizes: &[usize], room: usize) -> Option<Vec<usize>> {
    fn halve(sizes: &[usize], base: usize, room: usize, cuts: &mut Vec<usize>) -> Option<()> {
        if sizes.iter().sum::<usize>() <= room {
            return Some(());
        }
        let cut = half_cut(sizes, |_| 0)?;
        halve(&sizes[..cut], base, room, cuts)?;
        cuts.push(base + cut);
        halve(&sizes[cut..], base + cut, room, cuts)
    }
    let mut cuts = Vec::new();
    halve(sizes, 0, room, &mut cuts)?;
    Some(cuts)
}

/// The entries of `leaves` (in key order) cut before each of `cuts` (ascending, counted across
/// them all), each piece copied into a leaf with a buffer of a page's size.
fn cut_leaves(leaves: &[&Leaf], cuts: &[usize], page_size: usize) -> Vec<Leaf> {
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut piece = Leaf::for_page(page_size);
    let mut cuts = cuts.iter().copied().peekable();
    let mut done = 0;
    for leaf in leaves {
        let mut from = 0;
        while from < leaf.len() {
            let until = cuts.peek().map_or(leaf.len(), |&c| leaf.len().min(c - done + from));
            piece.extend_from(leaf, from..until);
            done += until - from;
            from = until;
            if cuts.peek() == Some(&done) {
                cuts.next();
                pieces.push(std::mem::replace(&mut piece, Leaf::for_page(page_size)));
            }
        }
    }
    pieces.push(piece);
    pieces
}

/// Leaves as nodes to put in place, each after the first with its first key as separator.
fn with_separators(pieces: Vec<Leaf>) -> impl Iterator<Item = (Option<Vec<u8>>, Node)> {
    pieces.into_iter().enumerate().map(|(j, leaf)| {
        let sep = (j > 0).then(|| leaf.entry(0).key.to_vec());
        (sep, Node::Leaf(leaf))
    })
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

    /// Apply `changes` with `apply_sorted` to `bulk` and a key at a time to `single`, one commit
    /// each.
    fn apply_both(bulk: &KVStore, single: &KVStore, changes: &Changes) {
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
    }

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
        apply_both(&bulk, &single, changes);
        let dump = |s: &KVStore| s.iter().map(Result::unwrap).collect::<BTreeMap<_, _>>();
        prop_assert_eq!(dump(&bulk), dump(&single));
        prop_assert_eq!(bulk.len().unwrap(), single.len().unwrap());
        prop_assert_eq!(bulk.len().unwrap(), dump(&bulk).len() as u64);
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

    proptest! {
        /// The fewest pieces, none over the limit, the largest at most an entry over an even share.
        #[test]
        fn even_cuts_make_the_fewest_even_pieces(
            sizes in proptest::collection::vec(1usize..300, 0..200),
            room in 300usize..2000,
        ) {
            let cuts = super::even_cuts(&sizes, room).unwrap();
            let fewest = super::fill_cuts(&sizes, room).unwrap().len();
            prop_assert_eq!(cuts.len(), fewest);
            let bounds: Vec<usize> = std::iter::once(0).chain(cuts.iter().copied()).chain([sizes.len()]).collect();
            let pieces: Vec<usize> = bounds.windows(2).map(|w| sizes[w[0]..w[1]].iter().sum()).collect();
            let total: usize = sizes.iter().sum();
            let even = total.div_ceil(fewest + 1) + sizes.iter().copied().max().unwrap_or(0);
            for p in &pieces {
                prop_assert!(*p <= room && *p <= even, "{pieces:?} room {room} even {even}");
            }
            prop_assert!(bounds.windows(2).all(|w| w[0] < w[1]) || sizes.is_empty());
        }
    }

    /// Random keys merged into a tree of full leaves (a load's) leave full pages, not halves: the
    /// leaves they reach together are packed again, where one key at a time splits each in two.
    #[test]
    fn random_puts_into_full_leaves_leave_them_nearly_full() {
        let base: Vec<Vec<u8>> = (0..3000).map(|i| key(i * 4, false)).collect();
        // Odd numbers between the loaded (multiples of 4), scattered.
        let fresh = (0..750u32).map(|i| key(u16::try_from((i * 7919 % 6000) * 2 + 1).unwrap(), false));
        let changes: Changes = {
            let mut sorted: Vec<Vec<u8>> = fresh.collect();
            sorted.sort();
            sorted.dedup();
            sorted.into_iter().map(|k| (k, Some(vec![5u8; 40]))).collect()
        };
        merged_like_one_at_a_time(&base, &changes).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (bulk, single) = (store(dir.path(), "bulk.db"), store(dir.path(), "single.db"));
        for s in [&bulk, &single] {
            // In key order: every leaf filled.
            let mut load = crate::WriteBatch::new();
            for k in &base {
                load.put(k, [7u8; 40]);
            }
            s.write(load).unwrap();
        }
        let loaded = bulk.stats().leaf_pages;
        apply_both(&bulk, &single, &changes);
        let per_page =
            (1024 - crate::layout::file::PAGE_HEADER_BYTES) / crate::layout::node::inline_entry_len(5, 40);
        let fewest = (base.len() + changes.len()).div_ceil(per_page) as u64;
        let (merged, one_by_one) = (bulk.stats().leaf_pages, single.stats().leaf_pages);
        assert!(loaded < fewest && one_by_one > loaded * 17 / 10, "{loaded} {one_by_one}");
        assert!(merged <= fewest * 11 / 10, "{merged} leaves where {fewest} would hold the keys");
        assert!(bulk.check().unwrap().is_ok());
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
