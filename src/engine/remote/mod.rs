//! Talking to a server: [`Remote`], the one client of the agent's API (docs/API.md), written
//! once over a [`Transport`] (how requests reach the server: [`http`] for `devsky serve`,
//! [`ssh`] for `devsky agent --stdio` behind the system's ssh, [`git`] for a branch of a
//! Git repository, with pull requests through [`git_api`]). The wire types are in
//! [`wire`]; the deploy targets of a project in [`servers`] (re-exported here), the shell
//! words of an SSH target in [`ssh_target`]; how an `https://` agent's certificate is
//! trusted in [`tls`]. Targets without an agent, [`ftp`] (FTP and FTPS) and [`sftp`], are
//! answered on the client by [`agentless`]. The plan and push a deploy makes
//! through a `Remote` are in [`crate::engine::deploy::push`].

pub mod agentless;
pub mod ftp;
pub mod git;
pub mod git_api;
pub mod git_opts;
pub mod http;
pub mod servers;
pub mod sessions;
pub mod sftp;
pub mod ssh;
pub mod ssh_target;
pub mod tls;
pub mod transport;
pub mod wire;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, bail};

use crate::engine::deploy::package::Packing;
use crate::engine::deploy::{LogLine, LogSink};
use crate::engine::jobs::Progress;
pub use servers::*;
pub use transport::{Answer, Body, Method, Request, Transport};
pub use wire::{Outcome, RemoteConflict, RemoteDeployment, WireLine, WireProgress};
use wire::{no_such_route, older_agent, packing_of};

/// A server's agent, over some [`Transport`]: everything a deploy asks of a server.
pub struct Remote {
    /// Shared with [`sessions::Sessions`] where a session keeps the connection.
    transport: Arc<dyn Transport>,
    /// The agent's `GET /health` answer, asked for once.
    health: OnceLock<serde_json::Value>,
    /// Bytes of the package being uploaded sent so far (see [`Remote::upload_counter`]).
    sent: Arc<AtomicU64>,
}

impl Remote {
    pub fn new(transport: Box<dyn Transport>) -> Remote {
        Remote::shared(Arc::from(transport))
    }

    /// A client over a transport that others may use too (a connection kept for a
    /// session, [`sessions::Sessions`]); requests over it take turns.
    pub fn shared(transport: Arc<dyn Transport>) -> Remote {
        let health = OnceLock::new();
        if let Some(h) = transport.health() {
            let _ = health.set(h);
        }
        Remote {
            transport,
            health,
            sent: Arc::default(),
        }
    }

    /// The HTTP agent at `url` (`devsky serve`; `http://` or `https://`, its certificate
    /// trusted as `trust` says), with the API key `key`.
    pub fn http(url: &str, key: String, trust: &tls::Trust) -> anyhow::Result<Remote> {
        Ok(Remote::new(Box::new(http::HttpTransport::new(
            url, key, trust,
        )?)))
    }

    /// The transport, to share with another [`Remote`] ([`Remote::shared`]).
    pub fn transport(&self) -> Arc<dyn Transport> {
        self.transport.clone()
    }

    /// Where the agent is, for messages.
    pub fn label(&self) -> String {
        self.transport.label()
    }

    fn exchange(
        &self,
        req: Request<'_>,
        each: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<Answer> {
        self.transport.exchange(req, each)
    }

    /// The whole body of the answer to `req`.
    fn bytes(&self, req: Request<'_>) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.exchange(req, &mut |d| {
            out.extend_from_slice(d);
            Ok(())
        })?;
        Ok(out)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, req: Request<'_>) -> anyhow::Result<T> {
        let b = self.bytes(req)?;
        serde_json::from_slice(&b).context("the agent sent an answer devsky cannot read")
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.json(Request::new(Method::Get, path))
    }

    /// The id of the deployment a request started (`{"id": N, ...}`).
    fn started(&self, req: Request<'_>) -> anyhow::Result<i64> {
        let v: serde_json::Value = self.json(req)?;
        v["id"]
            .as_i64()
            .context("the agent did not say which deployment it started")
    }

    fn start_json(&self, path: &str, body: serde_json::Value) -> anyhow::Result<i64> {
        let text = body.to_string();
        self.started(Request::new(Method::Post, path).body(Body::Json(&text)))
    }

    /// The map into `out`, asked for with `extra` query parameters; the hold's token.
    fn map_at(&self, out: &Path, extra: &str) -> anyhow::Result<Option<String>> {
        // The compact encoding; an older agent ignores the query and sends the map file.
        let path = format!("/map?{}{extra}", crate::engine::map::wire::QUERY);
        let mut dl = crate::engine::map::wire::MapDownload::new(out);
        let answer = self.exchange(Request::new(Method::Get, &path), &mut |d| dl.feed(d))?;
        dl.finish()?;
        Ok(answer.hold)
    }

    /// The server root's map, written to `out`.
    pub fn map(&self, out: &Path) -> anyhow::Result<()> {
        self.map_at(out, "").map(drop)
    }

    /// [`Remote::map`], made under the deploy lock, which the agent keeps for the push
    /// that follows (`GET /api/v1/map?hold=true`): the hold's token (None from an agent
    /// that does not hold). A push given the token starts from this very map.
    pub fn map_held(&self, out: &Path) -> anyhow::Result<Option<String>> {
        self.map_at(out, "&hold=true")
    }

    /// Release a hold that no push will use.
    pub fn release(&self, hold: &str) -> anyhow::Result<()> {
        let path = format!("/lock?hold={hold}");
        self.bytes(Request::new(Method::Delete, &path)).map(drop)
    }

    /// The agent's `GET /health` answer (asked once).
    fn health(&self) -> &serde_json::Value {
        self.health
            .get_or_init(|| self.get_json("/health").unwrap_or(serde_json::Value::Null))
    }

    /// How to compress a package for this agent: zstd where its health says it reads it.
    pub fn packing(&self) -> Packing {
        packing_of(self.health())
    }

    /// The bytes of the package being uploaded ([`Remote::upload`], [`Remote::push`]) sent
    /// so far, counted as the transport sends them: read it from another thread to show
    /// the upload's progress. Each upload starts it at 0.
    pub fn upload_counter(&self) -> Arc<AtomicU64> {
        self.sent.clone()
    }

    /// Upload a package; returns its id (the blake3 of the zip).
    pub fn upload(&self, package: &Path) -> anyhow::Result<String> {
        self.sent.store(0, Ordering::Relaxed);
        let req = Request::new(Method::Post, "/packages")
            .body(Body::Package(package))
            .counting(&self.sent);
        let v: serde_json::Value = self.json(req)?;
        Ok(v["id"]
            .as_str()
            .context("the agent did not return the package id")?
            .to_string())
    }

    /// Start applying an uploaded package; returns the deployment id.
    pub fn deploy(&self, package: &str, force: bool) -> anyhow::Result<i64> {
        self.start_json(
            "/deployments",
            serde_json::json!({"package": package, "force": force}),
        )
    }

    /// Upload a package and start applying it in one request (`POST /api/v1/push`: the
    /// server maps its root while the package arrives, or starts from the map of `hold`);
    /// returns the deployment id. An agent without that route gets [`Remote::upload`]
    /// then [`Remote::deploy`].
    pub fn push(&self, package: &Path, force: bool, hold: Option<&str>) -> anyhow::Result<i64> {
        let path = match hold {
            Some(t) => format!("/push?force={force}&hold={t}"),
            None => format!("/push?force={force}"),
        };
        self.sent.store(0, Ordering::Relaxed);
        let req = Request::new(Method::Post, &path)
            .body(Body::Package(package))
            .counting(&self.sent);
        match self.started(req) {
            Err(e) if no_such_route(&e) => {
                let id = self.upload(package)?;
                self.deploy(&id, force)
            }
            r => r,
        }
    }

    /// Every log line of deployment `id`, live until it ends, and how far it got while it
    /// runs (an agent's `progress` events, reported to `progress`); returns how it ended.
    pub fn follow_logs(
        &self,
        id: i64,
        sink: LogSink,
        progress: &Progress,
    ) -> anyhow::Result<RemoteDeployment> {
        let mut events = SseParser::default();
        let mut end: Option<RemoteDeployment> = None;
        let path = format!("/deployments/{id}/logs/stream");
        self.exchange(Request::new(Method::Get, &path), &mut |chunk| {
            for (event, data) in events.feed(chunk) {
                match event.as_str() {
                    "log" => {
                        let w: WireLine = serde_json::from_str(&data)?;
                        sink(&LogLine::from(w));
                    }
                    "progress" => {
                        // How far it got: worth showing, not worth failing over.
                        if let Ok(p) = serde_json::from_str::<WireProgress>(&data) {
                            progress.set(p.done, p.total, &p.what);
                        }
                    }
                    "end" if end.is_none() => {
                        end = Some(
                            serde_json::from_str(&data)
                                .context("the agent sent an end event devsky cannot read")?,
                        );
                    }
                    _ => {}
                }
            }
            Ok(())
        })?;
        match end {
            Some(d) => Ok(d),
            // The stream ended without its end event: ask.
            None => self.status(id),
        }
    }

    /// The log so far.
    pub fn logs(&self, id: i64) -> anyhow::Result<Vec<LogLine>> {
        let path = format!("/deployments/{id}/logs");
        let b = self.bytes(Request::new(Method::Get, &path))?;
        String::from_utf8_lossy(&b)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Ok(serde_json::from_str::<WireLine>(l)?.into()))
            .collect()
    }

    pub fn status(&self, id: i64) -> anyhow::Result<RemoteDeployment> {
        self.get_json(&format!("/deployments/{id}"))
    }

    /// The agent's state: root, lock, current deployment.
    pub fn agent_status(&self) -> anyhow::Result<serde_json::Value> {
        self.get_json("/status")
    }

    /// The status of the agent's database (`GET /api/v1/database`: connected, tables,
    /// sizes, schema checksum); `{"configured": false}` when it was started without `--db`.
    pub fn database(&self) -> anyhow::Result<serde_json::Value> {
        // The agent gives up on the database after 20 s; this is only a backstop.
        let req =
            Request::new(Method::Get, "/database").timeout(std::time::Duration::from_secs(60));
        self.json(req).map_err(older_agent)
    }

    /// The agent's deployments, oldest first.
    pub fn history(&self) -> anyhow::Result<Vec<RemoteDeployment>> {
        self.get_json("/deployments")
    }

    /// The paths the last [`Remote::map`] found changed on the server by someone else
    /// (FTP/SFTP targets; empty for an agent).
    pub fn drift(&self) -> Vec<agentless::tree::Drift> {
        self.transport.drift()
    }

    /// Take over a target devsky did not deploy to (FTP/SFTP): hash its files once and
    /// write its state file; the adoption's id.
    pub fn adopt(&self, force: bool) -> anyhow::Result<i64> {
        let path = format!("/adopt?force={force}");
        match self.started(Request::new(Method::Post, &path)) {
            Err(e) if no_such_route(&e) => {
                bail!(
                    "{} has a devsky agent: there is nothing to adopt",
                    self.label()
                )
            }
            r => r,
        }
    }

    /// `--force-unlock` on an FTP/SFTP target: break its deploy lock if it is stale (see
    /// [`agentless::lock`]); whether there was one. An agent's lock is the agent's.
    pub fn force_unlock(&self) -> anyhow::Result<bool> {
        if self.health().get("agentless").is_none() {
            bail!(
                "{} has a devsky agent: its lock is the agent's (`devsky agent unlock` on the \
                 server)",
                self.label()
            );
        }
        let v: serde_json::Value = self.json(Request::new(Method::Delete, "/lock?stale=true"))?;
        Ok(v["released"] == true)
    }

    /// Start a rollback to `to` (None: the deployment before the current one).
    pub fn rollback(&self, to: Option<i64>, force: bool) -> anyhow::Result<i64> {
        self.start_json("/rollback", serde_json::json!({"to": to, "force": force}))
    }
}

/// Server-sent events from a byte stream: whole `(event, data)` pairs as they complete.
#[derive(Default)]
struct SseParser {
    pending: Vec<u8>,
    event: String,
    data: String,
}

impl SseParser {
    fn feed(&mut self, chunk: &[u8]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.pending.extend_from_slice(chunk);
        while let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.pending.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                out.push((
                    std::mem::take(&mut self.event),
                    std::mem::take(&mut self.data),
                ));
            } else if let Some(e) = line.strip_prefix("event:") {
                self.event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(d.trim_start());
            }
        }
        out
    }
}

/// The [`Remote`] of a server profile.
pub fn connect(project_root: &Path, p: &ServerProfile) -> anyhow::Result<Remote> {
    match p.transport.as_str() {
        "http" => {
            let url = p.url.as_deref().context("the server has no URL")?;
            Remote::http(url, load_key(project_root, p)?, &p.trust())
        }
        "ssh" => {
            let ssh = p
                .ssh
                .as_deref()
                .context("the server has no SSH destination")?;
            let root = p
                .remote_root
                .as_deref()
                .context("the server has no remote root (--root)")?;
            let target = ssh_target::SshTarget::from_columns(ssh, root)?;
            Ok(Remote::new(Box::new(ssh::SshTransport::connect(&target)?)))
        }
        "git" => Ok(Remote::new(Box::new(git::GitTransport::connect(
            project_root,
            p,
        )?))),
        "ftp" => ftp::connect(project_root, p),
        "sftp" => sftp::connect(project_root, p),
        t => bail!("transport {t} is not supported (http, ssh, git, ftp or sftp)"),
    }
}

#[cfg(test)]
mod tests {
    use super::SseParser;

    #[test]
    fn sse_events_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b"event: log\ndata: {\"a\"").is_empty());
        let got = p.feed(b":1}\r\n\nevent: end\ndata: x\ndata: y\n\n");
        assert_eq!(
            got,
            vec![
                ("log".to_string(), "{\"a\":1}".to_string()),
                ("end".to_string(), "x\ny".to_string())
            ]
        );
    }
}
