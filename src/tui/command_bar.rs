//! The command bar (`:`): one line of the command language, run through the same parser and
//! executor as `--exec` and `wkshell`; answers go to a scrollable output panel. Up and Down walk
//! the history, which is kept in the data directory between runs.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::TextArea;

use super::config::Theme;
use super::text::sanitize;
use crate::KVStore;
use crate::command::{FileAccess, Statement, execute, is_complete, statements};

/// Lines the output panel keeps; older ones are dropped (the panel is for reading, not a log).
pub(crate) const MAX_OUTPUT_LINES: usize = 5_000;
/// History entries kept.
const MAX_HISTORY: usize = 1_000;
/// `GET WHERE KEY=*` lists every pair; above this many keys the bar refuses it and points to
/// `SCAN`, so one statement cannot hold the screen (and memory) for minutes.
pub(crate) const GET_ALL_MAX_KEYS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    Echo,
    Answer,
    Error,
}

#[derive(Debug, Default)]
pub(crate) struct CommandBar {
    pub active: bool,
    pub input: TextArea<'static>,
    pub history: Vec<String>,
    /// Position while walking the history (`None`: at the draft).
    history_pos: Option<usize>,
    draft: String,
    history_file: Option<PathBuf>,
    pub output: Vec<(LineKind, String)>,
    pub output_open: bool,
    pub output_scroll: usize,
    pub output_height: usize,
}

/// What running a line did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Ran {
    /// A statement that changes the store ran (the browser reloads).
    pub wrote: bool,
    pub statements: usize,
    pub failed: bool,
}

impl CommandBar {
    /// A bar whose history is read from and appended to `history_file`.
    pub(crate) fn new(history_file: Option<PathBuf>) -> CommandBar {
        let history = history_file
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .map(|text| text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect::<Vec<_>>())
            .unwrap_or_default();
        let skip = history.len().saturating_sub(MAX_HISTORY);
        CommandBar { history: history[skip..].to_vec(), history_file, ..CommandBar::default() }
    }

    pub(crate) fn open(&mut self) {
        self.active = true;
        self.history_pos = None;
        self.set_text("");
    }

    fn set_text(&mut self, text: &str) {
        let mut input = TextArea::new(vec![text.to_owned()]);
        input.set_cursor_line_style(Style::default());
        input.move_cursor(ratatui_textarea::CursorMove::End);
        self.input = input;
    }

    pub(crate) fn text(&self) -> String {
        self.input.lines().join(" ")
    }

    /// Handles a key while the bar is open; `Some(text)` when Enter asks to run it.
    pub(crate) fn key(&mut self, key: KeyEvent) -> Option<String> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => {
                self.active = false;
                let text = self.text();
                return (!text.trim().is_empty()).then_some(text);
            }
            KeyCode::Char('j' | 'm') if ctrl => {
                self.active = false;
                let text = self.text();
                return (!text.trim().is_empty()).then_some(text);
            }
            KeyCode::Esc => self.active = false,
            KeyCode::Up => self.walk_history(-1),
            KeyCode::Down => self.walk_history(1),
            _ => {
                self.input.input(key);
            }
        }
        None
    }

    fn walk_history(&mut self, step: isize) {
        if self.history.is_empty() {
            return;
        }
        let last = self.history.len() - 1;
        let next = match (self.history_pos, step < 0) {
            (None, true) => {
                self.draft = self.text();
                Some(last)
            }
            (None, false) => None,
            (Some(0), true) => Some(0),
            (Some(i), true) => Some(i - 1),
            (Some(i), false) if i >= last => None,
            (Some(i), false) => Some(i + 1),
        };
        self.history_pos = next;
        let text = match next {
            Some(i) => self.history[i].clone(),
            None => std::mem::take(&mut self.draft),
        };
        self.set_text(&text);
    }

    fn remember(&mut self, text: &str) {
        if self.history.last().map(String::as_str) != Some(text) {
            self.history.push(text.to_owned());
            if self.history.len() > MAX_HISTORY {
                self.history.remove(0);
            }
            if let Some(path) = &self.history_file {
                use std::io::Write as _;
                // History is a convenience: a failure to save it is not worth interrupting for.
                if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                    let _ = writeln!(file, "{text}");
                }
            }
        }
    }

    fn push(&mut self, kind: LineKind, text: &str) {
        for line in text.lines() {
            self.output.push((kind, sanitize(line)));
        }
        if text.is_empty() {
            self.output.push((kind, String::new()));
        }
    }

    /// Runs every statement of `text` in order, stopping at the first error, as typed in a
    /// shell. A missing final `;` is added.
    pub(crate) fn run(&mut self, store: &mut KVStore, text: &str) -> Ran {
        let text = text.trim().to_owned();
        self.remember(&text);
        let script = if is_complete(&text) { text.clone() } else { format!("{text};") };
        let start = self.output.len();
        self.push(LineKind::Echo, &format!("› {text}"));
        let mut ran = Ran::default();
        for item in statements(&script) {
            let result = match item {
                Ok(located) => {
                    let statement = located.statement;
                    ran.statements += 1;
                    ran.wrote |= statement.modifies_store();
                    if matches!(statement, Statement::GetAll) && store.len() > GET_ALL_MAX_KEYS {
                        Err(format!(
                            "GET WHERE KEY=* would list all {} pairs here; use SCAN [PREFIX \"p\"] [FROM \"k\"] LIMIT n",
                            store.len()
                        ))
                    } else {
                        execute(store, &statement, &FileAccess::Anywhere).map_err(|e| e.to_string())
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(output) => self.push(LineKind::Answer, &output.to_string()),
                Err(e) => {
                    self.push(LineKind::Error, &format!("Error: {e}"));
                    ran.failed = true;
                    break;
                }
            }
        }
        // Keep the newest lines; show the start of this answer.
        let excess = self.output.len().saturating_sub(MAX_OUTPUT_LINES);
        if excess > 0 {
            self.output.drain(..excess);
            self.output.insert(0, (LineKind::Echo, "(older output dropped)".to_owned()));
        }
        self.output_open = true;
        self.output_scroll = start.saturating_sub(excess).min(self.max_scroll());
        ran
    }

    fn max_scroll(&self) -> usize {
        self.output.len().saturating_sub(self.output_height.max(1))
    }

    pub(crate) fn scroll_by(&mut self, delta: isize) {
        self.output_scroll = self.output_scroll.saturating_add_signed(delta).min(self.max_scroll());
    }

    pub(crate) fn scroll_to_end(&mut self) {
        self.output_scroll = self.max_scroll();
    }
}

/// The bar's line: the input while it is open.
pub(crate) fn render_input(bar: &CommandBar, theme: &Theme, frame: &mut Frame, area: Rect) {
    if area.width < 3 {
        return;
    }
    let prompt = Rect { width: 2, ..area };
    let field = Rect { x: area.x + 2, width: area.width - 2, ..area };
    frame.render_widget(
        Span::styled(": ", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)),
        prompt,
    );
    frame.render_widget(&bar.input, field);
}

/// The output panel, drawn over `area`.
pub(crate) fn render_output(bar: &CommandBar, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.focus))
        .title(Span::styled(" output ", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)))
        .title_bottom(Line::from(" : run another · j/k pgup/pgdn scroll · esc close ").right_aligned());
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let lines: Vec<Line<'_>> = bar
        .output
        .iter()
        .skip(bar.output_scroll)
        .take(inner.height as usize)
        .map(|(kind, text)| {
            let style = match kind {
                LineKind::Echo => Style::new().fg(theme.accent),
                LineKind::Answer => Style::new(),
                LineKind::Error => Style::new().fg(theme.error),
            };
            Line::styled(text.as_str(), style)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
