//! Webhooks both ways, with real processes: deploys and rollbacks of `devsky deploy` send
//! signed events to a loopback receiver (retried after a 500, every attempt in `devsky
//! webhook log`); a real `devsky serve --hook-secret-env ...` takes signed deploy hooks
//! and refuses tampered, stale, replayed and wrongly signed ones. Signatures are checked
//! and made with `openssl` (the oracle), never with devsky's own code.

mod support;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use support::agent::{create_key, start_agent};
use support::deploy::{devsky, ok, put};
use support::httprec::Server;

/// HMAC-SHA256 of `data` with `key`, by openssl.
fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let hexkey: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut c = Command::new("openssl")
        .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt"])
        .arg(format!("hexkey:{hexkey}"))
        .arg("-binary")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("openssl is needed (apt-get install openssl): {e}"));
    c.stdin.take().unwrap().write_all(data).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success());
    o.stdout
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The Standard Webhooks signed content.
fn signed_content(id: &str, ts: i64, body: &[u8]) -> Vec<u8> {
    let mut v = format!("{id}.{ts}.").into_bytes();
    v.extend_from_slice(body);
    v
}

/// A project with a server `s` (a real agent) and one file.
fn project_with_agent(d: &Path) -> (std::path::PathBuf, support::agent::Agent, String) {
    let (root, state, proj) = (d.join("root"), d.join("state"), d.join("proj"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&proj).unwrap();
    let key = create_key(&root, &state);
    let agent = start_agent(&root, &state, d.join("agent.log"), &[], &[]);
    ok(&devsky(&["init"], &proj));
    ok(&devsky(
        &["server", "add", "s", "--url", &agent.url, "--key", &key],
        &proj,
    ));
    put(&proj, "index.php", b"v1\n");
    (proj, agent, key)
}

fn run_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_devsky"));
    c.args(args).current_dir(cwd).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn events_out_are_signed_retried_and_logged() {
    let d = tempfile::tempdir().unwrap();
    let (proj, _agent, _key) = project_with_agent(d.path());
    // The first request fails (500): it is retried with the same message id.
    let rx = Server::start(Box::new(|_, n| {
        if n == 0 {
            (500, "{}".into())
        } else {
            (204, String::new())
        }
    }));
    let other = Server::start(Box::new(|_, _| (200, "{}".into())));
    let secret_key = b"0123456789abcdef0123456789abcdef";
    let secret = format!("whsec_{}", b64(secret_key));
    ok(&devsky(
        &["webhook", "add", &rx.url, "--secret-env", "WH_SECRET"],
        &proj,
    ));
    ok(&devsky(
        &[
            "webhook",
            "add",
            &other.url,
            "--secret-env",
            "WH_SECRET",
            "--events",
            "deployment.failed",
        ],
        &proj,
    ));
    let bad = devsky(
        &[
            "webhook",
            "add",
            &rx.url,
            "--secret-env",
            "X",
            "--events",
            "nope",
        ],
        &proj,
    );
    assert!(!bad.status.success());
    let env = [
        ("WH_SECRET", secret.as_str()),
        ("DEVSKY_WEBHOOK_RETRY_MS", "50"),
    ];
    let o = run_env(&["deploy", "push", "s", "--yes"], &proj, &env);
    let out = ok(&o);
    assert!(!out.contains(&secret) && !String::from_utf8_lossy(&o.stderr).contains(&secret));
    put(&proj, "index.php", b"v2\n");
    ok(&run_env(&["deploy", "push", "s", "--yes"], &proj, &env));
    ok(&run_env(&["deploy", "rollback", "s", "--yes"], &proj, &env));

    let reqs = rx.requests();
    let mut events: Vec<String> = Vec::new();
    let mut ids = std::collections::HashMap::<String, usize>::new();
    for r in &reqs {
        let id = r.header("webhook-id").unwrap().to_string();
        let ts: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
        assert!((now() - ts).abs() < 120);
        let want = format!(
            "v1,{}",
            b64(&hmac(secret_key, &signed_content(&id, ts, &r.body)))
        );
        assert_eq!(r.header("webhook-signature"), Some(want.as_str()), "{r:?}");
        let hub = format!("sha256={}", hex(&hmac(secret_key, &r.body)));
        assert_eq!(r.header("x-hub-signature-256"), Some(hub.as_str()));
        let v = r.json();
        *ids.entry(id).or_default() += 1;
        events.push(v["type"].as_str().unwrap().to_string());
        if v["type"].as_str().unwrap().starts_with("deployment.") {
            assert_eq!(v["data"]["server"], "s", "{v}");
            assert!(v["data"]["deployment"].as_i64().unwrap() >= 1, "{v}");
        }
    }
    // 2 pushes x (package.created, started, succeeded) + rollback (started, rolled_back),
    // and the retry of the first.
    assert_eq!(reqs.len(), 9, "{events:?}");
    assert_eq!(ids.len(), 8, "{ids:?}");
    assert_eq!(
        ids.values().filter(|&&n| n == 2).count(),
        1,
        "one retried: {ids:?}"
    );
    for e in [
        "package.created",
        "deployment.started",
        "deployment.succeeded",
        "deployment.rolled_back",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} not sent: {events:?}");
    }
    assert!(!events.iter().any(|x| x == "deployment.failed"));
    assert!(other.requests().is_empty(), "a hook gets only its events");

    let log: serde_json::Value =
        serde_json::from_str(&ok(&devsky(&["webhook", "log", "--json"], &proj))).unwrap();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 9, "{log:?}");
    let failed: Vec<_> = log.iter().filter(|a| a["ok"] == false).collect();
    assert_eq!(failed.len(), 1, "{log:?}");
    assert_eq!(failed[0]["status"], 500);
    assert!(
        log.iter()
            .any(|a| a["message"] == failed[0]["message"] && a["attempt"] == 2 && a["ok"] == true)
    );
    let text = ok(&devsky(&["webhook", "log"], &proj));
    assert!(
        text.contains("failed (500)") && text.contains("attempt 2 delivered"),
        "{text}"
    );

    // Without the secret nothing is sent, and the log says why.
    put(&proj, "index.php", b"v3\n");
    ok(&run_env(
        &["deploy", "push", "s", "--yes"],
        &proj,
        &[("DEVSKY_WEBHOOK_RETRY_MS", "50")],
    ));
    assert_eq!(rx.requests().len(), 9);
    let text = ok(&devsky(&["webhook", "log"], &proj));
    assert!(text.contains("$WH_SECRET is not set"), "{text}");
}

/// POST a hook to `url` with these headers; status and body.
fn post(url: &str, body: &[u8], headers: &[(&str, String)]) -> (u16, String) {
    let mut r = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/hooks/deploy"))
        .body(body.to_vec());
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    let r = r.send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// Standard Webhooks headers for `body` signed with `secret` (raw bytes).
fn standard(secret: &[u8], id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            format!("v1,{}", b64(&hmac(secret, &signed_content(id, ts, body)))),
        ),
    ]
}

fn wait_done(url: &str, key: &str, id: i64) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let v: serde_json::Value = reqwest::blocking::Client::new()
            .get(format!("{url}/api/v1/deployments/{id}"))
            .bearer_auth(key)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if v["running"] == false && v["status"] != "applying" {
            return v;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn signed_hooks_deploy_and_bad_ones_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let (root, state, proj) = (
        d.path().join("root"),
        d.path().join("state"),
        d.path().join("proj"),
    );
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&proj).unwrap();
    let key = create_key(&root, &state);
    let agent = start_agent(
        &root,
        &state,
        d.path().join("agent.log"),
        &[
            "--hook-secret-env",
            "HOOK_OLD",
            "--hook-secret-env",
            "HOOK_NEW",
            "--hook-secret-env",
            "HOOK_GH",
        ],
        &[
            ("HOOK_OLD", "old-secret"),
            ("HOOK_NEW", "new-secret"),
            ("HOOK_GH", "It's a Secret to Everybody"),
        ],
    );
    ok(&devsky(&["init"], &proj));
    ok(&devsky(
        &["server", "add", "s", "--url", &agent.url, "--key", &key],
        &proj,
    ));
    put(&proj, "index.php", b"v1\n");
    ok(&devsky(&["deploy", "push", "s", "--yes"], &proj));
    put(&proj, "index.php", b"v2\n");
    ok(&devsky(&["deploy", "push", "s", "--yes"], &proj));
    assert_eq!(std::fs::read(root.join("index.php")).unwrap(), b"v2\n");

    // A valid hook: back to release 1.
    let body = br#"{"release": 1, "note": "ci run 7"}"#;
    let t = now();
    let h = standard(b"new-secret", "msg_a1", t, body);
    let (st, text) = post(&agent.url, body, &h);
    assert_eq!(st, 202, "{text}");
    let id = serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(wait_done(&agent.url, &key, id)["status"], "done");
    assert_eq!(std::fs::read(root.join("index.php")).unwrap(), b"v1\n");

    // The same delivery again: a replay.
    let (st, text) = post(&agent.url, body, &h);
    assert_eq!((st, text.contains("replay")), (401, true), "{text}");
    // A tampered body.
    let h = standard(b"new-secret", "msg_a2", t, body);
    let (st, text) = post(&agent.url, br#"{"release": 0, "note": "ci run 7"}"#, &h);
    assert_eq!(
        (st, text.contains("no valid signature")),
        (401, true),
        "{text}"
    );
    // An old timestamp (and one from the future).
    for ts in [now() - 301, now() + 301] {
        let h = standard(b"new-secret", &format!("msg_t{ts}"), ts, body);
        let (st, text) = post(&agent.url, body, &h);
        assert_eq!((st, text.contains("300 s")), (401, true), "{text}");
    }
    // A secret the agent does not have; no signature at all.
    let (st, _) = post(&agent.url, body, &standard(b"guess", "msg_g", now(), body));
    assert_eq!(st, 401);
    let (st, _) = post(
        &agent.url,
        body,
        &[
            ("webhook-id", "msg_n".into()),
            ("webhook-timestamp", now().to_string()),
        ],
    );
    assert_eq!(st, 401);

    // Rotation: the old secret still works, GitHub style (X-Hub-Signature-256 with the
    // id and timestamp): back to before the first deployment.
    let body0 = br#"{"release": 0}"#;
    let hub = vec![
        ("webhook-id", "gh-delivery-1".to_string()),
        ("webhook-timestamp", now().to_string()),
        (
            "x-hub-signature-256",
            format!("sha256={}", hex(&hmac(b"old-secret", body0))),
        ),
    ];
    let (st, text) = post(&agent.url, body0, &hub);
    assert_eq!(st, 202, "{text}");
    let id = serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(wait_done(&agent.url, &key, id)["status"], "done");
    assert!(!root.join("index.php").exists());

    // FORMATS.md's GitHub test vector verifies at the agent: the signature passes, and
    // "Hello, World!" is then refused as a body (400, not 401).
    let vector = vec![
        ("x-github-delivery", "vector-1".to_string()),
        ("webhook-timestamp", now().to_string()),
        (
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".to_string(),
        ),
    ];
    let (st, text) = post(&agent.url, b"Hello, World!", &vector);
    assert_eq!(st, 400, "{text}");
    // A body over 64 KiB is refused before anything else.
    let big = vec![b'x'; 70_000];
    let (st, _) = post(
        &agent.url,
        &big,
        &standard(b"new-secret", "msg_big", now(), &big),
    );
    assert!(st == 413 || st == 400, "{st}");
    // A replay after the agent restarted is still a replay.
    drop(agent);
    let agent = start_agent(
        &root,
        &state,
        d.path().join("agent2.log"),
        &["--hook-secret-env", "HOOK_NEW"],
        &[("HOOK_NEW", "new-secret")],
    );
    let (st, text) = post(
        &agent.url,
        body,
        &standard(b"new-secret", "msg_a1", t, body),
    );
    assert_eq!((st, text.contains("replay")), (401, true), "{text}");
    let log = agent.log_text();
    assert!(!log.contains("new-secret"), "{log}");
}

#[test]
fn hooks_are_off_without_a_secret() {
    let d = tempfile::tempdir().unwrap();
    let (root, state) = (d.path().join("root"), d.path().join("state"));
    std::fs::create_dir_all(&root).unwrap();
    let agent = start_agent(&root, &state, d.path().join("agent.log"), &[], &[]);
    let body = br#"{"release": 0}"#;
    let (st, text) = post(&agent.url, body, &standard(b"x", "msg_1", now(), body));
    assert_eq!(st, 404, "{text}");
    assert!(text.contains("--hook-secret-env"), "{text}");
    // A variable that is not set is refused at start.
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["serve", "--root"])
        .arg(&root)
        .arg("--state")
        .arg(&state)
        .args([
            "--listen",
            "127.0.0.1:1",
            "--hook-secret-env",
            "NOT_SET_ANYWHERE",
        ])
        .env_remove("NOT_SET_ANYWHERE")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("NOT_SET_ANYWHERE"));
}

/// `git ARGS` in `dir` (the test fails if git does).
fn git(dir: &Path, args: &[&str]) {
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
}

#[test]
fn a_signed_hook_deploys_a_branch() {
    let d = tempfile::tempdir().unwrap();
    let (root, state) = (d.path().join("root"), d.path().join("state"));
    std::fs::create_dir_all(&root).unwrap();
    put(&root, "old.txt", b"old\n");
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
    git(d.path(), &["clone", "--quiet", "site.git", "work"]);
    let work = d.path().join("work");
    put(&work, "index.php", b"from git\n");
    put(&work, "lib/x.php", b"x\n");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "--quiet", "-m", "r1"]);
    git(
        &work,
        &["push", "--quiet", "origin", "HEAD:refs/heads/release"],
    );
    let url = format!("file://{}", d.path().join("site.git").display());
    let key = create_key(&root, &state);
    let agent = start_agent(
        &root,
        &state,
        d.path().join("agent.log"),
        &["--hook-secret-env", "HOOK", "--hook-git", &url],
        &[("HOOK", "s3cret")],
    );
    let body = br#"{"branch": "release"}"#;
    let (st, text) = post(
        &agent.url,
        body,
        &standard(b"s3cret", "msg_b1", now(), body),
    );
    assert_eq!(st, 202, "{text}\n{}", agent.log_text());
    let id = serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(wait_done(&agent.url, &key, id)["status"], "done");
    assert_eq!(
        std::fs::read(root.join("index.php")).unwrap(),
        b"from git\n"
    );
    assert_eq!(std::fs::read(root.join("lib/x.php")).unwrap(), b"x\n");
    assert!(
        !root.join("old.txt").exists(),
        "the root is the branch's tree"
    );
    assert!(!root.join(".git").exists());
    // Again: nothing to deploy.
    let (st, text) = post(
        &agent.url,
        body,
        &standard(b"s3cret", "msg_b2", now(), body),
    );
    assert_eq!(st, 200, "{text}");
    assert!(text.contains("nothing to deploy"), "{text}");
    // A branch that does not exist, a name that is not a branch.
    let nb = br#"{"branch": "nope"}"#;
    let (st, _) = post(&agent.url, nb, &standard(b"s3cret", "msg_b3", now(), nb));
    assert_eq!(st, 404);
    let bad = br#"{"branch": "--upload-pack=touch /tmp/x"}"#;
    let (st, text) = post(&agent.url, bad, &standard(b"s3cret", "msg_b4", now(), bad));
    assert_eq!(st, 400, "{text}");
}
