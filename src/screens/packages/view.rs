//! Drawing the Packages screen: the Registry pane above the Project pane, a line of what
//! the keys do, and the popups (resolution before an install, Tune report before a
//! submit, reports). Only what the workers read is drawn.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{Focus, PackagesScreen, Popup, findings_text, has_errors};
use crate::app::commands::Cmd;
use crate::app::context::DrawCtx;
use crate::app::listnav::ListNav;
use crate::app::popups::centered;
use crate::app::widgets::{self, fit_right, popup_block, wrap_text};
use crate::engine::util::units::rfc3339;

pub fn draw(s: &mut PackagesScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let [bar, top, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(50),
        Constraint::Min(3),
    ])
    .areas(area);
    draw_bar(s, frame, bar, ctx);
    draw_registry(s, frame, top, ctx);
    draw_project(s, frame, bottom, ctx);
    if s.popup.is_some() {
        draw_popup(s, frame, area, ctx);
    }
}

fn draw_bar(s: &PackagesScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let key = |id: Cmd| ctx.keymap.first(id).unwrap_or_default();
    let text = match (&s.lists.registry, &s.load_error) {
        (_, Some(e)) => format!("⚠ {e}"),
        (None, _) if s.loaded => {
            "no registry: `devsky registry login URL --token TOKEN` first".to_string()
        }
        (Some(url), _) => format!(
            "{url} · {} sync · {} install · {} submit",
            key(Cmd::PackagesSync),
            key(Cmd::PackagesInstall),
            key(Cmd::PackagesSubmit)
        ),
        (None, _) => "loading…".to_string(),
    };
    let style = if s.load_error.is_some() {
        t.error
    } else {
        t.dim
    };
    let text = fit_right(&text, area.width as usize);
    frame.render_widget(
        Paragraph::new(Span::styled(text, style)).style(t.base),
        area,
    );
}

/// The rows of a list pane, scrolled to its selection, the selected one highlighted.
fn rows(
    nav: &mut ListNav,
    items: Vec<String>,
    empty: &str,
    focused: bool,
    frame: &mut Frame,
    inner: Rect,
    ctx: &DrawCtx,
) {
    let t = ctx.theme;
    let h = inner.height as usize;
    let visible = nav.scroll_into_view(items.len(), h);
    if focused && !items.is_empty() {
        widgets::focus_cursor(frame, inner, nav.selected.saturating_sub(visible.start));
    }
    let mut lines = vec![];
    if items.is_empty() {
        lines.push(Line::from(Span::styled(empty.to_string(), t.dim)));
    }
    for row in visible {
        let text = fit_right(&items[row], inner.width as usize);
        let style = if row == nav.selected {
            t.selected
        } else {
            t.base
        };
        lines.push(Line::from(Span::styled(text, style)));
    }
    frame.render_widget(Paragraph::new(lines).style(t.base), inner);
}

fn draw_registry(s: &mut PackagesScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let focused = s.focus == Focus::Registry;
    let title = format!(" Registry · {} packages ", s.lists.available.len());
    let block = widgets::pane(widgets::pane_title(title, t), focused, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    s.heights.0 = inner.height as usize;
    let items: Vec<String> = s
        .lists
        .available
        .iter()
        .map(|p| {
            let versions: Vec<String> = p
                .versions
                .iter()
                .map(|v| {
                    if v.yanked {
                        format!("{} (yanked)", v.version)
                    } else {
                        v.version.clone()
                    }
                })
                .collect();
            let here = match s.installed_version(&p.name) {
                Some(v) => format!("  [here: {v}]"),
                None => String::new(),
            };
            format!("{:<24} {}{here}", p.name, versions.join(", "))
        })
        .collect();
    let empty = "Nothing synced yet: press u to sync the registry's index.";
    rows(
        &mut s.registry_nav,
        items,
        empty,
        focused,
        frame,
        inner,
        ctx,
    );
}

fn draw_project(s: &mut PackagesScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let focused = s.focus == Focus::Project;
    let title = format!(" Project · {} packages ", s.lists.local.len());
    let block = widgets::pane(widgets::pane_title(title, t), focused, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    s.heights.1 = inner.height as usize;
    let items: Vec<String> = s
        .lists
        .local
        .iter()
        .map(|p| {
            let sky = if p.sky_id > 0 {
                format!("SKY_ID {}", p.sky_id)
            } else {
                "no SKY_ID".to_string()
            };
            let origin = match (p.mine, p.builds) {
                (false, _) => "installed".to_string(),
                (true, 0) => "mine".to_string(),
                (true, 1) => "mine, 1 build".to_string(),
                (true, n) => format!("mine, {n} builds"),
            };
            format!(
                "{:>3} {:<16} {:<8} {:<12} {:>3}r {origin}",
                p.id, p.name, p.version, sky, p.records
            )
        })
        .collect();
    let empty = "No packages here yet (Scripts makes them; i installs from the registry).";
    rows(&mut s.project_nav, items, empty, focused, frame, inner, ctx);
}

fn draw_popup(s: &PackagesScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let w = area.width.saturating_sub(4).min(76);
    let text_w = w.saturating_sub(2) as usize;
    let (title, body, keys): (String, String, &str) = match &s.popup {
        None => return,
        Some(Popup::Asking(what)) => (" Packages ".into(), what.clone(), "esc cancel"),
        Some(Popup::Install { want, steps }) => {
            let mut text = format!("Installing {want} takes, dependencies first:\n");
            for st in steps {
                match st.already {
                    Some(id) => text.push_str(&format!(
                        "  = {} {}  (here already: package {id})\n",
                        st.name, st.version
                    )),
                    None => text.push_str(&format!("  + {} {}\n", st.name, st.version)),
                }
            }
            (" Install? ".into(), text, "y install · n cancel")
        }
        Some(Popup::Submit {
            label, findings, ..
        }) => {
            let report = if findings.is_empty() {
                "Tune: no findings.".to_string()
            } else {
                format!("Tune:\n{}", findings_text(findings))
            };
            if has_errors(findings) {
                (
                    format!(" Submit {label}: refused "),
                    format!(
                        "{report}\n\nTune found errors: nothing will be sent. Fix them \
                             (devsky package set) and try again."
                    ),
                    "esc close",
                )
            } else {
                (
                    format!(" Submit {label}? "),
                    format!("{report}\n\nReserve a SKY_ID and upload it to the registry?"),
                    "y submit · n cancel",
                )
            }
        }
        Some(Popup::Report { title, text }) => (title.clone(), text.clone(), "esc close"),
        Some(Popup::Releases {
            list,
            offline,
            selected,
        }) => {
            let mut text = if *offline {
                "The registry cannot be reached; the releases kept here:\n".to_string()
            } else {
                String::new()
            };
            if list.is_empty() {
                text.push_str("No release snapshots yet (devsky registry release NAME PKG@V...).");
            }
            for (i, r) in list.iter().enumerate() {
                let mark = if i == *selected { '>' } else { ' ' };
                text.push_str(&format!(
                    "{mark} {:<24} {} by {}\n",
                    r.name,
                    rfc3339(r.created),
                    r.created_by
                ));
            }
            (
                " Releases ".into(),
                text,
                "j/k choose · enter install… · esc close",
            )
        }
    };
    let lines: Vec<Line> = wrap_text(&body, text_w)
        .into_iter()
        .map(|l| Line::from(Span::styled(l, t.popup)))
        .collect();
    let h = (lines.len() as u16 + 2).min(area.height);
    let popup = centered(area, w, h);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(popup_block(&title, t).title_bottom(Span::styled(format!(" {keys} "), t.dim))),
        popup,
    );
}
