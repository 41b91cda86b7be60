//! The statistics pane: pages by type, tree depth, keys, free pages, file and log size, cache
//! hits. Every figure is an O(1) counter of the store, read again after each write.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::config::Theme;
use super::text::{human_bytes, thousands};
use crate::{PageType, Stats};

/// Rows the pane takes, borders included.
pub(crate) const HEIGHT: u16 = 4;

pub(crate) fn render(stats: &Stats, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.border))
        .title(Span::styled(" statistics ", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)));
    let label = Style::new().fg(theme.dim);

    let mut pages = vec![
        Span::styled("pages ", label),
        Span::raw(thousands(stats.page_count)),
        Span::styled(format!(" × {}  ", human_bytes(u64::from(stats.page_size))), label),
    ];
    for page_type in PageType::ALL {
        pages.push(Span::styled("■ ", Style::new().fg(theme.page(page_type))));
        pages.push(Span::styled(format!("{} ", page_type.name()), label));
        pages.push(Span::raw(format!("{}  ", thousands(stats.pages_of(page_type)))));
    }

    let lookups = stats.cache_hits + stats.cache_misses;
    let hits = if lookups == 0 { "-".to_owned() } else { format!("{:.1}%", stats.cache_hit_ratio() * 100.0) };
    let figures = [
        ("keys ", thousands(stats.key_count)),
        ("depth ", stats.tree_depth.to_string()),
        ("file ", human_bytes(stats.file_bytes)),
        ("log ", human_bytes(stats.log_bytes)),
        ("cache hits ", hits),
        ("cached ", human_bytes(stats.cache_bytes)),
        ("unsaved pages ", thousands(stats.dirty_pages)),
    ];
    let mut second = Vec::new();
    for (name, value) in figures {
        second.push(Span::styled(name, label));
        second.push(Span::raw(value));
        second.push(Span::raw("  "));
    }
    frame.render_widget(Paragraph::new(vec![Line::from(pages), Line::from(second)]).block(block), area);
}
