//! The browser's vocabulary: every key resolves through the key map to a named [`Action`], and
//! the app only ever acts on actions. The help overlay, the hint line and the config file all
//! read the same table, so they cannot drift apart.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Something the user can ask for with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Action {
    Quit,
    Help,
    FocusNext,
    FocusPrev,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Left,
    Right,
    Filter,
    Seek,
    Command,
    Enter,
    Close,
    CycleView,
    Edit,
    Add,
    Delete,
    Reload,
    Follow,
    Pages,
    FreeList,
    Check,
    Suspend,
    KeyInfo,
    Pager,
    ExternalEdit,
    Copy,
    Export,
    SearchValues,
    ValueNext,
    ValuePrev,
    Recovery,
    Readers,
    Salvage,
}

/// Where an action is mostly used, for grouping the help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    General,
    Moving,
    Keys,
    Inspect,
}

impl Group {
    pub(crate) const ALL: [Group; 4] = [Group::General, Group::Moving, Group::Keys, Group::Inspect];

    pub(crate) fn title(self) -> &'static str {
        match self {
            Group::General => "General",
            Group::Moving => "Moving",
            Group::Keys => "Keys and values",
            Group::Inspect => "Inside the file",
        }
    }
}

/// The table every other part reads: name (as in the config file), group, description, and the
/// default keys.
const ACTIONS: [(Action, &str, Group, &str, &[&str]); 38] = [
    (Action::Quit, "quit", Group::General, "quit", &["q", "ctrl-c"]),
    (Action::Help, "help", Group::General, "show this help", &["?"]),
    (Action::Command, "command", Group::General, "open the command bar (any statement)", &[":"]),
    (Action::Close, "close", Group::General, "close the overlay; clear the filter", &["esc"]),
    (Action::FocusNext, "focus_next", Group::General, "focus the next pane", &["tab"]),
    (Action::FocusPrev, "focus_prev", Group::General, "focus the previous pane", &["backtab"]),
    (Action::Reload, "reload", Group::General, "reload (read-only: the newest commit on disk)", &["r"]),
    (Action::Follow, "follow", Group::General, "follow commits live: pause or resume", &["L"]),
    (Action::Suspend, "suspend", Group::General, "suspend to the shell (fg resumes)", &["ctrl-z"]),
    (Action::Up, "up", Group::Moving, "move up", &["k", "up"]),
    (Action::Down, "down", Group::Moving, "move down", &["j", "down"]),
    (Action::PageUp, "page_up", Group::Moving, "page up", &["pageup", "ctrl-b"]),
    (Action::PageDown, "page_down", Group::Moving, "page down", &["pagedown", "ctrl-f"]),
    (Action::Top, "top", Group::Moving, "go to the first", &["g", "home"]),
    (Action::Bottom, "bottom", Group::Moving, "go to the last", &["G", "end"]),
    (Action::Left, "left", Group::Moving, "move left (page map)", &["h", "left"]),
    (Action::Right, "right", Group::Moving, "move right (page map)", &["l", "right"]),
    (Action::Enter, "enter", Group::Moving, "focus the value; open the selected item", &["enter"]),
    (Action::Filter, "filter", Group::Keys, "filter keys as you type (tab: prefix, contains, glob)", &["/"]),
    (Action::Seek, "seek", Group::Keys, "jump to a key (first key at or after)", &["s"]),
    (Action::SearchValues, "search_values", Group::Keys, "search in values", &["F"]),
    (Action::KeyInfo, "key_info", Group::Keys, "show the whole key", &["i"]),
    (Action::CycleView, "cycle_view", Group::Keys, "value view: auto, text, hex, JSON, decoders", &["t"]),
    (Action::ValueNext, "value_next", Group::Keys, "next 64 KiB of a large value", &["]"]),
    (Action::ValuePrev, "value_prev", Group::Keys, "previous 64 KiB of a large value", &["["]),
    (Action::Pager, "pager", Group::Keys, "the whole value in $PAGER", &["v"]),
    (Action::Edit, "edit", Group::Keys, "edit the value", &["e"]),
    (Action::ExternalEdit, "external_edit", Group::Keys, "edit the whole value in $EDITOR", &["E"]),
    (Action::Add, "add", Group::Keys, "add a key", &["a"]),
    (Action::Delete, "delete", Group::Keys, "delete the key (asks first)", &["d"]),
    (Action::Copy, "copy", Group::Keys, "copy the key, the value or a PUT (OSC 52)", &["y"]),
    (Action::Export, "export", Group::Keys, "export the filtered keys to JSON lines", &["x"]),
    (Action::Pages, "pages", Group::Inspect, "page map and page detail", &["p"]),
    (Action::FreeList, "free_list", Group::Inspect, "free pages", &["f"]),
    (Action::Check, "check", Group::Inspect, "integrity check", &["c"]),
    (Action::Recovery, "recovery", Group::Inspect, "what the open recovered from the log", &["R"]),
    (Action::Readers, "readers", Group::Inspect, "who has the store open (writer, readers)", &["w"]),
    (Action::Salvage, "salvage", Group::Inspect, "salvage every readable key into a new store", &["S"]),
];

impl Action {
    pub(crate) fn all() -> impl Iterator<Item = Action> {
        ACTIONS.iter().map(|row| row.0)
    }

    fn row(self) -> &'static (Action, &'static str, Group, &'static str, &'static [&'static str]) {
        // Every action has a row: the table is exhaustive (checked by a test).
        ACTIONS.iter().find(|row| row.0 == self).unwrap_or(&ACTIONS[0])
    }

    /// The name used in the config file.
    pub(crate) fn name(self) -> &'static str {
        self.row().1
    }

    pub(crate) fn group(self) -> Group {
        self.row().2
    }

    pub(crate) fn description(self) -> &'static str {
        self.row().3
    }

    pub(crate) fn from_name(name: &str) -> Option<Action> {
        ACTIONS.iter().find(|row| row.1 == name).map(|row| row.0)
    }

    fn default_keys(self) -> &'static [&'static str] {
        self.row().4
    }
}

/// One key with its modifiers, as the key map stores it: shift is folded into the character
/// (`G`, not shift-g), so a binding matches whatever the terminal reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    code: KeyCodeOrd,
    ctrl: bool,
    alt: bool,
}

/// The part of [`KeyCode`] a binding can name, ordered so key maps print in a stable order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum KeyCodeOrd {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Insert,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
}

const NAMED: [(&str, KeyCodeOrd); 17] = [
    ("enter", KeyCodeOrd::Enter),
    ("esc", KeyCodeOrd::Esc),
    ("tab", KeyCodeOrd::Tab),
    ("backtab", KeyCodeOrd::BackTab),
    ("backspace", KeyCodeOrd::Backspace),
    ("delete", KeyCodeOrd::Delete),
    ("insert", KeyCodeOrd::Insert),
    ("up", KeyCodeOrd::Up),
    ("down", KeyCodeOrd::Down),
    ("left", KeyCodeOrd::Left),
    ("right", KeyCodeOrd::Right),
    ("pageup", KeyCodeOrd::PageUp),
    ("pagedown", KeyCodeOrd::PageDown),
    ("home", KeyCodeOrd::Home),
    ("end", KeyCodeOrd::End),
    ("space", KeyCodeOrd::Char(' ')),
    ("shift-tab", KeyCodeOrd::BackTab),
];

impl Key {
    /// The key of a terminal event, or `None` for keys no binding can name.
    pub(crate) fn from_event(event: &KeyEvent) -> Option<Key> {
        let code = match event.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(c),
            KeyCode::F(n) => KeyCodeOrd::F(n),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Delete => KeyCodeOrd::Delete,
            KeyCode::Insert => KeyCodeOrd::Insert,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            _ => return None,
        };
        // Terminals report ctrl-c as 'c' with CONTROL; some report shifted letters in lower case
        // with SHIFT: fold that into the character.
        let code = match code {
            KeyCodeOrd::Char(c) if event.modifiers.contains(KeyModifiers::SHIFT) => {
                KeyCodeOrd::Char(c.to_ascii_uppercase())
            }
            KeyCodeOrd::Char(c) if event.modifiers.contains(KeyModifiers::CONTROL) => {
                KeyCodeOrd::Char(c.to_ascii_lowercase())
            }
            code => code,
        };
        Some(Key {
            code,
            ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
            alt: event.modifiers.contains(KeyModifiers::ALT),
        })
    }

    /// Parses `q`, `G`, `?`, `ctrl-c`, `alt-x`, `enter`, `pagedown`, `f5`, `space`, ...
    pub(crate) fn parse(spec: &str) -> Result<Key, String> {
        let mut rest = spec;
        let (mut ctrl, mut alt) = (false, false);
        loop {
            let lower = rest.to_ascii_lowercase();
            if lower.starts_with("ctrl-") && rest.len() > 5 {
                ctrl = true;
                rest = &rest[5..];
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => {
                KeyCodeOrd::Char(if ctrl { c.to_ascii_lowercase() } else { c })
            }
            _ => {
                let lower = rest.to_ascii_lowercase();
                if let Some(named) = NAMED.iter().find(|(name, _)| *name == lower) {
                    named.1
                } else if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok())
                    && (1..=24).contains(&n)
                {
                    KeyCodeOrd::F(n)
                } else {
                    return Err(format!(
                        "'{spec}' is not a key: use a character (q, G, ?), a name (enter, esc, tab, \
                         backtab, up, down, left, right, pageup, pagedown, home, end, space, backspace, \
                         delete, f1..f24), with ctrl- or alt- in front if wanted"
                    ));
                }
            }
        };
        Ok(Key { code, ctrl, alt })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCodeOrd::Char(' ') => f.write_str("space"),
            KeyCodeOrd::Char(c) => write!(f, "{c}"),
            KeyCodeOrd::F(n) => write!(f, "f{n}"),
            code => {
                let name = NAMED.iter().find(|(_, c)| *c == code).map_or("?", |(name, _)| name);
                f.write_str(name)
            }
        }
    }
}

/// Keys to actions. Built from the defaults, then changed by the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyMap {
    bindings: BTreeMap<Key, Action>,
}

impl Default for KeyMap {
    fn default() -> Self {
        let mut bindings = BTreeMap::new();
        for action in Action::all() {
            for spec in action.default_keys() {
                if let Ok(key) = Key::parse(spec) {
                    bindings.insert(key, action);
                }
            }
        }
        KeyMap { bindings }
    }
}

impl KeyMap {
    pub(crate) fn action(&self, event: &KeyEvent) -> Option<Action> {
        Key::from_event(event).and_then(|key| self.bindings.get(&key).copied())
    }

    /// The keys bound to `action`, in a stable order.
    pub(crate) fn keys_for(&self, action: Action) -> Vec<Key> {
        self.bindings.iter().filter(|(_, a)| **a == action).map(|(k, _)| *k).collect()
    }

    /// The first key bound to `action`, as a hint shows it.
    pub(crate) fn hint(&self, action: Action) -> Option<String> {
        let keys = self.keys_for(action);
        // Prefer a plain character: it is what people type.
        keys.iter()
            .find(|k| matches!(k.code, KeyCodeOrd::Char(_)) && !k.ctrl && !k.alt)
            .or(keys.first())
            .map(Key::to_string)
    }

    /// Binds `keys` to `action` in place of its current keys; a key that another action had is
    /// taken from it.
    pub(crate) fn rebind(&mut self, action: Action, keys: &[Key]) {
        self.bindings.retain(|_, a| *a != action);
        for key in keys {
            self.bindings.insert(*key, action);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_row_and_a_unique_name() {
        let mut names = std::collections::HashSet::new();
        for action in Action::all() {
            assert_eq!(action.row().0, action);
            assert!(names.insert(action.name()));
            assert_eq!(Action::from_name(action.name()), Some(action));
        }
        assert_eq!(names.len(), ACTIONS.len());
    }

    #[test]
    fn default_keys_parse_and_do_not_collide() {
        let mut seen = std::collections::HashMap::new();
        for action in Action::all() {
            for spec in action.default_keys() {
                let key = Key::parse(spec).expect(spec);
                assert_eq!(seen.insert(key, action), None, "{spec} bound twice");
                assert_eq!(Key::parse(&key.to_string()), Ok(key));
            }
        }
    }

    #[test]
    fn events_fold_shift_and_control() {
        let map = KeyMap::default();
        let ev = |code, modifiers| KeyEvent::new(code, modifiers);
        assert_eq!(map.action(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)), Some(Action::Bottom));
        assert_eq!(map.action(&ev(KeyCode::Char('g'), KeyModifiers::SHIFT)), Some(Action::Bottom));
        assert_eq!(map.action(&ev(KeyCode::Char('g'), KeyModifiers::NONE)), Some(Action::Top));
        assert_eq!(map.action(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Action::Quit));
        assert_eq!(map.action(&ev(KeyCode::Char('C'), KeyModifiers::CONTROL)), Some(Action::Quit));
        assert_eq!(map.action(&ev(KeyCode::BackTab, KeyModifiers::SHIFT)), Some(Action::FocusPrev));
        assert_eq!(map.action(&ev(KeyCode::Char('?'), KeyModifiers::SHIFT)), Some(Action::Help));
        assert_eq!(map.action(&ev(KeyCode::Char('o'), KeyModifiers::NONE)), None);
    }

    #[test]
    fn bad_key_specs_are_refused() {
        assert!(Key::parse("").is_err());
        assert!(Key::parse("ctrl-").is_err());
        assert!(Key::parse("hyper-x").is_err());
        assert!(Key::parse("f99").is_err());
        assert_eq!(Key::parse("Ctrl-X").map(|k| k.to_string()), Ok("ctrl-x".to_owned()));
    }

    #[test]
    fn rebinding_takes_the_key_from_its_old_action() {
        let mut map = KeyMap::default();
        let j = Key::parse("j").expect("j");
        map.rebind(Action::Up, &[j]);
        assert_eq!(map.keys_for(Action::Up), vec![j]);
        assert_eq!(map.keys_for(Action::Down).len(), 1);
        assert_eq!(map.hint(Action::Down), Some("down".to_owned()));
    }
}
