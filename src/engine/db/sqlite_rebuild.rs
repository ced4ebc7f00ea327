//! SQLite table rebuilds: a table SQLite cannot `ALTER` into its new shape is copied aside,
//! dropped, created from its new `CREATE TABLE` text and filled from the copy (renamed
//! columns by hint, new NOT NULL columns without a default given a placeholder), its
//! AUTOINCREMENT counter kept. Part of the schema diff (see `schema_diff`).

use super::ddl::{drop_table_sql, ident, placeholder, same_fks, writable};
use super::narrowing::narrowing;
use super::schema_diff::{Phase, Step, rows_note, sources};
use super::{Kind, TableSchema};

/// SQLite: whether the table is rebuilt (dropped and created again) to go from `o` to `n`.
pub fn sqlite_rebuilt(o: &TableSchema, n: &TableSchema) -> bool {
    o.create_sql != n.create_sql
        || o.columns != n.columns
        || o.primary_key != n.primary_key
        || !same_fks(Kind::Sqlite, &o.foreign_keys, &n.foreign_keys)
}

fn sqlite_rebuild(from: &TableSchema, to: &TableSchema, src: &[Option<usize>]) -> String {
    let k = Kind::Sqlite;
    let (t, tmp) = (
        ident(k, &to.name),
        ident(k, &format!("_devsky_old_{}", to.name)),
    );
    // The AUTOINCREMENT counter (a row of sqlite_sequence, removed with its table) is kept
    // aside under another name and put back after the rows.
    let counted = |t: &TableSchema| t.create_sql.to_ascii_uppercase().contains("AUTOINCREMENT");
    let seq = |name: &str| super::data_diff::literal(k, &super::Value::Text(name.into()));
    let aside = seq(&format!("_devsky_seq_{}", to.name));
    let mut out = vec![format!(
        "CREATE TABLE {tmp} AS SELECT * FROM {};",
        ident(k, &from.name)
    )];
    if counted(from) {
        out.push(format!(
            "UPDATE sqlite_sequence SET name = {aside} WHERE name = {};",
            seq(&from.name)
        ));
    }
    out.push(drop_table_sql(k, &from.name));
    out.push(format!("{};", to.create_sql.trim().trim_end_matches(';')));
    let (mut cols, mut vals) = (Vec::new(), Vec::new());
    for (c, s) in to.columns.iter().zip(src).filter(|(c, _)| writable(c)) {
        match s {
            Some(i) => vals.push(ident(k, &from.columns[*i].name)),
            None if !c.nullable && c.default.is_none() => vals.push(placeholder(k, c).to_string()),
            None => continue,
        }
        cols.push(ident(k, &c.name));
    }
    if src.iter().any(Option::is_some) {
        out.push(format!(
            "INSERT INTO {t} ({}) SELECT {} FROM {tmp};",
            cols.join(", "),
            vals.join(", ")
        ));
    }
    out.push(format!("DROP TABLE {tmp};"));
    if counted(from) && counted(to) {
        out.push(format!(
            "DELETE FROM sqlite_sequence WHERE name = {};",
            seq(&to.name)
        ));
        out.push(format!(
            "UPDATE sqlite_sequence SET name = {} WHERE name = {aside};",
            seq(&to.name)
        ));
    } else if counted(from) {
        out.push(format!("DELETE FROM sqlite_sequence WHERE name = {aside};"));
    }
    out.join("\n")
}

pub(super) fn sqlite_rebuild_step(
    o: &TableSchema,
    n: &TableSchema,
    hints: &[(String, String)],
    rows: Option<u64>,
) -> Step {
    let src = sources(o, n, hints);
    let back_hints: Vec<(String, String)> =
        hints.iter().map(|(a, b)| (b.clone(), a.clone())).collect();
    let back = sources(n, o, &back_hints);
    let mut s = Step::new(
        Phase::AlterTable,
        &n.name,
        sqlite_rebuild(o, n, &src),
        sqlite_rebuild(n, o, &back),
    );
    let mut why = Vec::new();
    for (i, oc) in o.columns.iter().enumerate() {
        match src.iter().position(|s| *s == Some(i)) {
            None => {
                why.push(format!(
                    "drops column {}.{}{}",
                    n.name,
                    oc.name,
                    rows_note(rows)
                ));
                s.restore.push(oc.name.clone());
            }
            Some(j) => {
                if let Some(r) = narrowing(Kind::Sqlite, &n.name, oc, &n.columns[j]) {
                    why.push(r);
                    s.restore.push(oc.name.clone());
                }
            }
        }
    }
    s.destructive = (!why.is_empty()).then(|| why.join("; "));
    s
}
