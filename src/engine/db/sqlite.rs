//! SQLite behind the [`Db`] trait (rusqlite).
//!
//! The file is opened read-write (never created) with a busy timeout; its journal mode is
//! left as it is. Queries are cancelled with `sqlite3_interrupt`.
//!
//! **Chunk checksums.** SQLite has no CRC32 aggregate, so [`Db::checksum_chunks`] reads the
//! rows in primary-key order (all columns in order when there is no primary key) and cuts
//! a chunk every `chunk_rows` rows. A chunk's checksum is the first 8 bytes (little-endian)
//! of blake3 over the encoding of its rows in that order; each value, column by column, is
//! encoded as: NULL `00`; INTEGER `01` + i64 LE; REAL `02` + f64 bits LE; TEXT `03` + u64
//! LE byte length + UTF-8 bytes; BLOB `04` + u64 LE length + bytes. These checksums compare
//! SQLite with SQLite only; MySQL chunks use the server's CRC32 (see `mysql.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, InterruptHandle, OpenFlags};

use super::db_objects::DbObject;
use super::split::{Stmt, first_keyword, split};
use super::{
    ApplyError, ApplyReport, BATCH_ROWS, Canceller, Chunk, Column, ColumnSchema, Db, ForeignKey,
    IndexSchema, Kind, QueryEvent, SqlError, TableSchema, Value,
};

/// How long a statement waits for another connection's lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to a SQLite file.
pub struct SqliteDb {
    conn: Connection,
    path: PathBuf,
    cancelled: Arc<AtomicBool>,
}

impl SqliteDb {
    /// Open an existing SQLite file read-write.
    pub fn open(path: &Path) -> anyhow::Result<SqliteDb> {
        if !path.is_file() {
            bail!(
                "no SQLite database at {} (the file does not exist)",
                path.display()
            );
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .with_context(|| format!("cannot open SQLite database {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .with_context(|| format!("{} is not a usable SQLite database", path.display()))?;
        Ok(SqliteDb {
            conn,
            path: path.to_path_buf(),
            cancelled: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The underlying connection (tests, tools that need SQLite specifics).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Run one statement to its end, ignoring rows.
    fn exec_one(&self, st: &Stmt) -> Result<(), rusqlite::Error> {
        let mut stmt = self.conn.prepare(st.sql)?;
        if stmt.column_count() > 0 {
            let mut rows = stmt.raw_query();
            while rows.next()?.is_some() {}
        } else {
            stmt.raw_execute()?;
        }
        Ok(())
    }

    /// Rows of `table` ordered by primary key, each with `f`.
    fn each_row(
        &self,
        table: &TableSchema,
        f: &mut dyn FnMut(&rusqlite::Row) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let cols: Vec<String> = table.columns.iter().map(|c| ident(&c.name)).collect();
        let order: Vec<String> = if table.primary_key.is_empty() {
            (1..=cols.len()).map(|i| i.to_string()).collect()
        } else {
            table.primary_key.iter().map(|c| ident(c)).collect()
        };
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            cols.join(", "),
            ident(&table.name),
            order.join(", ")
        );
        let mut stmt = self
            .conn
            .prepare(&sql)
            .with_context(|| format!("reading {}", table.name))?;
        let mut rows = stmt.raw_query();
        while let Some(r) = rows.next()? {
            f(r)?;
        }
        Ok(())
    }
}

struct SqliteCanceller {
    handle: InterruptHandle,
    flag: Arc<AtomicBool>,
}

impl Canceller for SqliteCanceller {
    fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.handle.interrupt();
    }
}

/// Quote an identifier for SQLite.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn value(v: ValueRef) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_string()),
            Err(_) => Value::Bytes(t.to_vec()),
        },
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

fn row_values(r: &rusqlite::Row, n: usize) -> rusqlite::Result<Vec<Value>> {
    (0..n).map(|i| r.get_ref(i).map(value)).collect()
}

/// Append the checksum encoding of one value (see the module docs).
fn encode(out: &mut blake3::Hasher, v: ValueRef) {
    match v {
        ValueRef::Null => out.update(&[0]),
        ValueRef::Integer(i) => out.update(&[1]).update(&i.to_le_bytes()),
        ValueRef::Real(f) => out.update(&[2]).update(&f.to_bits().to_le_bytes()),
        ValueRef::Text(t) => out
            .update(&[3])
            .update(&(t.len() as u64).to_le_bytes())
            .update(t),
        ValueRef::Blob(b) => out
            .update(&[4])
            .update(&(b.len() as u64).to_le_bytes())
            .update(b),
    };
}

fn text_of(v: ValueRef) -> String {
    value(v).display().unwrap_or_else(|| "NULL".into())
}

fn sql_error(e: rusqlite::Error, statement: usize, offset: usize) -> SqlError {
    let (message, at, cancelled) = match &e {
        rusqlite::Error::SqlInputError { msg, offset: o, .. } => {
            (msg.clone(), usize::try_from(*o).ok(), false)
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::OperationInterrupted => {
            ("cancelled".to_string(), None, true)
        }
        rusqlite::Error::SqliteFailure(f, m) => {
            (m.clone().unwrap_or_else(|| f.to_string()), None, false)
        }
        other => (other.to_string(), None, false),
    };
    SqlError {
        message,
        offset: Some(offset + at.unwrap_or(0)),
        statement,
        cancelled,
    }
}

fn cancelled(statement: usize, offset: usize) -> SqlError {
    SqlError {
        message: "cancelled".into(),
        offset: Some(offset),
        statement,
        cancelled: true,
    }
}

/// A partial or expression index: left out of the table's normalized indexes (which cannot
/// describe it). Every index with a `CREATE INDEX` text is also an object (see
/// `db_objects`): the schema diff creates indexes again from their own text.
fn index_is_object(c: &rusqlite::Connection, index: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_index_list((SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?1)) WHERE name = ?1 AND partial) \
         OR EXISTS (SELECT 1 FROM pragma_index_xinfo(?1) WHERE key AND cid = -2)",
        [index],
        |r| r.get(0),
    )
}

impl Db for SqliteDb {
    fn kind(&self) -> Kind {
        Kind::Sqlite
    }

    /// Returns `Ok(())` when the sink stops the query.
    fn run(&mut self, sql: &str, sink: &mut dyn FnMut(QueryEvent) -> bool) -> Result<(), SqlError> {
        self.cancelled.store(false, Ordering::SeqCst);
        for (index, st) in split(sql, Kind::Sqlite).into_iter().enumerate() {
            if self.cancelled.load(Ordering::SeqCst) {
                return Err(cancelled(index, st.offset));
            }
            let err = |e| sql_error(e, index, st.offset);
            if !sink(QueryEvent::Statement {
                index,
                offset: st.offset,
                sql: st.sql.to_string(),
            }) {
                return Ok(());
            }
            let started = Instant::now();
            let mut stmt = self.conn.prepare(st.sql).map_err(err)?;
            let n = stmt.column_count();
            if n > 0 {
                let columns = stmt
                    .columns()
                    .iter()
                    .map(|c| Column {
                        name: c.name().to_string(),
                        type_name: c.decl_type().unwrap_or("").to_ascii_uppercase(),
                    })
                    .collect();
                if !sink(QueryEvent::Columns(columns)) {
                    return Ok(());
                }
                let mut rows = stmt.raw_query();
                let mut batch = Vec::new();
                while let Some(r) = rows.next().map_err(err)? {
                    batch.push(row_values(r, n).map_err(err)?);
                    if batch.len() >= BATCH_ROWS
                        && !sink(QueryEvent::Rows(std::mem::take(&mut batch)))
                    {
                        return Ok(());
                    }
                }
                if !batch.is_empty() && !sink(QueryEvent::Rows(batch)) {
                    return Ok(());
                }
            } else {
                stmt.raw_execute().map_err(err)?;
            }
            drop(stmt);
            let kw = first_keyword(st.sql);
            let dml = matches!(
                kw.as_str(),
                "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "WITH"
            );
            let insert = matches!(kw.as_str(), "INSERT" | "REPLACE");
            if !sink(QueryEvent::Done {
                affected: if dml { self.conn.changes() } else { 0 },
                last_insert_id: insert.then(|| self.conn.last_insert_rowid() as u64),
                elapsed: started.elapsed(),
            }) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn canceller(&self) -> Box<dyn Canceller> {
        Box::new(SqliteCanceller {
            handle: self.conn.get_interrupt_handle(),
            flag: self.cancelled.clone(),
        })
    }

    fn tables(&mut self) -> anyhow::Result<Vec<TableSchema>> {
        let c = &self.conn;
        let mut list = c.prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )?;
        let tables: Vec<(String, String)> = list
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(tables.len());
        for (name, create_sql) in tables {
            out.push(table_schema(c, name, create_sql)?);
        }
        Ok(out)
    }

    fn objects(&mut self) -> anyhow::Result<Vec<DbObject>> {
        let c = &self.conn;
        let mut q = c.prepare(
            "SELECT type, name, tbl_name, sql FROM sqlite_master \
             WHERE type IN ('view', 'trigger', 'index') AND sql IS NOT NULL ORDER BY name",
        )?;
        let all: Vec<(String, String, String, String)> = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::new();
        for (kind, name, table, sql) in all {
            out.push(DbObject {
                table: if kind == "view" { String::new() } else { table },
                kind,
                name,
                create_sql: sql,
                sql_mode: String::new(),
                time_zone: String::new(),
            });
        }
        Ok(out)
    }

    fn checksum_chunks(
        &mut self,
        table: &TableSchema,
        chunk_rows: u64,
    ) -> anyhow::Result<Vec<Chunk>> {
        let chunk_rows = chunk_rows.max(1);
        let n = table.columns.len();
        let pk: Vec<usize> = table
            .primary_key
            .iter()
            .filter_map(|k| table.columns.iter().position(|c| &c.name == k))
            .collect();
        let mut chunks = Vec::new();
        let mut hasher = blake3::Hasher::new();
        let mut cur: Option<Chunk> = None;
        self.each_row(table, &mut |r| {
            let key = pk
                .iter()
                .map(|&i| r.get_ref(i).map(text_of))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let ch = cur.get_or_insert_with(|| Chunk {
                lo: key.clone(),
                hi: Vec::new(),
                rows: 0,
                checksum: 0,
            });
            for i in 0..n {
                encode(&mut hasher, r.get_ref(i)?);
            }
            ch.rows += 1;
            ch.hi = key;
            if ch.rows == chunk_rows {
                let mut done = cur.take().expect("chunk");
                done.checksum = checksum(&hasher);
                hasher.reset();
                chunks.push(done);
            }
            Ok(())
        })?;
        if let Some(mut last) = cur {
            last.checksum = checksum(&hasher);
            chunks.push(last);
        }
        Ok(chunks)
    }

    fn rows(
        &mut self,
        table: &TableSchema,
        sink: &mut dyn FnMut(Vec<Vec<Value>>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let n = table.columns.len();
        let mut batch = Vec::new();
        self.each_row(table, &mut |r| {
            batch.push(row_values(r, n)?);
            if batch.len() >= BATCH_ROWS {
                sink(std::mem::take(&mut batch))?;
            }
            Ok(())
        })?;
        if !batch.is_empty() {
            sink(batch)?;
        }
        Ok(())
    }

    fn apply_script(&mut self, sql: &str) -> Result<ApplyReport, ApplyError> {
        let fail = |error: SqlError| ApplyError {
            error,
            committed: Vec::new(),
        };
        let stmts = split(sql, Kind::Sqlite);
        self.conn
            .execute_batch("BEGIN")
            .map_err(|e| fail(sql_error(e, 0, 0)))?;
        for (i, st) in stmts.iter().enumerate() {
            if let Err(e) = self.exec_one(st) {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(fail(sql_error(e, i, st.offset)));
            }
        }
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(fail(sql_error(e, stmts.len(), sql.len())));
        }
        Ok(ApplyReport {
            statements: stmts.len(),
        })
    }

    fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }
}

fn checksum(h: &blake3::Hasher) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// A nullable column without a default defaults to NULL: say so, as MySQL does.
fn normalize_default(d: Option<String>, nullable: bool) -> Option<String> {
    match d {
        Some(d) if d.eq_ignore_ascii_case("null") => Some("NULL".into()),
        Some(d) if d.eq_ignore_ascii_case("current_timestamp") => Some("CURRENT_TIMESTAMP".into()),
        Some(d) => Some(d),
        None if nullable => Some("NULL".into()),
        None => None,
    }
}

fn table_schema(c: &Connection, name: String, create_sql: String) -> anyhow::Result<TableSchema> {
    let upper = create_sql.to_ascii_uppercase();
    let without_rowid = upper.contains("WITHOUT ROWID");
    // cid, name, type, notnull, dflt_value, pk, hidden
    let mut q = c.prepare("SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid")?;
    let raw: Vec<(String, String, bool, Option<String>, i64, i64)> = q
        .query_map([&name], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut pk: Vec<(i64, String)> = raw
        .iter()
        .filter(|c| c.4 > 0)
        .map(|c| (c.4, c.0.clone()))
        .collect();
    pk.sort();
    let primary_key: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();
    let mut columns = Vec::new();
    for (cname, ty, notnull, dflt, pkpos, hidden) in raw {
        if hidden == 1 {
            continue;
        }
        let data_type = ty.to_ascii_lowercase();
        let rowid_alias =
            pkpos > 0 && primary_key.len() == 1 && data_type == "integer" && !without_rowid;
        let nullable = !notnull && !rowid_alias;
        let extra = match hidden {
            2 => "virtual generated",
            3 => "stored generated",
            _ if rowid_alias && upper.contains("AUTOINCREMENT") => "auto_increment",
            _ => "",
        };
        columns.push(ColumnSchema {
            name: cname,
            data_type,
            nullable,
            default: if hidden >= 2 {
                None
            } else {
                normalize_default(dflt, nullable)
            },
            extra: extra.into(),
        });
    }
    let mut q = c.prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1)")?;
    let list: Vec<(String, bool, String)> = q
        .query_map([&name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut indexes = Vec::new();
    for (iname, unique, origin) in list {
        if origin == "pk" || iname.starts_with("sqlite_autoindex_") || index_is_object(c, &iname)? {
            continue;
        }
        let mut q = c.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?;
        let cols = q
            .query_map([&iname], |r| {
                Ok(r.get::<_, Option<String>>(0)?
                    .unwrap_or_else(|| "<expr>".into()))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        indexes.push(IndexSchema {
            name: iname,
            columns: cols,
            unique,
        });
    }
    indexes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut q = c.prepare(
        "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
    )?;
    let rows: Vec<(i64, String, String, Option<String>, String, String)> = q
        .query_map([&name], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut foreign_keys: Vec<ForeignKey> = Vec::new();
    let mut last_id = None;
    for (id, ref_table, from, to, on_update, on_delete) in rows {
        if last_id != Some(id) {
            last_id = Some(id);
            foreign_keys.push(ForeignKey {
                name: String::new(),
                columns: Vec::new(),
                ref_table: ref_table.clone(),
                ref_columns: Vec::new(),
                on_delete: on_delete.to_ascii_uppercase(),
                on_update: on_update.to_ascii_uppercase(),
            });
        }
        let fk = foreign_keys.last_mut().expect("pushed");
        fk.columns.push(from);
        fk.ref_columns.extend(to);
    }
    for fk in &mut foreign_keys {
        if fk.ref_columns.is_empty() {
            // `REFERENCES parent` without columns means the parent's primary key.
            let mut q =
                c.prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")?;
            fk.ref_columns = q
                .query_map([&fk.ref_table], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
        }
        // SQLite keeps no constraint names: name the key by what it links.
        fk.name = format!("fk_{}_{}", fk.columns.join("_"), fk.ref_table);
    }
    foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(TableSchema {
        name,
        columns,
        primary_key,
        indexes,
        foreign_keys,
        options: String::new(),
        create_sql,
    })
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
