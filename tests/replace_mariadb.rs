//! `devsky replace` on a private MariaDB: a WordPress-style options table (nested
//! serialized arrays, objects of unknown classes, JSON-escaped URLs) replaced and checked
//! by PHP's `unserialize()`, then undone and checked by the server's own `CHECKSUM TABLE`
//! and `SHOW CREATE TABLE`.

mod support;

use devsky::engine::db::profile;
use devsky::engine::project::Project;
use devsky::engine::replace::{self, ProblemKind, Request, ops};
use support::cli::{json, ok};
use support::mariadb::MariaDb;
use support::oracles::{php_check_replaced, wordpress_values};

const OLD: &str = "http://old.example";
const NEW: &str = "https://www.new-site.example";

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

fn unhex(h: &str) -> String {
    let bytes: Vec<u8> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

/// The server's view of both tables: checksums and definitions.
fn state(m: &MariaDb) -> String {
    m.sql("CHECKSUM TABLE wp.wp_options, wp.wp_posts EXTENDED; SHOW CREATE TABLE wp.wp_options; SHOW CREATE TABLE wp.wp_posts;")
}

#[test]
fn wordpress_options_on_mariadb_replaced_checked_by_php_and_undone() {
    let m = MariaDb::start();
    let values = wordpress_values(OLD);
    let mut sql = String::from(
        "CREATE DATABASE wp CHARACTER SET utf8mb4; USE wp;
         CREATE TABLE wp_options(option_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
           option_name VARCHAR(191) NOT NULL, option_value LONGTEXT NOT NULL) DEFAULT CHARSET=utf8mb4;
         CREATE TABLE wp_posts(ID BIGINT UNSIGNED NOT NULL PRIMARY KEY, post_content LONGTEXT,
           guid VARCHAR(30)) DEFAULT CHARSET=utf8mb4;",
    );
    for (i, v) in values.iter().enumerate() {
        sql += &format!(
            "INSERT INTO wp_options VALUES ({}, 'opt{i}', CONVERT(X'{}' USING utf8mb4));",
            i + 1,
            hex(v)
        );
    }
    sql += &format!(
        "INSERT INTO wp_options VALUES (100, 'corrupt', 'a:1:{{s:3:\"url\";s:5:\"{OLD}\";}}');
         INSERT INTO wp_posts VALUES (1, '<p>{OLD}/hello</p>\\r\\n', '{OLD}/?p=1');
         INSERT INTO wp_posts VALUES (2, 'nothing', NULL);"
    );
    m.sql(&sql);
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(&["init"], r);
    ok(&["db", "add", "wp", "--url", &m.url("wp")], r);
    let before = state(&m);

    let found = json(
        &[
            "search",
            "old.example",
            "--db",
            "wp",
            "--no-files",
            "--json",
        ],
        r,
    );
    assert_eq!(
        found["rows"].as_array().unwrap().len(),
        values.len() + 2,
        "{found:#}"
    );

    let op = json(
        &[
            "replace",
            OLD,
            NEW,
            "--db",
            "wp",
            "--tables",
            "wp_options,wp_posts",
            "--no-files",
            "--apply",
            "--json",
        ],
        r,
    );
    let skipped = op["skipped"].to_string();
    let named = |place: &str, kind: &str| {
        op["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["place"] == place && p["kind"] == kind)
    };
    assert!(
        named("wp_options[option_id=100].option_value", "corrupt"),
        "{skipped}"
    );
    // The new guid would not fit VARCHAR(30): refused, the row named.
    assert!(named("wp_posts[ID=1].guid", "refused"), "{skipped}");
    assert_eq!(op["rows"].as_array().unwrap().len(), values.len() + 1);

    let after: Vec<(String, String)> = m
        .sql("SELECT option_id, HEX(option_value) FROM wp.wp_options WHERE option_id < 100 ORDER BY option_id")
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap().to_string())
        .zip(values.iter())
        .map(|(a, b)| (b.clone(), unhex(&a)))
        .collect();
    assert_eq!(after.len(), values.len());
    php_check_replaced(&after, OLD, NEW);
    let post = m.sql("SELECT HEX(post_content) FROM wp.wp_posts WHERE ID = 1");
    assert_eq!(unhex(post.trim()), format!("<p>{NEW}/hello</p>\r\n"));
    assert_ne!(state(&m), before);

    let undone = json(&["replace", "undo", "--json"], r);
    assert_eq!(
        undone["undo_skipped"].as_array().unwrap().len(),
        0,
        "{undone:#}"
    );
    assert_eq!(state(&m), before);

    // A row changed between the preview and the apply is skipped and named.
    let project = Project::locate(r).unwrap();
    let store = project.open_store(false).unwrap();
    let mut db = profile::connect(r, &store, "wp", None).unwrap();
    let req = Request {
        pattern: OLD.into(),
        replacement: "https://x.example".into(),
        db: Some("wp".into()),
        tables: vec!["wp_posts".into()],
        ..Request::default()
    };
    let plan = replace::preview(&project, &store, &req, Some(db.as_mut())).unwrap();
    assert_eq!(plan.db.as_ref().unwrap().rows.len(), 2);
    m.sql(&format!(
        "UPDATE wp.wp_posts SET guid = '{OLD}/?p=9' WHERE ID = 1"
    ));
    let op = ops::apply(r, &plan, Some(db.as_mut())).unwrap();
    assert_eq!(op.rows.len(), 1);
    let changed: Vec<&str> = op
        .skipped
        .iter()
        .filter(|p| p.kind == ProblemKind::Changed)
        .map(|p| p.place.as_str())
        .collect();
    assert_eq!(changed, ["wp_posts[ID=1].guid"]);
    assert_eq!(
        m.sql("SELECT guid FROM wp.wp_posts WHERE ID = 1").trim(),
        format!("{OLD}/?p=9")
    );
}
