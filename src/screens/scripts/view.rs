//! Drawing the Scripts screen: the scripts pane, the My Builds pane, and the popups
//! (create, build, rollback confirm, wind export, report). Reads only the screen's state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::{Field, Popup, ScriptsScreen};
use crate::app::commands::Cmd;
use crate::app::context::DrawCtx;
use crate::app::input::LineInput;
use crate::app::popups::centered;
use crate::app::theme::Theme;
use crate::app::widgets::{fit_left, fit_right, pane, pane_title, picker, popup_block};
use crate::engine::util::units::format_time;

pub fn draw(s: &mut ScriptsScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    draw_scripts(s, frame, top, ctx);
    draw_builds(s, frame, bottom, ctx);
    let t = ctx.theme;
    match &s.popup {
        Some(Popup::Create {
            name,
            field,
            from,
            to,
        }) => draw_create(s, frame, area, name, *field, *from, *to, t),
        Some(Popup::Build {
            script,
            target,
            field,
            db,
            force,
        }) => draw_build(s, frame, area, *script, target, *field, *db, *force, t),
        Some(Popup::Rollback { build, chain }) => draw_rollback(frame, area, *build, *chain, t),
        Some(Popup::Wind {
            script,
            path,
            archive,
        }) => draw_wind(frame, area, *script, path, *archive, t),
        Some(Popup::Report { title, text }) => draw_report(frame, area, title, text, t),
        Some(Popup::Restore { id, path }) => super::bin::draw_confirm(frame, area, *id, path, t),
        Some(Popup::Pick(p)) => super::pick::draw_pick(frame, area, p, t),
        None => {}
    }
}

fn key(ctx: &DrawCtx, id: Cmd) -> String {
    ctx.keymap.first(id).unwrap_or_else(|| "?".into())
}

fn message(frame: &mut Frame, inner: Rect, text: String, style: ratatui::style::Style) {
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(text, style))).wrap(Wrap { trim: false }),
        inner,
    );
}

fn draw_scripts(s: &mut ScriptsScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let mut title = format!(" Scripts · {} ", s.lists.scripts.len());
    if s.previewing.is_some() {
        title.push_str("· loading… ");
    }
    let block = pane(pane_title(title, t), !s.builds_focus, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(e) = &s.load_error {
        return message(frame, inner, e.clone(), t.error);
    }
    if !s.loaded {
        return message(frame, inner, "reading…".into(), t.dim);
    }
    if s.lists.scripts.is_empty() {
        let text = if s.lists.snapshots.is_empty() {
            "No scripts yet. A script is what changed since a snapshot: take one on \
             Snapshots (2), work, then come back and press c."
                .to_string()
        } else {
            format!(
                "No scripts yet. Press {} to turn what changed since a snapshot (files and \
                 database) into a change script.",
                key(ctx, Cmd::ScriptsCreate)
            )
        };
        return message(frame, inner, text, t.dim);
    }
    let w = inner.width as usize;
    let h = inner.height as usize;
    s.page = h.saturating_sub(1).max(1);
    let visible = s.scripts_nav.scroll_into_view(s.lists.scripts.len(), h);
    let mut lines = Vec::new();
    for (row, p) in s
        .lists
        .scripts
        .iter()
        .enumerate()
        .skip(visible.start)
        .take(h)
    {
        let selected = row == s.scripts_nav.selected;
        let to = p
            .to_snapshot
            .map_or("work".to_string(), |t| format!("s{t}"));
        let tail = format!(
            " {:>4} files {:>3} sql  s{}→{to}",
            p.files, p.sql_steps, p.from_snapshot
        );
        let head = format!("{:>4} ", p.id);
        let name_w = w.saturating_sub(head.width() + tail.width());
        let name = fit_right(&p.name, name_w);
        let text = format!("{head}{name:<name_w$}{tail}");
        let style = if selected && !s.builds_focus {
            t.selected
        } else if selected {
            t.accent
        } else {
            t.base
        };
        lines.push(Line::from(Span::styled(fit_right(&text, w), style)));
    }
    frame.render_widget(Paragraph::new(lines).style(t.base), inner);
}

fn draw_builds(s: &mut ScriptsScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    if s.show_bin {
        return super::bin::draw(s, frame, area, ctx);
    }
    let t = ctx.theme;
    let mut title = format!(" My Builds · {} ", s.lists.builds.len());
    if let Some(j) = s.job {
        title.push_str(&format!("· job #{} running… ", j.job));
    }
    let block = pane(pane_title(title, t), s.builds_focus, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !s.loaded || s.load_error.is_some() {
        return;
    }
    if s.lists.builds.is_empty() {
        let text = format!(
            "No builds yet. Select a script and press {} to apply it to another \
             installation (a folder and its database).",
            key(ctx, Cmd::ScriptsBuild)
        );
        return message(frame, inner, text, t.dim);
    }
    let w = inner.width as usize;
    let h = inner.height as usize;
    let visible = s.builds_nav.scroll_into_view(s.lists.builds.len(), h);
    let mut lines = Vec::new();
    for (row, b) in s
        .lists
        .builds
        .iter()
        .enumerate()
        .skip(visible.start)
        .take(h)
    {
        let selected = row == s.builds_nav.selected;
        let kind = match b.undoes {
            Some(u) => format!("undo {u}"),
            None => b.kind.clone(),
        };
        let mut time = format_time(b.started);
        time.truncate(16);
        let head = format!(
            "{:>4} {:<8} {:<11} s{:<3} ",
            b.id, kind, b.status, b.package
        );
        let rest_w = w.saturating_sub(head.width());
        let target = fit_left(&b.target, rest_w.saturating_sub(17).max(8));
        let text = format!("{head}{target} {time}");
        let style = if selected && s.builds_focus {
            t.selected
        } else if selected {
            t.accent
        } else if b.status == "failed" {
            t.warn
        } else {
            t.base
        };
        lines.push(Line::from(Span::styled(fit_right(&text, w), style)));
    }
    frame.render_widget(Paragraph::new(lines).style(t.base), inner);
}

fn heading(text: &str, on: bool, t: &Theme) -> Line<'static> {
    Line::from(Span::styled(
        text.to_string(),
        if on { t.accent } else { t.popup },
    ))
}

pub(super) fn keys_line(pairs: &[(&str, &str)], t: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (k, label) in pairs {
        spans.push(Span::styled(k.to_string(), t.hint_key));
        spans.push(Span::styled(format!(" {label}  "), t.popup));
    }
    Line::from(spans)
}

/// A one-line text field: label, text (or a dim placeholder); the cursor when active.
#[allow(clippy::too_many_arguments)]
fn field_line(
    frame: &mut Frame,
    inner: Rect,
    row: u16,
    label: &str,
    input: &LineInput,
    placeholder: &str,
    active: bool,
    t: &Theme,
) -> Line<'static> {
    let mut spans = vec![
        Span::styled(label.to_string(), if active { t.accent } else { t.popup }),
        Span::styled(input.text().to_string(), t.base),
    ];
    if input.text().is_empty() {
        spans.push(Span::styled(placeholder.to_string(), t.dim));
    }
    if active {
        let x = inner.x + label.width() as u16 + input.cursor_column();
        frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), inner.y + row));
    }
    Line::from(spans)
}

#[allow(clippy::too_many_arguments)]
fn draw_create(
    s: &ScriptsScreen,
    frame: &mut Frame,
    area: Rect,
    name: &LineInput,
    field: Field,
    from: usize,
    to: usize,
    t: &Theme,
) {
    let snaps: Vec<String> = s
        .lists
        .snapshots
        .iter()
        .map(|(id, n)| format!("{id}  {n}"))
        .collect();
    let tos: Vec<String> = std::iter::once("(the working tree and the database now)".to_string())
        .chain(snaps.iter().cloned())
        .collect();
    let h = area.height.saturating_sub(2).min(18);
    let w = area.width.saturating_sub(4).min(64);
    let popup = centered(area, w, h);
    frame.render_widget(Clear, popup);
    let block = popup_block(" New script ", t);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    // from heading, rows, to heading, rows, blank, name, blank, keys
    let avail = (inner.height as usize).saturating_sub(6);
    let from_h = snaps.len().min(avail / 2).max(1);
    let to_h = tos.len().min(avail.saturating_sub(from_h)).max(1);
    let width = inner.width as usize;
    let mut lines = vec![heading("From snapshot:", field == Field::From, t)];
    picker(
        &mut lines,
        &snaps,
        from,
        from_h,
        field == Field::From,
        width,
        t,
    );
    lines.push(heading("To:", field == Field::To, t));
    picker(&mut lines, &tos, to, to_h, field == Field::To, width, t);
    lines.push(Line::default());
    let row = lines.len() as u16;
    lines.push(field_line(
        frame,
        inner,
        row,
        "Name: ",
        name,
        "<project>-<date>",
        field == Field::Name,
        t,
    ));
    lines.push(Line::default());
    lines.push(keys_line(
        &[
            ("enter", "create"),
            ("tab", "from/to/name"),
            ("esc", "cancel"),
        ],
        t,
    ));
    frame.render_widget(Paragraph::new(lines), inner);
}

#[allow(clippy::too_many_arguments)]
fn draw_build(
    s: &ScriptsScreen,
    frame: &mut Frame,
    area: Rect,
    script: i64,
    target: &LineInput,
    field: Field,
    db: usize,
    force: bool,
    t: &Theme,
) {
    let sql = s
        .lists
        .scripts
        .iter()
        .find(|p| p.id == script)
        .map_or(0, |p| p.sql_steps);
    let dbs: Vec<String> = std::iter::once("(none)".to_string())
        .chain(s.lists.profiles.iter().cloned())
        .collect();
    let h = area.height.saturating_sub(2).min(14);
    let w = area.width.saturating_sub(4).min(70);
    let popup = centered(area, w, h);
    frame.render_widget(Clear, popup);
    let title = format!(" Build script {script} ");
    let block = popup_block(&title, t);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let mut lines = vec![field_line(
        frame,
        inner,
        0,
        "Target folder: ",
        target,
        "/other/installation, or server:NAME",
        field == Field::Target,
        t,
    )];
    lines.push(Line::default());
    let what = if sql > 0 {
        format!("Database ({sql} SQL step(s); the target's profile):")
    } else {
        "Database (the script has no SQL):".to_string()
    };
    lines.push(heading(&what, field == Field::Db, t));
    let avail = (inner.height as usize).saturating_sub(6).max(1);
    picker(
        &mut lines,
        &dbs,
        db,
        dbs.len().min(avail),
        field == Field::Db,
        inner.width as usize,
        t,
    );
    lines.push(Line::from(Span::styled(
        format!(
            "[{}] force over conflicts (f on the database list)",
            if force { "x" } else { " " }
        ),
        if force { t.warn } else { t.popup },
    )));
    lines.push(Line::default());
    lines.push(keys_line(
        &[
            ("enter", "build"),
            ("tab", "folder/database"),
            ("esc", "cancel"),
        ],
        t,
    ));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_rollback(frame: &mut Frame, area: Rect, build: i64, chain: bool, t: &Theme) {
    let w = area.width.saturating_sub(4).min(64);
    let popup = centered(area, w, 9);
    frame.render_widget(Clear, popup);
    let lines = vec![
        Line::from(Span::styled(
            format!(
                "Roll back build {build}? Its files and its database go back to the state before it, and are checked."
            ),
            t.warn,
        )),
        Line::default(),
        Line::from(Span::styled(
            format!(
                "[{}] with the newer builds that touched the same files or tables (c)",
                if chain { "x" } else { " " }
            ),
            t.popup,
        )),
        Line::default(),
        keys_line(&[("y", "roll back"), ("c", "chain"), ("n", "keep it")], t),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(popup_block(" Roll back? ", t)),
        popup,
    );
}

fn draw_wind(
    frame: &mut Frame,
    area: Rect,
    script: i64,
    path: &LineInput,
    archive: bool,
    t: &Theme,
) {
    let w = area.width.saturating_sub(4).min(70);
    let popup = centered(area, w, 8);
    frame.render_widget(Clear, popup);
    let title = if archive {
        format!(" Export script {script} as a package archive ")
    } else {
        format!(" Export script {script} as a wind ")
    };
    let block = popup_block(&title, t);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let lines = vec![
        field_line(frame, inner, 0, "File: ", path, "change.sh", true, t),
        Line::default(),
        Line::from(Span::styled(
            if archive {
                "A .sky archive (FORMATS.md): devsky package import FILE reads it."
            } else {
                "A standalone sh script: sh FILE apply | rollback, in the target folder."
            },
            t.dim,
        )),
        Line::default(),
        keys_line(&[("enter", "export"), ("esc", "cancel")], t),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn draw_report(frame: &mut Frame, area: Rect, title: &str, text: &str, t: &Theme) {
    let w = area.width.saturating_sub(2);
    let h = area.height.saturating_sub(2);
    let popup = centered(area, w, h);
    frame.render_widget(Clear, popup);
    let mut lines: Vec<Line> = text
        .lines()
        .map(|l| Line::from(Span::styled(l.to_string(), t.popup)))
        .collect();
    lines.push(Line::default());
    lines.push(keys_line(&[("esc", "close")], t));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(popup_block(title, t)),
        popup,
    );
}
