//! Shared output helpers: JSON printing and the progress bar on stderr.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressState, ProgressStyle};
use serde::Serialize;

use crate::engine::jobs::{JobEvent, Progress};

/// Print `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// A progress sink for long CLI operations: a bar with counts, rate and ETA on stderr
/// (indicatif) when stderr is a terminal, nothing at all otherwise (pipes, files, CI).
pub fn stderr_progress() -> Progress {
    stderr_progress_printing().0
}

/// Prints a line (on stdout, or stderr when told) without breaking a progress bar.
pub type Printer = Box<dyn Fn(&str, bool)>;

/// [`stderr_progress`], and how to print lines while it may be drawn: the bar is taken
/// away while a line prints, then drawn again below it.
pub fn stderr_progress_printing() -> (Progress, Printer) {
    let plain: Printer = Box::new(|line, err| {
        if err {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    });
    if !std::io::stderr().is_terminal() {
        return (Progress::silent(), plain);
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_finish(ProgressFinish::AndClear);
    let shown = bar.clone();
    let printer: Printer = Box::new(move |line, err| shown.suspend(|| plain(line, err)));
    let rate = |s: &ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(
            w,
            "{}/s",
            crate::engine::util::units::thousands(s.per_sec() as usize)
        );
    };
    let counted = ProgressStyle::with_template(
        "{msg:>12} [{bar:30}] {human_pos}/{human_len} ({rate}, ETA {eta})",
    )
    .expect("a valid template")
    .with_key("rate", rate)
    .progress_chars("=> ");
    let open = ProgressStyle::with_template("{msg:>12} {spinner} {human_pos} ({rate})")
        .expect("a valid template")
        .with_key("rate", rate);
    let has_total = std::sync::atomic::AtomicU8::new(2);
    let progress = Progress::new(0, move |ev| match ev {
        JobEvent::Progress {
            done, total, what, ..
        } => {
            if bar.is_finished() {
                // a new phase after one that ran to its end
                bar.reset();
            }
            let want = u8::from(total.is_some());
            if has_total.swap(want, std::sync::atomic::Ordering::Relaxed) != want {
                bar.set_style(if want == 1 {
                    counted.clone()
                } else {
                    open.clone()
                });
                bar.reset_eta();
            }
            if let Some(t) = total {
                bar.set_length(t);
            }
            if bar.message() != what {
                bar.set_message(what);
            }
            bar.set_position(done);
            if total.is_some_and(|t| t > 0 && done >= t) {
                bar.finish_and_clear();
            }
        }
        JobEvent::Finished { .. } => bar.finish_and_clear(),
        _ => {}
    });
    (progress, printer)
}

pub use crate::engine::util::units::human_size;
