//! Drawing the Codebase screen: search bar, record list, preview, details popup.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::{CodebaseScreen, Focus, Input, Mode};
use crate::app::commands::Cmd;
use crate::app::context::DrawCtx;
use crate::app::strings;
use crate::app::widgets::{self, fit_left, fit_right};
use crate::engine::util::units::{format_time, human_size, thousands};
use crate::store::codebase::{Area, snippet_parts};

pub fn draw(s: &mut CodebaseScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let [bar, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    draw_bar(s, frame, bar, ctx);
    let (list_area, preview_area) = if body.width >= 110 {
        let [l, p] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
            .areas(body);
        (l, p)
    } else {
        let [l, p] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(body);
        (l, p)
    };
    draw_list(s, frame, list_area, ctx);
    draw_preview(s, frame, preview_area, ctx);
    s.panes = (list_area, preview_area);
    if s.details {
        draw_details(s, frame, area, ctx);
    }
}

fn draw_bar(s: &CodebaseScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let (prompt, input) = match s.input {
        Some(Input::Jump) => (strings::JUMP_PROMPT, Some(&s.jump_box)),
        _ => (
            "/ ",
            if s.input.is_some() || !s.search_box.text().is_empty() {
                Some(&s.search_box)
            } else {
                None
            },
        ),
    };
    let mut spans = Vec::new();
    match input {
        Some(i) => {
            spans.push(Span::styled(prompt, t.accent));
            spans.push(Span::styled(i.text().to_string(), t.base));
        }
        None => {
            let key = |id: Cmd| ctx.keymap.first(id).unwrap_or_default();
            spans.push(Span::styled(
                format!(
                    "{} search · {} jump to id · {} import files",
                    key(Cmd::CodebaseSearch),
                    key(Cmd::CodebaseJump),
                    key(Cmd::CodebaseImport)
                ),
                t.dim,
            ));
        }
    }
    if s.input == Some(Input::Search) && s.search_box.text().is_empty() {
        spans.push(Span::styled(strings::SEARCH_PLACEHOLDER, t.dim));
    }
    let status = if let Some(e) = &s.search_error {
        Span::styled(format!("  ⚠ {e}"), t.error)
    } else if s.searching {
        Span::styled("  searching…", t.dim)
    } else {
        Span::raw("")
    };
    spans.push(status);
    frame.render_widget(Paragraph::new(Line::from(spans)).style(t.base), area);
    if let Some(i) = input.filter(|_| s.input.is_some()) {
        let x = area.x + prompt.width() as u16 + i.cursor_column();
        frame.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
    }
}

fn draw_list(s: &mut CodebaseScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let title = match &s.mode {
        Mode::Browse => format!(" Codebase · {} records ", thousands(s.ids.len())),
        Mode::Search(q) => {
            let more = if s.results.total_capped { ">" } else { "" };
            format!(" \"{q}\" · {more}{} matches ", thousands(s.results.total))
        }
    };
    let focused = s.focus == Focus::List;
    let block = widgets::pane(widgets::pane_title(title, t), focused, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let h = inner.height as usize;
    s.list_height = h;
    let len = s.len();
    let visible = s.list.scroll_into_view(len, h);
    if focused && s.input.is_none() && len > 0 {
        widgets::focus_cursor(frame, inner, s.list.selected.saturating_sub(visible.start));
    }
    let width = inner.width as usize;
    let mut lines = Vec::with_capacity(h);
    if let Some(e) = &s.load_error {
        lines.push(Line::from(Span::styled(e.clone(), t.error)));
    } else if s.len() == 0 {
        let msg = match s.mode {
            Mode::Browse => format!(
                "The codebase is empty. Press {} to import the project's files.",
                ctx.keymap.first(Cmd::CodebaseImport).unwrap_or_default()
            ),
            Mode::Search(_) => "No matches.".to_string(),
        };
        lines.push(Line::from(Span::styled(msg, t.dim)));
    }
    s.ensure_rows(visible.start, h);
    for row in visible {
        let selected = row == s.list.selected;
        let base = if selected { t.selected } else { t.base };
        let dim = if selected { t.selected } else { t.dim };
        let line = match &s.mode {
            Mode::Browse => {
                let id = s.ids[row];
                match s.rows.get(&id) {
                    Some(r) => {
                        let size = human_size(r.size);
                        let mark = claim_mark(s, id, &r.name, selected, ctx);
                        let name_w = width.saturating_sub(8 + size.len() + 1 + mark.width());
                        let name = fit_left(&r.name, name_w);
                        let pad = name_w.saturating_sub(name.width());
                        let tick = if s.claims.is_marked(id) { '*' } else { ' ' };
                        Line::from(vec![
                            Span::styled(format!("{id:>7}{tick}"), dim),
                            Span::styled(name, base),
                            mark,
                            Span::styled(format!("{:pad$} {size}", ""), dim),
                        ])
                    }
                    None => Line::from(Span::styled(format!("{id:>7} …"), dim)),
                }
            }
            Mode::Search(_) => {
                let hit = &s.results.hits[row];
                let mark = claim_mark(s, hit.id, &hit.name, selected, ctx);
                let name_w = (width.saturating_sub(8) * 3 / 5).max(10);
                let name_w = name_w.saturating_sub(mark.width()).max(4);
                let name = fit_left(&hit.name, name_w);
                let tick = if s.claims.is_marked(hit.id) { '*' } else { ' ' };
                let mut spans = vec![
                    Span::styled(format!("{:>7}{tick}", hit.id), dim),
                    Span::styled(name.clone(), base),
                    mark.clone(),
                    Span::styled(format!("{:w$} ", "", w = name_w - name.width()), base),
                ];
                let mut room = width.saturating_sub(8 + name_w + mark.width() + 1);
                for (is_match, text) in lead_to_match(snippet_parts(&hit.snippet), room / 4) {
                    if room == 0 {
                        break;
                    }
                    let piece: String = text.chars().take(room).collect();
                    room = room.saturating_sub(piece.width());
                    let style = if is_match { t.matched } else { dim };
                    spans.push(Span::styled(piece, style));
                }
                Line::from(spans)
            }
        };
        lines.push(if selected {
            line.style(t.selected)
        } else {
            line
        });
    }
    frame.render_widget(Paragraph::new(lines).style(t.base), inner);
}

fn draw_preview(s: &mut CodebaseScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let focused = s.focus == Focus::Preview;
    let current = s.preview.as_ref().filter(|p| Some(p.0) == s.selected_id());
    let (title, note) = match current {
        None => match s.selected_id() {
            Some(id) => (format!(" #{id} "), None),
            None => (" Preview ".to_string(), None),
        },
        Some((id, Some(sum), _)) => (
            format!(
                " #{id} {} · v{} · {} ",
                sum.name,
                sum.version,
                Area::of(*id).label()
            ),
            s.preview
                .as_ref()
                .and_then(|p| p.2.as_ref().ok())
                .and_then(|p| p.note.clone()),
        ),
        Some((id, None, _)) => (format!(" #{id} "), None),
    };
    let title = fit_left(&title, area.width.saturating_sub(4) as usize);
    let block = widgets::pane(widgets::pane_title(title, t), focused, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines: Vec<Line> = Vec::new();
    let claim = current
        .and_then(|(id, sum, _)| sum.as_ref().map(|sum| (*id, sum)))
        .and_then(|(id, sum)| s.claims.of(id, &sum.name));
    if let Some((c, ours)) = claim {
        let style = if *ours { t.accent } else { t.warn };
        lines.push(Line::from(Span::styled(
            format!("⚑ {}", super::claims::describe(c, *ours)),
            style,
        )));
    } else if let Some(e) = &s.claims.error {
        lines.push(Line::from(Span::styled(format!("claims: {e}"), t.error)));
    }
    if let Some(n) = note {
        lines.push(Line::from(Span::styled(n, t.dim)));
    }
    let room = (inner.height as usize).saturating_sub(lines.len());
    s.preview_height = room;
    match &s.preview {
        None if s.selected_id().is_some() => {
            lines.push(Line::from(Span::styled("loading…", t.dim)))
        }
        None => {}
        Some((id, _, _)) if Some(*id) != s.selected_id() => {
            lines.push(Line::from(Span::styled("loading…", t.dim)));
        }
        Some((_, _, Err(e))) => lines.push(Line::from(Span::styled(e.clone(), t.error))),
        Some((_, _, Ok(p))) => {
            let numbered = p.total_lines > 0;
            let digits = p.lines.len().max(1).to_string().len();
            for (i, l) in p.lines.iter().enumerate().skip(s.preview_scroll).take(room) {
                let mut spans = Vec::with_capacity(l.spans.len() + 1);
                if numbered {
                    spans.push(Span::styled(format!("{:>digits$} ", i + 1), t.line_no));
                }
                spans.extend(l.spans.iter().cloned());
                lines.push(Line::from(spans));
            }
        }
    }
    frame.render_widget(Paragraph::new(lines).style(t.base), inner);
}

fn draw_details(s: &CodebaseScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let Some((id, Some(r), _)) = &s.preview else {
        return;
    };
    let w = area.width.saturating_sub(8).min(72);
    let h = 13.min(area.height);
    let popup = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let field = |k: &str, v: String| -> Line {
        Line::from(vec![
            Span::styled(format!("{k:<9}"), t.dim),
            Span::styled(v, t.popup),
        ])
    };
    let or_dash = |v: &str| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.to_string()
        }
    };
    let lines = vec![
        field("id", format!("{id}  ({} area)", Area::of(*id).label())),
        field("name", r.name.clone()),
        field("path", r.path.clone().unwrap_or_else(|| "—".into())),
        field("kind", format!("{}   version {}", r.kind, r.version)),
        field("status", r.status.clone()),
        field("package", or_dash(&r.package)),
        field("authors", or_dash(&r.authors)),
        field(
            "size",
            format!(
                "{} ({} bytes){}",
                human_size(r.size),
                r.size,
                if r.binary { ", binary" } else { "" }
            ),
        ),
        field("updated", format_time(r.updated)),
        Line::default(),
        Line::from(Span::styled("esc/enter close", t.dim)),
    ];
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border_focus)
        .title(Span::styled(" Record ", t.title))
        .style(t.popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(block).style(Style::default()),
        popup,
    );
}

/// The list's marker of a claimed record: ` ⚑ login` (someone else's) or ` ⚑ mine`.
fn claim_mark(
    s: &CodebaseScreen,
    id: i64,
    name: &str,
    selected: bool,
    ctx: &DrawCtx,
) -> Span<'static> {
    let t = ctx.theme;
    match s.claims.of(id, name) {
        None => Span::raw(""),
        Some((c, ours)) => {
            let who = if *ours { "mine" } else { c.owner.as_str() };
            let style = match (selected, ours) {
                (true, _) => t.selected,
                (false, true) => t.accent,
                (false, false) => t.warn,
            };
            Span::styled(format!(" ⚑ {}", fit_right(who, 12)), style)
        }
    }
}

/// Shorten the text before the first match to at most `keep` chars, so the match shows.
fn lead_to_match(
    mut parts: Vec<(bool, &str)>,
    keep: usize,
) -> Vec<(bool, std::borrow::Cow<'_, str>)> {
    let mut out = Vec::with_capacity(parts.len());
    if parts.len() > 1 && !parts[0].0 {
        let (_, lead) = parts.remove(0);
        let n = lead.chars().count();
        if n > keep {
            let tail: String = lead.chars().skip(n - keep).collect();
            out.push((false, std::borrow::Cow::Owned(format!("…{tail}"))));
        } else {
            out.push((false, std::borrow::Cow::Borrowed(lead)));
        }
    }
    out.extend(
        parts
            .into_iter()
            .map(|(m, t)| (m, std::borrow::Cow::Borrowed(t))),
    );
    out
}

#[cfg(test)]
mod view_tests {
    #[test]
    fn lead_is_cut_before_the_match() {
        let parts = vec![
            (false, "a long lead before it "),
            (true, "match"),
            (false, " tail"),
        ];
        let out = super::lead_to_match(parts, 5);
        assert_eq!(out[0].1, "…e it ");
        assert_eq!(out[1], (true, "match".into()));
    }
}
