//! Scripts: the project's change scripts and My Builds, two panes (Tab moves between them).
//!
//! - `c` creates a script: a picker of the snapshot it starts from and of where it goes
//!   (the working tree and the database now, or another snapshot), and a name; then the
//!   changed files and tables with checkboxes ([`pick`]); a job
//!   (`engine::scripts::create`) makes the script of the ticked ones.
//! - Enter shows the selected script (or the selected build's script) in Compare: its
//!   files, both sides from the object store, and its table changes with the forward and
//!   reverse SQL (`engine::scripts::preview`).
//! - `b` builds the script to a target folder (and database profile, for a script with
//!   SQL) as a job with progress — or, for the target `server:NAME`, through that
//!   server's agent (`engine::scripts::server_build`, the agent's log live in the job's);
//!   a build refused for conflicts opens a report naming
//!   every conflicting file and row (nothing was changed); `f` in the form forces it.
//! - `u` rolls the selected build back (asks first; offers the chain when newer builds
//!   touched the same files or tables).
//! - `w` exports the script as a wind (`engine::scripts::wind`); `e` as a package
//!   archive (`.sky`, `engine::packages::export`), to a path asked in a popup.
//!
//! Nothing is read from the store while drawing: the lists are loaded by a worker thread
//! ([`Worker`]), the preview by another; the jobs hand their results back through the
//! event queue and the screen acts on them when the job's `Finished` arrives.

mod bin;
mod forms;
mod jobs;
mod pick;
mod view;

use std::path::PathBuf;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Screen, ScreenId};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Effect, Level};
use crate::app::input::LineInput;
use crate::app::listnav::ListNav;
use crate::app::screen::Hint;
use crate::app::worker::{Payload, ReplyTx, Tickets, Worker};
use crate::engine::diff::changes::ChangeSet;
use crate::engine::jobs::{JobEvent, JobId};
use crate::engine::project::Project;
use crate::engine::scripts;
use crate::store::Store;
use crate::store::scripts::{self as rows, Build, Package};

/// What the list worker reads: everything the screen shows.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    pub scripts: Vec<Package>,
    pub builds: Vec<Build>,
    /// (id, name) of every snapshot, newest first (for the create picker).
    pub snapshots: Vec<(i64, String)>,
    /// Database profiles (for the build form).
    pub profiles: Vec<String>,
    /// The recycle bin, newest first.
    pub bin: Vec<crate::engine::bin::BinEntry>,
}

fn read_lists(store: &Store, root: &std::path::Path) -> anyhow::Result<Lists> {
    let mut bin = crate::engine::bin::Bin::open(root)?.list()?;
    bin.reverse();
    Ok(Lists {
        bin,
        scripts: rows::packages(store.conn())?,
        builds: rows::builds(store.conn())?,
        snapshots: crate::store::snapshots::snapshots(store.conn())?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect(),
        profiles: crate::engine::db::profile::list(store)?
            .into_iter()
            .map(|p| p.name)
            .collect(),
    })
}

/// What a job of this screen hands back before its `Finished`.
#[derive(Debug)]
pub enum ScriptsReply {
    /// A build or rollback was refused: each conflict (or the reason, one line each).
    Refused { seq: u64, lines: Vec<String> },
    /// The id of what the job made (a script or a build).
    Made { seq: u64, id: i64 },
    /// The changes a script could carry, for the picker.
    Candidates { seq: u64, pick: pick::Pick },
}

/// Which field of a form has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    From,
    To,
    Target,
    Db,
}

#[derive(Debug)]
enum Popup {
    Create {
        name: LineInput,
        field: Field,
        from: usize,
        /// 0: the working tree; i: snapshot i-1.
        to: usize,
    },
    Build {
        script: i64,
        target: LineInput,
        field: Field,
        /// 0: none; i: profile i-1.
        db: usize,
        force: bool,
    },
    Rollback {
        build: i64,
        chain: bool,
    },
    /// Export as a wind, or (`archive`) as a package archive.
    Wind {
        script: i64,
        path: LineInput,
        archive: bool,
    },
    Report {
        title: String,
        text: String,
    },
    Restore {
        id: u64,
        path: String,
    },
    /// The changed files and tables with checkboxes ([`pick`]).
    Pick(pick::Pick),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Build,
    Rollback,
    Wind,
    Restore,
    Pick,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    job: JobId,
    seq: u64,
    kind: Kind,
}

pub struct ScriptsScreen {
    db_path: PathBuf,
    lists: Lists,
    loaded: bool,
    load_error: Option<String>,
    loader: Worker<(), Result<Lists, String>>,
    previewer: Worker<i64, Result<ChangeSet, String>>,
    previewing: Option<i64>,
    scripts_nav: ListNav,
    builds_nav: ListNav,
    page: usize,
    /// The builds pane has the keys.
    builds_focus: bool,
    popup: Option<Popup>,
    tickets: Tickets,
    job: Option<Running>,
    refused: Option<Vec<String>>,
    made: Option<i64>,
    /// What the picker job read, opened when it finishes.
    picked: Option<pick::Pick>,
    /// The target folder typed last (the form starts from it).
    last_target: Option<String>,
    /// The lower pane shows the recycle bin instead of My Builds.
    show_bin: bool,
    bin_nav: ListNav,
    /// Select these once the lists are read again (what a job made).
    want_script: Option<i64>,
    want_build: Option<i64>,
}

impl ScriptsScreen {
    pub fn new(project: &Project, tx: crate::app::events::EventTx) -> Self {
        let db_path = project
            .root
            .join(crate::store::STATE_DIR)
            .join(crate::store::DB_FILE);
        let replies = ReplyTx::new(ScreenId::Scripts, tx);
        let path = db_path.clone();
        let root = project.root.clone();
        let loader = Worker::start(
            "scripts-lists",
            replies.clone(),
            || (),
            move |_, ()| {
                Store::open(&path, false)
                    .map_err(anyhow::Error::from)
                    .and_then(|s| read_lists(&s, &root))
                    .map_err(|e| format!("{e:#}"))
            },
        );
        let root = project.clone();
        let path = db_path.clone();
        let previewer = Worker::start(
            "scripts-preview",
            replies,
            || (),
            move |_, id: i64| {
                (|| {
                    let store = Store::open(&path, false)?;
                    let l = scripts::load(&root, scripts::resolve(&store, &id.to_string())?)?;
                    scripts::preview::change_set(&root, &l)
                })()
                .map_err(|e| format!("{e:#}"))
            },
        );
        let mut s = ScriptsScreen {
            db_path,
            lists: Lists::default(),
            loaded: false,
            load_error: None,
            loader,
            previewer,
            previewing: None,
            scripts_nav: ListNav::default(),
            builds_nav: ListNav::default(),
            page: 5,
            builds_focus: false,
            popup: None,
            tickets: Tickets::default(),
            job: None,
            refused: None,
            made: None,
            picked: None,
            last_target: None,
            show_bin: false,
            bin_nav: ListNav::default(),
            want_script: None,
            want_build: None,
        };
        s.reload();
        s
    }

    fn reload(&mut self) {
        self.loader.request(());
    }

    fn script(&self) -> Option<&Package> {
        self.lists.scripts.get(self.scripts_nav.selected)
    }

    fn build(&self) -> Option<&Build> {
        self.lists.builds.get(self.builds_nav.selected)
    }

    /// The script the keys act on: the selected one, or the selected build's.
    fn current_script(&self) -> Option<i64> {
        if self.builds_focus {
            self.build().map(|b| b.package)
        } else {
            self.script().map(|p| p.id)
        }
    }

    fn busy(&self, ctx: &mut Ctx) -> bool {
        if self.job.is_some() {
            ctx.status(Level::Warn, "a script job is running already (see Jobs)");
            return true;
        }
        false
    }

    fn replies(&self, ctx: &Ctx) -> ReplyTx {
        ReplyTx::new(ScreenId::Scripts, ctx.tx.clone())
    }

    fn open_create(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        if !self.loaded {
            ctx.status(Level::Info, "still reading the snapshots…");
            return;
        }
        if self.lists.snapshots.is_empty() {
            ctx.status(
                Level::Info,
                "no snapshot yet: take one on Snapshots (2) first; a script is what changed since",
            );
            return;
        }
        self.popup = Some(Popup::Create {
            name: LineInput::default(),
            field: Field::From,
            from: 0,
            to: 0,
        });
    }

    fn open_build(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        let Some(script) = self.current_script() else {
            ctx.status(Level::Info, "no script to build: create one with c");
            return;
        };
        // Start from the last target this script was built to, if any.
        let last = self
            .lists
            .builds
            .iter()
            .find(|b| b.package == script && b.kind == "build");
        let mut target = LineInput::default();
        if let Some(t) = last.map(|b| &b.target).or(self.last_target.as_ref()) {
            target.set(t);
        }
        let db = last
            .and_then(|b| b.db_profile.as_ref())
            .and_then(|d| self.lists.profiles.iter().position(|p| p == d))
            .map_or(0, |i| i + 1);
        self.popup = Some(Popup::Build {
            script,
            target,
            field: Field::Target,
            db,
            force: false,
        });
    }

    fn ask_rollback(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        if !self.builds_focus {
            self.builds_focus = true;
        }
        let Some(b) = self.build() else {
            ctx.status(Level::Info, "no build to roll back");
            return;
        };
        if b.kind != "build" || b.status != "done" {
            let msg = format!(
                "build {} is {} {}: only a build in place (done) can be rolled back",
                b.id, b.kind, b.status
            );
            ctx.status(Level::Warn, msg);
            return;
        }
        self.popup = Some(Popup::Rollback {
            build: b.id,
            chain: false,
        });
    }

    fn open_wind(&mut self, ctx: &mut Ctx, archive: bool) {
        if self.busy(ctx) {
            return;
        }
        let Some(script) = self.current_script() else {
            ctx.status(Level::Info, "no script to export");
            return;
        };
        let mut path = LineInput::default();
        let name = match self.lists.scripts.iter().find(|p| p.id == script) {
            Some(p) if archive => crate::engine::packages::export::file_name(p),
            _ if archive => format!("script-{script}.sky"),
            _ => format!("change-{script}.sh"),
        };
        path.set(&name);
        self.popup = Some(Popup::Wind {
            script,
            path,
            archive,
        });
    }

    fn preview(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.current_script() else {
            ctx.status(Level::Info, "no script to show: create one with c");
            return;
        };
        self.previewing = Some(id);
        self.previewer.request(id);
        ctx.status(Level::Info, format!("loading script {id}…"));
    }

    fn on_lists(&mut self, r: Result<Lists, String>) {
        self.loaded = true;
        match r {
            Ok(l) => {
                // what a job just made, else what was selected
                let keep_s = self.want_script.take().or(self.script().map(|p| p.id));
                let keep_b = self.want_build.take().or(self.build().map(|b| b.id));
                self.lists = l;
                self.load_error = None;
                if let Some(i) =
                    keep_s.and_then(|id| self.lists.scripts.iter().position(|p| p.id == id))
                {
                    self.scripts_nav.selected = i;
                }
                if let Some(i) =
                    keep_b.and_then(|id| self.lists.builds.iter().position(|b| b.id == id))
                {
                    self.builds_nav.selected = i;
                }
                self.scripts_nav.clamp(self.lists.scripts.len());
                self.builds_nav.clamp(self.lists.builds.len());
                self.bin_nav.clamp(self.lists.bin.len());
            }
            Err(e) => self.load_error = Some(e),
        }
    }

    fn nav(&mut self, cmd: Cmd) -> bool {
        let page = self.page;
        if self.builds_focus && self.show_bin {
            self.bin_nav
                .apply(cmd, self.lists.bin.len(), page)
                .is_some()
        } else if self.builds_focus {
            self.builds_nav
                .apply(cmd, self.lists.builds.len(), page)
                .is_some()
        } else {
            self.scripts_nav
                .apply(cmd, self.lists.scripts.len(), page)
                .is_some()
        }
    }
}

impl Screen for ScriptsScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Scripts
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        view::draw(self, frame, area, ctx);
    }

    fn command(&mut self, cmd: Cmd, ctx: &mut Ctx) -> bool {
        match cmd {
            Cmd::ScriptsCreate => self.open_create(ctx),
            Cmd::ScriptsPreview => self.preview(ctx),
            Cmd::ScriptsBuild => self.open_build(ctx),
            Cmd::ScriptsRollback => self.ask_rollback(ctx),
            Cmd::ScriptsWind => self.open_wind(ctx, false),
            Cmd::ScriptsArchive => self.open_wind(ctx, true),
            Cmd::ScriptsReload => self.reload(),
            Cmd::ScriptsBin => {
                self.show_bin = !self.show_bin;
                self.builds_focus = true;
            }
            Cmd::ScriptsRestore => self.ask_restore(ctx),
            Cmd::NavFocus => self.builds_focus = !self.builds_focus,
            other if other.is_nav() => return self.nav(other),
            _ => return false,
        }
        true
    }

    fn captures_input(&self) -> bool {
        self.popup.is_some()
    }

    fn input_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        if self.popup.is_none() {
            return false;
        }
        self.form_key(key, ctx);
        true
    }

    fn on_reply(&mut self, reply: Payload, ctx: &mut Ctx) -> bool {
        let reply = match self.loader.accept(reply) {
            Ok(Some(l)) => {
                self.on_lists(l);
                return true;
            }
            Ok(None) => return false,
            Err(other) => other,
        };
        let reply = match self.previewer.accept(reply) {
            Ok(Some(r)) => {
                self.previewing = None;
                match r {
                    Ok(set) if set.changes.is_empty() => {
                        ctx.status(Level::Info, format!("{}: no changes", set.title))
                    }
                    Ok(set) => ctx.effects.push(Effect::ShowChanges(Box::new(set))),
                    Err(e) => ctx.status(Level::Error, e),
                }
                return true;
            }
            Ok(None) => return false,
            Err(other) => other,
        };
        match reply.downcast::<ScriptsReply>() {
            Ok(r) => {
                match *r {
                    ScriptsReply::Refused { seq, lines }
                        if self.job.is_some_and(|j| j.seq == seq) =>
                    {
                        self.refused = Some(lines)
                    }
                    ScriptsReply::Made { seq, id } if self.job.is_some_and(|j| j.seq == seq) => {
                        self.made = Some(id)
                    }
                    ScriptsReply::Candidates { seq, pick }
                        if self.job.is_some_and(|j| j.seq == seq) =>
                    {
                        self.picked = Some(pick)
                    }
                    _ => {}
                }
                false
            }
            Err(_) => false,
        }
    }

    fn on_job(&mut self, ev: &JobEvent, ctx: &mut Ctx) -> bool {
        match (ev, self.job) {
            (JobEvent::Finished { id, outcome }, Some(r)) if r.job == *id => {
                self.job_finished(r, outcome, ctx);
                true
            }
            (JobEvent::Progress { id, .. }, Some(r)) if r.job == *id => true,
            _ => false,
        }
    }

    fn on_show(&mut self, _ctx: &mut Ctx) {
        // Scripts and builds may have been made from the CLI meanwhile.
        self.reload();
    }

    fn hints(&self) -> Option<Vec<Hint>> {
        if self.popup.is_some() {
            return None;
        }
        Some(if self.builds_focus && self.show_bin {
            vec![
                Hint::Cmd(Cmd::ScriptsRestore, "restore"),
                Hint::Cmd(Cmd::ScriptsBin, "builds"),
                Hint::Cmd(Cmd::NavFocus, "scripts"),
            ]
        } else if self.builds_focus {
            vec![
                Hint::Cmd(Cmd::ScriptsRollback, "rollback"),
                Hint::Cmd(Cmd::ScriptsPreview, "script"),
                Hint::Cmd(Cmd::NavFocus, "scripts"),
            ]
        } else {
            vec![
                Hint::Cmd(Cmd::ScriptsCreate, "create"),
                Hint::Cmd(Cmd::ScriptsPreview, "show"),
                Hint::Cmd(Cmd::ScriptsBuild, "build"),
                Hint::Cmd(Cmd::NavFocus, "builds"),
            ]
        })
    }
}

#[cfg(test)]
mod tests;
