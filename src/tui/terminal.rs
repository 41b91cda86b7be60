//! Taking the terminal and giving it back: raw mode, the alternate screen, bracketed paste and
//! mouse capture on the way in; all undone on the way out, whether the browser quits, fails,
//! panics or is sent SIGTERM or SIGHUP. Ctrl-Z and another program ($PAGER, $EDITOR) give the
//! terminal back for a while and take it again.

use std::io::{self, Stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub(crate) type Term = Terminal<CrosstermBackend<Stdout>>;

/// Whether mouse capture was asked for, so taking the terminal again restores it too.
static MOUSE: AtomicBool = AtomicBool::new(false);

/// Holds the terminal; dropping it restores the terminal (also when unwinding from a panic).
pub(crate) struct TerminalGuard {
    pub terminal: Term,
}

/// Raw mode, the alternate screen, bracketed paste, and the mouse when `mouse`.
fn take(mouse: bool) -> io::Result<()> {
    enable_raw_mode()?;
    let mut stdout = io::stdout();
    execute!(stdout, EnterAlternateScreen, EnableBracketedPaste)?;
    if mouse {
        execute!(stdout, EnableMouseCapture)?;
    }
    Ok(())
}

impl TerminalGuard {
    /// Takes the terminal over; on failure whatever was changed is undone.
    pub(crate) fn enter(mouse: bool) -> io::Result<TerminalGuard> {
        install_panic_hook();
        MOUSE.store(mouse, Ordering::Relaxed);
        let entered = (|| {
            take(mouse)?;
            let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
            terminal.hide_cursor()?;
            terminal.clear()?;
            Ok(terminal)
        })();
        match entered {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }

    /// Gives the terminal back, runs `f` (another program, or a stop), and takes it again; the
    /// whole screen is drawn again afterwards.
    pub(crate) fn release_while<T>(&mut self, f: impl FnOnce() -> T) -> io::Result<T> {
        restore();
        let result = f();
        take(MOUSE.load(Ordering::Relaxed))?;
        self.terminal.hide_cursor()?;
        self.terminal.clear()?;
        Ok(result)
    }
}

/// Stops the process as Ctrl-Z in a shell does (the terminal given back first); returns when the
/// shell continues it (`fg`).
pub(crate) fn suspend(guard: &mut TerminalGuard) -> io::Result<()> {
    guard.release_while(|| {
        // SIGSTOP, not SIGTSTP: the browser catches SIGTSTP to get here.
        let _ = signal_hook::low_level::raise(signal_hook::consts::SIGSTOP);
    })
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back as the shell had it. Safe to call more than once and when nothing
/// was changed; errors are ignored (there is nowhere left to report them).
pub(crate) fn restore() {
    let mut stdout = io::stdout();
    let _ = execute!(
        stdout,
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

/// On a panic, restore the terminal first, so the message is printed on a usable screen.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
