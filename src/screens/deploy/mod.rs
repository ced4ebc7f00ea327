//! Deploy: the project's servers (`_dev_servers`) and, for the selected one, three tabs.
//!
//! - **Files**: `p` fetches the server's map (a job, through [`Remote`]) and diffs the
//!   project against it: what to upload (new or changed) and what to delete (only on the
//!   server), each ticked by default (space on a file or a folder line; `/` filters).
//!   `b` builds the package of what is ticked into `.devsky/deploy/`; `D` asks, then
//!   builds, uploads, starts the deployment and streams its log into the log pane.
//! - **Database**: the agent's `GET status`, field by field, and its database (`GET
//!   database`: connected or why not, version, tables with rows and sizes, totals, schema
//!   checksum); j/k scroll the tables.
//! - **History**: the agent's deployments; `r` rolls back to the selected one, `u` undoes
//!   the current one (back to the deployment before it, or to before the first) (both ask);
//!   Enter shows the selected deployment's whole log (from the agent) in the log pane,
//!   whoever started it.
//!
//! The log pane follows the newest line; Tab gives it the keyboard, and then PgUp/PgDn
//! (`deploy.log_up`/`deploy.log_down`), j/k, g/G scroll it; back at the end it follows again.
//!
//! Remotes are made inside the jobs (a `Remote` is not `Send`); every answer comes back
//! to this screen only (a [`ReplyTx`](crate::app::worker::ReplyTx)) as a [`DeployReply`] carrying the ticket of the
//! request, and answers to older requests are dropped.

mod database_view;
mod files;
mod jobs;
mod mouse;
mod replies;
pub use jobs::PushTime;
use replies::discard;
mod view;

use std::collections::HashSet;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, MouseEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Screen, ScreenId};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Level};
use crate::app::input::LineInput;
use crate::app::listnav::ListNav;
use crate::app::screen::Hint;
use crate::app::worker::{Payload, Tickets};
use crate::engine::deploy::LogLine;
use crate::engine::deploy::package::Built;
use crate::engine::deploy::plan::Plan;
use crate::engine::deploy::push::Planned;
use crate::engine::jobs::{JobEvent, JobId, Outcome};
use crate::engine::project::Project;
use crate::engine::remote::sessions::Sessions;
use crate::engine::remote::{RemoteDeployment, ServerProfile, list_servers};
use crate::store::Store;

/// What the screen's jobs and threads hand back.
#[derive(Debug)]
pub enum DeployReply {
    Plan {
        seq: u64,
        plan: Plan,
        /// The connection the plan was made over, with the hold of the server's map,
        /// for the push (taken out by the screen).
        held: std::sync::Arc<std::sync::Mutex<Option<Planned>>>,
        /// How long the plan took (the push's first part) and over what connection.
        took: PushTime,
    },
    Built {
        seq: u64,
        built: Built,
    },
    /// A log line of the deployment being followed.
    Log {
        seq: u64,
        line: LogLine,
    },
    /// The deployment being followed has an id.
    Started {
        seq: u64,
        id: i64,
    },
    /// It ended.
    Ended {
        seq: u64,
        dep: Box<RemoteDeployment>,
        /// A push's time, its plan's included (None: a rollback).
        took: Option<PushTime>,
    },
    Status {
        seq: u64,
        result: Result<serde_json::Value, String>,
    },
    /// The agent's database (`GET /api/v1/database`).
    Database {
        seq: u64,
        result: Result<serde_json::Value, String>,
    },
    History {
        seq: u64,
        result: Result<Vec<RemoteDeployment>, String>,
    },
    /// The whole log of a past deployment (`GET /api/v1/deployments/{id}/logs`).
    PastLog {
        seq: u64,
        id: i64,
        result: Result<Vec<LogLine>, String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Files,
    Database,
    History,
}

impl Tab {
    pub const ALL: [Tab; 3] = [Tab::Files, Tab::Database, Tab::History];
    pub fn title(self) -> &'static str {
        match self {
            Tab::Files => "Files",
            Tab::Database => "Database",
            Tab::History => "History",
        }
    }
}

/// One row of the Files list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// "to upload" or "to delete".
    Header { upload: bool },
    /// A folder (its path, drawn from byte `label` on, under its parent's line at `depth`):
    /// toggles every file drawn under it.
    Folder {
        upload: bool,
        dir: Vec<u8>,
        depth: u16,
        label: usize,
    },
    /// Index into the plan's uploads or deletes; drawn by its name at `depth`.
    File {
        upload: bool,
        idx: usize,
        depth: u16,
    },
}

#[derive(Debug)]
enum Popup {
    Deploy {
        uploads: usize,
        deletes: usize,
        bytes: u64,
    },
    Rollback {
        to: i64,
    },
}

pub struct DeployScreen {
    db_path: PathBuf,
    servers: Vec<ServerProfile>,
    load_error: Option<String>,
    selected: usize,
    /// Panel 2 has the keyboard.
    focus_right: bool,
    tab: Tab,
    plan: Option<Plan>,
    /// The connection [`DeployScreen::plan`] was made over and the hold of the server's
    /// map, which the push uses (the server does not map its root again).
    held: Option<Planned>,
    /// Paths the user unticked.
    unticked: HashSet<Vec<u8>>,
    rows: Vec<Row>,
    /// The selected row of the Files tab and the first one shown.
    files: ListNav,
    list_height: usize,
    filter: LineInput,
    filtering: bool,
    popup: Option<Popup>,
    tickets: Tickets,
    /// The running job of this screen (one at a time) and its sequence number.
    job: Option<(JobId, u64, &'static str)>,
    log: Vec<LogLine>,
    /// Lines of the log hidden below the pane (0: it follows the newest line).
    log_scroll: usize,
    /// The log pane's height at the last draw, for paging.
    log_height: usize,
    /// The log pane has the keyboard (Tab, when there is a log).
    log_focus: bool,
    following: Option<i64>,
    status: Option<Result<serde_json::Value, String>>,
    database: Option<Result<serde_json::Value, String>>,
    /// The first table shown on the Database tab.
    db_row: usize,
    history: Option<Result<Vec<RemoteDeployment>, String>>,
    hist_row: usize,
    last_built: Option<Built>,
    /// Where the panes were last drawn, for the mouse.
    areas: mouse::Areas,
    /// The SSH/SFTP connections kept for this TUI session, per server.
    sessions: std::sync::Arc<Sessions>,
    /// The time of the plan in [`DeployScreen::held`] (part of its push's time).
    plan_took: Option<PushTime>,
    /// The times of this session's pushes, per server, first first.
    push_times: std::collections::HashMap<String, Vec<std::time::Duration>>,
}

impl DeployScreen {
    pub fn new(project: &Project) -> Self {
        let mut s = DeployScreen {
            db_path: project
                .root
                .join(crate::store::STATE_DIR)
                .join(crate::store::DB_FILE),
            servers: Vec::new(),
            load_error: None,
            selected: 0,
            focus_right: false,
            tab: Tab::Files,
            plan: None,
            held: None,
            unticked: HashSet::new(),
            rows: Vec::new(),
            files: ListNav::default(),
            list_height: 10,
            filter: LineInput::default(),
            filtering: false,
            popup: None,
            tickets: Tickets::default(),
            job: None,
            log: Vec::new(),
            log_scroll: 0,
            log_height: 4,
            log_focus: false,
            following: None,
            status: None,
            database: None,
            db_row: 0,
            history: None,
            hist_row: 0,
            last_built: None,
            areas: mouse::Areas::default(),
            sessions: Default::default(),
            plan_took: None,
            push_times: Default::default(),
        };
        s.reload();
        s
    }

    pub fn reload(&mut self) {
        let keep = self.server().map(|p| p.name.clone());
        let loaded = Store::open(&self.db_path, false)
            .map_err(anyhow::Error::from)
            .and_then(|st| list_servers(&st));
        match loaded {
            Ok(list) => {
                self.servers = list;
                self.load_error = None;
            }
            Err(e) => self.load_error = Some(format!("{e:#}")),
        }
        self.selected = keep
            .and_then(|n| self.servers.iter().position(|p| p.name == n))
            .unwrap_or(0)
            .min(self.servers.len().saturating_sub(1));
    }

    fn server(&self) -> Option<&ServerProfile> {
        self.servers.get(self.selected)
    }

    /// Forget everything fetched from the previous server.
    fn server_changed(&mut self) {
        self.plan = None;
        discard(self.held.take());
        self.rows.clear();
        self.unticked.clear();
        self.status = None;
        self.database = None;
        self.db_row = 0;
        self.history = None;
        self.files.selected = 0;
        self.hist_row = 0;
    }

    fn show_tab(&mut self, tab: Tab, ctx: &mut Ctx) {
        self.tab = tab;
        self.focus_right = true;
        self.log_focus = false;
        match tab {
            Tab::Database => self.fetch_status(ctx),
            Tab::History => self.fetch_history(ctx),
            Tab::Files => {}
        }
    }

    /// Scroll the log pane by `delta` lines (positive: older); at the end it follows again.
    fn scroll_log(&mut self, delta: isize) {
        let max = self.log.len().saturating_sub(self.log_height.max(1));
        self.log_scroll = self.log_scroll.saturating_add_signed(delta).min(max);
    }

    fn nav(&mut self, id: Cmd) -> bool {
        if self.log_focus {
            let page = self.log_height.max(1) as isize;
            match id {
                Cmd::NavDown => self.scroll_log(-1),
                Cmd::NavUp => self.scroll_log(1),
                Cmd::NavPageDown => self.scroll_log(-page),
                Cmd::NavPageUp => self.scroll_log(page),
                Cmd::NavTop => self.scroll_log(isize::MAX),
                Cmd::NavBottom => self.log_scroll = 0,
                _ => return false,
            }
            return true;
        }
        let (len, cur) = if !self.focus_right {
            (self.servers.len(), self.selected)
        } else {
            match self.tab {
                Tab::Files => (self.rows.len(), self.files.selected),
                Tab::History => (
                    self.history
                        .as_ref()
                        .and_then(|h| h.as_ref().ok())
                        .map_or(0, |l| l.len()),
                    self.hist_row,
                ),
                Tab::Database => (
                    self.database
                        .as_ref()
                        .and_then(|d| d.as_ref().ok())
                        .and_then(|d| d["tables"].as_array())
                        .map_or(0, |t| t.len()),
                    self.db_row,
                ),
            }
        };
        let at = ListNav {
            selected: cur,
            offset: 0,
        };
        let Some(t) = at.target(id, len, self.list_height) else {
            return false;
        };
        if !self.focus_right {
            if t != self.selected {
                self.selected = t;
                self.server_changed();
            }
        } else if self.tab == Tab::Files {
            self.files.selected = t;
        } else if self.tab == Tab::Database {
            self.db_row = t;
        } else {
            self.hist_row = t;
        }
        true
    }

    fn popup_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => match self.popup.take() {
                Some(Popup::Deploy { .. }) => self.run_deployment(None, ctx),
                Some(Popup::Rollback { to }) => self.run_deployment(Some(to), ctx),
                None => {}
            },
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                self.popup = None;
                ctx.status(Level::Info, "nothing was sent");
            }
            _ => {}
        }
    }

    fn filter_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Enter => self.filtering = false,
            KeyCode::Esc => {
                self.filtering = false;
                self.filter.clear();
            }
            _ => {
                self.filter.handle(&key);
            }
        }
        self.rebuild_rows();
    }

    fn command_inner(&mut self, id: Cmd, ctx: &mut Ctx) -> bool {
        match id {
            Cmd::DeployPlan => self.start_plan(ctx),
            Cmd::DeployBuild => self.start_build(ctx),
            Cmd::DeployDeploy => self.ask_deploy(ctx),
            Cmd::DeployToggle if self.focus_right && self.tab == Tab::Files => self.toggle(),
            Cmd::DeployFilter if self.plan.is_some() => {
                self.filtering = true;
                self.focus_right = true;
                self.log_focus = false;
                self.tab = Tab::Files;
            }
            Cmd::DeployNextTab => {
                let i = Tab::ALL.iter().position(|t| *t == self.tab).unwrap_or(0);
                self.show_tab(Tab::ALL[(i + 1) % Tab::ALL.len()], ctx);
            }
            Cmd::DeployRollback if self.tab == Tab::History => self.ask_rollback(ctx),
            Cmd::DeployUndo if self.tab == Tab::History => self.ask_undo(ctx),
            Cmd::DeployShowLog if self.tab == Tab::History && self.focus_right => {
                self.fetch_log(ctx)
            }
            Cmd::DeployLogUp if self.log_focus => return self.nav(Cmd::NavPageUp),
            Cmd::DeployLogDown if self.log_focus => return self.nav(Cmd::NavPageDown),
            Cmd::DeployRefresh => {
                self.reload();
                match self.tab {
                    Tab::Database => self.fetch_status(ctx),
                    Tab::History => self.fetch_history(ctx),
                    Tab::Files => {}
                }
            }
            // Servers -> tabs -> the log (when there is one) -> servers.
            Cmd::NavFocus if self.log_focus => self.log_focus = false,
            Cmd::NavFocus if self.focus_right && !self.log.is_empty() => {
                self.focus_right = false;
                self.log_focus = true;
            }
            Cmd::NavFocus => self.focus_right = !self.focus_right,
            Cmd::AppBack if !self.filter.text().is_empty() => {
                self.filter.clear();
                self.rebuild_rows();
            }
            Cmd::AppBack if self.log_focus => {
                self.log_focus = false;
                self.focus_right = true;
            }
            Cmd::AppBack if self.focus_right => self.focus_right = false,
            other if other.is_nav() => return self.nav(other),
            _ => return false,
        }
        true
    }
}

impl Screen for DeployScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Deploy
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        view::draw(self, frame, area, ctx);
    }

    fn command(&mut self, id: Cmd, ctx: &mut Ctx) -> bool {
        self.command_inner(id, ctx)
    }

    fn captures_input(&self) -> bool {
        self.popup.is_some() || self.filtering
    }

    fn mouse(&mut self, ev: MouseEvent, _area: Rect, _ctx: &mut Ctx) -> bool {
        self.mouse_event(ev)
    }

    fn hints(&self) -> Option<Vec<Hint>> {
        if self.popup.is_some() || self.filtering || self.servers.is_empty() {
            return None;
        }
        Some(if self.log_focus {
            vec![
                Hint::Cmd(Cmd::DeployLogUp, "log up"),
                Hint::Cmd(Cmd::DeployLogDown, "log down"),
                Hint::Cmd(Cmd::NavFocus, "servers"),
            ]
        } else if self.focus_right {
            let mut h = match self.tab {
                Tab::Files => vec![
                    Hint::Cmd(Cmd::DeployToggle, "tick"),
                    Hint::Cmd(Cmd::DeployDeploy, "deploy"),
                ],
                Tab::History => vec![
                    Hint::Cmd(Cmd::DeployRollback, "roll back"),
                    Hint::Cmd(Cmd::DeployUndo, "undo"),
                ],
                Tab::Database => vec![Hint::Cmd(Cmd::DeployRefresh, "reload")],
            };
            h.push(Hint::Cmd(Cmd::DeployNextTab, "tab"));
            h.push(Hint::Cmd(Cmd::NavFocus, "next pane"));
            h
        } else {
            vec![
                Hint::Cmd(Cmd::DeployPlan, "plan"),
                Hint::Cmd(Cmd::DeployDeploy, "deploy"),
                Hint::Cmd(Cmd::DeployNextTab, "tab"),
                Hint::Cmd(Cmd::NavFocus, "to the tabs"),
            ]
        })
    }

    fn input_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        if self.popup.is_some() {
            self.popup_key(key, ctx);
        } else if self.filtering {
            self.filter_key(key);
        } else {
            return false;
        }
        true
    }

    fn on_reply(&mut self, reply: Payload, ctx: &mut Ctx) -> bool {
        match reply.downcast::<DeployReply>() {
            Ok(r) => self.on_worker(&r, ctx),
            Err(_) => false,
        }
    }

    fn on_job(&mut self, ev: &JobEvent, ctx: &mut Ctx) -> bool {
        match ev {
            JobEvent::Finished { id, outcome } if self.job.is_some_and(|(j, _, _)| j == *id) => {
                let (_, _, name) = self.job.take().unwrap_or((0, 0, ""));
                match outcome {
                    Outcome::Done(s) if name == "deploy package" => {
                        let path = self
                            .last_built
                            .as_ref()
                            .map(|b| b.path.display().to_string())
                            .unwrap_or_default();
                        ctx.status(Level::Success, format!("built: {s} → {path}"));
                    }
                    Outcome::Done(s) => ctx.status(Level::Success, format!("{name}: {s}")),
                    Outcome::Failed(e) => ctx.status(Level::Error, format!("{name} failed: {e}")),
                    Outcome::Cancelled => ctx.status(Level::Warn, format!("{name} cancelled")),
                }
                true
            }
            _ => false,
        }
    }

    fn on_show(&mut self, _ctx: &mut Ctx) {
        // Servers may have been added from the CLI meanwhile.
        self.reload();
    }
}

#[cfg(test)]
mod mouse_tests;
#[cfg(test)]
mod tests;
