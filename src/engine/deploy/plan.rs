//! The plan of a deploy: the local map diffed against the server's map (both in map
//! order, one merge join), as uploads (new or changed: size, hash, mode, kind, and what
//! the server has there now) and deletes (only on the server, with the hash they must
//! still have), then narrowed to what the user ticked ([`Selection`]).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::engine::diff::changes::ChangeKind;
use crate::engine::map::diff::diff;
use crate::engine::map::format::MapReader;
use crate::engine::map::{Entry, EntryKind};

/// A file or symlink to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanUpload {
    #[serde(serialize_with = "ser_path")]
    pub path: Vec<u8>,
    pub kind: EntryKind,
    pub size: u64,
    #[serde(serialize_with = "ser_mode")]
    pub mode: u32,
    #[serde(serialize_with = "ser_hash")]
    pub hash: [u8; 32],
    /// What the server has at this path now (None: nothing): the pre-image.
    #[serde(serialize_with = "ser_opt_hash")]
    pub remote: Option<[u8; 32]>,
    pub change: ChangeKind,
}

/// A file or symlink only the server has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanDelete {
    #[serde(serialize_with = "ser_path")]
    pub path: Vec<u8>,
    pub kind: EntryKind,
    pub size: u64,
    /// What it must still hold when the package is applied.
    #[serde(serialize_with = "ser_hash")]
    pub hash: [u8; 32],
}

/// Uploads and deletes, each in map order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub uploads: Vec<PlanUpload>,
    pub deletes: Vec<PlanDelete>,
}

impl Plan {
    /// Total bytes to send.
    pub fn upload_bytes(&self) -> u64 {
        self.uploads.iter().map(|u| u.size).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.uploads.is_empty() && self.deletes.is_empty()
    }

    /// Only what `sel` takes.
    pub fn select(&self, sel: &Selection) -> Plan {
        Plan {
            uploads: self
                .uploads
                .iter()
                .filter(|u| sel.takes(&u.path))
                .cloned()
                .collect(),
            deletes: self
                .deletes
                .iter()
                .filter(|d| sel.takes(&d.path))
                .cloned()
                .collect(),
        }
    }
}

/// What the user ticked: exact paths and folders (everything under them).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    paths: BTreeSet<Vec<u8>>,
    folders: Vec<Vec<u8>>,
}

impl Selection {
    pub fn new() -> Selection {
        Selection::default()
    }

    /// Parse the user's words: `dir/` (trailing slash) is a folder, anything else an exact
    /// path; a leading `./` is dropped.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Selection {
        let mut s = Selection::new();
        for i in items {
            let i = i.as_ref();
            let i = i.strip_prefix("./").unwrap_or(i);
            if let Some(dir) = i.strip_suffix('/') {
                s.add_folder(dir.as_bytes());
            } else {
                s.add_path(i.as_bytes());
            }
        }
        s
    }

    pub fn add_path(&mut self, p: &[u8]) {
        self.paths.insert(p.to_vec());
    }

    /// Everything under `dir` (given with or without its trailing `/`; empty: all).
    pub fn add_folder(&mut self, dir: &[u8]) {
        let mut d = dir.to_vec();
        while d.last() == Some(&b'/') {
            d.pop();
        }
        if !d.is_empty() {
            d.push(b'/');
        }
        self.folders.push(d);
    }

    pub fn takes(&self, path: &[u8]) -> bool {
        self.paths.contains(path) || self.folders.iter().any(|f| path.starts_with(f))
    }
}

/// The plan from two entry streams in map order: `local` (the standard) and `remote`
/// (the server). Entries whose hash cannot be trusted (unreadable or changing files) are
/// an error: a package must never carry or expect a wrong hash.
pub fn plan<L, R>(local: L, remote: R) -> anyhow::Result<Plan>
where
    L: Iterator<Item = anyhow::Result<Entry>>,
    R: Iterator<Item = anyhow::Result<Entry>>,
{
    let mut p = Plan::default();
    for d in diff(remote, local) {
        let d = d?;
        for (side, e) in [("local", &d.new), ("server", &d.old)] {
            if let Some(e) = e
                && !e.hash_valid()
            {
                bail!(
                    "{} could not be read completely on the {side} side (unreadable or \
                     changing while mapped); map again",
                    e.path_lossy()
                );
            }
        }
        match (d.old, d.new) {
            (Some(old), None) => p.deletes.push(PlanDelete {
                path: old.path,
                kind: old.kind,
                size: old.size,
                hash: old.hash,
            }),
            (old, Some(new)) => p.uploads.push(PlanUpload {
                path: new.path,
                kind: new.kind,
                size: new.size,
                mode: new.mode,
                hash: new.hash,
                remote: old.map(|o| o.hash),
                change: d.kind,
            }),
            (None, None) => {}
        }
    }
    Ok(p)
}

/// The plan from two map files.
pub fn plan_files(local: &Path, remote: &Path) -> anyhow::Result<Plan> {
    let l = MapReader::open(local).context("local map")?;
    let r = MapReader::open(remote).context("server map")?;
    plan(l, r)
}

fn ser_path<S: serde::Serializer>(p: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(p))
}

fn ser_mode<S: serde::Serializer>(m: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{m:o}"))
}

fn ser_hash<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&blake3::Hash::from_bytes(*h).to_hex())
}

fn ser_opt_hash<S: serde::Serializer>(h: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
    match h {
        Some(h) => ser_hash(h, s),
        None => s.serialize_none(),
    }
}

/// Map the project for a deploy plan (using and refreshing its stat cache when it has a
/// store; otherwise into `tmp`). A map with unreadable files is refused: a file that could
/// not be read would look deleted, and the package would delete it on the server.
pub fn local_map(
    project: &crate::engine::project::Project,
    tmp: &std::path::Path,
    progress: &crate::engine::jobs::Progress,
) -> anyhow::Result<std::path::PathBuf> {
    use crate::engine::map::scan::{ScanOptions, scan};
    let (cache, local) = if project.has_store() {
        let c = crate::engine::map::worktree_cache(&project.root, None);
        (Some(c.clone()), c)
    } else {
        (None, tmp.join("local.map"))
    };
    let report = scan(
        &project.root,
        cache.as_deref(),
        &local,
        &ScanOptions::default(),
        progress,
    )?;
    if report.partial {
        let list: Vec<String> = report
            .problems
            .iter()
            .take(10)
            .map(|p| format!("  {}: {}", p.path, p.reason))
            .collect();
        anyhow::bail!(
            "the project could not be mapped completely ({} problem(s)); fix them first, or a package \
             could delete on the server what could not be read here:\n{}",
            report.problem_count,
            list.join("\n")
        );
    }
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, h: u8, mode: u32) -> anyhow::Result<Entry> {
        Ok(Entry {
            path: path.as_bytes().to_vec(),
            kind: EntryKind::File,
            mode,
            size: h as u64,
            mtime_ns: 0,
            ctime_ns: 0,
            ino: 0,
            hash: [h; 32],
            flags: 0,
        })
    }

    #[test]
    fn uploads_deletes_and_selection() {
        let local = vec![
            e("a/x", 1, 0o644),
            e("a/y", 2, 0o644),
            e("b", 3, 0o755),
            e("new", 4, 0o644),
        ];
        let remote = vec![
            e("a/x", 1, 0o644),
            e("a/y", 9, 0o644),
            e("a/z", 5, 0o644),
            e("b", 3, 0o644),
        ];
        let p = plan(local.into_iter(), remote.into_iter()).unwrap();
        type Row<'a> = (&'a [u8], Option<[u8; 32]>, ChangeKind);
        let up: Vec<Row> = p
            .uploads
            .iter()
            .map(|u| (u.path.as_slice(), u.remote, u.change))
            .collect();
        assert_eq!(
            up,
            vec![
                (&b"a/y"[..], Some([9; 32]), ChangeKind::Modified),
                (&b"b"[..], Some([3; 32]), ChangeKind::ModeChanged),
                (&b"new"[..], None, ChangeKind::Added),
            ]
        );
        assert_eq!(p.deletes.len(), 1);
        assert_eq!(p.deletes[0].path, b"a/z");
        assert_eq!(p.deletes[0].hash, [5; 32]);
        assert_eq!(p.upload_bytes(), 2 + 3 + 4);

        let s = p.select(&Selection::parse(&["a/", "./new"]));
        assert_eq!(s.uploads.len(), 2);
        assert_eq!(s.deletes.len(), 1);
        let s = p.select(&Selection::parse(&["b"]));
        assert_eq!(s.uploads.len(), 1);
        assert!(s.deletes.is_empty());
        // "a" as a folder does not take "a.txt"-like siblings
        assert!(!Selection::parse(&["a/"]).takes(b"ab"));
    }

    #[test]
    fn untrusted_hashes_are_refused() {
        let mut bad = e("x", 1, 0o644).unwrap();
        bad.flags = crate::engine::map::FLAG_UNREADABLE;
        let err = plan(vec![Ok(bad)].into_iter(), std::iter::empty())
            .unwrap_err()
            .to_string();
        assert!(err.contains("could not be read"), "{err}");
    }
}
