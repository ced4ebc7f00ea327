//! The tests' own view of a tree, sharing no code with devsky's maps: a recursive
//! `std::fs` walk that records every folder (empty ones too, with its mode), every file
//! (mode and blake3 of the content) and every symlink (its target), and ignores nothing but
//! `.devsky` at the top. Trees compare with `==`; [`differences`] says how two differ;
//! [`copy`] copies a tree exactly (with `std::fs` too).

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// One thing in a tree. Modes are the permission bits (`0o7777`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir {
        mode: u32,
    },
    File {
        mode: u32,
        size: u64,
        blake3: String,
    },
    Link {
        target: Vec<u8>,
    },
}

/// Relative path (bytes, `/`-separated) -> node; the root itself is not in it.
pub type Tree = BTreeMap<Vec<u8>, Node>;

/// Walks `root` (which must be a folder, or a symlink to one).
pub fn walk(root: &Path) -> Tree {
    let mut t = Tree::new();
    walk_into(root, b"", &mut t);
    t
}

fn walk_into(dir: &Path, prefix: &[u8], t: &mut Tree) {
    let rd =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for e in rd {
        let e = e.unwrap();
        let name = e.file_name();
        if prefix.is_empty() && name == ".devsky" {
            continue;
        }
        let mut rel = prefix.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.as_bytes());
        let path = e.path();
        let md = std::fs::symlink_metadata(&path).unwrap();
        let mode = md.permissions().mode() & 0o7777;
        let ft = md.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            t.insert(
                rel,
                Node::Link {
                    target: target.as_os_str().as_bytes().to_vec(),
                },
            );
        } else if ft.is_dir() {
            t.insert(rel.clone(), Node::Dir { mode });
            walk_into(&path, &rel, t);
        } else if ft.is_file() {
            let data = std::fs::read(&path).unwrap();
            let blake3 = blake3::hash(&data).to_hex().to_string();
            t.insert(
                rel,
                Node::File {
                    mode,
                    size: data.len() as u64,
                    blake3,
                },
            );
        } else {
            panic!(
                "{} is neither a file, a folder nor a symlink",
                path.display()
            );
        }
    }
}

/// The differences between two trees, one line each (empty when equal), for messages.
pub fn differences(a: &Tree, b: &Tree) -> String {
    let mut out = String::new();
    for (k, v) in a {
        match b.get(k) {
            None => out += &format!("only in the first: {} {v:?}\n", String::from_utf8_lossy(k)),
            Some(w) if w != v => {
                out += &format!("differs: {}: {v:?} vs {w:?}\n", String::from_utf8_lossy(k))
            }
            _ => {}
        }
    }
    for (k, w) in b {
        if !a.contains_key(k) {
            out += &format!("only in the second: {} {w:?}\n", String::from_utf8_lossy(k));
        }
    }
    out
}

/// Asserts that two trees are equal, listing the differences otherwise.
#[track_caller]
pub fn assert_same(a: &Tree, b: &Tree, what: &str) {
    let d = differences(a, b);
    assert!(d.is_empty(), "{what}: the trees differ:\n{d}");
}

/// Copies the tree `from` to `to` exactly: contents, file and folder modes, symlinks (as
/// links). Folder modes are set after their contents, so read-only folders copy too.
pub fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (s, d) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&s).unwrap(), &d).unwrap();
        } else if ft.is_dir() {
            copy(&s, &d);
        } else {
            std::fs::copy(&s, &d).unwrap();
        }
    }
    let m = std::fs::metadata(from).unwrap().permissions();
    std::fs::set_permissions(to, m).unwrap();
}

/// What a map of the tree lists — files and symlinks, no folders — as path -> (kind `f` or
/// `l`, mode (0 for a symlink), size, blake3 hex of the content or of the link's target),
/// to check a map devsky recorded against the walker's view.
pub fn files_and_links(t: &Tree) -> BTreeMap<Vec<u8>, (char, u32, u64, String)> {
    t.iter()
        .filter_map(|(p, n)| {
            let v = match n {
                Node::Dir { .. } => return None,
                Node::File { mode, size, blake3 } => ('f', *mode, *size, blake3.clone()),
                Node::Link { target } => (
                    'l',
                    0,
                    target.len() as u64,
                    blake3::hash(target).to_hex().to_string(),
                ),
            };
            Some((p.clone(), v))
        })
        .collect()
}
