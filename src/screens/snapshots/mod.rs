//! My Snapshots: the snapshots of the project, newest first, with a details pane; take a
//! new one (of the whole project or one domain, with or without a database profile's
//! database), delete one, and diff one against the working tree or against another snapshot
//! (the result opens in Compare).
//!
//! A snapshot with a database part is diffed against the database as it is now (or the
//! other snapshot's database part): its table changes, rows and the forward and reverse
//! scripts join the file changes (`engine::db::changes`). Database trouble (no connection,
//! destructive steps, notes) goes to the status line; the file diff still opens.
//!
//! Taking and diffing run as jobs (they map the tree, which takes seconds on big trees);
//! a job hands its result back through the event queue and the screen acts on it when the
//! job's `Finished` arrives, so nothing of a cancelled or failed job is shown.
//!
//! The database tools (table modes, verify) are in `dbtools.rs`.

mod dbtools;
mod focus;

use dbtools::{DbDiff, db_diff, db_parts};
mod view;

use std::collections::HashMap;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, MouseEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Screen, ScreenId};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Effect, Level};
use crate::app::input::LineInput;
use crate::app::listnav::ListNav;
use crate::app::screen::Hint;
use crate::app::worker::{Payload, ReplyTx, Tickets};
use crate::engine::db::profile;
use crate::engine::db::snapshot::{DbSnapshot, Mode};
use crate::engine::diff::changes::ChangeSet;
use crate::engine::jobs::{JobEvent, JobId, Outcome};
use crate::engine::snapshot::objects::ObjectStore;
use crate::engine::snapshot::{self, DbPart, Target};
use crate::engine::util::units::{human_size, thousands};
use crate::store::Store;
use crate::store::snapshots::{self as rows, Snapshot};

/// What a snapshot job hands back to the screen (before its `Finished` arrives).
#[derive(Debug)]
pub enum SnapshotsReply {
    /// A snapshot was stored.
    Created { seq: u64, id: i64 },
    /// A diff is ready, as a change set for Compare.
    Diff {
        seq: u64,
        old: i64,
        new: Target,
        set: Box<ChangeSet>,
        /// What the status line should say about the database part (errors, destructive
        /// steps, notes of the script).
        db_note: Option<(Level, String)>,
    },
    /// The summary of a snapshot's database part (read off the draw thread).
    DbInfo {
        object: String,
        info: Result<DbInfo, String>,
    },
    /// A verification's report, for the popup.
    Verified {
        seq: u64,
        title: String,
        text: String,
        ok: bool,
    },
}

/// What the details pane shows of a database part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbInfo {
    /// Tables in the snapshot (skipped ones are not).
    pub tables: usize,
    pub data: usize,
    pub checksum: usize,
    pub skipped: usize,
    /// Every table seen (skipped ones too), sorted.
    pub names: Vec<String>,
}

impl DbInfo {
    fn of(s: &DbSnapshot) -> DbInfo {
        let count = |m: Mode| s.modes.values().filter(|&&x| x == m).count();
        DbInfo {
            tables: s.tables.len(),
            data: count(Mode::Data),
            checksum: count(Mode::Checksum),
            skipped: count(Mode::Skip),
            names: s.modes.keys().cloned().collect(),
        }
    }
}

/// Which part of the create popup has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Domain,
    Database,
}

/// A popup drawn inside the screen.
#[derive(Debug)]
enum Popup {
    Create {
        name: LineInput,
        field: Field,
        /// Domain names; row 0 of the picker is the whole project.
        domains: Vec<String>,
        choice: usize,
        /// Database profiles; row 0 of that picker is none (no picker without profiles).
        profiles: Vec<String>,
        db_choice: usize,
    },
    Delete {
        id: i64,
        name: String,
        files: i64,
    },
    Tables(dbtools::Tables),
    Report {
        title: String,
        text: String,
    },
}

/// A running job of this screen: its id and the sequence number its reply carries.
#[derive(Debug, Clone, Copy)]
struct Running {
    job: JobId,
    seq: u64,
}

/// A finished diff waiting for its job's `Finished`.
struct DiffResult {
    old: i64,
    new: Target,
    set: Box<ChangeSet>,
    db_note: Option<(Level, String)>,
}

pub struct SnapshotsScreen {
    store: Option<Store>,
    db_path: PathBuf,
    list: Vec<Snapshot>,
    nav: ListNav,
    list_height: usize,
    /// Where the list's rows (below its header line) were last drawn, for clicks.
    rows_area: Rect,
    /// The old side of a snapshot-to-snapshot diff.
    marked: Option<i64>,
    popup: Option<Popup>,
    /// Each job's results carry its ticket; results of no job of ours are ignored.
    tickets: Tickets,
    create_job: Option<Running>,
    created: Option<i64>,
    diff_job: Option<Running>,
    diff_result: Option<DiffResult>,
    verify_job: Option<Running>,
    /// A finished verification waiting for its job's `Finished`: (title, report text).
    verified: Option<(String, String)>,
    load_error: Option<String>,
    /// Snapshots with a database part: id → (profile, object).
    db_parts: HashMap<i64, (String, String)>,
    /// Summaries of database parts by object (None while being read).
    db_info: HashMap<String, Option<Result<DbInfo, String>>>,
}

impl SnapshotsScreen {
    pub fn new(project: &crate::engine::project::Project) -> Self {
        let db_path = project
            .root
            .join(crate::store::STATE_DIR)
            .join(crate::store::DB_FILE);
        let mut s = SnapshotsScreen {
            store: None,
            db_path,
            list: Vec::new(),
            nav: ListNav::default(),
            list_height: 10,
            rows_area: Rect::default(),
            marked: None,
            popup: None,
            tickets: Tickets::default(),
            create_job: None,
            created: None,
            diff_job: None,
            diff_result: None,
            verify_job: None,
            verified: None,
            load_error: None,
            db_parts: HashMap::new(),
            db_info: HashMap::new(),
        };
        s.reload();
        s
    }

    /// Re-read the list, keeping the selected snapshot selected when it still exists.
    pub fn reload(&mut self) {
        if self.store.is_none() {
            match Store::open(&self.db_path, false) {
                Ok(st) => self.store = Some(st),
                Err(e) => {
                    self.load_error = Some(e.to_string());
                    return;
                }
            }
        }
        let Some(store) = &self.store else { return };
        let keep = self.selected_snapshot().map(|s| s.id);
        match rows::snapshots(store.conn()) {
            Ok(list) => {
                self.list = list;
                self.load_error = None;
            }
            Err(e) => self.load_error = Some(e.to_string()),
        }
        self.db_parts = db_parts(store).unwrap_or_default();
        if let Some(m) = self.marked
            && !self.list.iter().any(|s| s.id == m)
        {
            self.marked = None;
        }
        match keep {
            Some(id) if self.select_id(id) => {}
            _ => self.nav.selected = self.nav.selected.min(self.list.len().saturating_sub(1)),
        }
    }

    fn selected_snapshot(&self) -> Option<&Snapshot> {
        self.list.get(self.nav.selected)
    }

    /// Select the snapshot `id`; false when it is not in the list.
    fn select_id(&mut self, id: i64) -> bool {
        match self.list.iter().position(|s| s.id == id) {
            Some(row) => {
                self.nav.selected = row;
                true
            }
            None => false,
        }
    }

    fn nav(&mut self, id: Cmd) -> bool {
        let (len, page) = (self.list.len(), self.list_height);
        self.nav.apply(id, len, page).is_some()
    }

    fn open_create(&mut self, ctx: &mut Ctx) {
        if self.create_job.is_some() {
            ctx.status(Level::Warn, "a snapshot is being taken already (see Jobs)");
            return;
        }
        let domains = match &self.store {
            Some(store) => match rows::domains(store.conn()) {
                Ok(d) => d.into_iter().map(|d| d.name).collect(),
                Err(e) => {
                    ctx.status(Level::Error, format!("cannot read domains: {e}"));
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let profiles = match &self.store {
            Some(store) => match profile::list(store) {
                Ok(p) => p.into_iter().map(|p| p.name).collect(),
                Err(e) => {
                    ctx.status(Level::Error, format!("cannot read database profiles: {e}"));
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        self.popup = Some(Popup::Create {
            name: LineInput::default(),
            field: Field::Name,
            domains,
            choice: 0,
            profiles,
            db_choice: 0,
        });
    }

    /// Read the summary of the selected snapshot's database part, once, off this thread.
    fn want_db_info(&mut self, ctx: &Ctx) {
        let Some(id) = self.selected_snapshot().map(|s| s.id) else {
            return;
        };
        let Some((_, object)) = self.db_parts.get(&id) else {
            return;
        };
        if self.db_info.contains_key(object) {
            return;
        }
        let object = object.clone();
        self.db_info.insert(object.clone(), None);
        let (root, tx) = (ctx.project.root.clone(), self.replies(ctx));
        std::thread::spawn(move || {
            let info = ObjectStore::open(&root)
                .and_then(|o| DbSnapshot::load(&o, &object))
                .map(|s| DbInfo::of(&s))
                .map_err(|e| format!("{e:#}"));
            let _ = tx.send(SnapshotsReply::DbInfo { object, info });
        });
    }

    fn start_create(
        &mut self,
        name: Option<String>,
        domain: Option<String>,
        db_profile: Option<String>,
        ctx: &mut Ctx,
    ) {
        let project = ctx.project.clone();
        let db = self.db_path.clone();
        let tx = self.replies(ctx);
        let seq = self.tickets.issue();
        let mut what = match &domain {
            Some(d) => format!("domain {d:?}"),
            None => "the whole project".to_string(),
        };
        if let Some(d) = &db_profile {
            what.push_str(&format!(" and database {d}"));
        }
        let job = ctx.jobs.spawn_blocking("snapshot", move |p| {
            let mut store = Store::open(&db, false)?;
            let mut conn = match &db_profile {
                Some(d) => {
                    p.set(0, None, "connecting to the database");
                    Some(profile::connect(&project.root, &store, d, None)?)
                }
                None => None,
            };
            let part = match (&db_profile, conn.as_mut()) {
                (Some(d), Some(c)) => Some(DbPart {
                    profile: d,
                    db: c.as_mut(),
                }),
                _ => None,
            };
            let c = snapshot::create_with_db(
                &project,
                &mut store,
                name.as_deref(),
                domain.as_deref(),
                part,
                p,
            )?;
            for problem in c.problems.iter().take(200) {
                p.log(format!("{}: {}", problem.path, problem.reason));
            }
            let _ = tx.send(SnapshotsReply::Created { seq, id: c.id });
            let (files, size) = (thousands(c.files as usize), human_size(c.bytes as i64));
            let partial = match c.partial {
                true => format!(" [partial: {} problems, see Jobs]", c.problems.len()),
                false => String::new(),
            };
            let database = match &db_profile {
                Some(d) => format!(", database {d}"),
                None => String::new(),
            };
            Ok(format!(
                "snapshot {} {:?}: {files} files, {size}{database}{partial}",
                c.id, c.name
            ))
        });
        self.create_job = Some(Running { job, seq });
        self.created = None;
        let msg = format!("taking a snapshot of {what} (job #{job})");
        ctx.status(Level::Info, msg);
    }

    fn ask_delete(&mut self, ctx: &mut Ctx) {
        let Some(s) = self.selected_snapshot() else {
            ctx.status(Level::Info, "no snapshot to delete");
            return;
        };
        self.popup = Some(Popup::Delete {
            id: s.id,
            name: s.name.clone(),
            files: s.files,
        });
    }

    fn delete(&mut self, id: i64, name: &str, ctx: &mut Ctx) {
        let Some(store) = &self.store else { return };
        match rows::delete_snapshot(store.conn(), id) {
            Ok(true) => ctx.status(
                Level::Success,
                format!("deleted snapshot {id} {name:?}; `devsky gc` frees its contents"),
            ),
            Ok(false) => ctx.status(Level::Warn, format!("snapshot {id} was already gone")),
            Err(e) => ctx.status(Level::Error, format!("cannot delete snapshot {id}: {e}")),
        }
        if self.marked == Some(id) {
            self.marked = None;
        }
        self.reload();
    }

    fn toggle_mark(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.selected_snapshot().map(|s| s.id) else {
            return;
        };
        if self.marked == Some(id) {
            self.marked = None;
            ctx.status(Level::Info, format!("snapshot {id} unmarked"));
        } else {
            self.marked = Some(id);
            ctx.status(
                Level::Info,
                format!("marked snapshot {id}: diff on another snapshot compares {id} → it"),
            );
        }
    }

    /// Diff the selected snapshot against the working tree, or the marked one against it.
    fn start_diff(&mut self, ctx: &mut Ctx) {
        let Some(sel) = self.selected_snapshot().map(|s| s.id) else {
            ctx.status(Level::Info, "no snapshot to diff yet");
            return;
        };
        if self.diff_job.is_some() {
            ctx.status(Level::Warn, "a diff is running already (see Jobs)");
            return;
        }
        let (old, new) = match self.marked {
            Some(m) if m != sel => (m, Target::Snapshot(sel)),
            _ => (sel, Target::Worktree),
        };
        let project = ctx.project.clone();
        let db = self.db_path.clone();
        let tx = self.replies(ctx);
        let seq = self.tickets.issue();
        let job = ctx.jobs.spawn_blocking("diff", move |p| {
            let store = Store::open(&db, false)?;
            let d = snapshot::diff_snapshot(&project, &store, old, new, p)?;
            p.check()?;
            let mut set = snapshot::change_set(&project, &d, new == Target::Worktree);
            let db_note = match db_diff(&project, &store, old, new, p) {
                DbDiff::None => None,
                DbDiff::Note(level, note) => Some((level, note)),
                DbDiff::Changes {
                    profile,
                    set: dbs,
                    note,
                } => {
                    if !dbs.changes.is_empty() {
                        set.title = format!("{} + database {profile}", set.title);
                        set.changes.extend(dbs.changes);
                    }
                    note.map(|n| (Level::Warn, n))
                }
            };
            p.check()?;
            let summary = format!("{} changes ({})", thousands(set.changes.len()), set.title);
            let set = Box::new(set);
            let _ = tx.send(SnapshotsReply::Diff {
                seq,
                old,
                new,
                set,
                db_note,
            });
            Ok(summary)
        });
        self.diff_job = Some(Running { job, seq });
        self.diff_result = None;
        let what = match new {
            Target::Worktree => format!("snapshot {old} with the working tree"),
            Target::Snapshot(b) => format!("snapshot {old} with snapshot {b}"),
        };
        ctx.status(Level::Info, format!("comparing {what} (job #{job})"));
    }

    /// Where this screen's jobs send their results.
    fn replies(&self, ctx: &Ctx) -> ReplyTx {
        ReplyTx::new(ScreenId::Snapshots, ctx.tx.clone())
    }

    fn on_worker(&mut self, reply: &SnapshotsReply) -> bool {
        match reply {
            SnapshotsReply::Created { seq, id } => {
                if self.create_job.is_some_and(|r| r.seq == *seq) {
                    self.created = Some(*id);
                }
            }
            SnapshotsReply::Diff {
                seq,
                old,
                new,
                set,
                db_note,
            } => {
                if self.diff_job.is_some_and(|r| r.seq == *seq) {
                    self.diff_result = Some(DiffResult {
                        old: *old,
                        new: *new,
                        set: set.clone(),
                        db_note: db_note.clone(),
                    });
                }
            }
            SnapshotsReply::Verified {
                seq, title, text, ..
            } => {
                if self.verify_job.is_some_and(|r| r.seq == *seq) {
                    self.verified = Some((title.clone(), text.clone()));
                }
            }
            SnapshotsReply::DbInfo { object, info } => {
                self.db_info.insert(object.clone(), Some(info.clone()));
                return true;
            }
        }
        false
    }

    fn diff_finished(&mut self, outcome: &Outcome, ctx: &mut Ctx) {
        self.diff_job = None;
        let result = self.diff_result.take();
        let (Outcome::Done(_), Some(r)) = (outcome, result) else {
            return;
        };
        if r.set.changes.is_empty() {
            let msg = match r.new {
                Target::Worktree => format!("no changes since snapshot {}", r.old),
                Target::Snapshot(b) => {
                    format!("no changes from snapshot {} to snapshot {b}", r.old)
                }
            };
            let msg = if r.set.partial {
                format!("{msg} (partial: some files could not be read)")
            } else {
                msg
            };
            ctx.status(Level::Info, msg);
        } else {
            ctx.effects.push(Effect::ShowChanges(r.set));
        }
        if let Some((level, note)) = r.db_note {
            ctx.status(level, note);
        }
    }

    /// A key while the create popup is open.
    fn create_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let Some(Popup::Create {
            name,
            field,
            domains,
            choice,
            profiles,
            db_choice,
        }) = &mut self.popup
        else {
            return;
        };
        let rows = domains.len() + 1;
        let has_db = !profiles.is_empty();
        let db_rows = profiles.len() + 1;
        match (key.code, *field) {
            (KeyCode::Esc, _) => self.popup = None,
            (KeyCode::Enter, _) => {
                let n = name.text().trim().to_string();
                let n = (!n.is_empty()).then_some(n);
                let d = choice.checked_sub(1).and_then(|i| domains.get(i)).cloned();
                let db = db_choice
                    .checked_sub(1)
                    .and_then(|i| profiles.get(i))
                    .cloned();
                self.popup = None;
                self.start_create(n, d, db, ctx);
            }
            (KeyCode::Tab, Field::Name) | (KeyCode::Down, Field::Name) => *field = Field::Domain,
            (KeyCode::Tab, Field::Domain) if has_db => *field = Field::Database,
            (KeyCode::Tab, _) => *field = Field::Name,
            (KeyCode::BackTab, Field::Name) if has_db => *field = Field::Database,
            (KeyCode::BackTab, Field::Name) => *field = Field::Domain,
            (KeyCode::BackTab, Field::Domain) => *field = Field::Name,
            (KeyCode::BackTab, Field::Database) => *field = Field::Domain,
            (KeyCode::Up | KeyCode::Char('k'), Field::Domain) if *choice == 0 => {
                *field = Field::Name;
            }
            (KeyCode::Up | KeyCode::Char('k'), Field::Domain) => *choice -= 1,
            (KeyCode::Down | KeyCode::Char('j'), Field::Domain)
                if has_db && *choice + 1 == rows =>
            {
                *field = Field::Database;
            }
            (KeyCode::Down | KeyCode::Char('j'), Field::Domain) => {
                *choice = (*choice + 1).min(rows - 1);
            }
            (KeyCode::Home | KeyCode::Char('g'), Field::Domain) => *choice = 0,
            (KeyCode::End | KeyCode::Char('G'), Field::Domain) => *choice = rows - 1,
            (KeyCode::Up | KeyCode::Char('k'), Field::Database) if *db_choice == 0 => {
                *field = Field::Domain;
            }
            (KeyCode::Up | KeyCode::Char('k'), Field::Database) => *db_choice -= 1,
            (KeyCode::Down | KeyCode::Char('j'), Field::Database) => {
                *db_choice = (*db_choice + 1).min(db_rows - 1);
            }
            (KeyCode::Home | KeyCode::Char('g'), Field::Database) => *db_choice = 0,
            (KeyCode::End | KeyCode::Char('G'), Field::Database) => *db_choice = db_rows - 1,
            (_, Field::Name) => {
                name.handle(&key);
            }
            (_, Field::Domain | Field::Database) => {}
        }
    }

    /// A key while the delete confirmation is open.
    fn delete_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                if let Some(Popup::Delete { id, name, .. }) = self.popup.take() {
                    self.delete(id, &name, ctx);
                }
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                self.popup = None;
                ctx.status(Level::Info, "nothing deleted");
            }
            _ => {}
        }
    }
}

impl Screen for SnapshotsScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Snapshots
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        view::draw(self, frame, area, ctx);
    }

    fn command(&mut self, id: Cmd, ctx: &mut Ctx) -> bool {
        let handled = self.command_inner(id, ctx);
        if handled {
            self.want_db_info(ctx);
        }
        handled
    }

    fn captures_input(&self) -> bool {
        self.popup.is_some()
    }

    fn hints(&self) -> Option<Vec<Hint>> {
        Some(self.pane_hints())
    }

    fn mouse(&mut self, ev: MouseEvent, _area: Rect, _ctx: &mut Ctx) -> bool {
        self.mouse_event(ev)
    }

    fn input_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        match self.popup {
            Some(Popup::Create { .. }) => self.create_key(key, ctx),
            Some(Popup::Delete { .. }) => self.delete_key(key, ctx),
            Some(Popup::Tables(_)) => self.tables_key(key, ctx),
            Some(Popup::Report { .. }) => {
                if matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) {
                    self.popup = None;
                }
            }
            None => return false,
        }
        true
    }

    fn on_reply(&mut self, reply: Payload, _ctx: &mut Ctx) -> bool {
        match reply.downcast::<SnapshotsReply>() {
            Ok(reply) => self.on_worker(&reply),
            Err(_) => false,
        }
    }

    fn on_job(&mut self, ev: &JobEvent, ctx: &mut Ctx) -> bool {
        match ev {
            JobEvent::Finished { id, outcome } if self.create_job.is_some_and(|r| r.job == *id) => {
                self.create_job = None;
                self.reload();
                if let (Outcome::Done(_), Some(new)) = (outcome, self.created.take()) {
                    self.select_id(new);
                }
                self.want_db_info(ctx);
                true
            }
            JobEvent::Finished { id, outcome } if self.diff_job.is_some_and(|r| r.job == *id) => {
                self.diff_finished(outcome, ctx);
                true
            }
            JobEvent::Finished { id, outcome } if self.verify_job.is_some_and(|r| r.job == *id) => {
                self.verify_job = None;
                match (outcome, self.verified.take()) {
                    (Outcome::Done(summary), Some((title, text))) => {
                        ctx.status(Level::Info, summary.clone());
                        self.popup = Some(Popup::Report { title, text });
                    }
                    (Outcome::Failed(e), _) => {
                        ctx.status(Level::Error, format!("verify: {e}"));
                    }
                    _ => {}
                }
                true
            }
            _ => false,
        }
    }

    fn on_show(&mut self, ctx: &mut Ctx) {
        // Snapshots may have been taken or deleted from the CLI meanwhile.
        self.reload();
        self.want_db_info(ctx);
    }
}

impl SnapshotsScreen {
    fn command_inner(&mut self, id: Cmd, ctx: &mut Ctx) -> bool {
        match id {
            Cmd::SnapshotsCreate => self.open_create(ctx),
            Cmd::SnapshotsDelete => self.ask_delete(ctx),
            Cmd::SnapshotsDiff => self.start_diff(ctx),
            Cmd::SnapshotsMark => self.toggle_mark(ctx),
            Cmd::SnapshotsReload => self.reload(),
            Cmd::SnapshotsTables => self.open_tables(ctx),
            Cmd::SnapshotsVerify => self.start_verify(ctx),
            Cmd::AppBack if self.marked.is_some() => {
                self.marked = None;
                ctx.status(Level::Info, "mark cleared");
            }
            other if other.is_nav() => return self.nav(other),
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod focus_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod dbtools_tests;
