//! Damage that passes the checksum: a field of a leaf, branch, overflow or free-list page, or of
//! a log record's body, is changed (boundary values, off by one, overlapping offsets, swapped
//! keys, huge lengths, zero) and the checksum recomputed over the changed bytes. The store must
//! answer every call with `Ok` or a clean error, never a panic or a debug assertion: each case
//! runs under `catch_unwind`, and the panics are counted (the tests run with debug assertions,
//! cargo test's default profile).
//!
//! Where the change breaks an invariant the decoders check (docs/FORMAT.md: entries inside the
//! page and apart, keys ascending, lengths within the limits, links inside the file), the case
//! is marked `named`: `check()` must name the page, and no read may return a wrong value.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Once, OnceLock};

use wind_kvstore::io::FaultyVfs;
use wind_kvstore::test_support::fuzz_harness;
use wind_kvstore::{Durability, Error, KVStore, MAX_IDENTIFIER_BYTES, PageType, WriteBatch};

use crate::common::*;

const PS: usize = PAGE_SIZE as usize;
const HEADER: usize = 16;
/// Format limits at the test's page size (docs/FORMAT.md, "Limits").
const MAX_INLINE_ENTRY: usize = (PS - HEADER) / 4;
const OVERFLOW_DATA: usize = PS - HEADER;
/// Entries a free-list page holds (format version 2: 16 bytes each).
const FREELIST_ENTRIES: usize = (PS - HEADER) / 16;

fn max_key() -> usize {
    wind_kvstore::max_key_bytes(PAGE_SIZE)
}

// ---------------------------------------------------------------- panics, counted

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic hook that, on a thread inside [`guarded`], keeps the message instead of printing it.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                CAUGHT.with(|c| *c.borrow_mut() = Some(info.to_string().replace('\n', " ")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Run `f`; a panic becomes `Err(message)`.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    QUIET.with(|q| q.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    r.map_err(|_| CAUGHT.with(|c| c.borrow_mut().take()).unwrap_or_else(|| "a panic".into()))
}

/// Cases run, panics, and answers that broke a promise without panicking.
#[derive(Default)]
struct Tally {
    cases: usize,
    opened: usize,
    panics: Vec<(String, String)>,
    violations: Vec<String>,
}

impl Tally {
    fn run(&mut self, what: &str, f: impl FnOnce(&mut Vec<String>) -> bool) {
        self.cases += 1;
        let mut found = Vec::new();
        match guarded(|| f(&mut found)) {
            Ok(opened) => self.opened += usize::from(opened),
            Err(message) => self.panics.push((what.to_string(), message)),
        }
        self.violations.extend(found.into_iter().map(|v| format!("{what}: {v}")));
    }

    fn finish(self, name: &str) {
        eprintln!(
            "{name}: {} cases ({} opened), {} panics, {} broken promises",
            self.cases,
            self.opened,
            self.panics.len(),
            self.violations.len()
        );
        let mut by_place: BTreeMap<String, usize> = BTreeMap::new();
        for (_, message) in &self.panics {
            let place = message.split(": ").next().unwrap_or_default().to_string();
            *by_place.entry(place).or_default() += 1;
        }
        for (place, n) in &by_place {
            eprintln!("  {n} x {place}");
        }
        for (what, message) in self.panics.iter().take(12) {
            eprintln!("  panic: {what}: {message}");
        }
        let mut by_kind: BTreeMap<String, (usize, &str)> = BTreeMap::new();
        for v in &self.violations {
            let kind = v.rsplit(": ").next().unwrap_or_default();
            let kind: String = kind.chars().take(60).collect();
            by_kind.entry(kind).or_insert((0, v)).0 += 1;
        }
        for (n, example) in by_kind.values() {
            eprintln!("  {n} x broken, e.g. {example}");
        }
        assert!(self.panics.is_empty(), "{name}: {} of {} cases panicked", self.panics.len(), self.cases);
        assert!(self.violations.is_empty(), "{name}: {} broken promises", self.violations.len());
    }
}

/// A damaged file may be refused or make single calls fail, but only with an error that says
/// what is damaged: never a poison that hides a panic.
fn clean(e: &Error) -> bool {
    match e {
        Error::Corrupted { .. } | Error::LogCorrupted { .. } => true,
        Error::Poisoned { reason } => !reason.contains("panicked"),
        _ => false,
    }
}

fn note_error(found: &mut Vec<String>, call: &str, e: &Error) {
    if !clean(e) {
        found.push(format!("{call}: unclear error {e:?}"));
    }
}

// ---------------------------------------------------------------- the store damaged

/// Keys of 17 to 47 bytes, so 1 KiB pages make a tree of three levels from a few hundred keys.
fn rkey(n: u64) -> Vec<u8> {
    let mut k = format!("r{n:05}:").into_bytes();
    k.extend(b"abcdefghij".repeat(n as usize % 4 + 1));
    k
}

/// Values inline and in overflow chains of one, two and three pages; some exactly as large as
/// an inline entry may be.
fn rvalue(n: u64, key_len: usize) -> Vec<u8> {
    let len = match n % 11 {
        0 => 1100 + 700 * (n as usize % 3),
        5 => MAX_INLINE_ENTRY - 7 - key_len,
        _ => 5 + (n as usize * 7) % 70,
    };
    value_bytes(len, n)
}

struct Base {
    data: Vec<u8>,
    log: Vec<u8>,
    model: BTreeMap<Vec<u8>, Vec<u8>>,
    types: Vec<PageType>,
    page_count: u64,
    root: u64,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let vfs = FaultyVfs::new();
        let mut o = options(&vfs, Durability::Buffered);
        o.checkpoint_log_bytes(64 << 20);
        let store = o.open(db()).unwrap();
        let mut model = BTreeMap::new();
        let put = |store: &KVStore, model: &mut BTreeMap<Vec<u8>, Vec<u8>>, k: Vec<u8>, v: Vec<u8>| {
            store.put(&k, &v).unwrap();
            model.insert(k, v);
        };
        for n in 0..420 {
            let k = rkey(n);
            let v = rvalue(n, k.len());
            put(&store, &mut model, k, v);
        }
        // The longest key, with a value that goes to an overflow chain, and a key so long that
        // even an empty value does (an overflow reference of length 0, no chain).
        put(&store, &mut model, vec![b'm'; max_key()], value_bytes(1500, 1));
        put(&store, &mut model, vec![b'n'; max_key() - 20], Vec::new());
        for n in (0..420).step_by(5) {
            store.delete(rkey(n)).unwrap();
            model.remove(&rkey(n));
        }
        store.checkpoint().unwrap();
        for n in 420..440 {
            let k = rkey(n);
            let v = rvalue(n, k.len());
            put(&store, &mut model, k, v);
        }
        store.close().unwrap();
        vfs.restart();
        let store = options(&vfs, Durability::Immediate).open(db()).unwrap();
        let types: Vec<PageType> = store.pages().map(|p| p.unwrap().page_type).collect();
        let stats = store.stats();
        assert!(stats.tree_depth >= 3, "{stats:?}");
        for t in [PageType::Branch, PageType::Leaf, PageType::Overflow, PageType::Freelist] {
            assert!(types.contains(&t), "no {t:?} page: {stats:?}");
        }
        let page_count = stats.page_count;
        drop(store);
        let data = file(&vfs, &db());
        // The root is the one branch no other branch links to.
        let mut linked = std::collections::BTreeSet::new();
        for (p, t) in types.iter().enumerate() {
            if *t == PageType::Branch {
                let page = Page::of(&data, p);
                linked.insert(page.u64_at(8));
                for e in page.entries() {
                    linked.insert(page.u64_at(e + 2));
                }
            }
        }
        let root = (0..types.len()).find(|p| types[*p] == PageType::Branch && !linked.contains(&(*p as u64)));
        Base { data, log: file(&vfs, &wal()), model, types, page_count, root: root.unwrap() as u64 }
    })
}

/// One page's bytes, read by the layout in docs/FORMAT.md.
#[derive(Clone)]
struct Page {
    no: usize,
    b: Vec<u8>,
}

impl Page {
    fn of(data: &[u8], no: usize) -> Page {
        Page { no, b: data[no * PS..(no + 1) * PS].to_vec() }
    }
    fn u16_at(&self, at: usize) -> usize {
        u16::from_le_bytes([self.b[at], self.b[at + 1]]) as usize
    }
    fn u64_at(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.b[at..at + 8].try_into().unwrap())
    }
    fn count(&self) -> usize {
        self.u16_at(2)
    }
    /// Offsets of the entries of a leaf or branch, in slot order.
    fn entries(&self) -> Vec<usize> {
        (0..self.count()).map(|i| self.u16_at(HEADER + 2 * i)).collect()
    }
    /// Where the key of the entry at `at` starts.
    fn key_start(&self, at: usize) -> usize {
        match (self.b[0], self.b[at + 2]) {
            (1, _) => at + 10,
            (_, 0) => at + 5,
            _ => at + 19,
        }
    }
    fn key(&self, at: usize) -> Vec<u8> {
        let s = self.key_start(at);
        self.b[s..s + self.u16_at(at)].to_vec()
    }
    fn keys(&self) -> Vec<Vec<u8>> {
        self.entries().into_iter().map(|at| self.key(at)).collect()
    }
}

/// One damaged copy of one page.
struct Case {
    page: usize,
    what: String,
    bytes: Vec<u8>,
    /// The change breaks a checked invariant: `check()` must name the page and no read may
    /// return a wrong value.
    named: bool,
}

/// Builds the cases for one page: each edit starts from the page as it was.
struct Cases<'a> {
    page: &'a Page,
    out: Vec<Case>,
}

impl Cases<'_> {
    fn edit(&mut self, what: String, named: bool, f: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = self.page.b.clone();
        f(&mut bytes);
        if bytes != self.page.b {
            self.out.push(Case { page: self.page.no, what, bytes, named });
        }
    }
    fn set_u8(&mut self, at: usize, v: u8, what: &str, named: bool) {
        self.edit(format!("{what} = {v}"), named, |b| b[at] = v);
    }
    fn set_u16(&mut self, at: usize, v: usize, what: &str, named: bool) {
        let v = u16::try_from(v.min(0xFFFF)).unwrap();
        self.edit(format!("{what} = {v}"), named, |b| b[at..at + 2].copy_from_slice(&v.to_le_bytes()));
    }
    fn set_u64(&mut self, at: usize, v: u64, what: &str, named: bool) {
        self.edit(format!("{what} = {v}"), named, |b| b[at..at + 8].copy_from_slice(&v.to_le_bytes()));
    }

    /// The header fields every page has: type, the zero byte, count, next.
    fn header(&mut self, kind: u8, counts: &[(usize, bool)], next_values: &[(u64, bool)]) {
        for t in [0u8, 1, 2, 3, 4, 5, 255] {
            // Another tree kind is only sometimes refused (a leaf read as a branch may parse).
            let named = ![1, 2].contains(&t) || ![1, 2].contains(&kind);
            self.set_u8(0, t, "type", named);
        }
        self.set_u8(1, 1, "zero byte", false);
        self.set_u8(1, 255, "zero byte", false);
        let n = self.page.count();
        for c in [0, 1, n.saturating_sub(1), n + 1, n + 2] {
            if !counts.iter().any(|(v, _)| *v == c) {
                self.set_u16(2, c, "count", false);
            }
        }
        for &(c, named) in counts {
            self.set_u16(2, c, "count", named);
        }
        for &(v, named) in next_values {
            self.set_u64(8, v, "next", named);
        }
    }
}

/// Links worth trying where a page number goes, with whether each must be refused.
fn links(base: &Base, page: usize, own: u64) -> Vec<(u64, bool)> {
    let pc = base.page_count;
    let of = |t: PageType| base.types.iter().position(|x| *x == t).unwrap() as u64;
    vec![
        (0, true),
        (1, false),
        (page as u64, false),
        (own + 1, false),
        (base.root, false),
        (of(PageType::Leaf), false),
        (of(PageType::Overflow), false),
        (of(PageType::Freelist), false),
        (pc - 1, false),
        (pc, true),
        (pc + 1, true),
        (u64::MAX, true),
    ]
}

fn tree_page_cases(base: &Base, page: &Page) -> Vec<Case> {
    let leaf = page.b[0] == 2;
    let n = page.count();
    let slots_end = HEADER + 2 * n;
    let max_slots = (PS - HEADER) / 2;
    let mut c = Cases { page, out: Vec::new() };
    let first_child = page.u64_at(8);
    let next_values =
        if leaf { vec![(1, false), (u64::MAX, false)] } else { links(base, page.no, first_child) };
    c.header(page.b[0], &[(max_slots, true), (max_slots + 1, true), (0xFFFF, true)], &next_values);
    let offs = page.entries();
    let mut picked: Vec<usize> = vec![0, 1, n / 2, n.saturating_sub(2), n.saturating_sub(1)];
    picked.retain(|i| *i < n);
    picked.dedup();
    for &i in &picked {
        let at = offs[i];
        let slot = HEADER + 2 * i;
        let e = format!("entry {i} of {n}");
        // Slots: inside the header or the slot area, past the end, onto a neighbour, off by one.
        let mut slot_values = vec![
            (0, true),
            (1, true),
            (15, true),
            (16, true),
            (slots_end - 1, true),
            (at - 1, true),
            (at + 1, false),
            (PS - 3, true),
            (PS - 2, true),
            (PS - 1, true),
            (PS, true),
            (0xFFFF, true),
        ];
        if i > 0 {
            slot_values.push((offs[i - 1], true));
        }
        if i + 1 < n {
            slot_values.push((offs[i + 1], true));
        }
        for (v, named) in slot_values {
            c.set_u16(slot, v, &format!("{e} slot"), named);
        }
        if i + 1 < n {
            c.edit(format!("{e} slot swapped with the next"), true, |b| {
                b.swap(slot, slot + 2);
                b.swap(slot + 1, slot + 3);
            });
            let next_key = page.key(offs[i + 1]);
            let ks = page.key_start(at);
            let klen = page.u16_at(at);
            if next_key.len() == klen {
                c.edit(format!("{e} key = the next key"), true, |b| {
                    b[ks..ks + klen].copy_from_slice(&next_key)
                });
            }
        }
        let klen = page.u16_at(at);
        for (v, named) in [
            (0, false),
            (klen - 1, false),
            (klen + 1, false),
            (max_key(), false),
            (max_key() + 1, true),
            (PS, true),
            (0xFFFF, true),
        ] {
            c.set_u16(at, v, &format!("{e} key length"), named);
        }
        let ks = page.key_start(at);
        c.set_u8(ks, 0, &format!("{e} key byte 0"), false);
        c.set_u8(ks, 255, &format!("{e} key byte 0"), false);
        c.edit(format!("{e} zeroed"), false, |b| {
            let end = (ks + klen).min(PS);
            b[at..end].fill(0);
        });
        if leaf {
            let kind = page.b[at + 2];
            for k in [0u8, 1, 2, 255] {
                c.set_u8(at + 2, k, &format!("{e} kind"), k > 1);
            }
            if kind == 0 {
                let vlen = page.u16_at(at + 3);
                let max_v = (MAX_INLINE_ENTRY - 7).saturating_sub(klen);
                for (v, named) in [
                    (0, false),
                    (vlen.saturating_sub(1), false),
                    (vlen + 1, false),
                    (max_v, false),
                    (max_v + 1, true),
                    (PS, true),
                    (0xFFFF, true),
                ] {
                    c.set_u16(at + 3, v, &format!("{e} value length"), named);
                }
            } else {
                let len = page.u64_at(at + 3);
                let first = page.u64_at(at + 11);
                let per = OVERFLOW_DATA as u64;
                for (v, named) in [
                    (0, false),
                    (1, first == 0),
                    (len.saturating_sub(1), false),
                    (len + 1, false),
                    (len + per, false),
                    (per * base.page_count, false),
                    (u64::from(u32::MAX), false),
                    (u64::from(u32::MAX) + 1, true),
                    (1 << 60, true),
                    (u64::MAX, true),
                ] {
                    c.set_u64(at + 3, v, &format!("{e} overflow length"), named);
                }
                let mut firsts = links(base, page.no, first);
                if len == 0 {
                    // No chain: the link is never followed (compaction writes a page number
                    // there, the writer 0), so no value of it is damage.
                    firsts.iter_mut().for_each(|(_, named)| *named = false);
                }
                for (v, named) in firsts {
                    c.set_u64(at + 11, v, &format!("{e} first overflow page"), named);
                }
            }
        } else {
            let child = page.u64_at(at + 2);
            for (v, named) in links(base, page.no, child) {
                c.set_u64(at + 2, v, &format!("{e} child"), named);
            }
        }
    }
    c.out
}

fn overflow_cases(base: &Base, page: &Page) -> Vec<Case> {
    let mut c = Cases { page, out: Vec::new() };
    let have = page.count();
    let next = page.u64_at(8);
    let mut next_values = links(base, page.no, next);
    // A chain's pages are counted from its length: a wrong link is found when it is followed.
    next_values.iter_mut().for_each(|(_, named)| *named = false);
    c.header(3, &[], &next_values);
    for (v, named) in [
        (0, true),
        (have - 1, true),
        (have + 1, true),
        (OVERFLOW_DATA - 1, have != OVERFLOW_DATA - 1),
        (OVERFLOW_DATA, have != OVERFLOW_DATA),
        (OVERFLOW_DATA + 1, true),
        (PS, true),
        (0xFFFF, true),
    ] {
        c.set_u16(2, v, "data bytes", named);
    }
    c.set_u8(HEADER, page.b[HEADER] ^ 0xff, "data byte 0", false);
    c.set_u8(PS - 1, 7, "last byte", false);
    c.out
}

fn freelist_cases(base: &Base, page: &Page) -> Vec<Case> {
    let mut c = Cases { page, out: Vec::new() };
    let n = page.count();
    let next = page.u64_at(8);
    let next_values: Vec<(u64, bool)> =
        links(base, page.no, next).into_iter().map(|(v, _)| (v, false)).collect();
    let counts = [(FREELIST_ENTRIES, false), (FREELIST_ENTRIES + 1, false), (0xFFFF, false)];
    c.header(4, &counts, &next_values);
    let of = |t: PageType| base.types.iter().position(|x| *x == t).unwrap() as u64;
    let mut picked = vec![0, n / 2, n.saturating_sub(1)];
    picked.retain(|i| *i < n);
    picked.dedup();
    for i in picked {
        // Format version 2: each entry is a page number and the checkpoint that freed it.
        let at = HEADER + 16 * i;
        let old = page.u64_at(at);
        for v in [0, 1, u64::MAX] {
            c.set_u64(at + 8, v, &format!("entry {i} of {n}: freed at"), false);
        }
        let mut values = vec![
            0,
            1,
            old + 1,
            base.root,
            of(PageType::Leaf),
            of(PageType::Overflow),
            page.no as u64,
            base.page_count - 1,
            base.page_count,
            u64::MAX,
        ];
        if i > 0 {
            values.push(page.u64_at(at - 16));
        }
        for v in values {
            c.set_u64(at, v, &format!("entry {i} of {n}"), false);
        }
    }
    c.out
}

/// Recompute a page's checksum (docs/FORMAT.md: CRC32 seeded with the page number over bytes
/// 0..4 and 8..page size).
fn reseal_page(page_no: usize, page: &mut [u8]) {
    let no = page_no as u64;
    let mut h = crc32fast::Hasher::new_with_initial((no as u32) ^ ((no >> 32) as u32));
    h.update(&page[0..4]);
    h.update(&page[8..]);
    let crc = h.finalize();
    page[4..8].copy_from_slice(&crc.to_le_bytes());
}

fn vfs_with(data: &[u8], log: &[u8]) -> FaultyVfs {
    let vfs = FaultyVfs::new();
    vfs.write_file(&db(), data);
    vfs.write_file(&wal(), log);
    vfs
}

/// Everything a user does to a store, on the file with `case` applied; `true` when it opened.
fn exercise_page(base: &Base, case: &Case, found: &mut Vec<String>) -> bool {
    let mut data = base.data.clone();
    let page = &mut data[case.page * PS..(case.page + 1) * PS];
    page.copy_from_slice(&case.bytes);
    reseal_page(case.page, page);
    let p = case.page as u64;
    let names_page = |e: &Error| matches!(e, Error::Corrupted { page, .. } if *page == p);
    let vfs = vfs_with(&data, &base.log);
    let store = match options(&vfs, Durability::Immediate).open(db()) {
        Ok(s) => s,
        Err(e) => {
            note_error(found, "open", &e);
            return false;
        }
    };
    match store.check() {
        Ok(report) => {
            if case.named && !report.problems.iter().any(|pr| pr.page == Some(p)) {
                found.push(format!("check does not name page {p}: {:?}", report.problems));
            }
        }
        Err(e) => found.push(format!("check failed: {e}")),
    }
    for (k, v) in &base.model {
        match store.get(k) {
            Ok(Some(got)) if case.named && got != *v => found.push("a wrong value was read".into()),
            Ok(None) if case.named => found.push("a key was lost without an error".into()),
            Ok(_) => {}
            Err(e) if case.named && !names_page(&e) => found.push(format!("get: {e} does not name page {p}")),
            Err(e) => note_error(found, "get", &e),
        }
        // The same value a chunk at a time: what it hands over is the value or, before an
        // error, checked bytes from its start (for damage the checks see: a page resealed
        // with other value bytes in it is a valid page).
        let mut chunks = Vec::new();
        match store.get_chunks(k, |c| chunks.extend_from_slice(c)) {
            Ok(true) if case.named && chunks != *v => {
                found.push("get_chunks handed over a wrong value".into())
            }
            Ok(false) if case.named => found.push("get_chunks lost a key without an error".into()),
            Ok(_) => {}
            Err(e) => {
                if case.named && !v.starts_with(&chunks) {
                    found.push(format!("get_chunks handed over bytes that are not the value's before {e}"));
                }
                if case.named && !names_page(&e) {
                    found.push(format!("get_chunks: {e} does not name page {p}"));
                }
                note_error(found, "get_chunks", &e);
            }
        }
    }
    for k in base.model.keys().step_by(40) {
        if let Err(e) = store.value_len(k) {
            note_error(found, "value_len", &e);
        }
        if let Err(e) = store.get_prefix(k, 100) {
            note_error(found, "get_prefix", &e);
        }
    }
    let bound = base.model.len() * 2 + 100;
    for item in store.iter().take(bound) {
        if let Err(e) = item {
            note_error(found, "scan", &e);
            break;
        }
    }
    for item in store.keys_rev(Bound::Unbounded, Bound::Unbounded).take(bound) {
        if let Err(e) = item {
            note_error(found, "backward scan", &e);
            break;
        }
    }
    for item in store.pages() {
        if let Err(e) = item {
            note_error(found, "page summary", &e);
        }
    }
    let _ = store.page_info(p);
    // Writes: the keys that lived on the page, its neighbours, a new key next to them, a value
    // replaced by an overflow chain and one whose chain is freed.
    let page_keys = match base.types[case.page] {
        PageType::Leaf | PageType::Branch => Page::of(&base.data, case.page).keys(),
        _ => Vec::new(),
    };
    let mut writes: Vec<Vec<u8>> = page_keys.iter().take(3).cloned().collect();
    writes.extend(base.model.keys().take(1).cloned());
    writes.extend(base.model.keys().nth(base.model.len() / 2).cloned());
    for k in &writes {
        if let Err(e) = store.delete(k) {
            note_error(found, "delete", &e);
        }
    }
    // The deletes wait in the write buffer: counting the keys looks them up in the tree.
    if let Err(e) = store.len() {
        note_error(found, "len", &e);
    }
    let mut near = writes.first().cloned().unwrap_or_default();
    near.truncate(max_key() - 1);
    near.push(0);
    let mut batch = WriteBatch::default();
    batch.put(&near, b"near").put(b"zz-new", value_bytes(2500, 9));
    if let Some(k) = base.model.keys().nth(base.model.len() / 3) {
        batch.put(k, b"shorter now");
    }
    for r in [store.put(b"a-new", b"value"), store.write(batch), store.checkpoint()] {
        if let Err(e) = r {
            note_error(found, "write", &e);
        }
    }
    // A write buffer the damage keeps out of the tree is reported, not an error: the check
    // still walks the tree and names what it finds.
    match store.check() {
        Ok(report) if case.named && report.is_ok() => found.push("check after writes found nothing".into()),
        Ok(_) => {}
        Err(e) => found.push(format!("check after writes failed: {e}")),
    }
    drop(store);
    vfs.restart();
    match options(&vfs, Durability::Immediate).open(db()) {
        Ok(store) => {
            if let Err(e) = store.check() {
                found.push(format!("check after reopen failed: {e}"));
            }
            for k in base.model.keys() {
                if let Err(e) = store.get(k) {
                    note_error(found, "get after reopen", &e);
                }
            }
            if let Err(e) = store.put(b"after-reopen", b"v") {
                note_error(found, "put after reopen", &e);
            }
        }
        Err(e) => note_error(found, "reopen", &e),
    }
    true
}

fn pages_of(base: &Base, t: PageType) -> Vec<usize> {
    (0..base.types.len()).filter(|p| base.types[*p] == t).collect()
}

fn run_pages(name: &str, cases: Vec<Case>) {
    let base = base();
    let mut tally = Tally::default();
    for case in &cases {
        let what = format!("page {} {}", case.page, case.what);
        tally.run(&what, |found| exercise_page(base, case, found));
    }
    tally.finish(name);
}

#[test]
fn resealed_leaf_pages() {
    let base = base();
    let leaves = pages_of(base, PageType::Leaf);
    // The first and last leaf, the leaves holding the longest keys and the overflow values.
    let mut picked = vec![leaves[0], leaves[leaves.len() - 1]];
    for p in &leaves {
        let page = Page::of(&base.data, *p);
        let offs = page.entries();
        if offs.iter().any(|&at| page.u16_at(at) == max_key()) || offs.iter().any(|&at| page.b[at + 2] == 1) {
            picked.push(*p);
        }
        if picked.len() >= 5 {
            break;
        }
    }
    picked.sort_unstable();
    picked.dedup();
    let cases = picked.iter().flat_map(|p| tree_page_cases(base, &Page::of(&base.data, *p))).collect();
    run_pages("resealed leaf pages", cases);
}

#[test]
fn resealed_branch_pages() {
    let base = base();
    let branches = pages_of(base, PageType::Branch);
    let mut picked = vec![base.root as usize, branches[0], branches[branches.len() - 1]];
    picked.sort_unstable();
    picked.dedup();
    let cases = picked.iter().flat_map(|p| tree_page_cases(base, &Page::of(&base.data, *p))).collect();
    run_pages("resealed branch pages", cases);
}

#[test]
fn resealed_overflow_pages() {
    let base = base();
    let pages = pages_of(base, PageType::Overflow);
    // A first page (its next is another overflow page), a middle or last page, a lone page.
    let mut picked = Vec::new();
    for p in &pages {
        let page = Page::of(&base.data, *p);
        let next = page.u64_at(8) as usize;
        if next != 0 && picked.is_empty() {
            picked.push(*p);
            picked.push(next);
        }
    }
    picked.extend(pages.iter().rev().take(2));
    picked.sort_unstable();
    picked.dedup();
    let cases = picked.iter().flat_map(|p| overflow_cases(base, &Page::of(&base.data, *p))).collect();
    run_pages("resealed overflow pages", cases);
}

#[test]
fn resealed_freelist_pages() {
    let base = base();
    let cases = pages_of(base, PageType::Freelist)
        .iter()
        .flat_map(|p| freelist_cases(base, &Page::of(&base.data, *p)))
        .collect();
    run_pages("resealed free-list pages", cases);
}

/// The `resealed_pages` fuzz target on seeded random inputs: one page of its reference store
/// picked, one to eight fields changed, resealed. Counted like the cases above (the proptest in
/// `fuzz_props` runs the same entry point and stops at the first panic).
#[test]
fn random_resealed_pages() {
    let mut tally = Tally::default();
    let mut rng = wind_kvstore::io::faulty::Rng::new(2024);
    let n = if long_run() { 10_000 } else { 500 };
    for i in 0..n {
        let mut input = vec![0u8; 2 + 4 * (1 + rng.below(8) as usize)];
        rng.fill(&mut input);
        let what = format!("input {i} {input:02x?}");
        tally.run(&what, |_| {
            fuzz_harness::resealed_pages(&input);
            true
        });
    }
    tally.finish("random resealed pages");
}

// ---------------------------------------------------------------- log records

/// A store whose log holds one record per kind of operation after a checkpoint, the data file
/// and log as a killed process leaves them, and the state after each record.
struct LogBase {
    data: Vec<u8>,
    log: Vec<u8>,
    /// `(offset, length)` of each record.
    records: Vec<(usize, usize)>,
    states: Vec<Model>,
}

fn log_ops() -> Vec<Op> {
    vec![
        Op::Put(key(1), 20, 1),
        Op::Put(key(2), 1500, 2),
        Op::Delete(key(3)),
        Op::Batch(vec![(key(40), Some((30, 4))), (key(41), None), (key(42), Some((2000, 5)))]),
        Op::SetIdentifier("renamed".into()),
        Op::Put(key(5), 0, 6),
        Op::Put(key(6), 40, 7),
    ]
}

fn log_base() -> &'static LogBase {
    static BASE: OnceLock<LogBase> = OnceLock::new();
    BASE.get_or_init(|| {
        let before: Vec<Op> = (0..30).map(|n| Op::Put(key(n), 10 + n as usize, 100 + n)).collect();
        let mut ops = before.clone();
        ops.extend(log_ops());
        let states = states(&ops)[before.len()..].to_vec();
        let vfs = FaultyVfs::new();
        let mut o = options(&vfs, Durability::Immediate);
        o.checkpoint_log_bytes(64 << 20);
        let mut store = o.open(db()).unwrap();
        for op in &ops[..before.len()] {
            run_op(&mut store, op).unwrap();
        }
        store.checkpoint().unwrap();
        for op in &ops[before.len()..] {
            run_op(&mut store, op).unwrap();
        }
        vfs.crash_now(None);
        drop(store);
        vfs.restart();
        let log = file(&vfs, &wal());
        let mut records = Vec::new();
        // Records start after the log header (format version 2: 512 bytes).
        let mut at = 512;
        // Up to a header of zeros: the writer's zeros written ahead follow the last record.
        while at + 16 <= log.len() && log[at..at + 16] != [0; 16] {
            let body = u32::from_le_bytes(log[at..at + 4].try_into().unwrap()) as usize;
            records.push((at, 16 + body));
            at += 16 + body;
        }
        assert_eq!(records.len(), log_ops().len());
        LogBase { data: file(&vfs, &db()), log, records, states }
    })
}

/// Recompute a record's checksum (docs/FORMAT.md: CRC32 of bytes 0..4 and 8..16 + b).
fn reseal_record(rec: &mut [u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&rec[0..4]);
    h.update(&rec[8..]);
    let crc = h.finalize();
    rec[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// The log with record `r`'s body replaced by `body` (its length field set to match) and
/// resealed; the records after it follow unchanged.
fn log_with_body(lb: &LogBase, r: usize, body: &[u8]) -> Vec<u8> {
    let (at, len) = lb.records[r];
    let mut log = lb.log[..at].to_vec();
    let mut rec = lb.log[at..at + 16].to_vec();
    rec[0..4].copy_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    rec.extend_from_slice(body);
    reseal_record(&mut rec);
    log.extend(rec);
    log.extend_from_slice(&lb.log[at + len..]);
    log
}

/// How a damaged record must be taken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// Recovery stops at the record: the state before it, the stop reported there.
    Stops,
    /// Recovery stops at the record, or (while the reader does not yet know the store's own key
    /// limit, see `LogReader::with_max_key_bytes`) the open fails with a clear error.
    StopsOrRefused,
    /// Anything clean: the record may still decode into other operations.
    Any,
}

/// Open with record `r` replaced: never a panic; what opens is a healthy tree.
fn exercise_log(lb: &LogBase, r: usize, log: &[u8], replay: Replay, found: &mut Vec<String>) -> bool {
    let vfs = vfs_with(&lb.data, log);
    let mut store = match options(&vfs, Durability::Immediate).open(db()) {
        Ok(s) => s,
        Err(e) => {
            let refused_ok = replay == Replay::StopsOrRefused && matches!(e, Error::KeyTooLarge { .. });
            if replay == Replay::Stops || !(clean(&e) || refused_ok) {
                found.push(format!("open: {e:?}"));
            }
            return false;
        }
    };
    let stopped = store.recovery_report().stopped_at.as_ref().map(|(o, _)| *o as usize);
    if let Some(o) = stopped
        && o != lb.records[r].0
    {
        found.push(format!("replay stopped at {o}, not at the damaged record {}", lb.records[r].0));
    }
    if replay != Replay::Any {
        if stopped != Some(lb.records[r].0) {
            found.push(format!("replay did not stop at the damaged record ({stopped:?})"));
        }
        match dump(&store) {
            Ok(state) if state != lb.states[r] => found.push("not the state before the record".into()),
            Ok(_) => {}
            Err(e) => found.push(format!("reads: {e}")),
        }
    }
    match store.check() {
        Ok(report) if !report.is_ok() => {
            found.push(format!("a log record damaged the tree: {:?}", report.problems))
        }
        Ok(_) => {}
        Err(e) => found.push(format!("check: {e}")),
    }
    match dump(&store) {
        // The check folded the write buffer: the key count is the tree's again, whatever a
        // resealed key count entry said.
        Ok(state) if store.len().unwrap() != state.map.len() as u64 => {
            found.push(format!("{} keys counted, {} listed", store.len().unwrap(), state.map.len()))
        }
        Ok(_) => {}
        Err(e) => found.push(format!("reads: {e}")),
    }
    let id = store.get_identifier().to_owned();
    if id.len() > MAX_IDENTIFIER_BYTES {
        found.push(format!("identifier of {} bytes", id.len()));
    }
    for r in [
        store.put(key(7), b"after"),
        store.delete(key(8)).map(|_| ()),
        store.checkpoint(),
        store.set_identifier("again"),
    ] {
        if let Err(e) = r {
            found.push(format!("write after recovery: {e}"));
        }
    }
    drop(store);
    vfs.restart();
    match options(&vfs, Durability::Immediate).open(db()) {
        Ok(store) => {
            if store.get_identifier() != "again" {
                found.push(format!("identifier after reopen: {:?}", store.get_identifier()));
            }
        }
        Err(e) => found.push(format!("reopen: {e}")),
    }
    true
}

/// Where an operation's fields are in its body: see [`body_ops`].
type OpOffsets = (usize, usize, Option<usize>);

/// The operations of a body, as `(offset of the kind byte, offset of the first length,
/// offset of the value length if a put)`, and the offset of its key count entry if it has one
/// (kind 4 and an `i64`, first: docs/FORMAT.md).
fn body_ops(body: &[u8]) -> (Vec<OpOffsets>, Option<usize>) {
    let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    let mut at = 4;
    let mut count_at = None;
    for _ in 0..u32_at(0) {
        let kind = body[at];
        if kind == 4 {
            count_at = Some(at);
            at += 9;
            continue;
        }
        let len = u32_at(at + 1);
        let after_key = at + 5 + len;
        if kind == 1 {
            out.push((at, at + 1, Some(after_key)));
            at = after_key + 4 + u32_at(after_key);
        } else {
            out.push((at, at + 1, None));
            at = after_key;
        }
    }
    (out, count_at)
}

#[test]
fn resealed_log_record_bodies() {
    let lb = log_base();
    let mut tally = Tally::default();
    let u32le = |v: u64| u32::try_from(v.min(u64::from(u32::MAX))).unwrap().to_le_bytes();
    for (r, &(at, len)) in lb.records.iter().enumerate() {
        let body = &lb.log[at + 16..at + len];
        let b = body.len() as u64;
        let mut edits: Vec<(String, Vec<u8>, Replay)> = Vec::new();
        let mut set_as = |what: String, pos: usize, bytes: &[u8], replay: Replay| {
            let mut nb = body.to_vec();
            nb[pos..pos + bytes.len()].copy_from_slice(bytes);
            if nb != body {
                edits.push((what, nb, replay));
            }
        };
        let mut set = |what: String, pos: usize, bytes: &[u8]| set_as(what, pos, bytes, Replay::Any);
        let count = u64::from(u32::from_le_bytes(body[0..4].try_into().unwrap()));
        for v in [0, count - 1, count + 1, (b - 4) / 5, (b - 4) / 5 + 1, b, u64::from(u32::MAX)] {
            set(format!("count = {v}"), 0, &u32le(v));
        }
        let (ops, count_at) = body_ops(body);
        for (i, (kind_at, len_at, vlen_at)) in ops.iter().copied().enumerate() {
            for k in [0u8, 1, 2, 3, 4, 255] {
                set(format!("op {i} kind = {k}"), kind_at, &[k]);
            }
            let klen = u64::from(u32::from_le_bytes(body[len_at..len_at + 4].try_into().unwrap()));
            let rest = b - len_at as u64 - 4;
            for v in [0, klen.saturating_sub(1), klen + 1, rest, rest + 1, u64::from(u32::MAX)] {
                set(format!("op {i} length = {v}"), len_at, &u32le(v));
            }
            if klen > 0 {
                set(format!("op {i} first byte = 0xff"), len_at + 4, &[0xff]);
            }
            if let Some(vlen_at) = vlen_at {
                let vlen = u64::from(u32::from_le_bytes(body[vlen_at..vlen_at + 4].try_into().unwrap()));
                let rest = b - vlen_at as u64 - 4;
                for v in [0, vlen.saturating_sub(1), vlen + 1, rest + 1, u64::from(u32::MAX)] {
                    set(format!("op {i} value length = {v}"), vlen_at, &u32le(v));
                }
            }
        }
        if let Some(at) = count_at {
            // The key count entry: a change as large as the puts and deletes beside it replays (the
            // count is taken from the tree again at the next fold, which `exercise_log`'s check
            // makes); a larger one is damage.
            let keyed = i64::try_from(ops.len()).unwrap();
            for k in [0u8, 1, 2, 3, 255] {
                set(format!("key count kind = {k}"), at, &[k]);
            }
            for v in [-keyed, 0, keyed] {
                set(format!("key count = {v}"), at + 1, &v.to_le_bytes());
            }
            for v in [i64::MIN, -keyed - 1, keyed + 1, i64::MAX] {
                set_as(format!("key count = {v}"), at + 1, &v.to_le_bytes(), Replay::Stops);
            }
        }
        for (what, nb, replay) in edits {
            let log = log_with_body(lb, r, &nb);
            tally.run(&format!("record {r} {what}"), |found| exercise_log(lb, r, &log, replay, found));
        }
    }
    // Whole bodies that decode but break a limit: each must stop the replay there.
    let op = |kind: u8, first: &[u8], value: Option<&[u8]>| {
        let mut body = 1u32.to_le_bytes().to_vec();
        body.push(kind);
        body.extend_from_slice(&u32::try_from(first.len()).unwrap().to_le_bytes());
        body.extend_from_slice(first);
        if let Some(v) = value {
            body.extend_from_slice(&u32::try_from(v.len()).unwrap().to_le_bytes());
            body.extend_from_slice(v);
        }
        body
    };
    let long_id = "i".repeat(MAX_IDENTIFIER_BYTES + 1);
    let cut_char = format!("{}é", "i".repeat(MAX_IDENTIFIER_BYTES - 1));
    let crafted: Vec<(&str, Vec<u8>, Replay)> = vec![
        ("a 65-byte identifier", op(3, long_id.as_bytes(), None), Replay::Stops),
        ("an identifier whose 64th byte starts a character", op(3, cut_char.as_bytes(), None), Replay::Stops),
        ("an identifier that is not UTF-8", op(3, b"id\xff\xfe", None), Replay::Stops),
        (
            "a key one byte over this store's limit",
            op(1, &vec![b'k'; max_key() + 1], Some(b"v")),
            Replay::StopsOrRefused,
        ),
        (
            "a key one byte over any page size's limit",
            op(1, &vec![b'k'; wind_kvstore::max_key_bytes(64 * 1024) + 1], Some(b"v")),
            Replay::Stops,
        ),
        ("a 70,000-byte key", op(1, &vec![b'k'; 70_000], Some(b"v")), Replay::Stops),
        ("a delete of a key over the limit", op(2, &vec![b'k'; 70_000], None), Replay::Stops),
        ("an unknown operation", op(9, b"k", None), Replay::Stops),
        (
            "a value length past the body",
            {
                let mut b = op(1, b"k", Some(b"value"));
                let n = b.len();
                b[n - 9..n - 5].copy_from_slice(&6u32.to_le_bytes());
                b
            },
            Replay::Stops,
        ),
        (
            "an operation count of 2^32-1",
            {
                let mut b = op(1, b"k", Some(b"value"));
                b[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
                b
            },
            Replay::Stops,
        ),
        ("an empty body", Vec::new(), Replay::Stops),
    ];
    for r in 0..lb.records.len() {
        for (what, body, replay) in &crafted {
            let log = log_with_body(lb, r, body);
            tally.run(&format!("record {r}: {what}"), |found| exercise_log(lb, r, &log, *replay, found));
        }
    }
    tally.finish("resealed log records");
}

// ---------------------------------------------------------------- meta slots

/// The fields of a meta slot (docs/FORMAT.md): offset, size, name.
const META_FIELDS: [(usize, usize, &str); 14] = [
    (8, 8, "checkpoint id"),
    (16, 8, "root page"),
    (24, 8, "free-list head"),
    (32, 8, "page count"),
    (40, 8, "key count"),
    (48, 8, "last log sequence"),
    (56, 8, "modified"),
    (64, 4, "depth"),
    (72, 8, "branch pages"),
    (80, 8, "leaf pages"),
    (88, 8, "overflow pages"),
    (96, 8, "free-list pages"),
    (104, 8, "free pages listed"),
    (112, 1, "identifier length"),
];

/// Open the store of `data` and `log` (a meta damaged and resealed), check it, read every key of
/// `want`, write once: a clean error or a right answer each time. A value other than `want`'s is
/// right only where the report says commits may be missing and one of the `older` states held
/// it; a key missing is right only where the report says so. Whether the store opened.
fn exercise_meta(
    data: &[u8],
    log: &[u8],
    want: &BTreeMap<Vec<u8>, Vec<u8>>,
    older: &[Model],
    found: &mut Vec<String>,
) -> bool {
    let vfs = vfs_with(data, log);
    let store = match options(&vfs, Durability::Immediate).open(db()) {
        Ok(s) => s,
        Err(e) => {
            note_error(found, "open", &e);
            return false;
        }
    };
    if let Err(e) = store.check() {
        note_error(found, "check", &e);
    }
    let lost = store.recovery_report().may_have_lost_data();
    for (k, v) in want {
        match store.get(k) {
            Ok(Some(got)) if &got != v => {
                let was = older.iter().any(|s| s.map.get(k) == Some(&got));
                if !(lost && was) {
                    found.push("a wrong value".into());
                }
            }
            Ok(None) if !lost => found.push("a key missing, unreported".into()),
            Ok(_) => {}
            Err(e) => note_error(found, "get", &e),
        }
    }
    for r in [store.put(b"after", b"x"), store.checkpoint()] {
        if let Err(e) = r {
            note_error(found, "write", &e);
        }
    }
    true
}

/// Every field of the meta slot in force set to boundary values and the slot resealed (format
/// version 2: slot `s` at 128 + 512 s, CRC32 of its first 252 bytes at 252): the store opens
/// (from that slot, the other one, or the copy in the log header) and then answers every call
/// with right bytes or a clean error, or refuses to open with one; never a panic.
#[test]
fn resealed_meta_slot_fields() {
    let base = base();
    let slot_at = |s: usize| 128 + 512 * s;
    let id = |s: usize| u64::from_le_bytes(base.data[slot_at(s) + 8..slot_at(s) + 16].try_into().unwrap());
    let at = slot_at(usize::from(id(1) > id(0)));
    let mut tally = Tally::default();
    for (offset, size, name) in META_FIELDS {
        let field = at + offset;
        let mut old = [0u8; 8];
        old[..size].copy_from_slice(&base.data[field..field + size]);
        let old = u64::from_le_bytes(old);
        let values = [
            0,
            1,
            old.wrapping_sub(1),
            old.wrapping_add(1),
            base.page_count - 1,
            base.page_count,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        for v in values {
            let mut data = base.data.clone();
            data[field..field + size].copy_from_slice(&v.to_le_bytes()[..size]);
            let crc = crc32fast::hash(&data[at..at + 252]);
            data[at + 252..at + 256].copy_from_slice(&crc.to_le_bytes());
            tally.run(&format!("meta slot {name} = {v}"), |found| {
                exercise_meta(&data, &base.log, &base.model, &[], found)
            });
        }
    }
    tally.finish("resealed meta slot fields");
}

// ---------------------------------------------------------------- the log header's meta copy

/// Every field of the meta-slot copy in the log header (format version 2: the copy at 32, its
/// own CRC32 at 32 + 252, the header's CRC32 of bytes 0..508 at 508; a changed checkpoint id is
/// written to the header's own field at 24 as well, so the copy is believed) set to boundary
/// values and resealed, with the data file's slot in force whole and with it garbled (so the
/// copy is what recovery has): the store opens or refuses with a clean error, and then answers
/// every call with right bytes or a clean error; never a panic.
#[test]
fn resealed_log_header_meta_copy_fields() {
    let lb = log_base();
    let want = lb.states.last().expect("a final state");
    let copy = 32;
    let slot_at = |s: usize| 128 + 512 * s;
    let id = |s: usize| u64::from_le_bytes(lb.data[slot_at(s) + 8..slot_at(s) + 16].try_into().unwrap());
    let in_force = slot_at(usize::from(id(1) > id(0)));
    let page_count = u64::from_le_bytes(lb.log[copy + 32..copy + 40].try_into().unwrap());
    let (last_at, _) = *lb.records.last().expect("records");
    let last_record = u64::from_le_bytes(lb.log[last_at + 8..last_at + 16].try_into().unwrap());
    let mut tally = Tally::default();
    for (offset, size, name) in META_FIELDS {
        let field = copy + offset;
        let mut old = [0u8; 8];
        old[..size].copy_from_slice(&lb.log[field..field + size]);
        let old = u64::from_le_bytes(old);
        let values = [
            0,
            1,
            old.wrapping_sub(1),
            old.wrapping_add(1),
            page_count - 1,
            page_count,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        for v in values {
            let mut log = lb.log.clone();
            log[field..field + size].copy_from_slice(&v.to_le_bytes()[..size]);
            if offset == 8 {
                log[24..32].copy_from_slice(&v.to_le_bytes());
            }
            let crc = crc32fast::hash(&log[copy..copy + 252]);
            log[copy + 252..copy + 256].copy_from_slice(&crc.to_le_bytes());
            let crc = crc32fast::hash(&log[..508]);
            log[508..512].copy_from_slice(&crc.to_le_bytes());
            for slot_garbled in [false, true] {
                // The one case nothing in the files contradicts (docs/DURABILITY.md, limits):
                // the only meta left says its checkpoint covers commits past every record in
                // the log, so recovery skips them all.
                if slot_garbled && name == "last log sequence" && v >= last_record && v != u64::MAX {
                    continue;
                }
                let mut data = lb.data.clone();
                if slot_garbled {
                    data[in_force + 20] ^= 0x5a;
                }
                tally.run(&format!("log header copy {name} = {v}, slot garbled {slot_garbled}"), |found| {
                    exercise_meta(&data, &log, &want.map, &lb.states, found)
                });
            }
        }
    }
    tally.finish("resealed log header meta copy");
}
