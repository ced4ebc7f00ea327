//! The handlers of the HTTP agent (see docs/API.md for every route, with examples), but
//! for deployments ([`super::deployments`]) and the map ([`super::map_routes`]): the error
//! answer ([`ApiError`]), the request log and the key check, health, status, environment,
//! packages, archives and the lock; and the helpers the handlers share (running on the state, ids, package paths).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Path as UrlPath, Query, Request, State as Ax};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::Agent;
use super::keys::Keys;
use crate::engine::deploy::policy::Policy;
use crate::engine::deploy::uploads::{self, Receiving};
use crate::engine::deploy::{DeployError, State, rfc3339};
use crate::engine::remote::RemoteConflict;

pub(super) type Shared = Ax<Arc<Agent>>;

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
    /// The error's message.
    pub(super) fn message(&self) -> String {
        self.body["error"].as_str().unwrap_or("failed").to_string()
    }
    pub(super) fn bad(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", msg)
    }
    pub(super) fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", msg)
    }
    pub(super) fn internal(e: anyhow::Error) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{e:#}"),
        )
    }

    /// The answer for an error of the deploy engine: 409 locked or conflicts, 422
    /// verification failed, otherwise `fallback`.
    pub(super) fn of_deploy(e: &anyhow::Error, fallback: StatusCode) -> ApiError {
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
            Some(d @ DeployError::DbConflicts { files, rows }) => ApiError {
                status: StatusCode::CONFLICT,
                body: json!({"error": d.to_string(), "code": "conflicts",
                             "conflicts": files.iter().map(RemoteConflict::from).collect::<Vec<_>>(),
                             "rows": rows}),
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

pub(super) type ApiResult<T> = Result<T, ApiError>;

/// Run `f` with the agent's state on the blocking pool.
pub(super) async fn with_state<T: Send + 'static>(
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

/// The key check: `Authorization: Bearer KEY` (the scheme in any case, RFC 7235) with a
/// live key, else 401. Every key presented waits for its turn in the address's rate of
/// checks ([`super::keys::Throttle`]) before it is looked at; a request without one is
/// refused at once (it guesses nothing).
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
        .and_then(bearer_token)
        .map(str::to_string);
    let ok = match presented {
        None => false,
        Some(key) => {
            let wait = agent.throttle.reserve(addr.ip());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let dir = agent.state_dir.clone();
            let ok =
                tokio::task::spawn_blocking(move || Keys::open(&dir).and_then(|k| k.verify(&key)))
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                    .unwrap_or(false);
            if ok {
                agent.throttle.refund(addr.ip());
            }
            ok
        }
    };
    if ok {
        return next.run(req).await;
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

/// The token of an `Authorization` value of the `Bearer` scheme, matched in any case.
fn bearer_token(v: &str) -> Option<&str> {
    let (scheme, token) = v.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see docs/API.md")
}

pub async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"ok": true, "version": env!("CARGO_PKG_VERSION"),
                      "packages": crate::engine::deploy::package::READS}))
}

/// The chunk size of streamed files.
pub(super) const CHUNK: usize = 256 * 1024;

/// Stream a file as the body (the path may be removed once it is open).
pub(super) async fn file_body(path: &Path, content_type: &'static str) -> ApiResult<Response> {
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
    crate::engine::deploy::uploads::packages_dir(&agent.state_dir)
}

pub(super) fn package_path(agent: &Agent, id: &str) -> ApiResult<PathBuf> {
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
    let (id, _, size, _receiving) = receive_package(&agent, body).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "blake3": id, "size": size})),
    )
        .into_response())
}

/// Store a request's body as a package, named by its blake3: the id, the path, the size,
/// and the hold that keeps recovery from removing it (keep it until the answer).
pub(super) async fn receive_package(
    agent: &Agent,
    body: Body,
) -> ApiResult<(String, PathBuf, u64, Receiving)> {
    let dir = packages_dir(agent);
    let state_dir = agent.state_dir.clone();
    let receiving = tokio::task::spawn_blocking(move || uploads::receiving(&state_dir))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("worker failed: {e}")))??;
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
    Ok((id, dest, size, receiving))
}

pub(super) fn parse_id(s: &str) -> ApiResult<i64> {
    s.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::bad(format!("{s:?} is not a deployment id")))
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

/// The query of `DELETE /api/v1/lock`.
#[derive(Debug, Default, Deserialize)]
pub struct UnlockQuery {
    /// Release this hold (and nothing else).
    pub hold: Option<String>,
}

/// `DELETE /api/v1/lock`: release this agent's hold of the lock (`?hold=TOKEN`: that hold
/// only), or break a stale lock (one whose holder is gone).
pub async fn break_lock(
    Ax(agent): Shared,
    Query(q): Query<UnlockQuery>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    if let Some(token) = &q.hold {
        let released = agent.release_hold(Some(token));
        return Ok(axum::Json(json!({"released": released})));
    }
    if agent.release_hold(None) {
        return Ok(axum::Json(json!({"released": true})));
    }
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
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_in_any_case() {
        for v in ["Bearer k1", "bearer k1", "BEARER k1", "bEaReR   k1 "] {
            assert_eq!(bearer_token(v), Some("k1"), "{v}");
        }
        for v in ["Basic k1", "Bearer", "Bearer ", "Bearerk1", "k1"] {
            assert_eq!(bearer_token(v), None, "{v}");
        }
    }
}
