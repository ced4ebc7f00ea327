//! Deploying on the server side, with the real binary where processes die: plan, package
//! and apply; rollback; crashes at every crash point (the root is always exactly the old or
//! the new tree after `agent recover`; real SIGKILLs at random moments are in
//! `deploy_kill.rs`); the deploy lock; conflicts; a verification failure that must roll
//! back. Hostile packages: `deploy_hostile.rs`. Trees are compared with the tests' own walker.

mod support;
use support::deploy::map_listing;
// `tree_of`: the tests' own walker (folders, modes, symlinks), never devsky's map.
use support::tree::{Tree, copy as copy_tree, files_and_links, walk as tree_of};

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn put(root: &Path, rel: &str, content: &[u8], mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn devsky(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_devsky"));
    c.args(args)
        .env_remove("DEVSKY_CRASH_AT")
        .env_remove("DEVSKY_TEST_CORRUPT_STAGE");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A project, a pristine server tree, a working copy of it, a state folder, a package.
struct Lab {
    dir: tempfile::TempDir,
    src: PathBuf,
    www0: PathBuf,
    www: PathBuf,
    state: PathBuf,
    pkg: PathBuf,
}

impl Lab {
    fn new(big: bool) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let (src, www0) = (dir.path().join("src"), dir.path().join("www0"));
        for r in [&src, &www0] {
            put(r, "same.txt", b"same", 0o644);
            put(r, "lib/keep.php", b"<?php // unchanged", 0o644);
        }
        for i in 0..8 {
            put(
                &www0,
                &format!("app/m{i}.php"),
                format!("old {i}").as_bytes(),
                0o644,
            );
            put(
                &src,
                &format!("app/m{i}.php"),
                format!("new {i}").as_bytes(),
                0o644,
            );
        }
        for i in 0..4 {
            put(
                &www0,
                &format!("old/d{i}.txt"),
                format!("gone {i}").as_bytes(),
                0o644,
            );
            put(
                &src,
                &format!("fresh/sub/n{i}.txt"),
                format!("added {i}").as_bytes(),
                0o644,
            );
        }
        put(&www0, "x", b"x was a file", 0o644);
        put(&src, "x/y", b"x is a folder", 0o644);
        put(&www0, "tolink", b"file", 0o644);
        std::os::unix::fs::symlink("same.txt", src.join("tolink")).unwrap();
        put(&www0, "run.sh", b"#!/bin/sh", 0o644);
        put(&src, "run.sh", b"#!/bin/sh", 0o755);
        if big {
            let mut seed = 0x9E37_79B9_7F4A_7C15u64;
            for i in 0..120 {
                let mut data = vec![0u8; 256 * 1024];
                for b in data.iter_mut() {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    *b = seed as u8;
                }
                put(&src, &format!("big/f{i}.bin"), &data, 0o644);
            }
        }
        let lab = Lab {
            www: dir.path().join("www"),
            state: dir.path().join("state"),
            pkg: PathBuf::new(),
            src,
            www0,
            dir,
        };
        lab.reset();
        // The package, made by the CLI: the server's map, then plan + zip.
        let remote = lab.dir.path().join("remote.map");
        let o = devsky(
            &[
                "agent",
                "map",
                "--root",
                s(&lab.www),
                "--state",
                s(&lab.state),
                "--out",
                s(&remote),
            ],
            &[],
        );
        assert!(o.status.success(), "{}", text(&o));
        let out = lab.dir.path().join("deploy");
        let o = devsky(
            &[
                "deploy",
                "package",
                "--project",
                s(&lab.src),
                "--remote-map",
                s(&remote),
                "--out",
                s(&out),
                "--json",
            ],
            &[],
        );
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let pkg = PathBuf::from(v["package"]["path"].as_str().unwrap());
        assert!(pkg.starts_with(&out));
        Lab { pkg, ..lab }
    }

    /// The server back to the old tree, with a fresh state.
    fn reset(&self) {
        let _ = std::fs::remove_dir_all(&self.www);
        let _ = std::fs::remove_dir_all(&self.state);
        copy_tree(&self.www0, &self.www);
    }

    fn agent(&self, cmd: &str, extra: &[&str], env: &[(&str, String)]) -> Output {
        let mut a = vec![
            "agent",
            cmd,
            "--root",
            s(&self.www),
            "--state",
            s(&self.state),
        ];
        a.extend_from_slice(extra);
        devsky(&a, env)
    }

    fn apply(&self, extra: &[&str], env: &[(&str, String)]) -> Output {
        let mut a = vec![s(&self.pkg)];
        a.extend_from_slice(extra);
        self.agent("apply", &a, env)
    }

    fn history(&self) -> Vec<serde_json::Value> {
        let o = self.agent("history", &["--json"], &[]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout).unwrap()
    }

    /// Nothing left behind: no journal, no stage folder, no lock.
    fn assert_clean(&self) {
        let journals = std::fs::read_dir(self.state.join("journal"))
            .unwrap()
            .count();
        assert_eq!(journals, 0, "a journal is left");
        assert!(!self.state.join("lock").exists(), "the lock is left");
        for e in std::fs::read_dir(self.dir.path()).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.contains("devsky-stage"), "stage folder {n} left");
        }
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn package_apply_then_rollback_through_the_cli() {
    let lab = Lab::new(false);
    let old = tree_of(&lab.www);
    let o = lab.apply(&["--json"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["status"], "done");
    assert_eq!(tree_of(&lab.www), tree_of(&lab.src));
    assert!(lab.state.join("archives/1.zip").exists());
    assert!(lab.state.join("maps/1.map").exists());
    lab.assert_clean();

    let o = lab.agent("rollback", &[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(tree_of(&lab.www), old, "rolled back byte for byte");
    // the pre-deploy map recorded by the agent lists that same tree's files and symlinks
    assert_eq!(
        map_listing(&lab.state.join("maps/1.map")),
        files_and_links(&old)
    );
    let h = lab.history();
    assert_eq!(
        (h[0]["kind"].as_str(), h[0]["status"].as_str()),
        (Some("deploy"), Some("rolled_back"))
    );
    assert_eq!(
        (h[1]["kind"].as_str(), h[1]["status"].as_str()),
        (Some("rollback"), Some("done"))
    );
    let logs = lab.agent("history", &["--logs", "1"], &[]);
    assert!(text(&logs).contains("verified"), "{}", text(&logs));
    // hidden from --help
    let help = devsky(&["--help"], &[]);
    assert!(!text(&help).contains("agent"), "{}", text(&help));
}

/// Run `agent apply` (or `rollback`) with DEVSKY_CRASH_AT = 1, 2, ... until a run
/// completes; after every crash, `agent recover` must leave exactly `before` or `after`.
type Env<'a> = &'a [(&'a str, String)];

fn crash_everywhere(
    lab: &Lab,
    prepare: &dyn Fn(),
    run: &dyn Fn(Env) -> Output,
    before: &Tree,
    after: &Tree,
) -> (usize, bool) {
    support::need_test_hooks();
    let mut crashes = 0;
    let mut saw_after = false;
    for n in 1.. {
        assert!(n < 400, "never completed");
        prepare();
        let o = run(&[("DEVSKY_CRASH_AT", n.to_string())]);
        if o.status.success() {
            assert_eq!(&tree_of(&lab.www), after);
            break;
        }
        assert_eq!(o.status.signal(), Some(6), "crash point {n}: {}", text(&o));
        assert!(
            text(&o).contains(&format!("crash point {n} (")),
            "{}",
            text(&o)
        );
        crashes += 1;
        let r = lab.agent("recover", &[], &[]);
        assert!(
            r.status.success(),
            "recover after crash point {n}: {}",
            text(&r)
        );
        let t = tree_of(&lab.www);
        assert!(
            &t == before || &t == after,
            "crash point {n}: the tree is a mix of old and new\n{}",
            text(&o)
        );
        lab.assert_clean();
        assert!(lab.history().iter().all(|d| d["status"] != "applying"));
        if &t == after {
            saw_after = true;
        } else {
            // a later run succeeds
            let o = run(&[]);
            assert!(o.status.success(), "after crash point {n}: {}", text(&o));
            assert_eq!(&tree_of(&lab.www), after);
        }
    }
    (crashes, saw_after)
}

#[test]
fn a_crash_at_any_point_leaves_the_old_or_the_new_tree() {
    let lab = Lab::new(false);
    let (old, new) = (tree_of(&lab.www0), tree_of(&lab.src));
    let (crashes, saw_new) = crash_everywhere(
        &lab,
        &|| lab.reset(),
        &|env| lab.apply(&[], env),
        &old,
        &new,
    );
    eprintln!("apply: {crashes} crash points, each recovered");
    assert!(crashes >= 20, "only {crashes} crash points");
    assert!(saw_new, "a crash after the final status keeps the new tree");

    // rollback, crashed everywhere too
    let deployed = || {
        lab.reset();
        assert!(lab.apply(&[], &[]).status.success());
    };
    let (crashes, _) = crash_everywhere(
        &lab,
        &deployed,
        &|env| lab.agent("rollback", &[], env),
        &new,
        &old,
    );
    eprintln!("rollback: {crashes} crash points, each recovered");
    assert!(crashes >= 20, "only {crashes} crash points in rollback");
}

#[test]
fn release_mode_crashes_leave_one_release_or_the_other() {
    let lab = Lab::new(false);
    let (old, new) = (tree_of(&lab.www0), tree_of(&lab.src));
    let releases = lab.dir.path().join("releases");
    let prepare = || {
        let _ = std::fs::remove_file(&lab.www);
        let _ = std::fs::remove_dir_all(&lab.www);
        let _ = std::fs::remove_dir_all(&releases);
        let _ = std::fs::remove_dir_all(&lab.state);
        copy_tree(&lab.www0, &releases.join("1"));
        std::os::unix::fs::symlink("releases/1", &lab.www).unwrap();
    };
    let (crashes, saw_new) = crash_everywhere(
        &lab,
        &prepare,
        &|env| lab.apply(&["--release"], env),
        &old,
        &new,
    );
    eprintln!("release mode: {crashes} crash points, each recovered");
    assert!(crashes >= 5 && saw_new, "{crashes}");
    assert_eq!(
        std::fs::read_link(&lab.www).unwrap(),
        Path::new("releases/2")
    );
    assert_eq!(tree_of(&releases.join("1")), old);
}

/// A SIGKILL after a deployment removed its journal but before it removed its stage (or of
/// a recovery after it recorded an interrupted deployment failed) leaves a stage no journal
/// points at (seen by tests/deploy_kill.rs): recovery removes it.
#[test]
fn recovery_removes_a_stage_no_journal_points_at() {
    let lab = Lab::new(false);
    let o = lab.apply(&[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    // What such a kill leaves beside the root: the stage, an upload still in it.
    let stage = lab.dir.path().join(".www.devsky-stage-1");
    put(&stage, "3", b"a staged upload", 0o644);
    // A folder that only looks like a stage is not one: left alone.
    let other = lab.dir.path().join(".www.devsky-stage-old");
    put(&other, "keep", b"not devsky's", 0o644);
    let r = lab.agent("recover", &[], &[]);
    assert!(r.status.success(), "{}", text(&r));
    assert!(!stage.exists(), "the stage is left:\n{}", text(&r));
    assert!(other.join("keep").exists());
    std::fs::remove_dir_all(&other).unwrap();
    lab.assert_clean();
    assert_eq!(tree_of(&lab.www), tree_of(&lab.src));
}

#[test]
fn two_applies_at_once_and_a_stale_lock() {
    let lab = Lab::new(true);
    // A real second apply while the first one is in progress (stopped mid-way).
    let mut caught = false;
    for _ in 0..20 {
        lab.reset();
        let mut first = Command::new(env!("CARGO_BIN_EXE_devsky"))
            .args([
                "agent",
                "apply",
                "--root",
                s(&lab.www),
                "--state",
                s(&lab.state),
                s(&lab.pkg),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = first.id().to_string();
        let start = Instant::now();
        while !lab.state.join("lock").exists() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_micros(200));
        }
        let stopped = Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success();
        let held = lab.state.join("lock").exists();
        if stopped && held {
            let second = lab.apply(&[], &[]);
            assert_eq!(second.status.code(), Some(4), "{}", text(&second));
            let msg = text(&second);
            assert!(
                msg.contains(&format!("locked by {pid}@")) && msg.contains(" since "),
                "{msg}"
            );
            // the holder is alive: unlock refuses
            let u = lab.agent("unlock", &[], &[]);
            assert!(!u.status.success(), "{}", text(&u));
            caught = true;
        }
        Command::new("kill").args(["-CONT", &pid]).status().unwrap();
        assert!(first.wait().unwrap().success());
        if caught {
            break;
        }
    }
    assert!(caught, "never caught the first apply holding the lock");
    assert_eq!(tree_of(&lab.www), tree_of(&lab.src));

    // A stale lock (its process is gone) is reported and broken explicitly.
    lab.reset();
    std::fs::create_dir_all(&lab.state).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let lock = serde_json::json!({"holder": format!("4000000@{host}"), "pid": 4000000u32, "host": host,
        "user": "deployer", "since_ms": 1_700_000_000_000i64, "start_ticks": 1});
    std::fs::write(lab.state.join("lock"), lock.to_string()).unwrap();
    let o = lab.apply(&[], &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains("locked by 4000000@") && text(&o).contains("since 2023-11-14"),
        "{}",
        text(&o)
    );
    let u = lab.agent("unlock", &[], &[]);
    assert!(
        u.status.success() && text(&u).contains("removed the lock"),
        "{}",
        text(&u)
    );
    let o = lab.apply(&[], &[]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn conflicts_exit_2_then_force_and_verify_failure_rolls_back() {
    support::need_test_hooks();
    let lab = Lab::new(false);
    put(&lab.www, "app/m3.php", b"hotfix made on the server", 0o644);
    let before = tree_of(&lab.www);
    let o = lab.apply(&[], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("app/m3.php"), "{}", text(&o));
    assert_eq!(tree_of(&lab.www), before);
    let o = lab.apply(&["--force"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(tree_of(&lab.www), tree_of(&lab.src));

    // A staged file corrupted after it was checked: verification must fail, the old
    // tree must come back, and the deployment must never be recorded as done.
    lab.reset();
    let old = tree_of(&lab.www);
    let o = lab.apply(&[], &[("DEVSKY_TEST_CORRUPT_STAGE", "1".into())]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("verification failed"), "{}", text(&o));
    assert_eq!(tree_of(&lab.www), old);
    let h = lab.history();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["status"], "failed");
    lab.assert_clean();
    assert!(!lab.state.join("backups/1").exists());
}
