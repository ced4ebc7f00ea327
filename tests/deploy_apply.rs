//! Deploying on the server side, with the real binary where processes die: plan, package
//! and apply; rollback; crashes at every crash point (the root is always exactly the old or
//! the new tree after `agent recover`; real SIGKILLs at random moments are in
//! tests/deploy_kill.rs); hostile packages (nothing written); the deploy lock; conflicts; a
//! verification failure that must roll back. Trees are compared with the tests' own walker.

mod support;
use support::deploy::map_listing;
// `tree_of`: the tests' own walker (folders, modes, symlinks), never devsky's map.
use support::tree::{Tree, copy as copy_tree, files_and_links, walk as tree_of};

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use devsky::engine::deploy::apply::{ApplyOptions, apply};
use devsky::engine::deploy::manifest::{Delete, FORMAT, Kind, MANIFEST_NAME, Manifest, Upload};
use devsky::engine::deploy::{LogLine, State};
use devsky::engine::jobs::Progress;
use zip::write::SimpleFileOptions;

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

// ---- hostile packages ------------------------------------------------------------

enum E<'a> {
    File(&'a str, &'a [u8]),
    Link(&'a str, &'a str),
}

fn hex(b: &[u8]) -> String {
    blake3::hash(b).to_hex().to_string()
}

/// A manifest whose uploads match `files` exactly (each new on the server).
fn manifest(files: &[E], deletes: &[(&str, &str)]) -> Vec<u8> {
    let mut m = Manifest {
        format: FORMAT.into(),
        version: 1,
        created: "2026-01-01T00:00:00.000Z".into(),
        uploads: vec![],
        deletes: vec![],
        pre_images: Default::default(),
        expected: Default::default(),
    };
    for f in files {
        let (path, data, kind, mode) = match f {
            E::File(p, d) => (*p, d.to_vec(), Kind::File, "644"),
            E::Link(p, t) => (*p, t.as_bytes().to_vec(), Kind::Symlink, "777"),
        };
        m.uploads.push(Upload {
            path: path.into(),
            size: data.len() as u64,
            blake3: hex(&data),
            mode: mode.into(),
            kind,
        });
        m.pre_images.insert(path.into(), None);
        m.expected.insert(path.into(), Some(hex(&data)));
    }
    for (p, content) in deletes {
        m.deletes.push(Delete {
            path: (*p).into(),
            blake3: hex(content.as_bytes()),
        });
        m.pre_images
            .insert((*p).into(), Some(hex(content.as_bytes())));
        m.expected.insert((*p).into(), None);
    }
    serde_json::to_vec(&m).unwrap()
}

fn zip_of(path: &Path, manifest: Option<&[u8]>, entries: &[E]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    if let Some(m) = manifest {
        z.start_file(MANIFEST_NAME, o).unwrap();
        std::io::Write::write_all(&mut z, m).unwrap();
    }
    for e in entries {
        match e {
            E::File(p, d) => {
                z.start_file(*p, o).unwrap();
                std::io::Write::write_all(&mut z, d).unwrap();
            }
            E::Link(p, t) => z.add_symlink(*p, *t, o).unwrap(),
        }
    }
    z.finish().unwrap();
}

#[test]
fn hostile_packages_are_refused_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("site/www");
    put(&www, "index.php", b"<?php", 0o644);
    put(&dir.path().join("site"), "outside.txt", b"precious", 0o644);
    let state = State::open(&dir.path().join("state"), &www).unwrap();
    let before = tree_of(&dir.path().join("site"));
    let zeros = vec![0u8; 20 << 20];
    let ok_file = [E::File("a.txt", b"fine")];
    let good = manifest(&ok_file, &[]);
    let z = |n: &str| dir.path().join(format!("{n}.zip"));

    let mut cases: Vec<(&str, PathBuf, &str, ApplyOptions)> = Vec::new();
    let mut case = |name: &'static str, m: Option<Vec<u8>>, entries: &[E], want: &'static str| {
        zip_of(&z(name), m.as_deref(), entries);
        cases.push((name, z(name), want, ApplyOptions::default()));
    };
    case(
        "dotdot",
        Some(manifest(&[E::File("../evil.txt", b"x")], &[])),
        &[E::File("../evil.txt", b"x")],
        ".. component",
    );
    case(
        "absolute",
        Some(good.clone()),
        &[E::File("a.txt", b"fine"), E::File("/tmp/evil", b"x")],
        "absolute",
    );
    case(
        "backslash",
        Some(good.clone()),
        &[E::File("a.txt", b"fine"), E::File("..\\evil", b"x")],
        "backslash",
    );
    case(
        "link-out",
        Some(manifest(&[E::Link("l", "../../outside.txt")], &[])),
        &[E::Link("l", "../../outside.txt")],
        "climbs out",
    );
    case(
        "link-abs",
        Some(manifest(&[E::Link("l", "/etc/passwd")], &[])),
        &[E::Link("l", "/etc/passwd")],
        "absolute target",
    );
    case(
        "bomb",
        Some(manifest(&[E::File("z.bin", &zeros)], &[])),
        &[E::File("z.bin", &zeros)],
        "zip bomb",
    );
    case(
        "delete-out",
        Some(manifest(&ok_file, &[("../outside.txt", "precious")])),
        &ok_file,
        ".. component",
    );
    let evil = manifest(&[E::File("a.txt", b"good")], &[]);
    case(
        "hash",
        Some(evil),
        &[E::File("a.txt", b"evil")],
        "does not match the manifest",
    );
    // The same deep in a package checked by several threads: the error still comes back.
    let names: Vec<String> = (0..300).map(|i| format!("many/f{i:03}.txt")).collect();
    let listed: Vec<E> = names.iter().map(|n| E::File(n, b"good")).collect();
    let mut sent: Vec<E> = names.iter().map(|n| E::File(n, b"good")).collect();
    sent[250] = E::File(&names[250], b"evil");
    case(
        "hash-late",
        Some(manifest(&listed, &[])),
        &sent,
        "many/f250.txt\": content hash",
    );
    case(
        "extra",
        Some(good.clone()),
        &[E::File("a.txt", b"fine"), E::File("sneaky.php", b"x")],
        "not in the manifest",
    );
    case(
        "missing",
        Some(manifest(
            &[E::File("a.txt", b"fine"), E::File("b.txt", b"b")],
            &[],
        )),
        &ok_file,
        "missing from the archive",
    );
    case("no-manifest", None, &ok_file, "no devsky-manifest.json");
    case(
        "git",
        Some(manifest(&[E::File(".git/hooks/post-merge", b"x")], &[])),
        &[E::File(".git/hooks/post-merge", b"x")],
        ".git/",
    );
    // duplicate names: write a.txt and b.txt, then rename b.txt to a.txt in the bytes
    zip_of(
        &z("dup"),
        Some(&good),
        &[E::File("a.txt", b"fine"), E::File("b.txt", b"evil")],
    );
    let mut bytes = std::fs::read(z("dup")).unwrap();
    for i in 0..bytes.len() - 5 {
        if &bytes[i..i + 5] == b"b.txt" {
            bytes[i..i + 5].copy_from_slice(b"a.txt");
        }
    }
    std::fs::write(z("dup"), bytes).unwrap();
    cases.push((
        "dup",
        z("dup"),
        "duplicate entry name \"a.txt\"",
        ApplyOptions::default(),
    ));
    // truncated: a valid package cut short
    zip_of(&z("whole"), Some(&good), &ok_file);
    let whole = std::fs::read(z("whole")).unwrap();
    std::fs::write(z("cut"), &whole[..whole.len() / 2]).unwrap();
    cases.push(("cut", z("cut"), "truncated", ApplyOptions::default()));
    std::fs::write(
        z("junk"),
        b"this is not a zip at all, not even close to one",
    )
    .unwrap();
    cases.push(("junk", z("junk"), "not a zip", ApplyOptions::default()));
    // a zstd bomb: refused by the same ratio rule
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(z("zbomb")).unwrap());
        let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Zstd);
        z.start_file(MANIFEST_NAME, o).unwrap();
        let m = manifest(&[E::File("z.bin", &zeros)], &[]);
        std::io::Write::write_all(&mut z, &m).unwrap();
        z.start_file("z.bin", o).unwrap();
        std::io::Write::write_all(&mut z, &zeros).unwrap();
        z.finish().unwrap();
    }
    cases.push(("zbomb", z("zbomb"), "zip bomb", ApplyOptions::default()));
    // over the total size limit
    let mut small = ApplyOptions::default();
    small.limits.max_total = 100;
    let big = vec![b'x'; 1000];
    zip_of(
        &z("total"),
        Some(&manifest(&[E::File("big.txt", &big)], &[])),
        &[E::File("big.txt", &big)],
    );
    cases.push(("total", z("total"), "more than 100 bytes", small));

    for (name, path, want, opts) in &cases {
        let err = apply(
            &www,
            &state,
            path,
            opts,
            &Progress::silent(),
            &|_: &LogLine| {},
        )
        .err()
        .unwrap_or_else(|| panic!("{name}: accepted"));
        let msg = format!("{err:#}");
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(msg.contains("nothing was changed"), "{name}: {msg}");
        assert_eq!(
            tree_of(&dir.path().join("site")),
            before,
            "{name}: something was written"
        );
        assert!(!dir.path().join("evil.txt").exists() && !Path::new("/tmp/evil").exists());
    }
    assert!(
        state.deployments().unwrap().is_empty(),
        "a refused package is never a deployment"
    );
    assert!(state.lock_info().unwrap().is_none());
    let left: Vec<_> = std::fs::read_dir(dir.path().join("site"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");

    // the same through the binary: exit 1, a clear message
    let o = devsky(
        &[
            "agent",
            "apply",
            "--root",
            s(&www),
            "--state",
            s(&dir.path().join("state")),
            s(&z("dotdot")),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("refused"), "{}", text(&o));
}
