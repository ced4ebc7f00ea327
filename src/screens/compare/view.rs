//! Drawing the Compare screen: the prompt/title bar, the file list, the diff (unified or
//! side by side) or a summary, and the how-to shown before anything is compared.

use std::ops::Range;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::worker::{Body, LineStyles, Prepared, SideInfo, TextView};
use super::{CompareScreen, DLine, Focus};
use crate::app::context::DrawCtx;
use crate::app::theme::Theme;
use crate::app::widgets::fit_left;
use crate::engine::diff::changes::{Change, ChangeKind};
use crate::engine::diff::text::{Kind, Row, RowKind};
use crate::engine::util::units::{human_size, thousands};
use crate::screens::ScreenId;

const PROMPT: &str = "Compare files: ";
const PLACEHOLDER: &str = "old-path  new-path · Enter compares · Esc cancels";

pub fn draw(s: &mut CompareScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let [bar, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
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

fn key(ctx: &DrawCtx, id: &str) -> String {
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
            format!("{} compare two files", key(ctx, "compare.open")),
            t.dim,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(t.base), area);
}

fn draw_intro(frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let k = |id: &str| Span::styled(format!("  {:<6}", key(ctx, id)), t.hint_key);
    let text = |s: String| Span::styled(s, t.base);
    let snapshots = ScreenId::Snapshots.index() + 1;
    let lines = vec![
        Line::from(Span::styled(
            "Compare shows what changed between two files or two snapshots.",
            t.accent,
        )),
        Line::default(),
        Line::from(vec![
            k("compare.open"),
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
            k("compare.toggle_view"),
            text("unified or side-by-side diff".into()),
        ]),
        Line::from(vec![
            Span::styled(
                format!(
                    "  {:<6}",
                    format!(
                        "{} {}",
                        key(ctx, "compare.next_hunk"),
                        key(ctx, "compare.prev_hunk")
                    )
                ),
                t.hint_key,
            ),
            text("next / previous change".into()),
        ]),
        Line::from(vec![
            k("compare.expand"),
            text("expand or collapse the unchanged lines".into()),
        ]),
        Line::from(vec![
            k("compare.toggle_list"),
            text("hide or show the file list".into()),
        ]),
        Line::from(vec![
            k("nav.focus"),
            text("move between the file list and the diff".into()),
        ]),
        Line::from(vec![
            k("compare.copy_patch"),
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
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused { t.border_focus } else { t.border })
        .title(Span::styled(
            format!(" Files · {} ", thousands(s.len())),
            t.title,
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let h = inner.height as usize;
    s.list_height = h;
    if s.selected < s.list_offset {
        s.list_offset = s.selected;
    } else if h > 0 && s.selected >= s.list_offset + h {
        s.list_offset = s.selected + 1 - h;
    }
    let width = inner.width as usize;
    let mut lines = Vec::with_capacity(h);
    let Some(set) = &s.set else { return };
    if set.changes.is_empty() {
        lines.push(Line::from(Span::styled("No differences.", t.dim)));
    }
    for (i, c) in set.changes.iter().enumerate().skip(s.list_offset).take(h) {
        let sel = i == s.selected;
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
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused { t.border_focus } else { t.border })
        .title(Span::styled(
            fit_left(&title, area.width.saturating_sub(4) as usize),
            t.title,
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
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
    match &s.current {
        Some((i, Err(e))) if *i == s.selected => {
            lines.push(Line::from(Span::styled(e.clone(), t.error)))
        }
        Some((i, Ok(p))) if *i == s.selected => match &p.body {
            Body::Summary(kind) => lines.extend(summary(*kind, &p.old, &p.new, t)),
            Body::Text(tv) => {
                for dl in s.lines.iter().skip(s.scroll).take(room) {
                    lines.push(diff_line(tv, *dl, s.side_by_side, width, t));
                }
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

/// Replace tabs and control characters so text draws exactly as wide as it measures.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push_str("    "),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The spans of a line's text: `base`, patched with the syntax styles, patched with
/// `word` over the changed words; only the first `max_chars` chars.
fn text_spans(
    text: &str,
    base: Style,
    syntax: &[(Style, Range<usize>)],
    words: &[Range<usize>],
    word: Style,
    max_chars: usize,
) -> Vec<Span<'static>> {
    let cut = text
        .char_indices()
        .nth(max_chars)
        .map_or(text.len(), |(i, _)| i);
    let mut bounds = vec![0, cut];
    for r in syntax.iter().map(|(_, r)| r).chain(words) {
        bounds.push(r.start.min(cut));
        bounds.push(r.end.min(cut));
    }
    bounds.sort_unstable();
    bounds.dedup();
    let mut out = Vec::with_capacity(bounds.len());
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        let Some(piece) = text.get(a..b) else {
            continue;
        };
        let mut st = base;
        if let Some((s, _)) = syntax.iter().find(|(_, r)| r.start <= a && a < r.end) {
            st = st.patch(*s);
        }
        if words.iter().any(|r| r.start <= a && a < r.end) {
            st = st.patch(word);
        }
        out.push(Span::styled(sanitize(piece), st));
    }
    out
}

/// Cut spans to `width` display columns; returns them and the columns used.
fn fit_spans(spans: Vec<Span<'static>>, width: usize) -> (Vec<Span<'static>>, usize) {
    let mut used = 0;
    let mut out = Vec::with_capacity(spans.len());
    for sp in spans {
        let w = sp.content.width();
        if used + w <= width {
            used += w;
            out.push(sp);
            continue;
        }
        let mut cut = String::new();
        for c in sp.content.chars() {
            let cw = c.width().unwrap_or(0);
            if used + cw > width {
                break;
            }
            used += cw;
            cut.push(c);
        }
        out.push(Span::styled(cut, sp.style));
        break;
    }
    (out, used)
}

/// Style, sign and syntax of a row.
fn row_look<'a>(
    row: &Row,
    tv: &'a TextView,
    t: &Theme,
) -> (Style, &'static str, &'a [(Style, Range<usize>)]) {
    let empty: &[(Style, Range<usize>)] = &[];
    match row.kind {
        RowKind::Removed => (t.error, "-", empty),
        RowKind::Added => (t.success, "+", empty),
        RowKind::Context => {
            let hl = row
                .new_line
                .and_then(|n| tv.highlight.get(n - 1))
                .map_or(empty, LineStyles::as_slice);
            (t.base, " ", hl)
        }
    }
}

/// The text of a row with its markers (changed words, CRLF, missing final newline).
fn row_text(row: &Row, tv: &TextView, t: &Theme, max_chars: usize) -> Vec<Span<'static>> {
    let (style, _, syntax) = row_look(row, tv, t);
    let word = style.add_modifier(Modifier::REVERSED);
    let mut spans = text_spans(&row.text, style, syntax, &row.words, word, max_chars);
    if row.kind != RowKind::Context {
        if row.crlf && tv.diff.line_endings_differ() {
            spans.push(Span::styled("␍", t.dim));
        }
        if row.no_newline {
            spans.push(Span::styled("  (no newline at end of file)", t.dim));
        }
    }
    spans
}

fn number(n: Option<usize>, w: usize) -> String {
    n.map_or_else(|| " ".repeat(w), |n| format!("{n:>w$}"))
}

fn diff_line(tv: &TextView, dl: DLine, side: bool, width: usize, t: &Theme) -> Line<'static> {
    let d = &tv.diff;
    let w = d.old_lines.max(d.new_lines).max(1).to_string().len();
    let row_at = |h: usize, r: usize| &d.hunks[h].rows[r];
    match dl {
        DLine::Header(h) => Line::from(Span::styled(d.hunks[h].header(), t.accent)),
        DLine::Collapsed(g) => {
            let n = d.gaps[g].len();
            let s = if n == 1 { "" } else { "s" };
            Line::from(Span::styled(
                format!("⋯ {} unchanged line{s}", thousands(n)),
                t.dim,
            ))
        }
        DLine::Gap(g, r) if side => side_line(
            Some(&d.gaps[g].rows[r]),
            Some(&d.gaps[g].rows[r]),
            tv,
            width,
            w,
            t,
        ),
        DLine::Gap(g, r) => unified_line(&d.gaps[g].rows[r], tv, width, w, t),
        DLine::Row(h, r) => unified_line(row_at(h, r), tv, width, w, t),
        DLine::Side(i) => {
            let sr = tv.side[i];
            let left = sr.left.map(|r| row_at(sr.hunk, r));
            let right = sr.right.map(|r| row_at(sr.hunk, r));
            side_line(left, right, tv, width, w, t)
        }
    }
}

fn unified_line(row: &Row, tv: &TextView, width: usize, w: usize, t: &Theme) -> Line<'static> {
    let (style, sign, _) = row_look(row, tv, t);
    let num_style = if row.kind == RowKind::Context {
        t.line_no
    } else {
        style
    };
    let mut spans = vec![
        Span::styled(
            format!("{} {} ", number(row.old_line, w), number(row.new_line, w)),
            num_style,
        ),
        Span::styled(format!("{sign} "), style),
    ];
    let room = width.saturating_sub(2 * w + 4);
    spans.extend(fit_spans(row_text(row, tv, t, room), room).0);
    Line::from(spans)
}

/// One cell of the side-by-side view, exactly `cell` columns wide.
fn side_cell(
    row: Option<&Row>,
    old_side: bool,
    tv: &TextView,
    cell: usize,
    w: usize,
    t: &Theme,
) -> Vec<Span<'static>> {
    let Some(row) = row else {
        return vec![Span::styled(" ".repeat(cell), t.dim)];
    };
    let (style, sign, _) = row_look(row, tv, t);
    let n = if old_side { row.old_line } else { row.new_line };
    let num_style = if row.kind == RowKind::Context {
        t.line_no
    } else {
        style
    };
    let mut spans = vec![
        Span::styled(format!("{} ", number(n, w)), num_style),
        Span::styled(sign, style),
    ];
    let room = cell.saturating_sub(w + 2);
    let (text, used) = fit_spans(row_text(row, tv, t, room), room);
    spans.extend(text);
    spans.push(Span::raw(" ".repeat(room - used)));
    spans
}

fn side_line(
    left: Option<&Row>,
    right: Option<&Row>,
    tv: &TextView,
    width: usize,
    w: usize,
    t: &Theme,
) -> Line<'static> {
    let cell = width.saturating_sub(1) / 2;
    let mut spans = side_cell(left, true, tv, cell, w, t);
    spans.push(Span::styled("│", t.border));
    spans.extend(side_cell(right, false, tv, cell, w, t));
    Line::from(spans)
}

#[cfg(test)]
mod view_tests {
    use super::*;

    #[test]
    fn words_and_syntax_split_the_text() {
        let red = Style::default().fg(ratatui::style::Color::Red);
        let syn = vec![(red, 0..3)];
        let spans = text_spans(
            "let\tx = 1",
            Style::default(),
            &syn,
            std::slice::from_ref(&(8..9)),
            Style::default().add_modifier(Modifier::REVERSED),
            100,
        );
        let texts: Vec<&str> = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(texts, ["let", "    x = ", "1"]);
        assert_eq!(spans[0].style.fg, Some(ratatui::style::Color::Red));
        assert!(spans[2].style.add_modifier.contains(Modifier::REVERSED));
        let (cut, used) = fit_spans(spans, 5);
        assert_eq!(used, 5);
        assert_eq!(cut.len(), 2);
    }
}
