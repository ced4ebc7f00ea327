//! `devsky submit` and `devsky install` end to end (issue 16, point 3): two real stores
//! (A and B) and one real `devsky registry serve` on loopback, on SQLite and on
//! PostgreSQL. A submits an app, the `dev` package and an update to the app; B installs
//! the update and gets all three, records in B's store — checked with the `sqlite3` CLI
//! on B's `.devsky/dev.db`, not with devsky's code. A conflict is explained; a submit is
//! refused when B holds a claim on one of the package's records, and on Tune errors.
//!
//! The archives are written here by the format's rules (tests/support/packages.rs).

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::cli::{devsky, json, ok};
use support::packages::{archive_with, import, project};
use support::registry::{Backend, Registry, b3};

/// A store logged in to `reg` as the holder of `token`.
fn store(reg: &Registry, token: &str) -> tempfile::TempDir {
    let d = project();
    ok(&["registry", "login", &reg.url, "--token", token], d.path());
    d
}

/// Import a hand-written archive into `root`; the package's id.
fn add(
    root: &Path,
    name: &str,
    version: &str,
    depends: &str,
    records: &[(i64, &str, &[u8])],
) -> String {
    let file = root.join(format!("{name}-{version}.in.sky"));
    std::fs::write(
        &file,
        archive_with(name, version, depends, records, "visual", 0),
    )
    .unwrap();
    let got = import(root, &file);
    assert_eq!(got["outcome"], "imported", "{got}");
    got["package"].as_i64().unwrap().to_string()
}

/// `sqlite3 DB SQL`: its output lines (`|` between columns).
fn sql(root: &Path, q: &str) -> Vec<String> {
    let out = Command::new("sqlite3")
        .arg(root.join(".devsky/dev.db"))
        .arg(q)
        .output()
        .expect("the sqlite3 CLI is needed: apt-get install sqlite3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The registry's index, asked over plain HTTP.
fn index(reg: &Registry, token: &str) -> Vec<(String, String)> {
    let v: Value = reg
        .http
        .get(format!("{}/api/v1/index?since=0", reg.url))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn submit_and_install_on_sqlite() {
    submit_and_install(Backend::Sqlite)
}

#[test]
fn submit_and_install_on_postgres() {
    submit_and_install(Backend::Postgres)
}

fn submit_and_install(backend: Backend) {
    let reg = Registry::start(backend);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    let a = store(&reg, &alice);
    let dev = add(
        a.path(),
        "dev",
        "1.0.0",
        "",
        &[(50001, "f:dev/core.php", b"<?php // dev\n")],
    );
    let shop = add(
        a.path(),
        "shop",
        "1.2.0",
        "dev@^1",
        &[
            (50001, "f:app/main.php", b"RUN CODEBASE: 50002\n"),
            (50002, "f:app/cart.php", b"<?php // cart\n"),
        ],
    );
    let update = add(
        a.path(),
        "u_alice.shop",
        "0.1.0",
        "dev@^1 shop@^1.1",
        &[(50001, "f:app/cart-fix.php", b"<?php // fix\n")],
    );
    let mut sky_ids = vec![];
    for p in [&dev, &shop, &update] {
        let got = json(&["submit", p, "--json"], a.path());
        assert_eq!(got["outcome"], "published", "{got}");
        let id = got["published"]["sky_id"].as_i64().unwrap();
        assert!(id > 0);
        // The SKY_ID is kept on A's package at once.
        assert_eq!(
            sql(
                a.path(),
                &format!("SELECT sky_id FROM _dev_packages WHERE id = {p}")
            ),
            vec![id.to_string()]
        );
        sky_ids.push(id);
    }
    // The registry has the three, the update's depends as A wrote them.
    let mut listed = index(&reg, &bob);
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("dev".into(), "1.0.0".into()),
            ("shop".into(), "1.2.0".into()),
            ("u_alice.shop".into(), "0.1.0".into())
        ]
    );
    // Submitting again: the version is published already, a clear error.
    let out = devsky(&["submit", &shop], a.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("published"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // B: 5 floating records first, so everything is rebased.
    let b = store(&reg, &bob);
    support::packages::occupy(b.path(), 5);
    let got = json(&["install", "u_alice.shop", "--json"], b.path());
    assert_eq!(got["outcome"], "installed", "{got}");
    let order: Vec<&str> = got["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        vec!["dev", "shop", "u_alice.shop"],
        "dependencies first"
    );
    // The oracle: B's own rows.
    assert_eq!(
        sql(
            b.path(),
            "SELECT name, version, sky_id FROM _dev_packages ORDER BY id"
        ),
        vec![
            format!("dev|1.0.0|{}", sky_ids[0]),
            format!("shop|1.2.0|{}", sky_ids[1]),
            format!("u_alice.shop|0.1.0|{}", sky_ids[2]),
        ]
    );
    let rows = sql(
        b.path(),
        "SELECT id, name, package, rtrim(body, char(10)) FROM _dev_codebase WHERE package != '' ORDER BY id",
    );
    assert_eq!(
        rows,
        vec![
            "50006|f:dev/core.php|dev|<?php // dev".to_string(),
            "50007|f:app/main.php|shop|RUN CODEBASE: 50008".to_string(),
            "50008|f:app/cart.php|shop|<?php // cart".to_string(),
            "50009|f:app/cart-fix.php|u_alice.shop|<?php // fix".to_string(),
        ]
    );
    // The archives are cached by their blake3, verified.
    for i in got["installed"].as_array().unwrap() {
        let sum = i["checksum"].as_str().unwrap();
        let bytes = std::fs::read(b.path().join(".devsky/registry/cache").join(sum)).unwrap();
        assert_eq!(blake3::hash(&bytes).to_hex().to_string(), sum);
    }
    // A damaged cache entry is not used: C fetches the archives first (`update --sync`),
    // one is damaged, and install fetches that one again.
    let c = store(&reg, &bob);
    ok(&["update", "--sync"], c.path());
    let shop_sum = got["installed"][1]["checksum"].as_str().unwrap();
    let cached = c.path().join(".devsky/registry/cache").join(shop_sum);
    let mut bytes = std::fs::read(&cached).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&cached, &bytes).unwrap();
    let got_c = json(&["install", "shop", "--json"], c.path());
    assert_eq!(got_c["outcome"], "installed", "{got_c}");
    let fetched: Vec<(&str, bool)> = got_c["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap(),
                i["downloaded"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(fetched, vec![("dev", false), ("shop", true)]);
    assert_eq!(b3(&std::fs::read(&cached).unwrap()), shop_sum);
    assert_eq!(
        sql(c.path(), "SELECT name FROM _dev_packages ORDER BY id"),
        vec!["dev", "shop"]
    );
    // Bad requests are clear errors.
    let out = devsky(&["install", "Shop Name@@1"], c.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a package name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Installing again changes nothing.
    let again = json(&["install", "u_alice.shop@^0.1", "--json"], b.path());
    assert!(
        again["installed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["already"] == true),
        "{again}"
    );
    assert_eq!(sql(b.path(), "SELECT COUNT(*) FROM _dev_packages").len(), 1);
    assert_eq!(
        sql(b.path(), "SELECT COUNT(*) FROM _dev_packages"),
        vec!["3"]
    );

    // A and B each take a record of shop into work and see each other's claim.
    ok(
        &["claim", "add", "f:app/main.php", "--package", "shop"],
        a.path(),
    );
    ok(
        &["claim", "add", "f:app/cart.php", "--package", "shop"],
        b.path(),
    );
    for (root, other) in [(a.path(), "bob"), (b.path(), "alice")] {
        let listed = json(&["claim", "list", "--json"], root);
        let mut seen: Vec<(String, String)> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["record"].as_str().unwrap().to_string(),
                    c["owner"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                ("f:app/cart.php".to_string(), "bob".to_string()),
                ("f:app/main.php".to_string(), "alice".to_string()),
            ],
            "{other}'s claim is seen"
        );
    }
    let v = json(
        &[
            "claim",
            "verify",
            "f:app/main.php",
            "f:app/cart.php",
            "--json",
        ],
        b.path(),
    );
    assert_eq!(v["ours"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["ours"][0]["record"], "f:app/cart.php", "{v}");
    assert_eq!(v["theirs"][0]["record"], "f:app/main.php", "{v}");
    assert_eq!(v["theirs"][0]["owner"], "alice", "{v}");
}

#[test]
fn a_conflict_is_explained_and_installs_nothing() {
    let reg = Registry::start(Backend::Sqlite);
    let alice = reg.user("alice", false);
    let a = store(&reg, &alice);
    let dev = add(
        a.path(),
        "dev",
        "1.0.0",
        "",
        &[(50001, "f:dev/core.php", b"dev\n")],
    );
    let lib = add(
        a.path(),
        "lib",
        "1.0.0",
        "dev@^2",
        &[(50001, "f:lib.php", b"lib\n")],
    );
    for p in [&dev, &lib] {
        ok(&["submit", p], a.path());
    }
    let b = store(&reg, &reg.user("bob", false));
    let out = devsky(&["install", "lib"], b.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot install lib"), "{err}");
    assert!(err.contains("lib depends on dev >=2.0.0, <3.0.0"), "{err}");
    assert!(err.contains("The registry has dev: 1.0.0."), "{err}");
    let out = devsky(&["install", "lib@^1", "--json"], b.path());
    assert_eq!(out.status.code(), Some(2));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["outcome"], "no_solution");
    assert!(
        got["explanation"].as_str().unwrap().contains("dev"),
        "{got}"
    );
    assert_eq!(
        sql(b.path(), "SELECT COUNT(*) FROM _dev_packages"),
        vec!["0"]
    );
    // A fixed record that B holds with other content: the import's conflict, listed.
    let fixed = add(
        a.path(),
        "fixed",
        "1.0.0",
        "",
        &[(7, "f:fixed.php", b"theirs\n")],
    );
    ok(&["submit", &fixed], a.path());
    add(
        b.path(),
        "mine",
        "1.0.0",
        "",
        &[(7, "f:fixed.php", b"mine\n")],
    );
    let out = devsky(&["install", "fixed"], b.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("conflict: fixed record 7"), "{err}");
    assert!(
        err.contains("fixed 1.0.0: 1 conflict(s), not installed"),
        "{err}"
    );
    assert_eq!(
        sql(b.path(), "SELECT name FROM _dev_packages"),
        vec!["mine"]
    );
    // Unknown packages too.
    let out = devsky(&["install", "nothing-such"], b.path());
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn submit_is_refused_while_someone_else_claims_a_record() {
    let reg = Registry::start(Backend::Sqlite);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    let a = store(&reg, &alice);
    let b = store(&reg, &bob);
    let shop = add(
        a.path(),
        "shop",
        "1.0.0",
        "",
        &[
            (50001, "f:app/main.php", b"main\n"),
            (50002, "f:app/cart.php", b"cart\n"),
        ],
    );
    ok(&["claim", "add", "f:app/cart.php"], b.path());
    let out = devsky(&["submit", &shop], a.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("f:app/cart.php by bob"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(index(&reg, &alice).is_empty());
    assert_eq!(
        sql(
            a.path(),
            &format!("SELECT sky_id FROM _dev_packages WHERE id = {shop}")
        ),
        vec!["0"]
    );
    // Alice's own claim does not stop her; once Bob releases, the submit goes through.
    ok(
        &["claim", "add", "f:app/main.php", "--package", "shop"],
        a.path(),
    );
    ok(&["claim", "release", "f:app/cart.php"], b.path());
    // An "in work" submit renews her claims on the package.
    let got = json(&["submit", &shop, "--in-work", "--json"], a.path());
    assert_eq!(got["outcome"], "published", "{got}");
    assert_eq!(got["published"]["claims_renewed"], 1, "{got}");
}

#[test]
fn submit_is_refused_on_tune_errors() {
    let reg = Registry::start(Backend::Sqlite);
    let alice = reg.user("alice", false);
    let a = store(&reg, &alice);
    // A reference to fixed record 7, which this store does not have.
    let p = add(
        a.path(),
        "shop",
        "1.0.0",
        "",
        &[(50001, "f:app/main.php", b"RUN CODEBASE: 7\n")],
    );
    let out = devsky(&["submit", &p], a.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error [missing-record]"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    let got: Value =
        serde_json::from_slice(&devsky(&["submit", &p, "--json"], a.path()).stdout).unwrap();
    assert_eq!(got["outcome"], "tune", "{got}");
    assert!(index(&reg, &alice).is_empty());
    assert_eq!(sql(a.path(), "SELECT sky_id FROM _dev_packages"), vec!["0"]);
}

#[test]
fn an_upload_whose_header_names_another_package_is_refused() {
    let reg = Registry::start(Backend::Sqlite);
    let alice = reg.user("alice", false);
    let (s, v) = reg.reserve(&alice, "cart", "1.0.0");
    assert_eq!(s, 201, "{v}");
    // A devsky archive of `shop` 1.0.0, uploaded as `cart` 1.0.0.
    let bytes = archive_with(
        "shop",
        "1.0.0",
        "",
        &[(50001, "f:a.php", b"a\n")],
        "visual",
        0,
    );
    let (s, v) = reg.upload(
        &alice,
        "cart",
        "1.0.0",
        &bytes,
        &support::registry::b3(&bytes),
    );
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("archive_mismatch")),
        "{v}"
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("shop 1.0.0, not cart 1.0.0"),
        "{v}"
    );
    assert!(reg.blobs().is_empty(), "nothing stored");
    // A damaged archive (bzip2's magic, then garbage) is refused too.
    let mut bad = b"BZh9".to_vec();
    bad.extend_from_slice(&[7u8; 300]);
    let (s, v) = reg.upload(&alice, "cart", "1.0.0", &bad, &support::registry::b3(&bad));
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("archive_mismatch")),
        "{v}"
    );
    assert!(reg.blobs().is_empty());
    // The right archive goes in.
    let bytes = archive_with(
        "cart",
        "1.0.0",
        "",
        &[(50001, "f:a.php", b"a\n")],
        "visual",
        0,
    );
    let (s, v) = reg.upload(
        &alice,
        "cart",
        "1.0.0",
        &bytes,
        &support::registry::b3(&bytes),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(reg.blobs().len(), 1);
}

#[test]
fn a_second_new_package_waits_for_the_first_ones_sky_id() {
    let reg = Registry::start(Backend::Sqlite);
    let alice = reg.user("alice", false);
    let a = store(&reg, &alice);
    support::cli::write(a.path(), "x.txt", b"1\n");
    ok(&["snapshot", "create", "--name", "s1"], a.path());
    for (name, text) in [("first", "2\n"), ("second", "3\n")] {
        support::cli::write(a.path(), "x.txt", text.as_bytes());
        ok(
            &["script", "create", "--from", "s1", "--name", name],
            a.path(),
        );
        ok(
            &[
                "package",
                "set",
                name,
                "--version",
                "1.0.0",
                "--included",
                "scratch",
                "work",
            ],
            a.path(),
        );
    }
    // "second" cannot go before "first" has its SKY_ID.
    let out = devsky(&["submit", "second"], a.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error [unsent]"), "{err}");
    assert!(index(&reg, &alice).is_empty());
    let got = json(&["submit", "first", "--json"], a.path());
    assert_eq!(got["outcome"], "published", "{got}");
    let id = got["published"]["sky_id"].as_i64().unwrap();
    assert_eq!(
        sql(
            a.path(),
            "SELECT sky_id FROM _dev_packages WHERE name = 'first'"
        ),
        vec![id.to_string()]
    );
    // Now it can.
    let got = json(&["submit", "second", "--json"], a.path());
    assert_eq!(got["outcome"], "published", "{got}");
    let mut listed = index(&reg, &alice);
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("first".into(), "1.0.0".into()),
            ("second".into(), "1.0.0".into())
        ]
    );
}

/// A fixed-area record (id up to 50000) is the same record in every installation: claims
/// name it `#ID`, whether it is given by id or by name, and a submit that carries it is
/// refused while someone else holds it. A floating record goes by its name.
#[test]
fn fixed_area_records_are_claimed_by_id() {
    let reg = Registry::start(Backend::Sqlite);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    let a = store(&reg, &alice);
    let b = store(&reg, &bob);
    let file = a.path().join("lib.in.sky");
    std::fs::write(
        &file,
        archive_with(
            "lib",
            "1.0.0",
            "",
            &[
                (1200, "f:lib/util.php", b"util\n"),
                (50001, "f:lib/extra.php", b"extra\n"),
            ],
            "visual",
            0,
        ),
    )
    .unwrap();
    let got = import(a.path(), &file);
    let lib = got["package"].as_i64().unwrap().to_string();
    assert_eq!(import(b.path(), &file)["outcome"], "imported");

    // Bob names the record by its name: the claim is on #1200.
    let got = json(&["claim", "add", "f:lib/util.php", "--json"], b.path());
    assert_eq!(got[0]["claim"]["record"], "#1200", "{got}");
    // By id, the same claim (renewed).
    let got = json(&["claim", "add", "1200", "--json"], b.path());
    assert_eq!(got[0]["outcome"], "renewed", "{got}");
    // An unknown id is an error that says so.
    let err =
        String::from_utf8_lossy(&devsky(&["claim", "add", "#4242"], b.path()).stderr).to_string();
    assert!(err.contains("no record #4242"), "{err}");

    // Alice's submit carries #1200: refused, naming it.
    let out = devsky(&["submit", &lib], a.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("#1200 by bob"), "{err}");
    // Alice sees it as theirs when she asks by name.
    let v = json(&["claim", "verify", "f:lib/util.php", "--json"], a.path());
    assert_eq!(v["theirs"][0]["record"], "#1200", "{v}");
    assert_eq!(v["theirs"][0]["owner"], "bob", "{v}");
    // The floating record goes by its name.
    let got = json(&["claim", "add", "f:lib/extra.php", "--json"], a.path());
    assert_eq!(got[0]["claim"]["record"], "f:lib/extra.php", "{got}");
    // Bob releases by id; Alice's submit goes through.
    ok(&["claim", "release", "#1200"], b.path());
    let got = json(&["submit", &lib, "--json"], a.path());
    assert_eq!(got["outcome"], "published", "{got}");
}
