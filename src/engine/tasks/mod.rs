//! Mass tasks over a domain's files (`devsky task ...`): checksums, sizes per folder, line
//! counts, text encodings (and converting them), a syntax check per extension, and a map
//! of the functions and classes of PHP/JS files. Each walks the files with replace's one
//! walker ([`crate::engine::replace::files::walk`]), reports [`Progress`], and gives a
//! [`Table`] that the CLI prints, writes as JSON or as CSV.

pub mod checksums;
pub mod encoding;
pub mod functions;
pub mod lines;
pub mod sizes;
pub mod syntax;

use std::fs;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::engine::jobs::Progress;
use crate::engine::project::Project;
use crate::engine::replace::files::{self, MAX_FILE};
use crate::engine::replace::{Problem, ProblemKind};
use crate::engine::snapshot::{domain_globs, matcher};
use crate::store::Store;

/// One cell of a result table: a number stays a number in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Num(u64),
    Text(String),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Num(n) => write!(f, "{n}"),
            Cell::Text(t) => f.write_str(t),
        }
    }
}

impl From<u64> for Cell {
    fn from(n: u64) -> Cell {
        Cell::Num(n)
    }
}

impl From<usize> for Cell {
    fn from(n: usize) -> Cell {
        Cell::Num(n as u64)
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

/// What a task gives: a table, a summary line, and what it left alone.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Table {
    pub task: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// One line for people (totals).
    pub summary: String,
    /// Files that failed the task (a syntax error): the CLI exits non-zero.
    pub failed: usize,
    pub problems: Vec<Problem>,
}

impl Table {
    pub fn new(task: &str, columns: &[&str]) -> Table {
        Table {
            task: task.to_string(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            ..Table::default()
        }
    }

    /// The rows as JSON objects keyed by column.
    pub fn records(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows
            .iter()
            .map(|r| {
                self.columns
                    .iter()
                    .cloned()
                    .zip(r.iter().map(|c| serde_json::to_value(c).expect("a cell")))
                    .collect()
            })
            .collect()
    }

    /// The table as JSON, as `devsky task --json` prints it and the Tasks view exports it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "task": self.task,
            "columns": self.columns,
            "rows": self.records(),
            "summary": self.summary,
            "failed": self.failed,
            "problems": self.problems,
        })
    }

    /// The table as CSV (RFC 4180: fields with `,`, `"`, CR or LF quoted, `"` doubled).
    pub fn csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        }
        let mut out = String::new();
        let line = |cells: Vec<String>, out: &mut String| {
            out.push_str(&cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
        };
        line(self.columns.clone(), &mut out);
        for r in &self.rows {
            line(r.iter().map(|c| c.to_string()).collect(), &mut out);
        }
        out
    }
}

/// The files a task runs over: the domain's (or the whole project's), sorted.
pub struct Files {
    pub root: std::path::PathBuf,
    pub paths: Vec<String>,
    pub problems: Vec<Problem>,
}

/// The files of `domain` (None: every file of the project the ignore rules let through).
pub fn domain_files(project: &Project, store: &Store, domain: Option<&str>) -> Result<Files> {
    let (inc, exc) = domain_globs(store, domain)?;
    let filter = matcher(&inc, &exc)?;
    let mut paths = Vec::new();
    let problems = files::walk(&project.root, filter.as_ref(), &mut |rel| {
        paths.push(rel);
        true
    });
    Ok(Files {
        root: project.root.clone(),
        paths,
        problems,
    })
}

/// A file's bytes, refused (a problem) when larger than [`MAX_FILE`] or unreadable.
pub fn read(root: &Path, rel: &str) -> Result<Vec<u8>, Problem> {
    let path = root.join(rel);
    let meta = fs::symlink_metadata(&path).map_err(|e| unreadable(rel, e))?;
    if meta.len() > MAX_FILE {
        return Err(Problem {
            place: rel.to_string(),
            kind: ProblemKind::TooLarge,
            reason: format!("larger than {} MiB; left out", MAX_FILE >> 20),
        });
    }
    fs::read(&path).map_err(|e| unreadable(rel, e))
}

pub fn unreadable(rel: &str, e: impl std::fmt::Display) -> Problem {
    Problem {
        place: rel.to_string(),
        kind: ProblemKind::Unreadable,
        reason: e.to_string(),
    }
}

/// True when `bytes` look binary (a NUL in the first 8 KiB, as replace decides).
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(files::BINARY_PROBE)].contains(&0)
}

/// The tasks, by name, with what each gives (the Tasks view lists them).
pub const TASKS: [(&str, &str); 6] = [
    ("checksums", "md5, sha256 and blake3 of every file"),
    ("sizes", "bytes and files per folder"),
    ("lines", "line counts per text file"),
    ("encoding", "the text encoding of every file"),
    (
        "syntax",
        "syntax check per extension (php -l, node --check)",
    ),
    ("functions", "functions and classes of PHP/JS files"),
];

/// Run the task `name` over the files of `domain` with its defaults, as the Tasks view
/// does: encodings detected (the `encoding[.DOMAIN]` setting as a hint), nothing
/// converted; syntax checkers from the settings (`task.syntax.EXT`), one per CPU, 60 s
/// each.
pub fn run_named(
    project: &Project,
    store: &Store,
    name: &str,
    domain: Option<&str>,
    progress: &Progress,
) -> Result<Table> {
    let files = domain_files(project, store, domain)?;
    match name {
        "checksums" => checksums::run(&files, progress),
        "sizes" => sizes::run(&files, progress),
        "lines" => lines::run(&files, progress),
        "functions" => functions::run(&files, progress),
        "encoding" => {
            let key = crate::engine::replace::encoding_key(domain);
            let label = crate::store::settings::get(store.conn(), &key)?;
            let hint = label.as_deref().map(files::encoding_for).transpose()?;
            Ok(encoding::run(&files, hint, None, progress)?.table)
        }
        "syntax" => {
            let checkers = syntax::checkers(&syntax_settings(store)?, &[])?;
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            let timeout = std::time::Duration::from_secs(60);
            syntax::run(&files, &checkers, cpus, timeout, progress)
        }
        other => anyhow::bail!(
            "no task {other:?} (checksums, sizes, lines, encoding, syntax, functions)"
        ),
    }
}

/// The syntax checkers the settings name (`task.syntax.EXT` = COMMAND), by extension.
pub fn syntax_settings(store: &Store) -> Result<Vec<(String, String)>> {
    Ok(crate::store::settings::all(store.conn())?
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("task.syntax.")?.to_string(), v)))
        .collect())
}

/// Report `done` of `total` files and stop with an error when the job was cancelled.
pub fn step(progress: &Progress, done: usize, total: usize, what: &str) -> Result<()> {
    progress.set(done as u64, Some(total as u64), what);
    progress.check()?;
    Ok(())
}
