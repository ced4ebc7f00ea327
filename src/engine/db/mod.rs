//! Databases beside the project: MySQL/MariaDB and SQLite behind one [`Db`] trait, used by
//! the Query tool, database snapshots and schema/data diffs.
//!
//! A [`Db`] runs SQL text (several statements, `DELIMITER` aware) and streams what happens
//! as [`QueryEvent`]s to a sink that can stop it; a [`Canceller`] taken before a query
//! stops it from another thread (MySQL: `KILL QUERY` on a second connection; SQLite:
//! `sqlite3_interrupt`). Introspection returns [`TableSchema`]s normalized so that the same
//! table on two servers compares equal.

pub mod changes;
pub mod data_diff;
pub mod db_objects;
pub mod ddl;
pub mod mysql;
mod mysql_alter;
pub mod narrowing;
pub mod profile;
pub mod schema_diff;
pub mod server_view;
pub mod show_create;
pub mod snapshot;
pub mod split;
pub mod sqlite;
mod sqlite_rebuild;
pub mod status;
pub mod url;
pub mod verify;
pub mod verify_between;

use std::time::Duration;

use serde::Serialize;

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Mysql,
    Sqlite,
}

/// One cell. NULL is not the empty string.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    /// Bytes that are not valid UTF-8 (BLOBs, binary strings).
    Bytes(Vec<u8>),
}

impl Value {
    /// For display in a grid: NULL is shown by the caller distinctly; bytes as hex.
    pub fn display(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Text(s) => Some(s.clone()),
            Value::Bytes(b) => Some(format!(
                "0x{}",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            )),
        }
    }
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    /// The engine's type name (`VARCHAR`, `INTEGER`, ...), as far as it tells.
    pub type_name: String,
}

/// What running SQL reports, in order, for each statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum QueryEvent {
    /// A statement starts (its text, and its byte offset in the submitted SQL).
    Statement {
        index: usize,
        offset: usize,
        sql: String,
    },
    /// The statement returns rows with these columns.
    Columns(Vec<Column>),
    /// Some rows (streamed in batches).
    Rows(Vec<Vec<Value>>),
    /// The statement finished.
    Done {
        affected: u64,
        last_insert_id: Option<u64>,
        elapsed: Duration,
    },
}

/// A query error with its position when the engine tells it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    pub message: String,
    /// Byte offset in the submitted SQL (start of the failing statement, refined to the
    /// error's position where the engine reports a line or a near-text).
    pub offset: Option<usize>,
    /// Index of the failing statement.
    pub statement: usize,
    /// The query was cancelled.
    pub cancelled: bool,
}

/// Stops the running query of the connection it came from, from any thread.
pub trait Canceller: Send + Sync {
    fn cancel(&self);
}

/// A column of a table, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct ColumnSchema {
    pub name: String,
    /// Lower-case full type (`varchar(255)`, `int(11) unsigned`, `integer`, `text`).
    pub data_type: String,
    pub nullable: bool,
    /// The default as SQL text (`NULL`, `'x'`, `0`, `CURRENT_TIMESTAMP`), if any.
    pub default: Option<String>,
    /// `auto_increment` and the like.
    pub extra: String,
}

/// An index, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct IndexSchema {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

/// A foreign key, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub on_delete: String,
    pub on_update: String,
}

/// A table, normalized so the same table compares equal wherever it lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<ColumnSchema>,
    pub primary_key: Vec<String>,
    /// Sorted by name; the primary key is not listed here.
    pub indexes: Vec<IndexSchema>,
    /// Sorted by name.
    pub foreign_keys: Vec<ForeignKey>,
    /// MySQL: engine and default charset/collation (`InnoDB utf8mb4 utf8mb4_general_ci`); SQLite: empty.
    pub options: String,
    /// The engine's own CREATE statement (for display and for SQLite re-creation).
    pub create_sql: String,
}

/// Row count and checksum of a primary-key range (pt-table-checksum style).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Chunk {
    /// Primary-key values bounding the chunk (inclusive), as text.
    pub lo: Vec<String>,
    pub hi: Vec<String>,
    pub rows: u64,
    pub checksum: u64,
}

/// A database connection.
pub trait Db: Send {
    fn kind(&self) -> Kind;
    /// Run SQL text: several statements separated by `;` (and `DELIMITER xx` lines for
    /// scripts with procedures). Events go to `sink`; when it returns false the query is
    /// stopped (and `run` returns `Ok`). Stops at the first failing statement.
    fn run(&mut self, sql: &str, sink: &mut dyn FnMut(QueryEvent) -> bool) -> Result<(), SqlError>;
    /// A handle that cancels whatever this connection runs.
    fn canceller(&self) -> Box<dyn Canceller>;
    /// Tables of the current database, sorted by name.
    fn tables(&mut self) -> anyhow::Result<Vec<TableSchema>>;
    /// Views, triggers, routines, events (SQLite: views, triggers, partial and expression
    /// indexes) of the current database, as the server's `CREATE` text.
    fn objects(&mut self) -> anyhow::Result<Vec<db_objects::DbObject>>;
    /// Row counts and checksums of `table` in primary-key chunks of about `chunk_rows`.
    fn checksum_chunks(
        &mut self,
        table: &TableSchema,
        chunk_rows: u64,
    ) -> anyhow::Result<Vec<Chunk>>;
    /// Every row of `table` ordered by its primary key (streamed in batches to `sink`).
    fn rows(
        &mut self,
        table: &TableSchema,
        sink: &mut dyn FnMut(Vec<Vec<Value>>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;
    /// Run `sql` in one transaction (rolled back on error). MySQL commits DDL implicitly:
    /// the returned report says which statements ran before the failure.
    fn apply_script(&mut self, sql: &str) -> Result<ApplyReport, ApplyError>;
    /// A short description for status lines: `mysql root@localhost/shop`, `sqlite /p/app.db`.
    fn describe(&self) -> String;
}

/// Rows a [`QueryEvent::Rows`] batch holds at most.
pub const BATCH_ROWS: usize = 500;

/// Everything one statement returned, for callers that want it all at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatementResult {
    pub index: usize,
    pub offset: usize,
    pub sql: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    pub affected: u64,
    pub last_insert_id: Option<u64>,
    pub elapsed: Duration,
}

/// Run `sql` and gather every statement's results in memory (small queries: tests, the
/// CLI, `SELECT VERSION()`). For large results use [`Db::run`] and stream.
pub fn collect(db: &mut dyn Db, sql: &str) -> Result<Vec<StatementResult>, SqlError> {
    let mut out: Vec<StatementResult> = Vec::new();
    db.run(sql, &mut |ev| {
        match ev {
            QueryEvent::Statement { index, offset, sql } => out.push(StatementResult {
                index,
                offset,
                sql,
                ..Default::default()
            }),
            QueryEvent::Columns(c) => out.last_mut().expect("statement first").columns = c,
            QueryEvent::Rows(mut r) => out.last_mut().expect("statement first").rows.append(&mut r),
            QueryEvent::Done {
                affected,
                last_insert_id,
                elapsed,
            } => {
                let s = out.last_mut().expect("statement first");
                s.affected = affected;
                s.last_insert_id = last_insert_id;
                s.elapsed = elapsed;
            }
        }
        true
    })?;
    Ok(out)
}

/// What applying a script did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    pub statements: usize,
}

/// A script that failed: the error, and the statements that had already taken effect
/// (MySQL DDL cannot be rolled back).
#[derive(Debug, Clone, thiserror::Error)]
#[error("statement {} failed: {error}", error.statement + 1)]
pub struct ApplyError {
    pub error: SqlError,
    /// Statements committed before the failure (empty when everything was rolled back).
    pub committed: Vec<String>,
}
