//! Drawing the Replace screen: the fields and options, the matches (ticked or not), the
//! selected match before and after, and the confirmations.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::{Field, Item, Popup, ReplaceScreen};
use crate::app::context::DrawCtx;
use crate::app::popups::centered;
use crate::app::widgets::{fit_left, fit_right, pane, pane_title};

pub fn draw(s: &mut ReplaceScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let [form, list, preview] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Min(3),
        Constraint::Length(4),
    ])
    .areas(area);
    draw_form(s, frame, form, ctx);
    draw_list(s, frame, list, ctx);
    draw_preview(s, frame, preview, ctx);
    if let Some(p) = &s.popup {
        draw_confirm(frame, area, p, ctx);
    }
}

fn draw_form(s: &ReplaceScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let block = pane(pane_title(" Replace ".into(), t), s.editing.is_some(), t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let field = |label: &str, text: &str, on: bool| {
        Line::from(vec![
            Span::styled(label.to_string(), if on { t.accent } else { t.dim }),
            Span::styled(text.to_string(), t.base),
        ])
    };
    let on = |b: bool| if b { "on" } else { "off" };
    let lines = vec![
        field("Find:    ", s.find.text(), s.editing == Some(Field::Find)),
        field(
            "Replace: ",
            s.replace.text(),
            s.editing == Some(Field::Replace),
        ),
        Line::from(Span::styled(
            fit_right(
                &format!(
                    "in {} · regex {} · ignore case {} · words {}",
                    s.scope.label(),
                    on(s.regex),
                    on(s.ignore_case),
                    on(s.word)
                ),
                inner.width as usize,
            ),
            t.dim,
        )),
    ];
    frame.render_widget(Paragraph::new(lines), inner);
    if let Some(f) = s.editing
        && s.popup.is_none()
    {
        let (row, input) = match f {
            Field::Find => (0, &s.find),
            Field::Replace => (1, &s.replace),
        };
        let x = inner.x + 9 + input.cursor_column();
        frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), inner.y + row));
    }
}

fn draw_list(s: &mut ReplaceScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let mut title = format!(" Matches · {} ", s.match_count());
    if let Some(p) = &s.plan {
        title.push_str(&format!("in {} file(s) ", p.files.files.len()));
    }
    if s.searching {
        title.push_str("· searching… ");
    }
    if s.job.is_some() {
        title.push_str("· replacing… ");
    }
    let block = pane(pane_title(title, t), s.editing.is_none(), t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let h = inner.height as usize;
    s.page = h.max(1);
    if s.items.is_empty() {
        let text = if let Some(e) = &s.error {
            e.clone()
        } else if s.searching {
            "searching…".to_string()
        } else if s.plan.is_some() {
            "No matches.".to_string()
        } else {
            "Type what to find and its replacement, then Enter: every match shows here as \
             it is found, ticked; space unticks one, A applies the ticked ones (originals go \
             to the recycle bin), u undoes the last replace."
                .to_string()
        };
        let style = if s.error.is_some() { t.error } else { t.dim };
        frame.render_widget(
            Paragraph::new(Span::styled(text, style)).wrap(Wrap { trim: false }),
            inner,
        );
        return;
    }
    let Some(plan) = &s.plan else { return };
    let visible = s.nav.scroll_into_view(s.items.len(), h);
    let mut lines = Vec::new();
    for row in visible {
        let item = s.items[row];
        let style = if row == s.nav.selected && s.editing.is_none() {
            t.selected
        } else {
            t.base
        };
        if item.is_header() {
            let (on, all) = s.tally(item);
            let tick = match on {
                0 => "[ ]",
                n if n == all => "[x]",
                _ => "[-]",
            };
            let name = match item {
                Item::File(f) => plan.files.files[f].path.clone(),
                Item::Table { start, .. } => format!(
                    "table {}",
                    plan.db.as_ref().expect("rows come from the db part").rows[start].table
                ),
                _ => unreachable!("a header"),
            };
            let count = format!("  {on}/{all} ticked");
            let name = fit_left(&name, w.saturating_sub(4 + count.len()).max(8));
            let head = if style == t.base { t.accent } else { style };
            lines.push(Line::from(Span::styled(
                format!("{tick} {name}{count}"),
                head,
            )));
            continue;
        }
        let tick = if s.ticked(item) { "  [x] " } else { "  [ ] " };
        let (place, text) = match item {
            Item::Hit { file, hit } => {
                let f = &plan.files.files[file];
                let hh = &f.hits[hit];
                (
                    format!("{}:{}", f.path, hh.line),
                    hh.before.trim().to_string(),
                )
            }
            Item::Row(r) => {
                let d = &plan.db.as_ref().expect("rows come from the db part").rows[r];
                (d.place(), d.context.clone())
            }
            Item::File(_) | Item::Table { .. } => unreachable!("headers are drawn above"),
        };
        let place = fit_left(&place, (w / 2).max(10));
        let rest = w.saturating_sub(tick.len() + place.width() + 2);
        let text = fit_right(&text.replace(['\t', '\n', '\r'], " "), rest);
        lines.push(Line::from(Span::styled(
            format!("{tick}{place}  {text}"),
            style,
        )));
    }
    frame.render_widget(Paragraph::new(lines).style(t.base), inner);
}

fn draw_preview(s: &ReplaceScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let block = pane(pane_title(" Before → after ".into(), t), false, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (Some(plan), Some(&item)) = (&s.plan, s.items.get(s.nav.selected)) else {
        return;
    };
    // a header shows its first match
    let Some(&item) = s.members(item).first() else {
        return;
    };
    let (before, after) = match item {
        Item::Hit { file, hit } => {
            let h = &plan.files.files[file].hits[hit];
            (h.before.clone(), h.after.clone())
        }
        Item::Row(r) => {
            let d = &plan.db.as_ref().expect("rows come from the db part").rows[r];
            (d.before.clone(), d.after.clone())
        }
        Item::File(_) | Item::Table { .. } => return,
    };
    let w = (inner.width as usize).saturating_sub(2);
    let one = |x: &str| fit_right(&x.trim().replace(['\t', '\n', '\r'], " "), w);
    let lines = vec![
        Line::from(vec![
            Span::styled("- ", t.error),
            Span::styled(one(&before), t.base),
        ]),
        Line::from(vec![
            Span::styled("+ ", t.success),
            Span::styled(one(&after), t.base),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_confirm(frame: &mut Frame, area: Rect, p: &Popup, ctx: &DrawCtx) {
    let t = ctx.theme;
    let (title, text) = match p {
        Popup::Apply { matches } => (
            " Apply? ",
            format!(
                "Replace {matches} ticked match(es)? Files are written whole (originals to the \
                 recycle bin), rows in one transaction; u undoes it."
            ),
        ),
        Popup::Undo => (
            " Undo? ",
            "Undo the last replace? Files come back byte for byte, rows as they were; what \
             changed since is skipped and reported."
                .to_string(),
        ),
    };
    let w = area.width.saturating_sub(4).min(64);
    let popup = centered(area, w, 8);
    frame.render_widget(Clear, popup);
    let lines = vec![
        Line::from(Span::styled(text, t.warn)),
        Line::default(),
        Line::from(vec![
            Span::styled("y", t.hint_key),
            Span::styled(" yes   ", t.popup),
            Span::styled("n", t.hint_key),
            Span::styled(" no", t.popup),
        ]),
    ];
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border_focus)
                .title(Span::styled(title, t.title))
                .style(t.popup),
        ),
        popup,
    );
}
