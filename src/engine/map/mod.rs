//! File maps: every file of a tree with its size, times, inode, mode and blake3 hash —
//! the base of snapshots, change scripts and deploys.
//!
//! A map is a stream of [`Entry`]s in [`cmp_paths`] order (depth first, siblings by
//! bytes), written to and read from a compact binary file ([`format`]). Mapping a tree
//! ([`scan`]) walks it in that same order, so the previous map of the tree can serve as a
//! stat cache by a merge join, and a new map is written as it is made: neither the walk nor
//! the cache ever needs a whole file list in memory. Two maps diff in one pass ([`diff`]).
//! A map crosses the network in a compact encoding ([`wire`]).
//!
//! Maps hold files and symlinks. Maps made for deploys ([`scan::ScanOptions::dirs`]) hold
//! folders too (kind [`EntryKind::Dir`], with their mode; the root itself is not an
//! entry), so empty folders and folder modes are deployed, verified and rolled back; such
//! a map says so in its header ([`format::MapReader::dirs`]), and a map without folders
//! (an older agent's) is compared on files only ([`files_only`]).

pub mod diff;
pub mod format;
pub mod scan;
pub mod walker;
pub mod wire;

use std::cmp::Ordering;

use serde::Serialize;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Symlink,
    /// A folder (only in maps made with folders): no content, size 0, a zero hash.
    Dir,
}

/// The entry's hash could not be trusted: the file changed while it was read.
pub const FLAG_UNSTABLE: u8 = 1;
/// The entry could not be read (permission denied, vanished): no hash.
pub const FLAG_UNREADABLE: u8 = 2;

/// One file, symlink or folder of a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative, `/`-separated; the exact bytes of the name (not necessarily UTF-8).
    pub path: Vec<u8>,
    pub kind: EntryKind,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Bytes (for a symlink: the length of its target).
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    /// blake3 of the content (for a symlink: of its target path).
    pub hash: [u8; 32],
    /// [`FLAG_UNSTABLE`], [`FLAG_UNREADABLE`].
    pub flags: u8,
}

impl Entry {
    /// The hash as 64 lowercase hex characters (an object id).
    pub fn hash_hex(&self) -> String {
        blake3::Hash::from_bytes(self.hash).to_hex().to_string()
    }

    /// The path for display (invalid UTF-8 as U+FFFD).
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }

    /// Whether the hash is the content's (the file was read completely and did not change).
    pub fn hash_valid(&self) -> bool {
        self.flags & (FLAG_UNSTABLE | FLAG_UNREADABLE) == 0
    }

    /// Same content, type and mode.
    pub fn same_as(&self, other: &Entry) -> bool {
        self.kind == other.kind
            && self.hash == other.hash
            && self.mode == other.mode
            && self.hash_valid()
            && other.hash_valid()
    }
}

/// The entries of a map without its folders (to compare a map with folders to one
/// without: an older agent's, or one recorded before maps had folders).
pub fn files_only<I>(entries: I) -> impl Iterator<Item = anyhow::Result<Entry>>
where
    I: Iterator<Item = anyhow::Result<Entry>>,
{
    entries.filter(|e| !matches!(e, Ok(e) if e.kind == EntryKind::Dir))
}

/// The order of maps: paths compared component by component, each component by its bytes.
/// It is the order of a depth-first walk with siblings sorted by name, so `a/x` comes
/// before `a.txt` (all of `a/` right after `a`).
pub fn cmp_paths(a: &[u8], b: &[u8]) -> Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { c };
    let n = a.len().min(b.len());
    for i in 0..n {
        match key(a[i]).cmp(&key(b[i])) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    a.len().cmp(&b.len())
}

/// Something that went wrong with one path while mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub reason: String,
}

/// The entry for JSON output: `path` (lossy) plus `path_bytes` when the name is not UTF-8.
#[derive(Debug, Serialize)]
pub struct EntryJson {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<Vec<u8>>,
    pub kind: EntryKind,
    pub size: u64,
    pub mode: String,
    pub mtime_ns: i64,
    pub blake3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<&'static str>,
}

impl From<&Entry> for EntryJson {
    fn from(e: &Entry) -> EntryJson {
        let utf8 = std::str::from_utf8(&e.path).is_ok();
        EntryJson {
            path: e.path_lossy(),
            path_bytes: (!utf8).then(|| e.path.clone()),
            kind: e.kind,
            size: e.size,
            mode: format!("{:o}", e.mode),
            mtime_ns: e.mtime_ns,
            blake3: e.hash_valid().then(|| e.hash_hex()),
            problem: if e.flags & FLAG_UNREADABLE != 0 {
                Some("unreadable")
            } else if e.flags & FLAG_UNSTABLE != 0 {
                Some("changed while read")
            } else {
                None
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_depth_first_with_sorted_siblings() {
        let mut paths: Vec<&[u8]> = vec![
            b"a.txt",
            b"a/x",
            b"b",
            b"a/y/z",
            b"a/y.txt",
            b"A",
            b"a/y/\xff",
        ];
        paths.sort_by(|x, y| cmp_paths(x, y));
        let want: Vec<&[u8]> = vec![
            b"A",
            b"a/x",
            b"a/y/z",
            b"a/y/\xff",
            b"a/y.txt",
            b"a.txt",
            b"b",
        ];
        assert_eq!(paths, want);
        assert_eq!(cmp_paths(b"a", b"a"), Ordering::Equal);
    }
}

/// Where the last map of a project's working tree is kept (it is the stat cache of the
/// next one). A domain has its own, so mapping a part never evicts the whole.
pub fn worktree_cache(root: &std::path::Path, domain: Option<&str>) -> std::path::PathBuf {
    let name = match domain {
        Some(d) => format!(
            "worktree-{}.map",
            d.replace(
                |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
                "_"
            )
        ),
        None => "worktree.map".to_string(),
    };
    root.join(crate::store::STATE_DIR).join("cache").join(name)
}

#[cfg(test)]
mod scan_tests;
