//! How bytes and numbers are written on screen: escaped keys, cut lines, sizes.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthChar;

use crate::command::quote;

/// A key as the browser shows it: the command language's string literal without its quotes, so
/// a binary key reads as `user\x00\x01` and can be typed back into the command bar.
pub(crate) fn escape_key(key: &[u8]) -> String {
    let quoted = quote(key);
    quoted[1..quoted.len() - 1].to_owned()
}

/// A key as the list, titles and dialogs draw it: [`escape_key`], without the joiners and
/// variation selectors that make terminals disagree on a character's width (see [`sanitize`]).
pub(crate) fn display_key(key: &[u8]) -> String {
    escape_key(key).chars().filter(|c| !is_joiner(*c)).collect()
}

/// The zero-width joiner and the variation selectors: an emoji sequence built with them is one
/// character 2 columns wide for some terminals and several for others, which shifts the rest of
/// the row. Drawn without them, each emoji takes 2 columns everywhere.
fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200d}' | '\u{fe0e}' | '\u{fe0f}')
}

/// `text` cut to `max_width` columns by taking out its middle (`abc…xyz`), so two long keys that
/// differ only at the end still look different.
pub(crate) fn truncate_middle(text: &str, max_width: usize) -> String {
    if text_width(text) <= max_width {
        return text.to_owned();
    }
    if max_width < 3 {
        return truncate(text, max_width);
    }
    let tail_width = (max_width - 1) / 2;
    let head_width = max_width - 1 - tail_width;
    let head = truncate(text, head_width + 1);
    let head = head.trim_end_matches('…');
    let mut tail: Vec<char> = Vec::new();
    let mut width = 0;
    for c in text.chars().rev() {
        let w = char_width(c);
        if width + w > tail_width {
            break;
        }
        tail.push(c);
        width += w;
    }
    let tail: String = tail.into_iter().rev().collect();
    format!("{head}…{tail}")
}

/// `text` cut to `max_width` terminal columns, ending in `…` when it was cut.
pub(crate) fn truncate(text: &str, max_width: usize) -> String {
    let total: usize = text.chars().map(char_width).sum();
    if total <= max_width {
        return text.to_owned();
    }
    if max_width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut width = 0;
    for c in text.chars() {
        let w = char_width(c);
        if width + w > max_width - 1 {
            break;
        }
        out.push(c);
        width += w;
    }
    out.push('…');
    out
}

/// Columns a character takes (control characters count as one: they are escaped before drawing).
pub(crate) fn char_width(c: char) -> usize {
    c.width().unwrap_or(1)
}

/// Columns a string takes.
pub(crate) fn text_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

/// `1536` → `1.5 KiB`; below 1 KiB in bytes.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A line of text made safe to draw: tabs become spaces, other control characters `\xNN`
/// (a raw escape byte would otherwise reach the terminal), and joiners and variation selectors
/// are left out (see [`display_key`]).
pub(crate) fn sanitize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '\t' => out.push_str("    "),
            c if is_joiner(c) => {}
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_escaped_like_literals() {
        assert_eq!(escape_key(b"user:1"), "user:1");
        assert_eq!(escape_key(b"a\x00\xff\n"), "a\\x00\\xff\\n");
        assert_eq!(escape_key(b"say \"hi\""), "say \\\"hi\\\"");
    }

    #[test]
    fn truncation_counts_columns() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("日本語です", 5), "日本…");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(truncate("abc", 1), "…");
    }

    #[test]
    fn sizes_and_counts() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12_900_000), "12.3 MiB");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn middle_truncation_keeps_both_ends() {
        assert_eq!(truncate_middle("abcdef", 6), "abcdef");
        assert_eq!(truncate_middle("LLLLLLLLLL1", 7), "LLL…LL1");
        assert_eq!(truncate_middle("LLLLLLLLLL2", 7), "LLL…LL2");
        assert!(text_width(&truncate_middle("日本語の長いキー", 7)) <= 7);
    }

    #[test]
    fn joiners_are_left_out() {
        assert_eq!(display_key("a\u{1f469}\u{200d}\u{1f4bb}b".as_bytes()), "a\u{1f469}\u{1f4bb}b");
        assert_eq!(sanitize("\u{2764}\u{fe0f}"), "\u{2764}");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(sanitize("a\tb"), "a    b");
        assert_eq!(sanitize("\x1b[2J"), "\\x1b[2J");
    }
}
