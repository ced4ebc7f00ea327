//! Small filesystem operations the deploy steps are made of: backing up and restoring an
//! entry (hard link when possible, else a copy renamed into place; symlinks recreated),
//! checking what a path holds now, and syncing. Files are never synced one by one: the
//! caller makes a whole step durable with one [`sync_filesystem`]. Every sync goes through
//! [`count_sync`], so the log can say how many a deploy or rollback made (test hooks).

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::journal::Meta;
use super::manifest::Kind;

pub(crate) use super::state::sync_dir;
pub(crate) use crate::engine::util::durable::{count_sync, sync_filesystem, syncs};

/// `lstat`, None when the path does not exist.
pub(crate) fn lstat(p: &Path) -> anyhow::Result<Option<Metadata>> {
    match std::fs::symlink_metadata(p) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(20) => Ok(None), // ENOTDIR: a file is a parent
        Err(e) => Err(e).with_context(|| format!("cannot stat {}", p.display())),
    }
}

/// What `p` holds now, as a map entry would say (None: nothing, or a folder).
pub(crate) fn current(p: &Path) -> anyhow::Result<Option<Meta>> {
    let Some(m) = lstat(p)? else { return Ok(None) };
    if m.is_dir() {
        return Ok(None);
    }
    let mode = m.mode() & 0o7777;
    if m.file_type().is_symlink() {
        let t = std::fs::read_link(p)?;
        let t = t.as_os_str().as_bytes();
        return Ok(Some(Meta {
            kind: Kind::Symlink,
            mode,
            blake3: blake3::hash(t).to_hex().to_string(),
            size: t.len() as u64,
        }));
    }
    let mut f = File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
    let mut h = blake3::Hasher::new();
    let size = std::io::copy(&mut f, &mut h)?;
    Ok(Some(Meta {
        kind: Kind::File,
        mode,
        blake3: h.finalize().to_hex().to_string(),
        size,
    }))
}

/// Whether `p` holds exactly `want` (kind, mode, content).
pub(crate) fn holds(p: &Path, want: &Meta) -> anyhow::Result<bool> {
    Ok(current(p)?
        .is_some_and(|m| m.kind == want.kind && m.mode == want.mode && m.blake3 == want.blake3))
}

/// Whether two paths are the same inode.
pub(crate) fn same_inode(a: &Path, b: &Path) -> bool {
    match (lstat(a), lstat(b)) {
        (Ok(Some(x)), Ok(Some(y))) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A temp name beside `p` (same folder, so a rename onto `p` stays on one filesystem).
pub(crate) fn beside(p: &Path, tag: &str) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.devsky-{tag}"))
}

/// Make `dest` (which may exist: it is replaced atomically) an exact copy of the file or
/// symlink `src`: a hard link when `link` and possible, else a copy with the same mode (not
/// synced: the caller syncs the filesystem once for all of them). Returns whether a hard
/// link was made.
pub(crate) fn copy_entry(src: &Path, dest: &Path, link: bool) -> anyhow::Result<bool> {
    let m =
        std::fs::symlink_metadata(src).with_context(|| format!("cannot read {}", src.display()))?;
    let tmp = beside(dest, "tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut linked = false;
    if m.file_type().is_symlink() {
        let t = std::fs::read_link(src)?;
        std::os::unix::fs::symlink(&t, &tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
    } else if link && std::fs::hard_link(src, &tmp).is_ok() {
        linked = true;
    } else {
        let mut from = File::open(src).with_context(|| format!("cannot read {}", src.display()))?;
        let mut to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        std::io::copy(&mut from, &mut to)
            .with_context(|| format!("cannot copy to {}", tmp.display()))?;
        to.set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    std::fs::rename(&tmp, dest).with_context(|| format!("cannot rename to {}", dest.display()))?;
    Ok(linked)
}

/// Copy a file or symlink `src` to the new name `dest`, checking it holds `want` (content
/// and kind) and giving it `want`'s mode. Used to stage contents from backups; not synced
/// (the caller syncs the stage's filesystem once).
pub(crate) fn stage_from(src: &Path, dest: &Path, want: &Meta) -> anyhow::Result<()> {
    let m =
        std::fs::symlink_metadata(src).with_context(|| format!("cannot read {}", src.display()))?;
    let mismatch = || anyhow::anyhow!("{} does not hold the content its index says", src.display());
    match want.kind {
        Kind::Symlink => {
            if !m.file_type().is_symlink() {
                return Err(mismatch());
            }
            let t = std::fs::read_link(src)?;
            if blake3::hash(t.as_os_str().as_bytes()).to_hex().as_str() != want.blake3 {
                return Err(mismatch());
            }
            std::os::unix::fs::symlink(&t, dest)?;
        }
        Kind::File => {
            if !m.is_file() {
                return Err(mismatch());
            }
            let mut from = File::open(src)?;
            let mut to = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dest)?;
            let mut h = blake3::Hasher::new();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                };
                h.update(&buf[..n]);
                std::io::Write::write_all(&mut to, &buf[..n])?;
            }
            if h.finalize().to_hex().as_str() != want.blake3 {
                return Err(mismatch());
            }
            to.set_permissions(std::fs::Permissions::from_mode(want.mode))?;
        }
    }
    Ok(())
}

/// Remove a file or symlink; a missing one is fine.
pub(crate) fn remove_entry(p: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", p.display())),
    }
}

/// Remove a folder tree if it exists (never following symlinks).
pub(crate) fn remove_tree(p: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", p.display())),
    }
}

/// The folders of a relative path, shallowest first: `a/b/c` -> `a`, `a/b`.
pub(crate) fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}
