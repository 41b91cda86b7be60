//! The statistics pane: pages by type, tree depth, keys, free pages, file and log size, cache
//! hits; readers in the reader table and the pages held back for them, when there are any; and,
//! when the open had something to report about the log, what (the whole report is the
//! `recovery` action's). Every figure is an O(1) counter of the store, read again after each
//! write.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::config::Theme;
use super::text::{human_bytes, text_width, thousands};
use crate::{PageType, RecoveryReport, Stats};

/// The figures, as groups of spans that are kept together when the lines wrap.
fn figures(stats: &Stats, recovery: &RecoveryReport, theme: &Theme) -> Vec<Vec<Span<'static>>> {
    let label = Style::new().fg(theme.dim);
    let mut items = vec![vec![
        Span::styled("pages ", label),
        Span::raw(thousands(stats.page_count)),
        Span::styled(format!(" × {}", human_bytes(u64::from(stats.page_size))), label),
    ]];
    for page_type in PageType::ALL {
        items.push(vec![
            Span::styled("■ ", Style::new().fg(theme.page(page_type))),
            Span::styled(format!("{} ", page_type.name()), label),
            Span::raw(thousands(stats.pages_of(page_type))),
        ]);
    }
    // First of the store figures: the one a person must not miss when the rows run out.
    if let Some(summary) = recovery_summary(recovery) {
        let colour = if recovery.may_have_lost_data() { theme.error } else { theme.info };
        items.push(vec![Span::styled("recovery ", label), Span::styled(summary, Style::new().fg(colour))]);
    }
    // Next, and only while readers pin a checkpoint (or pages still wait for one): they are why
    // the file grows. A store nobody reads beside shows what it always did.
    if stats.readers > 0 || stats.pages_held_for_readers > 0 {
        items.push(vec![Span::styled("readers ", label), Span::raw(thousands(stats.readers))]);
        items.push(vec![
            Span::styled("held ", label),
            Span::raw(thousands(stats.pages_held_for_readers)),
            Span::styled(" pages", label),
        ]);
    }
    let lookups = stats.cache_hits + stats.cache_misses;
    let hits = if lookups == 0 { "-".to_owned() } else { format!("{:.1}%", stats.cache_hit_ratio() * 100.0) };
    for (name, value) in [
        ("keys ", thousands(stats.key_count)),
        ("depth ", stats.tree_depth.to_string()),
        ("file ", human_bytes(stats.file_bytes)),
        ("log ", human_bytes(stats.log_bytes)),
        ("cache hits ", hits),
        ("cached ", human_bytes(stats.cache_bytes)),
        ("unsaved pages ", thousands(stats.dirty_pages)),
    ] {
        items.push(vec![Span::styled(name, label), Span::raw(value)]);
    }
    items
}

/// The recovery report in a few words, `None` when it is quiet.
fn recovery_summary(report: &RecoveryReport) -> Option<&'static str> {
    if report.may_have_lost_data() {
        Some("data may be missing")
    } else if report.stopped_at.is_some() {
        Some("log replay stopped")
    } else if report.is_quiet() {
        None
    } else {
        Some("notes")
    }
}

fn width_of(item: &[Span<'_>]) -> usize {
    item.iter().map(|s| text_width(&s.content)).sum()
}

/// Packs `items` into lines of `width` columns, two spaces apart; the page types start the second
/// group on a new line when there is room for that.
fn pack(items: Vec<Vec<Span<'static>>>, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for (i, item) in items.into_iter().enumerate() {
        let w = width_of(&item);
        // The store figures (from "keys") start a line of their own when the pages took one.
        let new_group = i == 1 + PageType::ALL.len() && lines.is_empty();
        if !line.is_empty() && (used + 2 + w > width || new_group) {
            lines.push(Line::from(std::mem::take(&mut line)));
            used = 0;
        }
        if !line.is_empty() {
            line.push(Span::raw("  "));
            used += 2;
        }
        used += w;
        line.extend(item);
    }
    if !line.is_empty() {
        lines.push(Line::from(line));
    }
    lines
}

/// The bordered pane: every figure, wrapping between figures.
pub(crate) fn render(stats: &Stats, recovery: &RecoveryReport, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.border))
        .title(Span::styled(" statistics ", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)));
    let inner = block.inner(area);
    let lines = pack(figures(stats, recovery, theme), inner.width as usize);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// One row without a border, for low terminals: the figures that fit.
pub(crate) fn render_line(
    stats: &Stats,
    recovery: &RecoveryReport,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
) {
    let mut items = figures(stats, recovery, theme);
    // The recovery summary, keys, depth, file and cache first: what a low screen has room for.
    let store_figures = items.split_off(1 + PageType::ALL.len());
    let mut ordered = store_figures;
    ordered.append(&mut items);

    let width = area.width as usize;
    let mut line = vec![Span::raw(" ")];
    let mut used = 1;
    for item in ordered {
        let w = width_of(&item);
        if used + w + 2 > width {
            break;
        }
        used += w + 2;
        line.extend(item);
        line.push(Span::raw("  "));
    }
    frame.render_widget(Paragraph::new(Line::from(line)), area);
}
