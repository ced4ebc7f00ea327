//! SFTP targets without an agent: [`SftpConnector`] starts the system's `ssh -s ...
//! USER@HOST sftp` (so `~/.ssh/config`, keys and the agent work as the user expects) and
//! speaks SFTP v3 over the child's pipes with russh-sftp's [`RawSftpSession`]; [`SftpFs`]
//! is one such connection as a [`RemoteFs`] for [`super::agentless`].
//!
//! A profile keeps the destination and ssh arguments in its `ssh` column (the words of
//! [`SshTarget`]), the root in `remote_root`, and `sftp://USER@HOST[:PORT]/ROOT
//! [?connections=N]` as its URL. Renames use OpenSSH's `posix-rename@openssh.com`
//! (replaces the target in one step); a server without it gets a remove then a rename.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use anyhow::{Context, bail};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};

use super::agentless::{AgentlessTransport, Connector, RemoteFs, Stat, StatKind, settings_of};
use super::ssh_target::{SshTarget, split_words};
use super::{Remote, ServerProfile};

/// Bytes per SFTP read or write request (OpenSSH takes up to 255 KiB).
const CHUNK: usize = 128 * 1024;
/// How long one SFTP request may take.
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// The `ssh` column and the URL of `server add NAME --sftp DEST --root DIR`.
pub fn profile_columns(
    dest: &str,
    ssh_opts: &[String],
    root: &str,
    connections: usize,
) -> anyhow::Result<(String, String)> {
    let (destination, port) = SshTarget::parse_destination(dest)?;
    let mut ssh_args = Vec::new();
    for o in ssh_opts {
        ssh_args.extend(split_words(o)?);
    }
    let t = SshTarget {
        destination: destination.clone(),
        port,
        ssh_args,
        remote_bin: super::ssh_target::DEFAULT_REMOTE_BIN.into(),
        root: root.into(),
        db: None,
    };
    let host = match port {
        Some(p) if destination.contains(':') => format!("[{destination}]:{p}"),
        Some(p) => format!("{destination}:{p}"),
        None => destination,
    };
    let mut u = reqwest::Url::parse(&format!("sftp://{host}"))
        .with_context(|| format!("--sftp {dest}: not USER@HOST[:PORT]"))?;
    u.set_path(root);
    if connections != super::agentless::DEFAULT_CONNECTIONS {
        u.set_query(Some(&format!("connections={connections}")));
    }
    Ok((t.ssh_column(), u.to_string()))
}

/// The [`Remote`] of an SFTP profile.
pub fn connect(project_root: &Path, p: &ServerProfile) -> anyhow::Result<Remote> {
    let ssh = p
        .ssh
        .as_deref()
        .context("the server has no SSH destination")?;
    let root = p
        .remote_root
        .as_deref()
        .context("the server has no remote root (--root)")?;
    let target = SshTarget::from_columns(ssh, root)?;
    let url = p.url.as_deref().unwrap_or("sftp://-/");
    let u = reqwest::Url::parse(url).with_context(|| format!("{url}: not a URL"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the SFTP client's runtime")?;
    let c = SftpConnector {
        target,
        password: super::agentless::load_password(project_root, p)?,
        rt: Arc::new(rt),
    };
    let settings = settings_of(project_root, p, &u)?;
    Ok(Remote::new(Box::new(AgentlessTransport::connect(
        Box::new(c),
        settings,
    )?)))
}

/// Where and how to reach an SFTP target.
pub struct SftpConnector {
    pub target: SshTarget,
    /// For password authentication (handed to ssh through `SSH_ASKPASS`).
    pub password: Option<String>,
    rt: Arc<tokio::runtime::Runtime>,
}

impl SftpConnector {
    /// The arguments of `ssh` that start the SFTP subsystem.
    fn ssh_args(&self) -> Vec<String> {
        let t = &self.target;
        let mut a = t.ssh_args.clone();
        a.extend(
            [
                "-o",
                "ServerAliveInterval=15",
                "-o",
                "ServerAliveCountMax=3",
            ]
            .map(String::from),
        );
        if let Some(p) = t.port {
            a.push("-p".into());
            a.push(p.to_string());
        }
        a.extend(["-s", "--"].map(String::from));
        a.push(t.destination.clone());
        a.push("sftp".into());
        a
    }
}

impl Connector for SftpConnector {
    fn open(&self) -> anyhow::Result<Box<dyn RemoteFs>> {
        let label = self.label();
        let args = self.ssh_args();
        let password = self.password.clone();
        let (session, child, stderr) = self
            .rt
            .block_on(async move {
                let mut cmd = tokio::process::Command::new("ssh");
                cmd.args(&args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true);
                if let Some(pw) = &password {
                    // ssh asks devsky itself for the password (see `askpass_answer`).
                    cmd.env("SSH_ASKPASS", std::env::current_exe()?)
                        .env("SSH_ASKPASS_REQUIRE", "force")
                        .env(ASKPASS_VAR, pw);
                }
                let mut child = cmd.spawn().context(
                "cannot run ssh: is OpenSSH's client installed (apt-get install openssh-client)?",
            )?;
                let (Some(stdin), Some(stdout), Some(err)) =
                    (child.stdin.take(), child.stdout.take(), child.stderr.take())
                else {
                    bail!("ssh started without its pipes");
                };
                let said = Arc::new(std::sync::Mutex::new(String::new()));
                let keep = said.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut err = err;
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = err.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let mut s = keep.lock().unwrap_or_else(|e| e.into_inner());
                        if s.len() < 8192 {
                            s.push_str(&String::from_utf8_lossy(&buf[..n]));
                        }
                    }
                });
                let session = RawSftpSession::new(tokio::io::join(stdout, stdin));
                session.set_timeout(REQUEST_TIMEOUT_SECS);
                let r =
                    tokio::time::timeout(std::time::Duration::from_secs(60), session.init()).await;
                match r {
                    Ok(Ok(_)) => Ok((session, child, said)),
                    Ok(Err(e)) => {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        let s = said.lock().unwrap_or_else(|e| e.into_inner()).clone();
                        bail!("SFTP did not start ({e}){}", ssh_said(&s))
                    }
                    Err(_) => bail!("SFTP did not start within 60 s"),
                }
            })
            .with_context(|| format!("cannot connect to {label}"))?;
        Ok(Box::new(SftpFs {
            session,
            child,
            stderr,
            rt: self.rt.clone(),
            root: self.target.root.trim_end_matches('/').to_string(),
            label,
            posix_rename: true,
        }))
    }

    fn label(&self) -> String {
        let t = &self.target;
        match t.port {
            Some(p) => format!("sftp://{}:{p}{}", t.destination, t.root),
            None => format!("sftp://{}{}", t.destination, t.root),
        }
    }

    fn scheme(&self) -> &'static str {
        "sftp"
    }

    fn root(&self) -> String {
        self.target.root.clone()
    }
}

/// The variable that hands a password to ssh's `SSH_ASKPASS` (devsky itself).
pub const ASKPASS_VAR: &str = "DEVSKY_SSH_ASKPASS_SECRET";

/// When devsky runs as ssh's `SSH_ASKPASS` for an SFTP connection it started: the
/// password to print (None: this is an ordinary run).
pub fn askpass_answer() -> Option<String> {
    let pw = std::env::var(ASKPASS_VAR).ok()?;
    std::env::var_os("SSH_ASKPASS")?;
    Some(pw)
}

fn ssh_said(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        String::new()
    } else {
        format!("\nssh said:\n{s}")
    }
}

/// One SFTP connection (an ssh child) to a target.
pub struct SftpFs {
    session: RawSftpSession,
    child: tokio::process::Child,
    stderr: Arc<std::sync::Mutex<String>>,
    rt: Arc<tokio::runtime::Runtime>,
    root: String,
    label: String,
    /// Whether the server has taken `posix-rename@openssh.com` so far.
    posix_rename: bool,
}

fn status_of(e: &SftpError) -> Option<StatusCode> {
    match e {
        SftpError::Status(s) => Some(s.status_code),
        _ => None,
    }
}

/// An SSH string (length, bytes) for an extension's data.
fn ssh_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl SftpFs {
    fn abs(&self, rel: &str) -> String {
        match (self.root.as_str(), rel) {
            ("", "") => "/".into(),
            (r, "") => r.to_string(),
            ("", rel) => format!("/{rel}"),
            (r, rel) => format!("{r}/{rel}"),
        }
    }

    fn err(&self, what: &str, path: &str, e: SftpError) -> anyhow::Error {
        let said = self
            .stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        anyhow::anyhow!("{}: {what} {path}: {e}{}", self.label, ssh_said(&said))
    }
}

impl RemoteFs for SftpFs {
    fn list(&mut self, dir: &str) -> anyhow::Result<Option<Vec<Stat>>> {
        let abs = self.abs(dir);
        let s = &self.session;
        let r = self.rt.block_on(async {
            let h = match s.opendir(abs.as_str()).await {
                Ok(h) => h.handle,
                Err(e) if status_of(&e) == Some(StatusCode::NoSuchFile) => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut out = Vec::new();
            loop {
                match s.readdir(h.as_str()).await {
                    Ok(n) => out.extend(n.files),
                    Err(e) if status_of(&e) == Some(StatusCode::Eof) => break,
                    Err(e) => {
                        let _ = s.close(h.as_str()).await;
                        return Err(e);
                    }
                }
            }
            let _ = s.close(h.as_str()).await;
            Ok(Some(out))
        });
        let files = match r {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.err("cannot list", &abs, e)),
        };
        Ok(Some(
            files
                .into_iter()
                .map(|f| {
                    let perm = f.attrs.permissions.unwrap_or(0);
                    Stat {
                        name: f.filename,
                        kind: match perm & 0o170000 {
                            0o040000 => StatKind::Dir,
                            0o100000 => StatKind::File,
                            _ => StatKind::Other,
                        },
                        size: f.attrs.size.unwrap_or(0),
                        mtime: i64::from(f.attrs.mtime.unwrap_or(0)),
                        mode: f.attrs.permissions.map(|p| p & 0o7777),
                    }
                })
                .collect(),
        ))
    }

    fn get(&mut self, path: &str, out: &mut dyn Write) -> anyhow::Result<()> {
        let abs = self.abs(path);
        let s = &self.session;
        let r: Result<(), SftpError> = self.rt.block_on(async {
            let h = s
                .open(abs.as_str(), OpenFlags::READ, FileAttributes::empty())
                .await?
                .handle;
            let mut off = 0u64;
            let r = loop {
                match s.read(h.as_str(), off, CHUNK as u32).await {
                    Ok(d) if d.data.is_empty() => break Ok(()),
                    Ok(d) => {
                        off += d.data.len() as u64;
                        if let Err(e) = out.write_all(&d.data) {
                            break Err(SftpError::IO(e.to_string()));
                        }
                    }
                    Err(e) if status_of(&e) == Some(StatusCode::Eof) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            let _ = s.close(h.as_str()).await;
            r
        });
        r.map_err(|e| self.err("cannot download", &abs, e))
    }

    fn put(&mut self, path: &str, src: &mut dyn Read) -> anyhow::Result<()> {
        let abs = self.abs(path);
        let s = &self.session;
        let r: Result<(), SftpError> = self.rt.block_on(async {
            let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
            let mut attrs = FileAttributes::empty();
            attrs.permissions = Some(0o600);
            let h = s.open(abs.as_str(), flags, attrs).await?.handle;
            let mut off = 0u64;
            let mut buf = vec![0u8; CHUNK];
            let r = loop {
                let n = match src.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => break Err(SftpError::IO(e.to_string())),
                };
                if let Err(e) = s.write(h.as_str(), off, buf[..n].to_vec()).await {
                    break Err(e);
                }
                off += n as u64;
            };
            let closed = s.close(h.as_str()).await;
            r.and(closed.map(drop))
        });
        r.map_err(|e| self.err("cannot upload", &abs, e))
    }

    fn rename(&mut self, from: &str, to: &str) -> anyhow::Result<()> {
        let (a, b) = (self.abs(from), self.abs(to));
        let s = &self.session;
        if self.posix_rename {
            let mut data = Vec::new();
            ssh_string(&mut data, &a);
            ssh_string(&mut data, &b);
            let r = self
                .rt
                .block_on(s.extended("posix-rename@openssh.com", data));
            match r {
                Ok(russh_sftp::protocol::Packet::Status(st))
                    if st.status_code == StatusCode::Ok =>
                {
                    return Ok(());
                }
                Ok(russh_sftp::protocol::Packet::Status(st))
                    if st.status_code == StatusCode::OpUnsupported =>
                {
                    self.posix_rename = false;
                }
                Ok(russh_sftp::protocol::Packet::Status(st)) => {
                    return Err(self.err("cannot rename", &a, SftpError::Status(st)));
                }
                Ok(_) => self.posix_rename = false,
                Err(e) if status_of(&e) == Some(StatusCode::OpUnsupported) => {
                    self.posix_rename = false
                }
                Err(e) => return Err(self.err("cannot rename", &a, e)),
            }
        }
        // SFTP v3's rename does not replace: remove the target first.
        let _ = self.rt.block_on(s.remove(b.as_str()));
        self.rt
            .block_on(s.rename(a.as_str(), b.as_str()))
            .map(drop)
            .map_err(|e| self.err("cannot rename", &a, e))
    }

    fn remove(&mut self, path: &str) -> anyhow::Result<()> {
        let abs = self.abs(path);
        self.rt
            .block_on(self.session.remove(abs.as_str()))
            .map(drop)
            .map_err(|e| self.err("cannot delete", &abs, e))
    }

    fn mkdir(&mut self, path: &str) -> anyhow::Result<()> {
        let abs = self.abs(path);
        let s = &self.session;
        match self
            .rt
            .block_on(s.mkdir(abs.as_str(), FileAttributes::empty()))
        {
            Ok(_) => Ok(()),
            Err(e) => match self.rt.block_on(s.stat(abs.as_str())) {
                Ok(a) if a.attrs.permissions.unwrap_or(0) & 0o170000 == 0o040000 => Ok(()),
                _ => Err(self.err("cannot make folder", &abs, e)),
            },
        }
    }

    fn mkdir_new(&mut self, path: &str) -> anyhow::Result<bool> {
        let abs = self.abs(path);
        let s = &self.session;
        match self
            .rt
            .block_on(s.mkdir(abs.as_str(), FileAttributes::empty()))
        {
            Ok(_) => Ok(true),
            Err(e) => match self.rt.block_on(s.stat(abs.as_str())) {
                Ok(a) if a.attrs.permissions.unwrap_or(0) & 0o170000 == 0o040000 => Ok(false),
                _ => Err(self.err("cannot make folder", &abs, e)),
            },
        }
    }

    fn rmdir(&mut self, path: &str) -> anyhow::Result<()> {
        let abs = self.abs(path);
        self.rt
            .block_on(self.session.rmdir(abs.as_str()))
            .map(drop)
            .map_err(|e| self.err("cannot remove folder", &abs, e))
    }

    fn chmod(&mut self, path: &str, mode: u32) -> anyhow::Result<()> {
        let abs = self.abs(path);
        let mut attrs = FileAttributes::empty();
        attrs.permissions = Some(mode);
        self.rt
            .block_on(self.session.setstat(abs.as_str(), attrs))
            .map(drop)
            .map_err(|e| self.err("cannot chmod", &abs, e))
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn make_root(&mut self) -> anyhow::Result<()> {
        let root = self.root.clone();
        let mut at = String::new();
        for (i, part) in root.split('/').enumerate() {
            if part.is_empty() {
                if i == 0 {
                    at.push('/');
                }
                continue;
            }
            if !at.is_empty() && !at.ends_with('/') {
                at.push('/');
            }
            at.push_str(part);
            let s = &self.session;
            if self.rt.block_on(s.stat(at.as_str())).is_err() {
                self.rt
                    .block_on(s.mkdir(at.as_str(), FileAttributes::empty()))
                    .map_err(|e| self.err("cannot make folder", &at, e))?;
            }
        }
        Ok(())
    }
}

impl Drop for SftpFs {
    fn drop(&mut self) {
        let _ = self.session.close_session();
    }
}
