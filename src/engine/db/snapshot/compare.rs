//! [`differences`]: whether two snapshots hold the same schema, data, objects and counters,
//! and what differs otherwise (used by `--verify`).

use super::DbSnapshot;
use crate::engine::db::data_diff;
use crate::engine::db::db_objects;
use crate::engine::db::{Kind, TableSchema, Value};

/// The lines of `a` that `b` does not have, joined (the server's text, compared line by
/// line so a lost attribute shows as the line that lost it).
fn changed_lines(a: &str, b: &str) -> String {
    let theirs: std::collections::HashSet<&str> = b.lines().map(str::trim).collect();
    a.lines()
        .map(str::trim)
        .filter(|l| !theirs.contains(l))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Whether two snapshots hold the same schema and the same data; what differs otherwise.
/// The server's own `CREATE TABLE` text is compared too (MySQL: without its AUTO_INCREMENT
/// counter, which is compared on its own), so an attribute the normalized schema does not
/// model (a generated expression, a CHECK, a collation) is not lost unseen.
pub fn differences(want: &DbSnapshot, got: &DbSnapshot) -> Vec<String> {
    let mut out = Vec::new();
    let norm = |t: &TableSchema| {
        let mut t = t.clone();
        if want.kind == Kind::Mysql {
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
                    (
                        "CREATE TABLE lines",
                        changed_lines(&g.create_sql, &w.create_sql),
                        changed_lines(&w.create_sql, &g.create_sql),
                    ),
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
    out.extend(db_objects::differences(&want.objects, &got.objects));
    for (t, n) in &want.counters {
        if let Some(g) = got.counters.get(t).filter(|g| *g != n) {
            out.push(format!("table {t}: AUTO_INCREMENT is {g}, wanted {n}"));
        }
    }
    out
}
