//! TestBackend tests of the Scripts screen, one per action: the empty states, create
//! through the picker, show in Compare, build to a target folder (files checked on disk),
//! a build refused for a conflict (the report names the file, nothing changed), rollback
//! with its confirmation, wind export, and 80x24.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::engine::jobs::Progress;
use crate::engine::project::Project;
use crate::engine::snapshot;
use crate::screens::ScreenId;
use crate::shell::harness::Harness;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A project snapshotted as `before`, then changed (one file changed, one added, one
/// deleted); and a target folder holding the old files.
struct Lab {
    _dir: tempfile::TempDir,
    root: PathBuf,
    target: PathBuf,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proj");
    let target = dir.path().join("www");
    for r in [&root, &target] {
        write(r, "index.php", "<?php echo 'home';\n");
        write(r, "app/User.php", "<?php class User {}\n");
        write(r, "css/old.css", "body { color: red }\n");
    }
    let project = Project::locate(&root).unwrap();
    let mut store = project.open_store(true).unwrap();
    snapshot::create(
        &project,
        &mut store,
        Some("before"),
        None,
        &Progress::silent(),
    )
    .unwrap();
    write(&root, "index.php", "<?php echo 'home, changed';\n");
    write(&root, "app/Shop.php", "<?php class Shop {}\n");
    std::fs::remove_file(root.join("css/old.css")).unwrap();
    Lab {
        _dir: dir,
        root,
        target,
    }
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

/// Wait for the screen's job: every status it shows while one runs names it `(job #N)`.
fn idle(h: &mut Harness) {
    wait_until(h, "the job to finish", |h| {
        !status(h).contains("(job #") && h.app.job_table().running().count() == 0
    });
    h.pump();
}

fn open(root: &Path, w: u16, ht: u16) -> Harness {
    let mut h = Harness::new(root, w, ht).unwrap();
    h.key("3");
    assert_eq!(h.app.current_screen(), ScreenId::Scripts);
    wait_until(&mut h, "the lists", |h| !h.screen().contains("reading…"));
    h
}

/// Create the script through the popup: from `before` to the working tree.
fn create(h: &mut Harness) {
    h.key("c");
    let s = h.wait_for("New script");
    assert!(s.contains("before") && s.contains("working tree"), "{s}");
    h.key("tab");
    h.key("tab");
    h.type_text("release jq");
    assert!(!h.app.should_quit(), "q went to the name field");
    h.key("backspace");
    h.key("backspace");
    h.key("backspace");
    h.key("enter");
    pick_all(h);
    h.wait_for("Scripts · 1");
}

/// In the change picker (after the create form): create with every change ticked.
fn pick_all(h: &mut Harness) {
    idle(h);
    h.wait_for("Pick the changes");
    h.key("enter");
    idle(h);
}

fn build(h: &mut Harness, target: &Path) {
    h.key("b");
    h.wait_for("Build script 1");
    for _ in 0..200 {
        h.key("backspace");
    }
    h.type_text(target.to_str().unwrap());
    h.key("enter");
    idle(h);
}

#[test]
fn empty_state_says_to_take_a_snapshot_first() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.txt", "a\n");
    Project::locate(dir.path())
        .unwrap()
        .open_store(true)
        .unwrap();
    let mut h = open(dir.path(), 100, 30);
    let s = h.wait_for("No scripts yet");
    assert!(s.contains("take one on Snapshots"), "{s}");
    assert!(s.contains("No builds yet"), "{s}");
    h.key("c");
    assert!(status(&h).contains("no snapshot yet"), "{}", status(&h));
    assert!(!h.screen().contains("New script"));
    h.key("b");
    assert!(status(&h).contains("no script to build"), "{}", status(&h));
    h.key("enter");
    assert!(status(&h).contains("no script to show"), "{}", status(&h));
}

#[test]
fn create_through_the_picker_then_show_it_in_compare() {
    let lab = lab();
    let mut h = open(&lab.root, 100, 30);
    h.wait_for("Press c to turn what changed");
    create(&mut h);
    let s = h.screen();
    let row = s.lines().find(|l| l.contains("release")).expect(&s);
    assert!(row.contains("3 files") && row.contains("s1→work"), "{row}");
    assert!(
        status(&h).contains("script 1 \"release\": 3 file(s)"),
        "{}",
        status(&h)
    );
    // the engine agrees
    let store = Project::locate(&lab.root)
        .unwrap()
        .open_store(false)
        .unwrap();
    let all = crate::store::scripts::packages(store.conn()).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name, "release");

    h.key("enter");
    wait_until(&mut h, "Compare", |h| {
        h.app.current_screen() == ScreenId::Compare
    });
    let s = h.wait_for("index.php");
    assert!(
        s.contains("app/Shop.php") && s.contains("css/old.css"),
        "{s}"
    );
    h.wait_for("class Shop");
}

#[test]
fn build_to_a_folder_then_roll_it_back_after_confirming() {
    let lab = lab();
    let mut h = open(&lab.root, 100, 30);
    create(&mut h);
    build(&mut h, &lab.target);
    assert!(status(&h).contains("build 1: done"), "{}", status(&h));
    let s = h.wait_for("My Builds · 1");
    assert!(
        s.lines().any(|l| l.contains("build") && l.contains("done")),
        "{s}"
    );
    let read = |p: &str| std::fs::read_to_string(lab.target.join(p)).ok();
    assert_eq!(
        read("index.php").as_deref(),
        Some("<?php echo 'home, changed';\n")
    );
    assert_eq!(
        read("app/Shop.php").as_deref(),
        Some("<?php class Shop {}\n")
    );
    assert_eq!(read("css/old.css"), None);

    // the builds pane has the keys after a build; u asks first, n keeps it
    h.key("u");
    h.wait_for("Roll back build 1?");
    h.key("n");
    assert!(status(&h).contains("nothing rolled back"));
    assert_eq!(
        read("app/Shop.php").as_deref(),
        Some("<?php class Shop {}\n")
    );
    h.key("u");
    h.wait_for("Roll back build 1?");
    h.key("y");
    idle(&mut h);
    assert!(status(&h).contains("rolled back build 1"), "{}", status(&h));
    assert_eq!(read("index.php").as_deref(), Some("<?php echo 'home';\n"));
    assert_eq!(read("app/Shop.php"), None);
    assert_eq!(
        read("css/old.css").as_deref(),
        Some("body { color: red }\n")
    );
    let s = h.wait_for("My Builds · 2");
    assert!(s.contains("rolled_back") && s.contains("undo 1"), "{s}");
    // a rolled back build cannot be rolled back again
    h.key("j");
    h.key("u");
    assert!(
        status(&h).contains("only a build in place"),
        "{}",
        status(&h)
    );
}

#[test]
fn a_conflicting_target_is_refused_with_a_report_and_left_alone() {
    let lab = lab();
    write(&lab.target, "index.php", "<?php // edited on the target\n");
    let mut h = open(&lab.root, 100, 30);
    create(&mut h);
    build(&mut h, &lab.target);
    let s = h.wait_for("Build refused");
    assert!(s.contains("file index.php: expected file"), "{s}");
    assert!(s.contains("Nothing was changed"), "{s}");
    assert!(
        status(&h).contains("build refused: 1 conflict"),
        "{}",
        status(&h)
    );
    assert_eq!(
        std::fs::read_to_string(lab.target.join("index.php")).unwrap(),
        "<?php // edited on the target\n"
    );
    assert!(lab.target.join("css/old.css").exists());
    assert!(!lab.target.join("app/Shop.php").exists());
    h.key("esc");
    let s = h.screen();
    assert!(
        !s.contains("Build refused") && s.contains("No builds yet"),
        "{s}"
    );

    // forced: f on the database list, then it applies over the conflict
    h.key("b");
    h.wait_for("Build script 1");
    h.key("tab");
    h.key("f");
    h.wait_for("[x] force");
    h.key("enter");
    idle(&mut h);
    assert!(
        status(&h).contains("forced over 1 conflict"),
        "{}",
        status(&h)
    );
    assert!(lab.target.join("app/Shop.php").exists());
}

#[test]
fn wind_export_writes_an_executable_sh_script() {
    let lab = lab();
    let mut h = open(&lab.root, 100, 30);
    create(&mut h);
    h.key("w");
    let s = h.wait_for("as a wind");
    assert!(s.contains("change-1.sh"), "{s}");
    h.key("enter");
    idle(&mut h);
    let out = lab.root.join("change-1.sh");
    assert!(
        status(&h).contains("wind of script 1 written"),
        "{}",
        status(&h)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("#!/bin/sh\n"), "{}", &text[..80]);
    assert!(text.contains("expect 'index.php' 'file "), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o111,
        0o111
    );
}

#[test]
fn works_at_80x24() {
    let lab = lab();
    let mut h = open(&lab.root, 80, 24);
    create(&mut h);
    build(&mut h, &lab.target);
    let s = h.wait_for("My Builds · 1");
    assert!(s.contains("release") && s.contains("done"), "{s}");
    assert!(s.contains("rollback"), "the hint bar: {s}");
    h.key("b");
    let s = h.wait_for("Build script 1");
    assert!(
        s.contains("Target folder") && s.contains("enter build"),
        "{s}"
    );
    h.key("esc");
    h.key("tab");
    h.key("c");
    let s = h.wait_for("New script");
    assert!(s.contains("enter create"), "{s}");
}

#[test]
fn a_script_with_sql_builds_on_the_picked_database_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proj");
    let target = dir.path().join("www");
    for r in [&root, &target] {
        write(r, "index.php", "<?php echo 'home';\n");
    }
    let (app, tdb) = (dir.path().join("app.db"), dir.path().join("target.db"));
    let sql = |db: &Path, s: &str| {
        rusqlite::Connection::open(db)
            .unwrap()
            .execute_batch(s)
            .unwrap()
    };
    sql(
        &app,
        "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items VALUES (1, 'lamp'), (2, 'desk');",
    );
    std::fs::copy(&app, &tdb).unwrap();
    let project = Project::locate(&root).unwrap();
    let mut store = project.open_store(true).unwrap();
    for (name, db) in [("app", &app), ("target", &tdb)] {
        crate::engine::db::profile::add(&store, name, &format!("sqlite://{}", db.display()), None)
            .unwrap();
    }
    let mut conn = crate::engine::db::profile::connect(&root, &store, "app", None).unwrap();
    snapshot::create_with_db(
        &project,
        &mut store,
        Some("before"),
        None,
        Some(snapshot::DbPart {
            profile: "app",
            db: conn.as_mut(),
        }),
        &Progress::silent(),
    )
    .unwrap();
    sql(
        &app,
        "UPDATE items SET name = 'chair' WHERE id = 2; INSERT INTO items VALUES (3, 'rug');",
    );
    write(&root, "index.php", "<?php echo 'shop';\n");
    let rows = |db: &Path| -> Vec<(i64, String)> {
        let c = rusqlite::Connection::open(db).unwrap();
        let mut st = c.prepare("SELECT id, name FROM items ORDER BY id").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let old_rows = rows(&tdb);

    let mut h = open(&root, 100, 30);
    create(&mut h);
    let s = h.screen();
    let row = s.lines().find(|l| l.contains("release")).expect(&s);
    assert!(row.contains("1 files") && !row.contains(" 0 sql"), "{row}");
    // the build form: the folder, then the database list: (none), app, target
    h.key("b");
    h.wait_for("SQL step(s); the target's profile");
    h.type_text(target.to_str().unwrap());
    h.key("tab");
    h.key("down");
    h.key("down");
    h.key("enter");
    idle(&mut h);
    assert!(status(&h).contains("build 1: done"), "{}", status(&h));
    assert_eq!(
        rows(&tdb),
        rows(&app),
        "the target database after the build"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("index.php")).unwrap(),
        "<?php echo 'shop';\n"
    );
    h.wait_for("My Builds · 1");
    h.key("u");
    h.wait_for("Roll back build 1?");
    h.key("y");
    idle(&mut h);
    assert!(status(&h).contains("rolled back build 1"), "{}", status(&h));
    assert_eq!(
        rows(&tdb),
        old_rows,
        "the target database after the rollback"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("index.php")).unwrap(),
        "<?php echo 'home';\n"
    );
}

#[test]
fn create_between_two_snapshots_and_refuse_the_same_one_twice() {
    let lab = lab();
    let project = Project::locate(&lab.root).unwrap();
    let mut store = project.open_store(false).unwrap();
    snapshot::create(
        &project,
        &mut store,
        Some("after"),
        None,
        &Progress::silent(),
    )
    .unwrap();
    // the working tree moves on: a script between the snapshots does not see it
    write(&lab.root, "late.txt", "after the second snapshot\n");
    let mut h = open(&lab.root, 100, 30);
    // from after (the newest, first) to after: refused
    h.key("c");
    h.wait_for("New script");
    h.key("tab");
    h.key("down");
    h.key("enter");
    assert!(status(&h).contains("the same snapshot"), "{}", status(&h));
    // from before (down once) to after (down once on the To list)
    h.key("c");
    h.wait_for("New script");
    h.key("down");
    h.key("tab");
    h.key("down");
    h.key("enter");
    pick_all(&mut h);
    let s = h.wait_for("Scripts · 1");
    let row = s.lines().find(|l| l.contains("s1→s2")).expect(&s);
    assert!(row.contains("3 files"), "late.txt is not in it: {row}");
}

#[test]
fn the_recycle_bin_view_restores_a_file_after_confirming() {
    let lab = lab();
    let bin = crate::engine::bin::Bin::open(&lab.root).unwrap();
    bin.put("index.php", "replace 1").unwrap();
    write(&lab.root, "index.php", "<?php // overwritten\n");
    let mut h = open(&lab.root, 80, 24);
    h.key("R");
    assert!(status(&h).contains("v shows it"), "{}", status(&h));
    h.key("v");
    let s = h.screen();
    assert!(
        s.contains("Recycle bin · 1") && s.contains("index.php"),
        "{s}"
    );
    assert!(s.contains("replace 1") && s.contains("R restore"), "{s}");
    h.key("R");
    h.wait_for("Restore index.php (bin entry 1)?");
    h.key("n");
    assert_eq!(read_index(&lab), "<?php // overwritten\n");
    h.key("R");
    h.key("y");
    idle(&mut h);
    assert!(status(&h).contains("restored index.php"), "{}", status(&h));
    assert_eq!(read_index(&lab), "<?php echo 'home, changed';\n");
    // what was there went to the bin first
    let s = h.wait_for("bin restor");
    assert!(s.contains("Recycle bin · 1"), "{s}");
    h.key("v");
    h.wait_for("My Builds · 0");
}

fn read_index(lab: &Lab) -> String {
    std::fs::read_to_string(lab.root.join("index.php")).unwrap()
}

#[test]
fn rolling_back_under_a_newer_overlapping_build_is_refused_then_chained() {
    let lab = lab();
    let mut h = open(&lab.root, 100, 30);
    create(&mut h);
    build(&mut h, &lab.target);
    h.wait_for("My Builds · 1");
    let project = Project::locate(&lab.root).unwrap();
    let mut store = project.open_store(false).unwrap();
    snapshot::create(&project, &mut store, Some("mid"), None, &Progress::silent()).unwrap();
    write(&lab.root, "index.php", "<?php echo 'home, again';\n");
    // script 2 from mid (the newest snapshot, first in the picker), built on the same target
    h.key("tab");
    h.key("r");
    wait_until(&mut h, "mid in the picker", |h| {
        h.key("c");
        let there = h.screen().contains("2  mid");
        if !there {
            h.key("esc");
        }
        there
    });
    h.key("enter");
    pick_all(&mut h);
    h.wait_for("Scripts · 2");
    h.key("b");
    let s = h.wait_for("Build script 2");
    assert!(
        s.contains(lab.target.to_str().unwrap()),
        "the last target is offered: {s}"
    );
    h.key("enter");
    idle(&mut h);
    h.wait_for("My Builds · 2");
    let index = || std::fs::read_to_string(lab.target.join("index.php")).unwrap();
    assert_eq!(index(), "<?php echo 'home, again';\n");
    // build 1 (the older, second in the list): refused alone
    h.key("j");
    h.key("u");
    h.wait_for("Roll back build 1?");
    h.key("y");
    idle(&mut h);
    let s = h.wait_for("Rollback refused");
    assert!(s.contains("build 2 (script 2) touched index.php"), "{s}");
    assert_eq!(index(), "<?php echo 'home, again';\n", "nothing changed");
    h.key("esc");
    // with the chain: both, newest first
    h.key("u");
    h.wait_for("Roll back build 1?");
    h.key("c");
    h.wait_for("[x] with the newer builds");
    h.key("y");
    idle(&mut h);
    assert!(status(&h).contains("(2 build(s))"), "{}", status(&h));
    assert_eq!(index(), "<?php echo 'home';\n");
    assert_eq!(
        std::fs::read_to_string(lab.target.join("css/old.css")).unwrap(),
        "body { color: red }\n"
    );
    assert!(!lab.target.join("app/Shop.php").exists());
}

#[test]
fn archive_export_writes_a_package_archive_the_reader_reads_back() {
    let lab = lab();
    let mut h = open(&lab.root, 80, 24);
    create(&mut h);
    h.key("e");
    let s = h.wait_for("package archive");
    assert!(s.contains(".sky"), "{s}");
    h.key("enter");
    idle(&mut h);
    assert!(
        status(&h).contains("archive of script 1 written"),
        "{}",
        status(&h)
    );
    let file = std::fs::read_dir(&lab.root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "sky"))
        .expect("a .sky file in the project folder");
    let a = crate::engine::packages::archive::read(&std::fs::read(&file).unwrap()).unwrap();
    assert!(a.header.is_devsky(), "{:?}", a.header);
    assert_eq!(
        a.header.included,
        vec!["before".to_string(), "work".to_string()]
    );
    let names: Vec<&str> = a.records().map(|r| r.name.as_str()).collect();
    for want in ["f:index.php", "f:app/Shop.php", "f:css/old.css"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let index = a.records().find(|r| r.name == "f:index.php").unwrap();
    assert_eq!(index.body, b"<?php echo 'home, changed';\n");
}

#[test]
fn the_picker_at_80x24_creates_a_script_of_the_ticked_changes_only() {
    let lab = lab();
    let mut h = open(&lab.root, 80, 24);
    h.key("c");
    h.wait_for("New script");
    h.key("enter");
    idle(&mut h);
    let s = h.wait_for("Pick the changes · 3 of 3 ticked");
    for want in [
        "[x] added   app/Shop.php",
        "[x] deleted css/old.css",
        "[x] changed index.php",
    ] {
        assert!(s.contains(want), "{want}: {s}");
    }
    // a: none; enter with nothing ticked is refused
    h.key("a");
    h.wait_for("0 of 3 ticked");
    h.key("enter");
    assert!(status(&h).contains("nothing ticked"), "{}", status(&h));
    // a: all; then untick the first (app/Shop.php) with space
    h.key("a");
    h.wait_for("3 of 3 ticked");
    h.key("space");
    let s = h.wait_for("2 of 3 ticked");
    assert!(s.contains("[ ] added   app/Shop.php"), "{s}");
    h.key("enter");
    idle(&mut h);
    let project = Project::locate(&lab.root).unwrap();
    let store = project.open_store(false).unwrap();
    let l = crate::engine::scripts::load(
        &project,
        crate::engine::scripts::resolve(&store, "1").unwrap(),
    )
    .unwrap();
    let mut paths: Vec<&str> = l.files.iter().map(|f| f.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["css/old.css", "index.php"]);
}
