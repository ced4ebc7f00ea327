//! What a package would do to a given root, judged before anything is written: the
//! apply-time refusals that [`Package::open`](super::package::Package::open) cannot make
//! alone, because they depend on the server's tree.
//!
//! [`check_package`] (run right after the package is checked, before the deployment is
//! recorded) refuses
//! - a touched path whose parent folder is a symlink or a file on the server (devsky never
//!   writes or deletes through a symlink; "X is a file" says what is in the way);
//! - a delete of a folder (a package deletes files and symlinks);
//! - a name the root's file system cannot hold: a component over `NAME_MAX`, or a path
//!   (with the root or the backups folder before it) over `PATH_MAX` (`pathconf`);
//! - a symlink of the package that resolves outside the root, to the root's parent, or
//!   loops — resolved component by component through the tree as it will be after the
//!   deploy: the server's folders and symlinks overlaid with the package's uploads and
//!   deletes, so a chain of symlinks each harmless on its own text is judged by where its
//!   last one lands.
//!
//! [`check_root_links`] (run once the root is mapped) refuses a package that would make a
//! symlink already on the server, which resolved inside the root, resolve outside it.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, bail};

use super::fsops::{ancestors, lstat};
use super::manifest::Kind;
use super::package::Package;
use crate::engine::map::EntryKind;
use crate::engine::map::format::MapReader;

/// Most symlinks followed in one resolution (Linux's limit): more is a loop.
const MAX_HOPS: usize = 40;

/// What a path holds, in one view of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Missing,
    Dir,
    File,
    Link(Vec<u8>),
}

/// The checks made against the server's tree before anything is written (module doc).
/// `backups`: the folder the deployment's backups go to (its paths must fit too).
pub(crate) fn check_package(root: &Path, backups: &Path, pkg: &Package) -> anyhow::Result<()> {
    let m = &pkg.manifest;
    check_names(root, backups, m.uploads.iter().map(|u| u.path.as_str()))?;
    let deleted: HashSet<&str> = m.deletes.iter().map(|d| d.path.as_str()).collect();
    let mut disk = Disk::new(root);
    for u in &m.uploads {
        for a in ancestors(&u.path) {
            if deleted.contains(a) {
                break; // made anew as a folder: nothing of the server's below it
            }
            match disk.node(a)? {
                Node::Dir => {}
                Node::Missing => break,
                Node::File => bail!(
                    "{a} is a file on the server, and the package puts {} under it; delete it \
                     in the same deploy to make it a folder",
                    u.path
                ),
                Node::Link(_) => bail!(
                    "{a} is a symlink on the server, and the package puts {} under it: devsky \
                     never writes through a symlink",
                    u.path
                ),
            }
        }
    }
    for d in &m.deletes {
        let mut under = None;
        for a in ancestors(&d.path) {
            match disk.node(a)? {
                Node::Dir => {}
                Node::Missing => break,
                Node::File => under = Some(format!("{a} is a file")),
                Node::Link(_) => {
                    under = Some(format!(
                        "{a} is a symlink (devsky never deletes through a symlink)"
                    ))
                }
            }
            if under.is_some() {
                break;
            }
        }
        if let Some(why) = under {
            bail!("cannot delete {}: {why} on the server", d.path);
        }
        if disk.node(&d.path)? == Node::Dir {
            let abs = root.join(&d.path);
            let n = std::fs::read_dir(&abs)
                .with_context(|| format!("cannot list {}", abs.display()))?
                .count();
            bail!(
                "cannot delete {}: it is a folder on the server ({}); a package deletes files \
                 and symlinks, and a folder goes once the package deletes everything in it",
                d.path,
                if n == 0 {
                    "empty".to_string()
                } else {
                    format!("not empty: {n} entries")
                }
            );
        }
    }
    let mut after = After::new(root, pkg);
    for u in m.uploads.iter().filter(|u| u.kind == Kind::Symlink) {
        let t = pkg.link_target(&u.path).unwrap_or_default().to_vec();
        if let Some(why) = resolve(&u.path, &t, &mut |p| after.node(p))? {
            bail!(
                "refused symlink {:?} -> {:?}: {why}",
                u.path,
                String::from_utf8_lossy(&t)
            );
        }
    }
    Ok(())
}

/// Refuse a package that would make a symlink of the server (in the map `old_map`, not
/// touched by the package) that resolves inside the root now resolve outside it after.
pub(crate) fn check_root_links(root: &Path, old_map: &Path, pkg: &Package) -> anyhow::Result<()> {
    let touched: HashSet<&str> = pkg.manifest.pre_images.keys().map(String::as_str).collect();
    let mut disk = Disk::new(root);
    let mut after = After::new(root, pkg);
    for e in MapReader::open(old_map)? {
        let e = e?;
        if e.kind != EntryKind::Symlink {
            continue;
        }
        let Ok(path) = std::str::from_utf8(&e.path) else {
            continue;
        };
        if touched.contains(path) {
            continue;
        }
        let Node::Link(t) = disk.node(path)? else {
            continue;
        };
        if resolve(path, &t, &mut |p| disk.node(p))?.is_some() {
            continue; // it already points outside (the server's own business)
        }
        if let Some(why) = resolve(path, &t, &mut |p| after.node(p))? {
            bail!(
                "the package would make the server's symlink {path:?} -> {:?} resolve \
                 outside the root: {why}",
                String::from_utf8_lossy(&t)
            );
        }
    }
    Ok(())
}

/// Refuse names the root's file system cannot hold (`pathconf` of the root).
fn check_names<'a>(
    root: &Path,
    backups: &Path,
    paths: impl Iterator<Item = &'a str>,
) -> anyhow::Result<()> {
    let name_max = pathconf(root, libc::_PC_NAME_MAX).unwrap_or(255);
    let path_max = pathconf(root, libc::_PC_PATH_MAX).unwrap_or(4096);
    // The longest folder a touched path is joined to (a backup's has its id: up to 20
    // digits), with the `/` between and the final NUL.
    let base = root.as_os_str().len().max(backups.as_os_str().len() + 21) + 2;
    for p in paths {
        if let Some(c) = p.split('/').find(|c| c.len() as u64 > name_max) {
            bail!(
                "refused path {p:?}: its name {c:?} is {} bytes, longer than the {name_max} \
                 the server's file system allows",
                c.len()
            );
        }
        if (base + p.len()) as u64 > path_max {
            bail!(
                "refused path {p:?}: with the root ({}) it would be {} bytes long, over the \
                 server's limit of {path_max}",
                root.display(),
                base + p.len()
            );
        }
    }
    Ok(())
}

fn pathconf(p: &Path, name: libc::c_int) -> Option<u64> {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a NUL-terminated string that lives for the call.
    let v = unsafe { libc::pathconf(c.as_ptr(), name) };
    (v > 0).then_some(v as u64)
}

/// The server's tree as it is (lstat, cached by path).
struct Disk<'a> {
    root: &'a Path,
    known: HashMap<String, Node>,
}

impl<'a> Disk<'a> {
    fn new(root: &'a Path) -> Disk<'a> {
        Disk {
            root,
            known: HashMap::new(),
        }
    }

    /// What `path` holds; its folders must have been found to be folders (so `lstat`
    /// follows no symlink on the way).
    fn node(&mut self, path: &str) -> anyhow::Result<Node> {
        if let Some(n) = self.known.get(path) {
            return Ok(n.clone());
        }
        let abs = self.root.join(path);
        let n = match lstat(&abs)? {
            None => Node::Missing,
            Some(m) if m.is_dir() => Node::Dir,
            Some(m) if m.file_type().is_symlink() => Node::Link(
                std::fs::read_link(&abs)
                    .with_context(|| format!("cannot read the symlink {}", abs.display()))?
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            ),
            Some(_) => Node::File,
        };
        self.known.insert(path.to_string(), n.clone());
        Ok(n)
    }
}

/// The tree as it will be after the deploy: the package's uploads and deletes over the
/// server's tree.
struct After<'a> {
    disk: Disk<'a>,
    uploads: HashMap<&'a str, Node>,
    deleted: HashSet<&'a str>,
    dirs: HashSet<&'a str>,
}

impl<'a> After<'a> {
    fn new(root: &'a Path, pkg: &'a Package) -> After<'a> {
        let m = &pkg.manifest;
        let uploads = m
            .uploads
            .iter()
            .map(|u| {
                let n = match u.kind {
                    Kind::File => Node::File,
                    Kind::Symlink => {
                        Node::Link(pkg.link_target(&u.path).unwrap_or_default().to_vec())
                    }
                };
                (u.path.as_str(), n)
            })
            .collect();
        After {
            disk: Disk::new(root),
            uploads,
            deleted: m.deletes.iter().map(|d| d.path.as_str()).collect(),
            dirs: m.uploads.iter().flat_map(|u| ancestors(&u.path)).collect(),
        }
    }

    fn node(&mut self, path: &str) -> anyhow::Result<Node> {
        if let Some(n) = self.uploads.get(path) {
            return Ok(n.clone());
        }
        if self.dirs.contains(path) {
            return Ok(Node::Dir);
        }
        if self.deleted.contains(path) || ancestors(path).any(|a| self.deleted.contains(a)) {
            return Ok(Node::Missing);
        }
        self.disk.node(path)
    }
}

/// Where the symlink at `path` with `target` resolves in the view `node`: None if inside
/// the root (or dangling inside it), else why not. A missing folder is passed through as
/// if it were one (what could be made there later is unknown); a file ends the walk.
fn resolve(
    path: &str,
    target: &[u8],
    node: &mut dyn FnMut(&str) -> anyhow::Result<Node>,
) -> anyhow::Result<Option<String>> {
    let mut cur: Vec<String> = ancestors(path)
        .last()
        .map(|d| d.split('/').map(str::to_string).collect())
        .unwrap_or_default();
    let mut todo: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
    let mut via: Vec<String> = Vec::new();
    let push_target = |t: &[u8], todo: &mut std::collections::VecDeque<Vec<u8>>| {
        for c in t.split(|&b| b == b'/').rev() {
            todo.push_front(c.to_vec());
        }
    };
    if target.starts_with(b"/") {
        return Ok(Some("absolute target (leaves the root)".into()));
    }
    push_target(target, &mut todo);
    // Depth below which the walk is lexical (a missing folder was passed).
    let mut missing_at: Option<usize> = None;
    let mut hops = 0;
    let through = |via: &[String]| {
        if via.is_empty() {
            String::new()
        } else {
            format!(" (through {})", via.join(", "))
        }
    };
    while let Some(c) = todo.pop_front() {
        match c.as_slice() {
            b"" | b"." => continue,
            b".." => {
                if cur.pop().is_none() {
                    return Ok(Some(format!(
                        "it resolves to the root's parent folder or beyond{}",
                        through(&via)
                    )));
                }
                if missing_at.is_some_and(|d| cur.len() < d) {
                    missing_at = None;
                }
                continue;
            }
            _ => {}
        }
        let Ok(c) = String::from_utf8(c) else {
            // Not a name of the tree: nothing there can exist, the walk is lexical.
            cur.push(String::new());
            missing_at.get_or_insert(cur.len());
            continue;
        };
        cur.push(c);
        if missing_at.is_some() {
            continue;
        }
        let here = cur.join("/");
        match node(&here)? {
            Node::Dir => {}
            Node::Missing => missing_at = Some(cur.len()),
            Node::File => return Ok(None),
            Node::Link(t) => {
                hops += 1;
                if hops > MAX_HOPS {
                    return Ok(Some(format!(
                        "it loops (more than {MAX_HOPS} symlinks followed){}",
                        through(&via[..via.len().min(4)])
                    )));
                }
                via.push(format!("{here} -> {}", String::from_utf8_lossy(&t)));
                if t.starts_with(b"/") {
                    return Ok(Some(format!(
                        "it resolves outside the root{}",
                        through(&via)
                    )));
                }
                cur.pop();
                push_target(&t, &mut todo);
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(entries: &[(&str, Node)], p: &str) -> anyhow::Result<Node> {
        Ok(entries
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, n)| n.clone())
            .unwrap_or(Node::Missing))
    }

    fn link(t: &str) -> Node {
        Node::Link(t.as_bytes().to_vec())
    }

    #[test]
    fn symlinks_are_judged_by_where_they_resolve() {
        let tree = [
            ("a", Node::Dir),
            ("a/b", Node::Dir),
            ("a/b/up", link("../..")),
            ("a/b/upup", link("../../..")),
            ("f", Node::File),
            ("l1", link("l2")),
            ("l2", link("l1")),
            ("etc", link("/etc")),
        ];
        let r = |p: &str, t: &str| resolve(p, t.as_bytes(), &mut |q| lookup(&tree, q)).unwrap();
        assert_eq!(r("x", "a/b"), None);
        assert_eq!(r("x", "a/b/up"), None);
        // Each text is harmless, the chain is not.
        let why = r("x", "a/b/up/..").unwrap();
        assert!(
            why.contains("root's parent") && why.contains("a/b/up -> ../.."),
            "{why}"
        );
        assert!(r("x", "a/b/upup").is_some());
        assert!(r("x", "l1").unwrap().contains("loops"));
        assert!(r("x", "etc/passwd").unwrap().contains("outside"));
        assert!(r("x", "/etc").is_some());
        assert!(r("x", "..").is_some());
        assert_eq!(r("a/x", ".."), None);
        // A missing folder is passed lexically, a file ends the walk.
        assert_eq!(r("x", "nothing/.."), None);
        assert!(r("x", "nothing/../..").is_some());
        assert_eq!(r("x", "f/../.."), None);
    }
}
