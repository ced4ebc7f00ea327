//! The project's copy of the registry's index, `.devsky/registry.db` (SQLite, beside the
//! store): every version the index has sent, upserted by (name, version), and the cursor
//! and ETag to ask from next time. A login to another registry starts it afresh.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::client::Entry;
use crate::store::STATE_DIR;

pub struct LocalIndex {
    conn: Connection,
}

/// A package and its versions, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct PackageVersions {
    pub name: String,
    pub versions: Vec<VersionInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    pub version: String,
    pub sky_id: i64,
    pub checksum: String,
    pub yanked: bool,
}

/// A name or version as the registry makes them: what may go into a URL path.
fn safe(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.contains("..")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'))
}

impl LocalIndex {
    pub fn open(root: &Path) -> anyhow::Result<LocalIndex> {
        let path = root.join(STATE_DIR).join("registry.db");
        let conn =
            Connection::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS sync(
               url TEXT NOT NULL, cursor INTEGER NOT NULL, etag TEXT);
             CREATE TABLE IF NOT EXISTS entries(
               name TEXT NOT NULL, version TEXT NOT NULL, depends TEXT NOT NULL,
               checksum TEXT NOT NULL, size INTEGER NOT NULL, yanked INTEGER NOT NULL,
               sky_id INTEGER NOT NULL, published INTEGER NOT NULL, cursor INTEGER NOT NULL,
               PRIMARY KEY(name, version));",
        )?;
        Ok(LocalIndex { conn })
    }

    /// The cursor and ETag to ask `url` from (0 and none for a registry not synced yet:
    /// what another registry sent is dropped).
    pub fn start(&mut self, url: &str) -> anyhow::Result<(i64, Option<String>)> {
        let row: Option<(String, i64, Option<String>)> = self
            .conn
            .query_row("SELECT url, cursor, etag FROM sync", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        match row {
            Some((u, c, e)) if u == url => Ok((c, e)),
            _ => {
                let tx = self.conn.transaction()?;
                tx.execute("DELETE FROM sync", [])?;
                tx.execute("DELETE FROM entries", [])?;
                tx.execute(
                    "INSERT INTO sync(url, cursor, etag) VALUES (?1, 0, NULL)",
                    [url],
                )?;
                tx.commit()?;
                Ok((0, None))
            }
        }
    }

    /// Keep the entries of one index answer and the cursor after it, in one transaction.
    pub fn apply(
        &mut self,
        url: &str,
        entries: &[Entry],
        cursor: i64,
        etag: Option<&str>,
    ) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare(
                "INSERT INTO entries(name, version, depends, checksum, size, yanked, sky_id,
                   published, cursor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(name, version) DO UPDATE SET depends = excluded.depends,
                   checksum = excluded.checksum, size = excluded.size,
                   yanked = excluded.yanked, sky_id = excluded.sky_id,
                   published = excluded.published, cursor = excluded.cursor",
            )?;
            for e in entries {
                if !safe(&e.name) || !safe(&e.version) {
                    bail!(
                        "the registry sent a bad package name or version: {:?} {:?}",
                        e.name,
                        e.version
                    );
                }
                st.execute(params![
                    e.name,
                    e.version,
                    e.depends.to_string(),
                    e.checksum,
                    e.size,
                    e.yanked,
                    e.sky_id,
                    e.published,
                    e.cursor
                ])?;
            }
        }
        tx.execute(
            "UPDATE sync SET cursor = ?1, etag = ?2 WHERE url = ?3",
            params![cursor, etag, url],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every package with its versions.
    pub fn packages(&self) -> anyhow::Result<Vec<PackageVersions>> {
        let mut st = self.conn.prepare(
            "SELECT name, version, sky_id, checksum, yanked FROM entries ORDER BY name, sky_id",
        )?;
        group(st.query([])?)
    }

    /// The packages `names` with their versions (those the index has), by name.
    pub fn packages_named(&self, names: &BTreeSet<&str>) -> anyhow::Result<Vec<PackageVersions>> {
        let mut st = self.conn.prepare_cached(
            "SELECT name, version, sky_id, checksum, yanked FROM entries WHERE name = ?1 \
             ORDER BY sky_id",
        )?;
        let mut out = vec![];
        for name in names {
            out.extend(group(st.query([name])?)?);
        }
        Ok(out)
    }

    /// How many packages the index has.
    pub fn count(&self) -> anyhow::Result<usize> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(DISTINCT name) FROM entries", [], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// The versions of `name` the index has: (version, depends as the registry keeps
    /// them, checksum, yanked), oldest first.
    pub fn versions_of(&self, name: &str) -> anyhow::Result<Vec<IndexVersion>> {
        let mut st = self.conn.prepare(
            "SELECT version, depends, checksum, yanked FROM entries WHERE name = ?1 \
             ORDER BY sky_id",
        )?;
        let rows = st.query_map([name], |r| {
            Ok(IndexVersion {
                version: r.get(0)?,
                depends: r.get(1)?,
                checksum: r.get(2)?,
                yanked: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// One version in the local index.
#[derive(Debug, Clone)]
pub struct IndexVersion {
    pub version: String,
    /// JSON: `[{"name": ..., "req": ...}]`.
    pub depends: String,
    pub checksum: String,
    pub yanked: bool,
}

/// Rows of (name, version, sky_id, checksum, yanked), sorted by name, grouped by package.
fn group(mut rows: rusqlite::Rows<'_>) -> anyhow::Result<Vec<PackageVersions>> {
    let mut out: Vec<PackageVersions> = vec![];
    while let Some(r) = rows.next()? {
        let name: String = r.get(0)?;
        let v = VersionInfo {
            version: r.get(1)?,
            sky_id: r.get(2)?,
            checksum: r.get(3)?,
            yanked: r.get(4)?,
        };
        match out.last_mut() {
            Some(p) if p.name == name => p.versions.push(v),
            _ => out.push(PackageVersions {
                name,
                versions: vec![v],
            }),
        }
    }
    Ok(out)
}
