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
//! Never `force`: a hook does not overwrite files changed on the server.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
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
    match (b.release, b.package) {
        (Some(to), None) if to >= 0 => {
            eprintln!("devsky serve: webhook {id}: roll to release {to}{note}");
            super::deployments::start_for_hook(agent, None, Some(to)).await
        }
        (None, Some(p)) => {
            eprintln!("devsky serve: webhook {id}: deploy package {p}{note}");
            super::deployments::start_for_hook(agent, Some(p), None).await
        }
        _ => Err(ApiError::bad(
            "name one thing to deploy: {\"release\": N} (N >= 0) or {\"package\": \"ID\"}",
        )),
    }
}
