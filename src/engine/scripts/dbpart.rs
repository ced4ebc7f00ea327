//! The database half of a script: noise filters on the two database snapshots, the
//! tables a script touches, the pre-image check of a target database (every row the
//! script changes, and the schema of every table it touches), and running the steps —
//! SQLite in one transaction, MySQL/MariaDB step by step with each step recorded as it
//! completes, so an interrupted build is undone by the reverse of exactly what ran.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::db::changes::cell_text;
use crate::engine::db::data_diff::value_eq;
use crate::engine::db::snapshot::{DbSnapshot, Mode, Script, differences, session, take};
use crate::engine::db::{Db, Kind, QueryEvent, TableSchema, Value};
use crate::engine::deploy::crash_point;

use super::Filters;

/// `old` and `new` without the excluded tables; in rows present on both sides, excluded
/// columns keep their old value in `new` (their changes are noise, not part of the script).
pub fn filtered(mut old: DbSnapshot, mut new: DbSnapshot, f: &Filters) -> (DbSnapshot, DbSnapshot) {
    for s in [&mut old, &mut new] {
        s.tables.retain(|t| !f.tables.contains(&t.name));
        for t in &f.tables {
            s.data.remove(t);
            s.chunks.remove(t);
            s.counters.remove(t);
            s.modes.insert(t.clone(), Mode::Skip);
        }
    }
    for t in new.tables.clone() {
        let cols = f.columns_of(&t.name);
        let (Some(o), Some(old_rows)) = (old.table(&t.name).cloned(), old.data.get(&t.name)) else {
            continue;
        };
        if cols.is_empty() {
            continue;
        }
        let by_key: BTreeMap<String, &Vec<Value>> =
            old_rows.iter().map(|r| (key(&o, r), r)).collect();
        let Some(new_rows) = new.data.get_mut(&t.name) else {
            continue;
        };
        for row in new_rows.iter_mut() {
            let Some(before) = by_key.get(&key(&t, row)) else {
                continue;
            };
            for c in &cols {
                if let (Some(i), Some(j)) = (pos(&t, c), pos(&o, c)) {
                    row[i] = before[j].clone();
                }
            }
        }
    }
    (old, new)
}

fn pos(t: &TableSchema, col: &str) -> Option<usize> {
    t.columns.iter().position(|c| c.name == col)
}

/// A row's key: its primary key's values, or the whole row without one.
fn key(t: &TableSchema, row: &[Value]) -> String {
    let idx: Vec<usize> = t.primary_key.iter().filter_map(|c| pos(t, c)).collect();
    let idx = if idx.is_empty() || idx.len() != t.primary_key.len() {
        (0..row.len()).collect()
    } else {
        idx
    };
    idx.iter()
        .map(|&i| row.get(i).map(cell_text).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(", ")
}

fn row_text(row: Option<&Vec<Value>>) -> String {
    match row {
        None => "no row".into(),
        Some(r) => format!(
            "({})",
            r.iter().map(cell_text).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The tables (and objects) the script's steps touch.
pub fn touched_tables(s: &Script) -> BTreeSet<String> {
    s.steps
        .iter()
        .filter(|s| !s.forward.is_empty() || !s.reverse.is_empty())
        .map(|s| s.table.clone())
        .collect()
}

/// Read the touched tables of the target (every row of them).
pub fn read(db: &mut dyn Db, tables: &BTreeSet<String>) -> anyhow::Result<DbSnapshot> {
    take(db, &|t| {
        if tables.contains(t) {
            Mode::Data
        } else {
            Mode::Skip
        }
    })
}

fn one_table(s: &DbSnapshot, t: &TableSchema) -> DbSnapshot {
    DbSnapshot {
        kind: s.kind,
        tables: vec![t.clone()],
        modes: BTreeMap::new(),
        data: BTreeMap::new(),
        chunks: BTreeMap::new(),
        counters: BTreeMap::new(),
        objects: Vec::new(),
    }
}

/// Where `got` (the target's touched tables) differs from what a script going from
/// `expect` to `other` needs: each touched table's schema as in `expect`, and every row
/// the script changes (by key) as in `expect`. Excluded columns are not compared. One
/// line per conflicting table or row.
pub fn conflicts(
    expect: &DbSnapshot,
    other: &DbSnapshot,
    got: &DbSnapshot,
    tables: &BTreeSet<String>,
    f: &Filters,
) -> Vec<String> {
    let mut out = Vec::new();
    for name in tables {
        let (e, g) = (expect.table(name), got.table(name));
        let e = match (e, g) {
            (None, None) => continue,
            (None, Some(_)) => {
                if other.table(name).is_some() {
                    out.push(format!(
                        "table {name}: exists in the target; the script creates it"
                    ));
                }
                continue;
            }
            (Some(_), None) => {
                out.push(format!("table {name}: missing in the target"));
                continue;
            }
            (Some(e), Some(g)) => {
                let d = differences(&one_table(expect, e), &one_table(got, g));
                if !d.is_empty() {
                    out.push(format!(
                        "table {name}: its schema is not the script's pre-image ({})",
                        d.join("; ")
                    ));
                    continue;
                }
                e
            }
        };
        let (Some(rows), Some(got_rows)) = (expect.data.get(name), got.data.get(name)) else {
            continue;
        };
        let skip: Vec<usize> = f
            .columns_of(name)
            .iter()
            .filter_map(|c| pos(e, c))
            .collect();
        let same = |a: &Vec<Value>, b: &Vec<Value>| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .enumerate()
                    .all(|(i, (x, y))| skip.contains(&i) || value_eq(x, y))
        };
        let mine: BTreeMap<String, &Vec<Value>> = rows.iter().map(|r| (key(e, r), r)).collect();
        let theirs: BTreeMap<String, &Vec<Value>> =
            got_rows.iter().map(|r| (key(e, r), r)).collect();
        // The keys the script changes: all of them when the table's shape changes.
        let changed: BTreeSet<String> = match (other.table(name), other.data.get(name)) {
            (Some(o), Some(other_rows)) if o.columns == e.columns => {
                let after: BTreeMap<String, &Vec<Value>> =
                    other_rows.iter().map(|r| (key(o, r), r)).collect();
                mine.keys()
                    .chain(after.keys())
                    .filter(|k| match (mine.get(*k), after.get(*k)) {
                        (Some(a), Some(b)) => !same(a, b),
                        _ => true,
                    })
                    .cloned()
                    .collect()
            }
            _ => mine.keys().cloned().collect(),
        };
        for k in changed {
            let (want, found) = (mine.get(&k).copied(), theirs.get(&k).copied());
            let differ = match (want, found) {
                (Some(a), Some(b)) => !same(a, b),
                (None, None) => false,
                _ => true,
            };
            if differ {
                out.push(format!(
                    "table {name} row {k}: expected {}, found {}",
                    row_text(want),
                    row_text(found)
                ));
            }
        }
    }
    out
}

/// One step in the order a build runs it, and what undoes it.
#[derive(Debug, Clone)]
pub struct SqlStep {
    pub run: String,
    pub undo: String,
}

/// The steps of `script` going forward, or (reverse) going back.
pub fn steps(script: &Script, reverse: bool) -> Vec<SqlStep> {
    let all = script
        .steps
        .iter()
        .filter(|s| !s.forward.is_empty() || !s.reverse.is_empty());
    if reverse {
        all.rev()
            .map(|s| SqlStep {
                run: s.reverse.clone(),
                undo: s.forward.clone(),
            })
            .collect()
    } else {
        all.map(|s| SqlStep {
            run: s.forward.clone(),
            undo: s.reverse.clone(),
        })
        .collect()
    }
}

fn quiet(db: &mut dyn Db, sql: &str) -> anyhow::Result<()> {
    if sql.trim().is_empty() {
        return Ok(());
    }
    db.run(sql, &mut |_: QueryEvent| true)
        .map_err(|e| anyhow::anyhow!("{e}: {}", sql.lines().next().unwrap_or("")))
}

/// Run `steps` from `from` on: SQLite all in one transaction; MySQL one step at a time,
/// `record(next, done)` called before each step (`next` = its index) and after it
/// (`next` = -1, `done` = steps finished). An error names the step.
pub fn run(
    db: &mut dyn Db,
    steps: &[SqlStep],
    from: usize,
    record: &mut dyn FnMut(i64, i64) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (first, last) = session(db.kind());
    match db.kind() {
        Kind::Sqlite => {
            record(0, 0)?;
            let body: Vec<&str> = steps[from..]
                .iter()
                .map(|s| s.run.as_str())
                .filter(|s| !s.is_empty())
                .collect();
            if !body.is_empty() {
                quiet(db, first)?;
                let r = db.apply_script(&body.join("\n"));
                let _ = quiet(db, last);
                r.map_err(|e| anyhow::anyhow!("the SQL was rolled back: {e}"))?;
                crash_point("build: SQL committed");
            }
            record(-1, steps.len() as i64)
        }
        Kind::Mysql => {
            quiet(db, first)?;
            for (i, s) in steps.iter().enumerate().skip(from) {
                record(i as i64, i as i64)?;
                quiet(db, &s.run).map_err(|e| anyhow::anyhow!("SQL step {}: {e}", i + 1))?;
                crash_point("build: SQL step ran");
                record(-1, i as i64 + 1)?;
            }
            quiet(db, last)
        }
    }
}

/// Undo what [`run`] did, as its record says: MySQL runs the undo of `uncertain` (the
/// step that was running: a failure means it had not taken effect, each statement being
/// atomic) and then of every finished step, newest first. SQLite (all or nothing) undoes
/// everything when `applied` says the transaction committed.
///
/// Undoing is recorded as running is (`record(next, done)`), so that an undo killed
/// half-way is taken up where it stopped: before the undo of step i, `(i, i)` (step i is
/// uncertain, the ones before it applied); after it, `(-1, i)`. SQLite records `(-1, 0)`
/// once its undo committed.
pub fn undo(
    db: &mut dyn Db,
    steps: &[SqlStep],
    done: usize,
    uncertain: Option<usize>,
    applied: bool,
    record: &mut dyn FnMut(i64, i64) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (first, last) = session(db.kind());
    match db.kind() {
        Kind::Sqlite => {
            if !applied {
                return record(-1, 0);
            }
            let body: Vec<&str> = steps
                .iter()
                .rev()
                .map(|s| s.undo.as_str())
                .filter(|s| !s.is_empty())
                .collect();
            if !body.is_empty() {
                quiet(db, first)?;
                let r = db.apply_script(&body.join("\n"));
                let _ = quiet(db, last);
                r.map_err(|e| anyhow::anyhow!("undoing the SQL: {e}"))?;
                crash_point("recovery: SQL undone");
            }
            record(-1, 0)
        }
        Kind::Mysql => {
            quiet(db, first)?;
            let done = done.min(steps.len());
            if let Some(i) = uncertain.filter(|&i| i < steps.len()) {
                let _ = quiet(db, &steps[i].undo);
                record(-1, done as i64)?;
            }
            for i in (0..done).rev() {
                record(i as i64, i as i64)?;
                quiet(db, &steps[i].undo)?;
                crash_point("recovery: SQL step undone");
                record(-1, i as i64)?;
            }
            quiet(db, last)
        }
    }
}

/// Put a database back as it was before [`run`] was interrupted or failed, as its record
/// says (`done` steps finished, `next` the one running or -1): MySQL undoes exactly what
/// ran; SQLite undoes the whole transaction when the touched tables show it committed.
/// Undoing is recorded through `record` as [`undo`] says. Then the touched tables must
/// hold `before` again (unless `forced`: the build ran over
/// conflicts, so they never did). The builds and the deploy agent both recover this way.
#[allow(clippy::too_many_arguments)]
pub fn recover(
    db: &mut dyn Db,
    steps: &[SqlStep],
    tables: &BTreeSet<String>,
    before: &DbSnapshot,
    after: &DbSnapshot,
    f: &Filters,
    done: i64,
    next: i64,
    forced: bool,
    record: &mut dyn FnMut(i64, i64) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // SQLite: whether the transaction committed shows in the touched tables (a record of
    // it alone could be stale: an undo killed after it committed, before it was
    // recorded); over conflicts (forced) the tables show neither side: the record says.
    let applied = {
        let got = read(db, tables)?;
        conflicts(after, before, &got, tables, f).is_empty()
    } || forced && done as usize >= steps.len() && !steps.is_empty();
    undo(
        db,
        steps,
        done.max(0) as usize,
        (next >= 0).then_some(next as usize),
        applied,
        record,
    )?;
    let got = read(db, tables)?;
    let left = conflicts(before, after, &got, tables, f);
    if !left.is_empty() && !forced {
        anyhow::bail!(
            "the database is not back at the pre-images: {}",
            left.join("; ")
        );
    }
    Ok(())
}

/// What [`conflicts`] compares, as SQL a program without devsky can run on the target (a
/// wind): one `SELECT CASE ... END AS ok` per check, giving `ok` or the conflict. A
/// touched table's schema stands as its column names in order; every row the script
/// changes must hold its pre-image (excluded columns not compared), a row it adds must
/// be absent; a table it creates must not exist.
pub fn check_sql(
    expect: &DbSnapshot,
    other: &DbSnapshot,
    tables: &BTreeSet<String>,
    f: &Filters,
) -> String {
    use crate::engine::db::data_diff::literal;
    use crate::engine::db::ddl::ident;
    let kind = expect.kind;
    let text = |s: &str| literal(kind, &Value::Text(s.to_string()));
    let mut out = String::new();
    if kind == Kind::Mysql {
        out.push_str(session(kind).0);
        out.push('\n');
    }
    let mut check = |cond: String, msg: String| {
        out.push_str(&format!(
            "SELECT CASE WHEN {cond} THEN 'ok' ELSE {} END AS ok;\n",
            text(&msg)
        ));
    };
    let columns = |name: &str| match kind {
        Kind::Sqlite => format!(
            "(SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_table_info({}) ORDER BY cid))",
            text(name)
        ),
        Kind::Mysql => format!(
            "(SELECT GROUP_CONCAT(column_name ORDER BY ordinal_position SEPARATOR ',') FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = {})",
            text(name)
        ),
    };
    let is = match kind {
        Kind::Sqlite => "IS",
        Kind::Mysql => "<=>",
    };
    for name in tables {
        let e = match (expect.table(name), other.table(name)) {
            (None, Some(_)) => {
                check(
                    format!("{} IS NULL", columns(name)),
                    format!("table {name}: exists in the target; the script creates it"),
                );
                continue;
            }
            (None, None) => continue,
            (Some(e), _) => e,
        };
        let names: Vec<&str> = e.columns.iter().map(|c| c.name.as_str()).collect();
        check(
            format!("{} = {}", columns(name), text(&names.join(","))),
            format!(
                "table {name}: missing, or its columns are not the script's pre-image ({})",
                names.join(", ")
            ),
        );
        let Some(rows) = expect.data.get(name) else {
            continue;
        };
        let skip: Vec<usize> = f
            .columns_of(name)
            .iter()
            .filter_map(|c| pos(e, c))
            .collect();
        let pk: Vec<usize> = e.primary_key.iter().filter_map(|c| pos(e, c)).collect();
        let has_pk = !pk.is_empty() && pk.len() == e.primary_key.len();
        let same = |a: &Vec<Value>, b: &Vec<Value>| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .enumerate()
                    .all(|(i, (x, y))| skip.contains(&i) || value_eq(x, y))
        };
        let mine: BTreeMap<String, &Vec<Value>> = rows.iter().map(|r| (key(e, r), r)).collect();
        let after: BTreeMap<String, &Vec<Value>> = match (other.table(name), other.data.get(name)) {
            (Some(o), Some(other_rows)) if o.columns == e.columns => {
                other_rows.iter().map(|r| (key(o, r), r)).collect()
            }
            _ => BTreeMap::new(),
        };
        let shape_kept = other.table(name).is_some_and(|o| o.columns == e.columns)
            && other.data.contains_key(name);
        let changed: BTreeSet<&String> = if shape_kept {
            mine.keys()
                .chain(after.keys())
                .filter(|k| match (mine.get(*k), after.get(*k)) {
                    (Some(a), Some(b)) => !same(a, b),
                    _ => true,
                })
                .collect()
        } else {
            mine.keys().collect()
        };
        let table = ident(kind, name);
        let matching = |row: &Vec<Value>, only: &[usize]| -> String {
            let conds: Vec<String> = e
                .columns
                .iter()
                .enumerate()
                .filter(|(i, _)| only.contains(i))
                .map(|(i, c)| format!("{} {is} {}", ident(kind, &c.name), literal(kind, &row[i])))
                .collect();
            if conds.is_empty() {
                "1 = 1".into()
            } else {
                conds.join(" AND ")
            }
        };
        for k in changed {
            match (mine.get(k), after.get(k)) {
                (Some(want), _) => {
                    let cols: Vec<usize> =
                        (0..e.columns.len()).filter(|i| !skip.contains(i)).collect();
                    let n = if has_pk { "= 1" } else { ">= 1" };
                    check(
                        format!(
                            "(SELECT COUNT(*) FROM {table} WHERE {}) {n}",
                            matching(want, &cols)
                        ),
                        format!("table {name} row {k}: expected {}", row_text(Some(want))),
                    );
                }
                (None, Some(new)) => {
                    let cols: Vec<usize> = if has_pk {
                        pk.clone()
                    } else {
                        (0..e.columns.len()).collect()
                    };
                    check(
                        format!(
                            "(SELECT COUNT(*) FROM {table} WHERE {}) = 0",
                            matching(new, &cols)
                        ),
                        format!("table {name} row {k}: expected no row (the script adds it)"),
                    );
                }
                (None, None) => {}
            }
        }
    }
    out
}
