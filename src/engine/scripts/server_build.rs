//! `devsky build apply SCRIPT --server NAME`: a build on a server through its devsky agent
//! (HTTP, or `agent --stdio` over ssh). The script becomes one deploy package — the new
//! contents, the files' pre-images, and (for a script with SQL) the database part
//! ([`crate::engine::deploy::sqlpart`]) — pushed as one deployment: the agent checks files
//! and rows against the pre-images (refusing with every conflict named), applies the files
//! with its journal, then runs the SQL in its `--db` database, journaled in the same
//! deployment; a crash there is recovered by the agent. The build is recorded in My Builds
//! with target `server:NAME` and the server's deployment id once the deployment ended;
//! rolling it back is a rollback of the server to the deployment before it, which undoes
//! files and SQL (as the Deploy history's rollback does).

use anyhow::{Context, bail};

use super::build::{Conflicts, builds_dir, filters, package_of};
use super::{Loaded, load, resolve};
use crate::engine::deploy::LogSink;
use crate::engine::deploy::rollback::is_in_place;
use crate::engine::deploy::sqlpart::SqlPart;
use crate::engine::jobs::Progress;
use crate::engine::project::Project;
use crate::engine::remote::servers::{ServerProfile, get_server};
use crate::engine::remote::{self, Remote, RemoteDeployment};
use crate::store::scripts::{self as rows, Build};
use crate::store::{Store, now};

/// The target of a build on server `name`, as My Builds records it.
pub fn target_of(name: &str) -> String {
    format!("server:{name}")
}

/// Record a build that ran on a server (ended: `status` done or failed) in one write.
fn record(store: &mut Store, b: &Build, undone: Option<i64>) -> anyhow::Result<i64> {
    store.write(|tx| {
        let id = rows::insert_build(tx, b)?;
        if let Some(d) = b.deployment {
            rows::set_deployment(tx, id, d)?;
        }
        rows::finish(tx, id, &b.status, &b.result, now())?;
        if let Some(u) = undone {
            tx.execute(
                "UPDATE _dev_builds SET status = 'rolled_back' WHERE id = ?1",
                [u],
            )?;
        }
        Ok(id)
    })
}

/// The server a build's target names, if it is one.
pub fn server_of(target: &str) -> Option<&str> {
    target.strip_prefix("server:")
}

fn agent_of(
    store: &Store,
    project: &Project,
    name: &str,
) -> anyhow::Result<(ServerProfile, Remote)> {
    let p = get_server(store, name)?;
    if !matches!(p.transport.as_str(), "http" | "ssh") {
        bail!(
            "server {name} is reached over {}: a build needs a devsky agent (http, or ssh with \
             devsky on the server)",
            p.transport
        );
    }
    let r = remote::connect(&project.root, &p)?;
    Ok((p, r))
}

/// The newest deployment in place on the server (0: none).
fn in_place(r: &Remote) -> anyhow::Result<i64> {
    Ok(r.history()?
        .into_iter()
        .filter(|d| is_in_place(&d.kind, &d.status))
        .map(|d| d.id)
        .max()
        .unwrap_or(0))
}

/// Why a deployment did not end `done`: conflicts (every line) or the error.
fn failure(d: &RemoteDeployment) -> anyhow::Error {
    let error = d
        .outcome
        .as_ref()
        .and_then(|o| o.error.clone())
        .unwrap_or_else(|| d.summary.clone());
    if d.outcome.as_ref().is_some_and(|o| o.exit_code == 2) {
        let lines: Vec<String> = error
            .lines()
            .skip(1)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        return Conflicts(if lines.is_empty() { vec![error] } else { lines }).into();
    }
    anyhow::anyhow!("deployment {} {}: {error}", d.id, d.status)
}

/// Push the package of `l` (going forward) to server `name` and follow it to its end.
fn push(
    project: &Project,
    remote: &Remote,
    l: &Loaded,
    force: bool,
    progress: &Progress,
    sink: LogSink,
) -> anyhow::Result<RemoteDeployment> {
    let sql = match &l.db {
        Some((old, new))
            if l.script()?
                .is_some_and(|s| !super::dbpart::steps(&s, false).is_empty()) =>
        {
            Some(SqlPart::new(old, new, &filters(l))?)
        }
        _ => None,
    };
    std::fs::create_dir_all(builds_dir(project))?;
    let work = tempfile::Builder::new()
        .prefix("tmp-")
        .tempdir_in(builds_dir(project))?;
    progress.set(0, None, "packing the script");
    let zip = package_of(project, &l.files, sql, work.path())?;
    progress.set(0, None, "pushing to the agent");
    let id = remote.push(&zip, force, None)?;
    remote.follow_logs(id, sink, progress)
}

/// Build script `script` on server `name` (see the module doc).
pub fn apply(
    project: &Project,
    store: &mut Store,
    script: &str,
    name: &str,
    force: bool,
    progress: &Progress,
    sink: LogSink,
) -> anyhow::Result<Build> {
    let l = load(project, resolve(store, script)?)?;
    let (_, remote) = agent_of(store, project, name)?;
    let before = in_place(&remote)?;
    let d = push(project, &remote, &l, force, progress, sink)?;
    let status = if d.status == "done" { "done" } else { "failed" };
    if status == "failed" && d.outcome.as_ref().is_some_and(|o| o.exit_code == 2) {
        // Refused: nothing changed, nothing recorded (as a local build).
        return Err(failure(&d));
    }
    let id = record(
        store,
        &Build {
            id: 0,
            kind: "build".into(),
            package: l.package.id,
            target: target_of(name),
            db_profile: None,
            user: std::env::var("USER").unwrap_or_default(),
            started: now(),
            finished: Some(now()),
            status: status.into(),
            undoes: None,
            deploy_before: before,
            deployment: Some(d.id),
            sql_next: -1,
            sql_done: 0,
            forced: force,
            result: format!("deployment {} on {name}: {}", d.id, d.summary),
        },
        None,
    )?;
    if status != "done" {
        return Err(failure(&d).context(format!("build {id} failed on server {name}")));
    }
    rows::build(store.conn(), id)?.context("the build just recorded")
}

/// Roll back build `b` (on a server): the server rolls back to the deployment in place
/// before it, files and SQL; refused when newer deployments are in place there.
pub fn rollback(
    project: &Project,
    store: &mut Store,
    b: &Build,
    progress: &Progress,
    sink: LogSink,
) -> anyhow::Result<Build> {
    let name = server_of(&b.target).context("not a build on a server")?;
    let (_, remote) = agent_of(store, project, name)?;
    let deployment = b.deployment.context("the build has no deployment")?;
    let current = in_place(&remote)?;
    if current != deployment {
        bail!(
            "build {} is deployment {deployment} on {name}, but deployment {current} is in place \
             there now: roll the newer one(s) back first (`devsky deploy rollback`)",
            b.id
        );
    }
    progress.set(0, None, "rolling back on the server");
    let id = remote.rollback(Some(b.deploy_before), false)?;
    let d = remote.follow_logs(id, sink, progress)?;
    let ok = d.status == "done";
    let rid = record(
        store,
        &Build {
            id: 0,
            kind: "rollback".into(),
            package: b.package,
            target: b.target.clone(),
            db_profile: None,
            user: std::env::var("USER").unwrap_or_default(),
            started: now(),
            finished: Some(now()),
            status: if ok { "done" } else { "failed" }.into(),
            undoes: Some(b.id),
            deploy_before: deployment,
            deployment: Some(d.id),
            sql_next: -1,
            sql_done: 0,
            forced: false,
            result: format!("deployment {} on {name}: {}", d.id, d.summary),
        },
        ok.then_some(b.id),
    )?;
    if !ok {
        return Err(failure(&d).context(format!("rollback {rid} of build {} failed", b.id)));
    }
    rows::build(store.conn(), rid)?.context("the rollback just recorded")
}
