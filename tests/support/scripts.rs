//! A lab for change scripts and builds (tests/scripts_*.rs): a generated project whose
//! old tree is kept as a copy, the changes made to it (files added, changed, deleted,
//! a symlink retargeted, a mode changed), and the independent database oracles: the
//! `sqlite3` client's `.dump`, and MariaDB's own `SHOW CREATE TABLE` + `CHECKSUM TABLE`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cli::{json, ok, write};
use super::mariadb::MariaDb;
use super::tree::copy;

/// The project as it is before the change: files in folders, a symlink, an executable.
pub fn make_old_files(root: &Path) {
    for i in 0..30 {
        write(
            root,
            &format!("app/m{}/f{i}.php", i % 5),
            format!("<?php // file {i}\n").repeat(1 + i % 7).as_bytes(),
        );
    }
    write(
        root,
        "public/index.php",
        b"<?php require '../app/m0/f0.php';\n",
    );
    write(root, "public/old.css", b"body { color: red }\n");
    write(root, "lib/gone/a.txt", b"a file whose folder goes\n");
    write(root, "bin/run.sh", b"#!/bin/sh\necho run\n");
    std::os::unix::fs::symlink("../app/m1/f1.php", root.join("public/current.php")).unwrap();
}

/// The change: files changed, added (in a new folder too), deleted (a whole folder), a
/// symlink retargeted, a mode changed.
pub fn change_files(root: &Path) {
    for i in [0, 3, 7, 12] {
        write(
            root,
            &format!("app/m{}/f{i}.php", i % 5),
            format!("<?php // changed {i}\n").as_bytes(),
        );
    }
    write(root, "app/new/feature.php", b"<?php // a new feature\n");
    write(root, "public/new.css", b"body { color: blue }\n");
    std::fs::remove_file(root.join("public/old.css")).unwrap();
    std::fs::remove_dir_all(root.join("lib")).unwrap();
    std::fs::remove_file(root.join("public/current.php")).unwrap();
    std::os::unix::fs::symlink("../app/new/feature.php", root.join("public/current.php")).unwrap();
    std::fs::set_permissions(
        root.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

/// `sqlite3 FILE SQL` (the real client), its output.
pub fn sqlite3(file: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(file)
        .arg(sql)
        .output()
        .unwrap_or_else(|e| {
            panic!("the sqlite3 client is needed: apt-get install sqlite3 (scripts/test does): {e}")
        });
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The database's `.dump` by the sqlite3 client, table by table in name order (a table
/// rebuilt by a script moves to the end of `sqlite_master`, which says nothing of its
/// content), each with its indexes and triggers.
pub fn dump(file: &Path) -> String {
    let tables = sqlite3(
        file,
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    );
    let mut out = String::new();
    for t in tables.lines().filter(|l| !l.is_empty()) {
        out += &sqlite3(file, &format!(".dump {t}"));
    }
    out
}

/// The old database: two tables with rows.
pub const OLD_SQL: &str = "
CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, updated INTEGER);
CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT NOT NULL, legacy TEXT);
";

pub fn old_rows() -> String {
    let mut s = String::new();
    for i in 1..=20 {
        s += &format!("INSERT INTO items VALUES ({i}, 'item {i}', {i}.25, 1000);\n");
    }
    for i in 1..=8 {
        s += &format!("INSERT INTO users VALUES ({i}, 'u{i}@example.org', 'legacy {i}');\n");
    }
    s
}

/// The database change (SQLite and MariaDB alike): a new column with values, a dropped
/// column with data, a new index, changed, deleted and inserted rows.
pub fn change_sql(mysql: bool) -> String {
    format!(
        "ALTER TABLE items ADD COLUMN stock INTEGER NOT NULL DEFAULT 0;
UPDATE items SET stock = id * 3 WHERE id % 2 = 0;
ALTER TABLE users DROP COLUMN legacy;
CREATE INDEX items_name ON items(name{});
UPDATE items SET price = price * 2 WHERE id < 5;
DELETE FROM items WHERE id = 7;
INSERT INTO items(id, name, price, updated) VALUES (100, 'brand new', 1.5, 2000);
UPDATE users SET email = 'changed@example.org' WHERE id = 3;",
        if mysql { "(20)" } else { "" }
    )
}

/// A project with the old files and a store; the old tree kept in `old`.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub proj: PathBuf,
    pub old: PathBuf,
}

impl Lab {
    pub fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join("proj");
        make_old_files(&proj);
        let old = dir.path().join("old");
        copy(&proj, &old);
        ok(&["init"], &proj);
        Lab { dir, proj, old }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A copy of the old tree at `rel` (a build's target).
    pub fn target(&self, rel: &str) -> PathBuf {
        let t = self.path(rel);
        copy(&self.old, &t);
        t
    }

    pub fn run(&self, args: &[&str]) -> String {
        ok(args, &self.proj)
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        json(args, &self.proj)
    }

    /// Snapshot (with the database profile), then change files; returns the snapshot's name.
    pub fn snapshot(&self, db: &str) -> &'static str {
        self.run(&["snapshot", "create", "--name", "before", "--db", db]);
        "before"
    }

    /// `script create --from before`: the script's id.
    pub fn script(&self, extra: &[&str]) -> String {
        let mut args = vec!["script", "create", "--from", "before", "--json"];
        args.extend_from_slice(extra);
        self.json(&args)["id"].as_i64().unwrap().to_string()
    }
}

/// A MariaDB database's state by the server itself: every table's `SHOW CREATE TABLE`
/// and `CHECKSUM TABLE`, in name order.
pub fn mariadb_state(m: &MariaDb, db: &str) -> String {
    let tables = m.sql(&format!(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' ORDER BY table_name"
    ));
    let mut out = String::new();
    for t in tables.lines().filter(|l| !l.trim().is_empty()) {
        out += &m.sql(&format!("SHOW CREATE TABLE `{db}`.`{t}`"));
        let sum = m.sql(&format!("CHECKSUM TABLE `{db}`.`{t}`"));
        out += &format!(
            "checksum {t}: {}\n",
            sum.trim().rsplit('\t').next().unwrap_or("")
        );
    }
    out
}
