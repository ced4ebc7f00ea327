//! Replace: search and replace over the project's files and a database profile's tables
//! (`engine::replace`), with a preview, apply and undo.
//!
//! `/` edits the pattern and the replacement (Tab between them, Enter searches); `s`
//! cycles the scope (files; files and a database profile; the profile alone), `x` regex,
//! `i` ignore case, `w` whole words. The search runs on a [`Worker`] thread: files with matches stream in
//! as they are found (`engine::replace::preview_with`), a new search cancels the one
//! running (the latest request wins; its generation is checked between files), `ctrl-c`
//! stops it. Matches are listed under a header row per file and per table, showing how
//! many of its matches are ticked; space on a match ticks or unticks it, on a header all
//! of its matches (all ticked: untick all; else tick all). The preview pane shows the
//! selected match's line before and after (a header: its first match). `A` applies what is ticked as a job (after a confirmation;
//! `engine::replace::ops::apply`: originals to the recycle bin, rows in a transaction),
//! `u` undoes the last replace (after a confirmation). `t` switches to the Tasks tab
//! ([`tasks`]: the mass tasks as jobs, their result tables, export).

mod items;
mod search;
mod tasks;
mod view;

use search::{conn, connect, search};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Screen, ScreenId};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Level};
use crate::app::input::LineInput;
use crate::app::listnav::ListNav;
use crate::app::screen::Hint;
use crate::app::worker::{Payload, ReplyTx, Worker};
use crate::engine::db::profile;
use crate::engine::jobs::{JobEvent, JobId, Outcome};
use crate::engine::project::Project;
use crate::engine::replace::files::FilePlan;
use crate::engine::replace::{Plan, Request, ops};

/// Files found so far by the search of generation `gen` (streamed before its answer).
#[derive(Debug)]
pub struct Batch {
    pub gen_: u64,
    pub files: Vec<FilePlan>,
}

/// One row of the results: a file's or a table's header (space on it ticks or unticks all
/// its matches), a match in a file, or a value in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    File(usize),
    /// The rows `start..end` of the plan, all of one table.
    Table {
        start: usize,
        end: usize,
    },
    Hit {
        file: usize,
        hit: usize,
    },
    Row(usize),
}

impl Item {
    fn is_header(self) -> bool {
        matches!(self, Item::File(_) | Item::Table { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Find,
    Replace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Popup {
    Apply { matches: usize },
    Undo,
}

/// Where the search looks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scope {
    files: bool,
    db: Option<String>,
}

impl Scope {
    fn label(&self) -> String {
        match (&self.db, self.files) {
            (None, _) => "files".into(),
            (Some(d), true) => format!("files + database {d}"),
            (Some(d), false) => format!("database {d}"),
        }
    }
}

type Answer = (u64, Result<Plan, String>);

pub struct ReplaceScreen {
    find: LineInput,
    replace: LineInput,
    editing: Option<Field>,
    scope: Scope,
    regex: bool,
    ignore_case: bool,
    word: bool,
    /// What is shown: the streamed files, then the whole plan when the search ends.
    plan: Option<Plan>,
    items: Vec<Item>,
    nav: ListNav,
    page: usize,
    searcher: Worker<(u64, Request), Answer>,
    /// The generation of the newest search; a running search stops when it changes.
    current: Arc<AtomicU64>,
    searching: bool,
    started: Option<Instant>,
    popup: Option<Popup>,
    job: Option<JobId>,
    error: Option<String>,
    /// The Tasks tab is shown (`t`).
    on_tasks: bool,
    tasks: tasks::Tasks,
}

impl ReplaceScreen {
    pub fn new(project: &Project, tx: crate::app::events::EventTx) -> Self {
        let replies = ReplyTx::new(ScreenId::Replace, tx);
        let current = Arc::new(AtomicU64::new(0));
        let (root, cur, stream) = (project.clone(), current.clone(), replies.clone());
        let searcher = Worker::start(
            "replace-search",
            replies,
            || (),
            move |_, (gen_, req): (u64, Request)| (gen_, search(&root, &req, gen_, &cur, &stream)),
        );
        ReplaceScreen {
            find: LineInput::default(),
            replace: LineInput::default(),
            editing: None,
            scope: Scope {
                files: true,
                db: None,
            },
            regex: false,
            ignore_case: false,
            word: false,
            plan: None,
            items: Vec::new(),
            nav: ListNav::default(),
            page: 5,
            searcher,
            current,
            searching: false,
            started: None,
            popup: None,
            job: None,
            error: None,
            on_tasks: false,
            tasks: tasks::Tasks::default(),
        }
    }

    fn request(&self) -> Request {
        Request {
            pattern: self.find.text().to_string(),
            replacement: self.replace.text().to_string(),
            regex: self.regex,
            ignore_case: self.ignore_case,
            word: self.word,
            domain: None,
            files: self.scope.files,
            db: self.scope.db.clone(),
            tables: Vec::new(),
            encoding: None,
            base64: false,
        }
    }

    /// Start a search of what the fields say (cancelling the one running).
    fn start_search(&mut self, ctx: &mut Ctx) {
        if self.find.text().is_empty() {
            ctx.status(Level::Info, "type what to find first (/)");
            return;
        }
        let gen_ = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        let req = self.request();
        self.plan = Some(Plan {
            request: req.clone(),
            files: Default::default(),
            db: None,
        });
        self.items.clear();
        self.nav = ListNav::default();
        self.error = None;
        self.searching = true;
        self.started = Some(Instant::now());
        self.searcher.request((gen_, req));
    }

    fn stop(&mut self, ctx: &mut Ctx) -> bool {
        if !self.searching {
            return false;
        }
        self.current.fetch_add(1, Ordering::SeqCst);
        self.searcher.forget();
        self.searching = false;
        ctx.status(
            Level::Info,
            "search stopped: the matches found so far are shown",
        );
        true
    }

    fn on_batch(&mut self, b: Batch) -> bool {
        if b.gen_ != self.current.load(Ordering::SeqCst) {
            return false;
        }
        let Some(plan) = &mut self.plan else {
            return false;
        };
        plan.files.files.extend(b.files);
        self.rebuild_items();
        true
    }

    fn on_answer(&mut self, (gen_, r): Answer, ctx: &mut Ctx) {
        if gen_ != self.current.load(Ordering::SeqCst) {
            return;
        }
        self.searching = false;
        match r {
            Ok(mut fin) => {
                // keep what was unticked while the files streamed in
                if let Some(old) = &self.plan {
                    for f in &mut fin.files.files {
                        if let Some(o) = old.files.files.iter().find(|o| o.path == f.path) {
                            f.selected = o.selected;
                            f.skip = o.skip.clone();
                        }
                    }
                }
                let ms = self.started.map_or(0, |s| s.elapsed().as_millis());
                let problems =
                    fin.files.problems.len() + fin.db.as_ref().map_or(0, |d| d.problems.len());
                let mut msg = format!(
                    "{} match(es) in {} file(s){}; {} searched in {ms} ms",
                    fin.matches(),
                    fin.files.files.len(),
                    fin.db
                        .as_ref()
                        .map(|d| format!(" and {} value(s)", d.rows.len()))
                        .unwrap_or_default(),
                    fin.files.searched
                );
                if problems > 0 {
                    msg.push_str(&format!(", {problems} left alone"));
                }
                ctx.status(Level::Info, msg);
                self.plan = Some(fin);
                self.rebuild_items();
            }
            Err(e) => {
                ctx.status(Level::Error, e.clone());
                self.error = Some(e);
            }
        }
    }

    fn cycle_scope(&mut self, ctx: &mut Ctx) {
        let profiles: Vec<String> = match ctx
            .project
            .open_store(false)
            .and_then(|s| profile::list(&s))
        {
            Ok(p) => p.into_iter().map(|p| p.name).collect(),
            Err(e) => {
                ctx.status(
                    Level::Error,
                    format!("cannot read database profiles: {e:#}"),
                );
                return;
            }
        };
        // files; files + P1; P1; files + P2; P2; ...
        let mut all = vec![Scope {
            files: true,
            db: None,
        }];
        for p in profiles {
            all.push(Scope {
                files: true,
                db: Some(p.clone()),
            });
            all.push(Scope {
                files: false,
                db: Some(p),
            });
        }
        let at = all.iter().position(|s| *s == self.scope).unwrap_or(0);
        self.scope = all[(at + 1) % all.len()].clone();
        if all.len() == 1 {
            ctx.status(
                Level::Info,
                "only files: add a database profile (devsky db add) to search its tables",
            );
        } else {
            ctx.status(Level::Info, format!("scope: {}", self.scope.label()));
        }
    }

    fn ask_apply(&mut self, ctx: &mut Ctx) {
        if self.job.is_some() {
            ctx.status(Level::Warn, "a replace is running already");
            return;
        }
        if self.searching {
            ctx.status(
                Level::Warn,
                "the search is still running: wait for it, or stop it (ctrl-c)",
            );
            return;
        }
        let n = self.ticked_count();
        if self.plan.is_none() || n == 0 {
            ctx.status(Level::Info, "nothing ticked to replace: search first (/)");
            return;
        }
        self.popup = Some(Popup::Apply { matches: n });
    }

    fn start_apply(&mut self, ctx: &mut Ctx) {
        let Some(plan) = self.plan.clone() else {
            return;
        };
        let project = ctx.project.clone();
        let job = ctx.jobs.spawn_blocking("replace", move |p| {
            p.set(0, None, "replacing");
            let store = project.open_store(false)?;
            let mut db = connect(&project, &store, plan.request.db.as_deref())?;
            let op = ops::apply(&project.root, &plan, conn(&mut db))?;
            for s in &op.skipped {
                p.log(format!("skipped {}: {}", s.place, s.reason));
            }
            Ok(format!(
                "replace {}: {} file(s), {} value(s) changed{}; u undoes it",
                op.id,
                op.files.len(),
                op.rows.len(),
                match op.skipped.len() {
                    0 => String::new(),
                    n => format!(", {n} skipped (see Jobs)"),
                }
            ))
        });
        self.job = Some(job);
        ctx.status(Level::Info, format!("replacing (job #{job})"));
    }

    fn start_undo(&mut self, ctx: &mut Ctx) {
        let project = ctx.project.clone();
        let job = ctx.jobs.spawn_blocking("undo replace", move |p| {
            let op = ops::get(&project.root, None)?;
            let store = project.open_store(false)?;
            let mut db = connect(
                &project,
                &store,
                op.profile.as_deref().filter(|_| !op.rows.is_empty()),
            )?;
            let op = ops::undo(&project.root, Some(op.id), conn(&mut db))?;
            for s in &op.undo_skipped {
                p.log(format!("not undone {}: {}", s.place, s.reason));
            }
            Ok(format!(
                "undid replace {}: {} file(s), {} value(s){}",
                op.id,
                op.files.len(),
                op.rows.len(),
                match op.undo_skipped.len() {
                    0 => String::new(),
                    n => format!("; {n} not undone (see Jobs)"),
                }
            ))
        });
        self.job = Some(job);
        ctx.status(
            Level::Info,
            format!("undoing the last replace (job #{job})"),
        );
    }

    fn edit_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let Some(field) = self.editing else { return };
        match key.code {
            KeyCode::Esc => self.editing = None,
            KeyCode::Enter => {
                self.editing = None;
                self.start_search(ctx);
            }
            KeyCode::Tab | KeyCode::BackTab => {
                self.editing = Some(match field {
                    Field::Find => Field::Replace,
                    Field::Replace => Field::Find,
                })
            }
            _ => {
                let input = match field {
                    Field::Find => &mut self.find,
                    Field::Replace => &mut self.replace,
                };
                input.handle(&key);
            }
        }
    }

    fn popup_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => match self.popup.take() {
                Some(Popup::Apply { .. }) => self.start_apply(ctx),
                Some(Popup::Undo) => self.start_undo(ctx),
                None => {}
            },
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                self.popup = None;
                ctx.status(Level::Info, "nothing changed");
            }
            _ => {}
        }
    }
}

impl Screen for ReplaceScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Replace
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        if self.on_tasks {
            self.tasks.draw(frame, area, ctx);
        } else {
            view::draw(self, frame, area, ctx);
        }
    }

    fn command(&mut self, cmd: Cmd, ctx: &mut Ctx) -> bool {
        if cmd == Cmd::ReplaceTab {
            self.on_tasks = !self.on_tasks;
            return true;
        }
        if self.on_tasks {
            return self.tasks.command(cmd, ctx);
        }
        match cmd {
            Cmd::ReplaceEdit => self.editing = Some(Field::Find),
            Cmd::ReplaceToggle => self.toggle(),
            Cmd::ReplaceScope => self.cycle_scope(ctx),
            Cmd::ReplaceRegex => {
                self.regex = !self.regex;
                ctx.status(
                    Level::Info,
                    format!("regex {}", if self.regex { "on" } else { "off" }),
                );
            }
            Cmd::ReplaceCase => {
                self.ignore_case = !self.ignore_case;
                let on = if self.ignore_case { "on" } else { "off" };
                ctx.status(Level::Info, format!("ignore case {on}"));
            }
            Cmd::ReplaceWord => {
                self.word = !self.word;
                let on = if self.word { "on" } else { "off" };
                ctx.status(Level::Info, format!("whole words {on}"));
            }
            Cmd::ReplaceApply => self.ask_apply(ctx),
            Cmd::ReplaceUndo => {
                if self.job.is_some() {
                    ctx.status(Level::Warn, "a replace is running already");
                } else {
                    self.popup = Some(Popup::Undo);
                }
            }
            Cmd::ReplaceStop => return self.stop(ctx),
            Cmd::NavFocus => self.editing = Some(Field::Find),
            other if other.is_nav() => {
                return self.nav.apply(other, self.items.len(), self.page).is_some();
            }
            _ => return false,
        }
        true
    }

    fn captures_input(&self) -> bool {
        if self.on_tasks {
            return self.tasks.captures_input();
        }
        self.editing.is_some() || self.popup.is_some()
    }

    fn input_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        if self.on_tasks {
            return self.tasks.input_key(key, ctx);
        }
        if self.popup.is_some() {
            self.popup_key(key, ctx);
        } else if self.editing.is_some() {
            self.edit_key(key, ctx);
        } else {
            return false;
        }
        true
    }

    fn on_reply(&mut self, reply: Payload, ctx: &mut Ctx) -> bool {
        match self.searcher.accept(reply) {
            Ok(Some(a)) => {
                self.on_answer(a, ctx);
                true
            }
            Ok(None) => false,
            Err(other) => match other.downcast::<Batch>() {
                Ok(b) => self.on_batch(*b),
                Err(_) => false,
            },
        }
    }

    fn on_job(&mut self, ev: &JobEvent, ctx: &mut Ctx) -> bool {
        if self.tasks.on_job(ev, ctx) {
            return true;
        }
        match ev {
            JobEvent::Finished { id, outcome } if self.job == Some(*id) => {
                self.job = None;
                match outcome {
                    Outcome::Done(s) => {
                        ctx.status(Level::Success, s.clone());
                        // what was shown is stale now
                        self.plan = None;
                        self.items.clear();
                    }
                    Outcome::Failed(e) => ctx.status(Level::Error, e.clone()),
                    Outcome::Cancelled => ctx.status(Level::Warn, "cancelled"),
                }
                true
            }
            _ => false,
        }
    }

    fn hints(&self) -> Option<Vec<Hint>> {
        if self.on_tasks {
            return Some(self.tasks.hints());
        }
        if self.popup.is_some() {
            return None;
        }
        if self.editing.is_some() {
            return Some(vec![
                Hint::Key("enter", "search"),
                Hint::Key("tab", "find/replace"),
                Hint::Key("esc", "to the matches"),
            ]);
        }
        Some(vec![
            Hint::Cmd(Cmd::ReplaceEdit, "find"),
            Hint::Cmd(Cmd::ReplaceToggle, "tick"),
            Hint::Cmd(Cmd::ReplaceApply, "apply"),
            Hint::Cmd(Cmd::ReplaceUndo, "undo"),
            Hint::Cmd(Cmd::ReplaceScope, "scope"),
            Hint::Cmd(Cmd::ReplaceTab, "tasks"),
        ])
    }
}

#[cfg(test)]
mod tests;
