//! The help overlay (`?`), written from the key map in force: a rebound key shows as rebound.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::action::{Action, Group, KeyMap};
use super::config::Theme;
use super::layout::centered;

/// Keys of the text fields (command bar, filter, editor): fixed, as in any text field.
const TEXT_KEYS: [(&str, &str); 10] = [
    ("enter", "run the command / keep the filter / jump"),
    ("esc", "cancel (in the filter: put back the one before)"),
    ("tab", "complete (bar), mode (filter), next field (add)"),
    ("up / down", "command history; in the filter: move in the list"),
    ("ctrl-s", "save in the editor"),
    ("y enter / n esc", "delete dialog: delete / keep"),
    ("k v p", "copy menu: the key, the value, a PUT statement"),
    ("0-9 enter", "in the page map: go to a page number"),
    ("paste", "goes to the open text field; never read as keys"),
    ("ctrl-c ctrl-z", "quit / suspend, also in text fields"),
];

/// The help as lines (also what `docs/TUI.md` shows).
pub(crate) fn lines(keys: &KeyMap, theme: &Theme) -> Vec<Line<'static>> {
    let heading = Style::new().fg(theme.accent).add_modifier(Modifier::BOLD);
    let key_style = Style::new().fg(theme.json_key);
    let mut out = Vec::new();
    for group in Group::ALL {
        out.push(Line::styled(group.title(), heading));
        for action in Action::all().filter(|a| a.group() == group) {
            let bound: Vec<String> = keys.keys_for(action).iter().map(ToString::to_string).collect();
            let bound = if bound.is_empty() { "(unbound)".to_owned() } else { bound.join(" ") };
            out.push(Line::from(vec![
                Span::styled(format!("  {bound:<18}"), key_style),
                Span::raw(action.description()),
            ]));
        }
        out.push(Line::default());
    }
    out.push(Line::styled("In text fields", heading));
    for (key, what) in TEXT_KEYS {
        out.push(Line::from(vec![Span::styled(format!("  {key:<18}"), key_style), Span::raw(what)]));
    }
    out.push(Line::default());
    out.push(Line::styled("Mouse: click selects, the wheel scrolls.", Style::new().fg(theme.dim)));
    out.push(Line::styled("v and E use $PAGER and $VISUAL or $EDITOR;", Style::new().fg(theme.dim)));
    out.push(Line::styled("values that are not text open there as a hex dump.", Style::new().fg(theme.dim)));
    out
}

pub(crate) fn render(keys: &KeyMap, theme: &Theme, scroll: usize, frame: &mut Frame, area: Rect) {
    let popup = centered(area, 70, 90);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.focus))
        .title(Span::styled(" help ", Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)))
        .title_bottom(Line::from(" j/k scroll · esc or ? closes ").right_aligned());
    let all = lines(keys, theme);
    let inner = block.inner(popup);
    let scroll = scroll.min(all.len().saturating_sub(inner.height as usize));
    let visible: Vec<Line<'static>> = all.into_iter().skip(scroll).collect();
    frame.render_widget(Paragraph::new(visible).block(block), popup);
}

/// Lines the help has, for clamping its scroll.
pub(crate) fn line_count(keys: &KeyMap) -> usize {
    lines(keys, &Theme::default()).len()
}
