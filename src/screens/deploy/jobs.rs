//! The Deploy screen's background work: plan (the server's map against the project),
//! package, deploy or roll back and follow the log, and the agent's status and history.
//! A `Remote` is made inside each job, over the connection the screen's
//! [`Sessions`](crate::engine::remote::sessions::Sessions) keeps per SSH/SFTP server for the
//! whole TUI session; results come back as [`DeployReply`] events. A
//! push goes the one push path ([`crate::engine::deploy::push`]), as the CLI's does: the
//! plan's job maps the server under a hold and hands back the connection with it
//! ([`Planned`]), and the deploy job pushes from that very map.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{DeployReply, DeployScreen, Popup};
use crate::app::context::{Ctx, Level};
use crate::app::screen::ScreenId;
use crate::app::worker::ReplyTx;
use crate::engine::deploy::LogLine;
use crate::engine::deploy::package::{Built, build};
use crate::engine::deploy::push::Planned;
use crate::engine::jobs::Progress;
use crate::engine::remote::{RemoteDeployment, ServerProfile, package_dir};
use crate::engine::util::units::{human_size, thousands};

impl DeployScreen {
    pub(super) fn busy(&self, ctx: &mut Ctx) -> bool {
        if let Some((id, _, name)) = self.job {
            ctx.status(
                Level::Warn,
                format!("{name} is running (job #{id}); wait or cancel it"),
            );
            return true;
        }
        false
    }

    pub(super) fn need_server(&self, ctx: &mut Ctx) -> Option<(ServerProfile, PathBuf, ReplyTx)> {
        match self.server() {
            Some(p) => Some((p.clone(), ctx.project.root.clone(), replies(ctx))),
            None => {
                ctx.status(
                    Level::Info,
                    "no server yet: add one with `devsky server add`",
                );
                None
            }
        }
    }

    pub(super) fn start_plan(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        let Some((server, root, tx)) = self.need_server(ctx) else {
            return;
        };
        let project = ctx.project.clone();
        let seq = self.tickets.issue();
        let name = server.name.clone();
        // The previous plan's hold goes first: the new map takes the deploy lock again.
        let previous = self.held.take();
        self.plan_took = None;
        let sessions = self.sessions.clone();
        let job = ctx.jobs.spawn_blocking("deploy plan", move |p| {
            let t0 = Instant::now();
            drop(previous);
            let mut reused = false;
            let planned = crate::engine::deploy::push::plan(
                &project,
                &server.files(),
                || {
                    let c = sessions.connect(&root, &server)?;
                    reused = c.reused;
                    Ok(c.remote)
                },
                true,
                p,
            )?;
            let plan = planned.plan.clone();
            let mut summary = format!(
                "{} to upload ({}), {} to delete on {}",
                thousands(plan.uploads.len()),
                human_size(plan.upload_bytes() as i64),
                thousands(plan.deletes.len()),
                server.name
            );
            // An FTP/SFTP target's drift: paths changed there outside devsky.
            let drift = planned.remote.drift();
            if !drift.is_empty() {
                summary.push_str(&format!(
                    "; {} path(s) drifted on the server (a push refuses them; \
                     `devsky deploy plan` lists them)",
                    drift.len()
                ));
            }
            let held = std::sync::Mutex::new(Some(planned));
            let _ = tx.send(DeployReply::Plan {
                seq,
                plan,
                held: held.into(),
                took: PushTime {
                    took: t0.elapsed(),
                    reused,
                },
            });
            Ok(summary)
        });
        self.job = Some((job, seq, "deploy plan"));
        ctx.status(
            Level::Info,
            format!("asking {name} for its map (job #{job})"),
        );
    }

    pub(super) fn start_build(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        let Some(sel) = self.selection() else {
            ctx.status(
                Level::Info,
                "press p first: the plan comes from the server's map",
            );
            return;
        };
        if sel.is_empty() {
            ctx.status(Level::Info, "nothing ticked: nothing to package");
            return;
        }
        let root = ctx.project.root.clone();
        let tx = replies(ctx);
        let seq = self.tickets.issue();
        let job = ctx.jobs.spawn_blocking("deploy package", move |p| {
            let built = build(&root, &sel, &package_dir(&root), p)?;
            let summary = built_text(&built);
            let _ = tx.send(DeployReply::Built { seq, built });
            Ok(summary)
        });
        self.job = Some((job, seq, "deploy package"));
    }

    pub(super) fn ask_deploy(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        let Some(sel) = self.selection() else {
            ctx.status(
                Level::Info,
                "press p first: the plan comes from the server's map",
            );
            return;
        };
        if sel.is_empty() {
            ctx.status(Level::Info, "nothing ticked: nothing to deploy");
            return;
        }
        if self.server().is_none() {
            return;
        }
        self.popup = Some(Popup::Deploy {
            uploads: sel.uploads.len(),
            deletes: sel.deletes.len(),
            bytes: sel.upload_bytes(),
        });
    }

    pub(super) fn ask_rollback(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        let Some(Ok(list)) = &self.history else {
            ctx.status(Level::Info, "no history loaded yet");
            return;
        };
        let Some(d) = list.get(self.hist_row) else {
            ctx.status(Level::Info, "no deployment selected");
            return;
        };
        self.popup = Some(Popup::Rollback { to: d.id });
    }

    /// Ask to undo the current deployment: back to the deployment in place before it, or
    /// (`to` 0) to before the first one.
    pub(super) fn ask_undo(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        let Some(Ok(list)) = &self.history else {
            ctx.status(Level::Info, "no history loaded yet");
            return;
        };
        // Oldest first, as the agent lists them.
        let history = list
            .iter()
            .map(|d| (d.id, d.kind.as_str(), d.status.as_str()));
        let Some(to) = crate::engine::deploy::rollback::undo_target(history) else {
            ctx.status(Level::Info, "nothing to undo: no deployment is in place");
            return;
        };
        self.popup = Some(Popup::Rollback { to });
    }

    /// Run `start` (upload + deploy, or rollback) in a job and follow the log to its end.
    pub(super) fn run_deployment(&mut self, rollback: Option<i64>, ctx: &mut Ctx) {
        let Some((server, root, tx)) = self.need_server(ctx) else {
            return;
        };
        let sel = if rollback.is_none() {
            match self.selection() {
                Some(s) => Some(s),
                None => return,
            }
        } else {
            None
        };
        let seq = self.tickets.issue();
        self.log.clear();
        self.log_scroll = 0;
        self.following = None;
        let name = if rollback.is_some() {
            "rollback"
        } else {
            "deploy"
        };
        // A push goes from the plan's hold; a rollback needs the lock the hold keeps.
        let held = self.held.take();
        // The plan's share of the push's time (its connection was made there).
        let plan_took = self.plan_took.take();
        let sessions = self.sessions.clone();
        // Webhook events go out on threads of their own (the TUI outlives them).
        let jobs = ctx.jobs.clone();
        let hooks = crate::engine::webhooks::Notifier::with_runner(
            &root,
            std::sync::Arc::new(move |name, delivery| {
                // A job each: the Jobs screen lists every delivery, its attempts in the log.
                jobs.spawn_blocking(&name, move |p| delivery(&|l| p.log(l)));
            }),
        );
        let job = ctx.jobs.spawn_blocking(name, move |p| {
            let t0 = Instant::now();
            let send = |r: DeployReply| {
                let _ = tx.send(r);
            };
            let mut timing = None;
            let (remote, id) = match (&sel, rollback) {
                (Some(sel), _) => {
                    let (mut planned, before) = match (held, plan_took) {
                        (Some(h), Some(t)) => (h, t),
                        (Some(h), None) => (h, PushTime::default()),
                        // No connection kept: a new one (the agent maps its root again).
                        (None, _) => {
                            let c = sessions.connect(&root, &server)?;
                            let t = PushTime {
                                took: std::time::Duration::ZERO,
                                reused: c.reused,
                            };
                            (Planned::unheld(c.remote), t)
                        }
                    };
                    timing = Some(before);
                    p.set(0, None, "building the package");
                    let built = planned.build(&root, sel, p)?;
                    hooks.package_created(&crate::engine::webhooks::Target::of(&server), &built);
                    p.check()?;
                    let id = push_showing_bytes(&mut planned, built, p)?;
                    (planned, id)
                }
                (None, to) => {
                    drop(held);
                    let planned = Planned::unheld(sessions.connect(&root, &server)?.remote);
                    let id = planned.remote.rollback(to, false)?;
                    (planned, id)
                }
            };
            let remote = &remote.remote;
            let target = crate::engine::webhooks::Target::of(&server);
            hooks.started(&target, id, name);
            send(DeployReply::Started { seq, id });
            p.set(
                0,
                None,
                &format!("deployment {id} running on {}", server.name),
            );
            let sink = |l: &LogLine| {
                // The Jobs screen's Log pane shows it too.
                p.log(format!("{} {}", l.level.as_str(), l.message));
                send(DeployReply::Log {
                    seq,
                    line: l.clone(),
                })
            };
            let dep = remote.follow_logs(id, &sink, p);
            let result = match &dep {
                Ok(d) => result_text(d),
                Err(e) => Err(anyhow::anyhow!("{e:#}")),
            };
            hooks.ended(&target, id, name, result.as_ref().err());
            let dep = dep?;
            send(DeployReply::Ended {
                seq,
                dep: Box::new(dep),
                took: timing.map(|t| PushTime {
                    took: t.took + t0.elapsed(),
                    reused: t.reused,
                }),
            });
            result
        });
        self.job = Some((job, seq, name));
        ctx.status(Level::Info, format!("{name} started (job #{job})"));
    }

    pub(super) fn fetch_status(&mut self, ctx: &mut Ctx) {
        let Some((server, root, tx)) = self.need_server(ctx) else {
            return;
        };
        let seq = self.tickets.issue();
        self.status = None;
        self.database = None;
        let sessions = self.sessions.clone();
        std::thread::spawn(move || {
            let send = |r: DeployReply| {
                let _ = tx.send(r);
            };
            let remote = match sessions.connect(&root, &server) {
                Ok(c) => c.remote,
                Err(e) => {
                    let e = format!("{e:#}");
                    send(DeployReply::Status {
                        seq,
                        result: Err(e.clone()),
                    });
                    send(DeployReply::Database {
                        seq,
                        result: Err(e),
                    });
                    return;
                }
            };
            let result = remote.agent_status().map_err(|e| format!("{e:#}"));
            send(DeployReply::Status { seq, result });
            // Connecting to the database may take a while: the status shows meanwhile.
            let result = remote.database().map_err(|e| format!("{e:#}"));
            send(DeployReply::Database { seq, result });
        });
    }

    pub(super) fn fetch_history(&mut self, ctx: &mut Ctx) {
        let Some((server, root, tx)) = self.need_server(ctx) else {
            return;
        };
        let seq = self.tickets.issue();
        let sessions = self.sessions.clone();
        std::thread::spawn(move || {
            let result = sessions
                .connect(&root, &server)
                .and_then(|c| c.remote.history())
                .map_err(|e| format!("{e:#}"));
            let _ = tx.send(DeployReply::History { seq, result });
        });
    }
}

impl DeployScreen {
    /// Fetch the whole log of the deployment selected on the History tab (any past one,
    /// started from here, the CLI or another machine) into the log pane.
    pub(super) fn fetch_log(&mut self, ctx: &mut Ctx) {
        if self.busy(ctx) {
            return;
        }
        let Some(id) = (self.history.as_ref())
            .and_then(|h| h.as_ref().ok())
            .and_then(|l| l.get(self.hist_row))
            .map(|d| d.id)
        else {
            ctx.status(Level::Info, "no deployment selected");
            return;
        };
        let Some((server, root, tx)) = self.need_server(ctx) else {
            return;
        };
        let seq = self.tickets.issue();
        let sessions = self.sessions.clone();
        std::thread::spawn(move || {
            let result = sessions
                .connect(&root, &server)
                .and_then(|c| c.remote.logs(id))
                .map_err(|e| format!("{e:#}"));
            let _ = tx.send(DeployReply::PastLog { seq, id, result });
        });
    }
}

/// How long a push took (its plan included) and whether its connection was kept from
/// an earlier request of this session.
#[derive(Debug, Clone, Copy, Default)]
pub struct PushTime {
    pub took: Duration,
    pub reused: bool,
}

/// The log pane's line for the newest of a server's push `times` (first first): `push 2:
/// 0.4 s (first 1.9 s, connection reused)`.
pub(super) fn push_time_line(times: &[Duration], reused: bool) -> LogLine {
    let secs = |d: &Duration| format!("{:.1} s", d.as_secs_f64());
    let n = times.len();
    let last = times.last().map(secs).unwrap_or_default();
    let how = if reused {
        "connection reused"
    } else {
        "new connection"
    };
    let message = match times.first() {
        Some(first) if n > 1 => format!("push {n}: {last} (first {}, {how})", secs(first)),
        _ => format!("push {n}: {last} ({how})"),
    };
    LogLine {
        time_ms: crate::engine::deploy::now_ms(),
        level: crate::engine::deploy::Level::Info,
        message,
        started: None,
    }
}

/// Push `built`, the job's progress saying the bytes sent of the package's total as they
/// go (counted by the transport, read here every 100 ms).
fn push_showing_bytes(planned: &mut Planned, built: Built, p: &Progress) -> anyhow::Result<i64> {
    let sent = planned.remote.upload_counter();
    let total = std::fs::metadata(&built.path).map_or(built.size, |m| m.len());
    let show = |n: u64| {
        let what = format!(
            "uploading {} of {}",
            human_size(n as i64),
            human_size(total as i64)
        );
        p.set(n, Some(total), &what);
    };
    show(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                show(sent.load(Ordering::Relaxed).min(total));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = planned.push(&built, false);
        done.store(true, Ordering::Relaxed);
        if r.is_ok() {
            show(total);
        }
        r
    })
}

fn built_text(b: &Built) -> String {
    format!(
        "{} upload(s) ({}), {} delete(s); package {}",
        thousands(b.uploads),
        human_size(b.upload_bytes as i64),
        thousands(b.deletes),
        human_size(b.size as i64)
    )
}

/// The job's result for a deployment that ended: Ok for done, the reason otherwise.
fn result_text(d: &RemoteDeployment) -> anyhow::Result<String> {
    if d.status == "done" {
        return Ok(format!("deployment {} done: {}", d.id, d.summary));
    }
    match &d.outcome {
        Some(o) if o.exit_code == 2 => {
            let paths: Vec<&str> = o.conflicts.iter().map(|c| c.path.as_str()).collect();
            anyhow::bail!("conflicts: {}", paths.join(", "))
        }
        Some(o) if o.exit_code == 3 => anyhow::bail!(
            "verify failed: {}",
            o.error.as_deref().unwrap_or("the root did not verify")
        ),
        Some(o) => anyhow::bail!("{}", o.error.as_deref().unwrap_or("failed")),
        None => anyhow::bail!("deployment {} {}: {}", d.id, d.status, d.summary),
    }
}

/// Where the Deploy screen's jobs send their results: to this screen only.
fn replies(ctx: &Ctx) -> ReplyTx {
    ReplyTx::new(ScreenId::Deploy, ctx.tx.clone())
}
