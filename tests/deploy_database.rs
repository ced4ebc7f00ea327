//! `GET /api/v1/database` with the real binary: `devsky serve --db URL` on a SQLite file and
//! on a private MariaDB server (tests/support/mariadb.rs) reports exact tables and row
//! counts, sizes and a schema checksum that follows `ALTER TABLE` but not inserts; an
//! unreachable database is a 200 naming it; the MySQL password comes from
//! `DEVSKY_DB_PASSWORD` and is never shown or logged; `devsky deploy status` prints it all.
//! Also: every route of `devsky::server::ROUTES` is documented in docs/API.md and every
//! documented route exists.

mod support;
use support::deploy::{devsky, ok, put, text};
use support::mariadb::MariaDb;

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// An agent with a fresh key, stopped when dropped.
struct Agent {
    agent: support::agent::Agent,
    url: String,
    key: String,
}

impl Agent {
    /// `devsky serve --root DIR/root --state DIR/state [--db URL]` with a fresh key.
    fn start(dir: &Path, db: Option<&str>, env: &[(&str, &str)]) -> Agent {
        let (root, state) = (dir.join("root"), dir.join("state"));
        put(&root, "index.php", b"<?php\n");
        let key = support::agent::create_key(&root, &state);
        let args: Vec<&str> = db.map(|d| vec!["--db", d]).unwrap_or_default();
        let agent = support::agent::start_agent(&root, &state, dir.join("agent.log"), &args, env);
        Agent {
            url: agent.url.clone(),
            agent,
            key,
        }
    }

    fn log(&self) -> String {
        self.agent.log_text()
    }

    /// `GET /api/v1/database` with the key: status and body.
    fn database(&self) -> (u16, Value) {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/database", self.url))
            .bearer_auth(&self.key)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }
}

fn tables(v: &Value) -> Vec<(String, u64)> {
    v["tables"]
        .as_array()
        .unwrap_or_else(|| panic!("no tables in {v}"))
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn sqlite(path: &Path, sql: &str) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

#[test]
fn sqlite_tables_rows_and_schema_checksum() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("app.db");
    sqlite(
        &db,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
         CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),
                             body TEXT);
         INSERT INTO users (email) VALUES ('a@x'), ('b@x');
         INSERT INTO posts (user_id, body) VALUES (1, 'one'), (1, 'two'), (2, 'three');",
    );
    let url = format!("sqlite:{}", db.display());
    let agent = Agent::start(d.path(), Some(&url), &[]);

    let r = reqwest::blocking::get(format!("{}/api/v1/database", agent.url)).unwrap();
    assert_eq!(r.status(), 401);

    let (status, v) = agent.database();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["configured"], true, "{v}");
    assert_eq!(v["kind"], "sqlite", "{v}");
    assert_eq!(v["url"], format!("sqlite://{}", db.display()), "{v}");
    assert_eq!(v["connected"], true, "{v}");
    assert_eq!(v["error"], Value::Null, "{v}");
    assert!(
        v["server_version"].as_str().unwrap().starts_with("3."),
        "{v}"
    );
    assert_eq!(
        tables(&v),
        [("posts".to_string(), 3), ("users".to_string(), 2)]
    );
    assert_eq!(v["total_rows"], 5, "{v}");
    let bytes: Vec<u64> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["bytes"].as_u64().unwrap())
        .collect();
    // users has its UNIQUE index besides its table: two pages at least.
    assert!(bytes[0] >= 4096 && bytes[1] >= 2 * 4096, "{v}");
    assert_eq!(v["total_bytes"], bytes.iter().sum::<u64>(), "{v}");
    let checksum = v["schema_checksum"].as_str().unwrap().to_string();
    assert_eq!(checksum.len(), 64);
    assert!(checksum.bytes().all(|b| b.is_ascii_hexdigit()));

    // Rows change the counts, not the checksum.
    sqlite(
        &db,
        "INSERT INTO users (email) VALUES ('c@x'); DELETE FROM posts WHERE id = 1;",
    );
    let (_, v) = agent.database();
    assert_eq!(
        tables(&v),
        [("posts".to_string(), 2), ("users".to_string(), 3)]
    );
    assert_eq!(v["schema_checksum"], checksum.as_str());
    // A schema change changes it.
    sqlite(&db, "ALTER TABLE posts ADD COLUMN title TEXT");
    let (_, v) = agent.database();
    assert_ne!(v["schema_checksum"], checksum.as_str(), "{v}");
    assert_eq!(v["total_rows"], 5, "{v}");

    // The client: deploy status prints the database; --json carries it.
    let project = d.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    ok(&devsky(&["init"], &project));
    ok(&devsky(
        &[
            "server", "add", "stage", "--url", &agent.url, "--key", &agent.key, "--env", "staging",
        ],
        &project,
    ));
    let out = ok(&devsky(&["deploy", "status", "stage"], &project));
    assert!(
        out.contains(&format!("db:      sqlite://{}", db.display())),
        "{out}"
    );
    assert!(out.contains("connected (sqlite 3."), "{out}");
    assert!(out.contains("2 table(s), 5 row(s)"), "{out}");
    let posts = out.lines().find(|l| l.trim_start().starts_with("posts"));
    assert!(
        posts.is_some_and(|l| l.split_whitespace().nth(1) == Some("2")),
        "{out}"
    );
    let json: Value = serde_json::from_str(&ok(&devsky(
        &["deploy", "status", "stage", "--json"],
        &project,
    )))
    .unwrap();
    assert_eq!(json["lock"]["locked"], false, "{json}");
    assert_eq!(json["database"]["connected"], true, "{json}");
    assert_eq!(json["database"]["tables"][1]["rows"], 3, "{json}");
}

#[test]
fn no_db_and_unreachable_databases() {
    // Without --db.
    let d = tempfile::tempdir().unwrap();
    let agent = Agent::start(d.path(), None, &[]);
    let (status, v) = agent.database();
    assert_eq!((status, v), (200, serde_json::json!({"configured": false})));
    drop(agent);

    // A SQLite file that is not there: the agent answers, naming it.
    let d = tempfile::tempdir().unwrap();
    let agent = Agent::start(d.path(), Some("sqlite:/nonexistent/dir/x.db"), &[]);
    let (status, v) = agent.database();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["configured"], true, "{v}");
    assert_eq!(v["connected"], false, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/dir/x.db"),
        "{v}"
    );
    assert_eq!(v["tables"], serde_json::json!([]), "{v}");
    assert_eq!(v["schema_checksum"], Value::Null, "{v}");
    drop(agent);

    // A MySQL server that is not there, with a password in the environment: named in the
    // error, the password nowhere.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("mysql://app@127.0.0.1:{port}/shop");
    let secret = "pw-Secr3t-not-shown";
    let d = tempfile::tempdir().unwrap();
    let agent = Agent::start(d.path(), Some(&url), &[("DEVSKY_DB_PASSWORD", secret)]);
    let (status, v) = agent.database();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["kind"], "mysql", "{v}");
    assert_eq!(v["url"], url.as_str(), "{v}");
    assert_eq!(v["connected"], false, "{v}");
    assert!(v["error"].as_str().unwrap().contains(&url), "{v}");
    assert!(!v.to_string().contains(secret), "{v}");
    assert!(!agent.log().contains(secret));

    // A password on the command line is refused, without showing it.
    let o = devsky(
        &[
            "serve",
            "--root",
            d.path().to_str().unwrap(),
            "--db",
            "mysql://app:pw-on-cli@127.0.0.1/shop",
        ],
        d.path(),
    );
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("DEVSKY_DB_PASSWORD") && !err.contains("pw-on-cli"),
        "{err}"
    );
}

#[test]
fn mariadb_tables_rows_and_password_from_the_environment() {
    let m = MariaDb::start();
    m.sql(
        "CREATE DATABASE shop;
         CREATE TABLE shop.customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40),
                                      KEY by_name (name)) ENGINE=InnoDB;
         CREATE TABLE shop.orders (id INT PRIMARY KEY, customer INT NOT NULL) ENGINE=InnoDB;
         CREATE TABLE shop.empty (id INT PRIMARY KEY) ENGINE=InnoDB;
         INSERT INTO shop.customers (name) VALUES ('ann'), ('bob'), ('cy');
         INSERT INTO shop.orders VALUES (1, 1), (2, 1), (3, 2), (4, 3), (5, 3);
         CREATE USER 'app'@'localhost' IDENTIFIED BY 'pw-Maria-s3cret';
         GRANT SELECT ON shop.* TO 'app'@'localhost';",
    );

    // root (no password), through the socket.
    let d = tempfile::tempdir().unwrap();
    let agent = Agent::start(d.path(), Some(&m.url("shop")), &[]);
    let (status, v) = agent.database();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["kind"], "mysql", "{v}");
    assert_eq!(v["connected"], true, "{v}");
    assert!(
        v["server_version"].as_str().unwrap().contains("MariaDB"),
        "{v}"
    );
    assert_eq!(
        tables(&v),
        [
            ("customers".to_string(), 3),
            ("empty".to_string(), 0),
            ("orders".to_string(), 5)
        ]
    );
    assert_eq!(v["total_rows"], 8, "{v}");
    for t in v["tables"].as_array().unwrap() {
        assert!(t["bytes"].as_u64().unwrap() > 0, "{v}");
    }
    let checksum = v["schema_checksum"].as_str().unwrap().to_string();
    m.sql("INSERT INTO shop.empty VALUES (1)");
    let (_, v) = agent.database();
    assert_eq!(v["schema_checksum"], checksum.as_str());
    assert_eq!(v["tables"][1]["rows"], 1, "{v}");
    m.sql("ALTER TABLE shop.orders ADD COLUMN note TEXT");
    let (_, v) = agent.database();
    assert_ne!(v["schema_checksum"], checksum.as_str(), "{v}");
    drop(agent);

    // A user with a password: from DEVSKY_DB_PASSWORD; a wrong one is reported, never shown.
    let url = m.url("shop").replace("root@", "app@");
    let d = tempfile::tempdir().unwrap();
    let agent = Agent::start(
        d.path(),
        Some(&url),
        &[("DEVSKY_DB_PASSWORD", "pw-Maria-s3cret")],
    );
    let (_, v) = agent.database();
    assert_eq!(v["connected"], true, "{v}");
    assert_eq!(tables(&v).len(), 3, "{v}");
    assert!(!v.to_string().contains("pw-Maria-s3cret"));
    assert!(!agent.log().contains("pw-Maria-s3cret"));
    drop(agent);

    let d = tempfile::tempdir().unwrap();
    let agent = Agent::start(
        d.path(),
        Some(&url),
        &[("DEVSKY_DB_PASSWORD", "pw-Wrong-one")],
    );
    let (status, v) = agent.database();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["connected"], false, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("app@localhost") && e.contains("DEVSKY_DB_PASSWORD"),
        "{v}"
    );
    assert!(!v.to_string().contains("pw-Wrong-one"));
    assert!(!agent.log().contains("pw-Wrong-one"));
}

#[test]
fn stdio_agent_reports_its_database() {
    use std::io::{Read, Write};
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("app.db");
    sqlite(
        &db,
        "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);",
    );
    put(&d.path().join("root"), "index.php", b"<?php\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["agent", "--stdio", "--root"])
        .arg(d.path().join("root"))
        .arg("--state")
        .arg(d.path().join("state"))
        .arg("--db")
        .arg(format!("sqlite:{}", db.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"GET /api/v1/database HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    drop(stdin);
    child.wait().unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let body = &out[out.find("\r\n\r\n").unwrap() + 4..];
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["connected"], true, "{v}");
    assert_eq!(tables(&v), [("t".to_string(), 2)]);
}

/// The `METHOD PATH` of every `### \`METHOD /api/v1/...\`` heading of docs/API.md.
fn documented_routes() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md")).unwrap();
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
    let mut known: Vec<(String, String)> = devsky::server::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    known.push(("GET".into(), devsky::server::HEALTH.into()));
    known.push(("POST".into(), devsky::server::hooks::HOOKS.into()));
    for r in &known {
        assert!(
            documented.contains(r),
            "{} {} is not documented in docs/API.md (a `### `{} {}`` section)",
            r.0,
            r.1,
            r.0,
            r.1
        );
    }
    for r in &documented {
        assert!(
            known.contains(r),
            "docs/API.md documents {} {}, which the agent does not serve",
            r.0,
            r.1
        );
    }
}
