//! The database as its server shows it, for `--verify`: lines of text rendered by the
//! server itself, not by devsky's introspection or value decoding.
//!
//! - MySQL/MariaDB: every base table's `SHOW CREATE TABLE` (without its `AUTO_INCREMENT`
//!   counter, which the snapshot compares on its own), its `CHECKSUM TABLE`, and a SELECT of
//!   its generated columns with the primary key, each value `QUOTE`d by the server
//!   (`CHECKSUM TABLE` leaves generated columns out).
//! - SQLite: a full dump, as `sqlite3 .dump` shows it: every `sqlite_master` entry with its
//!   SQL text, every row of every table (generated columns included) as `quote()` renders
//!   it, and `sqlite_sequence` (the AUTOINCREMENT counters). Rows are sorted: a row put back
//!   under another rowid is the same row.
//!
//! Two views are compared line by line ([`changed`]): a differing line is shown as it is.

use super::ddl::ident;
use super::{Db, Kind, collect};

/// Every row of `sql`'s last result as text: its second column where it has one (`SHOW
/// CREATE TABLE`, `CHECKSUM TABLE`), else its first ("NULL" for NULL).
fn texts(db: &mut dyn Db, sql: &str) -> anyhow::Result<Vec<String>> {
    let r = collect(db, sql).map_err(|e| anyhow::anyhow!("{sql}: {e}"))?;
    Ok(r.last()
        .map(|s| {
            s.rows
                .iter()
                .map(|row| {
                    row.get(1)
                        .or(row.first())
                        .and_then(|v| v.display())
                        .unwrap_or_else(|| "NULL".into())
                })
                .collect()
        })
        .unwrap_or_default())
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The server's view of the database `db` is connected to (see the module docs).
pub fn take(db: &mut dyn Db) -> anyhow::Result<Vec<String>> {
    match db.kind() {
        Kind::Mysql => mysql(db),
        Kind::Sqlite => sqlite(db),
    }
}

fn mysql(db: &mut dyn Db) -> anyhow::Result<Vec<String>> {
    let k = Kind::Mysql;
    let mut out = Vec::new();
    let tables = texts(
        db,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    )?;
    for t in &tables {
        let q = ident(k, t);
        for line in texts(db, &format!("SHOW CREATE TABLE {q}"))?
            .concat()
            .lines()
        {
            let line: Vec<&str> = line
                .split(' ')
                .filter(|w| !w.starts_with("AUTO_INCREMENT="))
                .collect();
            out.push(format!("table {t}: {}", line.join(" ")));
        }
        for sum in texts(db, &format!("CHECKSUM TABLE {q}"))? {
            out.push(format!("table {t}: CHECKSUM TABLE {sum}"));
        }
        let generated = texts(
            db,
            &format!(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = {} AND IS_GENERATED = 'ALWAYS' ORDER BY ORDINAL_POSITION",
                quoted(t)
            ),
        )?;
        if generated.is_empty() {
            continue;
        }
        let mut key = texts(
            db,
            &format!(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = {} AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
                quoted(t)
            ),
        )?;
        if key.is_empty() {
            // No primary key: every column identifies the row.
            key = texts(
                db,
                &format!(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                     AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
                    quoted(t)
                ),
            )?;
        }
        let cols: Vec<String> = key
            .iter()
            .chain(&generated)
            .map(|c| format!("QUOTE({})", ident(k, c)))
            .collect();
        let names: Vec<String> = key.iter().chain(&generated).cloned().collect();
        let sql = format!(
            "SELECT CONCAT_WS(', ', {}) FROM {q} ORDER BY 1",
            cols.join(", ")
        );
        let mut rows = texts(db, &sql)?;
        rows.sort();
        for r in rows {
            out.push(format!("table {t}: ({}) = ({r})", names.join(", ")));
        }
    }
    Ok(out)
}

fn sqlite(db: &mut dyn Db) -> anyhow::Result<Vec<String>> {
    let k = Kind::Sqlite;
    let mut out = Vec::new();
    let entries = texts(
        db,
        "SELECT type || ' ' || name, type || ' ' || name || ' ON ' || tbl_name || ': ' || COALESCE(sql, '') \
         FROM sqlite_master ORDER BY type, name",
    )?;
    out.extend(entries);
    let tables = texts(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND (name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         OR name = 'sqlite_sequence') AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name",
    )?;
    for t in &tables {
        let cols = texts(
            db,
            &format!(
                "SELECT name FROM pragma_table_xinfo({}) ORDER BY cid",
                quoted(t)
            ),
        )?;
        if cols.is_empty() {
            continue;
        }
        let values: Vec<String> = cols
            .iter()
            .map(|c| format!("quote({})", ident(k, c)))
            .collect();
        let sql = format!("SELECT {} FROM {}", values.join(" || ',' || "), ident(k, t));
        let mut rows = texts(db, &sql)?;
        rows.sort();
        for r in rows {
            out.push(format!(
                "INSERT INTO {}({}) VALUES({r});",
                ident(k, t),
                cols.join(",")
            ));
        }
    }
    Ok(out)
}

fn count(v: &[String]) -> std::collections::BTreeMap<&str, usize> {
    let mut m = std::collections::BTreeMap::new();
    for l in v {
        *m.entry(l.as_str()).or_default() += 1;
    }
    m
}

/// What differs between the view `want` and the view `got`, as lines (at most `max`):
/// `wanted: LINE` for a line only `want` has, `found: LINE` for one only `got` has.
pub fn changed(want: &[String], got: &[String], max: usize) -> Vec<String> {
    let (w, g) = (count(want), count(got));
    let mut out = Vec::new();
    for l in want {
        if w[l.as_str()] > g.get(l.as_str()).copied().unwrap_or(0) {
            out.push(format!("wanted: {l}"));
        }
    }
    for l in got {
        if g[l.as_str()] > w.get(l.as_str()).copied().unwrap_or(0) {
            out.push(format!("found:  {l}"));
        }
    }
    out.dedup();
    if out.len() > max {
        let more = out.len() - max;
        out.truncate(max);
        out.push(format!("... and {more} more differing lines"));
    }
    out
}
