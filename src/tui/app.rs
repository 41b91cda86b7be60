//! The browser's state and the one place it changes: terminal events become [`Action`]s through
//! the key map (text fields take their keys directly), and they go to the overlay on top of the
//! stack (see `overlay.rs`), or to the screen when there is none. Work that takes long (counting
//! a filter's matches, searching values, exporting) advances a slice per [`App::tick`]; what needs
//! the real terminal (the check's progress, another program, suspending, the clipboard) is asked
//! of the event loop in `mod.rs`. Drawing is elsewhere (`ui.rs`) and only reads this state.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::action::Action;
use super::command_bar::{BarKey, CommandBar};
use super::config::Config;
use super::dialogs::{CheckState, ConfirmDelete, Progress};
use super::editor::{EDIT_MAX_BYTES, Editor, EditorKind, EditorOutcome, is_plain_text};
use super::external::{COPY_MAX_BYTES, ExportJob, External, Programs, TempFile, osc52};
use super::free_list::FreeList;
use super::hexdump;
use super::key_list::{Input, InputKind, KeyList};
use super::layout::{Areas, layout};
use super::live::{Live, Poll};
use super::overlay::Overlay;
use super::page_view::{PageFocus, PageView};
use super::readers::ReadersView;
use super::salvage::SalvageView;
use super::search::SearchView;
use super::search::{CountJob, Filter, ValueSearch};
use super::text::{escape_key, human_bytes, thousands};
use super::value_view::ValueView;
use crate::command::{hex_literal, quote};
use crate::{CheckReport, KVStore, Snapshot, Stats};

/// Rows one wheel step scrolls.
const WHEEL_ROWS: usize = 3;

/// The pane of the browser screen that takes movement keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Focus {
    Keys,
    Value,
}

/// What fills the body of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Screen {
    Browser,
    Pages,
    FreeList,
}

/// The status line's message, until the next key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    Info(String),
    Error(String),
}

pub(crate) struct App {
    pub store: KVStore,
    /// The file name shown in the header.
    pub name: String,
    pub config: Config,
    pub keys: KeyList,
    pub value: ValueView,
    pub stats: Stats,
    pub focus: Focus,
    pub screen: Screen,
    pub pages: PageView,
    pub free: FreeList,
    pub command: CommandBar,
    /// The overlays, bottom first.
    pub overlays: Vec<Overlay>,
    /// Counting the filter's matches (and where the selection is among them).
    pub count: Option<CountJob>,
    /// An export running.
    pub export: Option<ExportJob>,
    /// `c` was pressed: the loop runs the check (it draws progress while it runs).
    check_requested: bool,
    /// A program to run with the terminal (`v`, `E`).
    pub external: Option<External>,
    /// Ctrl-Z: the loop gives the terminal back and stops the process.
    pub suspend: bool,
    /// Bytes for the terminal itself, written after the next draw (the OSC 52 clipboard copy).
    pub terminal_output: Vec<u8>,
    pub programs: Programs,
    pub message: Option<Message>,
    pub areas: Areas,
    pub quit: bool,
    /// Following the store's commits (see `live.rs`).
    pub live: Live,
}

impl App {
    /// A browser over `store`; call [`App::resize`] before drawing.
    pub(crate) fn new(store: KVStore, name: String, config: Config, history: Option<PathBuf>) -> App {
        let mut app = App {
            stats: store.stats(),
            live: Live::new(&store, config.cache_bytes),
            store,
            name,
            config,
            keys: KeyList::default(),
            value: ValueView::default(),
            focus: Focus::Keys,
            screen: Screen::Browser,
            pages: PageView::default(),
            free: FreeList::default(),
            command: CommandBar::new(history),
            overlays: Vec::new(),
            count: None,
            export: None,
            check_requested: false,
            external: None,
            suspend: false,
            terminal_output: Vec::new(),
            programs: Programs::from_env(),
            message: None,
            areas: Areas::default(),
            quit: false,
        };
        let result = app.keys.reload_at(&app.store, None);
        app.report(result);
        app.sync_value(true);
        if !app.store.recovery_report().is_quiet() {
            app.overlays.push(Overlay::Recovery);
        }
        app
    }

    // ------------------------------------------------------------------ helpers

    fn report<T>(&mut self, result: crate::Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.message = Some(Message::Error(e.to_string()));
                None
            }
        }
    }

    fn info(&mut self, text: impl Into<String>) {
        self.message = Some(Message::Info(text.into()));
    }

    fn error(&mut self, text: impl Into<String>) {
        self.message = Some(Message::Error(text.into()));
    }

    /// The overlay on top, if any.
    pub(crate) fn top(&self) -> Option<&Overlay> {
        self.overlays.last()
    }

    /// The filter or jump being typed, if one is open.
    pub(crate) fn key_input(&self) -> Option<&Input> {
        self.overlays.iter().rev().find_map(|o| match o {
            Overlay::KeyInput(input) => Some(input),
            _ => None,
        })
    }

    pub(crate) fn output_open(&self) -> bool {
        self.overlays.iter().any(|o| matches!(o, Overlay::Output))
    }

    /// Shows the selected key's value, reading it when the selection changed (or `force`).
    fn sync_value(&mut self, force: bool) {
        let selected = self.keys.selected_row().map(|r| r.key.clone());
        if force || selected != self.value.key {
            let result = self.value.load(&self.store, selected.as_deref(), &self.config.theme);
            if self.report(result).is_none() {
                self.value.clear(&self.config.theme);
            }
        }
        self.want_count();
    }

    /// Starts counting when the list does not know its position or total.
    fn want_count(&mut self) {
        let known = self.keys.position.is_some() && self.keys.total.is_some();
        if known || self.keys.rows.is_empty() {
            if self.keys.rows.is_empty() && self.keys.total.is_none() {
                self.keys.total = Some(0);
            }
            return;
        }
        let anchor = self.keys.selected_row().map(|r| r.key.clone());
        let same =
            self.count.as_ref().is_some_and(|job| job.filter == self.keys.filter && job.anchor == anchor);
        if !same {
            let need_total = self.keys.total.is_none();
            self.count = Some(CountJob::new(self.keys.filter.clone(), anchor, need_total));
        }
    }

    /// After a write: the window, the value and the statistics read again.
    fn after_write(&mut self, anchor: Option<Vec<u8>>) {
        let result = match anchor {
            Some(anchor) => self.keys.reload_at(&self.store, Some(anchor)),
            None => self.keys.reload(&self.store),
        };
        self.report(result);
        self.count = None;
        self.sync_value(true);
        self.stats = self.store.stats();
    }

    fn refuse_if_read_only(&mut self, what: &str) -> bool {
        if self.store.is_read_only() {
            self.error(format!("read-only: {what} refused (the store is open read-only)"));
            true
        } else {
            false
        }
    }

    // ------------------------------------------------------------------ events

    /// Handles one terminal event; `true` when the screen must be drawn again.
    pub(crate) fn handle_event(&mut self, event: Event) -> bool {
        let changed = self.dispatch(event);
        if changed {
            // O(1) counters: cheap enough to read after every event (cache hits change as you browse).
            self.stats = self.store.stats();
        }
        changed
    }

    fn dispatch(&mut self, event: Event) -> bool {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                self.handle_key(key);
                true
            }
            Event::Paste(text) => {
                self.paste(&text);
                true
            }
            Event::Mouse(mouse) if self.config.mouse => self.handle_mouse(mouse),
            Event::Resize(width, height) => {
                self.resize(width, height);
                true
            }
            _ => false,
        }
    }

    /// Lays the screen out for a terminal of `width` × `height`, reading what the new size shows.
    pub(crate) fn resize(&mut self, width: u16, height: u16) {
        self.areas = layout(Rect::new(0, 0, width, height));
        let list_rows = self.areas.keys.height.saturating_sub(2) as usize;
        let result = self.keys.set_height(&self.store, list_rows.max(1));
        self.report(result);
        self.sync_value(false);
        let value = self.areas.value;
        self.value.set_size(
            value.width.saturating_sub(2) as usize,
            value.height.saturating_sub(2) as usize,
            &self.config.theme,
        );
        self.command.output_height = self.areas.output.height.saturating_sub(2) as usize;
        self.pages.geometry(self.areas.body);
        if self.screen == Screen::Pages {
            self.pages.cells.clear();
            self.pages.refresh(&self.store);
        }
        self.free.geometry(self.areas.body);
        self.stats = self.store.stats();
    }

    /// Pasted text goes to the text field on top, newlines and all; with none open it is not
    /// read as keys (a pasted `d` and newline must not delete anything).
    fn paste(&mut self, text: &str) {
        self.message = None;
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let one_line = || text.lines().collect::<Vec<_>>().join(" ");
        match self.overlays.last_mut() {
            Some(Overlay::Command) => self.command.paste(&text),
            Some(Overlay::Editor(editor)) => editor.paste(&text),
            Some(Overlay::KeyInput(input)) => {
                input.text.push_str(&one_line());
                if input.kind == InputKind::Filter {
                    self.follow_filter_input();
                }
            }
            Some(Overlay::Export { path }) => path.push_str(&one_line()),
            Some(Overlay::ValueSearch(view)) if view.job.is_none() => view.text.push_str(&one_line()),
            Some(Overlay::Salvage(view)) => {
                if let super::salvage::SalvageState::Prompt { path, .. } = &mut view.state {
                    path.push_str(&one_line());
                }
            }
            _ => self.error(format!(
                "paste of {} ignored: open the command bar (:), the editor (e, a) or the filter (/) first",
                human_bytes(text.len() as u64)
            )),
        }
    }

    pub(crate) fn handle_key(&mut self, key: KeyEvent) {
        self.message = None;
        let action = self.config.keys.action(&key);
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        // Control keys act anywhere, text fields included; letters are text there.
        if ctrl && action == Some(Action::Quit) {
            self.quit = true;
            return;
        }
        if ctrl && action == Some(Action::Suspend) {
            self.suspend = true;
            return;
        }
        let Some(overlay) = self.overlays.pop() else {
            // Typing a page number in the page map.
            if self.screen == Screen::Pages
                && self.pages.focus == PageFocus::Map
                && key.modifiers.difference(KeyModifiers::SHIFT).is_empty()
            {
                match key.code {
                    KeyCode::Char(c) if c.is_ascii_digit() => {
                        self.pages.type_digit(c);
                        return;
                    }
                    KeyCode::Backspace if !self.pages.goto.is_empty() => {
                        self.pages.goto.pop();
                        return;
                    }
                    _ => {}
                }
            }
            if let Some(action) = action {
                self.apply(action);
            }
            return;
        };
        // Any key closes the key info and the recovery report, q too.
        // A salvage running is not left half done by a q (ctrl-c still quits).
        let salvaging = matches!(&overlay, Overlay::Salvage(view) if view.running());
        if !overlay.takes_text()
            && !matches!(overlay, Overlay::KeyInfo | Overlay::Recovery)
            && !salvaging
            && action == Some(Action::Quit)
        {
            self.quit = true;
            self.overlays.push(overlay);
            return;
        }
        match overlay {
            Overlay::Help { scroll } => {
                if matches!(action, Some(Action::Close | Action::Help)) {
                    return;
                }
                let scroll = scrolled(action, scroll, super::help::line_count(&self.config.keys));
                self.overlays.push(Overlay::Help { scroll });
            }
            Overlay::Check { state, mut scroll } => {
                if !matches!(state, CheckState::Running(_)) {
                    match action {
                        Some(Action::Salvage) => {
                            self.open_salvage();
                            return;
                        }
                        Some(Action::Close | Action::Check | Action::Enter) => return,
                        Some(Action::Up) => scroll = scroll.saturating_sub(1),
                        Some(Action::Down) => scroll += 1,
                        Some(Action::Top) => scroll = 0,
                        _ => {}
                    }
                }
                self.overlays.push(Overlay::Check { state, scroll });
            }
            Overlay::Confirm(confirm) => match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => self.delete_confirmed(confirm),
                KeyCode::Char('n' | 'N') | KeyCode::Esc => self.info("kept"),
                _ => self.overlays.push(Overlay::Confirm(confirm)),
            },
            Overlay::Editor(mut editor) => match editor.key(key) {
                EditorOutcome::Continue => self.overlays.push(Overlay::Editor(editor)),
                EditorOutcome::Cancel => self.info("edit cancelled; nothing written"),
                EditorOutcome::Save { key, value } => self.save(editor, key, value),
            },
            Overlay::Command => match self.command.key(key) {
                BarKey::Typing => self.overlays.push(Overlay::Command),
                BarKey::Close => {}
                BarKey::Run(text) => self.run_command(&text),
            },
            Overlay::Output => self.output_key(action),
            Overlay::KeyInput(input) => self.key_input_key(input, key),
            Overlay::KeyInfo => {}
            // Any key closes the report; the salvage key goes on to the salvage it offers.
            Overlay::Recovery => {
                if action == Some(Action::Salvage) {
                    self.open_salvage();
                }
            }
            Overlay::Readers(mut view) => {
                if matches!(action, Some(Action::Close | Action::Readers | Action::Enter)) {
                    return;
                }
                view.scroll = scrolled(action, view.scroll, super::readers::line_count(&view));
                self.overlays.push(Overlay::Readers(view));
            }
            Overlay::Salvage(view) => self.salvage_key(view, key, action),
            Overlay::Copy => match key.code {
                KeyCode::Char('k') => self.copy_key(),
                KeyCode::Char('v') => self.copy_value(),
                KeyCode::Char('p') => self.copy_put(),
                KeyCode::Esc => {}
                _ => self.overlays.push(Overlay::Copy),
            },
            Overlay::Export { mut path } => match key.code {
                KeyCode::Enter => self.start_export(path),
                KeyCode::Esc => self.info("export cancelled"),
                KeyCode::Backspace => {
                    path.pop();
                    self.overlays.push(Overlay::Export { path });
                }
                KeyCode::Char(c) if !ctrl => {
                    path.push(c);
                    self.overlays.push(Overlay::Export { path });
                }
                _ => self.overlays.push(Overlay::Export { path }),
            },
            Overlay::ValueSearch(view) => self.value_search_key(view, key, action),
        }
    }

    fn salvage_key(&mut self, mut view: Box<SalvageView>, key: KeyEvent, action: Option<Action>) {
        use super::salvage::SalvageState;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match &mut view.state {
            SalvageState::Prompt { path, error } => match key.code {
                KeyCode::Enter => view.start(&self.store, Instant::now()),
                KeyCode::Esc => {
                    self.info("salvage cancelled");
                    return;
                }
                KeyCode::Backspace => {
                    path.pop();
                    *error = None;
                }
                KeyCode::Char(c) if !ctrl => {
                    path.push(c);
                    *error = None;
                }
                _ => {}
            },
            SalvageState::Running { .. } => {
                self.info("the salvage is running; its report follows (ctrl-c quits and leaves the new file partial)");
            }
            SalvageState::Done { .. } => {
                if matches!(action, Some(Action::Close | Action::Enter)) {
                    return;
                }
                view.scroll = scrolled(action, view.scroll, view.line_count());
            }
        }
        self.overlays.push(Overlay::Salvage(view));
    }

    /// The salvage's prompt, over whatever is open.
    fn open_salvage(&mut self) {
        self.overlays.push(Overlay::Salvage(Box::new(SalvageView::prompt(&self.store))));
    }

    fn output_key(&mut self, action: Option<Action>) {
        let rows = isize::try_from(self.command.output_height.max(1)).unwrap_or(1);
        match action {
            Some(Action::Close | Action::Enter) => return,
            Some(Action::Up) => self.command.scroll_by(-1),
            Some(Action::Down) => self.command.scroll_by(1),
            Some(Action::PageUp) => self.command.scroll_by(-rows),
            Some(Action::PageDown) => self.command.scroll_by(rows),
            Some(Action::Top) => self.command.output_scroll = 0,
            Some(Action::Bottom) => self.command.scroll_to_end(),
            Some(Action::Command) => {
                self.overlays.push(Overlay::Output);
                self.command.open();
                self.overlays.push(Overlay::Command);
                return;
            }
            Some(Action::Help) => {
                self.overlays.push(Overlay::Output);
                self.overlays.push(Overlay::Help { scroll: 0 });
                return;
            }
            // The panel covers the keys: an action on "the selected key" would act on a key
            // the user cannot see.
            Some(_) => self.info("esc closes the output first"),
            None => {}
        }
        self.overlays.push(Overlay::Output);
    }

    fn key_input_key(&mut self, mut input: Input, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let filter = input.kind == InputKind::Filter;
        match key.code {
            KeyCode::Enter => {
                if !filter {
                    let result = self.keys.seek(&self.store, input.text.into_bytes());
                    self.report(result);
                    self.sync_value(false);
                }
                return;
            }
            KeyCode::Esc => {
                if filter && self.keys.filter != input.before {
                    self.set_filter(input.before);
                }
                return;
            }
            KeyCode::Backspace => {
                input.text.pop();
            }
            KeyCode::Tab if filter => input.mode = input.mode.next(),
            KeyCode::Up | KeyCode::Down => {
                let result = if key.code == KeyCode::Up {
                    self.keys.up(&self.store, 1)
                } else {
                    self.keys.down(&self.store, 1)
                };
                self.report(result);
                self.sync_value(false);
                self.overlays.push(Overlay::KeyInput(input));
                return;
            }
            // A key is at most 64 KiB: longer typing cannot name one.
            KeyCode::Char(c) if !ctrl && input.text.len() < 65_536 => input.text.push(c),
            _ => {
                self.overlays.push(Overlay::KeyInput(input));
                return;
            }
        }
        self.overlays.push(Overlay::KeyInput(input));
        if filter {
            self.follow_filter_input();
        }
    }

    /// The list follows the filter being typed.
    fn follow_filter_input(&mut self) {
        let Some(Overlay::KeyInput(input)) = self.overlays.last() else { return };
        let filter = Filter { mode: input.mode, pattern: input.text.clone().into_bytes() };
        if filter != self.keys.filter {
            self.set_filter(filter);
        }
    }

    fn value_search_key(&mut self, mut view: SearchView, key: KeyEvent, action: Option<Action>) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if view.job.is_none() {
            match key.code {
                KeyCode::Enter if !view.text.is_empty() => {
                    view.job =
                        Some(ValueSearch::new(view.text.clone().into_bytes(), self.keys.filter.clone()));
                }
                KeyCode::Esc => return,
                KeyCode::Backspace => {
                    view.text.pop();
                }
                KeyCode::Char(c) if !ctrl => view.text.push(c),
                _ => {}
            }
            self.overlays.push(Overlay::ValueSearch(view));
            return;
        }
        let running = view.job.as_ref().is_some_and(|job| !job.done);
        let matches = view.job.as_ref().map_or(0, |job| job.matches.len());
        match (key.code, action) {
            (KeyCode::Esc, _) if running => {
                if let Some(job) = &mut view.job {
                    job.done = true;
                }
                view.stopped = true;
            }
            (KeyCode::Esc, _) => return,
            (KeyCode::Enter, _) => {
                if let Some(found) = view.job.as_ref().and_then(|job| job.matches.get(view.selected)).cloned()
                {
                    let result = self.keys.seek(&self.store, found);
                    self.report(result);
                    self.focus = Focus::Keys;
                    self.sync_value(false);
                    return;
                }
            }
            (_, Some(Action::Up)) => view.selected = view.selected.saturating_sub(1),
            (_, Some(Action::Down)) => view.selected = (view.selected + 1).min(matches.saturating_sub(1)),
            (_, Some(Action::Top)) => view.selected = 0,
            (_, Some(Action::Bottom)) => view.selected = matches.saturating_sub(1),
            _ => {}
        }
        self.overlays.push(Overlay::ValueSearch(view));
    }

    /// Carries out `action` with no overlay open.
    pub(crate) fn apply(&mut self, action: Action) {
        match action {
            Action::Quit => {
                self.quit = true;
                return;
            }
            Action::Help => {
                self.overlays.push(Overlay::Help { scroll: 0 });
                return;
            }
            Action::Command => {
                self.command.open();
                self.overlays.push(Overlay::Command);
                return;
            }
            Action::Recovery => {
                if self.store.recovery_report().is_quiet() {
                    self.info("the open found nothing to report in the log");
                } else {
                    self.overlays.push(Overlay::Recovery);
                }
                return;
            }
            Action::Readers => {
                self.overlays.push(Overlay::Readers(ReadersView::read(&self.store, Instant::now())));
                return;
            }
            Action::Salvage => {
                self.open_salvage();
                return;
            }
            Action::Check => {
                self.overlays.push(Overlay::Check {
                    state: CheckState::Running(Arc::new(Progress::default())),
                    scroll: 0,
                });
                self.check_requested = true;
                return;
            }
            Action::Suspend => {
                self.suspend = true;
                return;
            }
            Action::Follow => {
                let text = self.live.toggle();
                self.info(text);
                return;
            }
            Action::Close if self.export.is_some() => {
                if let Some(job) = &mut self.export {
                    job.cancel();
                }
                self.export = None;
                self.info("export stopped; the partial file was removed");
                return;
            }
            _ => {}
        }
        match self.screen {
            Screen::Browser => self.apply_browser(action),
            Screen::Pages => self.apply_pages(action),
            Screen::FreeList => self.apply_free_list(action),
        }
    }

    fn apply_browser(&mut self, action: Action) {
        let store = &self.store;
        let moved = match (self.focus, action) {
            (Focus::Keys, Action::Up) => Some(self.keys.up(store, 1)),
            (Focus::Keys, Action::Down) => Some(self.keys.down(store, 1)),
            (Focus::Keys, Action::PageUp) => Some(self.keys.page_up(store)),
            (Focus::Keys, Action::PageDown) => Some(self.keys.page_down(store)),
            (Focus::Keys, Action::Top) => Some(self.keys.top(store)),
            (Focus::Keys, Action::Bottom) => Some(self.keys.bottom(store)),
            _ => None,
        };
        if let Some(result) = moved {
            self.report(result);
            self.sync_value(false);
            return;
        }
        let page = isize::try_from(self.value.height.max(1)).unwrap_or(1);
        match action {
            Action::Up => self.value.scroll_by(-1),
            Action::Down => self.value.scroll_by(1),
            Action::PageUp => self.value.scroll_by(-page),
            Action::PageDown => self.value.scroll_by(page),
            Action::Top => self.value.scroll = 0,
            Action::Bottom => self.value.scroll_to_end(),
            Action::FocusNext | Action::FocusPrev => {
                self.focus = if self.focus == Focus::Keys { Focus::Value } else { Focus::Keys };
            }
            Action::Enter | Action::Right => self.focus = Focus::Value,
            Action::Left => self.focus = Focus::Keys,
            Action::Close => {
                if self.focus == Focus::Value {
                    self.focus = Focus::Keys;
                } else if !self.keys.filter.is_empty() {
                    self.set_filter(Filter::default());
                }
            }
            Action::Filter => {
                let before = self.keys.filter.clone();
                let text = String::from_utf8_lossy(&before.pattern).into_owned();
                self.overlays.push(Overlay::KeyInput(Input {
                    kind: InputKind::Filter,
                    text,
                    mode: before.mode,
                    before,
                }));
            }
            Action::Seek => self.overlays.push(Overlay::KeyInput(Input {
                kind: InputKind::Seek,
                text: String::new(),
                mode: self.keys.filter.mode,
                before: self.keys.filter.clone(),
            })),
            Action::SearchValues => self.overlays.push(Overlay::ValueSearch(SearchView::default())),
            Action::KeyInfo => {
                if self.keys.selected_row().is_some() {
                    self.overlays.push(Overlay::KeyInfo);
                } else {
                    self.error("no key selected");
                }
            }
            Action::CycleView => self.value.cycle_mode(&self.store, &self.config.theme),
            Action::ValueNext | Action::ValuePrev => {
                let forward = action == Action::ValueNext;
                let result = self.value.move_window(&self.store, forward, &self.config.theme);
                match self.report(result) {
                    Some(false) if self.value.total_len <= super::value_view::PREVIEW_BYTES as u64 => {
                        self.info("the value is shown whole");
                    }
                    Some(false) => self.info(if forward {
                        "at the end of the value"
                    } else {
                        "at the start of the value"
                    }),
                    _ => {}
                }
            }
            Action::Pager => self.start_pager(),
            Action::Edit => self.start_edit(),
            Action::ExternalEdit => self.start_external_edit(),
            Action::Add => self.start_add(),
            Action::Delete => self.start_delete(),
            Action::Copy => {
                if self.keys.selected_row().is_some() {
                    self.overlays.push(Overlay::Copy);
                } else {
                    self.error("no key selected");
                }
            }
            Action::Export => {
                if self.export.is_some() {
                    self.error("an export is running (esc stops it)");
                } else {
                    self.overlays.push(Overlay::Export { path: "export.jsonl".to_owned() });
                }
            }
            Action::Reload => self.reload(),
            Action::Pages => self.open_pages(None),
            Action::FreeList => self.open_free_list(),
            _ => {}
        }
    }

    fn apply_pages(&mut self, action: Action) {
        let store = &self.store;
        if self.pages.focus == PageFocus::Detail {
            let rows = isize::try_from(self.pages.detail_height.max(1)).unwrap_or(1);
            match action {
                Action::Up => self.pages.scroll_detail(-1),
                Action::Down => self.pages.scroll_detail(1),
                Action::PageUp => self.pages.scroll_detail(-rows),
                Action::PageDown => self.pages.scroll_detail(rows),
                Action::Top => self.pages.detail_scroll = 0,
                Action::Bottom => self.pages.scroll_detail(isize::MAX / 2),
                Action::Close | Action::Left | Action::FocusNext | Action::FocusPrev => {
                    self.pages.focus = PageFocus::Map;
                }
                Action::Pages => self.screen = Screen::Browser,
                Action::FreeList => self.open_free_list(),
                Action::Reload => self.open_pages(None),
                _ => {}
            }
            return;
        }
        let columns = i64::try_from(self.pages.columns.max(1)).unwrap_or(1);
        match action {
            Action::Left => self.pages.move_by(store, -1),
            Action::Right => self.pages.move_by(store, 1),
            Action::Up => self.pages.move_by(store, -columns),
            Action::Down => self.pages.move_by(store, columns),
            Action::PageUp => self.pages.move_by(store, -self.pages.page_rows()),
            Action::PageDown => self.pages.move_by(store, self.pages.page_rows()),
            Action::Top => self.pages.select(store, 0),
            Action::Bottom => self.pages.select(store, u64::MAX),
            // Enter goes to a typed page number, or else into the detail.
            Action::Enter => {
                let went = self.pages.goto_typed(store);
                self.pages.focus = if went { PageFocus::Map } else { PageFocus::Detail };
            }
            Action::FocusNext | Action::FocusPrev => self.pages.focus = PageFocus::Detail,
            Action::Close => {
                if self.pages.goto.is_empty() {
                    self.screen = Screen::Browser;
                } else {
                    self.pages.goto.clear();
                }
            }
            Action::Pages => self.screen = Screen::Browser,
            Action::FreeList => self.open_free_list(),
            Action::Reload => self.open_pages(None),
            _ => {}
        }
    }

    fn apply_free_list(&mut self, action: Action) {
        let columns = isize::try_from(self.free.columns.max(1)).unwrap_or(1);
        let page = isize::try_from(self.free.rows.max(1)).unwrap_or(1) * columns;
        match action {
            Action::Left => self.free.move_by(-1),
            Action::Right => self.free.move_by(1),
            Action::Up => self.free.move_by(-columns),
            Action::Down => self.free.move_by(columns),
            Action::PageUp => self.free.move_by(-page),
            Action::PageDown => self.free.move_by(page),
            Action::Top => self.free.move_by(isize::MIN / 2),
            Action::Bottom => self.free.move_by(isize::MAX / 2),
            Action::Enter => {
                if let Some(page) = self.free.selected_page() {
                    self.open_pages(Some(page));
                }
            }
            Action::Close | Action::FreeList => self.screen = Screen::Browser,
            Action::Pages => self.open_pages(None),
            Action::Reload => self.open_free_list(),
            _ => {}
        }
    }

    // ------------------------------------------------------------------ what actions do

    fn open_pages(&mut self, select: Option<u64>) {
        self.screen = Screen::Pages;
        self.pages.open(&self.store, self.areas.body, select);
    }

    fn open_free_list(&mut self) {
        self.screen = Screen::FreeList;
        self.free.open(&self.store, self.areas.body);
    }

    fn reload(&mut self) {
        // A read-only browser moves to the newest commit on disk (another process may be
        // writing), as live follow does, paused or not; a writable one always sees its own.
        let now = Instant::now();
        match self.live.reload_by_hand(&self.store, now) {
            Some(shown) => {
                self.show_new_state(&shown, now);
                self.info("reloaded");
            }
            None => {
                self.info("reloading…");
                // Most refreshes take a moment: shown at once; a long one comes with a tick.
                self.take_poll(now, SystemTime::now());
            }
        }
    }

    /// The store moved on from `shown`, the state on screen: the list is read again around the
    /// selected key, the keys on screen that were added or changed are marked, the value is
    /// read again if it changed (where it was scrolled to), and the statistics.
    fn show_new_state(&mut self, shown: &Snapshot, now: Instant) {
        let before = self.keys.selected_row().map(|r| r.key.clone());
        let result = self.keys.reload_keeping(&self.store);
        self.report(result);
        let after = self.keys.selected_row().map(|r| r.key.clone());
        let mut value_changed = false;
        for row in &self.keys.rows {
            match super::live::change(shown, &self.store, &row.key, row.value_len) {
                Ok(Some(change)) => {
                    value_changed |= after.as_ref() == Some(&row.key);
                    self.live.marks.insert(row.key.clone(), (change, now));
                }
                Ok(None) => {}
                Err(e) => {
                    self.error(e.to_string());
                    break;
                }
            }
        }
        if after.is_some() && after == self.value.key {
            if value_changed || self.value.error.is_some() {
                let result = self.value.reload_in_place(&self.store, &self.config.theme);
                if self.report(result).is_none() {
                    self.value.clear(&self.config.theme);
                }
            }
            self.want_count();
        } else {
            self.sync_value(false);
        }
        if let Some(gone) = before
            && after.as_ref() != Some(&gone)
        {
            self.info(format!("{} was deleted; the key beside it is selected", escape_key(&gone)));
        }
        self.stats = self.store.stats();
        match self.screen {
            Screen::Browser => {}
            Screen::Pages => self.pages.reload(&self.store),
            Screen::FreeList => self.free.open(&self.store, self.areas.body),
        }
    }

    fn set_filter(&mut self, filter: Filter) {
        let result = self.keys.set_filter(&self.store, filter);
        self.report(result);
        self.count = None;
        self.sync_value(false);
    }

    fn start_add(&mut self) {
        if self.refuse_if_read_only("adding a key") {
            return;
        }
        // The dialog starts with the filter's prefix: adding next to what is shown.
        let prefix = String::from_utf8_lossy(self.keys.filter.range_prefix()).into_owned();
        self.overlays.push(Overlay::Editor(Box::new(Editor::add(&prefix))));
    }

    fn start_delete(&mut self) {
        if self.refuse_if_read_only("deleting") {
            return;
        }
        match self.keys.selected_row() {
            Some(row) => {
                let confirm = ConfirmDelete { key: row.key.clone(), value_len: row.value_len };
                self.overlays.push(Overlay::Confirm(confirm));
            }
            None => self.error("no key selected"),
        }
    }

    /// The selected key's whole value, if it is at most `max` bytes.
    fn whole_value(&mut self, max: u64, what: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let Some(row) = self.keys.selected_row() else {
            self.error("no key selected");
            return None;
        };
        let key = row.key.clone();
        if row.value_len > max {
            self.error(format!(
                "the value is {}; {what} takes values up to {}",
                human_bytes(row.value_len),
                human_bytes(max)
            ));
            return None;
        }
        match self.store.get(&key) {
            Ok(Some(value)) => Some((key, value)),
            Ok(None) => {
                self.error("the key is gone (deleted meanwhile)");
                None
            }
            Err(e) => {
                self.error(e.to_string());
                None
            }
        }
    }

    fn start_edit(&mut self) {
        if self.refuse_if_read_only("editing") {
            return;
        }
        let Some((key, value)) = self.whole_value(EDIT_MAX_BYTES, "the editor (E uses $EDITOR for any size)")
        else {
            return;
        };
        self.overlays.push(Overlay::Editor(Box::new(Editor::edit(key, value))));
    }

    /// The whole value as the external programs get it: text as it is, anything else as a hex dump.
    fn external_text(value: &[u8]) -> (Vec<u8>, bool) {
        if is_plain_text(value) {
            (value.to_vec(), false)
        } else {
            (hexdump::format(value).into_bytes(), true)
        }
    }

    fn start_pager(&mut self) {
        let Some((_, value)) = self.whole_value(u64::MAX, "the pager") else { return };
        let (text, _) = Self::external_text(&value);
        match TempFile::with(&text, "txt") {
            Ok(file) => self.external = Some(External::Pager { file }),
            Err(e) => self.error(format!("cannot write a temporary file: {e}")),
        }
    }

    fn start_external_edit(&mut self) {
        if self.refuse_if_read_only("editing") {
            return;
        }
        let Some((key, value)) = self.whole_value(u64::MAX, "$EDITOR") else { return };
        let (text, hex) = Self::external_text(&value);
        match TempFile::with(&text, if hex { "hex" } else { "txt" }) {
            Ok(file) => self.external = Some(External::Edit { key, original: value, hex, file }),
            Err(e) => self.error(format!("cannot write a temporary file: {e}")),
        }
    }

    /// After the program `external` ran (`status` is how it ended): for an edit, the file is
    /// read back and written as one commit, unless the stored value changed meanwhile.
    pub(crate) fn finish_external(
        &mut self,
        external: External,
        status: std::io::Result<std::process::ExitStatus>,
    ) {
        let program = match &external {
            External::Pager { .. } => self.programs.pager.clone(),
            External::Edit { .. } => self.programs.editor.clone(),
        };
        match status {
            Err(e) => {
                self.error(format!("cannot run {program}: {e}"));
                return;
            }
            Ok(status) if !status.success() => {
                if let External::Edit { file, .. } = external {
                    let kept = file.keep();
                    self.error(format!(
                        "{program} ended with {status}; nothing written (the text is in {})",
                        kept.display()
                    ));
                } else {
                    self.error(format!("{program} ended with {status}"));
                }
                return;
            }
            Ok(_) => {}
        }
        let External::Edit { key, original, hex, file } = external else { return };
        let text = match std::fs::read(&file.path) {
            Ok(text) => text,
            Err(e) => {
                self.error(format!("cannot read {} back: {e}", file.path.display()));
                return;
            }
        };
        let value = if hex {
            match hexdump::parse(&String::from_utf8_lossy(&text)) {
                Ok(bytes) => bytes,
                Err(e) => {
                    let kept = file.keep();
                    self.error(format!("not written: {e} (the text is in {})", kept.display()));
                    return;
                }
            }
        } else {
            text
        };
        if value == original {
            self.info("no change; nothing written");
            return;
        }
        match self.store.get(&key) {
            Ok(Some(current)) if current == original => {}
            Ok(_) => {
                let kept = file.keep();
                self.error(format!(
                    "not written: the value changed while it was being edited (your text is in {})",
                    kept.display()
                ));
                return;
            }
            Err(e) => {
                self.error(e.to_string());
                return;
            }
        }
        let len = value.len() as u64;
        match self.store.put(&key, value) {
            Ok(()) => {
                self.after_write(Some(key.clone()));
                self.info(format!("saved {} ({})", escape_key(&key), human_bytes(len)));
            }
            Err(e) => {
                let kept = file.keep();
                self.error(format!("not written: {e} (your text is in {})", kept.display()));
            }
        }
    }

    fn save(&mut self, mut editor: Box<Editor>, key: Vec<u8>, value: Vec<u8>) {
        let adding = editor.kind == EditorKind::Add;
        let check = if adding {
            self.store.contains_key(&key).map(|exists| {
                exists.then(|| "this key exists already; press esc, select it and press e".to_owned())
            })
        } else if let EditorKind::Edit { original, .. } = &editor.kind {
            // Compare and set: the value must still be the one the editor opened.
            self.store.get(&key).map(|current| {
                (current.as_deref() != Some(original.as_slice()))
                    .then(|| "the value changed since the editor opened; esc and edit again".to_owned())
            })
        } else {
            Ok(None)
        };
        match check {
            Ok(None) => {}
            Ok(Some(refusal)) => {
                editor.error = Some(refusal);
                self.overlays.push(Overlay::Editor(editor));
                return;
            }
            Err(e) => {
                editor.error = Some(e.to_string());
                self.overlays.push(Overlay::Editor(editor));
                return;
            }
        }
        let len = value.len() as u64;
        match self.store.put(&key, value) {
            Ok(()) => {
                self.after_write(Some(key.clone()));
                let verb = if adding { "added" } else { "saved" };
                let shown = if key.is_empty() { "\"\" (the empty key)".to_owned() } else { escape_key(&key) };
                self.info(format!("{verb} {shown} ({})", human_bytes(len)));
            }
            // The editor stays open with the text, so nothing typed is lost.
            Err(e) => {
                editor.error = Some(format!("not saved: {e}"));
                self.overlays.push(Overlay::Editor(editor));
            }
        }
    }

    fn delete_confirmed(&mut self, confirm: ConfirmDelete) {
        match self.store.delete(&confirm.key) {
            Ok(existed) => {
                self.after_write(Some(confirm.key.clone()));
                if existed {
                    self.info(format!("deleted {}", escape_key(&confirm.key)));
                } else {
                    self.error("the key was already gone");
                }
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    fn run_command(&mut self, text: &str) {
        // A salvage reads every page: it runs on a thread, in its dialog, not in the bar.
        if let Some(path) = CommandBar::lone_salvage(text) {
            self.command.hand_over(text, "(running in the salvage dialog; its report is shown there)");
            let view = SalvageView::run_into(&self.store, path, Instant::now());
            self.overlays.push(Overlay::Salvage(Box::new(view)));
            return;
        }
        let ran = self.command.run(&mut self.store, text);
        if !self.output_open() {
            self.overlays.push(Overlay::Output);
        }
        // Any statement may have written (a failed batch too): read the screen again.
        if ran.wrote || ran.failed {
            self.after_write(None);
        } else {
            self.stats = self.store.stats();
        }
        if self.screen == Screen::Pages {
            self.pages.open(&self.store, self.areas.body, None);
        }
    }

    // ------------------------------------------------------------------ copy and export

    fn copy(&mut self, what: &str, bytes: &[u8]) {
        if bytes.len() > COPY_MAX_BYTES {
            self.error(format!(
                "the {what} is {}; the clipboard takes up to {} (v shows it in $PAGER)",
                human_bytes(bytes.len() as u64),
                human_bytes(COPY_MAX_BYTES as u64)
            ));
            return;
        }
        self.terminal_output.extend_from_slice(&osc52(bytes));
        self.info(format!("copied the {what} ({}) to the clipboard", human_bytes(bytes.len() as u64)));
    }

    fn copy_key(&mut self) {
        let Some(key) = self.keys.selected_row().map(|r| r.key.clone()) else { return };
        // A key that is not text is copied as the literal the command bar reads.
        let text = if is_plain_text(&key) && !key.contains(&b'\n') { key } else { quote(&key).into_bytes() };
        self.copy("key", &text);
    }

    fn copy_value(&mut self) {
        let Some((_, value)) = self.whole_value(COPY_MAX_BYTES as u64, "the clipboard") else { return };
        let text = if is_plain_text(&value) { value } else { hex_literal(&value).into_bytes() };
        self.copy("value", &text);
    }

    fn copy_put(&mut self) {
        let Some((key, value)) = self.whole_value(COPY_MAX_BYTES as u64, "the clipboard") else { return };
        let value = if is_plain_text(&value) { quote(&value) } else { hex_literal(&value) };
        let statement = format!("PUT {}:{value};", quote(&key));
        self.copy("PUT statement", statement.as_bytes());
    }

    fn start_export(&mut self, path: String) {
        if path.trim().is_empty() {
            self.error("no file name");
            return;
        }
        match ExportJob::start(&self.store, PathBuf::from(path.trim()), self.keys.filter.clone()) {
            Ok(job) => {
                self.info(format!("exporting to {}…", job.path.display()));
                self.export = Some(job);
            }
            Err(e) => {
                self.error(e);
                self.overlays.push(Overlay::Export { path });
            }
        }
    }

    // ------------------------------------------------------------------ work between events

    /// Whether work is waiting for [`App::tick`].
    pub(crate) fn busy(&self) -> bool {
        self.count.is_some()
            || self.export.is_some()
            || self
                .overlays
                .iter()
                .any(|o| matches!(o, Overlay::ValueSearch(SearchView { job: Some(job), .. }) if !job.done))
    }

    /// The event loop's tick: the work in progress advances by a slice each, and live follow
    /// polls the store; `true` when the screen changed.
    pub(crate) fn tick(&mut self) -> bool {
        let worked = self.work();
        let now = Instant::now();
        let watched = self.watch(now);
        self.follow(now, SystemTime::now()) || worked || watched
    }

    /// The overlays that change on their own: the reader table read again, a salvage's end
    /// taken; `true` when one changed.
    pub(crate) fn watch(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for overlay in &mut self.overlays {
            match overlay {
                Overlay::Readers(view) => changed |= view.refresh(&self.store, now),
                Overlay::Salvage(view) => changed |= view.poll(now),
                _ => {}
            }
        }
        changed
    }

    /// Live follow, at `now` (`wall` on the wall clock): marks older than their time go, and
    /// when a poll is due and the store moved on, the screen shows the new state (see
    /// [`App::show_new_state`]). A failed refresh is said once in the status line; the browser
    /// goes on showing what it showed. `true` when the screen changed.
    pub(crate) fn follow(&mut self, now: Instant, wall: SystemTime) -> bool {
        let changed = self.live.expire(now);
        if !self.live.due(now) {
            return changed;
        }
        let slow = self.live.slow;
        self.take_poll(now, wall) || changed || slow != self.live.slow
    }

    /// Polls live follow once and shows what it found; `true` when the screen changed.
    fn take_poll(&mut self, now: Instant, wall: SystemTime) -> bool {
        let error_before = self.live.error.clone();
        let mut changed = false;
        match self.live.poll(&mut self.store, now) {
            Poll::Same => {}
            Poll::Moved { shown, by_hand } => {
                self.show_new_state(&shown, now);
                if by_hand {
                    self.info("reloaded");
                } else {
                    self.live.last_commit = Some(wall);
                }
                changed = true;
            }
            Poll::Failed(e) => {
                if error_before.as_ref() != Some(&e) {
                    self.error(format!("live: {e}; still showing the last commit read"));
                }
                changed = true;
            }
        }
        if error_before.is_some() && self.live.error.is_none() {
            // Recovered: the error no longer holds.
            if matches!(&self.message, Some(Message::Error(text)) if text.starts_with("live: ")) {
                self.message = None;
            }
            changed = true;
        }
        changed
    }

    /// Advances the work in progress by a slice each; `true` when the screen changed.
    fn work(&mut self) -> bool {
        let mut changed = false;
        if let Some(job) = &mut self.count {
            changed = true;
            if let Err(e) = job.step(&self.store) {
                self.count = None;
                self.error(format!("counting stopped: {e}"));
            } else if job.done {
                let job = self.count.take();
                if let Some(job) = job
                    && job.filter == self.keys.filter
                {
                    if job.need_total {
                        self.keys.total = Some(job.counted);
                    }
                    let selected = self.keys.selected_row().map(|r| r.key.clone());
                    if job.anchor.is_some() && job.anchor == selected {
                        self.keys.position = Some(job.before_anchor);
                    }
                    self.want_count();
                }
            }
        }
        if let Some(Overlay::ValueSearch(SearchView { job: Some(job), .. })) =
            self.overlays.iter_mut().rev().find(|o| matches!(o, Overlay::ValueSearch(_)))
            && !job.done
        {
            job.step(&self.store);
            changed = true;
        }
        if let Some(job) = &mut self.export {
            job.step(&self.store);
            changed = true;
        }
        if let Some(job) = self.export.take_if(|job| job.done) {
            match &job.error {
                Some(e) => self.error(format!("export failed: {e}")),
                None => {
                    self.info(format!("exported {} pairs to {}", thousands(job.count), job.path.display()))
                }
            }
        }
        changed
    }

    /// Runs all waiting work to its end (tests and the benchmark).
    #[cfg(test)]
    pub(crate) fn finish_work(&mut self) {
        while self.busy() {
            self.work();
        }
    }

    // ------------------------------------------------------------------ the integrity check

    /// The progress of a check `c` asked for, once: the caller runs it (see `mod.rs`).
    pub(crate) fn take_check_request(&mut self) -> Option<Arc<Progress>> {
        if !std::mem::take(&mut self.check_requested) {
            return None;
        }
        match self.top() {
            Some(Overlay::Check { state: CheckState::Running(progress), .. }) => Some(progress.clone()),
            _ => None,
        }
    }

    pub(crate) fn finish_check(&mut self, result: Result<CheckReport, String>) {
        let state = match result {
            Ok(report) => CheckState::Done(report),
            Err(e) => CheckState::Failed(e),
        };
        if let Some(Overlay::Check { state: shown, .. }) =
            self.overlays.iter_mut().rev().find(|o| matches!(o, Overlay::Check { .. }))
        {
            *shown = state;
        }
        self.stats = self.store.stats();
    }

    /// Runs a requested check on this thread, without drawing (tests and the benchmark).
    pub(crate) fn run_requested_check(&mut self) {
        if let Some(progress) = self.take_check_request() {
            let result = self.store.check_with_progress(&mut |done, total| progress.set(done, total));
            self.finish_check(result.map_err(|e| e.to_string()));
        }
    }

    // ------------------------------------------------------------------ mouse

    fn handle_mouse(&mut self, mouse: MouseEvent) -> bool {
        let at = Position::new(mouse.column, mouse.row);
        let wheel = match mouse.kind {
            MouseEventKind::ScrollDown => Some(true),
            MouseEventKind::ScrollUp => Some(false),
            _ => None,
        };
        let click = mouse.kind == MouseEventKind::Down(crossterm::event::MouseButton::Left);
        let rows = isize::try_from(WHEEL_ROWS).unwrap_or(1);
        // The overlay on top takes the mouse; most ignore it.
        match self.overlays.last() {
            Some(
                Overlay::Help { .. }
                | Overlay::Check { .. }
                | Overlay::ValueSearch(_)
                | Overlay::Readers(_)
                | Overlay::Salvage(_),
            ) => {
                if let Some(down) = wheel {
                    let key = if down { KeyCode::Down } else { KeyCode::Up };
                    self.handle_key(KeyEvent::new(key, KeyModifiers::NONE));
                    return true;
                }
                return false;
            }
            Some(Overlay::Output) => {
                if self.areas.output.contains(at) {
                    if let Some(down) = wheel {
                        self.command.scroll_by(if down { rows } else { -rows });
                        return true;
                    }
                    return false;
                }
                if !click {
                    return false;
                }
                // A click outside the panel closes it and lands where it was aimed.
                self.overlays.pop();
            }
            Some(Overlay::KeyInput(_)) | None => {}
            Some(_) => return false,
        }
        if let Some(down) = wheel {
            match self.screen {
                Screen::Browser if self.areas.keys.contains(at) => {
                    let result = if down {
                        self.keys.down(&self.store, WHEEL_ROWS)
                    } else {
                        self.keys.up(&self.store, WHEEL_ROWS)
                    };
                    self.report(result);
                    self.sync_value(false);
                }
                Screen::Browser if self.areas.value.contains(at) => {
                    self.value.scroll_by(if down { rows } else { -rows });
                }
                Screen::Pages => {
                    let columns = i64::try_from(self.pages.columns.max(1)).unwrap_or(1);
                    self.pages.move_by(&self.store, if down { columns } else { -columns });
                }
                Screen::FreeList => {
                    let columns = isize::try_from(self.free.columns.max(1)).unwrap_or(1);
                    self.free.move_by(if down { columns } else { -columns });
                }
                _ => return false,
            }
            return true;
        }
        if !click {
            return false;
        }
        match self.screen {
            Screen::Browser if self.areas.keys.contains(at) => {
                self.focus = Focus::Keys;
                let first_row = self.areas.keys.y + 1;
                if let Some(row) = mouse.row.checked_sub(first_row)
                    && self.keys.click(row as usize)
                {
                    self.sync_value(false);
                }
            }
            Screen::Browser if self.areas.value.contains(at) => self.focus = Focus::Value,
            Screen::Pages => {
                if let Some(page) = self.pages.page_at(self.areas.body, mouse.column, mouse.row) {
                    self.pages.focus = PageFocus::Map;
                    self.pages.select(&self.store, page);
                }
            }
            _ => return false,
        }
        true
    }
}

/// Where a scrolled overlay's first line goes for a movement key (any other key leaves it).
fn scrolled(action: Option<Action>, scroll: usize, max: usize) -> usize {
    match action {
        Some(Action::Up) => scroll.saturating_sub(1),
        Some(Action::Down) => (scroll + 1).min(max),
        Some(Action::PageUp) => scroll.saturating_sub(10),
        Some(Action::PageDown) => (scroll + 10).min(max),
        Some(Action::Top) => 0,
        Some(Action::Bottom) => max,
        _ => scroll,
    }
}
