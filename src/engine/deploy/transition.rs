//! Moving a root from one tree to another in place, recoverably: the steps shared by
//! apply and rollback in files mode.
//!
//! [`prepare`] turns wanted changes into journal operations (with what each path holds
//! now) and works out the folders to create and to remove, refusing layouts it cannot
//! change safely (a file where a folder is needed, a folder with other files where a file
//! goes, writing through a symlinked folder, unmapped files). [`execute`] backs up, deletes
//! and renames with a crash point between every step; [`undo`] puts the old tree back
//! from the journal and the backups — idempotent, so it can itself be interrupted and run
//! again. [`map_root`] and [`differences`] are the verification.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};

use super::fsops::{
    ancestors, beside, copy_entry, holds, lstat, remove_entry, same_inode, sync_filesystem,
};
use super::journal::{BackupIndex, DirMode, Journal, Meta, Op};
use super::{Log, State, crash_point};
use crate::engine::jobs::Progress;
use crate::engine::map::diff::diff;
use crate::engine::map::format::MapReader;
use crate::engine::map::scan::{ScanOptions, ScanReport, Tap, scan};
use crate::engine::map::{Entry, cmp_paths};

/// A wanted change: `path` must end up holding `new` (None: nothing).
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub path: String,
    pub new: Option<Meta>,
}

/// Operations and folders, ready for a journal.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub ops: Vec<Op>,
    pub create_dirs: Vec<String>,
    pub remove_dirs: Vec<DirMode>,
}

/// Plan the operations of `changes` against the root as mapped in `old_map`. Changes that
/// change nothing are dropped.
pub(crate) fn prepare(
    root: &Path,
    old_map: &Path,
    mut changes: Vec<Change>,
) -> anyhow::Result<Prepared> {
    changes.sort_by(|a, b| cmp_paths(a.path.as_bytes(), b.path.as_bytes()));
    let mut old = MapReader::open(old_map)?.peekable();
    let mut p = Prepared::default();
    for c in changes {
        let mut found = None;
        loop {
            let ord = match old.peek() {
                None => break,
                Some(Ok(e)) => cmp_paths(&e.path, c.path.as_bytes()),
                Some(Err(_)) => match old.next() {
                    Some(Err(e)) => return Err(e),
                    _ => break,
                },
            };
            match ord {
                std::cmp::Ordering::Less => {
                    old.next();
                }
                std::cmp::Ordering::Equal => {
                    found = old.next().and_then(|r| r.ok()).map(|e| Meta::of(&e));
                    break;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        if found == c.new {
            continue;
        }
        if found.is_none()
            && let Some(m) = lstat(&root.join(&c.path))?
            && !m.is_dir()
        {
            if c.new.is_none() {
                continue; // not in the map: not ours to delete
            }
            bail!(
                "{} exists on the server but its map leaves it out (ignored by a .gitignore \
                 or .devskyignore there): devsky will not overwrite what it cannot verify",
                c.path
            );
        }
        p.ops.push(Op {
            path: c.path,
            old: found,
            new: c.new,
            staged: None,
        });
    }
    for (n, op) in p.ops.iter_mut().filter(|o| o.new.is_some()).enumerate() {
        op.staged = Some(n.to_string());
    }
    layout(root, &mut p)?;
    Ok(p)
}

/// The folders to remove (emptied by deletes) and to create (for uploads).
fn layout(root: &Path, p: &mut Prepared) -> anyhow::Result<()> {
    let deleted: HashSet<&str> = p
        .ops
        .iter()
        .filter(|o| o.new.is_none() && o.old.is_some())
        .map(|o| o.path.as_str())
        .collect();
    let uploads: Vec<&str> = p
        .ops
        .iter()
        .filter(|o| o.new.is_some())
        .map(|o| o.path.as_str())
        .collect();
    let upload_dirs: HashSet<&str> = uploads.iter().flat_map(|u| ancestors(u)).collect();
    // Candidates: folders holding deleted files, and folders in the place of uploads.
    let mut cands: BTreeSet<(usize, String)> = BTreeSet::new();
    for d in &deleted {
        for a in ancestors(d) {
            cands.insert((a.matches('/').count(), a.to_string()));
        }
    }
    for u in &uploads {
        if lstat(&root.join(u))?.is_some_and(|m| m.is_dir()) {
            cands.insert((u.matches('/').count(), u.to_string()));
        }
    }
    let mut removable: HashMap<String, u32> = HashMap::new();
    for (_, d) in cands.iter().rev() {
        if upload_dirs.contains(d.as_str()) {
            continue;
        }
        let abs = root.join(d);
        let Some(m) = lstat(&abs)? else { continue };
        if !m.is_dir() {
            continue;
        }
        let mut empties = true;
        for e in
            std::fs::read_dir(&abs).with_context(|| format!("cannot list {}", abs.display()))?
        {
            let e = e?;
            let Ok(name) = e.file_name().into_string() else {
                empties = false;
                break;
            };
            let child = format!("{d}/{name}");
            let is_dir = e.file_type()?.is_dir();
            if !(if is_dir {
                removable.contains_key(&child)
            } else {
                deleted.contains(child.as_str())
            }) {
                empties = false;
                break;
            }
        }
        if empties {
            removable.insert(d.clone(), m.mode() & 0o7777);
        }
    }
    for u in &uploads {
        if lstat(&root.join(u))?.is_some_and(|m| m.is_dir()) && !removable.contains_key(*u) {
            bail!(
                "{u} is a folder on the server with files the package does not remove; \
                 it cannot become a file"
            );
        }
    }
    let mut create: BTreeSet<(usize, String)> = BTreeSet::new();
    for u in &uploads {
        for a in ancestors(u) {
            match lstat(&root.join(a))? {
                None => {
                    create.insert((a.matches('/').count(), a.to_string()));
                }
                Some(m) if m.is_dir() => {}
                Some(_) if deleted.contains(a) => {
                    create.insert((a.matches('/').count(), a.to_string()));
                }
                Some(m) if m.file_type().is_symlink() => bail!(
                    "{a} is a symlink on the server where the package needs a folder (for \
                     {u}); devsky never writes through a symlink"
                ),
                Some(_) => {
                    bail!("{a} is a file on the server where the package needs a folder (for {u})")
                }
            }
        }
    }
    p.create_dirs = create.into_iter().map(|(_, d)| d).collect();
    let mut remove: Vec<(usize, String, u32)> = removable
        .into_iter()
        .map(|(d, m)| (d.matches('/').count(), d, m))
        .collect();
    remove.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    p.remove_dirs = remove
        .into_iter()
        .map(|(_, path, mode)| DirMode { path, mode })
        .collect();
    Ok(())
}

/// Apply the journal's operations to the root: back up, delete, remove emptied folders,
/// create folders, rename staged contents into place, sync. The journal must be written.
pub(crate) fn execute(j: &Journal, log: &Log, progress: &Progress) -> anyhow::Result<()> {
    let root = &j.root;
    let stage = j.stage.as_deref().context("journal without a stage")?;
    let backups = j.backups.as_deref().context("journal without backups")?;
    let total = j.ops.len() as u64 * 2;
    let mut done = 0u64;
    let (mut linked, mut copied) = (0, 0);
    let mut index = Vec::new();
    let mut made_dirs = HashSet::new();
    for op in &j.ops {
        let Some(old) = &op.old else { continue };
        let dest = backups.join(&op.path);
        let dir = dest.parent().unwrap_or(backups).to_path_buf();
        if !made_dirs.contains(&dir) {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            made_dirs.insert(dir);
        }
        // A deployment's backup folder starts empty: a hard link straight to its name is
        // the usual case; anything else (a link left by an interrupted run, another
        // filesystem) goes the careful way.
        let src = root.join(&op.path);
        if std::fs::hard_link(&src, &dest).is_ok() || copy_entry(&src, &dest, true)? {
            linked += 1;
        } else {
            copied += 1;
        }
        index.push((op.path.clone(), old.clone()));
        crash_point("after a backup");
    }
    let idx = backups.with_extension("json");
    let index = BackupIndex {
        files: index,
        removed_dirs: j.remove_dirs.clone(),
    };
    std::fs::write(&idx, serde_json::to_vec(&index)?)
        .with_context(|| format!("cannot write {}", idx.display()))?;
    // One syncfs makes the links, their folders and the index durable at once.
    sync_filesystem(idx.parent().unwrap_or(backups))?;
    log.info(format!(
        "backed up {} path(s) ({linked} hard links, {copied} copies)",
        linked + copied
    ));
    crash_point("after backups");

    for op in j.ops.iter().filter(|o| o.new.is_none()) {
        remove_entry(&root.join(&op.path))?;
        done += 2;
        progress.set(done, Some(total), "deploying");
        crash_point("after a delete");
    }
    for d in &j.remove_dirs {
        let p = root.join(&d.path);
        std::fs::remove_dir(&p)
            .with_context(|| format!("cannot remove the emptied folder {}", p.display()))?;
        crash_point("after removing a folder");
    }
    for d in &j.create_dirs {
        let p = root.join(d);
        match std::fs::create_dir(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", p.display())),
        }
        if let Some(m) = j.dir_modes.get(d) {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*m))?;
        }
        crash_point("after creating a folder");
    }
    for op in j.ops.iter().filter(|o| o.new.is_some()) {
        let from = stage.join(op.staged.as_deref().context("upload not staged")?);
        let to = root.join(&op.path);
        std::fs::rename(&from, &to).with_context(|| {
            format!(
                "cannot move {} into place at {}",
                from.display(),
                to.display()
            )
        })?;
        done += 2;
        progress.set(done, Some(total), "deploying");
        crash_point("after a rename");
    }
    // Renames, removals and new folders of the root, durable at once.
    sync_filesystem(root)?;
    log.info(format!(
        "moved {} upload(s) into place, removed {} path(s) and {} folder(s), created {} folder(s)",
        j.ops.iter().filter(|o| o.new.is_some()).count(),
        j.ops.iter().filter(|o| o.new.is_none()).count(),
        j.remove_dirs.len(),
        j.create_dirs.len()
    ));
    crash_point("after syncing the root");
    Ok(())
}

/// Put the old tree back (files mode). Safe to run at any point of [`execute`], and again.
pub(crate) fn undo(j: &Journal, log: &Log) -> anyhow::Result<()> {
    let root = &j.root;
    let backups = j.backups.as_deref().context("journal without backups")?;
    for op in j.ops.iter().rev().filter(|o| o.old.is_none()) {
        let p = root.join(&op.path);
        if lstat(&p)?.is_some_and(|m| !m.is_dir()) {
            remove_entry(&p)?;
        }
    }
    for d in j.create_dirs.iter().rev() {
        let p = root.join(d);
        if lstat(&p)?.is_some_and(|m| m.is_dir())
            && let Err(e) = std::fs::remove_dir(&p)
        {
            log.warning(format!(
                "could not remove the folder {d} the deploy created: {e}"
            ));
        }
    }
    for d in j.remove_dirs.iter().rev() {
        let p = root.join(&d.path);
        if lstat(&p)?.is_none() {
            std::fs::create_dir(&p).with_context(|| format!("cannot recreate {}", p.display()))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(d.mode))?;
        }
    }
    let mut restored = 0;
    for op in &j.ops {
        // A restore cut short by a crash leaves its temp file beside the path.
        let tmp = beside(&root.join(&op.path), "tmp");
        if lstat(&tmp)?.is_some_and(|m| !m.is_dir()) {
            remove_entry(&tmp)?;
        }
        let Some(old) = &op.old else { continue };
        let p = root.join(&op.path);
        let b = backups.join(&op.path);
        if same_inode(&p, &b) {
            continue;
        }
        if lstat(&b)?.is_some() {
            if holds(&p, old)? {
                continue;
            }
            if lstat(&p)?.is_some_and(|m| m.is_dir()) {
                bail!("cannot restore {}: a folder is in its place", op.path);
            }
            copy_entry(&b, &p, true)?;
            restored += 1;
        } else if !holds(&p, old)? {
            bail!(
                "cannot restore {}: it has no backup and no longer holds its old content",
                op.path
            );
        }
    }
    sync_filesystem(root)?;
    log.info(format!("restored {restored} path(s) from the backups"));
    Ok(())
}

/// Map the root into `out` with the state's stat cache, and refresh the cache.
pub(crate) fn map_root(
    root: &Path,
    state: &State,
    out: &Path,
    progress: &Progress,
) -> anyhow::Result<ScanReport> {
    map_root_at(root, &state.cache_path(), out, None, progress)
}

/// [`map_root`] with the cache's path (no state needed: it runs on any thread).
pub(crate) fn map_root_at(
    root: &Path,
    cache: &Path,
    out: &Path,
    tap: Option<Tap>,
    progress: &Progress,
) -> anyhow::Result<ScanReport> {
    let opts = ScanOptions {
        tap,
        ..ScanOptions::default()
    };
    let report = scan(root, Some(cache), out, &opts, progress)
        .with_context(|| format!("cannot map {}", root.display()))?;
    // The new map is the next scan's cache. Maps are never written in place (a scan writes
    // a temp file and renames it), so a hard link shares it safely; a copy where links fail.
    let tmp = cache.with_extension("map.tmp");
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(out, &tmp).is_ok() || std::fs::copy(out, &tmp).is_ok() {
        let _ = std::fs::rename(&tmp, cache);
    }
    if report.partial {
        let first: Vec<String> = report
            .problems
            .iter()
            .take(5)
            .map(|p| format!("{}: {}", p.path, p.reason))
            .collect();
        bail!(
            "the root could not be mapped completely ({} problem(s): {}); a deploy there could not be verified",
            report.problem_count,
            first.join("; ")
        );
    }
    Ok(report)
}

/// The entries of `old_map` with the operations applied, in map order.
pub(crate) fn expected<'a>(
    old_map: &Path,
    ops: &'a [Op],
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Entry>> + 'a> {
    let mut old = MapReader::open(old_map)?.peekable();
    let mut ops = ops.iter().peekable();
    Ok(std::iter::from_fn(move || {
        loop {
            let ord = match (old.peek(), ops.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) => return old.next(),
                (Some(Ok(e)), Some(op)) => cmp_paths(&e.path, op.path.as_bytes()),
                (Some(Ok(_)), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
            };
            match ord {
                std::cmp::Ordering::Less => return old.next(),
                std::cmp::Ordering::Equal => {
                    old.next();
                }
                std::cmp::Ordering::Greater => {}
            }
            let op = ops.next()?;
            if let Some(n) = &op.new {
                return Some(Ok(n.entry(&op.path)));
            }
        }
    }))
}

/// How the map at `actual` differs from `expected` (kind, content, mode of every path):
/// up to 20 described, and the count.
pub(crate) fn differences(
    expected: impl Iterator<Item = anyhow::Result<Entry>>,
    actual: &Path,
) -> anyhow::Result<(Vec<String>, usize)> {
    let mut shown = Vec::new();
    let mut count = 0;
    let show = |e: &Option<Entry>| match e {
        Some(e) => format!("{:?} {} mode {:o}", e.kind, &e.hash_hex()[..12], e.mode).to_lowercase(),
        None => "nothing".into(),
    };
    for d in diff(expected, MapReader::open(actual)?) {
        let d = d?;
        count += 1;
        if shown.len() < 20 {
            shown.push(format!(
                "{}: expected {}, found {}",
                String::from_utf8_lossy(d.path()),
                show(&d.old),
                show(&d.new)
            ));
        }
    }
    Ok((shown, count))
}

/// `differences` as one message.
pub(crate) fn describe(shown: &[String], count: usize) -> String {
    let more = if count > shown.len() {
        format!("\n  ... and {} more", count - shown.len())
    } else {
        String::new()
    };
    format!("{count} path(s) differ:\n  {}{more}", shown.join("\n  "))
}
