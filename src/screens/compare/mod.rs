//! Compare: the changes of a [`ChangeSet`] (two snapshots, a snapshot and the working tree,
//! two files) as a file list and the diff of the selected file — unified or side by side,
//! changed words marked, unchanged regions collapsed, hunk navigation, binary and huge
//! files summarized. Loading and diffing run on a worker; only drawing happens here.

mod view;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use self::worker::{Body, CompareReply, Prepared, TextView, Worker};
use super::{Screen, ScreenId};
use crate::app::context::{Ctx, DrawCtx, Effect, Level};
use crate::app::events::{AppEvent, EventTx};
use crate::app::input::LineInput;
use crate::engine::diff::changes::{Change, ChangeKind, ChangeSet, Content};
use crate::engine::project::Project;

/// Which pane moves with the navigation keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Focus {
    List,
    Diff,
}

/// One drawn line of the diff pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DLine {
    /// `@@ -l,n +l,n @@` of hunk i.
    Header(usize),
    /// Gap i, collapsed to one line.
    Collapsed(usize),
    /// Row r of gap i (expanded).
    Gap(usize, usize),
    /// Row r of hunk i (unified view).
    Row(usize, usize),
    /// Entry i of the side-by-side rows.
    Side(usize),
}

/// Lines kept above a hunk header when jumping to it.
const LEAD: usize = 1;

pub struct CompareScreen {
    set: Option<Arc<ChangeSet>>,
    generation: u64,
    selected: usize,
    list_offset: usize,
    list_height: usize,
    focus: Focus,
    show_list: bool,
    side_by_side: bool,
    expanded: bool,
    /// The worker's answer for change `.0` of the current set.
    current: Option<(usize, Result<Arc<Prepared>, String>)>,
    lines: Vec<DLine>,
    /// Position of each hunk header in `lines`.
    hunk_pos: Vec<usize>,
    scroll: usize,
    diff_height: usize,
    /// The "old path  new path" prompt, while open.
    input: Option<LineInput>,
    /// Paths typed at the prompt, for the patch header.
    pair_labels: Option<(String, String)>,
    worker: Worker,
}

impl CompareScreen {
    pub fn new(
        _project: &Project,
        syntax: Option<syntect::highlighting::Theme>,
        tx: EventTx,
    ) -> Self {
        CompareScreen {
            set: None,
            generation: 0,
            selected: 0,
            list_offset: 0,
            list_height: 10,
            focus: Focus::List,
            show_list: true,
            side_by_side: false,
            expanded: false,
            current: None,
            lines: Vec::new(),
            hunk_pos: Vec::new(),
            scroll: 0,
            diff_height: 10,
            input: None,
            pair_labels: None,
            worker: Worker::start(syntax, tx),
        }
    }

    /// Show a new set of changes, its first file selected.
    fn show(&mut self, set: Arc<ChangeSet>) {
        self.set = Some(set);
        self.selected = usize::MAX;
        self.list_offset = 0;
        self.focus = if self.show_list {
            Focus::List
        } else {
            Focus::Diff
        };
        self.select(0);
    }

    fn len(&self) -> usize {
        self.set.as_ref().map_or(0, |s| s.changes.len())
    }

    fn change(&self) -> Option<&Change> {
        self.set.as_ref()?.changes.get(self.selected)
    }

    fn select(&mut self, row: usize) {
        let row = row.min(self.len().saturating_sub(1));
        if row == self.selected {
            return;
        }
        self.selected = row;
        self.generation += 1;
        self.current = None;
        self.lines.clear();
        self.hunk_pos.clear();
        self.scroll = 0;
        if let Some(set) = &self.set
            && row < set.changes.len()
        {
            self.worker.request(self.generation, set.clone(), row);
        }
    }

    /// What the worker made of the selected file, once loaded.
    fn prepared(&self) -> Option<&Prepared> {
        match &self.current {
            Some((i, Ok(p))) if *i == self.selected => Some(p),
            _ => None,
        }
    }

    /// The text diff of the selected file, once loaded.
    fn text(&self) -> Option<&TextView> {
        match &self.prepared()?.body {
            Body::Text(t) => Some(t),
            Body::Summary(_) => None,
        }
    }

    /// Rebuild the drawn lines (after a reply, a view toggle, expand), keeping the hunk
    /// in view where it was.
    fn rebuild(&mut self) {
        let anchor = self
            .hunk_pos
            .iter()
            .rposition(|&p| p <= self.scroll)
            .map(|h| (h, self.scroll - self.hunk_pos[h]));
        let (lines, hunk_pos) = match self.text() {
            Some(t) => layout(t, self.side_by_side, self.expanded),
            None => (Vec::new(), Vec::new()),
        };
        self.lines = lines;
        self.hunk_pos = hunk_pos;
        self.scroll = match anchor {
            Some((h, off)) if h < self.hunk_pos.len() => self.hunk_pos[h] + off,
            _ => 0,
        };
        self.clamp_scroll();
    }

    fn max_scroll(&self) -> usize {
        self.lines.len().saturating_sub(self.diff_height.max(1))
    }

    fn clamp_scroll(&mut self) {
        self.scroll = self.scroll.min(self.max_scroll());
    }

    fn on_reply(&mut self, reply: &CompareReply) -> bool {
        if reply.generation != self.generation || reply.index != self.selected {
            return false; // stale: the selection moved on
        }
        self.current = Some((reply.index, reply.result.clone()));
        self.scroll = 0;
        self.hunk_pos.clear();
        self.rebuild();
        true
    }

    fn jump_hunk(&mut self, forward: bool, ctx: &mut Ctx) {
        let n = self.hunk_pos.len();
        if n == 0 {
            ctx.status(Level::Info, "no changes in this file");
            return;
        }
        let target = if forward {
            self.hunk_pos.iter().position(|&p| p > self.scroll + LEAD)
        } else {
            self.hunk_pos.iter().rposition(|&p| p < self.scroll + LEAD)
        };
        let before = self.scroll;
        if let Some(h) = target {
            self.scroll = self.hunk_pos[h].saturating_sub(LEAD);
            self.clamp_scroll();
        }
        match target {
            Some(h) if self.scroll != before || !forward => {
                ctx.status(Level::Info, format!("change {} of {n}", h + 1))
            }
            _ if forward => ctx.status(Level::Info, "no more changes below"),
            _ => ctx.status(Level::Info, "no changes above"),
        }
    }

    fn copy_patch(&mut self, ctx: &mut Ctx) {
        let Some(t) = self.text() else {
            ctx.status(Level::Warn, "no text diff to copy");
            return;
        };
        if t.patch.is_empty() {
            ctx.status(Level::Info, "the contents are identical: no patch");
            return;
        }
        let mut text = t.patch.clone();
        if let Some((a, b)) = &self.pair_labels {
            let body = text.splitn(3, '\n').nth(2).unwrap_or("").to_string();
            text = format!("--- {a}\n+++ {b}\n{body}");
        }
        let path = self.change().map(|c| c.path.clone()).unwrap_or_default();
        ctx.effects.push(Effect::Copy {
            label: format!("patch of {path}"),
            text,
        });
    }

    /// Compare the two files typed at the prompt.
    fn open_pair(&mut self, ctx: &mut Ctx) {
        let Some(input) = self.input.take() else {
            return;
        };
        match pair_set(input.text(), &ctx.project.root) {
            Ok((set, labels)) => {
                self.pair_labels = Some(labels);
                self.show(Arc::new(set));
            }
            Err(e) => {
                ctx.status(Level::Error, e);
                self.input = Some(input);
            }
        }
    }

    fn scroll_by(&mut self, delta: isize) {
        self.scroll = (self.scroll as isize + delta).clamp(0, self.max_scroll() as isize) as usize;
    }

    fn nav(&mut self, id: &str) -> bool {
        if self.focus == Focus::Diff || !self.show_list {
            let page = self.diff_height.max(1) as isize;
            match id {
                "nav.down" => self.scroll_by(1),
                "nav.up" => self.scroll_by(-1),
                "nav.page_down" => self.scroll_by(page),
                "nav.page_up" => self.scroll_by(-page),
                "nav.top" => self.scroll = 0,
                "nav.bottom" => self.scroll = self.max_scroll(),
                _ => return false,
            }
            return true;
        }
        let page = self.list_height.max(1) as isize;
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

/// The drawn lines of a text diff and where each hunk starts among them.
fn layout(t: &TextView, side_by_side: bool, expanded: bool) -> (Vec<DLine>, Vec<usize>) {
    let d = &t.diff;
    let mut lines = Vec::new();
    let mut hunk_pos = Vec::with_capacity(d.hunks.len());
    let mut side_at = 0;
    let gap = |lines: &mut Vec<DLine>, g: usize| {
        let n = d.gaps.get(g).map_or(0, |g| g.len());
        if n > 0 && expanded {
            lines.extend((0..n).map(|r| DLine::Gap(g, r)));
        } else if n > 0 {
            lines.push(DLine::Collapsed(g));
        }
    };
    for (h, hunk) in d.hunks.iter().enumerate() {
        gap(&mut lines, h);
        hunk_pos.push(lines.len());
        lines.push(DLine::Header(h));
        if side_by_side {
            while side_at < t.side.len() && t.side[side_at].hunk == h {
                lines.push(DLine::Side(side_at));
                side_at += 1;
            }
        } else {
            lines.extend((0..hunk.rows.len()).map(|r| DLine::Row(h, r)));
        }
    }
    gap(&mut lines, d.hunks.len());
    (lines, hunk_pos)
}

/// Split the prompt's text into two paths: at a run of two or more spaces when there is
/// one (so single spaces may sit inside paths), else at whitespace.
fn split_pair(text: &str) -> Option<(String, String)> {
    let text = text.trim();
    if let Some(i) = text.find("  ") {
        let (a, b) = (text[..i].trim(), text[i..].trim());
        return (!a.is_empty() && !b.is_empty()).then(|| (a.to_string(), b.to_string()));
    }
    let parts: Vec<&str> = text.split_whitespace().collect();
    match parts[..] {
        [a, b] => Some((a.to_string(), b.to_string())),
        _ => None,
    }
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode())
}

#[cfg(not(unix))]
fn mode_of(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

/// A one-change set comparing two files (paths relative to `root`, or absolute).
fn pair_set(text: &str, root: &Path) -> Result<(ChangeSet, (String, String)), String> {
    let (a, b) = split_pair(text).ok_or_else(|| {
        "type two paths: old-path  new-path (two spaces between them if a path has spaces)"
            .to_string()
    })?;
    let meta = |p: &str| -> Result<(PathBuf, std::fs::Metadata), String> {
        let path = root.join(p);
        let m = std::fs::metadata(&path).map_err(|e| format!("{p}: {e}"))?;
        if !m.is_file() {
            return Err(format!("{p} is not a file"));
        }
        Ok((path, m))
    };
    let (pa, ma) = meta(&a)?;
    let (pb, mb) = meta(&b)?;
    let change = Change {
        path: b.clone(),
        raw_path: b.as_bytes().to_vec(),
        kind: ChangeKind::Modified,
        old: Content::File(pa),
        new: Content::File(pb),
        old_size: Some(ma.len()),
        new_size: Some(mb.len()),
        old_mode: mode_of(&ma),
        new_mode: mode_of(&mb),
    };
    let set = ChangeSet {
        title: format!("{a} → {b}"),
        old_label: a.clone(),
        new_label: b.clone(),
        changes: vec![change],
        root: root.to_path_buf(),
        partial: false,
    };
    Ok((set, (a, b)))
}

impl Screen for CompareScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Compare
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        view::draw(self, frame, area, ctx);
    }

    fn command(&mut self, id: &str, ctx: &mut Ctx) -> bool {
        match id {
            "compare.open" => self.input = Some(LineInput::default()),
            "compare.toggle_view" => {
                self.side_by_side = !self.side_by_side;
                self.rebuild();
            }
            "compare.expand" => {
                self.expanded = !self.expanded;
                self.rebuild();
            }
            "compare.next_hunk" => self.jump_hunk(true, ctx),
            "compare.prev_hunk" => self.jump_hunk(false, ctx),
            "compare.toggle_list" => {
                self.show_list = !self.show_list;
                self.focus = if self.show_list {
                    Focus::List
                } else {
                    Focus::Diff
                };
            }
            "compare.copy_patch" => self.copy_patch(ctx),
            "nav.focus" if self.show_list => {
                self.focus = if self.focus == Focus::List {
                    Focus::Diff
                } else {
                    Focus::List
                };
            }
            "app.back" if self.focus == Focus::Diff && self.show_list => self.focus = Focus::List,
            other if other.starts_with("nav.") => return self.nav(other),
            _ => return false,
        }
        true
    }

    fn captures_input(&self) -> bool {
        self.input.is_some()
    }

    fn input_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        let Some(input) = &mut self.input else {
            return false;
        };
        match key.code {
            KeyCode::Esc => self.input = None,
            KeyCode::Enter => self.open_pair(ctx),
            _ => {
                input.handle(&key);
            }
        }
        true
    }

    fn on_event(&mut self, ev: &AppEvent, ctx: &mut Ctx) -> bool {
        match ev {
            AppEvent::ShowChanges(set) => {
                self.pair_labels = None;
                self.input = None;
                self.show(set.clone());
                ctx.effects.push(Effect::Switch(ScreenId::Compare));
                true
            }
            AppEvent::Compare(reply) => self.on_reply(reply),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
