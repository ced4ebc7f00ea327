//! End to end: the real binary in tmux at 80x24 pushes twice to the same server in one TUI
//! session, over SSH (`devsky agent --stdio` behind ssh) and over SFTP, and the second push
//! reuses the first one's connection: the private sshd (support/sshd.rs) logs ONE accepted
//! login for both, and the log pane shows each push's time, the second beside the first
//! ("push 2: 0.4 s (first 1.9 s, connection reused)"). Then sshd is restarted (every
//! session killed): the third push opens a new connection on its own.
//!
//! The oracle for what was deployed is the tests' own walker over the served folder; the
//! one for connections is sshd's own log.
//!
//! Needs tmux and OpenSSH (`apt-get install tmux openssh-server openssh-client`;
//! scripts/test installs them).

mod support;
use support::deploy::{devsky, ok, put};
use support::sshd::Sshd;
use support::tmux::{Tmux, command_line, quit_and_check_restored};
use support::tree::{Node, walk};

use std::path::Path;
use std::time::Duration;

const SLOW: Duration = Duration::from_secs(60);

/// The files of a tree (path, blake3), without devsky's state file.
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

/// Plan (p), deploy (D, y) and wait for deployment `id` to end; the screen.
fn push(t: &Tmux, server: &str, id: i64) -> String {
    t.send(&["p"]);
    t.wait_for_within("the plan", SLOW, |s| {
        s.contains("deploy plan: 1 to upload") && s.contains(&format!("to delete on {server}"))
    });
    t.wait_text("[x] ");
    t.send(&["D"]);
    t.wait_text(&format!("Deploy to {server}"));
    t.send(&["y"]);
    let done = format!("deployment {id} done");
    let line = format!("push {id}: ");
    t.wait_for_within("the deployment and its time", SLOW, |s| {
        s.contains(&done) && s.contains(&line)
    })
}

/// The time line of push `n` on the screen.
fn time_line(screen: &str, n: i64) -> String {
    let at = format!("push {n}: ");
    screen
        .lines()
        .find_map(|l| {
            l.find(&at)
                .map(|i| l[i..].trim_end_matches(['│', ' ']).to_string())
        })
        .unwrap_or_default()
}

/// Three pushes to `server` from one TUI session: the first two over one connection,
/// the third after sshd was restarted.
fn three_pushes(sshd: &mut Sshd, project: &Path, root: &Path, server: &str) {
    let config = project.join(".devsky/test-config");
    let t = Tmux::start(80, 24, &command_line(project, &config));
    t.wait_text("q quit");
    t.send(&["8"]);
    t.wait_text("Deploy · servers · 1");
    let why = |what: &str, sshd: &Sshd| {
        format!(
            "{what}\nscreen:\n{}\nsshd log:\n{}",
            t.capture(),
            sshd.log_text()
        )
    };

    put(project, "index.php", b"<?php echo 1;\n");
    let s = push(&t, server, 1);
    let first = time_line(&s, 1);
    assert!(
        first.ends_with("s (new connection)"),
        "{}",
        why(&first, sshd)
    );
    assert_eq!(files(root), files(project), "after push 1");
    assert_eq!(sshd.logins(), 1, "{}", why("one login for push 1", sshd));

    put(project, "index.php", b"<?php echo 2;\n");
    let s = push(&t, server, 2);
    let second = time_line(&s, 2);
    assert!(
        second.contains(" s (first ") && second.ends_with(" s, connection reused)"),
        "{}",
        why(&second, sshd)
    );
    assert_eq!(files(root), files(project), "after push 2");
    assert_eq!(
        sshd.logins(),
        1,
        "{}",
        why("the second push reuses the first one's connection", sshd)
    );

    // Every session killed, sshd back on the same port: the kept connection is dead, the
    // next plan opens a new one without a word from the user.
    sshd.restart();
    assert_eq!(sshd.logins(), 0, "a new log");
    put(project, "index.php", b"<?php echo 3;\n");
    let s = push(&t, server, 3);
    let third = time_line(&s, 3);
    assert!(
        third.ends_with(" s, new connection)"),
        "{}",
        why(&third, sshd)
    );
    assert_eq!(files(root), files(project), "after push 3");
    assert_eq!(sshd.logins(), 1, "{}", why("one new login", sshd));
    quit_and_check_restored(&t);
}

#[test]
fn a_second_push_over_ssh_reuses_the_connection() {
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("root"), d.path().join("project"));
    put(&root, "index.php", b"<?php echo 0;\n");
    put(&project, "index.php", b"<?php echo 0;\n");
    ok(&devsky(&["init"], &project));
    let xdg = d.path().join("xdg");
    let mut sshd = Sshd::start(d.path(), &[("XDG_DATA_HOME", xdg.display().to_string())]);
    let out = sshd.add_server_env(&project, "prod", &root, "staging");
    assert!(out.contains("added server prod"), "{out}");
    three_pushes(&mut sshd, &project, &root, "prod");
}

#[test]
fn a_second_push_over_sftp_reuses_the_connection() {
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("www"), d.path().join("project"));
    std::fs::create_dir_all(&root).unwrap();
    put(&project, "index.php", b"<?php echo 0;\n");
    ok(&devsky(&["init"], &project));
    let mut sshd = Sshd::start(d.path(), &[]);
    let out = sshd.add_sftp(&project, "web", &root, &[]);
    assert!(out.contains("added server web"), "{out}");
    three_pushes(&mut sshd, &project, &root, "web");
}
