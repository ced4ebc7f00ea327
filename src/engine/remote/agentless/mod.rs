//! Deploy targets without a devsky agent (FTP/FTPS in [`super::ftp`], SFTP in
//! [`super::sftp`]): [`AgentlessTransport`] answers the agent's API (docs/API.md) itself, on
//! the client, with the remote's own file operations ([`RemoteFs`]), so that
//! [`super::Remote`], the push path, the CLI and the Deploy screen work unchanged.
//!
//! - The remote map is `.devsky-state` at the root (devsky's map format, the full map as
//!   devsky last left the tree), checked against a size/mtime listing: what differs is
//!   *drift* (changed by someone else), reported by [`super::Remote::drift`] and never
//!   overwritten by a push without `--force` ([`tree`]).
//! - A push ([`push`]) backs the pre-images up locally, uploads to temp names renamed over
//!   the targets on N connections, journals every finished file locally (an interrupted
//!   push resumes without resending them), deletes after the uploads, and writes the state
//!   file last, only when everything succeeded. Rollback uploads the pre-images.
//! - History and logs are a local record per server ([`record`]) under
//!   `.devsky/agentless/NAME/`.
//! - Connections are kept idle in a [`Pool`] between requests and pushes (the N of a
//!   push too) for as long as the transport lives; a dead one is dropped, not reused.
//!
//! - A push, rollback or adoption holds the target's deploy lock ([`lock`]: a folder made
//!   in one step on the server) and is refused while another one holds it.
//!
//! What such a target cannot give: a hold of the map for the push that follows (the push
//! checks its pre-images against a new listing instead) and a database report.

pub mod lock;
pub mod push;
pub mod record;
pub mod tree;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;

use super::transport::{Answer, Body, Method, Request, Transport};
use crate::engine::deploy::now_ms;

/// The name of the state file at the root of an agentless target.
pub const STATE_FILE: &str = ".devsky-state";
/// The prefix of the temp names uploads are written under before the rename.
pub const TEMP_PREFIX: &str = ".devsky-up-";
/// Parallel connections when the profile does not say.
pub const DEFAULT_CONNECTIONS: usize = 4;
/// Most parallel connections a profile may ask for.
pub const MAX_CONNECTIONS: usize = 32;

/// What a listed name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatKind {
    File,
    Dir,
    /// A symlink or anything else: not deployed over these transports, left alone.
    Other,
}

/// One entry of a remote listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub name: String,
    pub kind: StatKind,
    pub size: u64,
    /// Seconds since the epoch, as precise as the server's listing is.
    pub mtime: i64,
    /// Permission bits, where the listing gives them.
    pub mode: Option<u32>,
}

/// One connection to a remote file system; paths are relative to the target's root
/// (`/`-separated, already checked), `""` being the root itself.
pub trait RemoteFs: Send {
    /// The entries of folder `dir` (None: there is no such folder).
    fn list(&mut self, dir: &str) -> anyhow::Result<Option<Vec<Stat>>>;
    /// Write the content of file `path` to `out`.
    fn get(&mut self, path: &str, out: &mut dyn Write) -> anyhow::Result<()>;
    /// Create or truncate file `path` with the content of `src`; the bytes sent are added
    /// to `sent`.
    fn put(&mut self, path: &str, src: &mut dyn Read) -> anyhow::Result<()>;
    /// Rename `from` to `to`, replacing `to`.
    fn rename(&mut self, from: &str, to: &str) -> anyhow::Result<()>;
    fn remove(&mut self, path: &str) -> anyhow::Result<()>;
    /// Make folder `path` (its parent exists); an existing folder is no error.
    fn mkdir(&mut self, path: &str) -> anyhow::Result<()>;
    /// Make folder `path` only if it is not there, in one step (FTP MKD, SFTP mkdir):
    /// false when it already was (the deploy lock, [`lock`]).
    fn mkdir_new(&mut self, path: &str) -> anyhow::Result<bool>;
    fn rmdir(&mut self, path: &str) -> anyhow::Result<()>;
    /// Set the permission bits (best effort where the server cannot).
    fn chmod(&mut self, path: &str, mode: u32) -> anyhow::Result<()>;
    /// Make the root folder and its parents.
    fn make_root(&mut self) -> anyhow::Result<()>;
    /// Whether the connection can still be used (false: its ssh exited); a kept
    /// connection that is not is dropped and another opened.
    fn alive(&mut self) -> bool {
        true
    }
}

/// Opens connections to one target.
pub trait Connector: Send + Sync {
    fn open(&self) -> anyhow::Result<Box<dyn RemoteFs>>;
    /// `ftp://user@host/dir`, for messages (never a password).
    fn label(&self) -> String;
    /// `ftp`, `ftps` or `sftp`.
    fn scheme(&self) -> &'static str;
    /// The root, for messages.
    fn root(&self) -> String;
}

/// The settings of an agentless target besides how to connect.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the local record is (`.devsky/agentless/NAME`).
    pub record_dir: PathBuf,
    /// Parallel connections for uploads.
    pub connections: usize,
    pub environment: String,
}

/// The connections to one target: opened by its [`Connector`], kept idle between requests
/// (and between pushes, for as long as the transport lives: a TUI session keeps it, see
/// [`super::sessions`]), and handed out again while they are alive.
pub struct Pool {
    connector: Box<dyn Connector>,
    idle: Mutex<Vec<Box<dyn RemoteFs>>>,
}

impl Pool {
    pub fn new(connector: Box<dyn Connector>) -> Pool {
        Pool {
            connector,
            idle: Mutex::default(),
        }
    }

    pub fn connector(&self) -> &dyn Connector {
        self.connector.as_ref()
    }

    /// An idle connection that is still alive, or a new one.
    pub fn take(&self) -> anyhow::Result<Box<dyn RemoteFs>> {
        loop {
            let kept = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match kept {
                // Dead (its ssh exited): dropped, try the next.
                Some(mut c) => {
                    if c.alive() {
                        return Ok(c);
                    }
                }
                None => return self.connector.open(),
            }
        }
    }

    /// Whether the idle connections are alive (the dead ones are dropped): false when
    /// every one of them died (none idle: they are in use, so yes).
    pub fn alive(&self) -> bool {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let had = idle.len();
        idle.retain_mut(|c| c.alive());
        had == 0 || !idle.is_empty()
    }

    /// Keep `c` for the next request (give back only a connection that did not fail).
    pub fn keep(&self, c: Box<dyn RemoteFs>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_CONNECTIONS {
            idle.push(c);
        }
    }
}

/// A target without an agent, answering the agent's API on the client.
pub struct AgentlessTransport {
    pool: Pool,
    settings: Settings,
    /// The drift found by the last map.
    drift: Mutex<Vec<tree::Drift>>,
}

impl AgentlessTransport {
    /// Connect (one connection, to fail early on a wrong address or password).
    pub fn connect(
        connector: Box<dyn Connector>,
        settings: Settings,
    ) -> anyhow::Result<AgentlessTransport> {
        // A server that closes a connection while devsky writes to it must end that
        // request with an error (and its journal line and log), not kill the process: the
        // CLI restores SIGPIPE's default for `| head`, so ignore it from here on.
        // SAFETY: setting a signal's disposition has no preconditions.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        let first = connector.open()?;
        let pool = Pool::new(connector);
        pool.keep(first);
        Ok(AgentlessTransport {
            pool,
            settings,
            drift: Mutex::default(),
        })
    }

    /// Run `f` with a kept connection; it is kept again if `f` succeeded.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut dyn RemoteFs) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut c = self.pool.take()?;
        let r = f(c.as_mut());
        if r.is_ok() {
            self.pool.keep(c);
        }
        r
    }

    fn record(&self) -> record::Record {
        record::Record::new(&self.settings.record_dir)
    }

    fn route(
        &self,
        req: &Request<'_>,
        each: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let (path, query) = req.path.split_once('?').unwrap_or((req.path, ""));
        let param = |k: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
        };
        let json = |v: serde_json::Value, each: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>| {
            each(v.to_string().as_bytes())
        };
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (req.method, segs.as_slice()) {
            (Method::Get, ["health"]) => json(
                serde_json::json!({"ok": true, "agentless": self.pool.connector().scheme(),
                    "packages": ["stored", "deflated", "zstd"]}),
                each,
            ),
            (Method::Get, ["map"]) => {
                let rec = self.record();
                let view = self.with_conn(|c| tree::View::load(c, &rec))?;
                view.require_known(&self.pool.connector().label())?;
                let tmp = tempfile::tempdir()?;
                let out = tmp.path().join("remote.map");
                view.write_map(&out)?;
                *self.drift.lock().unwrap_or_else(|e| e.into_inner()) = view.drift();
                let bytes = std::fs::read(&out)?;
                for chunk in bytes.chunks(1 << 20) {
                    each(chunk)?;
                }
                Ok(())
            }
            // `--force-unlock`: break a stale lock. A hold's release: there is no hold.
            (Method::Delete, ["lock"]) if param("stale") == Some("true") => {
                let broken = self.with_conn(lock::break_stale)?;
                json(serde_json::json!({"released": broken}), each)
            }
            (Method::Delete, ["lock"]) => json(serde_json::json!({"released": false}), each),
            (Method::Post, ["push"]) | (Method::Post, ["packages"]) => {
                let Body::Package(pkg) = req.body else {
                    anyhow::bail!("a push needs a package");
                };
                let force = param("force") == Some("true");
                let id = self.push(pkg, force, req.sent.cloned())?;
                json(serde_json::json!({"id": id}), each)
            }
            (Method::Post, ["rollback"]) => {
                let Body::Json(text) = req.body else {
                    anyhow::bail!("a rollback needs its JSON body");
                };
                let v: serde_json::Value = serde_json::from_str(text)?;
                let id = self.rollback(v["to"].as_i64(), v["force"] == true)?;
                json(serde_json::json!({"id": id}), each)
            }
            (Method::Post, ["adopt"]) => {
                let force = param("force") == Some("true");
                let id = self.adopt(force)?;
                json(serde_json::json!({"id": id}), each)
            }
            (Method::Get, ["deployments"]) => {
                json(serde_json::to_value(self.record().deployments()?)?, each)
            }
            (Method::Get, ["deployments", id]) => {
                let d = self.record().deployment(parse_id(id)?)?;
                json(serde_json::to_value(d)?, each)
            }
            (Method::Get, ["deployments", id, "logs"]) => {
                let rec = self.record();
                let id = parse_id(id)?;
                rec.deployment(id)?;
                for l in rec.logs(id)? {
                    each(format!("{}\n", serde_json::to_string(&l)?).as_bytes())?;
                }
                Ok(())
            }
            (Method::Get, ["deployments", id, "logs", "stream"]) => {
                let rec = self.record();
                let id = parse_id(id)?;
                let d = rec.deployment(id)?;
                for l in rec.logs(id)? {
                    let data = serde_json::to_string(&l)?;
                    each(format!("event: log\ndata: {data}\n\n").as_bytes())?;
                }
                let data = serde_json::to_string(&d)?;
                each(format!("event: end\ndata: {data}\n\n").as_bytes())
            }
            (Method::Get, ["status"]) => {
                let current = self.record().current()?;
                let lock = match self.with_conn(lock::holder)? {
                    Some(o) => {
                        let (holder, since) = lock::describe(&o);
                        serde_json::json!({"locked": true, "holder": holder, "since": since})
                    }
                    None => serde_json::json!({"locked": false}),
                };
                json(
                    serde_json::json!({
                        "root": self.pool.connector().root(),
                        "environment": self.settings.environment,
                        "transport": self.pool.connector().scheme(),
                        "lock": lock,
                        "current": current,
                    }),
                    each,
                )
            }
            (Method::Get, ["database"]) => Err(super::wire::api_error(
                404,
                &serde_json::json!({"error": format!(
                    "a {} target has no agent to report on a database",
                    self.pool.connector().scheme()
                )}),
            )),
            _ => Err(super::wire::api_error(
                404,
                &serde_json::json!({"error": format!(
                    "no such route: {} {} (not something a {} target does)",
                    req.method.as_str(),
                    path,
                    self.pool.connector().scheme()
                )}),
            )),
        }
    }

    /// Run `f` (a push, rollback or adoption: `what`) with a connection, holding the
    /// deploy lock ([`lock`]); the lock goes at the end whatever the end, over another
    /// connection if `f`'s failed.
    fn under_lock<T>(
        &self,
        what: &str,
        f: impl FnOnce(Box<dyn RemoteFs>) -> push::Ended<T>,
    ) -> anyhow::Result<T> {
        let mut main = self.pool.take()?;
        if let Err(e) = lock::take(main.as_mut(), what) {
            if e.downcast_ref::<crate::engine::deploy::DeployError>()
                .is_some()
            {
                self.pool.keep(main);
            }
            return Err(e);
        }
        if let Some(ms) = crate::engine::util::testhooks::var("DEVSKY_TEST_SLOW_AGENTLESS_MS")
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let (main, r) = f(main);
        let released = main.is_some_and(|mut c| {
            let ok = lock::release(c.as_mut()).is_ok();
            if ok {
                self.pool.keep(c);
            }
            ok
        });
        if !released && let Ok(mut c) = self.pool.take() {
            // Left behind if this fails too: the next push breaks it (its process ended)
            // or `--force-unlock` does.
            if lock::release(c.as_mut()).is_ok() {
                self.pool.keep(c);
            }
        }
        r
    }

    fn job(&self, sent: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>) -> push::Job<'_> {
        push::Job {
            pool: &self.pool,
            record: self.record(),
            connections: self.settings.connections,
            sent,
        }
    }

    fn push(
        &self,
        package: &Path,
        force: bool,
        sent: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    ) -> anyhow::Result<i64> {
        let job = self.job(sent);
        self.under_lock("deploy", |main| job.push(main, package, force))
    }

    fn rollback(&self, to: Option<i64>, force: bool) -> anyhow::Result<i64> {
        let job = self.job(None);
        self.under_lock("rollback", |main| job.rollback(main, to, force))
    }

    fn adopt(&self, force: bool) -> anyhow::Result<i64> {
        let rec = self.record();
        self.under_lock("adopt", |mut c| {
            let r = push::adopt(c.as_mut(), &rec, force);
            (Some(c), r)
        })
    }
}

fn parse_id(s: &str) -> anyhow::Result<i64> {
    s.parse()
        .map_err(|_| super::wire::api_error(404, &serde_json::json!({"error": "no such route"})))
}

impl Transport for AgentlessTransport {
    fn exchange(
        &self,
        req: Request<'_>,
        each: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<Answer> {
        self.route(&req, each)?;
        Ok(Answer::default())
    }

    fn label(&self) -> String {
        self.pool.connector().label()
    }

    fn alive(&self) -> bool {
        self.pool.alive()
    }

    fn drift(&self) -> Vec<tree::Drift> {
        self.drift.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Where the local record of server `name` is kept.
pub fn record_dir(project_root: &Path, name: &str) -> PathBuf {
    project_root
        .join(crate::store::STATE_DIR)
        .join("agentless")
        .join(name)
}

/// The parent folders of `path`, outermost first (`a/b/c` -> `a`, `a/b`).
pub fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// The temp name an upload of `path` is written under (in the same folder).
pub fn temp_name(path: &str) -> String {
    let (dir, name) = match path.rsplit_once('/') {
        Some((d, n)) => (format!("{d}/"), n),
        None => (String::new(), path),
    };
    // Short: a server's name length limit must hold for the temp name too.
    let short: String = name.chars().take(80).collect();
    format!(
        "{dir}{TEMP_PREFIX}{:x}-{short}",
        now_ms() ^ i64::from(std::process::id())
    )
}

/// A name from a listing, checked: no `/`, NUL, `.` or `..` (a hostile server must not
/// steer devsky outside the root).
pub fn check_listed_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\0', '\\', '\r', '\n'])
    {
        anyhow::bail!("the server listed an impossible name {name:?}");
    }
    Ok(())
}

/// The content of `path` on the remote, hashed (blake3 hex) and, with `keep`, kept there.
pub fn hash_remote(
    fs: &mut dyn RemoteFs,
    path: &str,
    keep: Option<&Path>,
) -> anyhow::Result<String> {
    struct Tee<'a> {
        h: blake3::Hasher,
        out: Option<std::fs::File>,
        _p: std::marker::PhantomData<&'a ()>,
    }
    impl Write for Tee<'_> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.h.update(b);
            if let Some(f) = &mut self.out {
                f.write_all(b)?;
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut t = Tee {
        h: blake3::Hasher::new(),
        out: match keep {
            Some(p) => Some(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot write {}", p.display()))?,
            ),
            None => None,
        },
        _p: std::marker::PhantomData,
    };
    fs.get(path, &mut t)
        .with_context(|| format!("cannot download {path}"))?;
    if let Some(f) = &t.out {
        f.sync_all()?;
    }
    Ok(t.h.finalize().to_hex().to_string())
}

/// The password of an FTP/SFTP profile: from its variable (`--password-env`) or its key
/// file; None when it has neither.
pub fn load_password(
    project_root: &Path,
    p: &super::ServerProfile,
) -> anyhow::Result<Option<String>> {
    if let Some(v) = &p.key_env {
        return std::env::var(v).map(Some).with_context(|| {
            format!(
                "the password of {} is read from ${v}, which is not set",
                p.name
            )
        });
    }
    match std::fs::read_to_string(super::key_file(project_root, &p.name)) {
        Ok(k) => Ok(Some(k.trim_end_matches(['\n', '\r']).to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("cannot read the stored password"),
    }
}

/// The parallel connections a profile's URL asks for (`?connections=N`).
pub fn connections_of(url: &reqwest::Url) -> anyhow::Result<usize> {
    match url.query_pairs().find(|(k, _)| k == "connections") {
        None => Ok(DEFAULT_CONNECTIONS),
        Some((_, v)) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_CONNECTIONS).contains(n))
            .with_context(|| format!("connections={v}: 1 to {MAX_CONNECTIONS}")),
    }
}

/// The settings of profile `p` (its record folder, connections, environment).
pub fn settings_of(
    project_root: &Path,
    p: &super::ServerProfile,
    url: &reqwest::Url,
) -> anyhow::Result<Settings> {
    Ok(Settings {
        record_dir: record_dir(project_root, &p.name),
        connections: connections_of(url)?,
        environment: p.environment.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parents_and_temp_names() {
        assert_eq!(parents("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(parents("c").count(), 0);
        let t = temp_name("a/b/index.php");
        assert!(
            t.starts_with("a/b/.devsky-up-") && t.ends_with("-index.php"),
            "{t}"
        );
        for bad in ["", ".", "..", "a/b", "a\0b", "a\\b", "a\r\nDELE b"] {
            assert!(check_listed_name(bad).is_err(), "{bad:?}");
        }
        check_listed_name(".htaccess").unwrap();
    }
}
