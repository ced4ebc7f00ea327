//! End to end: the real binary in tmux at 80x24, the Deploy screen (8) against targets
//! without an agent. Over SFTP (a private sshd, support/sshd.rs): plan (p), deploy (D, y),
//! the served folder equals the project; History (t t), undo (u, y), the folder is empty
//! again. Over Git in pull-request mode (a bare repository over file://, the loopback
//! GitHub API of support/httprec.rs): deploy pushes a branch of its own and opens a pull
//! request (its address in the log pane), undo pushes a revert branch and opens another.
//!
//! Oracles: the tests' own walker over the served folder; `git` itself on the bare
//! repository; the loopback API's record of the requests.
//!
//! Needs tmux, OpenSSH and git (scripts/test installs them).

mod support;
use support::deploy::{devsky, ok, put};
use support::httprec::git_hosts;
use support::sshd::Sshd;
use support::tmux::{Tmux, command_line, quit_and_check_restored};
use support::tree::{Node, walk};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SLOW: Duration = Duration::from_secs(60);

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

/// Deploy (p, D, y) then undo (t t, u, y) `server` from the Deploy screen, `check`
/// checking what is there in between; the screens after the deployment and after the
/// rollback.
fn deploy_and_undo(t: &Tmux, server: &str, plan: &str, check: impl Fn()) -> (String, String) {
    t.wait_text("q quit");
    t.send(&["8"]);
    t.wait_text("Deploy · servers · 1");
    t.send(&["p"]);
    t.wait_for_within("the plan", SLOW, |s| s.contains(plan));
    t.wait_text("[x] ");
    t.send(&["D"]);
    t.wait_text(&format!("Deploy to {server} (staging)"));
    t.send(&["y"]);
    let deployed = t.wait_for_within("the deployment", SLOW, |s| {
        s.contains("deploy: deployment 1 done")
    });
    check();
    t.send(&["t", "t"]);
    t.wait_for_within("the history", SLOW, |s| s.contains("   1  deploy   done"));
    t.send(&["u"]);
    t.wait_text(&format!(
        "Roll {server} (staging) back to before its first deployment?"
    ));
    t.send(&["y"]);
    let undone = t.wait_for_within("the rollback", SLOW, |s| {
        s.contains("rollback: deployment 2 done")
    });
    t.wait_for_within("the history", SLOW, |s| s.contains("   2  rollback"));
    (deployed, undone)
}

#[test]
fn deploy_and_undo_over_sftp_from_the_tui() {
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("www"), d.path().join("project"));
    std::fs::create_dir_all(&root).unwrap();
    put(&project, "index.php", b"<?php echo 'new';\n");
    put(&project, "assets/css/site.css", b"body { color: red }\n");
    ok(&devsky(&["init"], &project));
    let sshd = Sshd::start(d.path(), &[]);
    let out = sshd.add_sftp(&project, "vps", &root, &[]);
    assert!(out.contains("added server vps"), "{out}");

    let config = project.join(".devsky/test-config");
    let t = Tmux::start(80, 24, &command_line(&project, &config));
    let why = |what: &str| {
        format!(
            "{what}\nscreen:\n{}\nsshd log:\n{}",
            t.capture(),
            sshd.log_text()
        )
    };
    let plan = "deploy plan: 2 to upload (38 B), 0 to delete on vps";
    let (deployed, _) = deploy_and_undo(&t, "vps", plan, || {
        assert_eq!(files(&root), files(&project), "{}", why("served = project"));
        assert!(root.join(".devsky-state").is_file());
    });
    assert!(deployed.contains("state file written"), "{deployed}");
    assert!(
        files(&root).is_empty(),
        "{}",
        why("the folder is empty again")
    );
    let s = t.capture();
    assert!(s.contains("   1  deploy   rolled_back"), "{s}");
    quit_and_check_restored(&t);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .unwrap_or_else(|e| panic!("git is needed (apt-get install git): {e}"));
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn tree(bare: &Path, rev: &str) -> Vec<String> {
    git(bare, &["ls-tree", "-r", "--name-only", rev])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn git_push_and_pull_request_then_undo_from_the_tui() {
    let d = tempfile::tempdir().unwrap();
    let bare = d.path().join("site.git");
    git(
        d.path(),
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "site.git",
        ],
    );
    let seed = d.path().join("seed");
    git(
        d.path(),
        &["clone", "--quiet", bare.to_str().unwrap(), "seed"],
    );
    put(&seed, "README", b"seeded\n");
    git(&seed, &["add", "README"]);
    git(&seed, &["commit", "--quiet", "-m", "seed"]);
    git(
        &seed,
        &["push", "--quiet", "origin", "HEAD:refs/heads/main"],
    );
    let project = d.path().join("project");
    put(&project, "index.php", b"<?php echo 'new';\n");
    put(&project, "assets/css/site.css", b"body { color: red }\n");
    ok(&devsky(&["init"], &project));
    let token = "tok-Tui-0987654321";
    let api = git_hosts(token);
    let url = format!("file://{}", bare.display());
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args([
            "server",
            "add",
            "gh",
            "--git",
            &url,
            "--branch",
            "main",
            "--provider",
            "github",
            "--api",
            &api.url,
            "--repo",
            "acme/site",
            "--token-env",
            "DEPLOY_TOKEN",
        ])
        .current_dir(&project)
        .env("DEPLOY_TOKEN", token)
        .output()
        .unwrap();
    ok(&o);

    let config = project.join(".devsky/test-config");
    let line = format!(
        "env DEPLOY_TOKEN={token} {}",
        command_line(&project, &config)
    );
    let t = Tmux::start(80, 24, &line);
    // The plan: the project's two files added, the branch's README deleted.
    let plan = "deploy plan: 2 to upload (38 B), 1 to delete on gh";
    let (deployed, undone) = deploy_and_undo(&t, "gh", plan, || {});
    assert!(
        deployed.contains("opened https://github.example/acme/site/pull/1"),
        "{deployed}"
    );
    assert!(
        undone.contains("opened https://github.example/acme/site/pull/2"),
        "{undone}"
    );
    for s in [&deployed, &undone, &t.capture()] {
        assert!(!s.contains(token), "the token is on the screen:\n{s}");
    }
    let heads: Vec<String> = git(
        &bare,
        &[
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads/devsky/gh/",
        ],
    )
    .lines()
    .map(str::to_string)
    .collect();
    assert_eq!(heads.len(), 2, "{heads:?}");
    let (dep, rev) = if heads[0].contains("/deploy-1-") {
        (&heads[0], &heads[1])
    } else {
        (&heads[1], &heads[0])
    };
    assert!(rev.starts_with("devsky/gh/rollback-2-"), "{heads:?}");
    assert_eq!(tree(&bare, dep), ["assets/css/site.css", "index.php"]);
    assert_eq!(tree(&bare, rev), ["README"]);
    assert_eq!(
        tree(&bare, "main"),
        ["README"],
        "main is left to the requests"
    );
    let reqs = api.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].json()["head"], dep.as_str());
    assert_eq!(reqs[1].json()["head"], rev.as_str());
    assert_eq!(reqs[1].json()["base"], "main");
    quit_and_check_restored(&t);
}
