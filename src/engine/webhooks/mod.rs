//! Webhooks: the project's outgoing hooks and the signatures of both directions.
//!
//! - [`sign`]: signing (Standard Webhooks headers and `X-Hub-Signature-256`) and the
//!   [`sign::Verifier`] of incoming hooks that `devsky serve` uses.
//! - Here: the hooks of a project (`.devsky/webhooks.json`: URL, the environment variable
//!   holding the secret, the events it wants; the secret itself is never stored), the
//!   events ([`EVENTS`]) and [`Notifier`], which delivers an event to every hook that
//!   wants it on threads of its own (a deploy never waits for a receiver).
//! - [`deliver`]: one delivery with its retries, and the delivery log
//!   (`.devsky/webhooks.log.jsonl`, one line per attempt).

pub mod deliver;
pub mod sign;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::store::STATE_DIR;

/// The events devsky sends.
pub const EVENTS: &[&str] = &[
    "deployment.started",
    "deployment.succeeded",
    "deployment.failed",
    "deployment.rolled_back",
    "package.created",
];

/// An outgoing hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    pub id: u32,
    pub url: String,
    /// The environment variable that holds the signing secret.
    pub secret_env: String,
    /// The events it gets (empty: every one).
    #[serde(default)]
    pub events: Vec<String>,
}

impl Hook {
    pub fn wants(&self, event: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event)
    }
}

/// `.devsky/webhooks.json`.
pub fn config_file(project_root: &Path) -> PathBuf {
    project_root.join(STATE_DIR).join("webhooks.json")
}

/// The project's hooks (none when the file does not exist).
pub fn list(project_root: &Path) -> anyhow::Result<Vec<Hook>> {
    let f = config_file(project_root);
    match std::fs::read(&f) {
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("{} is not a list of webhooks", f.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", f.display())),
    }
}

fn save(project_root: &Path, hooks: &[Hook]) -> anyhow::Result<()> {
    let f = config_file(project_root);
    let tmp = f.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(hooks)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &f)?;
    Ok(())
}

/// Check a hook's URL, secret variable and events.
pub fn check(url: &str, secret_env: &str, events: &[String]) -> anyhow::Result<()> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://"))
        || url.len() > 2000
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        bail!("a webhook URL is http://... or https://..., without spaces");
    }
    if secret_env.is_empty()
        || !secret_env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        bail!("--secret-env names an environment variable (letters, digits, '_')");
    }
    for e in events {
        if !EVENTS.contains(&e.as_str()) {
            bail!("unknown event {e}: one of {}", EVENTS.join(", "));
        }
    }
    Ok(())
}

/// Add a hook; returns it.
pub fn add(
    project_root: &Path,
    url: &str,
    secret_env: &str,
    events: Vec<String>,
) -> anyhow::Result<Hook> {
    check(url, secret_env, &events)?;
    let mut all = list(project_root)?;
    let hook = Hook {
        id: all.iter().map(|h| h.id).max().unwrap_or(0) + 1,
        url: url.to_string(),
        secret_env: secret_env.to_string(),
        events,
    };
    all.push(hook.clone());
    save(project_root, &all)?;
    Ok(hook)
}

/// Remove hook `id`; false when there was none.
pub fn remove(project_root: &Path, id: u32) -> anyhow::Result<bool> {
    let mut all = list(project_root)?;
    let before = all.len();
    all.retain(|h| h.id != id);
    if all.len() == before {
        return Ok(false);
    }
    save(project_root, &all)?;
    Ok(true)
}

/// Sends events to the project's hooks in the background. [`Notifier::finish`] waits (a
/// bounded time) for deliveries still going, for a process about to exit.
pub struct Notifier {
    root: PathBuf,
    hooks: Vec<Hook>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    retry: deliver::Retry,
    runner: Option<Runner>,
}

/// One delivery to run: it is handed a function that takes its log lines (one per
/// attempt) and says how it ended.
pub type Delivery = Box<dyn FnOnce(&dyn Fn(String)) -> anyhow::Result<String> + Send>;

/// Runs deliveries somewhere else than on plain threads (the TUI: as jobs, so the Jobs
/// screen lists every delivery with its attempts); given the delivery's name.
pub type Runner = Arc<dyn Fn(String, Delivery) + Send + Sync>;

impl Notifier {
    /// The hooks of the project at `project_root` (none if it has no config, or a broken one,
    /// which is said on stderr: a deploy does not fail for a webhook).
    pub fn new(project_root: &Path) -> Arc<Notifier> {
        let hooks = list(project_root).unwrap_or_else(|e| {
            eprintln!("devsky: webhooks not sent: {e:#}");
            Vec::new()
        });
        Arc::new(Notifier {
            root: project_root.to_path_buf(),
            hooks,
            threads: Mutex::new(Vec::new()),
            retry: deliver::Retry::from_env(),
            runner: None,
        })
    }

    /// [`Notifier::new`] whose deliveries `runner` runs.
    pub fn with_runner(project_root: &Path, runner: Runner) -> Arc<Notifier> {
        let mut n = Notifier::new(project_root);
        if let Some(n) = Arc::get_mut(&mut n) {
            n.runner = Some(runner);
        }
        n
    }

    /// Deliver `event` with `data` to every hook that wants it, on threads of their own.
    pub fn emit(&self, event: &str, data: serde_json::Value) {
        let body = deliver::payload(event, data);
        for h in self.hooks.iter().filter(|h| h.wants(event)) {
            let (h, root, body, event) = (h.clone(), self.root.clone(), body.clone(), event);
            let event = event.to_string();
            let retry = self.retry;
            // Short enough for the Jobs list: `webhook succeeded`, `webhook package.created`.
            let name = format!("webhook {}", event.trim_start_matches("deployment."));
            let job: Delivery = Box::new(move |log| {
                log(format!("{event} to {}", h.url));
                deliver::deliver(&root, &h, &event, &body, retry, log)
            });
            match &self.runner {
                Some(run) => run(name, job),
                None => {
                    let t = std::thread::spawn(move || {
                        let _ = job(&|_| {});
                    });
                    self.threads
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(t);
                }
            }
        }
    }

    /// `package.created` for a package built to deploy to `server`.
    pub fn package_created(&self, server: &Target, built: &crate::engine::deploy::package::Built) {
        let name = built
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        self.emit(
            "package.created",
            serde_json::json!({"server": server.name, "environment": server.environment,
                "package": name, "uploads": built.uploads, "deletes": built.deletes,
                "bytes": built.size}),
        );
    }

    /// `deployment.started` for deployment `id` (`kind`: deploy or rollback) on `server`.
    pub fn started(&self, server: &Target, id: i64, kind: &str) {
        self.emit("deployment.started", server.data(id, kind, None));
    }

    /// How deployment `id` ended: `deployment.succeeded` (a deploy) or
    /// `deployment.rolled_back` (a rollback), else `deployment.failed` with the error.
    pub fn ended(&self, server: &Target, id: i64, kind: &str, error: Option<&anyhow::Error>) {
        let event = match (error, kind) {
            (Some(_), _) => "deployment.failed",
            (None, "rollback") => "deployment.rolled_back",
            (None, _) => "deployment.succeeded",
        };
        self.emit(event, server.data(id, kind, error));
    }

    /// Wait up to `limit` for deliveries still going (their retries included).
    pub fn finish(&self, limit: Duration) {
        let t0 = Instant::now();
        let threads: Vec<_> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            while !t.is_finished() && t0.elapsed() < limit {
                std::thread::sleep(Duration::from_millis(20));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// The server an event is about (its profile's name and environment).
pub struct Target<'a> {
    pub name: &'a str,
    pub environment: &'a str,
}

impl Target<'_> {
    /// The server of a profile.
    pub fn of(p: &crate::engine::remote::ServerProfile) -> Target<'_> {
        Target {
            name: &p.name,
            environment: &p.environment,
        }
    }

    /// The `data` of a deployment event.
    fn data(&self, id: i64, kind: &str, error: Option<&anyhow::Error>) -> serde_json::Value {
        serde_json::json!({
            "server": self.name,
            "environment": self.environment,
            "deployment": id,
            "kind": kind,
            "error": error.map(|e| format!("{e:#}")),
        })
    }
}
