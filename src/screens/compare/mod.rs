//! Compare: the changes of a [`ChangeSet`] (two snapshots, a snapshot and the working tree,
//! two files) as a file list and the diff of the selected file — unified or side by side,
//! changed words marked, unchanged regions collapsed, hunk navigation, binary and huge
//! files summarized. Loading and diffing run on a worker; only drawing happens here.

mod fit;
mod view;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::Rect;

use self::worker::{Body, CompareReply, DiffWorker, Prepared, TextView};
use super::{Screen, ScreenId};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Effect, Level};
use crate::app::events::EventTx;
use crate::app::input::LineInput;
use crate::app::listnav::ListNav;
use crate::app::mouse;
use crate::app::screen::Hint;
use crate::app::worker::Payload;
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
/// Columns `h`/`l` scroll sideways.
const SIDEWAYS: usize = 8;

pub struct CompareScreen {
    set: Option<Arc<ChangeSet>>,
    list: ListNav,
    list_height: usize,
    focus: Focus,
    show_list: bool,
    side_by_side: bool,
    expanded: bool,
    /// Long lines wrap (instead of showing a window of them).
    wrap: bool,
    /// Sideways scroll (columns); `None`: each line that does not fit starts at its first
    /// change.
    hscroll: Option<usize>,
    /// The worker's answer for change `.0` of the current set.
    current: Option<(usize, Result<Arc<Prepared>, String>)>,
    lines: Vec<DLine>,
    /// Position of each hunk header in `lines`.
    hunk_pos: Vec<usize>,
    scroll: usize,
    diff_height: usize,
    /// Columns inside the diff pane, as last drawn.
    diff_width: usize,
    /// The insides of the file list (none when hidden) and of the diff, as last drawn.
    list_area: Rect,
    diff_area: Rect,
    /// The "old path  new path" prompt, while open.
    input: Option<LineInput>,
    /// Paths typed at the prompt, for the patch header.
    pair_labels: Option<(String, String)>,
    worker: DiffWorker,
}

impl CompareScreen {
    pub fn new(
        _project: &Project,
        syntax: Option<syntect::highlighting::Theme>,
        tx: EventTx,
    ) -> Self {
        CompareScreen {
            set: None,
            list: ListNav::default(),
            list_height: 10,
            focus: Focus::List,
            show_list: true,
            side_by_side: false,
            expanded: false,
            wrap: false,
            hscroll: None,
            current: None,
            lines: Vec::new(),
            hunk_pos: Vec::new(),
            scroll: 0,
            diff_height: 10,
            diff_width: 80,
            list_area: Rect::default(),
            diff_area: Rect::default(),
            input: None,
            pair_labels: None,
            worker: worker::start(syntax, tx),
        }
    }

    /// Show a new set of changes, its first file selected.
    fn show(&mut self, set: Arc<ChangeSet>) {
        self.set = Some(set);
        self.list = ListNav {
            selected: usize::MAX,
            offset: 0,
        };
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
        self.set.as_ref()?.changes.get(self.list.selected)
    }

    fn select(&mut self, row: usize) {
        let row = row.min(self.len().saturating_sub(1));
        if row == self.list.selected {
            return;
        }
        self.list.selected = row;
        self.current = None;
        self.lines.clear();
        self.hunk_pos.clear();
        self.scroll = 0;
        if let Some(set) = &self.set
            && row < set.changes.len()
        {
            self.worker.request((set.clone(), row));
        } else {
            self.worker.forget();
        }
    }

    /// What the worker made of the selected file, once loaded.
    fn prepared(&self) -> Option<&Prepared> {
        match &self.current {
            Some((i, Ok(p))) if *i == self.list.selected => Some(p),
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
        if self.wrap {
            // Wrapped lines take more rows than one: the last one may be at the top.
            return self.lines.len().saturating_sub(1);
        }
        self.lines.len().saturating_sub(self.diff_height.max(1))
    }

    /// Half the text columns of the diff (of one side, side by side): the step of `zh`/`zl`.
    fn half_screen(&self) -> usize {
        let cols = if self.side_by_side {
            self.diff_width / 2
        } else {
            self.diff_width
        };
        (cols / 2).max(1)
    }

    /// `h`/`l` (a step of [`SIDEWAYS`]), `zh`/`zl` (half a screen): sideways; left of
    /// column 0 is back to "each line starts at its first change".
    fn scroll_sideways(&mut self, right: bool, step: usize, ctx: &mut Ctx) {
        if self.wrap {
            ctx.status(
                Level::Info,
                "long lines wrap: nothing to scroll sideways (w)",
            );
            return;
        }
        self.hscroll = match (self.hscroll, right) {
            (None, true) => Some(step),
            (Some(n), true) => Some(n.saturating_add(step)),
            (Some(n), false) if n > step => Some(n - step),
            (_, false) => None,
        };
        match self.hscroll {
            Some(n) => ctx.status(Level::Info, format!("from column {}", n + 1)),
            None => ctx.status(Level::Info, "each long line starts at its first change"),
        }
    }

    fn clamp_scroll(&mut self) {
        self.scroll = self.scroll.min(self.max_scroll());
    }

    /// The worker's current answer (stale ones were dropped by the worker's tickets).
    fn on_diff(&mut self, reply: CompareReply) -> bool {
        if reply.index != self.list.selected {
            return false;
        }
        self.current = Some((reply.index, reply.result));
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

    fn nav(&mut self, id: Cmd) -> bool {
        if self.focus == Focus::Diff || !self.show_list {
            let page = self.diff_height.max(1) as isize;
            match id {
                Cmd::NavDown => self.scroll_by(1),
                Cmd::NavUp => self.scroll_by(-1),
                Cmd::NavPageDown => self.scroll_by(page),
                Cmd::NavPageUp => self.scroll_by(-page),
                Cmd::NavTop => self.scroll = 0,
                Cmd::NavBottom => self.scroll = self.max_scroll(),
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

    fn command(&mut self, id: Cmd, ctx: &mut Ctx) -> bool {
        match id {
            Cmd::CompareOpen => self.input = Some(LineInput::default()),
            Cmd::CompareToggleView => {
                self.side_by_side = !self.side_by_side;
                self.rebuild();
            }
            Cmd::CompareExpand => {
                self.expanded = !self.expanded;
                self.rebuild();
            }
            Cmd::CompareNextHunk => self.jump_hunk(true, ctx),
            Cmd::ComparePrevHunk => self.jump_hunk(false, ctx),
            Cmd::CompareToggleList => {
                self.show_list = !self.show_list;
                self.focus = if self.show_list {
                    Focus::List
                } else {
                    Focus::Diff
                };
            }
            Cmd::CompareCopyPatch => self.copy_patch(ctx),
            Cmd::CompareLeft => self.scroll_sideways(false, SIDEWAYS, ctx),
            Cmd::CompareRight => self.scroll_sideways(true, SIDEWAYS, ctx),
            Cmd::CompareHalfLeft => self.scroll_sideways(false, self.half_screen(), ctx),
            Cmd::CompareHalfRight => self.scroll_sideways(true, self.half_screen(), ctx),
            Cmd::CompareWrap => {
                self.wrap = !self.wrap;
                self.clamp_scroll();
                let how = if self.wrap {
                    "long lines wrap"
                } else {
                    "long lines are cut (h/l scroll sideways)"
                };
                ctx.status(Level::Info, how);
            }
            Cmd::NavFocus if self.show_list => {
                self.focus = if self.focus == Focus::List {
                    Focus::Diff
                } else {
                    Focus::List
                };
            }
            Cmd::AppBack if self.focus == Focus::Diff && self.show_list => self.focus = Focus::List,
            other if other.is_nav() => return self.nav(other),
            _ => return false,
        }
        true
    }

    fn captures_input(&self) -> bool {
        self.input.is_some()
    }

    /// A click on a file selects it and gives the list the keys; on the diff, gives the
    /// diff the keys; the wheel over the diff scrolls it.
    fn mouse(&mut self, ev: MouseEvent, _area: Rect, _ctx: &mut Ctx) -> bool {
        if self.input.is_some() {
            return false;
        }
        if let Some(row) = mouse::clicked_row(&ev, self.list_area) {
            self.focus = Focus::List;
            let mut nav = self.list;
            if nav.click(row, self.len()) {
                self.select(nav.selected);
            }
            return true;
        }
        if mouse::clicked_row(&ev, self.diff_area).is_some() {
            self.focus = Focus::Diff;
            return true;
        }
        if mouse::inside(&ev, self.diff_area) {
            match ev.kind {
                MouseEventKind::ScrollDown => self.scroll_by(3),
                MouseEventKind::ScrollUp => self.scroll_by(-3),
                _ => return false,
            }
            return true;
        }
        false
    }

    fn hints(&self) -> Option<Vec<Hint>> {
        if self.set.is_none() || self.input.is_some() {
            return None;
        }
        let mut h = if self.focus == Focus::Diff || !self.show_list {
            vec![
                Hint::Cmd(Cmd::CompareNextHunk, "next change"),
                Hint::Cmd(Cmd::CompareRight, "sideways"),
                Hint::Cmd(Cmd::CompareWrap, "wrap"),
            ]
        } else {
            vec![
                Hint::Cmd(Cmd::CompareOpen, "open"),
                Hint::Cmd(Cmd::CompareToggleView, "side by side"),
            ]
        };
        if self.show_list {
            let other = if self.focus == Focus::List {
                "diff"
            } else {
                "files"
            };
            h.push(Hint::Cmd(Cmd::NavFocus, other));
        }
        Some(h)
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

    /// The diff worker's answer, or a set of changes to show (sent by the shell for
    /// [`Effect::ShowChanges`]).
    fn on_reply(&mut self, reply: Payload, ctx: &mut Ctx) -> bool {
        let reply = match self.worker.accept(reply) {
            Ok(Some(diff)) => return self.on_diff(diff),
            Ok(None) => return false, // stale: the selection moved on
            Err(other) => other,
        };
        match reply.downcast::<Arc<ChangeSet>>() {
            Ok(set) => {
                self.pair_labels = None;
                self.input = None;
                self.show(*set);
                ctx.effects.push(Effect::Switch(ScreenId::Compare));
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod input_tests;
#[cfg(test)]
mod tests;
