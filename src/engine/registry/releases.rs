//! Release snapshots on the client: `devsky install --release NAME` installs the exact
//! versions a release pins, and keeps the release in the project's cache by its timestamp.
//!
//! A release never changes on its registry (docs/REGISTRY.md), so a copy of it is good for
//! as long as the registry lists a release of that name with the same `created` time: the
//! client asks for the list of releases (names and times, a small answer) and fetches the
//! release only when its copy is missing or its time differs (a registry rebuilt, a
//! release made again). When the registry cannot be reached, the cached copy is used and
//! the install says so; with every archive in the cache too, an install needs no network.
//! As Izyware's loader does, the cache is managed by releases: [`prune`] keeps the
//! archives some cached release pins and drops the others.
//!
//! The copies live in `.devsky/registry/releases/<name>.json`, each pin with the
//! `depends` the index gave it, so that the install order and the dependency check work
//! offline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::client::{self, Dep, ReleaseInfo};
use super::local::LocalIndex;
use super::packages::{InstallOutcome, Step, apply_install};
use super::{cache_dir, client as registry_client};
use crate::engine::packages::resolve;
use crate::engine::project::Project;
use crate::engine::util::durable::write_atomic;
use crate::store::Store;
use crate::store::packages as extra;
use crate::store::{STATE_DIR, scripts as rows};

/// One exact version a release pins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pin {
    pub name: String,
    pub version: String,
    pub checksum: String,
    /// What this version depends on (from the registry's index when the release was
    /// fetched).
    #[serde(default)]
    pub depends: Vec<Dep>,
}

/// A release as the project keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedRelease {
    pub name: String,
    pub created_by: String,
    /// The registry's time of the release (ms since the epoch): what the cache goes by.
    pub created: i64,
    pub packages: Vec<Pin>,
}

/// Where a release came from for this install.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Fetched from the registry now (no copy, or the copy's time differed).
    Fetched,
    /// The registry lists it with the time of the project's copy: the copy was used.
    Cache,
    /// The registry could not be reached: the project's copy was used.
    Offline,
}

/// The folder of cached releases.
pub fn releases_dir(root: &Path) -> PathBuf {
    root.join(STATE_DIR).join("registry").join("releases")
}

fn cache_file(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    if !resolve::valid_name(name) {
        bail!("{name:?} is not a release name (letters, digits, '.', '_', '-'; 1-100 characters)");
    }
    Ok(releases_dir(root).join(format!("{name}.json")))
}

/// The project's copy of release `name`, if it has a readable one.
pub fn cached(root: &Path, name: &str) -> anyhow::Result<Option<CachedRelease>> {
    let file = cache_file(root, name)?;
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(None);
    };
    // A damaged copy is as good as none: it is fetched again.
    Ok(serde_json::from_str::<CachedRelease>(&text)
        .ok()
        .filter(|r| r.name == name))
}

/// Every release the project keeps, by name.
pub fn all_cached(root: &Path) -> anyhow::Result<Vec<CachedRelease>> {
    let dir = releases_dir(root);
    let mut out = vec![];
    let Ok(list) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for e in list {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".json")
            && let Some(r) = cached(root, stem)?
        {
            out.push(r);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn keep(root: &Path, r: &CachedRelease) -> anyhow::Result<()> {
    let file = cache_file(root, &r.name)?;
    write_atomic(&file, &serde_json::to_vec_pretty(r)?)
}

/// True when `e` says the registry could not be reached at all (no answer).
fn unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<reqwest::Error>()
            .is_some_and(|r| r.is_connect() || r.is_timeout())
    })
}

/// Release `name`: the project's copy when the registry lists the same time for it (or
/// cannot be reached), else fetched, with each pin's `depends` from the synced index, and
/// kept.
pub fn fetch(
    project: &Project,
    store: &Store,
    name: &str,
) -> anyhow::Result<(CachedRelease, Source)> {
    let root = &project.root;
    let copy = cached(root, name)?;
    let client = registry_client(root, store)?;
    let listed: Vec<ReleaseInfo> = match client.releases() {
        Ok(l) => l,
        Err(e) if unreachable(&e) => match copy {
            Some(c) => return Ok((c, Source::Offline)),
            None => {
                return Err(e.context(format!(
                    "release {name} is not in the project's cache and the registry cannot be \
                     reached"
                )));
            }
        },
        Err(e) => return Err(e),
    };
    let Some(info) = listed.iter().find(|r| r.name == name) else {
        if copy.is_some() {
            // The registry no longer has it: the copy is of another registry's release.
            let _ = std::fs::remove_file(cache_file(root, name)?);
        }
        let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
        bail!(
            "the registry has no release {name}{}",
            if names.is_empty() {
                " (it has none)".to_string()
            } else {
                format!("; it has: {}", names.join(", "))
            }
        );
    };
    if let Some(c) = copy
        && c.created == info.created
    {
        return Ok((c, Source::Cache));
    }
    let snap = client.release_snapshot(name)?;
    super::update(root, store, false, false)?;
    let idx = LocalIndex::open(root)?;
    let mut packages = vec![];
    for p in snap.packages {
        if !resolve::valid_name(&p.name) || !client::is_checksum(&p.checksum) {
            bail!("release {name}: the registry sent a pin that is not valid: {p:?}");
        }
        let entry = idx
            .versions_of(&p.name)?
            .into_iter()
            .find(|e| e.version == p.version)
            .with_context(|| {
                format!(
                    "release {name} pins {} {}, which the registry's index does not list",
                    p.name, p.version
                )
            })?;
        if entry.checksum != p.checksum {
            bail!(
                "release {name} pins {} {} with blake3 {}, the index says {}",
                p.name,
                p.version,
                p.checksum,
                entry.checksum
            );
        }
        let depends: Vec<Dep> = if entry.depends.trim().is_empty() || entry.depends == "null" {
            vec![]
        } else {
            serde_json::from_str(&entry.depends).context("the index's depends are not a list")?
        };
        packages.push(Pin {
            name: p.name,
            version: p.version,
            checksum: p.checksum,
            depends,
        });
    }
    let r = CachedRelease {
        name: snap.name,
        created_by: snap.created_by,
        created: snap.created,
        packages,
    };
    keep(root, &r)?;
    Ok((r, Source::Fetched))
}

/// The install order of a release's pins (dependencies first), after checking that each
/// pin's `depends` is met by a version the release pins or, for a package it does not
/// pin, by one the store has. Every unmet dependency is named.
pub fn plan(store: &Store, r: &CachedRelease) -> anyhow::Result<Vec<Step>> {
    let pinned: BTreeMap<&str, &Pin> = r.packages.iter().map(|p| (p.name.as_str(), p)).collect();
    let installed = rows::packages(store.conn())?;
    let mut unmet = vec![];
    for p in &r.packages {
        for d in &p.depends {
            let dep = resolve::parse_dep(&format!("{}@{}", d.name, d.req))
                .with_context(|| format!("release {}: {} {}", r.name, p.name, p.version))?;
            let fits = |v: &str| {
                resolve::parse_version(v)
                    .ok()
                    .is_some_and(|v| dep.req.matches(&v))
            };
            match pinned.get(d.name.as_str()) {
                Some(q) if fits(&q.version) => {}
                Some(q) => unmet.push(format!(
                    "{} {} needs {dep}, but the release pins {} {}",
                    p.name, p.version, q.name, q.version
                )),
                None if installed
                    .iter()
                    .any(|i| i.name == d.name && fits(&i.version)) => {}
                None => unmet.push(format!(
                    "{} {} needs {dep}, which the release does not pin and the project does \
                     not have",
                    p.name, p.version
                )),
            }
        }
    }
    if !unmet.is_empty() {
        bail!(
            "release {} cannot be installed; nothing was written:\n  {}",
            r.name,
            unmet.join("\n  ")
        );
    }
    fn visit<'a>(
        n: &'a str,
        pinned: &BTreeMap<&'a str, &'a Pin>,
        seen: &mut BTreeSet<&'a str>,
        out: &mut Vec<&'a Pin>,
    ) {
        let Some(p) = pinned.get(n) else { return };
        if !seen.insert(n) {
            return;
        }
        for d in &p.depends {
            visit(d.name.as_str(), pinned, seen, out);
        }
        out.push(p);
    }
    let mut order = vec![];
    let mut seen = BTreeSet::new();
    for p in &r.packages {
        visit(p.name.as_str(), &pinned, &mut seen, &mut order);
    }
    order
        .into_iter()
        .map(|p| {
            Ok(Step {
                name: p.name.clone(),
                version: p.version.clone(),
                checksum: p.checksum.clone(),
                already: extra::find(store.conn(), &p.name, &p.version)?.map(|(id, _)| id),
            })
        })
        .collect()
}

/// The registry's releases (names and times); when it cannot be reached, the ones the
/// project keeps, and `true`.
pub fn list(project: &Project, store: &Store) -> anyhow::Result<(Vec<ReleaseInfo>, bool)> {
    let client = registry_client(&project.root, store)?;
    match client.releases() {
        Ok(l) => Ok((l, false)),
        Err(e) if unreachable(&e) => Ok((
            all_cached(&project.root)?
                .into_iter()
                .map(|r| ReleaseInfo {
                    name: r.name,
                    created_by: r.created_by,
                    created: r.created,
                })
                .collect(),
            true,
        )),
        Err(e) => Err(e),
    }
}

/// Release `name` ([`fetch`]) and its install plan ([`plan`]): what installing it takes.
pub fn prepare(
    project: &Project,
    store: &Store,
    name: &str,
) -> anyhow::Result<(CachedRelease, Source, Vec<Step>)> {
    let (r, source) = fetch(project, store, name)?;
    let steps = plan(store, &r)?;
    Ok((r, source, steps))
}

/// What `devsky install --release` did.
#[derive(Debug, Serialize)]
pub struct ReleaseInstall {
    pub release: String,
    pub created: i64,
    pub source: Source,
    /// Archives that were not in the cache (with `--download-only`, fetched now).
    pub to_download: usize,
    /// `None` with `--download-only`.
    pub outcome: Option<InstallOutcome>,
}

/// Install release `name` (or, with `download_only`, bring it and its archives into the
/// cache and install nothing).
pub fn install(
    project: &Project,
    store: &mut Store,
    name: &str,
    download_only: bool,
) -> anyhow::Result<ReleaseInstall> {
    let (r, source, steps) = prepare(project, store, name)?;
    let cache = cache_dir(&project.root);
    let missing: Vec<&Step> = steps
        .iter()
        .filter(|s| s.already.is_none() && !cache.join(&s.checksum).is_file())
        .collect();
    let to_download = missing.len();
    let outcome = if download_only {
        if !missing.is_empty() {
            let client = registry_client(&project.root, store)?;
            std::fs::create_dir_all(&cache)
                .with_context(|| format!("cannot create {}", cache.display()))?;
            for s in missing {
                client.download_to(&s.name, &s.version, &s.checksum, &cache)?;
            }
        }
        None
    } else {
        Some(apply_install(project, store, &steps)?)
    };
    Ok(ReleaseInstall {
        release: r.name,
        created: r.created,
        source,
        to_download,
        outcome,
    })
}

/// What [`prune`] kept and removed.
#[derive(Debug, Default, Serialize)]
pub struct Pruned {
    pub kept: usize,
    pub removed: usize,
    pub removed_bytes: u64,
}

/// Drop the cached archives that no cached release pins.
pub fn prune(root: &Path) -> anyhow::Result<Pruned> {
    let pinned: BTreeSet<String> = all_cached(root)?
        .into_iter()
        .flat_map(|r| r.packages.into_iter().map(|p| p.checksum))
        .collect();
    let dir = cache_dir(root);
    let mut out = Pruned::default();
    let Ok(list) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for e in list {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if pinned.contains(&name) {
            out.kept += 1;
            continue;
        }
        let size = e.metadata().map(|m| m.len()).unwrap_or(0);
        let path = e.path();
        if e.file_type()?.is_file() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            out.removed += 1;
            out.removed_bytes += size;
        }
    }
    Ok(out)
}

/// A kept release as `devsky registry cache` reports it.
#[derive(Debug, Serialize)]
pub struct KeptRelease {
    pub name: String,
    pub created: i64,
    pub created_by: String,
    pub packages: usize,
    /// How many of its pinned archives are in the cache.
    pub archives_cached: usize,
}

/// What the project's cache holds (after a [`prune`] when asked).
#[derive(Debug, Serialize)]
pub struct CacheReport {
    pub releases: Vec<KeptRelease>,
    /// Archives in the cache (files named by a blake3 checksum).
    pub archives: usize,
    pub pruned: Option<Pruned>,
}

/// The releases the project keeps and the archives it caches; `prune` drops first the
/// archives no kept release pins.
pub fn cache_report(root: &Path, prune_first: bool) -> anyhow::Result<CacheReport> {
    let pruned = if prune_first {
        Some(prune(root)?)
    } else {
        None
    };
    let archives: BTreeSet<String> = std::fs::read_dir(cache_dir(root))
        .map(|l| {
            l.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| client::is_checksum(n))
                .collect()
        })
        .unwrap_or_default();
    let releases = all_cached(root)?
        .into_iter()
        .map(|r| KeptRelease {
            archives_cached: r
                .packages
                .iter()
                .filter(|p| archives.contains(&p.checksum))
                .count(),
            packages: r.packages.len(),
            name: r.name,
            created: r.created,
            created_by: r.created_by,
        })
        .collect();
    Ok(CacheReport {
        releases,
        archives: archives.len(),
        pruned,
    })
}
