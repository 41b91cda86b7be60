//! Page inspection: the type and fill of a page for the page map, and one page in detail (header
//! fields, items, checksum state) for `PAGE n` and the browser's page view. Damage is shown, not
//! hidden: a page that fails its checksum is still decoded as far as it goes.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::inspect::{ChecksumState, PageInfo, PageItem, PageSummary, PageType};
use crate::layout::file::{
    FILE_HEADER_BYTES, FileHeader, META_SLOT_BYTES, Meta, PAGE_HEADER_BYTES, PageKind, in_page_u32,
    meta_slot_offsets, page_checksum, page_count_field, page_next, stored_checksum, verify_page,
};
use crate::layout::freelist;
use crate::layout::node::{NodeView, Value, ValueRef};

fn page_type_of(kind: PageKind) -> PageType {
    match kind {
        PageKind::Branch => PageType::Branch,
        PageKind::Leaf => PageType::Leaf,
        PageKind::Overflow => PageType::Overflow,
        PageKind::Freelist => PageType::Freelist,
    }
}

fn page_zero_used(version: u32) -> u32 {
    in_page_u32(meta_slot_offsets(version)[1] + META_SLOT_BYTES)
}

/// Type and fill of one page, for the page map.
pub(crate) fn page_summary(engine: &Engine, page: u64) -> Result<PageSummary> {
    if page == 0 {
        return Ok(PageSummary {
            number: 0,
            page_type: PageType::Meta,
            items: 2,
            used_bytes: page_zero_used(engine.header().version),
        });
    }
    if engine.is_free(page) {
        return Ok(PageSummary { number: page, page_type: PageType::Free, items: 0, used_bytes: 0 });
    }
    let bytes = engine.pages().read_raw(page)?;
    let kind = verify_page(page, &bytes)?;
    let count = u32::from(page_count_field(&bytes));
    let (items, used) = match kind {
        PageKind::Leaf => (count, in_page_u32(NodeView::new(page, &bytes)?.used_bytes()?)),
        PageKind::Branch => (count + 1, in_page_u32(NodeView::new(page, &bytes)?.used_bytes()?)),
        PageKind::Overflow => (1, in_page_u32(PAGE_HEADER_BYTES) + count),
        PageKind::Freelist => {
            let version = engine.header().version;
            (count, in_page_u32(freelist::used_bytes(usize::from(page_count_field(&bytes)), version)))
        }
    };
    Ok(PageSummary { number: page, page_type: page_type_of(kind), items, used_bytes: used })
}

fn field(name: &str, value: impl ToString) -> PageItem {
    PageItem::MetaField { name: name.to_string(), value: value.to_string() }
}

fn page_zero_info(engine: &Engine) -> Result<PageInfo> {
    let ps = engine.page_size();
    let mut items = Vec::new();
    let mut head = [0u8; FILE_HEADER_BYTES];
    engine.file().read_exact_at(&mut head, 0)?;
    match FileHeader::decode(&head) {
        Ok(h) => {
            items.push(field("format version", h.version));
            items.push(field("page size", h.page_size));
            items.push(field("file id", format!("{:016x}", h.file_id)));
            items.push(field("created (unix ms)", h.created_ms));
        }
        Err(_) => items.push(field("file header", "damaged")),
    }
    for (slot, offset) in meta_slot_offsets(engine.header().version).iter().enumerate() {
        let mut b = [0u8; META_SLOT_BYTES];
        engine.file().read_exact_at(&mut b, *offset as u64)?;
        let in_force = if slot == engine.durable_slot() { " (in force)" } else { "" };
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
        used_bytes: page_zero_used(engine.header().version),
        free_bytes: in_page_u32(ps) - page_zero_used(engine.header().version),
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
    let ps = engine.header().page_size;
    if page >= engine.meta().page_count {
        return Err(Error::InvalidOption(format!(
            "page {page} does not exist: the store has {} pages",
            engine.meta().page_count
        )));
    }
    if page == 0 {
        return page_zero_info(engine);
    }
    // A page changed since the last write-out is shown as it will be written.
    let unwritten = engine.pages().unwritten(page);
    let bytes = match &unwritten {
        Some(b) => b.to_vec(),
        None => engine.pages().read_from_file(page)?,
    };
    let stored_type = bytes[0];
    let next = page_next(&bytes);
    let count = u32::from(page_count_field(&bytes));
    let (stored, computed) = (stored_checksum(&bytes), page_checksum(page, &bytes));
    let free = engine.is_free(page);
    let checksum = if free {
        ChecksumState::NotApplicable
    } else if stored == computed && unwritten.is_some() {
        ChecksumState::NotYetWritten
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
    if free || !matches!(checksum, ChecksumState::Valid | ChecksumState::NotYetWritten) {
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
            info.used_bytes = in_page_u32(view.used_bytes()?);
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
                info.item_count = in_page_u32(info.items.len());
            }
        }
        PageKind::Overflow => {
            info.used_bytes = in_page_u32(PAGE_HEADER_BYTES) + count;
            info.items.push(PageItem::OverflowData { data_bytes: count, next });
        }
        PageKind::Freelist => {
            let version = engine.header().version;
            let (entries, _) = freelist::decode_page(page, &bytes, engine.page_size(), version)?;
            info.used_bytes = in_page_u32(freelist::used_bytes(entries.len(), version));
            info.items = entries.into_iter().map(|e| PageItem::FreePage { page: e.page }).collect();
        }
    }
    info.free_bytes = ps - info.used_bytes.min(ps);
    Ok(info)
}
