//! The value viewer: text, pretty-printed JSON, a hex dump, or what a decoder (base64, gzip,
//! zstd, MessagePack, CBOR) makes of the value. Only a window of at most [`PREVIEW_BYTES`] is read
//! at a time, so a value of many MiB costs no more than a small one; `]` and `[` move the window
//! through a larger value. Decoding reads the whole value, up to [`DECODE_MAX_INPUT`].

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::config::Theme;
use super::decode::{DECODE_MAX_INPUT, Decoded, Decoder};
use super::text::{char_width, display_key, human_bytes, sanitize, truncate};
use crate::{KVStore, Result};

/// The most bytes of a value read for the viewer at a time: a longer value is shown a window at a
/// time.
pub(crate) const PREVIEW_BYTES: usize = 64 * 1024;

/// What the bytes look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Detected {
    #[default]
    Empty,
    Text,
    Json,
    Binary,
}

/// How the bytes are shown: `t` cycles through these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ViewMode {
    /// As detected: a decoder the bytes ask for, JSON pretty-printed, text as text, anything
    /// else as hex.
    #[default]
    Auto,
    Text,
    Hex,
    Json,
    Decode(Decoder),
}

impl ViewMode {
    pub(crate) fn next(self) -> ViewMode {
        match self {
            ViewMode::Auto => ViewMode::Text,
            ViewMode::Text => ViewMode::Hex,
            ViewMode::Hex => ViewMode::Json,
            ViewMode::Json => ViewMode::Decode(Decoder::ALL[0]),
            ViewMode::Decode(d) => match Decoder::ALL.iter().position(|x| *x == d) {
                Some(i) if i + 1 < Decoder::ALL.len() => ViewMode::Decode(Decoder::ALL[i + 1]),
                _ => ViewMode::Auto,
            },
        }
    }
}

/// The mode actually drawn, once `Auto` is resolved and a decoder has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Text,
    Hex,
    Json,
}

impl Shown {
    fn name(self) -> &'static str {
        match self {
            Shown::Text => "text",
            Shown::Hex => "hex",
            Shown::Json => "json",
        }
    }

    fn of(detected: Detected) -> Shown {
        match detected {
            Detected::Json => Shown::Json,
            Detected::Binary => Shown::Hex,
            Detected::Text | Detected::Empty => Shown::Text,
        }
    }
}

/// A decoder's result, kept for the value on screen.
#[derive(Debug, Clone)]
struct DecodedView {
    decoder: Decoder,
    /// The decoded bytes (a document is kept as its JSON text), or why decoding failed.
    result: std::result::Result<Vec<u8>, String>,
    shown: Shown,
    cut: bool,
}

#[derive(Debug, Default)]
pub(crate) struct ValueView {
    /// The key whose value is shown (`None`: no key selected).
    pub key: Option<Vec<u8>>,
    /// The whole value's length.
    pub total_len: u64,
    /// Where the window starts in the value.
    pub offset: u64,
    /// The window's bytes: at most [`PREVIEW_BYTES`] from `offset`.
    pub bytes: Vec<u8>,
    pub detected: Detected,
    pub mode: ViewMode,
    decoded: Option<DecodedView>,
    /// Text and JSON lines, wrapped to `width` (hex lines are made when drawn).
    lines: Vec<Line<'static>>,
    pub scroll: usize,
    pub height: usize,
    pub width: usize,
    pub error: Option<String>,
}

impl ValueView {
    /// Reads the first window of `key`'s value.
    pub(crate) fn load(&mut self, store: &KVStore, key: Option<&[u8]>, theme: &Theme) -> Result<()> {
        self.key = key.map(<[u8]>::to_vec);
        self.offset = 0;
        self.read_window(store)?;
        self.decode(store);
        self.rebuild(theme);
        Ok(())
    }

    fn read_window(&mut self, store: &KVStore) -> Result<()> {
        self.scroll = 0;
        self.error = None;
        self.bytes.clear();
        self.total_len = 0;
        self.decoded = None;
        if let Some(key) = &self.key {
            let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
            // Between the listing and this read the key may have gone: show it as missing.
            match store.get_prefix(key, start.saturating_add(PREVIEW_BYTES))? {
                Some(mut bytes) => {
                    self.total_len =
                        store.value_len(key)?.unwrap_or(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
                    bytes.drain(..start.min(bytes.len()));
                    self.bytes = bytes;
                }
                None => self.error = Some("the key is gone (deleted meanwhile); press r to reload".into()),
            }
        }
        self.detected = detect(&self.bytes, self.is_whole());
        Ok(())
    }

    /// Reads the shown value again where it is shown (after another process changed it): the
    /// same window of it, scrolled as it was, as far as the new value reaches.
    pub(crate) fn reload_in_place(&mut self, store: &KVStore, theme: &Theme) -> Result<()> {
        let scroll = self.scroll;
        self.read_window(store)?;
        if self.offset > 0 && self.offset >= self.total_len {
            // The value shrank below the window: show its start.
            self.offset = 0;
            self.read_window(store)?;
        }
        self.decode(store);
        self.scroll = scroll;
        self.rebuild(theme);
        Ok(())
    }

    /// Moves the window through a value longer than [`PREVIEW_BYTES`]: `forward` or back by one
    /// window. Returns false when there is nothing further that way.
    pub(crate) fn move_window(&mut self, store: &KVStore, forward: bool, theme: &Theme) -> Result<bool> {
        let step = PREVIEW_BYTES as u64;
        let next = if forward {
            let next = self.offset + step;
            if next >= self.total_len {
                return Ok(false);
            }
            next
        } else {
            if self.offset == 0 {
                return Ok(false);
            }
            self.offset.saturating_sub(step)
        };
        self.offset = next;
        self.read_window(store)?;
        self.decode(store);
        self.rebuild(theme);
        Ok(true)
    }

    pub(crate) fn clear(&mut self, theme: &Theme) {
        self.key = None;
        self.bytes.clear();
        self.total_len = 0;
        self.offset = 0;
        self.error = None;
        self.decoded = None;
        self.detected = Detected::Empty;
        self.rebuild(theme);
    }

    /// Whether the window is the whole value.
    pub(crate) fn is_whole(&self) -> bool {
        self.offset == 0 && self.bytes.len() as u64 >= self.total_len
    }

    /// The decoder the mode asks for (in auto mode, the one the bytes ask for).
    fn decoder(&self) -> Option<Decoder> {
        match self.mode {
            ViewMode::Decode(d) => Some(d),
            ViewMode::Auto if self.offset == 0 => Decoder::detect(&self.bytes),
            _ => None,
        }
    }

    /// Runs the decoder on the whole value (read again when the window is not all of it).
    fn decode(&mut self, store: &KVStore) {
        self.decoded = None;
        let (Some(decoder), Some(key)) = (self.decoder(), &self.key) else { return };
        let whole = if self.is_whole() {
            Ok(self.bytes.clone())
        } else if self.total_len > DECODE_MAX_INPUT {
            Err(format!(
                "the value is {}; decoders read values up to {} (v shows the whole value in $PAGER)",
                human_bytes(self.total_len),
                human_bytes(DECODE_MAX_INPUT)
            ))
        } else {
            match store.get(key) {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => Err("the key is gone (deleted meanwhile)".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        };
        let view = match whole.and_then(|bytes| decoder.decode(&bytes)) {
            Ok(output) => {
                let (bytes, shown) = match output.decoded {
                    Decoded::Bytes(bytes) => {
                        let shown = Shown::of(detect(&bytes, !output.cut));
                        (bytes, shown)
                    }
                    Decoded::Json(value) => (serde_json::to_vec(&value).unwrap_or_default(), Shown::Json),
                };
                DecodedView { decoder, result: Ok(bytes), shown, cut: output.cut }
            }
            Err(e) => DecodedView { decoder, result: Err(e), shown: Shown::Hex, cut: false },
        };
        self.decoded = Some(view);
    }

    fn shown(&self) -> Shown {
        if let Some(decoded) = &self.decoded {
            return decoded.shown;
        }
        match self.mode {
            ViewMode::Text => Shown::Text,
            ViewMode::Hex => Shown::Hex,
            ViewMode::Json => Shown::Json,
            ViewMode::Auto | ViewMode::Decode(_) => Shown::of(self.detected),
        }
    }

    /// The bytes drawn: the decoded ones, or the window (also when decoding failed).
    fn shown_bytes(&self) -> &[u8] {
        match &self.decoded {
            Some(DecodedView { result: Ok(bytes), .. }) => bytes,
            _ => &self.bytes,
        }
    }

    /// What the footer says is shown: `json (auto)`, `gzip → text`, ...
    fn mode_label(&self) -> String {
        let shown = self.shown().name();
        match (&self.decoded, self.mode) {
            (Some(DecodedView { result: Err(_), decoder, .. }), _) => {
                format!("{} failed · hex", decoder.name())
            }
            (Some(d), ViewMode::Auto) => format!("{} → {shown} (auto)", d.decoder.name()),
            (Some(d), _) => format!("{} → {shown}", d.decoder.name()),
            (None, ViewMode::Auto) => format!("{shown} (auto)"),
            (None, _) => shown.to_owned(),
        }
    }

    pub(crate) fn cycle_mode(&mut self, store: &KVStore, theme: &Theme) {
        self.mode = self.mode.next();
        self.scroll = 0;
        self.decode(store);
        self.rebuild(theme);
    }

    /// Lays the text out again (after a load, a mode change or a resize).
    pub(crate) fn rebuild(&mut self, theme: &Theme) {
        let width = self.width.max(1);
        let mut lines = Vec::new();
        if let Some(DecodedView { result: Err(e), .. }) = &self.decoded {
            lines.push(vec![Span::styled(
                format!("({e}; shown as hex)"),
                Style::new().fg(theme.error).add_modifier(Modifier::ITALIC),
            )]);
        }
        if let Some(DecodedView { cut: true, .. }) = &self.decoded {
            lines.push(vec![Span::styled(
                "(decoded output cut: the value is cut or damaged, or it decodes to more than 16 MiB)",
                Style::new().fg(theme.error).add_modifier(Modifier::ITALIC),
            )]);
        }
        let bytes = self.shown_bytes();
        match self.shown() {
            Shown::Hex => {}
            Shown::Text => lines.extend(text_lines(bytes, theme)),
            Shown::Json => {
                let is_json = self.decoded.is_some() || self.detected == Detected::Json;
                if is_json {
                    lines.extend(json_lines(bytes, theme));
                } else {
                    lines.push(vec![Span::styled(
                        "(not JSON; shown as text)",
                        Style::new().fg(theme.error).add_modifier(Modifier::ITALIC),
                    )]);
                    lines.extend(text_lines(bytes, theme));
                }
            }
        }
        self.lines = wrap_all(lines, width);
        self.scroll = self.scroll.min(self.max_scroll());
    }

    pub(crate) fn set_size(&mut self, width: usize, height: usize, theme: &Theme) {
        if (width, height) != (self.width, self.height) {
            self.width = width;
            self.height = height;
            self.rebuild(theme);
        }
    }

    fn hex_bytes_per_line(&self) -> usize {
        // offset (8) + 2 + 16 × 3 + 1 + 2 + 16 ASCII = 77 columns; narrower panes take 8 a line.
        if self.width >= 77 { 16 } else { 8 }
    }

    fn line_count(&self) -> usize {
        match self.shown() {
            Shown::Hex => self.lines.len() + self.shown_bytes().len().div_ceil(self.hex_bytes_per_line()),
            _ => self.lines.len(),
        }
    }

    fn max_scroll(&self) -> usize {
        self.line_count().saturating_sub(self.height.max(1))
    }

    pub(crate) fn scroll_by(&mut self, delta: isize) {
        self.scroll = self.scroll.saturating_add_signed(delta).min(self.max_scroll());
    }

    pub(crate) fn scroll_to_end(&mut self) {
        self.scroll = self.max_scroll();
    }
}

/// What `bytes` look like. A cut preview (`whole` false) counts as JSON when it starts like a JSON
/// document and is text; a whole value must parse.
pub(crate) fn detect(bytes: &[u8], whole: bool) -> Detected {
    if bytes.is_empty() {
        return Detected::Empty;
    }
    let text_ok = is_text(bytes, whole);
    if !text_ok {
        return Detected::Binary;
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{' | b'[')) {
        let parses = !whole || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        if parses {
            return Detected::Json;
        }
    }
    Detected::Text
}

/// UTF-8 without control characters other than tab, newline and carriage return. A preview may
/// end inside a character.
fn is_text(bytes: &[u8], whole: bool) -> bool {
    let valid_up_to = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        // A character cut by the end of a preview is not a sign of binary data.
        Err(e) if !whole && e.error_len().is_none() => e.valid_up_to(),
        Err(_) => return false,
    };
    let text = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or_default();
    text.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
}

/// Lines of text; bytes that are not UTF-8 are shown as `\xNN`, dimmed.
fn text_lines(bytes: &[u8], theme: &Theme) -> Vec<Vec<Span<'static>>> {
    let mut lines = Vec::new();
    for raw in bytes.split(|b| *b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut spans = Vec::new();
        for chunk in raw.utf8_chunks() {
            if !chunk.valid().is_empty() {
                spans.push(Span::raw(sanitize(chunk.valid())));
            }
            if !chunk.invalid().is_empty() {
                let escaped: String = chunk.invalid().iter().map(|b| format!("\\x{b:02x}")).collect();
                spans.push(Span::styled(escaped, Style::new().fg(theme.dim)));
            }
        }
        lines.push(spans);
    }
    lines
}

/// JSON laid out two spaces an indent, in the order written (not re-sorted), coloured by token.
/// It works token by token, so a preview cut in the middle still shows what it has.
fn json_lines(bytes: &[u8], theme: &Theme) -> Vec<Vec<Span<'static>>> {
    let text = String::from_utf8_lossy(bytes);
    let chars: Vec<char> = text.chars().collect();
    let punct = Style::new().fg(theme.dim);
    let mut lines: Vec<Vec<Span<'static>>> = Vec::new();
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut indent: usize = 0;
    let newline = |lines: &mut Vec<Vec<Span<'static>>>, line: &mut Vec<Span<'static>>, indent: usize| {
        lines.push(std::mem::take(line));
        if indent > 0 {
            line.push(Span::raw("  ".repeat(indent.min(64))));
        }
    };
    let next_significant = |from: usize| chars[from..].iter().copied().find(|c| !c.is_whitespace());
    // The last string token, recoloured as a key when a ':' follows it.
    let mut last_string: Option<usize> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => {}
            '{' | '[' => {
                line.push(Span::styled(c.to_string(), punct));
                let close = if c == '{' { '}' } else { ']' };
                if next_significant(i + 1) == Some(close) {
                    // An empty object or array stays on one line.
                    while chars[i] != close {
                        i += 1;
                    }
                    line.push(Span::styled(close.to_string(), punct));
                } else {
                    indent += 1;
                    newline(&mut lines, &mut line, indent);
                }
            }
            '}' | ']' => {
                indent = indent.saturating_sub(1);
                newline(&mut lines, &mut line, indent);
                line.push(Span::styled(c.to_string(), punct));
            }
            ',' => {
                line.push(Span::styled(",", punct));
                newline(&mut lines, &mut line, indent);
            }
            ':' => {
                if let Some(at) = last_string.take()
                    && let Some(span) = line.get_mut(at)
                {
                    span.style = Style::new().fg(theme.json_key);
                }
                line.push(Span::styled(": ", punct));
            }
            '"' => {
                let start = i;
                i += 1;
                while i < chars.len() {
                    match chars[i] {
                        '\\' => i += 2,
                        '"' => break,
                        _ => i += 1,
                    }
                }
                let end = (i + 1).min(chars.len());
                let token: String = chars[start..end].iter().collect();
                last_string = Some(line.len());
                line.push(Span::styled(sanitize(&token), Style::new().fg(theme.json_string)));
            }
            _ => {
                let start = i;
                while i + 1 < chars.len()
                    && !matches!(chars[i + 1], ',' | ':' | '{' | '}' | '[' | ']' | '"')
                    && !chars[i + 1].is_whitespace()
                {
                    i += 1;
                }
                let token: String = chars[start..=i].iter().collect();
                let color =
                    if c == '-' || c.is_ascii_digit() { theme.json_number } else { theme.json_literal };
                line.push(Span::styled(sanitize(&token), Style::new().fg(color)));
            }
        }
        i += 1;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Cuts each line into rows of at most `width` columns, keeping the spans' styles.
pub(crate) fn wrap_all(lines: Vec<Vec<Span<'static>>>, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::with_capacity(lines.len());
    for spans in lines {
        let mut row: Vec<Span<'static>> = Vec::new();
        let mut used = 0;
        for span in spans {
            let mut piece = String::new();
            for c in span.content.chars() {
                let w = char_width(c);
                if used + w > width && used > 0 {
                    if !piece.is_empty() {
                        row.push(Span::styled(std::mem::take(&mut piece), span.style));
                    }
                    out.push(Line::from(std::mem::take(&mut row)));
                    used = 0;
                }
                piece.push(c);
                used += w;
            }
            if !piece.is_empty() {
                row.push(Span::styled(piece, span.style));
            }
        }
        out.push(Line::from(row));
    }
    out
}

/// Rows `from..from + count` of the hex dump: offset, bytes in hex, the same bytes as ASCII.
fn hex_lines(
    bytes: &[u8],
    per_line: usize,
    from: usize,
    count: usize,
    base: u64,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let mut out = Vec::with_capacity(count);
    for (row, chunk) in bytes.chunks(per_line).enumerate().skip(from).take(count) {
        let mut hex = String::with_capacity(per_line * 3 + 1);
        for i in 0..per_line {
            if i == per_line / 2 {
                hex.push(' ');
            }
            match chunk.get(i) {
                Some(b) => hex.push_str(&format!("{b:02x} ")),
                None => hex.push_str("   "),
            }
        }
        let ascii: String =
            chunk.iter().map(|b| if b.is_ascii_graphic() || *b == b' ' { *b as char } else { '.' }).collect();
        out.push(Line::from(vec![
            Span::styled(format!("{:08x}", base + (row * per_line) as u64), Style::new().fg(theme.dim)),
            Span::raw("  "),
            Span::raw(hex),
            Span::styled("│", Style::new().fg(theme.dim)),
            Span::styled(ascii, Style::new().fg(theme.accent)),
            Span::styled("│", Style::new().fg(theme.dim)),
        ]));
    }
    out
}

pub(crate) fn render(view: &ValueView, theme: &Theme, focused: bool, frame: &mut Frame, area: Rect) {
    let border = if focused { theme.focus } else { theme.border };
    let title_width = (area.width as usize).saturating_sub(12);
    let title = match &view.key {
        Some(key) if key.is_empty() => " \"\" (the empty key) ".to_owned(),
        Some(key) => format!(" {} ", truncate(&display_key(key), title_width)),
        None => " value ".to_owned(),
    };
    let (size, keys) = if view.is_whole() {
        (human_bytes(view.total_len), "")
    } else {
        let start = view.offset;
        let end = start + view.bytes.len() as u64;
        let window = if start == 0 {
            format!("showing {}", human_bytes(end))
        } else {
            format!("bytes {}–{}", human_bytes(start), human_bytes(end))
        };
        (format!("{window} of {}", human_bytes(view.total_len)), " · ] [ move")
    };
    // The longest footer that fits the border.
    let room = (area.width as usize).saturating_sub(4);
    let footer = if view.key.is_none() {
        String::new()
    } else {
        [
            format!(" {} · {size}{keys} ", view.mode_label()),
            format!(" {} · {size} ", view.mode_label()),
            format!(" {size} "),
        ]
        .into_iter()
        .find(|f| super::text::text_width(f) <= room)
        .unwrap_or_default()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(border))
        .title(Line::styled(title, Style::new().fg(theme.accent).add_modifier(Modifier::BOLD)))
        .title_bottom(Line::from(footer).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let height = inner.height as usize;
    let lines: Vec<Line<'static>> = if let Some(error) = &view.error {
        vec![Line::styled(error.clone(), Style::new().fg(theme.error))]
    } else if view.key.is_none() {
        vec![Line::styled("(no key selected)", Style::new().fg(theme.dim))]
    } else if view.bytes.is_empty() {
        vec![Line::styled("(empty value)", Style::new().fg(theme.dim))]
    } else if view.shown() == Shown::Hex {
        // Notes first, then the dump.
        let notes = view.lines.len();
        let mut out: Vec<Line<'static>> = view.lines.iter().skip(view.scroll).take(height).cloned().collect();
        let from = view.scroll.saturating_sub(notes);
        let rows = height.saturating_sub(out.len());
        let base = if view.decoded.is_some() { 0 } else { view.offset };
        out.extend(hex_lines(view.shown_bytes(), view.hex_bytes_per_line(), from, rows, base, theme));
        out
    } else {
        view.lines.iter().skip(view.scroll).take(height).cloned().collect()
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn detection() {
        assert_eq!(detect(b"", true), Detected::Empty);
        assert_eq!(detect(b"hello\nworld", true), Detected::Text);
        assert_eq!(detect(b"{\"a\": 1}", true), Detected::Json);
        assert_eq!(detect(b" [1, 2", true), Detected::Text);
        assert_eq!(detect(b" [1, 2", false), Detected::Json);
        assert_eq!(detect(b"\x00\x01\x02", true), Detected::Binary);
        assert_eq!(detect(b"\xff\xfe", true), Detected::Binary);
        // A preview cut inside a character is still text.
        assert_eq!(detect("ab€".as_bytes().split_at(3).0, false), Detected::Text);
        assert_eq!(detect("ab€".as_bytes().split_at(3).0, true), Detected::Binary);
    }

    #[test]
    fn json_is_laid_out_in_written_order() {
        let theme = Theme::default();
        let lines = wrap_all(json_lines(br#"{"z":1,"a":[true,null,"x"],"e":{},"n":-2.5e3}"#, &theme), 80);
        assert_eq!(
            plain(&lines),
            vec![
                "{",
                "  \"z\": 1,",
                "  \"a\": [",
                "    true,",
                "    null,",
                "    \"x\"",
                "  ],",
                "  \"e\": {},",
                "  \"n\": -2.5e3",
                "}",
            ]
        );
        // A cut document shows what it has.
        let cut = wrap_all(json_lines(br#"{"k": "unfinished"#, &theme), 80);
        assert_eq!(plain(&cut), vec!["{", "  \"k\": \"unfinished"]);
        // Strings that hold escapes and brackets do not confuse it.
        let tricky = wrap_all(json_lines(br#"["a\"]{", 1]"#, &theme), 80);
        assert_eq!(plain(&tricky), vec!["[", "  \"a\\\"]{\",", "  1", "]"]);
    }

    #[test]
    fn hex_dump() {
        let theme = Theme::default();
        let lines = hex_lines(b"Hello, hex world!\x00\xff", 16, 0, 10, 0, &theme);
        assert_eq!(
            plain(&lines),
            vec![
                "00000000  48 65 6c 6c 6f 2c 20 68  65 78 20 77 6f 72 6c 64 │Hello, hex world│",
                "00000010  21 00 ff                                         │!..│",
            ]
        );
    }

    #[test]
    fn wrapping_keeps_every_character() {
        let lines = wrap_all(vec![vec![Span::raw("abcdefghij")]], 4);
        assert_eq!(plain(&lines), vec!["abcd", "efgh", "ij"]);
        let lines = wrap_all(vec![vec![Span::raw("日本語")]], 3);
        assert_eq!(plain(&lines), vec!["日", "本", "語"]);
    }
}
