//! A `devsky serve` child for tests: the built binary on a free loopback port with its root
//! and state folders, waited for until healthy (or not waited for: [`spawn_agent`]), killed
//! when dropped or on purpose ([`Agent::kill`]); and API keys made with `devsky serve key
//! create`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::deploy::ok;
use super::free_port;

/// A running agent, stopped when dropped.
pub struct Agent {
    child: Child,
    pub url: String,
    /// Its stderr (stdout goes beside it, with the extension `out`).
    pub log: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    /// What it wrote on stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL it and reap it (so no zombie holds its pid); whether it was still running
    /// (false: it had exited by itself).
    pub fn kill(&mut self) -> bool {
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        std::os::unix::process::ExitStatusExt::signal(&status) == Some(9)
    }

    /// Whether it has exited (reaping it if so).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Kill it with SIGKILL and do not reap it: it stays a zombie until dropped. Returns
    /// once /proc shows it a zombie.
    pub fn kill_unreaped(&self) -> u32 {
        let pid = self.child.id();
        // SAFETY: kill(2) on our own child's pid, which is not reaped, so not reused.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        let t0 = Instant::now();
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            if stat[stat.rfind(')').unwrap() + 1..]
                .trim_start()
                .starts_with('Z')
            {
                return pid;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "not a zombie: {stat}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `devsky serve --root ROOT --state STATE --listen 127.0.0.1:PORT ARGS...` with `env` set
/// (and `DEVSKY_DB_PASSWORD` unset unless `env` sets it), once it answers its health route
/// (over https when ARGS has `--tls-cert`).
pub fn start_agent(
    root: &Path,
    state: &Path,
    log: PathBuf,
    args: &[&str],
    env: &[(&str, &str)],
) -> Agent {
    let agent = spawn_agent(root, state, log, args, env);
    // With --tls-cert: https, probed for health whatever its certificate (the tests check
    // the certificate with devsky's own client).
    let client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(args.contains(&"--tls-cert"))
        .build()
        .unwrap();
    let t0 = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{}/api/v1/health", agent.url)).send()
            && r.status() == 200
        {
            return agent;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the agent did not come up:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`start_agent`] without waiting for it to answer.
pub fn spawn_agent(
    root: &Path,
    state: &Path,
    log: PathBuf,
    args: &[&str],
    env: &[(&str, &str)],
) -> Agent {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut c = Command::new(env!("CARGO_BIN_EXE_devsky"));
    c.args(["serve", "--root"])
        .arg(root)
        .arg("--state")
        .arg(state)
        .args(["--listen", &listen])
        .args(args)
        .env_remove("DEVSKY_DB_PASSWORD")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in env {
        c.env(k, v);
    }
    let tls = args.contains(&"--tls-cert");
    Agent {
        child: c.spawn().unwrap(),
        url: format!("{}://{listen}", if tls { "https" } else { "http" }),
        log,
    }
}

/// A new API key for the agent of `root` (printed once by `devsky serve key create`).
pub fn create_key(root: &Path, state: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["serve", "key", "create", "--root"])
        .arg(root)
        .arg("--state")
        .arg(state)
        .output()
        .unwrap();
    let key = ok(&o).trim().to_string();
    assert_eq!(key.len(), 43, "{key}");
    key
}
