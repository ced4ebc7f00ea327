//! Change scripts and builds with MariaDB (issue 14, points 1, 2, 4): the round trip of
//! tests/scripts_sqlite.rs on a private MariaDB server, whose own `SHOW CREATE TABLE` and
//! `CHECKSUM TABLE` are the oracle for the database; the tests' walker for the files.
//! Also: rolling back an older build that a newer one overlaps is refused, or chained.

mod support;
use support::cli::devsky;
use support::mariadb::MariaDb;
use support::scripts::{Lab, OLD_SQL, change_files, change_sql, mariadb_state, old_rows};
use support::tree::{assert_same, walk};

/// The lab with database `src` (profile `app`) snapshotted and changed, and `tgt`
/// (profile `target`), a copy of the old `src`.
fn changed_lab(m: &MariaDb) -> (Lab, String) {
    let lab = Lab::new();
    for db in ["src", "tgt"] {
        m.sql(&format!(
            "CREATE DATABASE {db}; USE {db}; {OLD_SQL} {}",
            old_rows()
        ));
    }
    let old = mariadb_state(m, "src");
    assert_eq!(old, mariadb_state(m, "tgt"));
    lab.run(&["db", "add", "app", "--url", &m.url("src")]);
    lab.run(&["db", "add", "target", "--url", &m.url("tgt")]);
    lab.snapshot("app");
    change_files(&lab.proj);
    m.sql(&format!("USE src; {}", change_sql(true)));
    (lab, old)
}

#[test]
fn mariadb_script_builds_on_a_copy_and_rolls_back_exactly() {
    let m = MariaDb::start();
    let (lab, old) = changed_lab(&m);
    let id = lab.script(&[]);
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
    assert!(b["sql_done"].as_i64().unwrap() > 0, "{b}");
    assert_same(
        &walk(&target),
        &walk(&lab.proj),
        "the target after the build",
    );
    assert_eq!(
        mariadb_state(&m, "tgt"),
        mariadb_state(&m, "src"),
        "tgt after the build"
    );

    let bid = b["id"].as_i64().unwrap().to_string();
    lab.run(&["build", "rollback", &bid, "--yes"]);
    assert_same(
        &walk(&target),
        &walk(&lab.old),
        "the target after the rollback",
    );
    assert_eq!(mariadb_state(&m, "tgt"), old, "tgt after the rollback");
}

#[test]
fn rolling_back_an_overlapped_build_is_refused_or_chained() {
    let m = MariaDb::start();
    let (lab, old) = changed_lab(&m);
    let first = lab.script(&[]);
    let target = lab.target("www");
    let t = target.to_str().unwrap();
    let b1 = lab.json(&[
        "build", "apply", &first, "--target", t, "--db", "target", "--json",
    ]);
    // A second change of the same file and table, from a snapshot of the first's result.
    lab.run(&["snapshot", "create", "--name", "second", "--db", "app"]);
    support::cli::write(&lab.proj, "app/m0/f0.php", b"<?php // second change\n");
    m.sql("UPDATE src.items SET price = 99 WHERE id = 1");
    let second = lab.json(&["script", "create", "--from", "second", "--json"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let b2 = lab.json(&[
        "build", "apply", &second, "--target", t, "--db", "target", "--json",
    ]);
    assert_eq!(b2["status"], "done", "{b2}");
    let (tree, db) = (walk(&target), mariadb_state(&m, "tgt"));

    let id1 = b1["id"].as_i64().unwrap().to_string();
    let out = devsky(&["build", "rollback", &id1, "--yes"], &lab.proj);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("build {}", b2["id"]))
            && err.contains("app/m0/f0.php")
            && err.contains("table items"),
        "the reason names the newer build and what it shares: {err}"
    );
    assert_same(
        &walk(&target),
        &tree,
        "the refused rollback changed nothing",
    );
    assert_eq!(mariadb_state(&m, "tgt"), db);

    lab.run(&["build", "rollback", &id1, "--chain", "--yes"]);
    assert_same(
        &walk(&target),
        &walk(&lab.old),
        "after the chained rollback",
    );
    assert_eq!(
        mariadb_state(&m, "tgt"),
        old,
        "tgt after the chained rollback"
    );
    let list = lab.json(&["build", "list", "--json"]);
    let status = |id: &serde_json::Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|b| &b["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status(&b1["id"]), "rolled_back");
    assert_eq!(status(&b2["id"]), "rolled_back");
}
