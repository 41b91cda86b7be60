//! A node's entries as a write changes them: kept as page bytes, not as owned keys and values.
//!
//! Each entry is encoded as it is on a page (header, key, value) in one buffer, in the order the
//! entries came, with the offset of each in key order. Decoding a page copies its entries in one
//! piece; an insert appends the new entry and moves offsets, with no allocation per entry; a
//! replaced or removed entry leaves dead bytes, dropped when the buffer would otherwise grow.
//! Encoding writes the slots and copies the live entries in key order, so the page is packed as
//! the format requires (see `node`).
//!
//! The bytes the entries take on a page are kept up to date by every change: a write checks
//! "does it still fit?" once per insert, which must not walk the page.

use std::marker::PhantomData;
use std::ops::Range;

use crate::layout::file::{PAGE_HEADER_BYTES, get_u16, in_page_u16, put_u16};

/// Bytes of one slot: an entry's offset in the page, in key order after the page header.
pub(crate) const SLOT_BYTES: usize = 2;

/// How one kind of page lays out an entry: its size and where its key lies, read from its
/// header. Only called on entries this module wrote or copied from a validated page.
pub(crate) trait EntryLayout {
    /// Bytes of the entry at `at`, without its slot.
    fn bytes_at(buf: &[u8], at: usize) -> usize;
    /// Where the key of the entry at `at` lies.
    fn key_range(buf: &[u8], at: usize) -> Range<usize>;
}

pub(crate) struct Entries<L> {
    buf: Vec<u8>,
    offs: Vec<u32>,
    /// Bytes on a page: header, slots and entries.
    bytes: usize,
    layout: PhantomData<L>,
}

impl<L> Clone for Entries<L> {
    fn clone(&self) -> Self {
        Entries { buf: self.buf.clone(), offs: self.offs.clone(), bytes: self.bytes, layout: PhantomData }
    }
}

impl<L> Default for Entries<L> {
    fn default() -> Self {
        Entries { buf: Vec::new(), offs: Vec::new(), bytes: PAGE_HEADER_BYTES, layout: PhantomData }
    }
}

/// The buffer a node of a page of `page_len` bytes starts with: the size of a page image, so
/// the allocator serves one from the memory the other gave back (a commit's
/// changed nodes take the place of the cache's pages they push out). It holds the page's entries
/// and some more; past that, dead bytes are dropped first and the buffer grows only by what an
/// insert that will split the page needs (`make_room`).
fn capacity_for(page_len: usize) -> usize {
    // An `Arc<[u8]>` page image also holds its two reference counts.
    page_len + 2 * std::mem::size_of::<usize>()
}

/// An offset into an entry buffer (at most a few pages long).
fn offset(n: usize) -> u32 {
    u32::try_from(n).expect("an entry buffer stays far below 4 GiB")
}

impl<L: EntryLayout> Entries<L> {
    /// The entries of a validated page whose slots hold `offsets`, in slot order: the bytes from
    /// the first entry to the end of the last, copied in one piece.
    pub(crate) fn from_page(page: &[u8], offsets: impl ExactSizeIterator<Item = usize> + Clone) -> Self {
        let mut entries = Entries::default();
        let (Some(base), Some(last)) = (offsets.clone().next(), offsets.clone().last()) else {
            return entries;
        };
        let end = last + L::bytes_at(page, last);
        entries.buf.reserve_exact(capacity_for(page.len()));
        entries.buf.extend_from_slice(&page[base..end]);
        // Room for the inserts before a split without moving the offsets.
        entries.offs.reserve_exact(offsets.len() + offsets.len() / 4 + 4);
        entries.offs.extend(offsets.map(|at| offset(at - base)));
        entries.bytes = entries.recount();
        entries
    }

    /// The page bytes counted afresh (debug checks compare it with the kept count).
    pub(crate) fn recount(&self) -> usize {
        PAGE_HEADER_BYTES + (0..self.len()).map(|i| self.entry_len(i)).sum::<usize>()
    }

    pub(crate) fn len(&self) -> usize {
        self.offs.len()
    }

    /// Bytes on a page, header included.
    pub(crate) fn encoded_len(&self) -> usize {
        self.bytes
    }

    /// Where entry `i` starts in [`Entries::buf`].
    pub(crate) fn at(&self, i: usize) -> usize {
        self.offs[i] as usize
    }

    pub(crate) fn buf(&self) -> &[u8] {
        &self.buf
    }

    /// Entry `i`'s bytes, to change a fixed-size field in place.
    pub(crate) fn entry_mut(&mut self, i: usize) -> &mut [u8] {
        let at = self.at(i);
        let len = L::bytes_at(&self.buf, at);
        &mut self.buf[at..at + len]
    }

    /// Bytes entry `i` takes on a page, its slot included.
    pub(crate) fn entry_len(&self, i: usize) -> usize {
        SLOT_BYTES + L::bytes_at(&self.buf, self.at(i))
    }

    pub(crate) fn key(&self, i: usize) -> &[u8] {
        &self.buf[L::key_range(&self.buf, self.at(i))]
    }

    /// Binary search by key: `cmp` orders an entry's key against the one sought.
    pub(crate) fn search_by(&self, cmp: impl Fn(&[u8]) -> std::cmp::Ordering) -> Result<usize, usize> {
        self.offs.binary_search_by(|&at| cmp(&self.buf[L::key_range(&self.buf, at as usize)]))
    }

    /// The number of leading entries whose key `pred` holds for (a prefix, in key order).
    pub(crate) fn partition_point(&self, pred: impl Fn(&[u8]) -> bool) -> usize {
        self.offs.partition_point(|&at| pred(&self.buf[L::key_range(&self.buf, at as usize)]))
    }

    /// Before appending up to `need` bytes: when they do not fit the buffer's capacity, drop the
    /// dead bytes if there are any, else grow the buffer.
    fn make_room(&mut self, need: usize) {
        let (len, cap) = (self.buf.len(), self.buf.capacity());
        let live = self.bytes - PAGE_HEADER_BYTES - self.offs.len() * SLOT_BYTES;
        if len + need <= cap {
            return;
        }
        if live < len {
            let mut buf = Vec::with_capacity(cap.max(live + need));
            for at in &mut self.offs {
                let from = *at as usize;
                *at = offset(buf.len());
                buf.extend_from_slice(&self.buf[from..from + L::bytes_at(&self.buf, from)]);
            }
            self.buf = buf;
        } else {
            // No dead bytes to drop: grow by what the insert needs and a margin, not by doubling
            // (past a page's size, the node is about to split).
            self.buf.reserve_exact(need.max(cap / 8).max(64));
        }
    }

    /// Insert at `index` the entry `write` appends to the buffer (at most `need` bytes).
    pub(crate) fn insert_with(&mut self, index: usize, need: usize, write: impl FnOnce(&mut Vec<u8>)) {
        self.make_room(need);
        let at = self.buf.len();
        write(&mut self.buf);
        debug_assert_eq!(self.buf.len() - at, L::bytes_at(&self.buf, at));
        self.bytes += SLOT_BYTES + (self.buf.len() - at);
        self.offs.insert(index, offset(at));
    }

    /// Put in place of entry `index` the entry `write` appends to the buffer (at most `need`
    /// bytes); `write` is given where the old entry's key lies in the buffer, to copy it.
    pub(crate) fn replace_with(
        &mut self,
        index: usize,
        need: usize,
        write: impl FnOnce(&mut Vec<u8>, Range<usize>),
    ) {
        self.make_room(need);
        self.bytes -= self.entry_len(index);
        let key = L::key_range(&self.buf, self.at(index));
        let at = self.buf.len();
        write(&mut self.buf, key);
        debug_assert_eq!(self.buf.len() - at, L::bytes_at(&self.buf, at));
        self.bytes += SLOT_BYTES + (self.buf.len() - at);
        self.offs[index] = offset(at);
    }

    pub(crate) fn remove(&mut self, index: usize) {
        self.bytes -= self.entry_len(index);
        self.offs.remove(index);
    }

    /// Move entries `at..` into new entries.
    pub(crate) fn split_off(&mut self, at: usize) -> Self {
        let mut right = Entries { buf: Vec::with_capacity(self.buf.capacity()), ..Entries::default() };
        right.extend_from(self, at);
        self.offs.truncate(at);
        self.bytes -= right.bytes - PAGE_HEADER_BYTES;
        right
    }

    /// No entries, with a buffer the size of a page of `page_len` bytes.
    pub(crate) fn for_page(page_len: usize) -> Self {
        let mut entries = Entries::default();
        entries.buf.reserve_exact(capacity_for(page_len));
        entries
    }

    /// Copy `other`'s entries from `from` on to the end (all greater than ours).
    fn extend_from(&mut self, other: &Self, from: usize) {
        self.extend_from_range(other, from..other.len());
    }

    /// Copy `other`'s entries `range` to the end (all greater than ours).
    pub(crate) fn extend_from_range(&mut self, other: &Self, range: Range<usize>) {
        for i in range {
            let at = other.at(i);
            let len = L::bytes_at(&other.buf, at);
            self.offs.push(offset(self.buf.len()));
            self.buf.extend_from_slice(&other.buf[at..at + len]);
            self.bytes += SLOT_BYTES + len;
        }
    }

    /// Move all of `other`'s entries (all greater than ours) to the end.
    pub(crate) fn append(&mut self, other: Self) {
        self.extend_from(&other, 0);
    }

    /// Write the slots and the entries after a page's header; zero the rest of the page.
    pub(crate) fn encode_into(&self, out: &mut [u8]) {
        let mut to = PAGE_HEADER_BYTES + self.len() * SLOT_BYTES;
        for (i, &from) in self.offs.iter().enumerate() {
            let from = from as usize;
            let len = L::bytes_at(&self.buf, from);
            put_u16(out, PAGE_HEADER_BYTES + i * SLOT_BYTES, in_page_u16(to));
            out[to..to + len].copy_from_slice(&self.buf[from..from + len]);
            to += len;
        }
        out[to..].fill(0);
    }
}

/// Read a little-endian `u16` length field of an entry.
pub(crate) fn len_field(buf: &[u8], at: usize) -> usize {
    usize::from(get_u16(buf, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries of a test layout: a one-byte length, then that many key bytes.
    struct Bytes;
    impl EntryLayout for Bytes {
        fn bytes_at(buf: &[u8], at: usize) -> usize {
            1 + usize::from(buf[at])
        }
        fn key_range(buf: &[u8], at: usize) -> Range<usize> {
            at + 1..at + 1 + usize::from(buf[at])
        }
    }

    fn put(e: &mut Entries<Bytes>, key: &[u8]) {
        let i = e.search_by(|k| k.cmp(key)).unwrap_err();
        e.insert_with(i, 1 + key.len(), |buf| {
            buf.push(u8::try_from(key.len()).unwrap());
            buf.extend_from_slice(key);
        });
    }

    fn keys(e: &Entries<Bytes>) -> Vec<Vec<u8>> {
        (0..e.len()).map(|i| e.key(i).to_vec()).collect()
    }

    #[test]
    fn changes_keep_order_count_and_a_bounded_buffer() {
        let mut e = Entries::<Bytes>::default();
        for k in [&b"m"[..], b"c", b"x", b"a", b"q"] {
            put(&mut e, k);
        }
        assert_eq!(keys(&e), [b"a", b"c", b"m", b"q", b"x"].map(|k| k.to_vec()));
        assert_eq!(e.encoded_len(), e.recount());
        // Replacing the same entry again and again reuses dead bytes once the buffer is full.
        let cap = e.buf.capacity();
        for round in 0..1000u32 {
            let i = e.search_by(|k| k.cmp(b"m")).unwrap();
            e.replace_with(i, 2, |buf, key| {
                buf.push(1);
                buf.extend_from_within(key);
            });
            assert_eq!(e.encoded_len(), e.recount(), "round {round}");
        }
        assert!(e.buf.capacity() <= cap.max(64), "the buffer grew to {}", e.buf.capacity());
        let right = e.split_off(2);
        assert_eq!(keys(&e), [b"a", b"c"].map(|k| k.to_vec()));
        assert_eq!(keys(&right), [b"m", b"q", b"x"].map(|k| k.to_vec()));
        assert_eq!(e.encoded_len() + right.encoded_len() - PAGE_HEADER_BYTES, 5 * 4 + PAGE_HEADER_BYTES);
        e.append(right);
        e.remove(0);
        assert_eq!(keys(&e), [b"c", b"m", b"q", b"x"].map(|k| k.to_vec()));
        assert_eq!(e.partition_point(|k| k <= &b"p"[..]), 2);
        // Encoded, the page is packed in key order; read back, the same entries.
        let mut page = vec![0xAAu8; 64];
        e.encode_into(&mut page);
        let slots = (0..e.len()).map(|i| len_field(&page, PAGE_HEADER_BYTES + i * SLOT_BYTES));
        let back = Entries::<Bytes>::from_page(&page, slots);
        assert_eq!(keys(&back), keys(&e));
        assert_eq!(back.encoded_len(), e.encoded_len());
        assert!(page[e.encoded_len()..].iter().all(|&b| b == 0));
    }
}
