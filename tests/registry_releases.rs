//! Installing from a release snapshot (issue 16, point 3): `devsky install --release NAME`
//! installs exactly the versions the release pins (not the newest ones), dependencies
//! first; the release is kept in the project's cache by its time, used from there when
//! the registry lists the same time or cannot be reached at all, and fetched again when
//! the registry's release of that name has another time. `devsky registry cache --prune`
//! keeps only the archives a kept release pins.
//!
//! Real `devsky registry serve` processes on loopback (SQLite and PostgreSQL); the
//! oracles are the `sqlite3` CLI on the stores and blake3 of the cache's files computed
//! here.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::cli::{devsky, json, ok};
use support::packages::{archive_with, import, project};
use support::registry::{Backend, Registry, b3};

fn store(reg: &Registry, token: &str) -> tempfile::TempDir {
    let d = project();
    ok(&["registry", "login", &reg.url, "--token", token], d.path());
    d
}

/// Import a hand-written archive into `root` and submit it; the archive's package id.
fn publish(root: &Path, name: &str, version: &str, depends: &str, body: &str) {
    let file = root.join(format!("{name}-{version}.in.sky"));
    let rec_name = format!("f:{name}/{version}.php");
    std::fs::write(
        &file,
        archive_with(
            name,
            version,
            depends,
            &[(50001, rec_name.as_str(), body.as_bytes())],
            "visual",
            0,
        ),
    )
    .unwrap();
    let got = import(root, &file);
    assert_eq!(got["outcome"], "imported", "{got}");
    let id = got["package"].as_i64().unwrap().to_string();
    let got = json(&["submit", &id, "--json"], root);
    assert_eq!(got["outcome"], "published", "{got}");
}

/// `sqlite3 DB SQL`: its output lines.
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

fn packages(root: &Path) -> Vec<String> {
    sql(root, "SELECT name, version FROM _dev_packages ORDER BY id")
}

/// The blake3 of every archive in the project's cache, computed here, sorted.
fn cached_archives(root: &Path) -> Vec<String> {
    let dir = root.join(".devsky/registry/cache");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .map(|l| {
            l.map(|e| {
                let e = e.unwrap();
                let sum = b3(&std::fs::read(e.path()).unwrap());
                assert_eq!(
                    e.file_name().to_string_lossy(),
                    sum,
                    "a cached file is its blake3"
                );
                sum
            })
            .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The index's checksum of `name` `version`, asked over plain HTTP.
fn checksum(reg: &Registry, token: &str, name: &str, version: &str) -> String {
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
        .find(|e| e["name"] == name && e["version"] == version)
        .unwrap_or_else(|| panic!("{name} {version} not in the index: {v}"))["checksum"]
        .as_str()
        .unwrap()
        .to_string()
}

fn names(got: &Value) -> Vec<String> {
    got["outcome"]["installed"]
        .as_array()
        .unwrap_or_else(|| panic!("no installed list: {got}"))
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["name"].as_str().unwrap(),
                i["version"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_release_installs_pinned_versions_then_from_the_cache_and_offline_on_sqlite() {
    release_install(Backend::Sqlite)
}

#[test]
fn a_release_installs_pinned_versions_then_from_the_cache_and_offline_on_postgres() {
    release_install(Backend::Postgres)
}

fn release_install(backend: Backend) {
    let reg = Registry::start(backend);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    let a = store(&reg, &alice);
    publish(a.path(), "dev", "1.0.0", "", "<?php // dev 1\n");
    publish(a.path(), "shop", "1.0.0", "dev@^1", "<?php // shop 1.0\n");
    ok(
        &["registry", "release", "spring", "dev@1.0.0", "shop@1.0.0"],
        a.path(),
    );
    // Newer versions after the release: a plain install would take them.
    publish(a.path(), "dev", "2.0.0", "", "<?php // dev 2\n");
    publish(a.path(), "shop", "1.1.0", "dev@^2", "<?php // shop 1.1\n");

    // B: the pinned versions, dependencies first; fetched from the registry.
    let b = store(&reg, &bob);
    let got = json(&["install", "--release", "spring", "--json"], b.path());
    assert_eq!(got["source"], "fetched", "{got}");
    assert_eq!(got["outcome"]["outcome"], "installed", "{got}");
    assert_eq!(names(&got), vec!["dev 1.0.0", "shop 1.0.0"]);
    assert_eq!(packages(b.path()), vec!["dev|1.0.0", "shop|1.0.0"]);
    assert_eq!(
        sql(
            b.path(),
            "SELECT name, rtrim(body, char(10)) FROM _dev_codebase WHERE package != '' ORDER BY id"
        ),
        vec![
            "f:dev/1.0.0.php|<?php // dev 1",
            "f:shop/1.0.0.php|<?php // shop 1.0"
        ]
    );
    // Again: the registry lists the same time, so the project's copy is used.
    let got = json(&["install", "--release", "spring", "--json"], b.path());
    assert_eq!(got["source"], "cache", "{got}");
    assert!(
        got["outcome"]["installed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["already"] == true),
        "{got}"
    );
    // A plain install of shop takes the newest, which the release does not.
    let plain = json(&["install", "shop", "--json"], b.path());
    assert_eq!(plain["outcome"], "installed", "{plain}");
    assert!(packages(b.path()).contains(&"shop|1.1.0".to_string()));

    // C: release and archives into the cache, nothing installed.
    let c = store(&reg, &bob);
    let got = json(
        &[
            "install",
            "--release",
            "spring",
            "--download-only",
            "--json",
        ],
        c.path(),
    );
    assert_eq!(got["source"], "fetched", "{got}");
    assert_eq!(got["to_download"], 2, "{got}");
    assert!(got["outcome"].is_null(), "{got}");
    assert!(packages(c.path()).is_empty());
    let mut want = vec![
        checksum(&reg, &bob, "dev", "1.0.0"),
        checksum(&reg, &bob, "shop", "1.0.0"),
    ];
    want.sort();
    assert_eq!(cached_archives(c.path()), want);

    // D knows the registry but has no copy of the release.
    let d = store(&reg, &bob);

    // The registry goes away: C installs from its cache alone.
    drop(reg);
    let got = json(&["install", "--release", "spring", "--json"], c.path());
    assert_eq!(got["source"], "offline", "{got}");
    assert_eq!(names(&got), vec!["dev 1.0.0", "shop 1.0.0"]);
    assert!(
        got["outcome"]["installed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["downloaded"] == false),
        "{got}"
    );
    assert_eq!(packages(c.path()), vec!["dev|1.0.0", "shop|1.0.0"]);
    let text = ok(&["install", "--release", "spring"], c.path());
    assert!(text.contains("the registry cannot be reached"), "{text}");
    // D cannot: it says why and writes nothing.
    let out = devsky(&["install", "--release", "spring"], d.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not in the project's cache and the registry cannot be reached"),
        "{err}"
    );
    assert!(packages(d.path()).is_empty());
}

/// A registry rebuilt with a release of the same name made again (another time, other
/// pins): the project's copy is not used, the new release is fetched and installed.
#[test]
fn a_release_made_again_with_another_time_is_fetched_again() {
    let one = Registry::start(Backend::Sqlite);
    let alice = one.user("alice", false);
    let a = store(&one, &alice);
    publish(
        a.path(),
        "shop",
        "1.0.0",
        "",
        "<?php // shop of registry one\n",
    );
    ok(&["registry", "release", "live", "shop@1.0.0"], a.path());
    let c = store(&one, &alice);
    let got = json(
        &["install", "--release", "live", "--download-only", "--json"],
        c.path(),
    );
    assert_eq!(got["source"], "fetched", "{got}");
    let first_created = got["created"].as_i64().unwrap();
    drop(one);

    let two = Registry::start(Backend::Sqlite);
    two.set_clock(86_400_000);
    let alice2 = two.user("alice", false);
    let a2 = store(&two, &alice2);
    publish(
        a2.path(),
        "shop",
        "1.0.0",
        "",
        "<?php // shop of registry two\n",
    );
    publish(a2.path(), "shop", "2.0.0", "", "<?php // shop 2\n");
    ok(&["registry", "release", "live", "shop@2.0.0"], a2.path());
    ok(
        &["registry", "login", &two.url, "--token", &alice2],
        c.path(),
    );
    let got = json(&["install", "--release", "live", "--json"], c.path());
    assert_eq!(got["source"], "fetched", "{got}");
    assert_ne!(got["created"].as_i64().unwrap(), first_created);
    assert_eq!(names(&got), vec!["shop 2.0.0"]);
    assert_eq!(packages(c.path()), vec!["shop|2.0.0"]);
    assert_eq!(
        sql(
            c.path(),
            "SELECT rtrim(body, char(10)) FROM _dev_codebase WHERE package = 'shop'"
        ),
        vec!["<?php // shop 2"]
    );
    // A release the registry does not have: named, with those it has.
    let err =
        String::from_utf8(devsky(&["install", "--release", "autumn"], c.path()).stderr).unwrap();
    assert!(err.contains("no release autumn; it has: live"), "{err}");
}

/// A release whose pins' dependencies are neither pinned nor installed is refused before
/// anything is written, each unmet dependency named.
#[test]
fn a_release_with_an_unmet_dependency_is_refused_whole() {
    let reg = Registry::start(Backend::Sqlite);
    let alice = reg.user("alice", false);
    let a = store(&reg, &alice);
    publish(a.path(), "dev", "1.0.0", "", "<?php // dev\n");
    publish(a.path(), "dev", "2.0.0", "", "<?php // dev 2\n");
    publish(a.path(), "shop", "1.0.0", "dev@^1", "<?php // shop\n");
    publish(a.path(), "blog", "1.0.0", "dev@^1", "<?php // blog\n");
    ok(&["registry", "release", "lonely", "shop@1.0.0"], a.path());
    ok(
        &["registry", "release", "mixed", "blog@1.0.0", "dev@2.0.0"],
        a.path(),
    );
    let b = store(&reg, &alice);
    let out = devsky(&["install", "--release", "lonely"], b.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shop 1.0.0 needs dev@^1, which the release does not pin"),
        "{err}"
    );
    let out = devsky(&["install", "--release", "mixed"], b.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("blog 1.0.0 needs dev@^1, but the release pins dev 2.0.0"),
        "{err}"
    );
    assert!(packages(b.path()).is_empty());
    // With dev 1 installed in the project, the lonely release's dependency is met.
    ok(&["install", "dev@^1"], b.path());
    ok(&["install", "--release", "lonely"], b.path());
    assert_eq!(packages(b.path()), vec!["dev|1.0.0", "shop|1.0.0"]);
}

/// The cache keeps what releases pin: `registry cache --prune` drops the other archives.
#[test]
fn prune_keeps_the_archives_of_kept_releases() {
    let reg = Registry::start(Backend::Sqlite);
    let alice = reg.user("alice", false);
    let a = store(&reg, &alice);
    publish(a.path(), "dev", "1.0.0", "", "<?php // dev\n");
    publish(a.path(), "shop", "1.0.0", "", "<?php // shop\n");
    publish(a.path(), "blog", "1.0.0", "", "<?php // blog\n");
    ok(
        &["registry", "release", "two", "dev@1.0.0", "shop@1.0.0"],
        a.path(),
    );
    let c = store(&reg, &alice);
    ok(&["update", "--sync"], c.path());
    assert_eq!(cached_archives(c.path()).len(), 3);
    ok(
        &["install", "--release", "two", "--download-only"],
        c.path(),
    );
    let got = json(&["registry", "cache", "--prune"], c.path());
    assert_eq!(got["pruned"]["removed"], 1, "{got}");
    assert_eq!(got["pruned"]["kept"], 2, "{got}");
    assert_eq!(got["releases"][0]["name"], "two", "{got}");
    let mut want = vec![
        checksum(&reg, &alice, "dev", "1.0.0"),
        checksum(&reg, &alice, "shop", "1.0.0"),
    ];
    want.sort();
    assert_eq!(cached_archives(c.path()), want);
}
