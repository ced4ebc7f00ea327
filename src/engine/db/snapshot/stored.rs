//! How a [`DbSnapshot`] is stored: one JSON object (zstd-compressed by the object store),
//! cells as `null`, numbers (i64), strings; `{"u": n}` an unsigned integer, `{"f": x}` a
//! float (`"nan"`, `"inf"`, `"-inf"` for the non-finite), `{"b": base64}` bytes. Snapshots
//! from before objects were kept are read too.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::{DbSnapshot, Mode};
use crate::engine::db::db_objects::DbObject;
use crate::engine::db::{Chunk, Kind, TableSchema, Value};
use crate::engine::snapshot::objects::ObjectStore;

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
    #[serde(default)]
    counters: BTreeMap<String, u64>,
    /// Absent in snapshots taken before objects were kept.
    #[serde(default)]
    objects: Option<Vec<DbObject>>,
}

/// SQLite indexes of a snapshot taken before objects were kept, as objects (their text as
/// devsky writes it), so that a script from it does not create them a second time.
fn legacy_objects(kind: Kind, tables: &[TableSchema]) -> Vec<DbObject> {
    if kind != Kind::Sqlite {
        return Vec::new();
    }
    tables
        .iter()
        .flat_map(|t| {
            t.indexes
                .iter()
                .filter(|ix| !ix.name.starts_with("sqlite_autoindex_"))
                .map(|ix| DbObject {
                    kind: "index".into(),
                    name: ix.name.clone(),
                    table: t.name.clone(),
                    create_sql: crate::engine::db::ddl::add_index_sql(kind, &t.name, ix)
                        .trim_end_matches(';')
                        .to_string(),
                    sql_mode: String::new(),
                    time_zone: String::new(),
                })
        })
        .collect()
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
            counters: self.counters.clone(),
            objects: Some(self.objects.clone()),
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
            modes: s.modes,
            data,
            chunks: s.chunks,
            counters: s.counters,
            objects: s
                .objects
                .unwrap_or_else(|| legacy_objects(s.kind, &s.tables)),
            tables: s.tables,
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
