//! Schema diff: the ordered steps that turn one set of tables (old: a snapshot, the
//! source) into another (new: the target), each step with its reverse.
//!
//! A script runs in phases ([`Phase`]), so that what a later statement needs exists:
//!
//! 0. drop views, triggers, routines, events that go or change (`db_objects`)
//! 1. drop foreign keys that go or change (MySQL), and every foreign key of a table that goes
//! 2. drop indexes that go or change (MySQL; SQLite's indexes are objects, phase 0)
//! 3. pre-images: no forward SQL; the reverse puts back the column values a step lost
//!    (added by the database snapshot, which holds the old rows) — in the reverse, after the
//!    tables have their old shape and before their old indexes and keys come back
//! 4. create tables, parents first (stable topological sort on foreign keys). MySQL: the
//!    keys of a cycle are left out of `CREATE TABLE` and added in phase 10
//! 5. alter tables. MySQL: table options, DROP / CHANGE (rename hint) / MODIFY / ADD COLUMN
//!    with the column definitions of the server's `SHOW CREATE TABLE` (`show_create`; a
//!    generated column is dropped and added), column order, primary key, partitioning,
//!    one statement per step. SQLite: the table rebuild (below)
//!    5b. MySQL `AUTO_INCREMENT` counters (added by the database snapshot, which knows them)
//! 6. drop tables, children first
//! 7. delete rows, children first; 8. insert and update rows, parents first (tables in
//!    'data' mode, see `data_diff`)
//! 9. add indexes (MySQL, with the server's own clause) and CHECK constraints
//! 10. add foreign keys
//! 11. create views, triggers, routines, events that come or change (`db_objects`)
//!
//! The reverse script is the steps' reverses in reverse order, so each reverse runs on the
//! state its forward left. Column renames are only taken from explicit hints; otherwise a
//! renamed column is a drop (destructive) plus an add.
//!
//! SQLite rebuild (the documented "12 steps", adapted so the new table's `CREATE` text is
//! kept verbatim — `ALTER TABLE .. RENAME` would rewrite the name in it): copy the rows
//! aside (`CREATE TABLE _devsky_old_t AS SELECT * FROM t`), drop the table, create it from
//! the target's `create_sql`, copy the rows back (renamed columns mapped, new NOT NULL
//! columns without a default given a placeholder), drop the copy; indexes come back in
//! phase 11 (after the rows), with its triggers.
//! Foreign keys must be off while it runs (`PRAGMA foreign_keys` outside the transaction):
//! otherwise dropping a parent fires its children's `ON DELETE` actions.

use std::collections::{BTreeSet, BinaryHeap, HashMap};

use serde::Serialize;

pub use super::ddl::{column_def, create_table_sql, drop_table_sql, ident, placeholder, writable};
pub use super::narrowing::narrowing;
use super::sqlite_rebuild::sqlite_rebuild_step;
pub use super::sqlite_rebuild::sqlite_rebuilt;

use super::ddl::{
    add_fk_sql, add_index_sql, drop_fk_sql, drop_index_sql, fk_text, own_index, same_fk,
};
#[cfg(test)]
use super::narrowing::type_change;
use super::show_create;
use super::{ForeignKey, IndexSchema, Kind, TableSchema};

/// When a step runs; a script is sorted by phase (stably).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Phase {
    /// Views, triggers, routines, events, SQLite's partial and expression indexes that go
    /// or change (see `db_objects`): before anything else.
    DropObject,
    DropForeignKey,
    DropIndex,
    PreImage,
    CreateTable,
    AlterTable,
    /// MySQL `AUTO_INCREMENT` counters: after the tables have their shape, before rows
    /// (so the reverse sets them back after its deletes, and after re-creating a table).
    Counter,
    DropTable,
    DeleteRows,
    UpsertRows,
    AddIndex,
    AddForeignKey,
    /// Objects that come or change: after every table is in its final shape.
    CreateObject,
}

/// One change and its reverse. `forward` and `reverse` are SQL statements ending in `;`
/// (several for a table rebuild), either may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub forward: String,
    pub reverse: String,
    /// Why this step loses data (refused unless allowed).
    pub destructive: Option<String>,
    pub table: String,
    pub phase: Phase,
    /// Old-side columns whose values this step drops or may change: restored from
    /// pre-images after the reverse, where the snapshot has them.
    pub restore: Vec<String>,
}

impl Step {
    pub(super) fn new(phase: Phase, table: &str, forward: String, reverse: String) -> Step {
        Step {
            forward,
            reverse,
            destructive: None,
            table: table.to_string(),
            phase,
            restore: Vec::new(),
        }
    }
}

/// A column rename hint: (table, old column, new column).
pub type Rename = (String, String, String);

/// `Ok` when nothing is destructive or destruction is allowed; otherwise every reason.
pub fn refuse_destructive(steps: &[Step], allow: bool) -> Result<(), Vec<String>> {
    let reasons: Vec<String> = steps.iter().filter_map(|s| s.destructive.clone()).collect();
    if allow || reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons)
    }
}

/// The same MySQL foreign key on both sides: normalized, and by the server's own clause
/// (which shows what the normalized key leaves out, such as another schema's table).
fn same_mysql_fk(o: &TableSchema, a: &ForeignKey, n: &TableSchema, b: &ForeignKey) -> bool {
    same_fk(Kind::Mysql, a, b) && fk_text(o, &a.name) == fk_text(n, &b.name)
}

/// The index names of `t` in the order its `CREATE TABLE` text declares them (the
/// normalized list's order where the server's text cannot be read).
fn declared_order(t: &TableSchema, p: &Option<show_create::Parts>) -> Vec<String> {
    match p {
        Some(p) => p.indexes.iter().map(|(name, _)| name.clone()).collect(),
        None => t.indexes.iter().map(|ix| ix.name.clone()).collect(),
    }
}

/// Order `tables` parents first: a stable topological sort on foreign keys between them
/// (ties keep the given order). Foreign keys inside a cycle (between tables of one strongly
/// connected component; self-references are not cycles) are returned as (table, key name):
/// creating the tables without them and adding them afterwards breaks the cycle.
pub fn topo_order(tables: &[&TableSchema]) -> (Vec<usize>, BTreeSet<(String, String)>) {
    let n = tables.len();
    let at: HashMap<&str, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let parents: Vec<Vec<usize>> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.foreign_keys
                .iter()
                .filter_map(|fk| at.get(fk.ref_table.as_str()).copied())
                .filter(|&p| p != i)
                .collect()
        })
        .collect();
    let scc = components(&parents);
    let mut cyclic = BTreeSet::new();
    let mut indegree = vec![0usize; n];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, t) in tables.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for fk in &t.foreign_keys {
            let Some(&p) = at.get(fk.ref_table.as_str()) else {
                continue;
            };
            if p == i {
                continue;
            }
            if scc[p] == scc[i] {
                cyclic.insert((t.name.clone(), fk.name.clone()));
            } else if seen.insert(p) {
                indegree[i] += 1;
                children[p].push(i);
            }
        }
    }
    let mut ready: BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&i| indegree[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &c in &children[i] {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                ready.push(std::cmp::Reverse(c));
            }
        }
    }
    (order, cyclic)
}

/// Strongly connected components (Tarjan); edges i -> parents[i].
fn components(parents: &[Vec<usize>]) -> Vec<usize> {
    struct T<'a> {
        g: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        comp: Vec<usize>,
        next: usize,
        ncomp: usize,
    }
    fn visit(t: &mut T, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in &t.g[v] {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                t.comp[w] = t.ncomp;
                if w == v {
                    break;
                }
            }
            t.ncomp += 1;
        }
    }
    let n = parents.len();
    let mut t = T {
        g: parents,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        comp: vec![0; n],
        next: 0,
        ncomp: 0,
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.comp
}

/// The steps from `old` to `new`, sorted by phase. `rows` gives a table's row count for the
/// reasons of destructive steps, when known.
pub fn diff(
    kind: Kind,
    old: &[TableSchema],
    new: &[TableSchema],
    renames: &[Rename],
    rows: &dyn Fn(&str) -> Option<u64>,
) -> Vec<Step> {
    let find = |set: &'_ [TableSchema], name: &str| set.iter().position(|t| t.name == name);
    let dropped: Vec<&TableSchema> = old
        .iter()
        .filter(|t| find(new, &t.name).is_none())
        .collect();
    let created: Vec<&TableSchema> = new
        .iter()
        .filter(|t| find(old, &t.name).is_none())
        .collect();
    let kept: Vec<(&TableSchema, &TableSchema)> = old
        .iter()
        .filter_map(|o| find(new, &o.name).map(|i| (o, &new[i])))
        .collect();
    let mut steps = Vec::new();

    if kind == Kind::Mysql {
        for t in &dropped {
            for fk in &t.foreign_keys {
                steps.push(Step::new(
                    Phase::DropForeignKey,
                    &t.name,
                    drop_fk_sql(&t.name, fk),
                    add_fk_sql(t, fk),
                ));
            }
        }
        for (o, n) in &kept {
            for fk in o
                .foreign_keys
                .iter()
                .filter(|fk| !n.foreign_keys.iter().any(|x| same_mysql_fk(o, fk, n, x)))
            {
                steps.push(Step::new(
                    Phase::DropForeignKey,
                    &o.name,
                    drop_fk_sql(&o.name, fk),
                    add_fk_sql(o, fk),
                ));
            }
            for fk in n
                .foreign_keys
                .iter()
                .filter(|fk| !o.foreign_keys.iter().any(|x| same_mysql_fk(o, x, n, fk)))
            {
                steps.push(Step::new(
                    Phase::AddForeignKey,
                    &n.name,
                    add_fk_sql(n, fk),
                    drop_fk_sql(&n.name, fk),
                ));
            }
        }
    }

    let (order, cyclic) = topo_order(&created);
    for i in order {
        let t = created[i];
        let deferred = |fk: &ForeignKey| {
            kind == Kind::Mysql && cyclic.contains(&(t.name.clone(), fk.name.clone()))
        };
        steps.push(Step::new(
            Phase::CreateTable,
            &t.name,
            table_only(kind, t, &|fk| !deferred(fk)),
            drop_table_sql(kind, &t.name),
        ));
        for fk in t.foreign_keys.iter().filter(|fk| deferred(fk)) {
            steps.push(Step::new(
                Phase::AddForeignKey,
                &t.name,
                add_fk_sql(t, fk),
                drop_fk_sql(&t.name, fk),
            ));
        }
    }

    for (o, n) in &kept {
        let hints: Vec<(String, String)> = renames
            .iter()
            .filter(|r| r.0 == o.name)
            .map(|r| (r.1.clone(), r.2.clone()))
            .collect();
        let rebuilt = kind == Kind::Sqlite && sqlite_rebuilt(o, n);
        if rebuilt {
            steps.push(sqlite_rebuild_step(o, n, &hints, rows(&o.name)));
        }
        // MySQL: an index also changes when the server's clause for it does (type,
        // parser, comment, descending parts); it is added back with that clause.
        let (po, pn) = match kind {
            Kind::Mysql => (show_create::of(o), show_create::of(n)),
            Kind::Sqlite => (None, None),
        };
        let clause = |p: &Option<show_create::Parts>, name: &str| {
            p.as_ref()
                .and_then(|p| show_create::index(p, name))
                .map(str::to_string)
        };
        let add =
            |t: &str, ix: &IndexSchema, p: &Option<show_create::Parts>| match clause(p, &ix.name) {
                Some(c) => format!("ALTER TABLE {} ADD {c};", ident(kind, t)),
                None => add_index_sql(kind, t, ix),
            };
        // SQLite indexes are objects, created again from their own text (`db_objects`).
        // MySQL shows indexes in the order they were added: only the longest common
        // leading run of the old and new declared orders stays; the indexes after it are
        // dropped and added in the new order (the reverse adds the old ones back in theirs).
        // A generated column whose definition changes is dropped and added again, and
        // takes its indexes with it: those are dropped and added too.
        let regenerated: Vec<&str> = match (&po, &pn) {
            (Some(a), Some(b)) => a
                .columns
                .iter()
                .filter(|(name, def)| {
                    show_create::column(b, name).is_some_and(|d| {
                        d != def && (show_create::is_generated(d) || show_create::is_generated(def))
                    })
                })
                .map(|(name, _)| name.as_str())
                .collect(),
            _ => Vec::new(),
        };
        let unchanged = |ix: &IndexSchema| {
            n.indexes.contains(ix)
                && clause(&po, &ix.name) == clause(&pn, &ix.name)
                && !ix
                    .columns
                    .iter()
                    .any(|c| regenerated.contains(&c.split('(').next().unwrap_or(c)))
        };
        let (old_order, new_order) = (declared_order(o, &po), declared_order(n, &pn));
        let stay: Vec<&str> = old_order
            .iter()
            .zip(&new_order)
            .take_while(|(a, b)| {
                a == b && o.indexes.iter().any(|ix| &ix.name == *a && unchanged(ix))
            })
            .map(|(a, _)| a.as_str())
            .collect();
        let kept_ix = |ix: &IndexSchema, _: &TableSchema| {
            kind == Kind::Sqlite || stay.contains(&ix.name.as_str())
        };
        let mut gone: Vec<&IndexSchema> = o
            .indexes
            .iter()
            .filter(|ix| !own_index(kind, ix) && !kept_ix(ix, n))
            .collect();
        // Dropped last-declared first: the reverse adds them back in their declared order.
        gone.sort_by_key(|ix| std::cmp::Reverse(old_order.iter().position(|x| x == &ix.name)));
        for ix in gone {
            steps.push(Step::new(
                Phase::DropIndex,
                &o.name,
                drop_index_sql(kind, &o.name, ix),
                add(&o.name, ix, &po),
            ));
        }
        let declared = |ix: &&IndexSchema| new_order.iter().position(|x| x == &ix.name);
        let mut added: Vec<&IndexSchema> = n
            .indexes
            .iter()
            .filter(|ix| !own_index(kind, ix) && !kept_ix(ix, o))
            .collect();
        added.sort_by_key(declared);
        for ix in added {
            steps.push(Step::new(
                Phase::AddIndex,
                &n.name,
                add(&n.name, ix, &pn),
                drop_index_sql(kind, &n.name, ix),
            ));
        }
        if kind == Kind::Mysql {
            steps.extend(super::mysql_alter::mysql_alter(o, n, &hints, rows(&o.name)));
        }
    }

    let (order, _) = topo_order(&dropped);
    for &i in order.iter().rev() {
        let t = dropped[i];
        let mut s = Step::new(
            Phase::DropTable,
            &t.name,
            drop_table_sql(kind, &t.name),
            table_only(kind, t, &|_| kind == Kind::Sqlite),
        );
        s.destructive = Some(match rows(&t.name) {
            Some(n) => format!("drops table {} with {n} rows", t.name),
            None => format!("drops table {}", t.name),
        });
        steps.push(s);
    }
    steps.sort_by_key(|s| s.phase);
    steps
}

/// What the steps of [`diff`] leave out, one line per table naming what and why: MySQL
/// clauses of `SHOW CREATE TABLE` that devsky does not know how to alter.
pub fn unscripted(kind: Kind, old: &[TableSchema], new: &[TableSchema]) -> Vec<String> {
    let mut out = Vec::new();
    if kind != Kind::Mysql {
        return out;
    }
    for n in new {
        let Some(o) = old.iter().find(|o| o.name == n.name) else {
            continue;
        };
        match (show_create::of(o), show_create::of(n)) {
            (Some(a), Some(b)) => {
                let changed: Vec<&String> = a
                    .other
                    .iter()
                    .filter(|l| !b.other.contains(l))
                    .chain(b.other.iter().filter(|l| !a.other.contains(l)))
                    .collect();
                // MariaDB keeps Aria's page options through an engine change: they cannot
                // be removed by an ALTER.
                let kept: Vec<&str> = show_create::option_names(&a.options)
                    .into_iter()
                    .filter(|o| {
                        matches!(*o, "PAGE_CHECKSUM" | "TRANSACTIONAL")
                            && !show_create::option_names(&b.options).contains(o)
                    })
                    .collect();
                if !kept.is_empty() {
                    out.push(format!(
                        "table {}: MariaDB keeps {} after the engine changes; devsky cannot script removing it",
                        n.name,
                        kept.join(", ")
                    ));
                }
                if !changed.is_empty() {
                    out.push(format!(
                        "table {}: devsky cannot script a change of: {}",
                        n.name,
                        changed
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
            }
            (a, b) if o.create_sql != n.create_sql && (a.is_none() || b.is_none()) => {
                out.push(format!(
                    "table {}: the server's CREATE TABLE text could not be read, changes beyond columns, keys and indexes are not scripted",
                    n.name
                ));
            }
            _ => {}
        }
    }
    out
}

/// `CREATE TABLE` alone: SQLite's indexes are objects of their own (`db_objects`).
fn table_only(kind: Kind, t: &TableSchema, keep_fk: &dyn Fn(&ForeignKey) -> bool) -> String {
    match kind {
        Kind::Sqlite => format!("{};", t.create_sql.trim().trim_end_matches(';')),
        Kind::Mysql => create_table_sql(kind, t, keep_fk),
    }
}

/// For each new column, the old column it comes from (a rename hint, else the same name).
pub(super) fn sources(
    o: &TableSchema,
    n: &TableSchema,
    hints: &[(String, String)],
) -> Vec<Option<usize>> {
    n.columns
        .iter()
        .map(|nc| {
            let by_hint = hints
                .iter()
                .find(|h| h.1 == nc.name)
                .and_then(|h| o.columns.iter().position(|c| c.name == h.0));
            by_hint.or_else(|| {
                let renamed_away = hints.iter().any(|h| h.0 == nc.name && h.1 != nc.name);
                (!renamed_away)
                    .then(|| o.columns.iter().position(|c| c.name == nc.name))
                    .flatten()
            })
        })
        .collect()
}

pub(super) fn rows_note(rows: Option<u64>) -> String {
    rows.map(|r| format!(" ({r} rows)")).unwrap_or_default()
}

#[cfg(test)]
#[path = "schema_diff_tests.rs"]
mod tests;
