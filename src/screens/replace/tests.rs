//! TestBackend tests of the Replace screen: search (results stream in), untick one match,
//! apply after confirming (files on disk, the unticked match left), undo (byte-identical
//! files); a database scope on a SQLite profile (rows read back with rusqlite); a newer
//! search replaces an older one; stop; per-file and per-table headers that tick or untick
//! all their matches; 80x24.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::engine::project::Project;
use crate::screens::ScreenId;
use crate::shell::harness::Harness;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "index.php",
        "<?php $url = 'http://old.example/';\n// also http://old.example/a\n",
    );
    write(
        r,
        "app/conf.php",
        "<?php return ['home' => 'http://old.example/home'];\n",
    );
    write(r, "css/site.css", "body { color: red }\n");
    Project::locate(r).unwrap().open_store(true).unwrap();
    dir
}

fn wait_until(h: &mut Harness, what: &str, mut cond: impl FnMut(&mut Harness) -> bool) {
    let start = Instant::now();
    while !cond(h) {
        if start.elapsed() > Duration::from_secs(20) {
            let s = h.screen();
            panic!(
                "timed out waiting for {what}; status {:?}; screen:\n{s}",
                h.app.status_text()
            );
        }
        h.wait_event(Duration::from_millis(20));
    }
}

fn status(h: &Harness) -> String {
    h.app.status_text().unwrap_or_default().to_string()
}

fn open(root: &Path, w: u16, ht: u16) -> Harness {
    let mut h = Harness::new(root, w, ht).unwrap();
    h.key("6");
    assert_eq!(h.app.current_screen(), ScreenId::Replace);
    h
}

fn search(h: &mut Harness, find: &str, replace: &str) {
    h.key("/");
    for _ in 0..80 {
        h.key("backspace");
    }
    h.type_text(find);
    h.key("tab");
    for _ in 0..80 {
        h.key("backspace");
    }
    h.type_text(replace);
    h.key("enter");
    wait_until(h, "the search to end", |h| {
        status(h).contains("searched in")
    });
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

#[test]
fn search_untick_apply_and_undo() {
    let dir = site();
    let r = dir.path();
    let (index, conf) = (read(r, "index.php"), read(r, "app/conf.php"));
    let mut h = open(r, 100, 30);
    let s = h.screen();
    assert!(s.contains("Type what to find"), "{s}");
    search(&mut h, "http://old.example", "https://new.example");
    assert!(
        status(&h).contains("3 match(es) in 2 file(s)"),
        "{}",
        status(&h)
    );
    let s = h.screen();
    assert!(s.contains("Matches · 3 in 2 file(s)"), "{s}");
    assert!(s.contains("[x] app/conf.php:1"), "{s}");
    assert!(
        s.contains("+ <?php return ['home' => 'https://new.example/home'];"),
        "{s}"
    );
    // untick the second match of index.php (line 2): under the headers of app/conf.php
    // and index.php
    for _ in 0..4 {
        h.key("j");
    }
    h.key("space");
    let s = h.screen();
    assert!(s.contains("[ ] index.php:2"), "{s}");
    h.key("A");
    let s = h.wait_for("Replace 2 ticked match(es)?");
    assert!(s.contains("y yes"), "{s}");
    h.key("y");
    wait_until(&mut h, "the replace", |h| status(h).contains("u undoes it"));
    assert!(
        status(&h).contains("2 file(s), 0 value(s) changed"),
        "{}",
        status(&h)
    );
    assert_eq!(
        read(r, "index.php"),
        "<?php $url = 'https://new.example/';\n// also http://old.example/a\n"
    );
    assert_eq!(
        read(r, "app/conf.php"),
        "<?php return ['home' => 'https://new.example/home'];\n"
    );
    assert!(!h.screen().contains("[x]"), "the stale results are cleared");

    h.key("u");
    h.wait_for("Undo the last replace?");
    h.key("y");
    wait_until(&mut h, "the undo", |h| status(h).contains("undid replace"));
    assert_eq!(read(r, "index.php"), index);
    assert_eq!(read(r, "app/conf.php"), conf);
}

#[test]
fn nothing_to_apply_and_no_pattern_say_so() {
    let dir = site();
    let mut h = open(dir.path(), 100, 30);
    h.key("A");
    assert!(status(&h).contains("nothing ticked"), "{}", status(&h));
    h.key("/");
    h.key("enter");
    assert!(
        status(&h).contains("type what to find first"),
        "{}",
        status(&h)
    );
    // keys go to the field while editing: q does not quit
    h.key("/");
    h.type_text("q");
    assert!(!h.app.should_quit());
    h.key("esc");
    search(&mut h, "nowhere-to-be-found", "x");
    assert!(h.screen().contains("No matches."));
    // whole words: a piece of a word ("examp" of "example") is no match
    h.key("w");
    search(&mut h, "examp", "x");
    assert!(h.screen().contains("No matches."), "whole words only");
    h.key("w");
    search(&mut h, "examp", "x");
    assert!(h.screen().contains("Matches · 3"), "{}", h.screen());
    // a bad regex: the error, with its position
    h.key("x");
    h.key("/");
    h.type_text("(");
    h.key("enter");
    wait_until(&mut h, "the error", |h| h.screen().contains("regex"));
}

#[test]
fn a_newer_search_wins_and_stop_keeps_what_was_found() {
    let dir = site();
    let r = dir.path();
    for i in 0..300 {
        write(r, &format!("many/f{i}.txt"), "needle one\nneedle two\n");
    }
    let mut h = open(r, 100, 30);
    h.key("/");
    h.type_text("needle");
    h.key("enter");
    // at once a second search: only its results stay
    search(&mut h, "old.example", "x");
    let s = h.screen();
    assert!(s.contains("Matches · 3 in 2 file(s)"), "{s}");
    assert!(!s.contains("many/"), "{s}");
    h.pump();
    std::thread::sleep(Duration::from_millis(200));
    h.pump();
    assert!(h.screen().contains("Matches · 3 in 2 file(s)"));

    // stop: ctrl-c while it runs keeps what was found so far, and nothing more comes
    for i in 300..2000 {
        write(r, &format!("many/f{i}.txt"), "needle one\nneedle two\n");
    }
    h.key("/");
    for _ in 0..20 {
        h.key("backspace");
    }
    h.type_text("needle");
    h.key("enter");
    h.key("ctrl-c");
    assert!(
        !h.app.should_quit(),
        "ctrl-c stopped the search, it did not quit"
    );
    assert!(status(&h).contains("search stopped"), "{}", status(&h));
    let count = |h: &mut Harness| {
        let s = h.screen();
        s.lines()
            .find(|l| l.contains("Matches · "))
            .unwrap()
            .to_string()
    };
    std::thread::sleep(Duration::from_millis(300));
    h.pump();
    let first = count(&mut h);
    assert!(!first.contains("searching"), "{first}");
    std::thread::sleep(Duration::from_millis(300));
    h.pump();
    assert_eq!(count(&mut h), first, "nothing arrives after the stop");
    assert!(!status(&h).contains("searched in"), "{}", status(&h));
}

#[test]
fn database_scope_replaces_rows_and_undoes_them() {
    let dir = site();
    let r = dir.path();
    let db = r.join("data.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE options(id INTEGER PRIMARY KEY, value TEXT);
             INSERT INTO options VALUES (1, 'a:1:{s:4:\"home\";s:22:\"http://old.example/abc\";}'), (2, 'nothing');",
        )
        .unwrap();
    }
    let project = Project::locate(r).unwrap();
    let store = project.open_store(false).unwrap();
    crate::engine::db::profile::add(&store, "site", &format!("sqlite://{}", db.display()), None)
        .unwrap();
    let value = |id: i64| -> String {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT value FROM options WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap()
    };
    let old = value(1);
    let mut h = open(r, 100, 30);
    h.key("s");
    h.key("s");
    assert!(
        status(&h).contains("scope: database site"),
        "{}",
        status(&h)
    );
    search(&mut h, "http://old.example", "https://new.example");
    let s = h.screen();
    assert!(s.contains("options[id=1].value"), "{s}");
    assert!(!s.contains("index.php"), "files are out of this scope: {s}");
    h.key("A");
    h.wait_for("Replace 1 ticked");
    h.key("y");
    wait_until(&mut h, "the replace", |h| status(h).contains("u undoes it"));
    assert_eq!(
        value(1),
        "a:1:{s:4:\"home\";s:23:\"https://new.example/abc\";}"
    );
    assert!(read(r, "index.php").contains("http://old.example/"));
    h.key("u");
    h.key("y");
    wait_until(&mut h, "the undo", |h| status(h).contains("undid replace"));
    assert_eq!(value(1), old);
}

#[test]
fn works_at_80x24() {
    let dir = site();
    let mut h = open(dir.path(), 80, 24);
    search(&mut h, "old.example", "new.example");
    let s = h.screen();
    assert!(
        s.contains("Find:    old.example") && s.contains("Replace: new.example"),
        "{s}"
    );
    assert!(s.contains("Before → after") && s.contains("[x] "), "{s}");
    assert!(s.contains("/ find") && s.contains("A apply"), "{s}");
}

#[test]
fn file_and_table_headers_toggle_all_at_80x24() {
    let dir = site();
    let r = dir.path();
    let db = r.join("data.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE options(id INTEGER PRIMARY KEY, value TEXT);
             INSERT INTO options VALUES (1, 'http://old.example/1'), (2, 'http://old.example/2');
             CREATE TABLE posts(id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO posts VALUES (1, 'see http://old.example/p');",
        )
        .unwrap();
    }
    let project = Project::locate(r).unwrap();
    let store = project.open_store(false).unwrap();
    crate::engine::db::profile::add(&store, "site", &format!("sqlite://{}", db.display()), None)
        .unwrap();
    let value = |sql: &str| -> String {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    };
    let mut h = open(r, 80, 24);
    h.key("s");
    assert!(status(&h).contains("scope: files + database site"));
    search(&mut h, "http://old.example", "https://new.example");
    let s = h.screen();
    assert!(s.contains("Matches · 6 in 2 file(s)"), "{s}");
    assert!(s.contains("[x] app/conf.php  1/1 ticked"), "{s}");
    assert!(s.contains("[x] index.php  2/2 ticked"), "{s}");
    // on a header the preview shows its first match
    assert!(
        s.contains("+ <?php return ['home' => 'https://new.example/home'];"),
        "{s}"
    );
    // index.php's header: space unticks both its matches
    h.key("j");
    h.key("j");
    h.key("space");
    let s = h.screen();
    assert!(s.contains("[ ] index.php  0/2 ticked"), "{s}");
    assert!(
        s.contains("  [ ] index.php:1") && s.contains("  [ ] index.php:2"),
        "{s}"
    );
    // tick its first match again: the header shows some ticked
    h.key("j");
    h.key("space");
    assert!(
        h.screen().contains("[-] index.php  1/2 ticked"),
        "{}",
        h.screen()
    );
    // the header again: not all ticked, so space ticks all
    h.key("k");
    h.key("space");
    assert!(
        h.screen().contains("[x] index.php  2/2 ticked"),
        "{}",
        h.screen()
    );
    h.key("space");
    h.key("j");
    h.key("space");
    // the table options: untick its two rows from its header
    h.key("j");
    h.key("j");
    let s = h.screen();
    assert!(s.contains("[-] index.php  1/2 ticked"), "{s}");
    assert!(s.contains("[x] table options  2/2 ticked"), "{s}");
    h.key("space");
    let s = h.screen();
    assert!(s.contains("[ ] table options  0/2 ticked"), "{s}");
    assert!(s.contains("  [ ] options[id=1].value"), "{s}");
    h.key("A");
    h.wait_for("Replace 3 ticked match(es)?");
    h.key("y");
    wait_until(&mut h, "the replace", |h| status(h).contains("u undoes it"));
    assert_eq!(
        read(r, "index.php"),
        "<?php $url = 'https://new.example/';\n// also http://old.example/a\n"
    );
    assert!(read(r, "app/conf.php").contains("https://new.example/home"));
    assert_eq!(
        value("SELECT group_concat(value, ' ') FROM options"),
        "http://old.example/1 http://old.example/2"
    );
    assert_eq!(value("SELECT body FROM posts"), "see https://new.example/p");
}
