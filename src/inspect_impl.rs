//! The integrity check and page inspection over the engine's state. Like every reader, they
//! treat the file as hostile: each page is verified before it is believed, each link is checked
//! before it is followed, and every loop is bounded by the page count.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::{
    FILE_HEADER_BYTES, FileHeader, META_SLOT_BYTES, META_SLOT_OFFSETS, Meta, PAGE_HEADER_BYTES, PageKind,
    page_checksum, page_count_field, page_next, stored_checksum, verify_page,
};
use crate::inspect::{CheckReport, ChecksumState, PageInfo, PageItem, PageSummary, PageType, Problem};
use crate::node::{Node, NodeView, Value, ValueRef};
use crate::{freelist, overflow};

/// At most this many leaked pages are listed one by one; the rest are counted.
const MAX_LEAKS_LISTED: usize = 100;

fn page_type_of(kind: PageKind) -> PageType {
    match kind {
        PageKind::Branch => PageType::Branch,
        PageKind::Leaf => PageType::Leaf,
        PageKind::Overflow => PageType::Overflow,
        PageKind::Freelist => PageType::Freelist,
    }
}

fn is_free(engine: &Engine, page: u64) -> bool {
    engine.free.contains(&page) || engine.pending_free.contains(&page)
}

fn page_zero_used() -> u32 {
    (META_SLOT_OFFSETS[1] + META_SLOT_BYTES) as u32
}

/// Type and fill of one page, for the page map.
pub(crate) fn page_summary(engine: &Engine, page: u64) -> Result<PageSummary> {
    if page == 0 {
        return Ok(PageSummary {
            number: 0,
            page_type: PageType::Meta,
            items: 2,
            used_bytes: page_zero_used(),
        });
    }
    if is_free(engine, page) {
        return Ok(PageSummary { number: page, page_type: PageType::Free, items: 0, used_bytes: 0 });
    }
    if let Some(node) = engine.dirty.get(&page) {
        let (page_type, items) = match node {
            Node::Leaf(l) => (PageType::Leaf, l.entries().len()),
            Node::Branch(b) => (PageType::Branch, b.child_count()),
        };
        return Ok(PageSummary {
            number: page,
            page_type,
            items: items as u32,
            used_bytes: node.encoded_len() as u32,
        });
    }
    let bytes = engine.read_raw(page)?;
    let kind = verify_page(page, &bytes)?;
    let count = page_count_field(&bytes) as u32;
    let (items, used) = match kind {
        PageKind::Leaf => (count, NodeView::new(page, &bytes)?.used_bytes()? as u32),
        PageKind::Branch => (count + 1, NodeView::new(page, &bytes)?.used_bytes()? as u32),
        PageKind::Overflow => (1, PAGE_HEADER_BYTES as u32 + count),
        PageKind::Freelist => (count, PAGE_HEADER_BYTES as u32 + 8 * count),
    };
    Ok(PageSummary { number: page, page_type: page_type_of(kind), items, used_bytes: used })
}

fn field(name: &str, value: impl ToString) -> PageItem {
    PageItem::MetaField { name: name.to_string(), value: value.to_string() }
}

fn page_zero_info(engine: &Engine) -> Result<PageInfo> {
    let ps = engine.page_size;
    let mut items = Vec::new();
    let mut head = [0u8; FILE_HEADER_BYTES];
    engine.data.read_exact_at(&mut head, 0)?;
    match FileHeader::decode(&head) {
        Ok(h) => {
            items.push(field("format version", crate::format::FORMAT_VERSION));
            items.push(field("page size", h.page_size));
            items.push(field("file id", format!("{:016x}", h.file_id)));
            items.push(field("created (unix ms)", h.created_ms));
        }
        Err(_) => items.push(field("file header", "damaged")),
    }
    for (slot, offset) in META_SLOT_OFFSETS.iter().enumerate() {
        let mut b = [0u8; META_SLOT_BYTES];
        engine.data.read_exact_at(&mut b, *offset as u64)?;
        let in_force = if slot == engine.durable_slot { " (in force)" } else { "" };
        match Meta::decode(&b) {
            Some(m) => {
                let p = |f: &str| format!("slot {slot}{in_force}: {f}");
                items.push(field(&p("checkpoint id"), m.checkpoint_id));
                items.push(field(&p("root page"), m.root));
                items.push(field(&p("tree depth"), m.depth));
                items.push(field(&p("page count"), m.page_count));
                items.push(field(&p("key count"), m.key_count));
                items.push(field(&p("free-list head"), m.freelist_head));
                items.push(field(&p("free pages listed"), m.free_count));
                items.push(field(&p("last log sequence"), m.checkpoint_seq));
                items.push(field(&p("modified (unix ms)"), m.modified_ms));
                items.push(field(&p("identifier"), &m.identifier));
            }
            None => items.push(field(&format!("slot {slot}"), "blank or torn (not in use)")),
        }
    }
    Ok(PageInfo {
        number: 0,
        page_type: PageType::Meta,
        stored_type: 0,
        item_count: 2,
        next: 0,
        checksum: ChecksumState::NotApplicable,
        used_bytes: page_zero_used(),
        free_bytes: ps as u32 - page_zero_used(),
        items,
    })
}

fn leaf_item(key: &[u8], value: &Value) -> PageItem {
    PageItem::LeafEntry {
        key: key.to_vec(),
        value_len: value.len(),
        overflow: match value {
            Value::Overflow { first, .. } => Some(*first),
            Value::Inline(_) => None,
        },
    }
}

/// Everything about one page.
pub(crate) fn page_info(engine: &Engine, page: u64) -> Result<PageInfo> {
    let ps = engine.page_size as u32;
    if page >= engine.meta.page_count {
        return Err(Error::InvalidOption(format!(
            "page {page} does not exist: the store has {} pages",
            engine.meta.page_count
        )));
    }
    if page == 0 {
        return page_zero_info(engine);
    }
    if let Some(node) = engine.dirty.get(&page) {
        let used = node.encoded_len() as u32;
        let (page_type, stored_type, next, items) = match node {
            Node::Leaf(l) => (
                PageType::Leaf,
                PageKind::Leaf as u8,
                0,
                l.entries().iter().map(|e| leaf_item(&e.key, &e.value)).collect::<Vec<_>>(),
            ),
            Node::Branch(b) => {
                let mut items = vec![PageItem::BranchChild { key: None, child: b.first_child }];
                items.extend(
                    b.entries()
                        .iter()
                        .map(|(k, c)| PageItem::BranchChild { key: Some(k.clone()), child: *c }),
                );
                (PageType::Branch, PageKind::Branch as u8, b.first_child, items)
            }
        };
        return Ok(PageInfo {
            number: page,
            page_type,
            stored_type,
            item_count: items.len() as u32,
            next,
            checksum: ChecksumState::NotYetWritten,
            used_bytes: used,
            free_bytes: ps - used,
            items,
        });
    }
    let bytes = match engine.mem_pages.get(&page) {
        Some(b) => b.to_vec(),
        None => engine.read_from_file(page)?,
    };
    let stored_type = bytes[0];
    let next = page_next(&bytes);
    let count = page_count_field(&bytes) as u32;
    let (stored, computed) = (stored_checksum(&bytes), page_checksum(page, &bytes));
    let free = is_free(engine, page);
    let checksum = if free {
        ChecksumState::NotApplicable
    } else if stored == computed {
        ChecksumState::Valid
    } else {
        ChecksumState::Invalid { stored, computed }
    };
    let mut info = PageInfo {
        number: page,
        page_type: PageType::Free,
        stored_type,
        item_count: count,
        next,
        checksum,
        used_bytes: 0,
        free_bytes: ps,
        items: Vec::new(),
    };
    if free || checksum != ChecksumState::Valid {
        if !free {
            info.page_type = PageKind::from_byte(stored_type).map_or(PageType::Free, page_type_of);
        }
        return Ok(info);
    }
    let Some(kind) = PageKind::from_byte(stored_type) else {
        return Err(Error::corrupted(page, format!("unknown page type {stored_type}")));
    };
    info.page_type = page_type_of(kind);
    match kind {
        PageKind::Leaf | PageKind::Branch => {
            let view = NodeView::new(page, &bytes)?;
            info.used_bytes = view.used_bytes()? as u32;
            if view.is_leaf() {
                for i in 0..view.count() {
                    let e = view.leaf_entry(i)?;
                    let value = match e.value {
                        ValueRef::Inline(v) => Value::Inline(v.to_vec()),
                        ValueRef::Overflow { len, first } => Value::Overflow { len, first },
                    };
                    info.items.push(leaf_item(e.key, &value));
                }
            } else {
                info.items.push(PageItem::BranchChild { key: None, child: view.first_child() });
                for i in 0..view.count() {
                    let (k, c) = view.branch_entry(i)?;
                    info.items.push(PageItem::BranchChild { key: Some(k.to_vec()), child: c });
                }
                info.item_count = info.items.len() as u32;
            }
        }
        PageKind::Overflow => {
            info.used_bytes = PAGE_HEADER_BYTES as u32 + count;
            info.items.push(PageItem::OverflowData { data_bytes: count, next });
        }
        PageKind::Freelist => {
            let (entries, _) = freelist::decode_page(page, &bytes, engine.page_size)?;
            info.used_bytes = (PAGE_HEADER_BYTES + 8 * entries.len()) as u32;
            info.items = entries.into_iter().map(|p| PageItem::FreePage { page: p }).collect();
        }
    }
    info.free_bytes = ps - info.used_bytes.min(ps);
    Ok(info)
}

// ------------------------------------------------------------------------------------ check

struct Checker<'a> {
    engine: &'a Engine,
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
        let total = self.engine.meta.page_count;
        if page == 0 || page >= total {
            self.problem(Some(from), format!("{what} link to page {page}, outside 1..{total}"));
            self.damaged = true;
            return false;
        }
        if self.seen[page as usize] {
            self.problem(Some(page), format!("reached twice (again as {what} from page {from})"));
            self.damaged = true;
            return false;
        }
        self.seen[page as usize] = true;
        self.report.pages_checked += 1;
        (self.progress)(self.report.pages_checked, total);
        true
    }

    /// A page's bytes from disk (or memory), verified.
    fn verified(&mut self, page: u64) -> Option<Vec<u8>> {
        let bytes = match self.engine.mem_pages.get(&page) {
            Some(b) => Ok(b.to_vec()),
            None => self.engine.read_from_file(page),
        };
        let checked = bytes.and_then(|b| verify_page(page, &b).map(|_| b));
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
        let total = overflow::pages_for(len, self.engine.page_size);
        let (mut page, mut from) = (first, leaf);
        for index in 0..total {
            if !self.reach(page, from, "overflow") {
                return;
            }
            let Some(bytes) = self.verified(page) else { return };
            match overflow::read_chunk(page, &bytes, index, len, self.engine.page_size) {
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
        let depth = self.engine.meta.depth;
        type Frame = (u64, u32, u64, Option<Vec<u8>>, Option<Vec<u8>>);
        let mut stack: Vec<Frame> = vec![(self.engine.meta.root, 1, 0, None, None)];
        while let Some((page, level, from, low, high)) = stack.pop() {
            if !self.reach(page, from, "tree") {
                continue;
            }
            let node = match self.engine.dirty.get(&page) {
                Some(n) => n.clone(),
                None => {
                    let Some(bytes) = self.verified(page) else { continue };
                    match Node::decode(page, &bytes) {
                        Ok(n) => n,
                        Err(e) => {
                            self.fail(page, e);
                            continue;
                        }
                    }
                }
            };
            if node.encoded_len() > self.engine.page_size {
                self.problem(Some(page), "content larger than a page");
            }
            let keys: Vec<&[u8]> = match &node {
                Node::Leaf(l) => l.entries().iter().map(|e| e.key.as_slice()).collect(),
                Node::Branch(b) => b.entries().iter().map(|(k, _)| k.as_slice()).collect(),
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
                    self.report.keys_checked += leaf.entries().len() as u64;
                    for e in leaf.entries() {
                        if let Value::Overflow { len, first } = e.value {
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
                    for (key, next_child) in
                        b.entries().iter().map(|(k, c)| (Some(k.clone()), *c)).chain([(high.clone(), 0)])
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
        let mut from = 0;
        let expected_next: Vec<u64> = engine.durable_freelist.iter().skip(1).copied().chain([0]).collect();
        for (&page, &want_next) in engine.durable_freelist.iter().zip(&expected_next) {
            if !self.reach(page, from, "free-list") {
                continue;
            }
            self.counts[3] += 1;
            if let Some(bytes) = self.verified(page) {
                match freelist::decode_page(page, &bytes, engine.page_size) {
                    Ok((_, next)) if next != want_next => {
                        self.problem(Some(page), format!("free-list link is {next}, expected {want_next}"))
                    }
                    Ok(_) => {}
                    Err(e) => self.fail(page, e),
                }
            }
            from = page;
        }
        for page in engine.free.iter().chain(engine.pending_free.iter()).copied() {
            let total = engine.meta.page_count;
            if page == 0 || page >= total {
                self.problem(Some(page), format!("free page outside 1..{total}"));
            } else if self.seen[page as usize] {
                self.problem(Some(page), "listed as free but in use (or listed twice)");
            } else {
                self.seen[page as usize] = true;
                self.report.pages_checked += 1;
                (self.progress)(self.report.pages_checked, total);
            }
        }
    }
}

/// Walk every page; see [`crate::KVStore::check`].
pub(crate) fn check(engine: &Engine, progress: &mut dyn FnMut(u64, u64)) -> Result<CheckReport> {
    let total = engine.meta.page_count;
    let mut c = Checker {
        engine,
        seen: vec![false; total as usize],
        report: CheckReport::default(),
        counts: [0; 4],
        damaged: false,
        progress,
    };
    c.seen[0] = true;
    c.report.pages_checked = 1;
    let file_len = engine.data.len()?;
    let durable_len = engine.durable.page_count * engine.page_size as u64;
    if file_len < durable_len {
        c.problem(
            None,
            format!("file is {file_len} bytes, the last checkpoint needs {durable_len} (truncated)"),
        );
    }
    c.check_tree();
    c.check_free();

    let leaked: Vec<u64> = (1..total).filter(|p| !c.seen[*p as usize]).collect();
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
    let m = &engine.meta;
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
