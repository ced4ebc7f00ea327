//! Snapshots ("My Snapshots"): the map of a domain of the project at a moment, with the
//! content of every file stored in the object store, so a later diff can show contents and
//! a rollback can restore them. Also domains (named include/exclude globs) and `gc`.
//!
//! Everything streams: the tree is mapped into a map file, each entry's content is copied
//! into the object store one file at a time, and the map itself is stored as an object.

pub mod objects;

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;

use super::jobs::Progress;
use super::map::diff::{Delta, diff};
use super::map::format::MapReader;
use super::map::scan::{PathFilter, ScanOptions, ScanReport, scan};
use super::map::{Entry, EntryKind, FLAG_UNSTABLE, Problem, worktree_cache};
use super::project::Project;
use crate::engine::diff::changes::{Change, ChangeSet, Content};
use crate::store::snapshots::{self, Domain, NewSnapshot, Snapshot};
use crate::store::{Store, now};
use objects::ObjectStore;

/// Build a path filter from a domain's globs. A pattern without glob characters names a
/// file or a whole folder (`app` means `app` and `app/**`); an empty include list means
/// everything.
pub fn matcher(include: &[String], exclude: &[String]) -> anyhow::Result<Option<PathFilter>> {
    if include.is_empty() && exclude.is_empty() {
        return Ok(None);
    }
    let (inc, _) = glob_set(include)?;
    let (exc, _) = glob_set(exclude)?;
    let everything = include.is_empty();
    Ok(Some(Arc::new(move |path: &[u8]| {
        let p = Path::new(std::ffi::OsStr::from_bytes(path));
        (everything || inc.is_match(p)) && !exc.is_match(p)
    })))
}

/// The glob set of a domain's globs (as [`matcher`] reads them), and for each pattern of
/// the set the index of the glob it comes from.
pub fn glob_set(globs: &[String]) -> anyhow::Result<(GlobSet, Vec<usize>)> {
    let mut b = GlobSetBuilder::new();
    let mut owner = Vec::new();
    for (i, g) in globs.iter().enumerate() {
        let g = g.trim().trim_start_matches("./").trim_end_matches('/');
        let mut pats = vec![g.to_string()];
        if !g.contains(['*', '?', '[', '{']) {
            pats.push(format!("{g}/**"));
        }
        for p in pats {
            let glob = Glob::new(&p).with_context(|| format!("bad glob {g:?}"))?;
            b.add(
                globset::GlobBuilder::new(glob.glob())
                    .literal_separator(true)
                    .build()?,
            );
            owner.push(i);
        }
    }
    Ok((b.build()?, owner))
}

/// The globs of a domain by name (None: the whole project).
pub fn domain_globs(
    store: &Store,
    domain: Option<&str>,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    match domain {
        None => Ok((Vec::new(), Vec::new())),
        Some(name) => {
            let d = snapshots::domain(store.conn(), name)?
                .with_context(|| format!("no domain {name:?}; `devsky domain list` shows them, `devsky domain add` makes one"))?;
            Ok((d.include, d.exclude))
        }
    }
}

/// Map the working tree (or the part of it a domain covers), using and refreshing the
/// tree's stat cache. Returns the map file.
pub fn map_worktree(
    project: &Project,
    cache_name: Option<&str>,
    include: &[String],
    exclude: &[String],
    progress: &Progress,
) -> anyhow::Result<(PathBuf, ScanReport)> {
    let cache = worktree_cache(&project.root, cache_name);
    let opts = ScanOptions {
        keep: matcher(include, exclude)?,
        ..Default::default()
    };
    let report = scan(&project.root, Some(&cache), &cache, &opts, progress)?;
    Ok((cache, report))
}

/// What creating a snapshot did.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub id: i64,
    pub name: String,
    pub files: u64,
    pub bytes: u64,
    /// Objects written now (the rest were stored already).
    pub new_objects: u64,
    pub partial: bool,
    pub problems: Vec<Problem>,
    /// The object holding the database part (`create_with_db`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_object: Option<String>,
}

/// Snapshot the project (or a domain of it).
pub fn create(
    project: &Project,
    store: &mut Store,
    name: Option<&str>,
    domain: Option<&str>,
    progress: &Progress,
) -> anyhow::Result<Created> {
    let (include, exclude) = domain_globs(store, domain)?;
    let objects = ObjectStore::open(&project.root)?;
    let (map_path, report) = map_worktree(project, domain, &include, &exclude, progress)?;
    let mut problems = report.problems.clone();
    let mut partial = report.partial;
    // Copy every file into the object store, writing the snapshot's own map as we go: an
    // entry whose file changed since it was mapped gets the hash of what was stored.
    let snap_map = map_path.with_extension("snapshot.tmp");
    let mut writer = super::map::format::MapWriter::create(&snap_map, super::map::scan::now_ns())?;
    let (mut files, mut bytes, mut new_objects) = (0u64, 0u64, 0u64);
    let stored_before = contents_of_latest_snapshot(store, &objects);
    // One batch: no fsync per object; all are made durable at once before the row is added.
    let map_obj = objects.batch(|objects| {
        for (i, entry) in MapReader::open(&map_path)?.enumerate() {
            let mut e = entry?;
            if i % 256 == 0 {
                progress.check()?;
                progress.set(i as u64, Some(report.files), "storing contents");
            }
            if e.hash_valid() && e.kind == EntryKind::File && stored_before.contains(&e.hash) {
                // Stored by the latest snapshot, which keeps it from gc: no need to look.
            } else if e.hash_valid() {
                let abs = project.root.join(std::ffi::OsStr::from_bytes(&e.path));
                let stored = match e.kind {
                    EntryKind::Symlink => std::fs::read_link(&abs)
                        .map_err(anyhow::Error::from)
                        .and_then(|t| objects.put_bytes(t.as_os_str().as_bytes())),
                    EntryKind::File => objects
                        .put_file(&abs, Some(&e.hash_hex()), true)
                        .or_else(|_| objects.put_file(&abs, None, false)),
                    // (snapshot maps are made without folders)
                    EntryKind::Dir => Err(anyhow::anyhow!("a folder has no content to store")),
                };
                match stored {
                    Ok(s) => {
                        if s.id != e.hash_hex() {
                            // changed after mapping: record what was stored, never trust the stat
                            e.hash = hex_to_hash(&s.id)?;
                            e.size = s.size;
                            e.mtime_ns = 0;
                            problems.push(Problem {
                                path: e.path_lossy(),
                                reason: "changed while the snapshot was taken; stored as read"
                                    .into(),
                            });
                        }
                        new_objects += u64::from(s.new);
                    }
                    Err(err) => {
                        e.flags |= FLAG_UNSTABLE;
                        partial = true;
                        problems.push(Problem {
                            path: e.path_lossy(),
                            reason: format!("{err:#}"),
                        });
                    }
                }
            }
            files += 1;
            bytes += e.size;
            writer.push(&e)?;
        }
        writer.finish(partial)?;
        objects.put_file(&snap_map, None, false)
    })?;
    let _ = std::fs::remove_file(&snap_map);
    let name = name.map(str::to_string).unwrap_or_else(|| {
        format!(
            "snapshot {}",
            crate::engine::util::units::format_time(now())
        )
    });
    let id = snapshots::insert_snapshot(
        store.conn(),
        &NewSnapshot {
            name: &name,
            domain,
            include: &include,
            exclude: &exclude,
            map_object: &map_obj.id,
            files: files as i64,
            bytes: bytes as i64,
            partial,
        },
        now(),
    )?;
    progress.set(files, Some(files), "snapshot stored");
    Ok(Created {
        id,
        name,
        files,
        bytes,
        new_objects,
        partial,
        problems,
        db_object: None,
    })
}

/// The database part of a new snapshot: the profile's name and a connection to it.
pub struct DbPart<'a> {
    pub profile: &'a str,
    pub db: &'a mut dyn crate::engine::db::Db,
}

/// [`create`], plus the database part when `db` is given: schemas, and rows or checksums
/// by the table modes of `_dev_db_tables` (see `engine::db::snapshot`), stored as one
/// object named in the snapshot's `db_object` (with `db_profile`).
pub fn create_with_db(
    project: &Project,
    store: &mut Store,
    name: Option<&str>,
    domain: Option<&str>,
    db: Option<DbPart>,
    progress: &Progress,
) -> anyhow::Result<Created> {
    use crate::engine::db::snapshot::{Mode, table_modes, take};
    let part = match db {
        Some(p) => {
            progress.set(0, None, "snapshotting the database");
            let modes = table_modes(store.conn(), p.profile)?;
            // A domain that names tables of this profile: only those are taken.
            let only = match domain {
                Some(d) => snapshots::domain_db_tables(store.conn(), d)?.remove(p.profile),
                None => None,
            };
            if let Some(only) = &only {
                let have: Vec<String> = p.db.tables()?.into_iter().map(|t| t.name).collect();
                if let Some(t) = only.iter().find(|t| !have.contains(t)) {
                    bail!(
                        "domain {} names table `{t}` of database {}, which has no such table",
                        domain.unwrap_or_default(),
                        p.profile
                    );
                }
            }
            let mode = |t: &str| match &only {
                Some(only) if !only.iter().any(|o| o == t) => Mode::Skip,
                _ => modes.get(t).copied().unwrap_or(Mode::Auto),
            };
            let snap = take(p.db, &mode)
                .with_context(|| format!("snapshotting the database of profile {}", p.profile))?;
            let objects = ObjectStore::open(&project.root)?;
            Some((p.profile.to_string(), snap.save(&objects)?))
        }
        None => None,
    };
    let mut c = create(project, store, name, domain, progress)?;
    if let Some((profile, object)) = part {
        store.conn().execute(
            "UPDATE _dev_snapshots SET db_profile = ?1, db_object = ?2 WHERE id = ?3",
            rusqlite::params![profile, object, c.id],
        )?;
        c.db_object = Some(object);
    }
    Ok(c)
}

/// The database part of snapshot `id`: its profile and object, when it has one.
pub fn db_part(store: &Store, id: i64) -> anyhow::Result<Option<(String, String)>> {
    get(store, id)?;
    let row: (Option<String>, Option<String>) = store.conn().query_row(
        "SELECT db_profile, db_object FROM _dev_snapshots WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(match row {
        (Some(p), Some(o)) => Some((p, o)),
        _ => None,
    })
}

/// A snapshot by id, or a clear error.
pub fn get(store: &Store, id: i64) -> anyhow::Result<Snapshot> {
    snapshots::snapshot(store.conn(), id)?
        .with_context(|| format!("no snapshot {id}; `devsky snapshot list` shows them"))
}

/// The snapshot a user named: its id (`3`, `#3`) or its name (`before`). An unknown or
/// ambiguous name is an error that lists the candidates.
pub fn resolve(store: &Store, spec: &str) -> anyhow::Result<Snapshot> {
    let all = snapshots::snapshots(store.conn())?;
    let spec = spec.trim();
    if let Ok(id) = spec.trim_start_matches('#').parse::<i64>()
        && let Some(s) = all.iter().find(|s| s.id == id)
    {
        return Ok(s.clone());
    }
    let named: Vec<&Snapshot> = all.iter().filter(|s| s.name == spec).collect();
    let show = |v: &[&Snapshot]| {
        v.iter()
            .take(10)
            .map(|s| {
                format!(
                    "{} ({:?}, {})",
                    s.id,
                    s.name,
                    crate::engine::util::units::format_time(s.created)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            // An id is shown as it is, a name in quotes.
            let what = match spec.trim_start_matches('#').parse::<i64>() {
                Ok(id) => id.to_string(),
                Err(_) => format!("{spec:?}"),
            };
            let lower = spec.to_lowercase();
            let near: Vec<&Snapshot> = all
                .iter()
                .filter(|s| s.name.to_lowercase().contains(&lower))
                .collect();
            if all.is_empty() {
                anyhow::bail!(
                    "no snapshot {what}: there are no snapshots yet (`devsky snapshot create`)"
                )
            } else if near.is_empty() {
                anyhow::bail!(
                    "no snapshot {what}; the newest are: {} (`devsky snapshot list` shows all)",
                    show(&all.iter().collect::<Vec<_>>())
                )
            } else {
                anyhow::bail!("no snapshot {what}; did you mean: {}?", show(&near))
            }
        }
        many => anyhow::bail!(
            "{} snapshots are named {spec:?}: {}; give the id instead",
            many.len(),
            show(many)
        ),
    }
}

/// The file contents the newest snapshot stored (empty when there is none or its map cannot
/// be read). Every one is in the object store while that snapshot exists, so a second
/// snapshot need not check them one by one (a stat per file is most of its time).
fn contents_of_latest_snapshot(store: &Store, objects: &ObjectStore) -> HashSet<[u8; 32]> {
    let Ok(list) = snapshots::snapshots(store.conn()) else {
        return HashSet::new();
    };
    let Some(latest) = list.iter().max_by_key(|s| s.id) else {
        return HashSet::new();
    };
    let Ok(reader) = read_map(objects, latest) else {
        return HashSet::new();
    };
    let mut set = HashSet::new();
    for entry in reader {
        match entry {
            Ok(e) if e.kind == EntryKind::File && e.hash_valid() => {
                set.insert(e.hash);
            }
            Ok(_) => {}
            Err(_) => return HashSet::new(),
        }
    }
    set
}

/// The entries of a snapshot's map, streamed from the object store.
pub fn read_map(
    objects: &ObjectStore,
    snap: &Snapshot,
) -> anyhow::Result<MapReader<Box<dyn Read + Send>>> {
    let reader = objects.reader(&snap.map_object).with_context(|| {
        format!(
            "snapshot {}: its map is missing from the object store",
            snap.id
        )
    })?;
    MapReader::new(reader, format!("snapshot {}", snap.id))
}

/// The other side of a snapshot diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Worktree,
    Snapshot(i64),
}

/// The result of a diff.
pub struct SnapshotDiff {
    pub deltas: Vec<Delta>,
    /// The working tree could not be mapped completely.
    pub partial: bool,
    pub problems: Vec<Problem>,
    pub old_label: String,
    pub new_label: String,
}

/// Differences from snapshot `a` to `b` (the working tree, mapped with `a`'s globs).
pub fn diff_snapshot(
    project: &Project,
    store: &Store,
    a: i64,
    b: Target,
    progress: &Progress,
) -> anyhow::Result<SnapshotDiff> {
    let objects = ObjectStore::open(&project.root)?;
    let sa = get(store, a)?;
    let old = read_map(&objects, &sa)?;
    let old_label = format!("snapshot {a}");
    let (deltas, partial, problems, new_label) = match b {
        Target::Worktree => {
            let (path, report) = map_worktree(
                project,
                sa.domain.as_deref(),
                &sa.include,
                &sa.exclude,
                progress,
            )?;
            let new = MapReader::open(&path)?;
            let deltas = diff(old, new).collect::<anyhow::Result<Vec<_>>>()?;
            (
                deltas,
                report.partial,
                report.problems,
                "working tree".to_string(),
            )
        }
        Target::Snapshot(bid) => {
            let sb = get(store, bid)?;
            let new = read_map(&objects, &sb)?;
            let deltas = diff(old, new).collect::<anyhow::Result<Vec<_>>>()?;
            (deltas, sb.partial, Vec::new(), format!("snapshot {bid}"))
        }
    };
    Ok(SnapshotDiff {
        deltas,
        partial: partial || sa.partial,
        problems,
        old_label,
        new_label,
    })
}

/// Turn a diff into a change set for Compare: old content from the object store, new from
/// the object store or the working tree.
pub fn change_set(project: &Project, d: &SnapshotDiff, new_is_worktree: bool) -> ChangeSet {
    let content = |e: &Option<Entry>, worktree: bool| -> Content {
        match e {
            None => Content::Missing,
            Some(e) if worktree && e.kind == EntryKind::Symlink => {
                let abs = project.root.join(std::ffi::OsStr::from_bytes(&e.path));
                std::fs::read_link(abs)
                    .map(|t| Content::Bytes(Arc::new(t.as_os_str().as_bytes().to_vec())))
                    .unwrap_or(Content::Missing)
            }
            Some(e) if worktree => {
                Content::File(project.root.join(std::ffi::OsStr::from_bytes(&e.path)))
            }
            Some(e) => Content::Object(e.hash_hex()),
        }
    };
    let changes = d
        .deltas
        .iter()
        .map(|delta| Change {
            path: String::from_utf8_lossy(delta.path()).into_owned(),
            raw_path: delta.path().to_vec(),
            kind: delta.kind,
            old: content(&delta.old, false),
            new: content(&delta.new, new_is_worktree),
            old_size: delta.old.as_ref().map(|e| e.size),
            new_size: delta.new.as_ref().map(|e| e.size),
            old_mode: delta.old.as_ref().map(|e| e.mode),
            new_mode: delta.new.as_ref().map(|e| e.mode),
        })
        .collect();
    ChangeSet {
        title: format!("{} → {}", d.old_label, d.new_label),
        old_label: d.old_label.clone(),
        new_label: d.new_label.clone(),
        changes,
        root: project.root.clone(),
        partial: d.partial,
    }
}

/// Remove objects no snapshot, recycle bin entry or undoable replace references.
pub fn gc(project: &Project, store: &Store) -> anyhow::Result<objects::GcReport> {
    let objects = ObjectStore::open(&project.root)?;
    let mut keep = HashSet::new();
    let mut db_objects = store
        .conn()
        .prepare("SELECT db_object FROM _dev_snapshots WHERE db_object IS NOT NULL")?;
    for id in db_objects.query_map([], |r| r.get::<_, String>(0))? {
        keep.insert(id?);
    }
    for snap in snapshots::snapshots(store.conn())? {
        keep.insert(snap.map_object.clone());
        for e in read_map(&objects, &snap)? {
            let e = e?;
            if e.hash_valid() {
                keep.insert(e.hash_hex());
            }
        }
    }
    keep.extend(crate::engine::scripts::referenced_objects(project, store)?);
    // The recycle bin's files and what a replace needs to be undone.
    for e in crate::engine::bin::Bin::open(&project.root)?.list()? {
        keep.insert(e.object);
    }
    keep.extend(crate::engine::replace::ops::objects(&project.root)?);
    objects.gc(&keep)
}

/// Save a domain after checking its globs.
pub fn save_domain(store: &Store, d: &Domain) -> anyhow::Result<()> {
    if d.name.trim().is_empty() {
        bail!("a domain needs a name");
    }
    matcher(&d.include, &d.exclude)?;
    snapshots::put_domain(store.conn(), d, now())?;
    Ok(())
}

fn hex_to_hash(hex: &str) -> anyhow::Result<[u8; 32]> {
    Ok(*blake3::Hash::from_hex(hex)
        .context("bad object id")?
        .as_bytes())
}

#[cfg(test)]
mod tests;
