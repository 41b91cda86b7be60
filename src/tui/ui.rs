//! Drawing: a pure function of the state. [`render`] takes the app by shared reference, so
//! drawing can never change what it draws. The screen is drawn first, then the overlays from the
//! bottom of the stack up.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::action::Action;
use super::app::{App, Focus, Message, Screen};
use super::dialogs::CheckState;
use super::key_list::{InputKind, ListView};
use super::layout::{StatsStyle, layout};
use super::live::BadgeKind;
use super::overlay::Overlay;
use super::page_view::PageFocus;
use super::salvage::SalvageState;
use super::text::{display_key, human_bytes, text_width, thousands};
use super::{
    command_bar, dialogs, editor, free_list, help, key_list, page_view, readers, salvage, stats_pane,
    value_view,
};

pub(crate) fn render(app: &App, frame: &mut Frame) {
    let areas = layout(frame.area());
    let theme = &app.config.theme;
    if areas.too_small {
        dialogs::render_too_small(theme, frame, areas.full);
        return;
    }

    render_header(app, frame, areas.header);
    match app.screen {
        Screen::Browser => {
            let view = ListView {
                list: &app.keys,
                input: app.key_input(),
                focused: app.focus == Focus::Keys,
                key_count: app.stats.key_count,
                counting: app.count.as_ref().map(|job| job.counted),
                live: &app.live,
            };
            key_list::render(&view, theme, frame, areas.keys);
            value_view::render(&app.value, theme, app.focus == Focus::Value, frame, areas.value);
        }
        Screen::Pages => page_view::render(&app.pages, theme, frame, areas.body),
        Screen::FreeList => free_list::render(&app.free, theme, frame, areas.body),
    }
    match areas.stats_style {
        StatsStyle::Pane(_) => {
            stats_pane::render(&app.stats, app.store.recovery_report(), theme, frame, areas.stats)
        }
        StatsStyle::Line => {
            stats_pane::render_line(&app.stats, app.store.recovery_report(), theme, frame, areas.stats)
        }
        StatsStyle::Hidden => {}
    }
    render_bar(app, frame, areas.bar);
    render_hints(app, frame, areas.hints);

    let filter = filter_words(app);
    let salvage_key = app.config.keys.hint(Action::Salvage);
    for overlay in &app.overlays {
        match overlay {
            Overlay::Help { scroll } => help::render(&app.config.keys, theme, *scroll, frame, areas.full),
            Overlay::Check { state, scroll } => {
                dialogs::render_check(state, theme, *scroll, salvage_key.as_deref(), frame, areas.body)
            }
            Overlay::Confirm(confirm) => dialogs::render_confirm(confirm, theme, frame, areas.body),
            Overlay::Editor(editor) => editor::render(editor, theme, frame, areas.full),
            Overlay::Command => command_bar::render_input(&app.command, theme, frame, areas.bar),
            Overlay::Output => command_bar::render_output(&app.command, theme, frame, areas.output),
            // Typed in the list's title (see key_list.rs).
            Overlay::KeyInput(_) => {}
            Overlay::KeyInfo => {
                if let Some(row) = app.keys.selected_row() {
                    dialogs::render_key_info(&row.key, row.value_len, theme, frame, areas.body);
                }
            }
            Overlay::Copy => dialogs::render_copy(theme, frame, areas.body),
            Overlay::Export { path } => dialogs::render_export(path, &filter, theme, frame, areas.body),
            Overlay::ValueSearch(view) => {
                dialogs::render_value_search(view, &filter, theme, frame, areas.body)
            }
            Overlay::Recovery => dialogs::render_recovery(
                app.store.recovery_report(),
                theme,
                salvage_key.as_deref(),
                frame,
                areas.body,
            ),
            Overlay::Readers(view) => readers::render(view, theme, frame, areas.body),
            Overlay::Salvage(view) => salvage::render(view, theme, frame, areas.body),
        }
    }
}

/// "the filter selects" in words, for the export and the search.
fn filter_words(app: &App) -> String {
    let filter = &app.keys.filter;
    if filter.is_empty() {
        format!("of the whole store ({})", thousands(app.stats.key_count))
    } else {
        let count = app.keys.total.map(|t| format!(", {}", thousands(t))).unwrap_or_default();
        format!("the filter selects ({} \"{}\"{count})", filter.mode.name(), display_key(&filter.pattern))
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
    let (badge, kind) = app.live.badge();
    let badge_style = match kind {
        BadgeKind::Live => Style::new().fg(theme.info).add_modifier(Modifier::BOLD),
        BadgeKind::Paused => Style::new().fg(theme.badge_fg).bg(theme.badge_bg),
        BadgeKind::Error => Style::new().fg(theme.error).add_modifier(Modifier::BOLD),
    };
    spans.push(Span::styled(badge, badge_style));
    if let Some(reason) = app.store.poison_reason() {
        spans.push(Span::styled(format!(" writes refused: {reason} "), Style::new().fg(theme.error)));
    }
    if let Some(job) = &app.export {
        spans.push(Span::styled(
            format!(" exporting: {} pairs… (esc stops) ", thousands(job.count)),
            Style::new().fg(theme.info),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_bar(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.config.theme;
    let line = match (&app.message, app.key_input()) {
        (Some(Message::Error(text)), _) => Line::styled(format!(" {text}"), Style::new().fg(theme.error)),
        (Some(Message::Info(text)), _) => Line::styled(format!(" {text}"), Style::new().fg(theme.info)),
        (None, Some(input)) => Line::styled(
            match input.kind {
                InputKind::Filter => {
                    " the list follows the typing · tab: prefix, contains, glob (* ?) · enter keeps · esc undoes"
                }
                InputKind::Seek => " type a key · enter jumps to the first key at or after it · esc cancels",
            },
            Style::new().fg(theme.dim),
        ),
        (None, None) => {
            let hint = app.config.keys.hint(Action::Command).unwrap_or_default();
            Line::styled(
                format!(" {hint} command bar: PUT, GET, DEL, SCAN, STATS, CHECK, READERS, SALVAGE, HELP …"),
                Style::new().fg(theme.dim),
            )
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// Hints: fixed keys with their labels, and actions (shown with their bound key) with theirs.
type Hints = (&'static [(&'static str, &'static str)], &'static [(Action, &'static str)]);

/// The hint line's actions for what is on top.
fn hint_actions(app: &App) -> Hints {
    match app.top() {
        Some(Overlay::Help { .. }) => (&[], &[(Action::Close, "close"), (Action::Down, "scroll")]),
        Some(Overlay::Editor(_)) => (&[("ctrl-s", "save"), ("esc", "cancel")], &[]),
        Some(Overlay::Command) => {
            (&[("enter", "run"), ("tab", "complete"), ("up/down", "history"), ("esc", "cancel")], &[])
        }
        Some(Overlay::Output) => (
            &[],
            &[
                (Action::Close, "close"),
                (Action::Down, "scroll"),
                (Action::Command, "command"),
                (Action::Quit, "quit"),
            ],
        ),
        Some(Overlay::KeyInput(_)) => {
            (&[("enter", "keep"), ("esc", "cancel"), ("tab", "mode"), ("up/down", "move")], &[])
        }
        Some(Overlay::Confirm(_)) => (&[("y enter", "delete"), ("n esc", "keep")], &[]),
        Some(Overlay::Copy) => (&[("k", "key"), ("v", "value"), ("p", "PUT"), ("esc", "cancel")], &[]),
        Some(Overlay::Recovery) => (&[("esc", "close")], &[(Action::Salvage, "salvage")]),
        Some(Overlay::Check { state: CheckState::Done(report), .. }) if !report.is_ok() => {
            (&[("esc", "close"), ("j/k", "scroll")], &[(Action::Salvage, "salvage")])
        }
        Some(Overlay::Readers(_)) => (&[("j/k", "scroll"), ("esc", "close")], &[]),
        Some(Overlay::Salvage(view)) => match &view.state {
            SalvageState::Prompt { .. } => (&[("enter", "salvage"), ("esc", "cancel")], &[]),
            SalvageState::Running { .. } => (&[("ctrl-c", "quit")], &[]),
            SalvageState::Done { .. } => (&[("j/k", "scroll"), ("esc", "close")], &[]),
        },
        Some(Overlay::Export { .. } | Overlay::ValueSearch(_) | Overlay::KeyInfo | Overlay::Check { .. }) => {
            (&[("esc", "close")], &[])
        }
        None => match app.screen {
            Screen::Browser => (
                &[],
                &[
                    (Action::Quit, "quit"),
                    (Action::Help, "help"),
                    (Action::Filter, "filter"),
                    (Action::CycleView, "view"),
                    (Action::Edit, "edit"),
                    (Action::Add, "add"),
                    (Action::Delete, "delete"),
                    (Action::Pages, "pages"),
                    (Action::FreeList, "free"),
                    (Action::Check, "check"),
                    (Action::Copy, "copy"),
                    (Action::Pager, "pager"),
                    (Action::SearchValues, "search"),
                ],
            ),
            Screen::Pages if app.pages.focus == PageFocus::Detail => (
                &[],
                &[
                    (Action::Close, "map"),
                    (Action::Down, "scroll"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                ],
            ),
            Screen::Pages => (
                &[("arrows", "move"), ("0-9 enter", "go to page")],
                &[
                    (Action::Close, "back"),
                    (Action::Enter, "detail"),
                    (Action::FreeList, "free list"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                ],
            ),
            Screen::FreeList => (
                &[],
                &[
                    (Action::Close, "back"),
                    (Action::Enter, "show page"),
                    (Action::Pages, "page map"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                ],
            ),
        },
    }
}

/// While a statement is typed in the command bar: the keywords a Tab left to choose from, or
/// the syntax and summary of the statement being typed (from the language's help).
fn statement_hint(app: &App) -> Option<Line<'static>> {
    if !matches!(app.top(), Some(Overlay::Command)) {
        return None;
    }
    let theme = &app.config.theme;
    let bar = &app.command;
    if !bar.candidates.is_empty() {
        return Some(Line::from(vec![
            Span::styled(" tab", Style::new().fg(theme.accent)),
            Span::styled(" one of ", Style::new().fg(theme.dim)),
            Span::raw(bar.candidates.join(" ")),
        ]));
    }
    let topic = bar.typed_topic()?;
    let syntax = topic.syntax.lines().collect::<Vec<_>>().join("  ");
    Some(Line::from(vec![
        Span::styled(format!(" {syntax}"), Style::new().fg(theme.accent)),
        Span::styled(format!("  {}", topic.summary), Style::new().fg(theme.dim)),
    ]))
}

/// The hints that fit in the width; when some do not, the line ends with the help key, which
/// lists them all.
fn render_hints(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.config.theme;
    if let Some(line) = statement_hint(app) {
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let keys = &app.config.keys;
    let (fixed, actions) = hint_actions(app);
    let mut items: Vec<(String, &str)> = fixed.iter().map(|(k, l)| ((*k).to_owned(), *l)).collect();
    for (action, label) in actions {
        if let Some(key) = keys.hint(*action) {
            items.push((key, label));
        }
    }
    let width = area.width as usize;
    let help = keys.hint(Action::Help).map(|k| format!("  {k} more"));
    let help_width = help.as_deref().map_or(0, text_width);
    let total: usize = items.iter().map(|(k, l)| text_width(k) + text_width(l) + 3).sum();
    let room = if total + 1 > width { width.saturating_sub(help_width) } else { width };
    let mut spans = Vec::new();
    let mut used = 0;
    let mut cut = false;
    for (key, label) in items {
        let gap = if spans.is_empty() { " " } else { "  " };
        let w = gap.len() + text_width(&key) + 1 + text_width(label);
        if used + w > room {
            cut = true;
            break;
        }
        used += w;
        spans.push(Span::styled(format!("{gap}{key}"), Style::new().fg(theme.accent)));
        spans.push(Span::styled(format!(" {label}"), Style::new().fg(theme.dim)));
    }
    if cut && let Some(help) = help {
        spans.push(Span::styled(help, Style::new().fg(theme.accent)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
