//! The Jobs screen: every background job of this session, its progress and its log; the
//! Log pane shows the selected job's log and how it ended, the full error of a failed job
//! included (wrapped, the newest lines kept in view until it is scrolled: Tab to it).
//! Cancelling a running job asks first (`y` cancels; `n` or `Esc` keeps it running). The
//! pane with the keys is marked (`widgets::pane`), has the cursor and its hints.

use crossterm::event::{KeyCode, KeyEvent, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::{Screen, ScreenId};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Level};
use crate::app::jobtable::JobInfo;
use crate::app::listnav::ListNav;
use crate::app::mouse;
use crate::app::popups::centered;
use crate::app::screen::Hint;
use crate::app::widgets::{self, fit_right, pane_inner, wrap_text};
use crate::engine::jobs::{JobEvent, JobId, Outcome};

/// The widest the kind column gets; longer kinds are cut with `…`.
const MAX_KIND: usize = 20;

/// Which pane has the keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Focus {
    #[default]
    List,
    Log,
}

#[derive(Default)]
pub struct JobsScreen {
    list: ListNav,
    list_height: usize,
    focus: Focus,
    /// The first row of the Log pane shown; None: the newest rows (it follows).
    log_top: Option<usize>,
    /// Rows of the selected job's log and of the pane, as last drawn.
    log_rows: usize,
    log_height: usize,
    /// The job whose cancelling waits for `y`.
    confirm: Option<(JobId, String)>,
    /// Where the list's rows and the log were last drawn (inside their borders).
    rows_area: Rect,
    log_area: Rect,
}

impl JobsScreen {
    pub fn new() -> JobsScreen {
        JobsScreen::default()
    }

    /// Ask before cancelling the job at row `row`, if it runs.
    fn ask_cancel(&mut self, row: usize, ctx: &mut Ctx) -> bool {
        let Some(job) = ctx.job_table.jobs.get(row).filter(|j| j.running()) else {
            ctx.status(Level::Info, "the selected job is not running");
            return true;
        };
        self.list.selected = row;
        self.confirm = Some((job.id, job.name.clone()));
        true
    }

    /// Select another job: its log starts at its newest rows.
    fn select(&mut self, row: usize) {
        if row != self.list.selected {
            self.list.selected = row;
            self.log_top = None;
        }
    }

    /// Scroll the Log pane by a `nav.*` command; at the end it follows again.
    fn scroll_log(&mut self, id: Cmd) -> bool {
        let last = self.log_rows.saturating_sub(self.log_height);
        let top = self.log_top.unwrap_or(last) as isize;
        let page = self.log_height.max(1) as isize;
        let to = match id {
            Cmd::NavDown => top + 1,
            Cmd::NavUp => top - 1,
            Cmd::NavPageDown => top + page,
            Cmd::NavPageUp => top - page,
            Cmd::NavTop => 0,
            Cmd::NavBottom => last as isize,
            _ => return false,
        };
        let to = to.clamp(0, last as isize) as usize;
        self.log_top = (to < last).then_some(to);
        true
    }
}

fn bar(percent: Option<u64>, width: usize) -> String {
    match percent {
        Some(p) => {
            let full = (p as usize * width) / 100;
            format!("{}{} {p:>3}%", "█".repeat(full), "░".repeat(width - full))
        }
        None => format!("{:width$}  …", ""),
    }
}

/// One row of the list; `kind` is the width of the kind column.
fn describe(j: &JobInfo, kind: usize) -> String {
    let secs = match &j.ended {
        Some((t, _)) => t.duration_since(j.started).as_secs_f64(),
        None => j.started.elapsed().as_secs_f64(),
    };
    let tail = match &j.ended {
        None => format!("{} {}", bar(j.percent(), 12), j.what),
        Some((_, Outcome::Done(s))) => first_line(s),
        Some((_, Outcome::Failed(e))) => first_line(e),
        Some((_, Outcome::Cancelled)) => "cancelled".into(),
    };
    let name = fit_right(&j.name, kind);
    let pad = kind.saturating_sub(name.width());
    format!(
        "#{:<3} {name}{:pad$} {:<9} {:>6.1}s  {}",
        j.id,
        "",
        j.state(),
        secs,
        tail
    )
}

/// The first line of a message, marked `…` when more follows (the Log pane has it all).
fn first_line(s: &str) -> String {
    match s.trim_end().split_once('\n') {
        Some((first, _)) => format!("{first} …"),
        None => s.trim_end().to_string(),
    }
}

/// What the Log pane shows for a job: its log, then how it ended (the whole message).
fn log_lines(j: &JobInfo) -> Vec<String> {
    let mut out = j.log.clone();
    match &j.ended {
        None => {}
        Some((_, Outcome::Done(s))) => out.push(format!("done: {s}")),
        Some((_, Outcome::Failed(e))) => out.push(format!("failed: {e}")),
        Some((_, Outcome::Cancelled)) => out.push("cancelled".into()),
    }
    out
}

impl Screen for JobsScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Jobs
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let jobs = &ctx.job_table.jobs;
        self.list.clamp(jobs.len());
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
        let block = widgets::pane(
            widgets::pane_title(format!(" Jobs ({}) ", jobs.len()), t),
            self.focus == Focus::List,
            t,
        );
        let kind = jobs
            .iter()
            .map(|j| j.name.width())
            .max()
            .unwrap_or(0)
            .clamp(4, MAX_KIND);
        let lines: Vec<Line> = if jobs.is_empty() {
            vec![Line::from(Span::styled(
                "No jobs yet. Long operations (imports, maps, deploys) run here in the background.",
                t.dim,
            ))]
        } else {
            self.list_height = top.height.saturating_sub(2) as usize;
            let visible = self.list.scroll_into_view(jobs.len(), self.list_height);
            let width = top.width.saturating_sub(2) as usize;
            jobs.iter()
                .enumerate()
                .skip(visible.start)
                .take(visible.len())
                .map(|(i, j)| {
                    let style = if i == self.list.selected {
                        t.selected
                    } else {
                        match j.ended {
                            Some((_, Outcome::Failed(_))) => t.error,
                            Some((_, Outcome::Done(_))) => t.base,
                            Some(_) => t.dim,
                            None => t.accent,
                        }
                    };
                    Line::from(Span::styled(fit_right(&describe(j, kind), width), style))
                })
                .collect()
        };
        frame.render_widget(Paragraph::new(lines).block(block).style(t.base), top);
        self.rows_area = pane_inner(top);
        if self.focus == Focus::List && !jobs.is_empty() {
            let row = self.list.selected.saturating_sub(self.list.offset);
            widgets::focus_cursor(frame, self.rows_area, row);
        }

        let selected = jobs.get(self.list.selected);
        let (w, h) = (
            bottom.width.saturating_sub(2) as usize,
            bottom.height.saturating_sub(2) as usize,
        );
        self.log_rows = 0;
        let log: Vec<Line> = selected
            .map(|j| {
                let failed = matches!(j.ended, Some((_, Outcome::Failed(_))));
                let all = log_lines(j);
                let last = all.len().saturating_sub(1);
                // Wrapped to the pane, the newest lines in view.
                let rows: Vec<(String, bool)> = all
                    .iter()
                    .enumerate()
                    .flat_map(|(i, l)| {
                        let err = failed && i == last;
                        wrap_text(l, w).into_iter().map(move |r| (r, err))
                    })
                    .collect();
                self.log_rows = rows.len();
                let last = rows.len().saturating_sub(h);
                let skip = self.log_top.map_or(last, |t| t.min(last));
                rows.into_iter()
                    .skip(skip)
                    .take(h)
                    .map(|(r, err)| Line::from(Span::styled(r, if err { t.error } else { t.base })))
                    .collect()
            })
            .unwrap_or_default();
        self.log_height = h;
        let title = match selected {
            Some(j) if self.log_top.is_some() => format!(" Log · #{} {} · scrolled ", j.id, j.name),
            Some(j) => format!(" Log · #{} {} ", j.id, j.name),
            None => " Log ".into(),
        };
        let focused = self.focus == Focus::Log;
        let block = widgets::pane(widgets::pane_title(title, t), focused, t);
        frame.render_widget(Paragraph::new(log).block(block).style(t.base), bottom);
        self.log_area = pane_inner(bottom);
        if focused {
            widgets::focus_cursor(frame, self.log_area, 0);
        }

        if let Some((id, name)) = &self.confirm {
            let text = format!("Cancel job #{id} ({name})? What it did so far may stay half done.");
            let keys = "y cancel it · n or Esc keep it running";
            let w = (text.width().max(keys.width()) + 4).min(area.width as usize) as u16;
            let rows = wrap_text(&text, w.saturating_sub(4) as usize);
            let r = centered(area, w, rows.len() as u16 + 4);
            let mut lines: Vec<Line> = rows
                .into_iter()
                .map(|l| Line::from(format!(" {l}")))
                .collect();
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(format!(" {keys}"), t.hint_key)));
            frame.render_widget(Clear, r);
            frame.render_widget(
                Paragraph::new(lines).style(t.popup).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(t.border_focus)
                        .title(Span::styled(" Cancel job ", t.title))
                        .style(t.popup),
                ),
                r,
            );
        }
    }

    fn command(&mut self, id: Cmd, ctx: &mut Ctx) -> bool {
        let n = ctx.job_table.jobs.len();
        if self.focus == Focus::Log && self.scroll_log(id) {
            return true;
        }
        if let Some(row) = self.list.target(id, n, self.list_height) {
            self.select(row);
            return true;
        }
        match id {
            Cmd::NavFocus => {
                self.focus = match self.focus {
                    Focus::List => Focus::Log,
                    Focus::Log => Focus::List,
                }
            }
            Cmd::AppBack if self.focus == Focus::Log => self.focus = Focus::List,
            Cmd::JobsCancel => return self.ask_cancel(self.list.selected, ctx),
            Cmd::JobsCancelLatest => {
                let jobs = &ctx.job_table.jobs;
                let Some(row) = jobs.iter().rposition(JobInfo::running) else {
                    return false;
                };
                return self.ask_cancel(row, ctx);
            }
            Cmd::JobsClear => {
                ctx.job_table.clear_finished();
                self.list.selected = 0;
            }
            _ => return false,
        }
        true
    }

    fn captures_input(&self) -> bool {
        self.confirm.is_some()
    }

    fn hints(&self) -> Option<Vec<Hint>> {
        Some(match (self.confirm.is_some(), self.focus) {
            (true, _) => vec![Hint::Key("y", "cancel the job"), Hint::Key("n", "keep it")],
            (false, Focus::List) => vec![
                Hint::Cmd(Cmd::JobsCancel, "cancel"),
                Hint::Cmd(Cmd::JobsClear, "clear"),
                Hint::Cmd(Cmd::NavFocus, "log"),
            ],
            (false, Focus::Log) => vec![
                Hint::Cmd(Cmd::NavUp, "scroll"),
                Hint::Cmd(Cmd::NavBottom, "follow"),
                Hint::Cmd(Cmd::NavFocus, "jobs"),
            ],
        })
    }

    /// A click selects the job under it (the list has the keys) or gives the keys to the
    /// log; the wheel over the log scrolls it.
    fn mouse(&mut self, ev: MouseEvent, _area: Rect, ctx: &mut Ctx) -> bool {
        if self.confirm.is_some() {
            // The question waits for its answer: the mouse changes nothing meanwhile.
            return true;
        }
        let mut nav = self.list;
        if let Some(row) = mouse::clicked_row(&ev, self.rows_area) {
            self.focus = Focus::List;
            if nav.click(row, ctx.job_table.jobs.len()) {
                self.select(nav.selected);
            }
            return true;
        }
        if mouse::clicked_row(&ev, self.log_area).is_some() {
            self.focus = Focus::Log;
            return true;
        }
        if mouse::inside(&ev, self.log_area) {
            let nav = match ev.kind {
                MouseEventKind::ScrollDown => Cmd::NavDown,
                MouseEventKind::ScrollUp => Cmd::NavUp,
                _ => return false,
            };
            for _ in 0..3 {
                self.scroll_log(nav);
            }
            return true;
        }
        false
    }

    fn input_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                if let Some((id, name)) = self.confirm.take() {
                    if ctx.job_table.running().any(|j| j.id == id) {
                        ctx.jobs.cancel(id);
                        ctx.status(Level::Warn, format!("cancelling job #{id} ({name})"));
                    } else {
                        ctx.status(Level::Info, format!("job #{id} ({name}) had ended"));
                    }
                }
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                if let Some((id, name)) = self.confirm.take() {
                    ctx.status(Level::Info, format!("job #{id} ({name}) keeps running"));
                }
            }
            _ => {}
        }
        true
    }

    fn on_job(&mut self, _ev: &JobEvent, _ctx: &mut Ctx) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit {
    #[test]
    fn bar_has_fixed_width() {
        assert_eq!(super::bar(Some(50), 10), "█████░░░░░  50%");
        assert_eq!(
            super::bar(Some(100), 4).chars().count(),
            super::bar(Some(0), 4).chars().count()
        );
    }
}
