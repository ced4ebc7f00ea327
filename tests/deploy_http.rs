//! The HTTP deploy agent with the real binary: `devsky serve` on 127.0.0.1 (a free port,
//! temp dirs) and the client (`devsky server add`, `devsky deploy plan|push|logs|rollback`).
//! Every authenticated route refuses a missing, wrong or revoked key; a push makes the
//! server's root equal the project; a concurrent push is refused as locked; a rollback
//! restores the old root; the key is never shown, logged or stored in the store.

mod support;
use support::agent::{create_key, start_agent};
use support::deploy::{devsky, ok, put, text};
// `tree_of`: the tests' own walker (folders, modes, symlinks), never devsky's map.
use support::tree::walk as tree_of;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn request(
    client: &reqwest::blocking::Client,
    base: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
) -> reqwest::blocking::Response {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = client.request(m, format!("{base}{}", path.replace("{id}", "1")));
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    rb.send().unwrap()
}

#[test]
fn every_route_but_health_needs_a_live_key() {
    let d = tempfile::tempdir().unwrap();
    let (root, state) = (d.path().join("root"), d.path().join("state"));
    put(&root, "index.php", b"<?php\n");
    let key = create_key(&root, &state);
    let revoked = create_key(&root, &state);
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["serve", "key", "revoke", "2", "--root"])
        .arg(&root)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    ok(&o);
    let agent = start_agent(&root, &state, d.path().join("agent.log"), &[], &[]);
    let client = reqwest::blocking::Client::new();

    assert_eq!(
        request(&client, &agent.url, "GET", "/api/v1/health", None).status(),
        200
    );
    assert_eq!(
        request(&client, &agent.url, "GET", "/api/v1/status", Some(&key)).status(),
        200
    );

    // Every route x (no key, a wrong key, a revoked key), in parallel: the keys are
    // checked at the address's rate (tests/agent_auth.rs times it).
    let mut handles = Vec::new();
    for (method, path) in devsky::server::ROUTES {
        for k in [None, Some("not-a-key".to_string()), Some(revoked.clone())] {
            let (url, client) = (agent.url.clone(), client.clone());
            handles.push(std::thread::spawn(move || {
                let r = request(&client, &url, method, path, k.as_deref());
                let status = r.status();
                let body: serde_json::Value = r.json().unwrap_or_default();
                (method, path, k.is_some(), status, body)
            }));
        }
    }
    assert_eq!(handles.len(), devsky::server::ROUTES.len() * 3);
    for h in handles {
        let (method, path, with_key, status, body) = h.join().unwrap();
        assert_eq!(
            status, 401,
            "{method} {path} (key given: {with_key}) answered {status}: {body}"
        );
        assert!(body["error"].is_string(), "{method} {path}: {body}");
    }

    // Many failures from this address: the next check waits for its turn.
    let t0 = Instant::now();
    let r = request(&client, &agent.url, "GET", "/api/v1/lock", Some("wrong"));
    assert_eq!(r.status(), 401);
    let interval = devsky::server::keys::Throttle::INTERVAL;
    assert!(
        t0.elapsed() >= interval - Duration::from_millis(50),
        "{:?}",
        t0.elapsed()
    );
    // A good key waits at most for the turn the failures left it, not more.
    let t0 = Instant::now();
    let r = request(&client, &agent.url, "GET", "/api/v1/lock", Some(&key));
    assert_eq!(r.status(), 200);
    assert!(t0.elapsed() < interval * 3, "{:?}", t0.elapsed());
    let log = std::fs::read_to_string(&agent.log).unwrap();
    assert!(!log.contains(&key) && !log.contains(&revoked), "{log}");
}

#[test]
fn push_follow_lock_rollback_over_http() {
    support::need_test_hooks();
    let d = tempfile::tempdir().unwrap();
    let (root, state, project) = (
        d.path().join("root"),
        d.path().join("state"),
        d.path().join("project"),
    );
    put(&root, "index.php", b"<?php echo 'old';\n");
    put(&root, "old.txt", b"to be deleted\n");
    put(&root, "app/keep.php", b"<?php // same\n");
    put(&project, "index.php", b"<?php echo 'new';\n");
    put(&project, "app/keep.php", b"<?php // same\n");
    put(&project, "app/new.php", b"<?php // new\n");
    put(&project, "assets/site.css", b"body { color: red }\n");
    std::fs::set_permissions(
        project.join("app/new.php"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let before = tree_of(&root);

    let key = create_key(&root, &state);
    let agent = start_agent(
        &root,
        &state,
        d.path().join("agent.log"),
        &[],
        &[("DEVSKY_TEST_SLOW_DEPLOY_MS", "3000")],
    );

    ok(&devsky(&["init"], &project));
    let out = ok(&devsky(
        &[
            "server", "add", "stage", "--url", &agent.url, "--key", &key, "--env", "staging",
        ],
        &project,
    ));
    assert!(!out.contains(&key), "{out}");
    let key_file = project.join(".devsky/secrets/stage.key");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let list = ok(&devsky(&["server", "list", "--json"], &project));
    assert!(!list.contains(&key), "{list}");
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v[0]["name"], "stage");
    assert_eq!(v[0]["key"], "stored");
    let show = ok(&devsky(&["server", "show", "stage"], &project));
    assert!(show.contains("key:") && show.contains("stored") && !show.contains(&key));

    let plan = ok(&devsky(&["deploy", "plan", "stage"], &project));
    for want in [
        "M index.php",
        "A app/new.php",
        "A assets/site.css",
        "D old.txt",
    ] {
        assert!(plan.contains(want), "{want} missing from:\n{plan}");
    }
    assert!(!plan.contains("keep.php"), "{plan}");

    // The first push holds the lock (slowed down by the test hook) ...
    let first = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["deploy", "push", "stage", "--yes"])
        .current_dir(&project)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::blocking::Client::new();
    let t0 = Instant::now();
    loop {
        let r = request(&client, &agent.url, "GET", "/api/v1/lock", Some(&key));
        let v: serde_json::Value = r.json().unwrap();
        if v["locked"] == true {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "never locked");
        std::thread::sleep(Duration::from_millis(30));
    }
    // ... so a second one is refused: exit 4, "locked by".
    let second = devsky(&["deploy", "push", "stage", "--yes"], &project);
    assert_eq!(
        second.status.code(),
        Some(4),
        "stdout:\n{}\nstderr:\n{}",
        text(&second.stdout),
        text(&second.stderr)
    );
    assert!(
        text(&second.stderr).contains("locked by"),
        "{}",
        text(&second.stderr)
    );

    let first = first.wait_with_output().unwrap();
    let out = ok(&first);
    assert!(out.contains("deployment 1 started"), "{out}");
    assert!(out.contains("verified"), "{out}");
    assert!(out.contains(": done"), "{out}");
    assert_eq!(tree_of(&root), tree_of(&project));

    // Nothing left to deploy.
    let plan = ok(&devsky(&["deploy", "plan", "stage"], &project));
    assert!(plan.contains("nothing to deploy"), "{plan}");

    let logs = ok(&devsky(&["deploy", "logs", "stage", "--follow"], &project));
    for want in [
        // held since the push's map was made
        "holding the deploy lock",
        "deployment 1 started",
        "verified",
        "done",
    ] {
        assert!(logs.contains(want), "{want} missing from:\n{logs}");
    }

    let history = ok(&devsky(&["deploy", "history", "stage", "--json"], &project));
    let h: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(h.as_array().unwrap().len(), 1, "{history}");
    assert_eq!(h[0]["status"], "done");

    let status = ok(&devsky(&["deploy", "status", "stage"], &project));
    assert!(status.contains("current: deployment 1"), "{status}");

    let rb = ok(&devsky(&["deploy", "rollback", "stage", "--yes"], &project));
    assert!(rb.contains("done"), "{rb}");
    assert_eq!(tree_of(&root), before);

    // A file changed on the server between the plan and the apply: conflicts, exit 2,
    // nothing else changed.
    let third = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["deploy", "push", "stage", "--yes"])
        .current_dir(&project)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the deployment runs (the test hook holds it 3 s after it started): the
    // lock alone is not enough, as the held map the client plans from may not have read
    // old.txt yet, and would then see the edit.
    let t0 = Instant::now();
    loop {
        let r = request(
            &client,
            &agent.url,
            "GET",
            "/api/v1/deployments",
            Some(&key),
        );
        let v: serde_json::Value = r.json().unwrap();
        let list = v
            .as_array()
            .cloned()
            .or_else(|| v["deployments"].as_array().cloned());
        if list.is_some_and(|l| l.iter().any(|d| d["status"] == "applying")) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "never started: {v}");
        std::thread::sleep(Duration::from_millis(30));
    }
    put(&root, "old.txt", b"edited on the server meanwhile\n");
    let edited = tree_of(&root);
    let third = third.wait_with_output().unwrap();
    assert_eq!(
        third.status.code(),
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        text(&third.stdout),
        text(&third.stderr)
    );
    assert!(
        text(&third.stderr).contains("old.txt"),
        "{}",
        text(&third.stderr)
    );
    assert_eq!(tree_of(&root), edited);

    // The key is in its 0600 file only: not in the store, not in the agent's log.
    let log = std::fs::read_to_string(&agent.log).unwrap();
    assert!(log.contains("/api/v1/deployments"), "{log}");
    assert!(!log.contains(&key), "the key is in the agent's log:\n{log}");
    for f in ["dev.db", "dev.db-wal", "dev.db-shm"] {
        if let Ok(b) = std::fs::read(project.join(".devsky").join(f)) {
            assert!(
                !b.windows(key.len()).any(|w| w == key.as_bytes()),
                "the key is in {f}"
            );
        }
    }
    let list = ok(&devsky(&["server", "list", "--json"], &project));
    assert!(!list.contains(&key));
}

#[test]
fn a_failed_verification_exits_3() {
    support::need_test_hooks();
    let d = tempfile::tempdir().unwrap();
    let (root, state, project) = (
        d.path().join("root"),
        d.path().join("state"),
        d.path().join("project"),
    );
    put(&root, "index.php", b"<?php echo 'old';\n");
    put(&project, "index.php", b"<?php echo 'new';\n");
    let before = tree_of(&root);
    let key = create_key(&root, &state);
    let agent = start_agent(
        &root,
        &state,
        d.path().join("agent.log"),
        &[],
        &[("DEVSKY_TEST_CORRUPT_STAGE", "1")],
    );
    ok(&devsky(&["init"], &project));
    ok(&devsky(
        &[
            "server",
            "add",
            "prod",
            "--url",
            &agent.url,
            "--key-env",
            "DEVSKY_TEST_KEY",
            "--env",
            "production",
        ],
        &project,
    ));
    assert!(!project.join(".devsky/secrets/prod.key").exists());
    // Production without --yes and without a terminal: refused before anything is uploaded.
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["deploy", "push", "prod"])
        .current_dir(&project)
        .env("DEVSKY_TEST_KEY", &key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--yes"), "{}", text(&o.stderr));
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["deploy", "push", "prod", "--yes"])
        .current_dir(&project)
        .env("DEVSKY_TEST_KEY", &key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "stdout:\n{}\nstderr:\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(
        text(&o.stderr).contains("verification failed"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(tree_of(&root), before);
    // Without the variable, the key is missing: a clear error.
    let o = devsky(&["deploy", "status", "prod"], &project);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("DEVSKY_TEST_KEY"),
        "{}",
        text(&o.stderr)
    );
}

/// The root's policy (`devsky serve config`) rules deploys over HTTP: release mode builds
/// and switches releases, keeping the newest `--keep-releases`; `GET /api/v1/environment`
/// reports it; a root not set up for releases is refused when the mode is switched on.
#[test]
fn release_mode_policy_over_http() {
    let d = tempfile::tempdir().unwrap();
    let (releases, site, state, project) = (
        d.path().join("releases"),
        d.path().join("site"),
        d.path().join("state"),
        d.path().join("project"),
    );
    put(&releases.join("1"), "index.php", b"<?php echo 'v1';\n");
    std::os::unix::fs::symlink("releases/1", &site).unwrap();

    // A plain folder cannot be switched to release mode; nothing is written.
    let plain = d.path().join("plain");
    put(&plain, "a.txt", b"a\n");
    let plain_state = d.path().join("plain-state");
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["serve", "config", "--release", "--root"])
        .arg(&plain)
        .arg("--state")
        .arg(&plain_state)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("symlink"), "{}", text(&o.stderr));
    assert!(!plain_state.join("policy.json").exists());
    // A wrong environment name is refused with the right ones.
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["serve", "config", "--env", "prod", "--root"])
        .arg(&site)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("production"),
        "{}",
        text(&o.stderr)
    );

    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args([
            "serve",
            "config",
            "--release",
            "--keep-releases",
            "2",
            "--keep",
            "2",
            "--env",
            "production",
            "--json",
            "--root",
        ])
        .arg(&site)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    let p: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(p["release_mode"], true);
    assert_eq!(p["keep_releases"], 2);

    let key = create_key(&site, &state);
    let agent = start_agent(&site, &state, d.path().join("agent.log"), &[], &[]);
    let client = reqwest::blocking::Client::new();
    let env: serde_json::Value = request(
        &client,
        &agent.url,
        "GET",
        "/api/v1/environment",
        Some(&key),
    )
    .json()
    .unwrap();
    assert_eq!(env["environment"], "production", "{env}");
    assert_eq!(env["mode"], "release", "{env}");
    assert_eq!(env["keep_releases"], 2, "{env}");

    put(&project, "index.php", b"<?php echo 'v1';\n");
    ok(&devsky(&["init"], &project));
    ok(&devsky(
        &[
            "server",
            "add",
            "live",
            "--url",
            &agent.url,
            "--key",
            &key,
            "--env",
            "production",
        ],
        &project,
    ));
    for v in 2..=4 {
        put(
            &project,
            "index.php",
            format!("<?php echo 'v{v}';\n").as_bytes(),
        );
        put(&project, &format!("added/{v}.txt"), b"x\n");
        let out = ok(&devsky(&["deploy", "push", "live", "--yes"], &project));
        assert!(out.contains("done"), "{out}");
        assert_eq!(
            std::fs::read_link(&site).unwrap(),
            PathBuf::from(format!("releases/{v}")),
            "the root points at the new release"
        );
        // (the walker leaves out the project's .devsky/)
        support::tree::assert_same(
            &tree_of(&project),
            &tree_of(&site.canonicalize().unwrap()),
            "project vs the new release",
        );
    }
    let mut left: Vec<String> = std::fs::read_dir(&releases)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    // The two newest made by devsky; release 1 was made by hand and is left alone.
    assert_eq!(left, ["1", "3", "4"]);

    let status = ok(&devsky(&["deploy", "status", "live"], &project));
    assert!(
        status.contains("policy:  production, release mode"),
        "{status}"
    );

    // A rollback switches back to the kept release before.
    let out = ok(&devsky(&["deploy", "rollback", "live", "--yes"], &project));
    assert!(out.contains("done"), "{out}");
    assert_eq!(
        std::fs::read_link(&site).unwrap(),
        PathBuf::from("releases/3")
    );
}

/// `GET /api/v1/map?format=compact` decodes to the entries of the plain map (all but ctime
/// and inode), is much smaller, and is what the client fetches.
#[test]
fn compact_map_matches_the_plain_one() {
    use devsky::engine::map::Entry;
    use devsky::engine::map::format::MapReader;
    use devsky::engine::map::wire;
    use devsky::engine::remote::Remote;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let d = tempfile::tempdir().unwrap();
    let (root, state) = (d.path().join("root"), d.path().join("state"));
    for i in 0..300 {
        put(
            &root,
            &format!("app/module-{}/src/file-{i:04}.php", i % 7),
            format!("<?php // {i}\n").as_bytes(),
        );
    }
    put(&root, "index.php", b"<?php\n");
    put(&root, "bin/run", b"#!/bin/sh\n");
    std::fs::set_permissions(root.join("bin/run"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("index.php", root.join("home.php")).unwrap();
    std::fs::write(
        root.join(OsStr::from_bytes(b"caf\xe9.txt")),
        b"latin-1 name",
    )
    .unwrap();
    let key = create_key(&root, &state);
    let agent = start_agent(&root, &state, d.path().join("agent.log"), &[], &[]);
    let client = reqwest::blocking::Client::new();
    let get = |query: &str| {
        let r = client
            .get(format!("{}/api/v1/map{query}", agent.url))
            .bearer_auth(&key)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        (ct, r.bytes().unwrap().to_vec())
    };
    let (plain_ct, plain) = get("");
    let (compact_ct, compact) = get("?format=compact");
    assert_eq!(plain_ct, "application/octet-stream");
    assert_eq!(compact_ct, wire::CONTENT_TYPE);
    assert!(plain.starts_with(b"DSKYMAP\x02")); // with folders
    assert!(compact.starts_with(b"DSKYWIRE\x02"));
    assert!(
        compact.len() * 2 < plain.len(),
        "compact {} bytes, plain {}",
        compact.len(),
        plain.len()
    );

    let key_of = |e: Entry| (e.path, e.kind, e.mode, e.size, e.mtime_ns, e.hash, e.flags);
    let read = |bytes: &[u8]| {
        let r = MapReader::new(bytes, "map".into()).unwrap();
        r.read_all()
            .unwrap()
            .into_iter()
            .map(key_of)
            .collect::<Vec<_>>()
    };
    let want = read(&plain);
    assert_eq!(want.len(), 304 + 16); // and the folders: app, 7 modules, 7 src, bin
    // the plain map lists exactly the root's files and symlinks, by the tests' own walker
    let plain_file = d.path().join("plain.map");
    std::fs::write(&plain_file, &plain).unwrap();
    assert_eq!(
        support::deploy::map_listing(&plain_file),
        support::tree::files_and_links(&tree_of(&root))
    );
    assert!(want.iter().any(|e| e.0 == b"caf\xe9.txt"));
    assert!(want.iter().any(|e| e.0 == b"bin/run" && e.2 == 0o750));

    // decoded by hand, in odd chunks
    let out = d.path().join("compact.map");
    let mut dec = wire::Decoder::new(&out, "the agent's map");
    for c in compact.chunks(1000) {
        dec.feed(c).unwrap();
    }
    assert_eq!(dec.finish().unwrap(), 304 + 16);
    assert_eq!(read(&std::fs::read(&out).unwrap()), want);

    // and by the client
    let remote = Remote::http(&agent.url, key.clone(), &Default::default()).unwrap();
    let fetched = d.path().join("fetched.map");
    remote.map(&fetched).unwrap();
    assert_eq!(read(&std::fs::read(&fetched).unwrap()), want);
    assert!(!d.path().join("fetched.part").exists());
    // it came compact: ctime and inode are not sent
    let all = MapReader::open(&fetched).unwrap().read_all().unwrap();
    assert!(all.iter().all(|e| e.ino == 0 && e.ctime_ns == 0));
}

/// `POST /api/v1/push`: a body that is no package is refused with nothing recorded and the
/// lock free again; a real package (built by `devsky deploy package`) deploys in one request.
#[test]
fn push_in_one_request_refuses_junk_and_deploys_a_package() {
    let d = tempfile::tempdir().unwrap();
    let (root, state, project) = (
        d.path().join("root"),
        d.path().join("state"),
        d.path().join("project"),
    );
    put(&root, "index.php", b"<?php old\n");
    put(&project, "index.php", b"<?php new\n");
    put(&project, "app/new.php", b"<?php added\n");
    let key = create_key(&root, &state);
    let agent = start_agent(&root, &state, d.path().join("agent.log"), &[], &[]);
    let client = reqwest::blocking::Client::new();
    let post = |body: Vec<u8>| {
        client
            .post(format!("{}/api/v1/push?force=false", agent.url))
            .bearer_auth(&key)
            .header("content-type", "application/zip")
            .body(body)
            .send()
            .unwrap()
    };
    let before = tree_of(&root);
    let r = post(b"this is not a zip at all, not even close".to_vec());
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().unwrap();
    assert!(v["error"].as_str().unwrap().contains("not a zip"), "{v}");
    assert_eq!(tree_of(&root), before);
    let h = request(
        &client,
        &agent.url,
        "GET",
        "/api/v1/deployments",
        Some(&key),
    );
    assert_eq!(
        h.json::<serde_json::Value>().unwrap(),
        serde_json::json!([])
    );
    let l = request(&client, &agent.url, "GET", "/api/v1/lock", Some(&key));
    assert_eq!(l.json::<serde_json::Value>().unwrap()["locked"], false);
    let packages = || std::fs::read_dir(state.join("packages")).unwrap().count();
    assert_eq!(packages(), 0, "a refused push keeps no package");

    // A package made against the server's map, sent in one request.
    ok(&devsky(&["init"], &project));
    let url = agent.url.clone();
    ok(&devsky(
        &[
            "server", "add", "stage", "--url", &url, "--key", &key, "--env", "staging",
        ],
        &project,
    ));
    let pushed = ok(&devsky(&["deploy", "push", "stage", "--yes"], &project));
    assert!(pushed.contains("done"), "{pushed}");
    assert_eq!(
        std::fs::read(root.join("app/new.php")).unwrap(),
        b"<?php added\n"
    );
    let log = std::fs::read_to_string(d.path().join("agent.log")).unwrap();
    assert!(log.contains("POST /api/v1/push -> 202"), "{log}");
    assert!(!log.contains("POST /api/v1/packages"), "{log}");
    // Removed by the deploy thread once the deployment ended (just after the client
    // saw it end).
    let t0 = Instant::now();
    while packages() > 0 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        packages(),
        0,
        "the pushed package is kept as the archive only"
    );
}
