//! Data diff for tables in 'data' mode: rows matched by primary key, turned into INSERT,
//! UPDATE and DELETE statements, each with its reverse (an UPDATE's reverse sets the old
//! values back, a DELETE's re-inserts the whole old row).
//!
//! Rows are matched by hashing their key values, so the engines' collation order does not
//! matter. A table without a primary key (or whose key cannot be matched because a key
//! column is new) is matched by whole rows, duplicates counted: each surplus copy is one
//! `DELETE` of one row matching every column (MySQL `<=>` and `LIMIT 1`, SQLite `IS` and a
//! `rowid` sub-select), each missing copy one `INSERT`. When neither works (a new column and
//! rows on both sides) the diff is refused with the table and the reason.
//!
//! Literals are written per engine:
//!
//! - NULL is `NULL` (never `''`); integers and floats as numbers;
//! - text: `'…'` with `'` doubled and no backslash escapes, so the same text is read under
//!   any `sql_mode` (`NO_BACKSLASH_ESCAPES` or not; `ANSI_QUOTES` only changes `"`). MySQL
//!   text holding `\`, NUL, CR or ^Z goes as `_utf8mb4 X'…'` (bytes, then converted to the
//!   column's character set); SQLite text holding NUL as `CAST(X'…' AS TEXT)`; 4-byte UTF-8
//!   (emoji) as is;
//! - bytes (BLOBs, and text that is not valid UTF-8) as `X'…'` hex.

use std::collections::HashMap;

use super::schema_diff::{Phase, Step, ident, placeholder, writable};
use super::{ColumnSchema, Kind, TableSchema, Value};

/// Why rows of a table cannot be diffed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataDiffError {
    #[error("table {0} has no primary key: mark it 'checksum' or add a key")]
    NoPrimaryKey(String),
    #[error(
        "table {table}: column {column} is new and the table has no primary key that existed before; rows cannot be matched (mark the table 'checksum' for this change)"
    )]
    KeyChanged { table: String, column: String },
}

/// An SQL literal for `v`.
pub fn literal(kind: Kind, v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) if f.is_finite() => format!("{f:?}"),
        Value::Float(f) if kind == Kind::Sqlite && !f.is_nan() => {
            if *f > 0.0 { "9e999" } else { "-9e999" }.into()
        }
        Value::Float(_) => "NULL".into(),
        Value::Text(s) => text_literal(kind, s),
        Value::Bytes(b) => hex(b),
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2 + 3);
    s.push_str("X'");
    for x in b {
        s.push_str(&format!("{x:02X}"));
    }
    s.push('\'');
    s
}

fn text_literal(kind: Kind, s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    match kind {
        Kind::Sqlite if s.contains('\0') => return format!("CAST({} AS TEXT)", hex(s.as_bytes())),
        Kind::Sqlite => out.push_str(&s.replace('\'', "''")),
        Kind::Mysql if s.contains(['\\', '\0', '\r', '\u{1a}']) => {
            return format!("_utf8mb4 {}", hex(s.as_bytes()));
        }
        Kind::Mysql => out.push_str(&s.replace('\'', "''")),
    }
    out.push('\'');
    out
}

/// Equal as stored values (an integer read as signed or unsigned is the same number).
pub fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::UInt(y)) | (Value::UInt(y), Value::Int(x)) => {
            u64::try_from(*x).is_ok_and(|x| x == *y)
        }
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        _ => a == b,
    }
}

/// A hashable key of a row's primary-key values.
fn key(row: &[Value], cols: &[usize]) -> String {
    let mut k = String::new();
    for &i in cols {
        match row.get(i).unwrap_or(&Value::Null) {
            Value::Int(v) => k.push_str(&format!("n{v}")),
            Value::UInt(v) => k.push_str(&format!("n{v}")),
            v => k.push_str(&literal(Kind::Sqlite, v)),
        }
        k.push('\u{1}');
    }
    k
}

fn where_key(kind: Kind, t: &TableSchema, cols: &[usize], row: &[Value]) -> String {
    cols.iter()
        .map(|&i| {
            format!(
                "{} = {}",
                ident(kind, &t.columns[i].name),
                literal(kind, &row[i])
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Every writable column equal (NULL-safe): one row of a table without a usable key.
fn where_row(kind: Kind, t: &TableSchema, cols: &[usize], row: &[Value]) -> String {
    let eq = match kind {
        Kind::Mysql => "<=>",
        Kind::Sqlite => "IS",
    };
    cols.iter()
        .map(|&i| {
            format!(
                "{} {eq} {}",
                ident(kind, &t.columns[i].name),
                literal(kind, &row[i])
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `DELETE` of exactly one row of `t` whose `cols` hold `row`'s values.
fn delete_one(kind: Kind, t: &TableSchema, cols: &[usize], row: &[Value]) -> String {
    let table = ident(kind, &t.name);
    let wh = where_row(kind, t, cols, row);
    match kind {
        Kind::Mysql => format!("DELETE FROM {table} WHERE {wh} LIMIT 1;"),
        Kind::Sqlite => format!(
            "DELETE FROM {table} WHERE rowid = (SELECT rowid FROM {table} WHERE {wh} LIMIT 1);"
        ),
    }
}

fn pk_indexes(t: &TableSchema) -> Result<Vec<usize>, DataDiffError> {
    if t.primary_key.is_empty() {
        return Err(DataDiffError::NoPrimaryKey(t.name.clone()));
    }
    t.primary_key
        .iter()
        .map(|c| {
            t.columns
                .iter()
                .position(|x| &x.name == c)
                .ok_or_else(|| DataDiffError::NoPrimaryKey(t.name.clone()))
        })
        .collect()
}

/// One INSERT of `cols` (indexes into `t.columns`) of `row`.
fn insert_one(kind: Kind, t: &TableSchema, cols: &[(usize, String)]) -> String {
    let names: Vec<String> = cols
        .iter()
        .map(|(i, _)| ident(kind, &t.columns[*i].name))
        .collect();
    let vals: Vec<&str> = cols.iter().map(|(_, v)| v.as_str()).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({});",
        ident(kind, &t.name),
        names.join(", "),
        vals.join(", ")
    )
}

/// INSERT statements for `rows` of `t` (100 rows each): the pre-images of a dropped table.
pub fn insert_sql(kind: Kind, t: &TableSchema, rows: &[Vec<Value>]) -> String {
    let cols: Vec<usize> = (0..t.columns.len())
        .filter(|&i| writable(&t.columns[i]))
        .collect();
    let names: Vec<String> = cols
        .iter()
        .map(|&i| ident(kind, &t.columns[i].name))
        .collect();
    rows.chunks(100)
        .map(|chunk| {
            let values: Vec<String> = chunk
                .iter()
                .map(|r| {
                    format!(
                        "({})",
                        cols.iter()
                            .map(|&i| literal(kind, &r[i]))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .collect();
            format!(
                "INSERT INTO {} ({}) VALUES\n{};",
                ident(kind, &t.name),
                names.join(", "),
                values.join(",\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// UPDATE statements setting `columns` of every row of `t` back to `rows` (pre-images),
/// by primary key: what the reverse of dropping or narrowing a column needs.
pub fn restore_sql(
    kind: Kind,
    t: &TableSchema,
    rows: &[Vec<Value>],
    columns: &[String],
) -> Result<String, DataDiffError> {
    let pk = pk_indexes(t)?;
    let cols: Vec<usize> = columns
        .iter()
        .filter_map(|c| t.columns.iter().position(|x| &x.name == c))
        .filter(|&i| !pk.contains(&i) && writable(&t.columns[i]))
        .collect();
    if cols.is_empty() {
        return Ok(String::new());
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let sets: Vec<String> = cols
            .iter()
            .map(|&i| {
                format!(
                    "{} = {}",
                    ident(kind, &t.columns[i].name),
                    literal(kind, &r[i])
                )
            })
            .collect();
        out.push(format!(
            "UPDATE {} SET {} WHERE {};",
            ident(kind, &t.name),
            sets.join(", "),
            where_key(kind, t, &pk, r)
        ));
    }
    Ok(out.join("\n"))
}

/// The value an existing row gets when column `c` is added, as literal text, when it is
/// a plain literal (NULL, a number, a quoted string).
fn added_value(c: &ColumnSchema) -> Option<String> {
    match c.default.as_deref().map(str::trim) {
        None => c.nullable.then(|| "NULL".into()),
        Some(d) if d.eq_ignore_ascii_case("null") => Some("NULL".into()),
        Some(d)
            if d.parse::<f64>().is_ok()
                || (d.len() >= 2 && d.starts_with('\'') && d.ends_with('\'')) =>
        {
            Some(d.to_string())
        }
        Some(_) => None,
    }
}

/// The row changes of one table, split so a script can delete children first and insert
/// parents first.
#[derive(Debug, Default)]
pub struct RowSteps {
    pub deletes: Vec<Step>,
    pub upserts: Vec<Step>,
}

/// Rows from `old_rows` (columns of `old`) to `new_rows` (columns of `new`); the statements
/// run on the table as `new` describes it, after the schema steps. `renames` are (old, new)
/// column names of this table.
pub fn diff_rows(
    kind: Kind,
    old: &TableSchema,
    old_rows: &[Vec<Value>],
    new: &TableSchema,
    new_rows: &[Vec<Value>],
    renames: &[(String, String)],
) -> Result<RowSteps, DataDiffError> {
    // For each new column, its old column.
    let src: Vec<Option<usize>> = new
        .columns
        .iter()
        .map(|c| {
            let name = renames
                .iter()
                .find(|r| r.1 == c.name)
                .map_or(c.name.as_str(), |r| r.0.as_str());
            let away = renames.iter().any(|r| r.0 == c.name && r.1 != c.name);
            if away && name == c.name {
                None
            } else {
                old.columns.iter().position(|x| x.name == name)
            }
        })
        .collect();
    let keyed = pk_indexes(new).is_ok_and(|pk| pk.iter().all(|&i| src[i].is_some()));
    if !keyed {
        return diff_whole_rows(kind, new, old_rows, new_rows, &src);
    }
    let new_pk = pk_indexes(new)?;
    let old_pk: Vec<usize> = new_pk.iter().filter_map(|&i| src[i]).collect();
    let at: HashMap<String, usize> = old_rows
        .iter()
        .enumerate()
        .map(|(i, r)| (key(r, &old_pk), i))
        .collect();
    let mut seen = vec![false; old_rows.len()];
    let mut out = RowSteps::default();
    let table = ident(kind, &new.name);
    let step = |phase, forward, reverse| Step {
        forward,
        reverse,
        destructive: None,
        table: new.name.clone(),
        phase,
        restore: Vec::new(),
    };
    for row in new_rows {
        let Some(&i) = at.get(&key(row, &new_pk)) else {
            let all: Vec<(usize, String)> = row
                .iter()
                .enumerate()
                .filter(|(i, _)| writable(&new.columns[*i]))
                .map(|(i, v)| (i, literal(kind, v)))
                .collect();
            out.upserts.push(step(
                Phase::UpsertRows,
                insert_one(kind, new, &all),
                format!(
                    "DELETE FROM {table} WHERE {};",
                    where_key(kind, new, &new_pk, row)
                ),
            ));
            continue;
        };
        seen[i] = true;
        let old_row = &old_rows[i];
        let (mut fwd, mut rev) = (Vec::new(), Vec::new());
        for (j, c) in new
            .columns
            .iter()
            .enumerate()
            .filter(|(j, c)| !new_pk.contains(j) && writable(c))
        {
            let set = |v: &Value| format!("{} = {}", ident(kind, &c.name), literal(kind, v));
            match src[j] {
                Some(o) => {
                    let retyped = old.columns[o].data_type != c.data_type;
                    let same = value_eq(&old_row[o], &row[j])
                        || (retyped
                            && old_row[o].display().is_some()
                            && old_row[o].display() == row[j].display());
                    if !same {
                        fwd.push(set(&row[j]));
                        rev.push(set(&old_row[o]));
                    }
                }
                None => {
                    if added_value(c).is_none_or(|d| d != literal(kind, &row[j])) {
                        fwd.push(set(&row[j]));
                    }
                }
            }
        }
        if fwd.is_empty() {
            continue;
        }
        let wh = where_key(kind, new, &new_pk, row);
        let reverse = if rev.is_empty() {
            String::new()
        } else {
            format!("UPDATE {table} SET {} WHERE {wh};", rev.join(", "))
        };
        out.upserts.push(step(
            Phase::UpsertRows,
            format!("UPDATE {table} SET {} WHERE {wh};", fwd.join(", ")),
            reverse,
        ));
    }
    for old_row in old_rows
        .iter()
        .zip(&seen)
        .filter(|(_, seen)| !**seen)
        .map(|(r, _)| r)
    {
        // Re-inserted into the new shape of the table: the new columns it did not have get
        // their default, or a placeholder when NOT NULL without one.
        let mut vals = Vec::new();
        for (j, c) in new.columns.iter().enumerate().filter(|(_, c)| writable(c)) {
            match src[j] {
                Some(o) => vals.push((j, literal(kind, &old_row[o]))),
                None if !c.nullable
                    && c.default.is_none()
                    && !c.extra.to_ascii_lowercase().contains("auto_increment") =>
                {
                    vals.push((j, placeholder(kind, c).to_string()))
                }
                None => {}
            }
        }
        let wh = old_pk
            .iter()
            .zip(&new_pk)
            .map(|(&o, &n)| {
                format!(
                    "{} = {}",
                    ident(kind, &new.columns[n].name),
                    literal(kind, &old_row[o])
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        out.deletes.push(step(
            Phase::DeleteRows,
            format!("DELETE FROM {table} WHERE {wh};"),
            insert_one(kind, new, &vals),
        ));
    }
    Ok(out)
}

/// Rows of a table without a usable primary key, matched as whole rows (every writable
/// column), duplicates counted.
fn diff_whole_rows(
    kind: Kind,
    new: &TableSchema,
    old_rows: &[Vec<Value>],
    new_rows: &[Vec<Value>],
    src: &[Option<usize>],
) -> Result<RowSteps, DataDiffError> {
    let cols: Vec<usize> = (0..new.columns.len())
        .filter(|&i| writable(&new.columns[i]))
        .collect();
    let step = |phase, forward, reverse| Step {
        forward,
        reverse,
        destructive: None,
        table: new.name.clone(),
        phase,
        restore: Vec::new(),
    };
    let mut out = RowSteps::default();
    // The columns an old row has a value for; the others are new.
    let known: Vec<usize> = cols.iter().copied().filter(|&j| src[j].is_some()).collect();
    if known.len() < cols.len() && !old_rows.is_empty() && !new_rows.is_empty() {
        let j = cols
            .iter()
            .find(|&&j| src[j].is_none())
            .copied()
            .unwrap_or(0);
        return Err(DataDiffError::KeyChanged {
            table: new.name.clone(),
            column: new.columns[j].name.clone(),
        });
    }
    // Old rows in the new column order (new columns NULL: only read through `known`).
    let old_new: Vec<Vec<Value>> = old_rows
        .iter()
        .map(|r| {
            src.iter()
                .map(|s| s.map_or(Value::Null, |o| r[o].clone()))
                .collect()
        })
        .collect();
    let mut pool: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in old_new.iter().enumerate().rev() {
        pool.entry(key(r, &known)).or_default().push(i);
    }
    let mut seen = vec![false; old_rows.len()];
    for row in new_rows {
        if let Some(i) = pool.get_mut(&key(row, &known)).and_then(Vec::pop) {
            seen[i] = true;
            continue;
        }
        let all: Vec<(usize, String)> = cols.iter().map(|&i| (i, literal(kind, &row[i]))).collect();
        out.upserts.push(step(
            Phase::UpsertRows,
            insert_one(kind, new, &all),
            delete_one(kind, new, &cols, row),
        ));
    }
    for (r, _) in old_new.iter().zip(&seen).filter(|(_, s)| !**s) {
        let mut vals: Vec<(usize, String)> =
            known.iter().map(|&i| (i, literal(kind, &r[i]))).collect();
        for &j in cols.iter().filter(|&&j| src[j].is_none()) {
            let c = &new.columns[j];
            if !c.nullable && c.default.is_none() {
                vals.push((j, placeholder(kind, c).to_string()));
            }
        }
        vals.sort();
        out.deletes.push(step(
            Phase::DeleteRows,
            delete_one(kind, new, &known, r),
            insert_one(kind, new, &vals),
        ));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "data_diff_tests.rs"]
mod tests;
