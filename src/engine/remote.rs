//! Talking to a deploy agent: the [`Remote`] trait (what a deploy needs from a server) and
//! its HTTP implementation against `devsky serve` (docs/API.md; the same API over SSH is
//! [`crate::engine::remote_ssh`]), and the plan and push a deploy makes through it. The
//! deploy targets of a project are in [`crate::engine::servers`] (re-exported here); how an
//! `https://` agent's certificate is trusted is in [`tls`].

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::engine::deploy::{Conflict, DeployError, Level, LogLine, LogSink};
pub use crate::engine::servers::*;

pub mod tls;

/// How a deployment ended, as the agent reports it (the CLI's exit code with the error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// 0 ok, 1 error, 2 conflicts, 3 verification failed, 4 locked.
    pub exit_code: i32,
    pub error: Option<String>,
    #[serde(default)]
    pub conflicts: Vec<RemoteConflict>,
}

/// A conflict as sent over the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteConflict {
    pub path: String,
    pub expected: Option<String>,
    pub found: Option<String>,
}

impl From<&Conflict> for RemoteConflict {
    fn from(c: &Conflict) -> RemoteConflict {
        RemoteConflict {
            path: c.path.clone(),
            expected: c.expected.clone(),
            found: c.found.clone(),
        }
    }
}

impl Outcome {
    /// The error this outcome stands for (None: it succeeded).
    pub fn error(&self) -> Option<anyhow::Error> {
        let msg = self.error.clone().unwrap_or_else(|| "failed".into());
        match self.exit_code {
            0 => None,
            2 => Some(
                DeployError::Conflicts(
                    self.conflicts
                        .iter()
                        .map(|c| Conflict {
                            path: c.path.clone(),
                            expected: c.expected.clone(),
                            found: c.found.clone(),
                        })
                        .collect(),
                )
                .into(),
            ),
            3 => Some(DeployError::VerifyFailed(msg).into()),
            4 => Some(anyhow::anyhow!(msg)),
            _ => Some(anyhow::anyhow!(msg)),
        }
    }
}

/// A deployment on the agent (the engine's `Deployment`, plus how it ended).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteDeployment {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub package_blake3: Option<String>,
    pub started: i64,
    pub finished: Option<i64>,
    pub parent: Option<i64>,
    pub summary: String,
    pub mode: String,
    /// Whether the agent is still working on it.
    #[serde(default)]
    pub running: bool,
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

/// A log line as sent over the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireLine {
    pub time_ms: i64,
    pub level: String,
    pub message: String,
}

impl From<WireLine> for LogLine {
    fn from(w: WireLine) -> LogLine {
        LogLine {
            time_ms: w.time_ms,
            level: Level::parse(&w.level),
            message: w.message,
        }
    }
}

/// What a deploy needs from a server.
pub trait Remote {
    /// The server root's map, written to `out`.
    fn map(&self, out: &Path) -> anyhow::Result<()>;
    /// [`Remote::map`], made under the deploy lock, which the agent keeps for the push
    /// that follows (`GET /api/v1/map?hold=true`): the hold's token (None from an agent
    /// that does not hold). A push given the token starts from this very map.
    fn map_held(&self, out: &Path) -> anyhow::Result<Option<String>>;
    /// Release a hold that no push will use.
    fn release(&self, hold: &str) -> anyhow::Result<()>;
    /// How to compress a package for this agent: zstd where its health says it reads it.
    fn packing(&self) -> crate::engine::deploy::package::Packing;
    /// Upload a package; returns its id (the blake3 of the zip).
    fn upload(&self, package: &Path) -> anyhow::Result<String>;
    /// Start applying an uploaded package; returns the deployment id.
    fn deploy(&self, package: &str, force: bool) -> anyhow::Result<i64>;
    /// Upload a package and start applying it in one request (`POST /api/v1/push`: the
    /// server maps its root while the package arrives); returns the deployment id. An
    /// agent without that route gets [`Remote::upload`] then [`Remote::deploy`].
    fn push(&self, package: &Path, force: bool, hold: Option<&str>) -> anyhow::Result<i64>;
    /// Every log line of deployment `id`, live until it ends; returns how it ended.
    fn follow_logs(&self, id: i64, sink: LogSink) -> anyhow::Result<RemoteDeployment>;
    /// The log so far.
    fn logs(&self, id: i64) -> anyhow::Result<Vec<LogLine>>;
    fn status(&self, id: i64) -> anyhow::Result<RemoteDeployment>;
    /// The agent's state: root, lock, current deployment.
    fn agent_status(&self) -> anyhow::Result<serde_json::Value>;
    /// The status of the agent's database (`GET /api/v1/database`: connected, tables,
    /// sizes, schema checksum); `{"configured": false}` when it was started without `--db`.
    fn database(&self) -> anyhow::Result<serde_json::Value>;
    fn history(&self) -> anyhow::Result<Vec<RemoteDeployment>>;
    /// Start a rollback to `to` (None: the deployment before the current one).
    fn rollback(&self, to: Option<i64>, force: bool) -> anyhow::Result<i64>;
}

/// The HTTP agent.
pub struct HttpRemote {
    base: String,
    key: String,
    client: reqwest::blocking::Client,
}

impl HttpRemote {
    /// The agent at `url` (`http://` or `https://`, its certificate trusted as `trust`
    /// says), with the API key `key`.
    pub fn new(
        url: &str,
        key: String,
        trust: &crate::engine::remote::tls::Trust,
    ) -> anyhow::Result<HttpRemote> {
        let client = crate::engine::remote::tls::client_builder(url, trust)?
            .connect_timeout(Duration::from_secs(10))
            // Maps, uploads and log streams take as long as they take.
            .timeout(None)
            .build()
            .context("cannot make the HTTP client")?;
        Ok(HttpRemote {
            base: format!("{}/api/v1", url.trim_end_matches('/')),
            key,
            client,
        })
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    /// Send; a non-2xx answer becomes the matching error (locked, conflicts, ...).
    fn send(
        &self,
        rb: reqwest::blocking::RequestBuilder,
    ) -> anyhow::Result<reqwest::blocking::Response> {
        let r = rb
            .send()
            .with_context(|| format!("cannot reach the agent at {}", self.base))?;
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status();
        let body: serde_json::Value = r.json().unwrap_or(serde_json::Value::Null);
        Err(api_error(status.as_u16(), &body))
    }

    /// The map into `out`, asked for with `extra` query parameters; the hold's token.
    fn map_at(&self, out: &Path, extra: &str) -> anyhow::Result<Option<String>> {
        // The compact encoding; an older agent ignores the query and sends the map file.
        let path = format!("/map?{}{extra}", crate::engine::map::wire::QUERY);
        let mut r = self.send(self.req(reqwest::Method::GET, &path))?;
        let hold = hold_of(r.headers());
        let mut dl = crate::engine::map::wire::MapDownload::new(out);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(anyhow::Error::new(e).context("the map download was interrupted"));
                }
            };
            dl.feed(&buf[..n])?;
        }
        dl.finish()?;
        Ok(hold)
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let r = self.send(self.req(reqwest::Method::GET, path))?;
        r.json()
            .context("the agent sent an answer devsky cannot read")
    }

    fn started(&self, path: &str, body: serde_json::Value) -> anyhow::Result<i64> {
        let r = self.send(self.req(reqwest::Method::POST, path).json(&body))?;
        started_id(&r.json()?)
    }

    /// A package file as a request body.
    fn package_body(package: &Path) -> anyhow::Result<reqwest::blocking::Body> {
        let f = std::fs::File::open(package)
            .with_context(|| format!("cannot open {}", package.display()))?;
        let len = f.metadata()?.len();
        Ok(reqwest::blocking::Body::sized(f, len))
    }
}

/// Whether an agent answered "no such route" (404): it is older than the route.
pub(crate) fn no_such_route(e: &anyhow::Error) -> bool {
    format!("{e}").starts_with("no such route")
}

/// The id in the answer to a deployment's start.
pub(crate) fn started_id(v: &serde_json::Value) -> anyhow::Result<i64> {
    v["id"]
        .as_i64()
        .context("the agent did not say which deployment it started")
}

/// How to compress packages for an agent whose `/health` answered `health`.
pub(crate) fn packing_of(health: &serde_json::Value) -> crate::engine::deploy::package::Packing {
    use crate::engine::deploy::package::Packing;
    let reads = health["packages"].as_array();
    if reads.is_some_and(|r| r.iter().any(|c| c == "zstd")) {
        Packing::Zstd
    } else {
        Packing::Deflate
    }
}

/// The token of a hold in an answer's headers.
pub(crate) fn hold_of(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(crate::server::hold::HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// The path of `POST /api/v1/push`.
pub(crate) fn push_path(force: bool, hold: Option<&str>) -> String {
    match hold {
        Some(t) => format!("/push?force={force}&hold={t}"),
        None => format!("/push?force={force}"),
    }
}

/// The answer to `POST /api/v1/push`, or for an agent without that route, the package
/// uploaded and then deployed.
pub(crate) fn or_in_two_steps(
    remote: &dyn Remote,
    pushed: anyhow::Result<i64>,
    package: &Path,
    force: bool,
) -> anyhow::Result<i64> {
    match pushed {
        Err(e) if no_such_route(&e) => {
            let id = remote.upload(package)?;
            remote.deploy(&id, force)
        }
        r => r,
    }
}

/// An agent from before `GET /api/v1/database` answers it with "no such route" (404).
pub(crate) fn older_agent(e: anyhow::Error) -> anyhow::Error {
    if no_such_route(&e) {
        anyhow::anyhow!(
            "this agent does not report its database (a devsky older than the server's \
             /api/v1/database route): {e}"
        )
    } else {
        e
    }
}

/// The error for an error answer of the agent.
pub(crate) fn api_error(status: u16, body: &serde_json::Value) -> anyhow::Error {
    let msg = body["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("the agent answered {status}"));
    match (status, body["code"].as_str()) {
        (401, _) => anyhow::anyhow!("the agent refused the API key (401): {msg}"),
        (409, Some("locked")) => DeployError::Locked {
            holder: body["holder"].as_str().unwrap_or("?").to_string(),
            since: body["since"].as_str().unwrap_or("?").to_string(),
            hint: String::new(),
        }
        .into(),
        (409, Some("conflicts")) => {
            let cs: Vec<RemoteConflict> =
                serde_json::from_value(body["conflicts"].clone()).unwrap_or_default();
            Outcome {
                exit_code: 2,
                error: Some(msg),
                conflicts: cs,
            }
            .error()
            .unwrap_or_else(|| anyhow::anyhow!("conflicts"))
        }
        (422, _) => DeployError::VerifyFailed(msg).into(),
        _ => anyhow::anyhow!("{msg} ({status})"),
    }
}

impl Remote for HttpRemote {
    fn map(&self, out: &Path) -> anyhow::Result<()> {
        self.map_at(out, "").map(drop)
    }

    fn map_held(&self, out: &Path) -> anyhow::Result<Option<String>> {
        self.map_at(out, "&hold=true")
    }

    fn release(&self, hold: &str) -> anyhow::Result<()> {
        self.send(self.req(reqwest::Method::DELETE, &format!("/lock?hold={hold}")))
            .map(drop)
    }

    fn packing(&self) -> crate::engine::deploy::package::Packing {
        let health = self
            .send(self.req(reqwest::Method::GET, "/health"))
            .and_then(|r| Ok(r.json::<serde_json::Value>()?))
            .unwrap_or_default();
        packing_of(&health)
    }

    fn upload(&self, package: &Path) -> anyhow::Result<String> {
        let r = self.send(
            self.req(reqwest::Method::POST, "/packages")
                .header("content-type", "application/zip")
                .body(Self::package_body(package)?),
        )?;
        let v: serde_json::Value = r.json()?;
        Ok(v["id"]
            .as_str()
            .context("the agent did not return the package id")?
            .to_string())
    }

    fn deploy(&self, package: &str, force: bool) -> anyhow::Result<i64> {
        self.started(
            "/deployments",
            serde_json::json!({"package": package, "force": force}),
        )
    }

    fn push(&self, package: &Path, force: bool, hold: Option<&str>) -> anyhow::Result<i64> {
        let sent = self
            .send(
                self.req(reqwest::Method::POST, &push_path(force, hold))
                    .header("content-type", "application/zip")
                    .body(Self::package_body(package)?),
            )
            .and_then(|r| started_id(&r.json()?));
        or_in_two_steps(self, sent, package, force)
    }

    fn follow_logs(&self, id: i64, sink: LogSink) -> anyhow::Result<RemoteDeployment> {
        let r = self.send(self.req(
            reqwest::Method::GET,
            &format!("/deployments/{id}/logs/stream"),
        ))?;
        let mut event = String::new();
        let mut data = String::new();
        for line in BufReader::new(r).lines() {
            let line = line.context("the log stream was interrupted")?;
            if line.is_empty() {
                match event.as_str() {
                    "log" => {
                        let w: WireLine = serde_json::from_str(&data)?;
                        sink(&w.into());
                    }
                    "end" => {
                        return serde_json::from_str(&data)
                            .context("the agent sent an end event devsky cannot read");
                    }
                    _ => {}
                }
                event.clear();
                data.clear();
            } else if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(d.trim_start());
            }
        }
        // The stream ended without its end event: ask.
        self.status(id)
    }

    fn logs(&self, id: i64) -> anyhow::Result<Vec<LogLine>> {
        let r = self.send(self.req(reqwest::Method::GET, &format!("/deployments/{id}/logs")))?;
        let text = r.text()?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Ok(serde_json::from_str::<WireLine>(l)?.into()))
            .collect()
    }

    fn status(&self, id: i64) -> anyhow::Result<RemoteDeployment> {
        self.get_json(&format!("/deployments/{id}"))
    }

    fn agent_status(&self) -> anyhow::Result<serde_json::Value> {
        self.get_json("/status")
    }

    fn database(&self) -> anyhow::Result<serde_json::Value> {
        // The agent gives up on the database after 20 s; this is only a backstop.
        let rb = self
            .req(reqwest::Method::GET, "/database")
            .timeout(Duration::from_secs(60));
        self.send(rb)
            .and_then(|r| {
                r.json()
                    .context("the agent sent an answer devsky cannot read")
            })
            .map_err(older_agent)
    }

    fn history(&self) -> anyhow::Result<Vec<RemoteDeployment>> {
        self.get_json("/deployments")
    }

    fn rollback(&self, to: Option<i64>, force: bool) -> anyhow::Result<i64> {
        self.started("/rollback", serde_json::json!({"to": to, "force": force}))
    }
}

/// The deploy plan against a server: its map, fetched while the project is mapped (the two
/// scans run at the same time), diffed with the project's own.
pub fn plan(
    project: &crate::engine::project::Project,
    remote: &dyn Remote,
    progress: &crate::engine::jobs::Progress,
) -> anyhow::Result<crate::engine::deploy::plan::Plan> {
    plan_overlapped(project, |out| remote.map(out), progress).map(|(_, plan)| plan)
}

/// Connect (`connect`, e.g. [`connect`] for a profile: an SSH session takes a while to set
/// up) and make the plan, the project's map running all the while; the remote is returned
/// for what comes next (upload, deploy). With `hold`, the server's map is made under the
/// deploy lock, kept for the push that follows ([`Remote::map_held`]): its token comes
/// back too.
pub fn connect_and_plan(
    project: &crate::engine::project::Project,
    connect: impl FnOnce() -> anyhow::Result<Box<dyn Remote>>,
    hold: bool,
    progress: &crate::engine::jobs::Progress,
) -> anyhow::Result<(
    Box<dyn Remote>,
    crate::engine::deploy::plan::Plan,
    Option<String>,
)> {
    let ((remote, token), plan) = plan_overlapped(
        project,
        |out| {
            let remote = connect()?;
            let token = if hold {
                remote.map_held(out)?
            } else {
                remote.map(out)?;
                None
            };
            Ok((remote, token))
        },
        progress,
    )?;
    Ok((remote, plan, token))
}

/// Map the project on a thread of its own while `fetch` writes the server's map to the path
/// it is given; then diff the two.
fn plan_overlapped<R>(
    project: &crate::engine::project::Project,
    fetch: impl FnOnce(&Path) -> anyhow::Result<R>,
    progress: &crate::engine::jobs::Progress,
) -> anyhow::Result<(R, crate::engine::deploy::plan::Plan)> {
    let tmp = tempfile::tempdir()?;
    let remote_map = tmp.path().join("remote.map");
    progress.set(0, None, "fetching the server's map and mapping the project");
    let (fetched, local) = std::thread::scope(|s| {
        let local =
            s.spawn(|| crate::engine::deploy::plan::local_map(project, tmp.path(), progress));
        let fetched = fetch(&remote_map);
        let local = local
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("mapping the project failed (a panic)")));
        (fetched, local)
    });
    let fetched = fetched?;
    let local = local?;
    progress.check()?;
    let plan = crate::engine::deploy::plan::plan_files(&local, &remote_map)?;
    Ok((fetched, plan))
}

/// Upload a built package and start deploying it (from the map of `hold`, if the server
/// holds one for it); the deployment's id. The package's folder then keeps the newest
/// [`KEEP_PACKAGES`](crate::engine::deploy::package::KEEP_PACKAGES) packages.
pub fn upload_and_deploy(
    remote: &dyn Remote,
    package: &Path,
    force: bool,
    hold: Option<&str>,
) -> anyhow::Result<i64> {
    let id = remote.push(package, force, hold)?;
    if let Some(dir) = package.parent() {
        use crate::engine::deploy::package::{KEEP_PACKAGES, keep_newest_packages};
        keep_newest_packages(dir, KEEP_PACKAGES);
    }
    Ok(id)
}

/// The [`Remote`] of a server profile.
pub fn connect(project_root: &Path, p: &ServerProfile) -> anyhow::Result<Box<dyn Remote>> {
    match p.transport.as_str() {
        "http" => {
            let url = p.url.as_deref().context("the server has no URL")?;
            Ok(Box::new(HttpRemote::new(
                url,
                load_key(project_root, p)?,
                &p.trust(),
            )?))
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
            let target = crate::engine::remote_ssh::SshTarget::from_columns(ssh, root)?;
            Ok(Box::new(crate::engine::remote_ssh::SshRemote::connect(
                &target,
            )?))
        }
        t => bail!("transport {t} is not supported (http or ssh)"),
    }
}
