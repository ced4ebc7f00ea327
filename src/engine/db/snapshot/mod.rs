//! The database part of a snapshot, and the script from a snapshot to the database now.
//!
//! A [`DbSnapshot`] holds every table's normalized schema and, by the table's [`Mode`]:
//! 'data' — every row (the pre-images a reverse script needs); 'checksum' — row counts and
//! checksums of primary-key chunks (a change is detected, not scripted); 'skip' — nothing,
//! the table is left out of snapshots and diffs. Modes come from `_dev_db_tables`; a table
//! without a row there is 'data' when it has fewer than [`DATA_MODE_MAX_ROWS`] (10,000)
//! rows, else 'checksum' (rows of a table without a primary key are matched whole, see
//! `data_diff`).
//!
//! Nothing is passed over silently: what a script does not do (data changes of 'checksum'
//! tables, rows or values its reverse cannot restore, objects and attributes devsky
//! cannot script) is listed in [`Script::notes`], each naming the object and the reason;
//! the script command fails on any unless `--allow-incomplete` is given, and the script
//! then carries one `-- INCOMPLETE:` comment per omission.
//!
//! Stored as one object (see `stored`). Files: this one (modes, [`take`]), `stored.rs`,
//! `between.rs` ([`diff`], [`between`]), `script.rs` ([`Script`], [`apply`]), `compare.rs`
//! ([`differences`]).
//!
//! [`diff`] takes the database as it is now (with the snapshot's modes) and builds a
//! [`Script`]: the schema steps, row changes of 'data' tables, and the pre-images the
//! reverse needs: a dropped 'data' table is re-inserted after it is re-created, and a
//! dropped or narrowed column of a 'data' table gets its values back (UPDATEs by primary
//! key, at the very end of the reverse, when the table has its old shape again).

mod between;
mod compare;
mod script;
mod stored;

pub use between::{between, diff};
pub use compare::differences;
pub use script::{Halfway, Refused, Script, apply, session};

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::db_objects::{self, DbObject};
use super::schema_diff::ident;
use super::{Chunk, Db, Kind, QueryEvent, TableSchema, Value};

/// Tables with fewer rows than this default to 'data'.
pub const DATA_MODE_MAX_ROWS: u64 = 10_000;
/// Rows per checksum chunk.
pub const CHUNK_ROWS: u64 = 1_000;

/// How a table takes part in database snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Data,
    Checksum,
    Skip,
    /// No choice recorded: 'data' under [`DATA_MODE_MAX_ROWS`] rows, else 'checksum'.
    Auto,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "data" => Mode::Data,
            "checksum" => Mode::Checksum,
            "skip" => Mode::Skip,
            "auto" => Mode::Auto,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Data => "data",
            Mode::Checksum => "checksum",
            Mode::Skip => "skip",
            Mode::Auto => "auto",
        }
    }
}

/// The modes recorded for a profile's tables in `_dev_db_tables`.
pub fn table_modes(
    conn: &rusqlite::Connection,
    profile: &str,
) -> anyhow::Result<BTreeMap<String, Mode>> {
    let mut stmt =
        conn.prepare("SELECT table_name, mode FROM _dev_db_tables WHERE profile = ?1")?;
    let rows = stmt.query_map([profile], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = BTreeMap::new();
    for r in rows {
        let (t, m) = r?;
        out.insert(t, Mode::parse(&m).unwrap_or(Mode::Auto));
    }
    Ok(out)
}

/// Record the mode of `table` of `profile` in `_dev_db_tables` ([`Mode::Auto`] removes the
/// record: the default applies again).
pub fn set_table_mode(
    conn: &rusqlite::Connection,
    profile: &str,
    table: &str,
    mode: Mode,
) -> anyhow::Result<()> {
    match mode {
        Mode::Auto => conn.execute(
            "DELETE FROM _dev_db_tables WHERE profile = ?1 AND table_name = ?2",
            [profile, table],
        )?,
        m => conn.execute(
            "INSERT INTO _dev_db_tables (profile, table_name, mode) VALUES (?1, ?2, ?3)
             ON CONFLICT (profile, table_name) DO UPDATE SET mode = excluded.mode",
            [profile, table, m.as_str()],
        )?,
    };
    Ok(())
}

/// The database part of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct DbSnapshot {
    pub kind: Kind,
    /// Every table but the skipped ones, sorted by name.
    pub tables: Vec<TableSchema>,
    /// The resolved mode of every table seen (data, checksum or skip).
    pub modes: BTreeMap<String, Mode>,
    /// 'data' tables: every row, ordered by primary key, in the table's column order.
    pub data: BTreeMap<String, Vec<Vec<Value>>>,
    /// 'checksum' tables.
    pub chunks: BTreeMap<String, Vec<Chunk>>,
    /// MySQL: each table's `AUTO_INCREMENT` counter (tables that have one).
    pub counters: BTreeMap<String, u64>,
    /// Views, triggers, routines, events (SQLite: and partial/expression indexes).
    pub objects: Vec<DbObject>,
}

fn count_rows(db: &mut dyn Db, table: &str) -> anyhow::Result<u64> {
    let mut n = None;
    db.run(
        &format!("SELECT COUNT(*) FROM {}", ident(db.kind(), table)),
        &mut |e| {
            if let QueryEvent::Rows(rows) = e
                && let Some(v) = rows.first().and_then(|r| r.first())
            {
                n = v.display().and_then(|s| s.parse().ok());
            }
            true
        },
    )
    .with_context(|| format!("counting the rows of {table}"))?;
    n.with_context(|| format!("counting the rows of {table}: no answer"))
}

/// Every row of `t`, ordered by primary key.
pub fn read_rows(db: &mut dyn Db, t: &TableSchema) -> anyhow::Result<Vec<Vec<Value>>> {
    let mut all = Vec::new();
    db.rows(t, &mut |batch| {
        all.extend(batch);
        Ok(())
    })?;
    Ok(all)
}

/// MySQL: the `AUTO_INCREMENT` counter of every table that has one.
fn counters(db: &mut dyn Db) -> anyhow::Result<BTreeMap<String, u64>> {
    let sql = "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES \
               WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND AUTO_INCREMENT IS NOT NULL";
    let r = super::collect(db, sql)
        .map_err(|e| anyhow::anyhow!("reading AUTO_INCREMENT counters: {e}"))?;
    let mut out = BTreeMap::new();
    for row in r.iter().flat_map(|s| &s.rows) {
        if let (Some(t), Some(n)) = (
            row.first().and_then(Value::display),
            row.get(1)
                .and_then(Value::display)
                .and_then(|n| n.parse().ok()),
        ) {
            out.insert(t, n);
        }
    }
    Ok(out)
}

/// Snapshot the database: schemas, and rows or checksums by each table's mode.
pub fn take(db: &mut dyn Db, modes: &dyn Fn(&str) -> Mode) -> anyhow::Result<DbSnapshot> {
    let mut snap = DbSnapshot {
        kind: db.kind(),
        tables: Vec::new(),
        modes: BTreeMap::new(),
        data: BTreeMap::new(),
        chunks: BTreeMap::new(),
        counters: BTreeMap::new(),
        objects: Vec::new(),
    };
    if db.kind() == Kind::Mysql {
        // Rows are read (and scripts run) in the session of [`session`]: UTC, so TIMESTAMP
        // values do not depend on the session's time zone; the server's CREATE texts
        // without ANSI_QUOTES.
        let settings = format!(
            "SET NAMES utf8mb4; SET SESSION sql_mode = '{}', SESSION time_zone = '+00:00'",
            db_objects::SCRIPT_SQL_MODE
        );
        db.run(&settings, &mut |_| true)
            .map_err(|e| anyhow::anyhow!("{settings}: {e}"))?;
        snap.counters = counters(db)?;
    }
    snap.objects = db
        .objects()
        .context("reading views, triggers and routines")?;
    for t in db.tables()? {
        let mode = match modes(&t.name) {
            Mode::Auto if count_rows(db, &t.name)? < DATA_MODE_MAX_ROWS => Mode::Data,
            Mode::Auto => Mode::Checksum,
            m => m,
        };
        snap.modes.insert(t.name.clone(), mode);
        match mode {
            Mode::Skip => continue,
            Mode::Data => {
                let rows =
                    read_rows(db, &t).with_context(|| format!("reading the rows of {}", t.name))?;
                snap.data.insert(t.name.clone(), rows);
            }
            _ => {
                let chunks = db
                    .checksum_chunks(&t, CHUNK_ROWS)
                    .with_context(|| format!("checksumming {}", t.name))?;
                snap.chunks.insert(t.name.clone(), chunks);
            }
        }
        snap.tables.push(t);
    }
    let kept: std::collections::BTreeSet<String> =
        snap.tables.iter().map(|t| t.name.clone()).collect();
    snap.counters.retain(|t, _| kept.contains(t));
    Ok(snap)
}
#[cfg(test)]
mod tests;
