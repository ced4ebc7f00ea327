//! `devsky replace` over files and a SQLite database, with apply and undo, checked by
//! oracles that share no code with devsky: the tree walker of tests/support (std::fs +
//! blake3) for files, `sqlite3 .dump` for rows, PHP's `unserialize()` for serialized data.
//! Also the recycle bin, and what changed between the preview and the apply.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use devsky::engine::db::profile;
use devsky::engine::project::Project;
use devsky::engine::replace::{self, ProblemKind, Request, ops};
use support::cli::{devsky, fails, json, ok, write};
use support::oracles::{php_check_replaced, sqlite_dump};
use support::tree::{self, Tree};

/// The project's files without devsky's state and the database file (checked by its dump).
fn files(root: &Path) -> Tree {
    let mut t = tree::walk(root);
    t.retain(|p, _| !p.starts_with(b".devsky") && !p.starts_with(b"data"));
    t
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

const OLD: &str = "http://old.example";
const NEW: &str = "https://www.new-site.example";

/// A project with text files in several encodings and line endings, a binary file, a
/// read-only file, and a SQLite database with WordPress-style options.
fn project() -> (tempfile::TempDir, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(&["init"], r);
    write(
        r,
        "index.php",
        format!(
            "<?php\n// {OLD}/\r\n$u = '{OLD}/x'; $j = '{{\"u\":\"http:\\/\\/old.example\"}}';\r\n"
        )
        .as_bytes(),
    );
    write(
        r,
        "deep/a/b/page.html",
        format!("<a href=\"{OLD}\">{OLD}</a>\n").as_bytes(),
    );
    fs::set_permissions(
        r.join("deep/a/b/page.html"),
        fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    let text = format!("Сайт: {OLD}\nстарый\n");
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(&text);
    write(r, "ru/readme.txt", &cp1251);
    write(
        r,
        "img/logo.bin",
        &[&[0u8, 1, 2][..], OLD.as_bytes()].concat(),
    );
    write(r, "locked.txt", OLD.as_bytes());
    fs::set_permissions(r.join("locked.txt"), fs::Permissions::from_mode(0o444)).unwrap();
    write(r, "untouched.txt", b"nothing to see\n");
    ok(&["settings", "set", "encoding", "windows-1251"], r);

    fs::create_dir_all(r.join("data")).unwrap();
    let c = rusqlite::Connection::open(r.join("data/app.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE wp_options(option_id INTEGER PRIMARY KEY, option_name TEXT, option_value TEXT);
         CREATE TABLE wp_posts(ID INTEGER PRIMARY KEY, post_content TEXT, guid VARCHAR(255));
         CREATE TABLE nokey(v TEXT);",
    )
    .unwrap();
    let values = support::oracles::wordpress_values(OLD);
    for (i, v) in values.iter().enumerate() {
        c.execute(
            "INSERT INTO wp_options VALUES (?1, ?2, ?3)",
            rusqlite::params![i as i64 + 1, format!("opt{i}"), v],
        )
        .unwrap();
    }
    c.execute_batch(&format!(
        "INSERT INTO wp_options VALUES (100, 'corrupt', 'a:1:{{s:3:\"url\";s:5:\"{OLD}\";}}');
         INSERT INTO wp_options VALUES (101, 'custom', 'a:1:{{i:0;C:11:\"ArrayObject\":32:{{x:i:0;s:18:\"{OLD}\";}}}}');
         INSERT INTO wp_posts VALUES (1, '<p>{OLD}/hello</p>', '{OLD}/?p=1');
         INSERT INTO wp_posts VALUES (2, 'no match', 'x');
         INSERT INTO nokey VALUES ('{OLD}');"
    ))
    .unwrap();
    drop(c);
    ok(&["db", "add", "app", "--url", "sqlite:data/app.db"], r);
    let pairs = values.into_iter().map(|v| (v, String::new())).collect();
    (dir, pairs)
}

#[test]
fn replace_files_and_sqlite_apply_and_undo() {
    let (dir, mut pairs) = project();
    let r = dir.path();
    let files_before = files(r);
    let dump_before = sqlite_dump(&r.join("data/app.db"));

    // The preview changes nothing and names what it leaves alone.
    let plan = json(
        &["replace", OLD, NEW, "--db", "app", "--dry-run", "--json"],
        r,
    );
    assert_eq!(files(r), files_before);
    assert_eq!(sqlite_dump(&r.join("data/app.db")), dump_before);
    let problems = plan["files"]["problems"].as_array().unwrap().len()
        + plan["db"]["problems"].as_array().unwrap().len();
    assert_eq!(problems, 3, "{plan:#}"); // corrupt row, C: row, table without key
    assert_eq!(plan["files"]["binary_skipped"], 2); // logo.bin and app.db

    let op = json(
        &["replace", OLD, NEW, "--db", "app", "--apply", "--json"],
        r,
    );
    let id = op["id"].as_u64().unwrap();
    let skipped = op["skipped"].to_string();
    for (place, kind) in [
        ("locked.txt", "read-only"),
        ("wp_options[option_id=100].option_value", "corrupt"),
        ("wp_options[option_id=101].option_value", "refused"),
        ("nokey", "no-key"),
    ] {
        assert!(
            op["skipped"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["place"] == place && p["kind"] == kind),
            "{place} {kind}: {skipped}"
        );
    }
    assert!(skipped.contains("ArrayObject"), "{skipped}");

    // Files: replaced in their own encoding, line endings and modes kept.
    let php = fs::read_to_string(r.join("index.php")).unwrap();
    assert_eq!(
        php,
        format!(
            "<?php\n// {NEW}/\r\n$u = '{NEW}/x'; $j = '{{\"u\":\"https:\\/\\/www.new-site.example\"}}';\r\n"
        )
    );
    assert_eq!(mode(&r.join("deep/a/b/page.html")), 0o751);
    let text = format!("Сайт: {NEW}\nстарый\n");
    let (want, _, _) = encoding_rs::WINDOWS_1251.encode(&text);
    assert_eq!(fs::read(r.join("ru/readme.txt")).unwrap(), want.as_ref());
    assert_eq!(fs::read(r.join("locked.txt")).unwrap(), OLD.as_bytes());
    let before_bin = &files_before[&b"img/logo.bin".to_vec()];
    assert_eq!(&files(r)[&b"img/logo.bin".to_vec()], before_bin);

    // Rows: PHP reads every changed value as the old structure with the URL replaced.
    let c = rusqlite::Connection::open(r.join("data/app.db")).unwrap();
    for (i, pair) in pairs.iter_mut().enumerate() {
        pair.1 = c
            .query_row(
                "SELECT option_value FROM wp_options WHERE option_id = ?1",
                [i as i64 + 1],
                |row| row.get(0),
            )
            .unwrap();
    }
    php_check_replaced(&pairs, OLD, NEW);
    let guid: String = c
        .query_row("SELECT guid FROM wp_posts WHERE ID = 1", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(guid, format!("{NEW}/?p=1"));
    drop(c);

    // Undo: byte-identical files (modes too) and the same dump.
    let undone = json(&["replace", "undo", "--json"], r);
    assert_eq!(undone["id"].as_u64(), Some(id));
    assert_eq!(
        undone["undo_skipped"].as_array().unwrap().len(),
        0,
        "{undone:#}"
    );
    tree::assert_same(&files_before, &files(r), "after undo");
    assert_eq!(sqlite_dump(&r.join("data/app.db")), dump_before);
    let again = fails(&["replace", "undo", &id.to_string()], r);
    assert!(again.contains("already undone"), "{again}");
}

#[test]
fn recycle_bin_restores_bytes_and_mode() {
    let (dir, _) = project();
    let r = dir.path();
    let original = fs::read(r.join("deep/a/b/page.html")).unwrap();
    ok(&["replace", OLD, NEW, "--apply"], r);
    let list = json(&["bin", "list", "--json"], r);
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "deep/a/b/page.html")
        .unwrap_or_else(|| panic!("{list:#}"));
    assert_eq!(entry["mode"], 0o751);
    fs::set_permissions(
        r.join("deep/a/b/page.html"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let id = entry["id"].to_string();
    // gc keeps what the bin holds.
    ok(&["gc"], r);
    ok(&["bin", "restore", &id], r);
    assert_eq!(fs::read(r.join("deep/a/b/page.html")).unwrap(), original);
    assert_eq!(mode(&r.join("deep/a/b/page.html")), 0o751);
    assert!(fails(&["bin", "restore", &id], r).contains("no entry"));
    // The replaced version went to the bin when it was overwritten by the restore.
    let n = json(&["bin", "list", "--json"], r)
        .as_array()
        .unwrap()
        .len();
    assert_eq!(n, list.as_array().unwrap().len());
    assert!(fails(&["bin", "empty"], r).contains("--yes"));
    assert_eq!(
        json(&["bin", "list", "--json"], r)
            .as_array()
            .unwrap()
            .len(),
        n
    );
    assert_eq!(json(&["bin", "empty", "--yes", "--json"], r)["removed"], n);
    assert_eq!(ok(&["bin", "list"], r).trim(), "the recycle bin is empty");
}

#[test]
fn what_changed_between_preview_and_apply_is_skipped() {
    let (dir, _) = project();
    let r = dir.path();
    let project = Project::locate(r).unwrap();
    let store = project.open_store(false).unwrap();
    let mut db = profile::connect(r, &store, "app", None).unwrap();
    let req = Request {
        pattern: OLD.into(),
        replacement: NEW.into(),
        files: true,
        db: Some("app".into()),
        ..Request::default()
    };
    let plan = replace::preview(&project, &store, &req, Some(db.as_mut())).unwrap();
    // Between the preview and the apply, someone edits a file and a row.
    let edited = format!("<a href=\"{OLD}\">edited by hand</a>\n");
    fs::write(r.join("deep/a/b/page.html"), &edited).unwrap();
    let c = rusqlite::Connection::open(r.join("data/app.db")).unwrap();
    c.execute(
        "UPDATE wp_posts SET guid = ?1 WHERE ID = 1",
        [format!("{OLD}/?p=edited")],
    )
    .unwrap();
    let op = ops::apply(r, &plan, Some(db.as_mut())).unwrap();
    let changed: Vec<&str> = op
        .skipped
        .iter()
        .filter(|p| p.kind == ProblemKind::Changed)
        .map(|p| p.place.as_str())
        .collect();
    assert_eq!(changed, ["wp_posts[ID=1].guid", "deep/a/b/page.html"]);
    assert_eq!(
        fs::read_to_string(r.join("deep/a/b/page.html")).unwrap(),
        edited
    );
    let guid: String = c
        .query_row("SELECT guid FROM wp_posts WHERE ID = 1", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(guid, format!("{OLD}/?p=edited"));
    // The rest was applied: the same post's content, and index.php.
    let content: String = c
        .query_row(
            "SELECT post_content FROM wp_posts WHERE ID = 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(content, format!("<p>{NEW}/hello</p>"));
    assert!(
        fs::read_to_string(r.join("index.php"))
            .unwrap()
            .contains(NEW)
    );
    // Undo skips what changed after the replace, and says so.
    fs::write(r.join("index.php"), "rewritten after the replace").unwrap();
    let undone = ops::undo(r, Some(op.id), Some(db.as_mut())).unwrap();
    let places: Vec<&str> = undone
        .undo_skipped
        .iter()
        .map(|p| p.place.as_str())
        .collect();
    assert_eq!(places, ["index.php"]);
    assert_eq!(
        fs::read_to_string(r.join("index.php")).unwrap(),
        "rewritten after the replace"
    );
}

#[test]
fn search_regex_words_and_bad_patterns() {
    let (dir, _) = project();
    let r = dir.path();
    let out = json(
        &[
            "search",
            r"https?://(\w+)\.example",
            "--regex",
            "--db",
            "app",
            "--tables",
            "wp_posts",
            "--json",
        ],
        r,
    );
    assert_eq!(out["rows"].as_array().unwrap().len(), 2, "{out:#}");
    let hits: Vec<String> = out["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        hits,
        [
            "deep/a/b/page.html",
            "index.php",
            "locked.txt",
            "ru/readme.txt"
        ]
    );
    let cyr = json(&["search", "Сайт", "--json"], r);
    assert_eq!(cyr["files"][0]["path"], "ru/readme.txt");
    assert_eq!(cyr["files"][0]["hits"][0]["line"], 1);
    // --word and --ignore-case.
    let w = json(&["search", "OLD", "-i", "-w", "--json"], r);
    // 2 in page.html, 3 in index.php (one JSON-escaped), locked.txt, readme.txt; not the
    // binary logo.bin.
    assert_eq!(w["matches"], 7, "{w:#}");
    // No match: exit code 1. An invalid regex: an error showing where.
    assert_eq!(devsky(&["search", "zzz-no-such"], r).status.code(), Some(1));
    let e = fails(&["search", "a(b", "--regex"], r);
    assert!(
        e.contains("invalid pattern") && e.contains("unclosed group"),
        "{e}"
    );
    let e = fails(&["search", "x", "--db", "app", "--tables", "nope"], r);
    assert!(e.contains("no table \"nope\""), "{e}");
}

#[test]
fn unticked_lines_files_tables_and_values_are_left_alone() {
    let (dir, _) = project();
    let r = dir.path();
    let page = fs::read(r.join("deep/a/b/page.html")).unwrap();
    let bad = fails(
        &["replace", OLD, NEW, "--apply", "--skip", "no/such/file"],
        r,
    );
    assert!(bad.contains("names no file"), "{bad}");
    let op = json(
        &[
            "replace",
            OLD,
            NEW,
            "--db",
            "app",
            "--apply",
            "--json",
            "--skip",
            "index.php:3",
            "--skip",
            "deep/a/b/page.html",
            "--skip",
            "wp_options",
            "--skip",
            "wp_posts[ID=1].guid",
        ],
        r,
    );
    // index.php: line 2 replaced, both matches of line 3 kept.
    let php = fs::read_to_string(r.join("index.php")).unwrap();
    assert_eq!(
        php,
        format!(
            "<?php\n// {NEW}/\r\n$u = '{OLD}/x'; $j = '{{\"u\":\"http:\\/\\/old.example\"}}';\r\n"
        )
    );
    assert_eq!(fs::read(r.join("deep/a/b/page.html")).unwrap(), page);
    let places: Vec<&str> = op["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["table"].as_str().unwrap())
        .collect();
    assert_eq!(places, ["wp_posts"]); // post_content only
    assert_eq!(op["rows"][0]["column"], "post_content");
    // Undo gives back the partly replaced file exactly.
    ok(&["replace", "undo"], r);
    assert!(
        fs::read_to_string(r.join("index.php"))
            .unwrap()
            .contains(&format!("// {OLD}/"))
    );
}
