//! The deploy lock of targets without an agent, on a real vsftpd (plain FTP) and a real
//! OpenSSH sshd (SFTP) on loopback: a push holds `.devsky-lock` (one MKD/mkdir) while it
//! runs, and a second push at the same time is refused (exit 4) naming the holder; the
//! lock is gone when the push ends. A lock left by another machine is refused; past 10
//! minutes `--force-unlock` breaks it, a younger one it does not. A lock of a process of
//! this machine that is gone is broken without asking.
//!
//! The first push is slowed down by a test hook (DEVSKY_TEST_SLOW_AGENTLESS_MS: it waits
//! after taking the lock), so the second one surely meets it. The oracles are the served
//! folder itself (the lock folder and its owner record, written here by hand for the
//! foreign and dead locks) and the tests' own walker.
//!
//! Needs vsftpd, db-util, OpenSSH (scripts/test installs them), and root (vsftpd).

mod support;
use support::deploy::{ok, put, text};
use support::sshd::Sshd;
use support::tree::{Node, walk};
use support::vsftpd::Vsftpd;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn files(root: &Path) -> Vec<(String, String)> {
    walk(root)
        .into_iter()
        .filter(|(p, _)| p.as_slice() != b".devsky-state")
        .filter_map(|(p, n)| match n {
            Node::File { blake3, .. } => Some((String::from_utf8_lossy(&p).into_owned(), blake3)),
            _ => None,
        })
        .collect()
}

fn devsky(args: &[&str], project: &Path, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_devsky"));
    c.args(args)
        .envs(env.iter().copied())
        .current_dir(project)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn push(project: &Path, server: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["deploy", "push", server, "--yes"];
    args.extend(extra);
    devsky(&args, project, env).output().unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A lock as another push would have left it: the folder and its owner record.
fn plant_lock(root: &Path, user: &str, host: &str, pid: u32, age: Duration) {
    let owner = serde_json::json!({
        "user": user, "host": host, "pid": pid,
        "since_ms": now_ms() - age.as_millis() as i64, "what": "deploy",
    });
    std::fs::create_dir_all(root.join(".devsky-lock")).unwrap();
    std::fs::write(root.join(".devsky-lock/owner"), owner.to_string()).unwrap();
}

fn refused(o: &Output, wants: &[&str]) {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "exit 4 (locked):\n{err}");
    for w in wants {
        assert!(err.contains(w), "{w:?} missing:\n{err}");
    }
}

/// Everything, against `server` (registered in `project`, serving `root`).
fn lock_cases(project: &Path, root: &Path, server: &str, env: &[(&str, &str)]) {
    // A push at a time: the second is refused with who holds the lock.
    put(project, "index.php", b"<?php echo 1;\n");
    let mut slow_env = env.to_vec();
    slow_env.push(("DEVSKY_TEST_SLOW_AGENTLESS_MS", "8000"));
    let slow = devsky(&["deploy", "push", server, "--yes"], project, &slow_env)
        .spawn()
        .unwrap();
    let owner = root.join(".devsky-lock/owner");
    let t0 = Instant::now();
    while !std::fs::read(&owner).is_ok_and(|b| !b.is_empty()) {
        assert!(t0.elapsed() < Duration::from_secs(30), "no lock was taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    let held: serde_json::Value = serde_json::from_slice(&std::fs::read(&owner).unwrap()).unwrap();
    assert_eq!(held["pid"], slow.id(), "{held}");
    assert_eq!(held["what"], "deploy");
    let o = push(project, server, &[], env);
    refused(
        &o,
        &[
            "locked by ",
            &format!("(pid {}, deploy)", slow.id()),
            "a deploy is running; wait for it",
        ],
    );
    // `deploy status` says who holds it.
    let st = ok(&devsky(&["deploy", "status", server], project, env)
        .output()
        .unwrap());
    assert!(
        st.contains("lock:    locked by ") && st.contains(&format!("(pid {}, deploy)", slow.id())),
        "{st}"
    );
    let first = slow.wait_with_output().unwrap();
    let st = ok(&devsky(&["deploy", "status", server], project, env)
        .output()
        .unwrap());
    assert!(st.contains("lock:    free"), "{st}");
    ok(&first);
    assert!(
        !root.join(".devsky-lock").exists(),
        "the lock goes at the end"
    );
    assert_eq!(files(root), files(project), "the first push did its work");

    // Another machine's lock, 11 minutes old: refused; --force-unlock breaks it.
    put(project, "index.php", b"<?php echo 2;\n");
    plant_lock(root, "alice", "build-7", 4242, Duration::from_secs(11 * 60));
    let o = push(project, server, &[], env);
    refused(&o, &["alice@build-7 (pid 4242, deploy)", "--force-unlock"]);
    assert_eq!(
        std::fs::read(root.join("index.php")).unwrap(),
        b"<?php echo 1;\n"
    );
    // One minute old: --force-unlock does not break it.
    plant_lock(root, "alice", "build-7", 4242, Duration::from_secs(60));
    let o = push(project, server, &["--force-unlock"], env);
    refused(&o, &["alice@build-7", "younger than 10 min"]);
    plant_lock(root, "alice", "build-7", 4242, Duration::from_secs(11 * 60));
    let o = push(project, server, &["--force-unlock"], env);
    ok(&o);
    assert!(text(&o.stderr).contains("broke the stale deploy lock"));
    assert_eq!(files(root), files(project), "after --force-unlock");
    assert!(!root.join(".devsky-lock").exists());

    // A lock of a process of this machine that is gone: broken without asking.
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    plant_lock(root, "bob", host.trim(), pid, Duration::from_secs(5));
    put(project, "index.php", b"<?php echo 3;\n");
    ok(&push(project, server, &[], env));
    assert_eq!(files(root), files(project), "after a dead process's lock");
    assert!(!root.join(".devsky-lock").exists());
}

fn project_and_root(d: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (root, project) = (d.join("www"), d.join("project"));
    std::fs::create_dir_all(&root).unwrap();
    put(&project, "index.php", b"<?php echo 0;\n");
    ok(&devsky(&["init"], &project, &[]).output().unwrap());
    (project, root)
}

#[test]
fn one_push_at_a_time_over_ftp() {
    support::need_test_hooks();
    let d = tempfile::tempdir().unwrap();
    let (project, root) = project_and_root(d.path());
    let ftp = Vsftpd::start(d.path(), false);
    ftp.add_server(&project, "shared", &root, &[]);
    lock_cases(&project, &root, "shared", &[]);
}

#[test]
fn one_push_at_a_time_over_sftp() {
    support::need_test_hooks();
    let d = tempfile::tempdir().unwrap();
    let (project, root) = project_and_root(d.path());
    let sshd = Sshd::start(d.path(), &[]);
    sshd.add_sftp(&project, "web", &root, &[]);
    lock_cases(&project, &root, "web", &[]);
}
