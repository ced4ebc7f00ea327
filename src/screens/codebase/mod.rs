//! The Codebase browser: a virtualized list of every record (or of search hits), a
//! search box with results as you type, a highlighted preview, jump to id, details, copy.
//!
//! Only the visible rows are read from the store; the list itself is just the ids, so
//! 100,000 records scroll as smoothly as 100. Search and preview run on workers.

pub mod preview;
mod view;
pub mod worker;

use std::collections::HashMap;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use self::preview::Preview;
use self::worker::{WorkerReply, Workers};
use super::{Screen, ScreenId};
use crate::app::context::{Ctx, DrawCtx, Effect, Level};
use crate::app::events::AppEvent;
use crate::app::input::{Change, LineInput};
use crate::engine::codebase::import;
use crate::engine::jobs::{JobEvent, JobId};
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
    search_gen: u64,
    searching: bool,
    search_error: Option<String>,
    input: Option<Input>,
    search_box: LineInput,
    jump_box: LineInput,
    selected: usize,
    offset: usize,
    list_height: usize,
    focus: Focus,
    preview_gen: u64,
    preview: Option<(i64, Option<Summary>, Result<Preview, String>)>,
    preview_scroll: usize,
    preview_height: usize,
    details: bool,
    import_job: Option<JobId>,
    load_error: Option<String>,
    workers: Workers,
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
        let workers = Workers::start(db_path.clone(), syntax, tx);
        let mut s = CodebaseScreen {
            store: None,
            db_path,
            ids: Vec::new(),
            rows: HashMap::new(),
            mode: Mode::Browse,
            results: SearchResults::default(),
            search_gen: 0,
            searching: false,
            search_error: None,
            input: None,
            search_box: LineInput::default(),
            jump_box: LineInput::default(),
            selected: 0,
            offset: 0,
            list_height: 20,
            focus: Focus::List,
            preview_gen: 0,
            preview: None,
            preview_scroll: 0,
            preview_height: 10,
            details: false,
            import_job: None,
            load_error: None,
            workers,
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
                self.load_error = None;
            }
            Err(e) => self.load_error = Some(e.to_string()),
        }
        self.selected = self.selected.min(self.len().saturating_sub(1));
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
        self.id_at(self.selected)
    }

    fn request_preview(&mut self) {
        self.preview_gen += 1;
        self.preview_scroll = 0;
        match self.selected_id() {
            Some(id) => self.workers.preview(self.preview_gen, id),
            None => self.preview = None,
        }
    }

    fn select(&mut self, row: usize) {
        let row = row.min(self.len().saturating_sub(1));
        if row != self.selected || self.preview.as_ref().map(|p| p.0) != self.selected_id() {
            self.selected = row;
            self.request_preview();
        }
    }

    fn start_search(&mut self) {
        let q = self.search_box.text().trim().to_string();
        self.search_gen += 1;
        if q.is_empty() {
            self.searching = false;
            self.search_error = None;
            if self.mode != Mode::Browse {
                self.mode = Mode::Browse;
                self.selected = 0;
                self.request_preview();
            }
        } else {
            self.searching = true;
            self.workers.search(self.search_gen, &q);
        }
    }

    fn clear_search(&mut self) {
        self.search_box.clear();
        self.input = None;
        self.start_search();
    }

    /// Make sure rows `first..first+n` can be drawn: summaries in browse mode, snippets of
    /// hits past the ones the search filled in.
    fn ensure_rows(&mut self, first: usize, n: usize) {
        if let Mode::Search(q) = &self.mode {
            let end = (first + n).min(self.results.hits.len());
            if let (Some(store), true) = (&self.store, first < end) {
                let terms = codebase::query_terms(q);
                for hit in &mut self.results.hits[first..end] {
                    if hit.snippet.is_empty() && !hit.snippet_checked {
                        hit.snippet =
                            codebase::snippet_for(store.conn(), hit.id, &terms).unwrap_or_default();
                        hit.snippet_checked = true;
                    }
                }
            }
            return;
        }
        if self.ids.is_empty() {
            return;
        }
        let end = (first + n).min(self.ids.len());
        if first >= end
            || self.ids[first..end]
                .iter()
                .all(|id| self.rows.contains_key(id))
        {
            return;
        }
        if self.rows.len() > 20_000 {
            self.rows.clear();
        }
        let Some(store) = &self.store else { return };
        if let Ok(rows) =
            codebase::summaries_between(store.conn(), self.ids[first], self.ids[end - 1])
        {
            self.rows.extend(rows.into_iter().map(|r| (r.id, r)));
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
                    self.mode = Mode::Browse;
                }
                self.selected = usize::MAX;
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

    /// A search or preview worker answered; stale answers are dropped.
    fn on_reply(&mut self, reply: &WorkerReply) -> bool {
        match reply {
            WorkerReply::Search {
                generation,
                query,
                result,
            } => {
                if *generation != self.search_gen {
                    return false; // stale: a newer search is on its way
                }
                self.searching = false;
                match result {
                    Ok(res) => {
                        self.results = res.clone();
                        self.search_error = None;
                        self.mode = Mode::Search(query.clone());
                        self.selected = usize::MAX;
                        self.select(0);
                    }
                    Err(e) => self.search_error = Some(e.clone()),
                }
                true
            }
            WorkerReply::Preview {
                generation,
                id,
                summary,
                preview,
            } => {
                if *generation != self.preview_gen {
                    return false;
                }
                self.preview = Some((*id, summary.clone(), preview.clone()));
                true
            }
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

    fn nav(&mut self, id: &str) -> bool {
        let page = self.list_height.max(1) as isize;
        if self.focus == Focus::Preview {
            let ph = self.preview_height.max(1) as isize;
            match id {
                "nav.down" => self.scroll_preview(1),
                "nav.up" => self.scroll_preview(-1),
                "nav.page_down" => self.scroll_preview(ph),
                "nav.page_up" => self.scroll_preview(-ph),
                "nav.top" => self.preview_scroll = 0,
                "nav.bottom" => self.scroll_preview(isize::MAX / 2),
                _ => return false,
            }
            return true;
        }
        let cur = self.selected as isize;
        let target = match id {
            "nav.down" => cur + 1,
            "nav.up" => cur - 1,
            "nav.page_down" => cur + page,
            "nav.page_up" => cur - page,
            "nav.top" => 0,
            "nav.bottom" => self.len() as isize - 1,
            _ => return false,
        };
        self.select(target.max(0) as usize);
        true
    }
}

impl Screen for CodebaseScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Codebase
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        view::draw(self, frame, area, ctx);
    }

    fn command(&mut self, id: &str, ctx: &mut Ctx) -> bool {
        match id {
            "codebase.search" => {
                self.input = Some(Input::Search);
                self.focus = Focus::List;
                self.details = false;
            }
            "codebase.jump" => {
                self.jump_box.clear();
                self.input = Some(Input::Jump);
            }
            "codebase.details" => self.details = !self.details && self.selected_id().is_some(),
            "codebase.copy_name" => self.copy(false, ctx),
            "codebase.copy_body" => self.copy(true, ctx),
            "codebase.import" => self.start_import(ctx),
            "codebase.clear" => self.clear_search(),
            "nav.focus" => {
                self.focus = if self.focus == Focus::List {
                    Focus::Preview
                } else {
                    Focus::List
                };
            }
            "app.back" if self.details => self.details = false,
            "app.back" if self.mode != Mode::Browse => self.clear_search(),
            "app.back" if self.focus == Focus::Preview => self.focus = Focus::List,
            other if other.starts_with("nav.") => return self.nav(other),
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
            (Input::Search, KeyCode::Down) => return self.nav("nav.down"),
            (Input::Search, KeyCode::Up) => return self.nav("nav.up"),
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

    fn on_event(&mut self, ev: &AppEvent, ctx: &mut Ctx) -> bool {
        if let AppEvent::Codebase(reply) = ev {
            return self.on_reply(reply);
        }
        match ev {
            AppEvent::Job(JobEvent::Finished { id, outcome }) if Some(*id) == self.import_job => {
                self.import_job = None;
                self.reload();
                if let crate::engine::jobs::Outcome::Done(summary) = outcome {
                    ctx.status(Level::Success, format!("import: {summary}"));
                }
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
