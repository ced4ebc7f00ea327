//! End to end: the real binary in tmux at 80x24 deploys to an FTPS target without an agent.
//! A private vsftpd (support/vsftpd.rs, explicit TLS, pinned certificate) on 127.0.0.1; in
//! the TUI the Deploy screen (8) plans (p), deploys (D, y), and the served folder then
//! equals the project; History (t t) undoes it (u, y) and the folder is as before.
//!
//! Needs tmux, vsftpd, db-util and openssl (scripts/test installs them), and root.

mod support;
use support::deploy::{devsky, ok, put};
use support::tmux::{Tmux, command_line, quit_and_check_restored};
use support::tree::{Node, walk};
use support::vsftpd::Vsftpd;

use std::path::Path;
use std::time::Duration;

const SLOW: Duration = Duration::from_secs(60);

/// The files of a tree (path, mode, blake3), without devsky's state file.
fn files(root: &Path) -> Vec<(String, u32, String)> {
    walk(root)
        .into_iter()
        .filter(|(p, _)| p.as_slice() != b".devsky-state")
        .filter_map(|(p, n)| match n {
            Node::File { mode, blake3, .. } => {
                Some((String::from_utf8_lossy(&p).into_owned(), mode, blake3))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn deploy_and_undo_over_ftps_from_the_tui() {
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("www"), d.path().join("project"));
    std::fs::create_dir_all(&root).unwrap();
    put(&project, "index.php", b"<?php echo 'new';\n");
    put(&project, "assets/css/site.css", b"body { color: red }\n");
    ok(&devsky(&["init"], &project));
    let ftp = Vsftpd::start(d.path(), true);
    let out = ftp.add_server(&project, "shared", &root, &[]);
    assert!(out.contains("added server shared"), "{out}");

    let config = project.join(".devsky/test-config");
    let t = Tmux::start(80, 24, &command_line(&project, &config));
    let why = |what: &str| format!("{what}\nscreen:\n{}", t.capture());
    t.wait_text("q quit");
    t.send(&["8"]);
    let s = t.wait_text("Deploy · servers · 1");
    assert!(s.contains("shared · staging · ftp"), "{s}");

    t.send(&["p"]);
    t.wait_for_within("the plan", SLOW, |s| {
        s.contains("deploy plan: 2 to upload (38 B), 0 to delete on shared")
    });
    let s = t.wait_text("[x] A index.php");
    assert!(s.contains("[x] assets/css/ (1/1)"), "{s}");

    t.send(&["D"]);
    t.wait_text("Deploy to shared (staging): 2 upload(s) (38 B), 0 delete(s)?");
    t.send(&["y"]);
    let s = t.wait_for_within("the deployment", SLOW, |s| s.contains("deployment 1 done"));
    assert!(s.contains("state file written"), "{s}");
    assert_eq!(files(&root), files(&project), "{}", why("served = project"));
    assert!(root.join(".devsky-state").is_file());

    t.send(&["t", "t"]);
    t.wait_for_within("the history", SLOW, |s| s.contains("   1  deploy   done"));
    t.send(&["u"]);
    t.wait_text("Roll shared (staging) back to before its first deployment?");
    t.send(&["y"]);
    t.wait_for_within("the rollback", SLOW, |s| {
        s.contains("rollback: deployment 2 done")
    });
    assert!(
        files(&root).is_empty(),
        "{}",
        why("the folder is empty again")
    );
    let s = t.wait_for_within("the history", SLOW, |s| s.contains("   2  rollback"));
    assert!(s.contains("   1  deploy   rolled_back"), "{s}");
    quit_and_check_restored(&t);
}
