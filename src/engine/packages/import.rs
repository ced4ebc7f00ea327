//! Import: an archive into the store as a package and its codebase records.
//!
//! Fixed-area records (ids <= 50000) keep their ids: one already here with the same name,
//! version and content is shared, one with different content is a conflict. Floating
//! records are rebased into the store's free floating range, in archive order, and every
//! reference to them is rewritten (`RUN CODEBASE: <id>`, `priorun`, `start_id`). A
//! Coresky archive's files, SQL and folders become records of their own. Conflicts are
//! all reported and nothing is written; otherwise everything is written in one
//! transaction.

use std::collections::BTreeMap;

use serde::Serialize;

use super::archive::{Archive, Entry, Record};
use super::refs;
use crate::engine::project::Project;
use crate::engine::snapshot::objects::ObjectStore;
use crate::store::codebase::{self, Area, Body, FIXED_AREA_MAX, NewRecord};
use crate::store::packages as extra;
use crate::store::scripts::{self as rows, Package};
use crate::store::{Store, now};

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    /// The package's id in `_dev_packages`.
    pub package: i64,
    pub name: String,
    pub version: String,
    /// (id in the archive, id here, name) of every record.
    pub records: Vec<(i64, i64, String)>,
    /// Fixed-area records that were already here, identical.
    pub shared: usize,
    pub coresky: bool,
}

/// The result: imported, or the conflicts that stopped it (nothing written).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    Imported(Imported),
    Conflicts { conflicts: Vec<String> },
}

/// A Coresky archive (or any archive with `FILE:`, `SQL:`, `DIRS:` entries) as records
/// only: each file a `f:<path>` record, the SQL an `sql:<n>` record, the folders one
/// `dirs:` record, numbered after the archive's own records. Names and versions that a
/// Coresky header lacks come from `fallback_name` and `1`.
pub fn as_records(mut a: Archive, fallback_name: &str) -> Archive {
    let coresky = !a.header.is_devsky();
    let mut next = a
        .records()
        .map(|r| r.id)
        .max()
        .unwrap_or(0)
        .max(FIXED_AREA_MAX);
    let authors = a.header.authors.clone();
    let mut sqls = 0;
    let mut rec = |name: String, kind: &str, body: Vec<u8>| {
        next += 1;
        Entry::Record(Record {
            id: next,
            name,
            version: "1".into(),
            kind: kind.into(),
            status: "new".into(),
            authors: authors.clone(),
            body,
        })
    };
    a.entries = a
        .entries
        .into_iter()
        .map(|e| match e {
            Entry::Record(r) => Entry::Record(r),
            Entry::File { path, data } => rec(format!("f:{path}"), "file", data),
            Entry::Sql(sql) => {
                sqls += 1;
                rec(format!("sql:{sqls}"), "sql", sql)
            }
            Entry::Dirs(d) => rec("dirs:".into(), "dirs", d.join("\n").into_bytes()),
        })
        .collect();
    if coresky {
        if a.header.name.is_empty() {
            a.header.name = fallback_name.to_string();
        }
        if a.header.version.is_empty() {
            a.header.version = "1".into();
        }
    }
    a
}

/// Import `archive` (read and verified) into the project's store; `source` names it in
/// the package's notes.
pub fn import(
    project: &Project,
    store: &mut Store,
    archive: Archive,
    source: &str,
) -> anyhow::Result<Outcome> {
    let checksum = archive.header.checksum.clone();
    let coresky = !archive.header.is_devsky();
    let stem = std::path::Path::new(source)
        .file_stem()
        .map(|s| s.to_string_lossy().trim_end_matches(".sky").to_string())
        .unwrap_or_else(|| "coresky".into());
    let a = as_records(archive, &stem);
    let h = a.header.clone();
    let records: Vec<Record> = a.records().cloned().collect();
    // An empty list of changed files: an imported package is records, not a file diff.
    let files_object = ObjectStore::open(&project.root)?.put_bytes(b"[]")?.id;
    let mut notes = vec![format!("imported from {source}")];
    notes.extend(h.extra.iter().map(|(k, v)| format!("{k} {v}")));
    store.write(|tx| {
        let mut conflicts = Vec::new();
        if let Some((id, _)) = extra::find(tx, &h.name, &h.version)? {
            conflicts.push(format!(
                "package {} version {} is already in this store (#{id})",
                h.name, h.version
            ));
        }
        // Floating ids of the archive -> free ids here, in archive order.
        let base = codebase::next_floating_id(tx)?;
        let map: BTreeMap<i64, i64> = records
            .iter()
            .filter(|r| Area::of(r.id) == Area::Floating)
            .enumerate()
            .map(|(i, r)| (r.id, base + i as i64))
            .collect();
        let local = |id: i64, from: &str, conflicts: &mut Vec<String>| -> i64 {
            if Area::of(id) == Area::Fixed {
                return id;
            }
            map.get(&id).copied().unwrap_or_else(|| {
                conflicts.push(format!(
                    "{from} refers to floating record {id}, which the archive does not hold"
                ));
                id
            })
        };
        let mut plan = Vec::new();
        let mut shared = 0;
        for r in &records {
            let body = match refs::as_text(&r.body) {
                Some(t) => refs::rewrite::<()>(t, |id| {
                    Ok(local(id, &format!("record {} ({})", r.id, r.name), &mut conflicts))
                })
                .unwrap_or_default()
                .into_bytes(),
                None => r.body.clone(),
            };
            let id = local(r.id, "the archive", &mut conflicts);
            if Area::of(r.id) == Area::Fixed
                && let Some(here) = codebase::get(tx, r.id)?
            {
                let theirs = blake3::hash(&body).to_hex().to_string();
                if here.name == r.name && here.version == r.version && here.hash == theirs {
                    shared += 1;
                    plan.push((r, id, None));
                    continue;
                }
                conflicts.push(format!(
                    "fixed record {}: this store has {} version {} ({}…), the archive has {} version {} ({}…)",
                    r.id,
                    here.name,
                    here.version,
                    &here.hash[..here.hash.len().min(12)],
                    r.name,
                    r.version,
                    &theirs[..12]
                ));
                continue;
            }
            plan.push((r, id, Some(body)));
        }
        let priorun: Vec<String> = h
            .priorun
            .iter()
            .map(|p| match refs::priorun_id(p) {
                Some(id) => local(id, "priorun", &mut conflicts).to_string(),
                None => p.clone(),
            })
            .collect();
        let start_id = if h.start_id == 0 {
            0
        } else {
            local(h.start_id, "start_id", &mut conflicts)
        };
        if !conflicts.is_empty() {
            return Ok(Outcome::Conflicts { conflicts });
        }
        let t = now();
        for (r, id, body) in &plan {
            let Some(body) = body else { continue };
            codebase::insert_with_id(
                tx,
                *id,
                &NewRecord {
                    name: r.name.clone(),
                    kind: r.kind.clone(),
                    body: Body::from_bytes(body.clone()),
                    authors: r.authors.clone(),
                    package: h.name.clone(),
                    status: r.status.clone(),
                },
                t,
            )?;
            codebase::set_version(tx, *id, &r.version)?;
        }
        let floating: Vec<i64> = map.values().copied().collect();
        let package = Package {
            id: 0,
            name: h.name.clone(),
            version: h.version.clone(),
            sky_id: h.sky_id,
            app: h.app.clone(),
            depends: h.depends.clone(),
            included: h.included.clone(),
            priorun,
            authors: h.authors.clone(),
            from_snapshot: 0,
            to_snapshot: None,
            domain: None,
            files_object: files_object.clone(),
            files: 0,
            db_profile: None,
            db_old: None,
            db_new: None,
            sql_steps: 0,
            filters: serde_json::json!({}),
            notes: notes.clone(),
            first_record: floating.iter().min().copied(),
            last_record: floating.iter().max().copied(),
            created: t,
        };
        let pid = rows::insert_package(tx, &package)?;
        let origin = if coresky {
            "import coresky".to_string()
        } else {
            extra::import_origin(&checksum)
        };
        extra::set_extra(tx, pid, start_id, &origin)?;
        let ids: Vec<i64> = plan.iter().map(|(_, id, _)| *id).collect();
        extra::set_records(tx, pid, &ids)?;
        Ok(Outcome::Imported(Imported {
            package: pid,
            name: h.name.clone(),
            version: h.version.clone(),
            records: plan
                .iter()
                .map(|(r, id, _)| (r.id, *id, r.name.clone()))
                .collect(),
            shared,
            coresky,
        }))
    })
}
