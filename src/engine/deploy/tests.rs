//! Deploying in-process: plan -> package -> apply -> verify -> rollback on trees with
//! every kind of change (file <-> symlink, file <-> folder, emptied folders, mode only),
//! release mode, conflicts. Crashes and hostile packages are in tests/deploy_apply.rs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::apply::{ApplyOptions, apply};
use super::package::build;
use super::plan::plan_files;
use super::rollback::{RollbackOptions, rollback};
use super::{DeployError, LogLine, State};
use crate::engine::jobs::Progress;
use crate::engine::map::EntryKind;
use crate::engine::map::format::MapReader;
use crate::engine::map::scan::{ScanOptions, scan};

type Tree = Vec<(Vec<u8>, EntryKind, u32, [u8; 32])>;

fn put(root: &Path, rel: &str, content: &str, mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn link(root: &Path, rel: &str, target: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, p).unwrap();
}

fn tree_of(root: &Path) -> Tree {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m");
    scan(
        root,
        None,
        &out,
        &ScanOptions::default(),
        &Progress::silent(),
    )
    .unwrap();
    MapReader::open(&out)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.path, e.kind, e.mode, e.hash))
        .collect()
}

/// The plan from the tree `server` to the tree `src`.
fn plan_of(src: &Path, server: &Path) -> super::plan::Plan {
    let d = tempfile::tempdir().unwrap();
    let (l, r) = (d.path().join("l"), d.path().join("r"));
    for (tree, map) in [(src, &l), (server, &r)] {
        scan(
            tree,
            None,
            map,
            &ScanOptions::default(),
            &Progress::silent(),
        )
        .unwrap();
    }
    plan_files(&l, &r).unwrap()
}

fn package(src: &Path, server: &Path, out: &Path) -> PathBuf {
    let plan = plan_of(src, server);
    build(src, &plan, out, &Progress::silent()).unwrap().path
}

fn quiet(_: &LogLine) {}

struct Setup {
    _dir: tempfile::TempDir,
    src: PathBuf,
    www: PathBuf,
    state: PathBuf,
    out: PathBuf,
}

/// Old tree on the server, new tree in the project, with every kind of change between.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (src, www) = (dir.path().join("src"), dir.path().join("www"));
    for r in [&src, &www] {
        put(r, "same.txt", "same", 0o644);
        put(r, "keep/deep/a.txt", "a", 0o644);
    }
    put(&www, "index.php", "old index", 0o644);
    put(&src, "index.php", "new index", 0o644);
    put(&www, "mode.sh", "#!/bin/sh", 0o644);
    put(&src, "mode.sh", "#!/bin/sh", 0o755);
    put(&www, "gone/only/file.txt", "bye", 0o600);
    std::fs::set_permissions(
        www.join("gone/only"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    put(&www, "tolink", "was a file", 0o644);
    link(&src, "tolink", "same.txt");
    link(&www, "tofile", "same.txt");
    put(&src, "tofile", "now a file", 0o640);
    put(&www, "x", "x was a file", 0o644);
    put(&src, "x/y", "x is a folder", 0o644);
    put(&www, "z/w", "z was a folder", 0o644);
    put(&src, "z", "z is a file", 0o644);
    put(&src, "new/nested/n.txt", "brand new", 0o644);
    link(&src, "new/up", "../keep/deep/a.txt");
    Setup {
        src,
        www,
        state: dir.path().join("state"),
        out: dir.path().join("out"),
        _dir: dir,
    }
}

#[test]
fn deploy_then_rollback_every_kind_of_change() {
    let s = setup();
    let before = tree_of(&s.www);
    let pkg = package(&s.src, &s.www, &s.out);
    let state = State::open(&s.state, &s.www).unwrap();
    let lines = std::cell::RefCell::new(Vec::new());
    // The typed start event: the ids announced on the log lines.
    let started = std::cell::RefCell::new(Vec::new());
    let sink = |l: &LogLine| {
        lines.borrow_mut().push(l.message.clone());
        started.borrow_mut().extend(l.started);
    };
    let d = apply(
        &s.www,
        &state,
        &pkg,
        &ApplyOptions::default(),
        &Progress::silent(),
        &sink,
    )
    .unwrap();
    assert_eq!(d.status, "done", "{:?}", lines.borrow());
    assert_eq!(*started.borrow(), vec![d.id], "the start is announced once");
    assert_eq!(tree_of(&s.www), tree_of(&s.src));
    assert!(
        !s.www.join("gone").exists(),
        "the emptied folder is removed"
    );
    assert!(state.journals().unwrap().is_empty());
    assert!(state.logs(d.id).unwrap().len() >= 8);
    assert!(lines.borrow().iter().any(|l| l.contains("verified")));
    let parent = s.www.parent().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("devsky-stage"))
        .collect();
    assert!(leftovers.is_empty());

    started.borrow_mut().clear();
    let r = rollback(
        &s.www,
        &state,
        None,
        &RollbackOptions::default(),
        &Progress::silent(),
        &sink,
    )
    .unwrap();
    assert_eq!(r.kind, "rollback");
    assert_eq!(
        *started.borrow(),
        vec![r.id],
        "the rollback's start is announced"
    );
    assert_ne!(r.id, d.id);
    assert_eq!(r.status, "done");
    assert_eq!(tree_of(&s.www), before);
    let mode = std::fs::metadata(s.www.join("gone/only"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o750, "a removed folder comes back with its mode");
    assert_eq!(
        state.deployment(d.id).unwrap().unwrap().status,
        "rolled_back"
    );
    // nothing left to roll back
    assert!(
        rollback(
            &s.www,
            &state,
            None,
            &RollbackOptions::default(),
            &Progress::silent(),
            &quiet
        )
        .is_err()
    );
    // and the same package applies again
    let again = apply(
        &s.www,
        &state,
        &pkg,
        &ApplyOptions::default(),
        &Progress::silent(),
        &quiet,
    )
    .unwrap();
    assert_eq!(again.status, "done");
    assert_eq!(again.parent, Some(r.id));
    assert_eq!(tree_of(&s.www), tree_of(&s.src));
}

#[test]
fn chained_rollback_over_two_deployments() {
    let s = setup();
    let v0 = tree_of(&s.www);
    let state = State::open(&s.state, &s.www).unwrap();
    let p1 = package(&s.src, &s.www, &s.out);
    apply(
        &s.www,
        &state,
        &p1,
        &ApplyOptions::default(),
        &Progress::silent(),
        &quiet,
    )
    .unwrap();
    let v1 = tree_of(&s.www);
    put(&s.src, "index.php", "third version", 0o644);
    put(&s.src, "added-later.txt", "later", 0o644);
    std::fs::remove_file(s.src.join("same.txt")).unwrap();
    let p2 = package(&s.src, &s.www, &s.out);
    let d2 = apply(
        &s.www,
        &state,
        &p2,
        &ApplyOptions::default(),
        &Progress::silent(),
        &quiet,
    )
    .unwrap();
    assert_eq!(tree_of(&s.www), tree_of(&s.src));
    assert_ne!(tree_of(&s.www), v1);
    // to = 0: both undone, newest first
    let r = rollback(
        &s.www,
        &state,
        Some(0),
        &RollbackOptions::default(),
        &Progress::silent(),
        &quiet,
    )
    .unwrap();
    assert_eq!(r.parent, None);
    assert_eq!(tree_of(&s.www), v0);
    assert_eq!(
        state.deployment(d2.id).unwrap().unwrap().status,
        "rolled_back"
    );
}

#[test]
fn conflicts_are_refused_then_forced() {
    let s = setup();
    let pkg = package(&s.src, &s.www, &s.out);
    put(&s.www, "index.php", "edited on the server", 0o644);
    let before = tree_of(&s.www);
    let state = State::open(&s.state, &s.www).unwrap();
    let err = apply(
        &s.www,
        &state,
        &pkg,
        &ApplyOptions::default(),
        &Progress::silent(),
        &quiet,
    )
    .unwrap_err();
    let Some(DeployError::Conflicts(c)) = err.downcast_ref::<DeployError>() else {
        panic!("{err:#}");
    };
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].path, "index.php");
    assert_eq!(super::exit_code(&err), 2);
    assert_eq!(tree_of(&s.www), before);
    // The stage (unpacked while the root was mapped) is gone with the refusal.
    let beside: Vec<String> = std::fs::read_dir(s.www.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("stage"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
    let hist = state.deployments().unwrap();
    assert_eq!(hist[0].status, "failed");
    let opts = ApplyOptions {
        force: true,
        ..ApplyOptions::default()
    };
    let d = apply(&s.www, &state, &pkg, &opts, &Progress::silent(), &quiet).unwrap();
    assert_eq!(d.status, "done");
    assert_eq!(tree_of(&s.www), tree_of(&s.src));
}

#[test]
fn a_folder_with_unknown_files_is_not_turned_into_a_file() {
    let s = setup();
    let pkg = package(&s.src, &s.www, &s.out);
    // a file the map does not show (ignored) keeps z/ from becoming empty
    put(&s.www, ".devskyignore", "*.log\n", 0o644);
    put(&s.www, "z/debug.log", "ignored", 0o644);
    put(&s.src, ".devskyignore", "*.log\n", 0o644);
    let state = State::open(&s.state, &s.www).unwrap();
    let before = tree_of(&s.www);
    let opts = ApplyOptions {
        force: true,
        ..ApplyOptions::default()
    };
    let err = apply(&s.www, &state, &pkg, &opts, &Progress::silent(), &quiet).unwrap_err();
    assert!(
        format!("{err:#}").contains("z is a folder on the server"),
        "{err:#}"
    );
    assert_eq!(tree_of(&s.www), before);
    assert!(s.www.join("z/debug.log").exists());
}

#[test]
fn release_mode_builds_verifies_switches_and_rolls_back() {
    let s = setup();
    let dir = s.www.parent().unwrap();
    let releases = dir.join("releases");
    std::fs::create_dir(&releases).unwrap();
    std::fs::rename(&s.www, releases.join("1")).unwrap();
    std::os::unix::fs::symlink("releases/1", &s.www).unwrap();
    let before = tree_of(&s.www);
    let pkg = package(&s.src, &s.www, &s.out);
    let state = State::open(&s.state, &s.www).unwrap();
    let opts = ApplyOptions {
        release_mode: true,
        keep_releases: 2,
        ..ApplyOptions::default()
    };
    let d = apply(&s.www, &state, &pkg, &opts, &Progress::silent(), &quiet).unwrap();
    assert_eq!(d.status, "done");
    assert_eq!(d.mode, "release");
    let target = std::fs::read_link(&s.www).unwrap();
    assert_eq!(target, Path::new("releases/2"));
    assert_eq!(tree_of(&s.www), tree_of(&s.src));
    assert_eq!(
        tree_of(&releases.join("1")),
        before,
        "the old release is untouched"
    );

    let r = rollback(
        &s.www,
        &state,
        None,
        &RollbackOptions::default(),
        &Progress::silent(),
        &quiet,
    )
    .unwrap();
    assert_eq!(r.status, "done");
    assert_eq!(std::fs::read_link(&s.www).unwrap(), Path::new("releases/1"));
    assert_eq!(tree_of(&s.www), before);

    // a plain folder as root is refused in release mode, with the way to set it up
    let plain = dir.join("plain");
    std::fs::create_dir(&plain).unwrap();
    let st2 = State::open(&dir.join("state2"), &plain).unwrap();
    let err = apply(&plain, &st2, &pkg, &opts, &Progress::silent(), &quiet).unwrap_err();
    assert!(format!("{err:#}").contains("ln -s releases/1"), "{err:#}");
}

#[test]
fn an_up_to_date_server_gets_an_empty_deployment() {
    let s = setup();
    let state = State::open(&s.state, &s.www).unwrap();
    let pkg = package(&s.src, &s.www, &s.out);
    apply(
        &s.www,
        &state,
        &pkg,
        &ApplyOptions::default(),
        &Progress::silent(),
        &quiet,
    )
    .unwrap();
    let plan = plan_of(&s.src, &s.www);
    assert!(plan.is_empty());
    let empty = build(&s.src, &plan, &s.out, &Progress::silent())
        .unwrap()
        .path;
    let d = apply(
        &s.www,
        &state,
        &empty,
        &ApplyOptions::default(),
        &Progress::silent(),
        &quiet,
    )
    .unwrap();
    assert_eq!(d.status, "done");
    assert!(d.summary.contains("0 upload(s)"), "{}", d.summary);
    assert_eq!(tree_of(&s.www), tree_of(&s.src));
}

mod state {

    use super::super::state::*;
    use super::super::{Level, LogLine};

    #[test]
    fn refuses_state_inside_root_and_locks() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("www");
        std::fs::create_dir(&root).unwrap();
        let err = State::open(&root.join("x/state"), &root)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("inside the web root"), "{err}");
        assert!(!root.join("x").exists());
        let err = State::open(&root.join("../www/.s"), &root)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("inside the web root"), "{err}");

        let s = State::open(&d.path().join("state"), &root).unwrap();
        let g = s.lock().unwrap();
        let err = s.lock().err().unwrap();
        let msg = err.to_string();
        assert!(
            msg.starts_with("locked by ") && msg.contains(" since "),
            "{msg}"
        );
        assert_eq!(super::super::exit_code(&err), 4);
        // still running (it is us): not broken
        assert!(s.break_lock().is_err());
        drop(g);
        assert!(s.lock_info().unwrap().is_none());

        // a lock left by a process that is gone is stale and can be broken
        let mut dead = LockInfo::mine();
        dead.pid = u32::MAX - 7;
        dead.holder = format!("{}@{}", dead.pid, dead.host);
        std::fs::write(
            d.path().join("state/lock"),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        let msg = s.lock().err().unwrap().to_string();
        assert!(msg.contains("no longer running"), "{msg}");
        assert_eq!(s.break_lock().unwrap().unwrap().unwrap().pid, dead.pid);
        drop(s.lock().unwrap());
    }

    #[test]
    fn history_and_logs() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("www");
        std::fs::create_dir(&root).unwrap();
        let s = State::open(&d.path().join("state"), &root).unwrap();
        let a = s.begin("deploy", Some("ab"), None, "files").unwrap();
        s.add_log(
            a,
            &LogLine {
                time_ms: 1,
                level: Level::Success,
                message: "hi".into(),
                started: None,
            },
        )
        .unwrap();
        s.set_status(a, "done", "1 file").unwrap();
        let b = s.begin("deploy", None, Some(a), "files").unwrap();
        assert!(b > a);
        assert_eq!(s.current().unwrap().unwrap().id, a);
        assert_eq!(s.logs(a).unwrap()[0].level, Level::Success);
        let all = s.deployments().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].status, "applying");
        assert!(all[0].finished.is_some());
    }
}

/// Every entry of a folder, by name (what is visible in it).
fn listing(dir: &Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    v.sort();
    v
}

#[test]
fn staged_files_are_made_in_their_folders_without_showing_there() {
    use super::package::{Limits, Package};
    use super::stage::{Near, make_stage, stage_uploads};
    let s = setup();
    std::os::unix::fs::symlink("keep", s.www.join("via-link")).unwrap();
    put(&s.src, "via-link/l.txt", "under a symlinked folder", 0o600);
    let pkg = package(&s.src, &s.www, &s.out);
    let pkg = Package::open(&pkg, &Limits::default(), &Progress::silent()).unwrap();
    let www = s.www.canonicalize().unwrap();
    let before = tree_of(&www);
    let folders = [www.clone(), www.join("keep/deep"), www.join("keep")];
    let listed: Vec<_> = folders.iter().map(|d| listing(d)).collect();

    // The nearest real folder: its own, one above that exists, never through a symlink.
    let mut near = Near::new(&www);
    assert_eq!(near.folder_of("index.php"), Some(www.as_path()));
    assert_eq!(
        near.folder_of("keep/deep/b.txt"),
        Some(www.join("keep/deep").as_path())
    );
    assert_eq!(
        near.folder_of("keep/deep/new/er/c.txt"),
        Some(www.join("keep/deep").as_path())
    );
    assert_eq!(near.folder_of("via-link/l.txt"), Some(www.as_path()));
    assert_eq!(near.folder_of("x/y"), Some(www.as_path()), "x is a file");

    let stage = make_stage(&www, 7).unwrap();
    stage_uploads(&pkg, &www, &stage, &Progress::silent()).unwrap();
    for (i, u) in pkg.manifest.uploads.iter().enumerate() {
        let staged = stage.join(i.to_string());
        let meta = std::fs::symlink_metadata(&staged).unwrap();
        let want = std::fs::symlink_metadata(s.src.join(&u.path)).unwrap();
        assert_eq!(meta.file_type().is_symlink(), want.file_type().is_symlink());
        if meta.is_file() {
            assert_eq!(
                std::fs::read(&staged).unwrap(),
                std::fs::read(s.src.join(&u.path)).unwrap(),
                "{}",
                u.path
            );
            assert_eq!(
                meta.permissions().mode() & 0o7777,
                want.permissions().mode() & 0o7777
            );
        }
    }
    assert_eq!(listing(&stage).len(), pkg.manifest.uploads.len());
    // Nothing showed up in the root while staging.
    assert_eq!(tree_of(&www), before);
    let now: Vec<_> = folders.iter().map(|d| listing(d)).collect();
    assert_eq!(now, listed);
}

#[test]
fn a_file_made_on_another_file_system_is_copied_into_place() {
    use super::package::{Limits, Package};
    let shm = Path::new("/dev/shm");
    let s = setup();
    let dev = |p: &Path| std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(p).unwrap());
    assert!(
        shm.is_dir() && dev(shm) != dev(&s.www),
        "this test needs /dev/shm on a file system of its own (a tmpfs, as Debian mounts it)"
    );
    let pkg = package(&s.src, &s.www, &s.out);
    let pkg = Package::open(&pkg, &Limits::default(), &Progress::silent()).unwrap();
    let near = tempfile::tempdir_in(shm).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let mut reader = pkg.reader().unwrap();
    let u = pkg
        .manifest
        .uploads
        .iter()
        .find(|u| u.path == "mode.sh")
        .unwrap();
    let to = dest.path().join("0");
    reader.extract_near(u, &to, Some(near.path())).unwrap();
    assert_eq!(std::fs::read(&to).unwrap(), b"#!/bin/sh");
    assert_eq!(
        std::fs::metadata(&to).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    assert!(listing(near.path()).is_empty());
    // A name that is taken is an error, not a copy over it.
    assert!(reader.extract_near(u, &to, Some(near.path())).is_err());
}

#[test]
fn a_big_package_is_packed_on_threads_in_plan_order() {
    use super::package::{Limits, Package};
    let s = setup();
    for i in 0..300 {
        put(
            &s.src,
            &format!("many/f{i:03}.php"),
            &format!("<?php {i};"),
            0o644,
        );
    }
    put(&s.src, "many/logo.png", "not really a png", 0o600);
    let path = package(&s.src, &s.www, &s.out);
    let pkg = Package::open(&path, &Limits::default(), &Progress::silent()).unwrap();
    assert!(pkg.manifest.uploads.len() > 300);
    // The manifest first, then every upload in the manifest's order.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let names: Vec<String> = (0..zip.len())
        .map(|i| String::from_utf8(zip.by_index(i).unwrap().name_raw().to_vec()).unwrap())
        .collect();
    let mut want = vec![super::manifest::MANIFEST_NAME.to_string()];
    want.extend(pkg.manifest.uploads.iter().map(|u| u.path.clone()));
    assert_eq!(names, want);
    // No run of the packing is left beside the package.
    let left: Vec<_> = listing(&s.out)
        .into_iter()
        .filter(|n| !n.to_string_lossy().starts_with("devsky-update-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let st = State::open(&s.state, &s.www).unwrap();
    apply(
        &s.www,
        &st,
        &path,
        &ApplyOptions::default(),
        &Progress::silent(),
        &quiet,
    )
    .unwrap();
    assert_eq!(tree_of(&s.www), tree_of(&s.src));
}

#[test]
fn a_push_keeps_the_newest_packages_only() {
    use super::package::keep_newest_packages;
    let d = tempfile::tempdir().unwrap();
    for i in 0..13 {
        let n = format!("devsky-update-20261121-0700{i:02}-abcdef{i:06}.zip");
        std::fs::write(d.path().join(n), b"zip").unwrap();
    }
    std::fs::write(d.path().join("notes.txt"), b"mine").unwrap();
    std::fs::write(d.path().join(".devsky-update-x.zip.tmp"), b"in the making").unwrap();
    assert_eq!(keep_newest_packages(d.path(), 10), 3);
    let left = listing(d.path());
    assert_eq!(left.len(), 12, "{left:?}");
    assert!(
        !d.path()
            .join("devsky-update-20261121-070002-abcdef000002.zip")
            .exists()
    );
    assert!(
        d.path()
            .join("devsky-update-20261121-070003-abcdef000003.zip")
            .exists()
    );
    assert!(d.path().join("notes.txt").exists());
    assert_eq!(keep_newest_packages(d.path(), 10), 0);
}

#[test]
fn recovery_removes_lock_attempts_cut_short() {
    let s = setup();
    let st = State::open(&s.state, &s.www).unwrap();
    let dir = s.state.canonicalize().unwrap();
    let stale = dir.join(".lock.4242.tmp");
    let fresh = dir.join(".lock.4343.tmp");
    for p in [&stale, &fresh] {
        std::fs::write(p, b"{}").unwrap();
    }
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(300);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    super::apply::recover(&s.www, &st, &Progress::silent(), &quiet).unwrap();
    assert!(
        !stale.exists(),
        "a lock attempt cut short long ago is removed"
    );
    assert!(fresh.exists(), "one that may be in use is left alone");
}

#[test]
fn a_zstd_package_checks_and_applies() {
    use super::package::{Limits, Package, Packing, build_with};
    let s = setup();
    put(
        &s.src,
        "big.css",
        &"body { color: red }\n".repeat(100),
        0o644,
    );
    put(&s.src, "tiny.txt", "short", 0o644);
    let plan = plan_of(&s.src, &s.www);
    let built = build_with(&s.src, &plan, &s.out, Packing::Zstd, &Progress::silent()).unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&built.path).unwrap()).unwrap();
    assert_eq!(
        zip.by_name("big.css").unwrap().compression(),
        zip::CompressionMethod::Zstd
    );
    assert_eq!(
        zip.by_name("tiny.txt").unwrap().compression(),
        zip::CompressionMethod::Stored
    );
    Package::open(&built.path, &Limits::default(), &Progress::silent()).unwrap();
    let st = State::open(&s.state, &s.www).unwrap();
    apply(
        &s.www,
        &st,
        &built.path,
        &ApplyOptions::default(),
        &Progress::silent(),
        &quiet,
    )
    .unwrap();
    assert_eq!(tree_of(&s.www), tree_of(&s.src));
}
