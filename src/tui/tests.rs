//! The browser driven by key events on ratatui's `TestBackend`, with snapshots of each screen at
//! 100 × 30. The store is the demo store (deterministic); nothing time- or path-dependent is on
//! screen (page 0, which shows the creation time, is never the one in detail).

use std::ops::Bound;
use std::path::Path;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, Focus, Message, Screen};
use super::config::Config;
use super::editor::Editor;
use super::overlay::Overlay;
use super::{demo, ui};
use crate::{KVStore, OpenOptions, WriteBatch};

const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;

struct Harness {
    app: App,
    terminal: Terminal<TestBackend>,
    _dir: tempfile::TempDir,
}

/// The demo store in a temporary directory, opened writable (or read-only).
fn demo_store(read_only: bool) -> (KVStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("test.db");
    demo::ensure(&path).expect("demo store");
    let store = OpenOptions::new().read_only(read_only).open(&path).expect("open");
    (store, dir)
}

fn harness_with(store: KVStore, dir: tempfile::TempDir, config: Config) -> Harness {
    let mut app = App::new(store, "test.db".to_owned(), config, None);
    // Refreshes run on a thread of their own; the tests wait for each (they take milliseconds).
    app.live.wait_for_refresh = std::time::Duration::from_secs(60);
    app.resize(WIDTH, HEIGHT);
    let terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("terminal");
    Harness { app, terminal, _dir: dir }
}

fn harness() -> Harness {
    let (store, dir) = demo_store(false);
    harness_with(store, dir, Config::default())
}

fn key_event(token: &str) -> KeyEvent {
    let (code, modifiers) = match token {
        "<enter>" => (KeyCode::Enter, KeyModifiers::NONE),
        "<esc>" => (KeyCode::Esc, KeyModifiers::NONE),
        "<tab>" => (KeyCode::Tab, KeyModifiers::NONE),
        "<backtab>" => (KeyCode::BackTab, KeyModifiers::SHIFT),
        "<up>" => (KeyCode::Up, KeyModifiers::NONE),
        "<down>" => (KeyCode::Down, KeyModifiers::NONE),
        "<left>" => (KeyCode::Left, KeyModifiers::NONE),
        "<right>" => (KeyCode::Right, KeyModifiers::NONE),
        "<pgup>" => (KeyCode::PageUp, KeyModifiers::NONE),
        "<pgdn>" => (KeyCode::PageDown, KeyModifiers::NONE),
        "<bs>" => (KeyCode::Backspace, KeyModifiers::NONE),
        "<home>" => (KeyCode::Home, KeyModifiers::NONE),
        "<end>" => (KeyCode::End, KeyModifiers::NONE),
        "<c-z>" => (KeyCode::Char('z'), KeyModifiers::CONTROL),
        "<c-s>" => (KeyCode::Char('s'), KeyModifiers::CONTROL),
        "<c-c>" => (KeyCode::Char('c'), KeyModifiers::CONTROL),
        t if t.chars().count() == 1 => {
            let c = t.chars().next().unwrap_or(' ');
            let m = if c.is_ascii_uppercase() { KeyModifiers::SHIFT } else { KeyModifiers::NONE };
            (KeyCode::Char(c), m)
        }
        t => panic!("unknown key token {t}"),
    };
    KeyEvent::new(code, modifiers)
}

impl Harness {
    /// Presses keys given as space-separated tokens (`j`, `G`, `<enter>`, `<c-s>`, ...).
    fn press(&mut self, keys: &str) -> &mut Self {
        for token in keys.split_whitespace() {
            self.app.handle_event(Event::Key(key_event(token)));
        }
        self
    }

    /// Types `text` character by character.
    fn type_text(&mut self, text: &str) -> &mut Self {
        for c in text.chars() {
            self.app.handle_event(Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
        }
        self
    }

    /// The screen as the event loop draws it: work waiting for ticks (counting) done first.
    fn screen(&mut self) -> String {
        self.app.finish_work();
        let app = &self.app;
        self.terminal.draw(|frame| ui::render(app, frame)).expect("draw");
        self.terminal.backend().to_string()
    }

    /// The editor, when it is open.
    fn editor(&self) -> Option<&Editor> {
        self.app.overlays.iter().rev().find_map(|o| match o {
            Overlay::Editor(editor) => Some(&**editor),
            _ => None,
        })
    }

    /// Whether an overlay that `is` picks out is open.
    fn has(&self, is: impl Fn(&Overlay) -> bool) -> bool {
        self.app.overlays.iter().any(is)
    }

    fn selected_key(&self) -> Vec<u8> {
        self.app.keys.selected_row().map(|r| r.key.clone()).unwrap_or_default()
    }
}

#[test]
fn browse_the_first_screen_and_move() {
    let mut h = harness();
    insta::assert_snapshot!("browse_first_screen", h.screen());
    assert_eq!(h.selected_key(), b"big:access.log".to_vec());
    h.press("j j j <pgdn> k");
    insta::assert_snapshot!("browse_after_moving", h.screen());
    h.press("G");
    assert_eq!(h.selected_key(), b"user:0200".to_vec());
    h.press("g");
    assert_eq!(h.selected_key(), b"big:access.log".to_vec());
    // Tab moves the focus to the value, whose keys then scroll it.
    h.press("<tab>");
    assert_eq!(h.app.focus, Focus::Value);
    h.press("<backtab>");
    assert_eq!(h.app.focus, Focus::Keys);
}

#[test]
fn paging_up_and_down_walks_every_key_once() {
    let mut h = harness();
    let all: Vec<Vec<u8>> =
        h.app.store.keys(Bound::Unbounded, Bound::Unbounded).map(|r| r.expect("key").0).collect();
    let mut seen = vec![h.selected_key()];
    for _ in 1..all.len() {
        h.press("j");
        seen.push(h.selected_key());
    }
    assert_eq!(seen, all);
    // Back up one by one.
    for i in (0..all.len() - 1).rev() {
        h.press("k");
        assert_eq!(h.selected_key(), all[i]);
    }
    // Page by page: each page-down moves one window, and page-up comes back to the same keys.
    let height = h.app.keys.height;
    h.press("<pgdn>");
    assert_eq!(h.selected_key(), all[height]);
    h.press("<pgdn> <pgup>");
    assert_eq!(h.selected_key(), all[height]);
    h.press("<pgup>");
    assert_eq!(h.selected_key(), all[0]);
}

#[test]
fn filter_by_prefix() {
    let mut h = harness();
    h.press("/").type_text("city:b");
    insta::assert_snapshot!("filter_typing", h.screen());
    h.press("<enter>");
    insta::assert_snapshot!("filter_applied", h.screen());
    let rows: Vec<&[u8]> = h.app.keys.rows.iter().map(|r| r.key.as_slice()).collect();
    assert_eq!(
        rows,
        vec![&b"city:bangkok"[..], b"city:barcelona", b"city:berlin", b"city:bogota", b"city:buenos-aires"]
    );
    // Moving stays inside the prefix.
    h.press("G j j <pgdn>");
    assert_eq!(h.selected_key(), b"city:buenos-aires".to_vec());
    // A prefix nothing has.
    h.press("/ <bs> <bs> <bs> <bs> <bs> <bs>").type_text("nothing").press("<enter>");
    assert!(h.app.keys.rows.is_empty());
    assert!(h.screen().contains("(no key matches the filter)"));
    // Esc clears the filter.
    h.press("<esc>");
    assert!(h.app.keys.filter.is_empty());
    assert_eq!(h.app.keys.rows.len(), h.app.keys.height);
}

#[test]
fn seek_jumps_to_the_first_key_at_or_after() {
    let mut h = harness();
    h.press("s").type_text("note:00").press("<enter>");
    assert_eq!(h.selected_key(), b"note:001".to_vec());
    h.press("s").type_text("user:0199x").press("<enter>");
    assert_eq!(h.selected_key(), b"user:0200".to_vec());
    // Past the last key: the last key.
    h.press("s").type_text("zzz").press("<enter>");
    assert_eq!(h.selected_key(), b"user:0200".to_vec());
}

#[test]
fn hex_view_of_binary_values_and_the_view_cycle() {
    let mut h = harness();
    h.press("/").type_text("blob:sensor:01").press("<enter>");
    insta::assert_snapshot!("hex_binary_value", h.screen());
    // A JSON value: auto, text, hex, json, auto again.
    h.press("/ <bs> <bs> <bs> <bs> <bs> <bs> <bs> <bs> <bs> <bs> <bs> <bs> <bs> <bs>")
        .type_text("city:oslo")
        .press("<enter>");
    insta::assert_snapshot!("json_value", h.screen());
    h.press("t t");
    insta::assert_snapshot!("json_value_as_hex", h.screen());
    // JSON, then the five decoders, then auto again.
    h.press("t t t t t t t");
    assert!(h.screen().contains("json (auto)"));
}

#[test]
fn binary_keys_are_escaped() {
    let mut h = harness();
    let screen = h.screen();
    assert!(screen.contains("bin:\\x00\\x00\\xffk"), "{screen}");
}

#[test]
fn a_large_value_is_previewed() {
    let mut h = harness();
    h.press("s").type_text("big:").press("<enter>");
    assert_eq!(h.selected_key(), b"big:access.log".to_vec());
    assert_eq!(h.app.value.bytes.len(), super::value_view::PREVIEW_BYTES);
    insta::assert_snapshot!("large_value_preview", h.screen());
    // Scrolling the value: focus it, go to the end of the preview.
    h.press("<enter> G");
    assert!(h.app.value.scroll > 0);
}

#[test]
fn edit_and_save() {
    let mut h = harness();
    h.press("s").type_text("note:003").press("<enter>");
    h.press("e");
    assert!(h.editor().is_some());
    // Type at the start of the value.
    h.type_text("Edited: ");
    insta::assert_snapshot!("editor", h.screen());
    h.press("<c-s>");
    assert!(h.editor().is_none());
    let value = h.app.store.get(b"note:003").expect("get").expect("exists");
    assert!(value.starts_with(b"Edited: Meeting moved to Thursday"), "{}", String::from_utf8_lossy(&value));
    assert!(matches!(&h.app.message, Some(Message::Info(m)) if m.starts_with("saved note:003")));
    insta::assert_snapshot!("after_save", h.screen());
    // Esc cancels without writing.
    h.press("e").type_text("nope").press("<esc>");
    assert_eq!(h.app.store.get(b"note:003").expect("get").expect("exists"), value);
}

/// Defect 4: a value of twelve `\x02` bytes opened as an empty editor, and typing `hello` and
/// saving stored `hello` followed by the twelve bytes. A value that is not plain text opens as a
/// hex dump, which shows every byte and reads back to exactly the bytes it shows.
#[test]
fn values_that_are_not_text_open_as_hex() {
    let mut h = harness();
    h.app.store.put(b"ctl", [2u8; 12]).expect("put");
    h.app.store.put(b"esc", b"\x1b[31mred\x1b[0m").expect("put");
    h.press("r s").type_text("ctl").press("<enter> e");
    assert!(h.editor().is_some_and(|e| e.hex), "opens as hex");
    let screen = h.screen();
    assert!(screen.contains("00000000: 02 02 02 02 02 02 02 02  02 02 02 02"), "{screen}");
    insta::assert_snapshot!("editor_hex", screen);
    // Saved as it is: the same bytes.
    h.press("<c-s>");
    assert!(h.editor().is_none());
    assert_eq!(h.app.store.get(b"ctl").expect("get"), Some(vec![2u8; 12]));
    // Text typed into the dump is refused, and nothing is written.
    h.press("e <down> <end> <enter>").type_text("hello").press("<c-s>");
    let error = h.editor().and_then(|e| e.error.clone()).unwrap_or_default();
    assert!(error.contains("not pairs of hex digits"), "{error}");
    assert_eq!(h.app.store.get(b"ctl").expect("get"), Some(vec![2u8; 12]));
    h.press("<esc>");
    // Bytes added in hex are written, and only those.
    h.press("e <down> <end> <enter>").type_text("68 69").press("<c-s>");
    let mut expected = vec![2u8; 12];
    expected.extend_from_slice(b"hi");
    assert_eq!(h.app.store.get(b"ctl").expect("get"), Some(expected));
    // An escape sequence is no text either.
    h.press("s").type_text("esc").press("<enter> e");
    assert!(h.editor().is_some_and(|e| e.hex));
    h.press("<c-s>");
    assert_eq!(h.app.store.get(b"esc").expect("get").as_deref(), Some(&b"\x1b[31mred\x1b[0m"[..]));
    // Values above the editor's bound are not opened in it ($EDITOR takes them).
    h.press("s").type_text("big:").press("<enter> e");
    assert!(h.editor().is_none());
    assert!(matches!(&h.app.message, Some(Message::Error(m)) if m.contains("takes values up to")));
}

#[test]
fn add_a_key() {
    let mut h = harness();
    h.press("a").type_text("note:100").press("<tab>").type_text("a new note");
    insta::assert_snapshot!("add_dialog", h.screen());
    h.press("<c-s>");
    assert_eq!(h.app.store.get(b"note:100").expect("get").as_deref(), Some(&b"a new note"[..]));
    assert_eq!(h.selected_key(), b"note:100".to_vec());
    // Adding a key that exists is refused in the dialog; nothing is overwritten.
    h.press("a").type_text("note:100").press("<tab>").type_text("again").press("<c-s>");
    let error = h.editor().and_then(|e| e.error.clone()).unwrap_or_default();
    assert!(error.contains("exists"), "{error}");
    h.press("<esc>");
    assert_eq!(h.app.store.get(b"note:100").expect("get").as_deref(), Some(&b"a new note"[..]));
}

#[test]
fn delete_with_confirmation() {
    let mut h = harness();
    h.press("s").type_text("counter:errors").press("<enter>");
    let before = h.app.store.len().unwrap();
    h.press("d");
    insta::assert_snapshot!("delete_confirmation", h.screen());
    h.press("n");
    assert!(h.app.store.contains_key(b"counter:errors").expect("read"));
    h.press("d y");
    assert!(!h.app.store.contains_key(b"counter:errors").expect("read"));
    assert_eq!(h.app.store.len().unwrap(), before - 1);
    // The selection moves to the key after the deleted one, and the statistics follow.
    assert_eq!(h.selected_key(), b"counter:signups".to_vec());
    assert_eq!(h.app.stats.key_count, before - 1);
    insta::assert_snapshot!("after_delete", h.screen());
}

#[test]
fn page_view_and_page_detail() {
    let mut h = harness();
    h.press("p");
    assert_eq!(h.app.screen, Screen::Pages);
    h.press("<right>");
    insta::assert_snapshot!("page_map", h.screen());
    // Type a page number: the page of the first overflow chain of the big value.
    let overflow = h
        .app
        .store
        .pages()
        .map(|p| p.expect("page"))
        .find(|p| p.page_type == crate::PageType::Overflow)
        .expect("an overflow page")
        .number;
    h.type_text(&overflow.to_string()).press("<enter>");
    assert_eq!(h.app.pages.selected, overflow);
    insta::assert_snapshot!("page_detail_overflow", h.screen());
    // Enter focuses the detail, which then scrolls; Esc goes back to the map, then out.
    h.press("<enter> j");
    assert_eq!(h.app.pages.focus, super::page_view::PageFocus::Detail);
    h.press("<esc> <esc>");
    assert_eq!(h.app.screen, Screen::Browser);
}

#[test]
fn page_detail_of_a_branch_and_a_leaf() {
    let mut h = harness();
    let first_of = |h: &Harness, t: crate::PageType| {
        h.app.store.pages().map(|p| p.expect("page")).find(|p| p.page_type == t).map(|p| p.number)
    };
    h.press("p");
    let leaf = first_of(&h, crate::PageType::Leaf).expect("a leaf");
    h.type_text(&leaf.to_string()).press("<enter>");
    insta::assert_snapshot!("page_detail_leaf", h.screen());
    if let Some(branch) = first_of(&h, crate::PageType::Branch) {
        h.type_text(&branch.to_string()).press("<enter>");
        let screen = h.screen();
        assert!(screen.contains("type branch"), "{screen}");
        assert!(screen.contains("(leftmost)"), "{screen}");
    }
}

#[test]
fn free_list_view() {
    let mut h = harness();
    h.press("f");
    assert_eq!(h.app.screen, Screen::FreeList);
    assert!(!h.app.free.pages.is_empty());
    insta::assert_snapshot!("free_list", h.screen());
    let first = h.app.free.pages[0];
    h.press("<enter>");
    assert_eq!(h.app.screen, Screen::Pages);
    assert_eq!(h.app.pages.selected, first);
    assert!(h.screen().contains("type free"));
}

#[test]
fn help_overlay_comes_from_the_key_map() {
    let mut h = harness();
    h.press("?");
    insta::assert_snapshot!("help", h.screen());
    h.press("<esc>");
    assert!(!h.has(|o| matches!(o, Overlay::Help { .. })));
    // A rebound key shows in the help.
    let (store, dir) = demo_store(false);
    let config = Config::parse("[keys]\nquit = [\"x\", \"ctrl-q\"]\n").expect("config");
    let mut h = harness_with(store, dir, config);
    h.press("?");
    assert!(h.screen().contains("ctrl-q x"));
    h.press("<esc> q");
    assert!(!h.app.quit, "q is no longer bound");
    h.press("x");
    assert!(h.app.quit);
}

#[test]
fn read_only_refuses_edits() {
    let (store, dir) = demo_store(true);
    let mut h = harness_with(store, dir, Config::default());
    assert!(h.screen().contains("READ-ONLY"));
    h.press("e");
    assert!(h.editor().is_none());
    insta::assert_snapshot!("read_only_refusal", h.screen());
    h.press("d");
    assert!(!h.has(|o| matches!(o, Overlay::Confirm(_))));
    assert!(matches!(&h.app.message, Some(Message::Error(m)) if m.starts_with("read-only")));
    h.press("a");
    assert!(h.editor().is_none());
    // The command bar runs reads, and answers writes with the store's refusal.
    h.press(":").type_text("PUT \"k\":\"v\"").press("<enter>");
    let output: Vec<&str> = h.app.command.output.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(output, vec!["› PUT \"k\":\"v\"", "Error: the store is open read-only"]);
}

#[test]
fn command_bar_runs_statements_with_history() {
    let mut h = harness();
    h.press(":").type_text("COUNT; GET WHERE KEY=\"counter:visits\"").press("<enter>");
    insta::assert_snapshot!("command_output", h.screen());
    // Writes through the bar show in the list at once.
    h.press(":").type_text("PUT \"aaa:first\":\"hello\";").press("<enter>");
    h.press("<esc> g");
    assert_eq!(h.selected_key(), b"aaa:first".to_vec());
    // Up recalls the previous statement.
    h.press(": <up>");
    assert_eq!(h.app.command.text(), "PUT \"aaa:first\":\"hello\";");
    h.press("<up>");
    assert_eq!(h.app.command.text(), "COUNT; GET WHERE KEY=\"counter:visits\"");
    h.press("<down> <down>");
    assert_eq!(h.app.command.text(), "");
    h.press("<esc>");
    // A parse error is shown, not fatal.
    h.press(":").type_text("GET WHERE").press("<enter>");
    assert!(h.app.command.output.last().is_some_and(|(_, t)| t.starts_with("Error:")));
}

#[test]
fn integrity_check_reports() {
    let mut h = harness();
    h.press("c");
    assert!(h.has(|o| matches!(o, Overlay::Check { state: super::dialogs::CheckState::Running(_), .. })));
    h.app.run_requested_check();
    insta::assert_snapshot!("check_report", h.screen());
    h.press("<esc>");
    assert!(!h.has(|o| matches!(o, Overlay::Check { .. })));
}

#[test]
fn mouse_selects_and_scrolls() {
    let mut h = harness();
    let keys = h.app.areas.keys;
    let click =
        |column, row, kind| Event::Mouse(MouseEvent { kind, column, row, modifiers: KeyModifiers::NONE });
    // The fourth key row (one border row above the first).
    h.app.handle_event(click(keys.x + 3, keys.y + 4, MouseEventKind::Down(MouseButton::Left)));
    assert_eq!(h.app.keys.selected, 3);
    h.app.handle_event(click(keys.x + 3, keys.y + 4, MouseEventKind::ScrollDown));
    assert_eq!(h.app.keys.selected, 6);
    let value = h.app.areas.value;
    h.app.handle_event(click(value.x + 3, value.y + 3, MouseEventKind::Down(MouseButton::Left)));
    assert_eq!(h.app.focus, Focus::Value);
}

#[test]
fn quit_keys() {
    let mut h = harness();
    h.press("q");
    assert!(h.app.quit);
    let mut h = harness();
    h.press(": <c-c>");
    assert!(h.app.quit, "ctrl-c quits from the command bar too");
    let mut h = harness();
    h.press(":").type_text("q");
    assert!(!h.app.quit, "q is text in the command bar");
}

#[test]
fn any_size_draws_without_panicking() {
    let mut h = harness();
    for keys in ["", "p", "f", "?", "c", ": <esc> :", "e", "a", "d"] {
        let mut h2 = harness();
        h2.press(keys);
        h2.app.run_requested_check();
        for (w, hgt) in [(0, 0), (1, 1), (5, 3), (20, 8), (40, 12), (200, 60)] {
            h2.app.resize(w, hgt);
            let mut terminal = Terminal::new(TestBackend::new(w, hgt)).expect("terminal");
            terminal.draw(|frame| ui::render(&h2.app, frame)).expect("draw");
            h2.press("j <pgdn> k <right> <down>");
        }
    }
    h.app.resize(WIDTH, HEIGHT);
    h.screen();
}

/// The key list reads only what it shows: paging through 50,000 keys reads one window per page,
/// never the store.
#[test]
fn the_key_list_reads_only_the_visible_window() {
    const KEYS: u64 = 50_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("large.db");
    let store = OpenOptions::new().open(&path).expect("open");
    let mut batch = WriteBatch::new();
    for i in 0..KEYS {
        batch.put(format!("key:{i:08}"), format!("value {i}"));
    }
    store.write(batch).expect("write");
    let mut h = harness_with(store, dir, Config::default());
    let height = h.app.keys.height as u64;
    assert_eq!(h.app.keys.rows.len() as u64, height);
    // Opening read one window (and a resize re-read it).
    assert!(h.app.keys.fetched <= 2 * height, "{} keys read at open", h.app.keys.fetched);

    const PAGES: u64 = 200;
    let before = h.app.keys.fetched;
    let stats = h.app.store.stats();
    let lookups_before = stats.cache_hits + stats.cache_misses;
    for _ in 0..PAGES {
        h.press("<pgdn>");
    }
    let fetched = h.app.keys.fetched - before;
    assert_eq!(fetched, PAGES * height, "one window per page-down");
    assert_eq!(h.selected_key(), format!("key:{:08}", PAGES * height).into_bytes());
    // Page reads: a page-down descends once and reads the leaves under the window.
    let stats = h.app.store.stats();
    let lookups = stats.cache_hits + stats.cache_misses - lookups_before;
    let per_page = lookups as f64 / PAGES as f64;
    assert!(per_page <= f64::from(stats.tree_depth) + 3.0, "{per_page} page reads per page-down");

    // Back up, and to the far end: still windows only.
    let before = h.app.keys.fetched;
    h.press("<pgup> <pgup> G <pgup> g");
    assert!(h.app.keys.fetched - before <= 5 * height, "{} keys read", h.app.keys.fetched - before);
    assert_eq!(h.selected_key(), b"key:00000000".to_vec());
    // A prefix filter is one descent and one window for each character typed (the list follows
    // the typing).
    let before = h.app.keys.fetched;
    h.press("/").type_text("key:0004").press("<enter>");
    assert_eq!(h.app.keys.fetched - before, 8 * height);
    assert_eq!(h.selected_key(), b"key:00040000".to_vec());
}

#[test]
fn config_file_errors_name_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tui.toml");
    std::fs::write(&path, "mouse = true\n[keys]\nquit = \"q\"\nfly = \"f\"\n").expect("write");
    let error = Config::load(Some(&path)).expect_err("refused");
    assert_eq!(error.path, path);
    assert!(error.to_string().contains("line 4: unknown action 'fly'"), "{error}");
    let missing = Config::load(Some(Path::new("/nonexistent/tui.toml"))).expect_err("refused");
    assert!(missing.message.starts_with("cannot read it"), "{missing}");
}

#[test]
fn a_locked_store_is_reported_and_not_opened() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("locked.db");
    let holder = OpenOptions::new().open(&path).expect("first open");
    // Declining the offer: the status says "locked".
    let mut asked = 0;
    let result = super::open(&path, false, false, 1 << 20, &mut |_| {
        asked += 1;
        false
    });
    assert_eq!(result.err().map(|e| e.0), Some(crate::cli::EXIT_LOCKED));
    assert_eq!(asked, 1);
    // Accepting it: the store opens read-only beside the writer.
    let store = super::open(&path, false, false, 1 << 20, &mut |_| true).expect("read-only open");
    assert!(store.is_read_only());
    drop(holder);
    let store =
        super::open(&path, false, false, 1 << 20, &mut |_| panic!("not asked when free")).expect("open");
    assert!(!store.is_read_only());
}

#[test]
fn an_empty_store_is_browsable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = OpenOptions::new().open(dir.path().join("empty.db")).expect("open");
    let mut h = harness_with(store, dir, Config::default());
    let screen = h.screen();
    assert!(screen.contains("(no keys)") && screen.contains("(no key selected)"), "{screen}");
    h.press("j k <pgdn> <pgup> G g t <tab> j <tab> e d / x <enter> <esc> s a <enter> p <right> <esc> f <enter> <esc>");
    assert!(h.app.overlays.is_empty());
    h.screen();
    // The first key added shows up at once.
    h.press("a").type_text("first").press("<tab>").type_text("1").press("<c-s>");
    assert_eq!(h.selected_key(), b"first".to_vec());
    assert_eq!(h.app.stats.key_count, 1);
}

/// The key map table of `docs/TUI.md`, as the default key map and the action table make it.
fn key_map_table() -> String {
    use super::action::{Action, Group, KeyMap};
    let keys = KeyMap::default();
    let mut out = String::from("| action (config name) | default keys | what it does |\n|---|---|---|\n");
    for group in Group::ALL {
        for action in Action::all().filter(|a| a.group() == group) {
            let bound: Vec<String> = keys.keys_for(action).iter().map(|k| format!("`{k}`")).collect();
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                action.name(),
                bound.join(" "),
                action.description()
            ));
        }
    }
    out
}

#[test]
fn the_documented_key_map_is_the_default_one() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/TUI.md"))
        .expect("docs/TUI.md");
    let table = key_map_table();
    assert!(doc.contains(&table), "docs/TUI.md should hold this table:\n{table}");
}

#[test]
fn the_documented_config_file_parses() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/TUI.md"))
        .expect("docs/TUI.md");
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("its end");
    let config = Config::parse(&doc[start..end]).expect("the documented config parses");
    assert_eq!(config.cache_bytes, 128 << 20);
}

// ---------------------------------------------------------------------- issue 13: defects

/// Defect 1: a paste of two lines into the command bar ran at the first newline and the rest as
/// keys (a `d` opened the delete dialog, the last newline confirmed it). A paste is one event: it
/// lands in the bar whole, newlines and all, and runs only on Enter.
#[test]
fn a_paste_lands_in_the_command_bar_whole() {
    let mut h = harness();
    let before = h.app.store.len().unwrap();
    // As the terminal sends it inside bracketed paste: lines end in CR.
    let paste = "PUT \"cfg\":\"{\r  \\\"debug\\\": true }\";\r";
    h.press(":");
    h.app.handle_event(Event::Paste(paste.to_owned()));
    assert!(h.has(|o| matches!(o, Overlay::Command)), "the bar is still open");
    assert!(!h.has(|o| matches!(o, Overlay::Confirm(_))));
    assert_eq!(h.app.store.len().unwrap(), before, "nothing ran yet");
    insta::assert_snapshot!("command_bar_pasted", h.screen());
    h.press("<enter>");
    assert_eq!(h.app.store.get(b"cfg").expect("get").as_deref(), Some(&b"{\n  \"debug\": true }"[..]));
    assert_eq!(h.app.store.len().unwrap(), before + 1);
    assert!(h.app.store.contains_key(b"big:access.log").expect("read"), "nothing deleted");

    // A paste with no text field open is not read as keys.
    let mut h = harness();
    let first = h.selected_key();
    h.app.handle_event(Event::Paste("d\r".to_owned()));
    assert!(h.app.overlays.is_empty(), "no dialog opened");
    assert!(h.app.store.contains_key(&first).expect("read"));
    assert!(matches!(&h.app.message, Some(Message::Error(m)) if m.contains("paste of 2 B ignored")));

    // `d` does not act on a key hidden behind the output panel.
    let mut h = harness();
    h.press(":").type_text("COUNT").press("<enter>");
    assert!(h.has(|o| matches!(o, Overlay::Output)));
    h.press("d");
    assert!(!h.has(|o| matches!(o, Overlay::Confirm(_))));
    assert!(h.has(|o| matches!(o, Overlay::Output)), "the panel stays until esc");
    h.press("<esc> d");
    assert!(h.has(|o| matches!(o, Overlay::Confirm(_))));
}

/// Defect 2 (the part the state sees): Ctrl-Z asks the loop to suspend, from anywhere.
#[test]
fn ctrl_z_asks_to_suspend() {
    let mut h = harness();
    h.press("<c-z>");
    assert!(h.app.suspend);
    let mut h = harness();
    h.press(": <c-z>");
    assert!(h.app.suspend, "from a text field too");
}

/// Defect 5: a mistyped path created a store without asking.
#[test]
fn a_missing_store_is_created_only_when_the_user_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("typo.db");
    let mut questions = Vec::new();
    let refused = super::open(&path, false, false, 1 << 20, &mut |q| {
        questions.push(q.to_owned());
        false
    });
    let Err((status, message)) = refused else { panic!("not opened") };
    assert_eq!(status, crate::cli::EXIT_FAILED);
    assert!(message.contains("Nothing was created"), "{message}");
    assert_eq!(
        questions,
        vec![format!("{} does not exist. Create a new store there? [y/N] ", path.display())]
    );
    assert!(!path.exists());
    let store = super::open(&path, false, false, 1 << 20, &mut |_| true).expect("created");
    drop(store);
    assert!(path.exists());
    // An existing store is not asked about.
    let store = super::open(&path, false, false, 1 << 20, &mut |_| panic!("not asked")).expect("opened");
    drop(store);
}

/// Defect 8: errors repeated the path (`cannot open random.bin: random.bin: not a…`).
#[test]
fn open_errors_name_the_file_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("random.bin");
    std::fs::write(&path, vec![0x5a; 8192]).expect("write");
    let Err((_, message)) = super::open(&path, false, false, 1 << 20, &mut |_| true) else {
        panic!("refused")
    };
    let name = path.display().to_string();
    assert_eq!(message.matches(&name).count(), 1, "{message}");
    assert!(message.starts_with("Error: cannot open"), "{message}");
}

/// Defect 6: `SCAN LIMIT 1000000` took about 440 MB, the panel kept only the tail of a long
/// answer, and a `GET` of a large value filled it.
#[test]
fn command_bar_answers_are_bounded_and_keep_their_start() {
    let mut h = harness();
    h.app.store.put(b"huge", vec![b'x'; 5 << 20]).expect("put");
    h.press(":").type_text("SCAN LIMIT 1000000").press("<enter>");
    let output: Vec<&str> = h.app.command.output.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(output[0], "› SCAN LIMIT 1000000");
    // The start of the answer is there, and the panel shows it.
    assert!(output[1].starts_with("Found "), "{}", output[1]);
    assert_eq!(h.app.command.output_scroll, 0);
    // Lines are cut (the 3 MiB log is one quoted line), and the answer is cut to its first
    // lines: what the panel holds stays small.
    let bytes: usize = output.iter().map(|t| t.len()).sum();
    assert!(bytes < 1 << 20, "{bytes} bytes of output");
    assert!(output.iter().any(|l| l.contains("more on this line)")));
    // The page stops before the 5 MiB value ...
    assert_eq!(output.last().copied(), Some("Next page: SCAN FROM \"huge\" LIMIT 1000;"));
    // ... and the next one says how to go on after it.
    h.press("<esc> :").type_text("SCAN FROM \"huge\" LIMIT 1000").press("<enter>");
    let last = h.app.command.output.last().map(|(_, t)| t.clone()).unwrap_or_default();
    assert!(
        last.contains("the value of \"huge\" is 5 MiB") && last.contains("SCAN FROM \"huge\\x00\""),
        "{last}"
    );
    // A GET of a value above the bound is refused with a pointer to the value pane.
    h.press("<esc> :").type_text("GET WHERE KEY=\"huge\"").press("<enter>");
    let last = h.app.command.output.last().map(|(_, t)| t.clone()).unwrap_or_default();
    assert!(last.contains("the command bar shows at most 4 MiB"), "{last}");
    let (start, scroll) = (h.app.command.output.len() - 2, h.app.command.output_scroll);
    assert!(scroll <= start && start < scroll + h.app.command.output_height, "the answer's start is shown");
}

/// Defect 6: a SCAN of many small pairs stops at the bar's page size and says how to go on.
#[test]
fn a_long_scan_is_one_page() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = OpenOptions::new().open(dir.path().join("many.db")).expect("open");
    let mut batch = WriteBatch::new();
    for i in 0..3_000u32 {
        batch.put(format!("k{i:05}"), "v");
    }
    store.write(batch).expect("write");
    let mut h = harness_with(store, dir, Config::default());
    h.press(":").type_text("SCAN LIMIT 1000000").press("<enter>");
    let output: Vec<&str> = h.app.command.output.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(output.len(), 1 + 1 + 1_000 + 1, "echo, count, 1,000 pairs, the next page");
    assert_eq!(output[2], "\"k00000\": \"v\"");
    assert_eq!(output[1_002], "Next page: SCAN FROM \"k01000\" LIMIT 1000;");
    // The panel shows the start of the answer.
    assert_eq!(h.app.command.output_scroll, 0);
}

/// Defect 6: the middle of a value beyond the 64 KiB window could not be reached.
#[test]
fn the_whole_of_a_large_value_can_be_read_a_window_at_a_time() {
    let mut h = harness();
    h.press("s").type_text("big:").press("<enter>");
    let whole = h.app.store.get(b"big:access.log").expect("get").expect("exists");
    let window = super::value_view::PREVIEW_BYTES;
    h.press("]");
    assert_eq!(h.app.value.offset, window as u64);
    assert_eq!(h.app.value.bytes, whole[window..2 * window].to_vec());
    assert!(h.screen().contains("bytes 64 KiB–128 KiB of 3.0 MiB"));
    h.press("] [ [");
    assert_eq!(h.app.value.offset, 0);
    // To the last window and no further.
    for _ in 0..100 {
        h.press("]");
    }
    let last = (whole.len() - 1) / window * window;
    assert_eq!(h.app.value.offset, last as u64);
    assert_eq!(h.app.value.bytes, whole[last..].to_vec());
}

/// Defect 7: the history file was world-readable (0644) and holds whole PUT statements.
#[test]
fn the_history_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history");
    let mode = |path: &Path| std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
    let (store, store_dir) = demo_store(false);
    let mut h = harness_with(store, store_dir, Config::default());
    h.app.command = super::command_bar::CommandBar::new(Some(path.clone()));
    h.press(":").type_text("PUT \"secret\":\"hunter2\"").press("<enter>");
    assert_eq!(mode(&path), 0o600);
    // A file left readable by an older version is made private on the next statement.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    h.press("<esc> :").type_text("COUNT").press("<enter>");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(std::fs::read_to_string(&path).expect("read").lines().count(), 2);
    // A statement of several lines comes back as one entry.
    h.press("<esc> :");
    h.app.handle_event(Event::Paste("PUT \"a\":\"1\n2\";".to_owned()));
    h.press("<enter>");
    let again = super::command_bar::CommandBar::new(Some(path.clone()));
    assert_eq!(again.history.last().map(String::as_str), Some("PUT \"a\":\"1\n2\";"));
    assert_eq!(again.history.len(), 3);
}

/// Defect 8: the filter applied only on Enter, only as a prefix, without a count; the footer said
/// "307 keys in store" while filtered.
#[test]
fn the_filter_follows_typing_in_three_modes_and_counts() {
    let mut h = harness();
    h.press("/").type_text("city:b");
    // No Enter yet: the list already shows the matches.
    assert_eq!(h.selected_key(), b"city:bangkok".to_vec());
    h.app.finish_work();
    assert_eq!(h.app.keys.total, Some(5));
    assert!(h.screen().contains("1 of 5 matches · 307 keys"), "{}", h.screen());
    h.press("<down>");
    assert_eq!(h.app.keys.position, Some(1));
    // Tab: contains.
    h.press("<bs> <bs> <bs> <bs> <bs> <bs> <tab>").type_text("ber");
    h.app.finish_work();
    let rows: Vec<&[u8]> = h.app.keys.rows.iter().map(|r| r.key.as_slice()).collect();
    assert!(rows.iter().all(|k| crate::tui::search::contains(k, b"ber")), "{rows:?}");
    assert!(rows.contains(&&b"city:berlin"[..]));
    let total = h.app.keys.total.expect("counted");
    assert_eq!(total, rows.len() as u64);
    insta::assert_snapshot!("filter_contains", h.screen());
    // Tab: glob.
    h.press("<bs> <bs> <bs> <tab>").type_text("city:*o");
    h.app.finish_work();
    assert!(h.app.keys.rows.iter().all(|r| r.key.starts_with(b"city:") && r.key.ends_with(b"o")));
    assert!(h.app.keys.rows.iter().any(|r| r.key == b"city:oslo"));
    // Enter keeps it; Esc on the screen clears it.
    h.press("<enter>");
    assert_eq!(h.app.keys.filter.mode, super::search::FilterMode::Glob);
    h.press("<esc>");
    assert!(h.app.keys.filter.is_empty());
    // Esc while typing puts back the filter that was there before.
    h.press("/").type_text("note:").press("<enter> /").type_text("xyz").press("<esc>");
    assert_eq!(h.app.keys.filter.pattern, b"note:".to_vec());
}

/// Defect 8: the position among all keys without a filter, kept by moves and found again after
/// a jump.
#[test]
fn the_position_is_known_after_moves_and_jumps() {
    let mut h = harness();
    assert_eq!(h.app.keys.position, Some(0));
    h.press("j j <pgdn>");
    assert_eq!(h.app.keys.position, Some(2 + h.app.keys.height as u64));
    h.press("G");
    assert_eq!(h.app.keys.position, Some(306));
    h.press("s").type_text("note:001").press("<enter>");
    h.app.finish_work();
    let all: Vec<Vec<u8>> =
        h.app.store.keys(Bound::Unbounded, Bound::Unbounded).map(|r| r.expect("key").0).collect();
    let expected = all.iter().position(|k| k.as_slice() == b"note:001").expect("exists") as u64;
    assert_eq!(h.app.keys.position, Some(expected));
    assert!(h.screen().contains(&format!(" {} of 307 keys ", expected + 1)));
}

/// Defect 8: the delete dialog did not say that Enter confirms.
#[test]
fn the_delete_dialog_says_enter_deletes() {
    let mut h = harness();
    h.press("d");
    let screen = h.screen();
    assert!(screen.contains("y or enter delete") && screen.contains("n or esc keep it"), "{screen}");
}

/// Defect 8: the empty key was a blank row and the add dialog refused it; long keys that differ at
/// the end looked alike and could not be seen whole.
#[test]
fn empty_and_long_keys_are_told_apart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = OpenOptions::new().open(dir.path().join("keys.db")).expect("open");
    let long = "L".repeat(120);
    store.put(format!("{long}1"), "one").expect("put");
    store.put(format!("{long}2"), "two").expect("put");
    let mut h = harness_with(store, dir, Config::default());
    // The add dialog takes the empty key (as `PUT "":"v"` does).
    h.press("a <tab>").type_text("empty key's value").press("<c-s>");
    assert!(h.editor().is_none(), "saved");
    assert_eq!(h.app.store.get(b"").expect("get").as_deref(), Some(&b"empty key's value"[..]));
    let screen = h.screen();
    insta::assert_snapshot!("empty_and_long_keys", screen);
    let rows: Vec<&str> = screen.lines().skip(2).take(3).collect();
    assert!(rows[0].contains("▶ \"\""), "{rows:?}");
    assert!(rows[1].contains("…") && rows[1].contains("LL1 3 B"), "{rows:?}");
    assert!(rows[2].contains("…") && rows[2].contains("LL2 3 B"), "{rows:?}");
    // `i` shows the whole key.
    h.press("j i");
    let screen = h.screen();
    assert!(screen.contains("121 bytes"), "{screen}");
    assert!(screen.matches('L').count() >= 120, "{screen}");
}

/// Defect 8: at 80 × 24 the hints and statistics were cut off; at 60 × 15 the key list had 6 rows;
/// below that there was no message.
#[test]
fn small_terminals() {
    let mut h = harness();
    h.app.resize(80, 24);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    terminal.draw(|frame| ui::render(&h.app, frame)).expect("draw");
    let screen = terminal.backend().to_string();
    insta::assert_snapshot!("screen_80x24", screen);
    let lines: Vec<&str> = screen.lines().collect();
    let hints = lines[23];
    assert!(hints.trim_end_matches('"').trim_end().ends_with("? more"), "{hints}");
    for figure in ["■ free", "unsaved pages", "cache hits", "depth"] {
        assert!(screen.contains(figure), "{figure} missing:\n{screen}");
    }
    h.app.resize(60, 15);
    assert!(h.app.keys.height >= 10, "{} rows", h.app.keys.height);
    let mut terminal = Terminal::new(TestBackend::new(60, 15)).expect("terminal");
    terminal.draw(|frame| ui::render(&h.app, frame)).expect("draw");
    insta::assert_snapshot!("screen_60x15", terminal.backend().to_string());
    h.app.resize(30, 8);
    let mut terminal = Terminal::new(TestBackend::new(30, 8)).expect("terminal");
    terminal.draw(|frame| ui::render(&h.app, frame)).expect("draw");
    assert!(terminal.backend().to_string().contains("terminal too small"));
}

/// Defect 8: the detail of page 0 cut its fields off, with no way to see the rest.
#[test]
fn the_meta_page_detail_wraps_and_scrolls() {
    let mut h = harness();
    h.press("p");
    assert_eq!(h.app.pages.selected, 0);
    let info = h.app.store.page_info(0).expect("page 0");
    // Wrapped, not cut: every field's text is there in full, however narrow the pane.
    let lines = super::page_view::detail_lines(&info, 4096, &super::config::Theme::default(), 24);
    let text: String = lines.iter().flat_map(|l| l.spans.iter().map(|s| s.content.to_string())).collect();
    let mut last_index = 0;
    for (i, item) in info.items.iter().enumerate() {
        if let crate::PageItem::MetaField { name, value } = item {
            let whole = text.contains(&format!("{name}: {value}"))
                || text.contains(&format!("{name}:        {value}"));
            assert!(whole, "{name}: {value} is cut in {text}");
            last_index = i;
        }
    }
    assert!(lines.iter().all(|l| l.width() <= 24));
    // The detail scrolls to its last row.
    h.press("<enter> G");
    let screen = h.screen();
    assert!(screen.contains(&format!("{last_index:>5} ")), "{screen}");
}

/// Defect 8: a ZWJ emoji shifted its row's border: terminals disagree on its width.
#[test]
fn emoji_sequences_do_not_shift_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = OpenOptions::new().open(dir.path().join("emoji.db")).expect("open");
    store.put("dev:\u{1f469}\u{200d}\u{1f4bb}", "coder").expect("put");
    store.put("dev:plain", "x").expect("put");
    store.put("dev:\u{2764}\u{fe0f}", "heart").expect("put");
    let mut h = harness_with(store, dir, Config::default());
    let screen = h.screen();
    // Each key row ends its size at the same column as the others.
    let rows: Vec<&str> = screen.lines().skip(2).take(3).collect();
    assert!(rows.iter().all(|row| row.contains(" B│")), "{rows:#?}");
}

// ---------------------------------------------------------------------- issue 13: features

/// Runs the program the app asked for as the event loop does (without giving up a terminal).
fn run_external(h: &mut Harness) {
    let external = h.app.external.take().expect("a program was asked for");
    let program = match &external {
        super::external::External::Pager { .. } => h.app.programs.pager.clone(),
        super::external::External::Edit { .. } => h.app.programs.editor.clone(),
    };
    let status = super::external::run_program(&program, external.file());
    h.app.finish_external(external, status);
}

/// Feature 2: the whole value in $EDITOR, written back as one commit, and only if the stored
/// value did not change meanwhile; binary values as a hex dump read back.
#[test]
fn the_whole_value_in_the_editor_and_the_pager() {
    let mut h = harness();
    h.press("s").type_text("note:003").press("<enter>");
    h.app.programs.editor = "sed -i s/Thursday/Friday/".to_owned();
    h.press("E");
    run_external(&mut h);
    let value = h.app.store.get(b"note:003").expect("get").expect("exists");
    assert!(
        String::from_utf8_lossy(&value).contains("moved to Friday"),
        "{}",
        String::from_utf8_lossy(&value)
    );
    assert!(matches!(&h.app.message, Some(Message::Info(m)) if m.starts_with("saved note:003")));
    // Changed meanwhile: refused, and the edited text is kept in a file.
    h.app.programs.editor = "sed -i s/Friday/Saturday/".to_owned();
    h.press("E");
    h.app.store.put(b"note:003", b"changed by someone else").expect("put");
    run_external(&mut h);
    assert_eq!(h.app.store.get(b"note:003").expect("get").as_deref(), Some(&b"changed by someone else"[..]));
    let Some(Message::Error(refusal)) = h.app.message.clone() else { panic!("refused") };
    assert!(refusal.contains("the value changed while it was being edited"), "{refusal}");
    let kept = refusal.rsplit("is in ").next().unwrap_or_default().trim_end_matches(')');
    assert!(std::fs::remove_file(kept).is_ok(), "the text was kept in {kept}");
    // A binary value is edited as a hex dump and read back.
    h.app.store.put(b"bin:edit", [0u8, 1, 2, 0xff]).expect("put");
    h.press("r s").type_text("bin:edit").press("<enter>");
    h.app.programs.editor = "printf '00000004: 0a 0b\\n' >>".to_owned();
    h.press("E");
    run_external(&mut h);
    assert_eq!(h.app.store.get(b"bin:edit").expect("get"), Some(vec![0, 1, 2, 0xff, 0x0a, 0x0b]));
    // The pager gets the whole value, not the 64 KiB window.
    h.press("s").type_text("big:").press("<enter>");
    let out = h._dir.path().join("paged");
    h.press("v");
    let file = h.app.external.as_ref().map(|e| e.file().to_path_buf()).expect("pager asked for");
    assert_eq!(std::fs::read(&file).expect("read").len() as u64, h.app.value.total_len);
    h.app.programs.pager = format!("cat > {} <", out.display());
    run_external(&mut h);
    assert_eq!(std::fs::read(&out).expect("paged").len() as u64, h.app.value.total_len);
    assert!(!file.exists(), "the temporary file is removed");
}

/// Feature 3: copy with OSC 52; export of the filtered keys as JSON lines IMPORT reads.
#[test]
fn copy_and_export() {
    let mut h = harness();
    h.press("s").type_text("counter:errors").press("<enter>");
    h.press("y");
    insta::assert_snapshot!("copy_menu", h.screen());
    h.press("k");
    assert_eq!(h.app.terminal_output, super::external::osc52(b"counter:errors"));
    h.app.terminal_output.clear();
    h.press("y p");
    let value = h.app.store.get(b"counter:errors").expect("get").expect("exists");
    let put = format!("PUT \"counter:errors\":{};", crate::command::quote(&value));
    assert_eq!(h.app.terminal_output, super::external::osc52(put.as_bytes()));
    // A binary key is copied as the literal the command bar reads.
    h.app.terminal_output.clear();
    h.press("g y k");
    assert_eq!(h.app.terminal_output, super::external::osc52(b"big:access.log"));

    // Export what the filter selects.
    let file = h._dir.path().join("cities.jsonl");
    h.press("/").type_text("city:").press("<enter> x");
    insta::assert_snapshot!("export_prompt", h.screen());
    for _ in 0.."export.jsonl".len() {
        h.press("<bs>");
    }
    h.type_text(&file.display().to_string()).press("<enter>");
    h.app.finish_work();
    let text = std::fs::read_to_string(&file).expect("exported");
    let lines: Vec<&str> = text.lines().collect();
    let cities = h.app.keys.total.expect("counted");
    assert_eq!(lines.len() as u64, 1 + cities);
    assert!(lines[0].contains("wind-kvstore-export"));
    assert!(lines[1].starts_with("{\"key\":\"city:amsterdam\""), "{}", lines[1]);
    assert!(
        matches!(&h.app.message, Some(Message::Info(m)) if m.starts_with(&format!("exported {cities} pairs")))
    );
    // IMPORT reads it back into another store.
    let mut other = OpenOptions::new().open(h._dir.path().join("other.db")).expect("open");
    let import = crate::command::Statement::Import { path: file.display().to_string() };
    crate::command::execute(&mut other, &import, &crate::command::FileAccess::Anywhere).expect("imports");
    assert_eq!(other.len().unwrap(), cities);
    // An existing file is not overwritten.
    h.press("x");
    for _ in 0.."export.jsonl".len() {
        h.press("<bs>");
    }
    h.type_text(&file.display().to_string()).press("<enter>");
    assert!(matches!(&h.app.message, Some(Message::Error(m)) if m.contains("exists already")));
}

/// Feature 4: search in values, with progress, stoppable, and a jump to a match.
#[test]
fn search_in_values() {
    let mut h = harness();
    h.press("F").type_text("Amsterdam").press("<enter>");
    h.app.finish_work();
    let matches = match h.app.overlays.last() {
        Some(Overlay::ValueSearch(view)) => view.job.as_ref().map(|j| j.matches.clone()).unwrap_or_default(),
        _ => panic!("the search is open"),
    };
    assert!(matches.contains(&b"city:amsterdam".to_vec()), "{matches:?}");
    assert!(matches.iter().any(|k| k.starts_with(b"user:")), "users living there");
    insta::assert_snapshot!("value_search", h.screen());
    h.press("<enter>");
    assert_eq!(h.selected_key(), matches[0]);
    assert!(h.app.overlays.is_empty());
    // Esc stops a search that is still running.
    h.press("F").type_text("zzz-nowhere").press("<enter> <esc>");
    match h.app.overlays.last() {
        Some(Overlay::ValueSearch(view)) => {
            assert!(view.stopped && view.job.as_ref().is_some_and(|j| j.done))
        }
        _ => panic!("the search stays open with its results"),
    }
}

/// Feature 5: values decoded: gzip and zstd by their magic numbers, base64, MessagePack and CBOR
/// chosen with `t`; documents as pretty JSON.
#[test]
fn value_decoders() {
    use std::io::Write as _;
    let mut h = harness();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"service": "api", "replicas": 3, "tags": ["a", "b"]}"#).expect("gzip");
    h.app.store.put(b"cfg:gzip", gz.finish().expect("gzip")).expect("put");
    let msgpack = [0x82, 0xa4, b'n', b'a', b'm', b'e', 0xa3, b'a', b'd', b'a', 0xa3, b'a', b'g', b'e', 0x24];
    h.app.store.put(b"cfg:msgpack", msgpack).expect("put");
    h.app.store.put(b"cfg:base64", b"aGVsbG8sIHdvcmxk").expect("put");
    h.press("r s").type_text("cfg:gzip").press("<enter>");
    let screen = h.screen();
    assert!(screen.contains("gzip → json (auto)") && screen.contains("\"replicas\": 3"), "{screen}");
    insta::assert_snapshot!("value_gzip", screen);
    // MessagePack: t to the decoder (text, hex, json, base64, gzip, zstd, msgpack).
    h.press("s").type_text("cfg:msgpack").press("<enter> t t t t t t t");
    let screen = h.screen();
    assert!(screen.contains("msgpack → json") && screen.contains("\"name\": \"ada\""), "{screen}");
    // Base64, chosen (the mode stays as chosen: on through cbor, auto, text, hex, json).
    h.press("s").type_text("cfg:base64").press("<enter> t t t t t t");
    let screen = h.screen();
    assert!(screen.contains("base64 → text") && screen.contains("hello, world"), "{screen}");
    // A decoder that does not fit says so and shows hex.
    h.press("s").type_text("note:001").press("<enter>");
    assert!(h.screen().contains("base64 failed · hex"));
}

/// A read-only browser beside a writer: `r` shows what was committed since it opened.
#[test]
fn reload_in_a_read_only_browser_shows_newer_commits() {
    let (store, dir) = demo_store(true);
    let writer = OpenOptions::new().open(dir.path().join("test.db")).expect("writer");
    let mut h = harness_with(store, dir, Config::default());
    let keys_before = h.app.store.len().unwrap();
    writer.put(b"aaa:added-by-another-handle", b"fresh").expect("put");
    assert!(!h.screen().contains("aaa:added-by-another-handle"), "not before a reload");
    // The reload keeps the selection where it was; the new key sorts first.
    h.press("r <home>");
    let screen = h.screen();
    assert!(screen.contains("aaa:added-by-another-handle"), "{screen}");
    assert!(screen.contains("keys 308"), "{screen}");
    assert_eq!(h.app.store.len().unwrap(), keys_before + 1);
    assert!(h.app.store.is_read_only(), "still read-only after the reload");
}

/// A store in `dir` whose log holds three commits, one damaged (a byte flipped at the end of the
/// last record, or of the second): opening it stops the replay there and says so.
fn store_with_replay_stop(dir: &Path, damaged_from_end: usize) -> std::path::PathBuf {
    let live = dir.join("live.db");
    let store = KVStore::open(&live, None).expect("open");
    for key in ["k1", "k2", "k3"] {
        store.put(key.as_bytes(), b"v").expect("put");
    }
    // The files as a crash would leave them: the three commits in the log, not yet checkpointed.
    let path = dir.join("test.db");
    std::fs::copy(&live, &path).expect("copy the store");
    std::fs::copy(crate::log_path(&live), crate::log_path(&path)).expect("copy the log");
    drop(store);
    let mut log = std::fs::read(crate::log_path(&path)).expect("read the log");
    // The records' ends (docs/FORMAT.md: a body length, then 12 more header bytes and the
    // body); zeros follow the last.
    let mut ends = Vec::new();
    let mut at = 512;
    while log.get(at..at + 4).is_some_and(|b| b != [0; 4]) {
        at += 16 + u32::from_le_bytes(log[at..at + 4].try_into().expect("4 bytes")) as usize;
        ends.push(at);
    }
    assert_eq!(ends.len(), 3, "three records");
    log[ends[2 - damaged_from_end] - 1] ^= 0xff;
    std::fs::write(crate::log_path(&path), log).expect("write the log");
    path
}

#[test]
fn a_replay_stop_is_shown_on_open_and_stays_reachable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = store_with_replay_stop(dir.path(), 0);
    let store = OpenOptions::new().open(&path).expect("open");
    assert!(store.recovery_report().stopped_at.is_some(), "{:?}", store.recovery_report());
    let mut h = harness_with(store, dir, Config::default());
    assert!(h.has(|o| matches!(o, Overlay::Recovery)), "shown on open");
    let screen = h.screen();
    assert!(screen.contains(" recovery "), "{screen}");
    assert!(screen.contains("log replay stopped at byte"), "{screen}");
    assert!(screen.contains(": record checksum mismatch"), "{screen}");
    assert!(screen.contains("replayed before it"), "{screen}");
    insta::assert_snapshot!("recovery_on_open", screen);
    // Any key closes it, q too (without quitting); the statistics keep a word of it.
    h.press("q");
    assert!(!h.app.quit);
    assert!(!h.has(|o| matches!(o, Overlay::Recovery)));
    let screen = h.screen();
    assert!(!screen.contains("log replay stopped at byte"), "{screen}");
    assert!(screen.contains("recovery log replay stopped"), "{screen}");
    // R shows it again.
    h.press("R");
    assert!(h.screen().contains("log replay stopped at byte"));
    h.press("<esc>");
    assert!(!h.has(|o| matches!(o, Overlay::Recovery)));
}

#[test]
fn a_quiet_open_shows_no_recovery_report() {
    let mut h = harness();
    assert!(h.app.store.recovery_report().is_quiet());
    assert!(!h.has(|o| matches!(o, Overlay::Recovery)));
    assert!(!h.screen().contains("recovery"));
    h.press("R");
    assert!(!h.has(|o| matches!(o, Overlay::Recovery)));
    assert_eq!(h.app.message, Some(Message::Info("the open found nothing to report in the log".to_owned())));
}

/// A damaged record with a whole one after it: commits may be missing, and the dialog says so.
#[test]
fn possibly_missing_commits_are_shown_as_a_warning_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = store_with_replay_stop(dir.path(), 1);
    let store = OpenOptions::new().open(&path).expect("open");
    assert!(store.recovery_report().may_have_lost_data(), "{:?}", store.recovery_report());
    let mut h = harness_with(store, dir, Config::default());
    let screen = h.screen();
    assert!(screen.contains(" data may be missing "), "{screen}");
    assert!(screen.contains("Acknowledged commits may be missing from this store."), "{screen}");
    h.press("<esc>");
    assert!(h.screen().contains("recovery data may be missing"));
}

/// Possibly missing commits are drawn as a warning: the error colour and a title that says so.
#[test]
fn possibly_missing_commits_are_a_warning() {
    let report = crate::RecoveryReport {
        commits_replayed: 4,
        stopped_at: Some((300, "sequence gap".to_owned())),
        data_may_be_missing: Some("the log's sequence jumps from 4 to 9".to_owned()),
        log_kept: true,
        notes: Vec::new(),
    };
    let theme = Config::default().theme;
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("terminal");
    terminal
        .draw(|frame| super::dialogs::render_recovery(&report, &theme, Some("S"), frame, frame.area()))
        .expect("draw");
    let buffer = terminal.backend().buffer().clone();
    let text = terminal.backend().to_string();
    assert!(text.contains(" data may be missing "), "{text}");
    assert!(text.contains("acknowledged commits may be missing: the log's sequence jumps"), "{text}");
    assert!(text.contains("the log was kept as found"), "{text}");
    let title = buffer.content().iter().find(|cell| cell.symbol() == "┌").expect("a border");
    assert_eq!(title.fg, theme.error);
}

// ------------------------------------------------------------------------ live follow

/// A read-only browser on the demo store and a writable handle of the same file, as an
/// application writing beside it.
fn live_harness() -> (Harness, KVStore) {
    let (store, dir) = demo_store(true);
    let writer = OpenOptions::new().open(dir.path().join("test.db")).expect("writer");
    (harness_with(store, dir, Config::default()), writer)
}

/// 16:51:03 UTC on the wall clock, and a poll at `seconds` after an instant of the test's own.
fn at(start: std::time::Instant, seconds: f64) -> (std::time::Instant, std::time::SystemTime) {
    let wall = std::time::UNIX_EPOCH + std::time::Duration::from_secs(16 * 3600 + 51 * 60 + 3);
    (start + std::time::Duration::from_secs_f64(seconds), wall)
}

fn follow(h: &mut Harness, start: std::time::Instant, seconds: f64) -> bool {
    let (now, wall) = at(start, seconds);
    h.app.follow(now, wall)
}

fn row_keys(h: &Harness) -> Vec<String> {
    h.app.keys.rows.iter().map(|r| String::from_utf8_lossy(&r.key).into_owned()).collect()
}

#[test]
fn live_follow_keeps_the_selection_and_the_scroll_and_marks_what_changed() {
    let (mut h, writer) = live_harness();
    let start = std::time::Instant::now();
    h.press("s").type_text("user:0100").press("<enter> j j j j j");
    assert_eq!((h.selected_key(), h.app.keys.selected), (b"user:0105".to_vec(), 5));
    assert_eq!(row_keys(&h)[0], "user:0100");
    assert!(h.screen().contains(" ● live "), "following from the start");
    // Nothing committed: a poll changes nothing.
    assert!(!follow(&mut h, start, 0.0));

    // The application adds a key above the selection, changes one below and deletes another.
    writer.put("user:0102a", "{\"new\": true}").expect("put");
    writer.put("user:0107", "{\"changed\": true}").expect("put");
    assert!(writer.delete("user:0110").expect("delete"));
    // Polls come at most every 250 ms: the first one after that sees the commits (data_version
    // on the read-only handle looks at the files).
    assert!(!follow(&mut h, start, 0.1));
    assert!(follow(&mut h, start, 0.5));

    // The same key on the same row; the key added above pushed the window's top down by one.
    assert_eq!((h.selected_key(), h.app.keys.selected), (b"user:0105".to_vec(), 5));
    let rows = row_keys(&h);
    assert_eq!(rows[..6], ["user:0101", "user:0102", "user:0102a", "user:0103", "user:0104", "user:0105"]);
    assert!(!rows.contains(&"user:0110".to_owned()), "{rows:?}");
    assert_eq!(h.app.live.mark(b"user:0102a"), Some(super::live::Change::Added));
    assert_eq!(h.app.live.mark(b"user:0107"), Some(super::live::Change::Updated));
    assert_eq!(h.app.live.marks.len(), 2, "only what changed is marked");
    let screen = h.screen();
    assert!(screen.contains("+ user:0102a") && screen.contains("~ user:0107"), "{screen}");
    assert!(screen.contains("keys 307") && screen.contains("● live 16:51:03 UTC"), "{screen}");
    insta::assert_snapshot!("live_changed_keys", screen);

    // The marks last two seconds.
    assert!(!follow(&mut h, start, 2.4));
    assert!(follow(&mut h, start, 2.6), "the marks went");
    assert!(h.app.live.marks.is_empty());
    assert!(!h.screen().contains("+ user:0102a"));
}

#[test]
fn live_follow_reads_the_shown_value_again_where_it_was_scrolled() {
    let (mut h, writer) = live_harness();
    let start = std::time::Instant::now();
    let text = |word: &str| (0..80).map(|i| format!("{word} line {i}\n")).collect::<String>();
    writer.put("doc:live", text("first")).expect("put");
    assert!(follow(&mut h, start, 0.0));
    h.press("s").type_text("doc:live").press("<enter> <tab> j j j j j j j j j j");
    assert_eq!(h.app.value.scroll, 10);
    writer.put("doc:live", text("second")).expect("put");
    assert!(follow(&mut h, start, 1.0));
    assert_eq!(h.app.value.scroll, 10, "the value stays scrolled where it was");
    let screen = h.screen();
    assert!(screen.contains("second line 10") && !screen.contains("first line"), "{screen}");
    assert_eq!(h.app.focus, Focus::Value);
}

#[test]
fn a_deleted_selection_gives_way_to_its_neighbour() {
    let (mut h, writer) = live_harness();
    let start = std::time::Instant::now();
    h.press("s").type_text("user:0100").press("<enter> j j");
    assert!(writer.delete("user:0102").expect("delete"));
    assert!(follow(&mut h, start, 0.0));
    assert_eq!((h.selected_key(), h.app.keys.selected), (b"user:0103".to_vec(), 2));
    let screen = h.screen();
    assert!(screen.contains("user:0102 was deleted"), "{screen}");
    // The last key deleted: the one before it is selected.
    h.press("G");
    assert_eq!(h.selected_key(), b"user:0200".to_vec());
    assert!(writer.delete("user:0200").expect("delete"));
    assert!(follow(&mut h, start, 1.0));
    assert_eq!(h.selected_key(), b"user:0199".to_vec());
    assert_eq!(h.app.keys.selected, h.app.keys.rows.len() - 1);
}

#[test]
fn paused_follow_waits_and_r_reloads_by_hand() {
    let (mut h, writer) = live_harness();
    let start = std::time::Instant::now();
    h.press("L");
    let screen = h.screen();
    assert!(screen.contains("‖ paused") && screen.contains("paused: r reloads by hand"), "{screen}");
    writer.put("aaa:while-paused", "x").expect("put");
    assert!(!follow(&mut h, start, 0.0));
    assert!(!follow(&mut h, start, 5.0));
    assert!(!h.screen().contains("aaa:while-paused"), "not while paused");
    // r still reloads; the selection stays where it was, the new key sorts before it.
    h.press("r");
    assert_eq!(h.selected_key(), b"big:access.log".to_vec());
    h.press("<home>");
    assert!(h.screen().contains("aaa:while-paused"));
    // Resumed: polls again at once, and shows what comes next.
    h.press("L");
    assert!(h.screen().contains(" ● live ") && h.app.live.following);
    writer.put("aab:after-resume", "y").expect("put");
    assert!(follow(&mut h, start, 5.1));
    assert!(h.screen().contains("+ aab:after-resume"));
}

#[test]
fn a_failed_refresh_is_shown_and_a_compacted_file_is_followed() {
    let (mut h, writer) = live_harness();
    let dir = h._dir.path().to_owned();
    let db = dir.join("test.db");
    let start = std::time::Instant::now();
    // The writer compacts: the file is replaced by a rename; the refresh opens the new one.
    writer.put("aaa:before-compact", "1").expect("put");
    writer.compact().expect("compact");
    assert!(follow(&mut h, start, 0.0));
    assert!(h.app.store.contains_key("aaa:before-compact").expect("read"));
    writer.close().expect("close");

    // The file replaced by one that is not a store: said in the status line, the screen stays.
    let good = dir.join("good.db");
    std::fs::copy(&db, &good).expect("copy");
    let junk = dir.join("junk.db");
    std::fs::write(&junk, vec![0x5a; 8192]).expect("write");
    std::fs::rename(&junk, &db).expect("rename");
    assert!(follow(&mut h, start, 1.0));
    let screen = h.screen();
    assert!(screen.contains(" live: ") && screen.contains("not a Wind-KVStore file"), "{screen}");
    assert!(screen.contains("● live: refresh failed") && screen.contains("big:access.log"), "{screen}");
    assert!(h.app.store.get("aaa:before-compact").expect("still readable").is_some());
    // Tried again a second later, not at every poll; back to normal once the file is.
    assert!(!follow(&mut h, start, 1.5));
    std::fs::rename(&good, &db).expect("rename");
    assert!(follow(&mut h, start, 2.0));
    let screen = h.screen();
    assert!(!screen.contains("refresh failed") && !screen.contains("live: cannot"), "{screen}");
}

#[test]
fn a_writable_browser_follows_its_own_commits() {
    let mut h = harness();
    let start = std::time::Instant::now();
    assert!(!follow(&mut h, start, 0.0));
    h.press(":").type_text("PUT \"aaa:mine\":\"1\";").press("<enter> <esc>");
    assert!(follow(&mut h, start, 0.3));
    assert!(h.screen().contains("● live 16:51:03 UTC"));
    assert!(!follow(&mut h, start, 0.6), "seen once");
}

/// Opening the newest commit replays the log, seconds for a long one: it runs beside the screen,
/// which takes keys meanwhile, and the new handle is swapped in when a later poll finds it ready.
#[test]
fn a_refresh_runs_beside_the_screen() {
    let (mut h, writer) = live_harness();
    h.app.live.wait_for_refresh = std::time::Duration::ZERO;
    let start = std::time::Instant::now();
    writer.put("bin:later", "1").expect("put");
    let mut seconds = 0.0;
    follow(&mut h, start, seconds);
    // Keys go on being handled by the handle the screen shows.
    h.press("j");
    assert_eq!(h.app.keys.selected, 1);
    while !h.app.store.contains_key("bin:later").expect("read") {
        assert!(seconds < 60.0, "the refresh never came");
        std::thread::sleep(std::time::Duration::from_millis(10));
        seconds += 0.01;
        follow(&mut h, start, seconds);
    }
    assert_eq!(h.app.live.mark(b"bin:later"), Some(super::live::Change::Added));
    assert_eq!(h.app.keys.selected, 1, "the selection stayed on its row");
    assert!(!h.app.live.slow);
}

#[test]
fn the_statistics_show_readers_while_a_read_only_handle_pins_a_checkpoint() {
    let mut h = harness();
    let path = h._dir.path().join("test.db");
    let quiet = h.screen();
    assert!(!quiet.contains("readers ") && !quiet.contains("held "), "{quiet}");

    let reader = OpenOptions::new().read_only(true).open(&path).expect("read-only open");
    // The writer looks at the reader table at its checkpoints; the pane follows the next event.
    h.app.store.put("reader-test", "1").expect("put");
    h.app.store.checkpoint().expect("checkpoint");
    h.press("j");
    assert_eq!(h.app.stats.readers, 1);
    let screen = h.screen();
    assert!(screen.contains("readers 1"), "{screen}");
    let held = format!("held {} pages", h.app.stats.pages_held_for_readers);
    assert!(screen.contains(&held), "{held}\n{screen}");

    drop(reader);
    h.app.store.put("reader-test", "2").expect("put");
    h.app.store.checkpoint().expect("checkpoint");
    h.press("k");
    assert_eq!((h.app.stats.readers, h.app.stats.pages_held_for_readers), (0, 0));
    let screen = h.screen();
    assert!(!screen.contains("readers ") && !screen.contains("held "), "{screen}");
}

// ------------------------------------------------------------------ who has the store open

/// A reader table as `READERS` answers it, fixed so its drawing can be a snapshot: this process
/// is the writer and one reader; another process pins an older checkpoint; a slot is still
/// being written.
fn fixed_reader_table() -> crate::command::ReaderTable {
    let now_ms = 1_700_000_000_000;
    let reader = |slot, pid, checkpoint_id, age_ms: Option<u64>| crate::ReaderInfo {
        slot,
        pid,
        checkpoint_id,
        pinned_since_ms: age_ms.map(|age| now_ms - age),
        pages_held: checkpoint_id.map(|c: u64| (9 - c) * 120),
    };
    crate::command::ReaderTable {
        readers: vec![
            reader(0, Some(4242), Some(9), Some(250)),
            reader(1, Some(9001), Some(6), Some(200_000)),
            reader(2, None, None, None),
        ],
        now_ms,
        own_pid: 4242,
        checkpoint_id: 9,
        pages_held_for_readers: 37,
        read_only: false,
        writer: Some(Some(4242)),
    }
}

#[test]
fn the_reader_table_overlay_draws_the_writer_and_each_reader() {
    let view = super::readers::ReadersView {
        table: Ok(fixed_reader_table()),
        read_at: std::time::Instant::now(),
        scroll: 0,
    };
    let theme = Config::default().theme;
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("terminal");
    terminal.draw(|frame| super::readers::render(&view, &theme, frame, frame.area())).expect("draw");
    let screen = terminal.backend().to_string();
    assert!(screen.contains("pid 4242 (this process)"), "{screen}");
    assert!(screen.contains("pages held for readers  37"), "{screen}");
    assert!(screen.contains("9001           6       3         360    3 min 20 s"), "{screen}");
    assert!(screen.contains("250 ms  this process"), "{screen}");
    assert!(screen.contains("(pinning)"), "{screen}");
    insta::assert_snapshot!("readers_overlay", screen);
}

/// `w` in a writable browser with a read-only handle of the same file open: the writer is this
/// process, the reader is listed as this process; the table is read again while open, so a
/// reader that closes goes from the screen without a key.
#[test]
fn w_shows_who_has_the_store_open_and_follows_it() {
    let (store, dir) = demo_store(false);
    let path = dir.path().join("test.db");
    let reader = OpenOptions::new().read_only(true).open(&path).expect("reader");
    let mut h = harness_with(store, dir, Config::default());
    let pid = std::process::id();
    h.press("w");
    assert!(h.has(|o| matches!(o, Overlay::Readers(_))));
    let screen = h.screen();
    assert!(screen.contains(" who has the store open "), "{screen}");
    assert!(screen.contains(&format!("pid {pid} (this process)")), "{screen}");
    assert!(screen.contains("this handle             writable"), "{screen}");
    assert!(screen.contains("  this process"), "{screen}");
    assert!(screen.contains("1 reader;"), "{screen}");
    assert!(screen.contains("j/k scroll  esc close"), "the hints: {screen}");

    drop(reader);
    let now = std::time::Instant::now();
    assert!(!h.app.watch(now), "read again only once a second");
    assert!(h.app.watch(now + std::time::Duration::from_secs(2)));
    let screen = h.screen();
    assert!(screen.contains("No readers"), "{screen}");
    // Scrolling and closing.
    h.press("j k G g");
    assert!(h.has(|o| matches!(o, Overlay::Readers(_))));
    h.press("<esc>");
    assert!(!h.has(|o| matches!(o, Overlay::Readers(_))));
    h.press("w w");
    assert!(!h.has(|o| matches!(o, Overlay::Readers(_))), "w closes it too");
}

/// A read-only browser beside a writer: it holds a slot itself, and it counts the pages held for
/// readers from the free list (nothing is held yet: it pins the newest checkpoint).
#[test]
fn w_in_a_read_only_browser() {
    let (mut h, writer) = live_harness();
    h.press("w");
    let screen = h.screen();
    assert!(screen.contains(&format!("pid {} (this process)", std::process::id())), "{screen}");
    assert!(screen.contains("read-only (it holds a slot below)"), "{screen}");
    assert!(screen.contains("pages held for readers  0"), "{screen}");
    assert!(screen.contains("  this process"), "{screen}");
    drop(writer);
}

// ------------------------------------------------------------------ salvage from the browser

/// Waits (up to 30 s) for the salvage on screen to end.
fn wait_for_salvage(h: &mut Harness) {
    let start = std::time::Instant::now();
    while h.has(|o| matches!(o, Overlay::Salvage(view) if view.running())) {
        h.app.watch(std::time::Instant::now());
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the salvage did not end");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The recovery report offers the salvage; `S` asks for the new store's name (one beside the
/// store is proposed), enter runs it on a thread, and its report is shown; the new store holds
/// what the open recovered.
#[test]
fn salvage_from_the_recovery_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = store_with_replay_stop(dir.path(), 0);
    let store = OpenOptions::new().open(&path).expect("open");
    let mut h = harness_with(store, dir, Config::default());
    let screen = h.screen();
    assert!(screen.contains("S salvages every readable key into a new store"), "{screen}");
    assert!(screen.contains("esc close  S salvage"), "the hints: {screen}");
    h.press("S");
    assert!(!h.has(|o| matches!(o, Overlay::Recovery)), "the report gave way to the salvage");
    let proposed = path.with_file_name("test-salvaged.db");
    let screen = h.screen();
    assert!(screen.contains(" salvage into a new store "), "{screen}");
    assert!(screen.contains("test-salvaged.db█"), "{screen}");
    assert!(screen.contains("enter salvages · esc cancels"), "{screen}");
    h.press("<enter>");
    wait_for_salvage(&mut h);
    let screen = h.screen();
    assert!(screen.contains("Done in "), "{screen}");
    assert!(screen.contains("Salvaged 2 keys into"), "{screen}");
    let saved = OpenOptions::new().read_only(true).open(&proposed).expect("the new store opens");
    assert_eq!(saved.get(b"k1").expect("get").as_deref(), Some(&b"v"[..]));
    assert_eq!(saved.len().unwrap(), 2);
    h.press("<esc>");
    assert!(h.app.overlays.is_empty());
    // The next proposal does not take the name again.
    h.press("S");
    assert!(h.screen().contains("test-salvaged-2.db█"));
}

/// The name is checked before anything runs: not empty, not an existing file, not the store.
#[test]
fn salvage_refuses_names_it_cannot_write() {
    let mut h = harness();
    let store_path = h.app.store.path().to_owned();
    let taken = store_path.with_file_name("taken.db");
    std::fs::write(&taken, b"x").expect("write");
    let retype = |h: &mut Harness, name: &str| {
        h.press("S");
        for _ in 0..300 {
            h.press("<bs>");
        }
        h.app.handle_event(Event::Paste(name.to_owned()));
        h.press("<enter>");
        let screen = h.screen();
        h.press("<esc>");
        screen
    };
    assert!(retype(&mut h, "   ").contains("type the new store's file name"));
    let screen = retype(&mut h, &taken.display().to_string());
    assert!(screen.contains("exists; salvage writes only a new store"), "{screen}");
    let screen = retype(&mut h, &store_path.display().to_string());
    assert!(screen.contains("exists; salvage writes only a new store"), "{screen}");
    assert!(h.app.overlays.is_empty());
    assert_eq!(h.app.message, Some(Message::Info("salvage cancelled".to_owned())));
}

/// While a salvage runs, q does not quit (that would leave the new file half written) and the
/// screen answers; its end comes with a tick.
#[test]
fn a_running_salvage_keeps_the_screen_answering() {
    use super::salvage::{SalvageState, SalvageView};
    let mut h = harness();
    let (send, done) = std::sync::mpsc::channel();
    let started = std::time::Instant::now();
    let dst = std::path::PathBuf::from("out.db");
    let state = SalvageState::Running { dst, started, elapsed: std::time::Duration::ZERO, done };
    h.app.overlays.push(Overlay::Salvage(Box::new(SalvageView { state, scroll: 0 })));
    assert!(h.app.watch(started + std::time::Duration::from_secs(3)), "the time shown moves on");
    assert!(h.screen().contains("Salvaging into out.db… (3 s)"));
    h.press("q");
    assert!(!h.app.quit);
    assert!(matches!(&h.app.message, Some(Message::Info(m)) if m.contains("the salvage is running")));
    send.send(Err("disk full".to_owned())).expect("send");
    assert!(h.app.watch(started + std::time::Duration::from_secs(4)));
    let screen = h.screen();
    assert!(screen.contains("The salvage failed."), "{screen}");
    assert!(screen.contains("Nothing was salvaged into out.db: disk full"), "{screen}");
    h.press("q");
    assert!(h.app.quit, "q quits once it is over");
}

// ------------------------------------------------------------------ the command bar's hints

/// The bar knows every statement of the language, READERS and SALVAGE included: the status line
/// names them, the hint row shows the syntax of the statement being typed, and Tab completes
/// keywords (listing them when more than one fits).
#[test]
fn the_command_bar_hints_and_completes_every_statement() {
    let mut h = harness();
    let screen = h.screen();
    assert!(
        screen.contains("command bar: PUT, GET, DEL, SCAN, STATS, CHECK, READERS, SALVAGE, HELP …"),
        "{screen}"
    );
    h.press(":");
    assert!(h.screen().contains("enter run  tab complete  up/down history  esc cancel"));
    h.type_text("rea");
    let screen = h.screen();
    assert!(
        screen.contains(" READERS;  The reader table: read-only handles and the checkpoints they pin."),
        "{screen}"
    );
    h.press("<tab>");
    assert_eq!(h.app.command.text(), "readers ");
    h.press("<esc> :").type_text("SAL").press("<tab>");
    assert_eq!(h.app.command.text(), "SALVAGE ");
    let screen = h.screen();
    assert!(
        screen.contains(" SALVAGE TO file;  Copy every key a damaged store file still holds"),
        "{screen}"
    );
    // Several keywords fit: the common start is completed and they are listed.
    h.press("<esc> :").type_text("P").press("<tab>");
    assert_eq!(h.app.command.text(), "P");
    assert!(h.screen().contains(" tab one of PAGE PAGES PREFIX PUT"));
    h.type_text("U").press("<tab>");
    assert_eq!(h.app.command.text(), "PUT ");
    // Nothing is completed inside a string; the statement's hint stays.
    h.type_text("\"rea").press("<tab>");
    assert_eq!(h.app.command.text(), "PUT \"rea");
    assert!(h.screen().contains(" PUT key:value [, key:value ...];  Store one or more key-value pairs"));
    // The last statement of several is the one hinted.
    h.press("<esc> :").type_text("COUNT; STA");
    assert!(h.screen().contains(" STATS;  Page counts by type"));
    // READERS runs in the bar.
    h.press("<esc> :").type_text("READERS").press("<enter>");
    let output: Vec<&str> = h.app.command.output.iter().map(|(_, line)| line.as_str()).collect();
    assert!(output.contains(&"No readers"), "{output:?}");
    let writer = format!("writer: pid {} (this process)", std::process::id());
    assert!(output.iter().any(|line| line.ends_with(&writer)), "{output:?}");
}

/// `SALVAGE TO` typed in the command bar runs in the salvage dialog, on a thread, so the screen
/// is not held until it ends; the statement is kept in the history.
#[test]
fn salvage_typed_in_the_command_bar_runs_on_a_thread() {
    let mut h = harness();
    let out = h.app.store.path().with_file_name("from-bar.db");
    h.press(":").type_text(&format!("SALVAGE TO \"{}\"", out.display())).press("<enter>");
    assert!(h.has(|o| matches!(o, Overlay::Salvage(_))), "the dialog runs it");
    wait_for_salvage(&mut h);
    let screen = h.screen();
    assert!(screen.contains("Salvaged 307 keys into"), "{screen}");
    assert_eq!(OpenOptions::new().read_only(true).open(&out).expect("opens").len().unwrap(), 307);
    assert!(h.app.command.history.last().is_some_and(|l| l.starts_with("SALVAGE TO")));
    // A name that exists: the dialog says so, nothing runs.
    h.press("<esc> <esc> :").type_text(&format!("salvage to \"{}\";", out.display())).press("<enter>");
    assert!(h.screen().contains("exists; salvage writes only a new store"));
    // An empty name is refused by the dialog before anything is written (SALVAGE TO "" itself
    // leaves a stray ".wal" in the working directory).
    h.press("<esc> <esc> :").type_text("SALVAGE TO \"\"").press("<enter>");
    assert!(h.screen().contains("type the new store's file name"));
    // With other statements it runs in the bar as before.
    let second = out.with_file_name("in-bar.db");
    h.press("<esc> <esc> :")
        .type_text(&format!("COUNT; SALVAGE TO \"{}\"", second.display()))
        .press("<enter>");
    assert!(!h.has(|o| matches!(o, Overlay::Salvage(_))));
    assert!(h.app.command.output.iter().any(|(_, line)| line.starts_with("Salvaged 307 keys into")));
}

/// Feature 2 in the browser's own editor: the save is refused when the value changed since the
/// editor opened (compare and set); the editor stays open with the text.
#[test]
fn the_editor_refuses_to_overwrite_a_value_changed_meanwhile() {
    let mut h = harness();
    h.press("s").type_text("note:003").press("<enter>");
    h.press("e").type_text("Mine: ");
    h.app.store.put(b"note:003", b"theirs").expect("put");
    h.press("<c-s>");
    let editor = h.editor().expect("still open");
    assert_eq!(
        editor.error.as_deref(),
        Some("the value changed since the editor opened; esc and edit again")
    );
    assert_eq!(h.app.store.get(b"note:003").expect("get").as_deref(), Some(&b"theirs"[..]));
}

/// A check that finds problems offers the salvage: `S` on its report opens the salvage dialog.
#[test]
fn a_check_with_problems_offers_the_salvage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("test.db");
    let store = KVStore::open(&path, None).expect("open");
    let mut batch = WriteBatch::new();
    for i in 0..2_000 {
        batch.put(format!("key:{i:05}"), format!("value {i}"));
    }
    store.write(batch).expect("write");
    store.checkpoint().expect("checkpoint");
    let page_size = u64::from(store.stats().page_size);
    let leaf = (1..store.stats().page_count)
        .find(|&n| store.page_info(n).is_ok_and(|p| p.page_type == crate::PageType::Leaf))
        .expect("a leaf");
    store.close().expect("close");
    // One byte of a leaf flipped, as a bad sector would.
    let mut bytes = std::fs::read(&path).expect("read");
    let at = usize::try_from(leaf * page_size + page_size / 2).expect("small");
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).expect("write");
    let store = OpenOptions::new().open(&path).expect("opens");
    let mut h = harness_with(store, dir, Config::default());
    h.press("c");
    h.app.run_requested_check();
    let screen = h.screen();
    assert!(screen.contains("problem(s) found"), "{screen}");
    assert!(screen.contains("S salvages every readable key into a new store"), "{screen}");
    assert!(screen.contains("S salvage"), "the hints: {screen}");
    h.press("S");
    assert!(!h.has(|o| matches!(o, Overlay::Check { .. })));
    assert!(h.screen().contains("test-salvaged.db█"));
    // A clean check does not offer it.
    let mut h = harness();
    h.press("c");
    h.app.run_requested_check();
    assert!(!h.screen().contains("salvages"));
}
