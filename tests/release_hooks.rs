//! The release binary carries no fault injection: built with `cargo build --release` (no
//! `test-hooks` feature), it deploys normally with `DEVSKY_CRASH_AT=1` and
//! `DEVSKY_TEST_CORRUPT_STAGE=1` in its environment, where a test build would abort at the
//! first crash point or fail verification.

mod support;
use support::deploy::put;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `cargo build --release --bin devsky` (no features), and the binary's path.
fn release_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = Command::new(cargo)
        .args(["build", "--release", "--locked", "--bin", "devsky"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cannot run cargo to build the release binary");
    assert!(
        o.status.success(),
        "cargo build --release failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // target/debug/devsky -> target/release/devsky
    let debug = PathBuf::from(env!("CARGO_BIN_EXE_devsky"));
    let bin = debug
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("release/devsky");
    assert!(bin.exists(), "no release binary at {}", bin.display());
    bin
}

fn run(bin: &Path, args: &[&str], hooks: bool) -> Output {
    let mut c = Command::new(bin);
    c.args(args);
    if hooks {
        c.env("DEVSKY_CRASH_AT", "1")
            .env("DEVSKY_TEST_CORRUPT_STAGE", "1");
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "devsky {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A server root (`www`, old index.php), its state folder, and a package made by `bin`
/// from a project with a new index.php and lib/a.php: (www, state, package).
fn lab(bin: &Path, dir: &Path) -> (String, String, String) {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let (src, www, state) = (p("src"), p("www"), p("state"));
    put(Path::new(&src), "index.php", b"<?php echo 'new';");
    put(Path::new(&src), "lib/a.php", b"<?php // a");
    put(Path::new(&www), "index.php", b"<?php echo 'old';");
    let remote = p("remote.map");
    let map = [
        "agent", "map", "--root", &www, "--state", &state, "--out", &remote,
    ];
    run(bin, &map, false);
    let out = p("out");
    let package = [
        "deploy",
        "package",
        "--project",
        &src,
        "--remote-map",
        &remote,
        "--out",
        &out,
        "--json",
    ];
    let o = run(bin, &package, false);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pkg = v["package"]["path"].as_str().unwrap().to_string();
    (www, state, pkg)
}

#[test]
fn the_release_binary_ignores_the_fault_injection_variables() {
    let bin = release_binary();
    let dir = tempfile::tempdir().unwrap();
    let (www, state, pkg) = lab(&bin, dir.path());
    // Both switches set: a test build would abort at the first crash point.
    run(
        &bin,
        &["agent", "apply", "--root", &www, "--state", &state, &pkg],
        true,
    );
    assert_eq!(
        std::fs::read(dir.path().join("www/index.php")).unwrap(),
        b"<?php echo 'new';"
    );
    assert_eq!(
        std::fs::read(dir.path().join("www/lib/a.php")).unwrap(),
        b"<?php // a"
    );
}

#[test]
fn a_test_build_obeys_them() {
    // The other half of the check: the same deploy with the test binary stops at the
    // first crash point, so the test above would fail if the release build obeyed.
    support::need_test_hooks();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_devsky"));
    let dir = tempfile::tempdir().unwrap();
    let (www, state, pkg) = lab(&bin, dir.path());
    let o = Command::new(&bin)
        .args(["agent", "apply", "--root", &www, "--state", &state, &pkg])
        .env("DEVSKY_CRASH_AT", "1")
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "a test build must abort at crash point 1"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("DEVSKY_CRASH_AT"));
}
