//! The Git target against real repositories: a bare repository over file://, checked with
//! `git` itself (ls-tree, show of the pushed branch), and a loopback server with the
//! documented pull/merge request endpoints of GitHub, GitLab and Bitbucket
//! (support/httprec.rs), which records method, path, auth header and JSON body.

mod support;
use std::path::Path;
use std::process::{Command, Output};

use support::deploy::put;
use support::httprec::git_hosts;

/// `git ARGS` in `dir`; its stdout (the test fails if git does).
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

fn devsky(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_devsky"));
    c.args(args)
        .current_dir(cwd)
        .env("DEVSKY_CONFIG_DIR", cwd.join(".no-config"))
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A bare repository whose `main` has one commit (README), and a project with two files.
fn setup(d: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let bare = d.join("site.git");
    git(
        d,
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "site.git",
        ],
    );
    let seed = d.join("seed");
    git(d, &["clone", "--quiet", bare.to_str().unwrap(), "seed"]);
    put(&seed, "README", b"seeded\n");
    git(&seed, &["add", "README"]);
    git(&seed, &["commit", "--quiet", "-m", "seed"]);
    git(
        &seed,
        &["push", "--quiet", "origin", "HEAD:refs/heads/main"],
    );
    let proj = d.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    ok(&devsky(&["init"], &proj, &[]));
    put(&proj, "index.php", b"<?php echo 1;\n");
    put(&proj, "app/a.php", b"<?php // a\n");
    (bare, proj)
}

fn tree(bare: &Path, rev: &str) -> Vec<String> {
    let t = git(bare, &["ls-tree", "-r", "--name-only", rev]);
    t.lines().map(str::to_string).collect()
}

#[test]
fn direct_mode_commits_onto_the_branch_and_rolls_back() {
    let d = tempfile::tempdir().unwrap();
    let (bare, proj) = setup(d.path());
    let url = format!("file://{}", bare.display());
    ok(&devsky(
        &[
            "server", "add", "site", "--git", &url, "--branch", "main", "--mode", "direct",
        ],
        &proj,
        &[],
    ));
    let out = ok(&devsky(&["deploy", "push", "site", "--yes"], &proj, &[]));
    assert!(out.contains("pushed"), "{out}");
    // The branch is the project's tree: README (not in the project) is gone.
    assert_eq!(tree(&bare, "main"), ["app/a.php", "index.php"]);
    assert_eq!(git(&bare, &["show", "main:index.php"]), "<?php echo 1;\n");
    assert_eq!(git(&bare, &["rev-list", "--count", "main"]).trim(), "2");

    // A second deploy: a change, a delete, a new file.
    put(&proj, "index.php", b"<?php echo 2;\n");
    // Git keeps no empty folders: the folder goes with its last file.
    std::fs::remove_dir_all(proj.join("app")).unwrap();
    put(&proj, "b.txt", b"b\n");
    ok(&devsky(&["deploy", "push", "site", "--yes"], &proj, &[]));
    assert_eq!(tree(&bare, "main"), ["b.txt", "index.php"]);
    assert_eq!(git(&bare, &["show", "main:index.php"]), "<?php echo 2;\n");

    // Nothing changed: nothing to deploy, no commit.
    let out = ok(&devsky(&["deploy", "push", "site", "--yes"], &proj, &[]));
    assert!(out.contains("nothing to deploy"), "{out}");
    assert_eq!(git(&bare, &["rev-list", "--count", "main"]).trim(), "3");

    // Roll back: the branch gets the first deploy's tree as a new commit.
    let out = ok(&devsky(
        &["deploy", "rollback", "site", "--yes"],
        &proj,
        &[],
    ));
    assert!(out.contains("pushed"), "{out}");
    assert_eq!(tree(&bare, "main"), ["app/a.php", "index.php"]);
    assert_eq!(git(&bare, &["show", "main:index.php"]), "<?php echo 1;\n");
    assert_eq!(git(&bare, &["rev-list", "--count", "main"]).trim(), "4");

    // Someone else pushes to main: the next plan starts from their tip.
    let seed = d.path().join("seed");
    git(&seed, &["pull", "--quiet", "origin", "main"]);
    put(&seed, "theirs.txt", b"x\n");
    git(&seed, &["add", "theirs.txt"]);
    git(&seed, &["commit", "--quiet", "-m", "theirs"]);
    git(
        &seed,
        &["push", "--quiet", "origin", "HEAD:refs/heads/main"],
    );
    let plan = ok(&devsky(&["deploy", "plan", "site"], &proj, &[]));
    assert!(plan.contains("D theirs.txt"), "{plan}");
    assert!(plan.contains("M index.php"), "{plan}");

    let h = ok(&devsky(
        &["deploy", "history", "site", "--json"],
        &proj,
        &[],
    ));
    let v: serde_json::Value = serde_json::from_str(&h).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3, "{h}");
    assert!(
        v[0]["summary"]
            .as_str()
            .unwrap()
            .contains("git: pushed to main"),
        "{h}"
    );
}

#[test]
fn pr_mode_opens_pull_and_merge_requests_on_each_host() {
    let d = tempfile::tempdir().unwrap();
    let (bare, proj) = setup(d.path());
    let url = format!("file://{}", bare.display());
    let token = "tok-Secret-1234567890";
    let api = git_hosts(token);
    let hosts = [
        ("gh", "github", api.url.clone(), "acme/site"),
        (
            "gl",
            "gitlab",
            format!("{}/api/v4", api.url),
            "grp/sub/site",
        ),
        ("bb", "bitbucket", format!("{}/2.0", api.url), "ws/site"),
    ];
    for (name, provider, base, repo) in &hosts {
        ok(&devsky(
            &[
                "server",
                "add",
                name,
                "--git",
                &url,
                "--branch",
                "main",
                "--provider",
                provider,
                "--api",
                base,
                "--repo",
                repo,
                "--token-env",
                "DEPLOY_TOKEN",
            ],
            &proj,
            &[],
        ));
        let o = devsky(
            &["deploy", "push", name, "--yes"],
            &proj,
            &[("DEPLOY_TOKEN", token)],
        );
        let out = ok(&o);
        let all = format!("{out}{}", String::from_utf8_lossy(&o.stderr));
        assert!(!all.contains(token), "the token was printed: {all}");
        assert!(all.contains(".example/"), "no request address: {all}");
    }
    let reqs = api.requests();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    let branches: Vec<String> = git(
        &bare,
        &[
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads/devsky/",
        ],
    )
    .lines()
    .map(str::to_string)
    .collect();
    assert_eq!(branches.len(), 3, "{branches:?}");
    for b in &branches {
        assert_eq!(tree(&bare, b), ["app/a.php", "index.php"]);
        assert_eq!(
            git(&bare, &["show", &format!("{b}:app/a.php")]),
            "<?php // a\n"
        );
    }
    // main is left alone: the requests are for people to merge.
    assert_eq!(tree(&bare, "main"), ["README"]);

    let gh = &reqs[0];
    assert_eq!(
        (gh.method.as_str(), gh.path.as_str()),
        ("POST", "/repos/acme/site/pulls")
    );
    assert_eq!(
        gh.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(gh.header("accept"), Some("application/vnd.github+json"));
    let j = gh.json();
    assert_eq!(j["base"], "main");
    assert!(
        branches.contains(&j["head"].as_str().unwrap().to_string()),
        "{j}"
    );
    assert!(j["title"].as_str().unwrap().contains("deploy"), "{j}");

    let gl = &reqs[1];
    assert_eq!(gl.path, "/api/v4/projects/grp%2Fsub%2Fsite/merge_requests");
    assert_eq!(gl.header("private-token"), Some(token));
    let j = gl.json();
    assert_eq!(j["target_branch"], "main");
    assert!(
        branches.contains(&j["source_branch"].as_str().unwrap().to_string()),
        "{j}"
    );
    assert!(
        j["title"].is_string() && j["description"].is_string(),
        "{j}"
    );

    let bb = &reqs[2];
    assert_eq!(bb.path, "/2.0/repositories/ws/site/pullrequests");
    assert_eq!(
        bb.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    let j = bb.json();
    assert_eq!(j["destination"]["branch"]["name"], "main");
    assert!(
        branches.contains(&j["source"]["branch"]["name"].as_str().unwrap().to_string()),
        "{j}"
    );

    // Rollback: a revert commit on top of the deployed one, on a branch of its own, and a
    // request of it into main (on each host).
    for (name, ..) in &hosts {
        let o = devsky(
            &["deploy", "rollback", name, "--yes"],
            &proj,
            &[("DEPLOY_TOKEN", token)],
        );
        let out = ok(&o);
        assert!(
            !format!("{out}{o:?}").contains(token),
            "the token was printed"
        );
        let deployed = branches
            .iter()
            .find(|b| b.starts_with(&format!("devsky/{name}/deploy-1-")))
            .unwrap();
        let prefix = format!("devsky/{name}/rollback-2-");
        let reverts: Vec<String> = git(
            &bare,
            &[
                "for-each-ref",
                "--format=%(refname:short)",
                &format!("refs/heads/devsky/{name}/"),
            ],
        )
        .lines()
        .filter(|b| b.starts_with(&prefix))
        .map(str::to_string)
        .collect();
        assert_eq!(reverts.len(), 1, "{reverts:?}");
        let revert = &reverts[0];
        // The tree before the deployment, and the deployment's commit as its parent.
        assert_eq!(tree(&bare, revert), ["README"], "{revert}");
        assert_eq!(
            git(&bare, &["rev-parse", &format!("{revert}^")]),
            git(&bare, &["rev-parse", deployed]),
            "{revert} reverts {deployed}"
        );
        assert!(
            git(&bare, &["log", "-1", "--format=%s", revert]).contains("rollback 2"),
            "{revert}"
        );
    }
    assert_eq!(tree(&bare, "main"), ["README"], "main is still left alone");
    let reqs = api.requests();
    assert_eq!(reqs.len(), 6, "{reqs:?}");
    let j = reqs[3].json();
    assert_eq!(reqs[3].path, "/repos/acme/site/pulls");
    assert_eq!(j["base"], "main");
    assert!(
        j["head"]
            .as_str()
            .unwrap()
            .starts_with("devsky/gh/rollback-2-"),
        "{j}"
    );
    assert!(j["title"].as_str().unwrap().contains("rollback"), "{j}");
    let j = reqs[4].json();
    assert_eq!(
        reqs[4].path,
        "/api/v4/projects/grp%2Fsub%2Fsite/merge_requests"
    );
    assert!(
        j["source_branch"]
            .as_str()
            .unwrap()
            .starts_with("devsky/gl/rollback-2-"),
        "{j}"
    );
    assert_eq!(j["target_branch"], "main");
    let j = reqs[5].json();
    assert_eq!(reqs[5].path, "/2.0/repositories/ws/site/pullrequests");
    assert!(
        j["source"]["branch"]["name"]
            .as_str()
            .unwrap()
            .starts_with("devsky/bb/rollback-2-"),
        "{j}"
    );
}

#[test]
fn push_mode_rolls_back_with_a_revert_commit_on_a_branch_of_its_own() {
    let d = tempfile::tempdir().unwrap();
    let (bare, proj) = setup(d.path());
    let url = format!("file://{}", bare.display());
    ok(&devsky(
        &[
            "server", "add", "site", "--git", &url, "--branch", "main", "--mode", "push",
        ],
        &proj,
        &[],
    ));
    let out = ok(&devsky(&["deploy", "push", "site", "--yes"], &proj, &[]));
    assert!(out.contains("pushed"), "{out}");
    let heads = |prefix: &str| -> Vec<String> {
        git(
            &bare,
            &[
                "for-each-ref",
                "--format=%(refname:short)",
                "refs/heads/devsky/",
            ],
        )
        .lines()
        .filter(|b| b.starts_with(prefix))
        .map(str::to_string)
        .collect()
    };
    let deployed = heads("devsky/site/deploy-1-");
    assert_eq!(deployed.len(), 1, "{deployed:?}");
    assert_eq!(tree(&bare, &deployed[0]), ["app/a.php", "index.php"]);

    let out = ok(&devsky(
        &["deploy", "rollback", "site", "--yes"],
        &proj,
        &[],
    ));
    assert!(out.contains("pushed"), "{out}");
    let reverts = heads("devsky/site/rollback-2-");
    assert_eq!(reverts.len(), 1, "{reverts:?}");
    assert_eq!(tree(&bare, &reverts[0]), ["README"]);
    assert_eq!(
        git(&bare, &["rev-parse", &format!("{}^", reverts[0])]),
        git(&bare, &["rev-parse", &deployed[0]]),
        "the revert commit sits on the deployed one"
    );
    assert_eq!(tree(&bare, "main"), ["README"], "main is left alone");
    let h = ok(&devsky(
        &["deploy", "history", "site", "--json"],
        &proj,
        &[],
    ));
    let v: serde_json::Value = serde_json::from_str(&h).unwrap();
    assert_eq!(v[1]["kind"], "rollback", "{h}");
    assert!(
        v[1]["summary"]
            .as_str()
            .unwrap()
            .contains("git: pushed to devsky/site/rollback-2-"),
        "{h}"
    );
}

#[test]
fn a_refused_token_fails_the_deploy_without_printing_it() {
    let d = tempfile::tempdir().unwrap();
    let (bare, proj) = setup(d.path());
    let url = format!("file://{}", bare.display());
    let api = git_hosts("the-right-token");
    ok(&devsky(
        &[
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
            "T",
        ],
        &proj,
        &[],
    ));
    let wrong = "wrong-token-0987654321";
    let o = devsky(&["deploy", "push", "gh", "--yes"], &proj, &[("T", wrong)]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("Bad credentials"), "{all}");
    assert!(!all.contains(wrong), "{all}");
    let h = ok(&devsky(
        &["deploy", "history", "gh", "--json"],
        &proj,
        &[("T", wrong)],
    ));
    let v: serde_json::Value = serde_json::from_str(&h).unwrap();
    assert_eq!(v[0]["status"], "failed", "{h}");
    // No token: a pr-mode target is refused when added.
    let o = devsky(
        &[
            "server",
            "add",
            "x",
            "--git",
            &url,
            "--branch",
            "main",
            "--provider",
            "github",
            "--repo",
            "a/b",
        ],
        &proj,
        &[],
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("token"),
        "{o:?}"
    );
    // A token on the command line is refused.
    let o = devsky(
        &[
            "server", "add", "y", "--git", &url, "--branch", "main", "--token", "abc",
        ],
        &proj,
        &[],
    );
    assert!(!o.status.success());
}

#[test]
fn bad_options_are_refused_and_remove_forgets_the_clone() {
    let d = tempfile::tempdir().unwrap();
    let (bare, proj) = setup(d.path());
    let url = format!("file://{}", bare.display());
    for args in [
        vec![
            "--git",
            "-oProxyCommand=touch /tmp/pwned",
            "--branch",
            "main",
        ],
        vec!["--git", &url, "--branch", "main;rm"],
        vec!["--git", &url, "--branch", "--upload-pack=x"],
        vec!["--git", &url, "--branch", "main", "--mode", "yolo"],
        vec![
            "--git",
            &url,
            "--branch",
            "main",
            "--provider",
            "sourceforge",
        ],
        vec!["--git", &url, "--branch", "main", "--key", "k"],
        vec!["--git", &url],
    ] {
        let mut a = vec!["server", "add", "bad"];
        a.extend(args.iter().copied());
        let o = devsky(&a, &proj, &[]);
        assert!(!o.status.success(), "{a:?} was taken");
    }
    let listed = ok(&devsky(&["server", "list"], &proj, &[]));
    assert!(!listed.contains("bad"), "{listed}");

    ok(&devsky(
        &[
            "server", "add", "site", "--git", &url, "--branch", "main", "--mode", "direct",
        ],
        &proj,
        &[],
    ));
    ok(&devsky(&["deploy", "push", "site", "--yes"], &proj, &[]));
    let clone = proj.join(".devsky/git/site/work");
    assert!(clone.join(".git").is_dir());
    ok(&devsky(&["server", "remove", "site"], &proj, &[]));
    assert!(!proj.join(".devsky/git/site").exists());
    // Added again to another repository: a fresh clone of that one, a fresh history.
    git(
        d.path(),
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "other.git",
        ],
    );
    let other = format!("file://{}", d.path().join("other.git").display());
    ok(&devsky(
        &[
            "server", "add", "site", "--git", &other, "--branch", "live", "--mode", "direct",
        ],
        &proj,
        &[],
    ));
    let out = ok(&devsky(&["deploy", "push", "site", "--yes"], &proj, &[]));
    assert!(out.contains("deployment 1 "), "{out}");
    assert_eq!(
        tree(&d.path().join("other.git"), "live"),
        ["app/a.php", "index.php"]
    );
}
