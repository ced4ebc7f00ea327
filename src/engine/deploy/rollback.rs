//! Rolling back: undo the deployments after `to` (default: the one before the current),
//! newest first, chained. The target tree is the map recorded before the oldest undone
//! deployment (`maps/<id>.map`); every content it needs comes from the backups those
//! deployments made. The change goes through the same journaled steps as a deploy (so a
//! crash during a rollback is recovered like any other), is verified by re-mapping against
//! that map, and is recorded as a deployment of kind `rollback`; the undone deployments
//! become `rolled_back` in the same transaction as the rollback's `done`.
//!
//! Files changed on the server since the current deployment (drift) are conflicts,
//! refused unless forced. In release mode, a rollback switches back to the kept release.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};

use super::apply::{finish, make_stage, recover_locked, run_journaled};
use super::fsops::{remove_tree, stage_from, sync_dir, sync_filesystem, syncs};
use super::journal::{BackupIndex, Journal, Meta, Mode};
use super::runs::in_parallel;
use super::transition::{Change, Folders, describe, differences, map_root, prepare};
use super::{Conflict, DeployError, Deployment, Log, LogSink, State, release};
use crate::engine::jobs::Progress;
use crate::engine::map::diff::{Delta, diff};
use crate::engine::map::format::MapReader;
use crate::engine::map::{Entry, EntryKind, files_only};

/// The differences from map `a` to map `b`, folders included when both have them (the
/// second value says whether they do).
#[allow(clippy::type_complexity)]
fn diff_maps(
    a: &Path,
    b: &Path,
) -> anyhow::Result<(Box<dyn Iterator<Item = anyhow::Result<Delta>>>, bool)> {
    let (a, b) = (MapReader::open(a)?, MapReader::open(b)?);
    if a.dirs && b.dirs {
        Ok((Box::new(diff(a, b)), true))
    } else {
        Ok((Box::new(diff(files_only(a), files_only(b))), false))
    }
}

/// How to roll back.
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// Roll back even over files changed on the server since the current deployment.
    pub force: bool,
    /// Deployments whose backups and maps are kept.
    pub keep: usize,
    /// Prune old deployments (`keep`) before returning (see `ApplyOptions::prune`).
    pub prune: bool,
    /// The site's database (the agent's `--db`): where the reverse of a deployment's SQL
    /// runs.
    pub database: Option<crate::engine::db::url::DbUrl>,
}

impl Default for RollbackOptions {
    fn default() -> RollbackOptions {
        RollbackOptions {
            force: false,
            keep: 10,
            prune: true,
            database: None,
        }
    }
}

/// Whether a deployment of `kind` with `status` is part of the tree now.
pub fn is_in_place(kind: &str, status: &str) -> bool {
    kind == "deploy" && status == "done"
}

/// Where undoing the current deployment goes, given the history oldest first as (id, kind,
/// status): the deployment in place before the current one, or 0 (before the first);
/// None when no deployment is in place.
pub fn undo_target<'a>(history: impl IntoIterator<Item = (i64, &'a str, &'a str)>) -> Option<i64> {
    let in_place: Vec<i64> = history
        .into_iter()
        .filter(|(_, kind, status)| is_in_place(kind, status))
        .map(|(id, ..)| id)
        .collect();
    in_place.last()?;
    Some(in_place.iter().rev().nth(1).copied().unwrap_or(0))
}

/// Roll the root back to how it was after deployment `to` (0: before the first one;
/// None: the deployment before the current one).
pub fn rollback(
    root: &Path,
    state: &State,
    to: Option<i64>,
    opts: &RollbackOptions,
    progress: &Progress,
    sink: LogSink,
) -> anyhow::Result<Deployment> {
    let log = Log::new(state, progress, sink);
    let _lock = state.lock()?;
    log.info(format!("took the deploy lock in {}", state.dir().display()));
    recover_locked(root, state, &log, progress)?;
    let in_place: Vec<Deployment> = state
        .deployments()?
        .into_iter()
        .filter(|d| is_in_place(&d.kind, &d.status))
        .collect();
    let Some(current) = in_place.last() else {
        bail!("nothing to roll back: no deployment is in place");
    };
    let to = match to {
        Some(t) if t == 0 || in_place.iter().any(|d| d.id == t && d.id < current.id) => t,
        Some(t) => bail!(
            "deployment {t} is not a deployment in place before the current one ({}); see `devsky agent history`",
            current.id
        ),
        None => undo_target(
            in_place
                .iter()
                .map(|d| (d.id, d.kind.as_str(), d.status.as_str())),
        )
        .unwrap_or(0),
    };
    let undone: Vec<&Deployment> = in_place.iter().filter(|d| d.id > to).collect();
    let first = undone[0];
    let target_map = state.map_path(first.id);
    if !target_map.exists() {
        bail!(
            "the map from before deployment {} was pruned (only the newest deployments keep \
             theirs); cannot roll back that far",
            first.id
        );
    }
    let ids: Vec<i64> = undone.iter().map(|d| d.id).collect();
    let release = undone.iter().all(|d| d.mode == "release");
    if !release && undone.iter().any(|d| d.mode == "release") {
        bail!("deployments {ids:?} mix release and files mode; roll back one mode at a time");
    }
    let mode = if release { Mode::Release } else { Mode::Files };
    let id = state.begin("rollback", None, (to > 0).then_some(to), mode.as_str())?;
    log.started(
        id,
        format!(
            "rollback {id}: undoing deployment(s) {:?}, newest first, back to {}",
            ids.iter().rev().collect::<Vec<_>>(),
            if to == 0 {
                "before the first deployment".to_string()
            } else {
                format!("deployment {to}")
            }
        ),
    );
    let syncs_before = syncs();
    let r = if release {
        let target = first
            .old_release
            .as_deref()
            .map(PathBuf::from)
            .context("no release recorded")?;
        release::rollback(root, state, id, &target, &target_map, &ids, &log, progress)
    } else {
        rollback_files(root, state, id, &target_map, &ids, opts, &log, progress)
    };
    if crate::engine::util::testhooks::ENABLED {
        // For the tests: a rollback makes a fixed number of syncs, whatever its size.
        log.info(format!("syncs: {}", syncs() - syncs_before));
    }
    finish(state, id, r, &log)?;
    if opts.prune && state.prune(opts.keep).is_ok() {
        super::state::empty_trash(&state.trash_dir());
    }
    state.deployment(id)?.context("deployment vanished")
}

#[allow(clippy::too_many_arguments)]
fn rollback_files(
    root: &Path,
    state: &State,
    id: i64,
    target_map: &Path,
    undone: &[i64],
    opts: &RollbackOptions,
    log: &Log,
    progress: &Progress,
) -> anyhow::Result<String> {
    let root = root.canonicalize()?;
    let pre = state.map_path(id);
    map_root(&root, state, &pre, progress)?;
    // Drift: what changed since the current state was verified.
    if let Some(cur) = state.current()? {
        let after = state.after_map_path(cur.id);
        if after.exists() {
            let mut conflicts = Vec::new();
            for d in diff_maps(&after, &pre)?.0 {
                let d = d?;
                conflicts.push(Conflict {
                    path: String::from_utf8_lossy(d.path()).into_owned(),
                    expected: d.old.as_ref().map(|e| e.hash_hex()),
                    found: d.new.as_ref().map(|e| e.hash_hex()),
                });
            }
            if !conflicts.is_empty() {
                if !opts.force {
                    return Err(DeployError::Conflicts(conflicts).into());
                }
                for c in &conflicts {
                    log.warning(format!(
                        "changed on the server, rolled back anyway (--force): {c}"
                    ));
                }
            }
        }
    }
    let mut changes = Vec::new();
    let (deltas, dirs) = diff_maps(&pre, target_map)?;
    // With folders in both maps, every folder goes back as it was (mode too); a map of
    // before maps had folders leaves them to follow the files.
    let mut folders = dirs.then(Folders::default);
    for d in deltas {
        let d = d?;
        let path = String::from_utf8(d.path().to_vec()).map_err(|_| {
            anyhow::anyhow!(
                "{:?} is not a UTF-8 name; cannot roll it back",
                String::from_utf8_lossy(d.path())
            )
        })?;
        let is_dir = |e: &Option<Entry>| e.as_ref().is_some_and(|e| e.kind == EntryKind::Dir);
        if let Some(f) = folders.as_mut() {
            match (&d.new, is_dir(&d.old), is_dir(&d.new)) {
                (Some(n), _, true) => f.want.push((path.clone(), n.mode)),
                (_, true, false) => f.remove.push(path.clone()),
                _ => {}
            }
        }
        // The file side: what the path must hold after (a folder is no file).
        let new = d.new.as_ref().filter(|e| e.kind != EntryKind::Dir);
        let old_file = d.old.as_ref().is_some_and(|e| e.kind != EntryKind::Dir);
        if new.is_some() || old_file {
            changes.push(Change {
                path,
                new: new.map(Meta::of),
            });
        }
    }
    let prep = prepare(&root, &pre, changes, folders.as_ref())?;
    let sql = super::sqlpart::for_rollback(state, undone, opts, &root, log)?;
    // Contents from the backups of the undone deployments (and any later one).
    let mut sources: Vec<(PathBuf, BackupIndex)> = Vec::new();
    for d in state
        .deployments()?
        .iter()
        .filter(|d| d.id >= undone[0] && d.id != id)
    {
        if let Ok(b) = std::fs::read(state.backup_index(d.id)) {
            let idx: BackupIndex = serde_json::from_slice(&b)
                .with_context(|| format!("the backup index of deployment {} is damaged", d.id))?;
            sources.push((state.backup_dir(d.id), idx));
        }
    }
    let mut dir_modes = BTreeMap::new();
    let mut by_hash: HashMap<(&str, &str), PathBuf> = HashMap::new();
    for (dir, idx) in &sources {
        for d in &idx.removed_dirs {
            dir_modes.entry(d.path.clone()).or_insert(d.mode);
        }
        for (p, m) in &idx.files {
            by_hash
                .entry((p.as_str(), m.blake3.as_str()))
                .or_insert_with(|| dir.join(p));
            by_hash
                .entry(("", m.blake3.as_str()))
                .or_insert_with(|| dir.join(p));
        }
    }
    let stage = make_stage(&root, id)?;
    let staged = (|| -> anyhow::Result<()> {
        // Each restored content and the backup that holds it (all found before any copy).
        let mut work: Vec<(&Path, PathBuf, &Meta)> = Vec::new();
        for op in prep.ops.iter() {
            let Some(new) = &op.new else { continue };
            let src = by_hash
                .get(&(op.path.as_str(), new.blake3.as_str()))
                .or_else(|| by_hash.get(&("", new.blake3.as_str())))
                .with_context(|| {
                    format!(
                        "no backup holds {} as it was before deployment {}",
                        op.path, undone[0]
                    )
                })?;
            let dest = stage.join(op.staged.as_deref().unwrap_or_default());
            work.push((src.as_path(), dest, new));
        }
        let total = work.len() as u64;
        let done = AtomicU64::new(0);
        let slow = crate::engine::util::testhooks::var("DEVSKY_TEST_SLOW_RESTORE_MS")
            .and_then(|v| v.parse::<u64>().ok());
        // A few threads, as a deploy stages its uploads.
        in_parallel(&work, |run| {
            for (src, dest, new) in run {
                progress.check()?;
                let n = done.fetch_add(1, Ordering::Relaxed);
                progress.set(n, Some(total), "restoring from backups");
                if let Some(ms) = slow {
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                }
                stage_from(src, dest, new)?;
            }
            Ok(())
        })?;
        // One syncfs for every staged content, as a deploy's stage (no fsync per file).
        sync_filesystem(&stage)?;
        sync_dir(&stage);
        progress.check()?;
        Ok(())
    })();
    if let Err(e) = staged {
        let _ = remove_tree(&stage);
        return Err(e);
    }
    log.info(format!(
        "staged {} content(s) from the backups",
        prep.ops.iter().filter(|o| o.new.is_some()).count()
    ));
    let mut j = Journal::new(id, "rollback", Mode::Files, &root, &pre);
    j.sql = sql;
    j.stage = Some(stage);
    j.backups = Some(state.backup_dir(id));
    prep.into_journal(&mut j);
    if !dirs {
        // Folders the undone deployments removed come back with their modes.
        for (d, m) in dir_modes {
            if let Some(mode) = j.dir_modes.get_mut(&d) {
                *mode = m;
            }
        }
    }
    let summary = format!(
        "rolled back deployment(s) {:?}: {} path(s) restored, {} removed; {} folder(s) \
         created, {} removed, {} changed mode",
        undone,
        j.ops.iter().filter(|o| o.new.is_some()).count(),
        j.ops.iter().filter(|o| o.new.is_none()).count(),
        j.create_dirs.len(),
        j.remove_dirs.len(),
        j.chmod_dirs.len()
    );
    run_journaled(state, &j, log, progress, &summary, undone, |after| {
        let (shown, n) = differences(MapReader::open(target_map)?, dirs, after)?;
        Ok((n == 0).then_some(()).ok_or_else(|| {
            DeployError::VerifyFailed(format!(
                "the root is not the tree of before: {}",
                describe(&shown, n)
            ))
        }))
    })?;
    Ok(summary)
}
