//! The Scripts screen's change picker: once the snapshots are chosen, every changed file
//! and table (`engine::scripts::candidates`, read on the jobs pool) with a checkbox —
//! space ticks one, `a` all or none — and the script is created of the ticked ones only
//! (`CreateOptions::only_paths` / `only_tables`).

use std::collections::BTreeSet;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::view::keys_line;
use super::{Kind, Popup, Running, ScriptsReply, ScriptsScreen};
use crate::app::context::{Ctx, Level};
use crate::app::popups::centered;
use crate::app::theme::Theme;
use crate::app::widgets::{picker, popup_block};
use crate::engine::scripts;
use crate::store::Store;

/// One change that can go into the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// A path, or a table's name.
    pub name: String,
    /// `added`, `changed`, `deleted`, or `table`.
    pub what: String,
    pub ticked: bool,
}

impl Item {
    fn is_table(&self) -> bool {
        self.what == "table"
    }
}

/// The picker popup: what the script will be made from, and the changes.
#[derive(Debug, Clone)]
pub struct Pick {
    pub name: Option<String>,
    pub from: i64,
    pub to: Option<i64>,
    pub items: Vec<Item>,
    pub selected: usize,
}

impl Pick {
    /// The ticked paths and tables.
    fn ticked(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let pick = |table: bool| {
            self.items
                .iter()
                .filter(|i| i.ticked && i.is_table() == table)
                .map(|i| i.name.clone())
                .collect()
        };
        (pick(false), pick(true))
    }
}

impl ScriptsScreen {
    /// Read what a script from `from` (to `to`) could carry; the picker opens when it is
    /// read (`job_finished`).
    pub(super) fn start_pick(
        &mut self,
        name: Option<String>,
        from: i64,
        to: Option<i64>,
        ctx: &mut Ctx,
    ) {
        let (project, db, tx) = (ctx.project.clone(), self.db_path.clone(), self.replies(ctx));
        let seq = self.tickets.issue();
        let job = ctx.jobs.spawn_blocking("script changes", move |p| {
            let store = Store::open(&db, false)?;
            let d = scripts::candidates(
                &project,
                &store,
                &from.to_string(),
                to.map(|t| t.to_string()).as_deref(),
                p,
            )?;
            let mut items: Vec<Item> = d
                .files
                .iter()
                .map(|f| Item {
                    name: f.path.clone(),
                    what: f.what().into(),
                    ticked: true,
                })
                .collect();
            items.extend(d.tables.iter().map(|t| Item {
                name: t.clone(),
                what: "table".into(),
                ticked: true,
            }));
            let n = items.len();
            let _ = tx.send(ScriptsReply::Candidates {
                seq,
                pick: Pick {
                    name,
                    from,
                    to,
                    items,
                    selected: 0,
                },
            });
            Ok(format!("{n} change(s) to pick from"))
        });
        self.job = Some(Running {
            job,
            seq,
            kind: Kind::Pick,
        });
        ctx.status(Level::Info, format!("reading the changes (job #{job})"));
    }

    /// The picker's keys.
    pub(super) fn pick_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let Some(Popup::Pick(p)) = &mut self.popup else {
            return;
        };
        let n = p.items.len();
        match key.code {
            KeyCode::Esc => {
                self.popup = None;
                ctx.status(Level::Info, "no script made");
            }
            KeyCode::Up | KeyCode::Char('k') => p.selected = p.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                p.selected = (p.selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::PageUp => p.selected = p.selected.saturating_sub(10),
            KeyCode::PageDown => p.selected = (p.selected + 10).min(n.saturating_sub(1)),
            KeyCode::Char(' ') => {
                if let Some(i) = p.items.get_mut(p.selected) {
                    i.ticked = !i.ticked;
                }
            }
            KeyCode::Char('a') => {
                let all = p.items.iter().all(|i| i.ticked);
                for i in &mut p.items {
                    i.ticked = !all;
                }
            }
            KeyCode::Enter => {
                let (paths, tables) = p.ticked();
                let (name, from, to) = (p.name.clone(), p.from, p.to);
                if paths.is_empty() && tables.is_empty() && n > 0 {
                    ctx.status(Level::Warn, "nothing ticked: tick a change with space");
                    return;
                }
                self.popup = None;
                self.start_create(name, from, to, Some((paths, tables)), ctx);
            }
            _ => {}
        }
    }
}

/// Draw the picker.
pub(super) fn draw_pick(frame: &mut Frame, area: Rect, p: &Pick, t: &Theme) {
    let h = area.height.saturating_sub(2);
    let w = area.width.saturating_sub(4).min(76);
    let popup = centered(area, w, h);
    frame.render_widget(Clear, popup);
    let ticked = p.items.iter().filter(|i| i.ticked).count();
    let title = format!(" Pick the changes · {ticked} of {} ticked ", p.items.len());
    let block = popup_block(&title, t);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let labels: Vec<String> = p
        .items
        .iter()
        .map(|i| {
            let mark = if i.ticked { "[x]" } else { "[ ]" };
            if i.is_table() {
                format!("{mark} table {}", i.name)
            } else {
                format!("{mark} {:<7} {}", i.what, i.name)
            }
        })
        .collect();
    let rows = (inner.height as usize).saturating_sub(2).max(1);
    let mut lines = Vec::new();
    if labels.is_empty() {
        lines.push(Line::from(Span::styled(
            "nothing changed: the script will be empty",
            t.dim,
        )));
    }
    picker(
        &mut lines,
        &labels,
        p.selected,
        rows,
        true,
        inner.width as usize,
        t,
    );
    while lines.len() < rows {
        lines.push(Line::default());
    }
    lines.push(Line::default());
    lines.push(keys_line(
        &[
            ("space", "tick"),
            ("a", "all/none"),
            ("enter", "create"),
            ("esc", "cancel"),
        ],
        t,
    ));
    frame.render_widget(Paragraph::new(lines), inner);
}
