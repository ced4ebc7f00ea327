//! Codebase records: the rows of `_dev_codebase` and their full-text index.
//!
//! A record has an id (1..=50000: the fixed area, the same record in every installation;
//! above 50000: the floating area, local numbering), a name (`f:<path>` for a file), a
//! kind, a version, a text or binary body, authors, package and status. New local records
//! always go to the floating area.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

pub use super::search::{
    COUNT_CAP, Hit, MATCH_END, MATCH_START, SNIPPET_HITS, SearchResults, fts_query, query_terms,
    search, snippet_for, snippet_marked, snippet_parts,
};
use serde::Serialize;

/// Highest id of the fixed area.
pub const FIXED_AREA_MAX: i64 = 50_000;
/// Prefix of a file record's name.
pub const FILE_PREFIX: &str = "f:";

/// Which area an id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Fixed,
    Floating,
}

impl Area {
    pub fn of(id: i64) -> Area {
        if id <= FIXED_AREA_MAX {
            Area::Fixed
        } else {
            Area::Floating
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Area::Fixed => "fixed",
            Area::Floating => "floating",
        }
    }
}

/// A record's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    Binary(Vec<u8>),
}

impl Body {
    /// Text when the bytes are UTF-8 without NUL bytes, binary otherwise.
    pub fn from_bytes(bytes: Vec<u8>) -> Body {
        if bytes.contains(&0) {
            return Body::Binary(bytes);
        }
        match String::from_utf8(bytes) {
            Ok(s) => Body::Text(s),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Text(s) => s.as_bytes(),
            Body::Binary(b) => b,
        }
    }
    pub fn is_binary(&self) -> bool {
        matches!(self, Body::Binary(_))
    }
    pub fn hash(&self) -> String {
        blake3::hash(self.as_bytes()).to_hex().to_string()
    }
}

/// A whole record.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub version: String,
    pub body: Body,
    pub size: i64,
    pub hash: String,
    pub authors: String,
    pub package: String,
    pub status: String,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<i64>,
    pub created: i64,
    pub updated: i64,
}

/// What a list shows of a record: everything but the body.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub id: i64,
    pub name: String,
    /// The file path for a `f:` record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub kind: String,
    pub version: String,
    pub size: i64,
    pub binary: bool,
    pub area: Area,
    pub authors: String,
    pub package: String,
    pub status: String,
    pub updated: i64,
}

/// The file path of a record name (`f:src/a.php` -> `src/a.php`).
pub fn file_path(name: &str) -> Option<String> {
    name.strip_prefix(FILE_PREFIX).map(str::to_string)
}

const SUMMARY_COLS: &str =
    "id, name, kind, version, size, data IS NOT NULL, authors, package, status, updated";

fn summary_row(r: &Row) -> rusqlite::Result<Summary> {
    let id: i64 = r.get(0)?;
    let name: String = r.get(1)?;
    Ok(Summary {
        id,
        path: file_path(&name),
        name,
        kind: r.get(2)?,
        version: r.get(3)?,
        size: r.get(4)?,
        binary: r.get(5)?,
        area: Area::of(id),
        authors: r.get(6)?,
        package: r.get(7)?,
        status: r.get(8)?,
        updated: r.get(9)?,
    })
}

/// Number of records.
pub fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM _dev_codebase", [], |r| r.get(0))
}

/// Every id in ascending order (8 bytes a record: cheap even for millions).
///
/// Read from the name index, not the table: the table's pages hold the bodies, so walking
/// it would read the whole codebase from disk just to list ids.
pub fn all_ids(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM _dev_codebase INDEXED BY _dev_codebase_name")?;
    let mut ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    ids.sort_unstable();
    Ok(ids)
}

/// Summaries of the records with `lo <= id <= hi`, ascending.
pub fn summaries_between(conn: &Connection, lo: i64, hi: i64) -> rusqlite::Result<Vec<Summary>> {
    let sql =
        format!("SELECT {SUMMARY_COLS} FROM _dev_codebase WHERE id BETWEEN ?1 AND ?2 ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map(params![lo, hi], summary_row)?.collect()
}

/// Up to `limit` summaries with id above `after`, ascending (keyset paging).
pub fn list(conn: &Connection, after: i64, limit: i64) -> rusqlite::Result<Vec<Summary>> {
    let sql =
        format!("SELECT {SUMMARY_COLS} FROM _dev_codebase WHERE id > ?1 ORDER BY id LIMIT ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map(params![after, limit], summary_row)?
        .collect()
}

/// The summary of one record.
pub fn summary(conn: &Connection, id: i64) -> rusqlite::Result<Option<Summary>> {
    let sql = format!("SELECT {SUMMARY_COLS} FROM _dev_codebase WHERE id = ?1");
    conn.query_row(&sql, [id], summary_row).optional()
}

/// The ids of the fixed-area records named `name`.
pub fn fixed_ids_named(conn: &Connection, name: &str) -> rusqlite::Result<Vec<i64>> {
    let mut st = conn
        .prepare_cached("SELECT id FROM _dev_codebase WHERE name = ?1 AND id <= ?2 ORDER BY id")?;
    let ids = st.query_map(rusqlite::params![name, FIXED_AREA_MAX], |r| r.get(0))?;
    ids.collect()
}

/// One whole record.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Record>> {
    conn.query_row(
        "SELECT id, name, kind, version, body, data, size, hash, authors, package, status,
                claimed_by, claimed_until, created, updated
         FROM _dev_codebase WHERE id = ?1",
        [id],
        |r| {
            let body = match r.get::<_, Option<String>>(4)? {
                Some(text) => Body::Text(text),
                None => Body::Binary(r.get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default()),
            };
            Ok(Record {
                id: r.get(0)?,
                name: r.get(1)?,
                kind: r.get(2)?,
                version: r.get(3)?,
                body,
                size: r.get(6)?,
                hash: r.get(7)?,
                authors: r.get(8)?,
                package: r.get(9)?,
                status: r.get(10)?,
                claimed_by: r.get(11)?,
                claimed_until: r.get(12)?,
                created: r.get(13)?,
                updated: r.get(14)?,
            })
        },
    )
    .optional()
}

/// The newest record with this exact name.
pub fn find_by_name(
    conn: &Connection,
    name: &str,
) -> rusqlite::Result<Option<(i64, String, String)>> {
    conn.query_row(
        "SELECT id, version, hash FROM _dev_codebase WHERE name = ?1 ORDER BY id DESC LIMIT 1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}

/// The status of a file record whose file is gone from the project (kept: packages and
/// history may still name it).
pub const STATUS_REMOVED: &str = "removed";

/// File records (`f:` names) whose path is `prefix` or lies under the folder `prefix/`
/// (every file record for an empty prefix): (id, name, status).
pub fn files_under(
    conn: &Connection,
    prefix: &str,
) -> rusqlite::Result<Vec<(i64, String, String)>> {
    let exact = format!("{FILE_PREFIX}{prefix}");
    let folder = if prefix.is_empty() {
        FILE_PREFIX.to_string()
    } else {
        format!("{FILE_PREFIX}{prefix}/")
    };
    let mut stmt = conn.prepare(
        "SELECT id, name, status FROM _dev_codebase
         WHERE name = ?1 OR substr(name, 1, length(?2)) = ?2",
    )?;
    stmt.query_map(params![exact, folder], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?
    .collect()
}

/// A record's status.
pub fn status_of(conn: &Connection, id: i64) -> rusqlite::Result<String> {
    conn.query_row(
        "SELECT status FROM _dev_codebase WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
}

/// Sets a record's status.
pub fn set_status(tx: &Transaction, id: i64, status: &str, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE _dev_codebase SET status = ?2, updated = ?3 WHERE id = ?1",
        params![id, status, now],
    )?;
    Ok(())
}

/// A record to add.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub name: String,
    pub kind: String,
    pub body: Body,
    pub authors: String,
    pub package: String,
    pub status: String,
}

/// The next free id of the floating area.
pub fn next_floating_id(tx: &Transaction) -> rusqlite::Result<i64> {
    tx.query_row(
        "SELECT MAX(COALESCE(MAX(id), 0), ?1) + 1 FROM _dev_codebase",
        [FIXED_AREA_MAX],
        |r| r.get(0),
    )
}

/// Add a record in the floating area; returns its id.
pub fn insert(tx: &Transaction, rec: &NewRecord, now: i64) -> rusqlite::Result<i64> {
    let id = next_floating_id(tx)?;
    insert_with_id(tx, id, rec, now)?;
    Ok(id)
}

/// Add a record with a given id (fixed area records, imports).
pub fn insert_with_id(
    tx: &Transaction,
    id: i64,
    rec: &NewRecord,
    now: i64,
) -> rusqlite::Result<()> {
    let (text, data) = split_body(&rec.body);
    let mut stmt = tx.prepare_cached(
        "INSERT INTO _dev_codebase(id, name, kind, version, body, data, size, hash, authors,
                                   package, status, created, updated)
         VALUES (?1, ?2, ?3, '1', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
    )?;
    stmt.execute(params![
        id,
        rec.name,
        rec.kind,
        text,
        data,
        rec.body.as_bytes().len() as i64,
        rec.body.hash(),
        rec.authors,
        rec.package,
        rec.status,
        now
    ])?;
    Ok(())
}

/// Set a record's version (an imported record keeps the version it travelled with).
pub fn set_version(tx: &Transaction, id: i64, version: &str) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE _dev_codebase SET version = ?2 WHERE id = ?1",
        params![id, version],
    )?;
    Ok(())
}

/// Replace a record's body, bumping its version and adding `author` to its authors.
pub fn update_body(
    tx: &Transaction,
    id: i64,
    body: &Body,
    author: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let (text, data) = split_body(body);
    let authors: String = tx.query_row(
        "SELECT authors FROM _dev_codebase WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?;
    let authors = add_author(&authors, author);
    let mut stmt = tx.prepare_cached(
        "UPDATE _dev_codebase SET body = ?2, data = ?3, size = ?4, hash = ?5, authors = ?6,
                version = CAST(CAST(version AS INTEGER) + 1 AS TEXT), updated = ?7
         WHERE id = ?1",
    )?;
    stmt.execute(params![
        id,
        text,
        data,
        body.as_bytes().len() as i64,
        body.hash(),
        authors,
        now
    ])?;
    Ok(())
}

/// Authors are a `+`-joined list in order of first contribution (DEV.SKY's "Y+X").
pub fn add_author(authors: &str, author: &str) -> String {
    if author.is_empty() || authors.split('+').any(|a| a == author) {
        return authors.to_string();
    }
    if authors.is_empty() {
        author.to_string()
    } else {
        format!("{authors}+{author}")
    }
}

fn split_body(body: &Body) -> (Option<&str>, Option<&[u8]>) {
    match body {
        Body::Text(s) => (Some(s.as_str()), None),
        Body::Binary(b) => (None, Some(b.as_slice())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn rec(name: &str, body: &str) -> NewRecord {
        NewRecord {
            name: name.into(),
            kind: "file".into(),
            body: Body::Text(body.into()),
            authors: "ann".into(),
            package: String::new(),
            status: "new".into(),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_project(dir.path(), true).unwrap();
        (dir, s)
    }

    #[test]
    fn new_records_go_to_the_floating_area() {
        let (_d, mut s) = store();
        let ids = s
            .write(|tx| {
                Ok((
                    insert(tx, &rec("f:a.php", "x"), 1)?,
                    insert(tx, &rec("f:b.php", "y"), 1)?,
                ))
            })
            .unwrap();
        assert_eq!(ids, (50_001, 50_002));
        assert_eq!(Area::of(ids.0), Area::Floating);
        s.write(|tx| Ok(insert_with_id(tx, 7, &rec("f:fixed.php", "z"), 1)?))
            .unwrap();
        assert_eq!(Area::of(7), Area::Fixed);
        let next = s
            .write(|tx| Ok(insert(tx, &rec("f:c.php", "w"), 1)?))
            .unwrap();
        assert_eq!(next, 50_003);
        assert_eq!(all_ids(s.conn()).unwrap(), vec![7, 50_001, 50_002, 50_003]);
    }

    #[test]
    fn binary_and_text_bodies_round_trip() {
        let (_d, mut s) = store();
        let bin = vec![0x89, b'P', b'N', b'G', 0, 1, 2, 255];
        let id = s
            .write(|tx| {
                let mut r = rec("f:logo.png", "");
                r.body = Body::from_bytes(bin.clone());
                Ok(insert(tx, &r, 1)?)
            })
            .unwrap();
        let got = get(s.conn(), id).unwrap().unwrap();
        assert_eq!(got.body, Body::Binary(bin));
        assert_eq!(got.size, 8);
        assert!(summary(s.conn(), id).unwrap().unwrap().binary);
        assert_eq!(
            Body::from_bytes(b"emoji \xf0\x9f\x98\x80".to_vec()),
            Body::Text("emoji 😀".into())
        );
        assert!(Body::from_bytes(vec![0xff, 0xfe, b'a']).is_binary());
    }

    #[test]
    fn add_author_keeps_order_and_uniqueness() {
        assert_eq!(add_author("", "y"), "y");
        assert_eq!(add_author("y", "x"), "y+x");
        assert_eq!(add_author("y+x", "y"), "y+x");
    }
}
