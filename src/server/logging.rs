//! Log fields that a client can influence (store names, error messages naming them) are written
//! escaped and quoted, so no client can forge a log line with a newline or a control character.

use std::fmt::{self, Write as _};

/// Logs its text quoted, with control characters, quotes and backslashes escaped
/// (`"a\nb"`). Use it as a field: `tracing::info!(store = ?Escaped(&path.display()), "...")`.
pub(crate) struct Escaped<'a>(pub &'a dyn fmt::Display);

/// Escapes on the fly into the formatter it wraps.
struct EscapingWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '"' | '\\' => {
                    self.0.write_char('\\')?;
                    self.0.write_char(c)?;
                }
                c if c.is_control() => write!(self.0, "{}", c.escape_default())?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        write!(EscapingWriter(f), "{}", self.0)?;
        f.write_char('"')
    }
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    #[test]
    fn control_characters_cannot_break_a_line() {
        let name = "a\nINFO forged\u{1b}[31m \"q\" \\";
        let shown = format!("{:?}", Escaped(&name));
        assert_eq!(shown, r#""a\nINFO forged\u{1b}[31m \"q\" \\""#);
        assert!(!shown.contains('\n'));
    }
}
