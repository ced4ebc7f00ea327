//! What packages that travel as archives add to `_dev_packages` (migration 9): the unit
//! start (`start_id`), where a package came from (`origin`), and its records in order
//! (`_dev_package_records`). The package rows themselves are `store::scripts`.

use rusqlite::{Connection, OptionalExtension, params};

/// `origin` of an imported package: `import <checksum>`.
pub fn import_origin(checksum: &str) -> String {
    format!("import {checksum}")
}

/// A package's `start_id` and `origin`.
pub fn extra(conn: &Connection, package: i64) -> rusqlite::Result<Option<(i64, String)>> {
    conn.query_row(
        "SELECT start_id, origin FROM _dev_packages WHERE id = ?1",
        [package],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

pub fn set_extra(
    conn: &Connection,
    package: i64,
    start_id: i64,
    origin: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _dev_packages SET start_id = ?2, origin = ?3 WHERE id = ?1",
        params![package, start_id, origin],
    )?;
    Ok(())
}

/// The package's records in order: its `_dev_package_records` rows, or for a change
/// script made here (no rows) every record from `first_record` to `last_record`.
pub fn records(conn: &Connection, package: i64) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT record FROM _dev_package_records WHERE package = ?1 ORDER BY position",
    )?;
    let listed = stmt
        .query_map([package], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    if !listed.is_empty() {
        return Ok(listed);
    }
    let range: Option<(Option<i64>, Option<i64>)> = conn
        .query_row(
            "SELECT first_record, last_record FROM _dev_packages WHERE id = ?1",
            [package],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((Some(first), Some(last))) = range else {
        return Ok(Vec::new());
    };
    let mut stmt =
        conn.prepare_cached("SELECT id FROM _dev_codebase WHERE id BETWEEN ?1 AND ?2 ORDER BY id")?;
    stmt.query_map(params![first, last], |r| r.get(0))?
        .collect()
}

/// Record the package's records in order.
pub fn set_records(conn: &Connection, package: i64, records: &[i64]) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM _dev_package_records WHERE package = ?1",
        [package],
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO _dev_package_records(package, position, record) VALUES (?1, ?2, ?3)",
    )?;
    for (i, r) in records.iter().enumerate() {
        stmt.execute(params![package, i as i64, r])?;
    }
    Ok(())
}

/// The package with this name and version, if the store has one: (id, origin).
pub fn find(
    conn: &Connection,
    name: &str,
    version: &str,
) -> rusqlite::Result<Option<(i64, String)>> {
    conn.query_row(
        "SELECT id, origin FROM _dev_packages WHERE name = ?1 AND version = ?2 ORDER BY id LIMIT 1",
        params![name, version],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Packages made here (not imported) that have no SKY_ID yet, oldest first: (id, name).
pub fn unsent(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare(
        "SELECT id, name FROM _dev_packages WHERE sky_id = 0 AND origin = '' ORDER BY id",
    )?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// Header fields to change on a package (None: keep).
#[derive(Debug, Clone, Default)]
pub struct HeaderEdit {
    pub version: Option<String>,
    pub app: Option<String>,
    pub depends: Option<Vec<String>>,
    pub included: Option<Vec<String>>,
    pub priorun: Option<Vec<String>>,
    pub authors: Option<String>,
    pub start_id: Option<i64>,
}

/// Change a package's header fields.
pub fn edit(conn: &Connection, package: i64, e: &HeaderEdit) -> rusqlite::Result<()> {
    let list = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let text: [(&str, Option<String>); 6] = [
        ("version", e.version.clone()),
        ("app", e.app.clone()),
        ("depends", e.depends.as_ref().map(list)),
        ("included", e.included.as_ref().map(list)),
        ("priorun", e.priorun.as_ref().map(list)),
        ("authors", e.authors.clone()),
    ];
    for (col, value) in text {
        if let Some(v) = value {
            conn.execute(
                &format!("UPDATE _dev_packages SET {col} = ?2 WHERE id = ?1"),
                params![package, v],
            )?;
        }
    }
    if let Some(s) = e.start_id {
        conn.execute(
            "UPDATE _dev_packages SET start_id = ?2 WHERE id = ?1",
            params![package, s],
        )?;
    }
    Ok(())
}

/// Keep the SKY_ID the registry gave a package.
pub fn set_sky_id(conn: &Connection, package: i64, sky_id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _dev_packages SET sky_id = ?2 WHERE id = ?1",
        params![package, sky_id],
    )?;
    Ok(())
}
