//! The Jobs screen: every background job of this session, its progress and its log; the
//! selected one can be cancelled.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Screen, ScreenId};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Level};
use crate::app::jobtable::JobInfo;
use crate::app::listnav::ListNav;
use crate::engine::jobs::{JobEvent, Outcome};

#[derive(Default)]
pub struct JobsScreen {
    list: ListNav,
    list_height: usize,
}

impl JobsScreen {
    pub fn new() -> JobsScreen {
        JobsScreen::default()
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

fn describe(j: &JobInfo) -> String {
    let secs = match &j.ended {
        Some((t, _)) => t.duration_since(j.started).as_secs_f64(),
        None => j.started.elapsed().as_secs_f64(),
    };
    let tail = match &j.ended {
        None => format!("{} {}", bar(j.percent(), 12), j.what),
        Some((_, Outcome::Done(s))) => s.clone(),
        Some((_, Outcome::Failed(e))) => e.clone(),
        Some((_, Outcome::Cancelled)) => "cancelled".into(),
    };
    format!(
        "#{:<3} {:<10} {:<9} {:>6.1}s  {}",
        j.id,
        j.name,
        j.state(),
        secs,
        tail
    )
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
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border_focus)
            .title(Span::styled(format!(" Jobs ({}) ", jobs.len()), t.title));
        let lines: Vec<Line> = if jobs.is_empty() {
            vec![Line::from(Span::styled(
                "No jobs yet. Long operations (imports, maps, deploys) run here in the background.",
                t.dim,
            ))]
        } else {
            self.list_height = top.height.saturating_sub(2) as usize;
            let visible = self.list.scroll_into_view(jobs.len(), self.list_height);
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
                    Line::from(Span::styled(describe(j), style))
                })
                .collect()
        };
        frame.render_widget(Paragraph::new(lines).block(block).style(t.base), top);

        let log: Vec<Line> = jobs
            .get(self.list.selected)
            .map(|j| {
                let h = bottom.height.saturating_sub(2) as usize;
                j.log
                    .iter()
                    .skip(j.log.len().saturating_sub(h))
                    .map(|l| Line::from(l.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border)
            .title(Span::styled(" Log ", t.title));
        frame.render_widget(
            Paragraph::new(log)
                .wrap(Wrap { trim: false })
                .block(block)
                .style(t.base),
            bottom,
        );
    }

    fn command(&mut self, id: Cmd, ctx: &mut Ctx) -> bool {
        let n = ctx.job_table.jobs.len();
        if self.list.apply(id, n, self.list_height).is_some() {
            return true;
        }
        match id {
            Cmd::JobsCancel => {
                let Some(job) = ctx
                    .job_table
                    .jobs
                    .get(self.list.selected)
                    .filter(|j| j.running())
                else {
                    return false;
                };
                ctx.jobs.cancel(job.id);
                let msg = format!("cancelling job #{} ({})", job.id, job.name);
                ctx.status(Level::Warn, msg);
            }
            Cmd::JobsClear => {
                ctx.job_table.clear_finished();
                self.list.selected = 0;
            }
            _ => return false,
        }
        true
    }

    fn on_job(&mut self, _ev: &JobEvent, _ctx: &mut Ctx) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bar_has_fixed_width() {
        assert_eq!(super::bar(Some(50), 10), "█████░░░░░  50%");
        assert_eq!(
            super::bar(Some(100), 4).chars().count(),
            super::bar(Some(0), 4).chars().count()
        );
    }
}
