//! The value editor (`e`) and the new-key dialog (`a`): multi-line text areas; Ctrl-S saves
//! through the store like any other write, Esc cancels. A value that is not plain text (bytes
//! that are not UTF-8, control characters other than tab and newline) opens as an editable hex
//! dump, so no byte is hidden from view and written back unseen.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::TextArea;

use super::config::Theme;
use super::hexdump;
use super::layout::centered;
use super::text::{display_key, truncate};

/// Values larger than this are not opened in the editor: a text area holds every line in memory
/// and redraws them; the command bar can still write such values.
pub(crate) const EDIT_MAX_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EditorKind {
    /// Changing the value of an existing key; `original` is the value it had when opened.
    Edit { key: Vec<u8>, original: Vec<u8> },
    /// A new key and its value.
    Add,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Key,
    Value,
}

#[derive(Debug)]
pub(crate) struct Editor {
    pub kind: EditorKind,
    pub key_input: TextArea<'static>,
    pub value: TextArea<'static>,
    pub field: Field,
    /// The value is shown and edited as a hex dump.
    pub hex: bool,
    /// Why the last save was refused.
    pub error: Option<String>,
}

/// Whether `bytes` open in the editor as text: UTF-8 without control characters other than tab
/// and newline. Anything else (a carriage return, an escape sequence) opens as hex.
pub(crate) fn is_plain_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes)
        .is_ok_and(|text| text.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n')))
}

/// What a key did in the editor.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EditorOutcome {
    Continue,
    Save { key: Vec<u8>, value: Vec<u8> },
    Cancel,
}

fn text_area(lines: Vec<String>) -> TextArea<'static> {
    let mut area = TextArea::new(lines);
    area.set_cursor_line_style(Style::default());
    area.set_wrap_mode(ratatui_textarea::WrapMode::WordOrGlyph);
    area
}

impl Editor {
    /// The editor on `key`'s value: as text when it is plain text, else as a hex dump.
    pub(crate) fn edit(key: Vec<u8>, value: Vec<u8>) -> Editor {
        let hex = !is_plain_text(&value);
        let text = if hex { hexdump::format(&value) } else { String::from_utf8_lossy(&value).into_owned() };
        let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        if hex && lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        let mut editor = Editor {
            kind: EditorKind::Edit { key, original: value },
            key_input: text_area(vec![String::new()]),
            value: text_area(lines),
            field: Field::Value,
            hex,
            error: None,
        };
        editor.focus(Field::Value);
        editor
    }

    pub(crate) fn add(prefix: &str) -> Editor {
        let mut key_input = text_area(vec![prefix.to_owned()]);
        key_input.move_cursor(ratatui_textarea::CursorMove::End);
        let mut editor = Editor {
            kind: EditorKind::Add,
            key_input,
            value: text_area(vec![String::new()]),
            field: Field::Key,
            hex: false,
            error: None,
        };
        editor.focus(Field::Key);
        editor
    }

    fn key_bytes(&self) -> Vec<u8> {
        match &self.kind {
            EditorKind::Edit { key, .. } => key.clone(),
            EditorKind::Add => self.key_input.lines().join("").into_bytes(),
        }
    }

    /// The value as typed: the text, or the bytes the hex dump reads back to.
    fn value_bytes(&self) -> Result<Vec<u8>, String> {
        let text = self.value.lines().join("\n");
        if self.hex { hexdump::parse(&text) } else { Ok(text.into_bytes()) }
    }

    /// Inserts pasted text where the cursor is (in the key field, its first line only).
    pub(crate) fn paste(&mut self, text: &str) {
        self.error = None;
        match self.field {
            Field::Key => {
                let line = text.lines().next().unwrap_or("");
                self.key_input.insert_str(line);
            }
            Field::Value => {
                self.value.insert_str(text);
            }
        }
    }

    /// Moves the typing to `field`; only the focused field shows a cursor.
    pub(crate) fn focus(&mut self, field: Field) {
        self.field = field;
        let cursor = Style::new().add_modifier(Modifier::REVERSED);
        let (key_cursor, value_cursor) = match field {
            Field::Key => (cursor, Style::new()),
            Field::Value => (Style::new(), cursor),
        };
        self.key_input.set_cursor_style(key_cursor);
        self.value.set_cursor_style(value_cursor);
    }

    pub(crate) fn key(&mut self, key: KeyEvent) -> EditorOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('s') if ctrl => {
                // The empty key is a key like any other (`PUT "":"v"` writes it too).
                return match self.value_bytes() {
                    Ok(value) => EditorOutcome::Save { key: self.key_bytes(), value },
                    Err(e) => {
                        self.error = Some(format!("not saved: {e}"));
                        EditorOutcome::Continue
                    }
                };
            }
            KeyCode::Esc => return EditorOutcome::Cancel,
            KeyCode::Tab | KeyCode::BackTab if self.kind == EditorKind::Add => {
                self.focus(if self.field == Field::Key { Field::Value } else { Field::Key });
            }
            KeyCode::Enter if self.field == Field::Key => self.focus(Field::Value),
            _ => {
                self.error = None;
                match self.field {
                    Field::Key => {
                        // One line: newline shortcuts of the text area do not apply.
                        if !(ctrl && matches!(key.code, KeyCode::Char('j' | 'm'))) {
                            self.key_input.input(key);
                        }
                    }
                    Field::Value => {
                        self.value.input(key);
                    }
                }
            }
        }
        EditorOutcome::Continue
    }
}

pub(crate) fn render(editor: &Editor, theme: &Theme, frame: &mut Frame, area: Rect) {
    // A hex dump line is 78 columns: the editor is wider for one.
    let popup = centered(area, if editor.hex { 94 } else { 80 }, 80);
    frame.render_widget(Clear, popup);
    let title = match &editor.kind {
        EditorKind::Edit { key, .. } => {
            let what = if editor.hex { "edit (hex)" } else { "edit" };
            format!(" {what} {} ", truncate(&display_key(key), (popup.width as usize).saturating_sub(16)))
        }
        EditorKind::Add => " add a key ".to_owned(),
    };
    let hints = match editor.kind {
        EditorKind::Add => " ctrl-s save · tab next field · esc cancel ",
        EditorKind::Edit { .. } => " ctrl-s save · esc cancel ",
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.focus))
        .title(Span::styled(title, Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)))
        .title_bottom(Line::from(hints).right_aligned());
    let inner = block.inner(popup);
    frame.render_widget(block, popup);

    let field_block = |name: &'static str, focused: bool| {
        Block::default()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(if focused { theme.focus } else { theme.border }))
            .title(Span::styled(name, Style::new().fg(theme.dim)))
    };
    let error_rows = u16::from(editor.error.is_some());
    let key_rows = if editor.kind == EditorKind::Add { 3 } else { 0 };
    let [error_area, key_area, value_area] =
        Layout::vertical([Constraint::Length(error_rows), Constraint::Length(key_rows), Constraint::Fill(1)])
            .areas(inner);
    if let Some(error) = &editor.error {
        frame.render_widget(
            Paragraph::new(Line::styled(error.clone(), Style::new().fg(theme.error))),
            error_area,
        );
    }
    if editor.kind == EditorKind::Add {
        let block = field_block(" key (text) ", editor.field == Field::Key);
        let key_inner = block.inner(key_area);
        frame.render_widget(block, key_area);
        frame.render_widget(&editor.key_input, key_inner);
    }
    let block = field_block(" value ", editor.field == Field::Value);
    let value_inner = block.inner(value_area);
    frame.render_widget(block, value_area);
    frame.render_widget(&editor.value, value_inner);
}
