//! The registry's client end to end, on SQLite and on PostgreSQL: `devsky registry login`
//! keeps the token in `.devsky/secrets/` (0600) and never prints it; `devsky update` syncs
//! the index incrementally — after N packages, 10 new ones transfer only those 10 (bytes
//! reported), and nothing new transfers nothing (304); `--sync` fetches the archives,
//! verified, into the local cache.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::cli::{devsky, json, ok};
use support::registry::{Backend, Registry, archive, b3};

#[test]
fn sync_on_sqlite() {
    sync(Backend::Sqlite)
}

#[test]
fn sync_on_postgres() {
    sync(Backend::Postgres)
}

/// A project logged in to `reg` with `token`.
fn project(reg: &Registry, token: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(&["init"], dir.path());
    let out = devsky(
        &["registry", "login", &reg.url, "--token", token],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = [out.stdout, out.stderr].concat();
    let secret = &token.as_bytes()[4..];
    assert!(
        !all.windows(secret.len()).any(|w| w == secret),
        "login printed the token"
    );
    dir
}

fn sync(backend: Backend) {
    const N: usize = 200;
    let reg = Registry::start(backend);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    let a = project(&reg, &bob);
    let key = a.path().join(".devsky/secrets/.registry.key");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), bob);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let mut sums = vec![];
    for i in 0..N {
        let bytes = archive(&format!("p{i}"), 200);
        reg.publish(&alice, &format!("pkg{i:04}"), "1.0.0", &bytes);
        sums.push(b3(&bytes));
    }
    let first = json(&["update", "--json"], a.path());
    assert_eq!(first["changed"], N, "{first}");
    assert_eq!(first["packages"].as_array().unwrap().len(), N);
    assert_eq!(first["known"], N);
    let first_bytes = first["index_bytes"].as_u64().unwrap();
    assert!(first_bytes > 0);

    for i in N..N + 10 {
        reg.publish(
            &alice,
            &format!("pkg{i:04}"),
            "1.0.0",
            &archive(&format!("p{i}"), 200),
        );
    }
    let second = json(&["update", "--json"], a.path());
    assert_eq!(second["changed"], 10, "{second}");
    assert_eq!(second["from"], first["cursor"]);
    // Only what changed is listed (listing all 10,010 cost more than the sync).
    let listed: Vec<&str> = second["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let new: Vec<String> = (N..N + 10).map(|i| format!("pkg{i:04}")).collect();
    assert_eq!(listed, new, "{second}");
    assert_eq!(second["known"], N + 10);
    let second_bytes = second["index_bytes"].as_u64().unwrap();
    // 10 entries of 210: about a twentieth of the first answer.
    assert!(
        second_bytes * 10 < first_bytes,
        "the second sync transferred {second_bytes} bytes, the first {first_bytes}"
    );
    // Nothing new: 304, nothing transferred.
    let third = json(&["update", "--json"], a.path());
    assert_eq!(
        (third["changed"].as_u64(), third["index_bytes"].as_u64()),
        (Some(0), Some(0)),
        "{third}"
    );
    assert_eq!(third["packages"].as_array().unwrap().len(), 0, "{third}");
    let text = ok(&["update"], a.path());
    assert!(
        !text.contains("pkg0000"),
        "nothing changed, nothing listed: {text}"
    );
    assert!(text.contains("0 new or changed"), "{text}");
    // --all lists every package of the local index.
    let all = json(&["update", "--all", "--json"], a.path());
    assert_eq!(all["packages"].as_array().unwrap().len(), N + 10);
    let text = ok(&["update", "--all"], a.path());
    assert!(text.contains("pkg0000") && text.contains("1.0.0"), "{text}");

    // A yank reaches the local index as a change of one entry.
    assert_eq!(
        reg.call("POST", "/api/v1/packages/pkg0003/1.0.0/yank", &alice, None)
            .0,
        200
    );
    let text = ok(&["update"], a.path());
    assert!(text.contains("1 new or changed"), "{text}");
    assert!(text.contains("1.0.0 (yanked)"), "{text}");

    // --sync on a second project fetches the archives, each checked.
    let b = project(&reg, &alice);
    let synced = json(&["update", "--sync", "--json"], b.path());
    assert_eq!(synced["changed"], N + 10);
    // The yanked one is not fetched.
    assert_eq!(synced["archives"], N + 9, "{synced}");
    let cache = b.path().join(".devsky/registry/cache");
    for (i, sum) in sums.iter().enumerate() {
        let p = cache.join(sum);
        if i == 3 {
            assert!(!p.exists());
            continue;
        }
        assert_eq!(b3(&std::fs::read(&p).unwrap()), *sum);
    }
    let again = json(&["update", "--sync", "--json"], b.path());
    assert_eq!(
        (again["archives"].as_u64(), again["archive_bytes"].as_u64()),
        (Some(0), Some(0))
    );

    // A revoked token: a clear error that does not show it.
    reg.admin(&["user", "revoke", "bob"]);
    let out = devsky(&["update"], a.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("login"), "{err}");
    assert!(!err.contains(&bob[4..]), "{err}");
    // A URL with a path or credentials is refused at login.
    for bad in ["http://u:p@127.0.0.1:1", "ftp://x", "http://h/path"] {
        let out = devsky(&["registry", "login", bad, "--token", "t"], a.path());
        assert!(!out.status.success(), "{bad}");
    }
}

#[test]
fn claims_from_the_cli_on_sqlite() {
    claims_cli(Backend::Sqlite)
}

#[test]
fn claims_from_the_cli_on_postgres() {
    claims_cli(Backend::Postgres)
}

/// Two projects, A (alice, owner of shop) and B (bob), claim records through `devsky
/// claim` and see each other's claims.
fn claims_cli(backend: Backend) {
    let reg = Registry::start(backend);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    reg.publish(&alice, "shop", "1.0.0", &archive("s", 10));
    let a = project(&reg, &alice);
    let b = project(&reg, &bob);

    let v = json(
        &[
            "claim",
            "add",
            "f:app/cart.php",
            "f:app/view.php",
            "--package",
            "shop",
            "--json",
        ],
        a.path(),
    );
    assert_eq!(v[0]["outcome"], "taken", "{v}");
    assert_eq!(v[1]["claim"]["record"], "f:app/view.php");
    // B cannot take A's record: exit 1, the holder named.
    let out = devsky(
        &[
            "claim",
            "add",
            "f:app/cart.php",
            "f:lib/db.php",
            "--package",
            "shop",
        ],
        b.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CLAIMED") && text.contains("alice"), "{text}");
    assert!(
        text.contains("taken") && text.contains("f:lib/db.php"),
        "{text}"
    );

    // Each sees the other's.
    let v = json(
        &[
            "claim",
            "verify",
            "f:app/cart.php",
            "f:lib/db.php",
            "--json",
        ],
        b.path(),
    );
    assert_eq!(
        (
            v["ours"][0]["record"].as_str(),
            v["theirs"][0]["record"].as_str()
        ),
        (Some("f:lib/db.php"), Some("f:app/cart.php")),
        "{v}"
    );
    let list = ok(&["claim", "list"], a.path());
    assert!(
        list.contains("f:lib/db.php") && list.contains("bob"),
        "{list}"
    );
    assert_eq!(
        json(&["claim", "list", "--json"], a.path())
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Release: B may not release A's (a record with '/' in it travels as one segment),
    // nor force it; A, owner of shop, may force B's.
    let out = devsky(&["claim", "release", "f:app/cart.php", "--force"], b.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
    ok(&["claim", "release", "f:lib/db.php", "--force"], a.path());
    ok(&["claim", "release", "f:app/cart.php"], a.path());
    let v = json(&["claim", "list", "--json"], b.path());
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["record"], "f:app/view.php");

    // A publishes an "in work" version from the CLI: its claims on shop are renewed, and B
    // sees the version after an update. The same version again is refused.
    let file = a.path().join("shop-1.1.0.sky");
    let bytes = archive("shop-1.1.0", 5000);
    std::fs::write(&file, &bytes).unwrap();
    let args = [
        "registry",
        "publish",
        file.to_str().unwrap(),
        "--name",
        "shop",
        "--version",
        "1.1.0",
        "--depends",
        "core@^2",
        "--in-work",
        "--json",
    ];
    let v = json(&args, a.path());
    assert_eq!(
        (v["checksum"].as_str(), v["size"].as_u64()),
        (Some(b3(&bytes).as_str()), Some(5000)),
        "{v}"
    );
    assert_eq!(v["claims_renewed"], 1, "{v}");
    assert!(v["sky_id"].as_i64().unwrap() > 0);
    let text = ok(&["update"], b.path());
    assert!(text.contains("1.0.0, 1.1.0"), "{text}");
    let out = devsky(&args, a.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("409"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = devsky(
        &[
            "registry",
            "publish",
            file.to_str().unwrap(),
            "--name",
            "shop",
            "--version",
            "1.2.0",
            "--depends",
            "core",
        ],
        a.path(),
    );
    assert!(
        !out.status.success(),
        "a dependency without a requirement is refused"
    );
}

#[test]
fn yank_owners_releases_from_the_cli_on_sqlite() {
    yank_owners_releases_cli(Backend::Sqlite)
}

#[test]
fn yank_owners_releases_from_the_cli_on_postgres() {
    yank_owners_releases_cli(Backend::Postgres)
}

fn yank_owners_releases_cli(backend: Backend) {
    let reg = Registry::start(backend);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    let bytes = archive("s1", 10);
    reg.publish(&alice, "shop", "1.0.0", &bytes);
    reg.publish(&alice, "shop", "1.1.0", &archive("s2", 10));
    let a = project(&reg, &alice);
    let b = project(&reg, &bob);

    // Bob may not yank alice's package until she adds him.
    let out = devsky(&["registry", "yank", "shop", "1.0.0"], b.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
    let v = json(&["registry", "owners", "shop", "--add", "bob"], a.path());
    assert_eq!(v["owners"], serde_json::json!(["alice", "bob"]), "{v}");
    assert_eq!(
        json(&["registry", "yank", "shop", "1.0.0"], b.path())["yanked"],
        true
    );
    assert!(ok(&["update"], a.path()).contains("1.0.0 (yanked)"));
    assert_eq!(
        json(&["registry", "yank", "shop", "1.0.0", "--undo"], b.path())["yanked"],
        false
    );

    let v = json(&["registry", "release", "spring", "shop@1.0.0"], a.path());
    assert_eq!(v["packages"][0]["checksum"], b3(&bytes), "{v}");
    let out = devsky(&["registry", "release", "spring", "shop@1.1.0"], b.path());
    assert!(!out.status.success(), "releases never change");
    assert!(String::from_utf8_lossy(&out.stderr).contains("409"));
    let v = json(&["registry", "release", "spring"], b.path());
    assert_eq!(v["packages"][0]["version"], "1.0.0");
    assert_eq!(
        json(&["registry", "release"], b.path())["releases"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        !devsky(&["registry", "release", "autumn", "shop"], b.path())
            .status
            .success()
    );
}
