//! TestBackend tests of the Snapshots screen: the empty state, taking a snapshot through
//! the popup (whole project and a domain), deleting with confirmation, diffs against the
//! working tree and between two snapshots, the no-changes message, a small terminal.

use std::path::Path;
use std::time::{Duration, Instant};

use super::SnapshotsReply;
use crate::app::events::AppEvent;
use crate::engine::diff::changes::ChangeSet;
use crate::engine::jobs::Progress;
use crate::engine::project::Project;
use crate::engine::snapshot::{self, Target};
use crate::screens::ScreenId;
use crate::shell::harness::Harness;
use crate::store::Store;
use crate::store::snapshots::{self as rows, Domain};

/// A small web project with a store.
pub(super) fn site() -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |p: &str, text: &str| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("index.php", "<?php echo 'home';\n");
    write("app/User.php", "<?php class User {}\n");
    write("css/site.css", "body { color: red }\n");
    let project = Project::locate(root).unwrap();
    project.open_store(true).unwrap();
    (dir, project)
}

pub(super) fn store(p: &Project) -> Store {
    p.open_store(false).unwrap()
}

/// Take a snapshot through the engine (setting up a test).
pub(super) fn take(p: &Project, name: &str) -> i64 {
    let mut st = store(p);
    snapshot::create(p, &mut st, Some(name), None, &Progress::silent())
        .unwrap()
        .id
}

/// Pump events until `cond` holds (or panic after 10 s).
pub(super) fn wait_until(h: &mut Harness, what: &str, mut cond: impl FnMut(&mut Harness) -> bool) {
    let start = Instant::now();
    while !cond(h) {
        if start.elapsed() > Duration::from_secs(10) {
            let s = h.screen();
            panic!(
                "timed out waiting for {what}; status {:?}; screen:\n{s}",
                h.app.status_text()
            );
        }
        h.wait_event(Duration::from_millis(20));
    }
}

pub(super) fn status(h: &Harness) -> String {
    h.app.status_text().unwrap_or_default().to_string()
}

pub(super) fn open(root: &Path, w: u16, ht: u16) -> Harness {
    let mut h = Harness::new(root, w, ht).unwrap();
    h.key("2");
    assert_eq!(h.app.current_screen(), ScreenId::Snapshots);
    h
}

#[test]
fn empty_state_says_how_to_take_one() {
    let (dir, _p) = site();
    let mut h = open(dir.path(), 100, 30);
    let s = h.screen();
    assert!(s.contains("My Snapshots · 0"), "{s}");
    assert!(s.contains("No snapshots yet. Press c to take one"), "{s}");
    assert!(s.contains("c snapshot") && s.contains("enter diff"), "{s}");
    // nothing to delete or diff: a message, no popup
    h.key("d");
    assert!(!h.screen().contains("Delete snapshot"));
    h.key("enter");
    assert!(status(&h).contains("no snapshot"), "{}", status(&h));
}

#[test]
fn create_through_the_popup_names_it_and_selects_it() {
    let (dir, p) = site();
    let mut h = open(dir.path(), 100, 30);
    h.key("c");
    let s = h.screen();
    assert!(
        s.contains("New snapshot") && s.contains("(whole project)"),
        "{s}"
    );
    // keys go to the name field: `q` does not quit, `j` is a letter
    h.type_text("before jq");
    assert!(!h.app.should_quit());
    h.key("backspace");
    h.key("backspace");
    h.key("backspace");
    h.key("tab");
    h.key("enter");
    let s = h.wait_for("My Snapshots · 1 ");
    assert!(!s.contains("New snapshot"), "{s}");
    wait_until(&mut h, "the job to finish", |h| {
        h.app.job_table().running().count() == 0
    });
    let s = h.screen();
    let row = s.lines().find(|l| l.contains("before")).unwrap();
    assert!(row.contains("(all)") && row.contains(" 3 "), "{row}");
    assert!(s.contains("Snapshot 1 ") && s.contains("everything"), "{s}");
    assert!(
        status(&h).contains("snapshot 1 \"before\": 3 files"),
        "{}",
        status(&h)
    );
    // a second one (default name) is listed first and selected
    h.key("c");
    h.key("enter");
    wait_until(&mut h, "the second snapshot", |h| {
        h.screen().contains("My Snapshots · 2 ") && h.app.job_table().running().count() == 0
    });
    let s = h.screen();
    assert!(s.contains("Snapshot 2 "), "{s}");
    let list = rows::snapshots(store(&p).conn()).unwrap();
    assert_eq!(list[0].id, 2);
    assert!(list[0].name.starts_with("snapshot "), "{}", list[0].name);
}

#[test]
fn create_of_a_domain() {
    let (dir, p) = site();
    snapshot::save_domain(
        &store(&p),
        &Domain {
            name: "app".into(),
            include: vec!["app".into()],
            exclude: vec![],
        },
    )
    .unwrap();
    let mut h = open(dir.path(), 100, 30);
    h.key("c");
    h.type_text("app only");
    h.key("down");
    h.key("down");
    let s = h.screen();
    assert!(s.contains("▸ app"), "{s}");
    // up twice goes back to the name field; tab returns to the list, choice kept
    h.key("up");
    h.key("up");
    h.key("tab");
    h.key("j");
    h.key("enter");
    wait_until(&mut h, "the snapshot", |h| {
        h.screen().contains("My Snapshots · 1 ") && h.app.job_table().running().count() == 0
    });
    let snap = &rows::snapshots(store(&p).conn()).unwrap()[0];
    assert_eq!(
        (snap.name.as_str(), snap.domain.as_deref(), snap.files),
        ("app only", Some("app"), 1)
    );
    let s = h.screen();
    let row = s.lines().find(|l| l.contains("app only")).unwrap();
    assert!(row.contains(" app ") && !row.contains("(all)"), "{row}");
    assert!(s.contains("include  app"), "{s}");
}

#[test]
fn create_popup_escape_cancels() {
    let (dir, _p) = site();
    let mut h = open(dir.path(), 100, 30);
    h.key("c");
    h.type_text("nope");
    h.key("esc");
    assert!(!h.screen().contains("New snapshot"));
    assert!(h.app.job_table().jobs.is_empty());
}

#[test]
fn delete_asks_first() {
    let (dir, p) = site();
    take(&p, "keep me");
    let mut h = open(dir.path(), 100, 30);
    h.key("d");
    let s = h.screen();
    assert!(
        s.contains("Delete snapshot 1 \"keep me\" (3 files)? Its contents are freed"),
        "{s}"
    );
    assert!(s.contains("devsky gc"), "{s}");
    h.key("n");
    let s = h.screen();
    assert!(
        !s.contains("Delete snapshot") && s.contains("keep me"),
        "{s}"
    );
    assert_eq!(rows::snapshots(store(&p).conn()).unwrap().len(), 1);
    h.key("d");
    h.key("y");
    let s = h.screen();
    assert!(s.contains("No snapshots yet"), "{s}");
    assert!(status(&h).contains("deleted snapshot 1"), "{}", status(&h));
    assert!(rows::snapshots(store(&p).conn()).unwrap().is_empty());
}

#[test]
fn enter_after_an_edit_opens_the_changes_in_compare() {
    let (dir, p) = site();
    take(&p, "before");
    std::fs::write(dir.path().join("index.php"), "<?php echo 'home, edited';\n").unwrap();
    std::fs::write(dir.path().join("new.js"), "let x = 1;\n").unwrap();
    let mut h = open(dir.path(), 100, 30);
    h.key("enter");
    wait_until(&mut h, "Compare", |h| {
        h.app.current_screen() == ScreenId::Compare
    });
    let s = h.wait_for("new.js");
    assert!(s.contains("index.php"), "{s}");
    assert!(!s.contains("css/site.css"), "{s}");
}

#[test]
fn marked_snapshot_diffs_to_the_selected_one() {
    let (dir, p) = site();
    take(&p, "first");
    std::fs::remove_file(dir.path().join("css/site.css")).unwrap();
    take(&p, "second");
    let mut h = open(dir.path(), 100, 30);
    // newest first: "second" (2) then "first" (1)
    h.key("j");
    h.key("m");
    let s = h.screen();
    let row = s.lines().find(|l| l.contains("first")).unwrap();
    assert!(row.contains('◆'), "{row}");
    h.key("k");
    assert!(h.screen().contains("diff snapshot 1 → snapshot 2"));
    h.key("enter");
    wait_until(&mut h, "Compare", |h| {
        h.app.current_screen() == ScreenId::Compare
    });
    let s = h.wait_for("site.css");
    assert!(s.contains("snapshot 1"), "{s}");
    assert!(!s.contains("index.php"), "{s}");
    // back on Snapshots, esc clears the mark
    h.key("2");
    h.key("esc");
    assert!(!h.screen().contains('◆'));
    assert_eq!(h.app.current_screen(), ScreenId::Snapshots);
}

#[test]
fn a_diff_without_changes_says_so() {
    let (dir, p) = site();
    take(&p, "same");
    let mut h = open(dir.path(), 100, 30);
    h.key("enter");
    wait_until(&mut h, "the message", |h| {
        status(h).contains("no changes since snapshot 1")
    });
    assert_eq!(h.app.current_screen(), ScreenId::Snapshots);
    // marked == selected: still against the working tree
    h.key("m");
    h.key("enter");
    wait_until(&mut h, "the message again", |h| {
        h.app.job_table().running().count() == 0
            && status(h).contains("no changes since snapshot 1")
    });
}

#[test]
fn a_reply_of_no_job_of_ours_is_ignored() {
    let (dir, p) = site();
    take(&p, "one");
    let mut h = open(dir.path(), 100, 30);
    let set = ChangeSet {
        title: "x".into(),
        ..Default::default()
    };
    h.app.handle(AppEvent::reply(
        ScreenId::Snapshots,
        SnapshotsReply::Diff {
            seq: 42,
            old: 1,
            new: Target::Worktree,
            set: Box::new(set),
            db_note: None,
        },
    ));
    h.app.handle(AppEvent::reply(
        ScreenId::Snapshots,
        SnapshotsReply::Created { seq: 43, id: 1 },
    ));
    assert_eq!(h.app.current_screen(), ScreenId::Snapshots);
    assert!(h.screen().contains("My Snapshots · 1"));
}

#[test]
fn renders_at_80x24() {
    let (dir, p) = site();
    snapshot::save_domain(
        &store(&p),
        &Domain {
            name: "stylesheets-and-more".into(),
            include: vec!["css/**".into()],
            exclude: vec!["**/*.map".into()],
        },
    )
    .unwrap();
    take(
        &p,
        "a rather long snapshot name that cannot fit in the list",
    );
    take(&p, "short");
    let mut h = open(dir.path(), 80, 24);
    let s = h.screen();
    assert!(s.contains("My Snapshots · 2"), "{s}");
    assert!(s.contains("short") && s.contains("(all)"), "{s}");
    assert!(s.contains("a rather"), "{s}");
    assert!(s.contains("Snapshot 2") && s.contains("include"), "{s}");
    h.key("c");
    let s = h.screen();
    assert!(
        s.contains("New snapshot") && s.contains("(whole project)"),
        "{s}"
    );
    assert!(
        s.contains("stylesheets-and-more") && s.contains("esc cancel"),
        "{s}"
    );
    h.key("esc");
    h.key("d");
    let s = h.screen();
    assert!(s.contains("Delete snapshot 2 \"short\""), "{s}");
    assert!(s.contains("y delete it"), "{s}");
}

/// A SQLite database outside the project, registered as profile `shop`: table `items`
/// with three rows (one note NULL, one empty).
pub(super) fn shop_db(p: &Project) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT);
         INSERT INTO items VALUES (1, 'lamp', NULL), (2, 'desk', ''), (3, 'chair', 'old');",
    )
    .unwrap();
    crate::engine::db::profile::add(
        &store(p),
        "shop",
        &format!("sqlite://{}", path.display()),
        None,
    )
    .unwrap();
    (dir, path)
}

#[test]
fn create_with_the_database_then_enter_shows_table_and_row_changes() {
    let (dir, p) = site();
    let (_db_dir, db_path) = shop_db(&p);
    let mut h = open(dir.path(), 100, 30);
    h.key("c");
    let s = h.screen();
    assert!(
        s.contains("Database:") && s.contains("(none)") && s.contains("shop"),
        "{s}"
    );
    assert!(s.contains("tab name/domain/database"), "{s}");
    h.type_text("with db");
    // name → domain → database; choose `shop`
    h.key("tab");
    h.key("tab");
    h.key("j");
    assert!(h.screen().contains("▸ shop"), "{}", h.screen());
    h.key("enter");
    wait_until(&mut h, "the snapshot", |h| {
        h.screen().contains("My Snapshots · 1 ") && h.app.job_table().running().count() == 0
    });
    assert!(
        status(&h).contains("snapshot 1 \"with db\": 3 files")
            && status(&h).contains("database shop"),
        "{}",
        status(&h)
    );
    assert!(snapshot::db_part(&store(&p), 1).unwrap().is_some());
    let s = h.wait_for("1 tables: 1 data, 0 checksum");
    let row = s.lines().find(|l| l.contains("with db")).unwrap();
    assert!(row.contains("[db]"), "{row}");
    assert!(s.contains("database shop ·"), "{s}");

    // change a row and add a column; edit a file too
    let c = rusqlite::Connection::open(&db_path).unwrap();
    c.execute_batch(
        "UPDATE items SET name = 'lamp, brass' WHERE id = 1;
         ALTER TABLE items ADD COLUMN color TEXT;",
    )
    .unwrap();
    drop(c);
    std::fs::write(dir.path().join("index.php"), "<?php echo 'edited';\n").unwrap();
    h.key("enter");
    wait_until(&mut h, "Compare", |h| {
        h.app.current_screen() == ScreenId::Compare
    });
    let s = h.wait_for("db:shop/items.rows");
    assert!(s.contains("index.php"), "{s}");
    assert!(s.contains("M db:shop/items"), "{s}");
    assert!(s.contains("A db:shop/forward.sql"), "{s}");
    assert!(s.contains("A db:shop/reverse.sql"), "{s}");
    // index.php, the table's schema, then its rows
    h.key("j");
    let s = h.wait_for("\"color\" text NULL");
    assert!(s.contains("db:shop/items · +"), "{s}");
    h.key("j");
    let s = h.wait_for("db:shop/items.rows ·");
    assert!(
        s.contains("- id=1 | name='lamp' | note=NULL"),
        "the old row: {s}"
    );
    assert!(
        s.contains("+ id=1 | name='lamp, brass' | note=NULL | color=NULL"),
        "the new row: {s}"
    );
    h.key("j");
    let s = h.wait_for("db:shop/forward.sql ·");
    assert!(
        s.contains("UPDATE \"items\" SET \"name\" = 'lamp, brass' WHERE \"id\" = 1;"),
        "{s}"
    );
}

#[test]
fn a_database_that_cannot_be_reached_is_reported_and_the_file_diff_still_opens() {
    let (dir, p) = site();
    let (db_dir, _db_path) = shop_db(&p);
    let mut st = store(&p);
    let mut conn = crate::engine::db::profile::connect(&p.root, &st, "shop", None).unwrap();
    snapshot::create_with_db(
        &p,
        &mut st,
        Some("both"),
        None,
        Some(snapshot::DbPart {
            profile: "shop",
            db: conn.as_mut(),
        }),
        &Progress::silent(),
    )
    .unwrap();
    drop(conn);
    drop(db_dir);
    std::fs::write(dir.path().join("new.js"), "let x = 1;\n").unwrap();
    let mut h = open(dir.path(), 100, 30);
    h.key("enter");
    wait_until(&mut h, "Compare", |h| {
        h.app.current_screen() == ScreenId::Compare
    });
    let s = h.wait_for("new.js");
    assert!(!s.contains("db:shop"), "{s}");
    let st = status(&h);
    assert!(
        st.contains("database shop:") && st.contains("SQLite"),
        "{st}"
    );
}

#[test]
fn database_changes_alone_open_compare_and_destructive_steps_are_named() {
    let (dir, p) = site();
    let (_db_dir, db_path) = shop_db(&p);
    let mut st = store(&p);
    let mut conn = crate::engine::db::profile::connect(&p.root, &st, "shop", None).unwrap();
    snapshot::create_with_db(
        &p,
        &mut st,
        Some("db"),
        None,
        Some(snapshot::DbPart {
            profile: "shop",
            db: conn.as_mut(),
        }),
        &Progress::silent(),
    )
    .unwrap();
    crate::engine::db::collect(conn.as_mut(), "DROP TABLE items").unwrap();
    drop(conn);
    assert!(db_path.exists());
    let mut h = open(dir.path(), 100, 30);
    h.key("enter");
    wait_until(&mut h, "Compare", |h| {
        h.app.current_screen() == ScreenId::Compare
    });
    let s = h.wait_for("D db:shop/items.rows");
    assert!(s.contains("D db:shop/items"), "{s}");
    let st = status(&h);
    assert!(
        st.contains("database shop:") && st.contains("refused without --allow-destructive"),
        "{st}"
    );
}

#[test]
fn database_parts_render_at_80x24() {
    let (dir, p) = site();
    let (_db_dir, _db_path) = shop_db(&p);
    for i in 0..6 {
        snapshot::save_domain(
            &store(&p),
            &Domain {
                name: format!("domain-{i}"),
                include: vec!["app".into()],
                exclude: vec![],
            },
        )
        .unwrap();
    }
    let mut st = store(&p);
    let mut conn = crate::engine::db::profile::connect(&p.root, &st, "shop", None).unwrap();
    snapshot::create_with_db(
        &p,
        &mut st,
        Some("with db"),
        None,
        Some(snapshot::DbPart {
            profile: "shop",
            db: conn.as_mut(),
        }),
        &Progress::silent(),
    )
    .unwrap();
    let mut h = open(dir.path(), 80, 24);
    // the details (below the list here) keep their last line and gain the database one
    let s = h.wait_for("database shop · 1 tables: 1 data, 0 checksum");
    assert!(s.contains("enter diff with the working tree"), "{s}");
    let row = s.lines().find(|l| l.contains("   1   with")).unwrap();
    assert!(row.contains("[db]"), "{row}");
    // many domains and a profile: both pickers and the keys line fit
    h.key("c");
    h.key("tab");
    h.key("G");
    h.key("j");
    let s = h.screen();
    assert!(s.contains("▸ domain-5") || s.contains("domain-5"), "{s}");
    assert!(s.contains("Database:") && s.contains("(none)"), "{s}");
    assert!(s.contains("esc cancel"), "{s}");
    h.key("j");
    assert!(h.screen().contains("▸ shop"), "{}", h.screen());
    h.key("k");
    h.key("k");
    let s = h.screen();
    assert!(s.contains("▸ domain-5"), "{s}");
}
