//! Database script fidelity: nothing is passed over silently (tables without a primary key
//! scripted by whole rows, a key change on an empty table scripted, an incomplete script
//! refused unless allowed), scripts that do not depend on the session they run in, and
//! `--verify` judging by the server's own `CREATE` text.

mod support;

use std::path::Path;

use devsky::engine::db::mysql::MysqlDb;
use devsky::engine::db::snapshot::{self, DbSnapshot, Mode, apply, differences, take};
use devsky::engine::db::sqlite::SqliteDb;
use devsky::engine::db::url::parse;
use devsky::engine::db::verify::{verify_mysql, verify_sqlite};
use devsky::engine::db::{Db, QueryEvent};

fn run(db: &mut dyn Db, sql: &str) {
    db.run(sql, &mut |_: QueryEvent| true)
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
}

fn everything(db: &mut dyn Db) -> DbSnapshot {
    take(db, &|_| Mode::Data).unwrap()
}

fn assert_same(want: &DbSnapshot, got: &DbSnapshot, what: &str) {
    let d = differences(want, got);
    assert!(d.is_empty(), "{what}:\n{}", d.join("\n"));
}

/// A new SQLite database file at `path`.
fn sqlite_db(path: &Path) -> SqliteDb {
    rusqlite::Connection::open(path).unwrap();
    SqliteDb::open(path).unwrap()
}

fn mariadb(
    db: &str,
) -> (
    support::mariadb::MariaDb,
    devsky::engine::db::url::DbUrl,
    MysqlDb,
) {
    let m = support::mariadb::MariaDb::start();
    m.sql(&format!(
        "CREATE DATABASE {db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    ));
    let url = parse(&m.url(db)).unwrap().url;
    let conn = MysqlDb::connect(&url, None).unwrap();
    (m, url, conn)
}

/// Rows of a keyless table move both ways, duplicates counted, on `db`.
fn keyless_round_trip(db: &mut dyn Db, create: &str) {
    run(db, create);
    run(
        db,
        "INSERT INTO logs VALUES ('a', 1), ('a', 1), ('a', 1), ('b', 2), (NULL, 3), ('it''s \\ 😀', 4)",
    );
    let snap = take(db, &|_| Mode::Auto).unwrap();
    assert_eq!(
        snap.modes.get("logs"),
        Some(&Mode::Data),
        "a small table without a key keeps its rows"
    );
    let original = everything(db);
    run(
        db,
        "DELETE FROM logs WHERE line = 'b'; INSERT INTO logs VALUES ('b', 2), ('b', 2), ('c', NULL); UPDATE logs SET n = 5 WHERE line IS NULL",
    );
    // One of the three 'a' copies goes.
    let del = match db.kind() {
        devsky::engine::db::Kind::Mysql => "DELETE FROM logs WHERE line = 'a' LIMIT 1",
        devsky::engine::db::Kind::Sqlite => {
            "DELETE FROM logs WHERE rowid = (SELECT min(rowid) FROM logs WHERE line = 'a')"
        }
    };
    run(db, del);
    let target = everything(db);
    let script = snapshot::diff(&snap, db, false, &[]).unwrap();
    assert!(script.notes.is_empty(), "{:?}", script.notes);
    let fwd = script.forward_body();
    // One 'a' copy and the old NULL row go; one more 'b' copy, 'c' and the new NULL row come.
    assert_eq!(fwd.matches("DELETE FROM").count(), 2, "{fwd}");
    assert_eq!(fwd.matches("INSERT INTO").count(), 3, "{fwd}");
    apply(db, &script, true).unwrap();
    assert_same(&original, &everything(db), "after the reverse");
    apply(db, &script, false).unwrap();
    assert_same(&target, &everything(db), "after the forward");
}

#[test]
fn sqlite_table_without_primary_key_is_scripted_by_whole_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = sqlite_db(&dir.path().join("app.db"));
    keyless_round_trip(&mut db, "CREATE TABLE logs (line TEXT, n INTEGER)");
}

#[test]
fn mariadb_table_without_primary_key_is_scripted_by_whole_rows() {
    let (_m, _url, mut db) = mariadb("shop");
    keyless_round_trip(
        &mut db,
        "CREATE TABLE logs (line VARCHAR(50) NULL, n INT NULL)",
    );
}

/// A new key column: scripted when the table has no rows, refused with the table and the
/// column when rows would have to be matched.
fn key_change(db: &mut dyn Db, add_key: &str) {
    run(
        db,
        "CREATE TABLE k (a INT NOT NULL, b INT NOT NULL, PRIMARY KEY (a))",
    );
    let snap = take(db, &|_| Mode::Auto).unwrap();
    let original = everything(db);
    run(db, add_key);
    let target = everything(db);
    let script = snapshot::diff(&snap, db, true, &[]).unwrap();
    assert!(script.notes.is_empty(), "{:?}", script.notes);
    apply(db, &script, true).unwrap();
    assert_same(&original, &everything(db), "after the reverse");
    apply(db, &script, false).unwrap();
    assert_same(&target, &everything(db), "after the forward");

    // With rows on both sides the rows cannot be matched: refused, with the reason.
    apply(db, &script, true).unwrap();
    run(db, "INSERT INTO k (a, b) VALUES (1, 1)");
    let snap = take(db, &|_| Mode::Auto).unwrap();
    run(db, add_key);
    run(db, "UPDATE k SET b = 2");
    let err = snapshot::diff(&snap, db, true, &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("table k: column id is new") && err.contains("rows cannot be matched"),
        "{err}"
    );
}

#[test]
fn sqlite_primary_key_change_on_an_empty_table_is_scripted() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = sqlite_db(&dir.path().join("app.db"));
    key_change(
        &mut db,
        "DROP TABLE k; CREATE TABLE k (id INTEGER NOT NULL, a INT NOT NULL, b INT NOT NULL, PRIMARY KEY (id)); INSERT INTO k VALUES (1, 1, 1)",
    );
}

#[test]
fn mariadb_primary_key_change_on_an_empty_table_is_scripted() {
    let (_m, _url, mut db) = mariadb("shop");
    key_change(
        &mut db,
        "ALTER TABLE k DROP PRIMARY KEY, ADD COLUMN id INT NOT NULL AUTO_INCREMENT FIRST, ADD PRIMARY KEY (id)",
    );
}

fn devsky(args: &[&str], cwd: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(args)
        .current_dir(cwd)
        .env("DEVSKY_CONFIG_DIR", cwd.join(".no-config"))
        .output()
        .expect("run devsky")
}

#[test]
fn cli_incomplete_script_is_refused_naming_the_table_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut db = sqlite_db(&root.join("app.db"));
    run(
        &mut db,
        "CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE small (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO big VALUES (1, 'x'); INSERT INTO small VALUES (1, 'y');",
    );
    let store = devsky::store::Store::open_project(root, true).unwrap();
    devsky::engine::db::profile::add(&store, "app", "sqlite:app.db", None).unwrap();
    store
        .conn()
        .execute(
            "INSERT INTO _dev_db_tables VALUES ('app', 'big', 'checksum')",
            [],
        )
        .unwrap();
    drop(store);
    let out = devsky(&["snapshot", "create", "--db", "app", "--name", "s"], root);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(
        &mut db,
        "UPDATE big SET v = 'changed'; UPDATE small SET v = 'z';",
    );

    let out = devsky(&["snapshot", "diff", "1", "--db"], root);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty(), "nothing printed when refused");
    assert!(
        err.contains("incomplete script refused (allow it with --allow-incomplete)")
            && err.contains(
                "table big: data changed in 1 of 1 chunks ('checksum' mode: not scripted)"
            ),
        "{err}"
    );

    let out = devsky(
        &["snapshot", "diff", "1", "--db", "--allow-incomplete"],
        root,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let sql = String::from_utf8(out.stdout).unwrap();
    assert!(
        sql.contains(
            "-- INCOMPLETE: table big: data changed in 1 of 1 chunks ('checksum' mode: not scripted)\n"
        ) && sql.contains("UPDATE \"small\" SET \"v\" = 'z' WHERE \"id\" = 1;"),
        "{sql}"
    );
    let out = devsky(&["snapshot", "diff", "1", "--db", "--json"], root);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["incomplete"], true);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn mariadb_unscriptable_table_clause_is_named() {
    // A clause devsky has no way to alter is named with its table, not dropped unseen.
    let a = devsky::engine::db::TableSchema {
        name: "t".into(),
        columns: vec![],
        primary_key: vec![],
        indexes: vec![],
        foreign_keys: vec![],
        options: String::new(),
        create_sql: "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  PERIOD FOR p(`s`, `e`)\n) ENGINE=InnoDB".into(),
    };
    let mut b = a.clone();
    b.create_sql = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL\n) ENGINE=InnoDB".into();
    let notes =
        devsky::engine::db::schema_diff::unscripted(devsky::engine::db::Kind::Mysql, &[a], &[b]);
    assert_eq!(
        notes,
        ["table t: devsky cannot script a change of: PERIOD FOR p(`s`, `e`)"]
    );
}

const SESSION_BEFORE: &str = r#"
CREATE TABLE notes (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    body TEXT NULL,
    at TIMESTAMP NULL DEFAULT NULL,
    price DECIMAL(10,2) NULL
);
INSERT INTO notes (body, at, price) VALUES
    ('plain', '2024-01-02 03:04:05', 1.50),
    ('back\\slash and ''quote'' and "double"', '2024-06-30 23:59:59', NULL),
    (NULL, NULL, 0.00);
INSERT INTO notes (id, body) VALUES (50, 'far');
DELETE FROM notes WHERE id = 50;
"#;

const SESSION_CHANGE: &str = r#"
UPDATE notes SET body = 'new\\path\nline 2 😀', at = '2025-03-04 05:06:07' WHERE id = 1;
UPDATE notes SET body = '' WHERE id = 3;
INSERT INTO notes (body, at) VALUES ('"quoted" \\N', '2025-01-01 00:00:00');
DELETE FROM notes WHERE id = 2;
"#;

#[test]
fn mariadb_scripts_do_not_depend_on_the_session() {
    let (m, _url, mut db) = mariadb("shop");
    run(&mut db, SESSION_BEFORE);
    let snap = take(&mut db, &|_| Mode::Auto).unwrap();
    let original = everything(&mut db);
    let show = || {
        m.sql(
            "USE shop; SHOW CREATE TABLE notes; SELECT id, body, at, price FROM notes ORDER BY id;",
        )
    };
    let shown_original = show();
    assert!(
        shown_original.contains("AUTO_INCREMENT=51"),
        "{shown_original}"
    );
    run(&mut db, SESSION_CHANGE);
    let target = everything(&mut db);
    let shown_target = show();
    let script = snapshot::diff(&snap, &mut db, true, &[]).unwrap();
    assert!(script.notes.is_empty(), "{:?}", script.notes);
    let fwd = script.forward_sql();
    assert!(
        fwd.contains("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'")
            && fwd.contains("SET SESSION sql_mode = @devsky_sql_mode"),
        "{fwd}"
    );
    // A hostile session: other quoting and escaping rules, another time zone, latin1.
    let hostile = "USE shop; SET NAMES latin1; SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES', SESSION time_zone = '+05:30';";
    let after = "SELECT @@SESSION.sql_mode, @@SESSION.time_zone, @@SESSION.character_set_client, @@SESSION.foreign_key_checks;";
    let out = m.sql(&format!("{hostile}\n{}\n{after}", script.reverse_sql()));
    assert_eq!(
        out.trim(),
        "ANSI_QUOTES,NO_BACKSLASH_ESCAPES\t+05:30\tlatin1\t1",
        "the session is restored"
    );
    assert_same(&original, &everything(&mut db), "after the reverse");
    assert_eq!(
        show(),
        shown_original,
        "rows and AUTO_INCREMENT by the server"
    );
    m.sql(&format!("{hostile}\n{}", script.forward_sql()));
    assert_same(&target, &everything(&mut db), "after the forward");
    assert_eq!(show(), shown_target);
    // The same through devsky's own apply, from a hostile session of its connection.
    run(
        &mut db,
        "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'",
    );
    apply(&mut db, &script, true).unwrap();
    assert_same(&original, &everything(&mut db), "apply: after the reverse");
    assert_eq!(show(), shown_original);
}

#[test]
fn mariadb_verify_fails_on_a_lost_generated_expression_check_and_collation() {
    let (_m, url, mut db) = mariadb("shop");
    run(
        &mut db,
        "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, b INT NOT NULL DEFAULT 0)",
    );
    let snap = take(&mut db, &|_| Mode::Auto).unwrap();
    run(
        &mut db,
        "ALTER TABLE t ADD COLUMN g INT AS (b * 2) VIRTUAL, ADD COLUMN c VARCHAR(10) COLLATE utf8mb4_bin NULL, ADD CONSTRAINT b_pos CHECK (b >= 0)",
    );
    run(&mut db, "INSERT INTO t (id, b, c) VALUES (1, 2, 'x')");
    let script = snapshot::diff(&snap, &mut db, true, &[]).unwrap();
    assert!(script.notes.is_empty(), "{:?}", script.notes);
    let report = verify_mysql(&url, None, &snap, &script).unwrap();
    assert!(report.ok(), "{}", report.text());
    assert!(
        report.text().contains(
            "ok   the server shows the same tables again (SHOW CREATE TABLE, CHECKSUM TABLE, generated columns)"
        ),
        "{}",
        report.text()
    );

    for (what, from, to) in [
        (
            "generated expression",
            " GENERATED ALWAYS AS (`b` * 2) VIRTUAL",
            " DEFAULT NULL",
        ),
        ("collation", " COLLATE utf8mb4_bin", ""),
        ("CHECK", "CHECK (`b` >= 0)", "CHECK (1)"),
    ] {
        let mut lost = script.clone();
        let mut hit = false;
        for s in &mut lost.steps {
            if s.forward.contains(from) {
                s.forward = s.forward.replace(from, to);
                hit = true;
            }
        }
        assert!(hit, "{what}: `{from}` not in {}", script.forward_sql());
        let report = verify_mysql(&url, None, &snap, &lost).unwrap();
        let text = report.text();
        assert!(!report.ok(), "{what}: {text}");
        assert!(
            text.contains("FAIL the forward script then gives the database as it is now")
                && text.contains("CREATE TABLE lines differ")
                && text.contains(from.trim()),
            "{what}: the differing line is shown: {text}"
        );
    }
}

#[test]
fn sqlite_verify_compares_a_full_dump_and_fails_on_a_lost_counter_generated_expression_check_and_collation()
 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut db = sqlite_db(&path);
    run(
        &mut db,
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, b INT NOT NULL DEFAULT 0);
         INSERT INTO t (b) VALUES (1), (2), (3), (4), (5);
         DELETE FROM t WHERE id > 2;",
    );
    let snap = take(&mut db, &|_| Mode::Auto).unwrap();
    // The table gets a CHECK, a collated and a generated column, rebuilt by hand with its
    // AUTOINCREMENT counter (5, in sqlite_sequence) kept as it was.
    run(
        &mut db,
        "CREATE TABLE t2 (id INTEGER PRIMARY KEY AUTOINCREMENT, b INT NOT NULL DEFAULT 0 CHECK (b >= 0), c TEXT COLLATE NOCASE, g INT AS (b * 2) VIRTUAL);
         INSERT INTO t2 (id, b, c) SELECT id, b, 'x' FROM t;
         DROP TABLE t;
         ALTER TABLE t2 RENAME TO t;
         UPDATE sqlite_sequence SET seq = 5 WHERE name = 't';",
    );
    let script = snapshot::diff(&snap, &mut db, true, &[]).unwrap();
    assert!(script.notes.is_empty(), "{:?}", script.notes);
    let report = verify_sqlite(&path, &snap, &script).unwrap();
    let text = report.text();
    assert!(
        report.ok() && text.contains("ok   the server shows the same database again (a full dump)"),
        "the rebuild keeps the counter: {text}"
    );
    // A forward rebuild that does not carry the counter over loses it: the rows and the
    // CREATE text come back, the counter does not, and only the dump shows it.
    let mut lost = script.clone();
    for s in &mut lost.steps {
        s.forward = s
            .forward
            .lines()
            .filter(|l| !l.contains("sqlite_sequence"))
            .collect::<Vec<_>>()
            .join("\n");
    }
    assert_ne!(lost.forward_sql(), script.forward_sql());
    let report = verify_sqlite(&path, &snap, &lost).unwrap();
    let text = report.text();
    assert!(!report.ok(), "{text}");
    assert!(
        text.contains("ok   the forward script then gives the database as it is now")
            && text.contains("wanted: INSERT INTO \"sqlite_sequence\"(name,seq) VALUES('t',5);")
            && text.contains("found:  INSERT INTO \"sqlite_sequence\"(name,seq) VALUES('t',2);"),
        "the differing dump lines are shown: {text}"
    );

    for (what, from, to) in [
        ("generated expression", " AS (b * 2) VIRTUAL", ""),
        ("collation", " COLLATE NOCASE", ""),
        ("CHECK", " CHECK (b >= 0)", ""),
    ] {
        let mut lost = script.clone();
        let mut hit = false;
        for s in &mut lost.steps {
            if s.forward.contains(from) {
                s.forward = s.forward.replace(from, to);
                hit = true;
            }
        }
        assert!(hit, "{what}: `{from}` not in {}", script.forward_sql());
        let report = verify_sqlite(&path, &snap, &lost).unwrap();
        let text = report.text();
        assert!(!report.ok(), "{what}: {text}");
        assert!(
            text.contains("FAIL the forward script then gives the database as it is now")
                && text.contains(from.trim()),
            "{what}: the differing line is shown: {text}"
        );
    }
}
