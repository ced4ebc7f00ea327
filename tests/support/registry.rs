//! A `devsky registry serve` child for tests, on SQLite (its `--data` folder) or on a
//! private PostgreSQL ([`super::postgres`]), listening on a free loopback port; users made
//! with `devsky registry user add`; and plain HTTP helpers (reqwest, blake3 computed here)
//! that talk to it the way any client would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use super::postgres::Postgres;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running registry (and its PostgreSQL), stopped when dropped.
pub struct Registry {
    child: Child,
    pub url: String,
    pub data: tempfile::TempDir,
    /// The test clock: milliseconds added to the registry's clock (claims' expiry).
    pub clock: PathBuf,
    pub pg: Option<Postgres>,
    pub http: Client,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--database URL` for the PostgreSQL backend.
fn db_args(pg: &Option<Postgres>) -> Vec<String> {
    match pg {
        Some(p) => vec!["--database".into(), p.url.clone()],
        None => vec![],
    }
}

impl Registry {
    pub fn start(backend: Backend) -> Registry {
        Registry::start_with(backend, &[])
    }

    /// Started with more options of `devsky registry serve`.
    pub fn start_with(backend: Backend, extra: &[&str]) -> Registry {
        super::need_test_hooks();
        let pg = (backend == Backend::Postgres).then(Postgres::start);
        let data = tempfile::Builder::new()
            .prefix("devsky-registry-")
            .tempdir()
            .unwrap();
        let clock = data.path().join("clock");
        std::fs::write(&clock, "0").unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_devsky"))
            .args(["registry", "serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path().join("d"))
            .args(db_args(&pg))
            .args(extra)
            .env("DEVSKY_TEST_REGISTRY_CLOCK", &clock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let url = loop {
            let mut line = String::new();
            if err.read_line(&mut line).unwrap() == 0 {
                let _ = child.wait();
                panic!(
                    "devsky registry serve exited: {seen}{}",
                    pg.as_ref().map(|p| p.log()).unwrap_or_default()
                );
            }
            seen.push_str(&line);
            if let Some(i) = line.find("http://") {
                break line[i..].trim().to_string();
            }
        };
        // Keep reading its log so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while err.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        // The metadata is where the backend says: SQLite's file only without --database.
        let sqlite_file = data.path().join("d").join("registry.db");
        assert_eq!(sqlite_file.exists(), backend == Backend::Sqlite, "{seen}");
        Registry {
            child,
            url,
            data,
            clock,
            pg,
            http: Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap(),
        }
    }

    /// The `--data` folder.
    pub fn data_dir(&self) -> PathBuf {
        self.data.path().join("d")
    }

    /// Run `devsky registry ARGS --data D [--database URL]`; its stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_devsky"))
            .arg("registry")
            .args(args)
            .arg("--data")
            .arg(self.data_dir())
            .args(db_args(&self.pg))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "devsky registry {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Add a user; their token.
    pub fn user(&self, login: &str, root: bool) -> String {
        let mut args = vec!["user", "add", login];
        if root {
            args.push("--root");
        }
        self.admin(&args).trim().to_string()
    }

    /// Move the registry's clock `ms` milliseconds ahead of real time.
    pub fn set_clock(&self, ms: i64) {
        std::fs::write(&self.clock, ms.to_string()).unwrap();
    }

    /// The blobs stored, as file names.
    pub fn blobs(&self) -> Vec<String> {
        let mut out = vec![];
        walk(&self.data_dir().join("blobs"), &mut out);
        out.sort();
        out
    }

    pub fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::blocking::RequestBuilder {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = self.http.request(m, format!("{}{path}", self.url));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// A JSON request; status and body.
    pub fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.req(method, path, Some(token));
        if let Some(b) = body {
            r = r.json(&b);
        }
        answer(r.send().unwrap())
    }

    pub fn reserve(&self, token: &str, name: &str, version: &str) -> (u16, Value) {
        self.call(
            "POST",
            "/api/v1/reserve",
            token,
            Some(json!({"name": name, "version": version})),
        )
    }

    pub fn upload(
        &self,
        token: &str,
        name: &str,
        version: &str,
        bytes: &[u8],
        checksum: &str,
    ) -> (u16, Value) {
        answer(
            self.req(
                "PUT",
                &format!("/api/v1/packages/{name}/{version}"),
                Some(token),
            )
            .header("x-checksum-blake3", checksum)
            .body(bytes.to_vec())
            .send()
            .unwrap(),
        )
    }

    /// Reserve and upload `bytes`; the SKY_ID.
    pub fn publish(&self, token: &str, name: &str, version: &str, bytes: &[u8]) -> i64 {
        let (s, v) = self.reserve(token, name, version);
        assert_eq!(s, 201, "reserve {name} {version}: {v}");
        let (s, u) = self.upload(token, name, version, bytes, &b3(bytes));
        assert_eq!(s, 201, "upload {name} {version}: {u}");
        v["sky_id"].as_i64().unwrap()
    }
}

fn walk(dir: &Path, out: &mut Vec<String>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out);
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
}

pub fn answer(r: Response) -> (u16, Value) {
    let s = r.status().as_u16();
    let text = r.text().unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// blake3 hex of `bytes` (the blake3 crate, not devsky's code).
pub fn b3(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Archive bytes that differ by `seed` (the registry treats them as opaque).
pub fn archive(seed: &str, len: usize) -> Vec<u8> {
    let mut out = format!("DEVSKY-TEST-ARCHIVE {seed}\n").into_bytes();
    let mut x: u32 = seed
        .bytes()
        .fold(7, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push((x & 0xff) as u8);
    }
    out
}
