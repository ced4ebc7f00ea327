//! A private MariaDB server for tests, set up as ../shared/design/FORMATS.md says.
//!
//! The first server of a test process initializes a template datadir under
//! `std::env::temp_dir()` (`mariadb-install-db`, about 2 s); every server copies it into
//! its own temporary folder (a few ms), listens on a socket there (`--skip-networking`),
//! or on a free 127.0.0.1 port for [`MariaDb::start_tcp`], and is shut down on drop.
//! `root@localhost` has no password.

use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const MISSING: &str =
    "MariaDB is needed: apt-get install mariadb-server mariadb-client (scripts/test does)";

/// A running private server.
pub struct MariaDb {
    /// Holds the datadir; removed after the server stops.
    dir: tempfile::TempDir,
    pub datadir: PathBuf,
    pub socket: PathBuf,
    /// The TCP port, for servers started with [`MariaDb::start_tcp`].
    pub port: Option<u16>,
    child: Option<Child>,
}

fn find(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into(), "/sbin".into()])
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

fn mariadbd() -> PathBuf {
    find("mariadbd").unwrap_or_else(|| panic!("{MISSING}"))
}

/// Folder for this process's template datadir; templates of exited processes are removed.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let install = find("mariadb-install-db").unwrap_or_else(|| panic!("{MISSING}"));
        let base = std::env::temp_dir();
        if let Ok(rd) = std::fs::read_dir(&base) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("devsky-mariadb-template-")
                    && !Path::new("/proc").join(pid).exists()
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("devsky-mariadb-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tmpdir = base.join(format!("devsky-mariadb-install-tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmpdir);
        std::fs::create_dir_all(&tmpdir).unwrap();
        let out = Command::new(install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.display()))
            .arg(format!("--tmpdir={}", tmpdir.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--innodb-log-file-size=8M",
                "--innodb-buffer-pool-size=32M",
            ])
            .output()
            .expect("run mariadb-install-db");
        let _ = std::fs::remove_dir_all(&tmpdir);
        assert!(
            out.status.success(),
            "mariadb-install-db failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

impl MariaDb {
    /// A server on a Unix socket only.
    pub fn start() -> MariaDb {
        MariaDb::launch(false)
    }

    /// A server on a socket and a free 127.0.0.1 port.
    pub fn start_tcp() -> MariaDb {
        MariaDb::launch(true)
    }

    fn launch(tcp: bool) -> MariaDb {
        let server = mariadbd();
        let template = template();
        let dir = tempfile::Builder::new()
            .prefix("devsky-mdb")
            .tempdir()
            .unwrap();
        let datadir = dir.path().join("d");
        let st = Command::new("cp")
            .arg("-a")
            .arg(template)
            .arg(&datadir)
            .status()
            .expect("cp");
        assert!(st.success(), "copying the template datadir failed");
        let socket = datadir.join("sock");
        // Its own tmpdir: servers sharing /tmp delete each other's temporary tables.
        let tmpdir = dir.path().join("tmp");
        std::fs::create_dir(&tmpdir).unwrap();
        let mut cmd = Command::new(server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", datadir.join("pid").display()))
            .arg(format!(
                "--log-error={}",
                datadir.join("error.log").display()
            ))
            .arg(format!("--tmpdir={}", tmpdir.display()))
            .args([
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=8M",
                "--user=root",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let port = if tcp {
            // mariadbd has no --port=0: take a free port from the kernel and hand it over.
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let p = l.local_addr().unwrap().port();
            drop(l);
            cmd.arg(format!("--port={p}"))
                .arg("--bind-address=127.0.0.1");
            Some(p)
        } else {
            cmd.arg("--skip-networking");
            None
        };
        let child = cmd.spawn().expect("start mariadbd");
        let mut db = MariaDb {
            dir,
            datadir,
            socket,
            port,
            child: Some(child),
        };
        db.wait_ready();
        db
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if UnixStream::connect(&self.socket).is_ok()
                && self
                    .port
                    .is_none_or(|p| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok())
            {
                return;
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "mariadbd exited ({st}) before answering:\n{}",
                    self.error_log()
                );
            }
            if Instant::now() > deadline {
                panic!("mariadbd did not answer within 60 s:\n{}", self.error_log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's error log.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.datadir.join("error.log")).unwrap_or_default()
    }

    /// `mysql://root@localhost/DB?socket=...`
    pub fn url(&self, db: &str) -> String {
        format!(
            "mysql://root@localhost/{db}?socket={}",
            self.socket.display()
        )
    }

    /// `mysql://USER@127.0.0.1:PORT/DB` (servers from [`MariaDb::start_tcp`]).
    pub fn tcp_url(&self, user: &str, db: &str) -> String {
        let port = self.port.expect("a server started with start_tcp");
        format!("mysql://{user}@127.0.0.1:{port}/{db}")
    }

    /// Run SQL with the `mariadb` client as root; returns its tab-separated output.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("mariadb -e {sql:?}: {e}"))
    }

    /// [`MariaDb::sql`], the client's error as `Err`.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let client = find("mariadb").unwrap_or_else(|| panic!("{MISSING}"));
        let out = Command::new(client)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args([
                "-uroot",
                "--default-character-set=utf8mb4",
                "--batch",
                "--skip-column-names",
            ])
            .args(["-e", sql])
            .output()
            .expect("run mariadb");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8(out.stdout).unwrap())
    }

    /// Kill the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failing test shows what the server said: a crash, a killed connection.
            let log = self.error_log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let state = match self.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(st))) => format!("exited: {st}"),
                Some(Ok(None)) => "running".to_string(),
                _ => "not ours".to_string(),
            };
            eprintln!(
                "--- mariadbd ({state}), error log {} ({}), last lines ---\n{}",
                self.datadir.join("error.log").display(),
                if self.datadir.join("error.log").exists() {
                    "present"
                } else {
                    "missing"
                },
                tail.join("\n")
            );
        }
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(admin) = find("mariadb-admin") {
            let _ = Command::new(admin)
                .arg("--no-defaults")
                .arg(format!("--socket={}", self.socket.display()))
                .args(["-uroot", "--connect-timeout=5", "shutdown"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = &self.dir;
    }
}
