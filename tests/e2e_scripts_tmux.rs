//! End to end at 80x24: the real binary inside tmux on the demo project. A snapshot is
//! taken from the CLI, files are changed, then on the Scripts screen (3): create a script
//! from the snapshot (c, Enter, the change picker: space untick/tick, Enter), build it to a copy of the old tree (b, the folder,
//! Enter), roll the build back (u, y). Asserts on the files on disk after each step and on
//! what the pane shows.
//!
//! Also: the same build on a server (`server:NAME` as the target, a `devsky serve` agent),
//! rolled back; and Replace (6): search, untick one match, apply, undo.
//!
//! Needs tmux (`apt-get install tmux`); `scripts/test` installs it.

mod support;
use support::tmux::{Tmux, command_line, quit_and_check_restored};
use support::tree::{assert_same, copy, walk};

use std::path::Path;
use std::process::Command;

fn devsky(root: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(args)
        .arg("-C")
        .arg(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "devsky {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn create_build_rollback_at_80x24() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shop");
    let out = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["demo", "--no-open", "--files", "200", "--dir"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    devsky(&root, &["snapshot", "create", "--name", "before"]);
    // The old state, as the other installation to build on (without the store).
    let old = dir.path().join("old");
    copy(&root, &old);
    std::fs::remove_dir_all(old.join(".devsky")).unwrap();
    let target = dir.path().join("www");
    copy(&old, &target);

    let index = root.join("public/index.php");
    let mut body = std::fs::read_to_string(&index).unwrap();
    body.push_str("// changed for the release\n");
    std::fs::write(&index, &body).unwrap();
    std::fs::write(root.join("public/release.txt"), "release notes\n").unwrap();

    let config = root.join(".devsky/test-config");
    let t = Tmux::start(80, 24, &command_line(&root, &config));
    t.wait_text("records");
    t.send(&["3"]);
    t.wait_text("Press c to turn");
    t.send(&["c"]);
    let s = t.wait_text("New script");
    assert!(s.contains("before"), "{s}");
    t.send(&["Enter"]);
    // The change picker: every change ticked; untick one and tick it again.
    let s = t.wait_text("Pick the changes · 2 of 2 ticked");
    assert!(s.contains("[x]"), "{s}");
    t.send(&["Space"]);
    t.wait_text("1 of 2 ticked");
    t.send(&["Space"]);
    t.wait_text("2 of 2 ticked");
    t.send(&["Enter"]);
    let s = t.wait_text("Scripts · 1");
    assert!(s.contains("2 files"), "{s}");

    t.send(&["b"]);
    t.wait_text("Target folder");
    t.type_text(target.to_str().unwrap());
    t.send(&["Enter"]);
    let s = t.wait_text("My Builds · 1");
    t.wait_for("the build to finish", |s| s.contains(" done "));
    assert!(s.contains("Scripts · 1"), "{s}");
    assert_eq!(
        std::fs::read_to_string(target.join("public/index.php")).unwrap(),
        body
    );
    assert_eq!(
        std::fs::read_to_string(target.join("public/release.txt")).unwrap(),
        "release notes\n"
    );

    t.send(&["u"]);
    t.wait_text("Roll back build 1?");
    t.send(&["y"]);
    let s = t.wait_text("My Builds · 2");
    t.wait_for("the rollback to finish", |s| s.contains("rolled_back"));
    assert!(
        s.contains("undo 1") || t.capture().contains("undo 1"),
        "{s}"
    );
    assert_same(&walk(&target), &walk(&old), "the target after the rollback");
    let listed = devsky(&root, &["build", "list"]);
    assert!(listed.contains("rolled_back"), "{listed}");
    quit_and_check_restored(&t);
}

/// A build on a server from the TUI at 80x24: the target `server:site` (a `devsky serve`
/// agent on a copy of the old tree), its log live in the job; rolled back with u, y; the
/// agent's root checked on disk after each.
#[test]
fn build_on_a_server_and_roll_back_at_80x24() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shop");
    let out = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["demo", "--no-open", "--files", "50", "--dir"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    devsky(&root, &["snapshot", "create", "--name", "before"]);
    let old = dir.path().join("old");
    copy(&root, &old);
    std::fs::remove_dir_all(old.join(".devsky")).unwrap();
    let www = dir.path().join("www");
    copy(&old, &www);
    let state = dir.path().join("state");
    let key = support::agent::create_key(&www, &state);
    let agent = support::agent::start_agent(&www, &state, dir.path().join("agent.log"), &[], &[]);
    let added = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["server", "add", "site", "--url", &agent.url, "--key", &key])
        .args(["--env", "staging"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    std::fs::write(root.join("public/release.txt"), "release notes\n").unwrap();

    let config = root.join(".devsky/test-config");
    let t = Tmux::start(80, 24, &command_line(&root, &config));
    t.wait_text("records");
    t.send(&["3"]);
    t.wait_text("Press c to turn");
    t.send(&["c"]);
    t.wait_text("New script");
    t.send(&["Enter"]);
    t.wait_text("1 of 1 ticked");
    t.send(&["Enter"]);
    t.wait_text("Scripts · 1");
    t.send(&["b"]);
    let s = t.wait_text("Target folder");
    assert!(s.contains("server:NAME"), "the form says so: {s}");
    t.type_text("server:site");
    t.send(&["Enter"]);
    t.wait_text("My Builds · 1");
    let s = t.wait_for("the build to finish", |s| s.contains(" done "));
    assert!(s.contains("server:site"), "{s}");
    assert_eq!(
        std::fs::read_to_string(www.join("public/release.txt")).unwrap(),
        "release notes\n"
    );
    t.send(&["u"]);
    t.wait_text("Roll back build 1?");
    t.send(&["y"]);
    t.wait_text("My Builds · 2");
    t.wait_for("the rollback to finish", |s| s.contains("rolled_back"));
    assert_same(
        &walk(&www),
        &walk(&old),
        "the server's root after the rollback",
    );
    quit_and_check_restored(&t);
    drop(agent);
}

/// Replace (issue 15): search, untick one match, apply, undo, at 80x24; the files on disk
/// checked after each step (byte-identical after the undo).
#[test]
fn replace_search_untick_apply_undo_at_80x24() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    std::fs::create_dir_all(root.join("app")).unwrap();
    let index = "<?php $home = 'http://old.example/';\n// see http://old.example/about\n";
    let conf = "<?php return ['url' => 'http://old.example/conf'];\n";
    std::fs::write(root.join("index.php"), index).unwrap();
    std::fs::write(root.join("app/conf.php"), conf).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .arg("init")
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = root.join(".devsky/test-config");
    let t = Tmux::start(80, 24, &command_line(&root, &config));
    t.wait_text("records");
    t.send(&["6"]);
    t.wait_text("Type what to find");
    t.send(&["/"]);
    t.type_text("http://old.example");
    t.send(&["Tab"]);
    t.type_text("https://new.example");
    t.send(&["Enter"]);
    let s = t.wait_text("Matches · 3 in 2 file(s)");
    assert!(s.contains("[x] app/conf.php:1"), "{s}");
    // the third match (index.php line 2, under the headers of both files): untick it
    t.send(&["j", "j", "j", "j", "Space"]);
    let s = t.wait_text("[ ] index.php:2");
    assert!(
        s.contains("- // see http://old.example/about")
            && s.contains("+ // see https://new.example/about"),
        "{s}"
    );
    t.send(&["A"]);
    t.wait_text("Replace 2 ticked");
    t.send(&["y"]);
    t.wait_text("u undoes it");
    assert_eq!(
        std::fs::read_to_string(root.join("index.php")).unwrap(),
        "<?php $home = 'https://new.example/';\n// see http://old.example/about\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("app/conf.php")).unwrap(),
        "<?php return ['url' => 'https://new.example/conf'];\n"
    );
    t.send(&["u"]);
    t.wait_text("Undo the last replace?");
    t.send(&["y"]);
    t.wait_text("undid replace");
    assert_eq!(
        std::fs::read(root.join("index.php")).unwrap(),
        index.as_bytes()
    );
    assert_eq!(
        std::fs::read(root.join("app/conf.php")).unwrap(),
        conf.as_bytes()
    );
    quit_and_check_restored(&t);
}
