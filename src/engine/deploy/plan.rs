//! The plan of a deploy: the local map diffed against the server's map (both in map
//! order, one merge join), as uploads (new or changed: size, hash, mode, kind, and what
//! the server has there now), deletes (only on the server, with the hash they must still
//! have) and folder changes (when both maps list folders: made, removed, given a new
//! mode), then narrowed to what the user ticked ([`Selection`]).
//!
//! What a deploy covers is the server profile's [`FileSet`]: every file and folder of the
//! project except what `.devskyignore` files and the profile's excludes leave out (and,
//! if the profile has includes, only those) — `.gitignore` does not count, so a gitignored
//! `vendor/` is deployed. The plan says how many paths each rule left out; paths of the
//! server the rules leave out are left alone (never deleted).

use std::collections::{BTreeSet, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::engine::diff::changes::ChangeKind;
use crate::engine::map::diff::diff;
use crate::engine::map::format::MapReader;
use crate::engine::map::scan::PathFilter;
use crate::engine::map::walker::{Ignores, LeftOut};
use crate::engine::map::{Entry, EntryKind, files_only};

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

/// A folder to make, remove or give a new mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanFolder {
    #[serde(serialize_with = "ser_path")]
    pub path: Vec<u8>,
    /// Its mode after (None: removed).
    #[serde(serialize_with = "ser_opt_mode")]
    pub mode: Option<u32>,
    /// Its mode on the server now (None: no folder there).
    #[serde(serialize_with = "ser_opt_mode")]
    pub remote: Option<u32>,
}

/// How many paths of the project a rule left out of the deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOutBy {
    /// `exclude **/*.log` (the profile), `.devskyignore: vendor/cache/` (an ignore file).
    pub rule: String,
    pub count: u64,
}

/// Uploads, deletes and folders, each in map order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub uploads: Vec<PlanUpload>,
    pub deletes: Vec<PlanDelete>,
    pub folders: Vec<PlanFolder>,
    /// Both maps list folders (a current agent): the package lists the folder changes
    /// (manifest version 2). Otherwise folders follow the files.
    pub folders_listed: bool,
    /// What the deploy's rules left out of the project (see [`FileSet`]).
    pub left_out: Vec<LeftOutBy>,
    /// The database change a build of a change script deploys with the files.
    pub sql: Option<super::sqlpart::SqlPart>,
}

impl Plan {
    /// Total bytes to send.
    pub fn upload_bytes(&self) -> u64 {
        self.uploads.iter().map(|u| u.size).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.uploads.is_empty() && self.deletes.is_empty() && self.folders.is_empty()
    }

    /// Only what `sel` takes (and the folders the uploads taken need).
    pub fn select(&self, sel: &Selection) -> Plan {
        let uploads: Vec<PlanUpload> = self
            .uploads
            .iter()
            .filter(|u| sel.takes(&u.path))
            .cloned()
            .collect();
        let needed: HashSet<&[u8]> = uploads
            .iter()
            .flat_map(|u| {
                u.path
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c == b'/')
                    .map(|(i, _)| &u.path[..i])
            })
            .collect();
        Plan {
            deletes: self
                .deletes
                .iter()
                .filter(|d| sel.takes(&d.path))
                .cloned()
                .collect(),
            folders: self
                .folders
                .iter()
                .filter(|f| {
                    sel.takes_folder(&f.path)
                        || (f.mode.is_some() && needed.contains(f.path.as_slice()))
                })
                .cloned()
                .collect(),
            uploads,
            folders_listed: self.folders_listed,
            left_out: self.left_out.clone(),
            sql: self.sql.clone(),
        }
    }

    /// What the rules left out, one line each: `3 left out by exclude **/*.log`.
    pub fn left_out_lines(&self) -> Vec<String> {
        self.left_out
            .iter()
            .map(|l| format!("{} left out by {}", l.count, l.rule))
            .collect()
    }
}

/// What a deploy covers (a setting of the server profile): every file, symlink and folder
/// of the project except what `.devskyignore` files and `exclude` leave out; when
/// `include` is not empty, only what it names. Globs as a domain's (a name without glob
/// characters is that file or folder and everything in it). `.gitignore` does not count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileSet {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl FileSet {
    /// The filter of paths (None: everything) and the counter of what it leaves out.
    pub fn filter(&self) -> anyhow::Result<(Option<PathFilter>, Arc<LeftOut>)> {
        let counts = Arc::new(LeftOut::default());
        if self.include.is_empty() && self.exclude.is_empty() {
            return Ok((None, counts));
        }
        let (inc, _) = crate::engine::snapshot::glob_set(&self.include)?;
        let (exc, exc_of) = crate::engine::snapshot::glob_set(&self.exclude)?;
        let (include, exclude) = (self.include.clone(), self.exclude.clone());
        let c = counts.clone();
        let keep: PathFilter = Arc::new(move |path: &[u8]| {
            let p = Path::new(std::ffi::OsStr::from_bytes(path));
            if !include.is_empty() && !inc.is_match(p) {
                c.add("not in the profile's includes");
                return false;
            }
            if let Some(i) = exc.matches(p).first() {
                c.add(&format!("exclude {}", exclude[exc_of[*i]]));
                return false;
            }
            true
        });
        Ok((Some(keep), counts))
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

    /// Whether a folder change at `path` is taken: the path, a folder above it, or the
    /// folder itself (`dir/`).
    pub fn takes_folder(&self, path: &[u8]) -> bool {
        self.takes(path)
            || self
                .folders
                .iter()
                .any(|f| f.strip_suffix(b"/") == Some(path))
    }
}

/// The plan from two entry streams in map order: `local` (the standard) and `remote`
/// (the server). Entries whose hash cannot be trusted (unreadable or changing files) are
/// an error: a package must never carry or expect a wrong hash. Folders (kind dir) become
/// folder changes; give both streams folders, or neither (see [`plan_files`]).
pub fn plan<L, R>(local: L, remote: R) -> anyhow::Result<Plan>
where
    L: Iterator<Item = anyhow::Result<Entry>>,
    R: Iterator<Item = anyhow::Result<Entry>>,
{
    plan_kept(local, remote, None)
}

/// [`plan`], leaving alone the server's paths `keep` refuses (the project's side was
/// mapped with it): they are neither deleted nor, for folders, removed.
pub fn plan_kept<L, R>(local: L, remote: R, keep: Option<&PathFilter>) -> anyhow::Result<Plan>
where
    L: Iterator<Item = anyhow::Result<Entry>>,
    R: Iterator<Item = anyhow::Result<Entry>>,
{
    let mut p = Plan::default();
    // Folders of the server holding something left alone: never removed.
    let mut holding: HashSet<Vec<u8>> = HashSet::new();
    let remote = remote.filter(|e| match (e, keep) {
        (Ok(e), Some(k)) if !k(&e.path) => {
            for (i, c) in e.path.iter().enumerate() {
                if *c == b'/' {
                    holding.insert(e.path[..i].to_vec());
                }
            }
            false
        }
        _ => true,
    });
    let mut removed: Vec<PlanFolder> = Vec::new();
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
        let is_dir = |e: &Option<Entry>| e.as_ref().is_some_and(|e| e.kind == EntryKind::Dir);
        let (old_dir, new_dir) = (is_dir(&d.old), is_dir(&d.new));
        if old_dir || new_dir {
            let f = PlanFolder {
                path: d.path().to_vec(),
                mode: d.new.as_ref().filter(|_| new_dir).map(|e| e.mode),
                remote: d.old.as_ref().filter(|_| old_dir).map(|e| e.mode),
            };
            if f.mode.is_none() {
                removed.push(f);
            } else {
                p.folders.push(f);
            }
        }
        let old = d.old.filter(|_| !old_dir);
        let new = d.new.filter(|_| !new_dir);
        match (old, new) {
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
                remote: old.as_ref().map(|o| o.hash),
                change: if old.is_some() {
                    d.kind
                } else {
                    ChangeKind::Added
                },
            }),
            (None, None) => {}
        }
    }
    // A folder holding what the rules leave alone stays (the rest of it goes).
    removed.retain(|f| !holding.contains(&f.path));
    p.folders.extend(removed);
    p.folders
        .sort_by(|a, b| crate::engine::map::cmp_paths(&a.path, &b.path));
    Ok(p)
}

/// The plan from two map files. Folders are planned only when both maps list them (an
/// older agent's map does not: folders then follow the files, as that agent expects).
pub fn plan_files(local: &Path, remote: &Path) -> anyhow::Result<Plan> {
    plan_files_kept(local, remote, None)
}

/// [`plan_files`] with the filter the project was mapped with ([`plan_kept`]).
pub fn plan_files_kept(
    local: &Path,
    remote: &Path,
    keep: Option<&PathFilter>,
) -> anyhow::Result<Plan> {
    let l = MapReader::open(local).context("local map")?;
    let r = MapReader::open(remote).context("server map")?;
    if l.dirs && r.dirs {
        let mut p = plan_kept(l, r, keep)?;
        p.folders_listed = true;
        Ok(p)
    } else {
        plan_kept(files_only(l), files_only(r), keep)
    }
}

fn ser_path<S: serde::Serializer>(p: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(p))
}

fn ser_mode<S: serde::Serializer>(m: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{m:o}"))
}

fn ser_opt_mode<S: serde::Serializer>(m: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => ser_mode(m, s),
        None => s.serialize_none(),
    }
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

/// Map the project for a deploy plan: what `files` covers, folders included (using and
/// refreshing the deploy's own stat cache when the project has a store; otherwise into
/// `tmp`). Returns the map, the filter it was made with (for the server's side) and what
/// the rules left out. A map with unreadable files is refused: a file that could not be
/// read would look deleted, and the package would delete it on the server.
pub fn local_map(
    project: &crate::engine::project::Project,
    files: &FileSet,
    tmp: &std::path::Path,
    progress: &crate::engine::jobs::Progress,
) -> anyhow::Result<LocalMap> {
    use crate::engine::map::scan::{ScanOptions, scan};
    let (cache, local) = if project.has_store() {
        let c = project
            .root
            .join(crate::store::STATE_DIR)
            .join("cache")
            .join("deploy.map");
        (Some(c.clone()), c)
    } else {
        (None, tmp.join("local.map"))
    };
    let (keep, counts) = files.filter()?;
    let opts = ScanOptions {
        keep: keep.clone(),
        dirs: true,
        ignores: Ignores::DevskyOnly,
        left_out: Some(counts.clone()),
        ..ScanOptions::default()
    };
    let report = scan(&project.root, cache.as_deref(), &local, &opts, progress)?;
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
    let left_out = counts
        .counts()
        .into_iter()
        .map(|(rule, count)| LeftOutBy { rule, count })
        .collect();
    Ok(LocalMap {
        path: local,
        keep,
        left_out,
    })
}

/// The project's map for a deploy ([`local_map`]).
pub struct LocalMap {
    pub path: std::path::PathBuf,
    /// The filter of the profile's globs (None: everything).
    pub keep: Option<PathFilter>,
    pub left_out: Vec<LeftOutBy>,
}

impl LocalMap {
    /// The plan against the server's map at `remote`.
    pub fn plan(&self, remote: &Path) -> anyhow::Result<Plan> {
        let mut p = plan_files_kept(&self.path, remote, self.keep.as_ref())?;
        p.left_out = self.left_out.clone();
        Ok(p)
    }
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

    fn dir(path: &str, mode: u32) -> anyhow::Result<Entry> {
        let mut d = e(path, 0, mode)?;
        d.kind = EntryKind::Dir;
        d.size = 0;
        d.hash = [0; 32];
        Ok(d)
    }

    #[test]
    fn folders_are_planned_and_a_folder_holding_what_is_left_alone_stays() {
        let local = vec![
            dir("app", 0o750),
            e("app/a", 1, 0o644),
            dir("empty", 0o755),
            dir("x", 0o755),
            e("x/y", 2, 0o644),
        ];
        let remote = vec![
            dir("app", 0o755),
            e("app/a", 1, 0o644),
            dir("logs", 0o755),
            e("logs/s.log", 3, 0o644),
            dir("old", 0o755),
            e("old/f", 4, 0o644),
            e("x", 5, 0o644),
        ];
        let keep: PathFilter = Arc::new(|p: &[u8]| !p.ends_with(b".log"));
        let p = plan_kept(local.into_iter(), remote.into_iter(), Some(&keep)).unwrap();
        let folders: Vec<(&[u8], Option<u32>, Option<u32>)> = p
            .folders
            .iter()
            .map(|f| (f.path.as_slice(), f.mode, f.remote))
            .collect();
        assert_eq!(
            folders,
            vec![
                (&b"app"[..], Some(0o750), Some(0o755)),
                (&b"empty"[..], Some(0o755), None),
                (&b"old"[..], None, Some(0o755)),
                (&b"x"[..], Some(0o755), None),
            ]
        );
        let deletes: Vec<&[u8]> = p.deletes.iter().map(|d| d.path.as_slice()).collect();
        assert_eq!(deletes, vec![&b"old/f"[..], &b"x"[..]]);
        let up: Vec<&[u8]> = p.uploads.iter().map(|u| u.path.as_slice()).collect();
        assert_eq!(up, vec![&b"x/y"[..]]);
        assert!(!p.is_empty());
        // an empty folder alone is something to deploy
        let only = plan(vec![dir("new", 0o700)].into_iter(), std::iter::empty()).unwrap();
        assert!(!only.is_empty());
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
