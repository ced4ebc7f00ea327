//! Drawing the Query screen: the editor, a status line (connection, elapsed time of a
//! running query, outcome), the results grid, the per-statement messages; the popups are
//! drawn by [`super::popups`].

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::{Conn, Focus, QueryScreen, ms, popups, rows_text};
use crate::app::commands::Cmd;
use crate::app::context::{DrawCtx, Level};
use crate::app::theme::Theme;
use crate::app::widgets::{self, fit_right};
use crate::engine::util::units::thousands;

/// Lines of statement messages shown at most.
const MESSAGES: usize = 3;

pub fn draw(s: &mut QueryScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let editor_h = (area.height * 35 / 100).clamp(5, 14);
    let show_msgs = s.messages.len() > 1 || s.messages.iter().any(|m| m.level != Level::Success);
    let msg_h = if show_msgs {
        s.messages.len().min(MESSAGES) as u16
    } else {
        0
    };
    let [ed, status, grid, msgs] = Layout::vertical([
        Constraint::Length(editor_h),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(msg_h),
    ])
    .areas(area);
    draw_editor(s, frame, ed, ctx);
    draw_status(s, frame, status, ctx);
    draw_grid(s, frame, grid, ctx);
    if msg_h > 0 {
        let skip = s.messages.len().saturating_sub(MESSAGES);
        let lines: Vec<Line> = s.messages[skip..]
            .iter()
            .map(|m| {
                let style = match m.level {
                    Level::Error => t.error,
                    Level::Warn => t.warn,
                    _ => t.base,
                };
                Line::from(Span::styled(
                    fit_right(&format!(" {}", m.text), msgs.width as usize),
                    style,
                ))
            })
            .collect();
        frame.render_widget(Paragraph::new(lines).style(t.base), msgs);
    }
    popups::draw(s, frame, area, ctx);
}

fn key(ctx: &DrawCtx, id: Cmd) -> String {
    ctx.keymap.first(id).unwrap_or_else(|| "?".into())
}

fn block<'a>(title: String, focused: bool, t: &Theme) -> Block<'a> {
    widgets::pane(widgets::pane_title(title, t), focused, t)
}

fn draw_editor(s: &mut QueryScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let focused = s.focus == Focus::Editor && s.popup.is_none();
    let title = match &s.conn {
        Conn::Connected { profile, .. } => format!(" SQL · {profile} "),
        Conn::Connecting { profile, .. } => format!(" SQL · {profile} (connecting…) "),
        Conn::None => " SQL · not connected ".to_string(),
    };
    let title = fit_right(&title, area.width.saturating_sub(4) as usize);
    let b = block(title, focused, t);
    let inner = b.inner(area);
    s.areas.editor = inner;
    frame.render_widget(b, area);
    s.editor.draw(frame, inner, t, focused);
}

fn draw_status(s: &QueryScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let mut spans = vec![Span::raw(" ")];
    match (&s.conn, &s.run) {
        (Conn::None, _) => spans.push(Span::styled(
            format!(
                "not connected · {} choose a connection",
                key(ctx, Cmd::QueryConnect)
            ),
            t.dim,
        )),
        (Conn::Connecting { profile, .. }, _) => {
            spans.push(Span::styled(format!("connecting to {profile}…"), t.dim))
        }
        (_, Some(r)) if r.running && r.paused => spans.push(Span::styled(
            format!(
                "paused at {} rows · {} fetches more",
                thousands(s.grid.rows.len()),
                key(ctx, Cmd::QueryMore)
            ),
            t.accent,
        )),
        (_, Some(r)) if r.running => {
            let secs = r.started.elapsed().as_secs_f64();
            spans.push(Span::styled(format!("⟳ running {secs:.1} s"), t.accent));
            if r.statements.len() > 1 {
                let (i, n) = (r.current + 1, r.statements.len());
                spans.push(Span::styled(format!(" · statement {i} of {n}"), t.dim));
            }
            spans.push(Span::styled(
                format!(" · esc or {} cancels", key(ctx, Cmd::QueryCancel)),
                t.dim,
            ));
        }
        (_, Some(r)) => {
            let took = r.elapsed.map(ms).unwrap_or_default();
            let n = r.statements.len();
            let (text, style) = match &r.error {
                Some(e) if e.cancelled => (format!("cancelled after {took}"), t.warn),
                Some(e) => (format!("✗ {}", e.message.replace('\n', " ")), t.error),
                None if n == 1 => (format!("✓ done in {took}"), t.success),
                None => (format!("✓ {n} statements in {took}"), t.success),
            };
            spans.push(Span::styled(text, style));
        }
        (Conn::Connected { describe, .. }, None) => {
            spans.push(Span::styled(format!("connected: {describe}"), t.dim))
        }
    }
    let line = Line::from(spans);
    frame.render_widget(Paragraph::new(line).style(t.base), area);
}

fn grid_title(s: &QueryScreen) -> String {
    let shown = s.grid.rows.len();
    let run = s.run.as_ref();
    let mut title = match run {
        Some(r) if r.paused => format!(
            " Result · showing {} of >{} ",
            thousands(shown),
            thousands(shown)
        ),
        Some(r) if r.result_total.is_some_and(|n| n as usize > shown) => format!(
            " Result · showing {} of {} ",
            thousands(shown),
            thousands(r.result_total.unwrap_or(0) as usize)
        ),
        Some(r) if r.cut => format!(
            " Result · the first {} (the rest was not read) ",
            rows_text(shown)
        ),
        Some(r) if r.running && !s.grid.columns.is_empty() => {
            format!(" Result · {} rows so far… ", thousands(shown))
        }
        Some(_) if !s.grid.columns.is_empty() => format!(" Result · {} ", rows_text(shown)),
        _ => " Result ".to_string(),
    };
    if s.grid.scrolled_right() {
        title.push_str("◂ ");
    }
    title
}

fn draw_grid(s: &mut QueryScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let focused = s.focus == Focus::Grid && s.popup.is_none();
    let b = block(grid_title(s), focused, t);
    let inner = b.inner(area);
    s.areas.grid = inner;
    frame.render_widget(b, area);
    if !s.grid.columns.is_empty() {
        s.grid.draw(frame, inner, t, focused);
        return;
    }
    let text: Vec<Line> = match (&s.conn, &s.run) {
        (Conn::None, _) if s.profiles.is_empty() => empty_state(s, ctx),
        (Conn::None, _) => vec![Line::from(Span::styled(
            format!(
                "Not connected. Press {} to choose one of {} connections.",
                key(ctx, Cmd::QueryConnect),
                s.profiles.len()
            ),
            t.dim,
        ))],
        (Conn::Connecting { .. }, _) => vec![Line::from(Span::styled("connecting…", t.dim))],
        (_, Some(r)) if r.running => vec![Line::from(Span::styled("running…", t.dim))],
        (_, Some(r)) if r.error.is_none() => {
            vec![Line::from(Span::styled("No result set.", t.dim))]
        }
        (_, Some(_)) => Vec::new(),
        (Conn::Connected { .. }, None) => vec![Line::from(Span::styled(
            format!(
                "Type SQL above. {} runs the statement under the cursor, {} runs everything \
                 (or the selection). {} moves between the editor and the results; {} browses \
                 the schema, {} the history.",
                key(ctx, Cmd::QueryRun),
                key(ctx, Cmd::QueryRunAll),
                key(ctx, Cmd::NavFocus),
                key(ctx, Cmd::QuerySchema),
                key(ctx, Cmd::QueryHistory),
            ),
            t.dim,
        ))],
    };
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .style(t.base),
        inner,
    );
}

/// What to do when the project has no database connections.
fn empty_state<'a>(s: &QueryScreen, ctx: &DrawCtx) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let mut lines = Vec::new();
    if let Some(e) = &s.profiles_error {
        lines.push(Line::from(Span::styled(e.clone(), t.error)));
    }
    lines.extend([
        Line::from(Span::styled(
            "No database connections yet. Add one from a shell:",
            t.base,
        )),
        Line::from(Span::styled(
            "  devsky db add NAME --url mysql://user@host/db",
            t.accent,
        )),
        Line::from(Span::styled(
            "  devsky db add NAME --url sqlite:///path/to/app.db",
            t.accent,
        )),
        Line::from(Span::styled(
            format!(
                "then press {} here to connect. Passwords are not stored: devsky asks when one is needed.",
                key(ctx, Cmd::QueryConnect)
            ),
            t.dim,
        )),
    ]);
    lines
}
