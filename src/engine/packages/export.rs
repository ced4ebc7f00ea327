//! Export: a package of the store as an archive.
//!
//! The package's records go in its order; floating ids (> 50000) are renumbered from
//! 50001 in that order and every reference to them (`RUN CODEBASE: <id>` in text bodies,
//! `priorun` ids, `start_id`) is rewritten; fixed ids travel unchanged. A reference to a
//! floating record outside the package means nothing elsewhere: export refuses it (Tune
//! lists it). Nothing time-dependent is written, so the bytes depend only on the package.

use std::collections::BTreeMap;

use anyhow::{Context, bail};

use super::archive::{self, Archive, Entry, Header, Record};
use super::refs;
use crate::store::Store;
use crate::store::codebase::{self, Area, FIXED_AREA_MAX};
use crate::store::packages as extra;
use crate::store::scripts::Package;

/// A package laid out as an archive, with what could not be rewritten.
pub struct Plan {
    pub archive: Archive,
    /// References to floating records outside the package, each said as a sentence.
    pub dangling: Vec<String>,
    /// The store's ids of the records, in archive order.
    pub local_ids: Vec<i64>,
}

/// Lay the package out as an archive (see the module doc); dangling references are kept
/// as they are and listed.
pub fn plan(store: &Store, package: &Package) -> anyhow::Result<Plan> {
    let conn = store.conn();
    let ids = extra::records(conn, package.id)?;
    let (start_id, _) = extra::extra(conn, package.id)?.unwrap_or_default();
    let mut map = BTreeMap::new();
    let mut next = FIXED_AREA_MAX;
    for id in &ids {
        if Area::of(*id) == Area::Floating {
            next += 1;
            map.insert(*id, next);
        }
    }
    let mut dangling = Vec::new();
    let mut to_archive = |id: i64, from: &str| -> i64 {
        if Area::of(id) == Area::Fixed {
            return id;
        }
        match map.get(&id) {
            Some(n) => *n,
            None => {
                dangling.push(format!(
                    "{from} refers to floating record {id}, which is not in the package"
                ));
                id
            }
        }
    };
    let mut entries = Vec::new();
    for id in &ids {
        let rec = codebase::get(conn, *id)?.with_context(|| {
            format!(
                "record {id} of package {:?} is missing from the codebase",
                package.name
            )
        })?;
        let bytes = rec.body.as_bytes();
        let body = match refs::as_text(bytes) {
            Some(text) => refs::rewrite::<()>(text, |r| {
                Ok(to_archive(r, &format!("record {id} ({})", rec.name)))
            })
            .unwrap_or_default()
            .into_bytes(),
            None => bytes.to_vec(),
        };
        entries.push(Entry::Record(Record {
            id: to_archive(*id, "the package"),
            name: rec.name,
            version: rec.version,
            kind: rec.kind,
            status: rec.status,
            authors: rec.authors,
            body,
        }));
    }
    let priorun = package
        .priorun
        .iter()
        .map(|p| match refs::priorun_id(p) {
            Some(id) => to_archive(id, "priorun").to_string(),
            None => p.clone(),
        })
        .collect();
    let start_id = if start_id == 0 {
        0
    } else {
        to_archive(start_id, "start_id")
    };
    let header = Header {
        name: package.name.clone(),
        version: package.version.clone(),
        sky_id: package.sky_id,
        app: package.app.clone(),
        depends: package.depends.clone(),
        included: package.included.clone(),
        priorun,
        authors: package.authors.clone(),
        start_id,
        ..Header::default()
    };
    Ok(Plan {
        archive: Archive { header, entries },
        dangling,
        local_ids: ids,
    })
}

/// The archive's bytes (bzip2), refused when a reference cannot travel.
pub fn export(store: &Store, package: &Package) -> anyhow::Result<Vec<u8>> {
    let plan = plan(store, package)?;
    if !plan.dangling.is_empty() {
        bail!(
            "package {:?} cannot be exported: {}.\nAdd those records to the package, or run \
             `devsky package tune {}` for every finding.",
            package.name,
            plan.dangling.join("; "),
            package.id
        );
    }
    Ok(archive::write(&plan.archive)?)
}

/// The file name an archive of this package gets in `--dir`: `<name>-<version>.sky`,
/// anything but letters, digits, `.`, `_` and `-` turned into `_`.
pub fn file_name(package: &Package) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let name = clean(&package.name);
    let name = name.trim_start_matches('.');
    format!("{}-{}.sky", name, clean(&package.version))
}
