//! The value editor (`e`) and the new-key dialog (`a`): multi-line text areas; Ctrl-S saves
//! through the store like any other write, Esc cancels.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::TextArea;

use super::config::Theme;
use super::text::{escape_key, truncate};

/// Values larger than this are not opened in the editor: a text area holds every line in memory
/// and redraws them; the command bar can still write such values.
pub(crate) const EDIT_MAX_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EditorKind {
    /// Changing the value of an existing key.
    Edit { key: Vec<u8> },
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
    /// Why the last save was refused.
    pub error: Option<String>,
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
    pub(crate) fn edit(key: Vec<u8>, value: &str) -> Editor {
        let mut editor = Editor {
            kind: EditorKind::Edit { key },
            key_input: text_area(vec![String::new()]),
            value: text_area(value.split('\n').map(str::to_owned).collect()),
            field: Field::Value,
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
            error: None,
        };
        editor.focus(Field::Key);
        editor
    }

    fn key_bytes(&self) -> Vec<u8> {
        match &self.kind {
            EditorKind::Edit { key } => key.clone(),
            EditorKind::Add => self.key_input.lines().join("").into_bytes(),
        }
    }

    fn value_bytes(&self) -> Vec<u8> {
        self.value.lines().join("\n").into_bytes()
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
                let k = self.key_bytes();
                if k.is_empty() {
                    self.error = Some("the key is empty".to_owned());
                    self.focus(Field::Key);
                    return EditorOutcome::Continue;
                }
                return EditorOutcome::Save { key: k, value: self.value_bytes() };
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

/// A rectangle `percent_x` of `area` wide and `rows` high (at most `area`'s), centred.
pub(crate) fn centered_rows(area: Rect, percent_x: u16, rows: u16) -> Rect {
    let [_, middle, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(rows.min(area.height)),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, center, _] = Layout::horizontal([
        Constraint::Percentage((100 - percent_x) / 2),
        Constraint::Percentage(percent_x),
        Constraint::Percentage((100 - percent_x) / 2),
    ])
    .areas(middle);
    center
}

/// A rectangle of `percent_x` × `percent_y` of `area`, centred.
pub(crate) fn centered(area: Rect, percent_x: u16, percent_y: u16) -> Rect {
    let [_, middle, _] = Layout::vertical([
        Constraint::Percentage((100 - percent_y) / 2),
        Constraint::Percentage(percent_y),
        Constraint::Percentage((100 - percent_y) / 2),
    ])
    .areas(area);
    let [_, center, _] = Layout::horizontal([
        Constraint::Percentage((100 - percent_x) / 2),
        Constraint::Percentage(percent_x),
        Constraint::Percentage((100 - percent_x) / 2),
    ])
    .areas(middle);
    center
}

pub(crate) fn render(editor: &Editor, theme: &Theme, frame: &mut Frame, area: Rect) {
    let popup = centered(area, 80, 80);
    frame.render_widget(Clear, popup);
    let title = match &editor.kind {
        EditorKind::Edit { key } => {
            format!(" edit {} ", truncate(&escape_key(key), (popup.width as usize).saturating_sub(10)))
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
