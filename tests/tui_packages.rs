//! The Packages screen and the claims of the Codebase screen at 80x24 on ratatui's
//! TestBackend (issue 16, point 4), against a real `devsky registry serve` on loopback
//! (SQLite) and two real stores: A submits from the screen (the Tune report first; a
//! package with Tune errors is refused and never reaches the registry), B syncs and
//! installs with the resolution shown first (dependencies first), and an impossible
//! install shows the resolver's explanation. In Codebase, A takes a record into work and
//! B's list shows A's claim; B cannot take it; A releases it.
//!
//! A package made here (a change script) that My Builds built shows its builds, and the
//! SKY_ID the registry reserved once it is submitted.
//!
//! Oracles: the registry's index over plain HTTP, the stores with the `sqlite3` CLI.

mod support;

use std::path::Path;
use std::process::Command;

use devsky::shell::harness::Harness;
use serde_json::Value;
use support::cli::{ok, write};
use support::packages::{archive_with, import, project};
use support::registry::{Backend, Registry};

/// A store logged in to `reg` as the holder of `token`.
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

/// (name, version) of every index entry, asked over plain HTTP.
fn index(reg: &Registry, token: &str) -> Vec<(String, String)> {
    let v: Value = reg
        .http
        .get(format!("{}/api/v1/index?since=0", reg.url))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut out: Vec<(String, String)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn sql(root: &Path, q: &str) -> Vec<String> {
    let out = Command::new("sqlite3")
        .arg(root.join(".devsky/dev.db"))
        .arg(q)
        .output()
        .expect("the sqlite3 CLI is needed: apt-get install sqlite3");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

/// Wait until the status line (the last row) holds `needle`.
fn wait_status(h: &mut Harness, needle: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        h.pump();
        let s = h.screen();
        if last_line(&s).contains(needle) {
            return s;
        }
        assert!(
            start.elapsed().as_secs() < 30,
            "no status {needle:?}; screen:\n{s}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Submit the selected package of the Project pane: the Tune popup, then `y`.
fn submit_selected(h: &mut Harness, label: &str) {
    h.key("s");
    let s = h.wait_for(&format!("Submit {label}?"));
    assert!(s.contains("Tune"), "the Tune report comes first:\n{s}");
    h.key("y");
    wait_status(h, &format!("submitted {label}"));
}

#[test]
fn packages_screen_submits_after_tune_installs_after_resolution_and_explains_conflicts() {
    let reg = Registry::start(Backend::Sqlite);
    let (alice, bob) = (reg.user("alice", false), reg.user("bob", false));
    let a = store(&reg, &alice);
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
    // Runs fixed record 9, which is nowhere: a Tune error.
    add(
        a.path(),
        "broken",
        "1.0.0",
        "",
        &[(50001, "f:b.php", b"RUN CODEBASE: 9\n")],
    );
    add(
        a.path(),
        "app",
        "1.0.0",
        "dev@^2",
        &[(50001, "f:x.php", b"<?php\n")],
    );

    let mut ha = Harness::new(a.path(), 80, 24).unwrap();
    ha.key("7");
    let s = ha.wait_for("Project · 4 packages");
    assert!(s.contains("Nothing synced yet"), "{s}");
    assert!(s.contains(&reg.url[..20]), "the registry's URL:\n{s}");
    ha.key("tab");
    // Newest first: app, broken, shop, dev.
    submit_selected(&mut ha, "app 1.0.0");
    ha.key("j");
    ha.key("s");
    let s = ha.wait_for("Submit broken 1.0.0: refused");
    assert!(s.contains("missing-record"), "the finding is shown:\n{s}");
    ha.key("y"); // refused: y does not submit
    let s = ha.screen();
    assert!(s.contains("refused"), "the popup stays until closed:\n{s}");
    ha.key("esc");
    ha.key("j");
    submit_selected(&mut ha, "shop 1.2.0");
    ha.key("j");
    submit_selected(&mut ha, "dev 1.0.0");
    // The SKY_IDs are shown on A's packages.
    let s = ha.wait_for("SKY_ID");
    assert!(s.contains("no SKY_ID"), "broken has none:\n{s}");
    assert_eq!(
        index(&reg, &bob),
        vec![
            ("app".into(), "1.0.0".into()),
            ("dev".into(), "1.0.0".into()),
            ("shop".into(), "1.2.0".into())
        ],
        "everything but the refused package reached the registry"
    );

    // B syncs and installs shop: the resolution first, dependencies first.
    let b = store(&reg, &bob);
    let mut hb = Harness::new(b.path(), 80, 24).unwrap();
    hb.key("7");
    hb.wait_for("Nothing synced yet");
    hb.key("u");
    let s = hb.wait_for("Registry · 3 packages");
    assert!(s.contains("shop") && s.contains("1.2.0"), "{s}");
    hb.key("j");
    hb.key("j"); // app, dev, shop
    hb.key("i");
    let s = hb.wait_for("Install?");
    let dev_at = s.find("+ dev 1.0.0").unwrap_or_else(|| panic!("{s}"));
    let shop_at = s.find("+ shop 1.2.0").unwrap_or_else(|| panic!("{s}"));
    assert!(dev_at < shop_at, "dependencies first:\n{s}");
    hb.key("y");
    wait_status(&mut hb, "installed dev 1.0.0, shop 1.2.0");
    let s = hb.wait_for("Project · 2 packages");
    assert!(s.contains("[here: 1.2.0]"), "{s}");
    assert_eq!(
        sql(
            b.path(),
            "SELECT name, version FROM _dev_packages ORDER BY id"
        ),
        vec!["dev|1.0.0", "shop|1.2.0"]
    );
    // Codebase lists the installed records when shown again.
    hb.key("1");
    hb.wait_for("f:app/main.php");
    hb.key("7");
    // Installing shop again: the popup says it is here already.
    hb.key("i");
    let s = hb.wait_for("Install?");
    assert!(s.contains("= shop 1.2.0  (here already"), "{s}");
    hb.key("n");

    // app needs dev ^2, the registry has 1.0.0 only: the explanation, nothing installed.
    hb.key("g");
    hb.key("i");
    let s = hb.wait_for("Cannot install");
    assert!(s.contains("dev"), "the explanation names dev:\n{s}");
    hb.key("esc");
    assert_eq!(
        sql(b.path(), "SELECT count(*) FROM _dev_packages"),
        vec!["2"]
    );
}

#[test]
fn codebase_shows_others_claims_and_claims_and_releases_the_selected_record() {
    let reg = Registry::start(Backend::Sqlite);
    let (alice, bob) = (reg.user("alice", false), reg.user("bob", false));
    let a = store(&reg, &alice);
    let b = store(&reg, &bob);
    for root in [a.path(), b.path()] {
        add(
            root,
            "shop",
            "1.0.0",
            "",
            &[
                (50001, "f:app/cart.php", b"<?php // cart\n"),
                (50002, "f:app/main.php", b"<?php // main\n"),
            ],
        );
    }
    let mut ha = Harness::new(a.path(), 80, 24).unwrap();
    ha.wait_for("f:app/cart.php");
    ha.key("c");
    let s = wait_status(&mut ha, "taken into work by you until");
    assert!(s.contains("⚑ mine"), "A's list marks its claim:\n{s}");

    let mut hb = Harness::new(b.path(), 80, 24).unwrap();
    let s = hb.wait_for("⚑ alice");
    let row = s.lines().find(|l| l.contains("⚑ alice")).unwrap();
    assert!(
        row.contains("f:app/cart.php"),
        "on the claimed record: {row}"
    );
    assert!(
        s.contains("taken into work by alice until"),
        "the preview says who and until when:\n{s}"
    );
    hb.key("c");
    wait_status(&mut hb, "f:app/cart.php is taken into work by alice");
    // B claims the other record; A sees it after coming back to Codebase.
    hb.key("j");
    hb.wait_for("f:app/main.php");
    hb.key("c");
    wait_status(&mut hb, "taken into work by you");
    ha.key("2");
    ha.key("1");
    ha.wait_for("⚑ bob");
    // Marked records are claimed together: A marks both (space), c: one is A's own (released),
    // the other B's (refused); the marks are cleared.
    ha.key("g");
    ha.key("space");
    let s = ha.screen();
    assert!(s.contains("50001*f:app/cart.php"), "marked:\n{s}");
    ha.key("space");
    ha.key("c");
    let s = wait_status(
        &mut ha,
        "2 record(s): 0 taken into work, 1 released, 1 someone else's",
    );
    assert!(!s.contains("50001*"), "marks cleared:\n{s}");
    ha.wait_for("⚑ bob");
    ha.key("g");
    ha.key("c");
    wait_status(&mut ha, "taken into work by you");
    // A releases its claim: gone for B after a refresh.
    ha.key("g");
    ha.key("c");
    wait_status(&mut ha, "released f:app/cart.php");
    hb.key("2");
    hb.key("1");
    let start = std::time::Instant::now();
    loop {
        hb.pump();
        let s = hb.screen();
        if s.contains("50001 f:app/cart.php") && !s.contains("⚑ alice") {
            assert!(s.contains("⚑ mine"), "B's own claim stays:\n{s}");
            break;
        }
        assert!(
            start.elapsed().as_secs() < 20,
            "A's claim still shown:\n{s}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn my_builds_packages_show_their_builds_and_the_sky_id_once_submitted() {
    let reg = Registry::start(Backend::Sqlite);
    let alice = reg.user("alice", false);
    let a = store(&reg, &alice);
    write(a.path(), "x.txt", b"1\n");
    ok(&["snapshot", "create", "--name", "s1"], a.path());
    write(a.path(), "x.txt", b"2\n");
    ok(
        &["script", "create", "--from", "s1", "--name", "first"],
        a.path(),
    );
    let set = [
        "package",
        "set",
        "first",
        "--version",
        "1.0.0",
        "--included",
        "scratch",
        "work",
    ];
    ok(&set, a.path());
    let target = tempfile::tempdir().unwrap();
    write(target.path(), "x.txt", b"1\n");
    let t = target.path().to_str().unwrap();
    ok(&["build", "apply", "first", "--target", t], a.path());

    let mut h = Harness::new(a.path(), 80, 24).unwrap();
    h.key("7");
    let s = h.wait_for("Project · 1 packages");
    let row = s.lines().find(|l| l.contains("first")).unwrap();
    assert!(
        row.contains("no SKY_ID") && row.contains("mine, 1 build"),
        "{row}"
    );
    h.key("tab");
    submit_selected(&mut h, "first 1.0.0");
    let sky = sql(
        a.path(),
        "SELECT sky_id FROM _dev_packages WHERE name = 'first'",
    );
    assert_ne!(sky, vec!["0"]);
    let s = h.wait_for(&format!("SKY_ID {}", sky[0]));
    let row = s.lines().find(|l| l.contains("first")).unwrap();
    assert!(row.contains("mine, 1 build"), "{row}");
    assert_eq!(index(&reg, &alice), vec![("first".into(), "1.0.0".into())]);
}

/// A fixed-area record is claimed by its id from the Codebase screen (`#1200`), and the
/// other store's list marks the same record.
#[test]
fn a_fixed_area_record_is_claimed_by_its_id_from_the_codebase_screen() {
    let reg = Registry::start(Backend::Sqlite);
    let (alice, bob) = (reg.user("alice", false), reg.user("bob", false));
    let a = store(&reg, &alice);
    let b = store(&reg, &bob);
    for root in [a.path(), b.path()] {
        add(
            root,
            "lib",
            "1.0.0",
            "",
            &[(1200, "f:lib/util.php", b"<?php // util\n")],
        );
    }
    let mut hb = Harness::new(b.path(), 80, 24).unwrap();
    hb.wait_for("f:lib/util.php");
    hb.key("c");
    wait_status(&mut hb, "#1200: taken into work by you until");
    let listed = support::cli::json(&["claim", "list", "--json"], a.path());
    assert_eq!(listed[0]["record"], "#1200", "{listed}");
    let mut ha = Harness::new(a.path(), 80, 24).unwrap();
    let s = ha.wait_for("⚑ bob");
    let row = s.lines().find(|l| l.contains("⚑ bob")).unwrap();
    assert!(row.contains("1200 f:lib/util.php"), "on the record: {row}");
}

/// `R` lists the registry's release snapshots; enter shows what installing the chosen one
/// takes (its exact versions, dependencies first, not the newest ones); `y` installs them.
#[test]
fn a_release_snapshot_installs_its_exact_versions_from_the_packages_screen() {
    let reg = Registry::start(Backend::Sqlite);
    let (alice, bob) = (reg.user("alice", false), reg.user("bob", false));
    let a = store(&reg, &alice);
    let publish = |name: &str, version: &str, depends: &str| {
        let body = format!("<?php // {name} {version}\n");
        let rec = format!("f:{name}/{version}.php");
        add(
            a.path(),
            name,
            version,
            depends,
            &[(50001, rec.as_str(), body.as_bytes())],
        );
        let id = sql(
            a.path(),
            &format!(
                "SELECT id FROM _dev_packages WHERE name = '{name}' AND version = '{version}'"
            ),
        );
        ok(&["submit", &id[0]], a.path());
    };
    publish("dev", "1.0.0", "");
    publish("shop", "1.0.0", "dev@^1");
    ok(
        &["registry", "release", "spring", "dev@1.0.0", "shop@1.0.0"],
        a.path(),
    );
    publish("dev", "2.0.0", "");
    publish("shop", "1.1.0", "dev@^2");

    let b = store(&reg, &bob);
    let mut hb = Harness::new(b.path(), 80, 24).unwrap();
    hb.key("7");
    hb.wait_for(&reg.url[..20]);
    hb.key("R");
    let s = hb.wait_for("spring");
    assert!(s.contains("by alice"), "who made it:\n{s}");
    hb.key("enter");
    let s = hb.wait_for("Install?");
    assert!(s.contains("release spring"), "{s}");
    let dev_at = s.find("+ dev 1.0.0").unwrap_or_else(|| panic!("{s}"));
    let shop_at = s.find("+ shop 1.0.0").unwrap_or_else(|| panic!("{s}"));
    assert!(dev_at < shop_at, "dependencies first:\n{s}");
    assert!(!s.contains("2.0.0") && !s.contains("1.1.0"), "{s}");
    hb.key("y");
    wait_status(&mut hb, "installed");
    assert_eq!(
        sql(
            b.path(),
            "SELECT name, version FROM _dev_packages ORDER BY id"
        ),
        vec!["dev|1.0.0", "shop|1.0.0"]
    );
}
