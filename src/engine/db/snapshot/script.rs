//! A [`Script`] from one database state to another: its steps, its forward and reverse
//! text with the session settings around them ([`session`]), and [`apply`].

use serde::Serialize;

use crate::engine::db::schema_diff::Step;
use crate::engine::db::split::split;
use crate::engine::db::{ApplyError, ApplyReport, Db, Kind, QueryEvent};

/// A script from a snapshot to the database: ordered steps, each with its reverse.
#[derive(Debug, Clone, Serialize)]
pub struct Script {
    pub kind: Kind,
    pub steps: Vec<Step>,
    /// What the script does not cover, each naming the object and why: data changes of
    /// 'checksum' tables, rows or values the reverse cannot restore, objects and attributes
    /// devsky cannot script. The script command refuses an incomplete script unless
    /// `--allow-incomplete`; the script text carries one `-- INCOMPLETE:` line for each.
    pub notes: Vec<String>,
    /// Why running the reverse script loses data (what the snapshot does not hold: rows
    /// of tables and columns that are new since).
    pub reverse_destructive: Vec<String>,
}

/// A script that failed partway: see [`Script::halfway`].
#[derive(Debug, Clone, Serialize)]
pub struct Halfway {
    /// The server's error.
    pub error: String,
    /// The statement that failed.
    pub failed: Option<String>,
    /// The statements that ran before it, in order.
    pub ran: Vec<String>,
    /// The statements that stay applied (a prefix of `ran`; empty when all was rolled back).
    pub applied: Vec<String>,
    /// The script that takes back exactly the statements that stay applied.
    pub undo: String,
    /// Where `undo` is not exact (a step that stays applied only in part).
    pub warnings: Vec<String>,
}

/// Destructive changes were refused; every reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("destructive changes refused (allow them with --allow-destructive):\n  {}", .0.join("\n  "))]
pub struct Refused(pub Vec<String>);

impl Script {
    /// Why steps are destructive, one reason each.
    pub fn destructive(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter_map(|s| s.destructive.clone())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.steps
            .iter()
            .all(|s| s.forward.is_empty() && s.reverse.is_empty())
    }

    /// The steps in the order a direction runs them, each with its text as the body holds
    /// it: forward, every step with a forward (a destructive one under its
    /// `-- DESTRUCTIVE:` line); reverse, the steps' reverses in reverse order.
    fn parts(&self, reverse: bool) -> Vec<(&Step, String)> {
        if reverse {
            self.steps
                .iter()
                .rev()
                .filter(|s| !s.reverse.is_empty())
                .map(|s| (s, s.reverse.clone()))
                .collect()
        } else {
            self.steps
                .iter()
                .filter(|s| !s.forward.is_empty())
                .map(|s| {
                    let text = match &s.destructive {
                        Some(why) => {
                            format!("-- DESTRUCTIVE: {}\n{}", why.replace('\n', " "), s.forward)
                        }
                        None => s.forward.clone(),
                    };
                    (s, text)
                })
                .collect()
        }
    }

    fn body(&self, reverse: bool) -> String {
        let parts: Vec<String> = self.parts(reverse).into_iter().map(|p| p.1).collect();
        parts.join("\n")
    }

    /// The forward statements only (what [`apply`] runs).
    pub fn forward_body(&self) -> String {
        self.body(false)
    }

    /// The reverse statements only: the steps' reverses in reverse order.
    pub fn reverse_body(&self) -> String {
        self.body(true)
    }

    /// What a run of the forward (or reverse) script that failed did: the statements that
    /// ran before the failing one, those that stay applied (`error.committed`: MySQL DDL
    /// commits as it runs; SQLite rolls everything back), and the script that takes back
    /// exactly those: the reverses of the steps they belong to, last first.
    pub fn halfway(&self, reverse: bool, error: &ApplyError) -> Halfway {
        let body = self.body(reverse);
        let stmts = split(&body, self.kind);
        let ran = stmts
            .iter()
            .take(error.error.statement)
            .map(|s| s.sql.to_string())
            .collect();
        let failed = stmts.get(error.error.statement).map(|s| s.sql.to_string());
        let applied = error.committed.len();
        let (mut steps, mut warnings, mut seen) = (Vec::new(), Vec::new(), 0);
        for (step, text) in self.parts(reverse) {
            if seen >= applied {
                break;
            }
            let n = split(&text, self.kind).len();
            if seen + n > applied {
                warnings.push(format!(
                    "only {} of the {n} statements of the step on table {} stay applied: the script below takes back the whole step, check it before running it",
                    applied - seen,
                    step.table
                ));
            }
            seen += n;
            let mut step = step.clone();
            if reverse {
                std::mem::swap(&mut step.forward, &mut step.reverse);
            }
            steps.push(step);
        }
        let undo = Script {
            kind: self.kind,
            steps,
            notes: Vec::new(),
            reverse_destructive: Vec::new(),
        };
        Halfway {
            error: error.error.message.clone(),
            failed,
            ran,
            applied: error.committed.clone(),
            undo: undo.reverse_sql(),
            warnings,
        }
    }

    /// One `-- INCOMPLETE:` line per omission (see [`Script::notes`]).
    fn omissions(&self) -> String {
        self.notes
            .iter()
            .map(|n| format!("-- INCOMPLETE: {}\n", n.replace('\n', " ")))
            .collect()
    }

    fn framed(&self, body: String, what: &str) -> String {
        let omissions = self.omissions();
        if body.is_empty() {
            return format!("-- devsky: no changes ({what})\n{omissions}");
        }
        let (first, last) = session(self.kind);
        let (first, last) = match self.kind {
            Kind::Sqlite => (format!("{first}\nBEGIN;"), format!("COMMIT;\n{last}")),
            Kind::Mysql => (first.to_string(), last.to_string()),
        };
        let about = match self.kind {
            Kind::Sqlite => {
                "(SQLite). Run it whole: foreign keys are off while tables are rebuilt."
            }
            Kind::Mysql => {
                "(MySQL). DDL commits as it runs: after a failure, the statements before it stay applied. The session settings it needs are set first and restored at the end."
            }
        };
        format!("-- devsky: {what} script {about}\n{omissions}{first}\n{body}\n{last}\n")
    }

    /// The forward script, ready to run as is (transaction and foreign-key settings around it).
    pub fn forward_sql(&self) -> String {
        self.framed(self.forward_body(), "forward")
    }

    /// The reverse script, ready to run as is.
    pub fn reverse_sql(&self) -> String {
        self.framed(self.reverse_body(), "reverse")
    }
}

/// What a script runs first and last, so that it does not depend on the session it runs
/// in. SQLite: foreign keys off (`PRAGMA foreign_keys`, outside the transaction) and back
/// on. MySQL: the session's `sql_mode`, foreign-key checks, time zone and character sets are
/// kept in user variables, then set to what the script was written for (no
/// `NO_BACKSLASH_ESCAPES`/`ANSI_QUOTES` surprises, `NO_AUTO_VALUE_ON_ZERO` so a 0 key stays
/// 0, strict, UTC as the rows were read, utf8mb4), and restored at the end.
pub fn session(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Sqlite => ("PRAGMA foreign_keys = OFF;", "PRAGMA foreign_keys = ON;"),
        Kind::Mysql => (
            "SET @devsky_sql_mode = @@SESSION.sql_mode, @devsky_fk = @@SESSION.foreign_key_checks, @devsky_tz = @@SESSION.time_zone, @devsky_cs_client = @@SESSION.character_set_client, @devsky_cs_results = @@SESSION.character_set_results, @devsky_coll = @@SESSION.collation_connection;\n\
             SET NAMES utf8mb4;\n\
             SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', SESSION foreign_key_checks = 0, SESSION time_zone = '+00:00';",
            "SET SESSION sql_mode = @devsky_sql_mode, SESSION foreign_key_checks = @devsky_fk, SESSION time_zone = @devsky_tz, SESSION character_set_client = @devsky_cs_client, SESSION character_set_results = @devsky_cs_results, SESSION collation_connection = @devsky_coll;",
        ),
    }
}

/// Run the forward (or reverse) script on `db` through [`Db::apply_script`], between the
/// session settings of [`session`] (restored even when the script fails).
pub fn apply(db: &mut dyn Db, script: &Script, reverse: bool) -> Result<ApplyReport, ApplyError> {
    let body = if reverse {
        script.reverse_body()
    } else {
        script.forward_body()
    };
    if body.is_empty() {
        return Ok(ApplyReport::default());
    }
    let (off, on) = session(db.kind());
    let quiet = &mut |_: QueryEvent| true;
    db.run(off, quiet).map_err(|error| ApplyError {
        error,
        committed: Vec::new(),
    })?;
    let result = db.apply_script(&body);
    let _ = db.run(on, quiet);
    result
}
