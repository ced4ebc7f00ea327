//! Benchmarks of the database engine against a private MariaDB started here:
//! - data checksum of a 1,000,000-row, 5-column table in primary-key chunks
//!   (target: >= 1M rows/s), with the ratio to one plain CRC32/BIT_XOR checksum query over
//!   the same table in the same run;
//! - schema introspection of 300 tables with 60 views, 60 triggers and 60 routines on two
//!   schemas and their diff (target: < 2 s);
//! - first rows of a 1,000,000-row SELECT through the streaming `Db::run` (what the Query
//!   screen shows first; target: < 300 ms), and the rows held when the screen's limit stops
//!   the stream.
//!
//!     cargo bench --bench db          (needs mariadb-server; scripts/test installs it)

#[path = "../tests/support/mariadb.rs"]
#[allow(dead_code)] // the tests use more of it than the benchmark
mod mariadb;

use std::time::Instant;

use devsky::engine::db::mysql::MysqlDb;
use devsky::engine::db::{Db, Kind, QueryEvent, url};
use devsky::engine::db::{db_objects, schema_diff};
use devsky::shell::harness::Harness;

fn connect(server: &mariadb::MariaDb, db: &str) -> MysqlDb {
    let parsed = url::parse(&server.url(db)).expect("url");
    MysqlDb::connect(&parsed.url, None).expect("connect")
}

fn main() {
    let server = mariadb::MariaDb::start();
    server.sql("SET GLOBAL max_recursive_iterations = 2000000");
    server.sql(
        "CREATE DATABASE bench; USE bench;
         CREATE TABLE t (id INT PRIMARY KEY, a INT NOT NULL, b BIGINT, c VARCHAR(32), d INT) ENGINE=InnoDB;
         INSERT INTO t WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000000)
           SELECT n, n * 7, n * 1000003, CONCAT('row ', n), n % 97 FROM s;",
    );
    let mut db = connect(&server, "bench");
    let tables = db.tables().expect("tables");
    let t = tables.iter().find(|t| t.name == "t").expect("table t");

    // warm the buffer pool, then time both
    db.checksum_chunks(t, 100_000).expect("checksum");
    let plain = "SELECT COUNT(*), BIT_XOR(CAST(CRC32(CONCAT_WS('#', id, a, b, c, d, \
                 CONCAT(ISNULL(id), ISNULL(a), ISNULL(b), ISNULL(c), ISNULL(d)))) AS UNSIGNED)) FROM t";
    let mut best_ours = f64::MAX;
    let mut best_plain = f64::MAX;
    for _ in 0..3 {
        let s = Instant::now();
        let chunks = db.checksum_chunks(t, 100_000).expect("checksum");
        best_ours = best_ours.min(s.elapsed().as_secs_f64());
        assert_eq!(chunks.iter().map(|c| c.rows).sum::<u64>(), 1_000_000);
        let s = Instant::now();
        db.run(plain, &mut |_| true).expect("plain checksum");
        best_plain = best_plain.min(s.elapsed().as_secs_f64());
    }
    println!(
        "db checksum: 1,000,000 rows x 5 columns in chunks of 100,000: {:.3} s = {:.2}M rows/s (target >= 1M rows/s); \
         one CRC32/BIT_XOR query {:.3} s = {:.2}M rows/s; ratio {:.2}",
        best_ours,
        1.0 / best_ours,
        best_plain,
        1.0 / best_plain,
        best_ours / best_plain
    );

    // 300 tables on two schemas, 30 of them changed
    let mut ddl = String::new();
    for i in 0..300 {
        let fk = if i > 0 && i % 10 == 0 {
            format!(
                ", parent_id INT, KEY k_parent (parent_id), CONSTRAINT fk_{i} FOREIGN KEY (parent_id) REFERENCES t{:03} (id)",
                i - 1
            )
        } else {
            String::new()
        };
        ddl.push_str(&format!(
            "CREATE TABLE t{i:03} (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100) NOT NULL, email VARCHAR(190), \
             created DATETIME DEFAULT CURRENT_TIMESTAMP, score DECIMAL(10,2) DEFAULT 0, body TEXT, UNIQUE KEY u_email (email), \
             KEY k_name (name){fk}) ENGINE=InnoDB;\n"
        ));
    }
    // and with them 60 views (every tenth reading the one before), 60 triggers,
    // 30 procedures and 30 functions
    let mut objects = Vec::new();
    for i in (0..300).step_by(5) {
        let from = if i % 50 == 10 {
            format!("v{:03}", i - 5)
        } else {
            format!("t{i:03}")
        };
        objects.push(format!(
            "CREATE VIEW v{i:03} AS SELECT id, name, score FROM {from} WHERE score >= 0"
        ));
        objects.push(format!(
            "CREATE TRIGGER tr{i:03} BEFORE INSERT ON t{i:03} FOR EACH ROW SET NEW.score = GREATEST(NEW.score, 0)"
        ));
    }
    for i in (0..300).step_by(10) {
        objects.push(format!(
            "CREATE PROCEDURE p{i:03}(IN n INT) SELECT COUNT(*) FROM t{i:03} WHERE id > n"
        ));
        objects.push(format!(
            "CREATE FUNCTION f{i:03}(x DECIMAL(10,2)) RETURNS DECIMAL(10,2) DETERMINISTIC RETURN x * 2"
        ));
    }
    server.sql("CREATE DATABASE s1; CREATE DATABASE s2;");
    for schema in ["s1", "s2"] {
        let mut db = connect(&server, schema);
        db.run(&ddl, &mut |_| true).expect("create 300 tables");
        for sql in &objects {
            db.run(sql, &mut |_| true)
                .expect("create views, triggers, routines");
        }
    }
    let mut changes = String::new();
    for i in (5..300).step_by(10) {
        changes.push_str(&format!("ALTER TABLE t{i:03} ADD COLUMN extra INT NULL, ADD KEY k_score (score), MODIFY name VARCHAR(150) NOT NULL;"));
    }
    // ... and 12 views, 12 triggers, 3 procedures and 3 functions changed
    for i in (0..300).step_by(25) {
        changes.push_str(&format!(
            "CREATE OR REPLACE VIEW v{i:03} AS SELECT id, name FROM t{i:03};\
             DROP TRIGGER tr{i:03}; CREATE TRIGGER tr{i:03} BEFORE UPDATE ON t{i:03} FOR EACH ROW SET NEW.score = 0;"
        ));
    }
    for i in (0..300).step_by(100) {
        changes.push_str(&format!(
            "DROP PROCEDURE p{i:03}; CREATE PROCEDURE p{i:03}() SELECT 1;\
             DROP FUNCTION f{i:03}; CREATE FUNCTION f{i:03}(x INT) RETURNS INT DETERMINISTIC RETURN x;"
        ));
    }
    let mut s2 = connect(&server, "s2");
    for sql in changes.split(';').filter(|s| !s.trim().is_empty()) {
        s2.run(sql, &mut |_| true)
            .expect("change 30 tables and objects");
    }
    let (mut a, mut b) = (connect(&server, "s1"), connect(&server, "s2"));
    let s = Instant::now();
    let ta = a.tables().expect("tables s1");
    let tb = b.tables().expect("tables s2");
    let intro_tables = s.elapsed().as_secs_f64();
    let s = Instant::now();
    let oa = a.objects().expect("objects s1");
    let ob = b.objects().expect("objects s2");
    let intro_objects = s.elapsed().as_secs_f64();
    let s = Instant::now();
    let mut steps = schema_diff::diff(Kind::Mysql, &ta, &tb, &[], &|_| Some(0));
    steps.extend(db_objects::diff(Kind::Mysql, &oa, &ob, &[]));
    let d = s.elapsed().as_secs_f64();
    assert_eq!(ta.len(), 300);
    assert_eq!(
        oa.len(),
        180,
        "60 views, 60 triggers, 30 procedures, 30 functions"
    );
    assert!(!steps.is_empty());
    println!(
        "db schema: introspection of 2 x (300 tables {intro_tables:.3} s + 60 views, 60 triggers, 60 routines {intro_objects:.3} s), \
         diff {d:.4} s ({} steps): total {:.3} s (target < 2 s)",
        steps.len(),
        intro_tables + intro_objects + d
    );

    // first rows of a 1M-row SELECT, stopped at the Query screen's limit
    let s = Instant::now();
    let mut first = None;
    let mut held = 0usize;
    db.run("SELECT * FROM t", &mut |ev| {
        if let QueryEvent::Rows(rows) = ev {
            first.get_or_insert_with(|| s.elapsed().as_secs_f64());
            held += rows.len();
            return held < 1000;
        }
        true
    })
    .expect("select");
    let stopped = s.elapsed().as_secs_f64();
    println!(
        "db select: 1,000,000-row SELECT through Db::run: first rows after {:.1} ms; stopped at {held} rows (the limit) after {:.1} ms",
        first.unwrap_or(f64::NAN) * 1000.0,
        stopped * 1000.0
    );

    // The same SELECT in the Query screen (ratatui TestBackend): key to first rows drawn.
    let project = tempfile::tempdir().expect("temp project");
    let store = devsky::store::Store::open_project(project.path(), true).expect("store");
    devsky::engine::db::profile::add(&store, "bench", &server.url("bench"), None).expect("profile");
    let mut h = Harness::new(project.path(), 120, 40).expect("harness");
    h.key("5");
    h.wait_for("Connect to");
    h.key("enter");
    h.wait_for("connected:");
    h.type_text("SELECT * FROM t");
    let s = Instant::now();
    h.key("ctrl-r");
    h.wait_for("row 1 ");
    let on_screen = s.elapsed().as_secs_f64();
    let screen = h.wait_for("showing");
    let shown = screen
        .lines()
        .find(|l| l.contains("showing"))
        .unwrap_or("")
        .trim()
        .to_string();
    println!(
        "db select: 1,000,000-row SELECT in the Query screen: first rows on screen after {:.1} ms (target < 300 ms); {shown}",
        on_screen * 1000.0
    );
}
