//! The key list: a window of keys as tall as the pane, read through the store's ordered key
//! iterators and never more. Moving past either edge reads the keys beyond it (one tree descent);
//! a filter or a jump reads one window from the new place. Nothing here depends on the number of
//! keys in the store.

use std::ops::Bound;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::config::Theme;
use super::live::{Change, Live};
use super::search::{Filter, FilterMode};
use super::text::{display_key, human_bytes, text_width, thousands, truncate_middle};
use crate::{KVStore, Result};

/// One key of the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRow {
    pub key: Vec<u8>,
    pub value_len: u64,
}

/// What is typed in place at the top of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputKind {
    /// `/`: a pattern; the list follows as it is typed.
    Filter,
    /// `s`: a key; Enter moves to the first key at or after it.
    Seek,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Input {
    pub kind: InputKind,
    pub text: String,
    /// The filter mode being typed (Tab changes it).
    pub mode: FilterMode,
    /// The filter in force when `/` was pressed, put back by Esc.
    pub before: Filter,
}

#[derive(Debug, Default)]
pub(crate) struct KeyList {
    /// The filter in force (an empty pattern: every key).
    pub filter: Filter,
    /// The visible window, in key order.
    pub rows: Vec<KeyRow>,
    /// Index into `rows`.
    pub selected: usize,
    /// Rows the pane shows.
    pub height: usize,
    /// Keys read from the store so far: the proof that only windows are read.
    pub fetched: u64,
    /// Where the selected key is among the keys the filter selects (from 0), when known.
    pub position: Option<u64>,
    /// How many keys the filter selects, when known (counted a slice at a time for a filter).
    pub total: Option<u64>,
}

impl KeyList {
    fn start_bound(&self) -> Bound<Vec<u8>> {
        self.filter.bounds().0
    }

    /// The first key after every key of the filter's range, if any.
    fn end_bound(&self) -> Bound<Vec<u8>> {
        self.filter.bounds().1
    }

    fn before_end(&self, key: &[u8]) -> bool {
        match self.end_bound() {
            Bound::Excluded(end) => key < end.as_slice(),
            _ => true,
        }
    }

    /// Up to `n` keys from `from` on (within the filter), in order.
    fn read_forward(&mut self, store: &KVStore, from: Bound<Vec<u8>>, n: usize) -> Result<Vec<KeyRow>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let start = match from {
            Bound::Included(k) | Bound::Excluded(k) if k.as_slice() < self.filter.range_prefix() => {
                self.start_bound()
            }
            Bound::Unbounded => self.start_bound(),
            bound => bound,
        };
        if let Bound::Included(k) | Bound::Excluded(k) = &start
            && !self.before_end(k)
        {
            return Ok(Vec::new());
        }
        let mut rows = Vec::with_capacity(n);
        let exact = self.filter.range_is_exact();
        for item in store.keys(start, self.end_bound()) {
            let (key, value_len) = item?;
            self.fetched += 1;
            if exact || self.filter.matches(&key) {
                rows.push(KeyRow { key, value_len });
                if rows.len() == n {
                    break;
                }
            }
        }
        Ok(rows)
    }

    /// Up to `n` keys before `before` (within the filter), in order.
    fn read_backward(&mut self, store: &KVStore, before: Bound<Vec<u8>>, n: usize) -> Result<Vec<KeyRow>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let end = match before {
            Bound::Included(k) | Bound::Excluded(k) if !self.before_end(&k) => self.end_bound(),
            Bound::Unbounded => self.end_bound(),
            bound => bound,
        };
        if let Bound::Included(k) | Bound::Excluded(k) = &end
            && k.as_slice() < self.filter.range_prefix()
        {
            return Ok(Vec::new());
        }
        let mut rows = Vec::with_capacity(n);
        let exact = self.filter.range_is_exact();
        for item in store.keys_rev(self.start_bound(), end) {
            let (key, value_len) = item?;
            self.fetched += 1;
            if exact || self.filter.matches(&key) {
                rows.push(KeyRow { key, value_len });
                if rows.len() == n {
                    break;
                }
            }
        }
        rows.reverse();
        Ok(rows)
    }

    pub(crate) fn selected_row(&self) -> Option<&KeyRow> {
        self.rows.get(self.selected)
    }

    /// The known number of keys the filter selects: the store's count without a filter (unknown
    /// when counting it failed; the reads that the list makes report the damage).
    fn known_total(&self, store: &KVStore) -> Option<u64> {
        if self.filter.is_empty() { store.len().ok() } else { self.total }
    }

    /// Moves the known position by `delta` rows.
    fn shift_position(&mut self, delta: i64) {
        self.position = self.position.and_then(|p| p.checked_add_signed(delta));
    }

    /// Reads the window again with `anchor` (or the first key after it) selected, filling the
    /// window from above when too few keys follow it. The position is known only from the top.
    pub(crate) fn reload_at(&mut self, store: &KVStore, anchor: Option<Vec<u8>>) -> Result<()> {
        let height = self.height.max(1);
        let from = anchor.clone().map_or(Bound::Unbounded, Bound::Included);
        let mut rows = self.read_forward(store, from, height)?;
        let mut selected = 0;
        let mut from_top = anchor.is_none();
        if rows.len() < height {
            let before = match (&anchor, rows.first()) {
                (_, Some(first)) => Bound::Excluded(first.key.clone()),
                (Some(anchor), None) => Bound::Included(anchor.clone()),
                (None, None) => Bound::Unbounded,
            };
            let mut above = self.read_backward(store, before, height - rows.len())?;
            if !above.is_empty() {
                from_top = false;
            }
            selected = if rows.is_empty() { above.len().saturating_sub(1) } else { above.len() };
            above.append(&mut rows);
            rows = above;
        }
        self.rows = rows;
        self.selected = selected;
        self.total = self.known_total(store);
        self.position = if from_top && !self.rows.is_empty() { Some(0) } else { None };
        Ok(())
    }

    /// Reads the window again around the selected key (after a write, a resize or `r`).
    pub(crate) fn reload(&mut self, store: &KVStore) -> Result<()> {
        let anchor = self.selected_row().map(|r| r.key.clone());
        let offset = self.selected;
        let top = self.rows.first().map(|r| r.key.clone());
        // Keep the window where it was when the top key still exists: the screen stays put.
        self.reload_at(store, top.or(anchor.clone()))?;
        if let Some(anchor) = anchor {
            match self.rows.iter().position(|r| r.key >= anchor) {
                Some(i) => self.selected = i,
                None => self.selected = offset.min(self.rows.len().saturating_sub(1)),
            }
        }
        // Keys may have come or gone anywhere: count again.
        self.position = None;
        if !self.filter.is_empty() {
            self.total = None;
        }
        Ok(())
    }

    /// Reads the window again after the store moved on under it (live follow, `r`): the
    /// selected key stays selected on the same row, the keys before it now above it. A selected
    /// key that is gone gives way to the next key (the previous one when it was the last). The
    /// row moves only where too few keys are left above or below to keep it.
    pub(crate) fn reload_keeping(&mut self, store: &KVStore) -> Result<()> {
        let Some(anchor) = self.selected_row().map(|r| r.key.clone()) else {
            return self.reload_at(store, None);
        };
        let height = self.height.max(1);
        let row = self.selected.min(height - 1);
        let below = self.read_forward(store, Bound::Included(anchor.clone()), height - row)?;
        // Fewer keys below than the rows under the selection: more keys above fill the window.
        let wanted_above = height - below.len();
        let mut rows = self.read_backward(store, Bound::Excluded(anchor), wanted_above)?;
        let reached_start = rows.len() < wanted_above;
        let mut selected = if below.is_empty() { rows.len().saturating_sub(1) } else { rows.len() };
        if rows.len() < row && below.len() == height - row {
            // Near the start: fewer keys before the selection than rows above it; keys after
            // the window's end fill the bottom.
            if let Some(last) = below.last() {
                let more = self.read_forward(store, Bound::Excluded(last.key.clone()), row - rows.len())?;
                rows.extend(below);
                rows.extend(more);
            }
        } else {
            rows.extend(below);
        }
        selected = selected.min(rows.len().saturating_sub(1));
        self.rows = rows;
        self.selected = selected;
        self.total = if self.filter.is_empty() { store.len().ok() } else { None };
        // Every key before the selection was read when the start was reached.
        self.position = (reached_start && !self.rows.is_empty()).then_some(self.selected as u64);
        Ok(())
    }

    /// Changes the number of rows shown, keeping the selected key on screen.
    pub(crate) fn set_height(&mut self, store: &KVStore, height: usize) -> Result<()> {
        if height == self.height {
            return Ok(());
        }
        self.height = height;
        let anchor = self.selected_row().map(|r| r.key.clone());
        let top = self.rows.first().map(|r| r.key.clone());
        let (position, total) = (self.position, self.total);
        self.reload_at(store, top)?;
        if let Some(anchor) = anchor {
            match self.rows.iter().position(|r| r.key == anchor) {
                Some(i) => {
                    self.selected = i;
                    // The same key is selected: its position did not change.
                    self.position = position;
                    self.total = total.or(self.total);
                }
                None => self.reload_at(store, Some(anchor))?,
            }
        }
        Ok(())
    }

    pub(crate) fn down(&mut self, store: &KVStore, n: usize) -> Result<()> {
        for _ in 0..n {
            if self.selected + 1 < self.rows.len() {
                self.selected += 1;
                self.shift_position(1);
                continue;
            }
            let Some(last) = self.rows.last() else { return Ok(()) };
            let next = self.read_forward(store, Bound::Excluded(last.key.clone()), 1)?;
            let Some(row) = next.into_iter().next() else { return Ok(()) };
            if self.rows.len() >= self.height.max(1) {
                self.rows.remove(0);
            }
            self.rows.push(row);
            self.selected = self.rows.len() - 1;
            self.shift_position(1);
        }
        Ok(())
    }

    pub(crate) fn up(&mut self, store: &KVStore, n: usize) -> Result<()> {
        for _ in 0..n {
            if self.selected > 0 {
                self.selected -= 1;
                self.shift_position(-1);
                continue;
            }
            let Some(first) = self.rows.first() else { return Ok(()) };
            let prev = self.read_backward(store, Bound::Excluded(first.key.clone()), 1)?;
            let Some(row) = prev.into_iter().next() else { return Ok(()) };
            self.rows.insert(0, row);
            if self.rows.len() > self.height.max(1) {
                self.rows.pop();
            }
            self.selected = 0;
            self.shift_position(-1);
        }
        Ok(())
    }

    /// The next window: one read of `height` keys after the last row.
    pub(crate) fn page_down(&mut self, store: &KVStore) -> Result<()> {
        let height = self.height.max(1);
        let Some(last) = self.rows.last() else { return Ok(()) };
        let old = self.selected;
        let next = self.read_forward(store, Bound::Excluded(last.key.clone()), height)?;
        if next.is_empty() {
            self.selected = self.rows.len().saturating_sub(1);
            self.shift_position(delta(old, self.selected));
            return Ok(());
        }
        self.rows.extend(next);
        let drop = self.rows.len().saturating_sub(height);
        self.rows.drain(..drop);
        // The selection moves a page down, or to the last key near the end.
        self.selected = (self.selected + height).saturating_sub(drop).min(self.rows.len() - 1);
        self.shift_position(delta(old, self.selected + drop));
        Ok(())
    }

    /// The previous window: one read of `height` keys before the first row.
    pub(crate) fn page_up(&mut self, store: &KVStore) -> Result<()> {
        let height = self.height.max(1);
        let Some(first) = self.rows.first() else { return Ok(()) };
        let old = self.selected;
        let mut prev = self.read_backward(store, Bound::Excluded(first.key.clone()), height)?;
        let shift = prev.len();
        prev.append(&mut self.rows);
        prev.truncate(height);
        self.rows = prev;
        // The selection moves a page up, or to the first key near the start.
        self.selected = (self.selected + shift).saturating_sub(height);
        self.shift_position(delta(old + shift, self.selected));
        Ok(())
    }

    pub(crate) fn top(&mut self, store: &KVStore) -> Result<()> {
        self.reload_at(store, None)?;
        self.selected = 0;
        Ok(())
    }

    pub(crate) fn bottom(&mut self, store: &KVStore) -> Result<()> {
        let height = self.height.max(1);
        self.rows = self.read_backward(store, Bound::Unbounded, height)?;
        self.selected = self.rows.len().saturating_sub(1);
        self.total = self.known_total(store);
        self.position = if self.rows.is_empty() { None } else { self.total.map(|t| t.saturating_sub(1)) };
        Ok(())
    }

    /// Shows only the keys `filter` selects (an empty one: all), from the first of them; with
    /// the filter cleared, the selected key stays selected.
    pub(crate) fn set_filter(&mut self, store: &KVStore, filter: Filter) -> Result<()> {
        let anchor = if filter.is_empty() { self.selected_row().map(|r| r.key.clone()) } else { None };
        self.filter = filter;
        self.total = None;
        self.reload_at(store, anchor)
    }

    /// Selects the first key at or after `key` (within the filter).
    pub(crate) fn seek(&mut self, store: &KVStore, key: Vec<u8>) -> Result<()> {
        self.reload_at(store, Some(key))
    }

    /// Selects screen row `row` (a mouse click), if there is a key on it.
    pub(crate) fn click(&mut self, row: usize) -> bool {
        if row < self.rows.len() {
            let old = self.selected;
            self.selected = row;
            self.shift_position(delta(old, row));
            true
        } else {
            false
        }
    }
}

/// `to - from` as a signed step.
fn delta(from: usize, to: usize) -> i64 {
    let (from, to) = (i64::try_from(from).unwrap_or(i64::MAX), i64::try_from(to).unwrap_or(i64::MAX));
    to - from
}

/// The list's bottom line: where the selection is among how many keys.
fn footer(list: &KeyList, key_count: u64, counting: Option<u64>) -> String {
    let position = list.position.map(|p| thousands(p + 1));
    if list.filter.is_empty() {
        return match position {
            Some(p) => format!(" {p} of {} keys ", thousands(key_count)),
            None => format!(" {} keys ", thousands(key_count)),
        };
    }
    let total = match (list.total, counting) {
        (Some(1), _) => "1 match".to_owned(),
        (Some(total), _) => format!("{} matches", thousands(total)),
        (None, Some(seen)) => format!("counting… {}", thousands(seen)),
        (None, None) => "counting…".to_owned(),
    };
    match position {
        Some(p) if list.total.is_some() => format!(" {p} of {total} · {} keys ", thousands(key_count)),
        _ => format!(" {total} · {} keys ", thousands(key_count)),
    }
}

/// What the list shows about itself.
pub(crate) struct ListView<'a> {
    pub list: &'a KeyList,
    /// A filter or a jump being typed.
    pub input: Option<&'a Input>,
    pub focused: bool,
    /// The store's key count.
    pub key_count: u64,
    /// Keys counted so far while the filter's matches are counted.
    pub counting: Option<u64>,
    /// Live follow, which knows the keys a commit added or changed a moment ago.
    pub live: &'a Live,
}

/// Draws the list.
pub(crate) fn render(view: &ListView<'_>, theme: &Theme, frame: &mut Frame, area: Rect) {
    let list = view.list;
    let border = if view.focused { theme.focus } else { theme.border };
    let mut title = vec![Span::styled(" keys ", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD))];
    if !list.filter.is_empty() {
        title.push(Span::styled(
            format!("{} \"{}\" ", list.filter.mode.name(), display_key(&list.filter.pattern)),
            Style::new().fg(theme.badge_fg).bg(theme.badge_bg),
        ));
    }
    if let Some(input) = view.input {
        // Typed in place, in the title, so the window keeps its height.
        let label = match input.kind {
            InputKind::Filter => format!(" / {} ", input.mode.name()),
            InputKind::Seek => " seek ".to_owned(),
        };
        title = vec![
            Span::styled(label, Style::new().fg(theme.selection_fg).bg(theme.accent)),
            Span::raw(" "),
            Span::raw(super::text::sanitize(&input.text)),
            Span::styled("█ ", Style::new().fg(theme.accent)),
        ];
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(border))
        .title(Line::from(title))
        .title_bottom(Line::from(footer(list, view.key_count, view.counting)).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;

    let mut lines = Vec::with_capacity(inner.height as usize);
    if list.rows.is_empty() {
        let message = if list.filter.is_empty() { "(no keys)" } else { "(no key matches the filter)" };
        lines.push(Line::styled(message, Style::new().fg(theme.dim)));
    }
    for (i, row) in list.rows.iter().enumerate() {
        let size = human_bytes(row.value_len);
        let size_width = text_width(&size);
        // A marker column shows the selection without colours too.
        let key_width = width.saturating_sub(size_width + 3);
        let selected = i == list.selected;
        let change = view.live.mark(&row.key);
        let style = if selected {
            let s = Style::new().fg(theme.selection_fg).bg(theme.selection_bg);
            if view.focused { s.add_modifier(Modifier::BOLD) } else { s }
        } else if change.is_some() {
            Style::new().fg(theme.info).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        // The empty key is shown as its literal, dimmed, so the row is not blank.
        let (key, key_style) = if row.key.is_empty() {
            ("\"\"".to_owned(), if selected { style } else { Style::new().fg(theme.dim) })
        } else {
            // Cut in the middle: keys that differ at the end stay apart.
            (truncate_middle(&display_key(&row.key), key_width), style)
        };
        let pad = width.saturating_sub(text_width(&key) + size_width + 2);
        // Without colours too: `+` added, `~` changed by a commit a moment ago.
        let marker = match (selected, change) {
            (true, _) => "▶ ",
            (false, Some(Change::Added)) => "+ ",
            (false, Some(Change::Updated)) => "~ ",
            (false, None) => "  ",
        };
        let size_style = if selected { style } else { Style::new().fg(theme.dim) };
        lines.push(Line::from(vec![
            Span::styled(marker, style),
            Span::styled(key, key_style),
            Span::styled(" ".repeat(pad), style),
            Span::styled(size, size_style),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
