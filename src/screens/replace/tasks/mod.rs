//! The Tasks tab of the Replace screen (`t` switches): the mass tasks over the project's
//! files (`engine::tasks`: checksums, sizes, lines, encoding, syntax, functions). Enter
//! runs the selected one as a job (its progress shows next to it and in Jobs; `ctrl-c`
//! cancels it); its result table shows below, `tab` moves between the list and the
//! table, `e` exports the table as CSV or JSON to a new file in `.devsky/exports/`.

use std::sync::{Arc, Mutex};

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Level};
use crate::app::listnav::ListNav;
use crate::app::popups::centered;
use crate::app::screen::Hint;
use crate::app::widgets::{fit_left, fit_right, pane, pane_title, popup_block};
use crate::engine::jobs::{JobEvent, JobId, Outcome};
use crate::engine::tasks::{self, Cell, TASKS, Table};
use crate::engine::util::export;

/// Widest a column other than the last is drawn.
const MAX_COLUMN: usize = 40;

#[derive(Default)]
pub struct Tasks {
    /// The selected task.
    list: ListNav,
    /// The selected row of the result.
    rows: ListNav,
    /// The result table has the keys (else the list).
    on_rows: bool,
    page: usize,
    job: Option<JobId>,
    /// The running task and its progress (done, total).
    running: Option<(&'static str, u64, Option<u64>)>,
    /// Where the job leaves its table.
    slot: Arc<Mutex<Option<Table>>>,
    table: Option<Table>,
    exporting: bool,
}

impl Tasks {
    pub fn captures_input(&self) -> bool {
        self.exporting
    }

    fn run(&mut self, ctx: &mut Ctx) {
        if self.job.is_some() {
            ctx.status(
                Level::Warn,
                "a task is running: wait for it, or ctrl-c stops it",
            );
            return;
        }
        let name = TASKS[self.list.selected.min(TASKS.len() - 1)].0;
        let (project, slot) = (ctx.project.clone(), self.slot.clone());
        let job = ctx.jobs.spawn_blocking(&format!("task {name}"), move |p| {
            let store = project.open_store(false)?;
            let t = tasks::run_named(&project, &store, name, None, p)?;
            let summary = format!("{name}: {}", t.summary);
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
            Ok(summary)
        });
        self.job = Some(job);
        self.running = Some((name, 0, None));
        ctx.status(Level::Info, format!("running {name} (job #{job})"));
    }

    fn export(&mut self, json: bool, ctx: &mut Ctx) {
        let Some(t) = &self.table else { return };
        let dir = ctx
            .project
            .root
            .join(crate::store::STATE_DIR)
            .join("exports");
        let (ext, body) = match json {
            true => ("json", format!("{:#}\n", t.to_json())),
            false => ("csv", t.csv()),
        };
        match export::write_new(&dir, &format!("task-{}", t.task), ext, &body) {
            Ok(path) => {
                let shown = path.strip_prefix(&ctx.project.root).unwrap_or(&path);
                let msg = format!("exported {} row(s) to {}", t.rows.len(), shown.display());
                ctx.status(Level::Success, msg);
            }
            Err(e) => ctx.status(
                Level::Error,
                format!("cannot export to {}: {e}", dir.display()),
            ),
        }
    }

    pub fn command(&mut self, cmd: Cmd, ctx: &mut Ctx) -> bool {
        match cmd {
            Cmd::ReplaceTaskRun => self.run(ctx),
            Cmd::ReplaceTaskExport if self.table.is_none() => {
                ctx.status(Level::Info, "no result to export: run a task first (enter)");
            }
            Cmd::ReplaceTaskExport => self.exporting = true,
            Cmd::ReplaceStop => match self.job {
                Some(id) => {
                    ctx.jobs.cancel(id);
                    ctx.status(Level::Info, "cancelling the task");
                }
                None => return false,
            },
            Cmd::NavFocus => self.on_rows = !self.on_rows && self.table.is_some(),
            other if other.is_nav() => {
                return if self.on_rows {
                    let n = self.table.as_ref().map_or(0, |t| t.rows.len());
                    self.rows.apply(other, n, self.page).is_some()
                } else {
                    self.list.apply(other, TASKS.len(), TASKS.len()).is_some()
                };
            }
            _ => return false,
        }
        true
    }

    pub fn input_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        if !self.exporting {
            return false;
        }
        self.exporting = false;
        match key.code {
            KeyCode::Char('c') => self.export(false, ctx),
            KeyCode::Char('j') => self.export(true, ctx),
            _ => ctx.status(Level::Info, "nothing exported"),
        }
        true
    }

    pub fn on_job(&mut self, ev: &JobEvent, ctx: &mut Ctx) -> bool {
        match ev {
            JobEvent::Progress {
                id, done, total, ..
            } if self.job == Some(*id) => {
                if let Some(r) = &mut self.running {
                    (r.1, r.2) = (*done, *total);
                }
                true
            }
            JobEvent::Finished { id, outcome } if self.job == Some(*id) => {
                self.job = None;
                self.running = None;
                match outcome {
                    Outcome::Done(s) => {
                        let t = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                        if let Some(t) = t {
                            let left = t.problems.len();
                            let mut msg = s.clone();
                            if left > 0 {
                                msg += &format!("; {left} file(s) left alone (see the export)");
                            }
                            ctx.status(Level::Success, msg);
                            self.table = Some(t);
                            self.rows = ListNav::default();
                        }
                    }
                    Outcome::Failed(e) => ctx.status(Level::Error, e.clone()),
                    Outcome::Cancelled => ctx.status(Level::Warn, "task cancelled"),
                }
                true
            }
            _ => false,
        }
    }

    pub fn hints(&self) -> Vec<Hint> {
        if self.exporting {
            return vec![
                Hint::Key("c", "CSV"),
                Hint::Key("j", "JSON"),
                Hint::Key("esc", "cancel"),
            ];
        }
        vec![
            Hint::Cmd(Cmd::ReplaceTaskRun, "run"),
            Hint::Cmd(Cmd::ReplaceTaskExport, "export"),
            Hint::Key("tab", "list/table"),
            Hint::Cmd(Cmd::ReplaceTab, "replace"),
        ]
    }

    pub fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let [top, bottom] = Layout::vertical([
            Constraint::Length(TASKS.len() as u16 + 2),
            Constraint::Min(4),
        ])
        .areas(area);
        let block = pane(
            pane_title(" Tasks · enter runs ".into(), t),
            !self.on_rows,
            t,
        );
        let inner = block.inner(top);
        frame.render_widget(block, top);
        let w = inner.width as usize;
        let lines: Vec<Line> = TASKS
            .iter()
            .enumerate()
            .map(|(i, (name, what))| {
                let mut text = format!(" {name:<10} {what}");
                if let Some((r, done, total)) = self.running
                    && r == *name
                {
                    let of = total.map(|n| format!("/{n}")).unwrap_or_default();
                    text = format!(" {name:<10} running… {done}{of}");
                }
                let style = match (i == self.list.selected, self.on_rows) {
                    (true, false) => t.selected,
                    (true, true) => t.accent,
                    _ => t.base,
                };
                Line::from(Span::styled(fit_right(&text, w), style))
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
        self.draw_table(frame, bottom, ctx);
        if self.exporting {
            self.draw_export(frame, area, ctx);
        }
    }

    fn draw_table(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let title = match &self.table {
            Some(tb) => format!(" Result · {} · {} row(s) ", tb.task, tb.rows.len()),
            None => " Result ".to_string(),
        };
        let block = pane(pane_title(title, t), self.on_rows, t);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let Some(tb) = &self.table else {
            let text = "Pick a task and press enter: it runs over the project's files as a job, \
                        and its table shows here; e exports it as CSV or JSON.";
            frame.render_widget(
                Paragraph::new(Span::styled(text, t.dim)).wrap(Wrap { trim: false }),
                inner,
            );
            return;
        };
        let w = inner.width as usize;
        let h = (inner.height as usize).saturating_sub(2);
        self.page = h.max(1);
        let first_line = |c: &Cell| c.to_string().lines().next().unwrap_or("").to_string();
        let last = tb.columns.len().saturating_sub(1);
        let mut widths: Vec<usize> = tb.columns.iter().map(|c| c.width()).collect();
        for r in &tb.rows {
            for (wd, c) in widths.iter_mut().zip(r) {
                *wd = (*wd).max(first_line(c).width()).min(MAX_COLUMN);
            }
        }
        let line = |cells: Vec<(String, bool)>| {
            let mut s = String::new();
            for (i, (c, num)) in cells.into_iter().enumerate() {
                // the last column takes the rest of the width, unless it holds numbers
                let rest = w.saturating_sub(s.width());
                let wd = if i == last && !num {
                    rest
                } else {
                    widths[i].min(rest)
                };
                let c = if num {
                    fit_left(&c, wd)
                } else {
                    fit_right(&c, wd)
                };
                let pad = wd.saturating_sub(c.width());
                if num {
                    s += &" ".repeat(pad);
                    s += &c;
                } else {
                    s += &c;
                    s += &" ".repeat(pad);
                }
                if i < last {
                    s += "  ";
                }
            }
            fit_right(&s, w)
        };
        let mut lines = vec![Line::from(Span::styled(
            line(
                tb.columns
                    .iter()
                    .map(|c| (c.to_uppercase(), false))
                    .collect(),
            ),
            t.accent,
        ))];
        for row in self.rows.scroll_into_view(tb.rows.len(), h) {
            let cells = tb.rows[row]
                .iter()
                .map(|c| (first_line(c), matches!(c, Cell::Num(_))))
                .collect();
            let style = if row == self.rows.selected && self.on_rows {
                t.selected
            } else {
                t.base
            };
            lines.push(Line::from(Span::styled(line(cells), style)));
        }
        while lines.len() < h + 1 {
            lines.push(Line::default());
        }
        let mut summary = tb.summary.clone();
        if !tb.problems.is_empty() {
            summary += &format!("; {} left alone", tb.problems.len());
        }
        lines.push(Line::from(Span::styled(fit_right(&summary, w), t.dim)));
        frame.render_widget(Paragraph::new(lines), inner);
    }

    fn draw_export(&self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let Some(tb) = &self.table else { return };
        let popup = centered(area, area.width.saturating_sub(4).min(60), 7);
        frame.render_widget(Clear, popup);
        let dir = std::path::Path::new(crate::store::STATE_DIR).join("exports");
        let lines = vec![
            Line::from(Span::styled(
                format!(
                    "Export the {} row(s) of {} to {}/",
                    tb.rows.len(),
                    tb.task,
                    dir.display()
                ),
                t.popup,
            )),
            Line::default(),
            Line::from(vec![
                Span::styled("c", t.hint_key),
                Span::styled(" CSV   ", t.popup),
                Span::styled("j", t.hint_key),
                Span::styled(" JSON   ", t.popup),
                Span::styled("esc", t.hint_key),
                Span::styled(" cancel", t.popup),
            ]),
        ];
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(popup_block(" Export ", t)),
            popup,
        );
    }
}

#[cfg(test)]
mod tests;
