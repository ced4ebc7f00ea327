//! Background jobs: long operations that report progress and log lines and can be
//! cancelled.
//!
//! An engine function takes a [`Progress`]; the TUI runs it through [`Jobs`] on the tokio
//! runtime's blocking pool, the CLI calls it directly with a [`Progress`] of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// A job's number, unique within a process.
pub type JobId = u64;

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(String),
    Failed(String),
    Cancelled,
}

/// What a job reports.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    Started {
        id: JobId,
        name: String,
    },
    Progress {
        id: JobId,
        done: u64,
        total: Option<u64>,
        what: String,
    },
    Log {
        id: JobId,
        line: String,
    },
    Finished {
        id: JobId,
        outcome: Outcome,
    },
}

/// The error a cancelled operation returns.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

type Sink = Arc<dyn Fn(JobEvent) + Send + Sync>;

/// Handed to an operation: where it reports progress, and how it learns it was cancelled.
#[derive(Clone)]
pub struct Progress {
    id: JobId,
    sink: Sink,
    cancel: CancellationToken,
    last: Arc<Mutex<Option<Instant>>>,
}

/// Progress updates closer together than this are dropped (the last one always goes).
const PROGRESS_EVERY: Duration = Duration::from_millis(30);

impl Progress {
    /// A progress sink that reports to `sink`.
    pub fn new(id: JobId, sink: impl Fn(JobEvent) + Send + Sync + 'static) -> Progress {
        Progress {
            id,
            sink: Arc::new(sink),
            cancel: CancellationToken::new(),
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// A sink that reports nowhere and is never cancelled.
    pub fn silent() -> Progress {
        Progress::new(0, |_| {})
    }

    /// Report `done` of `total` units (throttled).
    pub fn set(&self, done: u64, total: Option<u64>, what: &str) {
        let finished = total.is_some_and(|t| done >= t);
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if !finished && last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        (self.sink)(JobEvent::Progress {
            id: self.id,
            done,
            total,
            what: what.to_string(),
        });
    }

    /// Add a line to the job's log.
    pub fn log(&self, line: impl Into<String>) {
        (self.sink)(JobEvent::Log {
            id: self.id,
            line: line.into(),
        });
    }

    /// Whether cancellation was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// `Err(Cancelled)` once cancellation was asked for: use with `?` between steps.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// The token that cancels this operation.
    pub fn token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

/// Starts jobs and cancels them. Events go to the sink given at creation. A clone starts
/// jobs into the same list (a job that starts jobs of its own, like webhook deliveries).
#[derive(Clone)]
pub struct Jobs {
    runtime: tokio::runtime::Handle,
    sink: Sink,
    next: Arc<AtomicU64>,
    tokens: Arc<Mutex<Vec<(JobId, CancellationToken)>>>,
}

impl Jobs {
    pub fn new(
        runtime: tokio::runtime::Handle,
        sink: impl Fn(JobEvent) + Send + Sync + 'static,
    ) -> Jobs {
        Jobs {
            runtime,
            sink: Arc::new(sink),
            next: Arc::new(AtomicU64::new(1)),
            tokens: Arc::default(),
        }
    }

    /// Run a blocking (CPU or disk bound) operation as a job. Its `Ok` string is the
    /// summary shown when it ends; an error whose root is [`Cancelled`] ends it as cancelled.
    pub fn spawn_blocking<F>(&self, name: &str, op: F) -> JobId
    where
        F: FnOnce(&Progress) -> anyhow::Result<String> + Send + 'static,
    {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let sink = self.sink.clone();
        let progress = Progress {
            id,
            sink: sink.clone(),
            cancel: CancellationToken::new(),
            last: Arc::new(Mutex::new(None)),
        };
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, progress.token()));
        sink(JobEvent::Started {
            id,
            name: name.to_string(),
        });
        self.runtime.spawn_blocking(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(&progress)));
            let outcome = match result {
                Ok(Ok(summary)) if !progress.is_cancelled() => Outcome::Done(summary),
                Ok(Ok(_)) => Outcome::Cancelled,
                Ok(Err(e)) if e.downcast_ref::<Cancelled>().is_some() => Outcome::Cancelled,
                Ok(Err(e)) => Outcome::Failed(format!("{e:#}")),
                Err(_) => Outcome::Failed("the job panicked".into()),
            };
            sink(JobEvent::Finished { id, outcome });
        });
        id
    }

    /// Ask job `id` to stop. It ends at its next check.
    pub fn cancel(&self, id: JobId) {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, t)) = tokens.iter().find(|(j, _)| *j == id) {
            t.cancel();
        }
    }

    /// Forget a finished job's token.
    pub fn forget(&self, id: JobId) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(j, _)| *j != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap()
    }

    fn wait_finished(rx: &mpsc::Receiver<JobEvent>) -> (Vec<JobEvent>, Outcome) {
        let mut seen = Vec::new();
        loop {
            let ev = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("job did not finish");
            if let JobEvent::Finished { outcome, .. } = &ev {
                return (seen, outcome.clone());
            }
            seen.push(ev);
        }
    }

    #[test]
    fn job_reports_progress_logs_and_summary() {
        let rt = runtime();
        let (tx, rx) = mpsc::channel();
        let jobs = Jobs::new(rt.handle().clone(), move |e| tx.send(e).unwrap());
        jobs.spawn_blocking("count", |p| {
            for i in 0..=10 {
                p.set(i, Some(10), "counting");
            }
            p.log("counted");
            Ok("ten".into())
        });
        let (seen, outcome) = wait_finished(&rx);
        assert_eq!(outcome, Outcome::Done("ten".into()));
        assert!(matches!(seen[0], JobEvent::Started { .. }));
        assert!(
            seen.iter()
                .any(|e| matches!(e, JobEvent::Progress { done: 10, .. }))
        );
        assert!(
            seen.iter()
                .any(|e| matches!(e, JobEvent::Log { line, .. } if line == "counted"))
        );
    }

    #[test]
    fn cancel_stops_a_running_job() {
        let rt = runtime();
        let (tx, rx) = mpsc::channel();
        let jobs = Jobs::new(rt.handle().clone(), move |e| tx.send(e).unwrap());
        let id = jobs.spawn_blocking("spin", |p| {
            loop {
                p.check()?;
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        jobs.cancel(id);
        assert_eq!(wait_finished(&rx).1, Outcome::Cancelled);
    }

    #[test]
    fn errors_and_panics_are_failures() {
        let rt = runtime();
        let (tx, rx) = mpsc::channel();
        let jobs = Jobs::new(rt.handle().clone(), move |e| tx.send(e).unwrap());
        jobs.spawn_blocking("bad", |_| anyhow::bail!("disk full"));
        assert_eq!(wait_finished(&rx).1, Outcome::Failed("disk full".into()));
        jobs.spawn_blocking("boom", |_| panic!("boom"));
        assert!(matches!(wait_finished(&rx).1, Outcome::Failed(_)));
    }
}
