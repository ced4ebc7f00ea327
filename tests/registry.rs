//! The team registry end to end: a real `devsky registry serve` process on loopback, once
//! on SQLite and once on a private PostgreSQL (initdb + pg_ctl, started by the tests).
//! Tokens (401 without one, with a wrong or revoked one), uploads (wrong checksum, cut
//! body, a name owned by someone else, an existing version: a 4xx and nothing stored), 50
//! concurrent reservations of one version (exactly one wins), claims (expiry on an
//! injected clock, forced release only by the package's owner, verify ours/theirs),
//! yank and the index, owners, releases. And docs/REGISTRY.md lists exactly the routes the
//! router serves.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::json;
use support::registry::{Backend, Registry, answer, archive, b3};

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(super::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name(super::Backend::Postgres)
            }
        }
    };
}

both!(tokens);
both!(uploads);
both!(concurrent_reserves);
both!(claims);
both!(claim_hours);
both!(index_yank_owners_releases);

/// Every route of the router with its path's placeholders filled in.
fn concrete_routes() -> Vec<(String, String)> {
    devsky::registry::ROUTES
        .iter()
        .map(|(m, p)| {
            let p = p
                .replace("{name}", "shop")
                .replace("{version}", "1.0.0")
                .replace("{record}", "f%3Aa.php");
            (m.to_string(), p)
        })
        .collect()
}

fn tokens(backend: Backend) {
    let reg = Registry::start(backend);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    assert!(alice.starts_with("dsr_") && alice != bob, "{alice} {bob}");
    let (s, v) = answer(reg.req("GET", "/api/v1/health", None).send().unwrap());
    assert_eq!((s, v["ok"].clone()), (200, json!(true)));
    let (s, v) = reg.call("GET", "/api/v1/me", &alice, None);
    assert_eq!((s, v["login"].as_str()), (200, Some("alice")));

    reg.admin(&["user", "revoke", "bob"]);
    for (method, path) in concrete_routes() {
        let wrong = format!("{alice}x");
        for token in [
            None,
            Some("dsr_wrong"),
            Some(wrong.as_str()),
            Some(bob.as_str()),
        ] {
            let r = reg
                .req(&method, &path, token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 401, "{method} {path} with {token:?}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
        }
    }
    // Not Bearer, or an empty one.
    for h in ["Basic YWxpY2U6eA==", "Bearer ", "Bearer"] {
        let r = reg
            .req("GET", "/api/v1/me", None)
            .header("authorization", h)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{h}");
    }
    // A new token for bob works; the revoked one still does not.
    let bob2 = reg.admin(&["user", "token", "bob"]).trim().to_string();
    assert_eq!(reg.call("GET", "/api/v1/me", &bob2, None).0, 200);
    assert_eq!(reg.call("GET", "/api/v1/me", &bob, None).0, 401);
    // The token is stored hashed: its text is nowhere in the data folder.
    if backend == Backend::Sqlite {
        let db = std::fs::read(reg.data_dir().join("registry.db")).unwrap();
        let wal = std::fs::read(reg.data_dir().join("registry.db-wal")).unwrap_or_default();
        for t in [&alice, &bob2] {
            let secret = &t.as_bytes()[4..];
            assert!(!db.windows(secret.len()).any(|w| w == secret));
            assert!(!wal.windows(secret.len()).any(|w| w == secret));
        }
    }
}

fn uploads(backend: Backend) {
    let reg = Registry::start(backend);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    let bytes = archive("shop-1.0.0", 300_000);
    let sum = b3(&bytes);
    let (s, v) = reg.reserve(&alice, "shop", "1.0.0");
    assert_eq!(s, 201, "{v}");

    // A wrong checksum: 400, nothing stored.
    let (s, v) = reg.upload(&alice, "shop", "1.0.0", &bytes, &b3(b"something else"));
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("checksum_mismatch")),
        "{v}"
    );
    assert!(reg.blobs().is_empty(), "{:?}", reg.blobs());
    // A checksum that is not one.
    let (s, _) = reg.upload(&alice, "shop", "1.0.0", &bytes, "../../etc/passwd");
    assert_eq!(s, 400);
    // A body cut short of its Content-Length: the connection closes its sending side.
    let addr = reg.url.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "PUT /api/v1/packages/shop/1.0.0?checksum={sum} HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {alice}\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    )
    .unwrap();
    tcp.write_all(&bytes[..bytes.len() / 2]).unwrap();
    tcp.shutdown(std::net::Shutdown::Write).unwrap();
    let mut raw = String::new();
    let _ = tcp.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(raw.contains("truncated"), "{raw}");
    // ?size= says more than arrives.
    let r = reg
        .req(
            "PUT",
            &format!(
                "/api/v1/packages/shop/1.0.0?checksum={sum}&size={}",
                bytes.len() + 5
            ),
            Some(&alice),
        )
        .body(bytes.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(reg.blobs().is_empty(), "{:?}", reg.blobs());
    // Someone else's reservation.
    let (s, _) = reg.upload(&bob, "shop", "1.0.0", &bytes, &sum);
    assert_eq!(s, 403);
    // Refusals that come before the body is read still answer a client that is sending
    // 8 MiB (the server reads and drops the body, instead of closing on it).
    let big = vec![7u8; 8 << 20];
    for _ in 0..3 {
        let (s, _) = reg.upload(&bob, "shop", "1.0.0", &big, &b3(&big));
        assert_eq!(s, 403);
        let r = reg
            .req(
                "PUT",
                &format!("/api/v1/packages/shop/1.0.0?checksum={sum}"),
                Some("nope"),
            )
            .body(big.clone())
            .send()
            .expect("a 401 answer, not a broken connection");
        assert_eq!(r.status().as_u16(), 401);
    }
    // Not reserved.
    let (s, _) = reg.upload(&alice, "shop", "9.9.9", &bytes, &sum);
    assert_eq!(s, 404);
    assert!(reg.blobs().is_empty());

    // The right bytes: stored once, under their blake3.
    let (s, v) = reg.upload(&alice, "shop", "1.0.0", &bytes, &sum);
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["size"], bytes.len());
    assert_eq!(reg.blobs(), vec![sum.clone()]);
    let got = reg
        .req("GET", "/api/v1/packages/shop/1.0.0", Some(&bob))
        .send()
        .unwrap();
    assert_eq!(got.headers()["x-checksum-blake3"], sum.as_str());
    assert_eq!(got.bytes().unwrap().as_ref(), bytes.as_slice());

    // An existing version: 409 (reserve and upload), nothing more stored.
    let other = archive("shop-1.0.0-again", 1000);
    let (s, v) = reg.reserve(&alice, "shop", "1.0.0");
    assert_eq!(
        (s, v["code"].as_str(), v["published"].as_bool()),
        (409, Some("version_taken"), Some(true))
    );
    let (s, v) = reg.upload(&alice, "shop", "1.0.0", &other, &b3(&other));
    assert_eq!((s, v["code"].as_str()), (409, Some("immutable")), "{v}");
    // A name owned by someone else.
    let (s, v) = reg.reserve(&bob, "shop", "2.0.0");
    assert_eq!(s, 403, "{v}");
    assert_eq!(reg.blobs(), vec![sum.clone()]);
    // Bad names and versions never reach the disk.
    for (n, ver) in [
        ("../x", "1.0.0"),
        ("Shop", "1.0.0"),
        ("shop", "v1"),
        ("a..b", "1.0.0"),
    ] {
        let (s, _) = reg.reserve(&alice, n, ver);
        assert!(s == 400 || s == 404, "{n} {ver}: {s}");
    }
    // Update packages are open to anyone.
    let u = archive("u", 10);
    reg.publish(&bob, "u_bob.shop", "1.0.0", &u);
    reg.publish(&alice, "u_bob.shop", "1.0.1", &u);
    assert_eq!(reg.blobs().len(), 2);
    // JSON bodies are bounded (an upload streams to disk instead).
    let huge = format!("{{\"records\": [\"{}\"]}}", "x".repeat(3 << 20));
    // (On a connection of its own: the server closes it after refusing the body.)
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/claims/verify", reg.url))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
}

fn concurrent_reserves(backend: Backend) {
    let reg = Registry::start(backend);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    for (name, tokens) in [("u_team.app", [&alice, &bob]), ("fresh", [&alice, &alice])] {
        let results: Vec<(u16, serde_json::Value)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..50)
                .map(|i| {
                    let (reg, t) = (&reg, tokens[i % 2]);
                    s.spawn(move || reg.reserve(t, name, "1.0.0"))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<_> = results.iter().filter(|r| r.0 == 201).collect();
        assert_eq!(won.len(), 1, "{name}: {results:?}");
        assert!(
            results.iter().all(|r| r.0 == 201 || r.0 == 409),
            "{name}: {results:?}"
        );
        let id = won[0].1["sky_id"].as_i64().unwrap();
        assert!(
            results
                .iter()
                .filter(|r| r.0 == 409)
                .all(|r| r.1["sky_id"] == id)
        );
    }
}

fn claims(backend: Backend) {
    const DAY: i64 = 24 * 3600 * 1000;
    let reg = Registry::start(backend);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    let root = reg.user("admin", true);
    reg.publish(&alice, "shop", "1.0.0", &archive("s", 100));
    let claim = |t: &str, record: &str| {
        reg.call(
            "POST",
            "/api/v1/claims",
            t,
            Some(json!({"record": record, "package": "shop"})),
        )
    };
    let (s, v) = claim(&alice, "f:cart.php");
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["claim"]["owner"], "alice");
    let (s, v) = claim(&bob, "f:cart.php");
    assert_eq!((s, v["code"].as_str()), (409, Some("claimed")), "{v}");
    assert_eq!(v["claim"]["owner"], "alice");
    assert_eq!(claim(&alice, "f:cart.php").0, 200, "ours again: renewed");
    assert_eq!(claim(&bob, "f:view.php").0, 201);

    let records = json!({"records": ["f:cart.php", "f:view.php", "f:free.php"]});
    let (_, v) = reg.call(
        "POST",
        "/api/v1/claims/verify",
        &alice,
        Some(records.clone()),
    );
    assert_eq!(v["ours"][0]["record"], "f:cart.php");
    assert_eq!(v["theirs"][0]["record"], "f:view.php");
    assert_eq!(
        (
            v["ours"].as_array().unwrap().len(),
            v["theirs"].as_array().unwrap().len()
        ),
        (1, 1)
    );
    let (_, v) = reg.call("POST", "/api/v1/claims/verify", &bob, Some(records));
    assert_eq!(
        (
            v["ours"][0]["record"].as_str(),
            v["theirs"][0]["record"].as_str()
        ),
        (Some("f:view.php"), Some("f:cart.php"))
    );
    let (_, v) = reg.call("GET", "/api/v1/claims?owner=bob", &alice, None);
    assert_eq!(v["claims"].as_array().unwrap().len(), 1);

    // Release: not bob's to release, nor to force (he does not own shop).
    let cart = "/api/v1/claims/f%3Acart.php";
    assert_eq!(reg.call("DELETE", cart, &bob, None).0, 403);
    assert_eq!(
        reg.call("DELETE", &format!("{cart}?force=true"), &bob, None)
            .0,
        403
    );
    // Alice owns shop: she may force bob's claim away, and release her own.
    let (s, v) = reg.call(
        "DELETE",
        "/api/v1/claims/f%3Aview.php?force=true",
        &alice,
        None,
    );
    assert_eq!((s, v["forced"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(reg.call("DELETE", cart, &alice, None).0, 200);
    assert_eq!(reg.call("DELETE", cart, &alice, None).0, 404);
    // Root may force any claim.
    assert_eq!(claim(&bob, "f:x.php").0, 201);
    assert_eq!(
        reg.call("DELETE", "/api/v1/claims/f%3Ax.php?force=true", &root, None)
            .0,
        200
    );

    // Expiry: 3 days. Just before, still bob's; after, anyone's.
    assert_eq!(claim(&bob, "f:old.php").0, 201);
    reg.set_clock(3 * DAY - 60_000);
    assert_eq!(claim(&alice, "f:old.php").0, 409);
    reg.set_clock(3 * DAY + 60_000);
    let (_, v) = reg.call("GET", "/api/v1/claims", &alice, None);
    assert!(v["claims"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(
        claim(&alice, "f:old.php").0,
        201,
        "an expired claim is free"
    );

    // Uploading an "in work" version renews the author's claims on its package.
    reg.set_clock(0);
    let t0 = devsky_now();
    assert_eq!(claim(&alice, "f:work.php").0, 201);
    reg.set_clock(2 * DAY);
    let (s, v) = reg.call(
        "POST",
        "/api/v1/reserve",
        &alice,
        Some(json!({"name": "shop", "version": "1.1.0-work", "in_work": true})),
    );
    assert_eq!(s, 201, "{v}");
    let b = archive("work", 50);
    let (s, v) = reg.upload(&alice, "shop", "1.1.0-work", &b, &b3(&b));
    assert_eq!(s, 201, "{v}");
    assert!(v["claims_renewed"].as_i64().unwrap() >= 1, "{v}");
    reg.set_clock(4 * DAY);
    let (_, v) = reg.call("GET", "/api/v1/claims?package=shop", &bob, None);
    let work = v["claims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["record"] == "f:work.php")
        .cloned();
    let work = work.unwrap_or_else(|| panic!("renewed claim expired: {v}"));
    assert!(
        work["expires"].as_i64().unwrap() >= t0 + 5 * DAY - 60_000,
        "{work}"
    );
}

/// `--claim-hours` sets how long a claim lasts. And two processes migrating one fresh
/// database at once both succeed.
fn claim_hours(backend: Backend) {
    let reg = Registry::start_with(backend, &["--claim-hours", "1"]);
    let fresh = tempfile::tempdir().unwrap();
    let mut target: Vec<String> = vec!["--data".into(), fresh.path().display().to_string()];
    if let Some(pg) = &reg.pg {
        target.extend(["--database".into(), pg.create_db("fresh")]);
    }
    let outs: Vec<std::process::Output> = std::thread::scope(|s| {
        let h: Vec<_> = ["carol", "dave"]
            .map(|l| {
                let target = &target;
                s.spawn(move || {
                    std::process::Command::new(env!("CARGO_BIN_EXE_devsky"))
                        .args(["registry", "user", "add", l])
                        .args(target)
                        .output()
                        .unwrap()
                })
            })
            .into_iter()
            .collect();
        h.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let users = [reg.user("alice", false), reg.user("bob", false)];
    let (alice, bob) = (&users[0], &users[1]);
    let body = json!({"record": "f:a.php"});
    let (s, v) = reg.call("POST", "/api/v1/claims", alice, Some(body.clone()));
    assert_eq!(s, 201, "{v}");
    let left = v["claim"]["expires"].as_i64().unwrap() - v["claim"]["created"].as_i64().unwrap();
    assert_eq!(left, 3600 * 1000);
    reg.set_clock(59 * 60 * 1000);
    assert_eq!(
        reg.call("POST", "/api/v1/claims", bob, Some(body.clone()))
            .0,
        409
    );
    reg.set_clock(61 * 60 * 1000);
    assert_eq!(reg.call("POST", "/api/v1/claims", bob, Some(body)).0, 201);
}

fn devsky_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn index_yank_owners_releases(backend: Backend) {
    let reg = Registry::start(backend);
    let alice = reg.user("alice", false);
    let bob = reg.user("bob", false);
    let a = archive("a", 100);
    let id1 = reg.publish(&alice, "shop", "1.0.0", &a);
    let id2 = reg.publish(&alice, "shop", "1.1.0", &archive("b", 100));
    assert!(id2 > id1);
    // Reserved but not uploaded: not in the index.
    assert_eq!(reg.reserve(&alice, "shop", "2.0.0").0, 201);
    let (s, v) = reg.call("GET", "/api/v1/index", &bob, None);
    assert_eq!(s, 200);
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{v}");
    assert_eq!(
        (
            entries[0]["version"].as_str(),
            entries[0]["sky_id"].as_i64()
        ),
        (Some("1.0.0"), Some(id1))
    );
    assert_eq!(entries[0]["checksum"], b3(&a));
    let cursor = v["cursor"].as_i64().unwrap();

    // Nothing new: 304 with the ETag of the last answer.
    let r = reg
        .req("GET", &format!("/api/v1/index?since={cursor}"), Some(&bob))
        .send()
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = reg
        .req("GET", &format!("/api/v1/index?since={cursor}"), Some(&bob))
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);

    // Yank: only an owner; the change comes through the index.
    assert_eq!(
        reg.call("POST", "/api/v1/packages/shop/1.0.0/yank", &bob, None)
            .0,
        403
    );
    assert_eq!(
        reg.call("POST", "/api/v1/packages/shop/1.0.0/yank", &alice, None)
            .0,
        200
    );
    let r = reg
        .req("GET", &format!("/api/v1/index?since={cursor}"), Some(&bob))
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    let (s, v) = answer(r);
    assert_eq!(s, 200);
    assert_eq!(v["entries"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        (
            v["entries"][0]["version"].as_str(),
            v["entries"][0]["yanked"].as_bool()
        ),
        (Some("1.0.0"), Some(true))
    );
    // Still downloadable.
    assert_eq!(
        reg.req("GET", "/api/v1/packages/shop/1.0.0", Some(&bob))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    // Owners: bob is added by alice and may then publish shop.
    assert_eq!(
        reg.call(
            "POST",
            "/api/v1/owners/shop",
            &bob,
            Some(json!({"login": "bob"}))
        )
        .0,
        403
    );
    let (s, v) = reg.call(
        "POST",
        "/api/v1/owners/shop",
        &alice,
        Some(json!({"login": "bob"})),
    );
    assert_eq!(
        (s, v["owners"].clone()),
        (200, json!(["alice", "bob"])),
        "{v}"
    );
    reg.publish(&bob, "shop", "1.2.0", &archive("c", 100));

    // Releases: exact versions and checksums, immutable.
    let (s, v) = reg.call(
        "POST",
        "/api/v1/releases",
        &alice,
        Some(json!({"name": "spring", "packages": [{"name": "shop", "version": "1.1.0"}]})),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["packages"][0]["checksum"], b3(&archive("b", 100)));
    let again = json!({"name": "spring", "packages": [{"name": "shop", "version": "1.2.0"}]});
    let (s, v) = reg.call("POST", "/api/v1/releases", &bob, Some(again));
    assert_eq!(
        (s, v["release"]["packages"][0]["version"].as_str()),
        (409, Some("1.1.0")),
        "{v}"
    );
    let bad_sum = json!({"name": "autumn", "packages": [{"name": "shop", "version": "1.2.0", "checksum": b3(b"x")}]});
    assert_eq!(
        reg.call("POST", "/api/v1/releases", &bob, Some(bad_sum)).0,
        409
    );
    let yanked = json!({"name": "autumn", "packages": [{"name": "shop", "version": "1.0.0"}]});
    assert_eq!(
        reg.call("POST", "/api/v1/releases", &bob, Some(yanked)).0,
        400
    );
    let (_, v) = reg.call("GET", "/api/v1/releases", &bob, None);
    assert_eq!(v["releases"].as_array().unwrap().len(), 1, "{v}");
    let (s, v) = reg.call("GET", "/api/v1/releases/spring", &bob, None);
    assert_eq!((s, v["created_by"].as_str()), (200, Some("alice")));

    // A restarted PostgreSQL: the registry connects again, nothing is lost.
    if let Some(pg) = &reg.pg {
        pg.restart();
        let (s, v) = reg.call("GET", "/api/v1/releases/spring", &bob, None);
        assert_eq!((s, v["created_by"].as_str()), (200, Some("alice")), "{v}");
    }
}

/// The `METHOD PATH` of every `### \`METHOD /api/v1/...\`` heading of docs/REGISTRY.md.
fn documented_routes() -> Vec<(String, String)> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/REGISTRY.md")).unwrap();
    doc.lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.split('`').next())
        .filter_map(|l| l.split_once(' '))
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let documented = documented_routes();
    let mut known: Vec<(String, String)> = devsky::registry::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    known.push(("GET".into(), devsky::registry::HEALTH.into()));
    for r in &known {
        assert!(
            documented.contains(r),
            "{} {} is not documented in docs/REGISTRY.md",
            r.0,
            r.1
        );
    }
    for r in &documented {
        assert!(
            known.contains(r),
            "docs/REGISTRY.md documents {} {}, which the registry does not serve",
            r.0,
            r.1
        );
    }
    assert_eq!(documented.len(), known.len(), "a route documented twice");
}
