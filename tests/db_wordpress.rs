//! A WordPress-like MariaDB database (utf8mb4, emoji, NULL next to empty strings,
//! PHP-serialized option values, a table without a primary key, foreign keys in a cycle,
//! generated and JSON columns, BLOB, DECIMAL, DATETIME(6)) through snapshot -> change
//! (schema and rows) -> script -> apply -> reverse. Judged by the server alone, through the
//! `mariadb` client: `SHOW CREATE TABLE` of every table (AUTO_INCREMENT counters
//! included), `CHECKSUM TABLE` and a SELECT of the generated columns. `--verify` of the same
//! script passes.

mod support;

use devsky::engine::db::mysql::MysqlDb;
use devsky::engine::db::snapshot::{self, Mode, apply, take};
use devsky::engine::db::url::parse;
use devsky::engine::db::verify::verify_mysql;

const SCHEMA: &str = r#"
SET FOREIGN_KEY_CHECKS = 0;
CREATE TABLE wp_users (
  ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_login varchar(60) NOT NULL DEFAULT '',
  user_email varchar(100) NOT NULL DEFAULT '',
  user_registered datetime(6) NOT NULL DEFAULT '0000-00-00 00:00:00.000000',
  display_name varchar(250) NULL,
  last_post_id bigint unsigned NULL,
  UNIQUE KEY user_login_key (user_login),
  CONSTRAINT users_last_post FOREIGN KEY (last_post_id) REFERENCES wp_posts (ID) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE wp_posts (
  ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  post_author bigint unsigned NOT NULL DEFAULT 0,
  post_date datetime(6) NOT NULL DEFAULT current_timestamp(6),
  post_title text NOT NULL,
  post_excerpt text NULL,
  post_meta longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL CHECK (json_valid(post_meta)),
  title_length int AS (char_length(post_title)) VIRTUAL,
  post_name varchar(200) AS (lower(replace(post_title, ' ', '-'))) STORED,
  KEY post_name (post_name),
  KEY type_status_date (post_date, ID),
  CONSTRAINT posts_author FOREIGN KEY (post_author) REFERENCES wp_users (ID)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE wp_options (
  option_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  option_name varchar(191) NOT NULL DEFAULT '',
  option_value longtext NOT NULL,
  autoload varchar(20) NOT NULL DEFAULT 'yes',
  UNIQUE KEY option_name (option_name),
  KEY autoload (autoload)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE wp_term_relationships (
  object_id bigint unsigned NOT NULL DEFAULT 0,
  term_taxonomy_id bigint unsigned NOT NULL DEFAULT 0,
  term_order int NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE wc_orders (
  id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  total decimal(26,8) NULL,
  paid_at datetime(6) NULL,
  receipt blob NULL,
  note varchar(50) NULL,
  meta json NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
SET FOREIGN_KEY_CHECKS = 1;
"#;

const ROWS: &str = r#"
SET FOREIGN_KEY_CHECKS = 0;
INSERT INTO wp_users VALUES
  (1, 'admin', 'admin@example.com', '2024-01-02 03:04:05.123456', 'Ädmin 😀', 2),
  (2, 'editor', '', '2024-02-03 04:05:06.000001', '', NULL),
  (3, 'ghost', 'g@example.com', '2024-03-04 05:06:07.999999', NULL, NULL);
INSERT INTO wp_posts (ID, post_author, post_date, post_title, post_excerpt, post_meta) VALUES
  (1, 1, '2024-01-05 10:00:00.500000', 'Hello World', '', '{"likes": 3, "tags": ["a", "b"]}'),
  (2, 1, '2024-01-06 11:00:00.000000', 'Ünïcödé 🎉 Post', NULL, '{"quote": "it''s \\"fine\\""}'),
  (3, 2, '2024-01-07 12:00:00.000007', 'Back\\slash and ''quotes''', 'x', NULL);
INSERT INTO wp_options (option_id, option_name, option_value, autoload) VALUES
  (1, 'siteurl', 'https://example.com', 'yes'),
  (2, 'blogname', 'Blog 😀 ü', 'yes'),
  (3, 'widget_text', 'a:2:{i:2;a:3:{s:5:"title";s:7:"Hi 😀!";s:4:"text";s:0:"";s:6:"filter";b:1;}s:12:"_multiwidget";i:1;}', 'yes'),
  (4, 'empty_value', '', 'no'),
  (5, 'cron', 'a:1:{i:1700000000;a:1:{s:16:"wp_version_check";a:0:{}}}', 'yes');
INSERT INTO wp_term_relationships VALUES (1, 1, 0), (1, 1, 0), (1, 2, 0), (2, 1, 0), (3, 3, 1);
INSERT INTO wc_orders (id, total, paid_at, receipt, note, meta) VALUES
  (1, 19.99000000, '2024-05-06 07:08:09.654321', 0x00FF10DEADBEEF00, NULL, '{"items": [1, 2]}'),
  (2, 123456789012345678.12345678, NULL, '', '', NULL),
  (3, -0.00000001, '2024-05-07 00:00:00.000000', NULL, 'Ⓝ', '[]');
SET FOREIGN_KEY_CHECKS = 1;
"#;

/// Schema and row changes of a plugin update and some editing.
const CHANGES: &str = r#"
ALTER TABLE wp_posts ADD COLUMN post_status varchar(20) NOT NULL DEFAULT 'publish' AFTER post_date,
  MODIFY post_name varchar(200) AS (lower(replace(trim(post_title), ' ', '_'))) STORED,
  ADD COLUMN word_guess int AS (char_length(post_title) DIV 5) VIRTUAL,
  ADD KEY status (post_status),
  ADD CONSTRAINT excerpt_short CHECK (char_length(post_excerpt) < 1000);
ALTER TABLE wp_options MODIFY autoload varchar(20) NOT NULL DEFAULT 'on';
ALTER TABLE wc_orders ADD COLUMN currency char(3) NOT NULL DEFAULT 'EUR', MODIFY total decimal(28,8) NULL;
CREATE TABLE wp_comments (
  comment_ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  comment_post_ID bigint unsigned NOT NULL,
  comment_content text NOT NULL,
  comment_date datetime(6) NOT NULL,
  CONSTRAINT comments_post FOREIGN KEY (comment_post_ID) REFERENCES wp_posts (ID) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO wp_comments VALUES (1, 1, 'First! 🥇', '2024-06-01 00:00:00.000001');
UPDATE wp_options SET option_value = 'a:2:{i:2;a:3:{s:5:"title";s:8:"Hi 😀!!";s:4:"text";N;s:6:"filter";b:0;}s:12:"_multiwidget";i:1;}' WHERE option_name = 'widget_text';
UPDATE wp_options SET option_value = 'yes' WHERE option_name = 'empty_value';
DELETE FROM wp_options WHERE option_name = 'cron';
INSERT INTO wp_options (option_name, option_value, autoload) VALUES ('new_plugin', 'O:8:"stdClass":1:{s:1:"a";s:2:"é";}', 'off');
UPDATE wp_users SET display_name = NULL WHERE ID = 2;
UPDATE wp_users SET display_name = '' WHERE ID = 3;
UPDATE wp_users SET last_post_id = 3 WHERE ID = 2;
INSERT INTO wp_users (user_login, user_email, user_registered, display_name) VALUES ('new 🙂', 'n@example.com', '2024-07-01 01:02:03.000100', 'New');
UPDATE wp_posts SET post_title = 'Hello  World ', post_excerpt = NULL, post_meta = '{"likes": 4}' WHERE ID = 1;
DELETE FROM wp_posts WHERE ID = 3;
DELETE FROM wp_term_relationships WHERE object_id = 1 AND term_taxonomy_id = 1 LIMIT 1;
INSERT INTO wp_term_relationships VALUES (2, 1, 0), (4, 4, 4);
UPDATE wc_orders SET receipt = 0x0102, total = total + 0.00000001, paid_at = '2024-05-06 07:08:09.654322' WHERE id = 1;
UPDATE wc_orders SET note = NULL, receipt = NULL, meta = '{"refund": true}' WHERE id = 2;
"#;

/// The database as the server shows it: every table's `SHOW CREATE TABLE`, every table's
/// `CHECKSUM TABLE`, the generated columns' values.
fn server_view(m: &support::mariadb::MariaDb) -> String {
    let tables = m.sql(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'wp' ORDER BY 1",
    );
    let mut q = String::from("USE wp;\n");
    for t in tables.lines() {
        q.push_str(&format!(
            "SHOW CREATE TABLE `{t}`;\nCHECKSUM TABLE `{t}`;\n"
        ));
    }
    let generated = m.sql(
        "SELECT TABLE_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = 'wp' AND IS_GENERATED = 'ALWAYS' GROUP BY TABLE_NAME ORDER BY 1",
    );
    for line in generated.lines() {
        let (t, cols) = line.split_once('\t').unwrap();
        q.push_str(&format!("SELECT ID, {cols} FROM `{t}` ORDER BY ID;\n"));
    }
    m.sql(&q)
}

/// `got` is `want`, or the lines that differ.
fn same(want: &str, got: &str, what: &str) {
    let missing: Vec<&str> = want
        .lines()
        .filter(|l| !got.lines().any(|g| g == *l))
        .collect();
    let extra: Vec<&str> = got
        .lines()
        .filter(|l| !want.lines().any(|w| w == *l))
        .collect();
    assert!(
        want == got,
        "{what}: wanted lines not found:\n{}\nfound lines not wanted:\n{}",
        missing.join("\n"),
        extra.join("\n")
    );
}

#[test]
fn wordpress_like_database_round_trips_by_the_servers_own_view() {
    let m = support::mariadb::MariaDb::start();
    m.sql("CREATE DATABASE wp CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
    m.sql(&format!("USE wp;\n{SCHEMA}\n{ROWS}"));
    let url = parse(&m.url("wp")).unwrap().url;
    let mut db = MysqlDb::connect(&url, None).unwrap();
    let before = server_view(&m);
    assert!(
        before.contains("title_length") && before.contains("1\t11\thello-world"),
        "the oracle sees the generated columns: {before}"
    );
    let snap = take(&mut db, &|_| Mode::Auto).unwrap();

    m.sql(&format!("USE wp;\n{CHANGES}"));
    let after = server_view(&m);
    assert_ne!(before, after);
    let script = snapshot::diff(&snap, &mut db, true, &[]).unwrap();
    assert!(
        script.notes.is_empty(),
        "nothing left out: {:?}",
        script.notes
    );

    // Through the mariadb client: reverse, then forward, then reverse again.
    m.try_sql(&format!("USE wp;\n{}", script.reverse_sql()))
        .unwrap_or_else(|e| panic!("reverse: {e}\n{}", script.reverse_sql()));
    same(&before, &server_view(&m), "after the reverse");
    m.try_sql(&format!("USE wp;\n{}", script.forward_sql()))
        .unwrap_or_else(|e| panic!("forward: {e}\n{}", script.forward_sql()));
    same(&after, &server_view(&m), "after the forward");

    // Through devsky's own apply.
    apply(&mut db, &script, true).unwrap();
    same(&before, &server_view(&m), "apply: after the reverse");
    apply(&mut db, &script, false).unwrap();
    same(&after, &server_view(&m), "apply: after the forward");

    // `--verify` agrees, by its own server view too, and leaves the database alone.
    let report = verify_mysql(&url, None, &snap, &script).unwrap();
    assert!(
        report.ok()
            && report
                .text()
                .contains("ok   the server shows the same tables again"),
        "{}",
        report.text()
    );
    same(&after, &server_view(&m), "after verifying");
}
