//! The write buffer: small commits' keys and values held in memory, in front of the tree, until
//! enough have gathered to fold them into the tree at once.
//!
//! A commit that changes the tree copies, seals and later writes every leaf it touches; a
//! hundred commits of a thousand random keys each touch nearly every leaf a hundred times. A
//! commit whose values all fit in a leaf goes instead into this buffer as one sorted *run*
//! (after its log record, as before: the log is still what makes it durable). Reads look in
//! the buffer first, newest run first, then in the tree. Once the buffer holds
//! [`Engine::buffer_limit`](super::Engine) bytes, or before anything that reads pages
//! (statistics, the integrity check, page inspection, a checkpoint), its net effect (the last
//! change of each key) is applied to the tree in key order, as one commit of the engine: each
//! leaf is changed once for all the commits in the buffer.
//!
//! Runs never change once made, so a published state holds the runs it saw (`Arc`s) and reads
//! them without a lock. Runs are merged as they come, newest into the one before it while it
//! is at least a quarter of that one's size and the two together at most a quarter of the
//! limit, so a buffer has few runs (about four of the largest size, and log4 of the rest)
//! and no merge copies more than a quarter of it. The fold reads the runs in one merged pass,
//! copying nothing.
//!
//! One filter, shared by every state published since the buffer was last folded, answers "not
//! in the buffer" for most keys that are not: a bit array in which each key sets three bits of
//! one 64-bit word. Bits are only ever set (a key a later commit added shows as a possible hit
//! to an older state, which then searches its runs and does not find it), so the writer sets
//! them in place; a state published after a key was added sees its bits, because publishing
//! goes through a lock that orders the writer's stores before the readers' loads.
//!
//! The buffer keeps its share of the key count without reading the tree: for each key, the
//! newest change it holds is a put or a delete (counted as commits come, against the buffer's
//! own older changes), and a key new to the buffer is noted in a list that every state since
//! the last fold shares. How many of those the tree holds is looked up the first time a state's
//! count is asked for, from the count an earlier state already made (`KeyCounter`); the fold
//! counts the keys it merges as it merges them. So a commit reads no leaf for the count.
//!
//! ```text
//!  run:  data   [key0 value0 key1 key2 value2 ...]      keys and values, in key order
//!        index  [(at, key_len, value_len | DELETED)]   one slot per key, ascending keys
//! ```

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::Engine;
use super::pages::Tree;
use crate::error::Result;
use crate::layout::node::{inline_entry_len, key_limit_of_page, max_inline_entry};

/// A slot's value length for a deleted key.
const DELETED: u32 = u32::MAX;

/// Bytes of the index an entry takes, counted with its key and value against the limit.
pub(crate) const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// Filter words per byte of buffer limit: with entries of 128 bytes or more (the limit's
/// entry count below), at most four keys share a word, so a key not in the buffer passes the
/// filter about once in 500 lookups.
const LIMIT_BYTES_PER_FILTER_WORD: usize = 512;

/// Entries per filter word at most before the buffer is folded, whatever their size.
const ENTRIES_PER_FILTER_WORD: usize = 4;

/// Runs are merged up to this share of the buffer's limit (and at least [`MIN_MERGED_BYTES`]).
const MERGED_LIMIT_DIVISOR: usize = 4;
const MIN_MERGED_BYTES: usize = 64 << 10;

#[derive(Clone, Copy)]
struct Slot {
    at: u32,
    key_len: u32,
    value_len: u32,
}

/// A run's offset or length as a slot holds it. A run holds at most twice the buffer's limit
/// and one commit of at most half of it (a replay's), the limit at most
/// `options::MAX_WRITE_BUFFER_BYTES` (256 MiB): far below `DELETED`.
#[allow(clippy::cast_possible_truncation)]
fn small(n: usize) -> u32 {
    debug_assert!(n < DELETED as usize);
    n as u32
}

/// One commit's changes (or several commits' merged), sorted by key, one entry per key.
pub(crate) struct Run {
    data: Vec<u8>,
    index: Vec<Slot>,
}

/// A change the buffer holds for a key: `Some(value)`, or `None` for a delete.
pub(crate) type Change<'a> = Option<&'a [u8]>;

impl Run {
    /// A run of `entries`, which must be in ascending key order, one per key.
    fn from_sorted<'a>(entries: impl Iterator<Item = (&'a [u8], Change<'a>)>, bytes_hint: usize) -> Run {
        let mut run = Run { data: Vec::with_capacity(bytes_hint), index: Vec::new() };
        for (key, value) in entries {
            run.push(key, value);
        }
        run.data.shrink_to_fit();
        run.index.shrink_to_fit();
        run
    }

    fn push(&mut self, key: &[u8], value: Change<'_>) {
        debug_assert!(self.index.last().is_none_or(|_| self.key(self.index.len() - 1) < key));
        let at = self.data.len();
        self.data.extend_from_slice(key);
        if let Some(v) = value {
            self.data.extend_from_slice(v);
        }
        self.index.push(Slot {
            at: small(at),
            key_len: small(key.len()),
            value_len: value.map_or(DELETED, |v| small(v.len())),
        });
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    fn bytes(&self) -> usize {
        self.data.len() + self.index.len() * SLOT_BYTES
    }

    fn key(&self, i: usize) -> &[u8] {
        let s = self.index[i];
        &self.data[s.at as usize..(s.at + s.key_len) as usize]
    }

    fn entry(&self, i: usize) -> (&[u8], Change<'_>) {
        let s = self.index[i];
        let value_at = (s.at + s.key_len) as usize;
        let value = (s.value_len != DELETED).then(|| &self.data[value_at..value_at + s.value_len as usize]);
        (self.key(i), value)
    }

    fn entries(&self) -> impl Iterator<Item = (&[u8], Change<'_>)> {
        (0..self.len()).map(|i| self.entry(i))
    }

    fn find(&self, key: &[u8]) -> Option<Change<'_>> {
        let i = self.index.partition_point(|s| {
            self.data[s.at as usize..(s.at + s.key_len) as usize].cmp(key) == Ordering::Less
        });
        (i < self.len() && self.key(i) == key).then(|| self.entry(i).1)
    }

    /// The first entry inside `from` (at or after it, or after it).
    fn first_from(&self, from: Bound<&[u8]>) -> Option<(&[u8], Change<'_>)> {
        let i = match from {
            Bound::Unbounded => 0,
            Bound::Included(k) => self.index.partition_point(|s| self.slot_key(s) < k),
            Bound::Excluded(k) => self.index.partition_point(|s| self.slot_key(s) <= k),
        };
        (i < self.len()).then(|| self.entry(i))
    }

    /// The last entry inside `to` (at or before it, or before it).
    fn last_before(&self, to: Bound<&[u8]>) -> Option<(&[u8], Change<'_>)> {
        let n = match to {
            Bound::Unbounded => self.len(),
            Bound::Included(k) => self.index.partition_point(|s| self.slot_key(s) <= k),
            Bound::Excluded(k) => self.index.partition_point(|s| self.slot_key(s) < k),
        };
        n.checked_sub(1).map(|i| self.entry(i))
    }

    fn slot_key(&self, s: &Slot) -> &[u8] {
        &self.data[s.at as usize..(s.at + s.key_len) as usize]
    }

    /// `older` and `newer` as one run: for a key in both, `newer`'s change.
    fn merge(older: &Run, newer: &Run) -> Run {
        let mut out = Run {
            data: Vec::with_capacity(older.data.len() + newer.data.len()),
            index: Vec::with_capacity(older.len() + newer.len()),
        };
        let (mut a, mut b) = (0, 0);
        while a < older.len() || b < newer.len() {
            let take_newer = match (a < older.len(), b < newer.len()) {
                (true, true) => match older.key(a).cmp(newer.key(b)) {
                    Ordering::Less => false,
                    Ordering::Equal => {
                        a += 1;
                        true
                    }
                    Ordering::Greater => true,
                },
                (false, _) => true,
                (true, false) => false,
            };
            let (key, value) = if take_newer {
                b += 1;
                newer.entry(b - 1)
            } else {
                a += 1;
                older.entry(a - 1)
            };
            out.push(key, value);
        }
        out
    }
}

/// The filter: see the module comment.
struct Filter {
    words: Box<[AtomicU64]>,
}

impl Filter {
    fn new(words: usize) -> Filter {
        Filter { words: (0..words.max(1)).map(|_| AtomicU64::new(0)).collect() }
    }

    fn place(&self, hash: u64) -> (&AtomicU64, u64) {
        // Below the word count, so it fits in a usize.
        let word = &self.words[usize::try_from(hash % self.words.len() as u64).unwrap_or(0)];
        let bits =
            (1u64 << ((hash >> 40) & 63)) | (1u64 << ((hash >> 46) & 63)) | (1u64 << ((hash >> 52) & 63));
        (word, bits)
    }

    fn insert(&self, hash: u64) {
        let (word, bits) = self.place(hash);
        word.fetch_or(bits, AtomicOrdering::Relaxed);
    }

    fn may_contain(&self, hash: u64) -> bool {
        let (word, bits) = self.place(hash);
        word.load(AtomicOrdering::Relaxed) & bits == bits
    }
}

/// A key's hash for the filter: eight bytes at a time, each mixed with a multiply.
fn hash(key: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (key.len() as u64).wrapping_mul(K);
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(K).rotate_left(31);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(K).rotate_left(31);
    }
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^ (h >> 32)
}

/// The keys a buffer came to hold that were in none of its runs before, in the order they came
/// (each once: a key stays in the buffer until it is folded), shared by every state published
/// since the buffer was last folded; and how many of the first `n` of them the tree holds, for
/// each `n` a state has asked about. A commit only adds to the list; the tree is looked at when
/// a state's key count is asked for ([`WriteBuffer::key_count`]), and the fold counts the keys
/// it merges on its own.
#[derive(Default)]
struct KeyCounter {
    keys: Mutex<KeyList>,
    /// `n` -> how many of the first `n` keys the tree holds (0 -> 0 at first).
    counted: Mutex<BTreeMap<usize, u64>>,
}

#[derive(Default)]
struct KeyList {
    bytes: Vec<u8>,
    /// Where each key ends in `bytes` (below 4 GiB: the list holds at most the keys of a
    /// buffer, whose limit is at most `options::MAX_WRITE_BUFFER_BYTES`).
    ends: Vec<u32>,
}

/// Bytes the key list takes for `key`: the key and where it ends.
fn listed_bytes(key: &[u8]) -> usize {
    key.len() + std::mem::size_of::<u32>()
}

/// A lock whose holder panicked still guards consistent data here: a list only appended to
/// after each key is whole, a map of counts each inserted whole.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl KeyCounter {
    /// Add keys new to the buffer; how many it has had since its last fold.
    fn add(&self, keys: &[&[u8]]) -> usize {
        let mut list = lock(&self.keys);
        for key in keys {
            list.bytes.extend_from_slice(key);
            let end = small(list.bytes.len());
            list.ends.push(end);
        }
        list.ends.len()
    }

    /// How many of the first `n` keys `tree` holds: from the count of the longest list already
    /// counted that is no longer than `n`, the rest looked up (sorted, one walk of the tree).
    fn present_among_first(&self, n: usize, tree: &Tree<'_>) -> Result<u64> {
        let (from, before) = lock(&self.counted).range(..=n).next_back().map_or((0, 0), |(&i, &c)| (i, c));
        if from == n {
            return Ok(before);
        }
        // Copied out, so that the writer adding keys does not wait for the lookups.
        let (bytes, ends) = {
            let list = lock(&self.keys);
            let start = if from == 0 { 0 } else { list.ends[from - 1] as usize };
            let ends: Vec<usize> = list.ends[from..n].iter().map(|&e| e as usize - start).collect();
            (list.bytes[start..list.ends[n - 1] as usize].to_vec(), ends)
        };
        let mut keys: Vec<&[u8]> = Vec::with_capacity(ends.len());
        let mut at = 0;
        for &end in &ends {
            keys.push(&bytes[at..end]);
            at = end;
        }
        keys.sort_unstable();
        let total = before + tree.count_present(&keys)?;
        lock(&self.counted).insert(n, total);
        Ok(total)
    }
}

/// The buffer as one state sees it: its runs, oldest first, the shared filter, and what it
/// does to the key count.
#[derive(Clone)]
pub(crate) struct WriteBuffer {
    runs: Vec<Arc<Run>>,
    filter: Arc<Filter>,
    bytes: usize,
    entries: usize,
    /// The largest run a merge makes, in bytes.
    merged_limit: usize,
    /// Keys whose newest change here is a put.
    puts: u64,
    /// How many of `counter`'s keys this state holds (its first ones).
    new_keys: usize,
    counter: Arc<KeyCounter>,
}

impl WriteBuffer {
    /// An empty buffer whose filter is sized for `limit_bytes`.
    pub(crate) fn new(limit_bytes: usize) -> WriteBuffer {
        WriteBuffer {
            runs: Vec::new(),
            filter: Arc::new(Filter::new(limit_bytes / LIMIT_BYTES_PER_FILTER_WORD)),
            bytes: 0,
            entries: 0,
            merged_limit: (limit_bytes / MERGED_LIMIT_DIVISOR).max(MIN_MERGED_BYTES),
            puts: 0,
            new_keys: 0,
            counter: Arc::default(),
        }
    }

    /// The number of keys in `tree` (which holds `tree_keys`) and this buffer together: each
    /// key whose newest change here is a put counts once, and each key here the tree holds is
    /// taken off once (looked up in `tree` the first time a state asks, see [`KeyCounter`]).
    pub(crate) fn key_count(&self, tree_keys: u64, tree: &Tree<'_>) -> Result<u64> {
        let in_tree =
            if self.new_keys == 0 { 0 } else { self.counter.present_among_first(self.new_keys, tree)? };
        // Only a tree whose meta slot miscounts its keys holds more of them than it counts.
        Ok((tree_keys + self.puts).saturating_sub(in_tree))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Bytes of keys, values and index held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries held, counting a key once per run it is in.
    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    /// Entries past which the filter would pass too many keys that are not in the buffer.
    pub(crate) fn entry_limit(&self) -> usize {
        self.filter.words.len() * ENTRIES_PER_FILTER_WORD
    }

    /// The buffer's change for `key`, if it holds one: `Some(Some(value))`, or `Some(None)`
    /// when the key was deleted.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Change<'_>> {
        if self.runs.is_empty() || !self.filter.may_contain(hash(key)) {
            return None;
        }
        self.runs.iter().rev().find_map(|run| run.find(key))
    }

    /// For each of `keys` (ascending), the buffer's change if it holds one, as [`WriteBuffer::get`]
    /// gives it: the keys the filter passes are looked for in each run from the newest, each
    /// search starting where the one for the key before it ended.
    pub(crate) fn get_sorted(&self, keys: &[&[u8]]) -> Vec<Option<Change<'_>>> {
        let mut out = vec![None; keys.len()];
        if self.runs.is_empty() {
            return out;
        }
        let mut unresolved: Vec<usize> =
            (0..keys.len()).filter(|&i| self.filter.may_contain(hash(keys[i]))).collect();
        for run in self.runs.iter().rev() {
            if unresolved.is_empty() {
                break;
            }
            let mut from = 0;
            unresolved.retain(|&i| {
                let at = from + run.index[from..].partition_point(|s| run.slot_key(s) < keys[i]);
                from = at;
                if at < run.len() && run.key(at) == keys[i] {
                    out[i] = Some(run.entry(at).1);
                    false
                } else {
                    true
                }
            });
        }
        out
    }

    /// Add one commit's changes, `entries` sorted by key with one change per key, and what they
    /// do to the key count: each key's change against the newest the buffer held for it, or,
    /// for a key new to the buffer, noted for a lookup in the tree when the count is asked for.
    pub(crate) fn push(&mut self, entries: &[(&[u8], Change<'_>)], bytes_hint: usize) {
        if entries.is_empty() {
            return;
        }
        let (puts, fresh) = self.count_puts(entries);
        self.puts = puts;
        self.new_keys = self.counter.add(&fresh);
        // The list of new keys is memory the buffer holds too: counted with it.
        self.bytes += fresh.iter().map(|k| listed_bytes(k)).sum::<usize>();
        let run = Run::from_sorted(entries.iter().copied(), bytes_hint);
        for (key, _) in run.entries() {
            self.filter.insert(hash(key));
        }
        self.bytes += run.bytes();
        self.entries += run.len();
        let mut run = Arc::new(run);
        // Merge into the run before while this one is at least a quarter of its size, up to the
        // largest merged run.
        while let Some(older) = self.runs.last()
            && run.len() * 4 >= older.len()
            && older.bytes() + run.bytes() <= self.merged_limit
        {
            let older = self.runs.pop().unwrap_or_else(|| unreachable!("looked at just above"));
            self.bytes -= older.bytes() + run.bytes();
            self.entries -= older.len() + run.len();
            let merged = Run::merge(&older, &run);
            self.bytes += merged.bytes();
            self.entries += merged.len();
            run = Arc::new(merged);
        }
        self.runs.push(run);
    }

    /// The buffer's count of keys whose newest change is a put once `entries` are added, and
    /// the keys of `entries` it holds no change for.
    fn count_puts<'e>(&self, entries: &[(&'e [u8], Change<'_>)]) -> (u64, Vec<&'e [u8]>) {
        let mut puts = self.puts;
        let mut fresh = Vec::new();
        let mut count = |key: &'e [u8], change: Change<'_>, before: Option<Change<'_>>| {
            puts += u64::from(change.is_some());
            match before {
                Some(before) => puts -= u64::from(before.is_some()),
                None => fresh.push(key),
            }
        };
        if let [(key, change)] = entries {
            // One key (a `put` or a `delete`): one lookup, no lists.
            count(key, *change, self.get(key));
        } else {
            let keys: Vec<&[u8]> = entries.iter().map(|(k, _)| *k).collect();
            for ((key, change), before) in entries.iter().zip(self.get_sorted(&keys)) {
                count(key, *change, before);
            }
        }
        (puts, fresh)
    }

    /// The net effect of every change held, in key order (see
    /// [`WriteBuffer::try_for_each_change`]), gathered: for merging with another sorted stream.
    pub(crate) fn changes(&self) -> Vec<(&[u8], Change<'_>)> {
        let mut out = Vec::new();
        self.try_for_each_change(|key, change| {
            out.push((key, change));
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {});
        out
    }

    /// The net effect of every change held, in key order: `f` gets the newest change of each
    /// key, read from the runs in one merged pass (each step takes the smallest key among the
    /// runs' next entries, the newest run's change for a key several hold). Stops at `f`'s
    /// first error.
    pub(crate) fn try_for_each_change<'s, E>(
        &'s self,
        mut f: impl FnMut(&'s [u8], Change<'s>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut at = vec![0usize; self.runs.len()];
        loop {
            // The newest run holding the smallest next key.
            let mut best: Option<(usize, &'s [u8])> = None;
            for (r, run) in self.runs.iter().enumerate().rev() {
                if at[r] < run.len() && best.is_none_or(|(_, b)| run.key(at[r]) < b) {
                    best = Some((r, run.key(at[r])));
                }
            }
            let Some((r, key)) = best else { return Ok(()) };
            let (_, change) = self.runs[r].entry(at[r]);
            for (i, run) in self.runs.iter().enumerate() {
                if at[i] < run.len() && run.key(at[i]) == key {
                    at[i] += 1;
                }
            }
            f(key, change)?;
        }
    }

    /// The first key inside `from` that the buffer has a change for, with the newest change.
    pub(crate) fn first_from(&self, from: Bound<&[u8]>) -> Option<(&[u8], Change<'_>)> {
        let mut best: Option<(&[u8], Change<'_>)> = None;
        // Newest first: on a tie, the newer run's change is kept.
        for run in self.runs.iter().rev() {
            if let Some((k, v)) = run.first_from(from)
                && best.is_none_or(|(b, _)| k < b)
            {
                best = Some((k, v));
            }
        }
        best
    }

    /// The last key inside `to` that the buffer has a change for, with the newest change.
    pub(crate) fn last_before(&self, to: Bound<&[u8]>) -> Option<(&[u8], Change<'_>)> {
        let mut best: Option<(&[u8], Change<'_>)> = None;
        for run in self.runs.iter().rev() {
            if let Some((k, v)) = run.last_before(to)
                && best.is_none_or(|(b, _)| k > b)
            {
                best = Some((k, v));
            }
        }
        best
    }
}

impl Engine {
    /// Whether `key` has a value, buffer and tree together.
    pub(crate) fn contains(&self, key: &[u8]) -> Result<bool> {
        match self.buffer.get(key) {
            Some(change) => Ok(change.is_some()),
            None => self.with_held_tree(|tree| tree.contains(key)),
        }
    }

    /// `f` on the live tree: while the commit being built has changed no page, the current
    /// state has this tree, with its upper branch pages held, so lookups read only the pages
    /// below them; else the writer's own view, with its changed pages.
    fn with_held_tree<T>(&self, f: impl FnOnce(&Tree<'_>) -> Result<T>) -> Result<T> {
        if self.working_is_empty() {
            let current = self.versions.pin();
            if current.has_tree(self.tree_root(), &self.pages) {
                return f(&current.tree());
            }
        }
        f(&self.tree())
    }

    /// Whether a put of this size fits in a leaf, with no overflow chain (only such a put may
    /// wait in the buffer, or be merged into the tree by [`Engine::apply_sorted`]).
    pub(crate) fn fits_in_leaf(&self, key_len: usize, value_len: usize) -> bool {
        key_len <= key_limit_of_page(self.page_size)
            && inline_entry_len(key_len, value_len) <= max_inline_entry(self.page_size)
    }

    /// Bytes the buffer holds at most before it is folded into the tree.
    pub(crate) fn buffer_limit(&self) -> usize {
        self.buffer_limit
    }

    /// The buffer as the writer sees it.
    pub(crate) fn buffer(&self) -> &WriteBuffer {
        &self.buffer
    }

    /// Put one commit's changes in the buffer: `changes` in ascending key order, one per key,
    /// `bytes` their size.
    pub(crate) fn buffer_changes(&mut self, changes: &[(&[u8], Change<'_>)], bytes: usize) {
        self.buffer.push(changes, bytes);
        self.changed = true;
        self.pages.reserve_for_changed(self.reserved_pages());
    }

    /// Whether the buffer holds its limit (in bytes, or in entries for its filter).
    pub(crate) fn buffer_is_full(&self) -> bool {
        !self.buffer.is_empty()
            && (self.buffer.bytes() >= self.buffer_limit
                || self.buffer.entries() >= self.buffer.entry_limit())
    }

    /// Whether the buffer holds twice its limit: a replay, which does not checkpoint, folds it
    /// then. (A log replayed after a crash holds up to a buffer's worth and the commit that
    /// filled it: the writer may have died checkpointing it. The replay keeps it all in the
    /// buffer; the first commit after it checkpoints.)
    pub(crate) fn buffer_is_over_full(&self) -> bool {
        !self.buffer.is_empty()
            && (self.buffer.bytes() >= 2 * self.buffer_limit
                || self.buffer.entries() >= 2 * self.buffer.entry_limit())
    }

    /// Pages' worth of memory the cache leaves to changes: pages changed and not written, and
    /// the buffer.
    pub(crate) fn reserved_pages(&self) -> usize {
        self.dirty_count() + (self.buffer.bytes() + self.folding_bytes).div_ceil(self.page_size)
    }

    /// Empty the buffer, for its changes to be applied to the tree
    /// ([`WriteBuffer::try_for_each_change`]).
    /// Its memory stays counted against the cache until [`Engine::folded`].
    pub(crate) fn take_buffer(&mut self) -> WriteBuffer {
        let taken = std::mem::replace(&mut self.buffer, WriteBuffer::new(self.buffer_limit));
        self.folding_bytes = taken.bytes();
        taken
    }

    /// The buffer taken by [`Engine::take_buffer`] is applied and dropped.
    pub(crate) fn folded(&mut self) {
        self.folding_bytes = 0;
        self.pages.reserve_for_changed(self.reserved_pages());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    type Model = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

    fn commit() -> impl Strategy<Value = Vec<(Vec<u8>, Option<Vec<u8>>)>> {
        let key = proptest::collection::vec(0u8..5, 0..3);
        let change = proptest::option::weighted(0.7, proptest::collection::vec(any::<u8>(), 0..3));
        proptest::collection::vec((key, change), 0..12)
    }

    /// Push a commit: sorted, the last change of each key kept.
    fn push(buffer: &mut WriteBuffer, model: &mut Model, commit: &[(Vec<u8>, Option<Vec<u8>>)]) {
        let mut net: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
        for (k, v) in commit {
            net.insert(k, v.as_deref());
            model.insert(k.clone(), v.clone());
        }
        buffer.push(&net.into_iter().collect::<Vec<_>>(), 0);
    }

    fn bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
        b.as_ref().map(Vec::as_slice)
    }

    proptest! {
        #[test]
        fn the_buffer_answers_like_a_map_of_the_last_change(
            commits in proptest::collection::vec(commit(), 0..30),
            probes in proptest::collection::vec(proptest::collection::vec(0u8..6, 0..4), 1..10),
        ) {
            let mut buffer = WriteBuffer::new(1 << 16);
            let mut model = Model::new();
            let mut states = Vec::new();
            for c in &commits {
                push(&mut buffer, &mut model, c);
                states.push((buffer.clone(), model.clone()));
            }
            // Every state published along the way still answers as it did (runs never change).
            let mut sorted: Vec<&[u8]> = probes.iter().map(Vec::as_slice).collect();
            sorted.sort();
            sorted.dedup();
            for (state, model) in &states {
                let got: Vec<_> = state.get_sorted(&sorted).into_iter().map(|c| c.map(|c| c.map(<[u8]>::to_vec))).collect();
                let want: Vec<_> = sorted.iter().map(|k| model.get(*k).cloned()).collect();
                prop_assert_eq!(got, want);
                for p in &probes {
                    prop_assert_eq!(state.get(p).map(|c| c.map(<[u8]>::to_vec)), model.get(p).cloned());
                    for b in [Bound::Included(p.clone()), Bound::Excluded(p.clone()), Bound::Unbounded] {
                        let want = match &b {
                            Bound::Unbounded => model.iter().next(),
                            _ => model.range::<[u8], _>((bound(&b), Bound::Unbounded)).next(),
                        };
                        let got = state.first_from(bound(&b));
                        prop_assert_eq!(got.map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))), want.map(|(k, v)| (k.clone(), v.clone())));
                        let want = match &b {
                            Bound::Unbounded => model.iter().next_back(),
                            _ => model.range::<[u8], _>((Bound::Unbounded, bound(&b))).next_back(),
                        };
                        let got = state.last_before(bound(&b));
                        prop_assert_eq!(got.map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))), want.map(|(k, v)| (k.clone(), v.clone())));
                    }
                }
                let mut changes = Vec::new();
                state.try_for_each_change(|k, v| { changes.push((k, v)); Ok::<(), ()>(()) }).unwrap();
                prop_assert!(changes.windows(2).all(|w| w[0].0 < w[1].0), "not in key order");
                let merged: Model = changes.into_iter().map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))).collect();
                prop_assert_eq!(&merged, model);
                prop_assert!(state.runs.len() <= 12, "{} runs", state.runs.len());
            }
        }
    }

    #[test]
    fn runs_merge_so_that_a_thousand_one_key_commits_leave_few() {
        let mut buffer = WriteBuffer::new(1 << 20);
        for i in 0u32..1000 {
            let key = i.wrapping_mul(2_654_435_761).to_be_bytes();
            buffer.push(&[(&key[..], Some(&b"v"[..]))], 0);
        }
        assert!(buffer.runs.len() <= 8, "{} runs", buffer.runs.len());
        assert_eq!(buffer.entries(), 1000);
        // Each key, its value and slot, and its place in the list of keys new to the buffer.
        assert_eq!(buffer.bytes(), 1000 * (4 + 1 + SLOT_BYTES) + 1000 * (4 + 4));
        let mut keys: Vec<Vec<u8>> = Vec::new();
        buffer
            .try_for_each_change(|k, _| {
                keys.push(k.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn the_filter_passes_few_keys_that_are_not_there() {
        let mut buffer = WriteBuffer::new(1 << 20);
        let keys: Vec<[u8; 16]> = (0u64..4000)
            .map(|i| [i.to_le_bytes(), (!i).to_le_bytes()].concat().try_into().unwrap())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        buffer.push(&sorted.iter().map(|k| (&k[..], Some(&b"x"[..]))).collect::<Vec<_>>(), 0);
        assert!(keys.iter().all(|k| buffer.get(k).is_some()));
        let passed = (4000u64..104_000)
            .filter(|i| buffer.filter.may_contain(hash(&[i.to_le_bytes(), (!i).to_le_bytes()].concat())))
            .count();
        assert!(passed < 1000, "{passed} of 100,000 absent keys passed the filter");
    }
}
