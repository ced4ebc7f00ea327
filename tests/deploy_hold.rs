//! Holds of the deploy lock, with the real binary over HTTP: `GET /api/v1/map?hold=true`
//! maps the root under the lock and answers a token; the lock stays taken (another hold, a
//! deployment or a push without the token is refused as locked); a push with the token
//! starts from that map and still refuses a file edited since (a conflict); a hold is
//! released on request or when it expires unused; `devsky deploy push` plans under a hold.

mod support;
use support::agent::{Agent, create_key, start_agent};
use support::deploy::{devsky, ok, put};
// `tree_of`: the tests' own walker (folders, modes, symlinks), never devsky's map.
use support::tree::walk as tree_of;

use std::path::Path;
use std::time::{Duration, Instant};

struct Lab {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    state: std::path::PathBuf,
    project: std::path::PathBuf,
    key: String,
    agent: Agent,
    client: reqwest::blocking::Client,
}

fn lab(hold_ms: &str) -> Lab {
    support::need_test_hooks();
    let d = tempfile::tempdir().unwrap();
    let (root, state, project) = (
        d.path().join("root"),
        d.path().join("state"),
        d.path().join("project"),
    );
    put(&root, "index.php", b"<?php old\n");
    put(&root, "gone.txt", b"to be deleted\n");
    put(&project, "index.php", b"<?php new\n");
    put(&project, "app/new.php", b"<?php added\n");
    put(
        &project,
        "app/big.php",
        "<?php // a line\n".repeat(200).as_bytes(),
    );
    let key = create_key(&root, &state);
    let agent = start_agent(
        &root,
        &state,
        d.path().join("agent.log"),
        &[],
        &[("DEVSKY_TEST_HOLD_MS", hold_ms)],
    );
    ok(&devsky(&["init"], &project));
    ok(&devsky(
        &[
            "server", "add", "stage", "--url", &agent.url, "--key", &key, "--env", "staging",
        ],
        &project,
    ));
    Lab {
        _dir: d,
        root,
        state,
        project,
        key,
        agent,
        client: reqwest::blocking::Client::new(),
    }
}

impl Lab {
    fn call(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::Response {
        self.client
            .request(method, format!("{}/api/v1{path}", self.agent.url))
            .bearer_auth(&self.key)
            .send()
            .unwrap()
    }

    /// `GET /api/v1/map?hold=true` (the plain map) into `out`: the token.
    fn hold(&self, out: &Path) -> String {
        let r = self.call(reqwest::Method::GET, "/map?hold=true");
        assert_eq!(r.status(), 200);
        let token = r.headers()["devsky-hold"].to_str().unwrap().to_string();
        assert!(
            token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()),
            "{token}"
        );
        std::fs::write(out, r.bytes().unwrap()).unwrap();
        token
    }

    fn locked(&self) -> bool {
        let v: serde_json::Value = self.call(reqwest::Method::GET, "/lock").json().unwrap();
        v["locked"] == true
    }

    /// Wait for deployment `id` to end; its JSON.
    fn ended(&self, id: i64) -> serde_json::Value {
        let t0 = Instant::now();
        loop {
            let v: serde_json::Value = self
                .call(reqwest::Method::GET, &format!("/deployments/{id}"))
                .json()
                .unwrap();
            if v["running"] != true && v["status"] != "applying" {
                return v;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "{v}");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// A package built by `devsky deploy package` against the map file `map`.
    fn package(&self, map: &Path) -> Vec<u8> {
        let out = self.project.join("pkgs");
        let o = ok(&devsky(
            &[
                "deploy",
                "package",
                "--remote-map",
                map.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--json",
            ],
            &self.project,
        ));
        let v: serde_json::Value = serde_json::from_str(&o).unwrap();
        std::fs::read(v["package"]["path"].as_str().unwrap()).unwrap()
    }

    fn push(&self, query: &str, package: Vec<u8>) -> reqwest::blocking::Response {
        self.client
            .post(format!("{}/api/v1/push?{query}", self.agent.url))
            .bearer_auth(&self.key)
            .header("content-type", "application/zip")
            .body(package)
            .send()
            .unwrap()
    }
}

#[test]
fn a_hold_keeps_the_lock_until_released_or_expired() {
    let l = lab("1500");
    let map = l.project.join("server.map");
    let token = l.hold(&map);
    assert!(l.locked());
    // While held: another hold, a push without the token and a deployment are refused.
    let r = l.call(reqwest::Method::GET, "/map?hold=true");
    assert_eq!(r.status(), 409);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["code"], "locked", "{v}");
    let package = l.package(&map);
    let r = l.push("force=false", package.clone());
    assert_eq!(r.status(), 409, "{:?}", r.text());
    let before = tree_of(&l.root);
    // A wrong token releases nothing; the right one does.
    let v: serde_json::Value = l
        .call(
            reqwest::Method::DELETE,
            "/lock?hold=0123456789abcdef0123456789abcdef",
        )
        .json()
        .unwrap();
    assert_eq!(v["released"], false);
    assert!(l.locked());
    let v: serde_json::Value = l
        .call(reqwest::Method::DELETE, &format!("/lock?hold={token}"))
        .json()
        .unwrap();
    assert_eq!(v["released"], true);
    assert!(!l.locked());
    assert_eq!(tree_of(&l.root), before, "nothing was deployed");
    // A push with a released token takes the lock and maps as usual.
    let r = l.push(&format!("force=false&hold={token}"), package);
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(l.ended(id)["status"], "done");
    assert!(!l.locked());

    // A hold nobody uses ends by itself.
    l.hold(&map);
    assert!(l.locked());
    let t0 = Instant::now();
    while l.locked() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the hold never expired"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        t0.elapsed()
    );
    assert!(l.agent.log_text().contains("expired unused"));
    assert!(!l.state.join("maps/.held.map").exists());
}

#[test]
fn a_push_with_its_hold_starts_from_the_held_map_and_still_sees_edits() {
    let l = lab("60000");
    // An edit after the held map: the push with the token is refused as a conflict.
    let map = l.project.join("server.map");
    let token = l.hold(&map);
    let package = l.package(&map);
    put(
        &l.root,
        "index.php",
        b"<?php edited on the server meanwhile\n",
    );
    let r = l.push(&format!("force=false&hold={token}"), package);
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().unwrap()["id"]
        .as_i64()
        .unwrap();
    let v = l.ended(id);
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["outcome"]["exit_code"], 2, "{v}");
    assert_eq!(
        std::fs::read(l.root.join("index.php")).unwrap(),
        b"<?php edited on the server meanwhile\n"
    );
    assert!(!l.locked());

    // Through the CLI: planned under a hold, deployed from it, the lock free at the end.
    put(&l.root, "index.php", b"<?php old\n");
    let out = ok(&devsky(&["deploy", "push", "stage", "--yes"], &l.project));
    assert!(out.contains("holding the deploy lock"), "{out}");
    assert!(!out.contains("mapped the root"), "mapped twice:\n{out}");
    assert!(out.contains("done"), "{out}");
    // (the walker leaves out the project's .devsky/)
    support::tree::assert_same(&tree_of(&l.project), &tree_of(&l.root), "project vs root");
    assert!(!l.locked());
    // The agent reads zstd (its health says so), so the push packed with it.
    let health: serde_json::Value = l.call(reqwest::Method::GET, "/health").json().unwrap();
    assert!(
        health["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "zstd"),
        "{health}"
    );
    let archive = std::fs::read_dir(l.state.join("archives"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    assert_eq!(
        zip.by_name("app/big.php").unwrap().compression(),
        zip::CompressionMethod::Zstd
    );
    // Nothing to deploy: the hold is released at once, not left to expire.
    let out = ok(&devsky(&["deploy", "push", "stage", "--yes"], &l.project));
    assert!(out.contains("nothing to deploy"), "{out}");
    assert!(!l.locked());
}

/// The held map in the compact encoding goes out while the root is mapped (in many chunks
/// here): it decodes to the same entries as the plain map, and its token holds the lock.
#[test]
fn the_held_compact_map_streams_the_same_entries() {
    use devsky::engine::map::format::MapReader;
    use devsky::engine::remote::Remote;
    let l = lab("60000");
    for i in 0..6000 {
        put(
            &l.root,
            &format!("lib/pkg-{}/src/mod-{i:05}.php", i % 13),
            format!("<?php // {i}\n").as_bytes(),
        );
    }
    let plain = l.project.join("plain.map");
    let token = l.hold(&plain);
    let v: serde_json::Value = l
        .call(reqwest::Method::DELETE, &format!("/lock?hold={token}"))
        .json()
        .unwrap();
    assert_eq!(v["released"], true);
    let remote = Remote::http(&l.agent.url, l.key.clone(), &Default::default()).unwrap();
    let streamed = l.project.join("streamed.map");
    let token = remote.map_held(&streamed).unwrap().expect("a hold token");
    assert!(l.locked());
    let key = |p: &Path| {
        MapReader::open(p)
            .unwrap()
            .read_all()
            .unwrap()
            .into_iter()
            .map(|e| (e.path, e.kind, e.mode, e.size, e.mtime_ns, e.hash))
            .collect::<Vec<_>>()
    };
    let want = key(&plain);
    // 6,002 files, and the folders (the agent's maps list them)
    let dir = devsky::engine::map::EntryKind::Dir;
    assert_eq!(want.iter().filter(|e| e.1 != dir).count(), 6002);
    assert_eq!(want.iter().filter(|e| e.1 == dir).count(), 1 + 13 + 13);
    // the held map lists exactly the root's files, by the tests' own walker
    assert_eq!(
        support::deploy::map_listing(&plain),
        support::tree::files_and_links(&tree_of(&l.root))
    );
    assert_eq!(key(&streamed), want);
    remote.release(&token).unwrap();
    assert!(!l.locked());
}
