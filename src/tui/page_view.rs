//! The page view (`p`): a map of the file, one cell per page coloured by type, and the detail of
//! the selected page (header fields, items, fill, checksum state), in the spirit of `bbolt page`
//! and SQLite's dbstat. Only the pages on screen are read, through the store's inspection API.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::config::Theme;
use super::text::{display_key, human_bytes, thousands, truncate_middle};
use super::value_view::wrap_all;
use crate::{ChecksumState, KVStore, PageInfo, PageItem, PageSummary, PageType};

/// Columns of the page-number label in front of each map row.
const LABEL_COLUMNS: usize = 8;

/// Which half of the page view takes the movement keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum PageFocus {
    #[default]
    Map,
    Detail,
}

#[derive(Debug, Default)]
pub(crate) struct PageView {
    pub page_count: u64,
    pub page_size: u32,
    pub selected: u64,
    /// First map row on screen.
    pub top_row: u64,
    /// Pages a map row holds, and map rows on screen (set from the screen size).
    pub columns: usize,
    pub rows: usize,
    /// The pages on screen, from page `first` on (`None`: the page could not be read).
    pub first: u64,
    pub cells: Vec<Option<PageSummary>>,
    pub detail: Option<Result<PageInfo, String>>,
    pub detail_scroll: usize,
    pub detail_height: usize,
    /// Columns of the detail (its lines wrap at this width).
    pub detail_width: usize,
    pub focus: PageFocus,
    /// A page number being typed.
    pub goto: String,
}

/// The letter a page type has on the map (also readable without colours).
pub(crate) fn cell_char(page_type: PageType) -> char {
    match page_type {
        PageType::Meta => 'M',
        PageType::Branch => 'B',
        PageType::Leaf => 'L',
        PageType::Overflow => 'O',
        PageType::Freelist => 'F',
        PageType::Free => '·',
    }
}

/// The map's and the detail's areas inside the page view.
pub(crate) fn split(area: Rect) -> (Rect, Rect) {
    let [map, detail] = Layout::horizontal([Constraint::Fill(3), Constraint::Fill(2)]).areas(area);
    (map, detail)
}

/// Pages a row of a map `width` columns wide (borders included) holds: a multiple of ten.
fn columns_for(width: u16) -> usize {
    let cells = (width as usize).saturating_sub(2 + LABEL_COLUMNS);
    (cells / 10 * 10).max(cells.min(10)).max(1)
}

impl PageView {
    /// Opens the view on the store, keeping the selection if the page still exists.
    pub(crate) fn open(&mut self, store: &KVStore, area: Rect, select: Option<u64>) {
        self.page_count = store.page_count();
        self.page_size = store.page_size();
        if let Some(page) = select {
            self.selected = page;
        }
        self.selected = self.selected.min(self.page_count.saturating_sub(1));
        self.focus = PageFocus::Map;
        self.goto.clear();
        self.geometry(area);
        // The store may have changed since the view was last open: read the screen again.
        self.cells.clear();
        self.refresh(store);
    }

    /// Reads the map and the selected page again after the store moved on, keeping the
    /// selection (within the file), the focus and the page number being typed.
    pub(crate) fn reload(&mut self, store: &KVStore) {
        self.page_count = store.page_count();
        self.page_size = store.page_size();
        self.selected = self.selected.min(self.page_count.saturating_sub(1));
        let scroll = self.detail_scroll;
        self.cells.clear();
        self.refresh(store);
        self.detail_scroll = scroll;
    }

    /// Sets the map's geometry from the page view's area (borders and legend included).
    pub(crate) fn geometry(&mut self, area: Rect) {
        let (map, detail) = split(area);
        self.columns = columns_for(map.width);
        // Two border rows and the legend row.
        self.rows = (map.height as usize).saturating_sub(3).max(1);
        self.detail_height = (detail.height as usize).saturating_sub(2).max(1);
        self.detail_width = (detail.width as usize).saturating_sub(2).max(1);
    }

    /// Scrolls the selection into view and reads the pages on screen and the selected page.
    pub(crate) fn refresh(&mut self, store: &KVStore) {
        let columns = self.columns.max(1) as u64;
        let row = self.selected / columns;
        if row < self.top_row {
            self.top_row = row;
        } else if row >= self.top_row + self.rows as u64 {
            self.top_row = row + 1 - self.rows as u64;
        }
        let first = self.top_row * columns;
        let on_screen = (self.rows as u64 * columns).min(self.page_count.saturating_sub(first));
        // Moving within the screen reads only the newly selected page.
        if first != self.first || self.cells.len() as u64 != on_screen {
            self.first = first;
            self.cells = store
                .pages()
                .starting_at(first)
                .take(usize::try_from(on_screen).unwrap_or(usize::MAX))
                .map(Result::ok)
                .collect();
        }
        self.load_detail(store);
    }

    fn load_detail(&mut self, store: &KVStore) {
        self.detail_scroll = 0;
        self.detail = if self.page_count == 0 {
            None
        } else {
            Some(store.page_info(self.selected).map_err(|e| e.to_string()))
        };
    }

    /// Moves the selection by `delta` pages, within the file.
    pub(crate) fn move_by(&mut self, store: &KVStore, delta: i64) {
        let last = self.page_count.saturating_sub(1);
        let target = (self.selected as i64).saturating_add(delta).clamp(0, last as i64) as u64;
        self.select(store, target);
    }

    pub(crate) fn select(&mut self, store: &KVStore, page: u64) {
        let page = page.min(self.page_count.saturating_sub(1));
        if page != self.selected || self.detail.is_none() {
            self.selected = page;
            self.refresh(store);
        }
    }

    pub(crate) fn page_rows(&self) -> i64 {
        (self.rows * self.columns.max(1)) as i64
    }

    pub(crate) fn scroll_detail(&mut self, delta: isize) {
        let lines = self.detail_lines_count();
        let max = lines.saturating_sub(self.detail_height);
        self.detail_scroll = self.detail_scroll.saturating_add_signed(delta).min(max);
    }

    /// Rows the detail takes once wrapped to its width.
    fn detail_lines_count(&self) -> usize {
        match &self.detail {
            Some(Ok(info)) => {
                let width = self.detail_width.max(1);
                detail_lines(info, self.page_size, &Theme::default(), width).len()
            }
            _ => 1,
        }
    }

    /// Types a digit of a page number.
    pub(crate) fn type_digit(&mut self, digit: char) {
        // u64 has 20 digits; more cannot name a page.
        if self.goto.len() < 20 {
            self.goto.push(digit);
        }
    }

    /// Goes to the typed page number; `false` when none was typed.
    pub(crate) fn goto_typed(&mut self, store: &KVStore) -> bool {
        if self.goto.is_empty() {
            return false;
        }
        let page = self.goto.parse::<u64>().unwrap_or(u64::MAX);
        self.goto.clear();
        self.select(store, page);
        true
    }

    /// The page under a click at (`x`, `y`) in the page view's `area`.
    pub(crate) fn page_at(&self, area: Rect, x: u16, y: u16) -> Option<u64> {
        let (map, _) = split(area);
        let inner_x = x.checked_sub(map.x + 1 + super::layout::to_u16(LABEL_COLUMNS))? as usize;
        let inner_y = y.checked_sub(map.y + 1)? as usize;
        if inner_x >= self.columns || inner_y >= self.rows {
            return None;
        }
        let page = self.first + (inner_y * self.columns + inner_x) as u64;
        (page < self.page_count).then_some(page)
    }
}

/// The detail's lines, wrapped to `width`: long fields (the meta page's) go on over several rows
/// rather than being cut off, and the detail scrolls through them.
pub(crate) fn detail_lines(
    info: &PageInfo,
    page_size: u32,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let label = Style::new().fg(theme.dim);
    let field = |name: &str, value: String| vec![Span::styled(format!("{name} "), label), Span::raw(value)];
    let fill = if page_size > 0 { f64::from(info.used_bytes) * 100.0 / f64::from(page_size) } else { 0.0 };
    let checksum = match info.checksum {
        ChecksumState::Valid => Span::styled("valid", Style::new().fg(theme.info)),
        ChecksumState::Invalid { stored, computed } => Span::styled(
            format!("INVALID (stored {stored:08x}, computed {computed:08x})"),
            Style::new().fg(theme.error).add_modifier(Modifier::BOLD),
        ),
        ChecksumState::NotYetWritten => Span::styled("not yet written (changed in memory)", label),
        ChecksumState::NotApplicable => Span::styled("none for this page type", label),
    };
    let mut type_line = field("type", info.page_type.name().to_owned());
    type_line.insert(0, Span::styled("■ ", Style::new().fg(theme.page(info.page_type))));
    type_line.push(Span::styled(format!("  (stored type byte {})", info.stored_type), label));
    let mut lines = vec![
        Line::from(type_line),
        // An overflow page's count is the bytes of the value it holds.
        Line::from(if info.page_type == PageType::Overflow {
            field("data", human_bytes(info.item_count.into()))
        } else {
            field("items", thousands(u64::from(info.item_count)))
        }),
        Line::from(field(
            "next",
            if info.next == 0 { "none".to_owned() } else { format!("page {}", info.next) },
        )),
        Line::from(field(
            "used",
            format!(
                "{} · free {} · {fill:.0}% full",
                human_bytes(info.used_bytes.into()),
                human_bytes(info.free_bytes.into())
            ),
        )),
        Line::from(vec![Span::styled("checksum ", label), checksum]),
        Line::styled("items", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)),
    ];
    if info.items.is_empty() {
        lines.push(Line::styled("  (none)", label));
    }
    for (i, item) in info.items.iter().enumerate() {
        let index = Span::styled(format!("{i:>5} "), label);
        let spans = match item {
            PageItem::LeafEntry { key, value_len, overflow } => {
                let place = match overflow {
                    Some(page) => format!("{} → overflow page {page}", human_bytes(*value_len)),
                    None => format!("{} inline", human_bytes(*value_len)),
                };
                let room = width.saturating_sub(6 + place.len() + 2);
                vec![
                    index,
                    Span::raw(truncate_middle(&display_key(key), room)),
                    Span::styled(format!("  {place}"), label),
                ]
            }
            PageItem::BranchChild { key, child } => {
                let link = format!("  → page {child}");
                let room = width.saturating_sub(6 + link.len());
                let key = match key {
                    Some(key) => Span::raw(truncate_middle(&display_key(key), room)),
                    None => Span::styled("(leftmost)", label),
                };
                vec![index, key, Span::styled(link, label)]
            }
            PageItem::OverflowData { data_bytes, next } => {
                let next =
                    if *next == 0 { "end of chain".to_owned() } else { format!("next → page {next}") };
                vec![
                    index,
                    Span::raw(format!("{} of data", human_bytes((*data_bytes).into()))),
                    Span::styled(format!("  {next}"), label),
                ]
            }
            PageItem::FreePage { page } => vec![index, Span::raw(format!("free page {page}"))],
            PageItem::MetaField { name, value } => {
                // A field too long for its row puts its value on the next one, indented.
                if 6 + name.chars().count() + 2 + value.chars().count() > width {
                    lines.push(Line::from(vec![index, Span::styled(format!("{name}:"), label)]));
                    vec![Span::raw("        "), Span::raw(value.clone())]
                } else {
                    vec![index, Span::styled(format!("{name}: "), label), Span::raw(value.clone())]
                }
            }
        };
        lines.push(Line::from(spans));
    }
    wrap_all(lines.into_iter().map(|line| line.spans).collect(), width)
}

pub(crate) fn render(view: &PageView, theme: &Theme, frame: &mut Frame, area: Rect) {
    let (map_area, detail_area) = split(area);
    let focus_style = |focused: bool| Style::new().fg(if focused { theme.focus } else { theme.border });

    // The map.
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(focus_style(view.focus == PageFocus::Map))
        .title(Span::styled(" page map ", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)))
        .title_bottom(
            Line::from(format!(
                " {} pages × {} ",
                thousands(view.page_count),
                human_bytes(view.page_size.into())
            ))
            .right_aligned(),
        );
    let inner = block.inner(map_area);
    frame.render_widget(block, map_area);
    let mut lines = Vec::with_capacity(inner.height as usize);
    let columns = view.columns.max(1);
    for (row, cells) in view.cells.chunks(columns).enumerate().take(view.rows) {
        let start = view.first + (row * columns) as u64;
        let mut spans = vec![Span::styled(format!("{start:>7} "), Style::new().fg(theme.dim))];
        for (i, cell) in cells.iter().enumerate() {
            let page = start + i as u64;
            let (c, color) = match cell {
                Some(summary) => (cell_char(summary.page_type), theme.page(summary.page_type)),
                None => ('!', theme.error),
            };
            let mut style = Style::new().fg(color);
            if page == view.selected {
                style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
            }
            spans.push(Span::styled(c.to_string(), style));
        }
        lines.push(Line::from(spans));
    }
    // The legend, on the map's last row.
    let legend_row = inner.height.saturating_sub(1) as usize;
    while lines.len() < legend_row {
        lines.push(Line::default());
    }
    let mut legend = Vec::new();
    for page_type in PageType::ALL {
        legend.push(Span::styled(cell_char(page_type).to_string(), Style::new().fg(theme.page(page_type))));
        legend.push(Span::styled(format!(" {}  ", page_type.name()), Style::new().fg(theme.dim)));
    }
    if view.cells.iter().any(Option::is_none) {
        legend.push(Span::styled("! unreadable", Style::new().fg(theme.error)));
    }
    if !view.goto.is_empty() {
        legend.push(Span::styled(format!("  go to page {}█", view.goto), Style::new().fg(theme.accent)));
    }
    lines.truncate(legend_row);
    lines.push(Line::from(legend));
    frame.render_widget(Paragraph::new(lines), inner);

    // The detail.
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(focus_style(view.focus == PageFocus::Detail))
        .title(Span::styled(
            format!(" page {} ", view.selected),
            Style::new().fg(theme.accent).add_modifier(Modifier::BOLD),
        ));
    let inner = block.inner(detail_area);
    frame.render_widget(block, detail_area);
    let lines = match &view.detail {
        Some(Ok(info)) => detail_lines(info, view.page_size, theme, inner.width as usize),
        Some(Err(e)) => vec![Line::styled(e.clone(), Style::new().fg(theme.error))],
        None => vec![Line::styled("(no pages)", Style::new().fg(theme.dim))],
    };
    let visible: Vec<Line<'static>> =
        lines.into_iter().skip(view.detail_scroll).take(inner.height as usize).collect();
    frame.render_widget(Paragraph::new(visible), inner);
}
