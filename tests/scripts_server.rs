//! Builds on a server (issue 14, point 3): `devsky build apply SCRIPT --server NAME`
//! through the devsky agent over HTTP (`devsky serve --db sqlite:FILE`) and over ssh
//! (`agent --stdio --db`, a private sshd), with a SQLite database beside the server's root:
//! the files and the SQL in one journaled deployment, recorded in My Builds (target
//! `server:NAME`) and in the server's history; rolled back from the Deploy history
//! (`devsky deploy rollback`) and from My Builds (`devsky build rollback`); a conflicting
//! file and row on the server refuse the build naming both, with nothing changed.
//! Oracles: the tests' own tree walker (tests/support/tree.rs) and the sqlite3 client's
//! `.dump`.

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
    old_dump: String,
}

fn site() -> Site {
    let lab = Lab::new();
    let app = lab.path("app.db");
    sqlite3(&app, &format!("{OLD_SQL}{}", old_rows()));
    let old_dump = dump(&app);
    let sdb = lab.path("server.db");
    std::fs::copy(&app, &sdb).unwrap();
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
    sqlite3(&s.sdb, "UPDATE items SET name = 'edited there' WHERE id = 2;");
    let (tree, db) = (walk(&s.root), dump(&s.sdb));
    let out = devsky(&["build", "apply", &id, "--server", "site"], &s.lab.proj);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("app/m2/f12.php"), "the file is named: {err}");
    assert!(err.contains("items row 2"), "the row is named: {err}");
    assert_same(&walk(&s.root), &tree, "the refused server's tree");
    assert_eq!(dump(&s.sdb), db, "the refused server's database");
    let list = s.lab.json(&["build", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "nothing recorded: {list}");
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
