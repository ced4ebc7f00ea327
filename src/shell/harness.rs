//! Driving the shell without a terminal: ratatui's `TestBackend`, keys by name, the event
//! queue pumped by hand. Used by the TUI tests and the key-to-frame benchmark.

use std::path::Path;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyEvent, KeyEventKind, KeyEventState};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::App;
use crate::app::events::AppEvent;
use crate::app::keymap::{KeyCombo, Keymap};
use crate::app::theme::Theme;
use crate::engine::project::Project;

/// A shell on a `TestBackend` of a given size.
pub struct Harness {
    pub app: App,
    pub terminal: Terminal<TestBackend>,
    rx: Receiver<AppEvent>,
    _runtime: tokio::runtime::Runtime,
}

impl Harness {
    /// A shell on the project at `root` (its store is made if missing), theme `mono`.
    pub fn new(root: &Path, width: u16, height: u16) -> anyhow::Result<Harness> {
        Harness::with(root, width, height, Keymap::defaults(), "mono")
    }

    pub fn with(
        root: &Path,
        width: u16,
        height: u16,
        keymap: Keymap,
        theme: &str,
    ) -> anyhow::Result<Harness> {
        let project = Project::locate(root)?;
        project.open_store(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()?;
        let (tx, rx) = channel();
        let theme = Theme::load(Some(theme), None)?;
        let app = App::new(project, keymap, theme, runtime.handle().clone(), tx);
        let terminal = Terminal::new(TestBackend::new(width, height))?;
        Ok(Harness {
            app,
            terminal,
            rx,
            _runtime: runtime,
        })
    }

    /// Press a key given by name (`"j"`, `"ctrl-p"`, `"esc"`, see [`KeyCombo::parse`]).
    pub fn key(&mut self, name: &str) {
        let combo = KeyCombo::parse(name).unwrap_or_else(|e| panic!("{e}"));
        let ev = KeyEvent {
            code: combo.code,
            modifiers: combo.mods,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        };
        self.app.handle(AppEvent::Term(Event::Key(ev)));
    }

    /// A mouse event at column `x`, row `y` (0-based), as the terminal reports it.
    pub fn mouse(&mut self, kind: crossterm::event::MouseEventKind, x: u16, y: u16) {
        let ev = crossterm::event::MouseEvent {
            kind,
            column: x,
            row: y,
            modifiers: crossterm::event::KeyModifiers::NONE,
        };
        self.app.handle(AppEvent::Term(Event::Mouse(ev)));
    }

    /// A left click at column `x`, row `y`.
    pub fn click(&mut self, x: u16, y: u16) {
        use crossterm::event::{MouseButton, MouseEventKind};
        self.mouse(MouseEventKind::Down(MouseButton::Left), x, y);
        self.mouse(MouseEventKind::Up(MouseButton::Left), x, y);
    }

    /// Type text, one key per character.
    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let ev = KeyEvent::from(crossterm::event::KeyCode::Char(c));
            self.app.handle(AppEvent::Term(Event::Key(ev)));
        }
    }

    /// Handle every queued event; true when any arrived.
    pub fn pump(&mut self) -> bool {
        let mut any = false;
        while let Ok(ev) = self.rx.try_recv() {
            self.app.handle(ev);
            any = true;
        }
        any
    }

    /// Draw one frame.
    pub fn draw(&mut self) {
        let app = &mut self.app;
        self.terminal.draw(|f| app.draw(f)).expect("draw");
    }

    /// The screen as text, one line per row.
    pub fn screen(&mut self) -> String {
        self.draw();
        let buf = self.terminal.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            let mut line = String::new();
            for x in 0..buf.area.width {
                line.push_str(buf[(x, y)].symbol());
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Where `needle` is drawn (column and row of its first cell), after a redraw; panics
    /// when it is not on the screen. For clicking on what a test sees.
    pub fn locate(&mut self, needle: &str) -> (u16, u16) {
        self.draw();
        let buf = self.terminal.backend().buffer();
        for y in 0..buf.area.height {
            // The row's text, and the column each of its bytes was drawn at.
            let (mut line, mut cols) = (String::new(), Vec::new());
            for x in 0..buf.area.width {
                let sym = buf[(x, y)].symbol();
                cols.extend(std::iter::repeat_n(x, sym.len()));
                line.push_str(sym);
            }
            if let Some(at) = line.find(needle) {
                return (cols[at], y);
            }
        }
        panic!("{needle:?} is not on the screen:\n{}", self.screen());
    }

    /// Pump events and redraw until the screen contains `needle` (or panic after 10 s).
    pub fn wait_for(&mut self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            self.pump();
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            if start.elapsed() > Duration::from_secs(10) {
                panic!("timed out waiting for {needle:?}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Block until at least one event arrives (or `timeout`), then handle all queued.
    pub fn wait_event(&mut self, timeout: Duration) -> bool {
        match self.rx.recv_timeout(timeout) {
            Ok(ev) => {
                self.app.handle(ev);
                self.pump();
                true
            }
            Err(_) => false,
        }
    }
}
