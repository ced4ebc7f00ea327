//! The server-side prefilter of database searches, on SQLite and a private MariaDB: on a
//! big table with few matches only the rows that can match are read (`rows_read`), and the
//! results are those of a run that reads every row. Matches hidden in JSON-escaped and
//! serialized values are still found. And `--base64`: base64'd values (serialized data
//! inside) replaced, checked by PHP's `base64_decode` + `unserialize`, then undone.

mod support;

use std::path::Path;

use devsky::engine::db::profile;
use devsky::engine::project::Project;
use devsky::engine::replace::db::{DbScan, scan};
use devsky::engine::replace::pattern::{Options, Pattern};
use support::cli::{json, ok};
use support::mariadb::MariaDb;
use support::oracles::{php, php_check_replaced, sqlite_dump, wordpress_values};

const FILLER: usize = 20_000;

/// The rows that hold (or nearly hold) `http://old.example/N` in the forms a site stores
/// it: plain, JSON-escaped, serialized, JSON inside JSON, a decoy without the path, and
/// one in capitals.
fn special() -> Vec<String> {
    let inner = r#"{"u":"http:\/\/old.example\/5"}"#;
    vec![
        r#"<a href="http://old.example/1">one</a>"#.into(),
        r#"{"u":"https:\/\/old.example\/2"}"#.into(),
        r#"a:1:{s:3:"url";s:20:"http://old.example/3";}"#.into(),
        r#"see https://old.example/44 and http://old.example/4"#.into(),
        serde_json::json!({ "j": inner }).to_string(),
        "old.example without a path".into(),
        "HTTP://OLD.EXAMPLE/7".into(),
    ]
}

/// The scan with the pattern's prefilter and the scan that reads every row.
fn both(root: &Path, pattern: &str, ignore_case: bool) -> (DbScan, DbScan) {
    let project = Project::locate(root).unwrap();
    let store = project.open_store(false).unwrap();
    let mut db = profile::connect(root, &store, "app", None).unwrap();
    let opts = Options {
        regex: true,
        ignore_case,
        ..Options::default()
    };
    let p = Pattern::new(pattern, "X", opts).unwrap();
    let needles = p.needles();
    assert!(needles.is_some(), "{pattern} requires a text");
    let filtered = scan(db.as_mut(), "app", &[], &p, needles.as_deref()).unwrap();
    let all = scan(db.as_mut(), "app", &[], &p, None).unwrap();
    (filtered, all)
}

/// Search through the CLI and compare with a scan of every row.
fn check(root: &Path, total: u64, read_cs: u64, read_ci: u64) {
    let re = r"https?://old\.example/\d+";
    let found = json(
        &[
            "search",
            re,
            "--regex",
            "--db",
            "app",
            "--no-files",
            "--json",
        ],
        root,
    );
    assert_eq!(found["rows"].as_array().unwrap().len(), 5, "{found:#}");
    assert_eq!(found["rows_read"], read_cs, "{found:#}");
    let (filtered, all) = both(root, re, false);
    assert_eq!(all.rows_read, total);
    assert_eq!(filtered.rows, all.rows);
    assert_eq!(filtered.rows.len(), 5);
    assert_eq!(filtered.rows_read, read_cs);

    let (filtered, all) = both(root, r"HTTPS?://OLD\.example/\d+", true);
    assert_eq!(filtered.rows, all.rows);
    assert_eq!(filtered.rows.len(), 6);
    assert_eq!(filtered.rows_read, read_ci);

    // An alternation: one needle per branch.
    let (filtered, all) = both(root, r"(old\.example/1|post 12345\b)", false);
    assert_eq!(filtered.rows, all.rows);
    assert_eq!(filtered.rows.len(), 2);
    assert!(filtered.rows_read <= 10, "{}", filtered.rows_read);
}

#[test]
fn sqlite_reads_only_rows_that_can_match() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(&["init"], r);
    let c = rusqlite::Connection::open(r.join("app.db")).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE posts(id INTEGER PRIMARY KEY, body TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {FILLER})
         INSERT INTO posts SELECT i, 'lorem ipsum post ' || i FROM n;"
    ))
    .unwrap();
    for (i, v) in special().iter().enumerate() {
        c.execute(
            "INSERT INTO posts VALUES (?1, ?2)",
            rusqlite::params![(FILLER + 1 + i) as i64, v],
        )
        .unwrap();
    }
    drop(c);
    ok(&["db", "add", "app", "--url", "sqlite:app.db"], r);
    // SQLite's INSTR is case-sensitive: the row in capitals is read only ignoring case.
    check(r, (FILLER + special().len()) as u64, 6, 7);
}

#[test]
fn mariadb_reads_only_rows_that_can_match() {
    let m = MariaDb::start();
    let mut sql = format!(
        "CREATE DATABASE app CHARACTER SET utf8mb4; USE app;
         CREATE TABLE posts(id BIGINT NOT NULL PRIMARY KEY, body LONGTEXT) DEFAULT CHARSET=utf8mb4;
         INSERT INTO posts SELECT seq, CONCAT('lorem ipsum post ', seq) FROM seq_1_to_{FILLER};"
    );
    for (i, v) in special().iter().enumerate() {
        let hex: String = v.bytes().map(|b| format!("{b:02X}")).collect();
        sql += &format!(
            "INSERT INTO posts VALUES ({}, CONVERT(X'{hex}' USING utf8mb4));",
            FILLER + 1 + i
        );
    }
    m.sql(&sql);
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(&["init"], r);
    ok(&["db", "add", "app", "--url", &m.url("app")], r);
    // The default collation is case-insensitive: INSTR reads the row in capitals too.
    check(r, (FILLER + special().len()) as u64, 7, 7);
}

const OLD: &str = "http://old.example";
const NEW: &str = "https://www.new-site.example";

/// PHP's base64 of each value: standard and padded, or URL-safe without padding.
fn php_base64(values: &[String], url: bool) -> Vec<String> {
    let code = if url {
        "foreach (json_decode(stream_get_contents(STDIN)) as $v) echo rtrim(strtr(base64_encode($v), '+/', '-_'), '='), \"\\n\";"
    } else {
        "foreach (json_decode(stream_get_contents(STDIN)) as $v) echo base64_encode($v), \"\\n\";"
    };
    let out = php(code, &serde_json::to_string(values).unwrap());
    out.lines().map(String::from).collect()
}

/// PHP's `base64_decode` (strict) of each value, either alphabet.
fn php_unbase64(values: &[String]) -> Vec<String> {
    let code = "foreach (json_decode(stream_get_contents(STDIN)) as $v) { $d = base64_decode(strtr($v, '-_', '+/'), true); if ($d === false) { echo \"NOT BASE64\\n\"; exit(1); } $o[] = $d; } echo json_encode($o);";
    serde_json::from_str(&php(code, &serde_json::to_string(values).unwrap())).unwrap()
}

#[test]
fn base64_values_replaced_checked_by_php_and_undone() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(&["init"], r);
    let mut plain = wordpress_values(OLD);
    // Text whose base64 uses the alphabet's last two characters (`+/`, `-_`).
    let text = format!("{OLD}/?q=???>>>~~~ a?b>c~");
    plain.push(format!("a:1:{{s:1:\"q\";s:{}:\"{text}\";}}", text.len()));
    let std64 = php_base64(&plain, false);
    let url64 = php_base64(&plain, true);
    let c = rusqlite::Connection::open(r.join("app.db")).unwrap();
    c.execute_batch("CREATE TABLE opts(id INTEGER PRIMARY KEY, v TEXT);")
        .unwrap();
    let values: Vec<&String> = std64.iter().chain(&url64).collect();
    for (i, v) in values.iter().enumerate() {
        c.execute(
            "INSERT INTO opts VALUES (?1, ?2)",
            rusqlite::params![i as i64 + 1, v],
        )
        .unwrap();
    }
    // base64 of text without a match, and a value that is not base64 at all.
    c.execute_batch(&format!(
        "INSERT INTO opts VALUES (100, 'aGVsbG8gd29ybGQ=');
         INSERT INTO opts VALUES (101, 'visit {OLD}/x');"
    ))
    .unwrap();
    drop(c);
    ok(&["db", "add", "app", "--url", "sqlite:app.db"], r);
    let dump_before = sqlite_dump(&r.join("app.db"));

    // Without --base64 the encoded values are not found.
    let found = json(&["search", OLD, "--db", "app", "--no-files", "--json"], r);
    assert_eq!(found["rows"].as_array().unwrap().len(), 1, "{found:#}");
    let found = json(
        &[
            "search",
            OLD,
            "--base64",
            "--db",
            "app",
            "--no-files",
            "--json",
        ],
        r,
    );
    let rows = found["rows"].as_array().unwrap();
    assert_eq!(rows.len(), values.len() + 1, "{found:#}");
    assert!(
        rows.iter()
            .any(|r| r["format"] == "base64" && r["context"].as_str().unwrap().contains(OLD)),
        "{found:#}"
    );

    let op = json(
        &[
            "replace",
            OLD,
            NEW,
            "--base64",
            "--db",
            "app",
            "--no-files",
            "--apply",
            "--json",
        ],
        r,
    );
    assert_eq!(
        op["rows"].as_array().unwrap().len(),
        values.len() + 1,
        "{op:#}"
    );
    let c = rusqlite::Connection::open(r.join("app.db")).unwrap();
    let after: Vec<String> = c
        .prepare("SELECT v FROM opts ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(c);
    assert_eq!(after[values.len()], "aGVsbG8gd29ybGQ=");
    assert_eq!(after[values.len() + 1], format!("visit {NEW}/x"));
    let encoded: Vec<String> = after[..values.len()].to_vec();
    for (b, a) in values.iter().zip(&encoded) {
        // The alphabet and the padding are kept.
        if b.contains('=') {
            assert_eq!(a.len() % 4, 0, "{b} -> {a}");
        }
        if b.contains(['-', '_']) && !b.contains('=') {
            assert!(!a.contains('='), "{b} -> {a}");
        }
        if b.contains(['-', '_']) {
            assert!(!a.contains(['+', '/']), "{b} -> {a}");
        }
        if b.contains(['+', '/']) {
            assert!(!a.contains(['-', '_']), "{b} -> {a}");
        }
    }
    assert!(values.iter().any(|v| v.contains(['-', '_'])));
    let decoded = php_unbase64(&encoded);
    let pairs: Vec<(String, String)> = plain.iter().chain(&plain).cloned().zip(decoded).collect();
    php_check_replaced(&pairs, OLD, NEW);

    let undone = json(&["replace", "undo", "--json"], r);
    assert_eq!(undone["undo_skipped"].as_array().unwrap().len(), 0);
    assert_eq!(sqlite_dump(&r.join("app.db")), dump_before);
}
