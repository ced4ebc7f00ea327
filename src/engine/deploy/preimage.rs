//! The pre-image check: every path a package touches must hold, on the server, what the
//! package's manifest says it held when the plan was made — else the deploy would overwrite
//! a change made on the server since. Checked twice: against the root's map (taken under
//! the deploy lock, while the package arrived), and again on disk just before the journal
//! is written, so that an edit made while the package was checked and staged is caught too
//! (a stat per touched path; a path whose stat changed is hashed again).

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::manifest::Manifest;
use super::{Conflict, DeployError, Log};
use crate::engine::map::format::MapReader;
use crate::engine::map::{Entry, EntryKind, cmp_paths};

/// The map's entries for the touched paths (None: not in the map).
pub(crate) type Touched = HashMap<String, Option<Entry>>;

/// Check the manifest's pre-images against the map `old_map`; conflicts are refused unless
/// `force`. Returns the map's entries of the touched paths, for [`recheck`].
pub(crate) fn check_pre_images(
    old_map: &Path,
    m: &Manifest,
    force: bool,
    log: &Log,
) -> anyhow::Result<Touched> {
    let mut want: Vec<(&String, &Option<String>)> = m.pre_images.iter().collect();
    want.sort_by(|a, b| cmp_paths(a.0.as_bytes(), b.0.as_bytes()));
    let mut map = MapReader::open(old_map)?.peekable();
    let mut conflicts = Vec::new();
    let mut touched = Touched::with_capacity(want.len());
    for (path, pre) in want {
        let mut found = None;
        loop {
            let ord = match map.peek() {
                None => break,
                Some(Ok(e)) => cmp_paths(&e.path, path.as_bytes()),
                Some(Err(_)) => match map.next() {
                    Some(Err(e)) => return Err(e),
                    _ => break,
                },
            };
            match ord {
                std::cmp::Ordering::Less => {
                    map.next();
                }
                std::cmp::Ordering::Equal => {
                    // A folder there is no file: the layout checks it.
                    found = map
                        .next()
                        .and_then(|r| r.ok())
                        .filter(|e| e.kind != EntryKind::Dir);
                    break;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        let hash = found.as_ref().map(Entry::hash_hex);
        if hash != *pre {
            conflicts.push(Conflict {
                path: path.clone(),
                expected: pre.clone(),
                found: hash,
            });
        }
        touched.insert(path.clone(), found);
    }
    if conflicts.is_empty() {
        log.info(format!(
            "pre-images checked: all {} touched path(s) are as expected",
            m.pre_images.len()
        ));
    } else {
        refuse_unless_forced(conflicts, force, log)?;
    }
    Ok(touched)
}

/// Look at every touched path on disk again: one that changed since the map (another
/// kind, content or mode; a stat that differs is hashed again) is a conflict.
pub(crate) fn recheck(
    root: &Path,
    touched: &Touched,
    force: bool,
    log: &Log,
) -> anyhow::Result<()> {
    let mut conflicts = Vec::new();
    for (path, was) in touched {
        // Maps hold files and symlinks: a folder in the path's place counts as missing.
        let now = std::fs::symlink_metadata(root.join(path)).and_then(|m| {
            if m.is_dir() {
                Err(std::io::ErrorKind::NotFound.into())
            } else {
                Ok(m)
            }
        });
        let missing = |e: &std::io::Error| {
            matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            )
        };
        let changed = match (was, &now) {
            (None, Err(e)) if missing(e) => None,
            (Some(_), Err(e)) if missing(e) => Some(None),
            (_, Err(e)) => anyhow::bail!("cannot read {path} on the server: {e}"),
            (None, Ok(_)) => Some(hash_of(&root.join(path))),
            (Some(e), Ok(m)) => {
                let same_kind_mode = m.mode() & 0o7777 == e.mode
                    && m.file_type().is_symlink() == (e.kind == EntryKind::Symlink);
                let same_stat = same_kind_mode
                    && m.len() == e.size
                    && m.mtime() * 1_000_000_000 + m.mtime_nsec() == e.mtime_ns
                    && m.ctime() * 1_000_000_000 + m.ctime_nsec() == e.ctime_ns
                    && m.ino() == e.ino;
                if same_stat {
                    None
                } else {
                    let h = hash_of(&root.join(path));
                    let same = same_kind_mode && h.as_deref() == Some(e.hash_hex().as_str());
                    (!same).then_some(h)
                }
            }
        };
        if let Some(found) = changed {
            conflicts.push(Conflict {
                path: path.clone(),
                expected: was.as_ref().map(Entry::hash_hex),
                found,
            });
        }
    }
    if conflicts.is_empty() {
        return Ok(());
    }
    conflicts.sort_by(|a, b| a.path.cmp(&b.path));
    refuse_unless_forced(conflicts, force, log)
}

fn refuse_unless_forced(conflicts: Vec<Conflict>, force: bool, log: &Log) -> anyhow::Result<()> {
    if !force {
        return Err(DeployError::Conflicts(conflicts).into());
    }
    for c in &conflicts {
        log.warning(format!("conflict overridden by --force: {c}"));
    }
    Ok(())
}

/// blake3 of a file's content or a symlink's target (None: it cannot be read).
fn hash_of(p: &Path) -> Option<String> {
    let m = std::fs::symlink_metadata(p).ok()?;
    if m.file_type().is_symlink() {
        let t = std::fs::read_link(p).ok()?;
        return Some(blake3::hash(t.as_os_str().as_bytes()).to_hex().to_string());
    }
    let mut h = blake3::Hasher::new();
    h.update_reader(std::fs::File::open(p).ok()?).ok()?;
    Some(h.finalize().to_hex().to_string())
}
