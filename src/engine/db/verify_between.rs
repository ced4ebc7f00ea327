//! `--verify` for the script between two snapshots (`devsky snapshot diff A B --db
//! --verify`): a scratch database is built from snapshot A's database part alone (every
//! table from its `CREATE` text, every row, the `AUTO_INCREMENT` counters, then views,
//! triggers, routines and events), the forward script applied to it must give snapshot B,
//! and the reverse then snapshot A again. A table A holds only checksums of ('checksum'
//! mode) cannot be rebuilt: refused, naming it.
//!
//! SQLite: a new file in a temporary folder. MySQL: a scratch schema
//! `devsky_scratch_<random>` on the profile's server, reached by a connection whose URL
//! names it, dropped afterwards whatever happened.

use std::hash::{BuildHasher, Hasher};

use anyhow::{Context, bail};

use super::data_diff::insert_sql;
use super::db_objects::{self, DbObject, creation_order};
use super::mysql::MysqlDb;
use super::schema_diff::ident;
use super::snapshot::{DbSnapshot, Mode, Script, apply, differences, session, take};
use super::sqlite::SqliteDb;
use super::url::DbUrl;
use super::verify::{Check, VerifyReport};
use super::{Db, Kind, QueryEvent};

/// Why `old` cannot be rebuilt into a scratch database, if it cannot.
fn refuse_checksum_tables(old: &DbSnapshot) -> anyhow::Result<()> {
    let names: Vec<&str> = old.chunks.keys().map(String::as_str).collect();
    if !names.is_empty() {
        bail!(
            "cannot verify between snapshots: the first snapshot holds only checksums of table(s) {} ('checksum' mode), so their rows cannot be rebuilt; set `devsky db table PROFILE TABLE --rows` and take it again",
            names.join(", ")
        );
    }
    Ok(())
}

/// Build `old` in the empty database `db`.
fn build(db: &mut dyn Db, old: &DbSnapshot) -> anyhow::Result<()> {
    let kind = db.kind();
    let mut sql = vec![session(kind).0.to_string()];
    if kind == Kind::Sqlite {
        sql.push("BEGIN;".into());
    }
    for t in &old.tables {
        sql.push(format!("{};", t.create_sql.trim().trim_end_matches(';')));
        if let Some(rows) = old.data.get(&t.name).filter(|r| !r.is_empty()) {
            sql.push(insert_sql(kind, t, rows));
        }
    }
    for (t, n) in &old.counters {
        sql.push(format!(
            "ALTER TABLE {} AUTO_INCREMENT = {n};",
            ident(kind, t)
        ));
    }
    let refs: Vec<&DbObject> = old.objects.iter().collect();
    for i in creation_order(&refs) {
        sql.push(db_objects::create_sql(kind, refs[i]));
    }
    if kind == Kind::Sqlite {
        sql.push("COMMIT;".into());
    }
    sql.push(session(kind).1.to_string());
    for s in &sql {
        db.run(s, &mut |_: QueryEvent| true).map_err(|e| {
            anyhow::anyhow!("building the scratch copy of the first snapshot: {e}: {s}")
        })?;
    }
    Ok(())
}

/// On `scratch` (built from `old`): forward must give `new`, then reverse `old`.
fn run_checks(
    scratch: &mut dyn Db,
    old: &DbSnapshot,
    new: &DbSnapshot,
    script: &Script,
    report: &mut VerifyReport,
) -> anyhow::Result<()> {
    build(scratch, old)?;
    let built = take(scratch, &|t| {
        old.modes.get(t).copied().unwrap_or(Mode::Auto)
    })?;
    let problems = differences(old, &built);
    if !problems.is_empty() {
        report.checks.push(Check {
            name: "the scratch copy is the first snapshot".into(),
            problems,
        });
        return Ok(());
    }
    for (reverse, name, want) in [
        (false, "the forward script gives the second snapshot", new),
        (
            true,
            "the reverse script then gives the first snapshot",
            old,
        ),
    ] {
        let modes = |t: &str| want.modes.get(t).copied().unwrap_or(Mode::Auto);
        let problems = match apply(scratch, script, reverse) {
            Ok(_) => differences(want, &take(scratch, &modes)?),
            Err(e) => {
                let mut p = vec![format!("{e}")];
                p.extend(e.committed.iter().map(|c| format!("already applied: {c}")));
                p
            }
        };
        let failed = !problems.is_empty();
        report.checks.push(Check {
            name: name.into(),
            problems,
        });
        if failed {
            break;
        }
    }
    Ok(())
}

/// Verify `script` from the snapshot `old` of database `profile` to `new` (another
/// snapshot: on a copy built from `old`), or to the database now (`new` is None: on a copy
/// of it, see `verify`). For the CLI and the Snapshots screen alike.
pub fn verify_script(
    root: &std::path::Path,
    store: &crate::store::Store,
    profile: &str,
    old: &DbSnapshot,
    new: Option<&DbSnapshot>,
    script: &Script,
) -> anyhow::Result<VerifyReport> {
    let p = super::profile::get(store, profile)?
        .with_context(|| format!("no database profile named `{profile}`"))?;
    let (password, _) = super::profile::resolve_password(&p);
    match (&p.url, new) {
        (DbUrl::Sqlite { .. }, Some(new)) => verify_between_sqlite(old, new, script),
        (DbUrl::Mysql { .. }, Some(new)) => {
            verify_between_mysql(&p.url, password.as_deref(), old, new, script)
        }
        (DbUrl::Sqlite { .. }, None) => {
            let path = p.url.sqlite_path(root).context("sqlite path")?;
            super::verify::verify_sqlite(&path, old, script)
        }
        (DbUrl::Mysql { .. }, None) => {
            super::verify::verify_mysql(&p.url, password.as_deref(), old, script)
        }
    }
}

/// Verify `script` (from `old` to `new`) on a new SQLite file built from `old`.
pub fn verify_between_sqlite(
    old: &DbSnapshot,
    new: &DbSnapshot,
    script: &Script,
) -> anyhow::Result<VerifyReport> {
    refuse_checksum_tables(old)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scratch.db");
    std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut scratch = SqliteDb::open(&path)?;
    let mut report = VerifyReport {
        kind: Kind::Sqlite,
        scratch: format!(
            "new file built from the first snapshot in {}",
            dir.path().display()
        ),
        checks: Vec::new(),
        notes: Vec::new(),
    };
    run_checks(&mut scratch, old, new, script, &mut report)?;
    Ok(report)
}

/// Verify `script` (from `old` to `new`) in a scratch schema built from `old` on the server
/// of `url`.
pub fn verify_between_mysql(
    url: &DbUrl,
    password: Option<&str>,
    old: &DbSnapshot,
    new: &DbSnapshot,
    script: &Script,
) -> anyhow::Result<VerifyReport> {
    refuse_checksum_tables(old)?;
    let mut main = MysqlDb::connect(url, password)?;
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        ^ u64::from(std::process::id());
    let scratch = format!("devsky_scratch_{random:016x}");
    let q = |n: &str| ident(Kind::Mysql, n);
    let quiet = &mut |_: QueryEvent| true;
    main.run(
        &format!("CREATE DATABASE {} CHARACTER SET utf8mb4", q(&scratch)),
        quiet,
    )
    .map_err(|e| anyhow::anyhow!("creating the scratch schema {scratch}: {e}"))?;
    let mut report = VerifyReport {
        kind: Kind::Mysql,
        scratch: format!("schema {scratch} built from the first snapshot, dropped afterwards"),
        checks: Vec::new(),
        notes: Vec::new(),
    };
    let result = (|| -> anyhow::Result<()> {
        let mut scratch_url = url.clone();
        if let DbUrl::Mysql { database, .. } = &mut scratch_url {
            *database = Some(scratch.clone());
        }
        let mut db = MysqlDb::connect(&scratch_url, password)?;
        run_checks(&mut db, old, new, script, &mut report)
    })();
    let dropped = main.run(&format!("DROP DATABASE {}", q(&scratch)), quiet);
    result?;
    dropped.map_err(|e| anyhow::anyhow!("dropping the scratch schema {scratch}: {e}"))?;
    Ok(report)
}
