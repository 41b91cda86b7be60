//! The browser's settings: key map, colours, cache size and mouse, read from a TOML file in the
//! user's config directory (`<config dir>/wind-kvstore/tui.toml`) or from `--config FILE`.
//!
//! ```toml
//! cache_bytes = "128 MiB"      # page cache of the store (a number of bytes, or "N KiB|MiB|GiB")
//! mouse = true                 # click to select, wheel to scroll
//!
//! [keys]                       # action = key or [keys]; replaces that action's default keys
//! quit = ["q", "ctrl-c"]
//! down = ["j", "down", "ctrl-n"]
//!
//! [colors]                     # name = colour: "red", "lightblue", "#ff8800", "208" (256-colour index)
//! accent = "yellow"
//! leaf = "#00aa55"
//! ```
//!
//! Every mistake is an error naming the line: unknown settings, actions or colour names, keys that
//! do not parse, a key bound to two actions.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::Color;
use serde::Deserialize;
use toml::Spanned;

use super::action::{Action, Key, KeyMap};
use crate::DEFAULT_CACHE_BYTES;
use crate::PageType;

/// Below this the cache thrashes on every descent of a large tree.
const MIN_CACHE_BYTES: u64 = 1 << 20;
/// Above this a typo (an extra digit) would let the cache take the machine's memory.
const MAX_CACHE_BYTES: u64 = 64 << 30;

/// The file name inside the config directory.
pub(crate) const CONFIG_FILE_NAME: &str = "tui.toml";

/// Colours of the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Theme {
    pub accent: Color,
    pub border: Color,
    pub focus: Color,
    pub selection_fg: Color,
    pub selection_bg: Color,
    pub dim: Color,
    pub error: Color,
    pub info: Color,
    pub badge_fg: Color,
    pub badge_bg: Color,
    pub json_key: Color,
    pub json_string: Color,
    pub json_number: Color,
    pub json_literal: Color,
    pub meta: Color,
    pub branch: Color,
    pub leaf: Color,
    pub overflow: Color,
    pub freelist: Color,
    pub free: Color,
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            accent: Color::Cyan,
            border: Color::DarkGray,
            focus: Color::Cyan,
            selection_fg: Color::Black,
            selection_bg: Color::Cyan,
            dim: Color::DarkGray,
            error: Color::LightRed,
            info: Color::LightGreen,
            badge_fg: Color::Black,
            badge_bg: Color::Yellow,
            json_key: Color::LightBlue,
            json_string: Color::LightGreen,
            json_number: Color::LightYellow,
            json_literal: Color::LightMagenta,
            meta: Color::LightMagenta,
            branch: Color::LightYellow,
            leaf: Color::LightGreen,
            overflow: Color::LightBlue,
            freelist: Color::LightCyan,
            free: Color::DarkGray,
        }
    }
}

impl Theme {
    /// Every colour with its name in the config file.
    fn slots(&mut self) -> [(&'static str, &mut Color); 20] {
        [
            ("accent", &mut self.accent),
            ("border", &mut self.border),
            ("focus", &mut self.focus),
            ("selection_fg", &mut self.selection_fg),
            ("selection_bg", &mut self.selection_bg),
            ("dim", &mut self.dim),
            ("error", &mut self.error),
            ("info", &mut self.info),
            ("badge_fg", &mut self.badge_fg),
            ("badge_bg", &mut self.badge_bg),
            ("json_key", &mut self.json_key),
            ("json_string", &mut self.json_string),
            ("json_number", &mut self.json_number),
            ("json_literal", &mut self.json_literal),
            ("meta", &mut self.meta),
            ("branch", &mut self.branch),
            ("leaf", &mut self.leaf),
            ("overflow", &mut self.overflow),
            ("freelist", &mut self.freelist),
            ("free", &mut self.free),
        ]
    }

    /// The names `[colors]` accepts.
    pub(crate) fn names() -> Vec<&'static str> {
        Theme::default().slots().iter().map(|(name, _)| *name).collect()
    }

    pub(crate) fn page(&self, page_type: PageType) -> Color {
        match page_type {
            PageType::Meta => self.meta,
            PageType::Branch => self.branch,
            PageType::Leaf => self.leaf,
            PageType::Overflow => self.overflow,
            PageType::Freelist => self.freelist,
            PageType::Free => self.free,
        }
    }
}

/// Everything the browser reads from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    pub keys: KeyMap,
    pub theme: Theme,
    pub cache_bytes: usize,
    pub mouse: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            keys: KeyMap::default(),
            theme: Theme::default(),
            cache_bytes: DEFAULT_CACHE_BYTES,
            mouse: true,
        }
    }
}

/// A config file that cannot be used, with the reason (and the line, when one is at fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config file.
    pub path: PathBuf,
    /// What is wrong with it, with the line when one is at fault.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config file {}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    cache_bytes: Option<Spanned<CacheSize>>,
    mouse: Option<bool>,
    #[serde(default)]
    keys: BTreeMap<Spanned<String>, Spanned<OneOrMany>>,
    #[serde(default)]
    colors: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CacheSize {
    Bytes(u64),
    Text(String),
}

/// The default config file: `<config dir>/wind-kvstore/tui.toml`.
pub(crate) fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "wind-kvstore").map(|d| d.config_dir().join(CONFIG_FILE_NAME))
}

impl Config {
    /// Reads `explicit` (which must exist), or else the default file when there is one.
    pub(crate) fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(path) => path.to_owned(),
            None => match default_path() {
                Some(path) if path.exists() => path,
                _ => return Ok(Config::default()),
            },
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError { path: path.clone(), message: format!("cannot read it: {e}") })?;
        Config::parse(&text).map_err(|message| ConfigError { path, message })
    }

    /// Parses the text of a config file; the error names the line at fault.
    pub(crate) fn parse(text: &str) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        let at = |span: std::ops::Range<usize>| line_of(text, span.start);
        let mut config = Config::default();

        if let Some(size) = raw.cache_bytes {
            let line = at(size.span());
            let bytes = match size.into_inner() {
                CacheSize::Bytes(n) => n,
                CacheSize::Text(t) => parse_size(&t).ok_or_else(|| {
                    format!("line {line}: cache_bytes '{t}' is not a size (write 67108864 or \"64 MiB\")")
                })?,
            };
            if !(MIN_CACHE_BYTES..=MAX_CACHE_BYTES).contains(&bytes) {
                return Err(format!("line {line}: cache_bytes must be from 1 MiB to 64 GiB, not {bytes}"));
            }
            config.cache_bytes = usize::try_from(bytes)
                .map_err(|_| format!("line {line}: cache_bytes {bytes} is too large for this machine"))?;
        }
        if let Some(mouse) = raw.mouse {
            config.mouse = mouse;
        }

        // Which configured action claimed each key, to refuse a key bound twice in the file.
        let mut claimed: BTreeMap<Key, (Action, usize)> = BTreeMap::new();
        // In the order written, so a conflict names the later line as the one at fault.
        let mut entries: Vec<_> = raw.keys.iter().collect();
        entries.sort_by_key(|(name, _)| name.span().start);
        for (name, keys) in entries {
            let line = at(name.span());
            let action = Action::from_name(name.get_ref()).ok_or_else(|| {
                let known: Vec<&str> = Action::all().map(Action::name).collect();
                format!("line {line}: unknown action '{}' (known: {})", name.get_ref(), known.join(", "))
            })?;
            let specs: Vec<&String> = match keys.get_ref() {
                OneOrMany::One(spec) => vec![spec],
                OneOrMany::Many(specs) => specs.iter().collect(),
            };
            let key_line = at(keys.span());
            let mut parsed = Vec::new();
            for spec in specs {
                let key = Key::parse(spec).map_err(|e| format!("line {key_line}: {e}"))?;
                if let Some((other, other_line)) = claimed.get(&key)
                    && *other != action
                {
                    return Err(format!(
                        "line {key_line}: key '{key}' is bound to both {} (line {other_line}) and {}",
                        other.name(),
                        action.name()
                    ));
                }
                claimed.insert(key, (action, key_line));
                parsed.push(key);
            }
            config.keys.rebind(action, &parsed);
        }

        let known = Theme::names();
        for (name, value) in &raw.colors {
            let line = at(name.span());
            let color = Color::from_str(value.get_ref()).map_err(|_| {
                format!(
                    "line {}: '{}' is not a colour (a name such as \"red\" or \"lightblue\", \"#rrggbb\", or an index 0-255)",
                    at(value.span()),
                    value.get_ref()
                )
            })?;
            let mut slots = config.theme.slots();
            let Some((_, slot)) = slots.iter_mut().find(|(n, _)| *n == name.get_ref()) else {
                return Err(format!(
                    "line {line}: unknown colour '{}' (known: {})",
                    name.get_ref(),
                    known.join(", ")
                ));
            };
            **slot = color;
        }
        Ok(config)
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// `"64 MiB"`, `"512KiB"`, `"1 GiB"`, `"1048576"` in bytes.
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults() {
        assert_eq!(Config::parse("").expect("parses"), Config::default());
    }

    #[test]
    fn a_full_file() {
        let config = Config::parse(
            "cache_bytes = \"8 MiB\"\nmouse = false\n[keys]\nquit = \"x\"\ndown = [\"j\", \"ctrl-n\"]\n\
             [colors]\naccent = \"yellow\"\nleaf = \"#00aa55\"\n",
        )
        .expect("parses");
        assert_eq!(config.cache_bytes, 8 << 20);
        assert!(!config.mouse);
        assert_eq!(config.keys.keys_for(Action::Quit), vec![Key::parse("x").expect("x")]);
        assert_eq!(config.keys.keys_for(Action::Down).len(), 2);
        assert_eq!(config.theme.accent, Color::Yellow);
        assert_eq!(config.theme.leaf, Color::Rgb(0, 0xaa, 0x55));
    }

    fn error(text: &str) -> String {
        Config::parse(text).expect_err("is refused")
    }

    #[test]
    fn mistakes_name_their_line() {
        assert!(error("mouse = true\n[keys]\nquitt = \"q\"\n").starts_with("line 3: unknown action 'quitt'"));
        assert!(error("[keys]\nquit = \"hyper-q\"\n").starts_with("line 2: 'hyper-q' is not a key"));
        assert!(error("[colors]\n\naccent = \"reddish\"\n").starts_with("line 3: 'reddish' is not a colour"));
        assert!(error("[colors]\nacent = \"red\"\n").starts_with("line 2: unknown colour 'acent'"));
        assert_eq!(
            error("[keys]\nquit = \"x\"\nhelp = \"x\"\n"),
            "line 3: key 'x' is bound to both quit (line 2) and help"
        );
        assert!(error("cache_bytes = 12\n").starts_with("line 1: cache_bytes must be"));
        assert!(error("cache_bytes = \"lots\"\n").starts_with("line 1: cache_bytes 'lots'"));
        // Syntax errors and unknown settings come from the TOML reader, which names the line too.
        assert!(error("mouse = \n").contains("line 1"));
        assert!(error("\ncolour = 1\n").contains("line 2"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64 MiB"), Some(64 << 20));
        assert_eq!(parse_size("512kib"), Some(512 << 10));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1 parsec"), None);
        assert_eq!(parse_size("99999999999999 GiB"), None);
    }
}
