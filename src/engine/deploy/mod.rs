//! Deploying: update packages made on the developer's side, applied on the server side
//! atomically, verifiably and recoverably. No transport here: the agent (`devsky serve`,
//! `devsky agent --stdio`) calls exactly these functions, and so does `devsky agent ...`.
//!
//! - [`plan`]: the diff of a local map against the server's map, as uploads (new or changed,
//!   with size, hash and mode) and deletes (only on the server, with the hash they must
//!   still have), filtered by what the user ticked.
//! - [`package`]: a zip with the project's structure for the uploads plus
//!   `devsky-manifest.json` (see docs/DEPLOY.md); opening one validates everything (paths,
//!   symlink targets, sizes against the limit and the free space, hashes, manifest against
//!   entries) before anything is written anywhere; `guard` then judges what it would do to
//!   the root (symlinks resolved through the tree, parents, deletes, name lengths).
//! - [`state`]: the agent's state folder (never inside the web root): SQLite history and
//!   logs, backups, journals, archived packages, maps, and the deploy lock.
//! - [`apply`]: lock, validate, map, check pre-images, stage beside the root, journal, back
//!   up, rename into place, verify by re-mapping, and only then record `done`. A journal
//!   left by a crash is undone by [`apply::recover`], so after a crash at any point the
//!   tree is exactly the old one or (once `done` was recorded) exactly the new one.
//!   [`release`] is the alternative where the root is a symlink to `releases/N`.
//! - [`uploads`]: packages received by the agent, not yet deployed (removed by recovery).
//! - [`rollback`]: undo deployments newest first from their backups, verified against the
//!   map recorded before them.
//!
//! # Test-only hooks (hidden environment variables, only with the `test-hooks` feature)
//!
//! - `DEVSKY_CRASH_AT=<n>`: the n-th crash point reached by this process calls
//!   `std::process::abort()` (after printing its name on stderr). Crash points sit before
//!   and after journal writes, between backups, between every rename and delete, before
//!   the switch of a release, and before the final status write. The tests loop n = 1, 2,
//!   ... until a run completes, running `agent recover` after each crash.
//! - `DEVSKY_TEST_CORRUPT_STAGE=1`: after staging, flip a byte of the first staged regular
//!   file, so that verification must fail and the deploy must be rolled back.
//!
//! Neither has any use outside the tests.

pub mod apply;
mod fsops;
mod guard;
mod hold;
mod journal;
pub mod manifest;
pub mod pack;
pub mod package;
pub mod plan;
pub mod policy;
mod preimage;
pub mod push;
pub mod release;
pub mod rollback;
mod runs;
pub mod sqlpart;
mod stage;
pub mod state;
mod transition;
pub mod uploads;
mod zipdir;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::engine::jobs::Progress;

pub use apply::{ApplyOptions, apply, recover};
pub use package::Limits;
pub use rollback::rollback;
pub use state::{Deployment, State};

/// Map the root into `out` (the server's map a package is planned against), with the
/// state's stat cache. A root that cannot be mapped completely is an error.
pub fn map_root(
    root: &std::path::Path,
    state: &State,
    out: &std::path::Path,
    progress: &Progress,
) -> anyhow::Result<crate::engine::map::scan::ScanReport> {
    transition::map_root(root, state, out, progress)
}

/// How serious a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Success,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Success => "success",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Level {
        match s {
            "success" => Level::Success,
            "warning" => Level::Warning,
            "error" => Level::Error,
            _ => Level::Info,
        }
    }
}

/// One line of a deployment's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Unix milliseconds.
    pub time_ms: i64,
    pub level: Level,
    pub message: String,
    /// On the line that announces a deployment (or rollback) just recorded: its id. The
    /// agent answers its client with it as soon as it sees it. Not sent, not stored.
    #[serde(skip)]
    pub started: Option<i64>,
}

/// Where log lines go as they happen (the CLI prints them, the agent streams them).
pub type LogSink<'a> = &'a (dyn Fn(&LogLine) + 'a);

/// A path that does not have the content the package expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub path: String,
    /// What the package expects (None: must not exist).
    pub expected: Option<String>,
    /// What is there (None: missing).
    pub found: Option<String>,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |h: &Option<String>| match h {
            Some(h) => format!("blake3 {}", &h[..h.len().min(16)]),
            None => "missing".to_string(),
        };
        write!(
            f,
            "{}: expected {}, found {}",
            self.path,
            show(&self.expected),
            show(&self.found)
        )
    }
}

/// The errors a caller must tell apart (the CLI maps them to exit codes 2, 3 and 4).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "{} path(s) changed on the server since its map was made; nothing was changed \
         (apply with --force to overwrite):\n  {}",
        .0.len(),
        .0.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("\n  ")
    )]
    Conflicts(Vec<Conflict>),
    /// A package with SQL whose database is not its pre-image (and maybe files too).
    #[error(
        "{} path(s) and {} table(s)/row(s) on the server are not the package's pre-images; \
         nothing was changed (apply with --force to overwrite):\n  {}",
        files.len(),
        rows.len(),
        files.iter().map(|c| c.to_string()).chain(rows.iter().cloned()).collect::<Vec<_>>().join("\n  ")
    )]
    DbConflicts {
        files: Vec<Conflict>,
        rows: Vec<String>,
    },
    #[error("verification failed: {0}")]
    VerifyFailed(String),
    #[error("locked by {holder} since {since}{hint}")]
    Locked {
        holder: String,
        since: String,
        hint: String,
    },
}

impl DeployError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            DeployError::Conflicts(_) | DeployError::DbConflicts { .. } => 2,
            DeployError::VerifyFailed(_) => 3,
            DeployError::Locked { .. } => 4,
        }
    }
}

/// The exit code for an error from this module: 2 conflicts, 3 verify failed, 4 locked,
/// 1 anything else.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    e.chain()
        .find_map(|c| c.downcast_ref::<DeployError>())
        .map_or(1, DeployError::exit_code)
}

/// A crash point (see the module doc): aborts when `DEVSKY_CRASH_AT` says this is the one.
pub(crate) fn crash_point(name: &str) {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    static SEEN: AtomicU64 = AtomicU64::new(0);
    let at = *AT.get_or_init(|| {
        crate::engine::util::testhooks::var("DEVSKY_CRASH_AT").and_then(|v| v.parse().ok())
    });
    let Some(at) = at else { return };
    let n = SEEN.fetch_add(1, Ordering::SeqCst) + 1;
    if n == at {
        eprintln!("devsky: crash point {n} ({name}): aborting (DEVSKY_CRASH_AT)");
        std::process::abort();
    }
}

/// Whether the test hook that corrupts a staged file is on.
pub(crate) fn corrupt_stage_hook() -> bool {
    crate::engine::util::testhooks::var("DEVSKY_TEST_CORRUPT_STAGE").is_some_and(|v| v == "1")
}

/// Now in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub use crate::engine::util::units::rfc3339;

/// The log of one operation: every line goes to the caller's sink, to the progress log,
/// and (once the deployment row exists) into the `logs` table. Lines said before the row
/// exists are written when it is attached.
pub(crate) struct Log<'a> {
    sink: LogSink<'a>,
    progress: &'a Progress,
    state: &'a State,
    id: std::cell::Cell<Option<i64>>,
    early: std::cell::RefCell<Vec<LogLine>>,
}

impl<'a> Log<'a> {
    pub fn new(state: &'a State, progress: &'a Progress, sink: LogSink<'a>) -> Log<'a> {
        Log {
            sink,
            progress,
            state,
            id: std::cell::Cell::new(None),
            early: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Another log with the same sink, recording under deployment `id`.
    pub fn for_deployment(&self, id: i64) -> Log<'a> {
        let l = Log::new(self.state, self.progress, self.sink);
        l.id.set(Some(id));
        l
    }

    /// From now on, lines are recorded under deployment `id` (with the earlier ones).
    pub fn attach(&self, id: i64) {
        self.id.set(Some(id));
        for l in self.early.borrow_mut().drain(..) {
            let _ = self.state.add_log(id, &l);
        }
    }

    pub fn line(&self, level: Level, message: impl Into<String>) {
        self.emit(LogLine {
            time_ms: now_ms(),
            level,
            message: message.into(),
            started: None,
        })
    }

    /// Record deployment `id` as this log's and announce it: the line carries the id for
    /// whoever waits for it (the agent, to answer its client).
    pub fn started(&self, id: i64, message: impl Into<String>) {
        self.attach(id);
        self.emit(LogLine {
            time_ms: now_ms(),
            level: Level::Info,
            message: message.into(),
            started: Some(id),
        })
    }

    fn emit(&self, l: LogLine) {
        let level = l.level;
        self.progress
            .log(format!("{}: {}", level.as_str(), l.message));
        // Recorded before the sink hears of it: a log stream woken by the sink finds it.
        match self.id.get() {
            // A log that cannot be recorded must not break a deploy half-way.
            Some(id) => {
                let _ = self.state.add_log(id, &l);
            }
            None => self.early.borrow_mut().push(l.clone()),
        }
        (self.sink)(&l);
    }

    pub fn info(&self, m: impl Into<String>) {
        self.line(Level::Info, m)
    }
    pub fn success(&self, m: impl Into<String>) {
        self.line(Level::Success, m)
    }
    pub fn warning(&self, m: impl Into<String>) {
        self.line(Level::Warning, m)
    }
    pub fn error(&self, m: impl Into<String>) {
        self.line(Level::Error, m)
    }
}
