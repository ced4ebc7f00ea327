//! [`diff`] and [`between`]: the script from a snapshot to the database now, or to another
//! snapshot — schema steps, row changes of 'data' tables, the pre-images the reverse needs,
//! `AUTO_INCREMENT` counters and objects — with a note for everything it leaves out.

use anyhow::bail;

use super::{DbSnapshot, Mode, Refused, Script, take};
use crate::engine::db::data_diff::{DataDiffError, diff_rows, insert_sql, restore_sql};
use crate::engine::db::db_objects;
use crate::engine::db::schema_diff::{self, Phase, Rename, Step, ident, topo_order};
use crate::engine::db::{Db, Kind, TableSchema};

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
    let mut notes = schema_diff::unscripted(kind, &old.tables, &new.tables);
    notes.extend(
        schema_diff::unscripted(kind, &new.tables, &old.tables)
            .into_iter()
            .map(|n| format!("in the reverse script, {n}")),
    );
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
                    let sql = match restore_sql(kind, t, rows, &s.restore) {
                        Ok(sql) => sql,
                        Err(DataDiffError::NoPrimaryKey(_)) => {
                            notes.push(format!(
                                "values of {} in table {} cannot be restored by the reverse (no primary key to put them back by)",
                                s.restore.join(", "),
                                t.name
                            ));
                            String::new()
                        }
                        Err(e) => return Err(e),
                    };
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
    steps.extend(counter_steps(old, new));
    let rebuilt: Vec<&str> = match kind {
        Kind::Sqlite => new
            .tables
            .iter()
            .filter(|n| {
                old.table(&n.name)
                    .is_some_and(|o| schema_diff::sqlite_rebuilt(o, n))
            })
            .map(|t| t.name.as_str())
            .collect(),
        Kind::Mysql => Vec::new(),
    };
    steps.extend(db_objects::diff(kind, &old.objects, &new.objects, &rebuilt));
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

/// `ALTER TABLE .. AUTO_INCREMENT` where a counter differs: forward to the new value,
/// reverse to the old one (a created table only forward, a dropped one only in reverse).
fn counter_steps(old: &DbSnapshot, new: &DbSnapshot) -> Vec<Step> {
    let set = |t: &str, n: Option<&u64>| {
        n.map_or(String::new(), |n| {
            format!(
                "ALTER TABLE {} AUTO_INCREMENT = {n};",
                ident(Kind::Mysql, t)
            )
        })
    };
    let names: std::collections::BTreeSet<&String> =
        old.counters.keys().chain(new.counters.keys()).collect();
    names
        .into_iter()
        .filter_map(|t| {
            let (o, n) = (old.counters.get(t), new.counters.get(t));
            let (o, n) = (
                o.filter(|_| new.table(t).is_none() || n.is_some()),
                n.filter(|_| old.table(t).is_none() || o.is_some()),
            );
            (o != n).then(|| Step {
                forward: set(t, n),
                reverse: set(t, o),
                destructive: None,
                table: t.clone(),
                phase: Phase::Counter,
                restore: Vec::new(),
            })
        })
        .collect()
}
