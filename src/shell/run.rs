//! The event loop: read terminal input on a thread, take events from the queue, and redraw
//! only when something changed — at most about 60 times a second.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Context;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::App;
use crate::app::events::AppEvent;
use crate::app::keymap::Keymap;
use crate::app::terminal::TerminalGuard;
use crate::app::theme::Theme;
use crate::engine::project::Project;
use crate::store::settings;

/// Options of the TUI from the command line.
#[derive(Debug, Default, Clone)]
pub struct TuiOptions {
    pub theme: Option<String>,
    pub exit_after_first_frame: bool,
}

/// Shortest time between two frames (coalesces bursts of events).
const FRAME: Duration = Duration::from_millis(16);
/// How often the screen refreshes while jobs run (elapsed times, spinners).
const TICK: Duration = Duration::from_millis(250);

/// The user's config folder: `$DEVSKY_CONFIG_DIR`, else the platform's (`~/.config/devsky`).
pub fn config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DEVSKY_CONFIG_DIR") {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "devsky").map(|p| p.config_dir().to_path_buf())
}

/// Everything the TUI needs that can fail, checked before the terminal is touched.
pub fn prepare(path: &Path, theme_flag: Option<&str>) -> anyhow::Result<(Project, Keymap, Theme)> {
    let project = Project::locate(path)?;
    let store = project.open_store(true)?;
    let config = config_dir();
    let keymap = Keymap::load(config.as_deref())?;
    let setting = settings::get(store.conn(), "theme")?;
    let no_color = std::env::var("NO_COLOR").ok();
    let name = Theme::choose(theme_flag, no_color.as_deref(), setting.as_deref());
    let theme = Theme::load(Some(&name), config.as_deref()).context("loading the theme")?;
    Ok((project, keymap, theme))
}

/// The `ui.mouse` setting: whether the TUI takes the mouse (wheel, clicks; the default)
/// or leaves it to the terminal to select text with (`devsky settings set ui.mouse false`).
pub fn mouse_setting(conn: &rusqlite::Connection) -> anyhow::Result<bool> {
    match settings::get(conn, "ui.mouse")?.as_deref().map(str::trim) {
        None | Some("true" | "on" | "yes" | "1") => Ok(true),
        Some("false" | "off" | "no" | "0") => Ok(false),
        Some(other) => anyhow::bail!(
            "the setting ui.mouse is {other:?}: use true or false (`devsky settings set ui.mouse false`)"
        ),
    }
}

/// Open the TUI on the project at `path`; returns the exit code.
pub fn run_tui(path: &Path, opts: TuiOptions) -> anyhow::Result<i32> {
    let (project, keymap, theme) = prepare(path, opts.theme.as_deref())?;
    let mouse = mouse_setting(project.open_store(false)?.conn())?;
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        anyhow::bail!(
            "the TUI needs a terminal on stdout; use the subcommands (`devsky --help`) in scripts"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("devsky-job")
        .enable_time()
        .build()?;
    let (tx, rx) = mpsc::channel();
    let mut app = App::new(project, keymap, theme, runtime.handle().clone(), tx.clone());

    let _guard = TerminalGuard::enter(mouse)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    // Not `clear()`: it asks the terminal for the cursor position, which a slow link may
    // not answer in time. A resize to the same size clears without asking.
    full_redraw(&mut terminal)?;

    std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            loop {
                match crossterm::event::read() {
                    Ok(ev) => {
                        if tx.send(AppEvent::Term(ev)).is_err() {
                            break;
                        }
                    }
                    Err(_) => {
                        let _ = tx.send(AppEvent::InputClosed);
                        break;
                    }
                }
            }
        })?;

    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            if app.take_full_redraw() {
                full_redraw(&mut terminal)?;
            }
            terminal.draw(|f| app.draw(f))?;
            let writes = app.take_terminal_writes();
            if !writes.is_empty() {
                let out = terminal.backend_mut();
                for w in writes {
                    out.write_all(w.as_bytes())?;
                }
                out.flush()?;
            }
            dirty = false;
            last_draw = Instant::now();
            if opts.exit_after_first_frame {
                break;
            }
            // Lets the end-to-end tests check that a panic gives the terminal back.
            if crate::engine::util::testhooks::var("DEVSKY_TEST_PANIC").is_some() {
                panic!("DEVSKY_TEST_PANIC is set: panicking after the first frame");
            }
        }
        if app.should_quit() {
            break;
        }
        let wait = if dirty {
            FRAME.saturating_sub(last_draw.elapsed())
        } else if app.job_table().running().next().is_some() {
            TICK
        } else {
            Duration::from_secs(3600)
        };
        match rx.recv_timeout(wait) {
            Ok(ev) => {
                dirty |= app.handle(ev);
                // Take everything already queued before drawing again.
                while let Ok(ev) = rx.try_recv() {
                    dirty |= app.handle(ev);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                dirty |= app.job_table().running().next().is_some();
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    drop(terminal);
    // Don't wait for blocking jobs that ignore cancellation: they die with the process.
    runtime.shutdown_background();
    Ok(0)
}

/// Clear the screen and forget what is on it, so the next frame repaints every cell.
fn full_redraw(terminal: &mut Terminal<CrosstermBackend<std::io::Stdout>>) -> std::io::Result<()> {
    let size = terminal.size()?;
    terminal.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
}
