//! Taking the terminal and giving it back: raw mode, the alternate screen and mouse capture on
//! the way in; all undone on the way out, whether the browser quits, fails or panics.

use std::io::{self, Stdout};
use std::sync::Once;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub(crate) type Term = Terminal<CrosstermBackend<Stdout>>;

/// Holds the terminal; dropping it restores the terminal (also when unwinding from a panic).
pub(crate) struct TerminalGuard {
    pub terminal: Term,
}

impl TerminalGuard {
    /// Takes the terminal over; on failure whatever was changed is undone.
    pub(crate) fn enter(mouse: bool) -> io::Result<TerminalGuard> {
        install_panic_hook();
        let entered = (|| {
            enable_raw_mode()?;
            let mut stdout = io::stdout();
            execute!(stdout, EnterAlternateScreen)?;
            if mouse {
                execute!(stdout, EnableMouseCapture)?;
            }
            let mut terminal = Terminal::new(CrosstermBackend::new(stdout))?;
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
    let _ = execute!(stdout, DisableMouseCapture, LeaveAlternateScreen, crossterm::cursor::Show);
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
