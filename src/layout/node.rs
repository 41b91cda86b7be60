//! B+tree nodes: the leaf and branch page bodies, the in-memory node a write changes, and a
//! zero-copy view a read searches.
//!
//! ```text
//! leaf page                               branch page
//! +------------------------+ 0            +------------------------+ 0
//! | page header, type 2    |              | page header, type 1    |  next = leftmost child
//! | count = n entries      |              | count = n separators   |
//! +------------------------+ 16           +------------------------+ 16
//! | n x u16 entry offset   |  in key      | n x u16 entry offset   |  in key order
//! +------------------------+  order       +------------------------+
//! | entries, packed        |              | entries, packed        |
//! +------------------------+              +------------------------+
//! | zero                   |              | zero                   |
//! +------------------------+ page size    +------------------------+ page size
//!
//! leaf entry, inline value                branch entry
//!   0 2 key length k                        0 2 key length k
//!   2 1 kind 0                              2 8 child page: keys >= this key (and below the
//!   3 2 value length v                          next entry's key) live under it
//!   5 k key                                10 k key
//! 5+k v value
//!
//! leaf entry, value in an overflow chain
//!   0 2 key length k
//!   2 1 kind 1
//!   3 8 value length
//!  11 8 first overflow page
//!  19 k key
//! ```
//! Keys are compared as bytes. A branch with n separators has n + 1 children: the leftmost in
//! the page header, one per entry.
//!
//! Invariants every page the encoder writes keeps, and [`NodeView::validate`] checks of every
//! page read from the file (a page that passes its checksum may still have been changed):
//! entries lie inside the page after the slots, in slot order, none overlapping the one before;
//! keys strictly ascend and are at most [`max_key_bytes`] long; an inline entry is at most
//! [`max_inline_entry`] bytes; an overflow value is at most `MAX_VALUE_BYTES` long and has a
//! chain (a first page other than 0) when it is not empty; no child link is 0. So a decoded node fits its page.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::layout::entries::{Entries, EntryLayout, SLOT_BYTES, len_field};
use crate::layout::file::{
    MAX_VALUE_BYTES, PAGE_HEADER_BYTES, PageKind, get_u16, get_u64, in_page_u16, page_count_field, page_next,
    put_u64, write_page_header,
};

const INLINE_ENTRY_HEADER: usize = 5;
const OVERFLOW_ENTRY_HEADER: usize = 19;
const BRANCH_ENTRY_HEADER: usize = 10;
const KIND_INLINE: u8 = 0;
const KIND_OVERFLOW: u8 = 1;

/// Bytes a leaf entry holding an overflow reference takes besides its key, slot included.
pub(crate) const LEAF_OVERFLOW_ENTRY_OVERHEAD: usize = SLOT_BYTES + OVERFLOW_ENTRY_HEADER;

/// Largest key for a page size: any leaf entry (a key with an overflow reference) must fit three
/// to a page, so a split always yields two pages that fit. (0 for a size below any page's.)
pub fn max_key_bytes(page_size: u32) -> usize {
    key_limit_of_page(usize::try_from(page_size).unwrap_or(usize::MAX))
}

/// [`max_key_bytes`] of a page of `page_size` bytes.
pub(crate) fn key_limit_of_page(page_size: usize) -> usize {
    (page_size.saturating_sub(PAGE_HEADER_BYTES) / 3).saturating_sub(LEAF_OVERFLOW_ENTRY_OVERHEAD)
}

/// Largest leaf entry (slot included) whose value stays inline: a quarter of the page body, so
/// a leaf holds at least four entries; anything larger goes to an overflow chain.
pub(crate) fn max_inline_entry(page_size: usize) -> usize {
    page_size.saturating_sub(PAGE_HEADER_BYTES) / 4
}

/// Bytewise key order, deciding most comparisons on the first eight bytes without a call to
/// `memcmp` (random and prefixed keys alike usually differ there or share it whole).
#[inline]
pub(crate) fn cmp_keys(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    if let (Some(x), Some(y)) = (a.first_chunk::<8>(), b.first_chunk::<8>()) {
        let (x, y) = (u64::from_be_bytes(*x), u64::from_be_bytes(*y));
        if x != y {
            return x.cmp(&y);
        }
    }
    a.cmp(b)
}

/// The places `0..n` of items in ascending order of `key`, stable (items with equal keys keep
/// their order), `None` before every key. Sorts (first 8 key bytes, place) pairs, comparing
/// whole keys behind their pointers only where the first 8 bytes tie, instead of moving the
/// items while comparing keys.
pub(crate) fn key_order<'k>(n: usize, key: impl Fn(usize) -> Option<&'k [u8]>) -> Vec<usize> {
    let prefix = |i: usize| {
        let mut p = [0u8; 8];
        if let Some(k) = key(i) {
            let m = k.len().min(8);
            p[..m].copy_from_slice(&k[..m]);
        }
        u64::from_be_bytes(p)
    };
    let mut order: Vec<(u64, usize)> = (0..n).map(|i| (prefix(i), i)).collect();
    order.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| match (key(a.1), key(b.1)) {
                (Some(x), Some(y)) => cmp_keys(x, y),
                (x, y) => x.cmp(&y),
            })
            .then(a.1.cmp(&b.1))
    });
    order.into_iter().map(|(_, i)| i).collect()
}

/// Where a value lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Inline(Vec<u8>),
    Overflow { len: u64, first: u64 },
}

impl Value {
    pub(crate) fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Inline(v) => ValueRef::Inline(v),
            Value::Overflow { len, first } => ValueRef::Overflow { len: *len, first: *first },
        }
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            Value::Inline(v) => v.len() as u64,
            Value::Overflow { len, .. } => *len,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeafEntry {
    pub key: Vec<u8>,
    pub value: Value,
}

pub(crate) fn inline_entry_len(key_len: usize, value_len: usize) -> usize {
    SLOT_BYTES + INLINE_ENTRY_HEADER + key_len + value_len
}

/// A leaf's entries in key order, as page bytes (see `entries`).
#[derive(Clone, Default)]
pub(crate) struct Leaf {
    entries: Entries<LeafLayout>,
}

/// What a replaced or removed leaf entry held, as far as freeing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OldValue {
    Inline,
    Overflow { len: u64, first: u64 },
}

/// A branch's leftmost child and its separators in key order, as page bytes (see `entries`).
#[derive(Clone)]
pub(crate) struct Branch {
    pub first_child: u64,
    /// Entry i: a key and the child holding keys `>= key` and below entry i + 1's key.
    entries: Entries<BranchLayout>,
}

pub(crate) fn branch_entry_len(key: &[u8]) -> usize {
    SLOT_BYTES + BRANCH_ENTRY_HEADER + key.len()
}

/// A decoded page, as changed in memory by a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Leaf(Leaf),
    Branch(Branch),
}

impl PartialEq for Leaf {
    fn eq(&self, other: &Leaf) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Leaf {}

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A leaf entry: key length, value kind, then the inline value's length and key and value, or
/// the overflow value's length and first page and the key.
struct LeafLayout;

impl EntryLayout for LeafLayout {
    fn bytes_at(buf: &[u8], at: usize) -> usize {
        let key_len = len_field(buf, at);
        match buf[at + 2] {
            KIND_INLINE => INLINE_ENTRY_HEADER + key_len + len_field(buf, at + 3),
            _ => OVERFLOW_ENTRY_HEADER + key_len,
        }
    }

    fn key_range(buf: &[u8], at: usize) -> Range<usize> {
        let key = at + if buf[at + 2] == KIND_INLINE { INLINE_ENTRY_HEADER } else { OVERFLOW_ENTRY_HEADER };
        key..key + len_field(buf, at)
    }
}

/// A branch entry: key length, child page, key.
struct BranchLayout;

impl EntryLayout for BranchLayout {
    fn bytes_at(buf: &[u8], at: usize) -> usize {
        BRANCH_ENTRY_HEADER + len_field(buf, at)
    }

    fn key_range(buf: &[u8], at: usize) -> Range<usize> {
        at + BRANCH_ENTRY_HEADER..at + BRANCH_ENTRY_HEADER + len_field(buf, at)
    }
}

/// Most bytes a leaf entry of this key and value takes, slot excluded.
fn leaf_entry_bound(key_len: usize, value: ValueRef<'_>) -> usize {
    match value {
        ValueRef::Inline(v) => INLINE_ENTRY_HEADER + key_len + v.len(),
        ValueRef::Overflow { .. } => OVERFLOW_ENTRY_HEADER + key_len,
    }
}

/// Append a leaf entry, encoded as on a page, to `buf`; its key is `key` of `buf` itself when
/// `key` is `Err` (a replaced entry's key, copied within the buffer).
fn put_leaf_entry(buf: &mut Vec<u8>, key: Result<&[u8], Range<usize>>, value: ValueRef<'_>) {
    let key_len = match &key {
        Ok(k) => k.len(),
        Err(r) => r.len(),
    };
    buf.extend_from_slice(&in_page_u16(key_len).to_le_bytes());
    match value {
        ValueRef::Inline(v) => {
            buf.push(KIND_INLINE);
            buf.extend_from_slice(&in_page_u16(v.len()).to_le_bytes());
        }
        ValueRef::Overflow { len, first } => {
            buf.push(KIND_OVERFLOW);
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&first.to_le_bytes());
        }
    }
    match key {
        Ok(k) => buf.extend_from_slice(k),
        Err(r) => buf.extend_from_within(r),
    }
    if let ValueRef::Inline(v) = value {
        buf.extend_from_slice(v);
    }
}

impl Leaf {
    #[cfg(test)]
    pub(crate) fn new(entries: Vec<LeafEntry>) -> Leaf {
        let mut leaf = Leaf::default();
        for e in &entries {
            leaf.push(&e.key, e.value.as_ref());
        }
        leaf
    }

    /// Entry `i`.
    pub(crate) fn entry(&self, i: usize) -> LeafEntryRef<'_> {
        let (buf, at) = (self.entries.buf(), self.entries.at(i));
        let key = self.entries.key(i);
        let value = if buf[at + 2] == KIND_INLINE {
            let from = at + INLINE_ENTRY_HEADER + key.len();
            ValueRef::Inline(&buf[from..from + len_field(buf, at + 3)])
        } else {
            ValueRef::Overflow { len: get_u64(buf, at + 3), first: get_u64(buf, at + 11) }
        };
        LeafEntryRef { key, value }
    }

    /// The entries in key order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = LeafEntryRef<'_>> + ExactSizeIterator {
        (0..self.len()).map(|i| self.entry(i))
    }

    /// Bytes entry `i` takes on a page, its slot included.
    pub(crate) fn entry_len(&self, i: usize) -> usize {
        self.entries.entry_len(i)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes on a page, header included.
    pub(crate) fn encoded_len(&self) -> usize {
        self.entries.encoded_len()
    }

    /// Index of `key`, or where it would go.
    pub(crate) fn search(&self, key: &[u8]) -> std::result::Result<usize, usize> {
        self.entries.search_by(|k| cmp_keys(k, key))
    }

    pub(crate) fn insert(&mut self, index: usize, key: &[u8], value: ValueRef<'_>) {
        let need = leaf_entry_bound(key.len(), value);
        self.entries.insert_with(index, need, |buf| put_leaf_entry(buf, Ok(key), value));
    }

    pub(crate) fn push(&mut self, key: &[u8], value: ValueRef<'_>) {
        self.insert(self.len(), key, value);
    }

    /// Take the last entry out.
    pub(crate) fn pop(&mut self) -> Option<LeafEntry> {
        let last = self.len().checked_sub(1)?;
        let e = self.entry(last);
        let owned = LeafEntry { key: e.key.to_vec(), value: e.value.to_value() };
        self.entries.remove(last);
        Some(owned)
    }

    fn old_value(&self, i: usize) -> OldValue {
        match self.entry(i).value {
            ValueRef::Inline(_) => OldValue::Inline,
            ValueRef::Overflow { len, first } => OldValue::Overflow { len, first },
        }
    }

    pub(crate) fn remove(&mut self, index: usize) -> OldValue {
        let old = self.old_value(index);
        self.entries.remove(index);
        old
    }

    /// Put `value` in entry `index`, returning what it held.
    pub(crate) fn replace_value(&mut self, index: usize, value: ValueRef<'_>) -> OldValue {
        let old = self.old_value(index);
        let need = leaf_entry_bound(self.entries.key(index).len(), value);
        self.entries.replace_with(index, need, |buf, key| put_leaf_entry(buf, Err(key), value));
        old
    }

    /// Move entries `at..` into a new leaf.
    pub(crate) fn split_off(&mut self, at: usize) -> Leaf {
        Leaf { entries: self.entries.split_off(at) }
    }

    /// Move all of `other`'s entries (all greater than ours) to the end.
    pub(crate) fn append(&mut self, other: Leaf) {
        self.entries.append(other.entries);
    }

    /// An empty leaf with room for a page of `page_size` bytes.
    pub(crate) fn for_page(page_size: usize) -> Leaf {
        Leaf { entries: Entries::for_page(page_size) }
    }

    /// Copy `other`'s entries `range` (all greater than ours) to the end.
    pub(crate) fn extend_from(&mut self, other: &Leaf, range: std::ops::Range<usize>) {
        self.entries.extend_from_range(&other.entries, range);
    }
}

impl PartialEq for Branch {
    fn eq(&self, other: &Branch) -> bool {
        self.first_child == other.first_child
            && self.len() == other.len()
            && (0..self.len()).all(|i| self.entry(i) == other.entry(i))
    }
}

impl Eq for Branch {}

impl std::fmt::Debug for Branch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Branch")
            .field("first_child", &self.first_child)
            .field("entries", &(0..self.len()).map(|i| self.entry(i)).collect::<Vec<_>>())
            .finish()
    }
}

impl Branch {
    pub(crate) fn new(first_child: u64, entries: Vec<(Vec<u8>, u64)>) -> Branch {
        let mut b = Branch { first_child, entries: Entries::default() };
        for (key, child) in &entries {
            b.insert(b.len(), key, *child);
        }
        b
    }

    /// The number of separators.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Separator `i` and the child to its right.
    pub(crate) fn entry(&self, i: usize) -> (&[u8], u64) {
        (self.entries.key(i), get_u64(self.entries.buf(), self.entries.at(i) + 2))
    }

    /// Bytes separator `i` takes on a page, its slot included.
    pub(crate) fn entry_len(&self, i: usize) -> usize {
        self.entries.entry_len(i)
    }

    /// Bytes on a page, header included.
    pub(crate) fn encoded_len(&self) -> usize {
        self.entries.encoded_len()
    }

    /// The number of leading separators for which `goes_right` holds.
    pub(crate) fn partition_point(&self, goes_right: impl Fn(&[u8]) -> bool) -> usize {
        self.entries.partition_point(goes_right)
    }

    /// Index of the child to descend into: 0 is the leftmost, i + 1 is entry i's.
    pub(crate) fn child_index(&self, key: &[u8]) -> usize {
        self.partition_point(|k| cmp_keys(k, key).is_le())
    }

    pub(crate) fn child(&self, index: usize) -> u64 {
        if index == 0 { self.first_child } else { self.entry(index - 1).1 }
    }

    pub(crate) fn set_child(&mut self, index: usize, page: u64) {
        if index == 0 {
            self.first_child = page;
        } else {
            put_u64(self.entries.entry_mut(index - 1), 2, page);
        }
    }

    pub(crate) fn insert(&mut self, index: usize, key: &[u8], child: u64) {
        self.entries.insert_with(index, BRANCH_ENTRY_HEADER + key.len(), |buf| {
            buf.extend_from_slice(&in_page_u16(key.len()).to_le_bytes());
            buf.extend_from_slice(&child.to_le_bytes());
            buf.extend_from_slice(key);
        });
    }

    /// Take separator `index` out; its key and child.
    pub(crate) fn remove(&mut self, index: usize) -> (Vec<u8>, u64) {
        let (key, child) = self.entry(index);
        let owned = (key.to_vec(), child);
        self.entries.remove(index);
        owned
    }

    /// Split around entry `m`: it moves up as the separator; entries after it go right.
    pub(crate) fn split_at(&mut self, m: usize) -> (Vec<u8>, Branch) {
        let right = self.entries.split_off(m + 1);
        let (sep, first_child) = self.remove(m);
        (sep, Branch { first_child, entries: right })
    }

    /// Merge `other` (all keys greater) after us, with `sep` between.
    pub(crate) fn append(&mut self, sep: &[u8], other: Branch) {
        self.insert(self.len(), sep, other.first_child);
        self.entries.append(other.entries);
    }

    pub(crate) fn child_count(&self) -> usize {
        self.len() + 1
    }
}

impl Node {
    /// The kept byte count equals a recount (checked by debug builds on every dirty write).
    pub(crate) fn size_is_consistent(&self) -> bool {
        match self {
            Node::Leaf(l) => l.entries.encoded_len() == l.entries.recount(),
            Node::Branch(b) => b.entries.encoded_len() == b.entries.recount(),
        }
    }

    pub(crate) fn encoded_len(&self) -> usize {
        match self {
            Node::Leaf(l) => l.encoded_len(),
            Node::Branch(b) => b.encoded_len(),
        }
    }

    /// Write the node as a page (without its checksum: the caller seals it).
    pub(crate) fn encode(&self, out: &mut [u8]) {
        match self {
            Node::Leaf(leaf) => {
                out[..PAGE_HEADER_BYTES].fill(0);
                write_page_header(out, PageKind::Leaf, in_page_u16(leaf.len()), 0);
                leaf.entries.encode_into(out);
            }
            Node::Branch(br) => {
                out[..PAGE_HEADER_BYTES].fill(0);
                write_page_header(out, PageKind::Branch, in_page_u16(br.len()), br.first_child);
                br.entries.encode_into(out);
            }
        }
    }

    /// Decode a page validated when it was read from the file, or made by the encoder: the
    /// pages `SharedPages::read_raw` gives (its cache holds only checked pages). Checking them
    /// again on every change cost a tenth of a small commit; debug builds still do.
    pub(crate) fn decode_valid(page_no: u64, page: &[u8]) -> Result<Node> {
        let view = NodeView::new(page_no, page)?;
        debug_assert!(
            view.validate().is_ok(),
            "page {page_no} reached a write unvalidated: {:?}",
            view.validate()
        );
        Ok(view.decode_entries())
    }

    /// Decode a verified leaf or branch page, checking every invariant of its layout first
    /// ([`NodeView::validate`]): what a write changes and encodes again always fits the page.
    pub(crate) fn decode(page_no: u64, page: &[u8]) -> Result<Node> {
        let view = NodeView::new(page_no, page)?;
        view.validate()?;
        let node = view.decode_entries();
        // Implied by the checks above; kept as the one promise the writer relies on.
        if node.encoded_len() > page.len() {
            return Err(Error::corrupted(page_no, "the entries do not fit the page"));
        }
        Ok(node)
    }
}

impl NodeView<'_> {
    /// The entries of a validated page.
    fn decode_entries(&self) -> Node {
        let offsets = (0..self.count).map(|i| self.entry_offset(i));
        if self.leaf {
            Node::Leaf(Leaf { entries: Entries::from_page(self.page, offsets) })
        } else {
            Node::Branch(Branch {
                first_child: self.first_child(),
                entries: Entries::from_page(self.page, offsets),
            })
        }
    }
}

/// A value as it sits in a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueRef<'a> {
    Inline(&'a [u8]),
    Overflow { len: u64, first: u64 },
}

impl ValueRef<'_> {
    pub(crate) fn to_value(self) -> Value {
        match self {
            ValueRef::Inline(v) => Value::Inline(v.to_vec()),
            ValueRef::Overflow { len, first } => Value::Overflow { len, first },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeafEntryRef<'a> {
    pub key: &'a [u8],
    pub value: ValueRef<'a>,
}

/// A read-only view of a verified leaf or branch page. Every offset read from the page is
/// bounds-checked: damage is an error naming the page, never a panic.
#[derive(Clone, Copy)]
pub(crate) struct NodeView<'a> {
    page_no: u64,
    page: &'a [u8],
    leaf: bool,
    count: usize,
}

impl<'a> NodeView<'a> {
    pub(crate) fn new(page_no: u64, page: &'a [u8]) -> Result<NodeView<'a>> {
        let leaf = match PageKind::from_byte(page[0]) {
            Some(PageKind::Leaf) => true,
            Some(PageKind::Branch) => false,
            _ => {
                return Err(Error::corrupted(
                    page_no,
                    format!("expected a tree page, found type {}", page[0]),
                ));
            }
        };
        let count = page_count_field(page) as usize;
        if PAGE_HEADER_BYTES + count * SLOT_BYTES > page.len() {
            return Err(Error::corrupted(page_no, format!("item count {count} does not fit the page")));
        }
        Ok(NodeView { page_no, page, leaf, count })
    }

    pub(crate) fn is_leaf(&self) -> bool {
        self.leaf
    }
    pub(crate) fn count(&self) -> usize {
        self.count
    }
    pub(crate) fn first_child(&self) -> u64 {
        page_next(self.page)
    }

    fn bad(&self, what: &str) -> Error {
        Error::corrupted(self.page_no, what.to_string())
    }

    fn slice(&self, at: usize, len: usize) -> Result<&'a [u8]> {
        at.checked_add(len)
            .and_then(|end| self.page.get(at..end))
            .ok_or_else(|| self.bad("an entry runs past the end of the page"))
    }

    fn entry_offset(&self, i: usize) -> usize {
        get_u16(self.page, PAGE_HEADER_BYTES + i * SLOT_BYTES) as usize
    }

    /// The key of entry `i`, read with the fewest checks a search needs.
    pub(crate) fn key(&self, i: usize) -> Result<&'a [u8]> {
        let at = self.entry_offset(i);
        let Some(head) = self.page.get(at..at + 3) else {
            return Err(self.bad("an entry runs past the end of the page"));
        };
        let key_len = u16::from_le_bytes([head[0], head[1]]) as usize;
        let start = at
            + match (self.leaf, head[2]) {
                (false, _) => BRANCH_ENTRY_HEADER,
                (true, KIND_INLINE) => INLINE_ENTRY_HEADER,
                (true, KIND_OVERFLOW) => OVERFLOW_ENTRY_HEADER,
                (true, k) => return Err(self.bad(&format!("unknown value kind {k}"))),
            };
        self.slice(start, key_len)
    }

    pub(crate) fn leaf_entry(&self, i: usize) -> Result<LeafEntryRef<'a>> {
        let at = self.entry_offset(i);
        let head = self.slice(at, 3)?;
        let key_len = get_u16(head, 0) as usize;
        match head[2] {
            KIND_INLINE => {
                let h = self.slice(at, INLINE_ENTRY_HEADER)?;
                let val_len = get_u16(h, 3) as usize;
                let key = self.slice(at + INLINE_ENTRY_HEADER, key_len)?;
                let value = self.slice(at + INLINE_ENTRY_HEADER + key_len, val_len)?;
                Ok(LeafEntryRef { key, value: ValueRef::Inline(value) })
            }
            KIND_OVERFLOW => {
                let h = self.slice(at, OVERFLOW_ENTRY_HEADER)?;
                let len = get_u64(h, 3);
                let first = get_u64(h, 11);
                let key = self.slice(at + OVERFLOW_ENTRY_HEADER, key_len)?;
                Ok(LeafEntryRef { key, value: ValueRef::Overflow { len, first } })
            }
            k => Err(self.bad(&format!("unknown value kind {k}"))),
        }
    }

    pub(crate) fn branch_entry(&self, i: usize) -> Result<(&'a [u8], u64)> {
        let at = self.entry_offset(i);
        let h = self.slice(at, BRANCH_ENTRY_HEADER)?;
        let key_len = get_u16(h, 0) as usize;
        let child = get_u64(h, 2);
        Ok((self.slice(at + BRANCH_ENTRY_HEADER, key_len)?, child))
    }

    pub(crate) fn child(&self, index: usize) -> Result<u64> {
        if index == 0 { Ok(self.first_child()) } else { Ok(self.branch_entry(index - 1)?.1) }
    }

    /// Leaf: `Ok(i)` when entry i has `key`, else `Err(insertion point)`.
    pub(crate) fn search(&self, key: &[u8]) -> Result<std::result::Result<usize, usize>> {
        let (mut lo, mut hi) = (0usize, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match cmp_keys(self.key(mid)?, key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Ok(mid)),
            }
        }
        Ok(Err(lo))
    }

    /// Branch: the number of leading separators for which `goes_right` holds (separators are in
    /// key order, so it holds for a prefix of them).
    pub(crate) fn partition_point(&self, goes_right: impl Fn(&[u8]) -> bool) -> Result<usize> {
        let (mut lo, mut hi) = (0usize, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if goes_right(self.key(mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Check every invariant of the page's layout (see the module comment): the entries lie
    /// after the slots, in slot order, inside the page and apart; the keys strictly ascend and
    /// keep the key limit; inline entries keep the inline limit; overflow references are sane;
    /// no child link is 0. One pass over the entries. A page that fails is damage, named.
    pub(crate) fn validate(&self) -> Result<()> {
        let page_len = self.page.len();
        let max_key = key_limit_of_page(page_len);
        let max_inline = max_inline_entry(page_len);
        if !self.leaf && self.first_child() == 0 {
            return Err(self.bad("branch without a leftmost child"));
        }
        // The first byte the next entry may use: past the slots, then past each entry.
        let mut free_from = PAGE_HEADER_BYTES + self.count * SLOT_BYTES;
        let mut previous: Option<&[u8]> = None;
        for i in 0..self.count {
            let at = self.entry_offset(i);
            if at < free_from {
                return Err(self.bad(&format!(
                    "entry {i} at offset {at} overlaps the slots or the entry before it (free from {free_from})"
                )));
            }
            let (key, entry_bytes) = if self.leaf {
                let e = self.leaf_entry(i)?;
                let bytes = match e.value {
                    ValueRef::Inline(v) => {
                        let len = inline_entry_len(e.key.len(), v.len());
                        if len > max_inline {
                            return Err(self.bad(&format!(
                                "entry {i} holds {len} bytes inline, more than the limit of {max_inline}"
                            )));
                        }
                        len - SLOT_BYTES
                    }
                    ValueRef::Overflow { len, first } => {
                        if len > MAX_VALUE_BYTES {
                            return Err(self.bad(&format!("entry {i} claims a value of {len} bytes")));
                        }
                        // An empty value has no chain: its link is never followed (compaction
                        // writes the next free page number there, the writer 0).
                        if len > 0 && first == 0 {
                            return Err(
                                self.bad(&format!("entry {i}: a value of {len} bytes without a chain"))
                            );
                        }
                        OVERFLOW_ENTRY_HEADER + e.key.len()
                    }
                };
                (e.key, bytes)
            } else {
                let (key, child) = self.branch_entry(i)?;
                if child == 0 {
                    return Err(self.bad(&format!("entry {i} links to page 0")));
                }
                (key, BRANCH_ENTRY_HEADER + key.len())
            };
            if key.len() > max_key {
                return Err(self.bad(&format!(
                    "entry {i} has a key of {} bytes, over the limit of {max_key}",
                    key.len()
                )));
            }
            if let Some(p) = previous
                && cmp_keys(p, key).is_ge()
            {
                return Err(self.bad(&format!("keys out of order at entry {i}")));
            }
            // `leaf_entry` and `branch_entry` checked that the entry lies inside the page.
            free_from = at + entry_bytes;
            previous = Some(key);
        }
        Ok(())
    }

    /// Bytes of the page in use.
    pub(crate) fn used_bytes(&self) -> Result<usize> {
        let mut used = PAGE_HEADER_BYTES + self.count * SLOT_BYTES;
        for i in 0..self.count {
            used += if self.leaf {
                let e = self.leaf_entry(i)?;
                e.key.len()
                    + match e.value {
                        ValueRef::Inline(v) => INLINE_ENTRY_HEADER + v.len(),
                        ValueRef::Overflow { .. } => OVERFLOW_ENTRY_HEADER,
                    }
            } else {
                BRANCH_ENTRY_HEADER + self.branch_entry(i)?.0.len()
            };
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::file::put_u16;

    fn leaf(n: usize) -> Leaf {
        Leaf::new(
            (0..n)
                .map(|i| LeafEntry {
                    key: format!("key{i:04}").into_bytes(),
                    value: if i % 3 == 0 {
                        Value::Overflow { len: 10_000 + i as u64, first: 100 + i as u64 }
                    } else {
                        Value::Inline(vec![i.to_le_bytes()[0]; i % 17])
                    },
                })
                .collect(),
        )
    }

    #[test]
    fn leaf_round_trips_and_view_searches() {
        let l = leaf(40);
        let node = Node::Leaf(l.clone());
        let mut page = vec![0u8; 4096];
        assert!(node.encoded_len() <= page.len());
        node.encode(&mut page);
        assert_eq!(Node::decode(9, &page).unwrap(), node);
        let view = NodeView::new(9, &page).unwrap();
        assert_eq!(view.used_bytes().unwrap(), node.encoded_len());
        for (i, e) in l.iter().enumerate() {
            assert_eq!(view.search(e.key).unwrap(), Ok(i));
        }
        assert_eq!(view.search(b"key0000x").unwrap(), Err(1));
        assert_eq!(view.search(b"").unwrap(), Err(0));
        assert_eq!(view.search(b"z").unwrap(), Err(40));
    }

    /// A leaf changed by any sequence of inserts, replacements and removals holds what a map
    /// changed the same way holds, keeps its byte count, encodes to a page that decodes to the
    /// same entries, and splits and merges back to the same leaf.
    #[test]
    fn leaf_changes_match_a_model() {
        use proptest::prelude::*;
        use std::collections::BTreeMap;
        #[derive(Debug, Clone)]
        enum Op {
            Put(u8, usize, bool),
            Remove(u8),
        }
        let op = prop_oneof![
            (any::<u8>(), 0usize..60, any::<bool>()).prop_map(|(k, n, o)| Op::Put(k, n, o)),
            any::<u8>().prop_map(Op::Remove),
        ];
        proptest!(ProptestConfig { cases: 64, ..ProptestConfig::default() }, |(ops in proptest::collection::vec(op, 1..300))| {
            let mut leaf = Leaf::default();
            let mut model: BTreeMap<Vec<u8>, Value> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Put(k, n, overflow) => {
                        let key = vec![k; 1 + usize::from(k % 7)];
                        let value = if overflow {
                            Value::Overflow { len: 10_000 + n as u64, first: 7 + n as u64 }
                        } else {
                            Value::Inline(vec![k ^ 0x5a; n])
                        };
                        match leaf.search(&key) {
                            Ok(i) => {
                                let old = leaf.replace_value(i, value.as_ref());
                                let was = model.insert(key, value).expect("the model has it");
                                prop_assert_eq!(old, match was {
                                    Value::Inline(_) => OldValue::Inline,
                                    Value::Overflow { len, first } => OldValue::Overflow { len, first },
                                });
                            }
                            Err(i) => {
                                leaf.insert(i, &key, value.as_ref());
                                prop_assert!(model.insert(key, value).is_none());
                            }
                        }
                    }
                    Op::Remove(k) => {
                        let key = vec![k; 1 + usize::from(k % 7)];
                        let old = leaf.search(&key).ok().map(|i| leaf.remove(i));
                        prop_assert_eq!(old.is_some(), model.remove(&key).is_some());
                    }
                }
                prop_assert!(Node::Leaf(leaf.clone()).size_is_consistent());
            }
            let entries: Vec<(Vec<u8>, Value)> = leaf.iter().map(|e| (e.key.to_vec(), e.value.to_value())).collect();
            let expected: Vec<(Vec<u8>, Value)> = model.into_iter().collect();
            prop_assert_eq!(&entries, &expected);
            if leaf.encoded_len() <= 16 << 10 {
                let mut page = vec![0xEEu8; 16 << 10];
                Node::Leaf(leaf.clone()).encode(&mut page);
                prop_assert_eq!(Node::decode(3, &page).unwrap(), Node::Leaf(leaf.clone()));
                prop_assert_eq!(NodeView::new(3, &page).unwrap().used_bytes().unwrap(), leaf.encoded_len());
            }
            if leaf.len() >= 2 {
                let mut left = leaf.clone();
                let right = left.split_off(leaf.len() / 2);
                prop_assert_eq!(left.encoded_len() + right.encoded_len() - PAGE_HEADER_BYTES, leaf.encoded_len());
                left.append(right);
                prop_assert_eq!(&left, &leaf);
                prop_assert_eq!(left.encoded_len(), leaf.encoded_len());
            }
        });
    }

    #[test]
    fn branch_changes_keep_children_and_round_trip() {
        let mut b = Branch::new(1, Vec::new());
        for i in 0..200u64 {
            let key = format!("k{:05}", (i * 7919) % 1000).into_bytes();
            let at = b.child_index(&key);
            b.insert(at, &key, 100 + i);
            assert_branch_in_order(&b);
        }
        b.set_child(0, 2);
        b.set_child(5, 77);
        assert_eq!((b.child(0), b.child(5)), (2, 77));
        let before = b.clone();
        let (sep, right) = b.split_at(100);
        assert_eq!(b.len() + right.len() + 1, before.len());
        assert_eq!(right.first_child, before.entry(100).1);
        b.append(&sep, right);
        assert_eq!(b, before);
        let removed = b.remove(3);
        assert_eq!(removed.0, before.entry(3).0.to_vec());
        let mut page = vec![0u8; 8192];
        Node::Branch(b.clone()).encode(&mut page);
        assert_eq!(Node::decode(9, &page).unwrap(), Node::Branch(b));
    }

    fn assert_branch_in_order(b: &Branch) {
        assert!(Node::Branch(b.clone()).size_is_consistent());
        for i in 1..b.len() {
            assert!(b.entry(i - 1).0 < b.entry(i).0, "separators out of order at {i}");
        }
    }

    #[test]
    fn branch_round_trips_and_routes_keys() {
        let b = Branch::new(7, vec![(b"m".to_vec(), 8), (b"t".to_vec(), 9)]);
        let node = Node::Branch(b.clone());
        let mut page = vec![0u8; 1024];
        node.encode(&mut page);
        assert_eq!(Node::decode(3, &page).unwrap(), node);
        let view = NodeView::new(3, &page).unwrap();
        for (key, child) in [(&b"a"[..], 7), (b"m", 8), (b"n", 8), (b"t", 9), (b"zz", 9)] {
            let idx = view.partition_point(|sep| cmp_keys(sep, key).is_le()).unwrap();
            assert_eq!(view.child(idx).unwrap(), child);
            assert_eq!(b.child(b.child_index(key)), child);
        }
    }

    #[test]
    fn key_order_is_bytewise() {
        let keys: [&[u8]; 8] = [
            b"",
            b"a",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefghi",
            b"abcdefgi",
            b"\xff",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(cmp_keys(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    /// Each invariant `validate` checks, broken on an otherwise whole page: an error naming the
    /// page, where decoding used to give a node that no longer fits (or keys out of order).
    #[test]
    fn pages_breaking_an_invariant_do_not_decode() {
        let node = Node::Leaf(leaf(12));
        let mut page = vec![0u8; 1024];
        node.encode(&mut page);
        let slot = |i: usize| PAGE_HEADER_BYTES + i * SLOT_BYTES;
        let offset = |page: &[u8], i: usize| usize::from(get_u16(page, slot(i)));
        let refused = |page: &[u8], what: &str| {
            assert!(matches!(Node::decode(4, page), Err(Error::Corrupted { page: 4, .. })), "{what}");
        };
        assert_eq!(Node::decode(4, &page).unwrap(), node);
        // Two slots on one entry: the entries overlap, and a decoded copy would grow.
        let mut p = page.clone();
        put_u16(&mut p, slot(3), in_page_u16(offset(&page, 2)));
        refused(&p, "overlapping entries");
        // Two slots swapped: keys out of order.
        let mut p = page.clone();
        put_u16(&mut p, slot(3), in_page_u16(offset(&page, 4)));
        put_u16(&mut p, slot(4), in_page_u16(offset(&page, 3)));
        refused(&p, "swapped slots");
        // An entry inside the slots.
        let mut p = page.clone();
        put_u16(&mut p, slot(0), in_page_u16(slot(11)));
        refused(&p, "entry over the slots");
        // Entry 1 is inline; entry 0 holds an overflow reference (see `leaf`).
        let at = offset(&page, 1);
        let mut p = page.clone();
        put_u16(&mut p, at + 3, in_page_u16(max_inline_entry(1024)));
        refused(&p, "inline value over the inline limit");
        let at = offset(&page, 0);
        let mut p = page.clone();
        put_u64(&mut p, at + 3, MAX_VALUE_BYTES + 1);
        refused(&p, "overflow value over the value limit");
        let mut p = page.clone();
        put_u64(&mut p, at + 11, 0);
        refused(&p, "a value with no chain");
        // The last entry's key grown over the key limit (the page's zero tail is its key).
        let last = offset(&page, 11);
        let mut p = page.clone();
        put_u16(&mut p, last, in_page_u16(key_limit_of_page(1024) + 1));
        refused(&p, "key over the limit");
        // A branch's child link 0.
        let b = Node::Branch(Branch::new(7, vec![(b"m".to_vec(), 8), (b"t".to_vec(), 9)]));
        let mut page = vec![0u8; 1024];
        b.encode(&mut page);
        let mut p = page.clone();
        put_u64(&mut p, offset(&page, 1) + 2, 0);
        refused(&p, "child 0");
        let mut p = page.clone();
        put_u64(&mut p, 8, 0);
        refused(&p, "leftmost child 0");
    }

    #[test]
    fn damaged_offsets_are_errors_not_panics() {
        let node = Node::Leaf(leaf(10));
        let mut page = vec![0u8; 1024];
        node.encode(&mut page);
        // Point the first slot past the end of the page, then claim a huge count.
        put_u16(&mut page, PAGE_HEADER_BYTES, 1020);
        assert!(matches!(Node::decode(4, &page), Err(Error::Corrupted { page: 4, .. })));
        put_u16(&mut page, 2, 60000);
        assert!(NodeView::new(4, &page).is_err());
        page[0] = 99;
        assert!(NodeView::new(4, &page).is_err());
    }
}
