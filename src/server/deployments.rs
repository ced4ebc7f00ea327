//! The deployment handlers of the HTTP agent: starting a deployment or a rollback on its
//! own thread (answering as soon as the engine has recorded it), and reading deployments
//! and their logs back (JSON lines, or Server-Sent Events while it runs). See docs/API.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State as Ax};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::Agent;
use super::api::{
    ApiError, ApiResult, Shared, package_path, parse_id, receive_package, with_state,
};
use crate::engine::deploy::apply::{Held, apply_when_ready};
use crate::engine::deploy::policy::Policy;
use crate::engine::deploy::rollback::rollback;
use crate::engine::deploy::{DeployError, Deployment, LogLine, exit_code};
use crate::engine::jobs::{JobEvent, Progress};
use crate::engine::remote::wire::WireProgress;
use crate::engine::remote::{Outcome, RemoteConflict};

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
    Apply {
        package: PathBuf,
        force: bool,
    },
    /// Apply a package that is still arriving: the path (or why the upload failed) comes
    /// through the channel.
    Push {
        incoming: std::sync::mpsc::Receiver<Result<PathBuf, String>>,
        force: bool,
        /// The hold of the map the client planned against (`?hold=TOKEN`).
        held: Option<Held>,
    },
    Rollback {
        to: Option<i64>,
        force: bool,
    },
}

/// Run a deploy or rollback on its own thread; answers with the deployment id as soon as
/// the engine has recorded it, or with the error that stopped it before.
async fn start(agent: Arc<Agent>, job: Job) -> ApiResult<Response> {
    answer(spawn(agent, job)).await
}

/// The answer to a start: the deployment's id and where to follow it.
async fn answer(rx: tokio::sync::oneshot::Receiver<ApiResult<i64>>) -> ApiResult<Response> {
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

/// Start the job's thread; its first answer (the id, or an error) comes through the
/// returned channel.
fn spawn(agent: Arc<Agent>, mut job: Job) -> tokio::sync::oneshot::Receiver<ApiResult<i64>> {
    let (tx, rx) = tokio::sync::oneshot::channel::<ApiResult<i64>>();
    let mut held = match &mut job {
        Job::Push { held, .. } => held.take(),
        _ => None,
    };
    agent.threads.fetch_add(1, Ordering::SeqCst);
    std::thread::spawn(move || {
        // Counted down however the thread ends.
        struct Done<'a>(&'a Agent);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.threads.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _done = Done(&agent);
        let tx = std::sync::Mutex::new(Some(tx));
        let send = |r: ApiResult<i64>| {
            if let Some(tx) = tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = tx.send(r);
            }
        };
        let started = std::cell::Cell::new(None::<i64>);
        let progress = agent_progress(&agent);
        let slow = crate::engine::util::testhooks::var("DEVSKY_TEST_SLOW_DEPLOY_MS")
            .and_then(|v| v.parse::<u64>().ok());
        let sink = |l: &LogLine| {
            super::print_line(l);
            agent.changed.notify_waiters();
            if started.get().is_none()
                && let Some(id) = l.started
            {
                started.set(Some(id));
                progress.1.store(id, Ordering::SeqCst);
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
        let mut keep = None;
        let mut pushed = None::<PathBuf>;
        let result = agent.state().and_then(|state| {
            let mut run_apply =
                |force: bool, package: &mut dyn FnMut() -> anyhow::Result<PathBuf>| {
                    let mut opts = Policy::load(state.dir())?.apply_options(force);
                    opts.prune = false;
                    opts.database = agent.database.clone();
                    keep = Some(opts.keep);
                    apply_when_ready(
                        &agent.root,
                        &state,
                        held.take(),
                        package,
                        &opts,
                        &progress.0,
                        &sink,
                    )
                };
            match &job {
                Job::Apply { package, force } => run_apply(*force, &mut || Ok(package.clone())),
                Job::Push {
                    incoming, force, ..
                } => run_apply(*force, &mut || match incoming.recv() {
                    Ok(Ok(path)) => {
                        pushed = Some(path.clone());
                        Ok(path)
                    }
                    Ok(Err(why)) => Err(anyhow::anyhow!(
                        "the package did not arrive ({why}); nothing was changed"
                    )),
                    Err(_) => Err(anyhow::anyhow!(
                        "the package did not arrive; nothing was changed"
                    )),
                }),
                Job::Rollback { to, force } => {
                    let mut opts = Policy::load(state.dir())?.rollback_options(*force);
                    opts.prune = false;
                    opts.database = agent.database.clone();
                    keep = Some(opts.keep);
                    rollback(&agent.root, &state, *to, &opts, &progress.0, &sink)
                }
            }
        });
        // A package sent with its push was this deployment's alone (archived if it was
        // recorded).
        if let Some(p) = &pushed {
            let _ = std::fs::remove_file(p);
        }
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
                // Prune (renames into the trash, under the lock) and let the lock go
                // *before* the deployment is reported ended: a client that sees it end and
                // pushes again at once must find the lock free. A deployment that took the
                // lock meanwhile prunes itself.
                let state = agent.state().ok();
                let mut pruned = Vec::new();
                if let (Some(keep), Some(state)) = (keep, &state)
                    && let Ok(_lock) = state.lock()
                {
                    if let Some(ms) =
                        crate::engine::util::testhooks::var("DEVSKY_TEST_SLOW_PRUNE_MS")
                            .and_then(|v| v.parse::<u64>().ok())
                    {
                        std::thread::sleep(Duration::from_millis(ms));
                    }
                    pruned = state.prune(keep).unwrap_or_default();
                }
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
                progress.1.store(0, Ordering::SeqCst);
                agent
                    .progress
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                agent.changed.notify_waiters();
                // The client has its answer: the slow part (removing what was pruned) now,
                // without the lock (nothing else uses the trash).
                if !pruned.is_empty() {
                    eprintln!(
                        "devsky: pruned the archives and backups of deployment(s) {pruned:?}"
                    );
                    if agent.empty_trash_now
                        && let Some(state) = &state
                    {
                        crate::engine::deploy::state::empty_trash(&state.trash_dir());
                    }
                }
            }
            None => send(match result {
                Ok(d) => Ok(d.id),
                Err(e) => Err(ApiError::of_deploy(&e, StatusCode::BAD_REQUEST)),
            }),
        }
    });
    rx
}

/// The progress a deploy or rollback thread reports (the engine's own reports), kept as
/// the latest of its deployment in [`super::Agent::progress`] once the deployment has an
/// id (set the returned id to it); its log streams send it on.
fn agent_progress(agent: &Arc<Agent>) -> (Progress, Arc<AtomicI64>) {
    let id = Arc::new(AtomicI64::new(0));
    let (a, at) = (agent.clone(), id.clone());
    let p = Progress::new(0, move |ev| {
        let JobEvent::Progress {
            done, total, what, ..
        } = ev
        else {
            return;
        };
        let id = at.load(Ordering::SeqCst);
        if id == 0 {
            return;
        }
        let p = WireProgress { done, total, what };
        a.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, p);
        a.changed.notify_waiters();
    });
    (p, id)
}

fn outcome_of(e: &anyhow::Error) -> Outcome {
    let conflicts = match e.chain().find_map(|c| c.downcast_ref::<DeployError>()) {
        Some(DeployError::Conflicts(cs)) | Some(DeployError::DbConflicts { files: cs, .. }) => {
            cs.iter().map(RemoteConflict::from).collect()
        }
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

/// Start what a signed webhook asked for ([`super::hooks`]): apply the uploaded `package`,
/// or roll back `to` a deployment; never forced.
pub(super) async fn start_for_hook(
    agent: Arc<Agent>,
    package: Option<PathBuf>,
    to: Option<i64>,
) -> ApiResult<Response> {
    let job = match package {
        Some(package) => Job::Apply {
            package,
            force: false,
        },
        None => Job::Rollback { to, force: false },
    };
    start(agent, job).await
}

/// The query of `POST /api/v1/push`.
#[derive(Deserialize)]
pub struct PushQuery {
    #[serde(default)]
    force: bool,
    /// The token of the hold taken with the map (`GET /api/v1/map?hold=true`).
    hold: Option<String>,
}

/// `POST /api/v1/push?force=false&hold=TOKEN`: the body is a package, deployed as it
/// arrives — the deployment takes the lock and maps the root while the body is received,
/// or starts from the map of its hold (see docs/API.md and [`super::hold`]). Answers like
/// `POST /api/v1/deployments`.
pub async fn push(
    Ax(agent): Shared,
    Query(q): Query<PushQuery>,
    body: Body,
) -> ApiResult<Response> {
    let (tx, incoming) = std::sync::mpsc::channel();
    let started = spawn(
        agent.clone(),
        Job::Push {
            incoming,
            force: q.force,
            held: q.hold.as_deref().and_then(|t| agent.take_hold(t)),
        },
    );
    let received = receive_package(&agent, body).await;
    let _ = tx.send(match &received {
        Ok((_, path, _, _)) => Ok(path.clone()),
        Err(e) => Err(e.message()),
    });
    let answered = answer(started).await;
    // A broken upload is the better answer than the "did not arrive" it caused.
    let (_, path, _, _receiving) = received?;
    if answered.is_err() {
        // Refused before the deployment took it (locked, say): not kept.
        let _ = std::fs::remove_file(&path);
    }
    answered
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
/// then new ones as they come (`event: log`), how far it got while it runs (`event:
/// progress`, the latest when it changed), and `event: end` with the deployment once it
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
        let mut sent_progress: Option<WireProgress> = None;
        let mut last_write = std::time::Instant::now();
        loop {
            // Registered before reading, so a line logged meanwhile still wakes us.
            let changed = agent.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
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
            let now = agent
                .progress
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
                .cloned();
            if now.is_some() && now != sent_progress {
                if let Ok(j) = serde_json::to_string(&now) {
                    out.push_str(&format!("event: progress\ndata: {j}\n\n"));
                }
                sent_progress = now;
            }
            let ended = !running && d.as_ref().is_none_or(|d| d.status != "applying");
            if ended && let Some(d) = d {
                let v = view(&agent, d);
                if let Ok(j) = serde_json::to_string(&v) {
                    out.push_str(&format!("event: end\ndata: {j}\n\n"));
                }
            }
            // A comment now and then, so a client that went away is noticed.
            if out.is_empty() && last_write.elapsed() >= Duration::from_secs(5) {
                out.push_str(": ping\n\n");
            }
            if !out.is_empty() {
                last_write = std::time::Instant::now();
                if w.write_all(out.as_bytes()).await.is_err() || w.flush().await.is_err() {
                    return;
                }
            }
            if ended {
                let _ = w.shutdown().await;
                return;
            }
            // Woken by this process's deployments; polling covers those of other
            // processes (`devsky agent apply`, a second agent on the same state).
            let _ = tokio::time::timeout(Duration::from_millis(200), changed).await;
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
