//! The editable hex dump: how a value that is not plain text is opened in the editor (and in
//! `$EDITOR`), and how the edited dump is read back.
//!
//! ```text
//! # comment lines start with '#'
//! 00000000: 89 49 4d 47 0d 0a 1a 0a  00 00 00 43 c2 74 1b 5b  |.IMG.......C.t.[|
//! ```
//!
//! Reading back, the offset (a word ending in `:`) and the ASCII column (from the first `|`) are
//! ignored; what is left must be hex digits in pairs, spaces anywhere between pairs. So bytes can
//! be changed, added or removed by editing the middle column only.

use std::fmt::Write as _;

/// Bytes a line of the dump holds.
const PER_LINE: usize = 16;

/// `bytes` as an editable dump, with a first comment line saying how to edit it.
pub(crate) fn format(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 + 80);
    out.push_str("# hex dump: edit the pairs of hex digits; offsets and |ascii| are ignored\n");
    for (row, chunk) in bytes.chunks(PER_LINE).enumerate() {
        let _ = write!(out, "{:08x}:", row * PER_LINE);
        for (i, b) in chunk.iter().enumerate() {
            if i == PER_LINE / 2 {
                out.push(' ');
            }
            let _ = write!(out, " {b:02x}");
        }
        for i in chunk.len()..PER_LINE {
            if i == PER_LINE / 2 {
                out.push(' ');
            }
            out.push_str("   ");
        }
        out.push_str("  |");
        out.extend(
            chunk.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { char::from(b) } else { '.' }),
        );
        out.push_str("|\n");
    }
    out
}

/// Reads a dump back; the error names the line and what is wrong.
pub(crate) fn parse(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let hex = line.split('|').next().unwrap_or("");
        let mut words = hex.split_whitespace().peekable();
        if words.peek().is_some_and(|w| w.ends_with(':')) {
            words.next();
        }
        for word in words {
            if word.len() % 2 != 0 {
                return Err(format!("line {}: '{word}' is not pairs of hex digits", number + 1));
            }
            for pair in word.as_bytes().chunks(2) {
                let digits = std::str::from_utf8(pair).unwrap_or("");
                match u8::from_str_radix(digits, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => {
                        return Err(format!("line {}: '{word}' is not pairs of hex digits", number + 1));
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_reads_back_to_the_same_bytes() {
        let bytes: Vec<u8> = (0..=255u8).chain(*b"|pipe: and colon:|").collect();
        assert_eq!(parse(&format(&bytes)), Ok(bytes));
        assert_eq!(parse(&format(&[])), Ok(Vec::new()));
        assert_eq!(parse(&format(&[0x02; 12])), Ok(vec![0x02; 12]));
    }

    #[test]
    fn edits_in_the_middle_column() {
        let edited = "00000000: 68 65 6c6c 6f  |ignored|\n# comment\n 21\n";
        assert_eq!(parse(edited), Ok(b"hello!".to_vec()));
        let error = parse("00000000: 02 02\nhello").expect_err("not hex");
        assert!(error.starts_with("line 2:"), "{error}");
    }
}
