//! `GET /api/v1/database`: the status of the database the agent was started with
//! (`devsky serve --db URL`, `devsky agent --stdio --db URL`; docs/API.md).
//!
//! The URL is the one of [`crate::engine::db::url`] (`sqlite:PATH`, relative paths from
//! the web root; `mysql://USER@HOST[:PORT]/DB[?socket=PATH]`) and never holds a password:
//! a MySQL password comes from `$DEVSKY_DB_PASSWORD` ([`PASSWORD_ENV`]) of the agent's
//! environment, read when connecting, never printed, logged or sent back.
//!
//! Each request connects anew on the blocking pool, within [`TIMEOUT`], and asks for the
//! server's version, the tables with their rows and sizes and the schema checksum
//! ([`crate::engine::db::status`]). A database that cannot be reached is still a 200: the
//! agent works, the database does not (`connected: false` and the error).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as Ax;
use serde_json::json;

use super::Agent;
use crate::engine::db::Db;
use crate::engine::db::mysql::MysqlDb;
use crate::engine::db::sqlite::SqliteDb;
use crate::engine::db::status::{server_version, status};
use crate::engine::db::url::{self, DbUrl};

/// The environment variable holding the MySQL password of `--db`.
pub use crate::engine::deploy::sqlpart::PASSWORD_ENV;

/// How long one status request may take (connecting, counting, sizes).
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Parse the value of `--db`: a database URL without a password (a password on the
/// command line is visible to every user of the machine).
pub fn parse_db_arg(s: &str) -> Result<DbUrl, String> {
    let p = url::parse(s).map_err(|e| e.to_string())?;
    if p.password.is_some() {
        return Err(format!(
            "{}: keep the password out of the command line: set ${PASSWORD_ENV} for the agent",
            url::mask_password(s)
        ));
    }
    Ok(p.url)
}

/// The clap parser of `--db` ([`parse_db_arg`]); unlike clap's own errors, its message
/// never quotes the value (it may hold a password).
#[derive(Debug, Clone, Copy)]
pub struct DbArg;

impl clap::builder::TypedValueParser for DbArg {
    type Value = DbUrl;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<DbUrl, clap::Error> {
        use clap::error::ErrorKind;
        let flag = arg.map_or_else(|| "--db".to_string(), |a| a.to_string());
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(ErrorKind::InvalidUtf8, format!("{flag}: not UTF-8\n"))
        })?;
        parse_db_arg(text)
            .map_err(|e| clap::Error::raw(ErrorKind::ValueValidation, format!("{flag}: {e}\n")))
    }
}

/// What one look at the database found.
struct Probe {
    connected: bool,
    error: Option<String>,
    version: Option<String>,
    status: Option<crate::engine::db::status::DbStatus>,
}

impl Probe {
    fn failed(error: String) -> Probe {
        Probe {
            connected: false,
            error: Some(error),
            version: None,
            status: None,
        }
    }
}

fn connect(root: &Path, u: &DbUrl) -> anyhow::Result<Box<dyn Db>> {
    match u {
        DbUrl::Sqlite { .. } => {
            let path = u.sqlite_path(root).expect("a SQLite URL");
            Ok(Box::new(SqliteDb::open(&path)?))
        }
        DbUrl::Mysql { .. } => {
            let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
            match MysqlDb::connect(u, password.as_deref()) {
                Ok(db) => Ok(Box::new(db)),
                Err(e) if e.access_denied => Err(anyhow::anyhow!(
                    "{} ({})",
                    scrub(&e.message, password.as_deref()),
                    if password.is_some() {
                        format!("with the password of ${PASSWORD_ENV}")
                    } else {
                        format!("without a password: ${PASSWORD_ENV} is not set")
                    }
                )),
                Err(e) => Err(anyhow::anyhow!(
                    "{}",
                    scrub(&e.message, password.as_deref())
                )),
            }
        }
    }
}

/// `msg` without the password, should a driver ever quote it.
fn scrub(msg: &str, password: Option<&str>) -> String {
    match password {
        Some(p) if p.len() >= 3 => msg.replace(p, "***"),
        _ => msg.to_string(),
    }
}

/// Connect and look (blocking).
fn probe(root: &Path, u: &DbUrl) -> Probe {
    let mut db = match connect(root, u) {
        Ok(db) => db,
        Err(e) => return Probe::failed(format!("{e:#}")),
    };
    let version = server_version(db.as_mut());
    match status(db.as_mut()) {
        Ok(s) => Probe {
            connected: true,
            error: None,
            version,
            status: Some(s),
        },
        Err(e) => Probe {
            connected: true,
            error: Some(format!("{e:#}")),
            version,
            status: None,
        },
    }
}

/// `GET /api/v1/database`.
pub async fn database(Ax(agent): Ax<Arc<Agent>>) -> axum::Json<serde_json::Value> {
    let Some(u) = agent.database.clone() else {
        return axum::Json(json!({"configured": false}));
    };
    let root = agent.root.clone();
    let target = u.clone();
    let task = tokio::task::spawn_blocking(move || probe(&root, &target));
    let p = match tokio::time::timeout(TIMEOUT, task).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => Probe::failed(format!("looking at {u} failed: {e}")),
        Err(_) => Probe::failed(format!("{u} did not answer within {} s", TIMEOUT.as_secs())),
    };
    let (tables, total_rows, total_bytes, checksum) = match &p.status {
        Some(s) => (
            json!(s.tables),
            json!(s.total_rows),
            json!(s.total_bytes),
            json!(s.schema_checksum),
        ),
        None => (json!([]), json!(null), json!(null), json!(null)),
    };
    axum::Json(json!({
        "configured": true,
        "kind": u.kind(),
        "url": u.to_string(),
        "connected": p.connected,
        "error": p.error,
        "server_version": p.version,
        "tables": tables,
        "total_rows": total_rows,
        "total_bytes": total_bytes,
        "schema_checksum": checksum,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_arg_refuses_a_password() {
        assert!(parse_db_arg("sqlite:/srv/app.db").is_ok());
        assert!(parse_db_arg("mysql://app@db:3306/shop").is_ok());
        let e = parse_db_arg("mysql://app:s3cret@db/shop").unwrap_err();
        assert!(!e.contains("s3cret") && e.contains(PASSWORD_ENV), "{e}");
        assert!(parse_db_arg("postgres://x@y/z").is_err());
    }

    #[test]
    fn a_missing_sqlite_file_is_named() {
        let u = parse_db_arg("sqlite:/nonexistent/dir/x.db").unwrap();
        let p = probe(Path::new("/"), &u);
        assert!(!p.connected);
        assert!(p.error.unwrap().contains("/nonexistent/dir/x.db"));
    }
}
