//! Maps, snapshots, domains and diff from the command line, as a real process: JSON
//! output, exit codes, unreadable files, huge sparse files, hostile names.

mod support;

use support::cli::*;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

#[test]
fn map_json_and_b3sum_format() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "a.txt", b"hello");
    write(r, "x/y.php", b"<?php");
    let text = ok(&["map"], r);
    let want = format!(
        "{}  a.txt\n{}  x/y.php\n",
        blake3::hash(b"hello").to_hex(),
        blake3::hash(b"<?php").to_hex()
    );
    assert_eq!(text, want);
    let j = json(&["map", "--json"], r);
    assert_eq!(j[1]["path"], "x/y.php");
    assert_eq!(j[1]["kind"], "file");
    assert_eq!(j[1]["size"], 5);
    assert_eq!(j[0]["blake3"], blake3::hash(b"hello").to_hex().as_str());
    assert!(
        !r.join(".devsky").exists(),
        "map of a folder without a store writes nothing into it"
    );
}

#[test]
fn snapshot_cli_flow_with_json_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "app/a.php", b"<?php echo 'a';\n");
    write(r, "app/b.log", b"log");
    write(r, "public/index.php", b"<?php\n");
    ok(&["init"], r);
    ok(&["domain", "add", "app", "-i", "app", "-x", "**/*.log"], r);
    let d = json(&["domain", "show", "app", "--json"], r);
    assert_eq!(d["include"], serde_json::json!(["app"]));
    let c = json(
        &[
            "snapshot", "create", "--domain", "app", "--name", "one", "--json",
        ],
        r,
    );
    assert_eq!(c["files"], 1);
    let id = c["id"].as_i64().unwrap().to_string();
    let list = json(&["snapshot", "list", "--json"], r);
    assert_eq!(list[0]["name"], "one");
    let show = json(&["snapshot", "show", &id, "--files", "--json"], r);
    assert_eq!(show["files"][0]["path"], "app/a.php");

    write(r, "app/a.php", b"<?php echo 'b';\n");
    write(r, "app/new.php", b"<?php\n");
    let d = json(&["snapshot", "diff", &id, "--json"], r);
    let kinds: Vec<(String, String)> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("modified".into(), "app/a.php".into()),
            ("added".into(), "app/new.php".into())
        ]
    );

    let out = devsky(&["diff", "--snapshot", &id], r);
    assert_eq!(
        out.status.code(),
        Some(1),
        "differences: exit 1 like diff(1)"
    );
    let patch = String::from_utf8(out.stdout).unwrap();
    assert!(
        patch.contains("-<?php echo 'a';") && patch.contains("+<?php echo 'b';"),
        "{patch}"
    );
    assert!(patch.contains("+++ b/app/new.php"), "{patch}");

    let same = devsky(&["diff", "app/new.php", "app/new.php"], r);
    assert_eq!(same.status.code(), Some(0));
    let err = String::from_utf8(devsky(&["snapshot", "diff", "99"], r).stderr).unwrap();
    assert!(err.contains("no snapshot 99"), "{err}");
    ok(&["snapshot", "delete", &id], r);
    let gc = json(&["gc", "--json"], r);
    assert!(gc["removed"].as_u64().unwrap() >= 2, "{gc}");
}

#[test]
fn snapshots_are_named_by_name_as_well_as_id() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "a.php", b"<?php // one\n");
    ok(&["init"], r);
    let one = json(&["snapshot", "create", "--name", "before", "--json"], r)["id"].clone();
    write(r, "a.php", b"<?php // two\n");
    let two = json(&["snapshot", "create", "--name", "after", "--json"], r)["id"].clone();
    assert_ne!(one, two);

    // by name, both sides; the same answer as by id
    let by_name = json(&["snapshot", "diff", "before", "after", "--json"], r);
    let by_id = json(
        &[
            "snapshot",
            "diff",
            &one.to_string(),
            &two.to_string(),
            "--json",
        ],
        r,
    );
    assert_eq!(by_name["changes"], by_id["changes"]);
    assert_eq!(by_name["changes"][0]["path"], "a.php");
    assert_eq!(
        json(&["snapshot", "show", "after", "--json"], r)["snapshot"]["id"],
        two
    );
    let patch = devsky(&["diff", "--snapshot", "before", "--to", "after"], r);
    assert_eq!(patch.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&patch.stdout).contains("+<?php // two"));

    // unknown: the candidates are listed; a near name is suggested
    let err = fails(&["snapshot", "diff", "befor"], r);
    assert!(
        err.contains("no snapshot \"befor\"")
            && err.contains("did you mean")
            && err.contains("\"before\""),
        "{err}"
    );
    let err = fails(&["snapshot", "show", "nothing-like-it"], r);
    assert!(
        err.contains("the newest are") && err.contains("\"after\""),
        "{err}"
    );
    // ambiguous: both named, the id asked for
    write(r, "a.php", b"<?php // three\n");
    ok(&["snapshot", "create", "--name", "before"], r);
    let err = fails(&["snapshot", "diff", "before"], r);
    assert!(
        err.contains("2 snapshots are named \"before\"") && err.contains("give the id"),
        "{err}"
    );
    // deleting by name
    ok(&["snapshot", "delete", "after"], r);
    let list = json(&["snapshot", "list", "--json"], r);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|s| s["name"] != "after"),
        "{list}"
    );
}

/// Run devsky as an unprivileged user (root ignores file permissions).
fn as_nobody(args: &[&str], cwd: &Path) -> Output {
    let mut cmd = support::nobody::devsky_as_nobody();
    cmd.args(args)
        .current_dir(cwd)
        .output()
        .expect("run devsky (setpriv from util-linux when root)")
}

#[test]
fn unreadable_files_and_folders_make_a_partial_map_never_a_wrong_hash() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("t");
    write(&r, "ok.txt", b"fine");
    write(&r, "secret.txt", b"no");
    write(&r, "locked/inner.txt", b"no");
    let mode = |p: &str, m: u32| {
        std::fs::set_permissions(r.join(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    mode("", 0o777);
    mode("secret.txt", 0o000);
    mode("locked", 0o000);
    let out = as_nobody(&["map", "--json"], &r);
    mode("locked", 0o755);
    assert_eq!(
        out.status.code(),
        Some(3),
        "partial map: exit 3; {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PARTIAL") && err.contains("secret.txt") && err.contains("locked"),
        "{err}"
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = j
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "secret.txt")
        .unwrap();
    assert!(secret["blake3"].is_null(), "{secret}");
    assert_eq!(secret["problem"], "unreadable");
    let fine = j
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "ok.txt")
        .unwrap();
    assert_eq!(fine["blake3"], blake3::hash(b"fine").to_hex().as_str());
}

#[test]
fn a_ten_gigabyte_sparse_file_maps_in_constant_memory() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let f = std::fs::File::create(r.join("sparse.img")).unwrap();
    f.set_len(10 << 30).unwrap();
    drop(f);
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss_kb=%M"])
        .arg(env!("CARGO_BIN_EXE_devsky"))
        .args(["map", "--json"])
        .current_dir(r)
        .output()
        .expect("GNU time is needed (apt-get install time; scripts/test does)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j[0]["size"], 10u64 << 30);
    let b3 = Command::new("b3sum")
        .arg("--no-names")
        .arg("sparse.img")
        .current_dir(r)
        .output()
        .expect("b3sum (scripts/test installs it)");
    assert_eq!(
        j[0]["blake3"].as_str().unwrap(),
        String::from_utf8(b3.stdout).unwrap().trim()
    );
    let err = String::from_utf8(out.stderr).unwrap();
    let rss: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kb="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        rss < 100_000,
        "mapping a 10 GB file must not load it: peak {rss} kB"
    );
}

#[test]
fn hostile_names_are_mapped_and_printed_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::write(r.join(std::ffi::OsStr::from_bytes(b"bad\xffname")), b"x").unwrap();
    std::fs::write(r.join("new\nline"), b"y").unwrap();
    std::fs::write(r.join("back\\slash"), b"z").unwrap();
    let text = ok(&["map"], r);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with('\\') && l.ends_with("new\\nline")),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.ends_with("back\\\\slash")), "{text}");
    let j = json(&["map", "--json"], r);
    let bad = j
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path_bytes"].is_array())
        .unwrap();
    assert_eq!(
        bad["path_bytes"],
        serde_json::json!(b"bad\xffname".to_vec())
    );
}

/// `devsky diff --json`: every changed file with its kind, sizes, blake3 (checked with
/// b3sum), line counts and a patch that `patch(1)` applies to give the new side.
#[test]
fn diff_json_gives_each_file_with_a_patch_that_applies() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "a.php", b"<?php\n// one\n$x = 1;\n");
    write(r, "gone.txt", b"bye\n");
    write(r, "img.bin", b"\0\x01\x02");
    ok(&["init"], r);
    ok(&["snapshot", "create", "--name", "before"], r);
    write(r, "a.php", b"<?php\n// two\n$x = 1;\n$y = 2;\n");
    std::fs::remove_file(r.join("gone.txt")).unwrap();
    write(r, "img.bin", b"\0\x01\x03");

    let out = devsky(&["diff", "--snapshot", "before", "--json"], r);
    assert_eq!(
        out.status.code(),
        Some(1),
        "different: exit 1 as without --json"
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["different"], true);
    let files = v["files"].as_array().unwrap();
    let by = |new: &str| files.iter().find(|f| f["new"] == new).unwrap().clone();
    let a = by("b/a.php");
    assert_eq!(
        (a["kind"].as_str(), a["content"].as_str()),
        (Some("modified"), Some("text"))
    );
    assert_eq!(
        (a["added"].as_u64(), a["removed"].as_u64()),
        (Some(2), Some(1))
    );
    let b3 = Command::new("b3sum")
        .arg("--no-names")
        .arg(r.join("a.php"))
        .output()
        .expect("b3sum is needed: apt-get install b3sum");
    assert_eq!(
        a["new_blake3"].as_str().unwrap(),
        String::from_utf8_lossy(&b3.stdout).trim()
    );
    let gone = by("/dev/null");
    assert_eq!(gone["kind"], "removed");
    assert_eq!(gone["old"], "a/gone.txt");
    let bin = by("b/img.bin");
    assert_eq!(bin["content"], "binary");
    assert_eq!(bin["patch"], "");
    assert_eq!(files.len(), 3, "{v}");

    // The patch of a.php turns the old text into the new one.
    let old = dir.path().join("old.php");
    std::fs::write(&old, b"<?php\n// one\n$x = 1;\n").unwrap();
    let mut p = Command::new("patch")
        .arg(&old)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("patch is needed: apt-get install patch");
    use std::io::Write;
    p.stdin
        .take()
        .unwrap()
        .write_all(a["patch"].as_str().unwrap().as_bytes())
        .unwrap();
    assert!(p.wait().unwrap().success());
    assert_eq!(
        std::fs::read(&old).unwrap(),
        std::fs::read(r.join("a.php")).unwrap()
    );

    // Two equal files: nothing, exit 0; two files that differ: one entry.
    let same = devsky(&["diff", "a.php", "a.php", "--json"], r);
    assert_eq!(same.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&same.stdout).unwrap();
    assert_eq!(
        (
            v["different"].as_bool(),
            v["files"].as_array().map(Vec::len)
        ),
        (Some(false), Some(0))
    );
    let two = devsky(&["diff", "old.php", "img.bin", "--json"], r);
    assert_eq!(two.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&two.stdout).unwrap();
    assert_eq!(v["files"][0]["old"], "old.php");
    assert_eq!(v["files"][0]["content"], "binary");
}
