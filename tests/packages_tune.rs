//! Tune, `package set` and `package resolve` through the real binary (issue 16, points 1
//! and 3): findings and exit codes, the one-unsent-package rule, headers fixed with
//! `set`, versions picked among the project's packages or a conflict explained.

mod support;

use serde_json::Value;
use support::cli::{devsky, fails, json, ok, write};
use support::packages::*;

#[test]
fn tune_reports_findings_and_the_unsent_rule() {
    let a = project();
    write(a.path(), "x.txt", b"1\n");
    ok(&["snapshot", "create", "--name", "s1"], a.path());
    write(a.path(), "x.txt", b"2\n");
    ok(
        &["script", "create", "--from", "s1", "--name", "first"],
        a.path(),
    );
    write(a.path(), "x.txt", b"3\n");
    ok(
        &["script", "create", "--from", "s1", "--name", "second"],
        a.path(),
    );
    let out = devsky(&["package", "tune", "second", "--json"], a.path());
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    // A script's included starts with its snapshot's name, not app@version; and "first"
    // has no SKY_ID yet.
    assert!(
        codes.contains(&"included") && codes.contains(&"unsent"),
        "{codes:?}"
    );
    let out = devsky(&["package", "tune", "first"], a.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("[unsent]"), "{text}");
    assert!(text.contains("error [included]"), "{text}");
    // Fixing the header with `package set` makes it pass.
    ok(
        &[
            "package",
            "set",
            "first",
            "--version",
            "1.0.0",
            "--included",
            "scratch",
            "work",
            "--depends",
            "dev@^1",
        ],
        a.path(),
    );
    let v = json(&["package", "tune", "first", "--json"], a.path());
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["package"], "first 1.0.0");
    let err = fails(&["package", "set", "first", "--depends", "a b"], a.path());
    assert!(err.contains("single words"), "{err}");
    let err = fails(&["package", "set", "first", "--version", "one"], a.path());
    assert!(err.contains("not a version"), "{err}");
    // An archive file is tuned too: a reference to fixed record 9 holds only where 9 is.
    let work = tempfile::tempdir().unwrap();
    let f = work.path().join("p.sky");
    std::fs::write(
        &f,
        devsky_archive("t", &[(50001, "f:a", b"RUN CODEBASE: 9")], "", 0),
    )
    .unwrap();
    let out = devsky(
        &["package", "tune", f.to_str().unwrap(), "--json"],
        a.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["code"], "missing-record", "{v}");
    let nine = work.path().join("nine.sky");
    std::fs::write(&nine, devsky_archive("nine", &[(9, "f:n", b"9")], "", 0)).unwrap();
    import(a.path(), &nine);
    let v = json(
        &["package", "tune", f.to_str().unwrap(), "--json"],
        a.path(),
    );
    assert_eq!(v["ok"], true, "{v}");
    let err = fails(&["package", "set", "nine", "--app", "x"], a.path());
    assert!(err.contains("was imported"), "{err}");
}

#[test]
fn resolve_picks_versions_among_the_packages_or_explains_why_not() {
    let work = tempfile::tempdir().unwrap();
    let a = project();
    for (name, version, depends) in [
        ("dev", "1.0.0", ""),
        ("dev", "1.3.0", ""),
        ("dev", "2.0.0", ""),
        ("shop", "1.0.0", "dev@^1"),
        ("shop", "1.1.0", "dev@^1.2"),
        ("blog", "1.0.0", "dev@^2"),
    ] {
        let f = work.path().join(format!("{name}-{version}.sky"));
        let body = format!("{name} {version}");
        std::fs::write(
            &f,
            archive_with(
                name,
                version,
                depends,
                &[(50001, "f:x", body.as_bytes())],
                "",
                0,
            ),
        )
        .unwrap();
        import(a.path(), &f);
    }
    let v = json(&["package", "resolve", "shop", "--json"], a.path());
    assert_eq!(v, serde_json::json!({"dev": "1.3.0", "shop": "1.1.0"}));
    assert_eq!(
        ok(&["package", "resolve", "shop@=1.0.0", "dev@<1.3"], a.path()),
        "dev 1.0.0\nshop 1.0.0\n"
    );
    let out = devsky(&["package", "resolve", "shop", "blog"], a.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no set of package versions satisfies the request"),
        "{err}"
    );
    assert!(
        err.contains("blog") && err.contains("shop") && err.contains("dev"),
        "{err}"
    );
    assert!(err.contains("you asked for"), "{err}");
    let err = fails(&["package", "resolve", "shop@not-a-version"], a.path());
    assert!(err.contains("not a version requirement"), "{err}");
}

#[test]
fn a_reference_to_a_floating_record_outside_the_package_cannot_travel() {
    let a = project();
    occupy(a.path(), 1); // record 50001, in no package
    write(a.path(), "web/run.txt", b"v1\n");
    ok(&["snapshot", "create", "--name", "s"], a.path());
    write(a.path(), "web/run.txt", b"RUN CODEBASE: 50001\n");
    ok(
        &["script", "create", "--from", "s", "--name", "runs"],
        a.path(),
    );
    let err = fails(&["package", "export", "runs", "-o", "r.sky"], a.path());
    assert!(
        err.contains("refers to floating record 50001, which is not in the package"),
        "{err}"
    );
    assert!(!a.path().join("r.sky").exists());
    let v: Value =
        serde_json::from_slice(&devsky(&["package", "tune", "runs", "--json"], a.path()).stdout)
            .unwrap();
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"floating-outside"), "{codes:?}");
}
