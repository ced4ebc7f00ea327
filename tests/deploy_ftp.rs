//! Deploying to FTP and FTPS targets without an agent, against a real vsftpd started by
//! the test on loopback (plain, and explicit TLS with a temp self-signed certificate
//! pinned by its fingerprint): adopt a non-empty target, plan, push, rollback; drift
//! refused then forced; an interrupted push (the process killed at a random file, the seed
//! printed) resumes without resending finished files and without a state file in between.
//!
//! The oracle is the tests' own `std::fs` + blake3 walker over the served folder.

mod support;
use support::deploy::{devsky, ok, put, text};
use support::tree::{Node, Tree, walk};
use support::vsftpd::Vsftpd;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The served tree as the project should be: without devsky's state file.
fn served(root: &Path) -> Tree {
    let mut t = walk(root);
    t.remove(b".devsky-state".as_slice());
    t
}

/// Files only (path -> mode, blake3): folders' modes are the server's business.
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

#[track_caller]
fn assert_files(a: &Tree, b: &Tree, what: &str) {
    assert_eq!(files(a), files(b), "{what}");
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("www"), d.path().join("project"));
    put(&root, "index.php", b"<?php echo 'old';\n");
    put(&root, "old.txt", b"to be deleted\n");
    put(&root, "app/keep.php", b"<?php // same\n");
    put(&root, ".htaccess", b"Deny from all\n");
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

fn dep(args: &[&str], project: &Path) -> std::process::Output {
    devsky(args, project)
}

fn full_cycle(tls: bool) {
    let (d, root, project) = setup();
    let before = served(&root);
    let ftp = Vsftpd::start(d.path(), tls);
    let out = ftp.add_server(&project, "web", &root, &[]);
    assert!(out.contains("added server web"), "{out}");
    assert!(
        !out.contains(&ftp.password),
        "the password is never printed: {out}"
    );
    let show = ok(&dep(&["server", "show", "web", "--json"], &project));
    assert!(!show.contains(&ftp.password), "{show}");
    let secret = project.join(".devsky/secrets/web.key");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), ftp.password);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Not deployed by devsky: the plan is refused until the target is adopted.
    let o = dep(&["deploy", "plan", "web"], &project);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("deploy adopt"),
        "{}",
        text(&o.stderr)
    );
    let o = ok(&dep(&["deploy", "adopt", "web"], &project));
    assert!(o.contains("adopted 4 file(s)"), "{o}");
    assert!(root.join(".devsky-state").is_file());
    assert_files(&served(&root), &before, "adopting changes no file");

    let plan = ok(&dep(&["deploy", "plan", "web"], &project));
    for l in [
        "M index.php",
        "A app/new.php",
        "A assets/site.css",
        "D old.txt",
        "M .htaccess",
    ] {
        assert!(plan.contains(l), "{l} missing from:\n{plan}");
    }
    assert!(!plan.contains("keep.php"), "{plan}");
    assert!(!plan.contains("drift"), "{plan}");

    let o = ok(&dep(&["deploy", "push", "web", "--yes"], &project));
    assert!(o.contains(": done"), "{o}");
    assert_files(&served(&root), &walk(&project), "after the push");
    let o = ok(&dep(&["deploy", "plan", "web"], &project));
    assert!(o.contains("nothing to deploy"), "{o}");

    let h = ok(&dep(&["deploy", "history", "web", "--json"], &project));
    let v: serde_json::Value = serde_json::from_str(&h).unwrap();
    let kinds: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["adopt", "deploy"]);
    let st = ok(&dep(&["deploy", "status", "web"], &project));
    assert!(st.contains(&format!("root:    {}", root.display())), "{st}");
    assert!(st.contains("current: deployment 2 (deploy)"), "{st}");
    let logs = ok(&dep(&["deploy", "logs", "web"], &project));
    assert!(logs.contains("uploaded index.php"), "{logs}");

    let o = ok(&dep(&["deploy", "rollback", "web", "--yes"], &project));
    assert!(o.contains(": done"), "{o}");
    assert_files(&served(&root), &before, "after the rollback");
    assert!(
        !root.join("assets").exists(),
        "the folder the push made is gone"
    );
    // The state file follows: the plan is the first one again.
    let again = ok(&dep(&["deploy", "plan", "web"], &project));
    assert!(
        again.contains("D old.txt") && again.contains("A app/new.php"),
        "{again}"
    );
}

#[test]
fn adopt_plan_push_rollback_over_ftp() {
    full_cycle(false);
}

#[test]
fn adopt_plan_push_rollback_over_ftps() {
    full_cycle(true);
}

#[test]
fn ftps_refuses_a_certificate_that_is_not_the_pinned_one() {
    let (d, root, project) = setup();
    let ftp = Vsftpd::start(d.path(), true);
    let wrong = "AB:".repeat(31) + "AB";
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["server", "add", "web", "--ftp", &ftp.url(&root), "--tls"])
        .args(["--fingerprint", &wrong])
        .current_dir(&project)
        .env("DEVSKY_FTP_PASSWORD", &ftp.password)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    ok(&o);
    let o = dep(&["deploy", "adopt", "web"], &project);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("TLS"), "{}", text(&o.stderr));
    assert!(!root.join(".devsky-state").exists());
}

#[test]
fn a_wrong_password_is_refused_and_never_shown() {
    let (d, root, project) = setup();
    let ftp = Vsftpd::start(d.path(), false);
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["server", "add", "web", "--ftp", &ftp.url(&root)])
        .args(["--password-env", "MY_FTP_PW"])
        .current_dir(&project)
        .env("MY_FTP_PW", "not-it")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    ok(&o);
    assert!(!project.join(".devsky/secrets/web.key").exists());
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["deploy", "plan", "web"])
        .current_dir(&project)
        .env("MY_FTP_PW", "not-it")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("login refused"), "{err}");
    assert!(!err.contains("not-it"), "{err}");
    // No password in the URL either.
    let o = dep(
        &[
            "server",
            "add",
            "x",
            "--ftp",
            "ftp://me:secret@127.0.0.1/www",
        ],
        &project,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("no password in the URL"));
}

#[test]
fn drift_is_shown_and_never_overwritten_without_force() {
    let (d, root, project) = setup();
    let ftp = Vsftpd::start(d.path(), false);
    ftp.add_server(&project, "web", &root, &[]);
    ok(&dep(&["deploy", "adopt", "web"], &project));
    ok(&dep(&["deploy", "push", "web", "--yes"], &project));

    // Someone edits index.php on the server; the project changes it too.
    put(&root, "index.php", b"<?php echo 'hotfix on the server';\n");
    put(&project, "index.php", b"<?php echo 'newer';\n");
    put(&project, "app/new.php", b"<?php // newer\n");
    let plan = ok(&dep(&["deploy", "plan", "web"], &project));
    assert!(plan.contains("drift: 1 path(s)"), "{plan}");
    assert!(plan.contains("~ index.php (changed)"), "{plan}");
    let j = ok(&dep(&["deploy", "plan", "web", "--json"], &project));
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["drift"][0]["path"], "index.php");

    let o = dep(&["deploy", "push", "web", "--yes"], &project);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(text(&o.stderr).contains("index.php"), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read(root.join("index.php")).unwrap(),
        b"<?php echo 'hotfix on the server';\n"
    );
    assert_eq!(
        std::fs::read(root.join("app/new.php")).unwrap(),
        b"<?php // new\n",
        "nothing was changed"
    );

    let o = ok(&dep(
        &["deploy", "push", "web", "--yes", "--force"],
        &project,
    ));
    assert!(o.contains(": done"), "{o}");
    assert_files(&served(&root), &walk(&project), "after the forced push");
    let plan = ok(&dep(&["deploy", "plan", "web"], &project));
    assert!(!plan.contains("drift"), "{plan}");
    // The rollback restores the drifted file as it was found.
    ok(&dep(&["deploy", "rollback", "web", "--yes"], &project));
    assert_eq!(
        std::fs::read(root.join("index.php")).unwrap(),
        b"<?php echo 'hotfix on the server';\n"
    );
}

/// The uploads the server logged, as target paths (from the temp names).
fn uploaded(log: &str, root: &Path) -> Vec<String> {
    let prefix = format!("{}/", root.display());
    log.lines()
        .filter(|l| l.contains("OK UPLOAD"))
        .filter_map(|l| {
            let q = l.split('"').nth(3)?;
            let rel = q.strip_prefix(&prefix)?;
            let (dir, name) = match rel.rsplit_once('/') {
                Some((d, n)) => (format!("{d}/"), n),
                None => (String::new(), rel),
            };
            let name = name.strip_prefix(".devsky-up-")?;
            let name = name.split_once('-')?.1;
            (name != ".devsky-state").then(|| format!("{dir}{name}"))
        })
        .collect()
}

#[test]
fn an_interrupted_push_resumes_without_resending_finished_files() {
    support::need_test_hooks();
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("www"), d.path().join("project"));
    std::fs::create_dir_all(&root).unwrap();
    let n = 40;
    for i in 0..n {
        put(
            &project,
            &format!("d{}/f{i}.txt", i % 5),
            format!("file {i}\n").repeat(i + 1).as_bytes(),
        );
    }
    ok(&devsky(&["init"], &project));
    let ftp = Vsftpd::start(d.path(), false);
    ftp.add_server(&project, "web", &root, &["--connections", "3"]);

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
    assert!(
        !o.status.success(),
        "seed {seed}: the push was to be killed"
    );
    assert!(
        !root.join(".devsky-state").exists(),
        "seed {seed}: no state file for an incomplete push"
    );
    let journal_file = project.join(".devsky/agentless/web/journal.jsonl");
    let finished_now = || -> Vec<String> {
        let journal = std::fs::read_to_string(&journal_file).unwrap_or_default();
        let mut f: Vec<String> = journal
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["pending"] != true)
            .map(|v| v["path"].as_str().unwrap().to_string())
            .collect();
        f.sort();
        f.dedup();
        f
    };
    let done_before = finished_now();
    // The server logs the transfer the killed process left half-done once it sees the
    // connection closed: let it, before counting.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(
        done_before.len() as u64 >= k,
        "seed {seed}: {done_before:?}"
    );
    let before = uploaded(&ftp.log_text(), &root).len();

    // The plan after it: only what is missing (a file whose rename was in flight is
    // hashed to know whether it finished).
    let plan = ok(&dep(&["deploy", "plan", "web"], &project));
    let finished = finished_now();
    assert!(
        done_before.iter().all(|f| finished.contains(f)),
        "seed {seed}"
    );
    for f in &finished {
        assert!(
            !plan.contains(f.as_str()),
            "seed {seed}: {f} planned again:\n{plan}"
        );
    }
    let o = ok(&dep(&["deploy", "push", "web", "--yes"], &project));
    assert!(o.contains(": done"), "seed {seed}: {o}");
    let all = uploaded(&ftp.log_text(), &root);
    let second = &all[before..];
    for f in &finished {
        assert!(
            !second.contains(f),
            "seed {seed}: {f} had finished and was sent again"
        );
    }
    assert_eq!(second.len() + finished.len(), n, "seed {seed}: {second:?}");
    assert!(root.join(".devsky-state").is_file());
    assert_files(&served(&root), &walk(&project), "after the resumed push");
    assert!(!project.join(".devsky/agentless/web/journal.jsonl").exists());
    let h = ok(&dep(&["deploy", "history", "web"], &project));
    assert!(h.contains("failed") && h.contains("done"), "{h}");
}

#[test]
fn a_server_killed_mid_push_leaves_no_state_and_the_push_resumes() {
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("www"), d.path().join("project"));
    std::fs::create_dir_all(&root).unwrap();
    // Big enough files that the server dies while they are being sent.
    let big = vec![b'x'; 4 << 20];
    for i in 0..12 {
        let mut b = big.clone();
        b[0] = b'a' + i as u8;
        put(&project, &format!("big{i}.bin"), &b);
    }
    ok(&devsky(&["init"], &project));
    let mut ftp = Vsftpd::start(d.path(), false);
    ftp.add_server(&project, "web", &root, &["--connections", "2"]);
    let child = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["deploy", "push", "web", "--yes"])
        .current_dir(&project)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the server once a few files are in place.
    let t0 = std::time::Instant::now();
    let journal_file = project.join(".devsky/agentless/web/journal.jsonl");
    while uploaded(&ftp.log_text(), &root).len() < 3
        || std::fs::read_to_string(&journal_file)
            .unwrap_or_default()
            .is_empty()
    {
        assert!(t0.elapsed().as_secs() < 60, "no upload finished");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    ftp.kill();
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success(), "{}", text(&o.stdout));
    assert!(!root.join(".devsky-state").exists());
    ftp.run();
    // The plan settles a rename that was in flight; then count what is finished.
    ok(&dep(&["deploy", "plan", "web"], &project));
    let journal = std::fs::read_to_string(&journal_file).unwrap_or_default();
    let mut finished: Vec<&str> = journal
        .lines()
        .filter(|l| !l.contains("\"pending\":true"))
        .collect();
    finished.sort();
    finished.dedup();
    let finished = finished.len();
    assert!(finished >= 1, "{journal}");
    let before = uploaded(&ftp.log_text(), &root).len();
    let o = ok(&dep(&["deploy", "push", "web", "--yes"], &project));
    assert!(o.contains(": done"), "{o}");
    let sent = uploaded(&ftp.log_text(), &root).len() - before;
    assert_eq!(sent + finished, 12, "finished files are not sent again");
    assert_files(&served(&root), &walk(&project), "after the resumed push");
}

#[test]
fn a_name_with_a_line_break_is_refused_not_sent_as_a_command() {
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("www"), d.path().join("project"));
    std::fs::create_dir_all(&root).unwrap();
    put(&root, "victim.txt", b"keep me\n");
    put(&project, "victim.txt", b"keep me\n");
    put(&project, "x\r\nDELE victim.txt", b"hostile\n");
    ok(&devsky(&["init"], &project));
    let ftp = Vsftpd::start(d.path(), false);
    ftp.add_server(&project, "web", &root, &[]);
    ok(&dep(&["deploy", "adopt", "web"], &project));
    let o = dep(&["deploy", "push", "web", "--yes"], &project);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("line break"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        std::fs::read(root.join("victim.txt")).unwrap(),
        b"keep me\n"
    );
    // (The deploy lock's own MKD and DELE of .devsky-lock/owner are the only ones.)
    assert!(
        !ftp.log_text()
            .lines()
            .any(|l| l.contains("DELE") && l.contains("victim")),
        "no command reached the server"
    );
}
