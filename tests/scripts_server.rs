//! Builds on a server (issue 14, point 3): `devsky build apply SCRIPT --server NAME`
//! through the devsky agent over HTTP (`devsky serve --db sqlite:FILE`) and over ssh
//! (`agent --stdio --db`, a private sshd), with a SQLite database beside the server's root:
//! the files and the SQL in one journaled deployment, recorded in My Builds (target
//! `server:NAME`) and in the server's history; rolled back from the Deploy history
//! (`devsky deploy rollback`) and from My Builds (`devsky build rollback`); a conflicting
//! file and row on the server refuse the build naming both, with nothing changed.
//! The agent killed at each of its crash points in such a deployment (`DEVSKY_CRASH_AT`,
//! the SQL's included) and started again recovers the root and the database to exactly
//! the old or exactly the new state.
//! Oracles: the tests' own tree walker (tests/support/tree.rs) and the sqlite3 client's
//! `.dump`; for MariaDB (over HTTP), its own SHOW CREATE TABLE + CHECKSUM TABLE.

mod support;
use support::agent::{Agent, create_key, start_agent};
use support::cli::devsky;
use support::scripts::{Lab, OLD_SQL, change_files, change_sql, dump, old_rows, sqlite3};
use support::sshd::Sshd;
use support::tree::{assert_same, walk};

use std::path::PathBuf;

/// A changed lab (SQLite database `app`, snapshot `before`, then files and database
/// changed), the server's root (a copy of the old tree) and its database (a copy of the
/// old one, outside the root), and the old database's dump.
struct Site {
    lab: Lab,
    app: PathBuf,
    root: PathBuf,
    sdb: PathBuf,
    /// A copy of the old database.
    old_db: PathBuf,
    old_dump: String,
}

fn site() -> Site {
    let lab = Lab::new();
    let app = lab.path("app.db");
    sqlite3(&app, &format!("{OLD_SQL}{}", old_rows()));
    let old_dump = dump(&app);
    let sdb = lab.path("server.db");
    std::fs::copy(&app, &sdb).unwrap();
    let old_db = lab.path("old.db");
    std::fs::copy(&app, &old_db).unwrap();
    lab.run(&[
        "db",
        "add",
        "app",
        "--url",
        &format!("sqlite://{}", app.display()),
    ]);
    lab.snapshot("app");
    change_files(&lab.proj);
    sqlite3(&app, &change_sql(false));
    let root = lab.target("www");
    Site {
        lab,
        app,
        root,
        sdb,
        old_db,
        old_dump,
    }
}

/// `devsky serve --db sqlite:FILE` for the site, added as server `site`.
fn http_agent(s: &Site) -> Agent {
    let state = s.lab.path("state");
    let key = create_key(&s.root, &state);
    let db = format!("sqlite:{}", s.sdb.display());
    let agent = start_agent(
        &s.root,
        &state,
        s.lab.path("agent.log"),
        &["--db", &db],
        &[],
    );
    s.lab.run(&[
        "server", "add", "site", "--url", &agent.url, "--key", &key, "--env", "staging",
    ]);
    agent
}

/// A private sshd; server `site` over it, its agent given `--db sqlite:FILE`.
fn ssh_agent(s: &Site) -> Sshd {
    let xdg = s.lab.path("xdg");
    let sshd = Sshd::start(
        s.lab.dir.path(),
        &[("XDG_DATA_HOME", xdg.display().to_string())],
    );
    let db = format!("sqlite:{}", s.sdb.display());
    sshd.add_server_with(
        &s.lab.proj,
        "site",
        &s.root,
        "staging",
        &["--remote-db", &db],
    );
    sshd
}

fn assert_new(s: &Site, what: &str) {
    assert_same(&walk(&s.root), &walk(&s.lab.proj), what);
    assert_eq!(dump(&s.sdb), dump(&s.app), "{what}: the database");
}

fn assert_old(s: &Site, what: &str) {
    assert_same(&walk(&s.root), &walk(&s.lab.old), what);
    assert_eq!(dump(&s.sdb), s.old_dump, "{what}: the database");
}

/// Build, check, roll back from the Deploy history, check; build again, roll back from
/// My Builds, check.
fn build_and_roll_back(s: &Site) {
    let id = s.lab.script(&[]);
    let b = s
        .lab
        .json(&["build", "apply", &id, "--server", "site", "--json"]);
    assert_eq!(b["status"], "done", "{b}");
    assert_eq!(b["target"], "server:site");
    let dep = b["deployment"].as_i64().unwrap();
    assert_new(s, "after the build on the server");

    let history = s.lab.json(&["deploy", "history", "site", "--json"]);
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["id"].as_i64(), Some(dep), "{history}");
    assert_eq!(last["status"], "done", "{history}");
    let list = s.lab.json(&["build", "list", "--json"]);
    assert_eq!(list[0]["target"], "server:site", "{list}");

    // The Deploy history's rollback undoes the files and the SQL.
    s.lab.run(&["deploy", "rollback", "site", "--yes"]);
    assert_old(s, "after the rollback from the deploy history");

    // Again, rolled back from My Builds this time.
    let b = s
        .lab
        .json(&["build", "apply", &id, "--server", "site", "--json"]);
    assert_eq!(b["status"], "done", "{b}");
    assert_new(s, "after the second build");
    let bid = b["id"].as_i64().unwrap().to_string();
    s.lab.run(&["build", "rollback", &bid, "--yes"]);
    assert_old(s, "after `build rollback`");
    let shown = s.lab.json(&["build", "show", &bid, "--json"]);
    assert_eq!(shown["status"], "rolled_back", "{shown}");
}

#[test]
fn server_build_over_http_with_sqlite_and_rollback_from_history() {
    let s = site();
    let _agent = http_agent(&s);
    build_and_roll_back(&s);
}

#[test]
fn server_build_over_ssh_with_sqlite_and_rollback_from_history() {
    let s = site();
    let _sshd = ssh_agent(&s);
    build_and_roll_back(&s);
}

#[test]
fn server_build_with_a_conflicting_file_and_row_is_refused_naming_both() {
    let s = site();
    let _agent = http_agent(&s);
    let id = s.lab.script(&[]);
    std::fs::write(
        s.root.join("app/m2/f12.php"),
        b"<?php // edited on the server\n",
    )
    .unwrap();
    sqlite3(
        &s.sdb,
        "UPDATE items SET name = 'edited there' WHERE id = 2;",
    );
    let (tree, db) = (walk(&s.root), dump(&s.sdb));
    let out = devsky(&["build", "apply", &id, "--server", "site"], &s.lab.proj);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("app/m2/f12.php"), "the file is named: {err}");
    assert!(err.contains("items row 2"), "the row is named: {err}");
    assert_same(&walk(&s.root), &tree, "the refused server's tree");
    assert_eq!(dump(&s.sdb), db, "the refused server's database");
    let list = s.lab.json(&["build", "list", "--json"]);
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(0),
        "nothing recorded: {list}"
    );
}

#[test]
fn server_build_with_sql_on_an_agent_without_a_database_is_refused() {
    let s = site();
    let state = s.lab.path("state");
    let key = create_key(&s.root, &state);
    let agent = start_agent(&s.root, &state, s.lab.path("agent.log"), &[], &[]);
    s.lab.run(&[
        "server", "add", "site", "--url", &agent.url, "--key", &key, "--env", "staging",
    ]);
    let id = s.lab.script(&[]);
    let out = devsky(&["build", "apply", &id, "--server", "site"], &s.lab.proj);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("--db"), "{err}");
    assert_old(&s, "after the refused build");
}

/// The agent crashed at every crash point of a deployment with SQL (`DEVSKY_CRASH_AT=n`,
/// n = 1, 2, ... until the build completes), then started again (it recovers at start):
/// root and database exactly old or exactly new, the same for both.
#[test]
fn agent_crashed_at_every_point_of_a_build_with_sql_recovers_to_old_or_new() {
    support::need_test_hooks();
    let s = site();
    let id = s.lab.script(&[]);
    let (old, new) = (walk(&s.lab.old), walk(&s.lab.proj));
    let new_dump = dump(&s.app);
    let mut saw = (false, false);
    let mut points = std::collections::BTreeSet::new();
    for n in 1.. {
        assert!(n < 200, "the build never completed");
        let root = s.lab.target(&format!("www{n}"));
        let sdb = s.lab.path(&format!("server{n}.db"));
        std::fs::copy(&s.old_db, &sdb).unwrap();
        let state = s.lab.path(&format!("state{n}"));
        let key = create_key(&root, &state);
        let db = format!("sqlite:{}", sdb.display());
        let log = s.lab.path(&format!("agent{n}.log"));
        let crash = n.to_string();
        let mut agent = start_agent(
            &root,
            &state,
            log.clone(),
            &["--db", &db],
            &[("DEVSKY_CRASH_AT", crash.as_str())],
        );
        let name = format!("s{n}");
        s.lab.run(&[
            "server", "add", &name, "--url", &agent.url, "--key", &key, "--env", "staging",
        ]);
        let out = devsky(&["build", "apply", &id, "--server", &name], &s.lab.proj);
        let crashed = agent.exited();
        let text = agent.log_text();
        if let Some(p) = text.find("crash point") {
            points.insert(text[p..].split(['(', ')']).nth(1).unwrap_or("").to_string());
        }
        drop(agent);
        // Started again: it recovers first.
        let again = start_agent(
            &root,
            &state,
            s.lab.path(&format!("again{n}.log")),
            &["--db", &db],
            &[],
        );
        drop(again);
        let tree = walk(&root);
        let files_new = if tree == old {
            false
        } else if tree == new {
            true
        } else {
            panic!("crash point {n}: the root is neither old nor new")
        };
        let d = dump(&sdb);
        let db_new = if d == s.old_dump {
            false
        } else if d == new_dump {
            true
        } else {
            panic!("crash point {n}: the database is neither old nor new:\n{d}")
        };
        assert_eq!(
            files_new,
            db_new,
            "crash point {n}: files and database disagree ({})",
            String::from_utf8_lossy(&out.stderr)
        );
        if !crashed {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(files_new, "the uncrashed build");
            break;
        }
        if files_new {
            saw.1 = true;
        } else {
            saw.0 = true;
        }
    }
    assert!(saw.0, "some crashes leave the old state");
    eprintln!("crash points reached: {points:?}");
    for want in [
        "after writing the journal",
        "build: SQL committed",
        "before the final status",
    ] {
        assert!(
            points.contains(want),
            "crash point {want:?} reached: {points:?}"
        );
    }
}

/// The same over HTTP with MariaDB (`serve --db mysql://...`, the SQL step by step):
/// build -> the changed original (SHOW CREATE TABLE + CHECKSUM TABLE of the server
/// itself), the Deploy history's rollback -> the old state.
#[test]
fn server_build_over_http_with_mariadb_and_rollback_from_history() {
    let m = support::mariadb::MariaDb::start();
    let lab = Lab::new();
    for db in ["src", "tgt"] {
        m.sql(&format!(
            "CREATE DATABASE {db}; USE {db}; {OLD_SQL} {}",
            old_rows()
        ));
    }
    let old_state = support::scripts::mariadb_state(&m, "tgt");
    lab.run(&["db", "add", "app", "--url", &m.url("src")]);
    lab.snapshot("app");
    change_files(&lab.proj);
    m.sql(&format!("USE src; {}", change_sql(true)));
    let id = lab.script(&[]);
    let root = lab.target("www");
    let state = lab.path("state");
    let key = create_key(&root, &state);
    let _agent = start_agent(
        &root,
        &state,
        lab.path("agent.log"),
        &["--db", &m.url("tgt")],
        &[],
    );
    let url = _agent.url.clone();
    lab.run(&[
        "server", "add", "site", "--url", &url, "--key", &key, "--env", "staging",
    ]);
    let b = lab.json(&["build", "apply", &id, "--server", "site", "--json"]);
    assert_eq!(b["status"], "done", "{b}");
    assert_same(&walk(&root), &walk(&lab.proj), "the root after the build");
    assert_eq!(
        support::scripts::mariadb_state(&m, "tgt"),
        support::scripts::mariadb_state(&m, "src"),
        "tgt after the build"
    );
    lab.run(&["deploy", "rollback", "site", "--yes"]);
    assert_same(&walk(&root), &walk(&lab.old), "the root after the rollback");
    assert_eq!(
        support::scripts::mariadb_state(&m, "tgt"),
        old_state,
        "tgt after the rollback"
    );
}
