//! The deploy agent over SSH with the real binary and a private OpenSSH server: `sshd` on
//! 127.0.0.1 (a free port, a temp host key, a temp client key, run as the current user)
//! and the client (`devsky server add --ssh`, `devsky deploy plan|push|logs|rollback`),
//! which starts `ssh ... devsky agent --stdio --root DIR` and speaks HTTP over its pipes.
//! A push makes the remote root equal the project, a rollback restores it, and a
//! connection that dies mid-command ends it with a clear error within seconds.

mod support;
use support::deploy::{devsky, ok, put, text};
// `tree_of`: the tests' own walker (folders, modes, symlinks), never devsky's map.
use support::sshd::Sshd;
use support::tree::walk as tree_of;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let (root, project) = (d.path().join("root"), d.path().join("project"));
    put(&root, "index.php", b"<?php echo 'old';\n");
    put(&root, "old.txt", b"to be deleted\n");
    put(&root, "app/keep.php", b"<?php // same\n");
    put(&project, "index.php", b"<?php echo 'new';\n");
    put(&project, "app/keep.php", b"<?php // same\n");
    put(&project, "app/new.php", b"<?php // new\n");
    put(&project, "assets/site.css", b"body { color: red }\n");
    ok(&devsky(&["init"], &project));
    (d, root, project)
}

#[test]
fn plan_push_logs_rollback_over_ssh() {
    let (d, root, project) = setup();
    let before = tree_of(&root);
    let xdg = d.path().join("xdg");
    let sshd = Sshd::start(d.path(), &[("XDG_DATA_HOME", xdg.display().to_string())]);

    // --ssh needs --root, and takes no API key.
    let o = devsky(
        &[
            "server",
            "add",
            "x",
            "--ssh",
            "me@127.0.0.1",
            "--env",
            "staging",
        ],
        &project,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--root"), "{}", text(&o.stderr));

    let out = sshd.add_server(&project, "prod", &root);
    assert!(out.contains("added server prod"), "{out}");
    let show = ok(&devsky(&["server", "show", "prod", "--json"], &project));
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["transport"], "ssh");
    assert_eq!(v["remote_root"], root.to_str().unwrap());

    let plan = ok(&devsky(&["deploy", "plan", "prod"], &project));
    for want in [
        "M index.php",
        "A app/new.php",
        "A assets/site.css",
        "D old.txt",
    ] {
        assert!(plan.contains(want), "{want} missing from:\n{plan}");
    }
    assert!(!plan.contains("keep.php"), "{plan}");

    let out = ok(&devsky(&["deploy", "push", "prod", "--yes"], &project));
    assert!(out.contains("deployment 1 started"), "{out}");
    assert!(out.contains(": done"), "{out}");
    assert_eq!(tree_of(&root), tree_of(&project));
    // The agent kept its state in the session's data folder, not in the root.
    assert!(xdg.join("devsky").exists());

    let plan = ok(&devsky(&["deploy", "plan", "prod"], &project));
    assert!(plan.contains("nothing to deploy"), "{plan}");

    let logs = ok(&devsky(&["deploy", "logs", "prod", "--follow"], &project));
    for want in [
        // the push planned under a hold: the deployment starts from that map
        "holding the deploy lock",
        "deployment 1 started",
        "verified",
        "done",
    ] {
        assert!(logs.contains(want), "{want} missing from:\n{logs}");
    }

    let status = ok(&devsky(&["deploy", "status", "prod"], &project));
    assert!(status.contains("current: deployment 1"), "{status}");
    let history = ok(&devsky(&["deploy", "history", "prod", "--json"], &project));
    let h: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(h.as_array().unwrap().len(), 1, "{history}");

    let rb = ok(&devsky(&["deploy", "rollback", "prod", "--yes"], &project));
    assert!(rb.contains("done"), "{rb}");
    assert_eq!(tree_of(&root), before);

    // An agent over stdio prunes before it exits: keep 1, push again, one archive is left
    // and no uploaded package.
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args([
            "serve",
            "config",
            "--root",
            root.to_str().unwrap(),
            "--keep",
            "1",
        ])
        .env("XDG_DATA_HOME", &xdg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let again = ok(&devsky(&["deploy", "push", "prod", "--yes"], &project));
    assert!(again.contains("done"), "{again}");
    let agents: Vec<_> = std::fs::read_dir(xdg.join("devsky/agents"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(agents.len(), 1, "{agents:?}");
    let count = |sub: &str| std::fs::read_dir(agents[0].join(sub)).unwrap().count();
    assert_eq!(count("archives"), 1);
    assert_eq!(count("packages"), 0);

    // No agent at the other end: a clear error with what the server said.
    let dest = format!("{}@127.0.0.1:{}", sshd.user, sshd.port);
    let key = format!("-i {}", sshd.client_key.display());
    let kh = format!("-o UserKnownHostsFile={}", sshd.known_hosts.display());
    ok(&devsky(
        &[
            "server",
            "add",
            "nobin",
            "--ssh",
            &dest,
            "--root",
            root.to_str().unwrap(),
            "--ssh-opt",
            "-F /dev/null -o StrictHostKeyChecking=no -o BatchMode=yes -o LogLevel=ERROR",
            "--ssh-opt",
            &key,
            "--ssh-opt",
            &kh,
            "--remote-bin",
            "/nonexistent/devsky",
        ],
        &project,
    ));
    let t0 = Instant::now();
    let o = devsky(&["deploy", "status", "nobin"], &project);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(
        err.contains("cannot reach the agent over SSH") && err.contains("/nonexistent/devsky"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
}

#[test]
fn a_dead_connection_is_a_clear_error_not_a_hang() {
    support::need_test_hooks();
    let (d, root, project) = setup();
    let xdg = d.path().join("xdg");
    let mut sshd = Sshd::start(
        d.path(),
        &[
            ("XDG_DATA_HOME", xdg.display().to_string()),
            // The agent waits (holding the lock) right after the deployment started.
            ("DEVSKY_TEST_SLOW_DEPLOY_MS", "30000".to_string()),
        ],
    );
    sshd.add_server(&project, "prod", &root);

    let mut push = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["deploy", "push", "prod", "--yes"])
        .current_dir(&project)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the push follows the log of the deployment it started.
    let stdout = push.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("started") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let started = rx.recv_timeout(Duration::from_secs(60)).is_ok();
    if !started {
        let _ = push.kill();
        let out = push.wait_with_output().unwrap();
        panic!(
            "the push never started a deployment:\nstdout:\n{}\nstderr:\n{}",
            reader.join().unwrap(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    sshd.kill_all();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = push.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = push.kill();
            panic!("the push hangs after sshd died");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = t0.elapsed();
    let out = reader.join().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut push.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("SSH connection") && err.contains("lost"),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    eprintln!("after {took:?}:\n{err}");
}
