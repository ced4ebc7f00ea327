//! A private PostgreSQL server for tests: `initdb` (trust authentication, no fsync) on a
//! temporary folder and `pg_ctl start` on a free 127.0.0.1 port; stopped (`pg_ctl stop -m
//! immediate`) when dropped. PostgreSQL refuses to run as root: as root, both run as the
//! `postgres` user (Debian's package makes it) through `setpriv`, on a folder chowned to it.
//! `initdb` is looked for on PATH, then in /usr/lib/postgresql/*/bin (Debian's place).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MISSING: &str = "PostgreSQL is needed: apt-get install postgresql (scripts/test does)";

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
}

fn bin_dir() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(d) = std::env::split_paths(&path).find(|d| d.join("initdb").is_file()) {
        // Debian's /usr/bin has wrappers for some tools but not initdb; a symlink on PATH
        // leads to the real folder, which also holds pg_ctl.
        let real = std::fs::canonicalize(d.join("initdb")).unwrap();
        return real.parent().unwrap().to_path_buf();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path().join("bin"))
                .filter(|b| b.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| panic!("{MISSING}"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `cmd` as the `postgres` user when we are root.
fn as_pg_user(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--clear-groups",
            "--",
        ])
        .arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn run(mut c: Command, what: &str) {
    let out = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e} ({MISSING}; setpriv: util-linux)"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("devsky-pg-")
            .tempdir()
            .unwrap();
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:postgres").arg(dir.path());
                    c
                },
                "chown postgres (the postgres user comes with Debian's postgresql package)",
            );
        }
        let data = dir.path().join("data");
        let mut init = as_pg_user(&bin, "initdb");
        init.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(init, "initdb");
        let port = super::free_port();
        let mut start = as_pg_user(&bin, "pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=50",
                dir.path().display()
            ))
            .args(["-w", "-t", "60", "start"]);
        run(start, "pg_ctl start");
        Postgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            bin,
            port,
        }
    }

    /// Make database `name`; its URL.
    pub fn create_db(&self, name: &str) -> String {
        let mut c = Command::new(self.bin.join("psql"));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-c",
        ])
        .arg(format!("CREATE DATABASE {name}"));
        run(c, "psql CREATE DATABASE");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Stop the server (fast) and start it again on the same port (and options).
    pub fn restart(&self) {
        let mut c = as_pg_user(&self.bin, "pg_ctl");
        // The log as at start: the server must not hold pg_ctl's output pipe open.
        c.arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-m", "fast", "-w", "-t", "60", "restart"]);
        run(c, "pg_ctl restart");
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut stop = as_pg_user(&self.bin, "pg_ctl");
        stop.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = stop.status();
    }
}
