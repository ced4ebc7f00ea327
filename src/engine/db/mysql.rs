//! MySQL and MariaDB behind the [`Db`] trait (mysql_async on a private current-thread
//! tokio runtime; the trait's methods `block_on` it, so call them from a plain or
//! blocking-pool thread, never from inside an async task).
//!
//! SQL text is split client-side ([`split`], `DELIMITER` aware) and sent one statement at a
//! time over the text protocol; rows are read one by one and handed to the sink in batches.
//! Cancelling opens a second connection and runs `KILL QUERY <id>`. A lost connection is
//! reported and re-opened on the next call.
//!
//! **Chunk checksums** (pt-table-checksum style): primary-key ranges of about `chunk_rows`
//! rows, each `COUNT(*)` and `BIT_XOR(CAST(CRC32(CONCAT_WS('#', cols..., CONCAT(ISNULL(col)
//! ...))) AS UNSIGNED))`, computed by the server. A table without a primary key is one chunk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use tokio::runtime::Runtime;

#[path = "mysql_schema.rs"]
mod schema;

use super::split::{Stmt, first_keyword, split};
use super::url::{DbUrl, MYSQL_PORT};
use super::{
    ApplyError, ApplyReport, BATCH_ROWS, Canceller, Chunk, Column, Db, Kind, QueryEvent, SqlError,
    TableSchema, Value,
};
use schema::{row_values, type_name};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ER_ACCESS_DENIED: u16 = 1045;
const ER_QUERY_INTERRUPTED: u16 = 1317;

/// Connecting failed. The message names user and host, never the password.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    pub message: String,
    /// The server refused the user/password (retrying with another password may help).
    pub access_denied: bool,
}

/// A connection to a MySQL or MariaDB server.
pub struct MysqlDb {
    rt: Runtime,
    conn: Option<Conn>,
    opts: Opts,
    url: DbUrl,
    conn_id: Arc<AtomicU32>,
    cancelled: Arc<AtomicBool>,
    version: String,
}

impl MysqlDb {
    /// Connect to the server `url` names (TCP, or its socket).
    pub fn connect(url: &DbUrl, password: Option<&str>) -> Result<MysqlDb, ConnectError> {
        let DbUrl::Mysql {
            user,
            host,
            port,
            database,
            socket,
        } = url
        else {
            return Err(ConnectError {
                message: format!("{url} is not a MySQL URL"),
                access_denied: false,
            });
        };
        let opts: Opts = OptsBuilder::default()
            .user(Some(user))
            .pass(password)
            .db_name(database.clone())
            .ip_or_hostname(host)
            .tcp_port(port.unwrap_or(MYSQL_PORT))
            .prefer_socket(false)
            .socket(socket.as_ref().map(|s| s.to_string_lossy().into_owned()))
            .into();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConnectError {
                message: format!("cannot start the MySQL client runtime: {e}"),
                access_denied: false,
            })?;
        let mut db = MysqlDb {
            rt,
            conn: None,
            opts,
            url: url.clone(),
            conn_id: Arc::new(AtomicU32::new(0)),
            cancelled: Arc::new(AtomicBool::new(false)),
            version: String::new(),
        };
        db.reconnect()?;
        let version: Option<String> = db
            .rt
            .block_on(
                db.conn
                    .as_mut()
                    .expect("connected")
                    .query_first("SELECT VERSION()"),
            )
            .ok()
            .flatten();
        db.version = version.unwrap_or_default();
        Ok(db)
    }

    /// The server's version string (`10.11.6-MariaDB-0+deb12u1`).
    pub fn server_version(&self) -> &str {
        &self.version
    }

    /// The server's id for this connection (what `KILL QUERY` takes).
    pub fn connection_id(&self) -> u32 {
        self.conn_id.load(Ordering::SeqCst)
    }

    fn reconnect(&mut self) -> Result<(), ConnectError> {
        let conn = self
            .rt
            .block_on(async {
                tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(self.opts.clone())).await
            })
            .map_err(|_| ConnectError {
                message: format!(
                    "cannot connect to {}: no answer within {CONNECT_TIMEOUT:?}",
                    self.url
                ),
                access_denied: false,
            })?
            .map_err(|e| {
                let access_denied =
                    matches!(&e, mysql_async::Error::Server(s) if s.code == ER_ACCESS_DENIED);
                ConnectError {
                    message: format!("cannot connect to {}: {}", self.url, error_text(&e)),
                    access_denied,
                }
            })?;
        self.conn_id.store(conn.id(), Ordering::SeqCst);
        self.conn = Some(conn);
        Ok(())
    }

    /// The connection, re-opened when it was lost.
    fn ensure(&mut self) -> anyhow::Result<()> {
        if self.conn.is_none() {
            self.reconnect()?;
        }
        Ok(())
    }

    /// Run `f` on the connection; a lost connection is dropped (re-opened next time).
    fn with<T>(
        &mut self,
        f: impl AsyncFnOnce(&mut Conn) -> mysql_async::Result<T>,
    ) -> anyhow::Result<T> {
        self.ensure()?;
        let conn = self.conn.as_mut().expect("connected");
        let r = self.rt.block_on(f(conn));
        r.map_err(|e| self.fail(e))
    }

    /// Turn a driver error into an error for people; forget a lost connection.
    fn fail(&mut self, e: mysql_async::Error) -> anyhow::Error {
        if is_lost(&e) {
            self.conn = None;
            anyhow!(
                "lost the connection to {} ({}); it is re-opened on the next query",
                self.url,
                error_text(&e)
            )
        } else {
            anyhow!("{}", error_text(&e))
        }
    }

    fn sql_error(&mut self, e: mysql_async::Error, statement: usize, st: &Stmt) -> SqlError {
        let (message, at, cancelled) = match &e {
            mysql_async::Error::Server(s) => (
                format!("ERROR {} ({}): {}", s.code, s.state, s.message),
                error_position(&s.message, st.sql),
                s.code == ER_QUERY_INTERRUPTED && self.cancelled.load(Ordering::SeqCst),
            ),
            _ => (self.fail(e).to_string(), None, false),
        };
        SqlError {
            message,
            offset: Some(st.offset + at.unwrap_or(0)),
            statement,
            cancelled,
        }
    }

    fn killer(&self) -> Killer {
        Killer {
            opts: self.opts.clone(),
            id: self.conn_id.clone(),
        }
    }

    /// Read the running statement's result sets: `on` gets `Columns` and `Rows` events;
    /// false stops (a query still sending is killed; the caller drains the rest). Returns
    /// false when stopped.
    async fn stream(
        qr: &mut mysql_async::QueryResult<'_, 'static, mysql_async::TextProtocol>,
        killer: &Killer,
        on: &mut dyn FnMut(QueryEvent) -> bool,
    ) -> mysql_async::Result<bool> {
        loop {
            let cols = qr.columns().unwrap_or_else(|| Arc::from(Vec::new()));
            if !cols.is_empty() {
                let columns = cols
                    .iter()
                    .map(|c| Column {
                        name: c.name_str().into_owned(),
                        type_name: type_name(c),
                    })
                    .collect();
                if !on(QueryEvent::Columns(columns)) {
                    killer.kill();
                    return Ok(false);
                }
                let mut batch = Vec::new();
                while let Some(row) = qr.next().await? {
                    batch.push(row_values(row, &cols));
                    if batch.len() >= BATCH_ROWS
                        && !on(QueryEvent::Rows(std::mem::take(&mut batch)))
                    {
                        killer.kill();
                        return Ok(false);
                    }
                }
                if !batch.is_empty() && !on(QueryEvent::Rows(batch)) {
                    return Ok(false);
                }
            } else {
                qr.next().await?;
            }
            if qr.is_empty() {
                return Ok(true);
            }
        }
    }
}

impl Drop for MysqlDb {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && tokio::runtime::Handle::try_current().is_err()
        {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(2), conn.disconnect()).await
            });
        }
    }
}

/// Opens a second connection and kills the query running on the first.
#[derive(Clone)]
struct Killer {
    opts: Opts,
    id: Arc<AtomicU32>,
}

impl Killer {
    /// Kill now, waiting for the server to take it (a few ms).
    fn kill(&self) {
        let k = self.clone();
        let _ = std::thread::spawn(move || k.kill_here()).join();
    }

    fn kill_here(&self) -> anyhow::Result<()> {
        let id = self.id.load(Ordering::SeqCst);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let mut c =
                tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(self.opts.clone())).await??;
            c.query_drop(format!("KILL QUERY {id}")).await?;
            c.disconnect().await?;
            anyhow::Ok(())
        })
    }
}

struct MysqlCanceller {
    killer: Killer,
    flag: Arc<AtomicBool>,
}

impl Canceller for MysqlCanceller {
    fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let k = self.killer.clone();
        std::thread::spawn(move || k.kill_here());
    }
}

/// The driver's message; a server error with its code, as the mysql client prints it.
fn error_text(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("ERROR {} ({}): {}", s.code, s.state, s.message),
        mysql_async::Error::Io(_) => {
            // The innermost cause says it best ("Connection refused (os error 111)").
            let mut inner: &dyn std::error::Error = e;
            while let Some(next) = inner.source() {
                inner = next;
            }
            inner.to_string()
        }
        other => other.to_string(),
    }
}

fn is_lost(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Io(_) => true,
        mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed) => true,
        // Connection killed, server shutdown in progress.
        mysql_async::Error::Server(s) => matches!(s.code, 1053 | 1927),
        _ => false,
    }
}

/// Where in `sql` a server error points: MySQL's "... near '<rest>' at line N" gives the
/// text that follows the error on line N of the statement.
pub fn error_position(message: &str, sql: &str) -> Option<usize> {
    let at = message.rfind("' at line ")?;
    let line: usize = message[at + 10..]
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    let near = &message[message[..at].find("near '")? + 6..at];
    let line_start = if line <= 1 {
        0
    } else {
        sql.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)?
    };
    if near.is_empty() {
        return Some(sql.len());
    }
    (line_start..sql.len())
        .filter(|&p| sql.is_char_boundary(p))
        .find(|&p| sql[p..].starts_with(near))
}

/// Quote an identifier for MySQL.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Whether a statement commits the open transaction before it runs (MySQL's implicit commit).
fn implicit_commit(sql: &str) -> bool {
    let kw = first_keyword(sql);
    let second = sql
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .eq_ignore_ascii_case("temporary");
    matches!(
        kw.as_str(),
        "CREATE"
            | "ALTER"
            | "DROP"
            | "RENAME"
            | "TRUNCATE"
            | "GRANT"
            | "REVOKE"
            | "LOCK"
            | "ANALYZE"
            | "OPTIMIZE"
            | "REPAIR"
    ) && !second
}

impl Db for MysqlDb {
    fn kind(&self) -> Kind {
        Kind::Mysql
    }

    /// Returns `Ok(())` when the sink stops the query.
    fn run(&mut self, sql: &str, sink: &mut dyn FnMut(QueryEvent) -> bool) -> Result<(), SqlError> {
        self.cancelled.store(false, Ordering::SeqCst);
        let killer = self.killer();
        let stmts = split(sql, Kind::Mysql);
        for (index, st) in stmts.iter().enumerate() {
            if self.cancelled.load(Ordering::SeqCst) {
                return Err(SqlError {
                    message: "cancelled".into(),
                    offset: Some(st.offset),
                    statement: index,
                    cancelled: true,
                });
            }
            if !sink(QueryEvent::Statement {
                index,
                offset: st.offset,
                sql: st.sql.to_string(),
            }) {
                return Ok(());
            }
            if let Err(e) = self.ensure() {
                return Err(SqlError {
                    message: e.to_string(),
                    offset: Some(st.offset),
                    statement: index,
                    cancelled: false,
                });
            }
            let started = Instant::now();
            let conn = self.conn.as_mut().expect("connected");
            let r = self.rt.block_on(async {
                let mut qr = conn.query_iter(st.sql).await?;
                let go = MysqlDb::stream(&mut qr, &killer, sink).await?;
                if !go {
                    let _ = qr.drop_result().await;
                    return Ok(None);
                }
                Ok(Some((qr.affected_rows(), qr.last_insert_id())))
            });
            match r {
                Ok(None) => return Ok(()),
                Ok(Some((affected, last_insert_id))) => {
                    if !sink(QueryEvent::Done {
                        affected,
                        last_insert_id: last_insert_id.filter(|&i| i > 0),
                        elapsed: started.elapsed(),
                    }) {
                        return Ok(());
                    }
                }
                Err(e) => return Err(self.sql_error(e, index, st)),
            }
        }
        if self.cancelled.load(Ordering::SeqCst) {
            // KILL QUERY can arrive as the last statement ends (SLEEP returns 1 then).
            return Err(SqlError {
                message: "cancelled".into(),
                offset: None,
                statement: stmts.len().saturating_sub(1),
                cancelled: true,
            });
        }
        Ok(())
    }

    fn canceller(&self) -> Box<dyn Canceller> {
        Box::new(MysqlCanceller {
            killer: self.killer(),
            flag: self.cancelled.clone(),
        })
    }

    fn tables(&mut self) -> anyhow::Result<Vec<TableSchema>> {
        let DbUrl::Mysql {
            database: Some(_), ..
        } = &self.url
        else {
            bail!("{} names no database: add /DBNAME to the URL", self.url);
        };
        let mariadb = self.version.contains("MariaDB");
        self.with(async |c| schema::tables(c, mariadb).await)
    }

    fn objects(&mut self) -> anyhow::Result<Vec<super::db_objects::DbObject>> {
        self.with(async |c| schema::objects(c).await)
    }

    fn checksum_chunks(
        &mut self,
        table: &TableSchema,
        chunk_rows: u64,
    ) -> anyhow::Result<Vec<Chunk>> {
        let ctx = || format!("checksums of {}", table.name);
        self.with(async |c| schema::checksums(c, table, chunk_rows).await)
            .with_context(ctx)
    }

    fn rows(
        &mut self,
        table: &TableSchema,
        sink: &mut dyn FnMut(Vec<Vec<Value>>) -> anyhow::Result<()>,
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
        let killer = self.killer();
        let mut failed = None;
        self.with(async |c| {
            let mut qr = c.query_iter(sql).await?;
            let mut on = |ev| match ev {
                QueryEvent::Rows(b) => match sink(b) {
                    Ok(()) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                },
                _ => true,
            };
            if !MysqlDb::stream(&mut qr, &killer, &mut on).await? {
                let _ = qr.drop_result().await;
            }
            Ok(())
        })
        .with_context(|| format!("reading {}", table.name))?;
        failed.map_or(Ok(()), Err)
    }

    fn apply_script(&mut self, sql: &str) -> Result<ApplyReport, ApplyError> {
        let stmts = split(sql, Kind::Mysql);
        let mut committed = 0;
        let begin = Stmt {
            offset: 0,
            sql: "START TRANSACTION",
        };
        let exec = |db: &mut MysqlDb, i: usize, st: &Stmt| -> Result<(), SqlError> {
            db.ensure().map_err(|e| SqlError {
                message: e.to_string(),
                offset: Some(st.offset),
                statement: i,
                cancelled: false,
            })?;
            let conn = db.conn.as_mut().expect("connected");
            let r = db.rt.block_on(conn.query_drop(st.sql));
            r.map_err(|e| db.sql_error(e, i, st))
        };
        let fail = |error, committed: usize| ApplyError {
            error,
            committed: stmts[..committed]
                .iter()
                .map(|s| s.sql.to_string())
                .collect(),
        };
        exec(self, 0, &begin).map_err(|e| fail(e, 0))?;
        for (i, st) in stmts.iter().enumerate() {
            let ddl = implicit_commit(st.sql);
            if let Err(e) = exec(self, i, st) {
                let _ = exec(
                    self,
                    i,
                    &Stmt {
                        offset: 0,
                        sql: "ROLLBACK",
                    },
                );
                // The implicit commit happens before the statement runs, even when it fails.
                return Err(fail(e, if ddl { i } else { committed }));
            }
            if ddl {
                committed = i + 1;
                exec(self, i, &begin).map_err(|e| fail(e, committed))?;
            }
        }
        exec(
            self,
            stmts.len(),
            &Stmt {
                offset: sql.len(),
                sql: "COMMIT",
            },
        )
        .map_err(|e| fail(e, committed))?;
        Ok(ApplyReport {
            statements: stmts.len(),
        })
    }

    fn describe(&self) -> String {
        match &self.url {
            DbUrl::Mysql {
                user,
                host,
                database,
                ..
            } => {
                format!("mysql {user}@{host}/{}", database.as_deref().unwrap_or(""))
            }
            other => other.to_string(),
        }
    }
}
