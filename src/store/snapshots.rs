//! Domains (`_dev_domains`) and snapshots (`_dev_snapshots`): the rows; the maps and file
//! contents they point to live in the object store.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A named set of globs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Domain {
    pub name: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// A snapshot's row.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub id: i64,
    pub name: String,
    pub domain: Option<String>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Object id of the snapshot's map.
    pub map_object: String,
    pub files: i64,
    pub bytes: i64,
    pub partial: bool,
    pub created: i64,
}

fn globs(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn to_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub fn put_domain(conn: &Connection, d: &Domain, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO _dev_domains(name, include, exclude, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO UPDATE SET include = excluded.include, exclude = excluded.exclude",
        params![d.name, to_json(&d.include), to_json(&d.exclude), now],
    )?;
    Ok(())
}

pub fn domain(conn: &Connection, name: &str) -> rusqlite::Result<Option<Domain>> {
    conn.query_row(
        "SELECT name, include, exclude FROM _dev_domains WHERE name = ?1",
        [name],
        |r| {
            Ok(Domain {
                name: r.get(0)?,
                include: globs(&r.get::<_, String>(1)?),
                exclude: globs(&r.get::<_, String>(2)?),
            })
        },
    )
    .optional()
}

pub fn domains(conn: &Connection) -> rusqlite::Result<Vec<Domain>> {
    let mut stmt = conn.prepare("SELECT name, include, exclude FROM _dev_domains ORDER BY name")?;
    stmt.query_map([], |r| {
        Ok(Domain {
            name: r.get(0)?,
            include: globs(&r.get::<_, String>(1)?),
            exclude: globs(&r.get::<_, String>(2)?),
        })
    })?
    .collect()
}

/// The tables a snapshot of `domain` takes of each database profile it names (profile →
/// tables, sorted).
pub fn domain_db_tables(
    conn: &Connection,
    domain: &str,
) -> rusqlite::Result<std::collections::BTreeMap<String, Vec<String>>> {
    let mut stmt = conn.prepare(
        "SELECT profile, table_name FROM _dev_domain_db_tables WHERE domain = ?1 ORDER BY profile, table_name",
    )?;
    let rows = stmt.query_map([domain], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
    let mut out = std::collections::BTreeMap::<String, Vec<String>>::new();
    for r in rows {
        let (p, t) = r?;
        out.entry(p).or_default().push(t);
    }
    Ok(out)
}

/// Replace the tables of `profile` that a snapshot of `domain` takes (none: all of them).
pub fn set_domain_db_tables(
    conn: &Connection,
    domain: &str,
    profile: &str,
    tables: &[String],
) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM _dev_domain_db_tables WHERE domain = ?1 AND profile = ?2",
        [domain, profile],
    )?;
    for t in tables {
        conn.execute(
            "INSERT OR IGNORE INTO _dev_domain_db_tables (domain, profile, table_name) VALUES (?1, ?2, ?3)",
            [domain, profile, t],
        )?;
    }
    Ok(())
}

pub fn remove_domain(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.execute(
        "DELETE FROM _dev_domain_db_tables WHERE domain = ?1",
        [name],
    )?;
    Ok(conn.execute("DELETE FROM _dev_domains WHERE name = ?1", [name])? > 0)
}

/// A snapshot to record.
pub struct NewSnapshot<'a> {
    pub name: &'a str,
    pub domain: Option<&'a str>,
    pub include: &'a [String],
    pub exclude: &'a [String],
    pub map_object: &'a str,
    pub files: i64,
    pub bytes: i64,
    pub partial: bool,
}

pub fn insert_snapshot(conn: &Connection, s: &NewSnapshot, now: i64) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO _dev_snapshots(name, domain, include, exclude, map_object, files, bytes, partial, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![s.name, s.domain, to_json(s.include), to_json(s.exclude), s.map_object, s.files, s.bytes, s.partial, now],
    )?;
    Ok(conn.last_insert_rowid())
}

const COLS: &str = "id, name, domain, include, exclude, map_object, files, bytes, partial, created";

fn row(r: &rusqlite::Row) -> rusqlite::Result<Snapshot> {
    Ok(Snapshot {
        id: r.get(0)?,
        name: r.get(1)?,
        domain: r.get(2)?,
        include: globs(&r.get::<_, String>(3)?),
        exclude: globs(&r.get::<_, String>(4)?),
        map_object: r.get(5)?,
        files: r.get(6)?,
        bytes: r.get(7)?,
        partial: r.get(8)?,
        created: r.get(9)?,
    })
}

pub fn snapshot(conn: &Connection, id: i64) -> rusqlite::Result<Option<Snapshot>> {
    conn.query_row(
        &format!("SELECT {COLS} FROM _dev_snapshots WHERE id = ?1"),
        [id],
        row,
    )
    .optional()
}

/// Newest first.
pub fn snapshots(conn: &Connection) -> rusqlite::Result<Vec<Snapshot>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLS} FROM _dev_snapshots ORDER BY id DESC"
    ))?;
    stmt.query_map([], row)?.collect()
}

pub fn delete_snapshot(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM _dev_snapshots WHERE id = ?1", [id])? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_snapshots_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::Store::open_project(dir.path(), true).unwrap();
        let c = s.conn();
        let d = Domain {
            name: "app".into(),
            include: vec!["app/**".into()],
            exclude: vec!["**/*.log".into()],
        };
        put_domain(c, &d, 1).unwrap();
        assert_eq!(domain(c, "app").unwrap().unwrap(), d);
        assert_eq!(domains(c).unwrap().len(), 1);
        let id = insert_snapshot(
            c,
            &NewSnapshot {
                name: "first",
                domain: Some("app"),
                include: &d.include,
                exclude: &d.exclude,
                map_object: "ab",
                files: 3,
                bytes: 10,
                partial: false,
            },
            5,
        )
        .unwrap();
        let got = snapshot(c, id).unwrap().unwrap();
        assert_eq!(
            (got.name.as_str(), got.files, got.include.clone()),
            ("first", 3, vec!["app/**".to_string()])
        );
        assert!(delete_snapshot(c, id).unwrap());
        assert!(snapshot(c, id).unwrap().is_none());
        assert!(remove_domain(c, "app").unwrap());
    }
}
