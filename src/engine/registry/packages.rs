//! `devsky submit` and `devsky install`: packages between the store and the registry.
//!
//! Submit Tunes a package of the store (errors refuse it), refuses records that someone
//! else has taken into work (the registry's claims), reserves the name and version (the
//! SKY_ID is kept on the package at once, so FORMATS.md's "a second new package waits for
//! the first one's SKY_ID" holds), exports the archive with that SKY_ID and uploads it
//! with its blake3 and `depends`. Install syncs the index, resolves `depends` over it
//! ([`RegistryIndex`]), downloads each archive into the cache (by blake3, verified again
//! when read) and imports it, dependencies first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;

use super::client::{Claim, Dep, Published, Reservation};
use super::local::LocalIndex;
use super::{cache_dir, client};
use crate::engine::packages::archive;
use crate::engine::packages::import::{self, Outcome};
use crate::engine::packages::resolve::{self, Index, ResolveError};
use crate::engine::packages::tune::{Finding, Level};
use crate::engine::packages::{export, tune_package};
use crate::engine::project::Project;
use crate::store::Store;
use crate::store::packages as extra;
use crate::store::scripts::{self as rows, Package};

/// What a submit did, or why not.
#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Submitted {
    Published {
        published: Published,
        findings: Vec<Finding>,
    },
    /// Tune found errors: nothing was sent.
    Tune { findings: Vec<Finding> },
    /// Records of the package are taken into work by someone else: nothing was sent.
    Claimed { theirs: Vec<Claim> },
}

/// A `depends` entry as reserve takes it: `name@req` or `name` (any version).
fn dep(d: &str) -> Dep {
    let (name, req) = d.split_once('@').unwrap_or((d, "*"));
    Dep {
        name: name.to_string(),
        req: req.to_string(),
    }
}

/// Submit `package` of the project's store to its registry.
pub fn submit(
    project: &Project,
    store: &Store,
    package: &Package,
    in_work: bool,
) -> anyhow::Result<Submitted> {
    let findings = tune_package(store, package)?;
    if findings.iter().any(|f| f.level == Level::Error) {
        return Ok(Submitted::Tune { findings });
    }
    let client = client(&project.root, store)?;
    let plan = export::plan(store, package)?;
    let names: Vec<String> = plan
        .archive
        .records()
        .zip(&plan.local_ids)
        .map(|(r, id)| super::claim_key(*id, &r.name))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !names.is_empty() {
        let v = client.verify(&names)?;
        if !v.theirs.is_empty() {
            return Ok(Submitted::Claimed { theirs: v.theirs });
        }
    }
    let depends: Vec<Dep> = package.depends.iter().map(|d| dep(d)).collect();
    let sky_id = match client.try_reserve(&package.name, &package.version, &depends, in_work)? {
        Reservation::Reserved(id) => id,
        // Reserved by an earlier submit of this package that did not finish its upload.
        Reservation::Taken {
            sky_id,
            published: false,
            ..
        } if sky_id == package.sky_id => sky_id,
        Reservation::Taken {
            sky_id,
            reserved_by,
            published,
        } => bail!(
            "{} {} is {} on the registry already (by {reserved_by}, SKY_ID {sky_id}); versions \
             never change: give this package a new version (`devsky package set {} --version V`)",
            package.name,
            package.version,
            if published { "published" } else { "reserved" },
            package.id
        ),
    };
    if sky_id != package.sky_id {
        extra::set_sky_id(store.conn(), package.id, sky_id)?;
    }
    let package = rows::package(store.conn(), package.id)?
        .with_context(|| format!("package #{} vanished", package.id))?;
    let bytes = export::export(store, &package)?;
    let dir = project.root.join(crate::store::STATE_DIR);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    std::io::Write::write_all(&mut tmp, &bytes)?;
    tmp.as_file().sync_all()?;
    let published = client.upload(&package.name, &package.version, sky_id, tmp.path())?;
    Ok(Submitted::Published {
        published,
        findings,
    })
}

/// The project's copy of the registry's index as the resolver's index: versions not
/// yanked, with their `depends`.
pub struct RegistryIndex<'a>(pub &'a LocalIndex);

/// The `depends` the registry keeps (`[{"name", "req"}]`) as the resolver's.
fn parse_depends(json: &str) -> anyhow::Result<Vec<resolve::Dep>> {
    let deps: Vec<Dep> = if json.trim().is_empty() || json == "null" {
        vec![]
    } else {
        serde_json::from_str(json).context("the index's depends are not a list")?
    };
    deps.iter()
        .map(|d| Ok(resolve::parse_dep(&format!("{}@{}", d.name, d.req))?))
        .collect()
}

impl Index for RegistryIndex<'_> {
    fn versions(&self, name: &str) -> anyhow::Result<Vec<(semver::Version, Vec<resolve::Dep>)>> {
        let mut out = vec![];
        for v in self.0.versions_of(name)? {
            if v.yanked {
                continue;
            }
            let ver = resolve::parse_version(&v.version)
                .map_err(|e| anyhow::anyhow!("{name} {}: {e}", v.version))?;
            let deps =
                parse_depends(&v.depends).with_context(|| format!("{name} {}", v.version))?;
            out.push((ver, deps));
        }
        Ok(out)
    }
}

/// One package an install chose.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub checksum: String,
    /// Its id in the store (imported now, or there already).
    pub package: i64,
    pub already: bool,
    /// Records written (0 when already there).
    pub records: usize,
    /// Downloaded now (false: from the cache).
    pub downloaded: bool,
}

/// What an install did, or why not.
#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InstallOutcome {
    Installed {
        installed: Vec<Installed>,
    },
    /// No set of versions works: why, step by step.
    NoSolution {
        explanation: String,
    },
    /// An archive could not be imported (nothing of it written; those before it stay).
    Conflicts {
        package: String,
        conflicts: Vec<String>,
        installed: Vec<Installed>,
    },
}

/// The index version of `name` that is `v` (versions are lenient: `1` is 1.0.0).
fn index_version(
    idx: &LocalIndex,
    name: &str,
    v: &semver::Version,
) -> anyhow::Result<(String, String)> {
    for e in idx.versions_of(name)? {
        if !e.yanked && resolve::parse_version(&e.version).ok().as_ref() == Some(v) {
            return Ok((e.version, e.checksum));
        }
    }
    bail!("{name} {v} is not in the index any more")
}

/// The explanation, and which versions the registry has of every package it names (as
/// cargo says "versions that meet the requirements ... are: ...").
fn with_available(idx: &LocalIndex, why: &str) -> anyhow::Result<String> {
    let words: BTreeSet<&str> = why.split(|c: char| c.is_whitespace() || c == ',').collect();
    let mut out = why.trim_end().to_string();
    for p in idx.packages()? {
        if !words.contains(p.name.as_str()) {
            continue;
        }
        let versions: Vec<String> = p
            .versions
            .iter()
            .map(|v| {
                if v.yanked {
                    format!("{} (yanked)", v.version)
                } else {
                    v.version.clone()
                }
            })
            .collect();
        out.push_str(&format!(
            "\nThe registry has {}: {}.",
            p.name,
            versions.join(", ")
        ));
    }
    Ok(out)
}

/// One version an install takes (the plan lists dependencies first).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub version: String,
    pub checksum: String,
    /// The store's package of this name and version, when it is there already.
    pub already: Option<i64>,
}

/// What installing a request would do: the versions chosen, or why none work.
#[derive(Debug, Clone)]
pub enum Resolution {
    Plan(Vec<Step>),
    NoSolution { explanation: String },
}

/// Sync the index and resolve `want` (`name` or `name@req`) over it; nothing is
/// downloaded or written to the store. The Packages screen shows this before installing.
pub fn resolve_install(project: &Project, store: &Store, want: &str) -> anyhow::Result<Resolution> {
    let wants = [resolve::parse_dep(want)?];
    super::update(&project.root, store, false, false)?;
    let idx = LocalIndex::open(&project.root)?;
    let chosen = match resolve::resolve(&RegistryIndex(&idx), &wants) {
        Ok(c) => c,
        Err(ResolveError::NoSolution(why)) => {
            return Ok(Resolution::NoSolution {
                explanation: with_available(&idx, &why)?,
            });
        }
        Err(e) => return Err(e.into()),
    };
    // Dependencies first: a depth-first walk over the chosen versions' depends.
    let mut order: Vec<String> = vec![];
    let mut deps_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut exact: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (name, v) in &chosen {
        let (version, checksum) = index_version(&idx, name, v)?;
        let entry = idx
            .versions_of(name)?
            .into_iter()
            .find(|e| e.version == version)
            .context("index entry")?;
        deps_of.insert(
            name.clone(),
            parse_depends(&entry.depends)?
                .into_iter()
                .map(|d| d.name)
                .collect(),
        );
        exact.insert(name.clone(), (version, checksum));
    }
    fn visit(
        n: &str,
        deps: &BTreeMap<String, Vec<String>>,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if !seen.insert(n.to_string()) {
            return;
        }
        for d in deps.get(n).into_iter().flatten() {
            visit(d, deps, seen, out);
        }
        if deps.contains_key(n) {
            out.push(n.to_string());
        }
    }
    let mut seen = BTreeSet::new();
    for name in chosen.keys() {
        visit(name, &deps_of, &mut seen, &mut order);
    }
    let mut steps = vec![];
    for name in order {
        let (version, checksum) = exact[&name].clone();
        let already = extra::find(store.conn(), &name, &version)?.map(|(id, _)| id);
        steps.push(Step {
            name,
            version,
            checksum,
            already,
        });
    }
    Ok(Resolution::Plan(steps))
}

/// Install `want` (`name` or `name@req`) and its dependencies from the registry.
pub fn install(project: &Project, store: &mut Store, want: &str) -> anyhow::Result<InstallOutcome> {
    match resolve_install(project, store, want)? {
        Resolution::NoSolution { explanation } => Ok(InstallOutcome::NoSolution { explanation }),
        Resolution::Plan(steps) => apply_install(project, store, &steps),
    }
}

/// Install the versions of a plan of [`resolve_install`], in its order.
pub fn apply_install(
    project: &Project,
    store: &mut Store,
    steps: &[Step],
) -> anyhow::Result<InstallOutcome> {
    let client = client(&project.root, store)?;
    let cache = cache_dir(&project.root);
    std::fs::create_dir_all(&cache)
        .with_context(|| format!("cannot create {}", cache.display()))?;
    let mut installed = vec![];
    for step in steps {
        let (name, version, checksum) = (
            step.name.clone(),
            step.version.clone(),
            step.checksum.clone(),
        );
        if let Some((id, _)) = extra::find(store.conn(), &name, &version)? {
            installed.push(Installed {
                name,
                version,
                checksum,
                package: id,
                already: true,
                records: 0,
                downloaded: false,
            });
            continue;
        }
        if !super::client::is_checksum(&checksum) {
            bail!("{name} {version}: the index gives no valid checksum");
        }
        let file = cache.join(&checksum);
        // A cached copy is used only when its blake3 still holds; else fetched again.
        let cached = match std::fs::read(&file) {
            Ok(b) if blake3::hash(&b).to_hex().as_str() == checksum => Some(b),
            Ok(_) => {
                std::fs::remove_file(&file)
                    .with_context(|| format!("cannot remove {}", file.display()))?;
                None
            }
            Err(_) => None,
        };
        let downloaded = cached.is_none();
        let bytes = match cached {
            Some(b) => b,
            None => {
                client.download_to(&name, &version, &checksum, &cache)?;
                read_verified(&file, &checksum)?
            }
        };
        let a = archive::read(&bytes).with_context(|| format!("{name} {version}"))?;
        if a.header.name != name
            || resolve::parse_version(&a.header.version).ok()
                != resolve::parse_version(&version).ok()
        {
            bail!(
                "{name} {version}: the archive says it is {} {}; not installed",
                a.header.name,
                a.header.version
            );
        }
        match import::import(project, store, a, &format!("{name}-{version}.sky"))? {
            Outcome::Imported(i) => installed.push(Installed {
                name,
                version,
                checksum,
                package: i.package,
                already: false,
                records: i.records.len() - i.shared,
                downloaded,
            }),
            Outcome::Conflicts { conflicts } => {
                return Ok(InstallOutcome::Conflicts {
                    package: format!("{name} {version}"),
                    conflicts,
                    installed,
                });
            }
        }
    }
    Ok(InstallOutcome::Installed { installed })
}

/// A downloaded archive, read back and checked against its blake3 (a damaged one is
/// removed).
fn read_verified(file: &Path, checksum: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let got = blake3::hash(&bytes).to_hex().to_string();
    if got != checksum {
        let _ = std::fs::remove_file(file);
        bail!(
            "the archive {} changed on disk (blake3 {got}); removed, install again",
            file.display()
        );
    }
    Ok(bytes)
}
