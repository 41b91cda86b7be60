//! The integrity check over the engine's state. Like every reader, it treats the file as hostile:
//! each page is verified before it is believed, each link is checked before it is followed, and
//! every loop is bounded by the page count.

use std::sync::Arc;

use crate::engine::{Engine, SharedPages, TreeState};
use crate::error::{Error, Result};
use crate::inspect::{CheckReport, Problem};
use crate::io::FileIo;
use crate::layout::file::{Meta, verify_page};
use crate::layout::node::{Node, ValueRef};
use crate::layout::{freelist, overflow};

/// At most this many leaked pages are listed one by one; the rest are counted.
const MAX_LEAKS_LISTED: usize = 100;

/// The index of `page` in the table of pages seen. The page count is bounded by the file's real
/// size at open (`read_page_zero`), and every page number is range-checked against it before it
/// is marked, so it fits memory.
fn slot(page: u64) -> usize {
    usize::try_from(page).unwrap_or(usize::MAX)
}

/// A free-list page: its number, and its entries and next link, or why it cannot be read.
type ListPage = (u64, std::result::Result<(Vec<u64>, u64), String>);

/// What the check reads, taken from the engine between two commits: that commit's tree (pinned,
/// so its pages stay as they are while the check walks them without holding the writer back),
/// its counts and its free pages.
pub(crate) struct CheckInput {
    meta: Meta,
    durable: Meta,
    /// The free list's pages not read by the writer, in chain order, each read (under the
    /// store's lock, so no checkpoint reuses them meanwhile) and decoded or why not; then the
    /// page the chain went on to when it did not end where the meta slot says.
    chain: Vec<ListPage>,
    chain_next: u64,
    chain_from: u64,
    chain_pages: u64,
    /// The free pages in memory.
    free: Vec<u64>,
    page_size: usize,
    state: Arc<TreeState>,
}

/// The unread part of the engine's free list, page by page, as far as it links on: at most one
/// page more than the count the engine has for it, each in range before it is read.
fn read_chain(engine: &Engine) -> Vec<ListPage> {
    let chain = engine.free_chain();
    let total = engine.meta().page_count;
    let mut out = Vec::new();
    let mut page = chain.next;
    for _ in 0..=chain.pages {
        if page == 0 || page >= total {
            break;
        }
        let decoded = engine
            .pages()
            .read_unverified(page)
            .and_then(|bytes| {
                verify_page(page, &bytes)?;
                let (entries, next) =
                    freelist::decode_page(page, &bytes, engine.page_size(), engine.header().version)?;
                Ok((entries.into_iter().map(|e| e.page).collect(), next))
            })
            .map_err(|e| match e {
                Error::Corrupted { reason, .. } => reason,
                e => e.to_string(),
            });
        let next = decoded.as_ref().map_or(0, |(_, next)| *next);
        out.push((page, decoded));
        page = next;
    }
    out
}

impl CheckInput {
    /// Called with the store's lock held, so no commit is half applied.
    pub(crate) fn capture(engine: &Engine) -> CheckInput {
        CheckInput {
            meta: engine.meta().clone(),
            durable: engine.durable().clone(),
            chain: read_chain(engine),
            chain_next: engine.free_chain().next,
            chain_from: engine.free_chain().from,
            chain_pages: engine.free_chain().pages,
            free: engine.free_pages_in_memory(),
            page_size: engine.page_size(),
            state: engine.versions().pin(),
        }
    }

    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn durable(&self) -> &Meta {
        &self.durable
    }

    fn page_size(&self) -> usize {
        self.page_size
    }

    fn pages(&self) -> &SharedPages {
        &self.state.pages
    }

    fn file(&self) -> &dyn FileIo {
        &**self.state.pages.file()
    }
}

struct Checker<'a> {
    engine: &'a CheckInput,
    seen: Vec<bool>,
    report: CheckReport,
    counts: [u64; 4],
    damaged: bool,
    progress: &'a mut dyn FnMut(u64, u64),
}

impl Checker<'_> {
    fn problem(&mut self, page: Option<u64>, message: impl Into<String>) {
        self.report.problems.push(Problem { page, message: message.into() });
    }

    /// Mark `page` as reached from `from`; `false` when it must not be read further.
    fn reach(&mut self, page: u64, from: u64, what: &str) -> bool {
        let total = self.engine.meta().page_count;
        if page == 0 || page >= total {
            self.problem(Some(from), format!("{what} link to page {page}, outside 1..{total}"));
            self.damaged = true;
            return false;
        }
        if self.seen[slot(page)] {
            self.problem(Some(page), format!("reached twice (again as {what} from page {from})"));
            self.damaged = true;
            return false;
        }
        self.seen[slot(page)] = true;
        self.report.pages_checked += 1;
        (self.progress)(self.report.pages_checked, total);
        true
    }

    /// A page's bytes from disk (or memory), verified.
    fn verified(&mut self, page: u64) -> Option<Vec<u8>> {
        let pages = self.engine.pages();
        let bytes = pages.read_unverified(page);
        let checked = bytes.and_then(|b| {
            verify_page(page, &b)?;
            pages.check_generation(page, &b)?;
            Ok(b.to_vec())
        });
        match checked {
            Ok(b) => Some(b),
            Err(e) => {
                self.fail(page, e);
                None
            }
        }
    }

    fn fail(&mut self, page: u64, e: Error) {
        let message = match e {
            Error::Corrupted { reason, .. } => reason,
            e => e.to_string(),
        };
        self.problem(Some(page), message);
        self.damaged = true;
    }

    fn check_chain(&mut self, leaf: u64, len: u64, first: u64) {
        let total = overflow::pages_for(len, self.engine.page_size());
        let (mut page, mut from) = (first, leaf);
        for index in 0..total {
            if !self.reach(page, from, "overflow") {
                return;
            }
            let Some(bytes) = self.verified(page) else { return };
            match overflow::read_chunk(page, &bytes, index, len, self.engine.page_size()) {
                Ok((_, next)) => {
                    self.counts[2] += 1;
                    from = page;
                    page = next;
                }
                Err(e) => return self.fail(page, e),
            }
        }
    }

    fn check_tree(&mut self) {
        let depth = self.engine.meta().depth;
        type Frame = (u64, u32, u64, Option<Vec<u8>>, Option<Vec<u8>>);
        let mut stack: Vec<Frame> = vec![(self.engine.meta().root, 1, 0, None, None)];
        while let Some((page, level, from, low, high)) = stack.pop() {
            if !self.reach(page, from, "tree") {
                continue;
            }
            let Some(bytes) = self.verified(page) else { continue };
            let node = match Node::decode(page, &bytes) {
                Ok(n) => n,
                Err(e) => {
                    self.fail(page, e);
                    continue;
                }
            };
            if node.encoded_len() > self.engine.page_size() {
                self.problem(Some(page), "content larger than a page");
            }
            let keys: Vec<&[u8]> = match &node {
                Node::Leaf(l) => l.iter().map(|e| e.key).collect(),
                Node::Branch(b) => (0..b.len()).map(|i| b.entry(i).0).collect(),
            };
            if keys.windows(2).any(|w| w[0] >= w[1]) {
                self.problem(Some(page), "keys out of order");
            }
            if let (Some(low), Some(first)) = (&low, keys.first())
                && *first < low.as_slice()
            {
                self.problem(Some(page), "a key is below its parent's separator");
            }
            if let (Some(high), Some(last)) = (&high, keys.last())
                && *last >= high.as_slice()
            {
                self.problem(Some(page), "a key is at or above the next separator of its parent");
            }
            match node {
                Node::Leaf(leaf) => {
                    self.counts[1] += 1;
                    if level != depth {
                        self.problem(Some(page), format!("leaf at level {level} of a tree of depth {depth}"));
                    }
                    self.report.keys_checked += leaf.len() as u64;
                    for e in leaf.iter() {
                        if let ValueRef::Overflow { len, first } = e.value {
                            self.check_chain(page, len, first);
                        }
                    }
                }
                Node::Branch(b) => {
                    self.counts[0] += 1;
                    if level >= depth {
                        self.problem(
                            Some(page),
                            format!("branch at level {level} of a tree of depth {depth}"),
                        );
                        continue;
                    }
                    let mut bounds_low = low.clone();
                    let mut child = b.first_child;
                    for (key, next_child) in (0..b.len())
                        .map(|i| (Some(b.entry(i).0.to_vec()), b.entry(i).1))
                        .chain([(high.clone(), 0)])
                    {
                        stack.push((child, level + 1, page, bounds_low.clone(), key.clone()));
                        bounds_low = key;
                        child = next_child;
                    }
                }
            }
        }
    }

    fn check_free(&mut self) {
        let engine = self.engine;
        let mut free = engine.free.clone();
        let (mut page, mut from) = (engine.chain_next, engine.chain_from);
        let mut walked = 0;
        let mut broken = false;
        for (p, decoded) in &engine.chain {
            if walked == engine.chain_pages {
                break;
            }
            if !self.reach(*p, from, "free-list") {
                broken = true;
                break;
            }
            walked += 1;
            self.counts[3] += 1;
            match decoded {
                Ok((entries, next)) => {
                    free.extend(entries);
                    page = *next;
                }
                Err(reason) => {
                    self.problem(Some(*p), reason.clone());
                    self.damaged = true;
                    broken = true;
                    break;
                }
            }
            from = *p;
        }
        if !broken && walked < engine.chain_pages {
            let total = engine.meta().page_count;
            let why = if page == 0 {
                format!(
                    "free-list chain ends after {walked} pages, the meta slot says {}",
                    engine.chain_pages
                )
            } else {
                format!("free-list link to page {page}, outside 1..{total}")
            };
            self.problem(Some(from), why);
            self.damaged = true;
        } else if !broken && page != 0 {
            self.problem(Some(from), "free-list chain is longer than the meta slot says");
            self.damaged = true;
        }
        for page in free {
            let total = engine.meta().page_count;
            if page == 0 || page >= total {
                self.problem(Some(page), format!("free page outside 1..{total}"));
            } else if self.seen[slot(page)] {
                self.problem(Some(page), "listed as free but in use (or listed twice)");
            } else {
                self.seen[slot(page)] = true;
                self.report.pages_checked += 1;
                (self.progress)(self.report.pages_checked, total);
            }
        }
    }
}

/// Walk every page; see [`crate::KVStore::check`].
pub(crate) fn check(engine: &CheckInput, progress: &mut dyn FnMut(u64, u64)) -> Result<CheckReport> {
    let total = engine.meta().page_count;
    let mut c = Checker {
        engine,
        seen: vec![false; slot(total)],
        report: CheckReport::default(),
        counts: [0; 4],
        damaged: false,
        progress,
    };
    c.seen[0] = true;
    c.report.pages_checked = 1;
    let file_len = engine.file().len()?;
    let durable_len = engine.durable().page_count * engine.page_size() as u64;
    if file_len < durable_len {
        c.problem(
            None,
            format!("file is {file_len} bytes, the last checkpoint needs {durable_len} (truncated)"),
        );
    }
    c.check_tree();
    c.check_free();

    let leaked: Vec<u64> = (1..total).filter(|p| !c.seen[slot(*p)]).collect();
    if !leaked.is_empty() {
        if c.damaged {
            c.problem(
                None,
                format!(
                    "{} pages are neither reachable nor free, probably below the damaged pages above",
                    leaked.len()
                ),
            );
        } else {
            for &p in leaked.iter().take(MAX_LEAKS_LISTED) {
                c.problem(Some(p), "neither reachable nor free (leaked)");
            }
            if leaked.len() > MAX_LEAKS_LISTED {
                c.problem(None, format!("{} more leaked pages", leaked.len() - MAX_LEAKS_LISTED));
            }
        }
    }
    let m = &engine.meta();
    if !c.damaged {
        for (name, found, want) in [
            ("branch", c.counts[0], m.branch_pages),
            ("leaf", c.counts[1], m.leaf_pages),
            ("overflow", c.counts[2], m.overflow_pages),
            ("free-list", c.counts[3], m.freelist_pages),
        ] {
            if found != want {
                c.problem(None, format!("{found} {name} pages found, the meta slot counts {want}"));
            }
        }
        if c.report.keys_checked != m.key_count {
            c.problem(
                None,
                format!("{} keys found, the meta slot counts {}", c.report.keys_checked, m.key_count),
            );
        }
    }
    Ok(c.report)
}
