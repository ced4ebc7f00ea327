//! Drawing the Snapshots screen: the list, the details pane, the create and delete popups.
//! A snapshot with a database part has a `[db]` mark in the list and a `database` line in
//! the details (its profile and table counts).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::{DbInfo, Field, Popup, SnapshotsScreen};
use crate::app::commands::Cmd;
use crate::app::context::DrawCtx;
use crate::app::popups::centered;
use crate::app::theme::Theme;
use crate::app::widgets::{self, fit_right, picker, popup_block};
use crate::engine::util::units::{format_time, human_size, thousands};
use crate::store::snapshots::Snapshot;

pub fn draw(s: &mut SnapshotsScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let (list_area, details_area) = if area.width >= 110 {
        let [l, d] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(area);
        (l, d)
    } else {
        // the details need 8 lines, 9 with a database part (and a border); the list takes the rest
        let has_db = s
            .selected_snapshot()
            .is_some_and(|snap| s.db_parts.contains_key(&snap.id));
        let details_h = if has_db { 11 } else { 10 };
        let [l, d] =
            Layout::vertical([Constraint::Min(5), Constraint::Length(details_h)]).areas(area);
        (l, d)
    };
    draw_list(s, frame, list_area, ctx);
    draw_details(s, frame, details_area, ctx);
    match &s.popup {
        Some(Popup::Create { .. }) => draw_create(s, frame, area, ctx),
        Some(Popup::Delete { id, name, files }) => {
            draw_delete(frame, area, *id, name, *files, ctx.theme)
        }
        Some(Popup::Tables(t)) => super::dbtools::draw_tables(frame, area, t, ctx),
        Some(Popup::Report { title, text }) => {
            super::dbtools::draw_report(frame, area, title, text, ctx)
        }
        None => {}
    }
}

fn key(ctx: &DrawCtx, id: Cmd) -> String {
    ctx.keymap.first(id).unwrap_or_else(|| "?".into())
}

fn draw_list(s: &mut SnapshotsScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let mut title = format!(" My Snapshots · {} ", thousands(s.list.len()));
    if s.create_job.is_some() {
        title.push_str("· taking a snapshot… ");
    }
    if s.diff_job.is_some() {
        title.push_str("· diffing… ");
    }
    let focused = s.popup.is_none();
    let block = widgets::pane(widgets::pane_title(title, t), focused, t);
    let inner = block.inner(area);
    s.rows_area = Rect::default();
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = &s.load_error {
        lines.push(Line::from(Span::styled(e.clone(), t.error)));
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .style(t.base),
            inner,
        );
        return;
    }
    if s.list.is_empty() {
        let msg = if s.create_job.is_some() {
            "Taking the first snapshot… (progress in the status line and on Jobs)".to_string()
        } else {
            format!(
                "No snapshots yet. Press {} to take one: it stores every file of the project \
                 (or of one domain), so you can see later what changed.",
                key(ctx, Cmd::SnapshotsCreate)
            )
        };
        lines.push(Line::from(Span::styled(msg, t.dim)));
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .style(t.base),
            inner,
        );
        return;
    }
    // Columns: id, mark, name (the rest), created, domain, files, size.
    let wide = width >= 90;
    let time_w = if wide { 20 } else { 16 };
    let (dom_w, files_w, size_w) = (10, 7, 9);
    // id, mark, then a space before each column after the name
    let fixed = 5 + 2 + (1 + time_w) + (1 + dom_w) + (1 + files_w) + (1 + size_w);
    let name_w = width.saturating_sub(fixed).max(8);
    lines.push(Line::from(Span::styled(
        format!(
            "{:>4}   {:<name_w$} {:<time_w$} {:<dom_w$} {:>files_w$} {:>size_w$}",
            "id",
            "name",
            if wide { "created" } else { "created (UTC)" },
            "domain",
            "files",
            "size"
        ),
        t.dim,
    )));
    let h = (inner.height as usize).saturating_sub(1);
    s.list_height = h;
    let visible = s.nav.scroll_into_view(s.list.len(), h);
    // The rows, below the header line.
    s.rows_area = Rect {
        y: inner.y + 1,
        height: inner.height.saturating_sub(1),
        ..inner
    };
    if focused {
        widgets::focus_cursor(
            frame,
            s.rows_area,
            s.nav.selected.saturating_sub(visible.start),
        );
    }
    for (row, snap) in s.list.iter().enumerate().skip(visible.start).take(h) {
        let selected = row == s.nav.selected;
        let base = if selected { t.selected } else { t.base };
        let dim = if selected { t.selected } else { t.dim };
        let mark = if s.marked == Some(snap.id) {
            "◆ "
        } else {
            "  "
        };
        let partial = if snap.partial { " [partial]" } else { "" };
        let db = if s.db_parts.contains_key(&snap.id) {
            " [db]"
        } else {
            ""
        };
        let tags = partial.len() + db.len();
        let name = fit_right(&snap.name, name_w.saturating_sub(tags));
        let name_pad = name_w.saturating_sub(name.width() + tags);
        let mut time = format_time(snap.created);
        if !wide {
            time.truncate(16);
        }
        let domain = fit_right(snap.domain.as_deref().unwrap_or("(all)"), dom_w);
        let spans = vec![
            Span::styled(format!("{:>4} ", snap.id), dim),
            Span::styled(mark, if selected { t.selected } else { t.accent }),
            Span::styled(name, base),
            Span::styled(db, if selected { t.selected } else { t.accent }),
            Span::styled(partial, if selected { t.selected } else { t.warn }),
            Span::styled(
                format!(
                    "{:name_pad$} {time:<time_w$} {domain:<dom_w$} {:>files_w$} {:>size_w$}",
                    "",
                    thousands(snap.files.max(0) as usize),
                    human_size(snap.bytes)
                ),
                dim,
            ),
        ];
        let line = Line::from(spans);
        lines.push(if selected {
            line.style(t.selected)
        } else {
            line
        });
    }
    frame.render_widget(Paragraph::new(lines).style(t.base), inner);
}

fn globs(v: &[String], none: &str) -> String {
    if v.is_empty() {
        none.to_string()
    } else {
        v.join(", ")
    }
}

/// The database line of the details: profile, and the table counts once read.
fn db_line(profile: &str, info: Option<&Option<Result<DbInfo, String>>>) -> String {
    match info {
        Some(Some(Ok(i))) => {
            let skipped = match i.skipped {
                0 => String::new(),
                n => format!(", {n} skipped"),
            };
            format!(
                "{profile} · {} tables: {} data, {} checksum{skipped}",
                i.tables, i.data, i.checksum
            )
        }
        Some(Some(Err(e))) => format!("{profile} · cannot read it: {e}"),
        _ => format!("{profile} · reading…"),
    }
}

fn details_lines(
    snap: &Snapshot,
    marked: Option<i64>,
    db: Option<String>,
    ctx: &DrawCtx,
) -> Vec<Line<'static>> {
    let t = ctx.theme;
    let field = |k: &str, v: String, style| -> Line<'static> {
        Line::from(vec![
            Span::styled(format!("{k:<9}"), t.dim),
            Span::styled(v, style),
        ])
    };
    let domain = match &snap.domain {
        Some(d) => d.clone(),
        None => "(all: the whole project)".to_string(),
    };
    let mut lines = vec![
        field("name", snap.name.clone(), t.base),
        field("created", format_time(snap.created), t.base),
        field("domain", domain, t.base),
        field("include", globs(&snap.include, "everything"), t.base),
        field("exclude", globs(&snap.exclude, "nothing"), t.base),
        field(
            "contents",
            format!(
                "{} files · {} ({} bytes)",
                thousands(snap.files.max(0) as usize),
                human_size(snap.bytes),
                thousands(snap.bytes.max(0) as usize)
            ),
            t.base,
        ),
        if snap.partial {
            field(
                "partial",
                "yes: some files could not be read when it was taken".into(),
                t.warn,
            )
        } else {
            field("partial", "no: every file was stored".into(), t.base)
        },
    ];
    if let Some(db) = db {
        lines.push(field("database", db, t.accent));
    }
    let diff = key(ctx, Cmd::SnapshotsDiff);
    let hint = match marked {
        Some(m) if m != snap.id => format!("{diff} diff snapshot {m} → snapshot {}", snap.id),
        _ => format!(
            "{diff} diff with the working tree · {} mark as the old side",
            key(ctx, Cmd::SnapshotsMark)
        ),
    };
    lines.push(Line::from(Span::styled(hint, t.dim)));
    lines
}

fn draw_details(s: &SnapshotsScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let snap = s.selected_snapshot();
    let title = match snap {
        Some(snap) => format!(" Snapshot {} ", snap.id),
        None => " Snapshot ".to_string(),
    };
    let block = widgets::pane(widgets::pane_title(title, t), false, t);
    let lines = match snap {
        Some(snap) => {
            let db = s
                .db_parts
                .get(&snap.id)
                .map(|(profile, object)| db_line(profile, s.db_info.get(object)));
            details_lines(snap, s.marked, db, ctx)
        }
        None => vec![Line::from(Span::styled(
            "A snapshot is the map of the project's files at a moment, with every file's \
             content stored (deduplicated) under .devsky/objects. Diff it later against the \
             working tree or another snapshot to see what changed.",
            t.dim,
        ))],
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block)
            .style(t.base),
        area,
    );
}

fn draw_create(s: &SnapshotsScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let Some(Popup::Create {
        name,
        field,
        domains,
        choice,
        profiles,
        db_choice,
    }) = &s.popup
    else {
        return;
    };
    let dom_labels: Vec<String> = std::iter::once("(whole project)".to_string())
        .chain(domains.iter().cloned())
        .collect();
    let db_labels: Vec<String> = if profiles.is_empty() {
        Vec::new()
    } else {
        std::iter::once("(none)".to_string())
            .chain(profiles.iter().cloned())
            .collect()
    };
    let has_db = !db_labels.is_empty();
    // name line, blank, "Snapshot of:", the picker rows, blank, [ "Database:", its rows,
    // blank ], keys; plus the border
    let fixed = if has_db { 7 } else { 5 };
    let max_h = area.height.saturating_sub(2).max(8);
    let h = ((fixed + dom_labels.len() + db_labels.len() + 2) as u16).min(max_h);
    let w = area.width.saturating_sub(4).min(64);
    let popup = centered(area, w, h);
    frame.render_widget(Clear, popup);
    let block = popup_block(" New snapshot ", t);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);

    let label = "Name (optional): ";
    let mut lines = Vec::new();
    let name_style = if *field == Field::Name {
        t.base
    } else {
        t.popup
    };
    let mut name_spans = vec![
        Span::styled(label, t.popup),
        Span::styled(name.text().to_string(), name_style),
    ];
    if name.text().is_empty() {
        name_spans.push(Span::styled("snapshot <date and time>", t.dim));
    }
    lines.push(Line::from(name_spans));
    lines.push(Line::default());
    let heading = |text: &'static str, on: bool| {
        Line::from(Span::styled(text, if on { t.accent } else { t.popup }))
    };
    lines.push(heading(
        "Snapshot of (tab or ↓ to choose):",
        *field == Field::Domain,
    ));
    // When both lists do not fit, the database list gets at most half of the room.
    let avail = (inner.height as usize).saturating_sub(fixed);
    let (dom_h, db_h) = if has_db {
        let want_db = db_labels.len().min(avail / 2).max(1);
        let dom_h = dom_labels.len().min(avail.saturating_sub(want_db)).max(1);
        (
            dom_h,
            db_labels.len().min(avail.saturating_sub(dom_h)).max(1),
        )
    } else {
        (avail.max(1), 0)
    };
    let width = inner.width as usize;
    picker(
        &mut lines,
        &dom_labels,
        *choice,
        dom_h,
        *field == Field::Domain,
        width,
        t,
    );
    lines.push(Line::default());
    if has_db {
        lines.push(heading("Database:", *field == Field::Database));
        picker(
            &mut lines,
            &db_labels,
            *db_choice,
            db_h,
            *field == Field::Database,
            width,
            t,
        );
        lines.push(Line::default());
    }
    lines.push(Line::from(vec![
        Span::styled("enter", t.hint_key),
        Span::styled(" take it  ", t.popup),
        Span::styled("tab", t.hint_key),
        Span::styled(
            if has_db {
                " name/domain/database  "
            } else {
                " name/domain  "
            },
            t.popup,
        ),
        Span::styled("esc", t.hint_key),
        Span::styled(" cancel", t.popup),
    ]));
    frame.render_widget(Paragraph::new(lines), inner);
    if *field == Field::Name {
        let x = inner.x + label.width() as u16 + name.cursor_column();
        frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), inner.y));
    }
}

fn draw_delete(frame: &mut Frame, area: Rect, id: i64, name: &str, files: i64, t: &Theme) {
    let w = area.width.saturating_sub(4).min(64);
    let popup = centered(area, w, 8);
    frame.render_widget(Clear, popup);
    let lines = vec![
        Line::from(Span::styled(
            format!(
                "Delete snapshot {id} {name:?} ({} files)? Its contents are freed by `devsky gc`.",
                thousands(files.max(0) as usize)
            ),
            t.warn,
        )),
        Line::default(),
        Line::from(vec![
            Span::styled("y", t.hint_key),
            Span::styled(" delete it   ", t.popup),
            Span::styled("n", t.hint_key),
            Span::styled(" keep it", t.popup),
        ]),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(popup_block(" Delete snapshot? ", t)),
        popup,
    );
}
