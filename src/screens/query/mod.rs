//! Query: a SQL console for the project's databases (MySQL/MariaDB, SQLite). An editor
//! with highlighting on top, the results grid below; run the statement under the cursor
//! or everything; cancel; fetch more rows; copy and export; history per connection; a
//! schema browser. Confirmation before DROP/ALTER/TRUNCATE and DELETE/UPDATE without
//! WHERE.
//!
//! Everything against the database happens on the worker thread ([`worker`]); this
//! module keeps the state and turns keys into requests and replies into state.

pub mod editor;
pub mod grid;
mod mouse;
mod popups;
mod view;
pub mod worker;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use self::editor::Editor;
use self::grid::Grid;
use self::popups::{Popup, ProfileRow};
use self::worker::{CancelHandle, QueryReply, Request, Worker};
use super::{Screen, ScreenId};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Effect, Level};
use crate::app::input::LineInput;
use crate::app::screen::Hint;
use crate::app::worker::{Payload, Tickets};
use crate::engine::db::split::split;
use crate::engine::db::{Kind, SqlError, TableSchema};
use crate::engine::util::units::thousands;
use crate::store::Store;

/// Rows of a result shown before pausing; `m` fetches this many more.
pub const ROW_LIMIT: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Focus {
    Editor,
    Grid,
}

enum Conn {
    None,
    Connecting {
        generation: u64,
        profile: String,
    },
    Connected {
        profile: String,
        describe: String,
        kind: Kind,
        canceller: CancelHandle,
    },
}

/// One line of what a run did (per statement, and errors).
#[derive(Debug, Clone)]
struct Message {
    level: Level,
    text: String,
}

/// The current (or last) run.
struct Run {
    generation: u64,
    started: Instant,
    /// Byte offset of the submitted SQL in the editor text.
    base: usize,
    statements: Vec<String>,
    running: bool,
    paused: bool,
    /// The grid's result was stopped before its end (rows were left unread).
    cut: bool,
    /// The statement running now.
    current: usize,
    elapsed: Option<Duration>,
    /// Statement whose result set the grid shows; its total rows once done.
    result_of: Option<usize>,
    result_total: Option<u64>,
    error: Option<SqlError>,
}

pub struct QueryScreen {
    root: PathBuf,
    db_path: PathBuf,
    store: Option<Store>,
    worker: Worker,
    /// Every request to the worker takes a ticket; replies to older ones are dropped.
    tickets: Tickets,
    focus: Focus,
    editor: Editor,
    grid: Grid,
    conn: Conn,
    /// The profile last chosen (history is kept per profile).
    profile: Option<String>,
    profiles: Vec<ProfileRow>,
    profiles_error: Option<String>,
    run: Option<Run>,
    messages: Vec<Message>,
    tables: Option<Result<Vec<TableSchema>, String>>,
    tables_gen: u64,
    popup: Option<Popup>,
    limit: usize,
    shown: bool,
    /// Where the editor and the grid were last drawn, for the mouse.
    areas: mouse::Areas,
}

impl QueryScreen {
    pub fn new(project: &crate::engine::project::Project, tx: crate::app::events::EventTx) -> Self {
        let db_path = project
            .root
            .join(crate::store::STATE_DIR)
            .join(crate::store::DB_FILE);
        QueryScreen {
            root: project.root.clone(),
            worker: Worker::start(project.root.clone(), db_path.clone(), tx),
            db_path,
            store: None,
            tickets: Tickets::default(),
            focus: Focus::Grid,
            editor: Editor::new(),
            grid: Grid::default(),
            conn: Conn::None,
            profile: None,
            profiles: Vec::new(),
            profiles_error: None,
            run: None,
            messages: Vec::new(),
            tables: None,
            tables_gen: 0,
            popup: None,
            limit: ROW_LIMIT,
            shown: false,
            areas: mouse::Areas::default(),
        }
    }

    fn store(&mut self) -> anyhow::Result<&Store> {
        if self.store.is_none() {
            self.store = Some(Store::open(&self.db_path, false)?);
        }
        Ok(self.store.as_ref().expect("just opened"))
    }

    fn next_gen(&mut self) -> u64 {
        self.tickets.issue()
    }

    /// The SQL dialect of the connection (SQLite until connected).
    fn kind(&self) -> Kind {
        match &self.conn {
            Conn::Connected { kind, .. } => *kind,
            _ => Kind::Sqlite,
        }
    }

    fn running(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.running && !r.paused)
    }

    fn connect(&mut self, profile: String, ctx: &mut Ctx) {
        if self.running() {
            ctx.status(Level::Warn, "a query is running: esc cancels it first");
            return;
        }
        let generation = self.next_gen();
        self.tables = None;
        self.tables_gen = generation;
        self.profile = Some(profile.clone());
        ctx.status(Level::Info, format!("connecting to {profile}…"));
        self.worker.send(Request::Connect {
            generation,
            profile: profile.clone(),
        });
        self.conn = Conn::Connecting {
            generation,
            profile,
        };
    }

    /// Run the statement under the cursor.
    fn run_statement(&mut self, ctx: &mut Ctx) {
        let text = self.editor.text();
        match editor::statement_at(&text, self.kind(), self.editor.cursor_offset()) {
            Some((offset, sql)) => {
                let sql = sql.to_string();
                self.submit(sql, offset, ctx);
            }
            None => ctx.status(Level::Info, "nothing to run: type a statement first"),
        }
    }

    /// Run the selection, or everything.
    fn run_all(&mut self, ctx: &mut Ctx) {
        let (base, sql) = self
            .editor
            .selection()
            .unwrap_or_else(|| (0, self.editor.text()));
        if split(&sql, self.kind()).is_empty() {
            ctx.status(Level::Info, "nothing to run: type a statement first");
            return;
        }
        self.submit(sql, base, ctx);
    }

    /// Check the connection and the statements, then start (or ask first).
    fn submit(&mut self, sql: String, base: usize, ctx: &mut Ctx) {
        if !matches!(self.conn, Conn::Connected { .. }) {
            ctx.status(Level::Warn, "not connected: choose a connection first");
            self.open_profiles();
            return;
        }
        if self.running() {
            ctx.status(Level::Warn, "a query is running: esc cancels it");
            return;
        }
        let risks = editor::risks(&sql, self.kind());
        if risks.is_empty() {
            self.start(sql, base);
        } else {
            self.popup = Some(Popup::Confirm { sql, base, risks });
        }
    }

    fn start(&mut self, sql: String, base: usize) {
        let generation = self.next_gen();
        let statements: Vec<String> = split(&sql, self.kind())
            .iter()
            .map(|s| s.sql.to_string())
            .collect();
        self.worker.send(Request::Run {
            generation,
            sql,
            limit: self.limit,
            statements: statements.len(),
        });
        self.grid = Grid::default();
        self.messages.clear();
        self.run = Some(Run {
            generation,
            started: Instant::now(),
            base,
            statements,
            running: true,
            paused: false,
            cut: false,
            current: 0,
            elapsed: None,
            result_of: None,
            result_total: None,
            error: None,
        });
    }

    fn cancel(&mut self, ctx: &mut Ctx) -> bool {
        let Some(run) = self.run.as_ref().filter(|r| r.running) else {
            return false;
        };
        if let Conn::Connected { canceller, .. } = &self.conn
            && !run.paused
        {
            canceller.0.cancel();
        }
        self.worker.send(Request::Cancel {
            generation: run.generation,
        });
        ctx.status(Level::Warn, "cancelling the query…");
        true
    }

    fn fetch_more(&mut self, ctx: &mut Ctx) {
        match &mut self.run {
            Some(r) if r.paused => {
                r.paused = false;
                self.worker.send(Request::More {
                    generation: r.generation,
                    n: self.limit,
                });
                ctx.status(
                    Level::Info,
                    format!("fetching {} more rows…", thousands(self.limit)),
                );
            }
            _ => ctx.status(Level::Info, "every row of the result is shown"),
        }
    }

    fn copy(&mut self, row: bool, ctx: &mut Ctx) {
        let item = if row {
            self.grid
                .selected_row()
                .map(|t| (format!("row {}", self.grid.nav.selected + 1), t))
        } else {
            self.grid
                .selected_cell()
                .map(|(c, t)| (format!("{c} of row {}", self.grid.nav.selected + 1), t))
        };
        match item {
            Some((label, text)) => ctx.effects.push(Effect::Copy { label, text }),
            None => ctx.status(Level::Info, "no result to copy from"),
        }
    }

    fn export(&mut self, json: bool, ctx: &mut Ctx) {
        if self.grid.columns.is_empty() {
            ctx.status(Level::Info, "no result to export");
            return;
        }
        let dir = self.root.join(crate::store::STATE_DIR).join("exports");
        let name = self.profile.as_deref().unwrap_or("query");
        let partial = match &self.run {
            Some(r) if r.paused => " (the rows fetched so far; m fetches more)",
            _ => "",
        };
        match self.grid.export(&dir, name, json) {
            Ok(path) => {
                let shown = path.strip_prefix(&self.root).unwrap_or(&path).display();
                let rows = rows_text(self.grid.rows.len());
                let msg = format!("exported {rows} to {shown}{partial}");
                ctx.status(Level::Success, msg);
            }
            Err(e) => ctx.status(
                Level::Error,
                format!("cannot export to {}: {e}", dir.display()),
            ),
        }
    }

    fn grid_nav(&mut self, id: Cmd) -> bool {
        let (rows, page) = (self.grid.rows.len(), self.grid.height);
        if self.grid.nav.apply(id, rows, page).is_some() {
            return true;
        }
        match id {
            Cmd::QueryLeft => self.grid.move_col(-1),
            Cmd::QueryRight => self.grid.move_col(1),
            _ => return false,
        }
        true
    }

    /// A key while the editor has the focus.
    fn editor_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                if !self.cancel(ctx) {
                    self.focus = Focus::Grid;
                }
            }
            KeyCode::Tab | KeyCode::BackTab => self.focus = Focus::Grid,
            KeyCode::Char('c') if ctrl => return self.cancel(ctx),
            // the run keys, history, help: left to the keymap
            KeyCode::Char('r' | 'e' | 'h') if ctrl => return false,
            KeyCode::F(_) => return false,
            _ => {
                self.editor.key(key);
            }
        }
        true
    }

    /// A reply of the worker; stale generations are dropped.
    fn on_worker(&mut self, reply: &QueryReply, ctx: &mut Ctx) -> bool {
        use QueryReply as R;
        let run_gen = self.run.as_ref().map(|r| r.generation);
        let conn_gen = match &self.conn {
            Conn::Connecting { generation, .. } => Some(*generation),
            _ => None,
        };
        match reply {
            R::NeedPassword { generation, prompt } if conn_gen == Some(*generation) => {
                self.popup = Some(Popup::Password {
                    generation: *generation,
                    prompt: prompt.clone(),
                    input: LineInput::default(),
                });
            }
            R::Connected {
                generation,
                profile,
                describe,
                kind,
                canceller,
            } if conn_gen == Some(*generation) => {
                ctx.status(
                    Level::Success,
                    format!("connected to {profile}: {describe}"),
                );
                self.conn = Conn::Connected {
                    profile: profile.clone(),
                    describe: describe.clone(),
                    kind: *kind,
                    canceller: canceller.clone(),
                };
                if matches!(self.popup, Some(Popup::Password { .. })) {
                    self.popup = None;
                }
                self.focus = Focus::Editor;
            }
            R::ConnectFailed { generation, error } if conn_gen == Some(*generation) => {
                self.conn = Conn::None;
                if matches!(self.popup, Some(Popup::Password { .. })) {
                    self.popup = None;
                }
                ctx.status(Level::Error, format!("cannot connect: {error}"));
            }
            R::Statement {
                generation, index, ..
            } if Some(*generation) == run_gen => {
                if let Some(r) = &mut self.run {
                    r.current = *index;
                }
            }
            R::Tables { generation, tables } if *generation == self.tables_gen => {
                self.tables = Some(tables.clone());
            }
            R::Columns {
                generation,
                columns,
            } if Some(*generation) == run_gen => {
                self.grid = Grid::new(columns.clone());
                if let Some(r) = &mut self.run {
                    r.result_of = None;
                    r.result_total = None;
                    r.cut = false;
                }
            }
            R::Rows { generation, rows } if Some(*generation) == run_gen => {
                self.grid.push_rows(rows.clone());
            }
            R::Paused { generation } | R::Resumed { generation }
                if Some(*generation) == run_gen =>
            {
                if let Some(r) = &mut self.run {
                    r.paused = matches!(reply, R::Paused { .. });
                    r.cut = r.paused;
                }
            }
            R::Done {
                generation,
                index,
                rows,
                affected,
                elapsed,
            } if Some(*generation) == run_gen => {
                self.statement_done(*index, *rows, *affected, *elapsed)
            }
            R::Finished {
                generation,
                error,
                elapsed,
            } if Some(*generation) == run_gen => self.finished(error.clone(), *elapsed, ctx),
            R::Tick { generation } => return Some(*generation) == run_gen && self.running(),
            _ => return false,
        }
        true
    }

    fn statement_done(&mut self, index: usize, rows: u64, affected: u64, elapsed: Duration) {
        let Some(run) = &mut self.run else { return };
        let what = run
            .statements
            .get(index)
            .map_or(String::new(), |s| editor::summary(s, 40));
        let text = if !self.grid.columns.is_empty() && run.result_of.is_none() {
            run.result_of = Some(index);
            run.result_total = Some(rows);
            run.paused = false;
            rows_text(rows as usize)
        } else {
            format!("{} affected", rows_text(affected as usize))
        };
        self.messages.push(Message {
            level: Level::Success,
            text: format!("{}. {what} — {text} · {}", index + 1, ms(elapsed)),
        });
    }

    fn finished(&mut self, error: Option<SqlError>, elapsed: Duration, ctx: &mut Ctx) {
        let Some(run) = &mut self.run else { return };
        run.running = false;
        run.paused = false;
        run.elapsed = Some(elapsed);
        let ddl = run.statements.iter().any(|s| {
            let w = s.split_whitespace().next().unwrap_or("");
            ["CREATE", "DROP", "ALTER", "RENAME"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(w))
        });
        let (base, n) = (run.base, run.statements.len());
        run.error = error.clone();
        match error {
            Some(e) if e.cancelled => {
                let text = format!("cancelled after {}", ms(elapsed));
                ctx.status(Level::Warn, format!("query {text}"));
                self.messages.push(Message {
                    level: Level::Warn,
                    text,
                });
            }
            Some(e) => {
                let mut text = e.message.clone();
                if let Some(off) = e.offset {
                    let at = base + off;
                    let (line, col) = self.editor.line_col(at);
                    text = format!("line {line}, column {col}: {text}");
                    self.editor.set_cursor_offset(at);
                    self.focus = Focus::Editor;
                }
                if n > 1 {
                    text = format!("statement {}, {text}", e.statement + 1);
                }
                let text = format!("error at {text}");
                ctx.status(Level::Error, text.clone());
                self.messages.push(Message {
                    level: Level::Error,
                    text,
                });
            }
            None => {
                let what = match n {
                    1 => "1 statement".to_string(),
                    n => format!("{n} statements"),
                };
                ctx.status(Level::Success, format!("ran {what} in {}", ms(elapsed)));
            }
        }
        if (ddl || self.tables.is_none()) && matches!(self.conn, Conn::Connected { .. }) {
            self.tables_gen = self.next_gen();
            self.worker.send(Request::Tables {
                generation: self.tables_gen,
            });
        }
    }
}

/// `1 row`, `1,000 rows`.
fn rows_text(n: usize) -> String {
    match n {
        1 => "1 row".to_string(),
        n => format!("{} rows", thousands(n)),
    }
}

/// A duration for people: `850 ms`, `2.4 s`.
fn ms(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

impl Screen for QueryScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Query
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        view::draw(self, frame, area, ctx);
    }

    fn command(&mut self, id: Cmd, ctx: &mut Ctx) -> bool {
        match id {
            Cmd::QueryRun => self.run_statement(ctx),
            Cmd::QueryRunAll => self.run_all(ctx),
            Cmd::QueryCancel => return self.cancel(ctx),
            Cmd::QueryConnect => self.open_profiles(),
            Cmd::QueryEdit => self.focus = Focus::Editor,
            Cmd::QueryMore => self.fetch_more(ctx),
            Cmd::QueryCopyCell => self.copy(false, ctx),
            Cmd::QueryCopyRow => self.copy(true, ctx),
            Cmd::QueryExport if self.grid.columns.is_empty() => {
                ctx.status(Level::Info, "no result to export")
            }
            Cmd::QueryExport => self.popup = Some(Popup::Export),
            Cmd::QueryHistory => self.open_history(ctx),
            Cmd::QuerySchema => self.open_schema(ctx),
            Cmd::NavFocus => {
                self.focus = match self.focus {
                    Focus::Editor => Focus::Grid,
                    Focus::Grid => Focus::Editor,
                }
            }
            Cmd::AppBack => return self.cancel(ctx),
            other => return self.grid_nav(other),
        }
        true
    }

    fn captures_input(&self) -> bool {
        self.popup.is_some() || self.focus == Focus::Editor
    }

    fn mouse(&mut self, ev: MouseEvent, _area: Rect, _ctx: &mut Ctx) -> bool {
        self.mouse_event(ev)
    }

    fn hints(&self) -> Option<Vec<Hint>> {
        if self.popup.is_some() {
            return None;
        }
        Some(match self.focus {
            Focus::Editor => vec![
                Hint::Key("type", "SQL"),
                Hint::Cmd(Cmd::QueryRun, "run"),
                Hint::Key("esc", "leave the editor"),
            ],
            Focus::Grid => vec![
                Hint::Cmd(Cmd::QueryEdit, "edit SQL"),
                Hint::Cmd(Cmd::QueryRun, "run"),
                Hint::Cmd(Cmd::QueryConnect, "connect"),
                Hint::Cmd(Cmd::QuerySchema, "schema"),
            ],
        })
    }

    fn input_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        if self.popup.is_some() {
            return self.popup_key(key, ctx);
        }
        self.focus == Focus::Editor && self.editor_key(key, ctx)
    }

    fn on_reply(&mut self, reply: Payload, ctx: &mut Ctx) -> bool {
        match reply.downcast::<QueryReply>() {
            Ok(reply) => self.on_worker(&reply, ctx),
            Err(_) => false,
        }
    }

    fn on_show(&mut self, _ctx: &mut Ctx) {
        self.load_profiles();
        if !self.shown && matches!(self.conn, Conn::None) && !self.profiles.is_empty() {
            self.open_profiles();
        }
        self.shown = true;
    }
}

#[cfg(test)]
mod tests;
