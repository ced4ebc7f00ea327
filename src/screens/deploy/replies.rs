//! The Deploy screen's handling of what its jobs and threads hand back ([`DeployReply`]):
//! answers to an older request are dropped (a plan's hold released), the rest update the
//! screen; a push that ended adds its time to the log pane (beside the session's first).

use super::{DeployReply, DeployScreen, Tab, jobs};
use crate::app::context::{Ctx, Level};
use crate::engine::deploy::push::Planned;

impl DeployScreen {
    pub(super) fn on_worker(&mut self, r: &DeployReply, ctx: &mut Ctx) -> bool {
        let current = |seq: &u64| self.job.is_some_and(|(_, s, _)| s == *seq);
        match r {
            DeployReply::Plan {
                seq,
                plan,
                held,
                took,
            } if current(seq) => {
                self.plan = Some(plan.clone());
                self.plan_took = Some(*took);
                discard(self.held.take());
                self.held = held.lock().unwrap_or_else(|e| e.into_inner()).take();
                self.unticked.clear();
                self.files.selected = 0;
                self.files.offset = 0;
                self.focus_right = true;
                self.log_focus = false;
                self.tab = Tab::Files;
                self.rebuild_rows();
            }
            DeployReply::Built { seq, built } if current(seq) => {
                self.last_built = Some(built.clone());
            }
            DeployReply::Started { seq, id } if current(seq) => self.following = Some(*id),
            DeployReply::Log { seq, line } if current(seq) => {
                self.log.push(line.clone());
                // Scrolled back: the lines in view stay in view.
                if self.log_scroll > 0 {
                    self.log_scroll += 1;
                }
            }
            DeployReply::Ended { seq, took, .. } if current(seq) => {
                if let (Some(t), Some(p)) = (took, self.server()) {
                    let times = self.push_times.entry(p.name.clone()).or_default();
                    times.push(t.took);
                    self.log.push(jobs::push_time_line(times, t.reused));
                }
                // What was planned is stale now.
                self.plan = None;
                self.rows.clear();
                self.unticked.clear();
                if self.tab == Tab::History {
                    self.fetch_history(ctx);
                }
            }
            DeployReply::Status { seq, result }
                if self.tickets.is_current(*seq) || self.status.is_none() =>
            {
                self.status = Some(result.clone());
            }
            DeployReply::Database { seq, result }
                if self.tickets.is_current(*seq) || self.database.is_none() =>
            {
                self.database = Some(result.clone());
                self.db_row = 0;
            }
            DeployReply::PastLog { seq, id, result } if self.tickets.is_current(*seq) => {
                match result {
                    Ok(lines) => {
                        self.log = lines.clone();
                        self.log_scroll = 0;
                        self.following = Some(*id);
                    }
                    Err(e) => ctx.status(
                        Level::Error,
                        format!("cannot read the log of deployment {id}: {e}"),
                    ),
                }
            }
            DeployReply::History { result, .. } => {
                self.history = Some(result.clone());
                let n = result.as_ref().map(|l| l.len()).unwrap_or(0);
                // The newest is selected.
                self.hist_row = n.saturating_sub(1);
            }
            // A plan nobody waits for any more: its hold goes.
            DeployReply::Plan { held, .. } => {
                discard(held.lock().unwrap_or_else(|e| e.into_inner()).take());
                return false;
            }
            _ => return false,
        }
        true
    }
}

/// Let a plan's connection go (its hold released, an SSH session closed) off the UI
/// thread: that takes a request, or up to seconds for ssh to end.
pub(super) fn discard(held: Option<Planned>) {
    if let Some(h) = held {
        std::thread::spawn(move || drop(h));
    }
}
