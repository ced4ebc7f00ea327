//! The client of the team registry (`devsky registry serve`, docs/REGISTRY.md): the login
//! (the registry's URL in the project's settings as `registry.url`, the token in
//! `.devsky/secrets/.registry.key`, mode 0600, never printed) and the incremental index
//! sync of `devsky update` into the project's local copy of the index
//! ([`local::LocalIndex`], `.devsky/registry.db`). With `--sync`, the archives of new
//! versions are fetched too, verified by blake3, into `.devsky/registry/cache/<blake3>`.
//! Claims (`devsky claim`) go through [`client::Client`].

pub mod client;
pub mod local;
pub mod packages;
pub mod releases;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::engine::remote::{key_file, store_key};
use crate::store::{STATE_DIR, Store, settings};

pub use client::Client;

/// The settings key of the registry's URL.
pub const URL_SETTING: &str = "registry.url";
/// The name the token is kept under in `.devsky/secrets/` (no deploy server can have
/// it: their names never start with '.').
const SECRET: &str = ".registry";

/// A registry URL as given: `http(s)://host[:port]`, no path, query or credentials.
pub fn check_url(url: &str) -> anyhow::Result<String> {
    let u = url.trim().trim_end_matches('/');
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains(['/', '@', '?', '#', ' ']) => Ok(u.to_string()),
        _ => bail!("a registry URL is http(s)://HOST[:PORT], with no path or user: {url:?}"),
    }
}

/// Keep the login of the project at `root`: the URL in its settings, the token in its
/// secrets (0600).
pub fn login(root: &Path, store: &Store, url: &str, token: &str) -> anyhow::Result<PathBuf> {
    let url = check_url(url)?;
    if token.trim().is_empty() || token.len() > 200 || token.chars().any(char::is_whitespace) {
        bail!(
            "the token is one word of at most 200 characters (as `devsky registry user add` printed it)"
        );
    }
    settings::set(store.conn(), URL_SETTING, &url)?;
    store_key(root, SECRET, token.trim())
}

/// The project's registry login: URL and token.
pub fn logged_in(root: &Path, store: &Store) -> anyhow::Result<(String, String)> {
    let Some(url) = settings::get(store.conn(), URL_SETTING)? else {
        bail!("no registry yet: `devsky registry login URL --token TOKEN` first");
    };
    let file = key_file(root, SECRET);
    let token = std::fs::read_to_string(&file)
        .with_context(|| format!("no registry token in {}: log in again", file.display()))?;
    Ok((url, token.trim().to_string()))
}

/// How a record is named in claims. A fixed-area record (ids 1..=50000) is the same record
/// in every installation and is named by its id, `#ID` (FORMATS.md: records are identified
/// only by id in the fixed area); a floating one is numbered locally, so it goes by its
/// name, which every store that installed it shares.
pub fn claim_key(id: i64, name: &str) -> String {
    if (1..=crate::store::codebase::FIXED_AREA_MAX).contains(&id) {
        format!("#{id}")
    } else {
        name.to_string()
    }
}

/// A record as the user gives it to `devsky claim`: `#ID` or `ID` is the store's record
/// of that id (named as [`claim_key`] says; an unknown id is an error); anything else is
/// a record's name, which is the fixed-area record's `#ID` when the store has one of that
/// name (two are an error naming them).
pub fn claim_ref(store: &Store, given: &str) -> anyhow::Result<String> {
    let digits = given.strip_prefix('#').unwrap_or(given);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let fixed = crate::store::codebase::fixed_ids_named(store.conn(), given)?;
        return match fixed.as_slice() {
            [] => Ok(given.to_string()),
            [id] => Ok(format!("#{id}")),
            many => bail!(
                "{given:?} names {} fixed-area records ({}): give one as #ID",
                many.len(),
                many.iter()
                    .map(|i| format!("#{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
    }
    let id: i64 = digits
        .parse()
        .with_context(|| format!("{given:?} is not a record id"))?;
    match crate::store::codebase::summary(store.conn(), id)? {
        Some(r) => Ok(claim_key(id, &r.name)),
        None => bail!("the codebase has no record #{id} (`devsky codebase list` shows them)"),
    }
}

/// Where fetched archives are kept, by blake3.
pub fn cache_dir(root: &Path) -> PathBuf {
    root.join(STATE_DIR).join("registry").join("cache")
}

/// What `devsky update` did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SyncReport {
    pub url: String,
    /// The cursor before and after.
    pub from: i64,
    pub cursor: i64,
    /// Index entries received (new versions, yanks, unyanks).
    pub changed: usize,
    /// Bytes of index answers received.
    pub index_bytes: u64,
    /// Archives fetched (`--sync`) and their bytes.
    pub archives: usize,
    pub archive_bytes: u64,
    /// The packages this sync changed, with all their versions (oldest first); every
    /// package only when asked for (`devsky update --all`): listing an index of 10,000
    /// took longer than the sync itself.
    pub packages: Vec<local::PackageVersions>,
    /// Packages in the local index after the sync.
    pub known: usize,
}

/// Sync the index of the project at `root` from its registry; with `fetch`, download the
/// archives of the versions that changed and are not cached yet. The report lists the
/// packages that changed; with `all`, every package of the index.
pub fn update(root: &Path, store: &Store, fetch: bool, all: bool) -> anyhow::Result<SyncReport> {
    let (url, _) = logged_in(root, store)?;
    let client = client(root, store)?;
    let mut idx = local::LocalIndex::open(root)?;
    let (from, etag) = idx.start(&url)?;
    let mut rep = SyncReport {
        url: url.clone(),
        from,
        cursor: from,
        ..SyncReport::default()
    };
    let mut changed = vec![];
    let mut etag = etag;
    loop {
        let page = client.index(rep.cursor, etag.as_deref())?;
        rep.index_bytes += page.bytes;
        let Some(body) = page.body else { break };
        rep.changed += body.entries.len();
        idx.apply(&url, &body.entries, body.cursor, page.etag.as_deref())?;
        changed.extend(body.entries);
        rep.cursor = body.cursor;
        if !body.more {
            break;
        }
        etag = None;
    }
    if fetch {
        let dir = cache_dir(root);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for e in changed.iter().filter(|e| !e.yanked) {
            if !client::is_checksum(&e.checksum) || dir.join(&e.checksum).is_file() {
                continue;
            }
            rep.archive_bytes += client.download_to(&e.name, &e.version, &e.checksum, &dir)?;
            rep.archives += 1;
        }
    }
    rep.packages = if all {
        idx.packages()?
    } else {
        let names: BTreeSet<&str> = changed.iter().map(|e| e.name.as_str()).collect();
        idx.packages_named(&names)?
    };
    rep.known = idx.count()?;
    Ok(rep)
}

/// The client of the project's registry (after `devsky registry login`).
pub fn client(root: &Path, store: &Store) -> anyhow::Result<Client> {
    let (url, token) = logged_in(root, store)?;
    Client::new(&url, &token)
}
