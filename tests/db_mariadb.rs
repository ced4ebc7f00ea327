//! The MySQL engine against real, private MariaDB servers (tests/support/mariadb.rs).

mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use devsky::engine::db::mysql::MysqlDb;
use devsky::engine::db::url::{DbUrl, parse};
use devsky::engine::db::{Db, Kind, QueryEvent, TableSchema, Value, collect, profile};
use support::mariadb::MariaDb;

fn url(s: &str) -> DbUrl {
    parse(s).unwrap().url
}

/// A server with an empty utf8mb4 database `t`, and a connection to it.
fn server() -> (MariaDb, MysqlDb) {
    let m = MariaDb::start();
    m.sql("CREATE DATABASE t CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
    let db = MysqlDb::connect(&url(&m.url("t")), None).unwrap();
    (m, db)
}

fn table(db: &mut MysqlDb, name: &str) -> TableSchema {
    db.tables()
        .unwrap()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap()
}

#[test]
fn socket_connection_values_round_trip() {
    let (_m, mut db) = server();
    assert_eq!(db.kind(), Kind::Mysql);
    assert!(
        db.server_version().contains("MariaDB"),
        "{}",
        db.server_version()
    );
    assert_eq!(db.describe(), "mysql root@localhost/t");
    let blob: Vec<u8> = vec![0, 0xff, 0xfe, b'a', 0x80];
    let sql = "CREATE TABLE v (id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(20) NULL, b BLOB NULL, \
               n BIGINT UNSIGNED NULL, d DECIMAL(10,2) NULL, f DOUBLE NULL, at DATETIME NULL);\n\
               INSERT INTO v (s, b, n, d, f, at) VALUES (NULL, NULL, NULL, NULL, NULL, NULL), ('', '', 18446744073709551615, 12.50, 0.25, '2024-02-29 13:14:15'), ('😀 é', 0x00FFFE6180, 0, -1, -2, NULL);\n\
               SELECT * FROM v ORDER BY id";
    let r = collect(&mut db, sql).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[1].affected, 3);
    assert_eq!(r[1].last_insert_id, Some(1));
    assert_eq!(r[2].offset, sql.find("SELECT").unwrap());
    let types: Vec<&str> = r[2].columns.iter().map(|c| c.type_name.as_str()).collect();
    assert_eq!(
        types,
        [
            "INT",
            "VARCHAR",
            "BLOB",
            "BIGINT UNSIGNED",
            "DECIMAL",
            "DOUBLE",
            "DATETIME"
        ]
    );
    use Value::*;
    assert_eq!(
        r[2].rows[0],
        vec![Int(1), Null, Null, Null, Null, Null, Null]
    );
    assert_eq!(
        r[2].rows[1],
        vec![
            Int(2),
            Text(String::new()),
            Bytes(Vec::new()),
            UInt(u64::MAX),
            Text("12.50".into()),
            Float(0.25),
            Text("2024-02-29 13:14:15".into())
        ]
    );
    assert_eq!(
        r[2].rows[2],
        vec![
            Int(3),
            Text("😀 é".into()),
            Bytes(blob),
            UInt(0),
            Text("-1.00".into()),
            Float(-2.0),
            Null
        ]
    );
    // Rows arrive in batches of at most 500; a sink that says stop ends the query and the
    // connection stays usable.
    collect(
        &mut db,
        "SET max_recursive_iterations = 100000; CREATE TABLE many (i INT PRIMARY KEY); INSERT INTO many WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1600) SELECT x FROM c",
    )
    .unwrap();
    let mut batches = Vec::new();
    db.run("SELECT i FROM many ORDER BY i", &mut |ev| {
        if let QueryEvent::Rows(r) = ev {
            batches.push(r.len());
        }
        true
    })
    .unwrap();
    assert_eq!(batches, [500, 500, 500, 100]);
    let mut got = 0;
    db.run(
        "SELECT a.i FROM many a, many b; SELECT 1",
        &mut |ev| match ev {
            QueryEvent::Rows(r) => {
                got += r.len();
                false
            }
            _ => true,
        },
    )
    .unwrap();
    assert_eq!(got, 500);
    // Stopping a query that already finished on the server leaves the next one alone.
    for _ in 0..5 {
        db.run("SELECT 1", &mut |ev| !matches!(ev, QueryEvent::Columns(_)))
            .unwrap();
        db.run("SELECT i FROM many LIMIT 600", &mut |ev| {
            !matches!(ev, QueryEvent::Rows(_))
        })
        .unwrap();
        assert_eq!(
            collect(&mut db, "SELECT 41 + 1").unwrap()[0].rows,
            vec![vec![Int(42)]]
        );
    }
    assert_eq!(
        collect(&mut db, "SELECT 42").unwrap()[0].rows,
        vec![vec![Int(42)]]
    );
}

#[test]
fn delimiter_procedures_and_several_result_sets() {
    let (_m, mut db) = server();
    let sql = "CREATE TABLE p (x INT);\n\
               DELIMITER //\n\
               CREATE PROCEDURE fill(IN n INT)\n\
               BEGIN\n  DECLARE i INT DEFAULT 0;\n  WHILE i < n DO\n    INSERT INTO p VALUES (i); SET i = i + 1;\n  END WHILE;\n  SELECT COUNT(*) AS c FROM p;\n  SELECT 'done;' AS s;\nEND//\n\
               DELIMITER ;\n\
               CALL fill(5);";
    let mut events = Vec::new();
    db.run(sql, &mut |ev| {
        events.push(ev);
        true
    })
    .unwrap();
    let statements = events
        .iter()
        .filter(|e| matches!(e, QueryEvent::Statement { .. }))
        .count();
    assert_eq!(statements, 3);
    let rows: Vec<&Vec<Vec<Value>>> = events
        .iter()
        .filter_map(|e| match e {
            QueryEvent::Rows(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        rows,
        [
            &vec![vec![Value::Int(5)]],
            &vec![vec![Value::Text("done;".into())]]
        ]
    );
    assert!(matches!(events.last(), Some(QueryEvent::Done { .. })));
}

#[test]
fn syntax_errors_point_into_the_statement() {
    let (_m, mut db) = server();
    let sql = "SELECT 1;\nSELECT *\n  FROMM dual WHERE 1";
    let e = collect(&mut db, sql).unwrap_err();
    assert_eq!(e.statement, 1);
    assert!(
        e.message.contains("ERROR 1064") && e.message.contains("at line 2"),
        "{}",
        e.message
    );
    let want = sql.find("FROMM").unwrap();
    let got = e.offset.unwrap();
    assert_eq!(got, want, "{}", e.message);
    assert!(!e.cancelled);
    // Text cut at the end of the statement points at its end.
    let e = collect(&mut db, "SELECT (1").unwrap_err();
    assert_eq!(e.offset, Some(9), "{}", e.message);
}

#[test]
fn cancel_sleep_from_another_thread() {
    let (_m, mut db) = server();
    let c = db.canceller();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        c.cancel();
    });
    let started = Instant::now();
    let e = collect(&mut db, "SELECT SLEEP(10); SELECT 2").unwrap_err();
    t.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(e.cancelled, "{e:?}");
    assert_eq!(e.statement, 0);
    assert_eq!(
        collect(&mut db, "SELECT 3").unwrap()[0].rows,
        vec![vec![Value::Int(3)]]
    );
}

#[test]
fn wrong_password_names_user_and_host_only() {
    let m = MariaDb::start_tcp();
    m.sql("CREATE DATABASE shop; CREATE USER 'app'@'%' IDENTIFIED BY 'right-pass-1'; GRANT ALL ON shop.* TO 'app'@'%'");
    let u = url(&m.tcp_url("app", "shop"));
    let e = MysqlDb::connect(&u, Some("wrong-pass-XYZ")).err().unwrap();
    assert!(e.access_denied);
    let text = format!("{e} {e:?}");
    assert!(!text.contains("wrong-pass-XYZ"), "{text}");
    assert!(text.contains("Access denied for user 'app'@'"), "{text}");
    assert!(
        text.contains(&format!("app@127.0.0.1:{}", m.port.unwrap())),
        "{text}"
    );
    let mut db = MysqlDb::connect(&u, Some("right-pass-1")).unwrap();
    assert_eq!(
        collect(&mut db, "SELECT CURRENT_USER()").unwrap()[0].rows[0],
        vec![Value::Text("app@%".into())]
    );

    // Through a profile: no password found, refused; the prompt's answer is tried next.
    let dir = tempfile::tempdir().unwrap();
    let store = devsky::store::Store::open_project(dir.path(), true).unwrap();
    let with_pw = format!(
        "mysql://app:right-pass-1@127.0.0.1:{}/shop",
        m.port.unwrap()
    );
    let added = profile::add(&store, "shop", &with_pw, Some("DEVSKY_TEST_NEVER_SET_2")).unwrap();
    assert!(added.password_dropped);
    let e = profile::connect(dir.path(), &store, "shop", None)
        .err()
        .unwrap();
    let text = format!("{e:#} {e:?}");
    assert!(
        text.contains("(using password: NO)") && text.contains("$DEVSKY_TEST_NEVER_SET_2"),
        "{text}"
    );
    let wrong = || Some("wrong-pass-XYZ".to_string());
    let e = profile::connect(dir.path(), &store, "shop", Some(&wrong))
        .err()
        .unwrap();
    assert!(!format!("{e:#} {e:?}").contains("wrong-pass-XYZ"));
    let prompt = || Some("right-pass-1".to_string());
    let mut db = profile::connect(dir.path(), &store, "shop", Some(&prompt)).unwrap();
    assert_eq!(
        collect(db.as_mut(), "SELECT 1").unwrap()[0].rows[0],
        vec![Value::Int(1)]
    );
}

#[test]
fn server_killed_mid_query_is_an_error() {
    let (mut m, mut db) = server();
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let r = collect(&mut db, "SELECT SLEEP(30)");
        tx.send(r.map(|_| ())).unwrap();
        // The next call tries to reconnect and says why it cannot.
        let again = collect(&mut db, "SELECT 1").unwrap_err();
        (db, again)
    });
    std::thread::sleep(Duration::from_millis(500));
    m.kill();
    let r = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("the query did not return");
    let e = r.unwrap_err();
    assert!(
        e.message
            .contains("lost the connection to mysql://root@localhost/t"),
        "{}",
        e.message
    );
    let (_db, again) = t.join().unwrap();
    assert!(
        again.message.contains("cannot connect"),
        "{}",
        again.message
    );
}

const DDL: &str = "
CREATE TABLE parent (id INT UNSIGNED NOT NULL AUTO_INCREMENT, code VARCHAR(20) NOT NULL,
  PRIMARY KEY (id), UNIQUE KEY parent_code (code)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE child (
  a INT NOT NULL, b VARCHAR(10) NOT NULL DEFAULT 'x', note TEXT NULL, qty DECIMAL(8,2) NOT NULL DEFAULT 0.00,
  quoted VARCHAR(10) NULL DEFAULT 'it''s', made TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  parent_id INT UNSIGNED NULL,
  PRIMARY KEY (a, b), KEY child_note (note(10), qty),
  CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE VIEW child_view AS SELECT a FROM child;
";

#[test]
fn tables_are_normalized_and_equal_on_two_servers() {
    let (_m1, mut one) = server();
    let (_m2, mut two) = server();
    collect(&mut one, DDL).unwrap();
    collect(&mut two, DDL).unwrap();
    collect(
        &mut two,
        "INSERT INTO parent (code) VALUES ('a'), ('b'), ('c')",
    )
    .unwrap();
    let t = one.tables().unwrap();
    assert_eq!(t, two.tables().unwrap());
    let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["child", "parent"], "views are not tables");
    let child = &t[0];
    assert_eq!(child.primary_key, ["a", "b"]);
    assert_eq!(child.options, "InnoDB utf8mb4 utf8mb4_unicode_ci");
    let col = |n: &str| child.columns.iter().find(|c| c.name == n).unwrap().clone();
    assert_eq!(col("a").data_type, "int(11)");
    assert_eq!(col("b").default.as_deref(), Some("'x'"));
    assert_eq!(col("note").default.as_deref(), Some("NULL"));
    assert_eq!(col("qty").default.as_deref(), Some("0.00"));
    assert_eq!(col("quoted").default.as_deref(), Some("'it''s'"));
    assert_eq!(col("made").default.as_deref(), Some("CURRENT_TIMESTAMP"));
    assert_eq!(col("made").extra, "on update current_timestamp");
    assert!(!col("a").nullable && col("parent_id").nullable);
    assert_eq!(col("parent_id").data_type, "int(10) unsigned");
    let idx: Vec<(String, Vec<String>, bool)> = child
        .indexes
        .iter()
        .map(|i| (i.name.clone(), i.columns.clone(), i.unique))
        .collect();
    assert_eq!(
        idx,
        [
            (
                "child_note".to_string(),
                vec!["note(10)".to_string(), "qty".into()],
                false
            ),
            (
                "child_parent".to_string(),
                vec!["parent_id".to_string()],
                false
            )
        ]
    );
    let fk = &child.foreign_keys[0];
    assert_eq!(
        (
            fk.name.as_str(),
            fk.columns.clone(),
            fk.ref_table.as_str(),
            fk.ref_columns.clone()
        ),
        (
            "child_parent",
            vec!["parent_id".to_string()],
            "parent",
            vec!["id".to_string()]
        )
    );
    assert_eq!(
        (fk.on_delete.as_str(), fk.on_update.as_str()),
        ("CASCADE", "RESTRICT")
    );
    let parent = &t[1];
    assert_eq!(parent.columns[0].extra, "auto_increment");
    assert_eq!(parent.indexes[0].name, "parent_code");
    assert!(parent.indexes[0].unique);
    assert!(parent.create_sql.starts_with("CREATE TABLE `parent`"));
    assert!(
        !parent.create_sql.contains("AUTO_INCREMENT="),
        "{}",
        parent.create_sql
    );
}

#[test]
fn checksum_chunks_find_the_changed_row() {
    let (_m, mut db) = server();
    collect(
        &mut db,
        "SET max_recursive_iterations = 100000;
         CREATE TABLE big (id INT PRIMARY KEY, s VARCHAR(20) NULL, n INT NULL, b BLOB NULL);
         INSERT INTO big WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000)
           SELECT x, CONCAT('v', x), IF(x % 7 = 0, NULL, x), NULL FROM c;",
    )
    .unwrap();
    let t = table(&mut db, "big");
    // A single integer key is chunked in fixed key ranges [k*1000, (k+1)*1000).
    let a = db.checksum_chunks(&t, 1000).unwrap();
    assert_eq!(a.len(), 11);
    assert_eq!(a.iter().map(|c| c.rows).sum::<u64>(), 10_000);
    assert_eq!(
        (a[0].lo.clone(), a[0].hi.clone(), a[0].rows),
        (vec!["0".to_string()], vec!["999".to_string()], 999)
    );
    assert_eq!(
        (a[10].hi.clone(), a[10].rows),
        (vec!["10999".to_string()], 1)
    );
    assert_eq!(db.checksum_chunks(&t, 1000).unwrap(), a);
    collect(&mut db, "UPDATE big SET s = 'changed' WHERE id = 4321").unwrap();
    let b = db.checksum_chunks(&t, 1000).unwrap();
    let differ: Vec<usize> = (0..11).filter(|&i| a[i] != b[i]).collect();
    assert_eq!(differ, [4]);
    // NULL and '' are different values.
    collect(&mut db, "UPDATE big SET b = '' WHERE id = 9000").unwrap();
    let c = db.checksum_chunks(&t, 1000).unwrap();
    let differ: Vec<usize> = (0..11).filter(|&i| b[i] != c[i]).collect();
    assert_eq!(differ, [9]);
    // Inserting elsewhere does not move the other chunks; a gap is skipped.
    collect(&mut db, "INSERT INTO big VALUES (50000, 'far', 1, NULL)").unwrap();
    let d = db.checksum_chunks(&t, 1000).unwrap();
    assert_eq!(d.len(), 12);
    assert_eq!(&d[..11], &c[..]);
    assert_eq!(d[11].lo, ["50000"]);

    // A composite key, chunks that do not divide evenly.
    collect(
        &mut db,
        "CREATE TABLE pair (g INT, k VARCHAR(5), v INT, PRIMARY KEY (g, k));
         INSERT INTO pair WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 2999)
           SELECT x DIV 10, LPAD(x % 10, 3, '0'), x FROM c;",
    )
    .unwrap();
    let p = table(&mut db, "pair");
    let chunks = db.checksum_chunks(&p, 700).unwrap();
    assert_eq!(
        chunks.iter().map(|c| c.rows).collect::<Vec<_>>(),
        [700, 700, 700, 700, 200]
    );
    assert_eq!(chunks[0].hi, ["69", "009"]);
    assert_eq!(chunks[1].lo, ["70", "000"]);
    let mut keys = Vec::new();
    db.rows(&p, &mut |batch| {
        keys.extend(batch.into_iter().map(|r| r[2].clone()));
        Ok(())
    })
    .unwrap();
    assert_eq!(keys.len(), 3000);
    assert!(
        keys.iter()
            .enumerate()
            .all(|(i, v)| *v == Value::Int(i as i64))
    );
}

#[test]
fn apply_script_rolls_back_dml_and_reports_committed_ddl() {
    let (_m, mut db) = server();
    collect(&mut db, "CREATE TABLE t (x INT PRIMARY KEY)").unwrap();
    let count =
        |db: &mut MysqlDb| collect(db, "SELECT COUNT(*) FROM t").unwrap()[0].rows[0][0].clone();
    let e = db
        .apply_script(
            "INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\nINSERT INTO nope VALUES (3);",
        )
        .unwrap_err();
    assert_eq!(e.error.statement, 2);
    assert!(e.error.message.contains("nope"), "{}", e.error.message);
    assert!(e.committed.is_empty());
    assert_eq!(count(&mut db), Value::Int(0), "rolled back");

    let script = "INSERT INTO t VALUES (1);\nCREATE TABLE u (y INT);\nINSERT INTO t VALUES (2);\nINSERT INTO t VALUES (2);";
    let e = db.apply_script(script).unwrap_err();
    assert_eq!(e.error.statement, 3);
    assert_eq!(
        e.committed,
        ["INSERT INTO t VALUES (1)", "CREATE TABLE u (y INT)"]
    );
    assert_eq!(
        count(&mut db),
        Value::Int(1),
        "the insert before the DDL was committed with it"
    );
    assert!(db.tables().unwrap().iter().any(|t| t.name == "u"));
    assert!(format!("{e}").starts_with("statement 4 failed"), "{e}");

    let r = db
        .apply_script("INSERT INTO t VALUES (5); UPDATE t SET x = 6 WHERE x = 5")
        .unwrap();
    assert_eq!(r.statements, 2);
    assert_eq!(count(&mut db), Value::Int(2));
}
