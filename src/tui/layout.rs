//! Where each part of the screen goes, for a terminal of a given size. Shared by the state (which
//! needs the rectangles to know how many keys fit and where a click landed) and the drawing.
//!
//! Small terminals give up the decoration first: the statistics take fewer rows on a narrow
//! screen (their figures wrap), one row on a low one, none on a very low one; below
//! [`MIN_WIDTH`] × [`MIN_HEIGHT`] only a "terminal too small" message is drawn.

use ratatui::layout::{Constraint, Layout, Rect};

/// The smallest terminal the browser draws in.
pub(crate) const MIN_WIDTH: u16 = 40;
/// The smallest terminal the browser draws in.
pub(crate) const MIN_HEIGHT: u16 = 10;

/// How the statistics are shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum StatsStyle {
    /// A bordered pane of this many rows of figures.
    Pane(u16),
    /// One row without a border: the main figures only.
    Line,
    /// Not shown.
    #[default]
    Hidden,
}

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Areas {
    /// The whole screen.
    pub full: Rect,
    /// The screen is below the minimum: only the message is drawn.
    pub too_small: bool,
    pub header: Rect,
    /// Key list and value viewer together; the page and free-list screens use all of it.
    pub body: Rect,
    pub keys: Rect,
    pub value: Rect,
    pub stats: Rect,
    pub stats_style: StatsStyle,
    pub bar: Rect,
    pub hints: Rect,
    /// The command output panel, over the lower part of the body.
    pub output: Rect,
}

/// Rows of figures the statistics need at `width` columns (they wrap between figures).
pub(crate) fn stats_rows(width: u16) -> u16 {
    match width {
        100.. => 2,
        72..=99 => 3,
        _ => 4,
    }
}

pub(crate) fn layout(area: Rect) -> Areas {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return Areas { full: area, too_small: true, ..Areas::default() };
    }
    let stats_style = match area.height {
        24.. => StatsStyle::Pane(stats_rows(area.width)),
        16..=23 => StatsStyle::Line,
        _ => StatsStyle::Hidden,
    };
    let stats_height = match stats_style {
        StatsStyle::Pane(rows) => rows + 2,
        StatsStyle::Line => 1,
        StatsStyle::Hidden => 0,
    };
    let [header, body, stats, bar, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(stats_height),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let [keys, value] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(body);
    let [_, output] = Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(body);
    Areas { full: area, too_small: false, header, body, keys, value, stats, stats_style, bar, hints, output }
}

/// The middle `percent_x` of `area`'s width, at its full height.
fn centered_columns(area: Rect, percent_x: u16) -> Rect {
    let [_, center, _] = Layout::horizontal([
        Constraint::Percentage((100 - percent_x) / 2),
        Constraint::Percentage(percent_x),
        Constraint::Percentage((100 - percent_x) / 2),
    ])
    .areas(area);
    center
}

/// A rectangle `percent_x` of `area` wide and `rows` high (at most `area`'s), centred.
pub(crate) fn centered_rows(area: Rect, percent_x: u16, rows: u16) -> Rect {
    let [_, middle, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(rows.min(area.height)),
        Constraint::Fill(1),
    ])
    .areas(area);
    centered_columns(middle, percent_x)
}

/// A rectangle of `percent_x` × `percent_y` of `area`, centred.
pub(crate) fn centered(area: Rect, percent_x: u16, percent_y: u16) -> Rect {
    let [_, middle, _] = Layout::vertical([
        Constraint::Percentage((100 - percent_y) / 2),
        Constraint::Percentage(percent_y),
        Constraint::Percentage((100 - percent_y) / 2),
    ])
    .areas(area);
    centered_columns(middle, percent_x)
}

/// A row count or width as a `u16`, saturating.
pub(crate) fn to_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_screens_keep_the_key_list() {
        let at = |w, h| layout(Rect::new(0, 0, w, h));
        assert!(at(39, 20).too_small && at(60, 9).too_small);
        assert_eq!(at(100, 30).stats_style, StatsStyle::Pane(2));
        assert_eq!(at(80, 24).stats_style, StatsStyle::Pane(3));
        // 60 × 15: no statistics, the list gets the rest (borders aside).
        let small = at(60, 15);
        assert_eq!(small.stats_style, StatsStyle::Hidden);
        assert_eq!(small.keys.height - 2, 10);
    }
}
