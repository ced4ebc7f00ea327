//! The Git target: a deploy commits the selected files to a branch of a repository and
//! pushes it; then, by the profile's mode, that is all (`push`: to a branch of its own,
//! `devsky/SERVER/deploy-N-COMMIT`), or a pull/merge request of that branch into the target branch
//! is opened through the host's API (`pr`, [`super::git_api`]), or the commit goes straight
//! onto the target branch (`direct`).
//!
//! devsky keeps a clone of the repository in `.devsky/git/NAME/work` (never deployed:
//! `.devsky/` is left out of every map) and talks to it through the system's `git`. The
//! clone's work tree is a web root like any other: a local `devsky agent --stdio` (this
//! very binary, [`SshTransport::spawn`]) with its state in `.devsky/git/NAME/state` serves
//! the agent's API on it, so plan, package, pre-image checks, verified apply, history and
//! logs are the agent's own. [`GitTransport`] adds the Git side around its requests:
//!
//! - before a map (`GET /map`): fetch, and set the work tree to the target branch's tip
//!   (an empty tree when the branch does not exist yet);
//! - after a deployment started (`POST /push`, `/deployments`, `/rollback`): wait for it,
//!   and when it is done commit, push, open the request; what that gave is kept in
//!   `.devsky/git/NAME/published.jsonl` and shows in the deployment (status, summary,
//!   outcome) and its log. A push or API call that fails makes the deployment failed.
//! - a rollback is published like a deploy: the agent puts the pre-images back in the work
//!   tree (which holds the deployed tree), and the result is committed on top of the
//!   deployed commit — a revert commit — then pushed straight onto the branch (`direct`), to
//!   a branch of its own (`push`: `devsky/SERVER/rollback-N-COMMIT`), or with a pull/merge
//!   request of that branch into the target branch (`pr`), which reverts the deployment once
//!   merged where its request was merged.
//!
//! The token (the profile's key: `--token-env VAR` or `.devsky/secrets/NAME.key`) opens
//! requests and, for an `https://` remote, authenticates `git` through an
//! `http.extraHeader` given in git's environment (`GIT_CONFIG_*`), never on a command line,
//! in a URL or in a message.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::git_api::{self, Provider, PullRequest};
pub use super::git_opts::{GitOptions, MODES, check_branch, repo_from_url};
use super::git_opts::{git_env, run_git};
use super::ssh::SshTransport;
use super::transport::{Answer, Method, Request, Transport};
use super::{ServerProfile, load_key};
use crate::store::STATE_DIR;

/// The folder of server `name`'s clone and agent state.
pub fn git_dir(project_root: &Path, name: &str) -> PathBuf {
    project_root.join(STATE_DIR).join("git").join(name)
}

/// What publishing a deployment gave (a line of `published.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Published {
    id: i64,
    ok: bool,
    error: Option<String>,
    summary: String,
    lines: Vec<super::WireLine>,
}

/// See the module doc.
pub struct GitTransport {
    agent: SshTransport,
    server: String,
    url: String,
    opts: GitOptions,
    token: Option<String>,
    dir: PathBuf,
    published: Mutex<HashMap<i64, Published>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn line(level: &str, message: String) -> super::WireLine {
    super::WireLine {
        time_ms: now_ms(),
        level: level.into(),
        message,
    }
}

impl GitTransport {
    /// Clone the repository if needed and start the local agent on the clone.
    pub fn connect(project_root: &Path, p: &ServerProfile) -> anyhow::Result<GitTransport> {
        let url = p.url.clone().context("the Git target has no URL")?;
        let opts: GitOptions = serde_json::from_value(p.options.clone())
            .context("the Git target's settings do not read: add it again")?;
        opts.check(&url)?;
        let token = match (&p.key_env, super::key_file(project_root, &p.name).is_file()) {
            (None, false) => None,
            _ => Some(load_key(project_root, p)?),
        };
        let dir = git_dir(project_root, &p.name);
        std::fs::create_dir_all(dir.join("state"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let published = std::fs::read_to_string(dir.join("published.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Published>(l).ok())
            .map(|r| (r.id, r))
            .collect();
        let provider = opts.provider.as_deref().map(Provider::parse).transpose()?;
        let env = git_env(&url, provider, token.as_deref());
        let work = dir.join("work");
        if !work.join(".git").is_dir() {
            let _ = std::fs::remove_dir_all(&work);
            run_git(
                &dir,
                &env,
                &["clone", "--quiet", "--no-checkout", "--", &url, "work"],
            )
            .with_context(|| format!("cannot clone {url}"))?;
        }
        // The profile's URL, whatever the clone was made from.
        run_git(&work, &env, &["remote", "set-url", "origin", &url])?;
        let exe = std::env::current_exe().context("cannot find the devsky binary")?;
        let args: Vec<String> = vec![
            "agent".into(),
            "--stdio".into(),
            "--root".into(),
            work.display().to_string(),
            "--state".into(),
            dir.join("state").display().to_string(),
        ];
        let agent = SshTransport::spawn(
            exe.as_os_str(),
            &args,
            format!("git {url} ({})", opts.branch),
        )?;
        Ok(GitTransport {
            agent,
            server: p.name.clone(),
            url,
            opts,
            token,
            dir,
            published: Mutex::new(published),
        })
    }

    fn provider(&self) -> Option<Provider> {
        self.opts
            .provider
            .as_deref()
            .and_then(|p| Provider::parse(p).ok())
    }

    fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// `git ARGS` in the clone.
    fn git(&self, args: &[&str]) -> anyhow::Result<String> {
        let env = git_env(&self.url, self.provider(), self.token.as_deref());
        run_git(&self.work(), &env, args)
    }

    /// Fetch, and set the work tree to the target branch's tip (empty if it has none).
    fn sync(&self) -> anyhow::Result<()> {
        let b = &self.opts.branch;
        let heads = self.git(&["ls-remote", "--heads", "origin", &format!("refs/heads/{b}")])?;
        if heads.trim().is_empty() {
            self.git(&["symbolic-ref", "HEAD", &format!("refs/heads/{b}")])?;
            let _ = self.git(&["update-ref", "-d", &format!("refs/heads/{b}")]);
            self.git(&["read-tree", "--empty"])?;
        } else {
            let spec = format!("+refs/heads/{b}:refs/remotes/origin/{b}");
            self.git(&["fetch", "--quiet", "origin", &spec])?;
            self.git(&[
                "checkout",
                "--quiet",
                "--force",
                "-B",
                b,
                &format!("refs/remotes/origin/{b}"),
            ])?;
        }
        self.git(&["clean", "--quiet", "--force", "-d", "-x"])?;
        Ok(())
    }

    /// Wait for deployment `id` to end; its status.
    fn wait_for(&self, id: i64) -> anyhow::Result<serde_json::Value> {
        let t0 = Instant::now();
        loop {
            let mut body = Vec::new();
            let path = format!("/deployments/{id}");
            self.agent
                .exchange(Request::new(Method::Get, &path), &mut |d| {
                    body.extend_from_slice(d);
                    Ok(())
                })?;
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            if v["running"] != true && v["status"] != "applying" {
                return Ok(v);
            }
            if t0.elapsed() > Duration::from_secs(6 * 3600) {
                bail!("deployment {id} did not end");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Commit what deployment `id` left in the work tree, push, open the request.
    fn publish(&self, id: i64, kind: &str) -> Published {
        let mut lines = Vec::new();
        let r = self.publish_lines(id, kind, &mut lines);
        let (ok, error, summary) = match r {
            Ok(s) => (true, None, s),
            Err(e) => {
                let msg = self.scrub(&format!("{e:#}"));
                lines.push(line("error", msg.clone()));
                (false, Some(msg), "not published".to_string())
            }
        };
        let rec = Published {
            id,
            ok,
            error,
            summary,
            lines,
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("published.jsonl"))
            && let Ok(l) = serde_json::to_string(&rec)
        {
            let _ = f.write_all(format!("{l}\n").as_bytes());
        }
        rec
    }

    fn publish_lines(
        &self,
        id: i64,
        kind: &str,
        lines: &mut Vec<super::WireLine>,
    ) -> anyhow::Result<String> {
        let base = &self.opts.branch;
        self.git(&["add", "--all"])?;
        let staged = self.git(&["diff", "--cached", "--name-only"])?;
        if staged.trim().is_empty() {
            lines.push(line(
                "info",
                format!("{base} already has this tree: nothing to commit"),
            ));
            return Ok("nothing to commit".into());
        }
        let title = format!("devsky: {kind} {id} to {} ({base})", self.server);
        let mut commit = vec![];
        if self.git(&["config", "user.email"]).is_err() {
            commit.extend([
                "-c",
                "user.name=devsky",
                "-c",
                "user.email=devsky@localhost",
            ]);
        }
        commit.extend(["commit", "--quiet", "--no-verify", "-m", &title]);
        self.git(&commit)?;
        let sha = self.git(&["rev-parse", "HEAD"])?.trim().to_string();
        let files = staged.lines().count();
        lines.push(line(
            "info",
            format!("committed {} ({files} path(s))", &sha[..sha.len().min(12)]),
        ));
        let target = if self.opts.mode == "direct" {
            base.clone()
        } else {
            // The server's name (two targets may share a repository) and the commit.
            let b = format!("devsky/{}/{kind}-{id}-{sha:.10}", self.server);
            if check_branch(&b).is_ok() {
                b
            } else {
                format!("devsky/{kind}-{id}-{sha:.10}")
            }
        };
        self.git(&[
            "push",
            "--quiet",
            "origin",
            &format!("HEAD:refs/heads/{target}"),
        ])?;
        lines.push(line("success", format!("pushed {sha:.12} to {target}")));
        if self.opts.mode != "pr" {
            return Ok(format!("pushed to {target}"));
        }
        let p = self.provider().context("--mode pr needs a provider")?;
        let repo = self
            .opts
            .repo
            .clone()
            .or_else(|| repo_from_url(&self.url))
            .unwrap_or_default();
        let api = self
            .opts
            .api
            .clone()
            .unwrap_or_else(|| p.default_api().to_string());
        let token = self.token.as_deref().with_context(
            || "no token to open a pull request: add the server with --token-env VAR",
        )?;
        let body = if kind == "rollback" {
            format!(
                "Rollback {id} of devsky: reverts what the deployment(s) it undoes changed \
                 ({files} path(s), commit {sha}). Merge it where their request was merged."
            )
        } else {
            format!("Deployment {id} of devsky ({kind}): {files} path(s) changed, commit {sha}.")
        };
        let url = git_api::open(
            p,
            &api,
            &PullRequest {
                repo: &repo,
                head: &target,
                base,
                title: &title,
                body: &body,
            },
            token,
        )?;
        lines.push(line("success", format!("opened {url}")));
        Ok(format!("pushed to {target}; {url}"))
    }

    /// `msg` without the token (were a tool to echo it).
    fn scrub(&self, msg: &str) -> String {
        match &self.token {
            Some(t) if t.len() >= 4 => msg.replace(t.as_str(), "***"),
            _ => msg.to_string(),
        }
    }

    fn record(&self, id: i64) -> Option<Published> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// A deployment as the agent sent it, with what publishing it gave.
    fn patch(&self, v: &mut serde_json::Value) {
        let Some(rec) = v["id"].as_i64().and_then(|id| self.record(id)) else {
            return;
        };
        let summary = v["summary"].as_str().unwrap_or("").to_string();
        v["summary"] = format!("{summary}; git: {}", rec.summary).into();
        if !rec.ok {
            v["status"] = "failed".into();
            v["outcome"] = serde_json::json!({"exit_code": 1, "error": rec.error, "conflicts": []});
        }
    }
}

/// The deployment id in a start answer (`{"id": N, ...}`).
fn started_id(body: &[u8]) -> Option<i64> {
    serde_json::from_slice::<serde_json::Value>(body).ok()?["id"].as_i64()
}

impl Transport for GitTransport {
    fn exchange(
        &self,
        req: Request<'_>,
        each: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<Answer> {
        let path = req.path.split('?').next().unwrap_or("");
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (req.method, parts.as_slice()) {
            (Method::Get, ["map"]) => {
                self.sync()
                    .map_err(|e| anyhow::anyhow!("{}", self.scrub(&format!("{e:#}"))))?;
                self.agent.exchange(req, each)
            }
            (Method::Post, ["push" | "deployments" | "rollback"]) => {
                let kind = if parts[0] == "rollback" {
                    "rollback"
                } else {
                    "deploy"
                };
                let mut body = Vec::new();
                let a = self.agent.exchange(req, &mut |d| {
                    body.extend_from_slice(d);
                    Ok(())
                })?;
                if let Some(id) = started_id(&body)
                    && self.wait_for(id)?["status"] == "done"
                {
                    let rec = self.publish(id, kind);
                    self.published
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id, rec);
                }
                each(&body)?;
                Ok(a)
            }
            (Method::Get, ["deployments"]) | (Method::Get, ["deployments", _]) => {
                let mut body = Vec::new();
                let a = self.agent.exchange(req, &mut |d| {
                    body.extend_from_slice(d);
                    Ok(())
                })?;
                let mut v: serde_json::Value = serde_json::from_slice(&body)?;
                match v.as_array_mut() {
                    Some(all) => all.iter_mut().for_each(|d| self.patch(d)),
                    None => self.patch(&mut v),
                }
                each(v.to_string().as_bytes())?;
                Ok(a)
            }
            (Method::Get, ["deployments", id, "logs"]) => {
                let a = self.agent.exchange(req, each)?;
                if let Some(rec) = id.parse().ok().and_then(|id| self.record(id)) {
                    for l in &rec.lines {
                        each(format!("{}\n", serde_json::to_string(l)?).as_bytes())?;
                    }
                }
                Ok(a)
            }
            (Method::Get, ["deployments", id, "logs", "stream"]) => {
                let Some(rec) = id.parse().ok().and_then(|id| self.record(id)) else {
                    return self.agent.exchange(req, each);
                };
                // The deployment has ended (it was waited for): the stream is short.
                let mut body = Vec::new();
                let a = self.agent.exchange(req, &mut |d| {
                    body.extend_from_slice(d);
                    Ok(())
                })?;
                let text = String::from_utf8_lossy(&body).into_owned();
                let mut out = String::new();
                for ev in text.split("\n\n").filter(|e| !e.trim().is_empty()) {
                    let data = ev
                        .lines()
                        .find_map(|l| l.strip_prefix("data:"))
                        .map(str::trim_start);
                    if ev.lines().any(|l| l.trim() == "event: end") {
                        for l in &rec.lines {
                            out.push_str(&format!(
                                "event: log\ndata: {}\n\n",
                                serde_json::to_string(l)?
                            ));
                        }
                        let mut v: serde_json::Value =
                            serde_json::from_str(data.unwrap_or("null"))?;
                        self.patch(&mut v);
                        out.push_str(&format!("event: end\ndata: {v}\n\n"));
                    } else {
                        out.push_str(ev);
                        out.push_str("\n\n");
                    }
                }
                each(out.as_bytes())?;
                Ok(a)
            }
            _ => self.agent.exchange(req, each),
        }
    }

    fn health(&self) -> Option<serde_json::Value> {
        self.agent.health()
    }

    fn label(&self) -> String {
        self.agent.label()
    }
}
