//! Change scripts ("Create Script") and builds ("Build Script", "My Builds"): files and
//! database as one change (docs/SCRIPTS.md).
//!
//! A script is the difference between a snapshot and the working tree (or a second
//! snapshot): every file added, changed or deleted with its pre-image (kind, blake3, mode,
//! size before and after; contents in the object store), and the database part as the two
//! database snapshots it was made from, filtered by the noise filters, from which
//! `engine::db::snapshot::between` gives the forward steps and their reverses (with the
//! pre-images that restore dropped rows and columns). It is stored as a `_dev_packages`
//! row with DEV.SKY's header fields and as codebase records in the floating area.
//!
//! [`build`] applies one to a target folder and database; the files half goes through the
//! deploy engine (`engine::deploy`: a package, then its journaled, verified apply and
//! recovery), the SQL half is journaled step by step in the build's row.

pub mod build;
pub(crate) mod dbpart;
pub mod preview;
pub mod rollback;
pub mod server_build;
pub mod wind;

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::engine::db::profile;
use crate::engine::db::snapshot::{DbSnapshot, Mode, Script, between, take};
use crate::engine::jobs::Progress;
use crate::engine::map::{Entry, EntryKind};
use crate::engine::project::Project;
use crate::engine::snapshot::objects::ObjectStore;
use crate::engine::snapshot::{self, Target};
use crate::store::codebase::{self, Body, NewRecord};
use crate::store::scripts::{self as rows, Package};
use crate::store::snapshots::Snapshot;
use crate::store::{Store, now, settings};

/// A path's content on one side of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// `file` or `symlink`.
    pub kind: String,
    pub blake3: String,
    pub mode: u32,
    pub size: u64,
}

impl FileState {
    fn of(e: &Entry) -> FileState {
        FileState {
            kind: if e.kind == EntryKind::Symlink {
                "symlink".into()
            } else {
                "file".into()
            },
            blake3: e.hash_hex(),
            mode: e.mode & 0o7777,
            size: e.size,
        }
    }
}

/// One path a script changes: what it must hold before (None: nothing) and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub before: Option<FileState>,
    pub after: Option<FileState>,
}

impl FileChange {
    /// `added`, `deleted` or `changed`.
    pub fn what(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, _) => "added",
            (_, None) => "deleted",
            _ => "changed",
        }
    }
}

/// Noise filters: paths, tables and columns (`TABLE.COLUMN`) a script leaves out.
/// Remembered per domain (`scripts.filters.<domain>` in `_dev_settings`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub columns: Vec<String>,
}

impl Filters {
    fn key(domain: Option<&str>) -> String {
        format!("scripts.filters.{}", domain.unwrap_or("*"))
    }

    /// The filters remembered for a domain (None: the whole project).
    pub fn remembered(store: &Store, domain: Option<&str>) -> anyhow::Result<Filters> {
        Ok(settings::get(store.conn(), &Filters::key(domain))?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default())
    }

    /// These filters added to the ones remembered for the domain, remembered, returned.
    fn remember(self, store: &Store, domain: Option<&str>) -> anyhow::Result<Filters> {
        let old = Filters::remembered(store, domain)?;
        let join = |a: Vec<String>, b: Vec<String>| -> Vec<String> {
            a.into_iter()
                .chain(b)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        let f = Filters {
            paths: join(old.paths, self.paths),
            tables: join(old.tables, self.tables),
            columns: join(old.columns, self.columns),
        };
        for c in &f.columns {
            if !c.contains('.') {
                bail!("bad --exclude-column {c:?}: use TABLE.COLUMN");
            }
        }
        snapshot::matcher(&[], &f.paths)?;
        settings::set(
            store.conn(),
            &Filters::key(domain),
            &serde_json::to_string(&f)?,
        )?;
        Ok(f)
    }

    /// Columns excluded in `table`.
    fn columns_of(&self, table: &str) -> Vec<String> {
        self.columns
            .iter()
            .filter_map(|c| c.split_once('.'))
            .filter(|(t, _)| *t == table)
            .map(|(_, c)| c.to_string())
            .collect()
    }
}

/// What `devsky script create` takes.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub from: String,
    pub to: Option<String>,
    pub name: Option<String>,
    pub filters: Filters,
    /// Only these changed paths (the ticked ones; None: every change).
    pub only_paths: Option<BTreeSet<String>>,
    /// Only these changed tables (None: every change).
    pub only_tables: Option<BTreeSet<String>>,
}

/// What changed from a snapshot to the working tree or a second snapshot, through the
/// filters: the files, and the database part (profile, before, after) with the tables it
/// touches.
pub struct Diffed {
    pub files: Vec<FileChange>,
    pub db: Option<(String, DbSnapshot, DbSnapshot)>,
    pub tables: BTreeSet<String>,
}

/// The changes a script from `from` (to `to`, or the working tree) could carry, through
/// the filters remembered for its domain (nothing is stored or remembered): what the
/// Scripts screen lists with checkboxes before it creates one.
pub fn candidates(
    project: &Project,
    store: &Store,
    from: &str,
    to: Option<&str>,
    progress: &Progress,
) -> anyhow::Result<Diffed> {
    let from = snapshot::resolve(store, from)?;
    let to = to.map(|s| snapshot::resolve(store, s)).transpose()?;
    let filters = Filters::remembered(store, from.domain.as_deref())?;
    diffed(project, store, &from, to.as_ref(), &filters, progress)
}

fn diffed(
    project: &Project,
    store: &Store,
    from: &Snapshot,
    to: Option<&Snapshot>,
    filters: &Filters,
    progress: &Progress,
) -> anyhow::Result<Diffed> {
    let target = to.map_or(Target::Worktree, |s| Target::Snapshot(s.id));
    let d = snapshot::diff_snapshot(project, store, from.id, target, progress)?;
    if d.partial {
        bail!(
            "{} → {} is partial (files that could not be read): a script needs every file; {}",
            d.old_label,
            d.new_label,
            d.problems
                .iter()
                .map(|p| format!("{}: {}", p.path, p.reason))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let leave_out = snapshot::matcher(&[], &filters.paths)?;
    let mut files = Vec::new();
    for delta in &d.deltas {
        let path = std::str::from_utf8(delta.path())
            .map_err(|_| {
                anyhow::anyhow!(
                    "{:?} is not a UTF-8 name; scripts carry UTF-8 names only",
                    String::from_utf8_lossy(delta.path())
                )
            })?
            .to_string();
        if leave_out.as_ref().is_some_and(|keep| !keep(delta.path()))
            || [&delta.old, &delta.new]
                .into_iter()
                .flatten()
                .any(|e| e.kind == EntryKind::Dir)
        {
            continue;
        }
        files.push(FileChange {
            path,
            before: delta.old.as_ref().map(FileState::of),
            after: delta.new.as_ref().map(FileState::of),
        });
    }
    let objects = ObjectStore::open(&project.root)?;
    let mut db = None;
    let mut tables = BTreeSet::new();
    if let Some((prof, obj)) = snapshot::db_part(store, from.id)? {
        let old = DbSnapshot::load(&objects, &obj)?;
        let new = match to {
            Some(s) => {
                let (_, o) = snapshot::db_part(store, s.id)?.with_context(|| {
                    format!(
                        "snapshot {} has no database part, snapshot {} has",
                        s.id, from.id
                    )
                })?;
                DbSnapshot::load(&objects, &o)?
            }
            None => {
                progress.set(0, None, "reading the database");
                let mut db = profile::connect(&project.root, store, &prof, None)?;
                take(db.as_mut(), &|t| {
                    old.modes.get(t).copied().unwrap_or(Mode::Auto)
                })?
            }
        };
        let (old, new) = dbpart::filtered(old, new, filters);
        tables = dbpart::touched_tables(&between(&old, &new, &[])?);
        db = Some((prof, old, new));
    }
    Ok(Diffed { files, db, tables })
}

/// A script loaded: its row, its file changes and its database part.
pub struct Loaded {
    pub package: Package,
    pub files: Vec<FileChange>,
    /// The database before and after (filtered), when the script has a database part.
    pub db: Option<(DbSnapshot, DbSnapshot)>,
}

impl Loaded {
    /// The SQL steps from the database part (forward and reverse of each).
    pub fn script(&self) -> anyhow::Result<Option<Script>> {
        self.db
            .as_ref()
            .map(|(old, new)| between(old, new, &[]).map_err(anyhow::Error::from))
            .transpose()
    }

    /// The tables the SQL touches.
    pub fn tables(&self) -> anyhow::Result<BTreeSet<String>> {
        Ok(self
            .script()?
            .map(|s| dbpart::touched_tables(&s))
            .unwrap_or_default())
    }
}

/// A script by id (`3`, `#3`) or name.
pub fn resolve(store: &Store, spec: &str) -> anyhow::Result<Package> {
    let all = rows::packages(store.conn())?;
    let spec = spec.trim();
    if let Ok(id) = spec.trim_start_matches('#').parse::<i64>()
        && let Some(p) = all.iter().find(|p| p.id == id)
    {
        return Ok(p.clone());
    }
    let named: Vec<&Package> = all.iter().filter(|p| p.name == spec).collect();
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!("no script {spec:?}; `devsky script list` shows them"),
        many => bail!(
            "{} scripts are named {spec:?} (ids {}); give the id instead",
            many.len(),
            many.iter()
                .map(|p| p.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Load a script's parts from the object store.
pub fn load(project: &Project, package: Package) -> anyhow::Result<Loaded> {
    let objects = ObjectStore::open(&project.root)?;
    let files: Vec<FileChange> = serde_json::from_slice(
        &objects
            .get(&package.files_object)
            .with_context(|| format!("script {}: its file list is missing", package.id))?,
    )
    .with_context(|| format!("script {}: its file list is damaged", package.id))?;
    let db = match (&package.db_old, &package.db_new) {
        (Some(o), Some(n)) => Some((
            DbSnapshot::load(&objects, o)?,
            DbSnapshot::load(&objects, n)?,
        )),
        _ => None,
    };
    Ok(Loaded { package, files, db })
}

/// Every object the scripts reference (kept by `gc`).
pub fn referenced_objects(project: &Project, store: &Store) -> anyhow::Result<BTreeSet<String>> {
    let mut keep = BTreeSet::new();
    for p in rows::packages(store.conn())? {
        let l = load(project, p.clone())?;
        keep.insert(p.files_object.clone());
        keep.extend(p.db_old.clone());
        keep.extend(p.db_new.clone());
        for f in &l.files {
            for s in [&f.before, &f.after].into_iter().flatten() {
                keep.insert(s.blake3.clone());
            }
        }
    }
    Ok(keep)
}

/// Create a script (see the module doc).
pub fn create(
    project: &Project,
    store: &mut Store,
    opts: CreateOptions,
    progress: &Progress,
) -> anyhow::Result<Package> {
    let from = snapshot::resolve(store, &opts.from)?;
    let to = opts
        .to
        .as_deref()
        .map(|s| snapshot::resolve(store, s))
        .transpose()?;
    let mut filters = opts.filters.remember(store, from.domain.as_deref())?;
    let Diffed {
        mut files,
        db,
        tables,
    } = diffed(project, store, &from, to.as_ref(), &filters, progress)?;
    if let Some(only) = &opts.only_paths {
        let have: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        if let Some(p) = only.iter().find(|p| !have.contains(p.as_str())) {
            bail!("--only {p}: not among the changes of this script");
        }
        files.retain(|f| only.contains(&f.path));
    }
    if let Some(only) = &opts.only_tables {
        if let Some(t) = only.iter().find(|t| !tables.contains(*t)) {
            bail!("--only-table {t}: not among the tables this script changes");
        }
        // The tables left out are this script's own filter (not remembered).
        filters
            .tables
            .extend(tables.iter().filter(|t| !only.contains(*t)).cloned());
    }
    let objects = ObjectStore::open(&project.root)?;
    // One batch (no fsync per file): durable together before the script's row names them.
    let files_object = objects.batch(|objects| {
        if to.is_none() {
            // The working tree: keep what the script will write.
            for f in &files {
                let Some(a) = &f.after else { continue };
                let abs = project
                    .root
                    .join(std::ffi::OsStr::from_bytes(f.path.as_bytes()));
                let stored = if a.kind == "symlink" {
                    objects.put_bytes(std::fs::read_link(&abs)?.as_os_str().as_bytes())?
                } else {
                    objects.put_file(&abs, Some(&a.blake3), true)?
                };
                if stored.id != a.blake3 {
                    bail!(
                        "{} changed while the script was made; make it again",
                        f.path
                    );
                }
            }
        }
        Ok(objects.put_bytes(&serde_json::to_vec(&files)?)?.id)
    })?;
    // The database part.
    let mut db_old = None;
    let mut db_new = None;
    let mut db_profile = None;
    let mut notes = Vec::new();
    let mut sql_steps = 0;
    if let Some((prof, old, new)) = db {
        let (old, new) = dbpart::filtered(old, new, &filters);
        let script = between(&old, &new, &[])?;
        sql_steps = script
            .steps
            .iter()
            .filter(|s| !s.forward.is_empty() || !s.reverse.is_empty())
            .count() as i64;
        notes = script.notes.clone();
        db_old = Some(old.save(&objects)?);
        db_new = Some(new.save(&objects)?);
        db_profile = Some(prof);
    }
    let app = project
        .root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let user = std::env::var("USER").unwrap_or_default();
    let name = opts.name.clone().unwrap_or_else(|| {
        format!(
            "{app}-{}",
            crate::engine::util::units::format_time(now()).replace([' ', ':'], "-")
        )
    });
    let mut package = Package {
        id: 0,
        name,
        version: "1".into(),
        sky_id: 0,
        app,
        depends: Vec::new(),
        included: vec![from.name.clone(), "work".into()],
        priorun: Vec::new(),
        authors: user.clone(),
        from_snapshot: from.id,
        to_snapshot: to.as_ref().map(|s| s.id),
        domain: from.domain.clone(),
        files_object,
        files: files.len() as i64,
        db_profile,
        db_old,
        db_new,
        sql_steps,
        filters: serde_json::to_value(&filters)?,
        notes,
        first_record: None,
        last_record: None,
        created: now(),
    };
    let loaded_sql = Loaded {
        package: package.clone(),
        files: Vec::new(),
        db: match (&package.db_old, &package.db_new) {
            (Some(o), Some(n)) => Some((
                DbSnapshot::load(&objects, o)?,
                DbSnapshot::load(&objects, n)?,
            )),
            _ => None,
        },
    }
    .script()?;
    let id = store.write(|tx| {
        let mut ids = Vec::new();
        for f in &files {
            let body = match &f.after {
                Some(a) if a.kind == "file" && a.size <= 256 << 10 => {
                    Body::from_bytes(objects.get(&a.blake3)?)
                }
                _ => Body::Text(String::new()),
            };
            ids.push(codebase::insert(
                tx,
                &NewRecord {
                    name: format!("f:{}", f.path),
                    kind: "change".into(),
                    body,
                    authors: user.clone(),
                    package: package.name.clone(),
                    status: f.what().into(),
                },
                now(),
            )?);
        }
        if let Some(s) = &loaded_sql {
            for (name, text) in [
                ("sql:forward", s.forward_sql()),
                ("sql:reverse", s.reverse_sql()),
            ] {
                ids.push(codebase::insert(
                    tx,
                    &NewRecord {
                        name: name.into(),
                        kind: "sql".into(),
                        body: Body::Text(text),
                        authors: user.clone(),
                        package: package.name.clone(),
                        status: "new".into(),
                    },
                    now(),
                )?);
            }
        }
        package.first_record = ids.first().copied();
        package.last_record = ids.last().copied();
        Ok(rows::insert_package(tx, &package)?)
    })?;
    package.id = id;
    Ok(package)
}
