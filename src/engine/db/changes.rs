//! Database differences as a [`ChangeSet`], so Compare shows them beside the file changes.
//!
//! One change per changed table, each side a stable text rendering held in memory
//! ([`Content::Bytes`]), so Compare's line diff shows exactly what changed:
//!
//! - `db:<profile>/<table>`: the table's normalized `CREATE TABLE` — one column per line,
//!   the primary key, indexes, foreign keys, options (SQLite: its indexes as `CREATE
//!   INDEX`, then the engine's own statement as comments, which holds what the normalized
//!   schema leaves out: CHECK, UNIQUE constraints, collations);
//! - `db:<profile>/<table>.rows`: 'data' tables, one line per row in primary-key order
//!   (`id=1 | name='lamp' | note=NULL`; NULL is never `''`); 'checksum' tables, one line
//!   per primary-key chunk with its row count and checksum;
//! - `db:<profile>/forward.sql` and `db:<profile>/reverse.sql`: the scripts, when given
//!   and not empty (both "Added": the new side is the script).

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::ddl::{add_index_sql, column_def, fk_clause, ident, list, mysql_options, own_index};
use super::snapshot::{DbSnapshot, Script};
use super::{Chunk, Kind, TableSchema, Value};
use crate::engine::diff::changes::{Change, ChangeKind, ChangeSet, Content};

/// Bytes values longer than this are shown by their start, length and hash.
const BYTES_SHOWN: usize = 64;

/// The differences from `old` to `new` (database of `profile`) as a change set, with the
/// forward and reverse scripts of `script` when given.
pub fn change_set(
    profile: &str,
    old: &DbSnapshot,
    new: &DbSnapshot,
    script: Option<&Script>,
    root: &Path,
) -> ChangeSet {
    let names: BTreeSet<&str> = old
        .tables
        .iter()
        .chain(&new.tables)
        .map(|t| t.name.as_str())
        .collect();
    let mut changes = Vec::new();
    for name in names {
        let (o, n) = (old.table(name), new.table(name));
        let schema = |s: &DbSnapshot, t: Option<&TableSchema>| t.map(|t| schema_text(s.kind, t));
        if let Some(c) = change(
            format!("db:{profile}/{name}"),
            schema(old, o),
            schema(new, n),
        ) {
            changes.push(c);
        }
        // Rows where the table exists with rows or chunks on both sides; an added or removed
        // table only when it has rows.
        let rows = |s: &DbSnapshot, t: Option<&TableSchema>| t.and_then(|t| side_rows(s, t));
        let (ro, rn) = (rows(old, o), rows(new, n));
        let comparable = match (o, n) {
            (Some(_), Some(_)) => ro.is_some() && rn.is_some(),
            (None, Some(_)) => rn.as_ref().is_some_and(|t| !t.is_empty()),
            (Some(_), None) => ro.as_ref().is_some_and(|t| !t.is_empty()),
            (None, None) => false,
        };
        if comparable && let Some(c) = change(format!("db:{profile}/{name}.rows"), ro, rn) {
            changes.push(c);
        }
    }
    if let Some(s) = script.filter(|s| !s.is_empty()) {
        for (file, sql) in [
            ("forward.sql", s.forward_sql()),
            ("reverse.sql", s.reverse_sql()),
        ] {
            changes.extend(change(format!("db:{profile}/{file}"), None, Some(sql)));
        }
    }
    ChangeSet {
        title: format!("database {profile}"),
        old_label: "database snapshot".into(),
        new_label: "database now".into(),
        changes,
        root: root.to_path_buf(),
        partial: false,
    }
}

/// A change between two renderings; None when they are the same.
fn change(path: String, old: Option<String>, new: Option<String>) -> Option<Change> {
    let kind = match (&old, &new) {
        (None, None) => return None,
        (Some(a), Some(b)) if a == b => return None,
        (Some(_), Some(_)) => ChangeKind::Modified,
        (None, Some(_)) => ChangeKind::Added,
        (Some(_), None) => ChangeKind::Removed,
    };
    let content = |t: &Option<String>| match t {
        Some(t) => Content::Bytes(Arc::new(t.clone().into_bytes())),
        None => Content::Missing,
    };
    Some(Change {
        raw_path: path.as_bytes().to_vec(),
        path,
        kind,
        old: content(&old),
        new: content(&new),
        old_size: old.as_ref().map(|t| t.len() as u64),
        new_size: new.as_ref().map(|t| t.len() as u64),
        old_mode: None,
        new_mode: None,
    })
}

/// The rows of `t` on one side: every row ('data'), the chunks ('checksum'), or None.
fn side_rows(s: &DbSnapshot, t: &TableSchema) -> Option<String> {
    if let Some(rows) = s.data.get(&t.name) {
        return Some(rows_text(t, rows));
    }
    s.chunks.get(&t.name).map(|c| chunks_text(c))
}

/// The normalized `CREATE TABLE` of `t`: one column per line, then the primary key,
/// indexes (MySQL: inside the table; SQLite: `CREATE INDEX` after it), foreign keys and
/// options.
pub fn schema_text(kind: Kind, t: &TableSchema) -> String {
    let mut parts: Vec<String> = t.columns.iter().map(|c| column_def(kind, c)).collect();
    if !t.primary_key.is_empty() {
        parts.push(format!("PRIMARY KEY ({})", list(kind, &t.primary_key)));
    }
    if kind == Kind::Mysql {
        for ix in &t.indexes {
            parts.push(format!(
                "{}KEY {} ({})",
                if ix.unique { "UNIQUE " } else { "" },
                ident(kind, &ix.name),
                list(kind, &ix.columns)
            ));
        }
    }
    parts.extend(t.foreign_keys.iter().map(|fk| fk_clause(kind, fk)));
    let options = match kind {
        Kind::Mysql => mysql_options(&t.options),
        Kind::Sqlite => String::new(),
    };
    let mut s = format!(
        "CREATE TABLE {} (\n  {}\n){options};\n",
        ident(kind, &t.name),
        parts.join(",\n  ")
    );
    if kind == Kind::Sqlite {
        for ix in t.indexes.iter().filter(|ix| !own_index(kind, ix)) {
            s.push_str(&add_index_sql(kind, &t.name, ix));
            s.push('\n');
        }
        if !t.options.trim().is_empty() {
            s.push_str(&format!("-- options: {}\n", t.options.trim()));
        }
        let own = t.create_sql.trim();
        if !own.is_empty() {
            s.push_str("-- as SQLite keeps it:\n");
            for line in own.lines() {
                s.push_str("-- ");
                s.push_str(line.trim_end());
                s.push('\n');
            }
        }
    }
    s
}

/// One line per row, `col=value` joined by ` | `, in primary-key order (every column's
/// order when the table has no key).
pub fn rows_text(t: &TableSchema, rows: &[Vec<Value>]) -> String {
    let mut key: Vec<usize> = t
        .primary_key
        .iter()
        .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
        .collect();
    if key.len() != t.primary_key.len() || key.is_empty() {
        key = (0..t.columns.len()).collect();
    }
    let mut order: Vec<&Vec<Value>> = rows.iter().collect();
    order.sort_by(|a, b| {
        key.iter()
            .map(|&i| cmp_value(a.get(i), b.get(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    let mut out = String::new();
    for row in order {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let name = t.columns.get(i).map_or("?", |c| c.name.as_str());
                format!("{name}={}", cell_text(v))
            })
            .collect();
        out.push_str(&cells.join(" | "));
        out.push('\n');
    }
    out
}

/// One line per checksum chunk ('checksum' tables: rows are not kept).
fn chunks_text(chunks: &[Chunk]) -> String {
    let mut out =
        String::from("-- 'checksum' mode: row counts and checksums by primary-key range\n");
    for c in chunks {
        out.push_str(&format!(
            "[{}] .. [{}] | rows={} | checksum={:016x}\n",
            c.lo.join(", "),
            c.hi.join(", "),
            c.rows,
            c.checksum
        ));
    }
    out
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => 1,
        Value::Text(_) => 2,
        Value::Bytes(_) => 3,
    }
}

/// A total order of values: NULL, numbers (by value), text, bytes.
fn cmp_value(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let (a, b) = (a.unwrap_or(&Value::Null), b.unwrap_or(&Value::Null));
    let int = |v: &Value| match v {
        Value::Int(i) => Some(i128::from(*i)),
        Value::UInt(u) => Some(i128::from(*u)),
        _ => None,
    };
    let float = |v: &Value| match v {
        Value::Int(i) => *i as f64,
        Value::UInt(u) => *u as f64,
        Value::Float(f) => *f,
        _ => 0.0,
    };
    match (a, b) {
        _ if rank(a) != rank(b) => rank(a).cmp(&rank(b)),
        (Value::Text(x), Value::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => match (int(a), int(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => float(a).total_cmp(&float(b)),
        },
    }
}

/// A cell as shown in row lines: `NULL`, numbers as is, text quoted (`'` doubled; `\`,
/// line breaks, tabs and other control characters escaped), bytes as `X'…'` hex (long
/// ones by their first bytes, length and blake3).
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) if f.is_nan() => "NaN".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.into(),
        Value::Float(f) => format!("{f:?}"),
        Value::Text(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('\'');
            for ch in s.chars() {
                match ch {
                    '\'' => out.push_str("''"),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
        Value::Bytes(b) => {
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
            if b.len() <= BYTES_SHOWN {
                format!("X'{}'", hex(b))
            } else {
                format!(
                    "X'{}…' ({} bytes, blake3 {})",
                    hex(&b[..BYTES_SHOWN / 2]),
                    b.len(),
                    &blake3::hash(b).to_hex()[..16]
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::db::snapshot::{Mode, between};
    use crate::engine::db::{ColumnSchema, ForeignKey, IndexSchema};

    fn col(name: &str, ty: &str, nullable: bool) -> ColumnSchema {
        ColumnSchema {
            name: name.into(),
            data_type: ty.into(),
            nullable,
            default: nullable.then(|| "NULL".into()),
            extra: String::new(),
        }
    }

    fn items(extra: Option<ColumnSchema>) -> TableSchema {
        let mut columns = vec![
            col("id", "int(11)", false),
            col("name", "varchar(40)", false),
            col("note", "text", true),
        ];
        columns.extend(extra);
        TableSchema {
            name: "items".into(),
            columns,
            primary_key: vec!["id".into()],
            indexes: vec![IndexSchema {
                name: "by_name".into(),
                columns: vec!["name".into()],
                unique: true,
            }],
            foreign_keys: vec![],
            options: "InnoDB utf8mb4 utf8mb4_general_ci".into(),
            create_sql: String::new(),
        }
    }

    fn logs() -> TableSchema {
        TableSchema {
            name: "logs".into(),
            columns: vec![col("id", "int(11)", false), col("item", "int(11)", true)],
            primary_key: vec!["id".into()],
            indexes: vec![],
            foreign_keys: vec![ForeignKey {
                name: "logs_item".into(),
                columns: vec!["item".into()],
                ref_table: "items".into(),
                ref_columns: vec!["id".into()],
                on_delete: "CASCADE".into(),
                on_update: "RESTRICT".into(),
            }],
            options: "InnoDB utf8mb4 utf8mb4_general_ci".into(),
            create_sql: String::new(),
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn snap(tables: Vec<(TableSchema, Option<Vec<Vec<Value>>>)>) -> DbSnapshot {
        let mut s = DbSnapshot {
            kind: Kind::Mysql,
            tables: Vec::new(),
            modes: BTreeMap::new(),
            data: BTreeMap::new(),
            chunks: BTreeMap::new(),
        };
        for (t, rows) in tables {
            match rows {
                Some(rows) => {
                    s.modes.insert(t.name.clone(), Mode::Data);
                    s.data.insert(t.name.clone(), rows);
                }
                None => {
                    s.modes.insert(t.name.clone(), Mode::Checksum);
                    s.chunks.insert(
                        t.name.clone(),
                        vec![Chunk {
                            lo: vec!["1".into()],
                            hi: vec!["9".into()],
                            rows: 9,
                            checksum: 0xabc,
                        }],
                    );
                }
            }
            s.tables.push(t);
        }
        s.tables.sort_by(|a, b| a.name.cmp(&b.name));
        s
    }

    fn body(c: &Content) -> String {
        match c {
            Content::Bytes(b) => String::from_utf8(b.to_vec()).unwrap(),
            Content::Missing => String::new(),
            other => panic!("not bytes: {other:?}"),
        }
    }

    fn old_db() -> DbSnapshot {
        snap(vec![
            (
                items(None),
                Some(vec![
                    vec![Value::Int(2), text("desk"), Value::Null],
                    vec![Value::Int(1), text("lamp"), text("")],
                    vec![Value::Int(3), text("chair"), text("it's\nold")],
                ]),
            ),
            (logs(), None),
        ])
    }

    fn new_db() -> DbSnapshot {
        let mut color = col("color", "varchar(10)", true);
        color.default = Some("'red'".into());
        snap(vec![
            (
                items(Some(color)),
                Some(vec![
                    vec![Value::Int(1), text("lamp"), text(""), Value::Null],
                    vec![Value::Int(2), text("desk"), text("oak"), Value::Null],
                    vec![Value::Int(4), text("shelf"), Value::Null, text("red")],
                ]),
            ),
            (
                TableSchema {
                    name: "tags".into(),
                    columns: vec![col("id", "int(11)", false), col("tag", "varchar(9)", true)],
                    primary_key: vec!["id".into()],
                    indexes: vec![],
                    foreign_keys: vec![],
                    options: String::new(),
                    create_sql: String::new(),
                },
                Some(vec![vec![Value::Int(1), text("new")]]),
            ),
        ])
    }

    #[test]
    fn tables_rows_and_scripts_become_changes() {
        let (old, new) = (old_db(), new_db());
        let script = between(&old, &new, &[]).unwrap();
        let root = Path::new("/p");
        let set = change_set("shop", &old, &new, Some(&script), root);
        let got: Vec<(&str, ChangeKind)> = set
            .changes
            .iter()
            .map(|c| (c.path.as_str(), c.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("db:shop/items", ChangeKind::Modified),
                ("db:shop/items.rows", ChangeKind::Modified),
                ("db:shop/logs", ChangeKind::Removed),
                ("db:shop/logs.rows", ChangeKind::Removed),
                ("db:shop/tags", ChangeKind::Added),
                ("db:shop/tags.rows", ChangeKind::Added),
                ("db:shop/forward.sql", ChangeKind::Added),
                ("db:shop/reverse.sql", ChangeKind::Added),
            ]
        );
        assert_eq!(set.root, root);
        assert!(set.title.contains("shop"));
        let c = &set.changes;
        assert_eq!(
            body(&c[0].old),
            "CREATE TABLE `items` (\n  `id` int(11) NOT NULL,\n  `name` varchar(40) NOT NULL,\n  \
             `note` text NULL DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `by_name` (`name`)\n) \
             ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;\n"
        );
        assert!(
            body(&c[0].new).contains("\n  `color` varchar(10) NULL DEFAULT 'red',\n"),
            "{}",
            body(&c[0].new)
        );
        // rows in key order; NULL is not ''; text escaped on one line
        assert_eq!(
            body(&c[1].old),
            "id=1 | name='lamp' | note=''\nid=2 | name='desk' | note=NULL\n\
             id=3 | name='chair' | note='it''s\\nold'\n"
        );
        assert_eq!(
            body(&c[1].new),
            "id=1 | name='lamp' | note='' | color=NULL\nid=2 | name='desk' | note='oak' | color=NULL\n\
             id=4 | name='shelf' | note=NULL | color='red'\n"
        );
        assert!(body(&c[2].old).contains(
            "CONSTRAINT `logs_item` FOREIGN KEY (`item`) REFERENCES `items` (`id`) ON DELETE CASCADE"
        ));
        assert_eq!(c[2].new, Content::Missing);
        assert!(body(&c[3].old).contains("rows=9 | checksum=0000000000000abc"));
        assert_eq!(body(&c[5].new), "id=1 | tag='new'\n");
        assert_eq!(c[5].old, Content::Missing);
        assert_eq!(body(&c[6].new), script.forward_sql());
        assert_eq!(body(&c[7].new), script.reverse_sql());
        assert_eq!(
            (c[6].old.clone(), c[7].old.clone()),
            (Content::Missing, Content::Missing)
        );
        for ch in c {
            assert_eq!(ch.raw_path, ch.path.as_bytes());
            assert_eq!(
                ch.new_size,
                ch.new
                    .ne(&Content::Missing)
                    .then(|| body(&ch.new).len() as u64)
            );
        }
    }

    #[test]
    fn the_same_database_has_no_changes_and_no_script_means_no_script_entries() {
        let old = old_db();
        assert!(
            change_set("p", &old, &old.clone(), None, Path::new("/"))
                .changes
                .is_empty()
        );
        let script = between(&old, &old, &[]).unwrap();
        assert!(
            change_set("p", &old, &old, Some(&script), Path::new("/"))
                .changes
                .is_empty()
        );
        let set = change_set("p", &old, &new_db(), None, Path::new("/"));
        assert!(set.changes.iter().all(|c| !c.path.ends_with(".sql")));
    }

    #[test]
    fn only_changed_rows_differ_and_an_empty_new_table_has_no_rows_entry() {
        let old = snap(vec![(
            items(None),
            Some(vec![
                vec![Value::Int(1), text("a"), Value::Null],
                vec![Value::Int(2), text("b"), Value::Null],
            ]),
        )]);
        let mut new = old.clone();
        new.data.get_mut("items").unwrap()[1][2] = text("");
        let mut empty = logs();
        empty.foreign_keys.clear();
        new.tables.push(empty);
        new.modes.insert("logs".into(), Mode::Data);
        new.data.insert("logs".into(), Vec::new());
        let set = change_set("p", &old, &new, None, Path::new("/"));
        let paths: Vec<&str> = set.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["db:p/items.rows", "db:p/logs"]);
        let (o, n) = (body(&set.changes[0].old), body(&set.changes[0].new));
        let differ: Vec<(&str, &str)> = o.lines().zip(n.lines()).filter(|(a, b)| a != b).collect();
        assert_eq!(
            differ,
            [("id=2 | name='b' | note=NULL", "id=2 | name='b' | note=''")]
        );
    }

    #[test]
    fn cells_and_sqlite_schemas() {
        assert_eq!(cell_text(&Value::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(cell_text(&Value::Float(0.5)), "0.5");
        assert_eq!(cell_text(&Value::Float(f64::NEG_INFINITY)), "-inf");
        assert_eq!(cell_text(&Value::Bytes(vec![0, 0xff])), "X'00FF'");
        assert_eq!(cell_text(&text("a\\b\u{1}\t")), "'a\\\\b\\u{1}\\t'");
        let long = cell_text(&Value::Bytes(vec![7; 100]));
        assert!(
            long.starts_with("X'0707") && long.contains("(100 bytes, blake3 "),
            "{long}"
        );
        let t = TableSchema {
            name: "t".into(),
            columns: vec![col("id", "integer", false), col("s", "text", true)],
            primary_key: vec!["id".into()],
            indexes: vec![IndexSchema {
                name: "t_s".into(),
                columns: vec!["s".into()],
                unique: false,
            }],
            foreign_keys: vec![],
            options: String::new(),
            create_sql: "CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT CHECK (s <> 'x'))".into(),
        };
        assert_eq!(
            schema_text(Kind::Sqlite, &t),
            "CREATE TABLE \"t\" (\n  \"id\" integer NOT NULL,\n  \"s\" text NULL DEFAULT NULL,\n  \
             PRIMARY KEY (\"id\")\n);\nCREATE INDEX \"t_s\" ON \"t\" (\"s\");\n-- as SQLite keeps it:\n\
             -- CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT CHECK (s <> 'x'))\n"
        );
        // rows sort by key value, numbers by number
        let rows = vec![
            vec![Value::Int(10), Value::Null],
            vec![Value::UInt(9), Value::Null],
            vec![Value::Int(-1), Value::Null],
        ];
        assert_eq!(
            rows_text(&t, &rows),
            "id=-1 | s=NULL\nid=9 | s=NULL\nid=10 | s=NULL\n"
        );
    }
}
