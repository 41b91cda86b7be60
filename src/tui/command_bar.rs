//! The command bar (`:`): statements of the command language, run through the same parser and
//! executor as `--exec` and `wkshell`; answers go to a scrollable output panel. Up and Down walk
//! the history, which is kept in the data directory between runs, readable by its owner only
//! (statements hold values). While typing, the hint row shows the syntax and summary of the
//! statement being typed, and Tab completes a keyword, both from the language's own tables
//! (the help topics and the keyword list that `HELP` and `wkshell` use), so every statement is
//! known here as soon as the language has it.
//!
//! What one statement may bring back is bounded, so a `SCAN LIMIT 1000000` cannot take the
//! memory: a scan stops at [`BAR_SCAN_MAX_PAIRS`] pairs or [`BAR_MAX_BYTES`] of values and says
//! how to go on (`Next page: SCAN ... FROM ...`); a `GET` of a value above [`BAR_MAX_BYTES`] is
//! refused (the value pane and `v` show it). The panel keeps the start of every answer, up to
//! [`MAX_ANSWER_LINES`] lines each, and drops whole older answers beyond [`MAX_OUTPUT_LINES`].

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::TextArea;

use super::config::Theme;
use super::search::prefix_end;
use super::text::sanitize;
use crate::command::{
    FileAccess, HelpTopic, Output, ScanPage, Statement, TOPICS, ends_inside_string, execute, is_complete,
    keywords_starting, statements,
};
use crate::{KVStore, Result as StoreResult};

/// Lines the output panel keeps; whole older answers are dropped beyond it.
pub(crate) const MAX_OUTPUT_LINES: usize = 20_000;
/// Lines of one answer the panel keeps: its start, then a line saying how many more there were.
pub(crate) const MAX_ANSWER_LINES: usize = 5_000;
/// Pairs a `SCAN` in the bar lists at most; the answer ends with the statement for the next page.
pub(crate) const BAR_SCAN_MAX_PAIRS: u64 = 1_000;
/// Characters of one output line the panel keeps (it does not scroll sideways).
pub(crate) const MAX_LINE_CHARS: usize = 2_000;
/// Bytes of values one statement in the bar may bring back.
pub(crate) const BAR_MAX_BYTES: u64 = 4 << 20;
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
    pub input: TextArea<'static>,
    pub history: Vec<String>,
    /// Position while walking the history (`None`: at the draft).
    history_pos: Option<usize>,
    draft: String,
    history_file: Option<PathBuf>,
    pub output: Vec<(LineKind, String)>,
    pub output_scroll: usize,
    pub output_height: usize,
    /// The keywords the last Tab could complete to, when it was more than one (shown in the
    /// hint row until the next key).
    pub candidates: Vec<&'static str>,
}

/// What a key did in the bar.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BarKey {
    Typing,
    Run(String),
    Close,
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
            .map(|text| text.lines().filter(|l| !l.trim().is_empty()).map(history_entry).collect::<Vec<_>>())
            .unwrap_or_default();
        let skip = history.len().saturating_sub(MAX_HISTORY);
        CommandBar { history: history[skip..].to_vec(), history_file, ..CommandBar::default() }
    }

    pub(crate) fn open(&mut self) {
        self.history_pos = None;
        self.set_text("");
    }

    fn set_text(&mut self, text: &str) {
        let mut input = TextArea::new(text.split('\n').map(str::to_owned).collect());
        input.set_cursor_line_style(Style::default());
        input.move_cursor(ratatui_textarea::CursorMove::End);
        self.input = input;
    }

    /// The statements typed, lines joined with newlines (a pasted statement keeps its lines, and
    /// a string spanning them keeps its newlines).
    pub(crate) fn text(&self) -> String {
        self.input.lines().join("\n")
    }

    /// Rows the input takes on screen.
    pub(crate) fn input_rows(&self) -> usize {
        self.input.lines().len().clamp(1, 8)
    }

    /// Inserts pasted text at the cursor, newlines and all: nothing runs until Enter.
    pub(crate) fn paste(&mut self, text: &str) {
        self.input.insert_str(text);
    }

    /// Handles a key while the bar is open.
    pub(crate) fn key(&mut self, key: KeyEvent) -> BarKey {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        self.candidates.clear();
        match key.code {
            KeyCode::Tab => self.complete(),
            KeyCode::Enter => {
                let text = self.text();
                return if text.trim().is_empty() { BarKey::Close } else { BarKey::Run(text) };
            }
            KeyCode::Char('j' | 'm') if ctrl => {
                let text = self.text();
                return if text.trim().is_empty() { BarKey::Close } else { BarKey::Run(text) };
            }
            KeyCode::Esc => return BarKey::Close,
            KeyCode::Up if self.input.cursor().0 == 0 => self.walk_history(-1),
            KeyCode::Down if self.input.cursor().0 + 1 >= self.input.lines().len() => self.walk_history(1),
            _ => {
                self.input.input(key);
            }
        }
        BarKey::Typing
    }

    /// Tab: completes the keyword before the cursor, as far as the keywords it may be agree
    /// (in the case it is typed in); when more than one remains, they are listed in the hints.
    fn complete(&mut self) {
        let cursor = self.input.cursor();
        let (row, col) = (cursor.0, cursor.1);
        let lines = self.input.lines();
        let before: String = lines
            .iter()
            .take(row)
            .map(|l| format!("{l}\n"))
            .chain(lines.get(row).map(|l| l.chars().take(col).collect::<String>()))
            .collect();
        let (typed, candidates) = keyword_completions(&before);
        let Some(first) = candidates.first() else { return };
        let common = candidates.iter().fold(first.len(), |n, c| {
            first.bytes().zip(c.bytes()).take(n).take_while(|(a, b)| a == b).count()
        });
        let lower = typed.chars().all(|c| !c.is_ascii_uppercase());
        let mut rest = first[typed.len()..common].to_owned();
        if candidates.len() == 1 {
            rest.push(' ');
        } else {
            self.candidates = candidates;
        }
        if lower {
            rest = rest.to_ascii_lowercase();
        }
        self.input.insert_str(rest);
    }

    /// The help topic of the statement being typed: the last statement's first word, when it
    /// names (or begins only one) statement.
    pub(crate) fn typed_topic(&self) -> Option<&'static HelpTopic> {
        let text = self.text();
        let last = text.split(';').rev().find(|s| !s.trim().is_empty())?;
        let word: String = last.trim_start().chars().take_while(char::is_ascii_alphabetic).collect();
        if word.is_empty() {
            return None;
        }
        let statements = || TOPICS.iter().filter(|t| t.name != "SYNTAX");
        if let Some(exact) = statements().find(|t| t.name.eq_ignore_ascii_case(&word)) {
            return Some(exact);
        }
        let mut starting = statements().filter(|t| starts_with_ignoring_case(t.name, &word));
        let first = starting.next()?;
        starting.next().is_none().then_some(first)
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
                // History is a convenience: a failure to save it is not worth interrupting for.
                let _ = append_private(path, text);
            }
        }
    }

    /// Adds an answer's lines, keeping its first [`MAX_ANSWER_LINES`].
    fn push(&mut self, kind: LineKind, text: &str) {
        let mut lines = 0usize;
        let mut more = 0usize;
        for line in text.lines() {
            if lines < MAX_ANSWER_LINES {
                let mut shown = sanitize(line);
                if let Some((cut, _)) = shown.char_indices().nth(MAX_LINE_CHARS) {
                    let rest = shown.len() - cut;
                    shown.truncate(cut);
                    shown.push_str(&format!(
                        "… ({} more on this line)",
                        super::text::human_bytes(rest as u64)
                    ));
                }
                self.output.push((kind, shown));
                lines += 1;
            } else {
                more += 1;
            }
        }
        if text.is_empty() {
            self.output.push((kind, String::new()));
        }
        if more > 0 {
            self.output.push((
                LineKind::Echo,
                format!(
                    "({more} more lines not shown: the panel keeps {MAX_ANSWER_LINES} lines of an answer)"
                ),
            ));
        }
    }

    /// A line that is one `SALVAGE TO` statement: the file it names. The browser runs it in the
    /// salvage dialog, on a thread, instead of holding the screen until it ends.
    pub(crate) fn lone_salvage(text: &str) -> Option<String> {
        let text = text.trim();
        let script = if is_complete(text) { text.to_owned() } else { format!("{text};") };
        match crate::command::parse_script(&script).ok()?.as_slice() {
            [Statement::Salvage { path }] => Some(path.clone()),
            _ => None,
        }
    }

    /// Notes a statement handed to a dialog: kept in the history and echoed in the panel with
    /// where its answer goes.
    pub(crate) fn hand_over(&mut self, text: &str, note: &str) {
        let text = text.trim().to_owned();
        self.remember(&text);
        self.push(LineKind::Echo, &format!("› {text}"));
        self.push(LineKind::Answer, note);
        self.scroll_to_end();
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
                    match bounded(store, &statement) {
                        Ok(Some(output)) => Ok(output),
                        Ok(None) => {
                            execute(store, &statement, &FileAccess::Anywhere).map_err(|e| e.to_string())
                        }
                        Err(e) => Err(e),
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
        // Drop whole older answers (never the start of this one); show the start of this answer.
        let mut excess = 0;
        if self.output.len() > MAX_OUTPUT_LINES {
            let want = self.output.len() - MAX_OUTPUT_LINES;
            // The first echo line at or after `want`: an answer's start.
            excess = (want..start)
                .find(|&i| self.output[i].0 == LineKind::Echo && self.output[i].1.starts_with('›'))
                .unwrap_or(start);
            self.output.drain(..excess);
            self.output.insert(0, (LineKind::Echo, "(older answers dropped)".to_owned()));
        }
        let start = start - excess + usize::from(excess > 0);
        self.output_scroll = start.min(self.max_scroll());
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

fn starts_with_ignoring_case(name: &str, typed: &str) -> bool {
    name.len() >= typed.len() && name.as_bytes()[..typed.len()].eq_ignore_ascii_case(typed.as_bytes())
}

/// The keyword typed at the end of `before` and the keywords it may be (upper case, sorted);
/// nothing inside a string literal.
pub(crate) fn keyword_completions(before: &str) -> (String, Vec<&'static str>) {
    let inside = ends_inside_string(before);
    let typed: String = before.chars().rev().take_while(char::is_ascii_alphabetic).collect();
    let typed: String = typed.chars().rev().collect();
    if inside || typed.is_empty() {
        return (typed, Vec::new());
    }
    let mut names: Vec<&'static str> = keywords_starting(&typed).collect();
    names.sort_unstable();
    names.dedup();
    (typed, names)
}

/// One line of the history file as the statement it holds: a statement of several lines is
/// written as a JSON string (statements never start with `"`), any other as it is.
fn history_entry(line: &str) -> String {
    if line.starts_with('"') {
        serde_json::from_str::<String>(line).unwrap_or_else(|_| line.to_owned())
    } else {
        line.to_owned()
    }
}

/// Appends a statement to the history file (see [`history_entry`]), created readable and
/// writable by its owner only; an existing file readable by others is made private first.
pub(crate) fn append_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    let metadata = file.metadata()?;
    if metadata.permissions().mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    if text.contains('\n') {
        writeln!(file, "{}", serde_json::Value::String(text.to_owned()))
    } else {
        writeln!(file, "{text}")
    }
}

/// Runs `statement` within the bar's bounds when it could bring back too much: `Some(output)`
/// when run here, `None` when it is small by nature and runs as usual.
fn bounded(store: &KVStore, statement: &Statement) -> Result<Option<Output>, String> {
    let too_big = |what: String| {
        Err(format!(
            "{what}; the command bar shows at most {} of values (the value pane shows any value, and v opens it in $PAGER; --exec prints it whole)",
            super::text::human_bytes(BAR_MAX_BYTES)
        ))
    };
    match statement {
        Statement::Get { key } => match store.value_len(key).map_err(|e| e.to_string())? {
            Some(len) if len > BAR_MAX_BYTES => {
                too_big(format!("the value is {}", super::text::human_bytes(len)))
            }
            _ => Ok(None),
        },
        Statement::GetAll => {
            let keys = store.len().map_err(|e| e.to_string())?;
            if keys > GET_ALL_MAX_KEYS {
                return Err(format!(
                    "GET WHERE KEY=* would list all {keys} pairs here; use SCAN [PREFIX \"p\"] [FROM \"k\"] LIMIT n"
                ));
            }
            let mut bytes = 0u64;
            for item in store.keys(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded) {
                bytes += item.map_err(|e| e.to_string())?.1;
            }
            if bytes > BAR_MAX_BYTES {
                return too_big(format!("the values add up to {}", super::text::human_bytes(bytes)));
            }
            Ok(None)
        }
        Statement::Scan { prefix, from, limit } => {
            let limit = limit.unwrap_or(crate::command::DEFAULT_SCAN_LIMIT).clamp(1, BAR_SCAN_MAX_PAIRS);
            scan(store, prefix.as_deref(), from.as_deref(), limit).map(|page| Some(Output::Scan(page)))
        }
        _ => Ok(None),
    }
}

/// `SCAN` as the language runs it, but stopping also at [`BAR_MAX_BYTES`] of values: the page is
/// then shorter, and its `next` key continues where it stopped.
fn scan(store: &KVStore, prefix: Option<&[u8]>, from: Option<&[u8]>, limit: u64) -> Result<ScanPage, String> {
    scan_inner(store, prefix, from, limit).map_err(|e| e.to_string())?
}

fn scan_inner(
    store: &KVStore,
    prefix: Option<&[u8]>,
    from: Option<&[u8]>,
    limit: u64,
) -> StoreResult<Result<ScanPage, String>> {
    let prefix_bytes = prefix.unwrap_or_default();
    let start = match from {
        Some(from) if from > prefix_bytes => from,
        _ => prefix_bytes,
    };
    let end = prefix_end(prefix_bytes);
    let mut page = ScanPage { pairs: Vec::new(), next: None, prefix: prefix.map(<[u8]>::to_vec), limit };
    if let std::ops::Bound::Excluded(end) = &end
        && start >= end.as_slice()
    {
        return Ok(Ok(page));
    }
    let start_bound =
        if start.is_empty() { std::ops::Bound::Unbounded } else { std::ops::Bound::Included(start.to_vec()) };
    let mut bytes = 0u64;
    // Keys and sizes first: a value is read only when it fits.
    for item in store.keys(start_bound, end) {
        let (key, len) = item?;
        let full =
            page.pairs.len() as u64 == limit || (!page.pairs.is_empty() && bytes + len > BAR_MAX_BYTES);
        if full {
            page.next = Some(key);
            break;
        }
        if len > BAR_MAX_BYTES {
            // One value larger than the bound on its own.
            let mut after = key.clone();
            after.push(0);
            return Ok(Err(format!(
                "the value of {} is {}; the command bar shows at most {} of values (the value pane shows it, v opens it in $PAGER); SCAN FROM {} goes on after it",
                crate::command::quote(&key),
                super::text::human_bytes(len),
                super::text::human_bytes(BAR_MAX_BYTES),
                crate::command::quote(&after)
            )));
        }
        let value = store.get(&key)?.unwrap_or_default();
        bytes += len;
        page.pairs.push((key, value));
    }
    Ok(Ok(page))
}

/// The bar's input while it is open: one row, or more for statements of several lines, drawn
/// upwards from `area` (the bar's row).
pub(crate) fn render_input(bar: &CommandBar, theme: &Theme, frame: &mut Frame, area: Rect) {
    if area.width < 3 {
        return;
    }
    let rows = super::layout::to_u16(bar.input_rows()).min(area.y + 1);
    let area = Rect { y: area.y + 1 - rows, height: rows, ..area };
    frame.render_widget(Clear, area);
    let prompt = Rect { width: 2, height: 1, ..area };
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
