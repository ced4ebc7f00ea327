//! The handlers of the HTTP agent (see docs/API.md for every route, with examples).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Path as UrlPath, Request, State as Ax};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::Agent;
use super::keys::Keys;
use crate::engine::deploy::apply::apply;
use crate::engine::deploy::policy::Policy;
use crate::engine::deploy::rollback::rollback;
use crate::engine::deploy::{
    DeployError, Deployment, LogLine, State, exit_code, map_root, rfc3339,
};
use crate::engine::jobs::Progress;
use crate::engine::remote::{Outcome, RemoteConflict};

type Shared = Ax<Arc<Agent>>;

/// An error answer: a status and a JSON body `{"error": ..., "code": ..., ...}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, msg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({"error": msg.into(), "code": code}),
        }
    }
    fn bad(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", msg)
    }
    fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", msg)
    }
    fn internal(e: anyhow::Error) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{e:#}"),
        )
    }

    /// The answer for an error of the deploy engine: 409 locked or conflicts, 422
    /// verification failed, otherwise `fallback`.
    fn of_deploy(e: &anyhow::Error, fallback: StatusCode) -> ApiError {
        match e.chain().find_map(|c| c.downcast_ref::<DeployError>()) {
            Some(d @ DeployError::Locked { holder, since, .. }) => ApiError {
                status: StatusCode::CONFLICT,
                body: json!({"error": d.to_string(), "code": "locked",
                             "holder": holder, "since": since}),
            },
            Some(d @ DeployError::Conflicts(cs)) => ApiError {
                status: StatusCode::CONFLICT,
                body: json!({"error": d.to_string(), "code": "conflicts",
                             "conflicts": cs.iter().map(RemoteConflict::from).collect::<Vec<_>>()}),
            },
            Some(d @ DeployError::VerifyFailed(_)) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "verify_failed",
                d.to_string(),
            ),
            None => ApiError::new(
                fallback,
                if fallback == StatusCode::BAD_REQUEST {
                    "bad_request"
                } else {
                    "internal"
                },
                format!("{e:#}"),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal(e)
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Run `f` with the agent's state on the blocking pool.
async fn with_state<T: Send + 'static>(
    agent: &Arc<Agent>,
    f: impl FnOnce(&Agent, &State) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || {
        let state = agent.state()?;
        f(&agent, &state)
    })
    .await
    .map_err(|e| ApiError::internal(anyhow::anyhow!("worker failed: {e}")))?
}

/// Method, path and status of every request on stderr (never headers: they carry keys).
pub async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let r = next.run(req).await;
    eprintln!("devsky serve: {method} {path} -> {}", r.status().as_u16());
    r
}

/// The key check: `Authorization: Bearer KEY` with a live key, else 401 (slowed down for
/// an address that keeps failing).
pub async fn require_key(
    Ax(agent): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|k| k.trim().to_string());
    let ok = match presented {
        None => false,
        Some(key) => {
            let dir = agent.state_dir.clone();
            tokio::task::spawn_blocking(move || Keys::open(&dir).and_then(|k| k.verify(&key)))
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or(false)
        }
    };
    if ok {
        return next.run(req).await;
    }
    let wait = agent.throttle.fail(addr.ip());
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let mut r = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a valid API key is needed: Authorization: Bearer KEY",
    )
    .into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see docs/API.md")
}

pub async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}))
}

/// The chunk size of streamed files.
const CHUNK: usize = 256 * 1024;

/// Stream a file as the body (the path may be removed once it is open).
async fn file_body(path: &Path, content_type: &'static str) -> ApiResult<Response> {
    let f = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("cannot open {}: {e}", path.display())))?;
    let len = f.metadata().await.map(|m| m.len()).ok();
    // Big chunks: over `agent --stdio` every chunk is a write on a blocking thread.
    let chunks = tokio_util::io::ReaderStream::with_capacity(f, CHUNK);
    let mut r = Body::from_stream(chunks).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(len) = len {
        r.headers_mut().insert(header::CONTENT_LENGTH, len.into());
    }
    Ok(r)
}

/// `GET /api/v1/map`: the root's map file, made with the state's warm stat cache; requests
/// that arrive together share one scan ([`super::mapcache`]).
pub async fn map(Ax(agent): Shared) -> ApiResult<Response> {
    let file = agent
        .maps
        .get(|| {
            with_state(&agent, |agent, state| {
                let tmp = tempfile::Builder::new()
                    .prefix(super::mapcache::PREFIX)
                    .suffix(".map")
                    .tempfile_in(state.dir().join("cache"))
                    .map_err(|e| ApiError::internal(e.into()))?;
                map_root(&agent.root, state, tmp.path(), &Progress::silent())?;
                Ok(tmp)
            })
        })
        .await?;
    // Opened before `file` may go away.
    file_body(file.path(), "application/octet-stream").await
}

/// `GET /api/v1/status`.
pub async fn status(Ax(agent): Shared) -> ApiResult<axum::Json<serde_json::Value>> {
    with_state(&agent, |agent, state| {
        let running: Vec<i64> = agent
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        let p = Policy::load(state.dir())?;
        Ok(axum::Json(json!({
            "root": agent.root,
            "lock": lock_json(state)?,
            "current": state.current()?,
            "running": running,
            "environment": p.environment,
            "mode": if p.release_mode { "release" } else { "files" },
        })))
    })
    .await
}

/// `GET /api/v1/environment`: what this agent deploys into and by which rules.
pub async fn environment(Ax(agent): Shared) -> ApiResult<axum::Json<serde_json::Value>> {
    with_state(&agent, |agent, state| {
        let p = Policy::load(state.dir())?;
        Ok(axum::Json(json!({
            "environment": p.environment,
            "root": agent.root,
            "mode": if p.release_mode { "release" } else { "files" },
            "keep_releases": p.keep_releases,
            "keep": p.keep,
            "database": agent.database.is_some(),
            "version": env!("CARGO_PKG_VERSION"),
        })))
    })
    .await
}

fn lock_json(state: &State) -> anyhow::Result<serde_json::Value> {
    Ok(match state.lock_info()? {
        None => json!({"locked": false}),
        Some(None) => json!({"locked": true, "holder": null, "readable": false}),
        Some(Some(h)) => json!({
            "locked": true, "holder": h.holder, "user": h.user,
            "since": rfc3339(h.since_ms), "since_ms": h.since_ms,
            "stale": h.holder_is_dead(),
        }),
    })
}

fn packages_dir(agent: &Agent) -> PathBuf {
    agent.state_dir.join("packages")
}

fn package_path(agent: &Agent, id: &str) -> ApiResult<PathBuf> {
    if id.len() != 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(ApiError::bad(
            "a package id is the 64 lowercase hex digits of its blake3",
        ));
    }
    Ok(packages_dir(agent).join(format!("{id}.zip")))
}

/// `POST /api/v1/packages`: the body is a package zip; stored by its blake3.
pub async fn upload_package(Ax(agent): Shared, body: Body) -> ApiResult<Response> {
    let dir = packages_dir(&agent);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::internal(e.into()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".upload-")
        .tempfile_in(&dir)
        .map_err(|e| ApiError::internal(e.into()))?;
    let mut f = tokio::fs::File::from_std(tmp.reopen().map_err(|e| ApiError::internal(e.into()))?);
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    let max = crate::engine::deploy::Limits::default().max_total;
    let mut body = body;
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| ApiError::bad(format!("the upload broke off: {e}")))?;
        if let Ok(data) = frame.into_data() {
            hasher.update(&data);
            size += data.len() as u64;
            if size > max {
                return Err(ApiError::bad(format!(
                    "the package is larger than {max} bytes, the most a package may hold"
                )));
            }
            f.write_all(&data)
                .await
                .map_err(|e| ApiError::internal(e.into()))?;
        }
    }
    f.sync_all()
        .await
        .map_err(|e| ApiError::internal(e.into()))?;
    drop(f);
    if size == 0 {
        return Err(ApiError::bad("the body is empty: send the package zip"));
    }
    let id = hasher.finalize().to_hex().to_string();
    let dest = dir.join(format!("{id}.zip"));
    tmp.persist(&dest)
        .map_err(|e| ApiError::internal(e.error.into()))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "blake3": id, "size": size})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct DeployBody {
    package: String,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
struct RollbackBody {
    #[serde(default)]
    to: Option<i64>,
    #[serde(default)]
    force: bool,
}

fn parse_body<T: serde::de::DeserializeOwned>(b: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(b).map_err(|e| ApiError::bad(format!("bad JSON body: {e}")))
}

enum Job {
    Apply { package: PathBuf, force: bool },
    Rollback { to: Option<i64>, force: bool },
}

/// The deployment id in the engine's first line after it recorded the deployment.
fn started_id(message: &str) -> Option<i64> {
    if let Some(rest) = message.strip_prefix("deployment ")
        && let Some((id, tail)) = rest.split_once(' ')
        && tail.starts_with("started")
    {
        return id.parse().ok();
    }
    let rest = message.strip_prefix("rollback ")?;
    rest.split_once(':')?.0.parse().ok()
}

/// Run a deploy or rollback on its own thread; answers with the deployment id as soon as
/// the engine has recorded it, or with the error that stopped it before.
async fn start(agent: Arc<Agent>, job: Job) -> ApiResult<Response> {
    let (tx, rx) = tokio::sync::oneshot::channel::<ApiResult<i64>>();
    std::thread::spawn(move || {
        let tx = std::sync::Mutex::new(Some(tx));
        let send = |r: ApiResult<i64>| {
            if let Some(tx) = tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = tx.send(r);
            }
        };
        let started = std::cell::Cell::new(None::<i64>);
        let slow = std::env::var("DEVSKY_TEST_SLOW_DEPLOY_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        let sink = |l: &LogLine| {
            super::print_line(l);
            if started.get().is_none()
                && let Some(id) = started_id(&l.message)
            {
                started.set(Some(id));
                agent
                    .running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id);
                send(Ok(id));
                if let Some(ms) = slow {
                    std::thread::sleep(Duration::from_millis(ms));
                }
            }
        };
        let result = agent.state().and_then(|state| match &job {
            Job::Apply { package, force } => {
                let opts = Policy::load(state.dir())?.apply_options(*force);
                apply(
                    &agent.root,
                    &state,
                    package,
                    &opts,
                    &Progress::silent(),
                    &sink,
                )
            }
            Job::Rollback { to, force } => {
                let opts = Policy::load(state.dir())?.rollback_options(*force);
                rollback(&agent.root, &state, *to, &opts, &Progress::silent(), &sink)
            }
        });
        match started.get() {
            Some(id) => {
                let outcome = match &result {
                    Ok(_) => Outcome {
                        exit_code: 0,
                        error: None,
                        conflicts: Vec::new(),
                    },
                    Err(e) => outcome_of(e),
                };
                agent
                    .outcomes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, outcome);
                agent
                    .running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            }
            None => send(match result {
                Ok(d) => Ok(d.id),
                Err(e) => Err(ApiError::of_deploy(&e, StatusCode::BAD_REQUEST)),
            }),
        }
    });
    let id = rx
        .await
        .map_err(|_| ApiError::internal(anyhow::anyhow!("the deploy thread died")))??;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({
            "id": id,
            "status": format!("/api/v1/deployments/{id}"),
            "logs": format!("/api/v1/deployments/{id}/logs/stream"),
        })),
    )
        .into_response())
}

fn outcome_of(e: &anyhow::Error) -> Outcome {
    let conflicts = match e.chain().find_map(|c| c.downcast_ref::<DeployError>()) {
        Some(DeployError::Conflicts(cs)) => cs.iter().map(RemoteConflict::from).collect(),
        _ => Vec::new(),
    };
    Outcome {
        exit_code: exit_code(e),
        error: Some(format!("{e:#}")),
        conflicts,
    }
}

/// `POST /api/v1/deployments`: `{"package": ID, "force": false}`.
pub async fn start_deployment(Ax(agent): Shared, body: Bytes) -> ApiResult<Response> {
    let b: DeployBody = parse_body(&body)?;
    let package = package_path(&agent, &b.package)?;
    if !package.is_file() {
        return Err(ApiError::not_found(format!(
            "no package {}: upload it first (POST /api/v1/packages)",
            b.package
        )));
    }
    start(
        agent,
        Job::Apply {
            package,
            force: b.force,
        },
    )
    .await
}

/// `POST /api/v1/rollback`: `{"to": ID | null, "force": false}`.
pub async fn start_rollback(Ax(agent): Shared, body: Bytes) -> ApiResult<Response> {
    let b: RollbackBody = if body.is_empty() {
        RollbackBody {
            to: None,
            force: false,
        }
    } else {
        parse_body(&body)?
    };
    if b.to.is_some_and(|t| t < 0) {
        return Err(ApiError::bad(
            "`to` is a deployment id (0: before the first)",
        ));
    }
    start(
        agent,
        Job::Rollback {
            to: b.to,
            force: b.force,
        },
    )
    .await
}

/// A deployment with how it ended.
#[derive(Serialize)]
struct View {
    #[serde(flatten)]
    d: Deployment,
    running: bool,
    outcome: Option<Outcome>,
}

fn view(agent: &Agent, d: Deployment) -> View {
    View {
        running: agent.is_running(d.id),
        outcome: agent.outcome(d.id),
        d,
    }
}

fn parse_id(s: &str) -> ApiResult<i64> {
    s.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::bad(format!("{s:?} is not a deployment id")))
}

/// `GET /api/v1/deployments`: the history, oldest first.
pub async fn list_deployments(Ax(agent): Shared) -> ApiResult<axum::Json<serde_json::Value>> {
    with_state(&agent, |agent, state| {
        let all: Vec<View> = state
            .deployments()?
            .into_iter()
            .map(|d| view(agent, d))
            .collect();
        Ok(axum::Json(
            serde_json::to_value(all).map_err(anyhow::Error::from)?,
        ))
    })
    .await
}

/// `GET /api/v1/deployments/{id}`.
pub async fn deployment(
    Ax(agent): Shared,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let id = parse_id(&id)?;
    with_state(&agent, move |agent, state| {
        let d = state
            .deployment(id)?
            .ok_or_else(|| ApiError::not_found(format!("no deployment {id}")))?;
        Ok(axum::Json(
            serde_json::to_value(view(agent, d)).map_err(anyhow::Error::from)?,
        ))
    })
    .await
}

/// `GET /api/v1/deployments/{id}/logs`: JSON lines.
pub async fn logs(Ax(agent): Shared, UrlPath(id): UrlPath<String>) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let text = with_state(&agent, move |_, state| {
        if state.deployment(id)?.is_none() {
            return Err(ApiError::not_found(format!("no deployment {id}")));
        }
        let mut s = String::new();
        for l in state.logs(id)? {
            s.push_str(&serde_json::to_string(&l).map_err(anyhow::Error::from)?);
            s.push('\n');
        }
        Ok(s)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], text).into_response())
}

/// `GET /api/v1/deployments/{id}/logs/stream`: Server-Sent Events — every line so far,
/// then new ones as they come (`event: log`), and `event: end` with the deployment once it
/// has ended.
pub async fn logs_stream(Ax(agent): Shared, UrlPath(id): UrlPath<String>) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    with_state(&agent, move |_, state| {
        state
            .deployment(id)?
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(format!("no deployment {id}")))
    })
    .await?;
    let (mut w, r) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let mut sent = 0usize;
        let mut quiet = 0u32;
        loop {
            let running = agent.is_running(id);
            let Ok((lines, d)) = with_state(&agent, move |_, state| {
                Ok((state.logs(id)?, state.deployment(id)?))
            })
            .await
            else {
                return;
            };
            let mut out = String::new();
            for l in lines.iter().skip(sent) {
                if let Ok(j) = serde_json::to_string(l) {
                    out.push_str(&format!("event: log\ndata: {j}\n\n"));
                }
            }
            sent = lines.len();
            let ended = !running && d.as_ref().is_none_or(|d| d.status != "applying");
            if ended && let Some(d) = d {
                let v = view(&agent, d);
                if let Ok(j) = serde_json::to_string(&v) {
                    out.push_str(&format!("event: end\ndata: {j}\n\n"));
                }
            }
            quiet += 1;
            // A comment now and then, so a client that went away is noticed.
            if out.is_empty() && quiet >= 25 {
                out.push_str(": ping\n\n");
            }
            if !out.is_empty() {
                quiet = 0;
                if w.write_all(out.as_bytes()).await.is_err() || w.flush().await.is_err() {
                    return;
                }
            }
            if ended {
                let _ = w.shutdown().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut resp = Body::from_stream(tokio_util::io::ReaderStream::new(r)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// An archived package.
#[derive(Serialize)]
struct Archive {
    id: i64,
    size: u64,
    package_blake3: Option<String>,
}

/// `GET /api/v1/archives`.
pub async fn list_archives(Ax(agent): Shared) -> ApiResult<axum::Json<serde_json::Value>> {
    with_state(&agent, |_, state| {
        let mut out = Vec::new();
        for d in state.deployments()? {
            if let Ok(m) = std::fs::metadata(state.archive_path(d.id)) {
                out.push(Archive {
                    id: d.id,
                    size: m.len(),
                    package_blake3: d.package_blake3,
                });
            }
        }
        Ok(axum::Json(
            serde_json::to_value(out).map_err(anyhow::Error::from)?,
        ))
    })
    .await
}

/// `GET /api/v1/archives/{id}`: the zip.
pub async fn download_archive(
    Ax(agent): Shared,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let path = agent.state_dir.join("archives").join(format!("{id}.zip"));
    if !path.is_file() {
        return Err(ApiError::not_found(format!(
            "no archive of deployment {id}"
        )));
    }
    let mut r = file_body(&path, "application/zip").await?;
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"deployment-{id}.zip\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// `DELETE /api/v1/archives/{id}`.
pub async fn delete_archive(
    Ax(agent): Shared,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let id = parse_id(&id)?;
    if agent.is_running(id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "running",
            format!("deployment {id} is still running"),
        ));
    }
    let path = agent.state_dir.join("archives").join(format!("{id}.zip"));
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(axum::Json(json!({"deleted": id}))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::not_found(format!(
            "no archive of deployment {id}"
        ))),
        Err(e) => Err(ApiError::internal(e.into())),
    }
}

/// `GET /api/v1/lock`.
pub async fn lock(Ax(agent): Shared) -> ApiResult<axum::Json<serde_json::Value>> {
    with_state(&agent, |_, state| Ok(axum::Json(lock_json(state)?))).await
}

/// `DELETE /api/v1/lock`: break a stale lock (one whose holder is gone).
pub async fn break_lock(Ax(agent): Shared) -> ApiResult<axum::Json<serde_json::Value>> {
    with_state(&agent, |_, state| {
        if let Some(Some(h)) = state.lock_info()?
            && !h.holder_is_dead()
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "locked",
                format!(
                    "locked by {} ({}) since {}, which is still running: not broken",
                    h.holder,
                    h.user,
                    rfc3339(h.since_ms)
                ),
            ));
        }
        let r = state
            .break_lock()
            .map_err(|e| ApiError::of_deploy(&e, StatusCode::CONFLICT))?;
        Ok(axum::Json(match r {
            None => json!({"removed": false}),
            Some(None) => json!({"removed": true, "holder": null}),
            Some(Some(h)) => json!({"removed": true, "holder": h.holder, "user": h.user,
                                    "since": rfc3339(h.since_ms)}),
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::started_id;

    #[test]
    fn finds_the_started_id() {
        assert_eq!(started_id("deployment 12 started (files mode)"), Some(12));
        assert_eq!(started_id("rollback 3: undoing deployment(s) [2]"), Some(3));
        assert_eq!(started_id("deployment 12 done"), None);
        assert_eq!(started_id("took the deploy lock"), None);
    }
}
