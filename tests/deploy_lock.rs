//! The deploy lock and recovery: a holder that is a zombie, or whose pid now belongs to a
//! process started at another time, holds nothing; an agent killed while holding the lock
//! and not yet reaped does not keep its successor from starting; packages received for a
//! deployment that never started are removed by recovery; and a push made the moment the
//! previous one reported `done` never finds the lock taken.
//!
//! Process states and start times are read from /proc here, by this file's own parser.

mod support;
use support::agent::{create_key, start_agent};
use support::deploy::{devsky, ok, put, text};

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use devsky::engine::deploy::State;
use devsky::engine::deploy::apply::recover;
use devsky::engine::deploy::state::LockInfo;
use devsky::engine::jobs::Progress;

/// Field 3 (state) and field 22 (start time) of /proc/PID/stat.
fn stat(pid: u32) -> (char, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split(' ').collect();
    (rest[0].chars().next().unwrap(), rest[19].parse().unwrap())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// Write a lock file naming process `pid` started at `start_ticks`.
fn write_lock(state_dir: &std::path::Path, pid: u32, start_ticks: u64) -> LockInfo {
    let host = hostname();
    let info = LockInfo {
        holder: format!("{pid}@{host}"),
        pid,
        host,
        user: "someone".into(),
        since_ms: 1,
        start_ticks: Some(start_ticks),
    };
    std::fs::write(
        state_dir.join("lock"),
        serde_json::to_vec_pretty(&info).unwrap(),
    )
    .unwrap();
    info
}

fn sleeper() -> Child {
    Command::new("sleep").arg("60").spawn().unwrap()
}

fn recover_quietly(root: &std::path::Path, state: &State) -> anyhow::Result<()> {
    recover(root, state, &Progress::silent(), &|_| {}).map(drop)
}

#[test]
fn a_zombie_holder_is_dead() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    put(&root, "a.txt", b"a");
    let state = State::open(&d.path().join("state"), &root).unwrap();

    let mut child = Command::new("true").spawn().unwrap();
    let t0 = Instant::now();
    while stat(child.id()).0 != 'Z' {
        assert!(t0.elapsed() < Duration::from_secs(10), "`true` did not end");
        std::thread::sleep(Duration::from_millis(10));
    }
    let info = write_lock(state.dir(), child.id(), stat(child.id()).1);
    assert!(info.holder_is_dead(), "a zombie is not running");
    recover_quietly(&root, &state).unwrap();
    assert!(state.lock_info().unwrap().is_none(), "recovery removed it");
    child.wait().unwrap();
}

#[test]
fn a_pid_reused_by_a_process_started_at_another_time_is_dead() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    put(&root, "a.txt", b"a");
    let state = State::open(&d.path().join("state"), &root).unwrap();
    let mut live = sleeper();
    let (_, started) = stat(live.id());

    // The very process: alive, its lock stands.
    let info = write_lock(state.dir(), live.id(), started);
    assert!(!info.holder_is_dead());
    let e = recover_quietly(&root, &state).unwrap_err();
    assert!(format!("{e:#}").contains("locked by"), "{e:#}");

    // The same pid, but the holder started at another time: another process.
    let info = write_lock(state.dir(), live.id(), started - 1);
    assert!(info.holder_is_dead());
    recover_quietly(&root, &state).unwrap();
    assert!(state.lock_info().unwrap().is_none());
    live.kill().unwrap();
    live.wait().unwrap();
}

#[test]
fn an_agent_killed_holding_the_lock_and_not_reaped_does_not_stop_the_next() {
    let d = tempfile::tempdir().unwrap();
    let (root, state) = (d.path().join("root"), d.path().join("state"));
    put(&root, "index.php", b"<?php\n");
    let key = create_key(&root, &state);
    let first = start_agent(&root, &state, d.path().join("first.log"), &[], &[]);
    // The map with hold=true leaves the agent holding the deploy lock.
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/map?hold=true", first.url))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(r.bytes().unwrap());
    let lock: LockInfo =
        serde_json::from_slice(&std::fs::read(state.join("lock")).unwrap()).unwrap();
    let pid = first.kill_unreaped();
    assert_eq!(lock.pid, pid, "the agent held the lock");

    // Restarted at once, while its predecessor is a zombie: it comes up (start_agent
    // fails otherwise) and took the lock over.
    let second = start_agent(&root, &state, d.path().join("second.log"), &[], &[]);
    let log = second.log_text();
    assert!(
        log.contains(&format!("removing the lock of {pid}@")),
        "{log}"
    );
    assert!(!state.join("lock").exists(), "recovery released it");
    drop(first);
}

#[test]
fn packages_of_deployments_that_never_started_are_removed_on_recovery() {
    let d = tempfile::tempdir().unwrap();
    let (root, state) = (d.path().join("root"), d.path().join("state"));
    put(&root, "index.php", b"<?php\n");
    let key = create_key(&root, &state);
    let first = start_agent(&root, &state, d.path().join("first.log"), &[], &[]);
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/packages", first.url))
        .bearer_auth(&key)
        .body(b"PK\x03\x04 a package no deployment was started from".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let packages = state.join("packages");
    assert!(packages.join(format!("{id}.zip")).is_file());
    // And one cut short by the kill.
    std::fs::write(packages.join(".upload-cutshort"), b"PK\x03").unwrap();
    first.kill_unreaped();
    drop(first);

    let second = start_agent(&root, &state, d.path().join("second.log"), &[], &[]);
    let left: Vec<_> = std::fs::read_dir(&packages)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "left after recovery: {left:?}\n{}",
        second.log_text()
    );
}

#[test]
fn a_push_made_as_soon_as_the_last_one_is_done_is_never_locked() {
    support::need_test_hooks();
    let d = tempfile::tempdir().unwrap();
    let (root, state, project) = (
        d.path().join("root"),
        d.path().join("state"),
        d.path().join("project"),
    );
    put(&root, "index.php", b"<?php\n");
    put(&project, "index.php", b"<?php\n");
    let key = create_key(&root, &state);
    // The agent takes its time pruning after each deployment, with the lock held.
    let agent = start_agent(
        &root,
        &state,
        d.path().join("agent.log"),
        &[],
        &[("DEVSKY_TEST_SLOW_PRUNE_MS", "400")],
    );
    ok(&devsky(&["init"], &project));
    ok(&devsky(
        &["server", "add", "stage", "--url", &agent.url, "--key", &key],
        &project,
    ));
    for n in 0..20 {
        put(&project, "n.txt", format!("{n}\n").as_bytes());
        let o = devsky(&["deploy", "push", "stage", "--yes"], &project);
        assert_eq!(
            o.status.code(),
            Some(0),
            "push {n}:\nstdout:\n{}\nstderr:\n{}",
            text(&o.stdout),
            text(&o.stderr)
        );
    }
    assert_eq!(std::fs::read(root.join("n.txt")).unwrap(), b"19\n");
}

/// The agent's deployments, newest last, and whether its lock is held: its first answers.
fn first_answers(url: &str, key: &str) -> (Vec<serde_json::Value>, bool) {
    let c = reqwest::blocking::Client::new();
    let get = |path: &str| -> serde_json::Value {
        c.get(format!("{url}{path}"))
            .bearer_auth(key)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let d = get("/api/v1/deployments");
    let list = d
        .as_array()
        .cloned()
        .or_else(|| d["deployments"].as_array().cloned())
        .unwrap();
    (list, get("/api/v1/lock")["locked"] == true)
}

#[test]
fn an_agent_killed_mid_deployment_recovers_before_it_serves() {
    support::need_test_hooks();
    use support::tree::{assert_same, walk};
    // Two ways to die: SIGKILL while the deployment runs (held 3 s after it started), and
    // an abort at a crash point after the journal (`DEVSKY_CRASH_AT`, in the middle of
    // the renames). Either way the restarted agent's first answers show the tree
    // recovered: no lock, nothing applying, and a history that matches the tree.
    for (case, env) in [
        ("sigkill", ("DEVSKY_TEST_SLOW_DEPLOY_MS", "3000")),
        ("crash point 6", ("DEVSKY_CRASH_AT", "6")),
    ] {
        let d = tempfile::tempdir().unwrap();
        let (root, state, project) = (
            d.path().join("root"),
            d.path().join("state"),
            d.path().join("project"),
        );
        for i in 0..12 {
            put(
                &root,
                &format!("app/m{i}.php"),
                format!("old {i}\n").as_bytes(),
            );
            put(
                &project,
                &format!("app/m{i}.php"),
                format!("new {i}\n").as_bytes(),
            );
        }
        put(&root, "gone.txt", b"deleted by the deploy\n");
        let old = walk(&root);
        let key = create_key(&root, &state);
        let mut agent = start_agent(&root, &state, d.path().join("a.log"), &[], &[env]);
        ok(&devsky(&["init"], &project));
        ok(&devsky(
            &["server", "add", "stage", "--url", &agent.url, "--key", &key],
            &project,
        ));
        let mut push = Command::new(env!("CARGO_BIN_EXE_devsky"))
            .args(["deploy", "push", "stage", "--yes"])
            .current_dir(&project)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if case == "sigkill" {
            let t0 = Instant::now();
            while !agent.log_text().contains("started") {
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "{case}: never started"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(agent.kill(), "{case}: the agent had exited by itself");
        } else {
            let t0 = Instant::now();
            while !agent.exited() {
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "{case}: did not crash"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = push.wait();
        let second = start_agent(&root, &state, d.path().join("b.log"), &[], &[]);
        let (history, locked) = first_answers(&second.url, &key);
        assert!(
            !locked,
            "{case}: the restarted agent answers with the lock held"
        );
        assert!(
            history.iter().all(|h| h["status"] != "applying"),
            "{case}: a deployment still applying: {history:?}"
        );
        let last = history
            .last()
            .unwrap_or_else(|| panic!("{case}: no deployment"));
        let mut new = walk(&project);
        new.retain(|p, _| !p.starts_with(b".devsky"));
        let now = walk(&root);
        if last["status"] == "done" {
            assert_same(&now, &new, case);
        } else {
            assert_eq!(last["status"], "failed", "{case}: {history:?}");
            assert_same(&now, &old, case);
        }
        assert!(
            history.iter().all(|h| h["status"] != "done") || case != "sigkill",
            "{case}: killed before it could finish, yet done: {history:?}"
        );
    }
}
