//! Moving a root from one tree to another in place, recoverably: the steps shared by
//! apply and rollback in files mode.
//!
//! [`prepare`] turns wanted changes into journal operations (with what each path holds
//! now) and works out the folders to create, to remove and to change the mode of — as
//! listed ([`Folders`]: maps with folders, manifest version 2), or else following the files
//! (made for uploads, removed once emptied) — refusing layouts it cannot change safely (a file where a folder is needed, a folder with other files where a file
//! goes, writing through a symlinked folder, unmapped files). [`execute`] backs up, deletes
//! and renames with a crash point between every step; [`undo`] puts the old tree back
//! from the journal and the backups — idempotent, so it can itself be interrupted and run
//! again. [`map_root`] and [`differences`] are the verification.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};

use super::fsops::{
    ancestors, beside, copy_entry, holds, lstat, remove_entry, same_inode, sync_filesystem,
};
use super::journal::{BackupIndex, DirChmod, DirMode, Journal, Meta, Op};
use super::{Log, State, crash_point};
use crate::engine::jobs::Progress;
use crate::engine::map::diff::diff;
use crate::engine::map::format::MapReader;
use crate::engine::map::scan::{ScanOptions, ScanReport, Tap, scan};
use crate::engine::map::walker::Ignores;
use crate::engine::map::{Entry, EntryKind, cmp_paths, files_only};

/// A wanted change: `path` must end up holding `new` (None: nothing).
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub path: String,
    pub new: Option<Meta>,
}

/// The folders wanted after, as listed (by a package of version 2, or a rollback's map).
#[derive(Debug, Clone, Default)]
pub(crate) struct Folders {
    /// Folders that must be there, with their modes.
    pub want: Vec<(String, u32)>,
    /// Folders that must be gone.
    pub remove: Vec<String>,
}

/// Mode of a folder made only to hold uploads (not listed with a mode of its own).
pub(crate) const DEFAULT_DIR_MODE: u32 = 0o755;

/// Operations and folders, ready for a journal.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub ops: Vec<Op>,
    pub create_dirs: Vec<String>,
    pub remove_dirs: Vec<DirMode>,
    /// The mode of every created folder.
    pub dir_modes: BTreeMap<String, u32>,
    pub chmod_dirs: Vec<DirChmod>,
}

impl Prepared {
    /// Into the journal `j`.
    pub fn into_journal(self, j: &mut Journal) {
        j.ops = self.ops;
        j.create_dirs = self.create_dirs;
        j.remove_dirs = self.remove_dirs;
        j.dir_modes = self.dir_modes;
        j.chmod_dirs = self.chmod_dirs;
    }
}

/// Plan the operations of `changes` against the root as mapped in `old_map`. Changes that
/// change nothing are dropped. With `folders`, folders are made, kept and removed exactly
/// as listed; without, they follow the files.
pub(crate) fn prepare(
    root: &Path,
    old_map: &Path,
    mut changes: Vec<Change>,
    folders: Option<&Folders>,
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
                    // (a folder there is the layout's business)
                    found = old
                        .next()
                        .and_then(|r| r.ok())
                        .filter(|e| e.kind != EntryKind::Dir)
                        .map(|e| Meta::of(&e));
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
    layout(root, &mut p, folders)?;
    Ok(p)
}

/// The folders to remove (emptied by deletes, or listed), to create (for uploads, or
/// listed) and to give a new mode (listed).
fn layout(root: &Path, p: &mut Prepared, folders: Option<&Folders>) -> anyhow::Result<()> {
    let want: HashMap<&str, u32> = folders
        .map(|f| f.want.iter().map(|(d, m)| (d.as_str(), *m)).collect())
        .unwrap_or_default();
    let listed_remove: HashSet<&str> = folders
        .map(|f| f.remove.iter().map(String::as_str).collect())
        .unwrap_or_default();
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
    let mut upload_places = HashSet::new();
    for u in &uploads {
        if lstat(&root.join(u))?.is_some_and(|m| m.is_dir()) {
            cands.insert((u.matches('/').count(), u.to_string()));
            upload_places.insert(*u);
        }
    }
    for r in &listed_remove {
        cands.insert((r.matches('/').count(), r.to_string()));
    }
    let mut removable: HashMap<String, u32> = HashMap::new();
    for (_, d) in cands.iter().rev() {
        if upload_dirs.contains(d.as_str()) || want.contains_key(d.as_str()) {
            continue;
        }
        // Listed folders: only those listed go (an emptied folder the project has stays).
        if folders.is_some()
            && !listed_remove.contains(d.as_str())
            && !upload_places.contains(d.as_str())
        {
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
    for r in &listed_remove {
        match lstat(&root.join(r))? {
            Some(m) if m.is_dir() && !removable.contains_key(*r) => bail!(
                "the folder {r} on the server holds files the package does not remove; \
                 it cannot be removed"
            ),
            Some(m) if !m.is_dir() && !deleted.contains(r) && !uploads.contains(r) => {
                bail!("{r} is not a folder on the server; the package removes a folder there")
            }
            _ => {}
        }
    }
    let mut create: BTreeSet<(usize, String)> = BTreeSet::new();
    // Listed folders need their folders too, as uploads do.
    let mut wanted: Vec<&str> = want.keys().copied().collect();
    wanted.sort_unstable();
    let mut chmods = Vec::new();
    for d in &wanted {
        match lstat(&root.join(d))? {
            Some(m) if m.is_dir() && !removable.contains_key(*d) => {
                let old = m.mode() & 0o7777;
                if old != want[d] {
                    chmods.push(DirChmod {
                        path: d.to_string(),
                        old,
                        new: want[d],
                    });
                }
            }
            Some(m) if !m.is_dir() && !deleted.contains(d) => bail!(
                "{d} is a {} on the server that the package does not delete, where it \
                 needs a folder",
                if m.file_type().is_symlink() {
                    "symlink"
                } else {
                    "file"
                }
            ),
            _ => {
                create.insert((d.matches('/').count(), d.to_string()));
            }
        }
    }
    p.chmod_dirs = chmods;
    for u in uploads.iter().chain(wanted.iter()) {
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
    p.dir_modes = p
        .create_dirs
        .iter()
        .map(|d| {
            let mode = want.get(d.as_str()).copied().unwrap_or(DEFAULT_DIR_MODE);
            (d.clone(), mode)
        })
        .collect();
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
    let step = if j.kind == "rollback" {
        "rolling back"
    } else {
        "deploying"
    };
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
        progress.set(done, Some(total), step);
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
        // Writable until its contents are in; its own mode comes last (set_dir_modes).
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))?;
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
        progress.set(done, Some(total), step);
        crash_point("after a rename");
    }
    set_dir_modes(root, j)?;
    crash_point("after setting folder modes");
    // Renames, removals and new folders of the root, durable at once.
    sync_filesystem(root)?;
    log.info(format!(
        "moved {} upload(s) into place, removed {} path(s) and {} folder(s), created {} \
         folder(s), changed the mode of {}",
        j.ops.iter().filter(|o| o.new.is_some()).count(),
        j.ops.iter().filter(|o| o.new.is_none()).count(),
        j.remove_dirs.len(),
        j.create_dirs.len(),
        j.chmod_dirs.len()
    ));
    crash_point("after syncing the root");
    Ok(())
}

/// Give the created folders and the folders listed with a new mode their modes, deepest
/// first (under `base`: the root, or a release being built).
pub(crate) fn set_dir_modes(base: &Path, j: &Journal) -> anyhow::Result<()> {
    let mut modes: Vec<(&str, u32)> = j
        .create_dirs
        .iter()
        .map(|d| {
            let m = j.dir_modes.get(d).copied().unwrap_or(DEFAULT_DIR_MODE);
            (d.as_str(), m)
        })
        .chain(j.chmod_dirs.iter().map(|c| (c.path.as_str(), c.new)))
        .collect();
    modes.sort_by_key(|m| std::cmp::Reverse(m.0.matches('/').count()));
    for (d, m) in modes {
        let p = base.join(d);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m))
            .with_context(|| format!("cannot set the mode of {}", p.display()))?;
    }
    Ok(())
}

/// Put the old tree back (files mode). Safe to run at any point of [`execute`], and again.
pub(crate) fn undo(j: &Journal, log: &Log) -> anyhow::Result<()> {
    let root = &j.root;
    let backups = j.backups.as_deref().context("journal without backups")?;
    // Old modes back first, and created folders writable, so what is in them can go.
    for c in &j.chmod_dirs {
        let p = root.join(&c.path);
        if lstat(&p)?.is_some_and(|m| m.is_dir()) {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(c.old))?;
        }
    }
    for d in &j.create_dirs {
        let p = root.join(d);
        if lstat(&p)?.is_some_and(|m| m.is_dir()) {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))?;
        }
    }
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
    // What a deploy covers: folders too, and everything but what `.devskyignore` files
    // leave out (what git ignores is deployed, so it is mapped here).
    let opts = ScanOptions {
        tap,
        dirs: true,
        ignores: Ignores::DevskyOnly,
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

/// The entries of `old_map` with the journal's changes applied, in map order: the
/// operations, and (in a map with folders) the folders created, removed and changed.
pub(crate) fn expected<'a>(
    old_map: &Path,
    j: &Journal,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Entry>> + 'a> {
    let reader = MapReader::open(old_map)?;
    let with_dirs = reader.dirs;
    let mut old = reader.peekable();
    let mut changes: Vec<(String, Option<Entry>)> = j
        .ops
        .iter()
        .map(|op| (op.path.clone(), op.new.as_ref().map(|n| n.entry(&op.path))))
        .collect();
    if with_dirs {
        let dir = |path: &str, mode: u32| {
            let e = Entry {
                path: path.as_bytes().to_vec(),
                kind: EntryKind::Dir,
                mode,
                size: 0,
                mtime_ns: 0,
                ctime_ns: 0,
                ino: 0,
                hash: [0; 32],
                flags: 0,
            };
            (path.to_string(), Some(e))
        };
        for d in &j.create_dirs {
            let mode = j.dir_modes.get(d).copied().unwrap_or(DEFAULT_DIR_MODE);
            changes.push(dir(d, mode));
        }
        for c in &j.chmod_dirs {
            changes.push(dir(&c.path, c.new));
        }
        for d in &j.remove_dirs {
            changes.push((d.path.clone(), None));
        }
    }
    // One change a path: what is there after wins over what goes (a file replacing a
    // folder, a folder replacing a file).
    changes.sort_by(|a, b| {
        cmp_paths(a.0.as_bytes(), b.0.as_bytes()).then(b.1.is_some().cmp(&a.1.is_some()))
    });
    changes.dedup_by(|b, a| a.0 == b.0);
    let mut ops = changes.into_iter().peekable();
    Ok(std::iter::from_fn(move || {
        loop {
            let ord = match (old.peek(), ops.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) => return old.next(),
                (Some(Ok(e)), Some(op)) => cmp_paths(&e.path, op.0.as_bytes()),
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
            let (_, new) = ops.next()?;
            if let Some(n) = new {
                return Some(Ok(n));
            }
        }
    }))
}

/// How the map at `actual` differs from `expected` (kind, content, mode of every path):
/// up to 20 described, and the count. Folders count only when `dirs` (the expected tree
/// comes from a map with folders).
pub(crate) fn differences(
    expected: impl Iterator<Item = anyhow::Result<Entry>>,
    dirs: bool,
    actual: &Path,
) -> anyhow::Result<(Vec<String>, usize)> {
    let mut shown = Vec::new();
    let mut count = 0;
    let show = |e: &Option<Entry>| match e {
        Some(e) => format!("{:?} {} mode {:o}", e.kind, &e.hash_hex()[..12], e.mode).to_lowercase(),
        None => "nothing".into(),
    };
    let actual = MapReader::open(actual)?;
    let actual: Box<dyn Iterator<Item = anyhow::Result<Entry>>> = if dirs {
        Box::new(actual)
    } else {
        Box::new(files_only(actual))
    };
    for d in diff(expected, actual) {
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
