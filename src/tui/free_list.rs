//! The free-list view (`f`): every free page, those freed since the last checkpoint included,
//! in a grid; Enter opens the selected one in the page view.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::config::Theme;
use super::text::{human_bytes, thousands};
use crate::KVStore;

/// Columns one page number takes in the grid.
const CELL_COLUMNS: usize = 10;

#[derive(Debug, Default)]
pub(crate) struct FreeList {
    pub pages: Vec<u64>,
    pub selected: usize,
    pub top_row: usize,
    pub columns: usize,
    pub rows: usize,
    pub page_size: u32,
    pub error: Option<String>,
}

impl FreeList {
    pub(crate) fn open(&mut self, store: &KVStore, area: Rect) {
        self.page_size = store.page_size();
        match store.free_pages() {
            Ok(pages) => {
                self.pages = pages;
                self.error = None;
            }
            Err(e) => {
                self.pages.clear();
                self.error = Some(e.to_string());
            }
        }
        self.selected = self.selected.min(self.pages.len().saturating_sub(1));
        self.geometry(area);
    }

    pub(crate) fn geometry(&mut self, area: Rect) {
        self.columns = ((area.width as usize).saturating_sub(2) / CELL_COLUMNS).max(1);
        // Borders and the summary line.
        self.rows = (area.height as usize).saturating_sub(3).max(1);
        self.scroll_into_view();
    }

    fn scroll_into_view(&mut self) {
        let row = self.selected / self.columns.max(1);
        if row < self.top_row {
            self.top_row = row;
        } else if row >= self.top_row + self.rows {
            self.top_row = row + 1 - self.rows;
        }
    }

    pub(crate) fn move_by(&mut self, delta: isize) {
        let last = self.pages.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
        self.scroll_into_view();
    }

    pub(crate) fn selected_page(&self) -> Option<u64> {
        self.pages.get(self.selected).copied()
    }
}

pub(crate) fn render(list: &FreeList, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.focus))
        .title(Span::styled(" free pages ", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)))
        .title_bottom(Line::from(" enter: show in page map · esc: back ").right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = vec![Line::from(vec![
        Span::raw(thousands(list.pages.len() as u64)),
        Span::styled(
            format!(
                " free pages ({}), reused before the file grows; compaction gives them back",
                human_bytes(list.pages.len() as u64 * u64::from(list.page_size))
            ),
            Style::new().fg(theme.dim),
        ),
    ])];
    if let Some(e) = &list.error {
        lines.push(Line::styled(e.clone(), Style::new().fg(theme.error)));
    }
    let columns = list.columns.max(1);
    for (row, pages) in list.pages.chunks(columns).enumerate().skip(list.top_row).take(list.rows) {
        let mut spans = Vec::with_capacity(columns);
        for (i, page) in pages.iter().enumerate() {
            let index = row * columns + i;
            let style = if index == list.selected {
                Style::new().fg(theme.selection_fg).bg(theme.selection_bg)
            } else {
                Style::new().fg(theme.free)
            };
            spans.push(Span::styled(format!("{page:>9}"), style));
            spans.push(Span::raw(" "));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
