//! What a database holds, for status reports (the deploy agent's `GET /api/v1/database`):
//! the server's version, every table with its exact row count and its size on disk, and a
//! checksum of the normalized schema.
//!
//! - **Rows**: `COUNT(*)` per table (exact; on a huge table that is a full scan).
//! - **Bytes**: MySQL/MariaDB `DATA_LENGTH + INDEX_LENGTH` of `information_schema.TABLES`
//!   (what the server reports; MySQL 8 caches these statistics); SQLite the pages of the
//!   table and its indexes in the `dbstat` virtual table, or unknown (`None`) when the
//!   library was built without it.
//! - **Schema checksum**: blake3 (hex) of [`canonical_schema`]: the [`TableSchema`]s
//!   sorted by name, each as JSON of its normalized parts (name, columns, primary key,
//!   indexes, foreign keys, options) — the engine's own `CREATE` text is left out, so how
//!   the DDL was formatted does not matter, and the same schema on two servers of the same
//!   engine has the same checksum. Rows never change it; `ALTER TABLE` does.

use std::collections::HashMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{ColumnSchema, Db, ForeignKey, IndexSchema, Kind, TableSchema, Value, collect};

/// One table: its rows and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStat {
    pub name: String,
    /// Exact (`COUNT(*)`).
    pub rows: u64,
    /// Data and indexes on disk; `None` when the engine does not tell.
    pub bytes: Option<u64>,
}

/// Tables, totals and the schema checksum of a database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbStatus {
    /// Sorted by name.
    pub tables: Vec<TableStat>,
    pub total_rows: u64,
    /// `None` when the size of some table is unknown.
    pub total_bytes: Option<u64>,
    /// 64 hex digits (see the module comment).
    pub schema_checksum: String,
}

/// The server's version (`10.11.6-MariaDB-0+deb12u1`; SQLite: the library's, `3.46.0`).
pub fn server_version(db: &mut dyn Db) -> Option<String> {
    let sql = match db.kind() {
        Kind::Mysql => "SELECT VERSION()",
        Kind::Sqlite => "SELECT sqlite_version()",
    };
    let r = collect(db, sql).ok()?;
    r.first()?.rows.first()?.first()?.display()
}

/// Row counts, sizes and the schema checksum of the current database.
pub fn status(db: &mut dyn Db) -> anyhow::Result<DbStatus> {
    let mut schemas = db.tables()?;
    schemas.sort_by(|a, b| a.name.cmp(&b.name));
    let sizes = sizes(db);
    let mut tables = Vec::with_capacity(schemas.len());
    for t in &schemas {
        let q = match db.kind() {
            Kind::Mysql => super::mysql::ident(&t.name),
            Kind::Sqlite => super::sqlite::ident(&t.name),
        };
        let r = collect(db, &format!("SELECT COUNT(*) FROM {q}"))
            .with_context(|| format!("cannot count the rows of {}", t.name))?;
        let rows = r
            .first()
            .and_then(|s| s.rows.first())
            .and_then(|row| row.first())
            .and_then(as_u64)
            .with_context(|| format!("COUNT(*) of {} returned no number", t.name))?;
        tables.push(TableStat {
            name: t.name.clone(),
            rows,
            bytes: sizes.as_ref().and_then(|s| s.get(&t.name).copied()),
        });
    }
    Ok(DbStatus {
        total_rows: tables.iter().map(|t| t.rows).sum(),
        total_bytes: tables.iter().map(|t| t.bytes).sum(),
        schema_checksum: schema_checksum(&schemas),
        tables,
    })
}

/// Bytes per table, or `None` when the engine cannot tell (SQLite without `dbstat`).
fn sizes(db: &mut dyn Db) -> Option<HashMap<String, u64>> {
    let sql = match db.kind() {
        Kind::Mysql => {
            "SELECT TABLE_NAME, COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) \
             FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        }
        Kind::Sqlite => {
            "SELECT m.tbl_name, SUM(s.pgsize) FROM dbstat AS s \
             JOIN sqlite_master AS m ON m.name = s.name GROUP BY m.tbl_name"
        }
    };
    let r = collect(db, sql).ok()?;
    let rows = &r.first()?.rows;
    Some(
        rows.iter()
            .filter_map(|row| Some((row.first()?.display()?, as_u64(row.get(1)?)?)))
            .collect(),
    )
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::UInt(u) => Some(*u),
        Value::Float(f) if *f >= 0.0 => Some(*f as u64),
        Value::Text(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The normalized parts of a table that the checksum covers, in a fixed field order.
#[derive(Serialize)]
struct Canon<'a> {
    name: &'a str,
    columns: &'a [ColumnSchema],
    primary_key: &'a [String],
    indexes: &'a [IndexSchema],
    foreign_keys: &'a [ForeignKey],
    options: &'a str,
}

/// The bytes the schema checksum hashes: a version line, then the tables sorted by name
/// as one JSON array of their normalized parts (see the module comment).
pub fn canonical_schema(tables: &[TableSchema]) -> Vec<u8> {
    let mut sorted: Vec<&TableSchema> = tables.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let canon: Vec<Canon> = sorted
        .iter()
        .map(|t| Canon {
            name: &t.name,
            columns: &t.columns,
            primary_key: &t.primary_key,
            indexes: &t.indexes,
            foreign_keys: &t.foreign_keys,
            options: &t.options,
        })
        .collect();
    let mut out = b"devsky-schema 1\n".to_vec();
    // Serializing plain structs, strings and vectors cannot fail.
    out.extend(serde_json::to_vec(&canon).unwrap_or_default());
    out
}

/// blake3 (64 hex digits) of [`canonical_schema`].
pub fn schema_checksum(tables: &[TableSchema]) -> String {
    blake3::hash(&canonical_schema(tables)).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::db::sqlite::SqliteDb;

    fn db(sql: &str) -> (tempfile::TempDir, SqliteDb) {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("t.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        let db = SqliteDb::open(&path).unwrap();
        (d, db)
    }

    #[test]
    fn rows_sizes_and_checksum() {
        let (_d, mut db) = db("CREATE TABLE b (id INTEGER PRIMARY KEY, x TEXT);
             CREATE TABLE a (id INTEGER PRIMARY KEY);
             CREATE INDEX b_x ON b (x);
             INSERT INTO b (x) VALUES ('1'), ('2'), ('3');
             INSERT INTO a VALUES (1);");
        assert!(server_version(&mut db).unwrap().starts_with('3'));
        let s = status(&mut db).unwrap();
        let names: Vec<(&str, u64)> = s.tables.iter().map(|t| (t.name.as_str(), t.rows)).collect();
        assert_eq!(names, [("a", 1), ("b", 3)]);
        assert_eq!(s.total_rows, 4);
        // dbstat is compiled into the bundled SQLite: every table has at least a page, and
        // b's index is counted with b.
        let (a, b) = (s.tables[0].bytes.unwrap(), s.tables[1].bytes.unwrap());
        assert!(a > 0 && b >= 2 * a, "{a} {b}");
        assert_eq!(s.total_bytes, Some(a + b));
        assert_eq!(s.schema_checksum.len(), 64);

        db.conn().execute("INSERT INTO a VALUES (2)", []).unwrap();
        let s2 = status(&mut db).unwrap();
        assert_eq!(s2.schema_checksum, s.schema_checksum);
        assert_eq!(s2.tables[0].rows, 2);
        db.conn()
            .execute("ALTER TABLE a ADD COLUMN note TEXT", [])
            .unwrap();
        assert_ne!(status(&mut db).unwrap().schema_checksum, s.schema_checksum);
    }

    #[test]
    fn checksum_ignores_formatting_and_order() {
        let (_d1, mut one) = db("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE u (k TEXT);");
        let (_d2, mut two) = db("create table u (k   text);
             CREATE TABLE t (
                 id INTEGER PRIMARY KEY,
                 v TEXT NOT NULL
             );");
        let (a, b) = (one.tables().unwrap(), two.tables().unwrap());
        assert_ne!(a[0].create_sql, b[0].create_sql);
        let mut reversed = a.clone();
        reversed.reverse();
        assert_eq!(schema_checksum(&a), schema_checksum(&reversed));
        assert_eq!(schema_checksum(&a), schema_checksum(&b));
    }
}
