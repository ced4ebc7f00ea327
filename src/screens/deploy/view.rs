//! Drawing the Deploy screen: servers on the left (or on top when narrow), the tabs of the
//! selected server on the right (the Database tab's body is drawn by
//! [`super::database_view`]), the log pane below them, and the confirmation popups.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::database_view::draw_database;
use super::{DeployScreen, Popup, Row, Tab};
use crate::app::commands::Cmd;
use crate::app::context::DrawCtx;
use crate::app::popups::centered;
use crate::app::theme::Theme;
use crate::app::widgets::{self, fit_left, fit_right};
use crate::engine::deploy::{Level, LogLine, rfc3339};
use crate::engine::util::units::{human_size, thousands};

pub const EMPTY: &str = "No servers yet. Add one from a shell:\n\n  devsky server add NAME --url http://HOST:PORT --key KEY --env staging\n\nThe server runs `devsky serve --root DIR` (its key: `devsky serve key create --root DIR`).";

pub fn draw(s: &mut DeployScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let (left, right) = if area.width >= 100 {
        let [l, r] = Layout::horizontal([Constraint::Length(30), Constraint::Min(40)]).areas(area);
        (l, r)
    } else {
        let h = (s.servers.len() as u16 + 2).clamp(3, 6);
        let [l, r] = Layout::vertical([Constraint::Length(h), Constraint::Min(5)]).areas(area);
        (l, r)
    };
    s.areas = Default::default();
    draw_servers(s, frame, left, ctx);
    // The running job's progress (an upload: bytes sent of the total) on the last row.
    let running = s.job.and_then(|(id, ..)| {
        ctx.job_table
            .jobs
            .iter()
            .find(|j| j.id == id && j.running())
    });
    let right = match running {
        Some(j) if right.height > 6 => {
            let [r, line] =
                Layout::vertical([Constraint::Min(5), Constraint::Length(1)]).areas(right);
            let pct = j.percent().map(|p| format!(" {p}%")).unwrap_or_default();
            let text = format!(" ⟳ {} · {}{pct}", j.name, j.what);
            frame.render_widget(
                Paragraph::new(fit_right(&text, line.width as usize)).style(t.accent),
                line,
            );
            r
        }
        _ => right,
    };
    let (main, log) = if s.log.is_empty() {
        (right, None)
    } else {
        let lh = (right.height / 3).clamp(4, 12);
        let [m, l] = Layout::vertical([Constraint::Min(4), Constraint::Length(lh)]).areas(right);
        (m, Some(l))
    };
    draw_tabs(s, frame, main, ctx);
    if let Some(l) = log {
        draw_log(s, frame, l, ctx);
    }
    if let Some(p) = &s.popup {
        draw_popup(s, p, frame, area, t);
    }
}

fn key(ctx: &DrawCtx, id: Cmd) -> String {
    ctx.keymap.first(id).unwrap_or_else(|| "?".into())
}

fn block<'a>(title: String, focus: bool, t: &Theme) -> Block<'a> {
    widgets::pane(widgets::pane_title(title, t), focus, t)
}

fn draw_servers(s: &mut DeployScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let b = block(
        format!(" Deploy · servers · {} ", s.servers.len()),
        !s.focus_right && !s.log_focus,
        t,
    );
    let inner = b.inner(area);
    frame.render_widget(b, area);
    if let Some(e) = &s.load_error {
        frame.render_widget(
            Paragraph::new(e.as_str())
                .style(t.error)
                .wrap(Wrap { trim: false }),
            inner,
        );
        return;
    }
    if s.servers.is_empty() {
        frame.render_widget(Paragraph::new("No servers yet.").style(t.dim), inner);
        return;
    }
    let w = inner.width as usize;
    let h = inner.height as usize;
    let off = s.selected.saturating_sub(h.saturating_sub(1));
    (s.areas.servers, s.areas.servers_offset) = (inner, off);
    if !s.focus_right && !s.log_focus && s.popup.is_none() {
        widgets::focus_cursor(frame, inner, s.selected - off);
    }
    let lines: Vec<Line> = s
        .servers
        .iter()
        .enumerate()
        .skip(off)
        .take(h)
        .map(|(i, p)| {
            let text = format!(
                "{}{} · {} · {}",
                if p.is_default { "*" } else { " " },
                p.name,
                p.environment,
                p.transport
            );
            let style = if i == s.selected {
                t.selected
            } else if p.environment == "production" {
                t.error
            } else {
                t.base
            };
            Line::from(Span::styled(fit_right(&text, w), style))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).style(t.base), inner);
}

fn draw_tabs(s: &mut DeployScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let mut spans = vec![Span::raw(" ")];
    for tab in Tab::ALL {
        let style = if tab == s.tab { t.selected } else { t.dim };
        spans.push(Span::styled(format!(" {} ", tab.title()), style));
        spans.push(Span::raw(" "));
    }
    let server = s.server().map(|p| p.name.clone()).unwrap_or_default();
    let b = widgets::pane(Line::from(spans), s.focus_right, t).title_bottom(Span::styled(
        match s.tab {
            Tab::History => format!(
                " {server} · {} roll back to it · {} undo · {} next tab ",
                key(ctx, Cmd::DeployRollback),
                key(ctx, Cmd::DeployUndo),
                key(ctx, Cmd::DeployNextTab)
            ),
            _ => format!(" {server} · {} next tab ", key(ctx, Cmd::DeployNextTab)),
        },
        t.dim,
    ));
    let inner = b.inner(area);
    s.areas.right = inner;
    frame.render_widget(b, area);
    if s.servers.is_empty() {
        frame.render_widget(
            Paragraph::new(EMPTY)
                .style(t.dim)
                .wrap(Wrap { trim: false }),
            inner,
        );
        return;
    }
    match s.tab {
        Tab::Files => draw_files(s, frame, inner, ctx),
        Tab::Database => draw_database(s, frame, inner, t),
        Tab::History => draw_history(s, frame, inner, ctx),
    }
}

fn draw_files(s: &mut DeployScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let running = s.job.map(|(_, _, n)| n);
    let Some(plan) = &s.plan else {
        let msg = match running {
            Some(n) => format!("{n} running… (progress in the status line and on Jobs)"),
            None => format!(
                "Press {} to ask the server for its map: the files to upload and to delete show \
                 here. Then {} builds the package, {} deploys it.",
                key(ctx, Cmd::DeployPlan),
                key(ctx, Cmd::DeployBuild),
                key(ctx, Cmd::DeployDeploy)
            ),
        };
        frame.render_widget(
            Paragraph::new(msg).style(t.dim).wrap(Wrap { trim: false }),
            area,
        );
        return;
    };
    let left_out = plan.left_out_lines().join("; ");
    if plan.is_empty() {
        let mut msg =
            "Nothing to deploy: the server has every file and folder as the project has it."
                .to_string();
        if !left_out.is_empty() {
            msg.push_str(&format!(" Left out: {left_out}."));
        }
        frame.render_widget(
            Paragraph::new(msg)
                .style(t.success)
                .wrap(Wrap { trim: false }),
            area,
        );
        return;
    }
    let [top, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let sel = s.selection().unwrap_or_default();
    let mut head = vec![Span::styled(
        format!(
            "ticked: {} upload(s) ({}), {} delete(s), {} folder change(s)",
            thousands(sel.uploads.len()),
            human_size(sel.upload_bytes() as i64),
            thousands(sel.deletes.len()),
            thousands(sel.folders.len())
        ),
        t.accent,
    )];
    if !left_out.is_empty() {
        head.push(Span::styled(format!("  left out: {left_out}"), t.dim));
    }
    if s.filtering || !s.filter.text().is_empty() {
        head.push(Span::styled(
            format!("  filter: {}", s.filter.text()),
            t.warn,
        ));
        if s.filtering {
            head.push(Span::styled("▏", t.warn));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(head)), top);
    let h = list.height as usize;
    s.list_height = h;
    s.areas.rows = list;
    let visible = s.files.scroll_into_view(s.rows.len(), h);
    if s.focus_right && !s.filtering && s.popup.is_none() {
        widgets::focus_cursor(frame, list, s.files.selected.saturating_sub(visible.start));
    }
    let w = list.width as usize;
    let mut lines = Vec::new();
    for (i, row) in s.rows.iter().enumerate().skip(visible.start).take(h) {
        let cur = s.focus_right && i == s.files.selected;
        let (text, style) = match row {
            Row::Header { upload: true } => (
                format!(
                    "to upload — {} new or changed ({})",
                    thousands(plan.uploads.len()),
                    human_size(plan.upload_bytes() as i64)
                ),
                t.title,
            ),
            Row::Header { upload: false } => (
                format!(
                    "to delete — {} only on the server",
                    thousands(plan.deletes.len())
                ),
                t.title,
            ),
            Row::Folder {
                upload,
                dir,
                depth,
                label,
            } => {
                let (on, all) = s.folder_ticks(*upload, dir);
                let mark = if on == all {
                    "[x]"
                } else if on == 0 {
                    "[ ]"
                } else {
                    "[-]"
                };
                let indent = "  ".repeat(*depth as usize);
                let name = String::from_utf8_lossy(&dir[*label..]);
                (format!(" {indent}{mark} {name}/ ({on}/{all})"), t.accent)
            }
            Row::File { upload, idx, depth } => {
                let (path, size, letter) = if *upload {
                    let u = &plan.uploads[*idx];
                    (&u.path, u.size, u.change.letter().to_string())
                } else {
                    let d = &plan.deletes[*idx];
                    (&d.path, d.size, "D".to_string())
                };
                let mark = if s.is_ticked(path) { "[x]" } else { "[ ]" };
                let size = human_size(size as i64);
                let name = String::from_utf8_lossy(super::files::name(path)).to_string();
                let indent = "  ".repeat(*depth as usize);
                let pw = w.saturating_sub(10 + indent.len() + size.len());
                (
                    format!(
                        " {indent}{mark} {letter} {:<pw$} {size}",
                        fit_left(&name, pw)
                    ),
                    if *upload { t.base } else { t.warn },
                )
            }
        };
        let style = if cur { t.selected } else { style };
        lines.push(Line::from(Span::styled(fit_right(&text, w), style)));
    }
    frame.render_widget(Paragraph::new(lines).style(t.base), list);
}

/// The agent's answer; while it is awaited or when it failed, that is drawn in its place
/// and there is nothing more to draw.
pub(super) fn answered<'a, T>(
    answer: &'a Option<Result<T, String>>,
    frame: &mut Frame,
    area: Rect,
    t: &Theme,
) -> Option<&'a T> {
    match answer {
        None => {
            frame.render_widget(Paragraph::new("asking the agent…").style(t.dim), area);
            None
        }
        Some(Err(e)) => {
            frame.render_widget(
                Paragraph::new(e.as_str())
                    .style(t.error)
                    .wrap(Wrap { trim: false }),
                area,
            );
            None
        }
        Some(Ok(v)) => Some(v),
    }
}

fn draw_history(s: &mut DeployScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let Some(list) = answered(&s.history, frame, area, t) else {
        return;
    };
    if list.is_empty() {
        frame.render_widget(Paragraph::new("No deployments yet.").style(t.dim), area);
        return;
    }
    let w = area.width as usize;
    let h = area.height.saturating_sub(1) as usize;
    let off = s.hist_row.saturating_sub(h.saturating_sub(1));
    // Below the header line.
    let rows = Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(1),
        ..area
    };
    (s.areas.rows, s.areas.history_offset) = (rows, off);
    let mut lines = vec![Line::from(Span::styled(
        fit_right(
            &format!(
                "{:>4}  {:<8} {:<11} {:<15} summary",
                "id", "kind", "status", "started (UTC)"
            ),
            w,
        ),
        t.dim,
    ))];
    for (i, d) in list.iter().enumerate().skip(off).take(h) {
        // `2026-11-21T04:26:11.123Z` -> `11-21 04:26:11`
        let started: String = rfc3339(d.started)
            .chars()
            .skip(5)
            .take(14)
            .map(|c| if c == 'T' { ' ' } else { c })
            .collect();
        let text = format!(
            "{:>4}  {:<8} {:<11} {:<15} {}",
            d.id, d.kind, d.status, started, d.summary
        );
        let style = if s.focus_right && i == s.hist_row {
            t.selected
        } else if d.status == "failed" {
            t.error
        } else {
            t.base
        };
        lines.push(Line::from(Span::styled(fit_right(&text, w), style)));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

pub fn level_style(l: Level, t: &Theme) -> Style {
    match l {
        Level::Info => t.base,
        Level::Success => t.success,
        Level::Warning => t.warn,
        Level::Error => t.error,
    }
}

fn draw_log(s: &mut DeployScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let mut title = match s.following {
        Some(id) if s.job.is_some() => format!(" Log · deployment {id} · live "),
        Some(id) => format!(" Log · deployment {id} "),
        None => " Log ".to_string(),
    };
    // Inside the borders.
    let h = area.height.saturating_sub(2) as usize;
    s.log_height = h;
    s.log_scroll = s.log_scroll.min(s.log.len().saturating_sub(h));
    if s.log_scroll > 0 {
        title.push_str(&format!("· {} newer below ", s.log_scroll));
    }
    let mut b = block(title, s.log_focus, t);
    let inner = b.inner(area);
    s.areas.log = inner;
    let w = inner.width as usize;
    if s.log_focus {
        b = b.title_bottom(Span::styled(
            format!(
                " {}/{} scroll · {} follow ",
                key(ctx, Cmd::DeployLogUp),
                key(ctx, Cmd::DeployLogDown),
                key(ctx, Cmd::NavBottom)
            ),
            t.dim,
        ));
    }
    frame.render_widget(b, area);
    let end = s.log.len() - s.log_scroll;
    let lines: Vec<Line> = s.log[..end]
        .iter()
        .skip(end.saturating_sub(h))
        .map(|l: &LogLine| {
            let mut time = rfc3339(l.time_ms);
            time = time.get(11..19).unwrap_or("").to_string();
            Line::from(Span::styled(
                fit_right(&format!("{time} {}", l.message), w),
                level_style(l.level, t),
            ))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_popup(s: &DeployScreen, p: &Popup, frame: &mut Frame, area: Rect, t: &Theme) {
    let (name, env) = s
        .server()
        .map(|p| (p.name.clone(), p.environment.clone()))
        .unwrap_or_default();
    let (title, what) = match p {
        Popup::Deploy {
            uploads,
            deletes,
            bytes,
        } => (
            " Deploy? ",
            format!(
                "Deploy to {name} ({env}): {} upload(s) ({}), {} delete(s)?",
                thousands(*uploads),
                human_size(*bytes as i64),
                thousands(*deletes)
            ),
        ),
        Popup::Rollback { to: 0 } => (
            " Roll back? ",
            format!(
                "Roll {name} ({env}) back to before its first deployment? Every deployment is undone."
            ),
        ),
        Popup::Rollback { to } => (
            " Roll back? ",
            format!("Roll {name} ({env}) back to deployment {to}? Later deployments are undone."),
        ),
    };
    let w = area.width.saturating_sub(4).min(70);
    let popup = centered(area, w, 9);
    frame.render_widget(Clear, popup);
    let mut lines = vec![Line::from(Span::styled(what, t.popup))];
    if env == "production" {
        lines.push(Line::from(Span::styled(
            "This is a PRODUCTION server.",
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        )));
    }
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled("y", t.hint_key),
        Span::styled(" go ahead   ", t.popup),
        Span::styled("n", t.hint_key),
        Span::styled(" cancel", t.popup),
    ]));
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
