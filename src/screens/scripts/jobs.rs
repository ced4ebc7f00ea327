//! The Scripts screen's jobs: create, build, rollback, wind export (each on the jobs pool,
//! its result handed back as a [`ScriptsReply`] and acted on at the job's `Finished`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::{Kind, Popup, Running, ScriptsReply, ScriptsScreen};
use crate::app::context::{Ctx, Level};
use crate::engine::jobs::Outcome;
use crate::engine::scripts::build::{self, BuildOptions, Conflicts};
use crate::engine::scripts::{self, CreateOptions};
use crate::store::Store;

impl ScriptsScreen {
    pub(super) fn start_create(
        &mut self,
        name: Option<String>,
        from: i64,
        to: Option<i64>,
        only: Option<(BTreeSet<String>, BTreeSet<String>)>,
        ctx: &mut Ctx,
    ) {
        let (project, db, tx) = (ctx.project.clone(), self.db_path.clone(), self.replies(ctx));
        let seq = self.tickets.issue();
        let (only_paths, only_tables) = only.unzip();
        let job = ctx.jobs.spawn_blocking("script", move |p| {
            let mut store = Store::open(&db, false)?;
            let s = scripts::create(
                &project,
                &mut store,
                CreateOptions {
                    from: from.to_string(),
                    to: to.map(|t| t.to_string()),
                    name,
                    only_paths,
                    only_tables,
                    ..Default::default()
                },
                p,
            )?;
            let _ = tx.send(ScriptsReply::Made { seq, id: s.id });
            let notes = match s.notes.is_empty() {
                true => String::new(),
                false => format!("; incomplete: {}", s.notes.join("; ")),
            };
            Ok(format!(
                "script {} \"{}\": {} file(s), {} SQL step(s){notes}",
                s.id, s.name, s.files, s.sql_steps
            ))
        });
        self.job = Some(Running {
            job,
            seq,
            kind: Kind::Create,
        });
        ctx.status(Level::Info, format!("creating a script (job #{job})"));
    }

    pub(super) fn start_build(
        &mut self,
        script: i64,
        target: String,
        db: Option<String>,
        force: bool,
        ctx: &mut Ctx,
    ) {
        let (project, path, tx) = (ctx.project.clone(), self.db_path.clone(), self.replies(ctx));
        let seq = self.tickets.issue();
        let job = ctx.jobs.spawn_blocking("build", move |p| {
            let mut store = Store::open(&path, false)?;
            let opts = BuildOptions {
                target: expand_home(&target),
                db,
                force,
            };
            // `server:NAME`: through that server's agent, its log live in the job's.
            let built = match scripts::server_build::server_of(target.trim()) {
                Some(name) => scripts::server_build::apply(
                    &project,
                    &mut store,
                    &script.to_string(),
                    name,
                    force,
                    p,
                    &|l| p.log(l.message.clone()),
                ),
                None => build::apply(&project, &mut store, &script.to_string(), &opts, p),
            };
            match built {
                Ok(b) => {
                    let _ = tx.send(ScriptsReply::Made { seq, id: b.id });
                    Ok(format!("build {}: {} ({})", b.id, b.status, b.result))
                }
                Err(e) => {
                    if let Some(c) = e.downcast_ref::<Conflicts>() {
                        for line in &c.0 {
                            p.log(line.clone());
                        }
                        let _ = tx.send(ScriptsReply::Refused {
                            seq,
                            lines: c.0.clone(),
                        });
                        anyhow::bail!(
                            "build refused: {} conflict(s) with the script's pre-images, nothing was changed",
                            c.0.len()
                        );
                    }
                    Err(e)
                }
            }
        });
        self.job = Some(Running {
            job,
            seq,
            kind: Kind::Build,
        });
        ctx.status(
            Level::Info,
            format!("building script {script} (job #{job})"),
        );
    }

    pub(super) fn start_rollback(&mut self, id: i64, chain: bool, ctx: &mut Ctx) {
        let (project, path, tx) = (ctx.project.clone(), self.db_path.clone(), self.replies(ctx));
        let seq = self.tickets.issue();
        let job = ctx.jobs.spawn_blocking("rollback", move |p| {
            let mut store = Store::open(&path, false)?;
            match scripts::rollback::rollback(&project, &mut store, id, chain, p) {
                Ok(done) => {
                    if let Some(last) = done.last() {
                        let _ = tx.send(ScriptsReply::Made { seq, id: last.id });
                    }
                    Ok(format!(
                        "rolled back build {id} ({} build(s)): files and database equal the state before it",
                        done.len()
                    ))
                }
                Err(e) => {
                    let text = format!("{e:#}");
                    let _ = tx.send(ScriptsReply::Refused {
                        seq,
                        lines: text.lines().map(|l| l.trim().to_string()).collect(),
                    });
                    Err(e)
                }
            }
        });
        self.job = Some(Running {
            job,
            seq,
            kind: Kind::Rollback,
        });
        ctx.status(Level::Info, format!("rolling back build {id} (job #{job})"));
    }

    /// Export script `script` to `out`: a wind, or (`archive`) a package archive.
    pub(super) fn start_wind(&mut self, script: i64, out: String, archive: bool, ctx: &mut Ctx) {
        let (project, path) = (ctx.project.clone(), self.db_path.clone());
        let out = {
            let p = expand_home(&out);
            if p.is_relative() {
                project.root.join(p)
            } else {
                p
            }
        };
        let seq = self.tickets.issue();
        let job = ctx.jobs.spawn_blocking("wind", move |p| {
            let store = Store::open(&path, false)?;
            if archive {
                let package = scripts::resolve(&store, &script.to_string())?;
                p.set(0, None, "writing the archive");
                let bytes = crate::engine::packages::export::export(&store, &package)?;
                crate::engine::bin::write_atomic(&out, &bytes, 0o644)?;
                return Ok(format!(
                    "archive of script {script} written to {} ({} bytes)",
                    out.display(),
                    bytes.len()
                ));
            }
            let l = scripts::load(&project, scripts::resolve(&store, &script.to_string())?)?;
            p.set(0, None, "writing the wind");
            let w = scripts::wind::export(&project, &l, &out)?;
            Ok(format!(
                "wind of script {script} written to {} ({} file(s), {})",
                out.display(),
                w.files,
                if w.sql { "with SQL" } else { "no SQL" }
            ))
        });
        self.job = Some(Running {
            job,
            seq,
            kind: Kind::Wind,
        });
        ctx.status(Level::Info, format!("exporting a wind (job #{job})"));
    }

    pub(super) fn job_finished(&mut self, r: Running, outcome: &Outcome, ctx: &mut Ctx) {
        self.job = None;
        let refused = self.refused.take();
        let made = self.made.take();
        let picked = self.picked.take();
        match outcome {
            Outcome::Done(_) if r.kind == Kind::Pick => {
                if let Some(p) = picked {
                    ctx.status(
                        Level::Info,
                        format!("{} change(s): tick what the script carries", p.items.len()),
                    );
                    self.popup = Some(Popup::Pick(p));
                }
            }
            Outcome::Done(summary) => {
                ctx.status(Level::Success, summary.clone());
                match (r.kind, made) {
                    (Kind::Create, Some(id)) => {
                        self.want_script = Some(id);
                        self.builds_focus = false;
                    }
                    (Kind::Build | Kind::Rollback, Some(id)) => {
                        self.want_build = Some(id);
                        self.builds_focus = true;
                        self.show_bin = false;
                    }
                    _ => {}
                }
            }
            Outcome::Failed(e) => {
                ctx.status(Level::Error, e.clone());
                if let Some(lines) = refused {
                    let title = match r.kind {
                        Kind::Build => format!(" Build refused · {} conflict(s) ", lines.len()),
                        _ => " Rollback refused ".to_string(),
                    };
                    let mut text = lines.join("\n");
                    if r.kind == Kind::Build {
                        text.push_str("\n\nNothing was changed. Build again with f (force) in the form to apply anyway.");
                    }
                    self.popup = Some(Popup::Report { title, text });
                }
            }
            Outcome::Cancelled => ctx.status(Level::Warn, "cancelled"),
        }
        self.reload();
    }
}

/// `~/x` as the user's home folder joined with `x`.
fn expand_home(s: &str) -> PathBuf {
    match (s.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(s),
    }
}
