//! Drawing the Deploy screen's Database tab: the agent's status field by field (root,
//! policy, lock, current deployment, what is running), then its database (`GET
//! database`): connected or why not, version, schema checksum and totals, and the tables
//! with their rows and sizes from the first one scrolled to.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::DeployScreen;
use crate::app::theme::Theme;
use crate::app::widgets::{fit_left, fit_right};
use crate::engine::util::units::{human_size, thousands};

pub(super) fn draw_database(s: &mut DeployScreen, frame: &mut Frame, area: Rect, t: &Theme) {
    let Some(v) = super::view::answered(&s.status, frame, area, t) else {
        return;
    };
    let w = area.width as usize;
    let missing = "not reported by this agent";
    let field = |k: &str, val: Option<String>, style: Style| -> Line<'static> {
        Line::from(vec![
            Span::styled(format!("{k:<10}"), t.dim),
            match val {
                Some(x) => Span::styled(fit_right(&x, w.saturating_sub(10)), style),
                None => Span::styled(missing.to_string(), t.dim),
            },
        ])
    };
    let lock = &v["lock"];
    let lock_text = match lock["locked"].as_bool() {
        Some(true) => Some(format!(
            "locked by {} since {}",
            lock["holder"].as_str().unwrap_or("?"),
            lock["since"].as_str().unwrap_or("?")
        )),
        Some(false) => Some("free".into()),
        None => None,
    };
    let current = match &v["current"] {
        serde_json::Value::Null if v.get("current").is_some() => Some("no deployment yet".into()),
        c if c.is_object() => Some(format!(
            "deployment {} ({}) {}",
            c["id"].as_i64().unwrap_or(0),
            c["kind"].as_str().unwrap_or("?"),
            c["summary"].as_str().unwrap_or("")
        )),
        _ => None,
    };
    let running = v["running"].as_array().map(|a| {
        if a.is_empty() {
            "nothing".to_string()
        } else {
            a.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    });
    let root = v["root"]
        .as_str()
        .map(|r| fit_left(r, w.saturating_sub(10)));
    let policy = crate::engine::remote::policy_text(v);
    let mut lines = vec![
        field("root", root, t.base),
        field("policy", policy, t.base),
        field("lock", lock_text, t.base),
        field("current", current, t.base),
        field("running", running, t.base),
    ];
    let d = match &s.database {
        None => {
            lines.push(field("database", Some("asking the agent…".into()), t.dim));
            return render_lines(frame, area, lines);
        }
        Some(Err(e)) => {
            lines.push(field("database", Some(String::new()), t.base));
            lines.push(Line::from(Span::styled(e.clone(), t.warn)));
            return render_lines(frame, area, lines);
        }
        Some(Ok(d)) => d,
    };
    if d["configured"] != true {
        lines.push(field(
            "database",
            Some("none: the agent was started without --db URL".into()),
            t.dim,
        ));
        return render_lines(frame, area, lines);
    }
    let str_of = |k: &str| d[k].as_str().unwrap_or("?").to_string();
    lines.push(field("database", Some(str_of("url")), t.base));
    if d["connected"] != true {
        lines.push(field("", Some("not connected".into()), t.error));
        lines.push(Line::from(Span::styled(str_of("error"), t.error)));
        return render_lines(frame, area, lines);
    }
    let version = d["server_version"].as_str().unwrap_or("version unknown");
    lines.push(field(
        "",
        Some(format!("connected · {} {version}", str_of("kind"))),
        t.success,
    ));
    if let Some(e) = d["error"].as_str() {
        lines.push(Line::from(Span::styled(e.to_string(), t.error)));
        return render_lines(frame, area, lines);
    }
    let tables = d["tables"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let size = |v: &serde_json::Value| v.as_i64().map_or_else(|| "?".into(), human_size);
    let count = |v: &serde_json::Value| {
        v.as_u64()
            .map_or_else(|| "?".into(), |n| thousands(n as usize))
    };
    let checksum = d["schema_checksum"].as_str().unwrap_or("?");
    lines.push(field(
        "schema",
        Some(format!(
            "{} · {} table(s) · {} row(s) · {}",
            checksum.get(..16).unwrap_or(checksum),
            thousands(tables.len()),
            count(&d["total_rows"]),
            size(&d["total_bytes"])
        )),
        t.base,
    ));
    if tables.is_empty() {
        return render_lines(frame, area, lines);
    }
    // The table list gets what is left, from the first table scrolled to.
    let room = (area.height as usize)
        .saturating_sub(lines.len() + 1)
        .max(1);
    let first = s.db_row.min(tables.len().saturating_sub(room));
    let shown = &tables[first..(first + room).min(tables.len())];
    let name_w = w.saturating_sub(26).max(8);
    let head = if shown.len() < tables.len() {
        format!(
            "table ({}-{} of {})",
            first + 1,
            first + shown.len(),
            tables.len()
        )
    } else {
        "table".to_string()
    };
    lines.push(Line::from(Span::styled(
        fit_right(
            &format!("{:<name_w$} {:>12} {:>11}", head, "rows", "size"),
            w,
        ),
        t.dim,
    )));
    for tb in shown {
        let name = fit_right(tb["name"].as_str().unwrap_or("?"), name_w);
        lines.push(Line::from(Span::styled(
            fit_right(
                &format!(
                    "{name:<name_w$} {:>12} {:>11}",
                    count(&tb["rows"]),
                    size(&tb["bytes"])
                ),
                w,
            ),
            t.base,
        )));
    }
    // Scrolled past the end: back to where the last table shows.
    s.db_row = first;
    render_lines(frame, area, lines);
}

fn render_lines(frame: &mut Frame, area: Rect, lines: Vec<Line<'static>>) {
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}
