//! Search and replace over a domain's files and a database's tables, as one operation that
//! can be undone (`devsky search`, `devsky replace`, `devsky replace undo`).
//!
//! - [`pattern`]: the pattern (literal or regex) and its replacement;
//! - [`serialized`]: replacing inside one value without breaking PHP serialization or JSON;
//! - [`files`] and [`db`]: finding matches and planning the edits (the preview, a [`Plan`]);
//! - [`ops`]: applying a plan as one recorded operation, and undoing it.
//!
//! A plan is made from what is there; applying it checks every file (by hash) and every
//! row (by value) again, so what changed since the preview is skipped and reported.

pub mod db;
pub mod files;
pub mod needles;
pub mod ops;
pub mod parallel;
pub mod pattern;
pub mod serialized;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::engine::db::Db;
use crate::engine::project::Project;
use crate::engine::snapshot::{domain_globs, matcher};
use crate::store::{Store, settings};
use pattern::{Options, Pattern};

/// Why a file or a value was not searched or not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    Unreadable,
    TooLarge,
    Encoding,
    /// Already invalid (a serialized value whose lengths do not match): left untouched.
    Corrupt,
    /// The edit would break the value, or cannot be made safely.
    Refused,
    /// Changed between the preview and the apply (or since the replace, for undo).
    Changed,
    ReadOnly,
    NoKey,
}

/// A file or a value left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A path, or `table[key].column`.
    pub place: String,
    pub kind: ProblemKind,
    pub reason: String,
}

/// What to search for, and where.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Request {
    pub pattern: String,
    pub replacement: String,
    pub regex: bool,
    pub ignore_case: bool,
    pub word: bool,
    /// Files of this domain (None: the whole project).
    pub domain: Option<String>,
    /// Search files at all.
    pub files: bool,
    /// A database profile.
    pub db: Option<String>,
    /// Tables of that database (empty: all).
    pub tables: Vec<String>,
    /// Encoding of files that are not UTF-8 (a label); None: the setting, else a guess.
    pub encoding: Option<String>,
    /// Decode database values that are wholly base64, search and replace inside, encode
    /// them back (alphabet and padding kept).
    #[serde(default)]
    pub base64: bool,
}

impl Request {
    pub fn options(&self) -> Options {
        Options {
            regex: self.regex,
            ignore_case: self.ignore_case,
            word: self.word,
            base64: self.base64,
        }
    }

    pub fn pattern(&self) -> Result<Pattern> {
        Pattern::new(&self.pattern, &self.replacement, self.options())
    }
}

/// The preview: every planned edit, and what was left alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub request: Request,
    pub files: files::FileScan,
    pub db: Option<db::DbScan>,
}

impl Plan {
    /// Untick what `unticked` names: a file (`PATH`), the matches of one line of a file
    /// (`PATH:LINE`), a table (`TABLE`) or one value (`TABLE[KEY].COLUMN`, as the preview
    /// names it). A name that matches nothing is an error, so a typo never applies all.
    pub fn untick(&mut self, unticked: &str) -> Result<()> {
        let mut found = false;
        let (path, line) = match unticked.rsplit_once(':') {
            Some((p, l)) if l.parse::<usize>().is_ok() => (p, l.parse::<usize>().ok()),
            _ => (unticked, None),
        };
        for f in self.files.files.iter_mut().filter(|f| f.path == path) {
            match line {
                None => f.selected = false,
                Some(n) => {
                    let on_line = f.hits.iter().enumerate().filter(|(_, h)| h.line == n);
                    f.skip.extend(on_line.map(|(i, _)| i));
                }
            }
            found = true;
        }
        for r in self.db.iter_mut().flat_map(|d| d.rows.iter_mut()) {
            if r.table == unticked || r.place() == unticked {
                r.selected = false;
                found = true;
            }
        }
        if !found {
            anyhow::bail!("--skip {unticked:?} names no file, line, table or value of the preview");
        }
        Ok(())
    }

    pub fn matches(&self) -> usize {
        let f: usize = self.files.files.iter().map(|f| f.count).sum();
        f + self
            .db
            .as_ref()
            .map_or(0, |d| d.rows.iter().map(|r| r.count).sum())
    }
}

/// The settings key of a domain's file encoding (`encoding` for the whole project).
pub fn encoding_key(domain: Option<&str>) -> String {
    match domain {
        Some(d) => format!("encoding.{d}"),
        None => "encoding".into(),
    }
}

/// Find every match and plan its edit. `db` is the connection of `request.db`.
pub fn preview(
    project: &Project,
    store: &Store,
    request: &Request,
    db: Option<&mut dyn Db>,
) -> Result<Plan> {
    preview_with(project, store, request, db, &mut |_| true)
}

/// [`preview`], handing each file with matches to `found` as it is planned (before the
/// database is searched); `found` returning false cancels it (an error, "cancelled").
pub fn preview_with(
    project: &Project,
    store: &Store,
    request: &Request,
    db: Option<&mut dyn Db>,
    found: &mut dyn FnMut(&files::FilePlan) -> bool,
) -> Result<Plan> {
    let pattern = request.pattern()?;
    let files = if request.files {
        let (inc, exc) = domain_globs(store, request.domain.as_deref())?;
        let filter = matcher(&inc, &exc)?;
        let label = match &request.encoding {
            Some(l) => Some(l.clone()),
            None => settings::get(store.conn(), &encoding_key(request.domain.as_deref()))?,
        };
        let enc = label.as_deref().map(files::encoding_for).transpose()?;
        files::scan_with(&project.root, filter.as_ref(), &pattern, enc, found)?
    } else {
        files::FileScan::default()
    };
    let db = match (db, &request.db) {
        (Some(conn), Some(name)) => Some(
            db::scan(
                conn,
                name,
                &request.tables,
                &pattern,
                pattern.needles().as_deref(),
            )
            .with_context(|| format!("searching database {name}"))?,
        ),
        _ => None,
    };
    Ok(Plan {
        request: request.clone(),
        files,
        db,
    })
}
