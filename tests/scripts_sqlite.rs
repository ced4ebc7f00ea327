//! Change scripts and builds with SQLite (issue 14, points 1, 2, 4): a generated project
//! and its database are snapshotted, changed (files; a new column, a dropped column with
//! data, a new index, changed rows), turned into a script, built on a copy of the old
//! state, and rolled back. Oracles: the tests' own tree walker (tests/support/tree.rs)
//! and the sqlite3 client's `.dump`.

mod support;
use support::cli::devsky;
use support::scripts::{Lab, OLD_SQL, change_files, change_sql, dump, old_rows, sqlite3};
use support::tree::{assert_same, walk};

/// The lab with a SQLite database beside the project (profile `app`), snapshotted as
/// `before`, then changed; and a copy of the old database (profile `target`) at `tdb`.
fn changed_lab() -> (Lab, std::path::PathBuf, std::path::PathBuf, String) {
    let lab = Lab::new();
    let app = lab.path("app.db");
    sqlite3(&app, &format!("{OLD_SQL}{}", old_rows()));
    let old_dump = dump(&app);
    let tdb = lab.path("target.db");
    std::fs::copy(&app, &tdb).unwrap();
    lab.run(&[
        "db",
        "add",
        "app",
        "--url",
        &format!("sqlite://{}", app.display()),
    ]);
    lab.run(&[
        "db",
        "add",
        "target",
        "--url",
        &format!("sqlite://{}", tdb.display()),
    ]);
    lab.snapshot("app");
    change_files(&lab.proj);
    sqlite3(&app, &change_sql(false));
    (lab, app, tdb, old_dump)
}

#[test]
fn sqlite_script_builds_on_a_copy_and_rolls_back_exactly() {
    let (lab, app, tdb, old_dump) = changed_lab();
    let id = lab.script(&[]);
    let shown = lab.json(&["script", "show", &id, "--json"]);
    assert_eq!(shown["script"]["included"][0], "before");
    assert!(shown["script"]["id"].as_i64().unwrap() > 0);
    let files = shown["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "lib/gone/a.txt" && f["after"].is_null())
    );
    let fwd = lab.run(&["script", "show", &id, "--sql"]);
    assert!(fwd.contains("stock"), "{fwd}");
    let rev = lab.run(&["script", "show", &id, "--reverse-sql"]);
    assert!(
        rev.contains("legacy 3"),
        "the reverse restores the dropped column's data: {rev}"
    );

    let target = lab.target("www");
    let b = lab.json(&[
        "build",
        "apply",
        &id,
        "--target",
        target.to_str().unwrap(),
        "--db",
        "target",
        "--json",
    ]);
    assert_eq!(b["status"], "done", "{b}");
    assert_same(
        &walk(&target),
        &walk(&lab.proj),
        "the target after the build",
    );
    assert_eq!(
        dump(&tdb),
        dump(&app),
        "the target database after the build"
    );

    let list = lab.json(&["build", "list", "--json"]);
    assert_eq!(list[0]["status"], "done");
    assert_eq!(
        list[0]["target"],
        target.canonicalize().unwrap().to_str().unwrap()
    );

    let bid = b["id"].as_i64().unwrap().to_string();
    let refused = devsky(&["build", "rollback", &bid], &lab.proj);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "rollback without --yes only says what it would do"
    );
    lab.run(&["build", "rollback", &bid, "--yes"]);
    assert_same(
        &walk(&target),
        &walk(&lab.old),
        "the target after the rollback",
    );
    assert_eq!(
        dump(&tdb),
        old_dump,
        "the target database after the rollback"
    );
    let shown = lab.json(&["build", "show", &bid, "--json"]);
    assert_eq!(shown["status"], "rolled_back");
}

#[test]
fn sqlite_build_with_a_conflicting_file_and_row_is_refused_naming_both() {
    let (lab, _app, tdb, _) = changed_lab();
    let id = lab.script(&[]);
    let target = lab.target("www");
    // The target differs from the script's pre-images in one touched file and one
    // touched row.
    std::fs::write(
        target.join("app/m2/f12.php"),
        b"<?php // edited on the target\n",
    )
    .unwrap();
    sqlite3(&tdb, "UPDATE items SET name = 'edited there' WHERE id = 2;");
    let (tree, db) = (walk(&target), dump(&tdb));
    let out = devsky(
        &[
            "build",
            "apply",
            &id,
            "--target",
            target.to_str().unwrap(),
            "--db",
            "target",
        ],
        &lab.proj,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("file app/m2/f12.php"), "{err}");
    assert!(err.contains("table items row 2"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_same(&walk(&target), &tree, "the refused target");
    assert_eq!(dump(&tdb), db, "the refused target's database");
    let list = lab.json(&["build", "list", "--json"]);
    assert!(
        list.as_array().unwrap().is_empty(),
        "no build recorded: {list}"
    );
}

#[test]
fn noise_filters_leave_out_paths_tables_and_columns_and_are_remembered() {
    let (lab, app, _tdb, _) = changed_lab();
    // A change of a timestamp column only: noise.
    sqlite3(&app, "UPDATE items SET updated = 5000 WHERE id = 15;");
    let id = lab.script(&[
        "--exclude",
        "public",
        "--exclude-table",
        "users",
        "--exclude-column",
        "items.updated",
    ]);
    let check = |id: &str| {
        let shown = lab.json(&["script", "show", id, "--json"]);
        let files = shown["files"].as_array().unwrap();
        assert!(!files.is_empty());
        assert!(
            files
                .iter()
                .all(|f| !f["path"].as_str().unwrap().starts_with("public/")),
            "{files:?}"
        );
        let fwd = shown["forward"].as_str().unwrap();
        assert!(fwd.contains("stock"), "{fwd}");
        assert!(!fwd.contains("users"), "the excluded table: {fwd}");
        assert!(!fwd.contains("5000"), "the excluded column: {fwd}");
        assert_eq!(shown["script"]["filters"]["tables"][0], "users");
    };
    check(&id);
    // The next script of the same domain remembers them.
    let again = lab.script(&[]);
    assert_ne!(again, id);
    check(&again);
    let list = lab.json(&["script", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[test]
fn a_script_keeps_its_contents_through_gc_of_its_snapshot() {
    let (lab, app, tdb, _) = changed_lab();
    let id = lab.script(&[]);
    lab.run(&["snapshot", "delete", "before"]);
    lab.run(&["gc"]);
    let target = lab.target("www");
    let b = lab.json(&[
        "build",
        "apply",
        &id,
        "--target",
        target.to_str().unwrap(),
        "--db",
        "target",
        "--json",
    ]);
    assert_eq!(b["status"], "done", "{b}");
    assert_same(&walk(&target), &walk(&lab.proj), "built after gc");
    assert_eq!(dump(&tdb), dump(&app));
    lab.run(&["build", "rollback", &b["id"].to_string(), "--yes"]);
    assert_same(
        &walk(&target),
        &walk(&lab.old),
        "rolled back after gc (old contents kept)",
    );
}

#[test]
fn only_the_picked_paths_and_tables_go_into_a_script() {
    let (lab, _app, _tdb, _) = changed_lab();
    let id = lab.script(&[
        "--only",
        "app/new/feature.php",
        "--only",
        "public/old.css",
        "--only-table",
        "items",
    ]);
    let shown = lab.json(&["script", "show", &id, "--json"]);
    let mut paths: Vec<&str> = shown["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, ["app/new/feature.php", "public/old.css"], "{shown}");
    let fwd = lab.run(&["script", "show", &id, "--sql"]);
    assert!(fwd.contains("stock"), "items is in: {fwd}");
    assert!(!fwd.contains("users"), "users was not picked: {fwd}");
    // A path that is not a change is refused, naming it.
    let out = devsky(
        &["script", "create", "--from", "before", "--only", "nope.txt"],
        &lab.proj,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.txt"));
    // Picking is not remembered: the next script has everything.
    let all = lab.script(&[]);
    let shown = lab.json(&["script", "show", &all, "--json"]);
    assert!(shown["files"].as_array().unwrap().len() > 2, "{shown}");
    assert!(
        lab.run(&["script", "show", &all, "--sql"])
            .contains("users")
    );
}
