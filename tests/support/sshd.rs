//! A private OpenSSH server for the deploy-over-SSH tests: `sshd` on 127.0.0.1 (a free
//! port, a temp host key, a temp client key, run as the current user, environment for the
//! sessions from `SetEnv`), stopped with every process it started when dropped; and
//! `devsky server add NAME --ssh ...` registering it for a project (the client key, a
//! private known_hosts, no user ssh config, `--remote-bin` the built binary).
//!
//! Needs OpenSSH (`apt-get install openssh-server openssh-client`; scripts/test does).

use super::free_port;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::deploy::{devsky, ok};

pub const SSHD: &str = "/usr/sbin/sshd";

fn run(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd).args(args).output().unwrap();
    ok(&o)
}

/// A private sshd, stopped (with every process it started) when dropped.
pub struct Sshd {
    child: Option<Child>,
    pub port: u16,
    pub user: String,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    pub log: PathBuf,
}

/// The processes below `pid` (from /proc), deepest last.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces and parentheses.
        let Some(after) = stat.rsplit_once(')').map(|x| x.1) else {
            continue;
        };
        if let Some(ppid) = after
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u32>().ok())
        {
            children.entry(ppid).or_default().push(p);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

impl Sshd {
    /// Start sshd with its files in `dir/sshd`; `set_env` goes to every session.
    pub fn start(dir: &Path, set_env: &[(&str, String)]) -> Sshd {
        Self::start_with(dir, set_env, false)
    }

    /// [`Sshd::start`] with password authentication on (checked by sshd against the
    /// system's shadow file: sshd runs as root, without PAM).
    pub fn start_password(dir: &Path) -> Sshd {
        Self::start_with(dir, &[], true)
    }

    fn start_with(dir: &Path, set_env: &[(&str, String)], password: bool) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "OpenSSH is needed: apt-get install openssh-server openssh-client (scripts/test does)"
        );
        let dir = dir.join("sshd");
        std::fs::create_dir_all(&dir).unwrap();
        let host_key = dir.join("host_key");
        let client_key = dir.join("client_key");
        for k in [&host_key, &client_key] {
            run(
                "ssh-keygen",
                &["-q", "-t", "ed25519", "-N", "", "-f", k.to_str().unwrap()],
            );
        }
        let authorized = dir.join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized).unwrap();
        // sshd run as root wants its privilege separation folder.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let env_line = if set_env.is_empty() {
            String::new()
        } else {
            format!(
                "SetEnv {}\n",
                set_env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPermitRootLogin yes\n\
                 PubkeyAuthentication yes\nPasswordAuthentication {}\n\
                 KbdInteractiveAuthentication no\nLogLevel VERBOSE\n\
                 Subsystem sftp /usr/lib/openssh/sftp-server\n{env_line}",
                host_key.display(),
                dir.join("sshd.pid").display(),
                authorized.display(),
                if password { "yes" } else { "no" },
            ),
        )
        .unwrap();
        let log = dir.join("sshd.log");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let sshd = Sshd {
            child: Some(child),
            port,
            user: run("id", &["-un"]).trim().to_string(),
            client_key,
            known_hosts: dir.join("known_hosts"),
            log,
        };
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "sshd did not come up:\n{}",
                std::fs::read_to_string(&sshd.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }

    /// `USER@127.0.0.1:PORT`, the `--ssh` destination of this sshd.
    pub fn destination(&self) -> String {
        format!("{}@127.0.0.1:{}", self.user, self.port)
    }

    /// `devsky server add NAME --ssh ... --env production` for this sshd.
    pub fn add_server(&self, project: &Path, name: &str, root: &Path) -> String {
        self.add_server_env(project, name, root, "production")
    }

    /// `devsky server add NAME --ssh ... --env ENV` for this sshd.
    pub fn add_server_env(&self, project: &Path, name: &str, root: &Path, env: &str) -> String {
        self.add_server_with(project, name, root, env, &[])
    }

    /// [`Sshd::add_server_env`] with more arguments (e.g. `--remote-db URL`).
    pub fn add_server_with(
        &self,
        project: &Path,
        name: &str,
        root: &Path,
        env: &str,
        extra: &[&str],
    ) -> String {
        let dest = self.destination();
        let key = format!("-i {}", self.client_key.display());
        let kh = format!("-o UserKnownHostsFile={}", self.known_hosts.display());
        let mut args = vec![
            "server",
            "add",
            name,
            "--ssh",
            &dest,
            "--root",
            root.to_str().unwrap(),
            "--env",
            env,
            "--ssh-opt",
            "-F /dev/null",
            "--ssh-opt",
            &key,
            "--ssh-opt",
            &kh,
            "--ssh-opt",
            "-o StrictHostKeyChecking=no -o BatchMode=yes -o LogLevel=ERROR",
            "--remote-bin",
            env!("CARGO_BIN_EXE_devsky"),
        ];
        args.extend_from_slice(extra);
        ok(&devsky(&args, project))
    }

    /// `devsky server add NAME --sftp ... --root ROOT` for this sshd (its client key, a
    /// private known_hosts, no user ssh config; no password), then `extra`.
    pub fn add_sftp(&self, project: &Path, name: &str, root: &Path, extra: &[&str]) -> String {
        let key = format!("-i {}", self.client_key.display());
        let kh = format!("-o UserKnownHostsFile={}", self.known_hosts.display());
        let dest = self.destination();
        let mut args = vec![
            "server",
            "add",
            name,
            "--sftp",
            &dest,
            "--root",
            root.to_str().unwrap(),
            "--no-password",
            "--ssh-opt",
            "-F /dev/null",
            "--ssh-opt",
            &key,
            "--ssh-opt",
            &kh,
            "--ssh-opt",
            "-o StrictHostKeyChecking=no -o BatchMode=yes -o LogLevel=ERROR",
        ];
        args.extend(extra);
        ok(&devsky(&args, project))
    }

    /// How many logins sshd accepted so far (its `Accepted publickey` lines): one per
    /// ssh connection.
    pub fn logins(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains("Accepted publickey for "))
            .count()
    }

    /// What sshd logged so far (connections, authentication, session errors).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Start sshd again (after [`Sshd::kill_all`]) on the same port, keys and config.
    pub fn restart(&mut self) {
        self.kill_all();
        let config = self.log.with_file_name("sshd_config");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&self.log).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "sshd did not come back"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill sshd and every process it started (sessions and the agents in them).
    pub fn kill_all(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let mut pids = descendants(child.id());
        pids.push(child.id());
        let args: Vec<String> = pids.iter().map(u32::to_string).collect();
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&args)
            .stderr(Stdio::null())
            .status();
        let _ = child.wait();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_all();
    }
}
