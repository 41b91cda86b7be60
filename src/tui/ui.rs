//! Drawing: a pure function of the state. [`render`] takes the app by shared reference, so
//! drawing can never change what it draws; [`layout`] is shared with the app, which needs the
//! same rectangles to know how many keys fit and where a click landed.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::action::Action;
use super::app::{App, Focus, Message, Screen};
use super::key_list::InputKind;
use super::page_view::PageFocus;
use super::text::{human_bytes, thousands};
use super::{command_bar, dialogs, editor, free_list, help, key_list, page_view, stats_pane, value_view};

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Areas {
    pub header: Rect,
    /// Key list and value viewer together; the page and free-list screens use all of it.
    pub body: Rect,
    pub keys: Rect,
    pub value: Rect,
    pub stats: Rect,
    pub bar: Rect,
    pub hints: Rect,
    /// The command output panel, over the lower part of the body.
    pub output: Rect,
}

pub(crate) fn layout(area: Rect) -> Areas {
    let [header, body, stats, bar, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(stats_pane::HEIGHT),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let [keys, value] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(body);
    let [_, output] = Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(body);
    Areas { header, body, keys, value, stats, bar, hints, output }
}

pub(crate) fn render(app: &App, frame: &mut Frame) {
    let areas = layout(frame.area());
    let theme = &app.config.theme;

    render_header(app, frame, areas.header);
    match app.screen {
        Screen::Browser => {
            key_list::render(
                &app.keys,
                theme,
                app.focus == Focus::Keys,
                app.stats.key_count,
                frame,
                areas.keys,
            );
            value_view::render(&app.value, theme, app.focus == Focus::Value, frame, areas.value);
        }
        Screen::Pages => page_view::render(&app.pages, theme, frame, areas.body),
        Screen::FreeList => free_list::render(&app.free, theme, frame, areas.body),
    }
    stats_pane::render(&app.stats, theme, frame, areas.stats);
    render_bar(app, frame, areas.bar);
    render_hints(app, frame, areas.hints);

    if app.command.output_open {
        command_bar::render_output(&app.command, theme, frame, areas.output);
    }
    if let Some(check) = &app.check {
        dialogs::render_check(check, theme, app.check_scroll, frame, areas.body);
    }
    if let Some(confirm) = &app.confirm {
        dialogs::render_confirm(confirm, theme, frame, areas.body);
    }
    if let Some(editor) = &app.editor {
        editor::render(editor, theme, frame, frame.area());
    }
    if let Some(scroll) = app.help {
        help::render(&app.config.keys, theme, scroll, frame, frame.area());
    }
}

fn render_header(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.config.theme;
    let dim = Style::new().fg(theme.dim);
    let mut spans = vec![
        Span::styled(
            " wkstore-tui ",
            Style::new().fg(theme.selection_fg).bg(theme.accent).add_modifier(Modifier::BOLD),
        ),
        Span::raw(" "),
        Span::styled(app.name.clone(), Style::new().add_modifier(Modifier::BOLD)),
        Span::styled("  id ", dim),
        Span::raw(app.store.get_identifier().to_owned()),
        Span::styled("  keys ", dim),
        Span::raw(thousands(app.stats.key_count)),
        Span::styled("  page size ", dim),
        Span::raw(human_bytes(u64::from(app.stats.page_size))),
        Span::raw("  "),
    ];
    if app.store.is_read_only() {
        spans.push(Span::styled(
            " READ-ONLY ",
            Style::new().fg(theme.badge_fg).bg(theme.badge_bg).add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(reason) = app.store.poison_reason() {
        spans.push(Span::styled(format!(" writes refused: {reason} "), Style::new().fg(theme.error)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_bar(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.config.theme;
    if app.command.active {
        command_bar::render_input(&app.command, theme, frame, area);
        return;
    }
    let line = match (&app.message, &app.keys.input) {
        (Some(Message::Error(text)), _) => Line::styled(format!(" {text}"), Style::new().fg(theme.error)),
        (Some(Message::Info(text)), _) => Line::styled(format!(" {text}"), Style::new().fg(theme.info)),
        (None, Some(input)) => Line::styled(
            match input.kind {
                InputKind::Filter => {
                    " type a prefix · enter shows only keys starting with it · esc clears the filter"
                }
                InputKind::Seek => " type a key · enter jumps to the first key at or after it · esc cancels",
            },
            Style::new().fg(theme.dim),
        ),
        (None, None) => {
            let hint = app.config.keys.hint(Action::Command).unwrap_or_default();
            Line::styled(
                format!(" {hint} command bar: PUT, GET, DEL, SCAN, COUNT, STATS, PAGE n, CHECK, HELP …"),
                Style::new().fg(theme.dim),
            )
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn render_hints(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.config.theme;
    let keys = &app.config.keys;
    let actions: &[(Action, &str)] = if app.help.is_some() {
        &[(Action::Close, "close"), (Action::Down, "scroll")]
    } else if app.editor.is_some() {
        &[]
    } else {
        match app.screen {
            Screen::Browser => &[
                (Action::Quit, "quit"),
                (Action::Help, "help"),
                (Action::Filter, "filter"),
                (Action::Command, "command"),
                (Action::CycleView, "view"),
                (Action::Edit, "edit"),
                (Action::Add, "add"),
                (Action::Delete, "delete"),
                (Action::Pages, "pages"),
                (Action::FreeList, "free"),
                (Action::Check, "check"),
            ],
            Screen::Pages if app.pages.focus == PageFocus::Detail => &[
                (Action::Close, "map"),
                (Action::Down, "scroll"),
                (Action::Help, "help"),
                (Action::Quit, "quit"),
            ],
            Screen::Pages => &[
                (Action::Close, "back"),
                (Action::Enter, "detail"),
                (Action::FreeList, "free list"),
                (Action::Help, "help"),
                (Action::Quit, "quit"),
            ],
            Screen::FreeList => &[
                (Action::Close, "back"),
                (Action::Enter, "show page"),
                (Action::Pages, "page map"),
                (Action::Help, "help"),
                (Action::Quit, "quit"),
            ],
        }
    };
    let mut spans = Vec::new();
    if app.screen == Screen::Pages && app.pages.focus == PageFocus::Map && app.help.is_none() {
        spans.push(Span::styled(" arrows", Style::new().fg(theme.accent)));
        spans.push(Span::styled(" move", Style::new().fg(theme.dim)));
        spans.push(Span::styled("  0-9 enter", Style::new().fg(theme.accent)));
        spans.push(Span::styled(" go to page", Style::new().fg(theme.dim)));
    }
    if app.editor.is_some() {
        spans.push(Span::styled(" ctrl-s", Style::new().fg(theme.accent)));
        spans.push(Span::styled(" save", Style::new().fg(theme.dim)));
        spans.push(Span::styled("  esc", Style::new().fg(theme.accent)));
        spans.push(Span::styled(" cancel", Style::new().fg(theme.dim)));
    }
    for (action, label) in actions {
        if let Some(key) = keys.hint(*action) {
            let gap = if spans.is_empty() { " " } else { "  " };
            spans.push(Span::styled(format!("{gap}{key}"), Style::new().fg(theme.accent)));
            spans.push(Span::styled(format!(" {label}"), Style::new().fg(theme.dim)));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
