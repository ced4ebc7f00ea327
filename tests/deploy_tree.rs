//! What a deploy covers and how it moves a whole tree, with the real binary: folders (empty
//! ones, their modes) are deployed, verified and rolled back like files; the deployed file
//! set is the server profile's (not `.gitignore`); a rollback syncs once per step, not once
//! per file. Trees are compared with the tests' own walker (`support::tree`).

mod support;
use support::tree::{assert_same, walk};

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn put(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
}

fn mkdir(root: &Path, rel: &str, mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn devsky(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(args)
        .env_remove("DEVSKY_CRASH_AT")
        .env_remove("DEVSKY_TEST_CORRUPT_STAGE")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[track_caller]
fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\n{}",
        o.status.code(),
        text(&o)
    );
    text(&o)
}

/// A project `src`, a server root `www` and its agent state, in one temp folder.
struct Lab {
    dir: tempfile::TempDir,
    src: PathBuf,
    www: PathBuf,
    state: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let (src, www, state) = (
            dir.path().join("src"),
            dir.path().join("www"),
            dir.path().join("state"),
        );
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(&www).unwrap();
        Lab {
            dir,
            src,
            www,
            state,
        }
    }

    fn agent(&self, cmd: &str, extra: &[&str]) -> Output {
        let mut a = vec![
            "agent",
            cmd,
            "--root",
            s(&self.www),
            "--state",
            s(&self.state),
        ];
        a.extend_from_slice(extra);
        devsky(&a)
    }

    /// `deploy package` against the server's map now: the JSON report.
    fn package(&self, extra: &[&str]) -> serde_json::Value {
        let remote = self.dir.path().join("remote.map");
        ok(self.agent("map", &["--out", s(&remote)]));
        let out = self.dir.path().join("packages");
        let mut a = vec![
            "deploy",
            "package",
            "--project",
            s(&self.src),
            "--remote-map",
            s(&remote),
            "--out",
            s(&out),
            "--json",
        ];
        a.extend_from_slice(extra);
        let o = devsky(&a);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// Package the project against the server and apply it.
    fn deploy(&self) -> serde_json::Value {
        let report = self.package(&[]);
        let pkg = report["package"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("nothing to deploy: {report}"));
        ok(self.agent("apply", &[pkg]));
        report
    }
}

/// The number in the rollback's `syncs: N` log line (test hooks).
fn syncs_of_rollback(files: usize) -> u64 {
    let lab = Lab::new();
    put(&lab.www, "keep.txt", b"keep");
    put(&lab.src, "keep.txt", b"keep");
    for i in 0..files {
        put(
            &lab.www,
            &format!("app/{i}.php"),
            format!("old {i}").as_bytes(),
        );
        put(
            &lab.src,
            &format!("app/{i}.php"),
            format!("new {i}").as_bytes(),
        );
    }
    let before = walk(&lab.www);
    lab.deploy();
    assert_same(&walk(&lab.www), &walk(&lab.src), "deployed");
    let out = ok(lab.agent("rollback", &[]));
    assert_same(&walk(&lab.www), &before, "rolled back");
    let line = out
        .lines()
        .find_map(|l| l.split("syncs: ").nth(1))
        .unwrap_or_else(|| panic!("no `syncs:` line in the rollback's log:\n{out}"));
    line.trim().parse().unwrap()
}

/// A rollback of 400 files makes as many syncs as one of 4: one per step, none per file.
#[test]
fn a_rollback_syncs_per_step_not_per_file() {
    support::need_test_hooks();
    let small = syncs_of_rollback(4);
    let big = syncs_of_rollback(400);
    assert_eq!(
        big, small,
        "a rollback of 400 files made {big} syncs, one of 4 files {small}"
    );
    assert!(small < 20, "{small} syncs for a small rollback");
}

/// Point 8: an empty folder, a folder of mode 0700 and a folder whose mode changes are
/// deployed, verified and rolled back as `rsync -a` would; so is a folder that goes.
#[test]
fn folders_empty_ones_and_their_modes_deploy_and_roll_back() {
    let lab = Lab::new();
    for r in [&lab.src, &lab.www] {
        put(r, "index.php", b"<?php");
        put(r, "app/a.php", b"<?php // a");
    }
    put(&lab.www, "old/gone.txt", b"gone");
    mkdir(&lab.www, "old/empty", 0o755);
    mkdir(&lab.www, "shared", 0o755);
    mkdir(&lab.www, "app", 0o755);
    // The project: an empty folder, a private folder with a file, an empty private one,
    // a folder whose mode changes, nested empty folders.
    mkdir(&lab.src, "uploads", 0o755);
    put(&lab.src, "private/key.txt", b"secret");
    mkdir(&lab.src, "private", 0o700);
    mkdir(&lab.src, "cache", 0o700);
    mkdir(&lab.src, "shared", 0o711);
    mkdir(&lab.src, "a/b/c", 0o755);
    mkdir(&lab.src, "app", 0o750);
    let before = walk(&lab.www);
    let report = lab.deploy();
    let folders = report["plan"]["folders"].as_array().unwrap();
    assert!(
        folders
            .iter()
            .any(|f| f["path"] == "uploads" && f["mode"] == "755"),
        "{report}"
    );
    assert_same(&walk(&lab.www), &walk(&lab.src), "after the deploy");
    ok(lab.agent("rollback", &[]));
    assert_same(&walk(&lab.www), &before, "after the rollback");
}

/// Point 8: a project that differs from the server by one empty folder has something to
/// deploy.
#[test]
fn a_plan_with_only_a_new_empty_folder_is_not_nothing() {
    let lab = Lab::new();
    for r in [&lab.src, &lab.www] {
        put(r, "index.php", b"<?php");
    }
    mkdir(&lab.src, "var/sessions", 0o700);
    let report = lab.package(&[]);
    assert!(
        report["package"]["path"].is_string(),
        "nothing to deploy for a new empty folder: {report}"
    );
    let folders: Vec<(&str, &str)> = report["plan"]["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(folders, [("var", "755"), ("var/sessions", "700")]);
    ok(lab.agent("apply", &[report["package"]["path"].as_str().unwrap()]));
    assert_same(&walk(&lab.www), &walk(&lab.src), "after the deploy");
    // and now there is nothing left to deploy
    let again = lab.package(&[]);
    assert!(again["package"].is_null(), "{again}");
}

/// Point 9: what git ignores is deployed (a `vendor/` of a PHP project); what
/// `.devskyignore` leaves out is not, and the plan says so.
#[test]
fn a_gitignored_vendor_folder_is_deployed() {
    let lab = Lab::new();
    put(&lab.www, "index.php", b"<?php");
    put(&lab.src, "index.php", b"<?php");
    put(&lab.src, ".gitignore", b"vendor/\n*.log\n");
    put(&lab.src, "vendor/autoload.php", b"<?php // composer");
    put(&lab.src, "vendor/acme/lib/src/A.php", b"<?php class A {}");
    put(&lab.src, "storage/app.log", b"a log git ignores");
    put(&lab.src, ".devskyignore", b"secret.env\n");
    put(&lab.src, "secret.env", b"DB_PASSWORD=x");
    let o = devsky(&[
        "deploy",
        "package",
        "--project",
        s(&lab.src),
        "--remote-map",
        s(&{
            let m = lab.dir.path().join("remote.map");
            ok(lab.agent("map", &["--out", s(&m)]));
            m
        }),
        "--out",
        s(&lab.dir.path().join("packages")),
    ]);
    let out = ok(o);
    assert!(
        out.contains("1 left out by .devskyignore: secret.env"),
        "the plan does not say what .devskyignore left out:\n{out}"
    );
    lab.deploy();
    let mut want = walk(&lab.src);
    want.remove(&b"secret.env"[..]);
    assert_same(&walk(&lab.www), &want, "after the deploy");
    assert!(lab.www.join("vendor/acme/lib/src/A.php").is_file());
}

/// Point 9: the server profile's excludes leave files out of the deploy (the plan says how
/// many, by which rule) and leave the server's files there alone.
#[test]
fn the_profile_excludes_files_and_the_plan_says_so() {
    use support::agent::{create_key, start_agent};
    let lab = Lab::new();
    put(&lab.www, "index.php", b"<?php // old");
    put(
        &lab.www,
        "logs/server.log",
        b"written by the site; not in the project",
    );
    put(&lab.src, "index.php", b"<?php // new");
    put(&lab.src, ".gitignore", b"vendor/\n");
    put(&lab.src, "vendor/autoload.php", b"<?php // composer");
    put(&lab.src, "debug.log", b"local noise");
    put(&lab.src, "app/trace.log", b"more local noise");
    let key = create_key(&lab.www, &lab.state);
    let agent = start_agent(
        &lab.www,
        &lab.state,
        lab.dir.path().join("agent.log"),
        &[],
        &[],
    );
    let in_project = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_devsky"))
            .args(args)
            .current_dir(&lab.src)
            .env_remove("DEVSKY_CRASH_AT")
            .output()
            .unwrap()
    };
    ok(in_project(&["init"]));
    ok(in_project(&[
        "server", "add", "stage", "--url", &agent.url, "--key", &key, "-x", "**/*.log",
    ]));
    let show = ok(in_project(&["server", "show", "stage"]));
    assert!(show.contains("nor **/*.log"), "{show}");
    let plan = ok(in_project(&["deploy", "plan", "stage"]));
    assert!(
        plan.contains("2 left out by exclude **/*.log"),
        "the plan does not say what the profile left out:\n{plan}"
    );
    assert!(plan.contains("A vendor/autoload.php"), "{plan}");
    assert!(
        !plan.contains("debug.log") && !plan.contains("D logs"),
        "{plan}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(in_project(&["deploy", "plan", "stage", "--json"]))).unwrap();
    assert_eq!(
        json["left_out"],
        serde_json::json!([{"rule": "exclude **/*.log", "count": 2}])
    );
    ok(in_project(&["deploy", "push", "stage", "--yes"]));
    let mut want = walk(&lab.src);
    want.remove(&b"debug.log"[..]);
    want.remove(&b"app/trace.log"[..]);
    let server = walk(&lab.www);
    let logs = server.get(&b"logs/server.log"[..]).cloned();
    assert!(logs.is_some(), "the server's own log was deleted");
    let mut server = server;
    server.remove(&b"logs/server.log"[..]);
    server.remove(&b"logs"[..]);
    assert_same(&server, &want, "after the push");
}
