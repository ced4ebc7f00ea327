//! Builds: a script applied to a target folder and database ([`apply`]), undone after a
//! crash ([`recover_pending`]), rolled back ([`rollback`]).
//!
//! Order of a build: pre-images first (every touched file on disk, every touched table's
//! schema and every row the script changes; all conflicts listed, nothing changed, unless
//! forced); the build is recorded `applying`; the files go as a deploy package through
//! `engine::deploy::apply` on the target (its own deploy state in
//! `.devsky/builds/targets/<hash>/`: lock, journal, backups, atomic renames, verification
//! by re-mapping, recovery); then the SQL ([`super::dbpart::run`], journaled in the
//! build's row); then `done`, written last. A rollback is a build of the reversed script.
//!
//! A build still `applying` when no build runs (the builds lock, an flock released when
//! its process dies, is free) was interrupted: [`recover_pending`] (run by the next devsky
//! command) undoes its SQL from the row's journal, recovers the deploy state, rolls back
//! the files deployment if it completed, and records the build `failed`: the target is
//! exactly as before it. Rolling back is in `super::rollback`.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::dbpart::{self, SqlStep};
use super::{FileChange, FileState, Loaded, load, resolve};
use crate::engine::db::snapshot::DbSnapshot;
use crate::engine::db::{Db, profile};
use crate::engine::deploy::pack;
use crate::engine::deploy::plan::{Plan, PlanDelete, PlanUpload};
use crate::engine::deploy::rollback::{RollbackOptions, is_in_place};
use crate::engine::deploy::sqlpart::SqlPart;
use crate::engine::deploy::{self, ApplyOptions, LogLine, State, crash_point};
use crate::engine::diff::changes::ChangeKind;
use crate::engine::jobs::Progress;
use crate::engine::map::EntryKind;
use crate::engine::project::Project;
use crate::engine::snapshot::objects::ObjectStore;
use crate::store::scripts::{self as rows, Build};
use crate::store::{Store, now};

/// The build was refused: every conflicting file and row.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused: {} conflict(s) with the script's pre-images, nothing was changed (--force applies anyway):\n  {}", .0.len(), .0.join("\n  "))]
pub struct Conflicts(pub Vec<String>);

/// What `devsky build apply` takes.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub target: PathBuf,
    pub db: Option<String>,
    pub force: bool,
}

pub(super) fn builds_dir(project: &Project) -> PathBuf {
    project.root.join(".devsky").join("builds")
}

/// The deploy state of a target folder.
fn state_of(project: &Project, target: &Path) -> anyhow::Result<State> {
    let key = blake3::hash(target.as_os_str().as_bytes()).to_hex();
    let dir = builds_dir(project).join("targets").join(&key[..16]);
    std::fs::create_dir_all(&dir)?;
    State::open(&dir, target)
}

/// The builds lock: held by a running build (and by recovery), released when the process
/// ends however it ends. None when another process holds it.
fn builds_lock(project: &Project, wait: bool) -> anyhow::Result<Option<File>> {
    std::fs::create_dir_all(builds_dir(project))?;
    let f = File::create(builds_dir(project).join("lock"))?;
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), op) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Ok(None);
        }
        return Err(e.into());
    }
    Ok(Some(f))
}

/// Marks that a build may be in progress (cheap to test for every command).
fn pending_marker(project: &Project) -> PathBuf {
    builds_dir(project).join("pending")
}

fn quiet_sink() -> impl Fn(&LogLine) {
    |_: &LogLine| {}
}

/// The files of a script in the direction it runs.
fn oriented(files: &[FileChange], reverse: bool) -> Vec<FileChange> {
    files
        .iter()
        .map(|f| {
            let mut f = f.clone();
            if reverse {
                std::mem::swap(&mut f.before, &mut f.after);
            }
            f
        })
        .collect()
}

/// The database before and after, in the direction it runs.
fn oriented_db(l: &Loaded, reverse: bool) -> Option<(&DbSnapshot, &DbSnapshot)> {
    l.db.as_ref()
        .map(|(o, n)| if reverse { (n, o) } else { (o, n) })
}

/// What a path of the target holds now (None: nothing), or why it cannot hold a file.
fn on_disk(target: &Path, rel: &str) -> Result<Option<FileState>, String> {
    let mut at = target.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let md = match std::fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read it: {e}")),
        };
        let last = i + 1 == parts.len();
        if !last && !md.is_dir() {
            return Err(format!(
                "{} is not a folder in the target",
                parts[..=i].join("/")
            ));
        }
        if last {
            use std::os::unix::fs::PermissionsExt;
            let mode = md.permissions().mode() & 0o7777;
            if md.file_type().is_symlink() {
                let t = std::fs::read_link(&at).map_err(|e| e.to_string())?;
                let b = t.as_os_str().as_bytes();
                return Ok(Some(FileState {
                    kind: "symlink".into(),
                    blake3: blake3::hash(b).to_hex().to_string(),
                    mode,
                    size: b.len() as u64,
                }));
            }
            if md.is_dir() {
                return Err("a folder in the target".into());
            }
            let (h, size) = deploy::package::hash_file(&at).map_err(|e| format!("{e:#}"))?;
            return Ok(Some(FileState {
                kind: "file".into(),
                blake3: h,
                mode,
                size,
            }));
        }
    }
    Ok(None)
}

fn describe(s: &Option<FileState>) -> String {
    match s {
        None => "nothing".into(),
        Some(s) => format!("{} {}", s.kind, &s.blake3[..12]),
    }
}

/// Every touched path whose content is not the pre-image.
fn file_conflicts(target: &Path, files: &[FileChange]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        match on_disk(target, &f.path) {
            Err(why) => out.push(format!("file {}: {why}", f.path)),
            Ok(now) => {
                let same = match (&now, &f.before) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.kind == b.kind && a.blake3 == b.blake3,
                    _ => false,
                };
                if !same {
                    out.push(format!(
                        "file {}: expected {}, found {}",
                        f.path,
                        describe(&f.before),
                        describe(&now)
                    ));
                }
            }
        }
    }
    out
}

/// Pre-image conflicts of a script (in a direction) against a target and its database.
pub(super) fn all_conflicts(
    l: &Loaded,
    reverse: bool,
    target: &Path,
    db: Option<&mut Box<dyn Db>>,
) -> anyhow::Result<Vec<String>> {
    let mut out = file_conflicts(target, &oriented(&l.files, reverse));
    if let (Some(db), Some((before, after))) = (db, oriented_db(l, reverse)) {
        let tables = l.tables()?;
        let got = dbpart::read(db.as_mut(), &tables)?;
        out.extend(dbpart::conflicts(before, after, &got, &tables, &filters(l)));
    }
    Ok(out)
}

pub(super) fn filters(l: &Loaded) -> super::Filters {
    serde_json::from_value(l.package.filters.clone()).unwrap_or_default()
}

fn hash_bytes(hex: &str) -> anyhow::Result<[u8; 32]> {
    Ok(*blake3::Hash::from_hex(hex)
        .context("bad blake3 in a script")?
        .as_bytes())
}

fn entry_kind(s: &FileState) -> EntryKind {
    if s.kind == "symlink" {
        EntryKind::Symlink
    } else {
        EntryKind::File
    }
}

/// A deploy package of the file changes (and `sql`, for an agent): contents from the
/// object store laid out in `work/tree`, packed by the deploy packer.
pub(super) fn package_of(
    project: &Project,
    files: &[FileChange],
    sql: Option<SqlPart>,
    work: &Path,
) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let objects = ObjectStore::open(&project.root)?;
    let tree = work.join("tree");
    let mut plan = Plan {
        sql,
        ..Plan::default()
    };
    for f in files {
        let path = f.path.as_bytes().to_vec();
        match &f.after {
            Some(a) => {
                let dest = tree.join(&f.path);
                std::fs::create_dir_all(dest.parent().context("a path without a folder")?)?;
                if a.kind == "symlink" {
                    let t = objects.get(&a.blake3)?;
                    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&t), &dest)?;
                } else {
                    objects.restore_to(&a.blake3, &dest)?;
                    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(a.mode))?;
                }
                plan.uploads.push(PlanUpload {
                    path,
                    kind: entry_kind(a),
                    size: a.size,
                    mode: if a.kind == "symlink" { 0o777 } else { a.mode },
                    hash: hash_bytes(&a.blake3)?,
                    remote: f
                        .before
                        .as_ref()
                        .map(|b| hash_bytes(&b.blake3))
                        .transpose()?,
                    change: if f.before.is_some() {
                        ChangeKind::Modified
                    } else {
                        ChangeKind::Added
                    },
                });
            }
            None => {
                let b = f.before.as_ref().context("a change with no side")?;
                plan.deletes.push(PlanDelete {
                    path,
                    kind: entry_kind(b),
                    size: b.size,
                    hash: hash_bytes(&b.blake3)?,
                });
            }
        }
    }
    let built = pack::build(&tree, &plan, work, &Progress::silent())?;
    Ok(built.path)
}

/// The newest deployment in place in a deploy state (0: none).
fn in_place(state: &State) -> anyhow::Result<i64> {
    Ok(state
        .deployments()?
        .into_iter()
        .filter(|d| is_in_place(&d.kind, &d.status))
        .map(|d| d.id)
        .max()
        .unwrap_or(0))
}

pub(super) fn connect(
    project: &Project,
    store: &Store,
    db: Option<&str>,
) -> anyhow::Result<Option<Box<dyn Db>>> {
    db.map(|p| profile::connect(&project.root, store, p, None))
        .transpose()
}

/// Apply a script to a target folder (and database): see the module doc.
pub fn apply(
    project: &Project,
    store: &mut Store,
    script: &str,
    opts: &BuildOptions,
    progress: &Progress,
) -> anyhow::Result<Build> {
    let l = load(project, resolve(store, script)?)?;
    run_change(
        project,
        store,
        &l,
        false,
        &opts.target,
        opts.db.as_deref(),
        opts.force,
        None,
        progress,
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) fn run_change(
    project: &Project,
    store: &mut Store,
    l: &Loaded,
    reverse: bool,
    target: &Path,
    db_name: Option<&str>,
    force: bool,
    undoes: Option<i64>,
    progress: &Progress,
) -> anyhow::Result<Build> {
    let target = std::fs::canonicalize(target)
        .with_context(|| format!("target folder {}", target.display()))?;
    if !target.is_dir() {
        bail!("{} is not a folder", target.display());
    }
    if target.starts_with(&project.root) || project.root.starts_with(&target) {
        bail!(
            "the target {} and the project {} overlap: build into another installation",
            target.display(),
            project.root.display()
        );
    }
    let _lock = builds_lock(project, true)?;
    recover_locked(project, store, progress)?;
    let script = l.script()?;
    let steps = script
        .as_ref()
        .map(|s| dbpart::steps(s, reverse))
        .unwrap_or_default();
    if !steps.is_empty() && db_name.is_none() {
        bail!(
            "script {} changes the database: name the target's database with --db PROFILE",
            l.package.id
        );
    }
    let mut db = connect(project, store, db_name)?;
    if let (Some(db), Some(s)) = (&db, &script)
        && db.kind() != s.kind
    {
        bail!(
            "the script's SQL is for {:?}, the database {} is {:?}",
            s.kind,
            db.describe(),
            db.kind()
        );
    }
    progress.set(0, None, "checking pre-images");
    let conflicts = all_conflicts(l, reverse, &target, db.as_mut())?;
    if !conflicts.is_empty() && !force {
        return Err(Conflicts(conflicts).into());
    }
    let state = state_of(project, &target)?;
    deploy::recover(&target, &state, progress, &quiet_sink())?;
    let files = oriented(&l.files, reverse);
    std::fs::write(pending_marker(project), b"")?;
    let id = rows::insert_build(
        store.conn(),
        &Build {
            id: 0,
            kind: if undoes.is_some() {
                "rollback"
            } else {
                "build"
            }
            .into(),
            package: l.package.id,
            target: target.to_string_lossy().into_owned(),
            db_profile: db_name.map(str::to_string),
            user: std::env::var("USER").unwrap_or_default(),
            started: now(),
            finished: None,
            status: "applying".into(),
            undoes,
            deploy_before: in_place(&state)?,
            deployment: None,
            sql_next: -1,
            sql_done: 0,
            forced: force && !conflicts.is_empty(),
            result: String::new(),
        },
    )?;
    crash_point("build: recorded");
    let fail = |store: &mut Store, e: anyhow::Error| -> anyhow::Error {
        let undone = rows::build(store.conn(), id)
            .ok()
            .flatten()
            .map(|b| undo(project, store, &b, l, progress));
        let msg = match undone {
            Some(Ok(())) => format!("{e:#}; the target was put back as it was"),
            Some(Err(u)) => format!("{e:#}; putting the target back failed too: {u:#}"),
            None => format!("{e:#}"),
        };
        let _ = rows::finish(store.conn(), id, "failed", &msg, now());
        anyhow::anyhow!("build {id} failed: {msg}")
    };
    if !files.is_empty() {
        progress.set(0, None, "applying the files");
        let work = tempfile::Builder::new()
            .prefix("tmp-")
            .tempdir_in(builds_dir(project))?;
        let applied = package_of(project, &files, None, work.path()).and_then(|zip| {
            deploy::apply(
                &target,
                &state,
                &zip,
                &ApplyOptions {
                    force,
                    ..Default::default()
                },
                progress,
                &quiet_sink(),
            )
        });
        match applied {
            Ok(d) if d.status == "done" => {
                crash_point("build: files applied");
                rows::set_deployment(store.conn(), id, d.id)?
            }
            Ok(d) => {
                return Err(fail(
                    store,
                    anyhow::anyhow!("files: deployment {} {}: {}", d.id, d.status, d.summary),
                ));
            }
            Err(e) => return Err(fail(store, e.context("files"))),
        }
    }
    if let Some(db) = db.as_mut()
        && !steps.is_empty()
    {
        progress.set(0, None, "running the SQL");
        let conn = store.conn();
        let r = dbpart::run(db.as_mut(), &steps, 0, &mut |next, done| {
            Ok(rows::set_sql(conn, id, next, done)?)
        });
        if let Err(e) = r {
            return Err(fail(store, e));
        }
    }
    let summary = format!(
        "{} file(s), {} SQL step(s){}",
        files.len(),
        steps.len(),
        if force && !conflicts.is_empty() {
            format!(", forced over {} conflict(s)", conflicts.len())
        } else {
            String::new()
        }
    );
    crash_point("build: before done");
    store.write(|tx| {
        rows::finish(tx, id, "done", &summary, now())?;
        if let Some(u) = undoes {
            tx.execute(
                "UPDATE _dev_builds SET status = 'rolled_back' WHERE id = ?1",
                [u],
            )?;
        }
        Ok(())
    })?;
    let _ = std::fs::remove_file(pending_marker(project));
    rows::build(store.conn(), id)?.context("the build just recorded")
}

/// Put the target of an interrupted or failed build back as it was before it.
fn undo(
    project: &Project,
    store: &Store,
    b: &Build,
    l: &Loaded,
    progress: &Progress,
) -> anyhow::Result<()> {
    let reverse = b.kind == "rollback";
    let target = PathBuf::from(&b.target);
    let state = state_of(project, &target)?;
    deploy::recover(&target, &state, progress, &quiet_sink())?;
    if let (Some(p), Some(script)) = (&b.db_profile, l.script()?)
        && (b.sql_next >= 0 || b.sql_done > 0)
    {
        let mut db = profile::connect(&project.root, store, p, None)?;
        let steps: Vec<SqlStep> = dbpart::steps(&script, reverse);
        let tables = l.tables()?;
        let (before, after) =
            oriented_db(l, reverse).context("a script without its database part")?;
        dbpart::recover(
            db.as_mut(),
            &steps,
            &tables,
            before,
            after,
            &filters(l),
            b.sql_done,
            b.sql_next,
            b.forced,
            &mut |next, done| Ok(rows::set_sql(store.conn(), b.id, next, done)?),
        )
        .context("the build's SQL")?;
    }
    if in_place(&state)? > b.deploy_before {
        deploy::rollback(
            &target,
            &state,
            Some(b.deploy_before),
            &RollbackOptions::default(),
            progress,
            &quiet_sink(),
        )?;
    }
    Ok(())
}

/// Recover interrupted builds (what the next devsky command does first). Returns what it
/// did, one line per build; nothing when no build was interrupted or one is running.
pub fn recover_pending(project: &Project, progress: &Progress) -> anyhow::Result<Vec<String>> {
    if !pending_marker(project).exists() {
        return Ok(Vec::new());
    }
    let Some(_lock) = builds_lock(project, false)? else {
        return Ok(Vec::new());
    };
    let mut store = project.open_store(false)?;
    recover_locked(project, &mut store, progress)
}

fn recover_locked(
    project: &Project,
    store: &mut Store,
    progress: &Progress,
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for b in rows::builds(store.conn())?
        .into_iter()
        .filter(|b| b.status == "applying" && super::server_build::server_of(&b.target).is_none())
    {
        let l = load(project, resolve(store, &b.package.to_string())?)?;
        undo(project, store, &b, &l, progress)
            .with_context(|| format!("recovering interrupted build {}", b.id))?;
        rows::finish(
            store.conn(),
            b.id,
            "failed",
            "interrupted; recovered: the target is as it was before",
            now(),
        )?;
        out.push(format!(
            "build {}: interrupted; the target {} is back as it was before it",
            b.id, b.target
        ));
    }
    let _ = std::fs::remove_file(pending_marker(project));
    Ok(out)
}
