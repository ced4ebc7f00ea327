//! End to end: the real binary in tmux at 80x24 deploys over SSH. A private sshd
//! (support/sshd.rs) on 127.0.0.1, the server registered with `devsky server add --ssh`
//! as the CLI tests do; in the TUI the Deploy screen (8) plans (p), shows what to upload
//! and to delete, deploys (D, y) with the log live in its pane, and the server root then
//! equals the project; History (t t) undoes it (u, y) and the root is as before.
//!
//! Needs tmux and OpenSSH (`apt-get install tmux openssh-server openssh-client`;
//! scripts/test installs them).

mod support;
use support::deploy::{devsky, ok, put};
// `tree_of`: the tests' own walker (folders, modes, symlinks), never devsky's map.
use support::sshd::Sshd;
use support::tmux::{Tmux, command_line, quit_and_check_restored};
use support::tree::walk as tree_of;

use std::time::Duration;

/// Deploys over SSH take a few round trips: waits get longer than the default 20 s.
const SLOW: Duration = Duration::from_secs(60);

fn wait(t: &Tmux, needle: &str) -> String {
    t.wait_for_within(needle, SLOW, |s| s.contains(needle))
}

#[test]
fn deploy_and_undo_over_ssh_from_the_tui() {
    support::need_test_hooks();
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("root"), d.path().join("project"));
    // The server: a file the project changed, one only the server has, one both share.
    put(&root, "index.php", b"<?php echo 'old';\n");
    put(&root, "legacy/old.txt", b"to be deleted\n");
    put(&root, "app/keep.php", b"<?php // same\n");
    // The project: the changed file, the shared one, a new file in a new folder.
    put(&project, "index.php", b"<?php echo 'new';\n");
    put(&project, "app/keep.php", b"<?php // same\n");
    put(&project, "assets/css/site.css", b"body { color: red }\n");
    ok(&devsky(&["init"], &project));
    let before = tree_of(&root);
    assert_ne!(before, tree_of(&project));

    let xdg = d.path().join("xdg");
    let sshd = Sshd::start(
        d.path(),
        &[
            ("XDG_DATA_HOME", xdg.display().to_string()),
            // The agent waits a moment after the deployment started: the log is seen live.
            ("DEVSKY_TEST_SLOW_DEPLOY_MS", "3000".to_string()),
        ],
    );
    let out = sshd.add_server_env(&project, "prod", &root, "staging");
    assert!(out.contains("added server prod (staging, ssh"), "{out}");
    // A second server, listed first, never contacted: the deploy goes to the one selected.
    ok(&devsky(
        &[
            "server",
            "add",
            "alpha",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            "unused",
            "--env",
            "development",
        ],
        &project,
    ));

    let config = project.join(".devsky/test-config");
    let t = Tmux::start(80, 24, &command_line(&project, &config));
    // On failure: the screen, and what sshd saw.
    let why = |what: &str| {
        format!(
            "{what}\nscreen:\n{}\nsshd log:\n{}",
            t.capture(),
            sshd.log_text()
        )
    };
    t.wait_text("q quit");

    // 8: Deploy; the servers have the keyboard; j selects prod.
    t.send(&["8"]);
    let s = t.wait_text("Deploy · servers · 2");
    assert!(
        s.contains("alpha · development · http") && s.contains("prod · staging · ssh"),
        "{s}"
    );
    assert!(
        s.contains(" alpha · t next tab "),
        "alpha is selected first:\n{s}"
    );
    t.send(&["j"]);
    t.wait_text(" prod · t next tab ");

    // p: the plan, from the map fetched over ssh.
    t.send(&["p"]);
    wait(&t, "deploy plan: 2 to upload (38 B), 1 to delete on prod");
    let s = t.wait_text("to delete — 1 only on the server");
    for want in [
        "to upload — 2 new or changed (38 B)",
        "[x] assets/css/ (1/1)",
        "  [x] A site.css",
        "[x] M index.php",
        "[x] legacy/ (1/1)",
        "  [x] D old.txt",
    ] {
        assert!(s.contains(want), "{want} missing:\n{s}");
    }
    assert!(
        !s.contains("keep.php"),
        "an unchanged file is not in the plan:\n{s}"
    );

    // D, y: deploy; the log pane follows the deployment while it runs.
    t.send(&["D"]);
    t.wait_text("Deploy to prod (staging): 2 upload(s) (38 B), 1 delete(s)?");
    t.send(&["y"]);
    let s = t.wait_for_within("the log while the deployment runs", SLOW, |s| {
        s.contains("Log · deployment 1 · live") && s.contains("package checked")
    });
    assert!(
        !s.contains("verified") && !s.contains("deployment 1 done"),
        "the agent is still waiting: the log is live\n{s}"
    );
    let s = wait(
        &t,
        "deploy: deployment 1 done: deployed 2 upload(s) (38 B), 1 delete(s)",
    );
    assert!(
        s.contains("verified: the root's map is exactly the expected one")
            && s.contains("Log · deployment 1 ")
            && !s.contains("· live"),
        "{s}"
    );
    assert_eq!(
        tree_of(&root),
        tree_of(&project),
        "{}",
        why("the server root must equal the project")
    );

    // Tab: the log pane has the keyboard; it scrolls back and follows again at the end.
    t.send(&["Tab"]);
    t.wait_text("scroll · G follow");
    t.send(&["PageUp"]);
    t.wait_text("newer below");
    t.send(&["g"]);
    // The deployment started from the map the plan held over the same SSH connection.
    let s = t.wait_text("holding the deploy lock");
    assert!(!s.contains("verified: the root's map"), "{s}");
    t.send(&["G"]);
    let s = t.wait_text("verified: the root's map");
    assert!(!s.contains("newer below"), "{s}");
    t.send(&["Escape"]);

    // t, t: History; u undoes the only deployment (asks), the log follows the rollback.
    t.send(&["t", "t"]);
    wait(&t, "   1  deploy   done");
    t.send(&["u"]);
    t.wait_text("Roll prod (staging) back to before its first deployment?");
    t.send(&["y"]);
    t.wait_for_within("the rollback's log", SLOW, |s| {
        s.contains("Log · deployment 2 · live")
    });
    let s = wait(&t, "rollback: deployment 2 done");
    assert!(s.contains("rolled back deployment(s) [1]"), "{s}");
    assert_eq!(
        tree_of(&root),
        before,
        "{}",
        why("the server root must be as before the deployment")
    );
    let s = wait(&t, "   2  rollback");
    assert!(s.contains("   1  deploy   rolled_back"), "{s}");

    quit_and_check_restored(&t);
}
