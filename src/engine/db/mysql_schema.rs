//! MySQL introspection and chunk checksums: information_schema and `SHOW CREATE TABLE`
//! normalized into [`TableSchema`]s, so the same DDL on two servers compares equal; and
//! how result columns and values map to [`Value`]s.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value as MyValue};

use mysql_async::consts::{ColumnFlags, ColumnType};

use super::ident;
use crate::engine::db::db_objects::DbObject;
use crate::engine::db::{Chunk, ColumnSchema, ForeignKey, IndexSchema, TableSchema, Value};

/// Every base table of the current database, normalized (see [`TableSchema`]).
pub(super) async fn tables(c: &mut Conn, mariadb: bool) -> mysql_async::Result<Vec<TableSchema>> {
    let tables: Vec<(String, Option<String>, Option<String>)> = c
        .query(
            "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
        )
        .await?;
    let columns: Vec<Row> = c
                .query(
                    "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, DATA_TYPE \
                     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
                )
                .await?;
    let stats: Vec<Row> = c
                .query(
                    "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
                )
                .await?;
    let fks: Vec<Row> = c
                .query(
                    "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, \
                     k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE \
                     FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
                     ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
                     AND r.TABLE_NAME = k.TABLE_NAME \
                     WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
                     ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
                )
                .await?;
    let mut creates = Vec::new();
    for (t, _, _) in &tables {
        let row: Option<(String, String)> = c
            .query_first(format!("SHOW CREATE TABLE {}", ident(t)))
            .await?;
        creates.push(row.map(|r| r.1).unwrap_or_default());
    }
    let s = |r: &Row, i: usize| r.as_ref(i).filter(|v| **v != MyValue::NULL).map(plain_text);
    let mut out = Vec::new();
    for ((name, engine, collation), create) in tables.into_iter().zip(creates) {
        let mine = |r: &&Row| s(r, 0).as_deref() == Some(name.as_str());
        let mut t = TableSchema {
            name: name.clone(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            options: {
                let coll = collation.unwrap_or_default();
                let charset = coll.split('_').next().unwrap_or("").to_string();
                [engine.unwrap_or_default(), charset, coll]
                    .into_iter()
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            },
            create_sql: strip_auto_increment(&create),
        };
        for r in columns.iter().filter(mine) {
            let nullable = s(r, 3).as_deref() == Some("YES");
            let raw_extra = s(r, 5).unwrap_or_default().to_ascii_lowercase();
            let data_type = s(r, 6).unwrap_or_default().to_ascii_lowercase();
            t.columns.push(ColumnSchema {
                name: s(r, 1).unwrap_or_default(),
                data_type: s(r, 2).unwrap_or_default().to_ascii_lowercase(),
                nullable,
                default: normalize_default(s(r, 4), nullable, &data_type, &raw_extra, mariadb),
                extra: normalize_extra(&raw_extra),
            });
        }
        for r in stats.iter().filter(mine) {
            let iname = s(r, 1).unwrap_or_default();
            let mut col = s(r, 3).unwrap_or_else(|| "<expr>".into());
            if let Some(part) = s(r, 4) {
                col = format!("{col}({part})");
            }
            if iname == "PRIMARY" {
                t.primary_key.push(col);
            } else if let Some(ix) = t.indexes.iter_mut().find(|i| i.name == iname) {
                ix.columns.push(col);
            } else {
                let unique = s(r, 2).as_deref() == Some("0");
                t.indexes.push(IndexSchema {
                    name: iname,
                    columns: vec![col],
                    unique,
                });
            }
        }
        for r in fks.iter().filter(mine) {
            let fname = s(r, 1).unwrap_or_default();
            if t.foreign_keys.last().is_none_or(|f| f.name != fname) {
                t.foreign_keys.push(ForeignKey {
                    name: fname,
                    columns: Vec::new(),
                    ref_table: s(r, 3).unwrap_or_default(),
                    ref_columns: Vec::new(),
                    on_update: s(r, 5).unwrap_or_default().to_ascii_uppercase(),
                    on_delete: s(r, 6).unwrap_or_default().to_ascii_uppercase(),
                });
            }
            let f = t.foreign_keys.last_mut().expect("pushed");
            f.columns.extend(s(r, 2));
            f.ref_columns.extend(s(r, 4));
        }
        // Indexes in the order the table declares them (the server's text), not by name;
        // foreign keys by name, as the server itself lists them.
        let declared: Vec<String> = crate::engine::db::show_create::parse(&t.create_sql)
            .map(|p| p.indexes.into_iter().map(|(n, _)| n).collect())
            .unwrap_or_default();
        t.indexes.sort_by_key(|ix| {
            (
                declared
                    .iter()
                    .position(|n| n == &ix.name)
                    .unwrap_or(usize::MAX),
                ix.name.clone(),
            )
        });
        t.foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));
        out.push(t);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Views, triggers, routines and events of the current database, each with the server's
/// own `CREATE` text (`SHOW CREATE ..`) and, but for views, the `sql_mode` it was made
/// under. Triggers come in their firing order per table.
pub(super) async fn objects(c: &mut Conn) -> mysql_async::Result<Vec<DbObject>> {
    let mut out = Vec::new();
    let s = |r: &Row, i: usize| {
        r.as_ref(i)
            .filter(|v| **v != MyValue::NULL)
            .map(plain_text)
            .unwrap_or_default()
    };
    let lists: [(&str, &str); 4] = [
        (
            "function",
            "SELECT ROUTINE_NAME, '' FROM information_schema.ROUTINES \
             WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE = 'FUNCTION' ORDER BY ROUTINE_NAME",
        ),
        (
            "procedure",
            "SELECT ROUTINE_NAME, '' FROM information_schema.ROUTINES \
             WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE = 'PROCEDURE' ORDER BY ROUTINE_NAME",
        ),
        (
            "view",
            "SELECT TABLE_NAME, '' FROM information_schema.VIEWS \
             WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
        ),
        (
            "trigger",
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
             WHERE TRIGGER_SCHEMA = DATABASE() \
             ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
        ),
    ];
    let mut named: Vec<(&str, String, String)> = Vec::new();
    for (kind, sql) in lists {
        let rows: Vec<Row> = c.query(sql).await?;
        named.extend(rows.iter().map(|r| (kind, s(r, 0), s(r, 1))));
    }
    // Events need the EVENT privilege to be listed; without them the list is empty.
    let events: Vec<Row> = c
        .query("SELECT EVENT_NAME, '' FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() ORDER BY EVENT_NAME")
        .await
        .unwrap_or_default();
    named.extend(events.iter().map(|r| ("event", s(r, 0), s(r, 1))));
    for (kind, name, table) in named {
        let row: Option<Row> = c
            .query_first(format!(
                "SHOW CREATE {} {}",
                kind.to_ascii_uppercase(),
                ident(&name)
            ))
            .await?;
        let Some(row) = row else { continue };
        // SHOW CREATE VIEW: (View, Create View, ..); TRIGGER/PROCEDURE/FUNCTION: (name,
        // sql_mode, statement, ..); EVENT: (Event, sql_mode, time_zone, Create Event, ..).
        let (mode, create, time_zone) = match kind {
            "view" => (String::new(), s(&row, 1), String::new()),
            "event" => (s(&row, 1), s(&row, 3), s(&row, 2)),
            _ => (s(&row, 1), s(&row, 2), String::new()),
        };
        out.push(DbObject {
            kind: kind.into(),
            name,
            table,
            create_sql: create,
            sql_mode: mode,
            time_zone,
        });
    }
    Ok(out)
}

/// Chunk checksums over primary-key ranges (see the module docs of `mysql`).
pub(super) async fn checksums(
    c: &mut Conn,
    table: &TableSchema,
    chunk_rows: u64,
) -> mysql_async::Result<Vec<Chunk>> {
    let t = ident(&table.name);
    let cols: Vec<String> = table.columns.iter().map(|c| ident(&c.name)).collect();
    let isnull: Vec<String> = cols.iter().map(|c| format!("ISNULL({c})")).collect();
    let agg = format!(
        "COUNT(*), BIT_XOR(CAST(CRC32(CONCAT_WS('#', {}, CONCAT({}))) AS UNSIGNED))",
        cols.join(", "),
        isnull.join(", ")
    );
    let pk: Vec<String> = table.primary_key.iter().map(|c| ident(c)).collect();
    if pk.is_empty() {
        let (rows, checksum): (u64, u64) = c
            .query_first(format!("SELECT {agg} FROM {t}"))
            .await?
            .unwrap_or((0, 0));
        return Ok(if rows == 0 {
            Vec::new()
        } else {
            vec![Chunk {
                lo: Vec::new(),
                hi: Vec::new(),
                rows,
                checksum,
            }]
        });
    }
    if let Some(chunks) = integer_chunks(c, table, &t, &agg, chunk_rows).await? {
        return Ok(chunks);
    }
    let keys = pk.join(", ");
    let desc = pk
        .iter()
        .map(|k| format!("{k} DESC"))
        .collect::<Vec<_>>()
        .join(", ");
    let (ge, ge_n) = range(&pk, ">=");
    let (le, le_n) = range(&pk, "<=");
    let (gt, gt_n) = range(&pk, ">");
    let skip = chunk_rows.max(1) - 1;
    let first = format!("SELECT {keys} FROM {t} ORDER BY {keys} LIMIT 1");
    let hi_q = format!("SELECT {keys} FROM {t} WHERE {ge} ORDER BY {keys} LIMIT 1 OFFSET {skip}");
    let last_q = format!("SELECT {keys} FROM {t} ORDER BY {desc} LIMIT 1");
    let sum_q = format!("SELECT {agg} FROM {t} WHERE {ge} AND {le}");
    let next_q = format!("SELECT {keys} FROM {t} WHERE {gt} ORDER BY {keys} LIMIT 1");
    {
        let mut chunks = Vec::new();
        let mut lo: Option<Row> = c.exec_first(first.as_str(), ()).await?;
        let last: Option<Row> = c.exec_first(last_q.as_str(), ()).await?;
        while let Some(l) = lo {
            let lo_v = l.unwrap();
            let hi = match c
                .exec_first::<Row, _, _>(hi_q.as_str(), expand(&lo_v, &ge_n))
                .await?
            {
                Some(h) => h.unwrap(),
                None => last.clone().expect("a first row implies a last").unwrap(),
            };
            let mut params = expand(&lo_v, &ge_n);
            params.extend(expand(&hi, &le_n));
            let (rows, checksum): (u64, u64) = c
                .exec_first(sum_q.as_str(), params)
                .await?
                .unwrap_or((0, 0));
            chunks.push(Chunk {
                lo: lo_v.iter().map(plain_text).collect(),
                hi: hi.iter().map(plain_text).collect(),
                rows,
                checksum,
            });
            lo = c.exec_first(next_q.as_str(), expand(&hi, &gt_n)).await?;
        }
        Ok(chunks)
    }
}

/// Chunks of a table with a single integer primary key: fixed key ranges `[k·C, (k+1)·C)`.
/// One indexed range scan per chunk and no boundary queries, and the ranges do not move
/// when rows are inserted or deleted elsewhere, so two snapshots' chunks line up. Empty
/// stretches are skipped by asking for the next key. None for other keys.
async fn integer_chunks(
    c: &mut Conn,
    table: &TableSchema,
    t: &str,
    agg: &str,
    chunk_rows: u64,
) -> mysql_async::Result<Option<Vec<Chunk>>> {
    let [key] = table.primary_key.as_slice() else {
        return Ok(None);
    };
    let is_int = table.columns.iter().any(|col| {
        &col.name == key
            && ["tinyint", "smallint", "mediumint", "int", "bigint"]
                .iter()
                .any(|ty| col.data_type.split(['(', ' ']).next() == Some(*ty))
    });
    if !is_int {
        return Ok(None);
    }
    let k = ident(key);
    let size = chunk_rows.max(1) as i128;
    let sum_q = format!("SELECT {agg} FROM {t} WHERE {k} >= ? AND {k} <= ?");
    let next_q = format!("SELECT CAST(MIN({k}) AS CHAR) FROM {t} WHERE {k} >= ?");
    let mut chunks = Vec::new();
    let mut next: Option<i128> = c
        .query_first::<Option<String>, _>(format!("SELECT CAST(MIN({k}) AS CHAR) FROM {t}"))
        .await?
        .flatten()
        .and_then(|v| v.parse().ok());
    while let Some(at) = next {
        let lo = at.div_euclid(size) * size;
        let hi = lo + size - 1;
        let (rows, checksum): (u64, u64) = c
            .exec_first(sum_q.as_str(), (lo.to_string(), hi.to_string()))
            .await?
            .unwrap_or((0, 0));
        if rows > 0 {
            chunks.push(Chunk {
                lo: vec![lo.to_string()],
                hi: vec![hi.to_string()],
                rows,
                checksum,
            });
        }
        next = c
            .exec_first::<Option<String>, _, _>(next_q.as_str(), ((hi + 1).to_string(),))
            .await?
            .flatten()
            .and_then(|v| v.parse().ok());
    }
    Ok(Some(chunks))
}

/// `(k1, k2) <op> (?, ?)` spelled out so indexes are used: for `>=`,
/// `(k1 > ? OR (k1 = ? AND k2 >= ?))`. Returns the SQL and, per placeholder, which key
/// value it takes.
fn range(keys: &[String], op: &str) -> (String, Vec<usize>) {
    let strict = &op[..1];
    let mut ors = Vec::new();
    let mut idx = Vec::new();
    for j in 0..keys.len() {
        let mut ands: Vec<String> = (0..j).map(|i| format!("{} = ?", keys[i])).collect();
        idx.extend(0..j);
        let last_op = if j + 1 == keys.len() { op } else { strict };
        ands.push(format!("{} {last_op} ?", keys[j]));
        idx.push(j);
        ors.push(format!("({})", ands.join(" AND ")));
    }
    (format!("({})", ors.join(" OR ")), idx)
}

fn expand(values: &[MyValue], idx: &[usize]) -> Vec<MyValue> {
    idx.iter().map(|&i| values[i].clone()).collect()
}

fn strip_auto_increment(create: &str) -> String {
    match create.find(" AUTO_INCREMENT=") {
        Some(i) => {
            let rest = &create[i + 16..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            format!("{}{}", &create[..i], &rest[end..])
        }
        None => create.to_string(),
    }
}

fn normalize_extra(extra: &str) -> String {
    let e = extra
        .to_ascii_lowercase()
        .replace("default_generated", "")
        .replace("current_timestamp()", "current_timestamp");
    e.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One spelling of a default for both servers' styles: MariaDB (10.2.7+) gives SQL text
/// (`'x'`, `NULL`, `current_timestamp()`), MySQL the bare value (`x`, SQL NULL).
fn normalize_default(
    d: Option<String>,
    nullable: bool,
    data_type: &str,
    extra: &str,
    mariadb: bool,
) -> Option<String> {
    let func = |d: &str| {
        let l = d.to_ascii_lowercase();
        let l = l.strip_suffix("()").unwrap_or(&l);
        match l {
            "current_timestamp" | "now" | "localtimestamp" => Some("CURRENT_TIMESTAMP".to_string()),
            _ if l.starts_with("current_timestamp(") => {
                Some(format!("CURRENT_TIMESTAMP{}", &l[17..]))
            }
            _ => None,
        }
    };
    let d = match d {
        None if nullable => return Some("NULL".into()),
        None => return None,
        Some(d) => d,
    };
    if let Some(f) = func(&d) {
        return Some(f);
    }
    if mariadb || extra.contains("default_generated") {
        return Some(d);
    }
    let numeric = matches!(
        data_type,
        "tinyint"
            | "smallint"
            | "mediumint"
            | "int"
            | "integer"
            | "bigint"
            | "decimal"
            | "numeric"
            | "float"
            | "double"
            | "year"
    );
    if numeric {
        Some(d)
    } else {
        Some(format!("'{}'", d.replace('\'', "''")))
    }
}

#[derive(PartialEq)]
enum Class {
    Int,
    UInt,
    Float,
    Binary,
    Text,
}

fn class(c: &mysql_async::Column) -> Class {
    use ColumnType::*;
    let binary_charset = c.character_set() == 63;
    match c.column_type() {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR => {
            if c.flags().contains(ColumnFlags::UNSIGNED_FLAG) {
                Class::UInt
            } else {
                Class::Int
            }
        }
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => Class::Float,
        MYSQL_TYPE_BIT | MYSQL_TYPE_GEOMETRY => Class::Binary,
        MYSQL_TYPE_STRING
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
            if binary_charset =>
        {
            Class::Binary
        }
        _ => Class::Text,
    }
}

pub(super) fn type_name(c: &mysql_async::Column) -> String {
    use ColumnType::*;
    let bin = class(c) == Class::Binary;
    let name = match c.column_type() {
        MYSQL_TYPE_TINY => "TINYINT",
        MYSQL_TYPE_SHORT => "SMALLINT",
        MYSQL_TYPE_INT24 => "MEDIUMINT",
        MYSQL_TYPE_LONG => "INT",
        MYSQL_TYPE_LONGLONG => "BIGINT",
        MYSQL_TYPE_YEAR => "YEAR",
        MYSQL_TYPE_FLOAT => "FLOAT",
        MYSQL_TYPE_DOUBLE => "DOUBLE",
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => "DECIMAL",
        MYSQL_TYPE_BIT => "BIT",
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => "DATE",
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => "DATETIME",
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => "TIMESTAMP",
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => "TIME",
        MYSQL_TYPE_JSON => "JSON",
        MYSQL_TYPE_ENUM => "ENUM",
        MYSQL_TYPE_SET => "SET",
        MYSQL_TYPE_GEOMETRY => "GEOMETRY",
        MYSQL_TYPE_NULL => "NULL",
        MYSQL_TYPE_STRING if bin => "BINARY",
        MYSQL_TYPE_STRING => "CHAR",
        MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_VARCHAR if bin => "VARBINARY",
        MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_VARCHAR => "VARCHAR",
        _ if bin => "BLOB",
        _ => "TEXT",
    };
    let unsigned =
        c.flags().contains(ColumnFlags::UNSIGNED_FLAG) && matches!(class(c), Class::UInt);
    if unsigned {
        format!("{name} UNSIGNED")
    } else {
        name.to_string()
    }
}

fn convert(v: MyValue, c: &mysql_async::Column) -> Value {
    match v {
        MyValue::NULL => Value::Null,
        MyValue::Bytes(b) => {
            let text = |b: Vec<u8>| match String::from_utf8(b) {
                Ok(s) => Value::Text(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            };
            let s = std::str::from_utf8(&b).unwrap_or("");
            match class(c) {
                Class::Int => s.parse().map(Value::Int).unwrap_or_else(|_| text(b)),
                Class::UInt => s.parse().map(Value::UInt).unwrap_or_else(|_| text(b)),
                Class::Float => s.parse().map(Value::Float).unwrap_or_else(|_| text(b)),
                Class::Binary => Value::Bytes(b),
                Class::Text => text(b),
            }
        }
        MyValue::Int(i) => Value::Int(i),
        MyValue::UInt(u) => Value::UInt(u),
        MyValue::Float(f) => Value::Float(f as f64),
        MyValue::Double(f) => Value::Float(f),
        other => Value::Text(plain_text(&other)),
    }
}

/// A value as text without quotes (dates as `YYYY-MM-DD hh:mm:ss[.ffffff]`).
pub(super) fn plain_text(v: &MyValue) -> String {
    match v {
        MyValue::NULL => "NULL".into(),
        MyValue::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_string(),
            Err(_) => Value::Bytes(b.clone()).display().unwrap_or_default(),
        },
        MyValue::Int(i) => i.to_string(),
        MyValue::UInt(u) => u.to_string(),
        MyValue::Float(f) => f.to_string(),
        MyValue::Double(f) => f.to_string(),
        other => other.as_sql(true).trim_matches('\'').to_string(),
    }
}

pub(super) fn row_values(row: Row, cols: &[mysql_async::Column]) -> Vec<Value> {
    row.unwrap()
        .into_iter()
        .zip(cols)
        .map(|(v, c)| convert(v, c))
        .collect()
}
