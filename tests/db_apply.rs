//! `devsky snapshot diff A B --db --apply` when a statement fails halfway, on a real MariaDB
//! (DDL is not transactional: what ran before stays) and on SQLite (rolled back): the
//! report names the statements that ran and those that stay applied, and the script printed
//! takes back exactly those. Oracles: the server's `SHOW CREATE TABLE` and `CHECKSUM
//! TABLE` through the `mariadb` client, and `sqlite3 .dump`.
//!
//! Also `devsky snapshot diff A B --db --verify`: checked on a scratch copy built from A
//! alone, the real database untouched; refused when A holds only checksums of a table.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use support::cli::{devsky, ok};
use support::mariadb::MariaDb;

/// Everything the server says about the tables of `db`: `SHOW CREATE TABLE` and `CHECKSUM
/// TABLE` of each.
fn mariadb_state(m: &MariaDb, db: &str) -> String {
    let tables = m.sql(&format!("SHOW TABLES FROM `{db}`"));
    let mut out = String::new();
    for t in tables.lines() {
        out += &m.sql(&format!("SHOW CREATE TABLE `{db}`.`{t}`"));
        out += &m.sql(&format!("CHECKSUM TABLE `{db}`.`{t}` EXTENDED"));
    }
    out
}

/// Run SQL (or a dot command) with the `sqlite3` CLI, given on its standard input.
fn sqlite3(path: &Path, sql: &str) -> String {
    let mut child = Command::new("sqlite3")
        .arg("-bail")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("the sqlite3 CLI is needed: apt-get install sqlite3 ({e})"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Snapshot 1 is `keep`; snapshot 2 adds tables `a`, `b` and `c` with rows: the forward
/// script creates `a`, `b`, `c`, then inserts. The database is then put back to the first
/// state but with another table `c` (holding a row): the third statement fails. `run`
/// executes SQL on the database.
fn two_snapshots(root: &Path, run: &dyn Fn(&str)) {
    ok(
        &["snapshot", "create", "--db", "app", "--name", "one"],
        root,
    );
    run("CREATE TABLE a (id INT PRIMARY KEY, s VARCHAR(20));
         CREATE TABLE b (id INT PRIMARY KEY, n INT);
         CREATE TABLE c (id INT PRIMARY KEY);
         INSERT INTO a VALUES (1, 'x'), (2, NULL);
         INSERT INTO b VALUES (7, 70);
         INSERT INTO c VALUES (3);
         UPDATE keep SET v = 'changed' WHERE id = 1;");
    ok(
        &["snapshot", "create", "--db", "app", "--name", "two"],
        root,
    );
    run(
        "DROP TABLE a; DROP TABLE b; DROP TABLE c; UPDATE keep SET v = 'one' WHERE id = 1;
         CREATE TABLE c (other VARCHAR(20)); INSERT INTO c VALUES ('already');",
    );
}

/// Runs the failing `--apply`, checks what it reports, returns the script it printed.
fn apply_fails_at_the_third(root: &Path, applied: usize) -> String {
    let forward = ok(&["snapshot", "diff", "1", "2", "--db"], root);
    let creates: Vec<&str> = forward
        .lines()
        .filter(|l| l.starts_with("CREATE TABLE"))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(
        creates.len() == 3
            && creates[0].contains('a')
            && creates[1].contains('b')
            && creates[2].contains('c'),
        "the forward script does not create a, b, c first:\n{forward}"
    );
    let out = devsky(&["snapshot", "diff", "1", "2", "--db", "--apply"], root);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("at statement 3:"), "{err}");
    assert!(err.contains("2 statement(s) ran before it:"), "{err}");
    let listed: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("  1: ") || l.starts_with("  2: "))
        .collect();
    assert!(
        listed.len() == 2
            && listed[0].starts_with(&format!("  1: {}", creates[0]))
            && listed[1].starts_with(&format!("  2: {}", creates[1])),
        "{err}"
    );
    assert!(err.contains(&format!("failed: {}", creates[2])), "{err}");
    if applied == 0 {
        assert!(err.contains("none of them stays applied"), "{err}");
    } else {
        assert!(
            err.contains(&format!("{applied} of them stay applied")),
            "{err}"
        );
    }
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn mariadb_script_failing_at_its_third_statement_prints_the_reverse_of_the_two_before() {
    let m = MariaDb::start();
    m.sql(
        "CREATE DATABASE app; CREATE TABLE app.keep (id INT PRIMARY KEY, v VARCHAR(20));
           INSERT INTO app.keep VALUES (1, 'one'), (2, 'two');",
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ok(&["init"], root);
    ok(&["db", "add", "app", "--url", &m.url("app")], root);
    two_snapshots(root, &|sql| {
        m.sql(&format!("USE app; {sql}"));
    });
    let start = mariadb_state(&m, "app");
    assert_eq!(m.sql("SELECT * FROM app.c"), "already\n");

    let undo = apply_fails_at_the_third(root, 2);
    // DDL committed: a and b are there now, keep is untouched.
    let tables = m.sql("SHOW TABLES FROM app");
    assert_eq!(tables, "a\nb\nc\nkeep\n");
    assert!(
        undo.contains("DROP TABLE `a`") && undo.contains("DROP TABLE `b`"),
        "{undo}"
    );
    assert!(
        !undo.contains("keep") && !undo.contains("`c`"),
        "only a and b are taken back:\n{undo}"
    );
    m.sql(&format!("USE app;\n{undo}"));
    assert_eq!(mariadb_state(&m, "app"), start);
}

#[test]
fn sqlite_script_failing_at_its_third_statement_is_rolled_back_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let db = root.join("app.db");
    sqlite3(
        &db,
        "CREATE TABLE keep (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO keep VALUES (1, 'one'), (2, 'two');",
    );
    ok(&["init"], root);
    ok(&["db", "add", "app", "--url", "sqlite:app.db"], root);
    two_snapshots(root, &|sql| {
        sqlite3(&db, sql);
    });
    let start = sqlite3(&db, ".dump");
    assert!(start.contains("already"), "{start}");

    let undo = apply_fails_at_the_third(root, 0);
    assert_eq!(sqlite3(&db, ".dump"), start, "rolled back");
    assert!(!undo.contains("DROP"), "{undo}");
    sqlite3(&db, &undo);
    assert_eq!(sqlite3(&db, ".dump"), start);
}

/// Snapshot 1: `keep` and `gone` with rows; snapshot 2: `gone` dropped, `keep` altered with
/// rows changed, a view added. The database is then changed again, so that a check that
/// used it instead of a copy built from snapshot 1 would fail.
fn verify_pair(root: &Path, run: &dyn Fn(&str)) {
    ok(
        &["snapshot", "create", "--db", "app", "--name", "one"],
        root,
    );
    run("DROP TABLE gone;
         ALTER TABLE keep ADD COLUMN note VARCHAR(20);
         UPDATE keep SET note = 'n', v = 'uno' WHERE id = 1;
         DELETE FROM keep WHERE id = 2;
         INSERT INTO keep (id, v) VALUES (3, 'three');
         CREATE VIEW keep_v AS SELECT id, v FROM keep;");
    ok(
        &["snapshot", "create", "--db", "app", "--name", "two"],
        root,
    );
    run("INSERT INTO keep (id, v) VALUES (9, 'later'); CREATE TABLE other (id INT PRIMARY KEY);");
}

fn verified_between(root: &Path) {
    let out = devsky(
        &[
            "snapshot",
            "diff",
            "1",
            "2",
            "--db",
            "--allow-destructive",
            "--verify",
        ],
        root,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("built from the first snapshot"), "{err}");
    assert!(
        err.contains("ok   the forward script gives the second snapshot")
            && err.contains("ok   the reverse script then gives the first snapshot")
            && err.contains("script verified"),
        "{err}"
    );
}

#[test]
fn sqlite_verify_between_two_snapshots_runs_on_a_copy_built_from_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let db = root.join("app.db");
    sqlite3(
        &db,
        "CREATE TABLE keep (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO keep VALUES (1, 'one'), (2, 'two');
         CREATE TABLE gone (id INTEGER PRIMARY KEY, b BLOB); INSERT INTO gone VALUES (1, X'00ff');",
    );
    ok(&["init"], root);
    ok(&["db", "add", "app", "--url", "sqlite:app.db"], root);
    verify_pair(root, &|sql| {
        sqlite3(&db, sql);
    });
    let before = sqlite3(&db, ".dump");
    verified_between(root);
    assert_eq!(
        sqlite3(&db, ".dump"),
        before,
        "the database itself is untouched"
    );

    // A first snapshot holding only checksums of a table cannot be rebuilt: refused.
    ok(&["db", "table", "app", "keep", "--checksum"], root);
    ok(
        &["snapshot", "create", "--db", "app", "--name", "three"],
        root,
    );
    sqlite3(&db, "UPDATE keep SET v = 'x' WHERE id = 9;");
    ok(
        &["snapshot", "create", "--db", "app", "--name", "four"],
        root,
    );
    let out = devsky(
        &[
            "snapshot",
            "diff",
            "3",
            "4",
            "--db",
            "--allow-incomplete",
            "--verify",
        ],
        root,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("holds only checksums of table(s) keep ('checksum' mode)"),
        "{err}"
    );
}

#[test]
fn mariadb_verify_between_two_snapshots_runs_on_a_copy_built_from_the_first() {
    let m = MariaDb::start();
    m.sql("CREATE DATABASE app; CREATE TABLE app.keep (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20));
           INSERT INTO app.keep VALUES (1, 'one'), (2, 'two');
           CREATE TABLE app.gone (id INT PRIMARY KEY, b BLOB); INSERT INTO app.gone VALUES (1, X'00ff');");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ok(&["init"], root);
    ok(&["db", "add", "app", "--url", &m.url("app")], root);
    verify_pair(root, &|sql| {
        m.sql(&format!("USE app; {sql}"));
    });
    let before = mariadb_state(&m, "app");
    verified_between(root);
    assert_eq!(
        mariadb_state(&m, "app"),
        before,
        "the database itself is untouched"
    );
    assert_eq!(
        m.sql("SHOW DATABASES LIKE 'devsky_scratch%'"),
        "",
        "the scratch schema is dropped"
    );
}
