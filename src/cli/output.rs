//! Shared output helpers: JSON printing and the progress line on stderr.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::engine::jobs::{JobEvent, Progress};

/// Print `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A progress sink that draws one updating line on stderr when stderr is a terminal.
pub fn stderr_progress() -> Progress {
    if !std::io::stderr().is_terminal() {
        return Progress::silent();
    }
    Progress::new(0, |ev| {
        if let JobEvent::Progress {
            done, total, what, ..
        } = ev
        {
            let line = match total {
                Some(t) if t > 0 => format!("{what}: {done}/{t} ({}%)", done * 100 / t),
                _ => format!("{what}: {done}"),
            };
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{line}");
            if total.is_some_and(|t| done >= t) {
                let _ = write!(err, "\r\x1b[2K");
            }
            let _ = err.flush();
        }
    })
}

pub use crate::engine::util::units::human_size;
