//! The shell: hosts the screens on the framework of `crate::app`. It owns the screens,
//! the keymap, the popups, the status line and the jobs; routes every event (a reply only
//! to the screen it is addressed to); draws the frame. It has no terminal of its own, so
//! tests drive it with ratatui's `TestBackend` ([`harness`]) exactly as the event loop
//! ([`run`]) does. It is the only module that knows both the framework and the screens.

pub mod harness;
pub mod run;

pub use run::{TuiOptions, run_tui};

use std::time::Instant;

use crossterm::event::{Event, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::chord::{Chord, Step};
use crate::app::clipboard;
use crate::app::commands::{self, Cmd, Scope};
use crate::app::context::{Ctx, DrawCtx, Effect, Level};
use crate::app::events::{AppEvent, EventTx, Reply};
use crate::app::jobtable::JobTable;
use crate::app::keymap::{KeyCombo, Keymap};
use crate::app::mouse;
use crate::app::popups::{self, Palette, Popup, PopupResult};
use crate::app::strings;
use crate::app::theme::Theme;
use crate::app::widgets::{self, SIDEBAR_WIDTH, StatusMessage};
use crate::engine::jobs::{JobEvent, Jobs, Outcome};
use crate::engine::project::Project;
use crate::screens::codebase::CodebaseScreen;
use crate::screens::jobs::JobsScreen;
use crate::screens::{Screen, ScreenId};

/// Smallest terminal the layout works in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 20;

pub struct App {
    project: Project,
    project_label: String,
    screens: Vec<Box<dyn Screen>>,
    current: usize,
    history: Vec<usize>,
    keymap: Keymap,
    theme: Theme,
    popup: Option<Popup>,
    status: Option<StatusMessage>,
    jobs: Jobs,
    job_table: JobTable,
    tx: EventTx,
    sidebar: bool,
    quit: bool,
    /// Escape sequences (OSC 52) to write to the terminal after the next draw.
    terminal_writes: Vec<String>,
    in_tmux: bool,
    full_redraw: bool,
    /// Where popups go (the frame above the hint bar), as last drawn.
    main_area: Rect,
    /// Where the sidebar and the current screen were last drawn (for the mouse).
    sidebar_area: Option<Rect>,
    content_area: Rect,
    /// The keys of a key sequence typed so far (`z` of `zh`).
    chord: Chord,
}

impl App {
    pub fn new(
        project: Project,
        keymap: Keymap,
        theme: Theme,
        runtime: tokio::runtime::Handle,
        tx: EventTx,
    ) -> App {
        let job_tx = tx.clone();
        let jobs = Jobs::new(runtime, move |ev| {
            let _ = job_tx.send(AppEvent::Job(ev));
        });
        let screens = Self::screens(&project, &theme, &tx);
        App::with_screens(project, keymap, theme, jobs, tx, screens)
    }

    /// One screen per tool, in palette order.
    fn screens(project: &Project, theme: &Theme, tx: &EventTx) -> Vec<Box<dyn Screen>> {
        let syntax = theme.syntect_theme();
        ScreenId::ALL
            .iter()
            .map(|id| -> Box<dyn Screen> {
                match id {
                    ScreenId::Codebase => {
                        Box::new(CodebaseScreen::new(project, syntax.clone(), tx.clone()))
                    }
                    ScreenId::Compare => Box::new(crate::screens::compare::CompareScreen::new(
                        project,
                        syntax.clone(),
                        tx.clone(),
                    )),
                    ScreenId::Jobs => Box::new(JobsScreen::new()),
                    ScreenId::Snapshots => {
                        Box::new(crate::screens::snapshots::SnapshotsScreen::new(project))
                    }
                    ScreenId::Query => {
                        Box::new(crate::screens::query::QueryScreen::new(project, tx.clone()))
                    }
                    ScreenId::Replace => Box::new(crate::screens::replace::ReplaceScreen::new(
                        project,
                        tx.clone(),
                    )),
                    ScreenId::Scripts => Box::new(crate::screens::scripts::ScriptsScreen::new(
                        project,
                        tx.clone(),
                    )),
                    ScreenId::Deploy => {
                        Box::new(crate::screens::deploy::DeployScreen::new(project))
                    }
                    ScreenId::Packages => Box::new(crate::screens::packages::PackagesScreen::new(
                        project,
                        tx.clone(),
                    )),
                }
            })
            .collect()
    }

    /// A shell on the given screens (one per [`ScreenId`], in palette order).
    fn with_screens(
        project: Project,
        keymap: Keymap,
        theme: Theme,
        jobs: Jobs,
        tx: EventTx,
        screens: Vec<Box<dyn Screen>>,
    ) -> App {
        let project_label = project
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| project.root.display().to_string());
        App {
            project,
            project_label,
            screens,
            current: 0,
            history: Vec::new(),
            keymap,
            theme,
            popup: None,
            status: None,
            jobs,
            job_table: JobTable::default(),
            tx,
            sidebar: true,
            quit: false,
            terminal_writes: Vec::new(),
            in_tmux: clipboard::in_tmux(),
            full_redraw: false,
            main_area: Rect::default(),
            sidebar_area: None,
            content_area: Rect::default(),
            chord: Chord::default(),
        }
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn current_screen(&self) -> ScreenId {
        self.screens[self.current].id()
    }

    pub fn status_text(&self) -> Option<&str> {
        self.status.as_ref().map(|s| s.text.as_str())
    }

    pub fn job_table(&self) -> &JobTable {
        &self.job_table
    }

    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// Escape sequences to write to the terminal (clipboard).
    pub fn take_terminal_writes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.terminal_writes)
    }

    /// Whether the next frame must repaint the whole terminal (Ctrl-L); resets the flag.
    pub fn take_full_redraw(&mut self) -> bool {
        std::mem::take(&mut self.full_redraw)
    }

    /// Handle one event; true when the screen needs a redraw.
    pub fn handle(&mut self, ev: AppEvent) -> bool {
        match ev {
            AppEvent::Term(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                self.key(key);
                true
            }
            AppEvent::Term(Event::Resize(..)) => true,
            AppEvent::Term(Event::Paste(text)) => {
                for c in text.chars().filter(|c| !c.is_control()) {
                    self.key(KeyEvent::from(crossterm::event::KeyCode::Char(c)));
                }
                true
            }
            AppEvent::Term(Event::Mouse(m)) => self.mouse(m),
            AppEvent::Term(_) => false,
            AppEvent::InputClosed => {
                self.quit = true;
                true
            }
            AppEvent::Job(ev) => {
                if let Some((name, outcome)) = self.job_table.apply(&ev) {
                    if let JobEvent::Finished { id, .. } = &ev {
                        self.jobs.forget(*id);
                    }
                    let (level, text) = match outcome {
                        Outcome::Done(s) => (Level::Success, format!("{name}: {s}")),
                        Outcome::Failed(e) => (Level::Error, format!("{name} failed: {e}")),
                        Outcome::Cancelled => (Level::Warn, format!("{name} cancelled")),
                    };
                    // The Jobs screen's Log pane has the whole message.
                    self.set_status(level, text);
                    if let Some(m) = &mut self.status {
                        m.more = Some(format!("see {}", ScreenId::Jobs.title()));
                    }
                }
                for i in 0..self.screens.len() {
                    self.with_screen(i, |s, ctx| s.on_job(&ev, ctx));
                }
                true
            }
            AppEvent::Reply(reply) => self.deliver(reply),
        }
    }

    /// Give a reply to the screen it is addressed to, and to no other.
    fn deliver(&mut self, reply: Reply) -> bool {
        let Some(i) = self.screens.iter().position(|s| s.id() == reply.to) else {
            return false;
        };
        self.with_screen(i, |s, ctx| s.on_reply(reply.payload, ctx))
    }

    fn set_status(&mut self, level: Level, text: String) {
        self.status = Some(StatusMessage {
            level,
            text,
            at: Instant::now(),
            more: None,
        });
    }

    /// Run `f` on screen `i` with a context, then apply the effects it asked for.
    fn with_screen<R>(&mut self, i: usize, f: impl FnOnce(&mut dyn Screen, &mut Ctx) -> R) -> R {
        let mut effects = Vec::new();
        let out = {
            let mut ctx = Ctx {
                project: &self.project,
                jobs: &self.jobs,
                job_table: &mut self.job_table,
                tx: &self.tx,
                effects: &mut effects,
            };
            f(self.screens[i].as_mut(), &mut ctx)
        };
        for e in effects {
            self.apply(e);
        }
        out
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Status(level, text) => self.set_status(level, text),
            Effect::Switch(id) => self.switch(id),
            Effect::ShowChanges(set) => {
                self.switch(ScreenId::Compare);
                let set: std::sync::Arc<crate::engine::diff::changes::ChangeSet> =
                    std::sync::Arc::from(set);
                self.deliver(Reply {
                    to: ScreenId::Compare,
                    payload: Box::new(set),
                });
            }
            Effect::Copy { label, text } => {
                if text.len() > clipboard::MAX_BYTES {
                    let msg = format!(
                        "{label} is {} bytes, more than a terminal clipboard takes",
                        text.len()
                    );
                    self.set_status(Level::Warn, msg);
                } else {
                    self.terminal_writes
                        .push(clipboard::osc52(&text, self.in_tmux));
                    self.set_status(
                        Level::Success,
                        format!("copied {label} ({} bytes)", text.len()),
                    );
                }
            }
        }
    }

    fn switch(&mut self, id: ScreenId) {
        self.chord.clear();
        let i = id.index();
        if i != self.current {
            self.history.push(self.current);
            if self.history.len() > 50 {
                self.history.remove(0);
            }
            self.current = i;
            self.with_screen(i, |s, ctx| s.on_show(ctx));
        }
    }

    fn key(&mut self, key: KeyEvent) {
        if let Some(popup) = &mut self.popup {
            let result = match popup {
                Popup::Help { scroll } => {
                    let page = popups::help_page(
                        self.screens[self.current].id(),
                        &self.keymap,
                        &self.theme,
                        self.main_area,
                    );
                    popups::help_key(&key, scroll, page.max_scroll)
                }
                Popup::Palette(p) => p.key(&key),
                Popup::ConfirmQuit { .. } => popups::confirm_quit_key(&key),
            };
            match result {
                PopupResult::Stay => {}
                PopupResult::Close => self.popup = None,
                PopupResult::Quit => {
                    self.popup = None;
                    self.quit_now();
                }
                PopupResult::Run(id) => {
                    self.popup = None;
                    self.run_command(id);
                }
            }
            return;
        }
        let cur = self.current;
        if self.screens[cur].captures_input()
            && self.with_screen(cur, |s, ctx| s.input_key(key, ctx))
        {
            return;
        }
        let combo = KeyCombo::from_event(&key);
        let screen_scope = Scope::Screen(self.screens[cur].id());
        let (own, global) = match self.chord.key(&self.keymap, screen_scope, combo) {
            Step::Wait => return,
            Step::Cancelled(why) => return self.set_status(Level::Info, why),
            Step::Run(own, global) => (own, global),
            Step::Key => (
                self.keymap.lookup(screen_scope, &combo),
                self.keymap.lookup(Scope::Global, &combo),
            ),
        };
        if let Some(id) = own
            && self.with_screen(cur, |s, ctx| s.command(id, ctx))
        {
            return;
        }
        if let Some(id) = global {
            self.run_command(id);
        }
    }

    /// A mouse event: a click on the sidebar switches tools; inside the current screen it
    /// goes to [`Screen::mouse`], and a wheel it leaves goes as `nav.up`/`nav.down`.
    fn mouse(&mut self, m: MouseEvent) -> bool {
        if self.popup.is_some() {
            return false;
        }
        self.chord.clear();
        let inside = |r: Rect| mouse::inside(&m, r);
        if let (MouseEventKind::Down(MouseButton::Left), Some(side)) = (m.kind, self.sidebar_area)
            && inside(side)
        {
            if let Some(id) = ScreenId::ALL.get((m.row - side.y) as usize) {
                self.switch(*id);
            }
            return true;
        }
        let area = self.content_area;
        if !inside(area) {
            return false;
        }
        let cur = self.current;
        if self.with_screen(cur, |s, ctx| s.mouse(m, area, ctx)) {
            return true;
        }
        let nav = match m.kind {
            MouseEventKind::ScrollDown => Cmd::NavDown,
            MouseEventKind::ScrollUp => Cmd::NavUp,
            _ => return false,
        };
        // Three rows a notch, as terminals scroll.
        let mut any = false;
        for _ in 0..3 {
            any |= self.with_screen(cur, |s, ctx| s.command(nav, ctx));
        }
        any
    }

    /// Run a command by id, from a key or the palette.
    pub fn run_command(&mut self, id: Cmd) {
        if let Some(screen) = ScreenId::from_command(id) {
            self.switch(screen);
            return;
        }
        match id {
            Cmd::AppQuit => self.ask_quit(),
            Cmd::AppHelp => self.popup = Some(Popup::Help { scroll: 0 }),
            Cmd::AppPalette => {
                self.popup = Some(Popup::Palette(Palette::new(self.current_screen())))
            }
            Cmd::AppToggleSidebar => self.sidebar = !self.sidebar,
            Cmd::AppRedraw => self.full_redraw = true,
            Cmd::AppNextScreen => {
                self.switch(ScreenId::ALL[(self.current + 1) % ScreenId::ALL.len()])
            }
            Cmd::AppPrevScreen => {
                let n = ScreenId::ALL.len();
                self.switch(ScreenId::ALL[(self.current + n - 1) % n]);
            }
            Cmd::AppBack => {
                let cur = self.current;
                if !self.with_screen(cur, |s, ctx| s.command(Cmd::AppBack, ctx))
                    && let Some(prev) = self.history.pop()
                {
                    self.current = prev;
                }
            }
            // Jobs shows the newest running job and asks before it cancels it.
            Cmd::JobsCancelLatest => {
                if self.job_table.running().next().is_none() {
                    self.set_status(Level::Info, "no job is running".into());
                    return;
                }
                self.switch(ScreenId::Jobs);
                let cur = self.current;
                self.with_screen(cur, |s, ctx| s.command(Cmd::JobsCancelLatest, ctx));
            }
            other => {
                // A screen's command: run it there (switching first when it is another screen's).
                if let Scope::Screen(target) = commands::def(other).scope {
                    self.switch(target);
                }
                let cur = self.current;
                self.with_screen(cur, |s, ctx| s.command(other, ctx));
            }
        }
    }

    fn ask_quit(&mut self) {
        let running = self.job_table.running().count();
        if running > 0 {
            self.popup = Some(Popup::ConfirmQuit { running });
        } else {
            self.quit = true;
        }
    }

    fn quit_now(&mut self) {
        let running: Vec<_> = self.job_table.running().map(|j| j.id).collect();
        for id in running {
            self.jobs.cancel(id);
        }
        self.quit = true;
    }

    /// Draw the whole frame.
    pub fn draw(&mut self, frame: &mut Frame) {
        let area = frame.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let msg = vec![
                Line::from(Span::styled(strings::TOO_SMALL, self.theme.warn)),
                Line::from(Span::styled(
                    format!(
                        "This one is {}×{}. Make the window larger, or press q to quit.",
                        area.width, area.height
                    ),
                    self.theme.base,
                )),
            ];
            frame.render_widget(
                Paragraph::new(msg)
                    .wrap(Wrap { trim: true })
                    .style(self.theme.base),
                area,
            );
            return;
        }
        let [main, hints, status] = Layout::vertical([
            Constraint::Min(5),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.main_area = main;
        let content = if self.sidebar {
            let [side, content] =
                Layout::horizontal([Constraint::Length(SIDEBAR_WIDTH), Constraint::Min(20)])
                    .areas(main);
            widgets::sidebar(
                frame,
                side,
                self.current_screen(),
                &self.job_table,
                &self.theme,
            );
            self.sidebar_area = Some(side);
            content
        } else {
            self.sidebar_area = None;
            main
        };
        self.content_area = content;
        frame.render_widget(
            ratatui::widgets::Block::default().style(self.theme.base),
            content,
        );
        let ctx = DrawCtx {
            theme: &self.theme,
            keymap: &self.keymap,
            job_table: &self.job_table,
        };
        self.screens[self.current].draw(frame, content, &ctx);
        let pending = self.chord.pending();
        let pane_hints = match pending {
            Some(_) => Some(
                self.chord
                    .hints(&self.keymap, Scope::Screen(self.current_screen())),
            ),
            None => self.screens[self.current].hints(),
        };
        widgets::hint_bar(
            frame,
            hints,
            self.current_screen(),
            pane_hints,
            pending.as_deref(),
            &self.keymap,
            &self.theme,
        );
        widgets::status_line(
            frame,
            status,
            &self.project_label,
            self.status.as_ref(),
            &self.job_table,
            &self.keymap,
            &self.theme,
        );
        self.draw_popup(frame, main);
    }

    fn draw_popup(&self, frame: &mut Frame, area: Rect) {
        match &self.popup {
            None => {}
            Some(Popup::Help { scroll }) => popups::draw_help(
                frame,
                area,
                self.current_screen(),
                *scroll,
                &self.keymap,
                &self.theme,
            ),
            Some(Popup::Palette(p)) => p.draw(frame, area, &self.keymap, &self.theme),
            Some(Popup::ConfirmQuit { running }) => {
                popups::draw_confirm_quit(frame, area, *running, &self.theme)
            }
        }
    }
}

#[cfg(test)]
mod tests;
