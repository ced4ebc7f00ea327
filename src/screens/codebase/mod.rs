//! The Codebase browser: a virtualized list of every record (or of search hits), a
//! search box with results as you type, a highlighted preview, jump to id, details, copy.
//!
//! Only the visible rows are read from the store; the list itself is just the ids, so
//! 100,000 records scroll as smoothly as 100. Search, preview and the rows of the list
//! are read by workers: drawing never touches the store.

mod claims;
pub mod preview;
mod view;
pub mod worker;

use std::collections::HashMap;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::Rect;

use self::preview::Preview;
use self::worker::{RowsReply, RowsRequest, Workers};
use super::{Screen, ScreenId};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Effect, Level};
use crate::app::input::{Change, LineInput};
use crate::app::listnav::ListNav;
use crate::app::mouse;
use crate::app::widgets::pane_inner;
use crate::app::worker::Payload;
use crate::engine::codebase::import;
use crate::engine::jobs::{JobEvent, JobId, Outcome};
use crate::engine::project::Project;
use crate::store::Store;
use crate::store::codebase::{self, Body, SearchResults, Summary};

/// Which text field has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Search,
    Jump,
}

/// Which pane moves with the navigation keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Focus {
    List,
    Preview,
}

/// What the list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Browse,
    /// Hits of this query (the box may already hold a newer one).
    Search(String),
}

pub struct CodebaseScreen {
    store: Option<Store>,
    db_path: PathBuf,
    ids: Vec<i64>,
    rows: HashMap<i64, Summary>,
    mode: Mode,
    results: SearchResults,
    searching: bool,
    search_error: Option<String>,
    input: Option<Input>,
    search_box: LineInput,
    jump_box: LineInput,
    list: ListNav,
    list_height: usize,
    focus: Focus,
    /// The rows asked of the rows worker and not answered yet.
    rows_asked: Option<RowsRequest>,
    preview: Option<(i64, Option<Summary>, Result<Preview, String>)>,
    preview_scroll: usize,
    /// Where the list and the preview were last drawn (with their borders), for the mouse.
    panes: (Rect, Rect),
    preview_height: usize,
    details: bool,
    import_job: Option<JobId>,
    load_error: Option<String>,
    workers: Workers,
    claims: claims::Claims,
}

impl CodebaseScreen {
    pub fn new(
        project: &Project,
        syntax: Option<syntect::highlighting::Theme>,
        tx: crate::app::events::EventTx,
    ) -> Self {
        let db_path = project
            .root
            .join(crate::store::STATE_DIR)
            .join(crate::store::DB_FILE);
        let workers = worker::start(db_path.clone(), syntax, tx.clone());
        let mut s = CodebaseScreen {
            store: None,
            db_path,
            ids: Vec::new(),
            rows: HashMap::new(),
            mode: Mode::Browse,
            results: SearchResults::default(),
            searching: false,
            search_error: None,
            input: None,
            search_box: LineInput::default(),
            jump_box: LineInput::default(),
            list: ListNav::default(),
            list_height: 20,
            focus: Focus::List,
            rows_asked: None,
            preview: None,
            preview_scroll: 0,
            panes: (Rect::default(), Rect::default()),
            preview_height: 10,
            details: false,
            import_job: None,
            load_error: None,
            workers,
            claims: claims::Claims::start(project.root.clone(), tx.clone()),
        };
        s.reload();
        s
    }

    /// Re-read the list of ids (after an import, say).
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
        match codebase::all_ids(store.conn()) {
            Ok(ids) => {
                self.ids = ids;
                self.rows.clear();
                self.rows_asked = None;
                self.load_error = None;
            }
            Err(e) => self.load_error = Some(e.to_string()),
        }
        self.list.clamp(self.len());
        self.request_preview();
    }

    /// Number of rows in the list.
    fn len(&self) -> usize {
        match self.mode {
            Mode::Browse => self.ids.len(),
            Mode::Search(_) => self.results.hits.len(),
        }
    }

    /// The record id of a row.
    fn id_at(&self, row: usize) -> Option<i64> {
        match self.mode {
            Mode::Browse => self.ids.get(row).copied(),
            Mode::Search(_) => self.results.hits.get(row).map(|h| h.id),
        }
    }

    fn selected_id(&self) -> Option<i64> {
        self.id_at(self.list.selected)
    }

    fn request_preview(&mut self) {
        self.preview_scroll = 0;
        match self.selected_id() {
            Some(id) => {
                self.workers.preview.request(id);
            }
            None => {
                self.workers.preview.forget();
                self.preview = None;
            }
        }
    }

    fn select(&mut self, row: usize) {
        let row = row.min(self.len().saturating_sub(1));
        if row != self.list.selected || self.preview.as_ref().map(|p| p.0) != self.selected_id() {
            self.list.selected = row;
            self.request_preview();
        }
    }

    fn start_search(&mut self) {
        let q = self.search_box.text().trim().to_string();
        if q.is_empty() {
            self.workers.search.forget();
            self.searching = false;
            self.search_error = None;
            if self.mode != Mode::Browse {
                self.set_mode(Mode::Browse);
                self.list.selected = 0;
                self.request_preview();
            }
        } else {
            self.searching = true;
            self.workers.search.request(q);
        }
    }

    fn clear_search(&mut self) {
        self.search_box.clear();
        self.input = None;
        self.start_search();
    }

    /// What the list shows changes: rows asked for the old list are not wanted.
    fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        self.rows_asked = None;
        self.workers.rows.forget();
    }

    /// Make sure rows `first..first+n` will be drawable: ask the rows worker for the
    /// summaries (browsing) or snippets (searching) not read yet. Never reads the store.
    fn ensure_rows(&mut self, first: usize, n: usize) {
        let req = match &self.mode {
            Mode::Search(q) => {
                let end = (first + n).min(self.results.hits.len());
                let ids: Vec<i64> = self.results.hits[first.min(end)..end]
                    .iter()
                    .filter(|h| h.snippet.is_empty() && !h.snippet_checked)
                    .map(|h| h.id)
                    .collect();
                if ids.is_empty() {
                    return;
                }
                RowsRequest::Snippets {
                    query: q.clone(),
                    ids,
                }
            }
            Mode::Browse => {
                let end = (first + n).min(self.ids.len());
                if first >= end
                    || self.ids[first..end]
                        .iter()
                        .all(|id| self.rows.contains_key(id))
                {
                    return;
                }
                RowsRequest::Summaries {
                    first: self.ids[first],
                    last: self.ids[end - 1],
                }
            }
        };
        if self.rows_asked.as_ref() != Some(&req) {
            self.rows_asked = Some(req.clone());
            self.workers.rows.request(req);
        }
    }

    /// The rows worker answered (only its current answer gets here).
    fn on_rows(&mut self, reply: RowsReply) {
        self.rows_asked = None;
        match reply {
            RowsReply::Summaries(Ok(rows)) => {
                if self.rows.len() > 20_000 {
                    self.rows.clear();
                }
                self.rows.extend(rows.into_iter().map(|r| (r.id, r)));
            }
            RowsReply::Summaries(Err(e)) => self.load_error = Some(e),
            RowsReply::Snippets { query, snippets } => {
                if self.mode != Mode::Search(query) {
                    return;
                }
                for (id, text) in snippets {
                    if let Some(hit) = self.results.hits.iter_mut().find(|h| h.id == id) {
                        hit.snippet = text;
                        hit.snippet_checked = true;
                    }
                }
            }
        }
    }

    fn jump(&mut self, ctx: &mut Ctx) {
        let text = self
            .jump_box
            .text()
            .trim()
            .trim_start_matches('#')
            .to_string();
        self.input = None;
        let Ok(id) = text.parse::<i64>() else {
            ctx.status(
                Level::Error,
                format!("{text:?} is not a record id (a number like 50012)"),
            );
            return;
        };
        if let Mode::Search(_) = self.mode
            && let Some(row) = self.results.hits.iter().position(|h| h.id == id)
        {
            self.select(row);
            return;
        }
        match self.ids.binary_search(&id) {
            Ok(row) => {
                if self.mode != Mode::Browse {
                    self.search_box.clear();
                    self.set_mode(Mode::Browse);
                }
                self.list.selected = usize::MAX;
                self.select(row);
            }
            Err(_) => ctx.status(Level::Error, format!("no record #{id}")),
        }
    }

    fn copy(&mut self, body: bool, ctx: &mut Ctx) {
        let Some(id) = self.selected_id() else { return };
        let Some(store) = &self.store else { return };
        match codebase::get(store.conn(), id) {
            Ok(Some(rec)) if !body => ctx.effects.push(Effect::Copy {
                label: format!("name of #{id}"),
                text: rec.name,
            }),
            Ok(Some(rec)) => match rec.body {
                Body::Text(text) => ctx.effects.push(Effect::Copy {
                    label: format!("body of #{id}"),
                    text,
                }),
                Body::Binary(_) => ctx.status(Level::Warn, "binary body: not copied"),
            },
            Ok(None) => ctx.status(Level::Error, format!("record #{id} is gone")),
            Err(e) => ctx.status(Level::Error, e.to_string()),
        }
    }

    fn start_import(&mut self, ctx: &mut Ctx) {
        if self.import_job.is_some() {
            ctx.status(Level::Warn, "an import is already running (see Jobs)");
            return;
        }
        let project = ctx.project.clone();
        let db = self.db_path.clone();
        let id = ctx.jobs.spawn_blocking("import", move |p| {
            let mut store = Store::open(&db, false)?;
            let who = import::author(&store);
            let report = import::import(
                &project,
                &mut store,
                std::slice::from_ref(&project.root),
                &who,
                p,
            )?;
            Ok(report.summary())
        });
        self.import_job = Some(id);
        ctx.status(
            Level::Info,
            "importing the project's files (job #".to_string() + &id.to_string() + ")",
        );
    }

    /// One of the workers answered; stale answers were dropped by [`Worker::accept`].
    ///
    /// [`Worker::accept`]: crate::app::worker::Worker::accept
    fn on_worker(&mut self, reply: Payload, ctx: &mut Ctx) -> bool {
        let reply = match self.claims.accept(reply, ctx) {
            Ok(changed) => return changed,
            Err(other) => other,
        };
        let reply = match self.workers.search.accept(reply) {
            Ok(Some((query, result))) => {
                self.searching = false;
                match result {
                    Ok(res) => {
                        self.results = res;
                        self.search_error = None;
                        self.set_mode(Mode::Search(query));
                        self.list.selected = usize::MAX;
                        self.select(0);
                    }
                    Err(e) => self.search_error = Some(e),
                }
                return true;
            }
            Ok(None) => return false, // stale: a newer search is on its way
            Err(other) => other,
        };
        let reply = match self.workers.preview.accept(reply) {
            Ok(Some(p)) => {
                self.preview = Some(p);
                return true;
            }
            Ok(None) => return false,
            Err(other) => other,
        };
        match self.workers.rows.accept(reply) {
            Ok(Some(rows)) => {
                self.on_rows(rows);
                true
            }
            _ => false,
        }
    }

    fn scroll_preview(&mut self, delta: isize) {
        let total = self
            .preview
            .as_ref()
            .and_then(|p| p.2.as_ref().ok())
            .map_or(0, |p| p.lines.len());
        let max = total.saturating_sub(self.preview_height.max(1));
        self.preview_scroll =
            (self.preview_scroll as isize + delta).clamp(0, max as isize) as usize;
    }

    fn nav(&mut self, id: Cmd) -> bool {
        if self.focus == Focus::Preview {
            let ph = self.preview_height.max(1) as isize;
            match id {
                Cmd::NavDown => self.scroll_preview(1),
                Cmd::NavUp => self.scroll_preview(-1),
                Cmd::NavPageDown => self.scroll_preview(ph),
                Cmd::NavPageUp => self.scroll_preview(-ph),
                Cmd::NavTop => self.preview_scroll = 0,
                Cmd::NavBottom => self.scroll_preview(isize::MAX / 2),
                _ => return false,
            }
            return true;
        }
        match self.list.target(id, self.len(), self.list_height) {
            Some(row) => {
                self.select(row);
                true
            }
            None => false,
        }
    }
}

impl CodebaseScreen {
    /// The mouse: a click on a row selects it and focuses the list, a click on the
    /// preview focuses it; the wheel scrolls the pane it is over (three rows a notch).
    fn mouse_event(&mut self, ev: MouseEvent) -> bool {
        let (list, preview) = self.panes;
        let (on_list, on_preview) = (mouse::inside(&ev, list), mouse::inside(&ev, preview));
        match ev.kind {
            MouseEventKind::Down(MouseButton::Left) if on_list => {
                self.focus = Focus::List;
                // Inside the border: the first row is one below the pane's top.
                let mut nav = self.list;
                if let Some(row) = mouse::clicked_row(&ev, pane_inner(list))
                    && nav.click(row, self.len())
                {
                    self.select(nav.selected);
                }
                true
            }
            MouseEventKind::Down(MouseButton::Left) if on_preview => {
                self.focus = Focus::Preview;
                true
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp if on_preview => {
                let d = if ev.kind == MouseEventKind::ScrollDown {
                    3
                } else {
                    -3
                };
                self.scroll_preview(d);
                true
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp if on_list => {
                let cur = self.list.selected as isize;
                let d = if ev.kind == MouseEventKind::ScrollDown {
                    3
                } else {
                    -3
                };
                self.select((cur + d).max(0) as usize);
                true
            }
            _ => false,
        }
    }
}

impl Screen for CodebaseScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Codebase
    }

    fn mouse(&mut self, ev: MouseEvent, _area: Rect, _ctx: &mut Ctx) -> bool {
        self.mouse_event(ev)
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        view::draw(self, frame, area, ctx);
    }

    fn command(&mut self, id: Cmd, ctx: &mut Ctx) -> bool {
        match id {
            Cmd::CodebaseSearch => {
                self.input = Some(Input::Search);
                self.focus = Focus::List;
                self.details = false;
            }
            Cmd::CodebaseJump => {
                self.jump_box.clear();
                self.input = Some(Input::Jump);
            }
            Cmd::CodebaseDetails => self.details = !self.details && self.selected_id().is_some(),
            Cmd::CodebaseCopyName => self.copy(false, ctx),
            Cmd::CodebaseCopyBody => self.copy(true, ctx),
            Cmd::CodebaseImport => self.start_import(ctx),
            Cmd::CodebaseClear => self.clear_search(),
            Cmd::CodebaseClaim => {
                let sel = self
                    .selected_record()
                    .map(|(id, n, p)| (crate::engine::registry::claim_key(id, &n), p));
                self.claims.toggle(sel, ctx);
            }
            Cmd::CodebaseMark => self.mark(ctx),
            Cmd::NavFocus => {
                self.focus = if self.focus == Focus::List {
                    Focus::Preview
                } else {
                    Focus::List
                };
            }
            Cmd::AppBack if self.details => self.details = false,
            Cmd::AppBack if self.mode != Mode::Browse => self.clear_search(),
            Cmd::AppBack if self.focus == Focus::Preview => self.focus = Focus::List,
            other if other.is_nav() => return self.nav(other),
            _ => return false,
        }
        true
    }

    fn captures_input(&self) -> bool {
        self.input.is_some()
    }

    fn input_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        let Some(which) = self.input else {
            return false;
        };
        match (which, key.code) {
            (Input::Search, KeyCode::Esc) => self.clear_search(),
            (Input::Search, KeyCode::Enter) => self.input = None,
            (Input::Search, KeyCode::Down) => return self.nav(Cmd::NavDown),
            (Input::Search, KeyCode::Up) => return self.nav(Cmd::NavUp),
            (Input::Search, _) => {
                if self.search_box.handle(&key) == Change::Edited {
                    self.start_search();
                }
            }
            (Input::Jump, KeyCode::Esc) => self.input = None,
            (Input::Jump, KeyCode::Enter) => self.jump(ctx),
            (Input::Jump, _) => {
                self.jump_box.handle(&key);
            }
        }
        true
    }

    fn on_reply(&mut self, reply: Payload, ctx: &mut Ctx) -> bool {
        self.on_worker(reply, ctx)
    }

    fn on_job(&mut self, ev: &JobEvent, ctx: &mut Ctx) -> bool {
        match ev {
            JobEvent::Finished { id, outcome } if Some(*id) == self.import_job => {
                self.import_job = None;
                self.reload();
                if let Outcome::Done(summary) = outcome {
                    ctx.status(Level::Success, format!("import: {summary}"));
                }
                true
            }
            _ => false,
        }
    }

    fn on_show(&mut self, _ctx: &mut Ctx) {
        // Records come from other screens (an install) and the CLI; others take and
        // release records while we look elsewhere.
        self.reload();
        self.claims.refresh();
    }
}

#[cfg(test)]
mod tests;
