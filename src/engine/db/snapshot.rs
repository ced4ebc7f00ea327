//! The database part of a snapshot, and the script from a snapshot to the database now.
//!
//! A [`DbSnapshot`] holds every table's normalized schema and, by the table's [`Mode`]:
//! 'data' — every row (the pre-images a reverse script needs); 'checksum' — row counts and
//! checksums of primary-key chunks (a change is detected, not scripted); 'skip' — nothing,
//! the table is left out of snapshots and diffs. Modes come from `_dev_db_tables`; a table
//! without a row there is 'data' when it has a primary key and fewer than
//! [`DATA_MODE_MAX_ROWS`] (10,000) rows, else 'checksum'.
//!
//! Stored as one object (JSON, zstd-compressed by the object store). JSON cells: `null`,
//! numbers (i64), strings; `{"u": n}` an unsigned integer, `{"f": x}` a float (`"nan"`,
//! `"inf"`, `"-inf"` for the non-finite), `{"b": base64}` bytes.
//!
//! [`diff`] takes the database as it is now (with the snapshot's modes) and builds a
//! [`Script`]: the schema steps, row changes of 'data' tables, and the pre-images the
//! reverse needs: a dropped 'data' table is re-inserted after it is re-created, and a
//! dropped or narrowed column of a 'data' table gets its values back (UPDATEs by primary
//! key, at the very end of the reverse, when the table has its old shape again).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::data_diff::{self, DataDiffError, diff_rows, insert_sql, restore_sql};
use super::schema_diff::{self, Phase, Rename, Step, ident, topo_order};
use super::{ApplyError, ApplyReport, Chunk, Db, Kind, QueryEvent, TableSchema, Value};
use crate::engine::snapshot::objects::ObjectStore;

/// Tables with fewer rows than this (and a primary key) default to 'data'.
pub const DATA_MODE_MAX_ROWS: u64 = 10_000;
/// Rows per checksum chunk.
pub const CHUNK_ROWS: u64 = 1_000;

/// How a table takes part in database snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Data,
    Checksum,
    Skip,
    /// No choice recorded: 'data' under [`DATA_MODE_MAX_ROWS`] rows with a primary key, else 'checksum'.
    Auto,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "data" => Mode::Data,
            "checksum" => Mode::Checksum,
            "skip" => Mode::Skip,
            "auto" => Mode::Auto,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Data => "data",
            Mode::Checksum => "checksum",
            Mode::Skip => "skip",
            Mode::Auto => "auto",
        }
    }
}

/// The modes recorded for a profile's tables in `_dev_db_tables`.
pub fn table_modes(
    conn: &rusqlite::Connection,
    profile: &str,
) -> anyhow::Result<BTreeMap<String, Mode>> {
    let mut stmt =
        conn.prepare("SELECT table_name, mode FROM _dev_db_tables WHERE profile = ?1")?;
    let rows = stmt.query_map([profile], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = BTreeMap::new();
    for r in rows {
        let (t, m) = r?;
        out.insert(t, Mode::parse(&m).unwrap_or(Mode::Auto));
    }
    Ok(out)
}

/// The database part of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct DbSnapshot {
    pub kind: Kind,
    /// Every table but the skipped ones, sorted by name.
    pub tables: Vec<TableSchema>,
    /// The resolved mode of every table seen (data, checksum or skip).
    pub modes: BTreeMap<String, Mode>,
    /// 'data' tables: every row, ordered by primary key, in the table's column order.
    pub data: BTreeMap<String, Vec<Vec<Value>>>,
    /// 'checksum' tables.
    pub chunks: BTreeMap<String, Vec<Chunk>>,
}

fn count_rows(db: &mut dyn Db, table: &str) -> anyhow::Result<u64> {
    let mut n = None;
    db.run(
        &format!("SELECT COUNT(*) FROM {}", ident(db.kind(), table)),
        &mut |e| {
            if let QueryEvent::Rows(rows) = e
                && let Some(v) = rows.first().and_then(|r| r.first())
            {
                n = v.display().and_then(|s| s.parse().ok());
            }
            true
        },
    )
    .with_context(|| format!("counting the rows of {table}"))?;
    n.with_context(|| format!("counting the rows of {table}: no answer"))
}

/// Every row of `t`, ordered by primary key.
pub fn read_rows(db: &mut dyn Db, t: &TableSchema) -> anyhow::Result<Vec<Vec<Value>>> {
    let mut all = Vec::new();
    db.rows(t, &mut |batch| {
        all.extend(batch);
        Ok(())
    })?;
    Ok(all)
}

/// Snapshot the database: schemas, and rows or checksums by each table's mode.
pub fn take(db: &mut dyn Db, modes: &dyn Fn(&str) -> Mode) -> anyhow::Result<DbSnapshot> {
    let mut snap = DbSnapshot {
        kind: db.kind(),
        tables: Vec::new(),
        modes: BTreeMap::new(),
        data: BTreeMap::new(),
        chunks: BTreeMap::new(),
    };
    for t in db.tables()? {
        let mode = match modes(&t.name) {
            Mode::Auto if t.primary_key.is_empty() => Mode::Checksum,
            Mode::Auto if count_rows(db, &t.name)? < DATA_MODE_MAX_ROWS => Mode::Data,
            Mode::Auto => Mode::Checksum,
            m => m,
        };
        snap.modes.insert(t.name.clone(), mode);
        match mode {
            Mode::Skip => continue,
            Mode::Data => {
                let rows =
                    read_rows(db, &t).with_context(|| format!("reading the rows of {}", t.name))?;
                snap.data.insert(t.name.clone(), rows);
            }
            _ => {
                let chunks = db
                    .checksum_chunks(&t, CHUNK_ROWS)
                    .with_context(|| format!("checksumming {}", t.name))?;
                snap.chunks.insert(t.name.clone(), chunks);
            }
        }
        snap.tables.push(t);
    }
    Ok(snap)
}

fn cell_to_json(v: &Value) -> Json {
    let b64 = base64::engine::general_purpose::STANDARD;
    match v {
        Value::Null => Json::Null,
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!({ "u": u }),
        Value::Float(f) if f.is_finite() => json!({ "f": f }),
        Value::Float(f) => {
            json!({ "f": if f.is_nan() { "nan" } else if *f > 0.0 { "inf" } else { "-inf" } })
        }
        Value::Text(s) => json!(s),
        Value::Bytes(b) => json!({ "b": b64.encode(b) }),
    }
}

fn cell_from_json(j: &Json) -> anyhow::Result<Value> {
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(match j {
        Json::Null => Value::Null,
        Json::Number(n) => Value::Int(n.as_i64().context("bad integer")?),
        Json::String(s) => Value::Text(s.clone()),
        Json::Object(m) => match (m.get("u"), m.get("f"), m.get("b")) {
            (Some(u), _, _) => Value::UInt(u.as_u64().context("bad unsigned")?),
            (_, Some(Json::String(s)), _) => Value::Float(match s.as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                _ => f64::NAN,
            }),
            (_, Some(f), _) => Value::Float(f.as_f64().context("bad float")?),
            (_, _, Some(Json::String(b))) => Value::Bytes(b64.decode(b)?),
            _ => bail!("bad cell {j}"),
        },
        _ => bail!("bad cell {j}"),
    })
}

#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    kind: Kind,
    tables: Vec<TableSchema>,
    modes: BTreeMap<String, Mode>,
    data: BTreeMap<String, Vec<Vec<Json>>>,
    chunks: BTreeMap<String, Vec<Chunk>>,
}

impl DbSnapshot {
    pub fn to_bytes(&self) -> Vec<u8> {
        let data = self
            .data
            .iter()
            .map(|(t, rows)| {
                (
                    t.clone(),
                    rows.iter()
                        .map(|r| r.iter().map(cell_to_json).collect())
                        .collect(),
                )
            })
            .collect();
        let s = Stored {
            format: 1,
            kind: self.kind,
            tables: self.tables.clone(),
            modes: self.modes.clone(),
            data,
            chunks: self.chunks.clone(),
        };
        serde_json::to_vec(&s).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<DbSnapshot> {
        let s: Stored = serde_json::from_slice(bytes).context("reading a database snapshot")?;
        if s.format != 1 {
            bail!(
                "database snapshot format {} is newer than this devsky",
                s.format
            );
        }
        let mut data = BTreeMap::new();
        for (t, rows) in s.data {
            let rows = rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(cell_from_json)
                        .collect::<anyhow::Result<Vec<_>>>()
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            data.insert(t, rows);
        }
        Ok(DbSnapshot {
            kind: s.kind,
            tables: s.tables,
            modes: s.modes,
            data,
            chunks: s.chunks,
        })
    }

    /// Store in the object store; returns the object id.
    pub fn save(&self, objects: &ObjectStore) -> anyhow::Result<String> {
        Ok(objects.put_bytes(&self.to_bytes())?.id)
    }

    pub fn load(objects: &ObjectStore, id: &str) -> anyhow::Result<DbSnapshot> {
        let bytes = objects.get(id).with_context(|| {
            format!("the database snapshot {id} is missing from the object store")
        })?;
        DbSnapshot::from_bytes(&bytes)
    }

    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Rows of a table, when known.
    pub fn row_count(&self, table: &str) -> Option<u64> {
        self.data.get(table).map(|r| r.len() as u64).or_else(|| {
            self.chunks
                .get(table)
                .map(|c| c.iter().map(|c| c.rows).sum())
        })
    }
}

/// A script from a snapshot to the database: ordered steps, each with its reverse.
#[derive(Debug, Clone, Serialize)]
pub struct Script {
    pub kind: Kind,
    pub steps: Vec<Step>,
    /// What the script does not cover: data changes of 'checksum' tables, rows or values
    /// the reverse cannot restore.
    pub notes: Vec<String>,
    /// Why running the reverse script loses data (what the snapshot does not hold: rows
    /// of tables and columns that are new since).
    pub reverse_destructive: Vec<String>,
}

/// Destructive changes were refused; every reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("destructive changes refused (allow them with --allow-destructive):\n  {}", .0.join("\n  "))]
pub struct Refused(pub Vec<String>);

impl Script {
    /// Why steps are destructive, one reason each.
    pub fn destructive(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter_map(|s| s.destructive.clone())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.steps
            .iter()
            .all(|s| s.forward.is_empty() && s.reverse.is_empty())
    }

    /// The forward statements only (what [`apply`] runs).
    pub fn forward_body(&self) -> String {
        let parts: Vec<String> = self
            .steps
            .iter()
            .filter(|s| !s.forward.is_empty())
            .map(|s| match &s.destructive {
                Some(why) => format!("-- DESTRUCTIVE: {}\n{}", why.replace('\n', " "), s.forward),
                None => s.forward.clone(),
            })
            .collect();
        parts.join("\n")
    }

    /// The reverse statements only: the steps' reverses in reverse order.
    pub fn reverse_body(&self) -> String {
        let parts: Vec<&str> = self
            .steps
            .iter()
            .rev()
            .map(|s| s.reverse.as_str())
            .filter(|r| !r.is_empty())
            .collect();
        parts.join("\n")
    }

    fn framed(&self, body: String, what: &str) -> String {
        if body.is_empty() {
            return format!("-- devsky: no changes ({what})\n");
        }
        match self.kind {
            Kind::Sqlite => format!(
                "-- devsky: {what} script (SQLite). Run it whole: foreign keys are off while tables are rebuilt.\nPRAGMA foreign_keys = OFF;\nBEGIN;\n{body}\nCOMMIT;\nPRAGMA foreign_keys = ON;\n"
            ),
            Kind::Mysql => format!(
                "-- devsky: {what} script (MySQL). DDL commits as it runs: after a failure, the statements before it stay applied.\nSET FOREIGN_KEY_CHECKS = 0;\n{body}\nSET FOREIGN_KEY_CHECKS = 1;\n"
            ),
        }
    }

    /// The forward script, ready to run as is (transaction and foreign-key settings around it).
    pub fn forward_sql(&self) -> String {
        self.framed(self.forward_body(), "forward")
    }

    /// The reverse script, ready to run as is.
    pub fn reverse_sql(&self) -> String {
        self.framed(self.reverse_body(), "reverse")
    }
}

/// Run the forward (or reverse) script on `db` through [`Db::apply_script`], with foreign
/// keys off around it (SQLite: `PRAGMA foreign_keys` outside the transaction; MySQL:
/// `FOREIGN_KEY_CHECKS`, set back on even when the script fails).
pub fn apply(db: &mut dyn Db, script: &Script, reverse: bool) -> Result<ApplyReport, ApplyError> {
    let body = if reverse {
        script.reverse_body()
    } else {
        script.forward_body()
    };
    if body.is_empty() {
        return Ok(ApplyReport::default());
    }
    let (off, on) = match db.kind() {
        Kind::Sqlite => ("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON"),
        Kind::Mysql => ("SET FOREIGN_KEY_CHECKS = 0", "SET FOREIGN_KEY_CHECKS = 1"),
    };
    let quiet = &mut |_: QueryEvent| true;
    db.run(off, quiet).map_err(|error| ApplyError {
        error,
        committed: Vec::new(),
    })?;
    let result = db.apply_script(&body);
    let _ = db.run(on, quiet);
    result
}

/// The script from the snapshot `old` to the database now, refused with [`Refused`] when
/// it is destructive and that is not allowed. `renames` are column rename hints.
pub fn diff(
    old: &DbSnapshot,
    db: &mut dyn Db,
    allow_destructive: bool,
    renames: &[Rename],
) -> anyhow::Result<Script> {
    if db.kind() != old.kind {
        bail!(
            "the snapshot is of a {:?} database, this is {:?}",
            old.kind,
            db.kind()
        );
    }
    let now = take(db, &|t| old.modes.get(t).copied().unwrap_or(Mode::Auto))?;
    let script = between(old, &now, renames)?;
    schema_diff::refuse_destructive(&script.steps, allow_destructive).map_err(Refused)?;
    Ok(script)
}

/// The script from one database snapshot to another.
pub fn between(
    old: &DbSnapshot,
    new: &DbSnapshot,
    renames: &[Rename],
) -> Result<Script, DataDiffError> {
    let kind = new.kind;
    let mut steps = schema_diff::diff(kind, &old.tables, &new.tables, renames, &|t| {
        old.row_count(t)
    });
    let mut notes = Vec::new();
    let mut pre_images = Vec::new();
    for s in &mut steps {
        let (Some(t), rows) = (old.table(&s.table), old.data.get(&s.table)) else {
            continue;
        };
        if s.phase == Phase::DropTable {
            match rows {
                Some(rows) if !rows.is_empty() => {
                    s.reverse = format!("{}\n{}", s.reverse, insert_sql(kind, t, rows))
                }
                Some(_) => {}
                None => {
                    notes.push(format!("table {} is dropped; its rows were not saved ('checksum' mode): the reverse re-creates it empty", t.name));
                    if let Some(d) = &mut s.destructive {
                        d.push_str(" (not restorable: 'checksum' mode)");
                    }
                }
            }
        } else if !s.restore.is_empty() {
            match rows {
                Some(rows) => {
                    let sql = restore_sql(kind, t, rows, &s.restore)?;
                    if !sql.is_empty() {
                        pre_images.push(Step {
                            forward: String::new(),
                            reverse: sql,
                            destructive: None,
                            table: t.name.clone(),
                            phase: Phase::PreImage,
                            restore: Vec::new(),
                        });
                    }
                }
                None => notes.push(format!(
                    "values of {} in table {} cannot be restored by the reverse ('checksum' mode)",
                    s.restore.join(", "),
                    t.name
                )),
            }
        }
    }
    let refs: Vec<&TableSchema> = new.tables.iter().collect();
    let (order, _) = topo_order(&refs);
    let (mut deletes, mut upserts) = (Vec::new(), Vec::new());
    for &i in &order {
        let t = refs[i];
        let hints: Vec<(String, String)> = renames
            .iter()
            .filter(|r| r.0 == t.name)
            .map(|r| (r.1.clone(), r.2.clone()))
            .collect();
        match (
            old.table(&t.name),
            old.data.get(&t.name),
            new.data.get(&t.name),
        ) {
            (Some(o), Some(old_rows), Some(new_rows)) => {
                let r = diff_rows(kind, o, old_rows, t, new_rows, &hints)?;
                deletes.push(r.deletes);
                upserts.extend(r.upserts);
            }
            (None, _, Some(new_rows)) => {
                upserts.extend(diff_rows(kind, t, &[], t, new_rows, &[])?.upserts)
            }
            (None, _, None) => notes.push(format!(
                "table {} is new with {} rows ('checksum' mode): the script creates it empty",
                t.name,
                new.row_count(&t.name).unwrap_or(0)
            )),
            (Some(o), None, _) => {
                if let (Some(a), Some(b)) = (old.chunks.get(&t.name), new.chunks.get(&t.name)) {
                    if o != t {
                        notes.push(format!(
                            "table {}: schema changed, its data ('checksum' mode) is not compared",
                            t.name
                        ));
                    } else if a != b {
                        let differ =
                            a.len().max(b.len()) - a.iter().zip(b).filter(|(x, y)| x == y).count();
                        notes.push(format!("table {}: data changed in {differ} of {} chunks ('checksum' mode: not scripted)", t.name, a.len().max(b.len())));
                    }
                }
            }
            (Some(_), Some(_), None) => notes.push(format!(
                "table {}: now in 'checksum' mode, its data changes are not scripted",
                t.name
            )),
        }
    }
    steps.extend(pre_images);
    steps.extend(deletes.into_iter().rev().flatten());
    steps.extend(upserts);
    steps.sort_by_key(|s| s.phase);
    let back: Vec<Rename> = renames
        .iter()
        .map(|(t, a, b)| (t.clone(), b.clone(), a.clone()))
        .collect();
    let reverse_destructive =
        schema_diff::diff(kind, &new.tables, &old.tables, &back, &|t| new.row_count(t))
            .into_iter()
            .filter_map(|s| s.destructive)
            .collect();
    Ok(Script {
        kind,
        steps,
        notes,
        reverse_destructive,
    })
}

/// Whether two snapshots hold the same schema and the same data; what differs otherwise.
/// MySQL's `create_sql` is left out (it carries the table's AUTO_INCREMENT counter).
pub fn differences(want: &DbSnapshot, got: &DbSnapshot) -> Vec<String> {
    let mut out = Vec::new();
    let norm = |t: &TableSchema| {
        let mut t = t.clone();
        if want.kind == Kind::Mysql {
            t.create_sql.clear();
            for fk in &mut t.foreign_keys {
                for rule in [&mut fk.on_delete, &mut fk.on_update] {
                    if rule.is_empty() || rule.as_str() == "NO ACTION" {
                        *rule = "RESTRICT".into();
                    }
                }
            }
        }
        t
    };
    for w in &want.tables {
        match got.table(&w.name) {
            None => out.push(format!("table {} is missing", w.name)),
            Some(g) if norm(g) != norm(w) => {
                let (g, w) = (norm(g), norm(w));
                let fields: [(&str, String, String); 6] = [
                    (
                        "columns",
                        format!("{:?}", g.columns),
                        format!("{:?}", w.columns),
                    ),
                    (
                        "primary key",
                        format!("{:?}", g.primary_key),
                        format!("{:?}", w.primary_key),
                    ),
                    (
                        "indexes",
                        format!("{:?}", g.indexes),
                        format!("{:?}", w.indexes),
                    ),
                    (
                        "foreign keys",
                        format!("{:?}", g.foreign_keys),
                        format!("{:?}", w.foreign_keys),
                    ),
                    ("options", g.options.clone(), w.options.clone()),
                    ("create_sql", g.create_sql.clone(), w.create_sql.clone()),
                ];
                for (what, found, wanted) in fields.into_iter().filter(|f| f.1 != f.2) {
                    out.push(format!(
                        "table {}: {what} differ: found {found}, wanted {wanted}",
                        w.name
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for g in got.tables.iter().filter(|g| want.table(&g.name).is_none()) {
        out.push(format!("table {} should not exist", g.name));
    }
    for (t, rows) in &want.data {
        let Some(other) = got.data.get(t) else {
            continue;
        };
        let same = |a: &Vec<Value>, b: &Vec<Value>| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| data_diff::value_eq(x, y))
        };
        if let Some(i) =
            (0..rows.len().max(other.len())).find(|&i| match (rows.get(i), other.get(i)) {
                (Some(a), Some(b)) => !same(a, b),
                _ => true,
            })
        {
            out.push(format!(
                "table {t}: rows differ ({} wanted, {} found; first at row {}: {:?} vs {:?})",
                rows.len(),
                other.len(),
                i + 1,
                rows.get(i),
                other.get(i)
            ));
        }
    }
    for (t, chunks) in &want.chunks {
        if got.chunks.get(t).is_some_and(|c| c != chunks) {
            out.push(format!("table {t}: checksums differ"));
        }
    }
    out
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
