//! Verify a script on a scratch copy of the database, never on the database itself.
//!
//! The copy is the database as it is now (the target of the forward script). On it:
//! 1. the reverse script is applied; the copy must then equal the snapshot: same schema, the
//!    same rows in every 'data' table, the same checksums in every 'checksum' table whose
//!    data did not change since the snapshot (changes there are not scripted, only noted);
//! 2. the forward script is applied; the copy must equal the database as it was: schema,
//!    rows and checksums;
//! 3. the server's own view of the copy (see `server_view`: MySQL's `SHOW CREATE TABLE`,
//!    `CHECKSUM TABLE` and a SELECT of generated columns; SQLite's full dump) must be what
//!    it was before the two scripts ran, line for line.
//!
//! SQLite: the file is copied with SQLite's online backup API (consistent even while the
//! database is in use, WAL included) into a temporary folder. MySQL: a scratch schema
//! `devsky_scratch_<random>` on the same server gets every table (`SHOW CREATE TABLE` text,
//! foreign keys included), its rows and its `AUTO_INCREMENT` counter, then every view, trigger, routine and event, the checks run there on a connection of their own,
//! and the schema is dropped afterwards whatever happened.

use std::hash::{BuildHasher, Hasher};
use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;

use super::db_objects::{self, DbObject, creation_order};
use super::mysql::MysqlDb;
use super::schema_diff::{ident, writable};
use super::server_view;
use super::snapshot::{DbSnapshot, Mode, Script, apply, differences, session, take};
use super::sqlite::SqliteDb;
use super::url::DbUrl;
use super::{Db, Kind, QueryEvent, collect};

/// One check and what went wrong in it (nothing: it passed).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub problems: Vec<String>,
}

/// What verifying a script found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub kind: Kind,
    /// Where the scratch copy was.
    pub scratch: String,
    pub checks: Vec<Check>,
    /// Not failures: data changes the script does not cover.
    pub notes: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.problems.is_empty())
    }

    /// For people: one line per check, problems indented under it.
    pub fn text(&self) -> String {
        let mut s = format!("verified on a scratch copy ({})\n", self.scratch);
        for c in &self.checks {
            s.push_str(&format!(
                "  {} {}\n",
                if c.problems.is_empty() {
                    "ok  "
                } else {
                    "FAIL"
                },
                c.name
            ));
            for p in &c.problems {
                s.push_str(&format!("         {p}\n"));
            }
        }
        for n in &self.notes {
            s.push_str(&format!("  note {n}\n"));
        }
        s.push_str(if self.ok() {
            "script verified\n"
        } else {
            "script NOT verified\n"
        });
        s
    }
}

/// Run the two checks on `scratch`, a copy of the database as it is now.
fn run_checks(
    scratch: &mut dyn Db,
    old: &DbSnapshot,
    script: &Script,
    report: &mut VerifyReport,
) -> anyhow::Result<()> {
    let modes = |t: &str| old.modes.get(t).copied().unwrap_or(Mode::Auto);
    let target = take(scratch, &modes).context("reading the scratch copy")?;
    let shown = server_view::take(scratch).context("reading the scratch copy")?;
    // Checksum tables whose data changed since the snapshot: the reverse cannot restore them.
    let mut want_old = old.clone();
    want_old.chunks.retain(|t, c| {
        let same = target.chunks.get(t) == Some(c);
        if !same && target.chunks.contains_key(t) {
            report.notes.push(format!("table {t}: data changed since the snapshot ('checksum' mode), not compared after the reverse"));
        }
        same
    });
    for (reverse, name, want) in [
        (true, "the reverse script gives the snapshot", &want_old),
        (
            false,
            "the forward script then gives the database as it is now",
            &target,
        ),
    ] {
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
            return Ok(());
        }
    }
    let name = match scratch.kind() {
        Kind::Mysql => {
            "the server shows the same tables again (SHOW CREATE TABLE, CHECKSUM TABLE, generated columns)"
        }
        Kind::Sqlite => "the server shows the same database again (a full dump)",
    };
    let problems = server_view::changed(&shown, &server_view::take(scratch)?, 40);
    report.checks.push(Check {
        name: name.into(),
        problems,
    });
    Ok(())
}

/// Copy the SQLite database at `from` into a new file `to` with the online backup API.
pub fn sqlite_backup(from: &Path, to: &Path) -> anyhow::Result<()> {
    use rusqlite::{Connection, OpenFlags, ffi};
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", from.display()))?;
    src.busy_timeout(std::time::Duration::from_secs(10))?;
    let dst = Connection::open(to).with_context(|| format!("creating {}", to.display()))?;
    // SAFETY: both handles are live connections owned by this function for the whole
    // backup; the backup object is finished before they are dropped. (rusqlite's own
    // wrapper is behind its `backup` feature, which this crate does not enable.)
    let rc = unsafe {
        let main = c"main".as_ptr();
        let b = ffi::sqlite3_backup_init(dst.handle(), main, src.handle(), main);
        if b.is_null() {
            bail!(
                "backup of {} failed: {}",
                from.display(),
                std::ffi::CStr::from_ptr(ffi::sqlite3_errmsg(dst.handle())).to_string_lossy()
            );
        }
        let mut rc;
        loop {
            rc = ffi::sqlite3_backup_step(b, -1);
            if rc != ffi::SQLITE_BUSY && rc != ffi::SQLITE_LOCKED {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        ffi::sqlite3_backup_finish(b);
        rc
    };
    if rc != ffi::SQLITE_DONE {
        bail!(
            "backup of {} failed: {}",
            from.display(),
            ffi::code_to_str(rc)
        );
    }
    Ok(())
}

/// Verify `script` (from the snapshot `old` to the SQLite database at `path`).
pub fn verify_sqlite(
    path: &Path,
    old: &DbSnapshot,
    script: &Script,
) -> anyhow::Result<VerifyReport> {
    let dir = tempfile::tempdir()?;
    let copy = dir.path().join("scratch.db");
    sqlite_backup(path, &copy)?;
    let mut scratch = SqliteDb::open(&copy)?;
    let mut report = VerifyReport {
        kind: Kind::Sqlite,
        scratch: format!("backup of {} in {}", path.display(), dir.path().display()),
        checks: Vec::new(),
        notes: Vec::new(),
    };
    run_checks(&mut scratch, old, script, &mut report)?;
    Ok(report)
}

fn one_value(db: &mut dyn Db, sql: &str) -> anyhow::Result<Option<String>> {
    let r = collect(db, sql).map_err(|e| anyhow::anyhow!("{sql}: {e}"))?;
    Ok(r.last()
        .and_then(|s| s.rows.first())
        .and_then(|row| row.first())
        .and_then(|v| v.display()))
}

/// Verify `script` (from the snapshot `old` to the MySQL database `url` names) in a
/// scratch schema on the same server. The checks run on a connection of their own whose
/// URL names the scratch schema, so that even a re-opened connection cannot touch the
/// real database.
pub fn verify_mysql(
    url: &DbUrl,
    password: Option<&str>,
    old: &DbSnapshot,
    script: &Script,
) -> anyhow::Result<VerifyReport> {
    let DbUrl::Mysql {
        database: Some(original),
        ..
    } = url
    else {
        bail!("{url} names no MySQL database");
    };
    let mut main = MysqlDb::connect(url, password)?;
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        ^ u64::from(std::process::id());
    let scratch = format!("devsky_scratch_{random:016x}");
    let q = |n: &str| ident(Kind::Mysql, n);
    let quiet = &mut |_: QueryEvent| true;
    let charset = one_value(
        &mut main,
        &format!(
            "SELECT CONCAT(DEFAULT_CHARACTER_SET_NAME, ' COLLATE ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{}'",
            original.replace('\'', "''")
        ),
    )?;
    let (settings, _) = session(Kind::Mysql);
    main.run(settings, quiet)
        .map_err(|e| anyhow::anyhow!("{settings}: {e}"))?;
    let tables = main.tables()?;
    let objects = main.objects()?;
    // AUTO_INCREMENT counters: the copy gets the database's own, not the ones its rows imply.
    let counters = collect(
        &mut main,
        &format!(
            "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' \
             AND TABLE_TYPE = 'BASE TABLE' AND AUTO_INCREMENT IS NOT NULL",
            original.replace('\'', "''")
        ),
    )
    .map_err(|e| anyhow::anyhow!("reading AUTO_INCREMENT counters: {e}"))?;
    let counters: Vec<(String, String)> = counters
        .iter()
        .flat_map(|s| &s.rows)
        .filter_map(|r| Some((r.first()?.display()?, r.get(1)?.display()?)))
        .filter(|(_, n)| n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    let create = format!(
        "CREATE DATABASE {}{}",
        q(&scratch),
        charset
            .map(|c| format!(" CHARACTER SET {c}"))
            .unwrap_or_default()
    );
    main.run(&create, quiet)
        .map_err(|e| anyhow::anyhow!("creating the scratch schema {scratch}: {e}"))?;
    let mut report = VerifyReport {
        kind: Kind::Mysql,
        scratch: format!("schema {scratch} on the same server, dropped afterwards"),
        checks: Vec::new(),
        notes: Vec::new(),
    };
    let result = (|| -> anyhow::Result<()> {
        let mut scratch_url = url.clone();
        if let DbUrl::Mysql { database, .. } = &mut scratch_url {
            *database = Some(scratch.clone());
        }
        let mut db = MysqlDb::connect(&scratch_url, password)?;
        let mut copy = vec!["SET FOREIGN_KEY_CHECKS = 0".to_string()];
        for t in &tables {
            copy.push(t.create_sql.trim().trim_end_matches(';').to_string());
            let cols: Vec<String> = t
                .columns
                .iter()
                .filter(|c| writable(c))
                .map(|c| q(&c.name))
                .collect();
            copy.push(format!(
                "INSERT INTO {t} ({cols}) SELECT {cols} FROM {db}.{t}",
                t = q(&t.name),
                db = q(original),
                cols = cols.join(", ")
            ));
        }
        for (t, n) in &counters {
            copy.push(format!("ALTER TABLE {} AUTO_INCREMENT = {n}", q(t)));
        }
        copy.push("SET FOREIGN_KEY_CHECKS = 1".into());
        let refs: Vec<&DbObject> = objects.iter().collect();
        for i in creation_order(&refs) {
            copy.push(db_objects::create_sql(Kind::Mysql, refs[i]));
        }
        db.run(session(Kind::Mysql).0, quiet)
            .map_err(|e| anyhow::anyhow!("setting up the scratch session: {e}"))?;
        for sql in &copy {
            db.run(sql, quiet)
                .map_err(|e| anyhow::anyhow!("copying into the scratch schema: {sql}: {e}"))?;
        }
        run_checks(&mut db, old, script, &mut report)
    })();
    let dropped = main.run(&format!("DROP DATABASE {}", q(&scratch)), quiet);
    result?;
    dropped.map_err(|e| anyhow::anyhow!("dropping the scratch schema {scratch}: {e}"))?;
    Ok(report)
}
