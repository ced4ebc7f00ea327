//! `devsky db add|list|test|remove|query`: database profiles, and SQL from the command
//! line through the same [`Db`](crate::engine::db::Db) engine the Query tool uses.
//!
//! Passwords are never printed or stored: `db add` drops one written into the URL and says
//! where devsky reads it from instead.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use super::output::print_json;
use crate::engine::db::snapshot::{self as db_snapshot, Mode};
use crate::engine::db::{
    Column, Db, Kind, QueryEvent, SqlError, StatementResult, Value, collect, profile, split,
};
use crate::engine::project::Project;

#[derive(Debug, Args)]
pub struct At {
    /// Project folder (default: the current folder).
    #[arg(short = 'C', long = "project", value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Save a connection profile.
    ///
    /// URLs: mysql://USER@HOST[:PORT]/DB, mysql://USER@localhost/DB?socket=/path/to/sock,
    /// sqlite:///absolute/path.db, sqlite:relative/to/project.db. A password written into
    /// the URL is not stored: devsky reads it from $DEVSKY_DB_PASSWORD_<NAME> (or the
    /// variable given with --password-env), then $MYSQL_PWD, then ~/.my.cnf [client].
    Add {
        name: String,
        #[arg(long)]
        url: String,
        /// The environment variable holding the password.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
        #[command(flatten)]
        at: At,
    },
    /// List profiles (URLs never carry a password).
    List(At),
    /// Connect, print the server version and the number of tables.
    Test {
        name: String,
        #[command(flatten)]
        at: At,
    },
    /// Remove a profile.
    Remove {
        name: String,
        #[command(flatten)]
        at: At,
    },
    /// How tables take part in database snapshots: full rows (what a reverse script needs
    /// to restore data), checksums only (a change is seen, not scripted), left out, or
    /// auto (full rows under 10,000 rows, else checksums). With a mode flag, set TABLE's
    /// mode; without, list the modes of TABLE or of every table.
    Table {
        name: String,
        table: Option<String>,
        /// Full rows ('data').
        #[arg(long, requires = "table", group = "mode")]
        rows: bool,
        /// Checksums only ('checksum').
        #[arg(long, requires = "table", group = "mode")]
        checksum: bool,
        /// Left out of snapshots and diffs ('skip').
        #[arg(long, requires = "table", group = "mode")]
        skip: bool,
        /// No choice recorded: the default by row count.
        #[arg(long, requires = "table", group = "mode")]
        auto: bool,
        #[command(flatten)]
        at: At,
    },
    /// Run SQL (several statements; DELIMITER lines for MySQL) and print the results.
    Query {
        name: String,
        sql: String,
        /// Print at most N rows of each result.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        #[command(flatten)]
        at: At,
    },
}

pub fn run(cmd: DbCommand) -> anyhow::Result<i32> {
    match cmd {
        DbCommand::Add {
            name,
            url,
            password_env,
            at,
        } => {
            let store = Project::locate(&at.project)?.open_store(true)?;
            let added = profile::add(&store, &name, &url, password_env.as_deref())?;
            let var = password_env.unwrap_or_else(|| profile::default_password_env(&name));
            if added.password_dropped {
                eprintln!(
                    "devsky: the password in the URL was not stored; devsky reads it from ${var} \
                     (or $MYSQL_PWD, or ~/.my.cnf [client])"
                );
            }
            if at.json {
                print_json(&added)?;
            } else {
                println!("added {}: {}", added.profile.name, added.profile.url);
            }
            Ok(0)
        }
        DbCommand::List(at) => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            let list = profile::list(&store)?;
            if at.json {
                print_json(&list)?;
                return Ok(0);
            }
            let w = list.iter().map(|p| p.name.width()).max().unwrap_or(0);
            for p in list {
                let env = match (&p.password_env, p.kind) {
                    (Some(v), _) => format!("  (password: ${v})"),
                    (None, Kind::Mysql) => {
                        format!("  (password: ${})", profile::default_password_env(&p.name))
                    }
                    (None, Kind::Sqlite) => String::new(),
                };
                let kind = if p.kind == Kind::Mysql {
                    "mysql"
                } else {
                    "sqlite"
                };
                println!("{:w$}  {kind:<6}  {}{env}", p.name, p.url);
            }
            Ok(0)
        }
        DbCommand::Test { name, at } => {
            let project = Project::locate(&at.project)?;
            let store = project.open_store(false)?;
            let mut db = profile::connect(&project.root, &store, &name, None)?;
            let version_sql = match db.kind() {
                Kind::Mysql => "SELECT VERSION()",
                Kind::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
            };
            let version = collect(db.as_mut(), version_sql)?
                .first()
                .and_then(|r| r.rows.first())
                .and_then(|r| r.first())
                .and_then(Value::display)
                .unwrap_or_default();
            let tables = db.tables()?.len();
            if at.json {
                print_json(&serde_json::json!({
                    "name": name, "connection": db.describe(), "server_version": version, "tables": tables,
                }))?;
            } else {
                println!("ok: {} — {version}, {tables} table(s)", db.describe());
            }
            Ok(0)
        }
        DbCommand::Remove { name, at } => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            if !profile::remove(&store, &name)? {
                anyhow::bail!("no database profile named `{name}` (see `devsky db list`)");
            }
            if !at.json {
                println!("removed {name}");
            }
            Ok(0)
        }
        DbCommand::Table {
            name,
            table,
            rows,
            checksum,
            skip,
            auto,
            at,
        } => {
            let mode = [
                (rows, Mode::Data),
                (checksum, Mode::Checksum),
                (skip, Mode::Skip),
                (auto, Mode::Auto),
            ]
            .into_iter()
            .find_map(|(on, m)| on.then_some(m));
            table_modes(name, table, mode, &at)
        }
        DbCommand::Query {
            name,
            sql,
            limit,
            at,
        } => {
            let project = Project::locate(&at.project)?;
            let store = project.open_store(false)?;
            let mut db = profile::connect(&project.root, &store, &name, None)?;
            query(db.as_mut(), &sql, limit, at.json)
        }
    }
}

#[derive(Serialize)]
struct TableMode {
    table: String,
    /// data, checksum, skip or auto.
    mode: &'static str,
    /// Whether the database has the table now.
    exists: bool,
}

/// `devsky db table NAME [TABLE] [--rows|--checksum|--skip|--auto]`.
fn table_modes(
    name: String,
    table: Option<String>,
    mode: Option<Mode>,
    at: &At,
) -> anyhow::Result<i32> {
    let project = Project::locate(&at.project)?;
    let store = project.open_store(false)?;
    let mut db = profile::connect(&project.root, &store, &name, None)?;
    let tables: Vec<String> = db.tables()?.into_iter().map(|t| t.name).collect();
    if let (Some(t), Some(m)) = (&table, mode) {
        if !tables.contains(t) {
            anyhow::bail!("database {name} has no table `{t}` (see `devsky db table {name}`)");
        }
        db_snapshot::set_table_mode(store.conn(), &name, t, m)?;
    }
    let recorded = db_snapshot::table_modes(store.conn(), &name)?;
    let mut all: Vec<&String> = tables.iter().chain(recorded.keys()).collect();
    all.sort();
    all.dedup();
    let list: Vec<TableMode> = all
        .into_iter()
        .filter(|t| table.as_ref().is_none_or(|want| want == *t))
        .map(|t| TableMode {
            table: t.clone(),
            mode: recorded.get(t).copied().unwrap_or(Mode::Auto).as_str(),
            exists: tables.contains(t),
        })
        .collect();
    if let Some(t) = table.as_ref().filter(|_| list.is_empty()) {
        anyhow::bail!("database {name} has no table `{t}` (see `devsky db table {name}`)");
    }
    if at.json {
        print_json(&list)?;
        return Ok(0);
    }
    let w = list.iter().map(|t| t.table.width()).max().unwrap_or(0);
    for t in &list {
        let gone = if t.exists {
            ""
        } else {
            "  (not in the database)"
        };
        let mode = match t.mode {
            "data" => "rows",
            "checksum" => "checksums",
            "skip" => "skipped",
            _ => "auto (rows under 10,000 rows, else checksums)",
        };
        println!("{:w$}  {mode}{gone}", t.table);
    }
    Ok(0)
}

#[derive(Serialize)]
struct JsonResult<'a> {
    index: usize,
    offset: usize,
    sql: &'a str,
    columns: &'a [Column],
    rows: Vec<Vec<serde_json::Value>>,
    truncated: bool,
    affected: u64,
    last_insert_id: Option<u64>,
    elapsed_ms: u128,
}

fn json_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Bytes(b) => {
            serde_json::json!({ "hex": b.iter().map(|x| format!("{x:02x}")).collect::<String>() })
        }
        other => serde_json::to_value(other).unwrap_or(serde_json::Value::Null),
    }
}

/// Run `sql` on `db` and print every statement's result; 1 when a statement fails.
fn query(db: &mut dyn Db, sql: &str, limit: Option<usize>, json: bool) -> anyhow::Result<i32> {
    let statements = split::split(sql, db.kind()).len();
    let mut out: Vec<(StatementResult, bool)> = Vec::new();
    let r = db.run(sql, &mut |ev| {
        match ev {
            QueryEvent::Statement { index, offset, sql } => out.push((
                StatementResult {
                    index,
                    offset,
                    sql,
                    ..Default::default()
                },
                false,
            )),
            QueryEvent::Columns(c) => out.last_mut().expect("statement").0.columns = c,
            QueryEvent::Rows(rows) => {
                let (s, truncated) = out.last_mut().expect("statement");
                let room = limit.map_or(usize::MAX, |l| l.saturating_sub(s.rows.len()));
                *truncated |= rows.len() > room;
                s.rows.extend(rows.into_iter().take(room));
                // Past the limit of the last statement there is nothing more to print.
                if *truncated && s.index + 1 == statements {
                    return false;
                }
            }
            QueryEvent::Done {
                affected,
                last_insert_id,
                elapsed,
            } => {
                let s = &mut out.last_mut().expect("statement").0;
                (s.affected, s.last_insert_id, s.elapsed) = (affected, last_insert_id, elapsed);
            }
        }
        true
    });
    let err = r.err();
    if json {
        let results: Vec<JsonResult> = out
            .iter()
            .map(|(s, truncated)| JsonResult {
                index: s.index,
                offset: s.offset,
                sql: &s.sql,
                columns: &s.columns,
                rows: s
                    .rows
                    .iter()
                    .map(|r| r.iter().map(json_value).collect())
                    .collect(),
                truncated: *truncated,
                affected: s.affected,
                last_insert_id: s.last_insert_id,
                elapsed_ms: s.elapsed.as_millis(),
            })
            .collect();
        let error = err.as_ref().map(|e| {
            serde_json::json!({
                "message": e.message, "statement": e.statement, "offset": e.offset, "cancelled": e.cancelled,
            })
        });
        print_json(&serde_json::json!({ "statements": results, "error": error }))?;
    } else {
        for (i, (s, truncated)) in out.iter().enumerate() {
            let failed = err.as_ref().is_some_and(|e| e.statement == s.index);
            if failed {
                break;
            }
            if i > 0 {
                println!();
            }
            print_result(s, *truncated);
        }
    }
    match err {
        None => Ok(0),
        Some(e) => {
            eprintln!("devsky: {}", describe_error(sql, &e));
            Ok(1)
        }
    }
}

/// `statement 2 (line 3, column 7): message`
fn describe_error(sql: &str, e: &SqlError) -> String {
    match e
        .offset
        .filter(|&o| o <= sql.len() && sql.is_char_boundary(o))
    {
        Some(o) => {
            let before = &sql[..o];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!(
                "statement {} (line {line}, column {col}): {}",
                e.statement + 1,
                e.message
            )
        }
        None => format!("statement {}: {}", e.statement + 1, e.message),
    }
}

/// A cell for the text grid: NULL spelled out, control characters escaped, long text cut.
fn cell(v: &Value) -> String {
    const MAX: usize = 60;
    let Some(s) = v.display() else {
        return "NULL".into();
    };
    let s = s
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
        .replace('\t', "\\t");
    if s.width() <= MAX {
        return s;
    }
    let mut out = String::new();
    for c in s.chars() {
        if out.width() + 2 > MAX {
            break;
        }
        out.push(c);
    }
    out + "…"
}

fn print_result(s: &StatementResult, truncated: bool) {
    if s.columns.is_empty() {
        let id = s
            .last_insert_id
            .map(|i| format!(", last insert id {i}"))
            .unwrap_or_default();
        println!(
            "OK, {} row(s) affected{id} ({} ms)",
            s.affected,
            s.elapsed.as_millis()
        );
        return;
    }
    let cells: Vec<Vec<String>> = s
        .rows
        .iter()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    let mut widths: Vec<usize> = s.columns.iter().map(|c| c.name.width()).collect();
    for r in &cells {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.width());
        }
    }
    let numeric: Vec<bool> = (0..s.columns.len())
        .map(|i| {
            s.rows.iter().all(|r| {
                matches!(
                    r.get(i),
                    Some(Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::Null)
                )
            })
        })
        .collect();
    let line = |vals: &[String], align: bool| {
        let parts: Vec<String> = vals
            .iter()
            .zip(&widths)
            .zip(&numeric)
            .map(|((v, &w), &num)| {
                let pad = " ".repeat(w.saturating_sub(v.width()));
                if align && num {
                    format!("{pad}{v}")
                } else {
                    format!("{v}{pad}")
                }
            })
            .collect();
        println!("{}", parts.join(" | ").trim_end());
    };
    let names: Vec<String> = s.columns.iter().map(|c| c.name.clone()).collect();
    line(&names, false);
    println!(
        "{}",
        widths
            .iter()
            .map(|&w| "-".repeat(w))
            .collect::<Vec<_>>()
            .join("-+-")
    );
    for r in &cells {
        line(r, true);
    }
    println!(
        "({} row{}{}, {} ms)",
        s.rows.len(),
        if s.rows.len() == 1 { "" } else { "s" },
        if truncated { ", more not shown" } else { "" },
        s.elapsed.as_millis()
    );
}
