//! Deploying to an SFTP target without an agent, against a real OpenSSH sshd started by
//! the test on loopback (temp host and client keys; `ssh -s ... sftp` with russh-sftp over
//! its pipes): adopt, plan, push, rollback; drift refused then forced; an interrupted
//! push (killed at a random file, the seed printed) and an sshd killed mid-push both
//! resume without resending finished files and without a state file in between.
//!
//! The oracle is the tests' own `std::fs` + blake3 walker over the served folder; what
//! the resumed push sent is counted from its log (one `uploaded PATH` line per file).

mod support;
use support::deploy::{devsky, ok, put, text};
use support::sshd::Sshd;
use support::tree::{Node, Tree, walk};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn served(root: &Path) -> Tree {
    let mut t = walk(root);
    t.remove(b".devsky-state".as_slice());
    t
}

fn files(t: &Tree) -> Vec<(String, u32, String)> {
    t.iter()
        .filter_map(|(p, n)| match n {
            Node::File { mode, blake3, .. } => Some((
                String::from_utf8_lossy(p).into_owned(),
                *mode,
                blake3.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn add_sftp(sshd: &Sshd, project: &Path, name: &str, root: &Path, extra: &[&str]) -> String {
    sshd.add_sftp(project, name, root, extra)
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("www"), d.path().join("project"));
    put(&root, "index.php", b"<?php echo 'old';\n");
    put(&root, "old.txt", b"to be deleted\n");
    put(&root, "app/keep.php", b"<?php // same\n");
    put(&project, "index.php", b"<?php echo 'new';\n");
    put(&project, "app/keep.php", b"<?php // same\n");
    put(&project, "app/new.php", b"<?php // new\n");
    put(&project, "assets/site.css", b"body { color: red }\n");
    put(&project, ".htaccess", b"Allow from all\n");
    for p in [&root, &project] {
        Command::new("chmod")
            .args(["-R", "u=rwX,go=rX", p.to_str().unwrap()])
            .status()
            .unwrap();
    }
    ok(&devsky(&["init"], &project));
    (d, root, project)
}

#[test]
fn adopt_plan_push_rollback_and_drift_over_sftp() {
    let (d, root, project) = setup();
    let before = served(&root);
    let sshd = Sshd::start(d.path(), &[]);
    let out = add_sftp(&sshd, &project, "web", &root, &[]);
    assert!(out.contains("added server web"), "{out}");
    let show = ok(&devsky(&["server", "show", "web", "--json"], &project));
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["transport"], "sftp");

    let o = devsky(&["deploy", "plan", "web"], &project);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("deploy adopt"),
        "{}",
        text(&o.stderr)
    );
    let o = ok(&devsky(&["deploy", "adopt", "web"], &project));
    assert!(o.contains("adopted 3 file(s)"), "{o}");

    let plan = ok(&devsky(&["deploy", "plan", "web"], &project));
    for l in ["M index.php", "A app/new.php", "A .htaccess", "D old.txt"] {
        assert!(plan.contains(l), "{l} missing:\n{plan}");
    }
    let o = ok(&devsky(&["deploy", "push", "web", "--yes"], &project));
    assert!(o.contains(": done"), "{o}");
    assert_eq!(
        files(&served(&root)),
        files(&walk(&project)),
        "after the push"
    );
    let o = ok(&devsky(&["deploy", "plan", "web"], &project));
    assert!(o.contains("nothing to deploy"), "{o}");

    // Drift: someone edits a file on the server.
    put(
        &root,
        "app/keep.php",
        b"<?php // edited by hand on the server\n",
    );
    put(
        &project,
        "app/keep.php",
        b"<?php // changed in the project\n",
    );
    let plan = ok(&devsky(&["deploy", "plan", "web"], &project));
    assert!(plan.contains("~ app/keep.php (changed)"), "{plan}");
    let o = devsky(&["deploy", "push", "web", "--yes"], &project);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert_eq!(
        std::fs::read(root.join("app/keep.php")).unwrap(),
        b"<?php // edited by hand on the server\n"
    );
    ok(&devsky(
        &["deploy", "push", "web", "--yes", "--force"],
        &project,
    ));
    assert_eq!(
        files(&served(&root)),
        files(&walk(&project)),
        "after --force"
    );

    // Two rollbacks: the forced push, then the first one.
    ok(&devsky(&["deploy", "rollback", "web", "--yes"], &project));
    assert_eq!(
        std::fs::read(root.join("app/keep.php")).unwrap(),
        b"<?php // edited by hand on the server\n"
    );
    ok(&devsky(
        &["deploy", "rollback", "web", "--yes", "--force"],
        &project,
    ));
    let mut want = before.clone();
    want.insert(
        b"app/keep.php".to_vec(),
        walk(&root).remove(b"app/keep.php".as_slice()).unwrap(),
    );
    assert_eq!(files(&served(&root)), files(&want), "after both rollbacks");
    assert!(!root.join("assets").exists());
}

fn journal_done(project: &Path) -> Vec<String> {
    let j = std::fs::read_to_string(project.join(".devsky/agentless/web/journal.jsonl"))
        .unwrap_or_default();
    let mut f: Vec<String> = j
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["pending"] != true)
        .map(|v| v["path"].as_str().unwrap().to_string())
        .collect();
    f.sort();
    f.dedup();
    f
}

/// The files of the last push's log ("uploaded PATH" lines of the newest deployment).
fn uploaded_by_last_push(project: &Path) -> Vec<String> {
    let logs = ok(&devsky(&["deploy", "logs", "web"], project));
    logs.lines()
        .filter_map(|l| l.split("uploaded ").nth(1).map(str::to_string))
        .collect()
}

#[test]
fn an_interrupted_sftp_push_resumes_without_resending_finished_files() {
    support::need_test_hooks();
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("www"), d.path().join("project"));
    let n = 30;
    for i in 0..n {
        put(
            &project,
            &format!("d{}/f{i}.txt", i % 4),
            format!("file {i}\n").repeat(i + 1).as_bytes(),
        );
    }
    ok(&devsky(&["init"], &project));
    let sshd = Sshd::start(d.path(), &[]);
    add_sftp(&sshd, &project, "web", &root, &["--connections", "4"]);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let k = 1 + seed % (n as u64 - 5);
    eprintln!("seed {seed}: the push is killed at crash point {k}");
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["deploy", "push", "web", "--yes"])
        .current_dir(&project)
        .env("DEVSKY_CRASH_AT", k.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success(), "seed {seed}");
    assert!(!root.join(".devsky-state").exists(), "seed {seed}");
    assert!(journal_done(&project).len() as u64 >= k, "seed {seed}");
    // The plan settles a rename that was in flight.
    let plan = ok(&devsky(&["deploy", "plan", "web"], &project));
    let finished = journal_done(&project);
    for f in &finished {
        assert!(!plan.contains(f.as_str()), "seed {seed}: {f} planned again");
    }
    let o = ok(&devsky(&["deploy", "push", "web", "--yes"], &project));
    assert!(o.contains(": done"), "seed {seed}: {o}");
    let sent = uploaded_by_last_push(&project);
    for f in &finished {
        assert!(!sent.contains(f), "seed {seed}: {f} sent again");
    }
    assert_eq!(sent.len() + finished.len(), n, "seed {seed}");
    assert!(root.join(".devsky-state").is_file());
    assert_eq!(files(&served(&root)), files(&walk(&project)), "seed {seed}");
}

#[test]
fn sshd_killed_mid_push_leaves_no_state_and_the_push_resumes() {
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("www"), d.path().join("project"));
    std::fs::create_dir_all(&root).unwrap();
    let big = vec![b'y'; 4 << 20];
    for i in 0..12 {
        let mut b = big.clone();
        b[0] = b'a' + i as u8;
        put(&project, &format!("big{i}.bin"), &b);
    }
    ok(&devsky(&["init"], &project));
    let mut sshd = Sshd::start(d.path(), &[]);
    add_sftp(&sshd, &project, "web", &root, &["--connections", "2"]);
    let child = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["deploy", "push", "web", "--yes"])
        .current_dir(&project)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while journal_done(&project).is_empty() {
        assert!(t0.elapsed().as_secs() < 60, "no upload finished");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    sshd.kill_all();
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success(), "{}", text(&o.stdout));
    assert!(!root.join(".devsky-state").exists());
    // Same port, same keys: sshd again.
    sshd.restart();
    ok(&devsky(&["deploy", "plan", "web"], &project));
    let finished = journal_done(&project);
    let o = ok(&devsky(&["deploy", "push", "web", "--yes"], &project));
    assert!(o.contains(": done"), "{o}");
    let sent = uploaded_by_last_push(&project);
    for f in &finished {
        assert!(!sent.contains(f), "{f} sent again");
    }
    assert_eq!(sent.len() + finished.len(), 12);
    assert_eq!(files(&served(&root)), files(&walk(&project)));
}

#[test]
fn devsky_answers_ssh_askpass_only_when_it_started_ssh_for_a_password() {
    let d = tempfile::tempdir().unwrap();
    // As ssh runs it: SSH_ASKPASS set, the prompt as argument, the secret in the variable.
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .arg("deploy@host's password: ")
        .current_dir(d.path())
        .env("SSH_ASKPASS", env!("CARGO_BIN_EXE_devsky"))
        .env("DEVSKY_SSH_ASKPASS_SECRET", "s3cret word")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "s3cret word\n");
    // Without SSH_ASKPASS it is an ordinary run (here: no such project folder).
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["deploy", "history", "--project", "/nonexistent"])
        .env("DEVSKY_SSH_ASKPASS_SECRET", "s3cret word")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!text(&o.stdout).contains("s3cret"));
}
