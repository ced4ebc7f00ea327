//! The database half of a deployment: a package built from a change script
//! (`devsky build apply SCRIPT --server NAME`) carries, in its manifest (`sql`, manifest
//! version 3), the two database snapshots of the script's touched tables and its noise
//! filters. The agent, started with `--db URL`, derives the SQL steps from them
//! (`engine::db::snapshot::between`, as a local build does), checks the database against
//! the pre-images with the files, and runs the steps inside the same journaled deployment,
//! after the files are in place and verified and before `done` is recorded.
//!
//! The steps and their progress are journaled with the local build's code
//! ([`crate::engine::scripts::dbpart`]): `sql/<id>.json` holds the part a deployment ran
//! (kept, so a rollback from the history can run its reverse), `sql/<id>.progress` the
//! steps recorded as they run (MySQL: one by one; SQLite: one transaction). Undoing a
//! journal (a failure, or recovery after a crash) undoes the SQL first, as recorded, then
//! the files. A rollback of a deployment with SQL is a deployment running the reverse.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::State;
use super::state::sync_dir;
use crate::engine::db::snapshot::{DbSnapshot, between};
use crate::engine::db::url::{self, DbUrl};
use crate::engine::db::{Db, profile};
use crate::engine::scripts::Filters;
use crate::engine::scripts::dbpart::{self, SqlStep};

/// The environment variable holding the MySQL password of the agent's `--db`.
pub const PASSWORD_ENV: &str = "DEVSKY_DB_PASSWORD";

/// The `sql` of a manifest: the database before and after (the stored snapshot format,
/// touched tables), and the script's filters (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlPart {
    pub old: String,
    pub new: String,
    #[serde(default)]
    pub filters: String,
}

/// What a journal says about the SQL of its operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JournalSql {
    /// The database (`--db` of the agent; no password).
    pub url: String,
    /// The deployment whose `sql/<id>.json` holds the part.
    pub part: i64,
    /// Run its reverse (a rollback).
    pub reverse: bool,
    /// Applied over conflicts: undoing it cannot be checked against the pre-images.
    #[serde(default)]
    pub forced: bool,
}

/// A part, read, in the direction it runs.
pub(crate) struct Sides {
    pub before: DbSnapshot,
    pub after: DbSnapshot,
    pub steps: Vec<SqlStep>,
    pub tables: BTreeSet<String>,
    pub filters: Filters,
}

impl SqlPart {
    pub fn new(old: &DbSnapshot, new: &DbSnapshot, filters: &Filters) -> anyhow::Result<SqlPart> {
        Ok(SqlPart {
            old: String::from_utf8(old.to_bytes()).context("a database snapshot")?,
            new: String::from_utf8(new.to_bytes()).context("a database snapshot")?,
            filters: serde_json::to_string(filters)?,
        })
    }

    /// Read and derive the steps (going back when `reverse`).
    pub(crate) fn sides(&self, reverse: bool) -> anyhow::Result<Sides> {
        let old = DbSnapshot::from_bytes(self.old.as_bytes()).context("the package's SQL")?;
        let new = DbSnapshot::from_bytes(self.new.as_bytes()).context("the package's SQL")?;
        if old.kind != new.kind {
            bail!("the package's SQL mixes two kinds of database");
        }
        let script = between(&old, &new, &[]).map_err(anyhow::Error::from)?;
        let filters: Filters = if self.filters.is_empty() {
            Filters::default()
        } else {
            serde_json::from_str(&self.filters).context("the package's SQL filters")?
        };
        let (before, after) = if reverse { (new, old) } else { (old, new) };
        Ok(Sides {
            steps: dbpart::steps(&script, reverse),
            tables: dbpart::touched_tables(&script),
            before,
            after,
            filters,
        })
    }
}

/// Connect to the agent's database (SQLite paths relative to `root`; the MySQL password
/// from [`PASSWORD_ENV`]).
pub(crate) fn connect(u: &str, root: &Path) -> anyhow::Result<Box<dyn Db>> {
    let parsed: DbUrl = url::parse(u).map_err(|e| anyhow::anyhow!("{e}"))?.url;
    let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
    profile::open_url(root, &parsed, password.as_deref())
        .with_context(|| format!("the agent's database {parsed}"))
}

fn dir(state: &State) -> anyhow::Result<PathBuf> {
    let d = state.dir().join("sql");
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn write_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// Keep the part deployment `id` runs (before its journal is written).
pub(crate) fn store(state: &State, id: i64, part: &SqlPart) -> anyhow::Result<()> {
    write_durably(
        &dir(state)?.join(format!("{id}.json")),
        &serde_json::to_vec(part)?,
    )
}

/// The part deployment `id` ran, if it had one.
pub(crate) fn stored(state: &State, id: i64) -> anyhow::Result<Option<SqlPart>> {
    let p = state.dir().join("sql").join(format!("{id}.json"));
    match std::fs::read(&p) {
        Ok(b) => Ok(Some(
            serde_json::from_slice(&b).with_context(|| format!("{} is damaged", p.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
    }
}

fn progress_path(state: &State, id: i64) -> PathBuf {
    state.dir().join("sql").join(format!("{id}.progress"))
}

/// `(next, done)` as recorded for operation `id`; None: its SQL never started.
fn progress(state: &State, id: i64) -> anyhow::Result<Option<(i64, i64)>> {
    let p = progress_path(state, id);
    match std::fs::read(&p) {
        Ok(b) => Ok(Some(
            serde_json::from_slice(&b).with_context(|| format!("{} is damaged", p.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
    }
}

/// Forget the progress of operation `id` (it is done, or undone).
pub(crate) fn clear(state: &State, id: i64) {
    let _ = std::fs::remove_file(progress_path(state, id));
}

/// Every touched table and row of the database that is not the pre-image.
pub(crate) fn conflicts(
    js: &JournalSql,
    part: &SqlPart,
    root: &Path,
) -> anyhow::Result<Vec<String>> {
    let s = part.sides(js.reverse)?;
    let mut db = connect(&js.url, root)?;
    if db.kind() != s.before.kind {
        bail!(
            "the package's SQL is for {:?}, the agent's database {} is {:?}",
            s.before.kind,
            db.describe(),
            db.kind()
        );
    }
    let got = dbpart::read(db.as_mut(), &s.tables)?;
    Ok(dbpart::conflicts(
        &s.before, &s.after, &got, &s.tables, &s.filters,
    ))
}

fn part_of(state: &State, js: &JournalSql) -> anyhow::Result<SqlPart> {
    stored(state, js.part)?.with_context(|| format!("the SQL of deployment {} is missing", js.part))
}

/// Run the SQL of operation `id` (journaled, with the files verified in place).
pub(crate) fn run(state: &State, id: i64, js: &JournalSql, root: &Path) -> anyhow::Result<usize> {
    let s = part_of(state, js)?.sides(js.reverse)?;
    let mut db = connect(&js.url, root)?;
    let path = progress_path(state, id);
    dbpart::run(db.as_mut(), &s.steps, 0, &mut |next, done| {
        write_durably(&path, &serde_json::to_vec(&(next, done))?)
    })
    .context("the SQL")?;
    // Verify: every touched table and row now holds what the part leaves.
    let got = dbpart::read(db.as_mut(), &s.tables)?;
    let left = dbpart::conflicts(&s.after, &s.before, &got, &s.tables, &s.filters);
    if !left.is_empty() && !js.forced {
        bail!(
            "after the SQL, the database is not what the package leaves: {}",
            left.join("; ")
        );
    }
    Ok(s.steps.len())
}

/// Undo what [`run`] recorded for operation `id` (nothing if it never started).
pub(crate) fn undo(
    state: &State,
    id: i64,
    js: &JournalSql,
    root: &Path,
    forced: bool,
) -> anyhow::Result<()> {
    let Some((next, done)) = progress(state, id)? else {
        return Ok(());
    };
    let forced = forced || js.forced;
    let s = part_of(state, js)?.sides(js.reverse)?;
    let mut db = connect(&js.url, root)?;
    let path = progress_path(state, id);
    dbpart::recover(
        db.as_mut(),
        &s.steps,
        &s.tables,
        &s.before,
        &s.after,
        &s.filters,
        done,
        next,
        forced,
        &mut |next, done| write_durably(&path, &serde_json::to_vec(&(next, done))?),
    )?;
    clear(state, id);
    Ok(())
}

/// Before a package's deployment `id` journals anything: when it carries SQL, the agent's
/// database must be there and of its kind; the part is kept for the journal, and the rows
/// and tables that are not its pre-images are returned (for [`with_rows`]).
pub(crate) fn prepare(
    state: &State,
    id: i64,
    m: &super::manifest::Manifest,
    database: Option<&DbUrl>,
    root: &Path,
    force: bool,
) -> anyhow::Result<(Option<JournalSql>, Vec<String>)> {
    let Some(part) = &m.sql else {
        return Ok((None, Vec::new()));
    };
    let Some(u) = database else {
        bail!(
            "the package changes the database, but this agent has none: start it with \
             --db URL (nothing was changed)"
        );
    };
    let js = JournalSql {
        url: u.to_string(),
        part: id,
        reverse: false,
        forced: force,
    };
    let rows = conflicts(&js, part, root)?;
    store(state, id, part)?;
    Ok((Some(js), rows))
}

/// The files' pre-image check `files` together with the database's `rows`: every conflict
/// named in one refusal (unless `force`).
pub(crate) fn with_rows<T>(
    files: anyhow::Result<T>,
    rows: Vec<String>,
    force: bool,
    log: &super::Log,
) -> anyhow::Result<T> {
    if rows.is_empty() {
        return files;
    }
    if force {
        for r in &rows {
            log.warning(format!(
                "changed on the server, applied anyway (--force): {r}"
            ));
        }
        return files;
    }
    let files = match files {
        Ok(_) => Vec::new(),
        Err(e) => match e.downcast::<super::DeployError>() {
            Ok(super::DeployError::Conflicts(c)) => c,
            Ok(other) => return Err(other.into()),
            Err(e) => return Err(e),
        },
    };
    Err(super::DeployError::DbConflicts { files, rows }.into())
}

/// The SQL a rollback of the deployments `undone` runs: the reverse of the one of them
/// that changed the database, checked against its post-images (refused unless forced).
pub(crate) fn for_rollback(
    state: &State,
    undone: &[i64],
    opts: &super::rollback::RollbackOptions,
    root: &Path,
    log: &super::Log,
) -> anyhow::Result<Option<JournalSql>> {
    let mut with_sql = Vec::new();
    for &id in undone {
        if let Some(p) = stored(state, id)? {
            with_sql.push((id, p));
        }
    }
    let (id, part) = match with_sql.len() {
        0 => return Ok(None),
        1 => with_sql.remove(0),
        _ => bail!(
            "deployments {:?} each changed the database: roll them back one at a time, \
             newest first",
            with_sql.iter().map(|(id, _)| *id).collect::<Vec<_>>()
        ),
    };
    let Some(u) = &opts.database else {
        bail!(
            "deployment {id} changed the database, but this agent has none: start it with \
             --db URL to roll it back"
        );
    };
    let js = JournalSql {
        url: u.to_string(),
        part: id,
        reverse: true,
        forced: opts.force,
    };
    let rows = conflicts(&js, &part, root)?;
    with_rows(Ok(()), rows, opts.force, log)?;
    log.info(format!(
        "the database holds what deployment {id} left: its SQL is reversed with the files"
    ));
    Ok(Some(js))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::deploy::apply::{ApplyOptions, apply};
    use crate::engine::deploy::package::build;
    use crate::engine::deploy::plan::plan_files;
    use crate::engine::jobs::Progress;
    use crate::engine::map::scan::{ScanOptions, scan};

    /// A package from `src` to `www` carrying `sql`, applied with `database`: the error.
    fn refused(sql: SqlPart, database: Option<&str>) -> String {
        let d = tempfile::tempdir().unwrap();
        let (src, www) = (d.path().join("src"), d.path().join("www"));
        for (r, text) in [(&src, "new"), (&www, "old")] {
            std::fs::create_dir_all(r).unwrap();
            std::fs::write(r.join("index.php"), text).unwrap();
        }
        let (l, r) = (d.path().join("l.map"), d.path().join("r.map"));
        for (tree, map) in [(&src, &l), (&www, &r)] {
            scan(
                tree,
                None,
                map,
                &ScanOptions::default(),
                &Progress::silent(),
            )
            .unwrap();
        }
        let mut plan = plan_files(&l, &r).unwrap();
        plan.sql = Some(sql);
        let zip = build(&src, &plan, &d.path().join("out"), &Progress::silent())
            .unwrap()
            .path;
        let db = d.path().join("site.db");
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);")
            .unwrap();
        let state = State::open(&d.path().join("state"), &www).unwrap();
        let opts = ApplyOptions {
            database: database.map(|u| {
                let u = u.replace("DB", db.to_str().unwrap());
                url::parse(&u).unwrap().url
            }),
            ..ApplyOptions::default()
        };
        let e = apply(&www, &state, &zip, &opts, &Progress::silent(), &|_| {}).unwrap_err();
        assert_eq!(std::fs::read(www.join("index.php")).unwrap(), b"old");
        let rows: i64 = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1, "the database is untouched");
        assert!(!state.journal_path(1).exists());
        format!("{e:#}")
    }

    fn snapshot_text() -> String {
        let s = DbSnapshot {
            kind: crate::engine::db::Kind::Sqlite,
            tables: Vec::new(),
            modes: Default::default(),
            data: Default::default(),
            chunks: Default::default(),
            counters: Default::default(),
            objects: Vec::new(),
        };
        String::from_utf8(s.to_bytes()).unwrap()
    }

    #[test]
    fn a_package_with_sql_is_refused_without_a_database_or_with_a_bad_part() {
        let good = SqlPart {
            old: snapshot_text(),
            new: snapshot_text(),
            filters: String::new(),
        };
        let e = refused(good, None);
        assert!(e.contains("--db"), "{e}");
        let bad = SqlPart {
            old: "{not a snapshot".into(),
            new: snapshot_text(),
            filters: String::new(),
        };
        let e = refused(bad, Some("sqlite:DB"));
        assert!(e.contains("the package's SQL"), "{e}");
        let bad_filters = SqlPart {
            old: snapshot_text(),
            new: snapshot_text(),
            filters: "[1, 2]".into(),
        };
        let e = refused(bad_filters, Some("sqlite:DB"));
        assert!(e.contains("filters"), "{e}");
    }
}
