//! `w`: who has the store open, like `mdb_stat -r`: the writer holding its lock (its pid, this
//! process, or none) and the reader table (each read-only handle's pid, the checkpoint it pins,
//! for how long, whether it is this process), with the free pages the writer holds back for
//! them. The table is what the `READERS` statement answers, read again every
//! [`READ_EVERY`] while the overlay is open (on the event loop's tick, as live follow polls).

use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::config::Theme;
use super::layout::{centered_rows, to_u16};
use super::text::thousands;
use crate::KVStore;
use crate::command::{FileAccess, Output, ReaderTable, Statement, execute_shared, human_age};

/// How often the open overlay reads the table again (ages count on between reads).
pub(crate) const READ_EVERY: Duration = Duration::from_secs(1);

/// The overlay's state: the table as last read, and where it is scrolled.
#[derive(Debug)]
pub(crate) struct ReadersView {
    pub table: Result<ReaderTable, String>,
    pub read_at: Instant,
    pub scroll: usize,
}

impl ReadersView {
    /// The table read now.
    pub(crate) fn read(store: &KVStore, now: Instant) -> ReadersView {
        ReadersView { table: read_table(store), read_at: now, scroll: 0 }
    }

    /// Reads the table again when [`READ_EVERY`] has passed; `true` when it did.
    pub(crate) fn refresh(&mut self, store: &KVStore, now: Instant) -> bool {
        if now.saturating_duration_since(self.read_at) < READ_EVERY {
            return false;
        }
        self.table = read_table(store);
        self.read_at = now;
        true
    }
}

/// The table as `READERS` reads it (the same figures, so the two cannot disagree).
fn read_table(store: &KVStore) -> Result<ReaderTable, String> {
    match execute_shared(store, &Statement::Readers, &FileAccess::Denied) {
        Ok(Output::Readers(table)) => Ok(table),
        Ok(other) => Err(format!("unexpected answer: {other}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The writer in words.
fn writer_words(table: &ReaderTable) -> (String, bool) {
    match table.writer {
        None => ("none: no process holds the write lock".to_owned(), false),
        Some(None) => ("a process the kernel's lock table does not name".to_owned(), true),
        Some(Some(pid)) if pid == table.own_pid => (format!("pid {pid} (this process)"), true),
        Some(Some(pid)) => (format!("pid {pid}"), true),
    }
}

/// The overlay's lines: the writer and the figures, then one row per reader.
pub(crate) fn lines(table: &ReaderTable, theme: &Theme) -> Vec<Line<'static>> {
    let dim = Style::new().fg(theme.dim);
    let label = |text: &'static str| Span::styled(format!("{text:<24}"), dim);
    let (writer, held) = writer_words(table);
    let mut out = vec![
        Line::from(vec![
            label("writer"),
            Span::styled(writer, if held { Style::new().add_modifier(Modifier::BOLD) } else { dim }),
        ]),
        Line::from(vec![
            label("this handle"),
            Span::raw(if table.read_only { "read-only (it holds a slot below)" } else { "writable" }),
        ]),
        Line::from(vec![label("checkpoint in force"), Span::raw(table.checkpoint_id.to_string())]),
        Line::from(vec![label("pages held for readers"), Span::raw(thousands(table.pages_held_for_readers))]),
        Line::default(),
    ];
    let count = table.readers.len();
    if count == 0 {
        out.push(Line::styled("No readers: no read-only handle pins a checkpoint.", dim));
        return out;
    }
    out.push(Line::styled(
        format!(
            "{:>4}  {:>8}  {:>10}  {:>6}  {:>10}  {:>12}",
            "slot", "pid", "checkpoint", "behind", "pages held", "pinned for"
        ),
        Style::new().fg(theme.accent).add_modifier(Modifier::BOLD),
    ));
    for reader in &table.readers {
        let unknown = || "-".to_owned();
        let pid = reader.pid.map_or_else(unknown, |pid| pid.to_string());
        let checkpoint = reader.checkpoint_id.map_or_else(unknown, |id| id.to_string());
        let behind = reader
            .checkpoint_id
            .map_or_else(unknown, |id| table.checkpoint_id.saturating_sub(id).to_string());
        let age = table.age_ms(reader).map_or_else(unknown, human_age);
        let held = reader.pages_held.map_or_else(unknown, thousands);
        let mut spans = vec![Span::raw(format!(
            "{:>4}  {pid:>8}  {checkpoint:>10}  {behind:>6}  {held:>10}  {age:>12}",
            reader.slot
        ))];
        if reader.pid == Some(table.own_pid) {
            spans.push(Span::styled("  this process", Style::new().fg(theme.info)));
        } else if reader.pid.is_none() {
            spans.push(Span::styled("  (pinning)", dim));
        }
        out.push(Line::from(spans));
    }
    out.push(Line::default());
    out.push(Line::styled(
        format!(
            "{count} {}; \"behind\" and \"pages held\": since the checkpoint each pins",
            if count == 1 { "reader" } else { "readers" }
        ),
        dim,
    ));
    out
}

pub(crate) fn render(view: &ReadersView, theme: &Theme, frame: &mut Frame, area: Rect) {
    let all = match &view.table {
        Ok(table) => lines(table, theme),
        Err(e) => {
            vec![Line::styled(format!("The reader table cannot be read: {e}"), Style::new().fg(theme.error))]
        }
    };
    // As tall as the table, up to the whole area.
    let popup = centered_rows(area, 80, to_u16(all.len() + 2));
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.focus))
        .title(Span::styled(
            " who has the store open ",
            Style::new().fg(theme.accent).add_modifier(Modifier::BOLD),
        ))
        .title_bottom(Line::from(" read every second · j/k scroll · esc closes ").right_aligned());
    let all = match &view.table {
        Ok(table) => lines(table, theme),
        Err(e) => {
            vec![Line::styled(format!("The reader table cannot be read: {e}"), Style::new().fg(theme.error))]
        }
    };
    let inner = block.inner(popup);
    let scroll = view.scroll.min(all.len().saturating_sub(usize::from(inner.height)));
    frame.render_widget(Paragraph::new(all).block(block).scroll((to_u16(scroll), 0)), popup);
}

/// Lines the overlay has, for clamping its scroll.
pub(crate) fn line_count(view: &ReadersView) -> usize {
    view.table.as_ref().map_or(1, |table| lines(table, &Theme::default()).len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short() {
        assert_eq!(human_age(250), "250 ms");
        assert_eq!(human_age(12_000), "12 s");
        assert_eq!(human_age(200_000), "3 min 20 s");
        assert_eq!(human_age(5 * 3_600_000 + 120_000), "5 h 02 min");
        assert_eq!(human_age(2 * 86_400_000 + 7 * 3_600_000), "2 d 07 h");
    }
}
