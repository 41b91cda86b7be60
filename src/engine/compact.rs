//! Compaction: the live tree rewritten densely into a new file, in key order. Pages are
//! allocated in the order they are written, so the whole file is one sequential write: leaves
//! (each after the overflow chains of its values), then each branch level, then page 0.

use crate::engine::Engine;
use crate::engine::pages::NodeRef;
use crate::error::{Error, Result};
use crate::io::FileIo;
use crate::layout::file::{
    FORMAT_VERSION, FileHeader, HEADER_OFFSETS, MAX_TREE_DEPTH, Meta, SECTOR_BYTES, now_ms, seal_page_at,
};
use crate::layout::node::{Branch, Leaf, Node, NodeView, Value, ValueRef, branch_entry_len, cmp_keys};
use crate::layout::overflow;

/// Bytes gathered before one write.
const WRITE_BYTES: usize = 1 << 20;

struct Builder<'a> {
    file: &'a dyn FileIo,
    page_size: usize,
    next_page: u64,
    /// Pages from `buf_first` on, not yet written.
    buf: Vec<u8>,
    buf_first: u64,
    meta: Meta,
}

impl Builder<'_> {
    /// The next page number and a zeroed buffer for it: pages are written in number order.
    fn page(&mut self) -> Result<(u64, &mut [u8])> {
        if self.buf.len() >= WRITE_BYTES {
            self.flush()?;
        }
        if self.buf.is_empty() {
            self.buf_first = self.next_page;
        }
        let page = self.next_page;
        self.next_page += 1;
        let at = self.buf.len();
        self.buf.resize(at + self.page_size, 0);
        Ok((page, &mut self.buf[at..]))
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all_at(&self.buf, self.buf_first * self.page_size as u64)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn write_node(&mut self, node: &Node) -> Result<u64> {
        match node {
            Node::Leaf(_) => self.meta.leaf_pages += 1,
            Node::Branch(_) => self.meta.branch_pages += 1,
        }
        let generation = self.meta.checkpoint_id;
        let (page, buf) = self.page()?;
        node.encode(buf);
        seal_page_at(page, generation, buf);
        Ok(page)
    }

    /// Copy a value's chain into consecutive new pages.
    fn copy_overflow(&mut self, engine: &Engine, len: u64, first: u64) -> Result<Value> {
        let pages = engine.tree().chain_pages(len, first)?;
        let start = self.next_page;
        let (mut old, mut from) = (first, 0);
        let generation = self.meta.checkpoint_id;
        for index in 0..pages {
            let (chunk, next) = engine.tree().overflow_chunk(old, from, index, len)?;
            let (page, buf) = self.page()?;
            let link = if index + 1 < pages { page + 1 } else { 0 };
            overflow::encode_page(page, &chunk, link, generation, buf);
            from = old;
            old = next;
        }
        self.meta.overflow_pages += pages;
        Ok(Value::Overflow { len, first: start })
    }
}

/// Call `f` with each leaf of the engine's tree in key order, read in place. Compaction runs
/// between commits, so every page is in the file or unwritten and sealed: none is being changed.
/// The walk is bounded by the page count and the depth.
fn for_each_leaf(engine: &Engine, mut f: impl FnMut(u64, &NodeView<'_>) -> Result<()>) -> Result<()> {
    let tree = engine.tree();
    let meta = engine.meta();
    let mut stack = vec![(meta.root, 1u32)];
    let mut visited = 0u64;
    while let Some((page, level)) = stack.pop() {
        visited += 1;
        if visited > meta.page_count {
            return Err(Error::corrupted(page, "the tree reaches more pages than the file holds"));
        }
        let NodeRef::Clean(no, bytes) = tree.node(page)? else {
            return Err(Error::corrupted(page, "a page of the tree is being changed during compaction"));
        };
        let view = NodeView::new(no, &bytes)?;
        match (view.is_leaf(), level == meta.depth) {
            (true, true) => f(page, &view)?,
            (false, false) if level < meta.depth => {
                for i in (0..=view.count()).rev() {
                    let child = view.child(i)?;
                    tree.check_link(child, page)?;
                    stack.push((child, level + 1));
                }
            }
            _ => {
                return Err(Error::corrupted(
                    page,
                    format!("a page at level {level} of a tree of depth {}", meta.depth),
                ));
            }
        }
    }
    Ok(())
}

/// The leaves being built: entries pushed in key order fill a leaf, written when the next one
/// would not fit; `level` gathers each written leaf's first key and page.
struct Leaves {
    leaf: Leaf,
    level: Vec<(Vec<u8>, u64)>,
}

impl Leaves {
    fn push(&mut self, b: &mut Builder<'_>, key: &[u8], value: ValueRef<'_>) -> Result<()> {
        b.meta.key_count += 1;
        self.leaf.push(key, value);
        if self.leaf.encoded_len() > b.page_size {
            let carry = self.leaf.pop().expect("just pushed");
            let first_key = self.leaf.entry(0).key.to_vec();
            let page = b.write_node(&Node::Leaf(std::mem::take(&mut self.leaf)))?;
            self.level.push((first_key, page));
            self.leaf.push(&carry.key, carry.value.as_ref());
        }
        Ok(())
    }
}

/// Write the live contents of `engine` to `file` as a complete store and return its meta: the
/// tree with the write buffer's changes merged in as the leaves are written (the buffer is not
/// folded into the old file first). The caller syncs the file.
pub(crate) fn build(engine: &Engine, file: &dyn FileIo, seq: u64) -> Result<Meta> {
    let page_size = engine.page_size();
    let mut b = Builder {
        file,
        page_size,
        next_page: 1,
        buf: Vec::new(),
        buf_first: 1,
        meta: Meta {
            checkpoint_id: engine
                .durable()
                .checkpoint_id
                .checked_add(1)
                .ok_or_else(|| Error::corrupted(0, "the checkpoint id is at its largest"))?,
            checkpoint_seq: seq,
            identifier: engine.meta().identifier.clone(),
            ..Meta::default()
        },
    };
    file.set_len(0)?;

    // The buffer's changes (ascending, the last of each key; every value fits in a leaf),
    // merged with the tree's entries: a put wins over the tree's entry, a delete drops it.
    let mut changes = engine.buffer().changes().into_iter().peekable();

    // Leaves, full, in key order.
    let mut out = Leaves { leaf: Leaf::default(), level: Vec::new() };
    let mut last_key: Option<Vec<u8>> = None;
    for_each_leaf(engine, |page, view| {
        for i in 0..view.count() {
            let e = view.leaf_entry(i)?;
            // The leaves in tree order hold ascending keys: anything else is damage the
            // compacted file must not inherit.
            if last_key.as_deref().is_some_and(|last| cmp_keys(last, e.key).is_ge()) {
                return Err(Error::corrupted(page, "keys out of order across leaves"));
            }
            while let Some((key, change)) = changes.next_if(|(k, _)| cmp_keys(k, e.key).is_lt()) {
                if let Some(v) = change {
                    out.push(&mut b, key, ValueRef::Inline(v))?;
                }
            }
            if let Some((key, change)) = changes.next_if(|(k, _)| *k == e.key) {
                if let Some(v) = change {
                    out.push(&mut b, key, ValueRef::Inline(v))?;
                }
                continue;
            }
            let value = match e.value {
                ValueRef::Overflow { len, first } => {
                    if len > 0 {
                        engine.tree().check_link(first, page)?;
                    }
                    b.copy_overflow(engine, len, first)?
                }
                inline => inline.to_value(),
            };
            out.push(&mut b, e.key, value.as_ref())?;
        }
        if let Some(last) = view.count().checked_sub(1) {
            last_key = Some(view.key(last)?.to_vec());
        }
        Ok(())
    })?;
    for (key, change) in changes {
        if let Some(v) = change {
            out.push(&mut b, key, ValueRef::Inline(v))?;
        }
    }
    let Leaves { leaf, mut level } = out;
    let first_key = leaf.iter().next().map(|e| e.key.to_vec()).unwrap_or_default();
    let page = b.write_node(&Node::Leaf(leaf))?;
    level.push((first_key, page));

    // Branch levels until one page holds the root.
    let mut depth = 1u32;
    while level.len() > 1 {
        let mut upper = Vec::new();
        let mut children = level.into_iter();
        let (mut first_key, first_child) = children.next().expect("more than one child");
        let mut branch = Branch::new(first_child, Vec::new());
        for (key, child) in children {
            if branch.encoded_len() + branch_entry_len(&key) > page_size {
                let page = b.write_node(&Node::Branch(std::mem::replace(
                    &mut branch,
                    Branch::new(child, Vec::new()),
                )))?;
                upper.push((std::mem::replace(&mut first_key, key), page));
            } else {
                branch.insert(branch.len(), &key, child);
            }
        }
        let page = b.write_node(&Node::Branch(branch))?;
        upper.push((first_key, page));
        level = upper;
        depth += 1;
        if depth > MAX_TREE_DEPTH {
            return Err(Error::corrupted(0, "compacted tree would pass the depth limit"));
        }
    }
    b.flush()?;

    b.meta.root = level[0].1;
    b.meta.depth = depth;
    b.meta.page_count = b.next_page;
    b.meta.modified_ms = now_ms();
    // Both sectors of page 0 hold the new checkpoint (in the current format, whatever the
    // format of the file compacted): damage to either leaves the other.
    let header = FileHeader { version: FORMAT_VERSION, ..engine.header().clone() };
    let mut page0 = vec![0u8; page_size];
    for at in HEADER_OFFSETS {
        page0[at..at + SECTOR_BYTES].copy_from_slice(&header.encode_sector(&b.meta));
    }
    file.write_all_at(&page0, 0)?;
    Ok(b.meta)
}
