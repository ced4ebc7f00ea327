//! `devsky build rollback`: a build undone by the reversed script, run as a build of kind
//! `rollback` (so it is checked, journaled and recovered as any build), then verified:
//! every file and row the build touched is back at its pre-build state. Newer builds on the
//! same target that touched the same files or tables refuse it, or are rolled back first
//! (`--chain`, newest first).

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, bail};

use super::build::{all_conflicts, connect, run_change};
use super::{Loaded, load, resolve};
use crate::engine::jobs::Progress;
use crate::engine::project::Project;
use crate::store::Store;
use crate::store::scripts::{self as rows, Build};

/// What two builds' scripts both touch (paths and tables).
fn shared(a: &Loaded, b: &Loaded) -> anyhow::Result<Vec<String>> {
    let pa: BTreeSet<&str> = a.files.iter().map(|f| f.path.as_str()).collect();
    let mut out: Vec<String> = b
        .files
        .iter()
        .filter(|f| pa.contains(f.path.as_str()))
        .map(|f| f.path.clone())
        .collect();
    let tb = b.tables()?;
    out.extend(a.tables()?.intersection(&tb).map(|t| format!("table {t}")));
    Ok(out)
}

/// Roll back build `id`: the reversed script as a build of kind `rollback`, then a check
/// that every file and row it touched is at its pre-build state. Newer builds in place on
/// the same target that touch the same files or tables refuse it, naming them and what
/// they share, unless `chain`: then they are rolled back first, newest first.
pub fn rollback(
    project: &Project,
    store: &mut Store,
    id: i64,
    chain: bool,
    progress: &Progress,
) -> anyhow::Result<Vec<Build>> {
    let b = rows::build(store.conn(), id)?
        .with_context(|| format!("no build {id}; `devsky build list` shows them"))?;
    if b.kind != "build" || b.status != "done" {
        bail!(
            "build {id} is {} {}: only a build in place (done) can be rolled back",
            b.kind,
            b.status
        );
    }
    if super::server_build::server_of(&b.target).is_some() {
        let r = super::server_build::rollback(project, store, &b, progress, &|_| {})?;
        return Ok(vec![r]);
    }
    let mine = load(project, resolve(store, &b.package.to_string())?)?;
    let mut order: Vec<(Build, Loaded)> = Vec::new();
    let mut reasons = Vec::new();
    let mut newer: Vec<Build> = rows::builds(store.conn())?
        .into_iter()
        .filter(|x| x.id > id && x.kind == "build" && x.status == "done" && x.target == b.target)
        .collect();
    newer.sort_by_key(|x| x.id);
    let mut members: Vec<Loaded> = vec![load(project, resolve(store, &b.package.to_string())?)?];
    for x in newer {
        let lx = load(project, resolve(store, &x.package.to_string())?)?;
        let mut common = Vec::new();
        for m in &members {
            common.extend(shared(m, &lx)?);
        }
        if !common.is_empty() {
            common.sort();
            common.dedup();
            reasons.push(format!(
                "build {} (script {}) touched {}",
                x.id,
                x.package,
                common.join(", ")
            ));
            members.push(load(project, resolve(store, &x.package.to_string())?)?);
            order.push((x, lx));
        }
    }
    if !reasons.is_empty() && !chain {
        bail!(
            "build {id} cannot be rolled back alone: newer builds on {} touched the same files or tables:\n  {}\nroll them back first, or all at once with --chain",
            b.target,
            reasons.join("\n  ")
        );
    }
    order.reverse();
    order.push((b, mine));
    let mut out = Vec::new();
    for (x, lx) in order {
        let target = PathBuf::from(&x.target);
        let r = run_change(
            project,
            store,
            &lx,
            true,
            &target,
            x.db_profile.as_deref(),
            false,
            Some(x.id),
            progress,
        )?;
        // Verify: every file and row the build touched is at its pre-build state.
        let mut db = connect(project, store, x.db_profile.as_deref())?;
        let left = all_conflicts(&lx, false, &target, db.as_mut())?;
        if !left.is_empty() {
            bail!(
                "build {} was rolled back (rollback {}), but the target does not equal its pre-build state:\n  {}",
                x.id,
                r.id,
                left.join("\n  ")
            );
        }
        out.push(r);
    }
    Ok(out)
}
