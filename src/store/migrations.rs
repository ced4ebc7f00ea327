//! Numbered schema migrations of the store.
//!
//! Each migration runs once, in order, inside one transaction that also records it in
//! `_dev_migrations`. A store whose highest recorded version is above [`LATEST`] was written
//! by a newer devsky and is refused untouched.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// One schema step.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// All migrations, oldest first. Append only: never edit one that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "codebase, settings",
        sql: r#"
CREATE TABLE _dev_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Codebase records. Ids 1..50000 are the fixed area (the same record everywhere),
-- ids above 50000 the floating area (local numbering).
-- A text body lives in `body` (indexed for search); a binary one in `data`.
CREATE TABLE _dev_codebase (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL DEFAULT 'file',
    version       TEXT NOT NULL DEFAULT '1',
    body          TEXT,
    data          BLOB,
    size          INTEGER NOT NULL DEFAULT 0,
    hash          TEXT NOT NULL DEFAULT '',
    authors       TEXT NOT NULL DEFAULT '',
    package       TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'new',
    claimed_by    TEXT,
    claimed_until INTEGER,
    created       INTEGER NOT NULL,
    updated       INTEGER NOT NULL
);
CREATE INDEX _dev_codebase_name ON _dev_codebase(name);

CREATE VIRTUAL TABLE _dev_codebase_fts USING fts5(
    name, body,
    content = '_dev_codebase', content_rowid = 'id',
    tokenize = 'unicode61'
);
CREATE TRIGGER _dev_codebase_ai AFTER INSERT ON _dev_codebase BEGIN
    INSERT INTO _dev_codebase_fts(rowid, name, body) VALUES (new.id, new.name, new.body);
END;
CREATE TRIGGER _dev_codebase_ad AFTER DELETE ON _dev_codebase BEGIN
    INSERT INTO _dev_codebase_fts(_dev_codebase_fts, rowid, name, body)
        VALUES ('delete', old.id, old.name, old.body);
END;
CREATE TRIGGER _dev_codebase_au AFTER UPDATE OF name, body ON _dev_codebase BEGIN
    INSERT INTO _dev_codebase_fts(_dev_codebase_fts, rowid, name, body)
        VALUES ('delete', old.id, old.name, old.body);
    INSERT INTO _dev_codebase_fts(rowid, name, body) VALUES (new.id, new.name, new.body);
END;
"#,
    },
    Migration {
        version: 2,
        name: "domains, snapshots",
        sql: r#"
-- A domain: a named set of include/exclude globs (JSON arrays), as DEV.SKY's domain.
CREATE TABLE _dev_domains (
    name    TEXT PRIMARY KEY,
    include TEXT NOT NULL,
    exclude TEXT NOT NULL,
    created INTEGER NOT NULL
);

-- "My Snapshots": the map of a domain at a moment, stored as an object (its file
-- contents are objects too, named by the hashes in the map).
CREATE TABLE _dev_snapshots (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    domain     TEXT,
    include    TEXT NOT NULL,
    exclude    TEXT NOT NULL,
    map_object TEXT NOT NULL,
    files      INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    partial    INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL
);
"#,
    },
    Migration {
        version: 3,
        name: "databases",
        sql: r#"
-- Database connections. The password is never stored here: it comes from the
-- environment variable named in password_env, a prompt, or ~/.my.cnf.
CREATE TABLE _dev_db_profiles (
    name         TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('mysql', 'sqlite')),
    url          TEXT NOT NULL,
    password_env TEXT,
    created      INTEGER NOT NULL
);

-- What the Query tool ran, per connection (searchable history).
CREATE TABLE _dev_query_history (
    id         INTEGER PRIMARY KEY,
    profile    TEXT NOT NULL,
    sql        TEXT NOT NULL,
    ran_at     INTEGER NOT NULL,
    elapsed_ms INTEGER,
    rows       INTEGER,
    error      TEXT
);
CREATE INDEX _dev_query_history_profile ON _dev_query_history(profile, id);

-- How a table takes part in database snapshots: 'data' keeps full rows (small config and
-- content tables), 'checksum' keeps chunk checksums (large tables), 'skip' leaves it out.
CREATE TABLE _dev_db_tables (
    profile    TEXT NOT NULL,
    table_name TEXT NOT NULL,
    mode       TEXT NOT NULL CHECK (mode IN ('data', 'checksum', 'skip')),
    PRIMARY KEY (profile, table_name)
);

-- The database part of a snapshot: the profile and an object holding schemas, row
-- pre-images of data tables and chunk checksums of the others.
ALTER TABLE _dev_snapshots ADD COLUMN db_profile TEXT;
ALTER TABLE _dev_snapshots ADD COLUMN db_object TEXT;
"#,
    },
    Migration {
        version: 4,
        name: "deploy servers",
        sql: r#"
-- Deploy targets. The API key is never stored here: it lives in
-- .devsky/secrets/<name>.key (mode 0600) or in the environment variable key_env.
CREATE TABLE _dev_servers (
    id          INTEGER PRIMARY KEY,
    name        TEXT UNIQUE NOT NULL,
    environment TEXT NOT NULL CHECK (environment IN ('development','staging','production')),
    transport   TEXT NOT NULL CHECK (transport IN ('http','ssh')),
    url         TEXT,
    key_env     TEXT,
    ssh         TEXT,
    remote_root TEXT,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL
);
"#,
    },
    Migration {
        version: 5,
        name: "deploy servers over https",
        sql: r#"
-- How the client trusts an https:// agent: the PEM text of a CA (--ca FILE), or the
-- SHA-256 fingerprint of the agent's certificate (--fingerprint); neither: the system's
-- roots. Both are public: no secret is stored here.
ALTER TABLE _dev_servers ADD COLUMN tls_ca TEXT;
ALTER TABLE _dev_servers ADD COLUMN tls_fingerprint TEXT;
"#,
    },
    Migration {
        version: 6,
        name: "what a deploy covers",
        sql: r#"
-- The files a deploy to the server covers: include/exclude globs (JSON arrays, as a
-- domain's), besides what .devskyignore files leave out.
ALTER TABLE _dev_servers ADD COLUMN include TEXT NOT NULL DEFAULT '[]';
ALTER TABLE _dev_servers ADD COLUMN exclude TEXT NOT NULL DEFAULT '[]';
"#,
    },
    Migration {
        version: 7,
        name: "the database tables of a domain",
        sql: r#"
-- The tables of a database profile that a snapshot of the domain takes (`devsky domain add
-- NAME --db PROFILE --tables T1,T2`); the others are left out, as 'skip' tables are.
CREATE TABLE _dev_domain_db_tables (
    domain     TEXT NOT NULL,
    profile    TEXT NOT NULL,
    table_name TEXT NOT NULL,
    PRIMARY KEY (domain, profile, table_name)
);
"#,
    },
    Migration {
        version: 8,
        name: "change scripts and builds",
        sql: r#"
-- Change scripts ("Create Script"): a package with the header fields of DEV.SKY packages;
-- what it changes lives in the object store (files_object: the file changes as JSON,
-- db_old/db_new: the database parts, filtered, it was made from) and as codebase records
-- first_record..last_record (floating area).
CREATE TABLE _dev_packages (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL DEFAULT '1',
    sky_id        INTEGER NOT NULL DEFAULT 0,
    app           TEXT NOT NULL DEFAULT '',
    depends       TEXT NOT NULL DEFAULT '[]',
    included      TEXT NOT NULL DEFAULT '[]',
    priorun       TEXT NOT NULL DEFAULT '[]',
    authors       TEXT NOT NULL DEFAULT '',
    from_snapshot INTEGER NOT NULL,
    to_snapshot   INTEGER,
    domain        TEXT,
    files_object  TEXT NOT NULL,
    files         INTEGER NOT NULL,
    db_profile    TEXT,
    db_old        TEXT,
    db_new        TEXT,
    sql_steps     INTEGER NOT NULL DEFAULT 0,
    filters       TEXT NOT NULL DEFAULT '{}',
    notes         TEXT NOT NULL DEFAULT '[]',
    first_record  INTEGER,
    last_record   INTEGER,
    created       INTEGER NOT NULL
);

-- Builds ("My Builds"): a package applied to a target folder (and database), or a
-- rollback of one (kind 'rollback', undoes = the build). The row is the SQL half's
-- journal: sql_next is the step running, sql_done the steps finished; the files half
-- is a deployment (deployment) in the target's deploy state.
CREATE TABLE _dev_builds (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('build', 'rollback')),
    package       INTEGER NOT NULL,
    target        TEXT NOT NULL,
    db_profile    TEXT,
    user          TEXT NOT NULL,
    started       INTEGER NOT NULL,
    finished      INTEGER,
    status        TEXT NOT NULL,
    undoes        INTEGER,
    deploy_before INTEGER NOT NULL DEFAULT 0,
    deployment    INTEGER,
    sql_next      INTEGER NOT NULL DEFAULT -1,
    sql_done      INTEGER NOT NULL DEFAULT 0,
    forced        INTEGER NOT NULL DEFAULT 0,
    result        TEXT NOT NULL DEFAULT ''
);
"#,
    },
    Migration {
        version: 9,
        name: "deploy targets without an agent",
        sql: r#"
-- Transports beyond the agent: git (and sftp, ftp). SQLite cannot change a CHECK, so
-- the table is made anew with the rows copied. `options`: the transport's own settings
-- as a JSON object (git: branch, provider, api, mode, repo); never a secret.
CREATE TABLE _dev_servers_new (
    id              INTEGER PRIMARY KEY,
    name            TEXT UNIQUE NOT NULL,
    environment     TEXT NOT NULL CHECK (environment IN ('development','staging','production')),
    transport       TEXT NOT NULL CHECK (transport IN ('http','ssh','sftp','ftp','git')),
    url             TEXT,
    key_env         TEXT,
    ssh             TEXT,
    remote_root     TEXT,
    is_default      INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL,
    tls_ca          TEXT,
    tls_fingerprint TEXT,
    include         TEXT NOT NULL DEFAULT '[]',
    exclude         TEXT NOT NULL DEFAULT '[]',
    options         TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO _dev_servers_new(id, name, environment, transport, url, key_env, ssh,
    remote_root, is_default, created, tls_ca, tls_fingerprint, include, exclude)
    SELECT id, name, environment, transport, url, key_env, ssh, remote_root, is_default,
    created, tls_ca, tls_fingerprint, include, exclude FROM _dev_servers;
DROP TABLE _dev_servers;
ALTER TABLE _dev_servers_new RENAME TO _dev_servers;
"#,
    },
    Migration {
        version: 10,
        name: "package archives",
        sql: r#"
-- Packages that travel as archives (docs/PACKAGES.md). start_id: not 0, the package is
-- one unit starting at that record; origin: '' made here, else `import <checksum>`.
ALTER TABLE _dev_packages ADD COLUMN start_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE _dev_packages ADD COLUMN origin TEXT NOT NULL DEFAULT '';

-- The records of a package in archive order (fixed-area ones too). A change script made
-- here has no rows: its records are first_record..last_record.
CREATE TABLE _dev_package_records (
    package  INTEGER NOT NULL,
    position INTEGER NOT NULL,
    record   INTEGER NOT NULL,
    PRIMARY KEY (package, position)
);
"#,
    },
];

/// The newest schema version this binary knows.
pub const LATEST: i64 = 10;

/// Bring the store at `conn` up to [`LATEST`], or refuse a newer one.
pub fn migrate(conn: &Connection) -> anyhow::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _dev_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )?;
    let current = current_version(conn)?;
    if current > LATEST {
        return Err(StoreError::TooNew {
            path: conn.path().map(Into::into).unwrap_or_default(),
            found: current,
            known: LATEST,
        }
        .into());
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        // `unchecked_transaction` because `conn` is shared; IMMEDIATE so two processes
        // that open a fresh store at once serialize here instead of failing.
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        // Another process may have applied it while we waited for the lock.
        if current_version(&tx)? >= m.version {
            continue;
        }
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO _dev_migrations(version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.name, super::now()],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// The highest applied migration (0 for a new store).
pub fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM _dev_migrations",
        [],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

    #[test]
    fn servers_survive_migration_9_and_git_targets_fit() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE _dev_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
             applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        for m in MIGRATIONS.iter().filter(|m| m.version <= 8) {
            conn.execute_batch(m.sql).unwrap();
            conn.execute(
                "INSERT INTO _dev_migrations VALUES (?1, ?2, 0)",
                rusqlite::params![m.version, m.name],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO _dev_servers(name, environment, transport, url, is_default, created, \
             include) VALUES ('a', 'staging', 'http', 'http://x', 1, 5, '[\"app\"]')",
            [],
        )
        .unwrap();
        let git = "INSERT INTO _dev_servers(name, environment, transport, created) \
                   VALUES ('g', 'staging', 'git', 6)";
        assert!(conn.execute(git, []).is_err(), "version 8 refuses git");
        migrate(&conn).unwrap();
        let row: (i64, String, String, i64, String, String) = conn
            .query_row(
                "SELECT id, url, include, is_default, options, transport FROM _dev_servers",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            row,
            (
                1,
                "http://x".into(),
                "[\"app\"]".into(),
                1,
                "{}".into(),
                "http".into()
            )
        );
        conn.execute(git, []).unwrap();
        assert!(
            conn.execute(
                "INSERT INTO _dev_servers(name, environment, transport, created) \
                 VALUES ('z', 'staging', 'carrier-pigeon', 7)",
                []
            )
            .is_err()
        );
    }

    #[test]
    fn versions_are_increasing_and_latest_matches() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version);
        }
        assert_eq!(MIGRATIONS.last().unwrap().version, LATEST);
    }

    #[test]
    fn new_store_is_at_latest_and_reopen_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_project(dir.path(), true).unwrap();
        assert_eq!(current_version(s.conn()).unwrap(), LATEST);
        drop(s);
        let s = Store::open_project(dir.path(), false).unwrap();
        let rows: i64 = s
            .conn()
            .query_row("SELECT COUNT(*) FROM _dev_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, LATEST);
    }

    #[test]
    fn newer_store_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_project(dir.path(), true).unwrap();
        s.conn()
            .execute(
                "INSERT INTO _dev_migrations VALUES (?1, 'from the future', 0)",
                [LATEST + 5],
            )
            .unwrap();
        let path = s.path().to_path_buf();
        drop(s);
        let err = Store::open(&path, false).err().unwrap();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::TooNew { .. }), "{msg}");
        assert!(
            msg.contains("newer devsky") && msg.contains("nothing was changed"),
            "{msg}"
        );
        // Still the future version: nothing was rolled back or rewritten.
        let conn = Connection::open(&path).unwrap();
        assert_eq!(current_version(&conn).unwrap(), LATEST + 5);
    }
}
