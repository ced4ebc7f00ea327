//! Drawing the Compare screen: the prompt/title bar, the file list, the diff (unified or
//! side by side) or a summary, and the how-to shown before anything is compared.

use std::ops::Range;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::fit;
use super::worker::{Body, LineStyles, Prepared, SideInfo, TextView};
use super::{CompareScreen, DLine, Focus};
use crate::app::commands::Cmd;
use crate::app::context::DrawCtx;
use crate::app::theme::Theme;
use crate::app::widgets::{self, fit_left};
use crate::engine::diff::changes::{Change, ChangeKind};
use crate::engine::diff::text::{Kind, Row, RowKind};
use crate::engine::util::units::{human_size, thousands};
use crate::screens::ScreenId;

const PROMPT: &str = "Compare files: ";
const PLACEHOLDER: &str = "old-path  new-path · Enter compares · Esc cancels";

pub fn draw(s: &mut CompareScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let [bar, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    (s.list_area, s.diff_area) = (Rect::default(), Rect::default());
    draw_bar(s, frame, bar, ctx);
    if s.set.is_none() {
        draw_intro(frame, body, ctx);
        return;
    }
    if !s.show_list {
        draw_diff(s, frame, body, ctx);
        return;
    }
    let (list, diff) = if body.width >= 120 {
        let w = (body.width * 35 / 100).min(60);
        let [l, d] = Layout::horizontal([Constraint::Length(w), Constraint::Min(20)]).areas(body);
        (l, d)
    } else {
        let h = (s.len() as u16 + 2).clamp(3, (body.height / 3).max(3));
        let [l, d] = Layout::vertical([Constraint::Length(h), Constraint::Min(3)]).areas(body);
        (l, d)
    };
    draw_list(s, frame, list, ctx);
    draw_diff(s, frame, diff, ctx);
}

fn key(ctx: &DrawCtx, id: Cmd) -> String {
    ctx.keymap.first(id).unwrap_or_else(|| "?".into())
}

fn draw_bar(s: &CompareScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let mut spans = Vec::new();
    if let Some(input) = &s.input {
        spans.push(Span::styled(PROMPT, t.accent));
        spans.push(Span::styled(input.text().to_string(), t.base));
        if input.text().is_empty() {
            spans.push(Span::styled(PLACEHOLDER, t.dim));
        }
        let x = area.x + PROMPT.width() as u16 + input.cursor_column();
        frame.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
    } else if let Some(set) = &s.set {
        let n = set.changes.len();
        spans.push(Span::styled(set.title.clone(), t.accent));
        spans.push(Span::styled(
            format!(" · {} file{}", thousands(n), if n == 1 { "" } else { "s" }),
            t.dim,
        ));
        if set.partial {
            spans.push(Span::styled(
                " · incomplete: some paths could not be read",
                t.warn,
            ));
        }
    } else {
        spans.push(Span::styled(
            format!("{} compare two files", key(ctx, Cmd::CompareOpen)),
            t.dim,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(t.base), area);
}

fn draw_intro(frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let k = |id: Cmd| Span::styled(format!("  {:<6}", key(ctx, id)), t.hint_key);
    let text = |s: String| Span::styled(s, t.base);
    let snapshots = ScreenId::Snapshots.index() + 1;
    let lines = vec![
        Line::from(Span::styled(
            "Compare shows what changed between two files or two snapshots.",
            t.accent,
        )),
        Line::default(),
        Line::from(vec![
            k(Cmd::CompareOpen),
            text("compare two files: old-path  new-path, then Enter".into()),
        ]),
        Line::from(vec![
            Span::raw("        "),
            text("(paths relative to the project root, or absolute)".into()),
        ]),
        Line::from(vec![
            Span::styled(format!("  {snapshots:<6}"), t.hint_key),
            text("snapshots open here from the Snapshots tool".into()),
        ]),
        Line::default(),
        Line::from(Span::styled("Once a comparison is open:", t.dim)),
        Line::from(vec![
            k(Cmd::CompareToggleView),
            text("unified or side-by-side diff".into()),
        ]),
        Line::from(vec![
            Span::styled(
                format!(
                    "  {:<6}",
                    format!(
                        "{} {}",
                        key(ctx, Cmd::CompareNextHunk),
                        key(ctx, Cmd::ComparePrevHunk)
                    )
                ),
                t.hint_key,
            ),
            text("next / previous change".into()),
        ]),
        Line::from(vec![
            k(Cmd::CompareExpand),
            text("expand or collapse the unchanged lines".into()),
        ]),
        Line::from(vec![
            k(Cmd::CompareToggleList),
            text("hide or show the file list".into()),
        ]),
        Line::from(vec![
            k(Cmd::NavFocus),
            text("move between the file list and the diff".into()),
        ]),
        Line::from(vec![
            k(Cmd::CompareCopyPatch),
            text("copy the file's diff as a patch".into()),
        ]),
    ];
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(" Compare ", t.title));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block)
            .style(t.base),
        area,
    );
}

fn letter_style(kind: ChangeKind, t: &Theme) -> Style {
    match kind {
        ChangeKind::Added => t.success,
        ChangeKind::Removed => t.error,
        ChangeKind::Modified => t.warn,
        ChangeKind::ModeChanged | ChangeKind::TypeChanged => t.accent,
    }
}

fn sizes(c: &Change) -> String {
    let h = |n: Option<u64>| n.map_or("?".into(), |n| human_size(n as i64));
    match c.kind {
        ChangeKind::Added => h(c.new_size),
        ChangeKind::Removed => h(c.old_size),
        _ if c.old_size == c.new_size => h(c.new_size),
        _ => format!("{} → {}", h(c.old_size), h(c.new_size)),
    }
}

fn draw_list(s: &mut CompareScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let focused = s.focus == Focus::List;
    let block = widgets::pane(
        widgets::pane_title(format!(" Files · {} ", thousands(s.len())), t),
        focused,
        t,
    );
    let inner = block.inner(area);
    s.list_area = inner;
    frame.render_widget(block, area);
    let h = inner.height as usize;
    s.list_height = h;
    let visible = s.list.scroll_into_view(s.len(), h);
    if focused {
        widgets::focus_cursor(frame, inner, s.list.selected.saturating_sub(visible.start));
    }
    let width = inner.width as usize;
    let mut lines = Vec::with_capacity(h);
    let Some(set) = &s.set else { return };
    if set.changes.is_empty() {
        lines.push(Line::from(Span::styled("No differences.", t.dim)));
    }
    for (i, c) in set.changes.iter().enumerate().skip(visible.start).take(h) {
        let sel = i == s.list.selected;
        let size = sizes(c);
        let path_w = width.saturating_sub(2 + size.width() + 1);
        let path = fit_left(&c.path, path_w);
        let pad = path_w.saturating_sub(path.width());
        let (base, dim) = if sel {
            (t.selected, t.selected)
        } else {
            (t.base, t.dim)
        };
        let letter = if sel {
            t.selected
        } else {
            letter_style(c.kind, t)
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", c.kind.letter()), letter),
            Span::styled(path, base),
            Span::styled(format!("{:pad$} {size}", ""), dim),
        ]));
    }
    frame.render_widget(Paragraph::new(lines).style(t.base), inner);
}

/// Notes above the diff: new/deleted file, mode and type changes, line endings.
fn notes(c: &Change, p: Option<&Prepared>) -> Vec<String> {
    let mut out = Vec::new();
    match c.kind {
        ChangeKind::Added => out.push("new file".to_string()),
        ChangeKind::Removed => out.push("deleted file".to_string()),
        ChangeKind::TypeChanged => out.push("type changed (file ↔ symlink)".to_string()),
        _ => {}
    }
    match (c.old_mode, c.new_mode) {
        (Some(o), Some(n)) if o != n => out.push(format!("mode {o:o} → {n:o}")),
        (None, Some(n)) if c.kind == ChangeKind::Added => out.push(format!("mode {n:o}")),
        _ => {}
    }
    if let Some(Body::Text(t)) = p.map(|p| &p.body) {
        let d = &t.diff;
        if d.is_identical() {
            out.push("no differences in content".to_string());
        }
        if d.line_endings_differ() {
            let (o, n) = d.crlf_lines;
            out.push(format!(
                "line endings differ: {o} CRLF lines → {n} (␍ marks CRLF)"
            ));
        }
    }
    out
}

fn draw_diff(s: &mut CompareScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let focused = s.focus == Focus::Diff || !s.show_list;
    s.diff_area = widgets::pane_inner(area);
    let change = s.change().cloned();
    let prepared = s.prepared();
    let mode = if s.side_by_side {
        "side by side"
    } else {
        "unified"
    };
    let title = match (&change, prepared.map(|p| &p.body)) {
        (None, _) => " Diff ".to_string(),
        (Some(c), Some(Body::Text(tv))) => format!(
            " {} · +{} −{} · {mode} ",
            c.path, tv.diff.added, tv.diff.removed
        ),
        (Some(c), Some(Body::Summary(k))) => format!(" {} · {} ", c.path, k.label()),
        (Some(c), None) => format!(" {} ", c.path),
    };
    let block = widgets::pane(
        widgets::pane_title(fit_left(&title, area.width.saturating_sub(6) as usize), t),
        focused,
        t,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if focused {
        widgets::focus_cursor(frame, inner, 0);
    }
    let mut lines: Vec<Line> = Vec::new();
    let Some(change) = change else {
        lines.push(Line::from(Span::styled(
            "No differences: nothing changed.",
            t.dim,
        )));
        frame.render_widget(Paragraph::new(lines).style(t.base), inner);
        return;
    };
    let notes = notes(&change, prepared);
    if !notes.is_empty() {
        lines.push(Line::from(Span::styled(notes.join(" · "), t.dim)));
    }
    let room = (inner.height as usize).saturating_sub(lines.len());
    s.diff_height = room;
    s.clamp_scroll();
    let width = inner.width as usize;
    s.diff_width = width;
    match &s.current {
        Some((i, Err(e))) if *i == s.list.selected => {
            lines.push(Line::from(Span::styled(e.clone(), t.error)))
        }
        Some((i, Ok(p))) if *i == s.list.selected => match &p.body {
            Body::Summary(kind) => lines.extend(summary(*kind, &p.old, &p.new, t)),
            Body::Text(tv) => {
                let fit = Fit {
                    wrap: s.wrap,
                    hscroll: s.hscroll,
                    max_rows: room,
                };
                let end = lines.len() + room;
                for dl in s.lines.iter().skip(s.scroll) {
                    if lines.len() >= end {
                        break;
                    }
                    lines.extend(diff_lines(tv, *dl, s.side_by_side, width, fit, t));
                }
                lines.truncate(end);
            }
        },
        _ => lines.push(Line::from(Span::styled("loading…", t.dim))),
    }
    frame.render_widget(Paragraph::new(lines).style(t.base), inner);
}

fn summary(kind: Kind, old: &SideInfo, new: &SideInfo, t: &Theme) -> Vec<Line<'static>> {
    let what = match kind {
        Kind::Binary => "Binary content: not shown line by line.".to_string(),
        Kind::Huge => format!(
            "Too large to diff line by line (over {} or {} lines).",
            human_size(crate::engine::diff::text::MAX_BYTES as i64),
            thousands(crate::engine::diff::text::MAX_LINES)
        ),
        Kind::Text => "Text.".to_string(),
    };
    let side = |label: &str, s: &SideInfo| -> Line<'static> {
        let body = if s.exists {
            format!(
                "{} ({} bytes)  blake3 {}",
                human_size(s.size as i64),
                thousands(s.size as usize),
                s.hash.as_deref().unwrap_or("?")
            )
        } else {
            "(does not exist)".to_string()
        };
        Line::from(vec![
            Span::styled(format!("{label:<5}"), t.dim),
            Span::styled(body, t.base),
        ])
    };
    let same = old.exists && new.exists && old.hash.is_some() && old.hash == new.hash;
    let mut out = vec![
        Line::from(Span::styled(what, t.accent)),
        Line::default(),
        side("old", old),
        side("new", new),
    ];
    out.push(Line::default());
    out.push(Line::from(Span::styled(
        if same {
            "The contents are identical."
        } else if old.exists && new.exists {
            "The contents differ."
        } else {
            ""
        },
        t.dim,
    )));
    out
}

/// How rows are fitted to their cells: sideways from a column (`None`: each line that
/// does not fit starts at its first change), or wrapped (at most `max_rows` pieces).
#[derive(Debug, Clone, Copy)]
pub(super) struct Fit {
    pub wrap: bool,
    pub hscroll: Option<usize>,
    pub max_rows: usize,
}

/// Style, sign and syntax of a row: removed rows take the old text's syntax, added and
/// unchanged ones the new text's.
fn row_look<'a>(
    row: &Row,
    tv: &'a TextView,
    t: &Theme,
) -> (Style, &'static str, &'a [(Style, Range<usize>)]) {
    let syntax = |styles: &'a [LineStyles], n: Option<usize>| {
        n.and_then(|n| styles.get(n.checked_sub(1)?))
            .map_or(&[][..], LineStyles::as_slice)
    };
    match row.kind {
        RowKind::Removed => (t.error, "-", syntax(&tv.old_highlight, row.old_line)),
        RowKind::Added => (t.success, "+", syntax(&tv.highlight, row.new_line)),
        RowKind::Context => (t.base, " ", syntax(&tv.highlight, row.new_line)),
    }
}

/// The text of a row in `room` columns: one piece (a window of it) or, wrapping, several;
/// with its markers (changed words, CRLF, missing final newline) and `…` at each cut.
fn row_pieces(
    row: &Row,
    tv: &TextView,
    t: &Theme,
    room: usize,
    fit: Fit,
) -> Vec<Vec<Span<'static>>> {
    let (style, _, syntax) = row_look(row, tv, t);
    let word = style.add_modifier(Modifier::REVERSED);
    let windows = if fit.wrap {
        fit::wrap(&row.text, room, fit.max_rows)
    } else {
        let start = fit
            .hscroll
            .unwrap_or_else(|| fit::auto_start(&row.text, row.words.first(), room));
        vec![fit::window(&row.text, start, room)]
    };
    let last = windows.len() - 1;
    windows
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let mut spans = Vec::new();
            if w.lead {
                spans.push(Span::styled(fit::MORE, t.dim));
            }
            spans.extend(fit::text_spans(
                &row.text,
                w.bytes.clone(),
                style,
                syntax,
                &row.words,
                word,
            ));
            if w.trail {
                spans.push(Span::styled(fit::MORE, t.dim));
            } else if i == last && row.kind != RowKind::Context {
                if row.crlf && tv.diff.line_endings_differ() {
                    spans.push(Span::styled("␍", t.dim));
                }
                if row.no_newline {
                    spans.push(Span::styled("  (no newline at end of file)", t.dim));
                }
            }
            fit::fit_spans(spans, room).0
        })
        .collect()
}

fn number(n: Option<usize>, w: usize) -> String {
    n.map_or_else(|| " ".repeat(w), |n| format!("{n:>w$}"))
}

/// The screen lines of one drawn line of the diff (several when wrapping).
fn diff_lines(
    tv: &TextView,
    dl: DLine,
    side: bool,
    width: usize,
    fit: Fit,
    t: &Theme,
) -> Vec<Line<'static>> {
    let d = &tv.diff;
    let w = d.old_lines.max(d.new_lines).max(1).to_string().len();
    let row_at = |h: usize, r: usize| &d.hunks[h].rows[r];
    match dl {
        DLine::Header(h) => vec![Line::from(Span::styled(d.hunks[h].header(), t.accent))],
        DLine::Collapsed(g) => {
            let n = d.gaps[g].len();
            let s = if n == 1 { "" } else { "s" };
            vec![Line::from(Span::styled(
                format!("⋯ {} unchanged line{s}", thousands(n)),
                t.dim,
            ))]
        }
        DLine::Gap(g, r) if side => side_lines(
            Some(&d.gaps[g].rows[r]),
            Some(&d.gaps[g].rows[r]),
            tv,
            (width, w),
            fit,
            t,
        ),
        DLine::Gap(g, r) => unified_lines(&d.gaps[g].rows[r], tv, (width, w), fit, t),
        DLine::Row(h, r) => unified_lines(row_at(h, r), tv, (width, w), fit, t),
        DLine::Side(i) => {
            let sr = tv.side[i];
            let left = sr.left.map(|r| row_at(sr.hunk, r));
            let right = sr.right.map(|r| row_at(sr.hunk, r));
            side_lines(left, right, tv, (width, w), fit, t)
        }
    }
}

/// A unified row: numbers, sign, text; a wrapped row's further pieces marked `↪`.
fn unified_lines(
    row: &Row,
    tv: &TextView,
    (width, w): (usize, usize),
    fit: Fit,
    t: &Theme,
) -> Vec<Line<'static>> {
    let (style, sign, _) = row_look(row, tv, t);
    let num_style = if row.kind == RowKind::Context {
        t.line_no
    } else {
        style
    };
    let room = width.saturating_sub(2 * w + 4);
    row_pieces(row, tv, t, room, fit)
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let mut spans = if i == 0 {
                vec![
                    Span::styled(
                        format!("{} {} ", number(row.old_line, w), number(row.new_line, w)),
                        num_style,
                    ),
                    Span::styled(format!("{sign} "), style),
                ]
            } else {
                vec![
                    Span::raw(" ".repeat(2 * w + 2)),
                    Span::styled(format!("{} ", fit::CONT), t.dim),
                ]
            };
            spans.extend(text);
            Line::from(spans)
        })
        .collect()
}

/// The pieces of one cell of the side-by-side view, each exactly `cell` columns wide.
fn side_cell(
    row: Option<&Row>,
    old_side: bool,
    tv: &TextView,
    (cell, w): (usize, usize),
    fit: Fit,
    t: &Theme,
) -> Vec<Vec<Span<'static>>> {
    let Some(row) = row else {
        return vec![vec![Span::styled(" ".repeat(cell), t.dim)]];
    };
    let (style, sign, _) = row_look(row, tv, t);
    let n = if old_side { row.old_line } else { row.new_line };
    let num_style = if row.kind == RowKind::Context {
        t.line_no
    } else {
        style
    };
    let room = cell.saturating_sub(w + 2);
    row_pieces(row, tv, t, room, fit)
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let used: usize = text.iter().map(|s| s.content.width()).sum();
            let mut spans = if i == 0 {
                vec![
                    Span::styled(format!("{} ", number(n, w)), num_style),
                    Span::styled(sign, style),
                ]
            } else {
                vec![Span::raw(" ".repeat(w + 1)), Span::styled(fit::CONT, t.dim)]
            };
            spans.extend(text);
            spans.push(Span::raw(" ".repeat(room.saturating_sub(used))));
            spans
        })
        .collect()
}

fn side_lines(
    left: Option<&Row>,
    right: Option<&Row>,
    tv: &TextView,
    (width, w): (usize, usize),
    fit: Fit,
    t: &Theme,
) -> Vec<Line<'static>> {
    let cell = width.saturating_sub(1) / 2;
    let l = side_cell(left, true, tv, (cell, w), fit, t);
    let r = side_cell(right, false, tv, (cell, w), fit, t);
    let blank = || vec![Span::raw(" ".repeat(cell))];
    (0..l.len().max(r.len()))
        .map(|i| {
            let mut spans = l.get(i).cloned().unwrap_or_else(blank);
            spans.push(Span::styled("│", t.border));
            spans.extend(r.get(i).cloned().unwrap_or_else(blank));
            Line::from(spans)
        })
        .collect()
}
