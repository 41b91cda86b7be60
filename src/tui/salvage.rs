//! `S` (also offered by the recovery report and by a check that found problems): salvage from the
//! browser. The user names the new store, the salvage runs on a thread of its own (it reads every
//! page of the file, which takes a while on a large store, and the screen must go on answering),
//! and its report is shown, as `SALVAGE TO "file"` answers it in the command bar. The store on
//! screen is only read.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::config::Theme;
use super::layout::{centered, to_u16};
use super::text::sanitize;
use crate::command::Output;
use crate::{KVStore, SalvageOptions, SalvageReport};

/// Where the salvage is.
#[derive(Debug)]
pub(crate) enum SalvageState {
    /// The new store's name being typed; `error` says why the last one was refused.
    Prompt { path: String, error: Option<String> },
    /// Running on its thread since `started`; `elapsed` as of the last tick (what is shown).
    Running {
        dst: PathBuf,
        started: Instant,
        elapsed: Duration,
        done: mpsc::Receiver<Result<SalvageReport, String>>,
    },
    /// Finished: the report in lines (or why it failed), and how long it took.
    Done { lines: Vec<String>, failed: bool, took: Duration },
}

/// The overlay's state.
#[derive(Debug)]
pub(crate) struct SalvageView {
    pub state: SalvageState,
    pub scroll: usize,
}

impl SalvageView {
    /// The prompt, with a name beside the store's file proposed (`shop.db` → `shop-salvaged.db`,
    /// or `-salvaged-2` and so on when that exists).
    pub(crate) fn prompt(store: &KVStore) -> SalvageView {
        SalvageView {
            state: SalvageState::Prompt { path: proposed_name(store.path()), error: None },
            scroll: 0,
        }
    }

    /// The salvage into `path`, started at once (`SALVAGE TO` in the command bar); a name that
    /// is refused leaves the prompt open saying why.
    pub(crate) fn run_into(store: &KVStore, path: String, now: Instant) -> SalvageView {
        let mut view = SalvageView { state: SalvageState::Prompt { path, error: None }, scroll: 0 };
        view.start(store, now);
        view
    }

    /// Whether the name is being typed.
    pub(crate) fn typing(&self) -> bool {
        matches!(self.state, SalvageState::Prompt { .. })
    }

    pub(crate) fn running(&self) -> bool {
        matches!(self.state, SalvageState::Running { .. })
    }

    /// Starts the salvage of `store` into the typed name, unless the name is empty or taken
    /// (then the prompt stays, saying why).
    pub(crate) fn start(&mut self, store: &KVStore, now: Instant) {
        let SalvageState::Prompt { path, error } = &mut self.state else { return };
        let typed = path.trim();
        if typed.is_empty() {
            *error = Some("type the new store's file name".to_owned());
            return;
        }
        let dst = PathBuf::from(typed);
        // The store itself exists too: it cannot be named.
        if dst.symlink_metadata().is_ok() || crate::log_path(&dst).symlink_metadata().is_ok() {
            *error = Some(format!("{typed} exists; salvage writes only a new store"));
            return;
        }
        // What this handle acknowledged but only buffered goes to the log first, where salvage
        // reads it (as `SALVAGE TO` does); a handle that cannot flush is salvaged as its files stand.
        if !store.is_read_only() {
            let _ = store.flush();
        }
        let src = store.path().to_owned();
        let (send, done) = mpsc::channel();
        let to = dst.clone();
        let spawned = std::thread::Builder::new().name("salvage".to_owned()).spawn(move || {
            let result = crate::salvage(&src, &to, &SalvageOptions::new()).map_err(|e| e.to_string());
            let _ = send.send(result);
        });
        match spawned {
            Ok(_) => {
                self.state = SalvageState::Running { dst, started: now, elapsed: Duration::ZERO, done };
            }
            Err(e) => *error = Some(format!("cannot start the salvage: {e}")),
        }
    }

    /// Takes the salvage's result when it finished; `true` when the overlay changed (it shows
    /// the time taken while running, so always while running).
    pub(crate) fn poll(&mut self, now: Instant) -> bool {
        let SalvageState::Running { dst, started, elapsed, done } = &mut self.state else { return false };
        let result = match done.try_recv() {
            Ok(result) => result,
            Err(mpsc::TryRecvError::Empty) => {
                *elapsed = now.saturating_duration_since(*started);
                return true;
            }
            Err(mpsc::TryRecvError::Disconnected) => {
                Err("the salvage thread stopped without a report".to_owned())
            }
        };
        let took = now.saturating_duration_since(*started);
        self.state = match result {
            Ok(report) => {
                let text = Output::Salvaged { path: dst.clone(), report }.to_string();
                SalvageState::Done { lines: text.lines().map(sanitize).collect(), failed: false, took }
            }
            Err(e) => SalvageState::Done {
                lines: vec![format!("Nothing was salvaged into {}: {e}", dst.display())],
                failed: true,
                took,
            },
        };
        self.scroll = 0;
        true
    }

    /// Lines of the report, for clamping its scroll.
    pub(crate) fn line_count(&self) -> usize {
        match &self.state {
            SalvageState::Done { lines, .. } => lines.len(),
            _ => 0,
        }
    }
}

/// `<stem>-salvaged.db` beside `path`, the first of `-salvaged`, `-salvaged-2`, ... that does not
/// exist.
pub(crate) fn proposed_name(path: &Path) -> String {
    let stem = path.file_stem().map_or_else(|| "store".to_owned(), |s| s.to_string_lossy().into_owned());
    let dir = path.parent().unwrap_or(Path::new(""));
    for n in 1..1000 {
        let name = if n == 1 { format!("{stem}-salvaged.db") } else { format!("{stem}-salvaged-{n}.db") };
        let candidate = dir.join(name);
        if candidate.symlink_metadata().is_err() {
            return candidate.display().to_string();
        }
    }
    dir.join(format!("{stem}-salvaged.db")).display().to_string()
}

pub(crate) fn render(view: &SalvageView, theme: &Theme, frame: &mut Frame, area: Rect) {
    let title = Span::styled(
        " salvage into a new store ",
        Style::new().fg(theme.accent).add_modifier(Modifier::BOLD),
    );
    let block = |hint: &'static str| {
        Block::default()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(theme.focus))
            .title(title.clone())
            .title_bottom(Line::from(hint).right_aligned())
    };
    let dim = Style::new().fg(theme.dim);
    match &view.state {
        SalvageState::Prompt { path, error } => {
            let popup = super::layout::centered_rows(area, 80, 9);
            frame.render_widget(Clear, popup);
            let mut lines = vec![
                Line::styled(
                    "Reads every page of this file, trusting none, and copies every key it still holds into a \
                     new store; this one is only read (as SALVAGE TO in the command bar).",
                    dim,
                ),
                Line::default(),
                Line::from(vec![
                    Span::styled("new store ", dim),
                    Span::raw(sanitize(path)),
                    Span::styled("█", Style::new().fg(theme.accent)),
                ]),
            ];
            if let Some(e) = error {
                lines.push(Line::default());
                lines.push(Line::styled(e.clone(), Style::new().fg(theme.error)));
            }
            frame.render_widget(
                Paragraph::new(lines)
                    .block(block(" enter salvages · esc cancels "))
                    .wrap(Wrap { trim: false }),
                popup,
            );
        }
        SalvageState::Running { dst, elapsed, .. } => {
            let popup = super::layout::centered_rows(area, 80, 6);
            frame.render_widget(Clear, popup);
            let seconds = elapsed.as_secs();
            let lines = vec![
                Line::styled(
                    format!("Salvaging into {}… ({seconds} s)", sanitize(&dst.display().to_string())),
                    Style::new().fg(theme.info).add_modifier(Modifier::BOLD),
                ),
                Line::default(),
                Line::styled("Every page is read; the report follows when it is done.", dim),
            ];
            frame.render_widget(
                Paragraph::new(lines).block(block(" running · ctrl-c quits ")).wrap(Wrap { trim: false }),
                popup,
            );
        }
        SalvageState::Done { lines, failed, took } => {
            let popup = centered(area, 80, 80);
            frame.render_widget(Clear, popup);
            let colour = if *failed { theme.error } else { theme.info };
            let mut shown = vec![Line::styled(
                if *failed {
                    "The salvage failed.".to_owned()
                } else {
                    format!("Done in {:.1} s.", took.as_secs_f64())
                },
                Style::new().fg(colour).add_modifier(Modifier::BOLD),
            )];
            shown.extend(lines.iter().map(|l| Line::raw(l.clone())));
            let inner_height = usize::from(block("").inner(popup).height);
            let scroll = view.scroll.min(shown.len().saturating_sub(inner_height));
            frame.render_widget(
                Paragraph::new(shown)
                    .block(block(" j/k scroll · esc closes "))
                    .wrap(Wrap { trim: false })
                    .scroll((to_u16(scroll), 0)),
                popup,
            );
        }
    }
}
