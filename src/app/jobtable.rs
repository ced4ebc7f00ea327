//! The TUI's view of background jobs: what runs, how far it got, its log, how it ended.
//! Fed by [`JobEvent`]s; read by the status line and the Jobs screen.

use std::time::Instant;

use crate::engine::jobs::{JobEvent, JobId, Outcome};

/// Log lines kept per job.
const MAX_LOG: usize = 2000;

/// One job as the TUI shows it.
#[derive(Debug, Clone)]
pub struct JobInfo {
    pub id: JobId,
    pub name: String,
    pub done: u64,
    pub total: Option<u64>,
    pub what: String,
    pub log: Vec<String>,
    pub started: Instant,
    pub ended: Option<(Instant, Outcome)>,
}

impl JobInfo {
    pub fn running(&self) -> bool {
        self.ended.is_none()
    }
    /// Progress in percent when the total is known.
    pub fn percent(&self) -> Option<u64> {
        self.total
            .filter(|t| *t > 0)
            .map(|t| (self.done * 100 / t).min(100))
    }
    /// A short state word.
    pub fn state(&self) -> &'static str {
        match &self.ended {
            None => "running",
            Some((_, Outcome::Done(_))) => "done",
            Some((_, Outcome::Failed(_))) => "failed",
            Some((_, Outcome::Cancelled)) => "cancelled",
        }
    }
}

/// All jobs of this session, oldest first.
#[derive(Debug, Default)]
pub struct JobTable {
    pub jobs: Vec<JobInfo>,
}

impl JobTable {
    /// Apply one event; returns the outcome when a job just ended.
    pub fn apply(&mut self, ev: &JobEvent) -> Option<(String, Outcome)> {
        match ev {
            JobEvent::Started { id, name } => {
                self.jobs.push(JobInfo {
                    id: *id,
                    name: name.clone(),
                    done: 0,
                    total: None,
                    what: String::new(),
                    log: Vec::new(),
                    started: Instant::now(),
                    ended: None,
                });
            }
            JobEvent::Progress {
                id,
                done,
                total,
                what,
            } => {
                if let Some(j) = self.get_mut(*id) {
                    j.done = *done;
                    j.total = *total;
                    j.what.clone_from(what);
                }
            }
            JobEvent::Log { id, line } => {
                if let Some(j) = self.get_mut(*id) {
                    if j.log.len() >= MAX_LOG {
                        j.log.remove(0);
                    }
                    j.log.push(line.clone());
                }
            }
            JobEvent::Finished { id, outcome } => {
                if let Some(j) = self.get_mut(*id) {
                    j.ended = Some((Instant::now(), outcome.clone()));
                    return Some((j.name.clone(), outcome.clone()));
                }
            }
        }
        None
    }

    fn get_mut(&mut self, id: JobId) -> Option<&mut JobInfo> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    /// Jobs still running, oldest first.
    pub fn running(&self) -> impl Iterator<Item = &JobInfo> {
        self.jobs.iter().filter(|j| j.running())
    }

    /// Drop finished jobs.
    pub fn clear_finished(&mut self) {
        self.jobs.retain(JobInfo::running);
    }
}
