//! Taking over the terminal and always giving it back: raw mode, the alternate screen and
//! (unless `ui.mouse` is false) mouse reports on entry; restored on exit, on error, and from a panic hook.

use std::io::{Write, stdout};

use crossterm::cursor::Show;
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

/// Restores the terminal when dropped.
pub struct TerminalGuard;

impl TerminalGuard {
    /// With `mouse`, the terminal reports the mouse (wheel, clicks) instead of selecting
    /// text with it (the `ui.mouse` setting turns it off).
    pub fn enter(mouse: bool) -> std::io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(stdout(), EnterAlternateScreen, EnableBracketedPaste)?;
        if mouse {
            execute!(stdout(), EnableMouseCapture)?;
        }
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leave the alternate screen, show the cursor, end raw mode. Safe to call twice.
pub fn restore() {
    let mut out = stdout();
    let _ = execute!(
        out,
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Only the main thread owns the screen; a worker's panic is reported by its job.
        if std::thread::current().name() == Some("main") {
            restore();
        }
        previous(info);
    }));
}
