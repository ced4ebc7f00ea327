//! The local `_dev_` store: `.devsky/dev.db`, a SQLite database in WAL mode that lives in
//! the project and is never deployed.
//!
//! [`Store::open`] checks the file, applies numbered migrations and refuses a store written
//! by a newer devsky. Every table family has its own module. Writers take `BEGIN IMMEDIATE`
//! transactions and a busy timeout, so several devsky processes share one store.

pub mod codebase;
pub mod migrations;
pub mod packages;
pub mod scripts;
pub mod search;
pub mod settings;
pub mod snapshots;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

/// The folder, inside a project, that holds devsky's own state.
pub const STATE_DIR: &str = ".devsky";
/// The store's file name inside [`STATE_DIR`].
pub const DB_FILE: &str = "dev.db";
/// How long a writer waits for another process's write to finish.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors that opening a store can give, each with what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path} was written by a newer devsky (store version {found}, this devsky knows up to {known}).\n\
         Upgrade devsky to open it; nothing was changed."
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "{path} is not a devsky store or is damaged ({reason}).\n\
         devsky left it untouched; move it aside (e.g. `mv {path} {path}.broken`) to start a new store."
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot create {path}: {reason}.\nCheck that the folder is writable by you.")]
    Unwritable { path: PathBuf, reason: String },
    #[error("no devsky store at {path}.\nRun `devsky init` in the project first.")]
    Missing { path: PathBuf },
    #[error("store {path}: {source}")]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// An open store: one SQLite connection. Open one per thread.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (and with `create`, make) the store of the project at `root`.
    pub fn open_project(root: &Path, create: bool) -> Result<Store, StoreError> {
        let dir = root.join(STATE_DIR);
        if create {
            ensure_state_dir(&dir)?;
        }
        Store::open(&dir.join(DB_FILE), create)
    }

    /// Open the store file at `path`. Without `create`, a missing file is an error.
    pub fn open(path: &Path, create: bool) -> Result<Store, StoreError> {
        let exists = path.exists();
        if !exists && !create {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        if exists && !path.is_file() {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "it is not a regular file".into(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| StoreError::Unwritable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        migrations::migrate(&store.conn).map_err(|e| store.classify(e))?;
        Ok(store)
    }

    fn configure(&self) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.classify(e.into()))?;
        // The first real read tells a damaged or foreign file apart from a store.
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| self.classify(e.into()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unwritable {
                path: self.path.clone(),
                reason: format!("could not switch to WAL mode (got {mode})"),
            });
        }
        self.conn
            .execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            .map_err(|e| self.classify(e.into()))?;
        Ok(())
    }

    /// Turn a low-level error into a [`StoreError`] that says what to do.
    fn classify(&self, e: anyhow::Error) -> StoreError {
        if let Some(err) = e.downcast_ref::<StoreError>() {
            return match err {
                StoreError::TooNew { path, found, known } => StoreError::TooNew {
                    path: path.clone(),
                    found: *found,
                    known: *known,
                },
                other => StoreError::Corrupt {
                    path: self.path.clone(),
                    reason: other.to_string(),
                },
            };
        }
        match e.downcast::<rusqlite::Error>() {
            Ok(rusqlite::Error::SqliteFailure(f, msg)) => {
                use rusqlite::ErrorCode::*;
                let reason = msg.unwrap_or_else(|| f.to_string());
                match f.code {
                    NotADatabase | DatabaseCorrupt => StoreError::Corrupt {
                        path: self.path.clone(),
                        reason,
                    },
                    ReadOnly | CannotOpen | PermissionDenied | DiskFull => StoreError::Unwritable {
                        path: self.path.clone(),
                        reason,
                    },
                    _ => StoreError::Sql {
                        path: self.path.clone(),
                        source: rusqlite::Error::SqliteFailure(f, Some(reason)),
                    },
                }
            }
            Ok(other) => StoreError::Sql {
                path: self.path.clone(),
                source: other,
            },
            Err(other) => StoreError::Corrupt {
                path: self.path.clone(),
                reason: other.to_string(),
            },
        }
    }

    /// The store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for read queries.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Run `f` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so
    /// two processes never deadlock upgrading a read lock, and waits use the busy timeout.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// An interrupt handle: lets another thread cancel a running query.
    pub fn interrupt_handle(&self) -> rusqlite::InterruptHandle {
        self.conn.get_interrupt_handle()
    }
}

fn ensure_state_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.exists() && !dir.is_dir() {
        return Err(StoreError::Unwritable {
            path: dir.to_path_buf(),
            reason: "a file with that name is in the way (devsky needs a folder there)".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Unwritable {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    // The store never travels with the project: keep it out of git by default.
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists() {
        std::fs::write(&gitignore, "*\n").map_err(|e| StoreError::Unwritable {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_wal_store_with_gitignore() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_project(dir.path(), true).unwrap();
        let mode: String = store
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(dir.path().join(".devsky/.gitignore").exists());
    }

    #[test]
    fn missing_store_without_create_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Store::open_project(dir.path(), false).err().unwrap();
        assert!(err.to_string().contains("devsky init"), "{err}");
        assert!(!dir.path().join(".devsky").exists());
    }

    #[test]
    fn corrupt_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".devsky")).unwrap();
        let db = dir.path().join(".devsky/dev.db");
        let junk =
            b"this is not sqlite, just some text that happens to be long enough..".repeat(100);
        std::fs::write(&db, &junk).unwrap();
        let err = Store::open_project(dir.path(), true).err().unwrap();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("untouched"));
        assert_eq!(std::fs::read(&db).unwrap(), junk);
    }

    #[test]
    fn file_in_place_of_state_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".devsky"), "x").unwrap();
        let err = Store::open_project(dir.path(), true).err().unwrap();
        assert!(err.to_string().contains("in the way"), "{err}");
        assert_eq!(std::fs::read(dir.path().join(".devsky")).unwrap(), b"x");
    }

    #[test]
    fn directory_in_place_of_db_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".devsky/dev.db")).unwrap();
        let err = Store::open_project(dir.path(), true).err().unwrap();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
