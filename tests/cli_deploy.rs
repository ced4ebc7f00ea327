//! What the deploy commands print, as a real process against a real `devsky serve`:
//! `serve key create --json`, `server list|show --json` with the record's id, and a push
//! of many files printing a summary (the first paths and the counts) unless `--verbose`.

mod support;
use support::agent::{create_key, start_agent};
use support::deploy::{devsky, ok, put};
use support::tree::walk as tree_of;

#[test]
fn key_create_json_gives_a_key_the_agent_accepts() {
    let d = tempfile::tempdir().unwrap();
    let (root, state) = (d.path().join("root"), d.path().join("state"));
    std::fs::create_dir_all(&root).unwrap();
    let out = ok(&devsky(
        &[
            "serve",
            "key",
            "create",
            "--root",
            root.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--label",
            "ci",
            "--json",
        ],
        d.path(),
    ));
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON on stdout");
    let key = v["key"].as_str().unwrap();
    assert_eq!(key.len(), 43, "{out}");
    assert_eq!(v["label"], "ci");
    let id = v["id"].as_i64().unwrap();
    let listed = ok(&devsky(
        &[
            "serve",
            "key",
            "list",
            "--root",
            root.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--json",
        ],
        d.path(),
    ));
    let l: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(l[0]["id"].as_i64(), Some(id), "{listed}");
    // The key printed is the one the agent takes.
    let agent = start_agent(&root, &state, d.path().join("agent.log"), &[], &[]);
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/status", agent.url))
        .bearer_auth(key)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn server_list_and_show_carry_the_record_id() {
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    ok(&devsky(&["init"], &project));
    for name in ["one", "two"] {
        ok(&devsky(
            &[
                "server",
                "add",
                name,
                "--url",
                "http://127.0.0.1:9",
                "--key",
                "k",
            ],
            &project,
        ));
    }
    ok(&devsky(&["server", "remove", "one"], &project));
    ok(&devsky(
        &[
            "server",
            "add",
            "three",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            "k",
        ],
        &project,
    ));
    // The oracle: the store's own rows, read with sqlite3.
    let ids = std::process::Command::new("sqlite3")
        .arg(project.join(".devsky/dev.db"))
        .arg("SELECT name || '=' || id FROM _dev_servers ORDER BY name")
        .output()
        .expect("sqlite3 is needed: apt-get install sqlite3");
    let ids = String::from_utf8(ids.stdout).unwrap();
    let want: Vec<(String, i64)> = ids
        .lines()
        .map(|l| {
            let (n, i) = l.split_once('=').unwrap();
            (n.to_string(), i.parse().unwrap())
        })
        .collect();
    assert_eq!(want.len(), 2, "{ids}");
    assert_ne!(want[0].1, want[1].1);
    let list: serde_json::Value =
        serde_json::from_str(&ok(&devsky(&["server", "list", "--json"], &project))).unwrap();
    let got: Vec<(String, i64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    for (name, id) in &want {
        let show: serde_json::Value =
            serde_json::from_str(&ok(&devsky(&["server", "show", name, "--json"], &project)))
                .unwrap();
        assert_eq!(show["id"].as_i64(), Some(*id), "{show}");
        let text = ok(&devsky(&["server", "show", name], &project));
        assert!(text.contains(&format!("id:          {id}\n")), "{text}");
    }
}

#[test]
fn a_push_of_many_files_prints_a_summary_unless_verbose() {
    let d = tempfile::tempdir().unwrap();
    let (root, state, project) = (
        d.path().join("root"),
        d.path().join("state"),
        d.path().join("project"),
    );
    std::fs::create_dir_all(&root).unwrap();
    for i in 0..150 {
        put(&project, &format!("app/f{i:03}.php"), b"<?php\n");
    }
    let key = create_key(&root, &state);
    let agent = start_agent(&root, &state, d.path().join("agent.log"), &[], &[]);
    ok(&devsky(&["init"], &project));
    ok(&devsky(
        &["server", "add", "stage", "--url", &agent.url, "--key", &key],
        &project,
    ));
    let out = ok(&devsky(&["deploy", "push", "stage", "--yes"], &project));
    let paths = out.lines().filter(|l| l.starts_with("A ")).count();
    assert_eq!(paths, 20, "the first 20 paths only:\n{out}");
    assert!(out.contains("A app/f000.php\n"), "{out}");
    assert!(!out.contains("app/f149.php"), "{out}");
    assert!(
        out.contains("… and 131 more path(s) (--verbose lists every one)"),
        "150 files and the folder app/:\n{out}"
    );
    assert!(out.contains("150 upload(s)"), "{out}");
    assert!(out.contains("done"), "{out}");
    let deployed = tree_of(&root);
    let files = deployed.keys().filter(|k| k.starts_with(b"app/f")).count();
    assert_eq!(files, 150, "every file is deployed, summary or not");

    // --verbose lists every path.
    for i in 0..150 {
        put(&project, &format!("app/f{i:03}.php"), b"<?php // 2\n");
    }
    let out = ok(&devsky(
        &["deploy", "push", "stage", "--yes", "--verbose"],
        &project,
    ));
    let paths: Vec<&str> = out.lines().filter(|l| l.starts_with("M ")).collect();
    assert_eq!(paths.len(), 150, "{out}");
    assert!(!out.contains("more path(s)"), "{out}");
}
