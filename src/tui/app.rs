//! The browser's state and the one place it changes: terminal events become [`Action`]s through
//! the key map (text fields take their keys directly), and [`App::apply`] carries them out
//! against the layer on top (dialogs, overlays, then the screen). Drawing is elsewhere
//! (`ui.rs`) and only reads this state.

use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::action::Action;
use super::command_bar::CommandBar;
use super::config::Config;
use super::dialogs::{CheckState, ConfirmDelete, Progress};
use super::editor::{EDIT_MAX_BYTES, Editor, EditorKind, EditorOutcome};
use super::free_list::FreeList;
use super::key_list::{Input, InputKind, KeyList};
use super::page_view::{PageFocus, PageView};
use super::text::{escape_key, human_bytes};
use super::ui::{Areas, layout};
use super::value_view::ValueView;
use crate::{CheckReport, KVStore, Stats};

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
    pub editor: Option<Editor>,
    pub confirm: Option<ConfirmDelete>,
    /// The help overlay, with its scroll.
    pub help: Option<usize>,
    pub check: Option<CheckState>,
    pub check_scroll: usize,
    /// `c` was pressed: the loop runs the check (it draws progress while it runs).
    check_requested: bool,
    pub message: Option<Message>,
    pub areas: Areas,
    pub quit: bool,
}

impl App {
    /// A browser over `store`; call [`App::resize`] before drawing.
    pub(crate) fn new(store: KVStore, name: String, config: Config, history: Option<PathBuf>) -> App {
        let mut app = App {
            stats: store.stats(),
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
            editor: None,
            confirm: None,
            help: None,
            check: None,
            check_scroll: 0,
            check_requested: false,
            message: None,
            areas: Areas::default(),
            quit: false,
        };
        let result = app.keys.reload_at(&app.store, None);
        app.report(result);
        app.sync_value(true);
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

    /// Shows the selected key's value, reading it when the selection changed (or `force`).
    fn sync_value(&mut self, force: bool) {
        let selected = self.keys.selected_row().map(|r| r.key.clone());
        if force || selected != self.value.key {
            let result = self.value.load(&self.store, selected.as_deref(), &self.config.theme);
            if self.report(result).is_none() {
                self.value.clear(&self.config.theme);
            }
        }
    }

    /// After a write: the window, the value and the statistics read again.
    fn after_write(&mut self, anchor: Option<Vec<u8>>) {
        let result = match anchor {
            Some(anchor) => self.keys.reload_at(&self.store, Some(anchor)),
            None => self.keys.reload(&self.store),
        };
        self.report(result);
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

    /// The body area given to the page and free-list screens.
    fn body(&self) -> Rect {
        self.areas.body
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
        self.pages.geometry(self.body());
        if self.screen == Screen::Pages {
            self.pages.cells.clear();
            self.pages.refresh(&self.store);
        }
        self.free.geometry(self.body());
        self.stats = self.store.stats();
    }

    pub(crate) fn handle_key(&mut self, key: KeyEvent) {
        self.message = None;
        let action = self.config.keys.action(&key);
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        // In text fields only a control key can quit: letters are text there.
        let quits_anywhere = action == Some(Action::Quit) && ctrl;

        if let Some(confirm) = self.confirm.take() {
            match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => self.delete_confirmed(confirm),
                KeyCode::Char('n' | 'N') | KeyCode::Esc => self.info("kept"),
                _ if quits_anywhere => self.quit = true,
                _ => self.confirm = Some(confirm),
            }
            return;
        }
        if let Some(editor) = &mut self.editor {
            if quits_anywhere {
                self.quit = true;
                return;
            }
            match editor.key(key) {
                EditorOutcome::Continue => {}
                EditorOutcome::Cancel => {
                    self.editor = None;
                    self.info("edit cancelled; nothing written");
                }
                EditorOutcome::Save { key, value } => self.save(key, value),
            }
            return;
        }
        if self.command.active {
            if quits_anywhere {
                self.quit = true;
                return;
            }
            if let Some(text) = self.command.key(key) {
                self.run_command(&text);
            }
            return;
        }
        if let Some(input) = &mut self.keys.input {
            if quits_anywhere {
                self.quit = true;
                return;
            }
            match key.code {
                KeyCode::Enter => self.apply_input(),
                KeyCode::Esc => {
                    let kind = input.kind.clone();
                    self.keys.input = None;
                    if kind == InputKind::Filter && !self.keys.filter.is_empty() {
                        self.set_filter(Vec::new());
                    }
                }
                KeyCode::Backspace => {
                    input.text.pop();
                }
                // A key is at most 64 KiB: longer typing cannot name one.
                KeyCode::Char(c) if !ctrl && input.text.len() < 65_536 => input.text.push(c),
                _ => {}
            }
            return;
        }
        // Typing a page number in the page map.
        if self.screen == Screen::Pages
            && self.help.is_none()
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
    }

    /// Carries out `action` on the layer on top.
    pub(crate) fn apply(&mut self, action: Action) {
        if action == Action::Quit {
            self.quit = true;
            return;
        }
        // The help overlay.
        if let Some(scroll) = self.help {
            let max = super::help::line_count(&self.config.keys);
            self.help = match action {
                Action::Close | Action::Help => None,
                Action::Up => Some(scroll.saturating_sub(1)),
                Action::Down => Some((scroll + 1).min(max)),
                Action::PageUp => Some(scroll.saturating_sub(10)),
                Action::PageDown => Some((scroll + 10).min(max)),
                Action::Top => Some(0),
                Action::Bottom => Some(max),
                _ => Some(scroll),
            };
            return;
        }
        if action == Action::Help {
            self.help = Some(0);
            return;
        }
        // The check report.
        if let Some(check) = &self.check {
            if matches!(check, CheckState::Running(_)) {
                return;
            }
            match action {
                Action::Close | Action::Check | Action::Enter => self.check = None,
                Action::Up => self.check_scroll = self.check_scroll.saturating_sub(1),
                Action::Down => self.check_scroll += 1,
                Action::Top => self.check_scroll = 0,
                _ => {}
            }
            return;
        }
        // Actions every screen has.
        match action {
            Action::Command => {
                self.command.open();
                return;
            }
            Action::Check => {
                self.check = Some(CheckState::Running(Arc::new(Progress::default())));
                self.check_scroll = 0;
                self.check_requested = true;
                return;
            }
            _ => {}
        }
        // The command output panel.
        if self.command.output_open {
            let rows = self.command.output_height.max(1) as isize;
            match action {
                Action::Close => self.command.output_open = false,
                Action::Up => self.command.scroll_by(-1),
                Action::Down => self.command.scroll_by(1),
                Action::PageUp => self.command.scroll_by(-rows),
                Action::PageDown => self.command.scroll_by(rows),
                Action::Top => self.command.output_scroll = 0,
                Action::Bottom => self.command.scroll_to_end(),
                _ => {
                    self.command.output_open = false;
                    self.apply(action);
                }
            }
            return;
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
        let page = self.value.height.max(1) as isize;
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
                    self.set_filter(Vec::new());
                }
            }
            Action::Filter => {
                let text = String::from_utf8_lossy(&self.keys.filter).into_owned();
                self.keys.input = Some(Input { kind: InputKind::Filter, text });
            }
            Action::Seek => self.keys.input = Some(Input { kind: InputKind::Seek, text: String::new() }),
            Action::CycleView => self.value.cycle_mode(&self.config.theme),
            Action::Edit => self.start_edit(),
            Action::Add => self.start_add(),
            Action::Delete => self.start_delete(),
            Action::Reload => self.reload(),
            Action::Pages => self.open_pages(None),
            Action::FreeList => self.open_free_list(),
            _ => {}
        }
    }

    fn apply_pages(&mut self, action: Action) {
        let store = &self.store;
        if self.pages.focus == PageFocus::Detail {
            let rows = self.pages.detail_height.max(1) as isize;
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
        let columns = self.pages.columns.max(1) as i64;
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
        let columns = self.free.columns.max(1) as isize;
        let page = (self.free.rows.max(1) as isize) * columns;
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
        let result = self.keys.reload(&self.store);
        self.report(result);
        self.sync_value(true);
        self.stats = self.store.stats();
        self.info("reloaded");
    }

    fn set_filter(&mut self, prefix: Vec<u8>) {
        let result = self.keys.set_filter(&self.store, prefix);
        self.report(result);
        self.sync_value(false);
    }

    fn apply_input(&mut self) {
        let Some(input) = self.keys.input.take() else { return };
        let bytes = input.text.into_bytes();
        match input.kind {
            InputKind::Filter => self.set_filter(bytes),
            InputKind::Seek => {
                let result = self.keys.seek(&self.store, bytes);
                self.report(result);
                self.sync_value(false);
            }
        }
    }

    fn start_add(&mut self) {
        if self.refuse_if_read_only("adding a key") {
            return;
        }
        // The dialog starts with the filter's prefix: adding next to what is shown.
        let prefix = String::from_utf8_lossy(&self.keys.filter).into_owned();
        self.editor = Some(Editor::add(&prefix));
    }

    fn start_delete(&mut self) {
        if self.refuse_if_read_only("deleting") {
            return;
        }
        match self.keys.selected_row() {
            Some(row) => {
                self.confirm = Some(ConfirmDelete { key: row.key.clone(), value_len: row.value_len })
            }
            None => self.error("no key selected"),
        }
    }

    fn start_edit(&mut self) {
        if self.refuse_if_read_only("editing") {
            return;
        }
        let Some(row) = self.keys.selected_row() else {
            self.error("no key selected");
            return;
        };
        let key = row.key.clone();
        if row.value_len > EDIT_MAX_BYTES {
            self.error(format!(
                "the value is {}; the editor opens values up to {} (use the command bar for larger ones)",
                human_bytes(row.value_len),
                human_bytes(EDIT_MAX_BYTES)
            ));
            return;
        }
        let value = match self.store.get(&key) {
            Ok(Some(value)) => value,
            Ok(None) => {
                self.error("the key is gone (deleted meanwhile)");
                return;
            }
            Err(e) => {
                self.error(e.to_string());
                return;
            }
        };
        match String::from_utf8(value) {
            Ok(text) if !text.contains('\r') => self.editor = Some(Editor::edit(key, &text)),
            _ => self.error(format!(
                "the value is not plain text; write it from the command bar, e.g. PUT \"{}\":x'0102';",
                escape_key(&key)
            )),
        }
    }

    fn save(&mut self, key: Vec<u8>, value: Vec<u8>) {
        let adding = self.editor.as_ref().is_some_and(|e| e.kind == EditorKind::Add);
        if adding {
            match self.store.contains_key(&key) {
                Ok(true) => {
                    if let Some(editor) = &mut self.editor {
                        editor.error =
                            Some("this key exists already; press esc, select it and press e".to_owned());
                    }
                    return;
                }
                Ok(false) => {}
                Err(e) => {
                    if let Some(editor) = &mut self.editor {
                        editor.error = Some(e.to_string());
                    }
                    return;
                }
            }
        }
        let len = value.len();
        match self.store.put(&key, value) {
            Ok(()) => {
                self.editor = None;
                self.after_write(Some(key.clone()));
                let verb = if adding { "added" } else { "saved" };
                self.info(format!("{verb} {} ({})", escape_key(&key), human_bytes(len as u64)));
            }
            // The editor stays open with the text, so nothing typed is lost.
            Err(e) => {
                if let Some(editor) = &mut self.editor {
                    editor.error = Some(format!("not saved: {e}"));
                }
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
        let ran = self.command.run(&mut self.store, text);
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

    // ------------------------------------------------------------------ the integrity check

    /// The progress of a check `c` asked for, once: the caller runs it (see `mod.rs`).
    pub(crate) fn take_check_request(&mut self) -> Option<Arc<Progress>> {
        if !std::mem::take(&mut self.check_requested) {
            return None;
        }
        match &self.check {
            Some(CheckState::Running(progress)) => Some(progress.clone()),
            _ => None,
        }
    }

    pub(crate) fn finish_check(&mut self, result: Result<CheckReport, String>) {
        self.check = Some(match result {
            Ok(report) => CheckState::Done(report),
            Err(e) => CheckState::Failed(e),
        });
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
        let overlay =
            self.help.is_some() || self.editor.is_some() || self.confirm.is_some() || self.check.is_some();
        match mouse.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let down = mouse.kind == MouseEventKind::ScrollDown;
                if overlay || self.command.active {
                    if self.help.is_some() {
                        self.apply(if down { Action::Down } else { Action::Up });
                    }
                    return true;
                }
                if self.command.output_open && self.areas.output.contains(at) {
                    self.command.scroll_by(if down { WHEEL_ROWS as isize } else { -(WHEEL_ROWS as isize) });
                    return true;
                }
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
                        self.value.scroll_by(if down { WHEEL_ROWS as isize } else { -(WHEEL_ROWS as isize) });
                    }
                    Screen::Pages => {
                        let columns = self.pages.columns.max(1) as i64;
                        self.pages.move_by(&self.store, if down { columns } else { -columns });
                    }
                    Screen::FreeList => {
                        let columns = self.free.columns.max(1) as isize;
                        self.free.move_by(if down { columns } else { -columns });
                    }
                    _ => return false,
                }
                true
            }
            MouseEventKind::Down(crossterm::event::MouseButton::Left) => {
                if overlay || self.command.active {
                    return false;
                }
                if self.command.output_open {
                    if self.areas.output.contains(at) {
                        return false;
                    }
                    self.command.output_open = false;
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
            _ => false,
        }
    }
}
