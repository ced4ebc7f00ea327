//! Release mode: the root is a symlink to a release folder (`releases/N`). A deploy
//! builds the next release as a full copy of the current one — hard links for unchanged
//! files, the package's contents for the rest — verifies it by mapping it *before*
//! anything points at it, then switches by renaming a new symlink over the root (atomic).
//! The previous releases are the backups; the newest `keep_releases` are kept. A rollback
//! switches back to the release of before, once its map is checked.
//!
//! Set up once by hand: `mkdir releases && mv site releases/1 && ln -s releases/1 site`.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::apply::{ApplyOptions, changes_of, check_pre_images, undo_after};
use super::fsops::{beside, remove_entry, remove_tree, sync_dir, sync_filesystem};
use super::journal::{Journal, Mode};
use super::package::Package;
use super::transition::{describe, differences, expected, map_root, prepare};
use super::{DeployError, Log, State, corrupt_stage_hook, crash_point};
use crate::engine::jobs::Progress;
use crate::engine::map::format::MapReader;

/// Refuse a root that is not set up for release mode (a symlink to a release folder),
/// saying how to set it up.
pub fn check_root(root: &Path) -> anyhow::Result<()> {
    resolve_link(&std::path::absolute(root)?).map(|_| ())
}

/// The root symlink's target as written, and the release folder it names.
pub(crate) fn resolve_link(link: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let m = std::fs::symlink_metadata(link)
        .with_context(|| format!("the root {} does not exist", link.display()))?;
    if !m.file_type().is_symlink() {
        bail!(
            "release mode needs the root {} to be a symlink to a release folder; set it up \
             once: mkdir releases && mv {name} releases/1 && ln -s releases/1 {name}",
            link.display(),
            name = link
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
    }
    let t = std::fs::read_link(link)?;
    let dir = link.parent().unwrap_or(Path::new("/")).join(&t);
    let release = dir
        .canonicalize()
        .with_context(|| format!("the root's release folder {} does not exist", dir.display()))?;
    if !release.is_dir() || release.parent().is_none() {
        bail!(
            "the root's target {} is not a release folder",
            release.display()
        );
    }
    Ok((t, release))
}

/// Deploy `pkg` as a new release.
pub(crate) fn deploy(
    root: &Path,
    state: &State,
    id: i64,
    pkg: &Package,
    opts: &ApplyOptions,
    log: &Log,
    progress: &Progress,
) -> anyhow::Result<String> {
    let link = std::path::absolute(root)?;
    let (old_target, old_release) = resolve_link(&link)?;
    let releases = old_release
        .parent()
        .context("release folder without parent")?
        .to_path_buf();
    let old_map = state.map_path(id);
    let rep = map_root(&link, state, &old_map, progress)?;
    log.info(format!(
        "mapped the current release {}: {} files",
        old_release.display(),
        rep.files
    ));
    super::guard::check_root_links(&old_release, &old_map, pkg).with_context(|| {
        format!(
            "package {} refused for the release {}; nothing was changed",
            pkg.path.display(),
            old_release.display()
        )
    })?;
    check_pre_images(&old_map, &pkg.manifest, opts.force, log)?;
    let prep = prepare(&old_release, &old_map, changes_of(&pkg.manifest)?)?;
    let name = next_release_name(&releases)?;
    let new_release = releases.join(&name);
    let new_target = old_target
        .parent()
        .map_or_else(|| PathBuf::from(&name), |p| p.join(&name));
    let mut j = Journal::new(id, "deploy", Mode::Release, &link, &old_map);
    j.stage = Some(releases.join(format!(".{name}.building")));
    j.ops = prep.ops;
    j.create_dirs = prep.create_dirs;
    j.remove_dirs = prep.remove_dirs;
    j.old_target = Some(old_target);
    j.new_target = Some(new_target.clone());
    j.new_release = Some(new_release.clone());
    j.remove_new_release = true;
    state.set_releases(id, old_release.to_str(), new_release.to_str())?;
    let summary = format!(
        "released {name}: {} upload(s), {} delete(s)",
        j.ops.iter().filter(|o| o.new.is_some()).count(),
        j.ops.iter().filter(|o| o.new.is_none()).count()
    );
    let jpath = state.journal_path(id);
    crash_point("before writing the journal");
    j.write(&jpath)?;
    crash_point("after writing the journal");
    let r = (|| -> anyhow::Result<()> {
        let building = j.stage.as_deref().unwrap_or(&new_release);
        build(&old_release, building, &j, pkg, progress)?;
        log.info(format!(
            "built {} (hard links for unchanged files)",
            building.display()
        ));
        crash_point("after building the release");
        std::fs::rename(building, &new_release)?;
        sync_dir(&releases);
        crash_point("after naming the release");
        let after = state.after_map_path(id);
        map_root(&new_release, state, &after, progress)?;
        let (shown, n) = differences(expected(&old_map, &j.ops)?, &after)?;
        if n > 0 {
            return Err(DeployError::VerifyFailed(describe(&shown, n)).into());
        }
        log.success("verified the new release before switching to it");
        switch(&link, &new_target, id, true)?;
        if std::fs::read_link(&link)? != new_target {
            bail!("the root does not point at the new release after the switch");
        }
        log.info(format!(
            "switched {} -> {}",
            link.display(),
            new_target.display()
        ));
        crash_point("before the final status");
        state.finish(id, &summary, &[])?;
        Ok(())
    })();
    if let Err(e) = r {
        return Err(undo_after(state, &j, e, log, progress));
    }
    crash_point("after the final status");
    Journal::clear(&jpath)?;
    prune_releases(state, &link, opts.keep_releases, log)?;
    Ok(summary)
}

/// The next release number: one more than the highest numbered folder in `releases`.
fn next_release_name(releases: &Path) -> anyhow::Result<String> {
    let mut max = 0u64;
    for e in std::fs::read_dir(releases)
        .with_context(|| format!("cannot list {}", releases.display()))?
    {
        let n = e?.file_name();
        let n = n.to_string_lossy();
        let n = n
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".building"))
            .unwrap_or(&n);
        if let Ok(v) = n.parse::<u64>() {
            max = max.max(v);
        }
    }
    Ok((max + 1).to_string())
}

/// Roll back by switching the root to `target` (a kept release), once its map is checked
/// against `target_map`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rollback(
    root: &Path,
    state: &State,
    id: i64,
    target: &Path,
    target_map: &Path,
    undone: &[i64],
    log: &Log,
    progress: &Progress,
) -> anyhow::Result<String> {
    let link = std::path::absolute(root)?;
    let (old_target, current) = resolve_link(&link)?;
    if !target.is_dir() {
        bail!(
            "the release {} was pruned; cannot roll back that far",
            target.display()
        );
    }
    let old_map = state.map_path(id);
    map_root(&link, state, &old_map, progress)?;
    let after = state.after_map_path(id);
    map_root(target, state, &after, progress)?;
    let (shown, n) = differences(MapReader::open(target_map)?, &after)?;
    if n > 0 {
        return Err(DeployError::VerifyFailed(format!(
            "the release {} no longer holds the tree of before: {}",
            target.display(),
            describe(&shown, n)
        ))
        .into());
    }
    let name = target.file_name().context("release without a name")?;
    let new_target = old_target
        .parent()
        .map_or_else(|| PathBuf::from(name), |p| p.join(name));
    let mut j = Journal::new(id, "rollback", Mode::Release, &link, &old_map);
    j.old_target = Some(old_target);
    j.new_target = Some(new_target.clone());
    j.new_release = Some(target.to_path_buf());
    state.set_releases(id, current.to_str(), target.to_str())?;
    let summary = format!("rolled back to release {}", name.to_string_lossy());
    let jpath = state.journal_path(id);
    crash_point("before writing the journal");
    j.write(&jpath)?;
    crash_point("after writing the journal");
    let r = (|| -> anyhow::Result<()> {
        switch(&link, &new_target, id, true)?;
        crash_point("before the final status");
        state.finish(id, &summary, undone)?;
        Ok(())
    })();
    if let Err(e) = r {
        return Err(undo_after(state, &j, e, log, progress));
    }
    crash_point("after the final status");
    Journal::clear(&jpath)?;
    Ok(summary)
}

/// Put the old release back: point the root at the old target, and remove the release
/// built for the deployment.
pub(crate) fn undo(j: &Journal, log: &Log) -> anyhow::Result<()> {
    let link = &j.root;
    let old = j
        .old_target
        .as_deref()
        .context("release journal without the old target")?;
    remove_entry(&beside(link, &format!("link-{}", j.id)))?;
    if std::fs::read_link(link).ok().as_deref() != Some(old) {
        switch(link, old, j.id, false)?;
        log.info(format!(
            "switched {} back to {}",
            link.display(),
            old.display()
        ));
    }
    if j.remove_new_release {
        if let Some(r) = &j.new_release {
            remove_tree(r)?;
        }
        if let Some(b) = &j.stage {
            remove_tree(b)?;
        }
    }
    Ok(())
}

/// Point the symlink `link` at `target` atomically (a new symlink renamed over it).
fn switch(link: &Path, target: &Path, id: i64, crash: bool) -> anyhow::Result<()> {
    let tmp = beside(link, &format!("link-{id}"));
    remove_entry(&tmp)?;
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    if crash {
        crash_point("before switching the root symlink");
    }
    std::fs::rename(&tmp, link).with_context(|| format!("cannot switch {}", link.display()))?;
    sync_dir(link.parent().unwrap_or(Path::new("/")));
    if crash {
        crash_point("after switching the root symlink");
    }
    Ok(())
}

/// Build the new release in `building`: the old one hard-linked except the touched paths,
/// the emptied folders removed, the new folders made, the uploads unpacked; all synced.
fn build(
    old: &Path,
    building: &Path,
    j: &Journal,
    pkg: &Package,
    progress: &Progress,
) -> anyhow::Result<()> {
    remove_tree(building)?;
    let touched: HashSet<&[u8]> = j.ops.iter().map(|o| o.path.as_bytes()).collect();
    let mut dirs = Vec::new();
    copy_tree(old, building, &mut Vec::new(), &touched, &mut dirs)?;
    for d in &j.remove_dirs {
        std::fs::remove_dir(building.join(&d.path))
            .with_context(|| format!("cannot remove the emptied folder {}", d.path))?;
    }
    for d in &j.create_dirs {
        let p = building.join(d);
        if !p.is_dir() {
            std::fs::create_dir(&p).with_context(|| format!("cannot create {}", p.display()))?;
            dirs.push(p);
        }
    }
    let by_path: HashMap<&str, &super::manifest::Upload> = pkg
        .manifest
        .uploads
        .iter()
        .map(|u| (u.path.as_str(), u))
        .collect();
    let mut reader = pkg.reader()?;
    let mut first_file = None;
    for op in j.ops.iter().filter(|o| o.new.is_some()) {
        progress.check()?;
        let u = by_path
            .get(op.path.as_str())
            .context("upload missing from the manifest")?;
        let dest = building.join(&op.path);
        reader.extract(u, &dest)?;
        if first_file.is_none() && u.kind == super::manifest::Kind::File && u.size > 0 {
            first_file = Some(dest);
        }
    }
    if corrupt_stage_hook()
        && let Some(f) = first_file
        && let Ok(mut b) = std::fs::read(&f)
    {
        b[0] ^= 0xff;
        let _ = std::fs::write(&f, b);
    }
    sync_filesystem(building)?;
    for d in dirs.iter().rev() {
        sync_dir(d);
    }
    Ok(())
}

/// Copy the tree `from` into `to`: folders with their modes, files hard-linked (copied if
/// linking is refused), symlinks recreated; paths in `skip` left out.
fn copy_tree(
    from: &Path,
    to: &Path,
    rel: &mut Vec<u8>,
    skip: &HashSet<&[u8]>,
    dirs: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    std::fs::create_dir(to).with_context(|| format!("cannot create {}", to.display()))?;
    dirs.push(to.to_path_buf());
    let base = rel.len();
    for e in std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let e = e?;
        let name = e.file_name();
        rel.truncate(base);
        if base > 0 {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.as_bytes());
        let (src, dst) = (e.path(), to.join(&name));
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_tree(&src, &dst, rel, skip, dirs)?;
        } else if skip.contains(rel.as_slice()) {
            continue;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() && std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", src.display()))?;
        }
    }
    rel.truncate(base);
    let mode = std::fs::metadata(from)?.mode() & 0o7777;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Remove the release folders devsky made beyond the newest `keep` (by last use), never
/// the current one.
pub(crate) fn prune_releases(
    state: &State,
    link: &Path,
    keep: usize,
    log: &Log,
) -> anyhow::Result<()> {
    let current = link.canonicalize()?;
    let mut last_use: HashMap<String, i64> = HashMap::new();
    let mut made: HashSet<String> = HashSet::new();
    for d in state.deployments()? {
        if d.kind == "deploy"
            && let Some(r) = &d.new_release
        {
            made.insert(r.clone());
        }
        for r in [&d.old_release, &d.new_release].into_iter().flatten() {
            let e = last_use.entry(r.clone()).or_insert(d.id);
            *e = (*e).max(d.id);
        }
    }
    let mut made: Vec<String> = made.into_iter().collect();
    made.sort_by_key(|r| std::cmp::Reverse(last_use.get(r).copied().unwrap_or(0)));
    for r in made.into_iter().skip(keep.max(1)) {
        let p = Path::new(&r);
        if p == current || !p.is_dir() {
            continue;
        }
        remove_tree(p)?;
        log.info(format!(
            "removed the old release {}",
            Path::new(OsStr::new(&r)).display()
        ));
    }
    Ok(())
}
