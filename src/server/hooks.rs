//! `POST /api/v1/hooks/deploy`: a signed webhook (from CI, say) that starts a deployment on
//! this agent — the one route that takes no API key, because the signature stands for it.
//!
//! `devsky serve --hook-secret-env VAR` (repeatable: several secrets are valid at once
//! while one is rotated) turns it on; without it the route answers 404. A request is
//! checked by [`crate::engine::webhooks::sign::Verifier`]: a Standard Webhooks signature
//! or `X-Hub-Signature-256`, in constant time; `webhook-timestamp` within 300 s of the
//! agent's clock; `webhook-id` (or `X-GitHub-Delivery`) never seen before (kept in the
//! state folder, `hooks-seen`, across restarts). Refusals are 401 with the reason.
//!
//! The body (JSON, at most 64 KiB) names what to deploy (docs/API.md):
//! - `{"release": N}`: return the root to deployment N, a deployment that was in place
//!   on this agent (as `POST /api/v1/rollback {"to": N}`; 0: before the first);
//! - `{"package": "ID"}`: apply a package uploaded before (`POST /api/v1/packages`), as
//!   `POST /api/v1/deployments` does.
//!
//! - `{"branch": "B"}`: deploy the tip of branch B of the repository given with
//!   `--hook-git URL` (fetched with the system's `git` into the state folder,
//!   `hooks-git`): planned against the root's map and applied as a package like any
//!   other ([`branch_package`]); "nothing to deploy" (200) when the root already has it.
//!
//! Never `force`: a hook does not overwrite files changed on the server.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Agent;
use super::api::{ApiError, ApiResult};

/// The route.
pub const HOOKS: &str = "/api/v1/hooks/deploy";
/// The largest body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// What a hook asks for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HookBody {
    release: Option<i64>,
    package: Option<String>,
    branch: Option<String>,
    /// Free text from the sender (a CI run's URL, a commit), logged.
    #[serde(default)]
    note: Option<String>,
}

/// `POST /api/v1/hooks/deploy`.
pub async fn deploy(
    State(agent): State<Arc<Agent>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let Some(verifier) = agent.hooks.clone() else {
        return Err(ApiError::not_found(
            "webhooks are off on this agent: start it with --hook-secret-env VAR",
        ));
    };
    if body.len() > MAX_BODY {
        return Err(ApiError::bad(format!(
            "a hook body is at most {MAX_BODY} bytes"
        )));
    }
    let checked = {
        let body = body.clone();
        tokio::task::spawn_blocking(move || {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            verifier.verify(&header, &body, crate::store::now())
        })
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("the check died: {e}")))?
    };
    let id = checked.map_err(|e| {
        eprintln!("devsky serve: webhook refused: {e}");
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("webhook refused: {e}"),
        )
    })?;
    let b: HookBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad(format!(
            "a hook body is {{\"release\": N}} or {{\"package\": \"ID\"}}: {e}"
        ))
    })?;
    let note = b
        .note
        .as_deref()
        .map(|n| format!(" ({})", n.chars().take(200).collect::<String>()))
        .unwrap_or_default();
    match (b.release, b.package, b.branch) {
        (Some(to), None, None) if to >= 0 => {
            eprintln!("devsky serve: webhook {id}: roll to release {to}{note}");
            super::deployments::start_for_hook(agent, None, Some(to)).await
        }
        (None, Some(p), None) => {
            eprintln!("devsky serve: webhook {id}: deploy package {p}{note}");
            let path = super::api::package_path(&agent, &p)?;
            if !path.is_file() {
                return Err(ApiError::not_found(format!("no package {p}")));
            }
            super::deployments::start_for_hook(agent, Some(path), None).await
        }
        (None, None, Some(branch)) => {
            eprintln!("devsky serve: webhook {id}: deploy branch {branch}{note}");
            let a = agent.clone();
            let built = tokio::task::spawn_blocking(move || branch_package(&a, &branch))
                .await
                .map_err(|e| ApiError::internal(anyhow::anyhow!("the build died: {e}")))??;
            match built {
                Some(path) => super::deployments::start_for_hook(agent, Some(path), None).await,
                None => Ok((
                    StatusCode::OK,
                    axum::Json(serde_json::json!({"id": null, "nothing": true,
                        "message": "nothing to deploy: the root has the branch's tree"})),
                )
                    .into_response()),
            }
        }
        _ => Err(ApiError::bad(
            "name one thing to deploy: {\"release\": N} (N >= 0), {\"package\": \"ID\"} \
             or {\"branch\": \"B\"}",
        )),
    }
}

/// Fetch `branch` of `--hook-git` into the state folder, plan its tree against the root's
/// map and build the package in the agent's packages folder; its id (None: nothing to do).
fn branch_package(agent: &Agent, branch: &str) -> ApiResult<Option<std::path::PathBuf>> {
    use crate::engine::remote::git_opts::{check_branch, git_env, run_git};
    let Some(url) = agent.hook_git.clone() else {
        return Err(ApiError::bad(
            "this agent deploys no branches: start it with --hook-git URL",
        ));
    };
    check_branch(branch).map_err(|e| ApiError::bad(format!("{e:#}")))?;
    let fail = |e: anyhow::Error| ApiError::internal(e);
    let env = git_env(&url, None, None);
    let dir = agent.state_dir.join("hooks-git");
    if !dir.join(".git").is_dir() {
        let _ = std::fs::remove_dir_all(&dir);
        run_git(
            &agent.state_dir,
            &env,
            &["clone", "--quiet", "--no-checkout", "--", &url, "hooks-git"],
        )
        .map_err(fail)?;
    }
    run_git(&dir, &env, &["remote", "set-url", "origin", &url]).map_err(fail)?;
    let spec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
    run_git(&dir, &env, &["fetch", "--quiet", "origin", &spec])
        .map_err(|e| ApiError::not_found(format!("no branch {branch} in {url}: {e:#}")))?;
    let tip = format!("refs/remotes/origin/{branch}");
    run_git(
        &dir,
        &env,
        &["checkout", "--quiet", "--force", "--detach", &tip],
    )
    .map_err(fail)?;
    run_git(&dir, &env, &["clean", "--quiet", "--force", "-d", "-x"]).map_err(fail)?;
    let state = agent.state().map_err(fail)?;
    let tmp = tempfile::tempdir_in(state.dir()).map_err(|e| fail(e.into()))?;
    let silent = crate::engine::jobs::Progress::silent();
    let root_map = tmp.path().join("root.map");
    crate::engine::deploy::map_root(&agent.root, &state, &root_map, &silent).map_err(fail)?;
    let checkout = crate::engine::project::Project { root: dir.clone() };
    let files = crate::engine::deploy::plan::FileSet::default();
    let local = crate::engine::deploy::plan::local_map(&checkout, &files, tmp.path(), &silent)
        .map_err(fail)?;
    let plan = local.plan(&root_map).map_err(fail)?;
    if plan.is_empty() {
        return Ok(None);
    }
    let out = agent.state_dir.join("hooks-packages");
    std::fs::create_dir_all(&out).map_err(|e| fail(e.into()))?;
    let built = crate::engine::deploy::package::build(&dir, &plan, &out, &silent).map_err(fail)?;
    crate::engine::deploy::package::keep_newest_packages(&out, 5);
    Ok(Some(built.path))
}
