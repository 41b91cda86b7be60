//! The engine's state and its B+tree: the pages as of the last checkpoint, the pages changed
//! since, and the allocator that keeps the two apart.
//!
//! Invariant (copy-on-write): a page reachable from the meta slot in force (the last checkpoint)
//! is never written until the next checkpoint has switched slots. A write that changes such a
//! page copies it to a *fresh* page (one allocated since the checkpoint) and lists the old one
//! as *pending free*; fresh pages may be changed in place and written at any time. So a crash at
//! any moment leaves the last checkpoint intact, and the log replays what came after it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Bound;
use std::sync::Arc;

use crate::cache::{PageBytes, PageCache};
use crate::error::{Error, Result};
use crate::format::{
    FileHeader, MAX_TREE_DEPTH, META_SLOT_BYTES, META_SLOT_OFFSETS, Meta, PAGE_HEADER_BYTES, PageKind,
    now_ms, seal_page, verify_page,
};
use crate::io::FileIo;
use crate::node::{
    Branch, Leaf, LeafEntry, Node, NodeView, Value, ValueRef, branch_entry_len, cmp_keys, inline_entry_len,
    max_inline_entry,
};
use crate::{freelist, overflow};

/// Pages written in one `write` call at most when runs of consecutive pages are coalesced.
const MAX_WRITE_RUN_BYTES: usize = 1 << 20;

/// Hashes page numbers with one multiply: they are small dense integers, not attacker-chosen
/// strings, so the default SipHash would only cost time on every page lookup.
#[derive(Default)]
pub(crate) struct PageNoHasher(u64);

impl Hasher for PageNoHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type PageMap<V> = HashMap<u64, V, BuildHasherDefault<PageNoHasher>>;
pub(crate) type PageSet = HashSet<u64, BuildHasherDefault<PageNoHasher>>;

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

/// A page as a reader sees it: changed in memory, or verified bytes from the file.
pub(crate) enum NodeRef<'a> {
    Dirty(&'a Node),
    Clean(u64, PageBytes),
}

pub(crate) struct Engine {
    pub(crate) page_size: usize,
    pub(crate) data: Arc<dyn FileIo>,
    pub(crate) header: FileHeader,
    /// The live state: root, counts, identifier.
    pub(crate) meta: Meta,
    /// The state of the last checkpoint, and the slot it is in.
    pub(crate) durable: Meta,
    pub(crate) durable_slot: usize,
    /// Pages holding the persisted free list of the last checkpoint.
    pub(crate) durable_freelist: Vec<u64>,
    /// Tree pages changed since the last checkpoint and not yet written.
    pub(crate) dirty: PageMap<Node>,
    /// Pages allocated since the last checkpoint: free to change in place.
    pub(crate) fresh: PageSet,
    /// Pages that may be allocated now.
    pub(crate) free: BTreeSet<u64>,
    /// Pages the last checkpoint still reaches but the live tree does not: free after the next.
    pub(crate) pending_free: Vec<u64>,
    pub(crate) cache: PageCache,
    pub(crate) read_only: bool,
    /// A read-only open keeps here the pages replay would have written.
    pub(crate) mem_pages: PageMap<PageBytes>,
    /// Dirty pages beyond this are written out (to fresh pages) before the next operation.
    pub(crate) dirty_limit_pages: usize,
    /// Anything changed since the last checkpoint.
    pub(crate) changed: bool,
}

struct Ins {
    page: u64,
    split: Option<(Vec<u8>, u64)>,
    old: Option<Value>,
}

struct Del {
    page: u64,
    old: Option<Value>,
    underfull: bool,
}

impl Engine {
    pub(crate) fn new(
        data: Arc<dyn FileIo>,
        header: FileHeader,
        meta: Meta,
        slot: usize,
        cache_bytes: usize,
        read_only: bool,
    ) -> Result<Engine> {
        let page_size = header.page_size as usize;
        let mut engine = Engine {
            page_size,
            data,
            header,
            durable: meta.clone(),
            meta,
            durable_slot: slot,
            durable_freelist: Vec::new(),
            dirty: PageMap::default(),
            fresh: PageSet::default(),
            free: BTreeSet::new(),
            pending_free: Vec::new(),
            cache: PageCache::new(cache_bytes, page_size),
            read_only,
            mem_pages: PageMap::default(),
            dirty_limit_pages: (cache_bytes / 2 / page_size).max(256),
            changed: false,
        };
        engine.load_freelist()?;
        Ok(engine)
    }

    fn load_freelist(&mut self) -> Result<()> {
        let meta = &self.meta;
        let mut page = meta.freelist_head;
        let mut pages = Vec::new();
        let mut entries = BTreeSet::new();
        let mut from = 0;
        for _ in 0..meta.freelist_pages {
            self.check_link(page, from)?;
            let bytes = self.read_raw(page)?;
            let (list, next) = freelist::decode_page(page, &bytes, self.page_size)?;
            for p in list {
                if p == 0 || p >= meta.page_count || !entries.insert(p) {
                    return Err(Error::corrupted(page, format!("free list names page {p} wrongly")));
                }
            }
            pages.push(page);
            from = page;
            page = next;
        }
        if page != 0 {
            return Err(Error::corrupted(from, "free-list chain is longer than the meta slot says"));
        }
        if entries.len() as u64 != meta.free_count {
            return Err(Error::corrupted(
                meta.freelist_head,
                format!("free list holds {} pages, the meta slot says {}", entries.len(), meta.free_count),
            ));
        }
        self.durable_freelist = pages;
        self.free = entries;
        Ok(())
    }

    // ---------------------------------------------------------------- reading pages

    /// `page` must be a tree, overflow or free-list page of this file; `from` names the page
    /// holding the link, for the error.
    fn check_link(&self, page: u64, from: u64) -> Result<()> {
        if page == 0 || page >= self.meta.page_count {
            return Err(Error::corrupted(
                from,
                format!("link to page {page}, outside 1..{}", self.meta.page_count),
            ));
        }
        Ok(())
    }

    pub(crate) fn read_from_file(&self, page: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.page_size];
        let offset = page * self.page_size as u64;
        match self.data.read_exact_at(&mut buf, offset) {
            Ok(()) => Ok(buf),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(Error::corrupted(page, "page lies past the end of the file (truncated file)"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Verified bytes of a page that is not dirty: from memory, the cache or the file.
    pub(crate) fn read_raw(&self, page: u64) -> Result<PageBytes> {
        if !self.mem_pages.is_empty()
            && let Some(b) = self.mem_pages.get(&page)
        {
            return Ok(b.clone());
        }
        if let Some(b) = self.cache.get(page) {
            return Ok(b);
        }
        let buf = self.read_from_file(page)?;
        verify_page(page, &buf)?;
        let bytes: PageBytes = Arc::from(buf);
        self.cache.insert(page, bytes.clone());
        Ok(bytes)
    }

    /// A page read without going through the cache (overflow chains would only evict tree pages).
    fn read_uncached(&self, page: u64) -> Result<PageBytes> {
        if let Some(b) = self.mem_pages.get(&page) {
            return Ok(b.clone());
        }
        let buf = self.read_from_file(page)?;
        verify_page(page, &buf)?;
        Ok(Arc::from(buf))
    }

    pub(crate) fn node(&self, page: u64) -> Result<NodeRef<'_>> {
        if !self.dirty.is_empty()
            && let Some(n) = self.dirty.get(&page)
        {
            return Ok(NodeRef::Dirty(n));
        }
        Ok(NodeRef::Clean(page, self.read_raw(page)?))
    }

    // ---------------------------------------------------------------- reading the tree

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
        let depth = self.meta.depth;
        let mut page = self.meta.root;
        let mut from = 0;
        let mut kept: Option<Vec<u8>> = None;
        for level in 1..=depth {
            self.check_link(page, from)?;
            let node = self.node(page)?;
            let next = match &node {
                NodeRef::Dirty(Node::Leaf(_)) => None,
                NodeRef::Dirty(Node::Branch(b)) => {
                    let seps = b.entries();
                    let idx = seps.partition_point(|(s, _)| goes_right(s));
                    match keep {
                        Keep::High if idx < seps.len() => kept = Some(seps[idx].0.clone()),
                        Keep::Low if idx > 0 => kept = Some(seps[idx - 1].0.clone()),
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
        Err(Error::corrupted(self.meta.root, "tree has no levels"))
    }

    /// Descend to the leaf for `key` (the leftmost leaf for `None`). Calls `f` with the leaf and,
    /// when `track_high`, the smallest key of the leaves to its right, if any.
    fn with_leaf<T>(
        &self,
        key: Option<&[u8]>,
        track_high: bool,
        f: impl FnOnce(u64, &NodeRef<'_>, Option<Vec<u8>>) -> Result<T>,
    ) -> Result<T> {
        let goes_right = |sep: &[u8]| key.is_some_and(|k| cmp_keys(sep, k).is_le());
        self.descend(goes_right, if track_high { Keep::High } else { Keep::None }, f)
    }

    /// The value of `key`, read whole.
    pub(crate) fn get_bytes(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let found = self.with_leaf(Some(key), false, |_, node, _| match node {
            NodeRef::Dirty(Node::Leaf(l)) => Ok(match l.search(key) {
                Ok(i) => match &l.entries()[i].value {
                    Value::Inline(v) => Some(Ok(v.clone())),
                    v => Some(Err(v.clone())),
                },
                Err(_) => None,
            }),
            NodeRef::Dirty(Node::Branch(_)) => unreachable_branch(),
            NodeRef::Clean(no, bytes) => {
                let view = NodeView::new(*no, bytes)?;
                Ok(match view.search(key)? {
                    Ok(i) => match view.leaf_entry(i)?.value {
                        ValueRef::Inline(v) => Some(Ok(v.to_vec())),
                        v => Some(Err(owned_value(v))),
                    },
                    Err(_) => None,
                })
            }
        })?;
        match found {
            None => Ok(None),
            Some(Ok(bytes)) => Ok(Some(bytes)),
            Some(Err(value)) => self.read_value(&value, None).map(Some),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        self.with_leaf(Some(key), false, |_, node, _| match node {
            NodeRef::Dirty(Node::Leaf(l)) => Ok(l.search(key).ok().map(|i| l.entries()[i].value.clone())),
            NodeRef::Dirty(Node::Branch(_)) => unreachable_branch(),
            NodeRef::Clean(no, bytes) => {
                let view = NodeView::new(*no, bytes)?;
                match view.search(key)? {
                    Ok(i) => Ok(Some(owned_value(view.leaf_entry(i)?.value))),
                    Err(_) => Ok(None),
                }
            }
        })
    }

    /// The entries of one leaf from `start` on, and where the next leaf starts (`None`: last).
    pub(crate) fn leaf_chunk(&self, start: &Bound<Vec<u8>>) -> Result<LeafChunk> {
        let mut position: Bound<Vec<u8>> = start.clone();
        // Each round moves right by one leaf; the bound only guards against a damaged tree whose
        // separators do not increase.
        for _ in 0..=self.meta.page_count {
            let key = match &position {
                Bound::Unbounded => None,
                Bound::Included(k) | Bound::Excluded(k) => Some(k.as_slice()),
            };
            let (entries, high) = self.with_leaf(key, true, |_, node, high| {
                let keep = |k: &[u8]| match &position {
                    Bound::Unbounded => true,
                    Bound::Included(s) => k >= s.as_slice(),
                    Bound::Excluded(s) => k > s.as_slice(),
                };
                let mut out = Vec::new();
                match node {
                    NodeRef::Dirty(Node::Leaf(l)) => {
                        for e in l.entries() {
                            if keep(&e.key) {
                                out.push((e.key.clone(), e.value.clone()));
                            }
                        }
                    }
                    NodeRef::Dirty(Node::Branch(_)) => return unreachable_branch(),
                    NodeRef::Clean(no, bytes) => {
                        let view = NodeView::new(*no, bytes)?;
                        for i in 0..view.count() {
                            let e = view.leaf_entry(i)?;
                            if keep(e.key) {
                                out.push((e.key.to_vec(), owned_value(e.value)));
                            }
                        }
                    }
                }
                Ok((out, high))
            })?;
            if !entries.is_empty() || high.is_none() {
                return Ok((entries, high));
            }
            let high = high.unwrap_or_default();
            if let Some(k) = key
                && high.as_slice() <= k
            {
                return Err(Error::corrupted(self.meta.root, "branch separators are out of order"));
            }
            position = Bound::Included(high);
        }
        Err(Error::corrupted(self.meta.root, "scan did not end: the tree has a cycle"))
    }

    /// The entries of one leaf before `end`, in descending key order, and the smallest key that
    /// leaf may hold (`None`: it is the leftmost leaf). The mirror of [`Engine::leaf_chunk`], for
    /// walking keys backwards: each call is one descent.
    pub(crate) fn leaf_chunk_rev(&self, end: &Bound<Vec<u8>>) -> Result<LeafChunk> {
        let mut position: Bound<Vec<u8>> = end.clone();
        // Each round moves left by one leaf; the bound guards against a damaged tree whose
        // separators do not increase.
        for _ in 0..=self.meta.page_count {
            let (entries, low) = self.with_leaf_below(&position, |node| {
                let keep = |k: &[u8]| match &position {
                    Bound::Unbounded => true,
                    Bound::Included(e) => k <= e.as_slice(),
                    Bound::Excluded(e) => k < e.as_slice(),
                };
                let mut out = Vec::new();
                match node {
                    NodeRef::Dirty(Node::Leaf(l)) => {
                        for e in l.entries().iter().rev() {
                            if keep(&e.key) {
                                out.push((e.key.clone(), e.value.clone()));
                            }
                        }
                    }
                    NodeRef::Dirty(Node::Branch(_)) => return unreachable_branch(),
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
                return Err(Error::corrupted(self.meta.root, "branch separators are out of order"));
            }
            position = Bound::Excluded(low);
        }
        Err(Error::corrupted(self.meta.root, "backward scan did not end: the tree has a cycle"))
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

    /// The bytes of a value; `max` stops reading after that many.
    pub(crate) fn read_value(&self, value: &Value, max: Option<usize>) -> Result<Vec<u8>> {
        let (len, first) = match value {
            Value::Inline(v) => {
                let n = max.map_or(v.len(), |m| m.min(v.len()));
                return Ok(v[..n].to_vec());
            }
            Value::Overflow { len, first } => (*len, *first),
        };
        let want = max.map_or(len, |m| (m as u64).min(len));
        let total = self.chain_pages(len, first)?;
        let mut out = Vec::with_capacity(want as usize);
        let mut page = first;
        let mut from = 0;
        for index in 0..total {
            if out.len() as u64 >= want {
                break;
            }
            self.check_link(page, from)?;
            let bytes = self.read_uncached(page)?;
            let (chunk, next) = overflow::read_chunk(page, &bytes, index, len, self.page_size)?;
            let take = chunk.len().min((want - out.len() as u64) as usize);
            out.extend_from_slice(&chunk[..take]);
            from = page;
            page = next;
        }
        Ok(out)
    }

    /// Pages in the chain of a value of `len` bytes. A length (from a leaf on disk) whose chain
    /// could not fit in the file is damage, named at `page`: walks and buffers sized by it
    /// stay bounded by the file.
    pub(crate) fn chain_pages(&self, len: u64, page: u64) -> Result<u64> {
        let total = overflow::pages_for(len, self.page_size);
        if total >= self.meta.page_count {
            return Err(Error::corrupted(
                page,
                format!(
                    "a value of {len} bytes needs {total} overflow pages; the file has {}",
                    self.meta.page_count
                ),
            ));
        }
        Ok(total)
    }

    /// Page `index` of the chain of a value of `len` bytes: its data and next link. `from` is
    /// the page that links to `page`, for errors.
    pub(crate) fn overflow_chunk(
        &self,
        page: u64,
        from: u64,
        index: u64,
        len: u64,
    ) -> Result<(Vec<u8>, u64)> {
        self.check_link(page, from)?;
        let bytes = self.read_uncached(page)?;
        let (chunk, next) = overflow::read_chunk(page, &bytes, index, len, self.page_size)?;
        Ok((chunk.to_vec(), next))
    }

    /// The pages of an overflow chain, checked link by link.
    pub(crate) fn overflow_pages(&self, len: u64, first: u64, from: u64) -> Result<Vec<u64>> {
        let total = self.chain_pages(len, from)?;
        let mut pages = Vec::new();
        let (mut page, mut from) = (first, from);
        for index in 0..total {
            self.check_link(page, from)?;
            let bytes = self.read_uncached(page)?;
            let (_, next) = overflow::read_chunk(page, &bytes, index, len, self.page_size)?;
            pages.push(page);
            from = page;
            page = next;
        }
        Ok(pages)
    }

    // ---------------------------------------------------------------- allocation

    fn counter(&mut self, kind: PageKind) -> &mut u64 {
        match kind {
            PageKind::Branch => &mut self.meta.branch_pages,
            PageKind::Leaf => &mut self.meta.leaf_pages,
            PageKind::Overflow => &mut self.meta.overflow_pages,
            PageKind::Freelist => &mut self.meta.freelist_pages,
        }
    }

    fn alloc(&mut self, kind: PageKind) -> u64 {
        let page = match self.free.pop_first() {
            Some(p) => p,
            None => {
                self.meta.page_count += 1;
                self.meta.page_count - 1
            }
        };
        self.fresh.insert(page);
        self.cache.remove(page);
        self.mem_pages.remove(&page);
        *self.counter(kind) += 1;
        page
    }

    fn release(&mut self, page: u64, kind: PageKind) {
        let c = self.counter(kind);
        *c = c.saturating_sub(1);
        self.dirty.remove(&page);
        if self.fresh.remove(&page) {
            self.free.insert(page);
        } else {
            self.pending_free.push(page);
        }
    }

    /// Take `page` out for changing: the same page when it is fresh, else a fresh copy (and the
    /// original becomes pending free).
    fn take_node(&mut self, page: u64) -> Result<(u64, Node)> {
        if let Some(node) = self.dirty.remove(&page) {
            return Ok((page, node));
        }
        let node = Node::decode(page, &self.read_raw(page)?)?;
        if self.fresh.contains(&page) {
            return Ok((page, node));
        }
        let kind = node_kind(&node);
        let copy = self.alloc(kind);
        self.release(page, kind);
        Ok((copy, node))
    }

    /// Take `page` out to merge it away: it is released.
    fn take_node_to_free(&mut self, page: u64) -> Result<Node> {
        let node = match self.dirty.remove(&page) {
            Some(n) => n,
            None => Node::decode(page, &self.read_raw(page)?)?,
        };
        self.release(page, node_kind(&node));
        Ok(node)
    }

    fn put_dirty(&mut self, page: u64, node: Node) {
        debug_assert!(self.fresh.contains(&page));
        debug_assert!(node.size_is_consistent(), "kept byte count of page {page} is off");
        debug_assert!(
            node.encoded_len() <= self.page_size,
            "oversized node for page {page}: {}",
            node.encoded_len()
        );
        self.dirty.insert(page, node);
    }

    fn node_size(&self, page: u64) -> Result<(usize, bool)> {
        match self.node(page)? {
            NodeRef::Dirty(n) => Ok((n.encoded_len(), matches!(n, Node::Leaf(_)))),
            NodeRef::Clean(no, bytes) => {
                let v = NodeView::new(no, &bytes)?;
                Ok((v.used_bytes()?, v.is_leaf()))
            }
        }
    }

    // ---------------------------------------------------------------- writing the tree

    /// The value as a leaf will hold it: inline, or written to a new overflow chain. This is
    /// the only write to the file a put makes, so a batch does it for all its values before it
    /// changes the tree, and a failing write leaves the tree as it was.
    pub(crate) fn prepare_value(&mut self, key_len: usize, value: Vec<u8>) -> Result<Value> {
        if inline_entry_len(key_len, value.len()) <= max_inline_entry(self.page_size) {
            Ok(Value::Inline(value))
        } else {
            self.write_overflow(&value)
        }
    }

    /// Insert or replace with a value from [`Engine::prepare_value`]; `Ok(true)` when the key
    /// is new.
    pub(crate) fn put_value(&mut self, key: Vec<u8>, value: Value) -> Result<bool> {
        self.changed = true;
        let root = self.meta.root;
        let ins = self.insert_rec(root, 1, true, key, value)?;
        self.meta.root = ins.page;
        if let Some((sep, right)) = ins.split {
            let new_root = self.alloc(PageKind::Branch);
            self.put_dirty(new_root, Node::Branch(Branch::new(ins.page, vec![(sep, right)])));
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
            self.meta.key_count += 1;
        }
        Ok(is_new)
    }

    /// `rightmost`: this page is the last at its level, where appends in key order land.
    fn insert_rec(
        &mut self,
        page: u64,
        level: u32,
        rightmost: bool,
        key: Vec<u8>,
        value: Value,
    ) -> Result<Ins> {
        let (page, node) = self.take_node(page)?;
        match node {
            Node::Leaf(mut leaf) => {
                if level != self.meta.depth {
                    return Err(Error::corrupted(page, "leaf above the bottom level of the tree"));
                }
                let (old, appended) = match leaf.search(&key) {
                    Ok(i) => (Some(leaf.replace_value(i, value)), false),
                    Err(i) => {
                        leaf.insert(i, LeafEntry { key, value });
                        (None, rightmost && i + 1 == leaf.len())
                    }
                };
                let split = if leaf.encoded_len() > self.page_size {
                    let right = split_leaf(&mut leaf, appended, self.page_size)
                        .ok_or_else(|| Error::corrupted(page, "leaf entries too large to split"))?;
                    let sep = right.entries()[0].key.clone();
                    let rp = self.alloc(PageKind::Leaf);
                    self.put_dirty(rp, Node::Leaf(right));
                    Some((sep, rp))
                } else {
                    None
                };
                self.put_dirty(page, Node::Leaf(leaf));
                Ok(Ins { page, split, old })
            }
            Node::Branch(mut br) => {
                if level >= self.meta.depth {
                    return Err(Error::corrupted(page, "branch at the bottom level of the tree"));
                }
                let idx = br.child_index(&key);
                let child = br.child(idx);
                self.check_link(child, page)?;
                let last = idx + 1 == br.child_count();
                let ins = self.insert_rec(child, level + 1, rightmost && last, key, value)?;
                br.set_child(idx, ins.page);
                if let Some((sep, right)) = ins.split {
                    br.insert(idx, (sep, right));
                }
                let split = if br.encoded_len() > self.page_size {
                    let (sep, right) = split_branch(&mut br, self.page_size)
                        .ok_or_else(|| Error::corrupted(page, "branch entries too large to split"))?;
                    let rp = self.alloc(PageKind::Branch);
                    self.put_dirty(rp, Node::Branch(right));
                    Some((sep, rp))
                } else {
                    None
                };
                self.put_dirty(page, Node::Branch(br));
                Ok(Ins { page, split, old: ins.old })
            }
        }
    }

    /// Delete; `Ok(true)` when the key existed.
    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<bool> {
        // A missing key changes nothing: no page is copied.
        if self.get(key)?.is_none() {
            return Ok(false);
        }
        self.changed = true;
        let root = self.meta.root;
        let del = self.delete_rec(root, 1, key)?;
        self.meta.root = del.page;
        // A root branch left with one child hands the root to it.
        while self.meta.depth > 1 {
            let root = self.meta.root;
            let only_child = match self.node(root)? {
                NodeRef::Dirty(Node::Branch(b)) if b.entries().is_empty() => Some(b.first_child),
                NodeRef::Clean(no, bytes) => {
                    let v = NodeView::new(no, &bytes)?;
                    (!v.is_leaf() && v.count() == 0).then(|| v.first_child())
                }
                _ => None,
            };
            let Some(child) = only_child else { break };
            self.check_link(child, root)?;
            self.release(root, PageKind::Branch);
            self.meta.root = child;
            self.meta.depth -= 1;
        }
        if let Some(old) = del.old {
            self.meta.key_count = self.meta.key_count.saturating_sub(1);
            self.free_value(old, 0)?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn delete_rec(&mut self, page: u64, level: u32, key: &[u8]) -> Result<Del> {
        let (page, node) = self.take_node(page)?;
        let quarter = self.page_size / 4;
        match node {
            Node::Leaf(mut leaf) => {
                if level != self.meta.depth {
                    return Err(Error::corrupted(page, "leaf above the bottom level of the tree"));
                }
                let old = leaf.search(key).ok().map(|i| leaf.remove(i).value);
                let underfull = leaf.encoded_len() < quarter;
                self.put_dirty(page, Node::Leaf(leaf));
                Ok(Del { page, old, underfull })
            }
            Node::Branch(mut br) => {
                if level >= self.meta.depth {
                    return Err(Error::corrupted(page, "branch at the bottom level of the tree"));
                }
                let idx = br.child_index(key);
                let child = br.child(idx);
                self.check_link(child, page)?;
                let del = self.delete_rec(child, level + 1, key)?;
                br.set_child(idx, del.page);
                if del.underfull && br.child_count() > 1 {
                    self.rebalance(&mut br, idx, page)?;
                }
                let underfull = br.encoded_len() < quarter;
                self.put_dirty(page, Node::Branch(br));
                Ok(Del { page, old: del.old, underfull })
            }
        }
    }

    /// Merge the underfull child `idx` of `br` with a neighbour when the two fit in one page.
    fn rebalance(&mut self, br: &mut Branch, idx: usize, br_page: u64) -> Result<()> {
        let (li, ri) = if idx > 0 { (idx - 1, idx) } else { (0, 1) };
        let (lp, rp) = (br.child(li), br.child(ri));
        self.check_link(lp, br_page)?;
        self.check_link(rp, br_page)?;
        let (lsize, lleaf) = self.node_size(lp)?;
        let (rsize, rleaf) = self.node_size(rp)?;
        if lleaf != rleaf {
            return Err(Error::corrupted(br_page, "children of one branch are at different levels"));
        }
        let sep_len = branch_entry_len(&br.entries()[ri - 1].0);
        let merged = lsize + rsize - PAGE_HEADER_BYTES + if lleaf { 0 } else { sep_len };
        if merged > self.page_size {
            return Ok(());
        }
        let (lp2, left) = self.take_node(lp)?;
        let right = self.take_node_to_free(rp)?;
        let (sep, _) = br.remove(ri - 1);
        let merged = match (left, right) {
            (Node::Leaf(mut l), Node::Leaf(r)) => {
                l.append(r);
                Node::Leaf(l)
            }
            (Node::Branch(mut l), Node::Branch(r)) => {
                l.append(sep, r);
                Node::Branch(l)
            }
            _ => return Err(Error::corrupted(br_page, "children of one branch are at different levels")),
        };
        self.put_dirty(lp2, merged);
        br.set_child(li, lp2);
        Ok(())
    }

    // ---------------------------------------------------------------- overflow chains

    fn write_overflow(&mut self, value: &[u8]) -> Result<Value> {
        let per = overflow::data_per_page(self.page_size);
        let chunks: Vec<&[u8]> = value.chunks(per).collect();
        let pages: Vec<u64> = (0..chunks.len()).map(|_| self.alloc(PageKind::Overflow)).collect();
        let mut run = PageRun::new(self.page_size);
        for (i, chunk) in chunks.iter().enumerate() {
            let next = pages.get(i + 1).copied().unwrap_or(0);
            let buf = run.next_page(pages[i]);
            overflow::encode_page(pages[i], chunk, next, buf);
            if run.full() {
                run.flush(self)?;
            }
        }
        run.flush(self)?;
        Ok(Value::Overflow { len: value.len() as u64, first: pages.first().copied().unwrap_or(0) })
    }

    fn free_value(&mut self, value: Value, from: u64) -> Result<()> {
        if let Value::Overflow { len, first } = value {
            for page in self.overflow_pages(len, first, from)? {
                self.release(page, PageKind::Overflow);
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- writing pages

    fn write_at_page(&mut self, first_page: u64, bytes: &[u8]) -> Result<()> {
        if self.read_only {
            for (i, chunk) in bytes.chunks(self.page_size).enumerate() {
                self.mem_pages.insert(first_page + i as u64, Arc::from(chunk));
            }
            return Ok(());
        }
        self.data.write_all_at(bytes, first_page * self.page_size as u64)?;
        Ok(())
    }

    /// Write every dirty page to its (fresh) place in the file and keep it in the cache.
    pub(crate) fn spill(&mut self) -> Result<()> {
        if self.read_only || self.dirty.is_empty() {
            return Ok(());
        }
        let mut pages: Vec<u64> = self.dirty.keys().copied().collect();
        pages.sort_unstable();
        let mut run = PageRun::new(self.page_size);
        let mut written = Vec::with_capacity(pages.len());
        for page in pages {
            let node = &self.dirty[&page];
            let buf = run.next_page(page);
            node.encode(buf);
            seal_page(page, buf);
            written.push((page, Arc::<[u8]>::from(&*buf)));
            if run.full() {
                run.flush(self)?;
            }
        }
        run.flush(self)?;
        self.dirty.clear();
        for (page, bytes) in written {
            self.cache.insert(page, bytes);
        }
        Ok(())
    }

    pub(crate) fn maybe_spill(&mut self) -> Result<()> {
        if self.dirty.len() > self.dirty_limit_pages { self.spill() } else { Ok(()) }
    }

    /// Fold every change into the data file: write changed pages and a new free list, sync,
    /// switch the meta slot to one naming them (and `seq` as the last log record covered), sync.
    pub(crate) fn checkpoint(&mut self, seq: u64) -> Result<()> {
        debug_assert!(!self.read_only);
        if !self.changed
            && seq == self.durable.checkpoint_seq
            && self.meta.identifier == self.durable.identifier
        {
            return Ok(());
        }
        // The free list after this checkpoint: what is free now, what becomes free once the old
        // checkpoint is gone, and the old free list's own pages, less the pages the new list
        // is written to.
        let per = freelist::entries_per_page(self.page_size);
        let old_lists = std::mem::take(&mut self.durable_freelist);
        self.meta.freelist_pages -= old_lists.len() as u64;
        let mut listed = self.free.len() + self.pending_free.len() + old_lists.len();
        let mut list_pages = Vec::new();
        while list_pages.len() < listed.div_ceil(per) {
            if self.free.first().is_some() {
                listed -= 1;
            }
            list_pages.push(self.alloc(PageKind::Freelist));
        }
        let mut entries: Vec<u64> = self.free.iter().copied().collect();
        entries.extend(self.pending_free.iter().copied());
        entries.extend(old_lists.iter().copied());
        entries.sort_unstable();

        self.spill()?;
        let mut run = PageRun::new(self.page_size);
        let chunks: Vec<&[u64]> = if entries.is_empty() { Vec::new() } else { entries.chunks(per).collect() };
        for (i, &page) in list_pages.iter().enumerate() {
            let next = list_pages.get(i + 1).copied().unwrap_or(0);
            let buf = run.next_page(page);
            freelist::encode_page(page, chunks.get(i).copied().unwrap_or(&[]), next, buf);
            if run.full() {
                run.flush(self)?;
            }
        }
        run.flush(self)?;
        let want_len = self.meta.page_count * self.page_size as u64;
        if self.data.len()? < want_len {
            self.data.set_len(want_len)?;
        }
        self.data.sync_data()?;

        let slot = 1 - self.durable_slot;
        let mut meta = self.meta.clone();
        meta.checkpoint_id = self.durable.checkpoint_id + 1;
        meta.checkpoint_seq = seq;
        meta.modified_ms = now_ms();
        meta.freelist_head = list_pages.first().copied().unwrap_or(0);
        meta.free_count = entries.len() as u64;
        let mut buf = [0u8; META_SLOT_BYTES];
        meta.encode(&mut buf);
        self.data.write_all_at(&buf, META_SLOT_OFFSETS[slot] as u64)?;
        self.data.sync_data()?;

        self.meta = meta.clone();
        self.durable = meta;
        self.durable_slot = slot;
        self.durable_freelist = list_pages;
        self.fresh.clear();
        self.pending_free.clear();
        self.free = entries.into_iter().collect();
        self.changed = false;
        Ok(())
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

fn node_kind(node: &Node) -> PageKind {
    match node {
        Node::Leaf(_) => PageKind::Leaf,
        Node::Branch(_) => PageKind::Branch,
    }
}

/// Split an overfull leaf; returns the right half. After an append at the end of the last leaf
/// (a load in key order) the left page keeps everything but the new entry, so such loads fill
/// pages; any other split halves the bytes.
fn split_leaf(leaf: &mut Leaf, appended: bool, page_size: usize) -> Option<Leaf> {
    let sizes: Vec<usize> = leaf.entries().iter().map(LeafEntry::encoded_len).collect();
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
    let sizes: Vec<usize> = br.entries().iter().map(|(k, _)| branch_entry_len(k)).collect();
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

/// Pages to write, gathered into runs of consecutive page numbers so each run is one write.
pub(crate) struct PageRun {
    page_size: usize,
    runs: Vec<(u64, Vec<u8>)>,
    bytes: usize,
}

impl PageRun {
    pub(crate) fn new(page_size: usize) -> PageRun {
        PageRun { page_size, runs: Vec::new(), bytes: 0 }
    }

    /// A zeroed buffer for `page`.
    pub(crate) fn next_page(&mut self, page: u64) -> &mut [u8] {
        let extend = matches!(self.runs.last(), Some((first, buf)) if *first + (buf.len() / self.page_size) as u64 == page);
        if !extend {
            self.runs.push((page, Vec::new()));
        }
        self.bytes += self.page_size;
        let (_, buf) = self.runs.last_mut().expect("a run was just pushed");
        let at = buf.len();
        buf.resize(at + self.page_size, 0);
        &mut buf[at..]
    }

    pub(crate) fn full(&self) -> bool {
        self.bytes >= MAX_WRITE_RUN_BYTES
    }

    pub(crate) fn flush(&mut self, engine: &mut Engine) -> Result<()> {
        for (first, buf) in std::mem::take(&mut self.runs) {
            engine.write_at_page(first, &buf)?;
        }
        self.bytes = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Durability, KVStore, OpenOptions};

    fn small_store(dir: &std::path::Path) -> KVStore {
        OpenOptions::new().page_size(1024).durability(Durability::Buffered).open(dir.join("t.db")).unwrap()
    }

    fn key(i: u32) -> Vec<u8> {
        // Spread keys so inserts land all over the tree, long enough to make branches fill fast.
        format!("{:08x}-{:040}", i.wrapping_mul(2_654_435_761), i).into_bytes()
    }

    fn assert_healthy(store: &KVStore) {
        let report = store.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
    }

    #[test]
    fn splits_and_merges_at_every_level() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let mut depths = vec![1];
        let mut n = 0u32;
        while store.stats().tree_depth < 4 {
            store.put(key(n), [n as u8; 20]).unwrap();
            n += 1;
            let depth = store.stats().tree_depth;
            if depth != *depths.last().unwrap() {
                assert_eq!(depth, depths.last().unwrap() + 1, "the tree grows one level at a time");
                depths.push(depth);
                assert_healthy(&store);
            }
        }
        store.checkpoint().unwrap();
        assert_healthy(&store);
        // Delete in a different order than inserted; every level must merge back down.
        let mut order: Vec<u32> = (0..n).collect();
        order.sort_by_key(|i| i.wrapping_mul(40_503) % 7919);
        for (done, i) in order.iter().enumerate() {
            assert!(store.delete(key(*i)).unwrap());
            if done % 500 == 0 {
                assert_healthy(&store);
            }
        }
        let s = store.stats();
        assert_eq!((s.tree_depth, s.key_count, s.branch_pages, s.leaf_pages), (1, 0, 0, 1), "{s:?}");
        assert_healthy(&store);
    }

    #[test]
    fn overflow_chains_are_allocated_and_freed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let value: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        store.put(b"big", &value).unwrap();
        let per_page = 1024 - 16;
        let pages = (value.len() as u64).div_ceil(per_page);
        assert_eq!(store.stats().overflow_pages, pages);
        let first = store.with_engine(|e| match e.get(b"big").unwrap().unwrap() {
            super::Value::Overflow { len, first } => e.overflow_pages(len, first, 0).unwrap(),
            other => panic!("expected an overflow value, got {other:?}"),
        });
        assert_eq!(first.len() as u64, pages);
        // Written since the last checkpoint: the chain goes straight back to the free set.
        let free_before = store.stats().free_pages;
        store.put(b"big", b"small now").unwrap();
        assert_eq!(store.stats().overflow_pages, 0);
        assert_eq!(store.stats().free_pages, free_before + pages);
        assert_eq!(store.get(b"big").unwrap().unwrap(), b"small now");
        assert_healthy(&store);
    }

    #[test]
    fn checkpointed_pages_wait_for_the_next_checkpoint_and_free_pages_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        for i in 0..2000 {
            store.put(key(i), [1u8; 30]).unwrap();
        }
        store.checkpoint().unwrap();
        for i in 0..2000 {
            store.delete(key(i)).unwrap();
        }
        // Everything freed was reachable from the checkpoint: pending, not yet reusable.
        let pending = store.with_engine(|e| e.pending_free.len());
        assert!(pending > 50, "{pending}");
        store.checkpoint().unwrap();
        assert_eq!(store.with_engine(|e| e.pending_free.len()), 0);
        let free = store.free_pages().unwrap();
        let pages = store.page_count();
        drop(store);
        let store = small_store(dir.path());
        assert_eq!(store.free_pages().unwrap(), free, "the free list survives a reopen");
        for i in 0..2000 {
            store.put(key(i), [2u8; 30]).unwrap();
        }
        store.checkpoint().unwrap();
        assert!(
            store.page_count() <= pages + 2,
            "free pages are reused before the file grows: {pages} -> {} ({:?}, {} free before)",
            store.page_count(),
            store.stats(),
            free.len()
        );
        assert_healthy(&store);
    }
}
