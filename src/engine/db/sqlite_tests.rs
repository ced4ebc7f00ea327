//! Unit tests of the SQLite engine.

use super::*;
use crate::engine::db::collect;

fn db() -> (tempfile::TempDir, SqliteDb) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    Connection::open(&path).unwrap();
    let db = SqliteDb::open(&path).unwrap();
    (dir, db)
}

#[test]
fn open_refuses_missing_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let e = SqliteDb::open(&dir.path().join("nope.db")).err().unwrap();
    assert!(e.to_string().contains("does not exist"), "{e}");
    std::fs::write(
        dir.path().join("x.db"),
        b"not a database at all, really not".repeat(50),
    )
    .unwrap();
    let e = SqliteDb::open(&dir.path().join("x.db")).err().unwrap();
    assert!(
        format!("{e:#}").contains("not a usable SQLite database"),
        "{e:#}"
    );
}

#[test]
fn statements_events_and_values() {
    let (_d, mut db) = db();
    let sql = "CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT, b BLOB, f REAL);\n\
               INSERT INTO t(s, b, f) VALUES (NULL, x'00ff', 1.5), ('', NULL, NULL), ('😀', x'', 2);\n\
               SELECT * FROM t ORDER BY id";
    let r = collect(&mut db, sql).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[1].affected, 3);
    assert_eq!(r[1].last_insert_id, Some(3));
    assert_eq!(r[2].offset, sql.find("SELECT").unwrap());
    let names: Vec<(&str, &str)> = r[2]
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.type_name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("id", "INTEGER"),
            ("s", "TEXT"),
            ("b", "BLOB"),
            ("f", "REAL")
        ]
    );
    assert_eq!(
        r[2].rows,
        vec![
            vec![
                Value::Int(1),
                Value::Null,
                Value::Bytes(vec![0, 255]),
                Value::Float(1.5)
            ],
            vec![
                Value::Int(2),
                Value::Text(String::new()),
                Value::Null,
                Value::Null
            ],
            vec![
                Value::Int(3),
                Value::Text("😀".into()),
                Value::Bytes(vec![]),
                Value::Float(2.0)
            ],
        ]
    );
    assert_eq!(r[0].affected, 0);
}

#[test]
fn rows_come_in_batches_and_the_sink_can_stop() {
    let (_d, mut db) = db();
    collect(&mut db, "CREATE TABLE n(i); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1200) INSERT INTO n SELECT x FROM c").unwrap();
    let mut batches = Vec::new();
    db.run("SELECT i FROM n", &mut |ev| {
        if let QueryEvent::Rows(r) = ev {
            batches.push(r.len());
        }
        true
    })
    .unwrap();
    assert_eq!(batches, [500, 500, 200]);
    let mut seen = 0;
    let mut statements = 0;
    db.run("SELECT i FROM n; SELECT 2", &mut |ev| match ev {
        QueryEvent::Statement { .. } => {
            statements += 1;
            true
        }
        QueryEvent::Rows(r) => {
            seen += r.len();
            false
        }
        _ => true,
    })
    .unwrap();
    assert_eq!((seen, statements), (500, 1));
}

#[test]
fn errors_carry_statement_and_offset() {
    let (_d, mut db) = db();
    let sql = "SELECT 1;\nSELECT * FROMM x;";
    let e = collect(&mut db, sql).unwrap_err();
    assert_eq!(e.statement, 1);
    assert!(e.message.contains("syntax error"), "{}", e.message);
    assert_eq!(e.offset, Some(sql.find("FROMM").unwrap()), "{e:?}");
    let e = collect(&mut db, "SELECT 1; SELECT nope FROM missing").unwrap_err();
    assert!(e.message.contains("no such table: missing"), "{e:?}");
    assert_eq!((e.statement, e.offset), (1, Some(10)));
    assert!(!e.cancelled);
}

#[test]
fn cancel_from_another_thread() {
    let (_d, mut db) = db();
    let c = db.canceller();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        c.cancel();
    });
    let started = Instant::now();
    let e = collect(
        &mut db,
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c; SELECT 2",
    )
    .unwrap_err();
    t.join().unwrap();
    assert!(e.cancelled, "{e:?}");
    assert_eq!(e.statement, 0);
    assert!(started.elapsed() < Duration::from_secs(5));
    // The connection still works afterwards.
    assert_eq!(
        collect(&mut db, "SELECT 7").unwrap()[0].rows,
        vec![vec![Value::Int(7)]]
    );
}

const SCHEMA: &str = "
CREATE TABLE parent(id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL UNIQUE);
CREATE TABLE child(
  a INTEGER NOT NULL, b TEXT NOT NULL DEFAULT 'x', note VARCHAR(20) DEFAULT NULL,
  made TIMESTAMP DEFAULT current_timestamp, n INT,
  parent_id INTEGER REFERENCES parent ON DELETE CASCADE,
  PRIMARY KEY (a, b)
);
CREATE INDEX child_note ON child(note, n);
CREATE UNIQUE INDEX child_n ON child(n);
";

#[test]
fn tables_are_normalized() {
    let (_d, mut db) = db();
    collect(&mut db, SCHEMA).unwrap();
    let t = db.tables().unwrap();
    let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["child", "parent"], "sqlite_sequence is internal");
    let child = &t[0];
    assert_eq!(child.primary_key, ["a", "b"]);
    let col = |n: &str| child.columns.iter().find(|c| c.name == n).unwrap();
    assert_eq!(col("a").data_type, "integer");
    assert!(!col("a").nullable);
    assert_eq!(col("b").default.as_deref(), Some("'x'"));
    assert_eq!(col("note").data_type, "varchar(20)");
    assert_eq!(col("note").default.as_deref(), Some("NULL"));
    assert_eq!(
        col("n").default.as_deref(),
        Some("NULL"),
        "nullable without default"
    );
    assert_eq!(col("made").default.as_deref(), Some("CURRENT_TIMESTAMP"));
    let idx: Vec<(&str, Vec<String>, bool)> = child
        .indexes
        .iter()
        .map(|i| (i.name.as_str(), i.columns.clone(), i.unique))
        .collect();
    assert_eq!(
        idx,
        [
            ("child_n", vec!["n".to_string()], true),
            ("child_note", vec!["note".into(), "n".into()], false)
        ]
    );
    assert_eq!(child.foreign_keys.len(), 1);
    let fk = &child.foreign_keys[0];
    assert_eq!(
        (fk.ref_table.as_str(), fk.ref_columns.clone()),
        ("parent", vec!["id".to_string()])
    );
    assert_eq!(
        (fk.on_delete.as_str(), fk.on_update.as_str()),
        ("CASCADE", "NO ACTION")
    );
    assert!(child.create_sql.starts_with("CREATE TABLE child("));
    let parent = &t[1];
    assert_eq!(parent.columns[0].extra, "auto_increment");
    assert!(!parent.columns[0].nullable);
    assert!(parent.indexes.is_empty(), "autoindexes are skipped");
    assert_eq!(parent.options, "");

    // The same DDL elsewhere compares equal.
    let (_d2, mut other) = super::tests::db();
    collect(&mut other, SCHEMA).unwrap();
    collect(&mut other, "INSERT INTO parent(code) VALUES ('z')").unwrap();
    assert_eq!(other.tables().unwrap(), t);
}

fn schema_of(db: &mut SqliteDb, name: &str) -> TableSchema {
    db.tables()
        .unwrap()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap()
}

#[test]
fn checksums_and_rows_in_key_order() {
    let (_d, mut db) = db();
    collect(
        &mut db,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 2500)
         INSERT INTO t SELECT 2501 - x, 'v' || x, NULL FROM c;",
    )
    .unwrap();
    let t = schema_of(&mut db, "t");
    let a = db.checksum_chunks(&t, 1000).unwrap();
    assert_eq!(
        a.iter().map(|c| c.rows).collect::<Vec<_>>(),
        [1000, 1000, 500]
    );
    assert_eq!(
        (a[0].lo.clone(), a[0].hi.clone()),
        (vec!["1".to_string()], vec!["1000".to_string()])
    );
    assert_eq!(a[2].hi, ["2500"]);
    assert_eq!(db.checksum_chunks(&t, 1000).unwrap(), a, "deterministic");
    collect(&mut db, "UPDATE t SET v = 'changed' WHERE id = 1500").unwrap();
    let b = db.checksum_chunks(&t, 1000).unwrap();
    assert_eq!(a[0], b[0]);
    assert_ne!(a[1].checksum, b[1].checksum);
    assert_eq!(a[2], b[2]);
    // NULL and '' differ.
    collect(&mut db, "UPDATE t SET b = x'' WHERE id = 2000").unwrap();
    assert_ne!(db.checksum_chunks(&t, 1000).unwrap()[1], b[1]);

    let mut ids = Vec::new();
    db.rows(&t, &mut |batch| {
        ids.extend(batch.into_iter().map(|r| r[0].clone()));
        Ok(())
    })
    .unwrap();
    assert_eq!(ids.len(), 2500);
    assert_eq!(
        (ids[0].clone(), ids[2499].clone()),
        (Value::Int(1), Value::Int(2500))
    );
    let e = db
        .rows(&t, &mut |_| anyhow::bail!("sink says no"))
        .unwrap_err();
    assert!(e.to_string().contains("sink says no"));
}

#[test]
fn apply_script_commits_or_rolls_back() {
    let (_d, mut db) = db();
    let r = db
        .apply_script(
            "CREATE TABLE a(x INTEGER PRIMARY KEY, y);\n\
             CREATE TRIGGER a_t AFTER INSERT ON a BEGIN UPDATE a SET y = 'set'; END;\n\
             INSERT INTO a(x) VALUES (1);",
        )
        .unwrap();
    assert_eq!(r.statements, 3);
    let rows = |db: &mut SqliteDb| {
        collect(db, "SELECT x, y FROM a ORDER BY x")
            .unwrap()
            .remove(0)
            .rows
    };
    assert_eq!(
        rows(&mut db),
        vec![vec![Value::Int(1), Value::Text("set".into())]]
    );
    let script = "INSERT INTO a(x) VALUES (2);\nCREATE TABLE b(z);\nINSERT INTO nope VALUES (1);";
    let e = db.apply_script(script).unwrap_err();
    assert_eq!(e.error.statement, 2);
    assert_eq!(
        e.error.offset,
        Some(script.find("INSERT INTO nope").unwrap())
    );
    assert!(e.committed.is_empty());
    assert_eq!(rows(&mut db).len(), 1, "the insert was rolled back");
    assert!(
        db.tables().unwrap().iter().all(|t| t.name != "b"),
        "DDL too"
    );
    assert_eq!(db.describe(), format!("sqlite {}", db.path.display()));
}
