//! What client and agent say to each other (docs/API.md): how a deployment ended
//! ([`Outcome`]), conflicts, log lines and deployments as sent, the hold header, and the
//! error an error answer stands for. The agent (`crate::server`) writes these, the client
//! ([`super::Remote`]) reads them: they live here so that the engine never imports the
//! server.

use serde::{Deserialize, Serialize};

use crate::engine::deploy::{Conflict, DeployError, Level, LogLine};

/// The answer header with the token of a hold (`GET /api/v1/map?hold=true`).
pub const HOLD_HEADER: &str = "devsky-hold";

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

/// How far a running deployment or rollback got (`event: progress` of the log stream):
/// `done` of `total` units of the step `what` (the agent's own progress reports, the
/// latest only). A client that does not know the event ignores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireProgress {
    pub done: u64,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub what: String,
}

impl From<WireLine> for LogLine {
    fn from(w: WireLine) -> LogLine {
        LogLine {
            time_ms: w.time_ms,
            level: Level::parse(&w.level),
            message: w.message,
            started: None,
        }
    }
}

/// The token in a hold header's value: hex digits only (it goes back in a query).
pub fn hold_token(header: Option<&str>) -> Option<String> {
    header
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// Whether an agent answered "no such route" (404): it is older than the route.
pub(crate) fn no_such_route(e: &anyhow::Error) -> bool {
    format!("{e}").starts_with("no such route")
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

/// The error for an error answer of the agent (`status`, its JSON body).
pub fn api_error(status: u16, body: &serde_json::Value) -> anyhow::Error {
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

/// [`api_error`] for an error answer's raw body.
pub fn api_error_bytes(status: u16, body: &[u8]) -> anyhow::Error {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    api_error(status, &v)
}
