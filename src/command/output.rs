//! The typed result of a statement, rendered as text for people (`Display`) and as JSON for
//! programs ([`Output::to_json`]). Every front-end prints these and nothing else.

use std::fmt::{self, Write as _};
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::ast::Statement;
use super::error::CommandError;
use super::help::{HelpTopic, TOPICS};
use super::literal::{bytes_to_json, display_value, quote};
use super::position::Position;
use crate::{
    CheckReport, ChecksumState, PageInfo, PageItem, PageSizeSource, PageType, ReaderInfo, SalvageReport,
    SkipReason, Stats,
};

/// What a statement (or a session command such as `.open`) answered.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// `PUT`: `Inserted N key-value pairs`.
    Inserted {
        /// Pairs in the statement.
        count: usize,
    },
    /// `GET` of a key that exists: the value.
    Value {
        /// The key asked for.
        key: Vec<u8>,
        /// Its value.
        value: Vec<u8>,
    },
    /// `GET` or `DEL` of a key that does not exist: `Key not found`.
    NotFound {
        /// The key asked for.
        key: Vec<u8>,
    },
    /// `GET WHERE KEY=*`: every pair in key order.
    Pairs {
        /// Every key with its value, in key order.
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// `DEL`: `Key deleted`.
    Deleted {
        /// The key deleted.
        key: Vec<u8>,
    },
    /// `COMPACT`: `Database compacted`.
    Compacted,
    /// `IDENTIFIER GET`.
    Identifier {
        /// The store's identifier.
        identifier: String,
    },
    /// `IDENTIFIER SET`: `Identifier set to 'id'`.
    IdentifierSet {
        /// The new identifier.
        identifier: String,
    },
    /// `SCAN`.
    Scan(ScanPage),
    /// `COUNT`.
    Count {
        /// Keys in the store.
        keys: u64,
    },
    /// `STATS`.
    Stats(Stats),
    /// `PAGES`.
    Pages(PageList),
    /// `PAGE n`.
    Page(PageInfo),
    /// `FREELIST`.
    FreeList {
        /// Numbers of the free pages, ascending, pages freed since the last checkpoint included.
        pages: Vec<u64>,
    },
    /// `CHECK`; see [`Output::found_damage`].
    Check(CheckReport),
    /// `READERS`.
    Readers(ReaderTable),
    /// `EXPORT`.
    Exported {
        /// The file written, as [`FileAccess`](super::FileAccess) resolved it.
        path: PathBuf,
        /// Pairs written.
        pairs: u64,
    },
    /// `IMPORT`; `identifier` is the one recorded in the file (the store keeps its own).
    Imported {
        /// The file read, as [`FileAccess`](super::FileAccess) resolved it.
        path: PathBuf,
        /// Pairs written to the store.
        pairs: u64,
        /// The identifier in the file's header line.
        identifier: String,
    },
    /// `SALVAGE TO`: what was read from the damaged file and saved in the new store.
    Salvaged {
        /// The new store, as [`FileAccess`](super::FileAccess) resolved it.
        path: PathBuf,
        /// What was read, skipped, recovered and lost.
        report: SalvageReport,
    },
    /// `HELP`: one topic, or all of them.
    Help {
        /// The topic asked for; `None`: every topic of [`TOPICS`].
        topic: Option<&'static HelpTopic>,
    },
    /// A session opened a store (`.open`, `POST /api/open`).
    Opened {
        /// The store's path.
        path: PathBuf,
        /// Whether the file did not exist before, so a new store was created.
        created: bool,
    },
    /// A session closed its store.
    Closed,
}

/// One page of `SCAN` results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPage {
    /// The pairs listed, in key order.
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The first key not shown, when more pairs follow: `SCAN ... FROM next` lists them.
    pub next: Option<Vec<u8>>,
    /// The prefix and limit the scan ran with, to write the statement for the next page.
    pub prefix: Option<Vec<u8>>,
    /// The most pairs listed, 1 to [`MAX_SCAN_LIMIT`](super::MAX_SCAN_LIMIT).
    pub limit: u64,
}

impl ScanPage {
    /// The statement that lists the next page, when there is one.
    pub fn next_statement(&self) -> Option<Statement> {
        self.next.as_ref().map(|next| Statement::Scan {
            prefix: self.prefix.clone(),
            from: Some(next.clone()),
            limit: Some(self.limit),
        })
    }
}

/// One row of `PAGES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRow {
    /// Page number, from 0.
    pub number: u64,
    /// What the page holds.
    pub page_type: PageType,
    /// Items on the page ([`PageInfo::item_count`]).
    pub items: u32,
    /// Bytes of the page in use, header included.
    pub used_bytes: u32,
    /// Bytes of the page not in use.
    pub free_bytes: u32,
    /// Whether the page's stored checksum matches its bytes.
    pub checksum: ChecksumState,
}

impl From<&PageInfo> for PageRow {
    fn from(info: &PageInfo) -> PageRow {
        PageRow {
            number: info.number,
            page_type: info.page_type,
            items: info.item_count,
            used_bytes: info.used_bytes,
            free_bytes: info.free_bytes,
            checksum: info.checksum,
        }
    }
}

/// The answer of `PAGES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageList {
    /// One row per page listed, in page-number order.
    pub rows: Vec<PageRow>,
    /// Pages in the file.
    pub page_count: u64,
    /// The first page not shown, when more follow.
    pub next: Option<u64>,
    /// The most pages listed, 1 to [`MAX_PAGES_LIMIT`](super::MAX_PAGES_LIMIT).
    pub limit: u64,
}

/// The answer of `READERS`: the store's reader table as it stood when the statement ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderTable {
    /// One entry per slot held, in slot order.
    pub readers: Vec<ReaderInfo>,
    /// When the table was read, Unix milliseconds: ages are counted to this moment.
    pub now_ms: u64,
    /// The process that ran the statement, to mark its own handles.
    pub own_pid: u32,
    /// The checkpoint in force, as this handle sees it ([`Stats::checkpoint_id`]).
    pub checkpoint_id: u64,
    /// Free pages the writer holds back for readers: the most any reader holds
    /// ([`ReaderInfo::pages_held`](crate::ReaderInfo::pages_held), from the free list as of the last
    /// checkpoint, so a read-only handle knows it too), or the writer's own count
    /// ([`Stats::pages_held_for_readers`]) when that is larger.
    pub pages_held_for_readers: u64,
    /// Whether the handle that ran the statement is read-only (and so holds a slot itself).
    pub read_only: bool,
    /// The writer that has the store open ([`crate::KVStore::writer`]): `None` when there is
    /// none, `Some(None)` when its process cannot be named.
    pub writer: Option<Option<u32>>,
}

impl ReaderTable {
    /// How long `reader` has held its checkpoint, in milliseconds; `None` when its slot does
    /// not say yet. A pin time after `now_ms` (another process's clock) counts as 0.
    pub fn age_ms(&self, reader: &ReaderInfo) -> Option<u64> {
        reader.pinned_since_ms.map(|since| self.now_ms.saturating_sub(since))
    }
}

/// A duration in the largest units that keep it short: `250 ms`, `12 s`, `3 min 20 s`,
/// `5 h 02 min`, `2 d 07 h`.
pub(crate) fn human_age(ms: u64) -> String {
    const SECOND_MS: u64 = 1000;
    const MINUTE_MS: u64 = 60 * SECOND_MS;
    const HOUR_MS: u64 = 60 * MINUTE_MS;
    const DAY_MS: u64 = 24 * HOUR_MS;
    if ms < SECOND_MS {
        format!("{ms} ms")
    } else if ms < MINUTE_MS {
        format!("{} s", ms / SECOND_MS)
    } else if ms < HOUR_MS {
        format!("{} min {} s", ms / MINUTE_MS, ms % MINUTE_MS / SECOND_MS)
    } else if ms < DAY_MS {
        format!("{} h {:02} min", ms / HOUR_MS, ms % HOUR_MS / MINUTE_MS)
    } else {
        format!("{} d {:02} h", ms / DAY_MS, ms % DAY_MS / HOUR_MS)
    }
}

impl Output {
    /// A `CHECK` that found problems: `wkstore-tui --exec` exits with status 3.
    pub fn found_damage(&self) -> bool {
        matches!(self, Output::Check(report) if !report.is_ok())
    }

    /// The text rendering, as `to_string()` gives it (no final newline).
    pub fn render_text(&self) -> String {
        self.to_string()
    }

    /// The JSON rendering: one object whose `"kind"` names the result.
    pub fn to_json(&self) -> Value {
        match self {
            Output::Inserted { count } => {
                json!({"kind": "inserted", "count": count, "message": self.to_string()})
            }
            Output::Value { key, value } => {
                json!({"kind": "value", "key": bytes_to_json(key), "value": bytes_to_json(value)})
            }
            Output::NotFound { key } => {
                json!({"kind": "not_found", "key": bytes_to_json(key), "message": self.to_string()})
            }
            Output::Pairs { pairs } => {
                json!({"kind": "pairs", "count": pairs.len(), "pairs": pairs_json(pairs)})
            }
            Output::Deleted { key } => {
                json!({"kind": "deleted", "key": bytes_to_json(key), "message": self.to_string()})
            }
            Output::Compacted => json!({"kind": "compacted", "message": self.to_string()}),
            Output::Identifier { identifier } => json!({"kind": "identifier", "identifier": identifier}),
            Output::IdentifierSet { identifier } => {
                json!({"kind": "identifier_set", "identifier": identifier, "message": self.to_string()})
            }
            Output::Scan(page) => json!({
                "kind": "scan",
                "count": page.pairs.len(),
                "pairs": pairs_json(&page.pairs),
                "next": page.next.as_deref().map(bytes_to_json),
            }),
            Output::Count { keys } => json!({"kind": "count", "count": keys}),
            Output::Stats(stats) => stats_json(stats),
            Output::Pages(list) => json!({
                "kind": "pages",
                "page_count": list.page_count,
                "pages": list.rows.iter().map(page_row_json).collect::<Vec<_>>(),
                "next": list.next,
            }),
            Output::Page(info) => page_json(info),
            Output::FreeList { pages } => json!({"kind": "freelist", "count": pages.len(), "pages": pages}),
            Output::Check(report) => json!({
                "kind": "check",
                "ok": report.is_ok(),
                "pages_checked": report.pages_checked,
                "keys_checked": report.keys_checked,
                "problems": report.problems.iter()
                    .map(|p| json!({"page": p.page, "message": p.message}))
                    .collect::<Vec<_>>(),
                "damaged_pages": damaged_pages(report),
            }),
            Output::Readers(table) => readers_json(table),
            Output::Exported { path, pairs } => json!({
                "kind": "exported",
                "path": path.display().to_string(),
                "count": pairs,
                "message": self.to_string(),
            }),
            Output::Imported { path, pairs, identifier } => json!({
                "kind": "imported",
                "path": path.display().to_string(),
                "count": pairs,
                "identifier": identifier,
                "message": self.to_string(),
            }),
            Output::Salvaged { path, report } => salvage_json(path, report),
            Output::Help { topic } => {
                let topics: Vec<Value> = match topic {
                    Some(t) => vec![topic_json(t)],
                    None => TOPICS.iter().map(topic_json).collect(),
                };
                json!({"kind": "help", "topics": topics})
            }
            Output::Opened { path, created } => json!({
                "kind": "opened",
                "path": path.display().to_string(),
                "created": created,
                "message": self.to_string(),
            }),
            Output::Closed => json!({"kind": "closed", "message": self.to_string()}),
        }
    }
}

/// The JSON rendering of an error: `{"kind": "error", "message": ..}` with `line` and `column`
/// when they are known. `statement_at` is where the failing statement starts, for errors that
/// are not parse errors.
pub fn error_to_json(error: &CommandError, statement_at: Option<Position>) -> Value {
    let mut object = Map::new();
    object.insert("kind".into(), "error".into());
    match error {
        CommandError::Parse(e) => {
            object.insert("message".into(), e.message().into());
            object.insert("line".into(), e.position().line.into());
            object.insert("column".into(), e.position().column.into());
        }
        other => {
            object.insert("message".into(), other.to_string().into());
            if let Some(at) = statement_at {
                object.insert("line".into(), at.line.into());
            }
        }
    }
    object.insert("locked".into(), error.is_locked().into());
    Value::Object(object)
}

fn pairs_json(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<Value> {
    pairs.iter().map(|(k, v)| json!({"key": bytes_to_json(k), "value": bytes_to_json(v)})).collect()
}

fn salvage_json(path: &std::path::Path, report: &SalvageReport) -> Value {
    let skipped: Vec<Value> = report
        .skipped
        .iter()
        .map(|s| match &s.reason {
            SkipReason::BadChecksum => json!({"page": s.page, "reason": "bad_checksum"}),
            SkipReason::Undecodable(why) => json!({"page": s.page, "reason": "undecodable", "detail": why}),
            SkipReason::PastEnd => json!({"page": s.page, "reason": "past_end"}),
        })
        .collect();
    let page_size_from = match report.page_size_from {
        PageSizeSource::Header => "header",
        PageSizeSource::HeaderCopy => "header_copy",
        PageSizeSource::Given => "given",
        PageSizeSource::Guessed => "guessed",
    };
    json!({
        "kind": "salvaged",
        "path": path.display().to_string(),
        "page_size": report.page_size,
        "page_size_from": page_size_from,
        "file_bytes": report.file_bytes,
        "pages_read": report.pages_read,
        "leaves_recovered": report.leaves_recovered,
        "pages_bad_checksum": report.pages_bad_checksum,
        "pages_undecodable": report.pages_undecodable,
        "pages_past_end": report.pages_past_end,
        "pages_blank": report.pages_blank,
        "skipped": skipped,
        "tree_whole": report.tree_whole,
        "keys_recovered": report.keys_recovered,
        "values_lost": report.values_lost,
        "lost_keys": report.lost_keys.iter().map(|k| bytes_to_json(k)).collect::<Vec<_>>(),
        "duplicate_keys": report.duplicate_keys,
        "duplicates_differing": report.duplicates_differing,
        "duplicates_guessed": report.duplicates_guessed,
        "keys_from_free_pages": report.keys_from_free_pages,
        "stale_keys_dropped": report.stale_keys_dropped,
        "log_records_applied": report.log_records_applied,
        "notes": report.notes,
    })
}

fn readers_json(table: &ReaderTable) -> Value {
    let readers: Vec<Value> = table
        .readers
        .iter()
        .map(|r| {
            json!({
                "slot": r.slot,
                "pid": r.pid,
                "checkpoint_id": r.checkpoint_id,
                "pinned_since_ms": r.pinned_since_ms,
                "age_ms": table.age_ms(r),
                "pages_held": r.pages_held,
                "this_process": r.pid == Some(table.own_pid),
            })
        })
        .collect();
    json!({
        "kind": "readers",
        "count": readers.len(),
        "readers": readers,
        "checkpoint_id": table.checkpoint_id,
        "pages_held_for_readers": table.pages_held_for_readers,
        "read_only": table.read_only,
        "writer": table.writer.map(|pid| json!({ "pid": pid })),
    })
}

fn damaged_pages(report: &CheckReport) -> Vec<u64> {
    let mut pages: Vec<u64> = report.problems.iter().filter_map(|p| p.page).collect();
    pages.sort_unstable();
    pages.dedup();
    pages
}

fn topic_json(topic: &HelpTopic) -> Value {
    json!({
        "name": topic.name,
        "syntax": topic.syntax,
        "summary": topic.summary,
        "details": topic.details,
        "example": topic.example,
    })
}

fn checksum_json(state: ChecksumState) -> Value {
    match state {
        ChecksumState::Valid => json!({"state": "valid"}),
        ChecksumState::Invalid { stored, computed } => {
            json!({"state": "invalid", "stored": stored, "computed": computed})
        }
        ChecksumState::NotYetWritten => json!({"state": "not_yet_written"}),
        ChecksumState::NotApplicable => json!({"state": "not_applicable"}),
    }
}

fn checksum_text(state: ChecksumState) -> String {
    match state {
        ChecksumState::Valid => "valid".to_owned(),
        ChecksumState::Invalid { stored, computed } => {
            format!("INVALID (stored {stored:08x}, computed {computed:08x})")
        }
        ChecksumState::NotYetWritten => "not yet written".to_owned(),
        ChecksumState::NotApplicable => "n/a".to_owned(),
    }
}

fn page_row_json(row: &PageRow) -> Value {
    json!({
        "number": row.number,
        "type": row.page_type.name(),
        "items": row.items,
        "used_bytes": row.used_bytes,
        "free_bytes": row.free_bytes,
        "checksum": checksum_json(row.checksum),
    })
}

fn page_item_json(item: &PageItem) -> Value {
    match item {
        PageItem::LeafEntry { key, value_len, overflow } => json!({
            "type": "leaf_entry", "key": bytes_to_json(key), "value_len": value_len, "overflow": overflow,
        }),
        PageItem::BranchChild { key, child } => json!({
            "type": "branch_child", "key": key.as_deref().map(bytes_to_json), "child": child,
        }),
        PageItem::OverflowData { data_bytes, next } => {
            json!({"type": "overflow_data", "data_bytes": data_bytes, "next": next})
        }
        PageItem::FreePage { page } => json!({"type": "free_page", "page": page}),
        PageItem::MetaField { name, value } => json!({"type": "meta_field", "name": name, "value": value}),
    }
}

fn page_json(info: &PageInfo) -> Value {
    json!({
        "kind": "page",
        "number": info.number,
        "type": info.page_type.name(),
        "stored_type": info.stored_type,
        "item_count": info.item_count,
        "next": info.next,
        "checksum": checksum_json(info.checksum),
        "used_bytes": info.used_bytes,
        "free_bytes": info.free_bytes,
        "items": info.items.iter().map(page_item_json).collect::<Vec<_>>(),
    })
}

/// Every figure of [`Stats`] with its JSON name and text label, in display order.
fn stats_fields(stats: &Stats) -> [(&'static str, &'static str, u64); 18] {
    [
        ("page_size", "page size (bytes)", u64::from(stats.page_size)),
        ("page_count", "pages", stats.page_count),
        ("meta_pages", "  meta", stats.meta_pages),
        ("branch_pages", "  branch", stats.branch_pages),
        ("leaf_pages", "  leaf", stats.leaf_pages),
        ("overflow_pages", "  overflow", stats.overflow_pages),
        ("freelist_pages", "  freelist", stats.freelist_pages),
        ("free_pages", "  free", stats.free_pages),
        ("tree_depth", "tree depth", u64::from(stats.tree_depth)),
        ("key_count", "keys", stats.key_count),
        ("file_bytes", "file size (bytes)", stats.file_bytes),
        ("log_bytes", "log size (bytes)", stats.log_bytes),
        ("cache_hits", "cache hits", stats.cache_hits),
        ("cache_misses", "cache misses", stats.cache_misses),
        ("cache_bytes", "cache held (bytes)", stats.cache_bytes),
        ("dirty_pages", "dirty pages", stats.dirty_pages),
        ("last_commit_seq", "last commit", stats.last_commit_seq),
        ("checkpoint_seq", "checkpointed through", stats.checkpoint_seq),
    ]
}

fn stats_json(stats: &Stats) -> Value {
    let mut object = Map::new();
    object.insert("kind".into(), "stats".into());
    for (name, _, value) in stats_fields(stats) {
        object.insert(name.into(), value.into());
    }
    object.insert("cache_hit_ratio".into(), json!(stats.cache_hit_ratio()));
    Value::Object(object)
}

/// Page numbers as runs: `3-5, 9`.
fn page_runs(pages: &[u64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < pages.len() {
        let start = pages[i];
        let mut end = start;
        while i + 1 < pages.len() && end.checked_add(1) == Some(pages[i + 1]) {
            i += 1;
            end = pages[i];
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        i += 1;
    }
    out
}

fn write_pairs(f: &mut fmt::Formatter<'_>, pairs: &[(Vec<u8>, Vec<u8>)]) -> fmt::Result {
    write!(f, "Found {} key-value pairs:", pairs.len())?;
    for (key, value) in pairs {
        write!(f, "\n{}: {}", quote(key), quote(value))?;
    }
    Ok(())
}

fn write_readers(f: &mut fmt::Formatter<'_>, table: &ReaderTable) -> fmt::Result {
    if table.readers.is_empty() {
        f.write_str("No readers")?;
    } else {
        write!(
            f,
            "{:>6}  {:>10}  {:>10}  {:>10}  {:>16}",
            "slot", "pid", "checkpoint", "pages held", "pinned for"
        )?;
        for reader in &table.readers {
            let unknown = || "-".to_owned();
            let pid = reader.pid.map_or_else(unknown, |pid| pid.to_string());
            let checkpoint = reader.checkpoint_id.map_or_else(unknown, |id| id.to_string());
            let age = table.age_ms(reader).map_or_else(unknown, human_age);
            let held = reader.pages_held.map_or_else(unknown, |n| n.to_string());
            write!(f, "\n{:>6}  {pid:>10}  {checkpoint:>10}  {held:>10}  {age:>16}", reader.slot)?;
            if reader.pid == Some(table.own_pid) {
                f.write_str("  (this process)")?;
            }
        }
    }
    let count = table.readers.len();
    write!(
        f,
        "\n{count} {}; checkpoint in force: {}; pages held for readers: {}; this handle: {}",
        if count == 1 { "reader" } else { "readers" },
        table.checkpoint_id,
        table.pages_held_for_readers,
        if table.read_only { "read-only" } else { "writable" },
    )?;
    match table.writer {
        None => f.write_str("; writer: none"),
        Some(None) => f.write_str("; writer: a process the lock table does not name"),
        Some(Some(pid)) if pid == table.own_pid => write!(f, "; writer: pid {pid} (this process)"),
        Some(Some(pid)) => write!(f, "; writer: pid {pid}"),
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Inserted { count } => write!(f, "Inserted {count} key-value pairs"),
            Output::Value { value, .. } => f.write_str(&display_value(value)),
            Output::NotFound { .. } => f.write_str("Key not found"),
            Output::Pairs { pairs } if pairs.is_empty() => f.write_str("No data found"),
            Output::Pairs { pairs } => write_pairs(f, pairs),
            Output::Deleted { .. } => f.write_str("Key deleted"),
            Output::Compacted => f.write_str("Database compacted"),
            Output::Identifier { identifier } => f.write_str(identifier),
            Output::IdentifierSet { identifier } => write!(f, "Identifier set to '{identifier}'"),
            Output::Scan(page) => {
                if page.pairs.is_empty() {
                    f.write_str("No data found")?;
                } else {
                    write_pairs(f, &page.pairs)?;
                }
                if let Some(next) = page.next_statement() {
                    write!(f, "\nNext page: {next}")?;
                }
                Ok(())
            }
            Output::Count { keys } => write!(f, "{keys}"),
            Output::Stats(stats) => {
                let fields = stats_fields(stats);
                for (i, (_, label, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{:<22}{value}", format!("{label}:"))?;
                }
                write!(f, "\n{:<22}{:.1}%", "cache hit ratio:", stats.cache_hit_ratio() * 100.0)
            }
            Output::Pages(list) => {
                write!(
                    f,
                    "{:>8}  {:<8}  {:>6}  {:>6}  {:>6}  checksum",
                    "page", "type", "items", "used", "free"
                )?;
                for row in &list.rows {
                    write!(
                        f,
                        "\n{:>8}  {:<8}  {:>6}  {:>6}  {:>6}  {}",
                        row.number,
                        row.page_type.name(),
                        row.items,
                        row.used_bytes,
                        row.free_bytes,
                        checksum_text(row.checksum)
                    )?;
                }
                write!(f, "\n{} of {} pages shown", list.rows.len(), list.page_count)?;
                if let Some(next) = list.next {
                    let statement = Statement::Pages { from: Some(next), limit: Some(list.limit) };
                    write!(f, "\nNext page: {statement}")?;
                }
                Ok(())
            }
            Output::Page(info) => {
                write!(f, "Page {}", info.number)?;
                write!(f, "\n  type:        {} (stored type byte {})", info.page_type, info.stored_type)?;
                write!(f, "\n  items:       {}", info.item_count)?;
                write!(f, "\n  next:        {}", info.next)?;
                write!(f, "\n  checksum:    {}", checksum_text(info.checksum))?;
                write!(f, "\n  used bytes:  {}", info.used_bytes)?;
                write!(f, "\n  free bytes:  {}", info.free_bytes)?;
                if !info.items.is_empty() {
                    f.write_str("\nItems:")?;
                }
                for (i, item) in info.items.iter().enumerate() {
                    write!(f, "\n  {i:>5}  ")?;
                    match item {
                        PageItem::LeafEntry { key, value_len, overflow: None } => {
                            write!(f, "key {}, value {value_len} bytes", quote(key))?;
                        }
                        PageItem::LeafEntry { key, value_len, overflow: Some(first) } => write!(
                            f,
                            "key {}, value {value_len} bytes in overflow pages from page {first}",
                            quote(key)
                        )?,
                        PageItem::BranchChild { key: None, child } => write!(f, "child page {child}")?,
                        PageItem::BranchChild { key: Some(key), child } => {
                            write!(f, "keys from {} in child page {child}", quote(key))?;
                        }
                        PageItem::OverflowData { data_bytes, next } => {
                            write!(f, "{data_bytes} data bytes, next page {next}")?;
                        }
                        PageItem::FreePage { page } => write!(f, "free page {page}")?,
                        PageItem::MetaField { name, value } => write!(f, "{name}: {value}")?,
                    }
                }
                Ok(())
            }
            Output::FreeList { pages } if pages.is_empty() => f.write_str("No free pages"),
            Output::FreeList { pages } => write!(f, "{} free pages: {}", pages.len(), page_runs(pages)),
            Output::Check(report) if report.is_ok() => write!(
                f,
                "OK: {} pages and {} keys checked, no problems found",
                report.pages_checked, report.keys_checked
            ),
            Output::Check(report) => {
                write!(
                    f,
                    "DAMAGED: {} problems found ({} pages and {} keys checked)",
                    report.problems.len(),
                    report.pages_checked,
                    report.keys_checked
                )?;
                for problem in &report.problems {
                    write!(f, "\n  {problem}")?;
                }
                let pages = damaged_pages(report);
                if !pages.is_empty() {
                    write!(f, "\nDamaged pages: {}", page_runs(&pages))?;
                }
                Ok(())
            }
            Output::Readers(table) => write_readers(f, table),
            Output::Exported { path, pairs } => {
                write!(f, "Exported {pairs} key-value pairs to '{}'", path.display())
            }
            Output::Imported { path, pairs, .. } => {
                write!(f, "Imported {pairs} key-value pairs from '{}'", path.display())
            }
            Output::Salvaged { path, report } => {
                write!(f, "Salvaged {} keys into '{}'", report.keys_recovered, path.display())?;
                for line in report.lines() {
                    write!(f, "\n  {line}")?;
                }
                Ok(())
            }
            Output::Help { topic: Some(topic) } => {
                write!(f, "{}\n\n{}\n\n{}\n\nExample:", topic.syntax, topic.summary, topic.details)?;
                for line in topic.example.lines() {
                    write!(f, "\n  {line}")?;
                }
                Ok(())
            }
            Output::Help { topic: None } => {
                f.write_str("Statements (end each with ';'; keywords in any case):")?;
                for topic in TOPICS {
                    for (i, syntax) in topic.syntax.lines().enumerate() {
                        let summary = if i == 0 { topic.summary } else { "" };
                        write!(f, "\n  {syntax:<38} {summary}")?;
                    }
                }
                f.write_str(
                    "\nHELP name; explains one statement; HELP SYNTAX; explains strings and hex literals.",
                )
            }
            Output::Opened { created: false, .. } => f.write_str("Database existing opened successfully"),
            Output::Opened { created: true, .. } => f.write_str("Database new opened successfully"),
            Output::Closed => f.write_str("Database closed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Problem;

    #[test]
    fn original_answers_word_for_word() {
        assert_eq!(Output::Inserted { count: 2 }.to_string(), "Inserted 2 key-value pairs");
        assert_eq!(Output::Inserted { count: 1 }.to_string(), "Inserted 1 key-value pairs");
        assert_eq!(Output::Value { key: b"k".to_vec(), value: b"v".to_vec() }.to_string(), "v");
        assert_eq!(
            Output::Value { key: b"k".to_vec(), value: vec![0xff, 0x00, 0xab] }.to_string(),
            "<BINARY DATA: FF 00 AB>"
        );
        assert_eq!(Output::NotFound { key: b"k".to_vec() }.to_string(), "Key not found");
        assert_eq!(Output::Deleted { key: b"k".to_vec() }.to_string(), "Key deleted");
        assert_eq!(Output::Compacted.to_string(), "Database compacted");
        assert_eq!(Output::Identifier { identifier: "MyAppDB".into() }.to_string(), "MyAppDB");
        assert_eq!(Output::IdentifierSet { identifier: "id".into() }.to_string(), "Identifier set to 'id'");
        assert_eq!(Output::Pairs { pairs: vec![] }.to_string(), "No data found");
        assert_eq!(
            Output::Pairs { pairs: vec![(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), b"2".to_vec())] }
                .to_string(),
            "Found 2 key-value pairs:\n\"a\": \"1\"\n\"b\": \"2\""
        );
        assert_eq!(
            Output::Opened { path: "x.db".into(), created: false }.to_string(),
            "Database existing opened successfully"
        );
        assert_eq!(
            Output::Opened { path: "x.db".into(), created: true }.to_string(),
            "Database new opened successfully"
        );
        assert_eq!(Output::Closed.to_string(), "Database closed");
    }

    #[test]
    fn scan_shows_the_next_statement() {
        let page = ScanPage {
            pairs: vec![(b"p1".to_vec(), b"x".to_vec())],
            next: Some(b"p2".to_vec()),
            prefix: Some(b"p".to_vec()),
            limit: 1,
        };
        assert_eq!(
            Output::Scan(page.clone()).to_string(),
            "Found 1 key-value pairs:\n\"p1\": \"x\"\nNext page: SCAN PREFIX \"p\" FROM \"p2\" LIMIT 1;"
        );
        let json = Output::Scan(page).to_json();
        assert_eq!(json["next"], "p2");
        assert_eq!(json["pairs"][0]["key"], "p1");
        let end = ScanPage { pairs: vec![], next: None, prefix: None, limit: 100 };
        assert_eq!(Output::Scan(end.clone()).to_string(), "No data found");
        assert_eq!(Output::Scan(end).to_json()["next"], Value::Null);
    }

    #[test]
    fn binary_data_in_json_is_base64() {
        let json = Output::Value { key: vec![0xff], value: b"ok".to_vec() }.to_json();
        assert_eq!(json, json!({"kind": "value", "key": {"base64": "/w=="}, "value": "ok"}));
    }

    #[test]
    fn check_reports_damage() {
        let ok = Output::Check(CheckReport { pages_checked: 3, keys_checked: 10, problems: vec![] });
        assert!(!ok.found_damage());
        assert_eq!(ok.to_string(), "OK: 3 pages and 10 keys checked, no problems found");
        let bad = Output::Check(CheckReport {
            pages_checked: 3,
            keys_checked: 10,
            problems: vec![
                Problem { page: Some(7), message: "checksum mismatch".into() },
                Problem { page: None, message: "key count is 9, header says 10".into() },
                Problem { page: Some(6), message: "keys out of order".into() },
            ],
        });
        assert!(bad.found_damage());
        let text = bad.to_string();
        assert!(text.starts_with("DAMAGED: 3 problems found"), "{text}");
        assert!(text.contains("\n  page 7: checksum mismatch"), "{text}");
        assert!(text.ends_with("Damaged pages: 6-7"), "{text}");
        let json = bad.to_json();
        assert_eq!(json["ok"], false);
        assert_eq!(json["damaged_pages"], json!([6, 7]));
        assert_eq!(json["problems"][1]["page"], Value::Null);
    }

    #[test]
    fn freelist_runs() {
        assert_eq!(Output::FreeList { pages: vec![] }.to_string(), "No free pages");
        assert_eq!(
            Output::FreeList { pages: vec![3, 4, 5, 9, 11, 12] }.to_string(),
            "6 free pages: 3-5, 9, 11-12"
        );
        assert_eq!(page_runs(&[u64::MAX - 1, u64::MAX]), format!("{}-{}", u64::MAX - 1, u64::MAX));
    }

    #[test]
    fn pages_and_page_render() {
        let info = PageInfo {
            number: 4,
            page_type: PageType::Leaf,
            stored_type: 3,
            item_count: 2,
            next: 0,
            checksum: ChecksumState::Invalid { stored: 1, computed: 2 },
            used_bytes: 100,
            free_bytes: 3996,
            items: vec![
                PageItem::LeafEntry { key: b"a".to_vec(), value_len: 5, overflow: None },
                PageItem::LeafEntry { key: vec![0xff], value_len: 90000, overflow: Some(9) },
            ],
        };
        let list = PageList { rows: vec![PageRow::from(&info)], page_count: 10, next: Some(5), limit: 1 };
        let text = Output::Pages(list.clone()).to_string();
        assert!(text.contains("INVALID (stored 00000001, computed 00000002)"), "{text}");
        assert!(text.ends_with("1 of 10 pages shown\nNext page: PAGES FROM 5 LIMIT 1;"), "{text}");
        let json = Output::Pages(list).to_json();
        assert_eq!(json["pages"][0]["type"], "leaf");
        assert_eq!(json["pages"][0]["checksum"]["state"], "invalid");
        assert_eq!(json["next"], 5);

        let page = Output::Page(info);
        let text = page.to_string();
        assert!(text.contains("key \"a\", value 5 bytes"), "{text}");
        assert!(text.contains("key \"\\xff\", value 90000 bytes in overflow pages from page 9"), "{text}");
        let json = page.to_json();
        assert_eq!(
            json["items"][1],
            json!({"type": "leaf_entry", "key": {"base64": "/w=="}, "value_len": 90000, "overflow": 9})
        );
    }

    #[test]
    fn stats_render_every_field() {
        let stats = Stats {
            page_size: 4096,
            page_count: 12,
            key_count: 99,
            cache_hits: 3,
            cache_misses: 1,
            ..Stats::default()
        };
        let text = Output::Stats(stats.clone()).to_string();
        assert!(text.contains("page size (bytes):    4096"), "{text}");
        assert!(text.contains("cache hit ratio:      75.0%"), "{text}");
        let json = Output::Stats(stats).to_json();
        assert_eq!(json["key_count"], 99);
        assert_eq!(json["cache_hit_ratio"], 0.75);
        assert_eq!(json.as_object().map(|o| o.len()), Some(20));
    }

    fn reader(slot: u32, pid: Option<u32>, checkpoint_id: Option<u64>, since: Option<u64>) -> ReaderInfo {
        ReaderInfo {
            slot,
            pid,
            checkpoint_id,
            pinned_since_ms: since,
            pages_held: checkpoint_id.map(|c| (7 - c) * 5),
        }
    }

    #[test]
    fn readers_render_rows_ages_and_the_summary() {
        let table = ReaderTable {
            readers: vec![
                reader(0, Some(4242), Some(7), Some(100_000_000 - 12_345)),
                reader(3, Some(77), Some(6), Some(100_000_000 - 3 * 3_600_000 - 5 * 60_000)),
                reader(5, None, None, None),
                reader(9, Some(4242), Some(7), Some(100_000_500)),
            ],
            now_ms: 100_000_000,
            own_pid: 4242,
            checkpoint_id: 7,
            pages_held_for_readers: 12,
            read_only: true,
            writer: Some(Some(77)),
        };
        let output = Output::Readers(table.clone());
        assert_eq!(
            output.to_string(),
            "  slot         pid  checkpoint  pages held        pinned for\n\
             \x20    0        4242           7           0              12 s  (this process)\n\
             \x20    3          77           6           5        3 h 05 min\n\
             \x20    5           -           -           -                 -\n\
             \x20    9        4242           7           0              0 ms  (this process)\n\
             4 readers; checkpoint in force: 7; pages held for readers: 12; this handle: read-only; \
             writer: pid 77"
        );
        let json = output.to_json();
        assert_eq!(json["kind"], "readers");
        assert_eq!(json["count"], 4);
        assert_eq!(
            (json["checkpoint_id"].clone(), json["pages_held_for_readers"].clone()),
            (json!(7), json!(12))
        );
        assert_eq!(json["read_only"], true);
        assert_eq!(json["writer"], json!({"pid": 77}));
        assert_eq!(
            json["readers"][0],
            json!({"slot": 0, "pid": 4242, "checkpoint_id": 7, "pinned_since_ms": 99_987_655,
                   "age_ms": 12_345, "pages_held": 0, "this_process": true})
        );
        assert_eq!(
            json["readers"][2],
            json!({"slot": 5, "pid": null, "checkpoint_id": null, "pinned_since_ms": null,
                   "age_ms": null, "pages_held": null, "this_process": false})
        );
        // A pin time ahead of this clock counts as no time at all.
        assert_eq!(json["readers"][3]["age_ms"], 0);

        let empty = ReaderTable {
            readers: vec![],
            read_only: false,
            pages_held_for_readers: 0,
            writer: None,
            ..table
        };
        assert_eq!(
            Output::Readers(empty.clone()).to_string(),
            "No readers\n0 readers; checkpoint in force: 7; pages held for readers: 0; this handle: writable; \
             writer: none"
        );
        let unnamed = ReaderTable { writer: Some(None), ..empty.clone() };
        assert!(
            Output::Readers(unnamed.clone())
                .to_string()
                .ends_with("; writer: a process the lock table does not name")
        );
        assert_eq!(Output::Readers(unnamed).to_json()["writer"], json!({"pid": null}));
        let own = ReaderTable { writer: Some(Some(4242)), ..empty.clone() };
        assert!(Output::Readers(own).to_string().ends_with("; writer: pid 4242 (this process)"));
        assert_eq!(Output::Readers(empty).to_json()["readers"], json!([]));
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(human_age(0), "0 ms");
        assert_eq!(human_age(999), "999 ms");
        assert_eq!(human_age(1_000), "1 s");
        assert_eq!(human_age(59_999), "59 s");
        assert_eq!(human_age(60_000), "1 min 0 s");
        assert_eq!(human_age(3_599_999), "59 min 59 s");
        assert_eq!(human_age(3_600_000), "1 h 00 min");
        assert_eq!(human_age(86_400_000 + 7 * 3_600_000), "1 d 07 h");
        assert_eq!(human_age(u64::MAX), format!("{} d 14 h", u64::MAX / 86_400_000));
    }

    #[test]
    fn help_renders() {
        let all = Output::Help { topic: None }.to_string();
        for topic in TOPICS {
            assert!(all.contains(topic.summary), "{}", topic.name);
        }
        let one = Output::Help { topic: super::super::help::find_topic("scan") }.to_string();
        assert!(one.starts_with("SCAN [PREFIX p] [FROM k] [LIMIT n];"), "{one}");
        assert_eq!(
            Output::Help { topic: None }.to_json()["topics"].as_array().map(Vec::len),
            Some(TOPICS.len())
        );
    }

    #[test]
    fn every_output_has_a_kind() {
        let outputs = [
            Output::Inserted { count: 1 },
            Output::Compacted,
            Output::Count { keys: 3 },
            Output::Closed,
            Output::Identifier { identifier: "x".into() },
            Output::Exported { path: "f".into(), pairs: 2 },
            Output::Imported { path: "f".into(), pairs: 2, identifier: "x".into() },
            Output::Salvaged { path: "f".into(), report: SalvageReport::default() },
        ];
        for output in outputs {
            assert!(output.to_json()["kind"].is_string(), "{output:?}");
        }
    }

    #[test]
    fn errors_in_json() {
        let parse = CommandError::Parse(super::super::error::ParseError::new(
            Position { line: 2, column: 9 },
            "expected '=' after KEY",
        ));
        assert_eq!(
            error_to_json(&parse, None),
            json!({"kind": "error", "message": "expected '=' after KEY", "line": 2, "column": 9, "locked": false})
        );
        let none = error_to_json(&CommandError::NoDatabase, Some(Position { line: 4, column: 1 }));
        assert_eq!(
            none,
            json!({"kind": "error", "message": "No database open. Use .open first", "line": 4, "locked": false})
        );
    }
}
