//! Progress of a rollback over an agent, with the real binary: the agent streams how far
//! it got (`event: progress` of the log stream) while it restores, and `devsky deploy
//! rollback` draws it as a bar on stderr when stderr is a terminal (script(1) gives it a
//! pty and records what it drew), and prints no bar and no control characters when stderr
//! is a pipe. Over HTTP (`devsky serve`) and over SSH (`devsky agent --stdio` behind a
//! private sshd). The agent restores slowly here (`DEVSKY_TEST_SLOW_RESTORE_MS`, a test
//! hook), so the progress has time to travel.
//!
//! Needs script(1) (`bsdutils`) and OpenSSH (`openssh-server openssh-client`).

mod support;
use support::agent::{create_key, start_agent};
use support::deploy::{devsky, ok, put, text};
use support::sshd::Sshd;
use support::tree::walk as tree_of;

use std::path::Path;
use std::process::Command;

const FILES: usize = 30;
const SLOW: &str = "40";

/// A root and a project whose `FILES` files all differ.
fn trees(d: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (root, project) = (d.join("root"), d.join("project"));
    for i in 0..FILES {
        put(
            &root,
            &format!("app/f{i}.php"),
            format!("<?php // old {i}\n").as_bytes(),
        );
        put(
            &project,
            &format!("app/f{i}.php"),
            format!("<?php // new {i}\n").as_bytes(),
        );
    }
    ok(&devsky(&["init"], &project));
    (root, project)
}

/// `devsky deploy rollback NAME --yes` with stderr on a pty (stdout to a file): what it
/// drew on the terminal, and its stdout.
fn rollback_on_a_pty(project: &Path, name: &str) -> (String, String) {
    let ts = project.join("../typescript");
    let out = project.join("../stdout.txt");
    let cmd = format!(
        "{} deploy rollback {name} --yes > {}",
        env!("CARGO_BIN_EXE_devsky"),
        out.display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd])
        .arg(&ts)
        .current_dir(project)
        .output()
        .expect("script(1) is needed: apt-get install bsdutils");
    let drawn = String::from_utf8_lossy(&std::fs::read(&ts).unwrap()).into_owned();
    let stdout = std::fs::read_to_string(&out).unwrap();
    assert!(o.status.success(), "{drawn}\n{stdout}");
    (drawn, stdout)
}

/// Push, roll back on a pty (a bar), push again, roll back through pipes (no bar).
fn progress_both_ways(root: &Path, project: &Path, name: &str) {
    let before = tree_of(root);
    let out = ok(&devsky(&["deploy", "push", name, "--yes"], project));
    assert!(out.contains(": done"), "{out}");
    assert_eq!(tree_of(root), tree_of(project));

    let (drawn, stdout) = rollback_on_a_pty(project, name);
    assert!(
        drawn.contains("restoring from backups") && drawn.contains("ETA"),
        "no progress drawn while restoring:\n{drawn}"
    );
    assert!(
        drawn.contains(&format!("/{FILES}")),
        "no counts of the {FILES} files: {drawn}"
    );
    // the log still goes to stdout, whole, without the bar
    assert!(stdout.contains("(rollback): done"), "{stdout}");
    assert!(
        !stdout.contains('\x1b') && !stdout.contains("ETA"),
        "{stdout}"
    );
    assert_eq!(tree_of(root), before);

    ok(&devsky(&["deploy", "push", name, "--yes"], project));
    let o = devsky(&["deploy", "rollback", name, "--yes"], project);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("(rollback): done"), "{out}");
    for quiet in [&out, &err] {
        assert!(
            !quiet.contains('\r') && !quiet.contains('\x1b') && !quiet.contains("ETA"),
            "a bar through a pipe: {quiet:?}"
        );
    }
    assert!(!err.contains("restoring from backups"), "{err}");
    assert_eq!(tree_of(root), before);
}

#[test]
fn rollback_over_http_shows_progress_on_a_terminal_only() {
    support::need_test_hooks();
    let d = tempfile::tempdir().unwrap();
    let (root, project) = trees(d.path());
    let state = d.path().join("state");
    let key = create_key(&root, &state);
    let agent = start_agent(
        &root,
        &state,
        d.path().join("agent.log"),
        &[],
        &[("DEVSKY_TEST_SLOW_RESTORE_MS", SLOW)],
    );
    ok(&devsky(
        &[
            "server", "add", "stage", "--url", &agent.url, "--key", &key, "--env", "staging",
        ],
        &project,
    ));
    progress_both_ways(&root, &project, "stage");
}

#[test]
fn rollback_over_ssh_shows_progress_on_a_terminal_only() {
    support::need_test_hooks();
    let d = tempfile::tempdir().unwrap();
    let (root, project) = trees(d.path());
    let xdg = d.path().join("xdg");
    let sshd = Sshd::start(
        d.path(),
        &[
            ("XDG_DATA_HOME", xdg.display().to_string()),
            ("DEVSKY_TEST_SLOW_RESTORE_MS", SLOW.to_string()),
        ],
    );
    let out = sshd.add_server(&project, "prod", &root);
    assert!(out.contains("added server prod"), "{out}");
    progress_both_ways(&root, &project, "prod");
}
