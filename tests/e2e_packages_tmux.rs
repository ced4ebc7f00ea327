//! End to end (issue 16, done-when, the TUI path): two local stores, A and B, each a real
//! `devsky` inside tmux at 80x24, and one real `devsky registry serve` on loopback, on
//! SQLite and on PostgreSQL. A submits an app, the library it depends on and an update to
//! the app (`u_alice.shop`) from the Packages screen; B syncs and installs the update, which
//! brings the app and the library first (the resolution confirmed); A takes a record into
//! work in Codebase and B's Codebase list shows A's claim, B takes another and A's list
//! shows B's. Both quit and give the terminal back.
//!
//! Needs tmux and, for the PostgreSQL run, PostgreSQL's server (`scripts/test` installs
//! both). The oracle for the install is B's store read with the `sqlite3` CLI.

mod support;

use std::path::Path;
use std::process::Command;

use support::cli::ok;
use support::packages::{archive_with, import, project};
use support::registry::{Backend, Registry};
use support::tmux::{Tmux, command_line, quit_and_check_restored};

fn store(reg: &Registry, token: &str) -> tempfile::TempDir {
    let d = project();
    ok(&["registry", "login", &reg.url, "--token", token], d.path());
    d
}

fn add(root: &Path, name: &str, version: &str, depends: &str, records: &[(i64, &str, &[u8])]) {
    let file = root.join(format!("{name}-{version}.in.sky"));
    let bytes = archive_with(name, version, depends, records, "visual", 0);
    std::fs::write(&file, bytes).unwrap();
    let got = import(root, &file);
    assert_eq!(got["outcome"], "imported", "{got}");
}

fn tui(root: &Path) -> Tmux {
    let config = root.join(".devsky/test-config");
    Tmux::start(80, 24, &command_line(root, &config))
}

fn scenario(backend: Backend) {
    let reg = Registry::start(backend);
    let (alice, bob) = (reg.user("alice", false), reg.user("bob", false));
    let a = store(&reg, &alice);
    let b = store(&reg, &bob);
    add(
        a.path(),
        "dev",
        "1.0.0",
        "",
        &[(50001, "f:dev/core.php", b"<?php // dev\n")],
    );
    add(
        a.path(),
        "shop",
        "1.2.0",
        "dev@^1",
        &[(50001, "f:app/main.php", b"<?php // shop\n")],
    );
    add(
        a.path(),
        "u_alice.shop",
        "0.1.0",
        "dev@^1 shop@^1.2",
        &[(50001, "f:app/cart-fix.php", b"<?php // fix\n")],
    );

    // A submits all three from the Packages screen (newest first: the update, shop, dev).
    let ta = tui(a.path());
    ta.wait_text("records");
    ta.send(&["7"]);
    ta.wait_text("Project · 3 packages");
    ta.send(&["Tab", "s"]);
    ta.wait_text("Submit u_alice.shop 0.1.0?");
    ta.send(&["y"]);
    ta.wait_text("submitted u_alice.shop 0.1.0");
    ta.send(&["j", "s"]);
    let s = ta.wait_text("Submit shop 1.2.0?");
    assert!(s.contains("Tune"), "the Tune report first:\n{s}");
    ta.send(&["y"]);
    ta.wait_text("submitted shop 1.2.0");
    ta.send(&["j", "s"]);
    ta.wait_text("Submit dev 1.0.0?");
    ta.send(&["y"]);
    ta.wait_text("submitted dev 1.0.0");

    // B syncs and installs the update (dev, shop, u_alice.shop by name): the resolution
    // shows dev, then shop, then the update.
    let tb = tui(b.path());
    tb.wait_text("records");
    tb.send(&["7"]);
    tb.wait_text("Nothing synced yet");
    tb.send(&["u"]);
    tb.wait_text("Registry · 3 packages");
    tb.send(&["j", "j", "i"]);
    let s = tb.wait_text("Install?");
    let at = |p: &str| s.find(p).unwrap_or_else(|| panic!("no {p:?}:\n{s}"));
    let (dev, shop, update) = (
        at("+ dev 1.0.0"),
        at("+ shop 1.2.0"),
        at("+ u_alice.shop 0.1.0"),
    );
    assert!(dev < shop && shop < update, "dependencies first:\n{s}");
    tb.send(&["y"]);
    tb.wait_text("installed dev 1.0.0, shop 1.2.0");
    let out = Command::new("sqlite3")
        .arg(b.path().join(".devsky/dev.db"))
        .arg("SELECT name || ' ' || version FROM _dev_packages ORDER BY id")
        .output()
        .expect("the sqlite3 CLI is needed: apt-get install sqlite3");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "dev 1.0.0\nshop 1.2.0\nu_alice.shop 0.1.0\n"
    );

    // A takes shop's record into work in Codebase (its second record).
    ta.send(&["1"]);
    ta.wait_text("f:app/main.php");
    ta.send(&["j", "c"]);
    let s = ta.wait_text("taken into work by you");
    assert!(s.contains("⚑ mine"), "{s}");
    // B sees A's claim in its Codebase list, on that record.
    tb.send(&["1"]);
    let s = tb.wait_text("⚑ alice");
    let row = s.lines().find(|l| l.contains("⚑ alice")).unwrap();
    assert!(row.contains("f:app/main.php"), "{row}");
    // B takes dev's record (its first) into work; A's list shows B's claim on it.
    tb.send(&["g", "c"]);
    tb.wait_text("taken into work by you");
    ta.send(&["7"]);
    ta.wait_text("Project · 3 packages");
    ta.send(&["1"]);
    let s = ta.wait_text("⚑ bob");
    let row = s.lines().find(|l| l.contains("⚑ bob")).unwrap();
    assert!(row.contains("f:dev/core.php"), "{row}");

    quit_and_check_restored(&ta);
    quit_and_check_restored(&tb);
}

#[test]
fn packages_and_claims_between_two_stores_in_tmux_on_sqlite() {
    scenario(Backend::Sqlite);
}

#[test]
fn packages_and_claims_between_two_stores_in_tmux_on_postgres() {
    scenario(Backend::Postgres);
}
