//! `devsky db ...` as a real process, on SQLite and on a private MariaDB.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::mariadb::MariaDb;

fn devsky(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_devsky"));
    c.args(args).current_dir(cwd).env("HOME", cwd);
    for (k, v) in env {
        c.env(k, v);
    }
    c.env_remove("MYSQL_PWD").output().expect("run devsky")
}

fn ok(args: &[&str], cwd: &Path) -> String {
    let out = devsky(args, cwd, &[]);
    assert!(
        out.status.success(),
        "devsky {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(args: &[&str], cwd: &Path) -> Value {
    serde_json::from_str(&ok(args, cwd)).unwrap()
}

#[test]
fn sqlite_profile_add_list_test_query_remove() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let c = rusqlite::Connection::open(r.join("app.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT, b BLOB);
         INSERT INTO t(s, b) VALUES ('', x'00ff'), (NULL, NULL), ('😀', NULL);",
    )
    .unwrap();
    drop(c);
    assert_eq!(
        ok(&["db", "add", "lite", "--url", "sqlite:app.db"], r),
        "added lite: sqlite:app.db\n"
    );
    let list = json(&["db", "list", "--json"], r);
    assert_eq!(list[0]["name"], "lite");
    assert_eq!(list[0]["kind"], "sqlite");
    assert_eq!(list[0]["url"], "sqlite:app.db");
    let t = json(&["db", "test", "lite", "--json"], r);
    assert_eq!(t["tables"], 1);
    assert!(
        t["server_version"]
            .as_str()
            .unwrap()
            .starts_with("SQLite 3."),
        "{t}"
    );

    let q = json(
        &[
            "db",
            "query",
            "lite",
            "SELECT id, s, b FROM t ORDER BY id",
            "--json",
        ],
        r,
    );
    let st = &q["statements"][0];
    assert_eq!(st["columns"][1]["name"], "s");
    assert_eq!(
        st["rows"],
        json!([[1, "", {"hex": "00ff"}], [2, null, null], [3, "😀", null]])
    );
    assert_eq!(q["error"], Value::Null);
    let q = json(
        &[
            "db",
            "query",
            "lite",
            "SELECT id FROM t; SELECT 2",
            "--limit",
            "1",
            "--json",
        ],
        r,
    );
    assert_eq!(q["statements"][0]["rows"], json!([[1]]));
    assert_eq!(q["statements"][0]["truncated"], true);
    assert_eq!(
        q["statements"][1]["rows"],
        json!([[2]]),
        "the limit does not stop later statements"
    );

    let text = ok(
        &["db", "query", "lite", "SELECT id, s FROM t ORDER BY id"],
        r,
    );
    assert_eq!(text.lines().next().unwrap(), "id | s");
    assert!(text.contains(" 2 | NULL"), "{text}");
    assert!(text.contains("(3 rows"), "{text}");
    let text = ok(
        &["db", "query", "lite", "UPDATE t SET s = 'x' WHERE id > 1"],
        r,
    );
    assert!(text.starts_with("OK, 2 row(s) affected"), "{text}");

    let out = devsky(
        &["db", "query", "lite", "SELECT 1;\nSELECT * FROMM t"],
        r,
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("statement 2 (line 2, column 10)") && err.contains("FROMM"),
        "{err}"
    );

    assert_eq!(ok(&["db", "remove", "lite"], r), "removed lite\n");
    let out = devsky(&["db", "remove", "lite"], r, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&["db", "list", "--json"], r), json!([]));
    let out = devsky(&["db", "add", "x", "--url", "postgres://u@h/d"], r, &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported scheme `postgres`"));
}

#[test]
fn mariadb_profile_with_password_from_the_environment() {
    let m = MariaDb::start();
    m.sql(
        "CREATE DATABASE shop CHARACTER SET utf8mb4;
         CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20) NULL, data BLOB NULL);
         INSERT INTO shop.items VALUES (1, 'pen', 0x00ff), (2, NULL, NULL), (3, '😀', '');
         CREATE USER 'app'@'localhost' IDENTIFIED BY 'pw-Secret-77';
         GRANT ALL ON shop.* TO 'app'@'localhost';",
    );
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let url = format!(
        "mysql://app:pw-Secret-77@localhost/shop?socket={}",
        m.socket.display()
    );
    let out = devsky(&["db", "add", "shop", "--url", &url, "--json"], r, &[]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stdout.contains("pw-Secret-77") && !stderr.contains("pw-Secret-77"));
    assert!(stderr.contains("$DEVSKY_DB_PASSWORD_SHOP"), "{stderr}");
    let added: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(added["password_dropped"], true);
    let list = ok(&["db", "list"], r);
    assert!(
        list.contains("mysql://app@localhost/shop?socket=") && !list.contains("pw-Secret"),
        "{list}"
    );

    // No password anywhere: refused, and the message says where it looked.
    let out = devsky(&["db", "test", "shop"], r, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Access denied for user 'app'@'localhost'")
            && err.contains("DEVSKY_DB_PASSWORD_SHOP"),
        "{err}"
    );

    let out = devsky(
        &["db", "test", "shop"],
        r,
        &[("DEVSKY_DB_PASSWORD_SHOP", "wrong-Pw-55")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(using password: YES)") && !err.contains("wrong-Pw-55"),
        "{err}"
    );
    let pw = [("DEVSKY_DB_PASSWORD_SHOP", "pw-Secret-77")];
    let out = devsky(&["db", "test", "shop", "--json"], r, &pw);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["tables"], 1);
    assert!(
        t["server_version"].as_str().unwrap().contains("MariaDB"),
        "{t}"
    );
    assert_eq!(t["connection"], "mysql app@localhost/shop");

    let out = devsky(
        &[
            "db",
            "query",
            "shop",
            "SELECT id, name, data FROM items ORDER BY id",
            "--json",
        ],
        r,
        &pw,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let q: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        q["statements"][0]["rows"],
        json!([[1, "pen", {"hex": "00ff"}], [2, null, null], [3, "😀", {"hex": ""}]])
    );
    let out = devsky(
        &["db", "query", "shop", "SELECT name FROM items ORDER BY id"],
        r,
        &pw,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().take(5).collect::<Vec<_>>(),
        ["name", "----", "pen", "NULL", "😀"]
    );

    // The password also comes from ~/.my.cnf ($HOME is the project folder here).
    std::fs::write(r.join(".my.cnf"), "[client]\npassword = \"pw-Secret-77\"\n").unwrap();
    let t = json(&["db", "test", "shop", "--json"], r);
    assert_eq!(t["tables"], 1);
    let out = devsky(&["db", "query", "shop", "SELEC 1", "--json"], r, &[]);
    assert_eq!(out.status.code(), Some(1));
    let q: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        q["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ERROR 1064"),
        "{q}"
    );
    assert_eq!(q["error"]["offset"], 0);
    ok(&["db", "remove", "shop"], r);
}

/// `devsky db table`: a table's snapshot mode is set from the CLI, listed (text and JSON),
/// and decides what a snapshot holds: with `--checksum` a row change is only noted (the
/// script is refused as incomplete), with `--rows` it is scripted.
#[test]
fn table_modes_are_set_listed_and_decide_what_a_snapshot_holds() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let c = rusqlite::Connection::open(r.join("app.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE posts(id INTEGER PRIMARY KEY, s TEXT); INSERT INTO posts VALUES (1, 'a');
         CREATE TABLE logs(id INTEGER PRIMARY KEY, s TEXT);",
    )
    .unwrap();
    ok(&["db", "add", "app", "--url", "sqlite:app.db"], r);
    let all = json(&["db", "table", "app", "--json"], r);
    assert_eq!(
        all,
        json!([
            {"table": "logs", "mode": "auto", "exists": true},
            {"table": "posts", "mode": "auto", "exists": true},
        ])
    );
    ok(&["db", "table", "app", "posts", "--checksum"], r);
    ok(&["db", "table", "app", "logs", "--skip"], r);
    let text = ok(&["db", "table", "app"], r);
    assert_eq!(text, "logs   skipped\nposts  checksums\n");
    assert_eq!(
        json(&["db", "table", "app", "posts", "--json"], r),
        json!([{"table": "posts", "mode": "checksum", "exists": true}])
    );
    // A table the database does not have is refused, and nothing is recorded.
    let out = devsky(&["db", "table", "app", "nope", "--rows"], r, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no table `nope`"));
    assert_eq!(
        json(&["db", "table", "app", "--json"], r)
            .as_array()
            .unwrap()
            .len(),
        2
    );

    ok(&["snapshot", "create", "--db", "app", "--name", "one"], r);
    c.execute_batch("UPDATE posts SET s = 'b'").unwrap();
    let out = devsky(&["snapshot", "diff", "1", "--db"], r, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("table posts: data changed in 1 of 1 chunks ('checksum' mode"),
        "{err}"
    );

    ok(&["db", "table", "app", "posts", "--rows"], r);
    ok(&["snapshot", "create", "--db", "app", "--name", "two"], r);
    c.execute_batch("UPDATE posts SET s = 'c'").unwrap();
    let script = ok(&["snapshot", "diff", "2", "--db"], r);
    assert!(
        script.contains(r#"UPDATE "posts" SET "s" = 'c'"#),
        "{script}"
    );
    ok(&["db", "table", "app", "posts", "--auto"], r);
    assert_eq!(
        json(&["db", "table", "app", "posts", "--json"], r)[0]["mode"],
        "auto"
    );
}

/// A domain names the tables of a profile (`domain add --db --tables`): a snapshot of the
/// domain takes that database without --db, and holds only those tables (a change to
/// another table is not in the script; a change to a named one is). A named table the
/// database does not have fails the snapshot, naming it.
#[test]
fn a_domain_names_the_tables_a_snapshot_takes() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let c = rusqlite::Connection::open(r.join("app.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE a(id INTEGER PRIMARY KEY, s TEXT); INSERT INTO a VALUES (1, 'a');
         CREATE TABLE b(id INTEGER PRIMARY KEY, s TEXT); INSERT INTO b VALUES (1, 'b');
         CREATE TABLE c(id INTEGER PRIMARY KEY, s TEXT); INSERT INTO c VALUES (1, 'c');",
    )
    .unwrap();
    ok(&["db", "add", "app", "--url", "sqlite:app.db"], r);
    ok(
        &["domain", "add", "web", "--db", "app", "--tables", "a, c"],
        r,
    );
    let shown = json(&["domain", "show", "web", "--json"], r);
    assert_eq!(shown["db_tables"], json!({"app": ["a", "c"]}));
    let out = ok(
        &["snapshot", "create", "--domain", "web", "--name", "one"],
        r,
    );
    assert!(out.contains("database app"), "{out}");
    c.execute_batch("UPDATE a SET s = 'A'; UPDATE b SET s = 'B'; UPDATE c SET s = 'C';")
        .unwrap();
    let script = ok(&["snapshot", "diff", "1", "--db"], r);
    assert!(
        script.contains(r#"UPDATE "a" SET "s" = 'A'"#)
            && script.contains(r#"UPDATE "c" SET "s" = 'C'"#),
        "{script}"
    );
    assert!(
        !script.contains(r#""b""#),
        "table b is not in the snapshot:\n{script}"
    );

    ok(
        &["domain", "add", "web", "--db", "app", "--tables", "a,gone"],
        r,
    );
    let out = devsky(&["snapshot", "create", "--domain", "web"], r, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("names table `gone` of database app"), "{err}");
}
