//! Reading the terminal: bytes from standard input become key, mouse, paste and resize events,
//! and the signals the browser acts on (SIGTERM, SIGHUP, SIGINT, SIGTSTP, SIGWINCH) wake the same
//! wait.
//!
//! The browser reads the terminal itself rather than through crossterm's reader: that one waits
//! on an edge-triggered epoll and returns after the first 1 KiB of a burst, so the rest of a
//! paste or of 2,500 key presses sent at once stayed unread until the next key arrived. Here one
//! `poll(2)` waits for input or a signal, and every byte already there is read before the events
//! are handed over, so a burst is handled as one batch and drawn once.
//!
//! The parser understands what the browser asks the terminal for: UTF-8 text, control keys, the
//! CSI and SS3 sequences of xterm-like terminals (arrows, Home/End, PageUp/PageDown, Insert,
//! Delete, F1–F12 with modifiers), SGR mouse reports (mode 1006) and bracketed paste (mode 2004).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::event::{PollFd, PollFlags, Timespec};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

/// The most a single paste may hold; a longer one is cut here (and says so).
pub(crate) const PASTE_MAX_BYTES: usize = 16 << 20;
/// How long a lone ESC (or the start of a sequence) waits for the rest before it counts as the
/// Esc key.
const ESCAPE_WAIT: Duration = Duration::from_millis(30);
/// A paste whose end marker has not come after this long is handed over as it is, so a lost end
/// marker cannot swallow every later key.
const PASTE_WAIT: Duration = Duration::from_millis(500);

/// What one call to the parser found at the start of its buffer.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// An event and the bytes it took.
    Event(Event, usize),
    /// Bytes that mean nothing to the browser (an unknown sequence), skipped.
    Skip(usize),
    /// The buffer ends inside a sequence: wait for more bytes.
    Incomplete,
}

/// Turns bytes into events; keeps an unfinished sequence or paste between reads.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    buffer: Vec<u8>,
    /// Inside a bracketed paste: the text so far.
    paste: Option<Vec<u8>>,
    /// The paste was longer than [`PASTE_MAX_BYTES`].
    paste_cut: bool,
}

const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";

impl Parser {
    /// Adds `bytes` and returns the events they complete.
    pub(crate) fn feed(&mut self, bytes: &[u8], events: &mut Vec<Event>) {
        self.buffer.extend_from_slice(bytes);
        self.drain(events, false);
    }

    /// Whether bytes are waiting for the rest of a sequence (or a paste for its end).
    pub(crate) fn pending(&self) -> bool {
        !self.buffer.is_empty() || self.paste.is_some()
    }

    /// No more bytes came: an unfinished sequence is taken as it stands (a lone ESC is the Esc
    /// key) and an unfinished paste is handed over.
    pub(crate) fn flush(&mut self, events: &mut Vec<Event>) {
        self.drain(events, true);
        if let Some(text) = self.paste.take() {
            self.buffer.clear();
            events.push(Event::Paste(self.paste_text(text)));
        }
    }

    fn paste_text(&mut self, bytes: Vec<u8>) -> String {
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if std::mem::take(&mut self.paste_cut) {
            text.push_str("\n[paste cut at 16 MiB]");
        }
        text
    }

    fn drain(&mut self, events: &mut Vec<Event>, at_end: bool) {
        let mut at = 0;
        loop {
            if let Some(paste) = &mut self.paste {
                let rest = &self.buffer[at..];
                match find(rest, PASTE_END) {
                    Some(end) => {
                        push_bounded(paste, &rest[..end], &mut self.paste_cut);
                        at += end + PASTE_END.len();
                        let text = self.paste.take().unwrap_or_default();
                        let text = self.paste_text(text);
                        events.push(Event::Paste(text));
                        continue;
                    }
                    None => {
                        // Keep a tail that may be the start of the end marker.
                        let keep = partial_suffix(rest, PASTE_END);
                        push_bounded(paste, &rest[..rest.len() - keep], &mut self.paste_cut);
                        at = self.buffer.len() - keep;
                        break;
                    }
                }
            }
            if at >= self.buffer.len() {
                break;
            }
            let rest = &self.buffer[at..];
            if rest.starts_with(PASTE_START) {
                self.paste = Some(Vec::new());
                at += PASTE_START.len();
                continue;
            }
            match parse(rest, at_end) {
                Parsed::Event(event, used) => {
                    events.push(event);
                    at += used;
                }
                Parsed::Skip(used) => at += used.max(1),
                Parsed::Incomplete if at_end => {
                    // Nothing more is coming: read the first byte on its own.
                    match parse(&rest[..1], true) {
                        Parsed::Event(event, _) => events.push(event),
                        Parsed::Skip(_) | Parsed::Incomplete => {}
                    }
                    at += 1;
                }
                Parsed::Incomplete => break,
            }
        }
        self.buffer.drain(..at);
    }
}

fn push_bounded(paste: &mut Vec<u8>, bytes: &[u8], cut: &mut bool) {
    let room = PASTE_MAX_BYTES.saturating_sub(paste.len());
    if bytes.len() > room {
        *cut = true;
    }
    paste.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The length of the longest end of `bytes` that is a start of `marker`.
fn partial_suffix(bytes: &[u8], marker: &[u8]) -> usize {
    (1..marker.len())
        .rev()
        .find(|&n| bytes.len() >= n && marker.starts_with(&bytes[bytes.len() - n..]))
        .unwrap_or(0)
}

fn key(code: KeyCode, modifiers: KeyModifiers) -> Event {
    Event::Key(KeyEvent::new_with_kind(code, modifiers, KeyEventKind::Press))
}

/// The key of one control byte or printable character.
fn single(byte: u8) -> Option<(KeyCode, KeyModifiers)> {
    Some(match byte {
        b'\r' => (KeyCode::Enter, KeyModifiers::NONE),
        // In raw mode a newline is ctrl-j (as crossterm reports it).
        b'\n' => (KeyCode::Char('j'), KeyModifiers::CONTROL),
        b'\t' => (KeyCode::Tab, KeyModifiers::NONE),
        0x7f | 0x08 => (KeyCode::Backspace, KeyModifiers::NONE),
        0x1b => (KeyCode::Esc, KeyModifiers::NONE),
        0x00 => (KeyCode::Char(' '), KeyModifiers::CONTROL),
        0x01..=0x1a => (KeyCode::Char(char::from(byte - 1 + b'a')), KeyModifiers::CONTROL),
        0x1c..=0x1f => (KeyCode::Char(char::from(byte - 0x1c + b'4')), KeyModifiers::CONTROL),
        _ => return None,
    })
}

/// Parses the event at the start of `bytes`. `at_end`: no more bytes will follow for now.
fn parse(bytes: &[u8], at_end: bool) -> Parsed {
    let Some(&first) = bytes.first() else { return Parsed::Incomplete };
    if first == 0x1b {
        return parse_escape(bytes, at_end);
    }
    if let Some((code, modifiers)) = single(first) {
        return Parsed::Event(key(code, modifiers), 1);
    }
    parse_char(bytes).map_or_else(
        |incomplete| if incomplete { Parsed::Incomplete } else { Parsed::Skip(1) },
        |(c, used)| {
            let modifiers = if c.is_uppercase() { KeyModifiers::SHIFT } else { KeyModifiers::NONE };
            Parsed::Event(key(KeyCode::Char(c), modifiers), used)
        },
    )
}

/// One UTF-8 character; `Err(true)` when the buffer ends inside it, `Err(false)` when invalid.
fn parse_char(bytes: &[u8]) -> Result<(char, usize), bool> {
    let len = match bytes[0] {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return Err(false),
    };
    if bytes.len() < len {
        return Err(true);
    }
    match std::str::from_utf8(&bytes[..len]) {
        Ok(s) => s.chars().next().map(|c| (c, len)).ok_or(false),
        Err(_) => Err(false),
    }
}

fn parse_escape(bytes: &[u8], at_end: bool) -> Parsed {
    let Some(&second) = bytes.get(1) else {
        return if at_end {
            Parsed::Event(key(KeyCode::Esc, KeyModifiers::NONE), 1)
        } else {
            Parsed::Incomplete
        };
    };
    match second {
        b'[' => parse_csi(bytes),
        b'O' => match bytes.get(2) {
            None => Parsed::Incomplete,
            Some(&c) => match ss3_key(c) {
                Some(code) => Parsed::Event(key(code, KeyModifiers::NONE), 3),
                None => Parsed::Skip(3),
            },
        },
        0x1b => Parsed::Event(key(KeyCode::Esc, KeyModifiers::NONE), 1),
        _ => {
            // Alt and a key.
            match parse(&bytes[1..], at_end) {
                Parsed::Event(Event::Key(mut k), used) => {
                    k.modifiers |= KeyModifiers::ALT;
                    Parsed::Event(Event::Key(k), used + 1)
                }
                Parsed::Incomplete => Parsed::Incomplete,
                _ => Parsed::Skip(1),
            }
        }
    }
}

fn ss3_key(c: u8) -> Option<KeyCode> {
    Some(match c {
        b'A' => KeyCode::Up,
        b'B' => KeyCode::Down,
        b'C' => KeyCode::Right,
        b'D' => KeyCode::Left,
        b'H' => KeyCode::Home,
        b'F' => KeyCode::End,
        b'P' => KeyCode::F(1),
        b'Q' => KeyCode::F(2),
        b'R' => KeyCode::F(3),
        b'S' => KeyCode::F(4),
        _ => return None,
    })
}

/// `ESC [` parameters, intermediates and a final byte.
fn parse_csi(bytes: &[u8]) -> Parsed {
    // Sequences are short; one that runs on this long is garbage.
    const MAX_CSI: usize = 64;
    let body = &bytes[2..];
    let Some(end) = body.iter().position(|b| (0x40..=0x7e).contains(b)) else {
        return if bytes.len() > MAX_CSI { Parsed::Skip(2) } else { Parsed::Incomplete };
    };
    let used = 2 + end + 1;
    let params = &body[..end];
    let last = body[end];
    if let Some(mouse) = params.strip_prefix(b"<") {
        return match parse_mouse(mouse, last) {
            Some(event) => Parsed::Event(event, used),
            None => Parsed::Skip(used),
        };
    }
    let numbers: Vec<u16> = std::str::from_utf8(params)
        .unwrap_or("")
        .split(';')
        .map(|p| p.split(':').next().unwrap_or("").parse().unwrap_or(0))
        .collect();
    let modifiers = modifiers_of(numbers.get(1).copied().unwrap_or(1));
    // The same final letters as the SS3 form (`ESC O A`), here with modifiers.
    let code = match ss3_key(last) {
        Some(code) => code,
        None => match last {
            b'Z' => return Parsed::Event(key(KeyCode::BackTab, KeyModifiers::SHIFT), used),
            b'~' => match numbers.first().copied().unwrap_or(0) {
                1 | 7 => KeyCode::Home,
                2 => KeyCode::Insert,
                3 => KeyCode::Delete,
                4 | 8 => KeyCode::End,
                5 => KeyCode::PageUp,
                6 => KeyCode::PageDown,
                n @ 11..=15 => KeyCode::F(u8::try_from(n - 10).unwrap_or(1)),
                n @ 17..=21 => KeyCode::F(u8::try_from(n - 11).unwrap_or(6)),
                n @ 23..=24 => KeyCode::F(u8::try_from(n - 12).unwrap_or(11)),
                _ => return Parsed::Skip(used),
            },
            _ => return Parsed::Skip(used),
        },
    };
    Parsed::Event(key(code, modifiers), used)
}

/// xterm's modifier parameter: 1 + shift (1) + alt (2) + ctrl (4).
fn modifiers_of(param: u16) -> KeyModifiers {
    let bits = param.saturating_sub(1);
    let mut modifiers = KeyModifiers::NONE;
    if bits & 1 != 0 {
        modifiers |= KeyModifiers::SHIFT;
    }
    if bits & 2 != 0 {
        modifiers |= KeyModifiers::ALT;
    }
    if bits & 4 != 0 {
        modifiers |= KeyModifiers::CONTROL;
    }
    modifiers
}

/// An SGR mouse report: `ESC [ < b ; x ; y M` (press) or `m` (release), x and y from 1.
fn parse_mouse(params: &[u8], last: u8) -> Option<Event> {
    let text = std::str::from_utf8(params).ok()?;
    let mut parts = text.split(';').map(|p| p.parse::<u16>().ok());
    let (b, x, y) = (parts.next()??, parts.next()??, parts.next()??);
    let mut modifiers = KeyModifiers::NONE;
    if b & 4 != 0 {
        modifiers |= KeyModifiers::SHIFT;
    }
    if b & 8 != 0 {
        modifiers |= KeyModifiers::ALT;
    }
    if b & 16 != 0 {
        modifiers |= KeyModifiers::CONTROL;
    }
    let button = match b & 3 {
        0 => MouseButton::Left,
        1 => MouseButton::Middle,
        _ => MouseButton::Right,
    };
    let kind = if b & 64 != 0 {
        match b & 3 {
            0 => MouseEventKind::ScrollUp,
            1 => MouseEventKind::ScrollDown,
            2 => MouseEventKind::ScrollLeft,
            _ => MouseEventKind::ScrollRight,
        }
    } else if b & 32 != 0 {
        if b & 3 == 3 { MouseEventKind::Moved } else { MouseEventKind::Drag(button) }
    } else if last == b'm' {
        MouseEventKind::Up(button)
    } else if last == b'M' {
        MouseEventKind::Down(button)
    } else {
        return None;
    };
    Some(Event::Mouse(MouseEvent { kind, column: x.saturating_sub(1), row: y.saturating_sub(1), modifiers }))
}

/// A signal the browser was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGTERM, SIGHUP or SIGINT: put the terminal back and quit.
    Quit(i32),
    /// SIGTSTP sent from outside (Ctrl-Z arrives as a key in raw mode): suspend.
    Suspend,
}

/// Flags set by the signal handlers, and a pipe they write to so the wait wakes up.
struct Signals {
    term: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
    int: Arc<AtomicBool>,
    tstp: Arc<AtomicBool>,
    winch: Arc<AtomicBool>,
    /// Another program has the terminal: Ctrl-Z stops the browser with it (the default action),
    /// so the shell gets the terminal back and `fg` continues both.
    child: Arc<AtomicBool>,
    wake: UnixStream,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    fn register() -> io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGTSTP, SIGWINCH};
        let (wake, sender) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        sender.set_nonblocking(true)?;
        let mut signals = Signals {
            term: Arc::default(),
            hup: Arc::default(),
            int: Arc::default(),
            tstp: Arc::default(),
            winch: Arc::default(),
            child: Arc::default(),
            wake,
            ids: Vec::new(),
        };
        signals.ids.push(signal_hook::flag::register_conditional_default(SIGTSTP, signals.child.clone())?);
        for (signal, flag) in [
            (SIGTERM, &signals.term),
            (SIGHUP, &signals.hup),
            (SIGINT, &signals.int),
            (SIGTSTP, &signals.tstp),
            (SIGWINCH, &signals.winch),
        ] {
            signals.ids.push(signal_hook::flag::register(signal, flag.clone())?);
            signals.ids.push(signal_hook::low_level::pipe::register(signal, sender.try_clone()?)?);
        }
        Ok(signals)
    }

    fn drain_wake(&self) {
        use std::io::Read as _;
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Standard input and the signals, waited on together.
pub(crate) struct Input {
    stdin: io::Stdin,
    parser: Parser,
    signals: Signals,
    buf: Box<[u8]>,
    /// When the bytes still in the parser arrived (for the Esc and paste waits).
    pending_since: Option<Instant>,
}

/// What one wait brought.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub events: Vec<Event>,
    pub signal: Option<Signal>,
}

impl Input {
    /// Reads standard input (which must be the terminal) and catches the signals.
    pub(crate) fn new() -> io::Result<Input> {
        Ok(Input {
            stdin: io::stdin(),
            parser: Parser::default(),
            signals: Signals::register()?,
            buf: vec![0u8; 64 * 1024].into_boxed_slice(),
            pending_since: None,
        })
    }

    /// Waits up to `timeout` (`None`: until something happens) for input or a signal, then reads
    /// every byte already there. Returns the events and the signal, possibly none (timeout).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Batch> {
        let mut batch = Batch::default();
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            // An unfinished sequence waits a little for its rest, no longer.
            let wait = match self.pending_since {
                Some(since) => Some(self.pending_limit().saturating_sub(since.elapsed())),
                None => deadline.map(|d| d.saturating_duration_since(Instant::now())),
            };
            let (input_ready, signal_ready) = self.poll(wait)?;
            if signal_ready {
                self.signals.drain_wake();
            }
            self.take_signals(&mut batch);
            if matches!(batch.signal, Some(Signal::Quit(_))) {
                return Ok(batch);
            }
            if input_ready {
                self.read_available(&mut batch.events)?;
            } else if let Some(since) = self.pending_since
                && since.elapsed() >= self.pending_limit()
            {
                self.parser.flush(&mut batch.events);
                self.pending_since = None;
            }
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            if self.pending_since.is_none()
                && (!batch.events.is_empty() || batch.signal.is_some() || timed_out)
            {
                return Ok(batch);
            }
        }
    }

    fn pending_limit(&self) -> Duration {
        if self.parser.paste.is_some() { PASTE_WAIT } else { ESCAPE_WAIT }
    }

    /// Reads until no byte is waiting; parses as it goes.
    fn read_available(&mut self, events: &mut Vec<Event>) -> io::Result<()> {
        loop {
            // Straight from the descriptor, not through `Stdin`'s buffer: `poll` must see every
            // byte that is still waiting.
            let n = match rustix::io::read(self.stdin.as_fd(), &mut self.buf[..]) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                // End of input: the terminal is gone (as after SIGHUP).
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the terminal closed"));
            }
            self.parser.feed(&self.buf[..n], events);
            if !self.poll(Some(Duration::ZERO))?.0 {
                break;
            }
        }
        self.pending_since =
            if self.parser.pending() { Some(self.pending_since.unwrap_or_else(Instant::now)) } else { None };
        Ok(())
    }

    fn poll(&self, timeout: Option<Duration>) -> io::Result<(bool, bool)> {
        let wake: BorrowedFd<'_> = self.signals.wake.as_fd();
        let mut fds =
            [PollFd::new(&self.stdin, PollFlags::IN), PollFd::from_borrowed_fd(wake, PollFlags::IN)];
        // Round up, so a wait of 0.5 ms does not spin.
        let timeout = timeout.map(|t| {
            let t =
                Duration::from_micros(u64::try_from(t.as_micros().div_ceil(1000) * 1000).unwrap_or(u64::MAX));
            Timespec {
                tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(t.subsec_nanos()),
            }
        });
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok((false, true)),
            Err(e) => return Err(e.into()),
        }
        let ready =
            |fd: &PollFd<'_>| fd.revents().intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR);
        Ok((ready(&fds[0]), ready(&fds[1])))
    }

    fn take_signals(&self, batch: &mut Batch) {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let s = &self.signals;
        if s.winch.swap(false, Ordering::Relaxed)
            && let Ok((width, height)) = crossterm::terminal::size()
        {
            batch.events.push(Event::Resize(width, height));
        }
        for (flag, number) in [(&s.term, SIGTERM), (&s.hup, SIGHUP), (&s.int, SIGINT)] {
            if flag.swap(false, Ordering::Relaxed) {
                batch.signal = Some(Signal::Quit(number));
            }
        }
        if batch.signal.is_none() && s.tstp.swap(false, Ordering::Relaxed) {
            batch.signal = Some(Signal::Suspend);
        }
    }

    /// Forgets a half-read sequence (after another program had the terminal).
    pub(crate) fn reset(&mut self) {
        self.parser = Parser::default();
        self.pending_since = None;
    }

    /// Runs `f` while another program has the terminal: Ctrl-Z then stops both (as a shell's
    /// job), and the Ctrl-C or Ctrl-Z meant for that program is not taken as one for the
    /// browser afterwards.
    pub(crate) fn with_child<T>(&mut self, f: impl FnOnce() -> T) -> T {
        self.signals.child.store(true, Ordering::SeqCst);
        let result = f();
        self.signals.child.store(false, Ordering::SeqCst);
        self.signals.int.store(false, Ordering::SeqCst);
        self.signals.tstp.store(false, Ordering::SeqCst);
        self.signals.drain_wake();
        self.reset();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<Event> {
        let mut parser = Parser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        parser.flush(&mut out);
        out
    }

    fn k(code: KeyCode, modifiers: KeyModifiers) -> Event {
        key(code, modifiers)
    }

    #[test]
    fn text_and_control_keys() {
        let none = KeyModifiers::NONE;
        assert_eq!(
            events(&[b"aZ\r\t\x7f\x03\x1a", "é".as_bytes()]),
            vec![
                k(KeyCode::Char('a'), none),
                k(KeyCode::Char('Z'), KeyModifiers::SHIFT),
                k(KeyCode::Enter, none),
                k(KeyCode::Tab, none),
                k(KeyCode::Backspace, none),
                k(KeyCode::Char('c'), KeyModifiers::CONTROL),
                k(KeyCode::Char('z'), KeyModifiers::CONTROL),
                k(KeyCode::Char('é'), none),
            ]
        );
        // A character split across two reads.
        let euro = "€".as_bytes();
        assert_eq!(events(&[&euro[..1], &euro[1..]]), vec![k(KeyCode::Char('€'), none)]);
    }

    #[test]
    fn escape_sequences() {
        let none = KeyModifiers::NONE;
        assert_eq!(
            events(&[b"\x1b[A\x1bOB\x1b[5~\x1b[6~\x1b[1;5C\x1b[Z\x1b[3~\x1bOP\x1b[15~\x1b[H"]),
            vec![
                k(KeyCode::Up, none),
                k(KeyCode::Down, none),
                k(KeyCode::PageUp, none),
                k(KeyCode::PageDown, none),
                k(KeyCode::Right, KeyModifiers::CONTROL),
                k(KeyCode::BackTab, KeyModifiers::SHIFT),
                k(KeyCode::Delete, none),
                k(KeyCode::F(1), none),
                k(KeyCode::F(5), none),
                k(KeyCode::Home, none),
            ]
        );
        // A sequence cut between reads is put together.
        assert_eq!(events(&[b"\x1b[", b"B"]), vec![k(KeyCode::Down, none)]);
        // A lone ESC is the Esc key once nothing follows; alt-x is ESC x.
        assert_eq!(events(&[b"\x1b"]), vec![k(KeyCode::Esc, none)]);
        assert_eq!(events(&[b"\x1bx"]), vec![k(KeyCode::Char('x'), KeyModifiers::ALT)]);
        // Unknown sequences are skipped, not typed.
        assert_eq!(events(&[b"\x1b[?1;2cq"]), vec![k(KeyCode::Char('q'), none)]);
    }

    #[test]
    fn mouse_reports() {
        assert_eq!(
            events(&[b"\x1b[<0;5;3M\x1b[<65;1;1M"]),
            vec![
                Event::Mouse(MouseEvent {
                    kind: MouseEventKind::Down(MouseButton::Left),
                    column: 4,
                    row: 2,
                    modifiers: KeyModifiers::NONE
                }),
                Event::Mouse(MouseEvent {
                    kind: MouseEventKind::ScrollDown,
                    column: 0,
                    row: 0,
                    modifiers: KeyModifiers::NONE
                }),
            ]
        );
    }

    #[test]
    fn bracketed_paste_is_one_event_with_its_newlines() {
        let pasted = events(&[b"\x1b[200~PUT \"cfg\":\"{\n  \\\"debug\\\": true }\";\n", b"\x1b[201~j"]);
        assert_eq!(
            pasted,
            vec![
                Event::Paste("PUT \"cfg\":\"{\n  \\\"debug\\\": true }\";\n".to_owned()),
                k(KeyCode::Char('j'), KeyModifiers::NONE),
            ]
        );
        // The end marker split across reads.
        assert_eq!(events(&[b"\x1b[200~ab\x1b[2", b"01~"]), vec![Event::Paste("ab".to_owned())]);
        // A paste whose end never comes is handed over when the input stops.
        assert_eq!(events(&[b"\x1b[200~abc"]), vec![Event::Paste("abc".to_owned())]);
    }

    #[test]
    fn a_burst_is_read_whole() {
        let burst = vec![b'j'; 2_500];
        let out = events(&[&burst]);
        assert_eq!(out.len(), 2_500);
    }
}
