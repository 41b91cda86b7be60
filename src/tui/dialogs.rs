//! Small overlays: the delete confirmation, the integrity check (progress, then report), the
//! whole key, the copy menu, the export's file name, the search in values; and the message shown
//! instead of everything when the terminal is too small.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph, Wrap};

use super::config::Theme;
use super::layout::{centered, centered_rows, to_u16};
use super::text::{display_key, human_bytes, sanitize, thousands, truncate_middle};
use crate::{CheckReport, RecoveryReport};

/// A delete waiting for y or n.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfirmDelete {
    pub key: Vec<u8>,
    pub value_len: u64,
}

pub(crate) fn render_confirm(confirm: &ConfirmDelete, theme: &Theme, frame: &mut Frame, area: Rect) {
    let popup = centered_rows(area, 60, 8);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.error))
        .title(Span::styled(" delete ", Style::new().fg(theme.error).add_modifier(Modifier::BOLD)));
    let width = popup.width.saturating_sub(4) as usize;
    let lines = vec![
        Line::raw("Delete this key and its value?"),
        Line::default(),
        Line::styled(
            if confirm.key.is_empty() {
                "\"\" (the empty key)".to_owned()
            } else {
                truncate_middle(&display_key(&confirm.key), width)
            },
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Line::styled(format!("value of {}", human_bytes(confirm.value_len)), Style::new().fg(theme.dim)),
        Line::default(),
        Line::from(vec![
            Span::styled("y", Style::new().fg(theme.error).add_modifier(Modifier::BOLD)),
            Span::raw(" or "),
            Span::styled("enter", Style::new().fg(theme.error).add_modifier(Modifier::BOLD)),
            Span::raw(" delete    "),
            Span::styled("n", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)),
            Span::raw(" or "),
            Span::styled("esc", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)),
            Span::raw(" keep it"),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

/// Pages done and total, written by the thread running the check and read by the screen.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    pub(crate) fn set(&self, done: u64, total: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> (u64, u64) {
        (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }
}

/// The integrity check overlay.
#[derive(Debug)]
pub(crate) enum CheckState {
    Running(Arc<Progress>),
    Done(CheckReport),
    Failed(String),
}

/// The check's overlay; a report with problems offers the salvage (on `salvage_key`).
pub(crate) fn render_check(
    check: &CheckState,
    theme: &Theme,
    scroll: usize,
    salvage_key: Option<&str>,
    frame: &mut Frame,
    area: Rect,
) {
    let popup = centered(area, 70, 60);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.focus))
        .title(Span::styled(" integrity check ", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)));
    match check {
        CheckState::Running(progress) => {
            let (done, total) = progress.get();
            let ratio = if total == 0 { 0.0 } else { (done as f64 / total as f64).clamp(0.0, 1.0) };
            let gauge = Gauge::default()
                .block(block.title_bottom(Line::from(" checking every page… ").right_aligned()))
                .gauge_style(Style::new().fg(theme.accent))
                .ratio(ratio)
                .label(format!("{} of {} pages", thousands(done), thousands(total)));
            frame.render_widget(gauge, popup);
        }
        CheckState::Done(report) => {
            let mut lines = Vec::new();
            if report.is_ok() {
                lines.push(Line::styled(
                    "No problems found.",
                    Style::new().fg(theme.info).add_modifier(Modifier::BOLD),
                ));
            } else {
                lines.push(Line::styled(
                    format!("{} problem(s) found:", report.problems.len()),
                    Style::new().fg(theme.error).add_modifier(Modifier::BOLD),
                ));
            }
            lines.push(Line::styled(
                format!(
                    "{} pages and {} keys checked",
                    thousands(report.pages_checked),
                    thousands(report.keys_checked)
                ),
                Style::new().fg(theme.dim),
            ));
            lines.push(Line::default());
            for problem in &report.problems {
                lines.push(Line::styled(format!("• {problem}"), Style::new().fg(theme.error)));
            }
            if let Some(key) = salvage_key.filter(|_| !report.is_ok()) {
                lines.push(Line::default());
                lines.push(salvage_offer(key, theme));
            }
            let block = block.title_bottom(Line::from(" j/k scroll · esc closes ").right_aligned());
            frame.render_widget(
                Paragraph::new(lines).block(block).wrap(Wrap { trim: false }).scroll((to_u16(scroll), 0)),
                popup,
            );
        }
        CheckState::Failed(e) => {
            let lines =
                vec![Line::styled(format!("The check could not run: {e}"), Style::new().fg(theme.error))];
            frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), popup);
        }
    }
}

/// `i`: the whole key, wrapped, with its length and its value's size.
pub(crate) fn render_key_info(key: &[u8], value_len: u64, theme: &Theme, frame: &mut Frame, area: Rect) {
    let popup = centered(area, 80, 60);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.focus))
        .title(Span::styled(" key ", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)))
        .title_bottom(Line::from(" any key closes ").right_aligned());
    let shown = if key.is_empty() { "\"\" (the empty key)".to_owned() } else { display_key(key) };
    let lines = vec![
        Line::styled(
            format!("{} bytes · value {}", thousands(key.len() as u64), human_bytes(value_len)),
            Style::new().fg(theme.dim),
        ),
        Line::default(),
        Line::styled(shown, Style::new().add_modifier(Modifier::BOLD)),
    ];
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), popup);
}

/// The recovery report of the open, on open when it is not quiet and on `R`: in the error colour
/// when acknowledged commits may be missing.
/// The report offers the salvage (on `salvage_key`) when the log was damaged.
pub(crate) fn render_recovery(
    report: &RecoveryReport,
    theme: &Theme,
    salvage_key: Option<&str>,
    frame: &mut Frame,
    area: Rect,
) {
    let lost = report.may_have_lost_data();
    let colour = if lost { theme.error } else { theme.info };
    let title = if lost { " data may be missing " } else { " recovery " };
    let mut lines = vec![
        Line::styled(
            if lost {
                "Acknowledged commits may be missing from this store."
            } else {
                "Opening this store recovered from its log:"
            },
            Style::new().fg(colour).add_modifier(Modifier::BOLD),
        ),
        Line::default(),
    ];
    for line in report.lines() {
        lines.push(Line::raw(format!("· {}", sanitize(&line))));
    }
    if let Some(key) = salvage_key {
        lines.push(Line::default());
        lines.push(salvage_offer(key, theme));
    }
    // The rows the lines take once wrapped in the popup, plus its border.
    let inner = usize::from(area.width * 7 / 10).saturating_sub(2).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let popup = centered_rows(area, 70, to_u16(rows + 2));
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(colour))
        .title(Span::styled(title, Style::new().fg(colour).add_modifier(Modifier::BOLD)))
        .title_bottom(Line::from(" any other key closes ").right_aligned());
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), popup);
}

/// The line that offers the salvage.
fn salvage_offer(key: &str, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(key.to_owned(), Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)),
        Span::raw(" salvages every readable key into a new store (this one is only read)"),
    ])
}

/// `y`: what to copy.
pub(crate) fn render_copy(theme: &Theme, frame: &mut Frame, area: Rect) {
    let popup = centered_rows(area, 50, 7);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.focus))
        .title(Span::styled(
            " copy to the clipboard ",
            Style::new().fg(theme.accent).add_modifier(Modifier::BOLD),
        ))
        .title_bottom(Line::from(" esc cancels ").right_aligned());
    let choice = |k: &'static str, what: &'static str| {
        Line::from(vec![
            Span::styled(format!("  {k}  "), Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)),
            Span::raw(what),
        ])
    };
    let lines = vec![
        choice("k", "the key"),
        choice("v", "the value"),
        choice("p", "a PUT statement of both"),
        Line::styled("  (OSC 52: works over SSH too)", Style::new().fg(theme.dim)),
    ];
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

/// `x`: the export's file name being typed.
pub(crate) fn render_export(path: &str, filter: &str, theme: &Theme, frame: &mut Frame, area: Rect) {
    let popup = centered_rows(area, 70, 6);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.focus))
        .title(Span::styled(
            " export to JSON lines ",
            Style::new().fg(theme.accent).add_modifier(Modifier::BOLD),
        ))
        .title_bottom(Line::from(" enter exports · esc cancels ").right_aligned());
    let lines = vec![
        Line::styled(
            format!("the keys {filter}, with their values (IMPORT reads the file)"),
            Style::new().fg(theme.dim),
        ),
        Line::default(),
        Line::from(vec![
            Span::styled("file ", Style::new().fg(theme.dim)),
            Span::raw(sanitize(path)),
            Span::styled("█", Style::new().fg(theme.accent)),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

/// `F`: the text to look for, then the search's progress and matches.
pub(crate) fn render_value_search(
    view: &super::search::SearchView,
    filter: &str,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
) {
    let popup = centered(area, 80, 80);
    frame.render_widget(Clear, popup);
    let Some(job) = &view.job else {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(theme.focus))
            .title(Span::styled(
                " search in values ",
                Style::new().fg(theme.accent).add_modifier(Modifier::BOLD),
            ))
            .title_bottom(Line::from(" enter searches · esc cancels ").right_aligned());
        let lines = vec![
            Line::styled(
                format!(
                    "in the values of the keys {filter} (the first {} of each)",
                    human_bytes(super::search::VALUE_SEARCH_BYTES as u64)
                ),
                Style::new().fg(theme.dim),
            ),
            Line::default(),
            Line::from(vec![
                Span::styled("find ", Style::new().fg(theme.dim)),
                Span::raw(sanitize(&view.text)),
                Span::styled("█", Style::new().fg(theme.accent)),
            ]),
        ];
        frame.render_widget(Paragraph::new(lines).block(block), popup);
        return;
    };
    let state = if job.done { if view.stopped { "stopped" } else { "done" } } else { "searching…" };
    let hint = if job.done { " j/k select · enter goes to the key · esc closes " } else { " esc stops " };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.focus))
        .title(Span::styled(
            format!(" values containing \"{}\" ", sanitize(&String::from_utf8_lossy(&job.needle))),
            Style::new().fg(theme.accent).add_modifier(Modifier::BOLD),
        ))
        .title_bottom(Line::from(hint).right_aligned());
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let mut lines = vec![Line::styled(
        format!(
            "{state} · {} keys searched · {} match{}{}",
            thousands(job.searched),
            thousands(job.matches.len() as u64),
            if job.matches.len() == 1 { "" } else { "es" },
            if job.capped { " (the first 1,000)" } else { "" }
        ),
        Style::new().fg(if job.error.is_some() { theme.error } else { theme.dim }),
    )];
    if let Some(e) = &job.error {
        lines.push(Line::styled(e.clone(), Style::new().fg(theme.error)));
    }
    let rows = (inner.height as usize).saturating_sub(lines.len());
    let top = view.selected.saturating_sub(rows.saturating_sub(1));
    let width = inner.width as usize;
    for (i, key) in job.matches.iter().enumerate().skip(top).take(rows) {
        let selected = i == view.selected;
        let style =
            if selected { Style::new().fg(theme.selection_fg).bg(theme.selection_bg) } else { Style::new() };
        let marker = if selected { "▶ " } else { "  " };
        lines.push(Line::styled(
            format!("{marker}{}", truncate_middle(&display_key(key), width.saturating_sub(2))),
            style,
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Below the smallest size: only this.
pub(crate) fn render_too_small(theme: &Theme, frame: &mut Frame, area: Rect) {
    let text = format!(
        "terminal too small: {} × {}; wkstore-tui needs {} × {}",
        area.width,
        area.height,
        super::layout::MIN_WIDTH,
        super::layout::MIN_HEIGHT
    );
    let paragraph =
        Paragraph::new(Line::styled(text, Style::new().fg(theme.error))).wrap(Wrap { trim: true });
    frame.render_widget(paragraph, area);
}
