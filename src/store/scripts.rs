//! Change scripts (`_dev_packages`) and builds (`_dev_builds`): the rows. What a script
//! changes lives in the object store; `engine::scripts` reads and writes both.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A change script's row: the DEV.SKY package header plus where its parts are.
#[derive(Debug, Clone, Serialize)]
pub struct Package {
    pub id: i64,
    pub name: String,
    pub version: String,
    pub sky_id: i64,
    pub app: String,
    pub depends: Vec<String>,
    pub included: Vec<String>,
    pub priorun: Vec<String>,
    pub authors: String,
    pub from_snapshot: i64,
    pub to_snapshot: Option<i64>,
    pub domain: Option<String>,
    pub files_object: String,
    pub files: i64,
    pub db_profile: Option<String>,
    pub db_old: Option<String>,
    pub db_new: Option<String>,
    pub sql_steps: i64,
    pub filters: serde_json::Value,
    pub notes: Vec<String>,
    pub first_record: Option<i64>,
    pub last_record: Option<i64>,
    pub created: i64,
}

fn list_of(json: String) -> Vec<String> {
    serde_json::from_str(&json).unwrap_or_default()
}

const PACKAGE_COLS: &str = "id, name, version, sky_id, app, depends, included, priorun, authors, \
    from_snapshot, to_snapshot, domain, files_object, files, db_profile, db_old, db_new, \
    sql_steps, filters, notes, first_record, last_record, created";

fn package_row(r: &rusqlite::Row) -> rusqlite::Result<Package> {
    Ok(Package {
        id: r.get(0)?,
        name: r.get(1)?,
        version: r.get(2)?,
        sky_id: r.get(3)?,
        app: r.get(4)?,
        depends: list_of(r.get(5)?),
        included: list_of(r.get(6)?),
        priorun: list_of(r.get(7)?),
        authors: r.get(8)?,
        from_snapshot: r.get(9)?,
        to_snapshot: r.get(10)?,
        domain: r.get(11)?,
        files_object: r.get(12)?,
        files: r.get(13)?,
        db_profile: r.get(14)?,
        db_old: r.get(15)?,
        db_new: r.get(16)?,
        sql_steps: r.get(17)?,
        filters: serde_json::from_str(&r.get::<_, String>(18)?).unwrap_or_default(),
        notes: list_of(r.get(19)?),
        first_record: r.get(20)?,
        last_record: r.get(21)?,
        created: r.get(22)?,
    })
}

/// Record a package (its `id` is ignored); returns the new id.
pub fn insert_package(conn: &Connection, p: &Package) -> rusqlite::Result<i64> {
    let j = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO _dev_packages(name, version, sky_id, app, depends, included, priorun, authors,
             from_snapshot, to_snapshot, domain, files_object, files, db_profile, db_old, db_new,
             sql_steps, filters, notes, first_record, last_record, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
        params![
            p.name, p.version, p.sky_id, p.app, j(&p.depends), j(&p.included), j(&p.priorun),
            p.authors, p.from_snapshot, p.to_snapshot, p.domain, p.files_object, p.files,
            p.db_profile, p.db_old, p.db_new, p.sql_steps, p.filters.to_string(), j(&p.notes),
            p.first_record, p.last_record, p.created
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn package(conn: &Connection, id: i64) -> rusqlite::Result<Option<Package>> {
    conn.query_row(
        &format!("SELECT {PACKAGE_COLS} FROM _dev_packages WHERE id = ?1"),
        [id],
        package_row,
    )
    .optional()
}

/// Newest first.
pub fn packages(conn: &Connection) -> rusqlite::Result<Vec<Package>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {PACKAGE_COLS} FROM _dev_packages ORDER BY id DESC"
    ))?;
    stmt.query_map([], package_row)?.collect()
}

/// A build's row (also the SQL half's journal: `sql_next`, `sql_done`).
#[derive(Debug, Clone, Serialize)]
pub struct Build {
    pub id: i64,
    /// `build`, or `rollback` (of build `undoes`).
    pub kind: String,
    pub package: i64,
    pub target: String,
    pub db_profile: Option<String>,
    pub user: String,
    pub started: i64,
    pub finished: Option<i64>,
    /// `applying`, `done`, `failed`, `rolled_back`.
    pub status: String,
    pub undoes: Option<i64>,
    /// The deployment in place in the target's deploy state before this build (0: none).
    pub deploy_before: i64,
    /// The files half: this build's deployment in the target's deploy state.
    pub deployment: Option<i64>,
    /// The SQL step running (-1: none yet).
    pub sql_next: i64,
    /// SQL steps finished.
    pub sql_done: i64,
    pub forced: bool,
    pub result: String,
}

const BUILD_COLS: &str = "id, kind, package, target, db_profile, user, started, finished, status, \
    undoes, deploy_before, deployment, sql_next, sql_done, forced, result";

fn build_row(r: &rusqlite::Row) -> rusqlite::Result<Build> {
    Ok(Build {
        id: r.get(0)?,
        kind: r.get(1)?,
        package: r.get(2)?,
        target: r.get(3)?,
        db_profile: r.get(4)?,
        user: r.get(5)?,
        started: r.get(6)?,
        finished: r.get(7)?,
        status: r.get(8)?,
        undoes: r.get(9)?,
        deploy_before: r.get(10)?,
        deployment: r.get(11)?,
        sql_next: r.get(12)?,
        sql_done: r.get(13)?,
        forced: r.get(14)?,
        result: r.get(15)?,
    })
}

/// Record a build `applying`; returns its id.
pub fn insert_build(conn: &Connection, b: &Build) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO _dev_builds(kind, package, target, db_profile, user, started, status, undoes,
             deploy_before, forced)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'applying', ?7, ?8, ?9)",
        params![
            b.kind,
            b.package,
            b.target,
            b.db_profile,
            b.user,
            b.started,
            b.undoes,
            b.deploy_before,
            b.forced
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn build(conn: &Connection, id: i64) -> rusqlite::Result<Option<Build>> {
    conn.query_row(
        &format!("SELECT {BUILD_COLS} FROM _dev_builds WHERE id = ?1"),
        [id],
        build_row,
    )
    .optional()
}

/// Newest first.
pub fn builds(conn: &Connection) -> rusqlite::Result<Vec<Build>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {BUILD_COLS} FROM _dev_builds ORDER BY id DESC"
    ))?;
    stmt.query_map([], build_row)?.collect()
}

pub fn set_deployment(conn: &Connection, id: i64, deployment: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _dev_builds SET deployment = ?2 WHERE id = ?1",
        params![id, deployment],
    )?;
    Ok(())
}

/// The SQL journal: step `next` is about to run, `done` steps have finished.
pub fn set_sql(conn: &Connection, id: i64, next: i64, done: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _dev_builds SET sql_next = ?2, sql_done = ?3 WHERE id = ?1",
        params![id, next, done],
    )?;
    Ok(())
}

pub fn finish(
    conn: &Connection,
    id: i64,
    status: &str,
    result: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _dev_builds SET status = ?2, result = ?3, finished = ?4 WHERE id = ?1",
        params![id, status, result, now],
    )?;
    Ok(())
}
