//! Small overlays: the delete confirmation and the integrity check (progress, then report).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph, Wrap};

use super::config::Theme;
use super::editor::{centered, centered_rows};
use super::text::{escape_key, human_bytes, thousands, truncate};
use crate::CheckReport;

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
        Line::styled(truncate(&escape_key(&confirm.key), width), Style::new().add_modifier(Modifier::BOLD)),
        Line::styled(format!("value of {}", human_bytes(confirm.value_len)), Style::new().fg(theme.dim)),
        Line::default(),
        Line::from(vec![
            Span::styled("y", Style::new().fg(theme.error).add_modifier(Modifier::BOLD)),
            Span::raw(" delete    "),
            Span::styled("n", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)),
            Span::raw(" / esc keep it"),
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

pub(crate) fn render_check(check: &CheckState, theme: &Theme, scroll: usize, frame: &mut Frame, area: Rect) {
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
            let block = block.title_bottom(Line::from(" j/k scroll · esc closes ").right_aligned());
            frame.render_widget(
                Paragraph::new(lines)
                    .block(block)
                    .wrap(Wrap { trim: false })
                    .scroll((scroll.min(u16::MAX as usize) as u16, 0)),
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
