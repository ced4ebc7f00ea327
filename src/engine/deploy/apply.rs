//! Applying a package on the server side, and recovering from a crash.
//!
//! [`apply`]: lock -> recover any journal left behind -> map the root (with the state's
//! stat cache; kept as `maps/<id>.map`) while, meanwhile, the package arrives
//! ([`apply_when_ready`]), is validated (nothing is written before it passed), the
//! deployment is recorded as `applying` and every upload is staged beside the root on the
//! same filesystem -> check pre-images against the map, and once more on disk (conflicts
//! refused unless forced; `preimage`) -> write the journal -> back up -> delete and rename
//! into place -> sync -> re-map and require the result to equal the old map with the
//! changes applied -> record `done` (last) -> clear the journal -> unlock. Any failure
//! after the journal puts the old tree back and records `failed`.
//!
//! [`recover`]: a journal without `done` is undone, so after a crash at any point the tree
//! is exactly the old one, or exactly the new one if `done` had been recorded.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::Serialize;

use super::fsops::remove_tree;
use super::guard;
pub use super::hold::Held;
use super::journal::{Journal, Meta, Mode};
use super::manifest::{Manifest, parse_mode};
use super::package::{Limits, Package, free_space};
pub(crate) use super::preimage::check_pre_images;
use super::preimage::recheck;
use super::sqlpart;
pub(crate) use super::stage::make_stage;
use super::stage::{stage_uploads, stages_of};
use super::transition::{
    self, Change, Folders, Prepared, describe, differences, expected, map_root, map_root_at,
    prepare,
};
use super::{
    DeployError, Deployment, Log, LogSink, State, corrupt_stage_hook, crash_point, release,
};
use crate::engine::db::url::DbUrl;
use crate::engine::jobs::Progress;
use crate::engine::map::format::MapReader;
use crate::engine::util::units::human_size;

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Apply even where the server's content is not the package's pre-image.
    pub force: bool,
    /// The root is a symlink to `releases/N`: build a new release and switch.
    pub release_mode: bool,
    /// Releases kept in release mode.
    pub keep_releases: usize,
    /// Deployments whose archives, backups and maps are kept.
    pub keep: usize,
    pub limits: Limits,
    /// Prune old deployments (`keep`) before returning. The HTTP agent says no and prunes
    /// once it has told the client the deployment ended.
    pub prune: bool,
    /// The site's database (the agent's `--db`): where a package's SQL runs.
    pub database: Option<DbUrl>,
}

impl Default for ApplyOptions {
    fn default() -> ApplyOptions {
        ApplyOptions {
            force: false,
            release_mode: false,
            keep_releases: 5,
            keep: 10,
            limits: Limits::default(),
            prune: true,
            database: None,
        }
    }
}

/// Apply the package at `package` to `root` (see the module doc).
pub fn apply(
    root: &Path,
    state: &State,
    package: &Path,
    opts: &ApplyOptions,
    progress: &Progress,
    sink: LogSink,
) -> anyhow::Result<Deployment> {
    apply_when_ready(
        root,
        state,
        None,
        &mut || Ok(package.to_path_buf()),
        opts,
        progress,
        sink,
    )
}

/// [`apply`], with the package still on its way: `package` is called once the lock is held
/// and the root is being mapped, and may wait for the package to arrive (an upload); an
/// error from it ends the apply with nothing changed and no deployment recorded. With
/// `held`, the lock is already taken and the root mapped (files mode starts from that map;
/// release mode does not use it).
pub fn apply_when_ready(
    root: &Path,
    state: &State,
    held: Option<Held>,
    package: &mut dyn FnMut() -> anyhow::Result<PathBuf>,
    opts: &ApplyOptions,
    progress: &Progress,
    sink: LogSink,
) -> anyhow::Result<Deployment> {
    let log = Log::new(state, progress, sink);
    let (_lock, premapped) = match held {
        Some(h) => {
            log.info(format!(
                "holding the deploy lock in {} since the root was mapped {} ms ago",
                state.dir().display(),
                h.mapped_at.elapsed().as_millis()
            ));
            (h.lock, Some(h.map))
        }
        None => {
            let lock = state.lock()?;
            log.info(format!("took the deploy lock in {}", state.dir().display()));
            (lock, None)
        }
    };
    recover_locked(root, state, &log, progress)?;
    let id = if opts.release_mode {
        if let Some(m) = &premapped {
            let _ = std::fs::remove_file(m);
        }
        let release = release::resolve_link(&std::path::absolute(root)?)?.1;
        let pkg = open_checked(&package()?, &release, state, opts, progress, &log)?;
        if pkg.manifest.sql.is_some() {
            bail!("a package with SQL deploys in files mode only (this root is in release mode)");
        }
        let id = begin(state, &pkg, Mode::Release, &log)?;
        let r = release::deploy(root, state, id, &pkg, opts, &log, progress);
        finish(state, id, r, &log)?;
        id
    } else {
        apply_files(root, state, premapped, package, opts, progress, &log)?
    };
    if opts.prune
        && let Ok(p) = state.prune(opts.keep)
        && !p.is_empty()
    {
        log.info(format!(
            "pruned the archives and backups of deployment(s) {p:?}"
        ));
        super::state::empty_trash(&state.trash_dir());
    }
    state.deployment(id)?.context("deployment vanished")
}

/// Open and check the package, within the free space of `root`'s file system, then what
/// it would do to `root` (`guard`): nothing is written before it passed.
fn open_checked(
    path: &Path,
    root: &Path,
    state: &State,
    opts: &ApplyOptions,
    progress: &Progress,
    log: &Log,
) -> anyhow::Result<Package> {
    log.info(format!("checking package {}", path.display()));
    let mut limits = opts.limits.clone();
    let free = free_space(root)?;
    limits.free_space = Some(limits.free_space.map_or(free, |f| f.min(free)));
    let pkg = Package::open(path, &limits, progress)
        .and_then(|pkg| {
            guard::check_package(root, &state.dir().join("backups"), &pkg)
                .with_context(|| {
                    format!(
                        "package {} refused for the root {}; nothing was changed",
                        path.display(),
                        root.display()
                    )
                })
                .map(|()| pkg)
        })
        .inspect_err(|e| log.error(format!("{e:#}")))?;
    log.success(format!(
        "package checked: {} upload(s), {}, {} delete(s), blake3 {}",
        pkg.manifest.uploads.len(),
        human_size(pkg.manifest.upload_bytes() as i64),
        pkg.manifest.deletes.len(),
        &pkg.blake3[..16]
    ));
    Ok(pkg)
}

/// Record the deployment as `applying` and archive its package.
fn begin(state: &State, pkg: &Package, mode: Mode, log: &Log) -> anyhow::Result<i64> {
    let parent = state.current()?.map(|d| d.id);
    let id = state.begin("deploy", Some(&pkg.blake3), parent, mode.as_str())?;
    log.started(
        id,
        format!("deployment {id} started ({} mode)", mode.as_str()),
    );
    if let Err(e) = state.archive(id, &pkg.path) {
        log.warning(format!("could not archive the package: {e:#}"));
    }
    Ok(id)
}

/// Files mode: the root is mapped (with the state's stat cache) while the package arrives,
/// is checked and is unpacked into the stage; then [`deploy_files`]. The id of the
/// deployment, once it was recorded (its failure is recorded too).
fn apply_files(
    root: &Path,
    state: &State,
    premapped: Option<PathBuf>,
    package: &mut dyn FnMut() -> anyhow::Result<PathBuf>,
    opts: &ApplyOptions,
    progress: &Progress,
    log: &Log,
) -> anyhow::Result<i64> {
    let root = root
        .canonicalize()
        .with_context(|| format!("the root {} does not exist", root.display()))?;
    // Under the lock there is one such map at a time; it becomes `maps/<id>.map`.
    let premap = state.dir().join("maps").join(".next.map");
    let cache = state.cache_path();
    let held = premapped.is_some();
    let (mapped, prepared) = std::thread::scope(|s| {
        let mapping = s.spawn(|| match &premapped {
            Some(held) => std::fs::rename(held, &premap)
                .map(|()| None)
                .map_err(|e| anyhow!("cannot take over the map made under the lock ({e})")),
            None => map_root_at(&root, &cache, &premap, None, progress).map(Some),
        });
        let prepared = (|| -> anyhow::Result<(Package, i64, anyhow::Result<PathBuf>)> {
            let pkg = open_checked(&package()?, &root, state, opts, progress, log)?;
            let id = begin(state, &pkg, Mode::Files, log)?;
            let staged = make_stage(&root, id).and_then(|stage| {
                log.info(format!(
                    "staging {} upload(s) in {}{}",
                    pkg.manifest.uploads.len(),
                    stage.display(),
                    if held { "" } else { " while mapping the root" }
                ));
                match stage_uploads(&pkg, &root, &stage, progress) {
                    Ok(()) => Ok(stage),
                    Err(e) => {
                        let _ = remove_tree(&stage);
                        Err(e)
                    }
                }
            });
            Ok((pkg, id, staged))
        })();
        let mapped = mapping
            .join()
            .unwrap_or_else(|_| Err(anyhow!("mapping the root failed (a panic)")));
        (mapped, prepared)
    });
    let (pkg, id, staged) = match prepared {
        Ok(p) => p,
        Err(e) => {
            // Refused before it was recorded: nothing changed, no deployment.
            let _ = std::fs::remove_file(&premap);
            return Err(e);
        }
    };
    let old_map = state.map_path(id);
    let r = (|| -> anyhow::Result<String> {
        let stage = staged?;
        let ready = mapped.and_then(|rep| {
            std::fs::rename(&premap, &old_map)?;
            Ok(rep)
        });
        let rep = match ready {
            Ok(rep) => rep,
            Err(e) => {
                let _ = remove_tree(&stage);
                return Err(e);
            }
        };
        if let Some(rep) = rep {
            log.info(format!(
                "mapped the root: {} files, {} ({} hashed)",
                rep.files,
                human_size(rep.bytes as i64),
                rep.hashed
            ));
        }
        deploy_files(&root, state, id, &pkg, &old_map, stage, opts, log, progress)
    })();
    let _ = std::fs::remove_file(&premap);
    finish(state, id, r, log)?;
    Ok(id)
}

/// Record a failure (unless a journal is left for `recover`), or pass the result on.
pub(crate) fn finish(
    state: &State,
    id: i64,
    r: anyhow::Result<String>,
    log: &Log,
) -> anyhow::Result<()> {
    match r {
        Ok(summary) => {
            log.success(summary);
            Ok(())
        }
        Err(e) => {
            log.error(format!("{e:#}"));
            if !state.journal_path(id).exists() {
                state.set_status(id, "failed", &first_line(&e))?;
            }
            Err(e)
        }
    }
}

fn first_line(e: &anyhow::Error) -> String {
    let s = format!("{e:#}");
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(500)
        .collect()
}

/// Check the pre-images against the root's map `old_map`, journal, move the staged uploads
/// into place and verify (see the module doc). The stage goes if it is refused.
#[allow(clippy::too_many_arguments)]
fn deploy_files(
    root: &Path,
    state: &State,
    id: i64,
    pkg: &Package,
    old_map: &Path,
    stage: PathBuf,
    opts: &ApplyOptions,
    log: &Log,
    progress: &Progress,
) -> anyhow::Result<String> {
    let prepared = (|| -> anyhow::Result<(Prepared, Option<sqlpart::JournalSql>)> {
        guard::check_root_links(root, old_map, pkg).with_context(|| {
            format!(
                "package {} refused for the root {}; nothing was changed",
                pkg.path.display(),
                root.display()
            )
        })?;
        let (sql, rows) = sqlpart::prepare(
            state,
            id,
            &pkg.manifest,
            opts.database.as_ref(),
            root,
            opts.force,
        )?;
        let touched = sqlpart::with_rows(
            check_pre_images(old_map, &pkg.manifest, opts.force, log),
            rows,
            opts.force,
            log,
        )?;
        let folders = folders_of(&pkg.manifest)?;
        let mut prep = prepare(root, old_map, changes_of(&pkg.manifest)?, folders.as_ref())?;
        let index: std::collections::HashMap<&str, usize> = pkg
            .manifest
            .uploads
            .iter()
            .enumerate()
            .map(|(i, u)| (u.path.as_str(), i))
            .collect();
        for op in prep.ops.iter_mut().filter(|o| o.new.is_some()) {
            let i = index
                .get(op.path.as_str())
                .context("upload missing from the manifest")?;
            op.staged = Some(i.to_string());
        }
        if corrupt_stage_hook() {
            corrupt_first_file(&stage, &prep.ops);
        }
        log.info(format!(
            "staged {} upload(s)",
            prep.ops.iter().filter(|o| o.new.is_some()).count()
        ));
        // The map was taken while the package arrived: look at the touched paths again.
        recheck(root, &touched, opts.force, log)?;
        progress.check()?;
        Ok((prep, sql))
    })();
    let (prep, sql) = match prepared {
        Ok(p) => p,
        Err(e) => {
            let _ = remove_tree(&stage);
            return Err(e);
        }
    };
    let mut j = Journal::new(id, "deploy", Mode::Files, root, old_map);
    j.stage = Some(stage);
    j.backups = Some(state.backup_dir(id));
    j.sql = sql;
    prep.into_journal(&mut j);
    let summary = format!(
        "deployed {} upload(s) ({}), {} delete(s); {} folder(s) created, {} removed, {} \
         changed mode",
        j.ops.iter().filter(|o| o.new.is_some()).count(),
        human_size(
            j.ops
                .iter()
                .filter_map(|o| o.new.as_ref())
                .map(|m| m.size)
                .sum::<u64>() as i64
        ),
        j.ops.iter().filter(|o| o.new.is_none()).count(),
        j.create_dirs.len(),
        j.remove_dirs.len(),
        j.chmod_dirs.len()
    );
    run_journaled(state, &j, log, progress, &summary, &[], |after| {
        let (shown, n) = differences(expected(old_map, &j)?, true, after)?;
        Ok((n == 0)
            .then_some(())
            .ok_or_else(|| DeployError::VerifyFailed(describe(&shown, n))))
    })?;
    Ok(summary)
}

/// Write the journal, execute, verify with `verify(after_map)`, record `done` (and mark
/// `undone` deployments rolled back) — or undo everything and record `failed`.
pub(crate) fn run_journaled(
    state: &State,
    j: &Journal,
    log: &Log,
    progress: &Progress,
    summary: &str,
    undone: &[i64],
    verify: impl Fn(&Path) -> anyhow::Result<Result<(), DeployError>>,
) -> anyhow::Result<()> {
    let jpath = state.journal_path(j.id);
    crash_point("before writing the journal");
    j.write(&jpath)?;
    crash_point("after writing the journal");
    log.info(format!("journal written: {} operation(s)", j.ops.len()));
    let r = (|| -> anyhow::Result<()> {
        transition::execute(j, log, progress)?;
        let after = state.after_map_path(j.id);
        map_root(&j.root, state, &after, progress)?;
        verify(&after)??;
        log.success("verified: the root's map is exactly the expected one");
        if let Some(js) = &j.sql {
            let n = sqlpart::run(state, j.id, js, &j.root)?;
            log.success(format!("ran {n} SQL step(s) on the database {}", js.url));
        }
        crash_point("before the final status");
        state.finish(j.id, summary, undone)?;
        Ok(())
    })();
    match r {
        Ok(()) => {
            crash_point("after the final status");
            sqlpart::clear(state, j.id);
            Journal::clear(&jpath)?;
            if let Some(s) = &j.stage {
                let _ = remove_tree(s);
            }
            Ok(())
        }
        Err(e) => Err(undo_after(state, j, e, log, progress)),
    }
}

/// After a failure with the journal written: undo, and say how it went.
pub(crate) fn undo_after(
    state: &State,
    j: &Journal,
    e: anyhow::Error,
    log: &Log,
    progress: &Progress,
) -> anyhow::Error {
    log.error(format!("{e:#}"));
    log.warning("putting the previous tree back");
    match undo_and_check(state, j, log, progress) {
        Ok(()) => e.context("the previous tree was restored"),
        Err(u) => e.context(format!(
            "undoing failed too ({u:#}); the journal is kept: run `devsky agent recover`"
        )),
    }
}

/// Undo a journal, check the root equals its old map, record `failed`, clear up.
fn undo_and_check(
    state: &State,
    j: &Journal,
    log: &Log,
    progress: &Progress,
) -> anyhow::Result<()> {
    if let Some(js) = &j.sql {
        sqlpart::undo(state, j.id, js, &j.root, false)?;
        log.success("the database is back as it was before the deployment");
    }
    match j.mode {
        Mode::Files => transition::undo(j, log)?,
        Mode::Release => release::undo(j, log)?,
    }
    let check = state.dir().join("maps").join(format!("{}.check.map", j.id));
    map_root(&j.root, state, &check, progress)?;
    let old = MapReader::open(&j.old_map)?;
    let dirs = old.dirs;
    let (shown, n) = differences(old, dirs, &check)?;
    let _ = std::fs::remove_file(&check);
    if n > 0 {
        bail!(
            "after undoing, the root still differs from before: {}",
            describe(&shown, n)
        );
    }
    log.success("the root is exactly as before the deployment");
    state.set_status(
        j.id,
        "failed",
        "interrupted or refused; the previous tree was restored",
    )?;
    Journal::clear(&state.journal_path(j.id))?;
    if let Some(s) = &j.stage {
        remove_tree(s)?;
    }
    if j.mode == Mode::Files {
        remove_tree(&state.backup_dir(j.id))?;
        let _ = std::fs::remove_file(state.backup_index(j.id));
    }
    Ok(())
}

/// What recovery did for one deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Recovered {
    pub id: i64,
    pub action: String,
}

/// Recover after a crash (run at agent start): undo every journal whose deployment was not
/// recorded `done`, finish clearing the ones that were, and mark deployments interrupted
/// before any change as failed; remove the received packages no deployment started from
/// ([`super::uploads`]). A lock left by a process that is no longer running (or a zombie)
/// is removed; one held by a live process makes this fail with "locked by ...".
pub fn recover(
    root: &Path,
    state: &State,
    progress: &Progress,
    sink: LogSink,
) -> anyhow::Result<Vec<Recovered>> {
    let log = Log::new(state, progress, sink);
    let _lock = match state.lock() {
        Ok(g) => g,
        Err(e) => match state.lock_info()? {
            Some(Some(held)) if held.holder_is_dead() => {
                log.warning(format!(
                    "removing the lock of {} ({}), which is no longer running",
                    held.holder, held.user
                ));
                state.break_lock()?;
                state.lock()?
            }
            _ => return Err(e),
        },
    };
    let out = recover_locked(root, state, &log, progress)?;
    match super::uploads::remove_leftovers(state.dir())? {
        Some(0) => {}
        Some(n) => log.info(format!(
            "recovery: removed {n} received package(s) no deployment started from"
        )),
        None => log.info("recovery: a package is being received: received packages kept"),
    }
    Ok(out)
}

/// [`recover`] with the lock already held.
pub(crate) fn recover_locked(
    root: &Path,
    state: &State,
    log: &Log,
    progress: &Progress,
) -> anyhow::Result<Vec<Recovered>> {
    let mut out = Vec::new();
    state.remove_stale_lock_temps();
    // A journal cut short while it was written (its temp file): nothing had changed yet.
    for e in std::fs::read_dir(state.dir().join("journal"))?.flatten() {
        if e.file_name().to_string_lossy().ends_with(".tmp") {
            std::fs::remove_file(e.path())?;
        }
    }
    for id in state.journals()? {
        let jpath = state.journal_path(id);
        let j = Journal::read(&jpath)?;
        let want = match j.mode {
            Mode::Files => root.canonicalize()?,
            Mode::Release => std::path::absolute(root)?,
        };
        if j.root != want {
            bail!(
                "journal {} is for the root {}, not {}; recover that root first",
                jpath.display(),
                j.root.display(),
                want.display()
            );
        }
        let dlog = log.for_deployment(id);
        let status = state.deployment(id)?.map(|d| d.status).unwrap_or_default();
        if status == "done" {
            dlog.info("recovery: the deployment was recorded done; clearing its journal");
            sqlpart::clear(state, id);
            Journal::clear(&jpath)?;
            if let Some(s) = &j.stage {
                remove_tree(s)?;
            }
            out.push(Recovered {
                id,
                action: "kept (it had completed)".into(),
            });
            continue;
        }
        dlog.warning(format!(
            "recovery: deployment {id} was interrupted; putting the previous tree back"
        ));
        undo_and_check(state, &j, &dlog, progress)?;
        out.push(Recovered {
            id,
            action: "undone (the previous tree was restored)".into(),
        });
    }
    let root_c = root.canonicalize()?;
    for d in state
        .deployments()?
        .into_iter()
        .filter(|d| d.status == "applying")
    {
        let dlog = log.for_deployment(d.id);
        dlog.warning("recovery: interrupted before any change to the root");
        state.set_status(d.id, "failed", "interrupted before any change to the root")?;
        out.push(Recovered {
            id: d.id,
            action: "marked failed (nothing had changed)".into(),
        });
    }
    // With the lock held no deployment runs: every stage of the root is left over — by
    // a deployment interrupted before its journal, or killed after it cleared its journal
    // (done, or undone) but before it removed its stage, or by a recovery killed likewise.
    for s in stages_of(&root_c) {
        remove_tree(&s)?;
    }
    Ok(out)
}

/// The manifest as wanted changes.
pub(crate) fn changes_of(m: &Manifest) -> anyhow::Result<Vec<Change>> {
    let mut c = Vec::with_capacity(m.uploads.len() + m.deletes.len());
    for u in &m.uploads {
        c.push(Change {
            path: u.path.clone(),
            new: Some(Meta {
                kind: u.kind,
                mode: parse_mode(&u.mode)?,
                blake3: u.blake3.clone(),
                size: u.size,
            }),
        });
    }
    for d in &m.deletes {
        c.push(Change {
            path: d.path.clone(),
            new: None,
        });
    }
    Ok(c)
}

/// The folders a manifest lists (version 2), None for a version 1 manifest (folders follow
/// the files).
pub(crate) fn folders_of(m: &Manifest) -> anyhow::Result<Option<Folders>> {
    if m.version < 2 || m.folders_follow {
        return Ok(None);
    }
    let mut f = Folders::default();
    for d in &m.folders {
        f.want.push((d.path.clone(), parse_mode(&d.mode)?));
    }
    f.remove = m.remove_folders.clone();
    Ok(Some(f))
}

/// The test hook: flip the first byte of the first staged regular file.
pub(crate) fn corrupt_first_file(dir: &Path, ops: &[super::journal::Op]) {
    for op in ops {
        if let (Some(n), Some(s)) = (&op.new, &op.staged)
            && n.kind == super::manifest::Kind::File
            && n.size > 0
        {
            let p = dir.join(s);
            if let Ok(mut b) = std::fs::read(&p) {
                b[0] ^= 0xff;
                let _ = std::fs::write(&p, b);
            }
            return;
        }
    }
}
