//! MySQL `ALTER TABLE` steps for a table kept from one schema to the next: table options
//! (with the text columns a new default character set converts), the primary key dropped
//! before the columns it uses, columns dropped / changed / modified / added (definitions as
//! the server's `SHOW CREATE TABLE` wrote them; generated columns dropped and added, a new
//! AUTO_INCREMENT column with its key), column order, the new primary key, CHECK
//! constraints and partitioning. Part of the schema diff (see `schema_diff`).

use super::ddl::{column_def, ident, list};
use super::narrowing::narrowing;
use super::schema_diff::{Phase, Step, rows_note, sources};
use super::show_create;
use super::{ColumnSchema, Kind, TableSchema};

pub(super) fn mysql_alter(
    o: &TableSchema,
    n: &TableSchema,
    hints: &[(String, String)],
    rows: Option<u64>,
) -> Vec<Step> {
    let k = Kind::Mysql;
    let t = &n.name;
    let alter = |what: String| format!("ALTER TABLE {} {what};", ident(k, t));
    let at = |cur: &[ColumnSchema], name: &str| -> String {
        match cur.iter().position(|c| c.name == name) {
            Some(0) | None => "FIRST".into(),
            Some(i) => format!("AFTER {}", ident(k, &cur[i - 1].name)),
        }
    };
    // Column definitions as the server wrote them, where it did (every attribute).
    let (po, pn) = (show_create::of(o), show_create::of(n));
    let def = |p: &Option<show_create::Parts>, c: &ColumnSchema| {
        p.as_ref()
            .and_then(|p| show_create::column(p, &c.name))
            .map_or_else(|| column_def(k, c), str::to_string)
    };
    let src = sources(o, n, hints);
    let mut cur = o.columns.clone();
    let mut steps = Vec::new();
    if let (Some(a), Some(b)) = (&po, &pn)
        && a.options != b.options
    {
        // A new default character set or collation: text columns that take the table's
        // (no CHARACTER SET / COLLATE of their own) are converted in the same step, so the
        // reverse converts them back after the default is back.
        let mut fwd = vec![show_create::options_change(&a.options, &b.options)];
        let mut rev = vec![show_create::options_change(&b.options, &a.options)];
        let mut converted = Vec::new();
        if show_create::charset(&a.options) != show_create::charset(&b.options) {
            for (nc, i) in n.columns.iter().zip(&src) {
                let Some(oc) = i.map(|i| &o.columns[i]) else {
                    continue;
                };
                let (od, nd) = (def(&po, oc), def(&pn, nc));
                let implicit = |d: &str| !d.contains(" CHARACTER SET ") && !d.contains(" COLLATE ");
                let text = [
                    "char",
                    "varchar",
                    "tinytext",
                    "text",
                    "mediumtext",
                    "longtext",
                    "enum",
                    "set",
                ]
                .contains(&nc.data_type.split(['(', ' ']).next().unwrap_or(""));
                if text && oc == nc && od == nd && implicit(&nd) && !show_create::is_generated(&nd)
                {
                    fwd.push(format!("MODIFY COLUMN {nd}"));
                    rev.push(format!("MODIFY COLUMN {od}"));
                    converted.push(nc.name.clone());
                }
            }
        }
        let mut s = Step::new(
            Phase::AlterTable,
            t,
            alter(fwd.join(", ")),
            alter(rev.join(", ")),
        );
        if show_create::charset(&a.options).0 != show_create::charset(&b.options).0
            && !converted.is_empty()
        {
            s.destructive = Some(format!(
                "converts {} of {t} to the character set {}{}",
                converted.join(", "),
                show_create::charset(&b.options).0.unwrap_or("?"),
                rows_note(rows)
            ));
            s.restore = converted;
        }
        steps.push(s);
    }
    // The primary key: dropped before the columns it uses go, added after the columns it
    // needs come (a new AUTO_INCREMENT column with its key, in one statement).
    let renamed = |c: &String| {
        hints
            .iter()
            .find(|h| &h.0 == c && n.columns.iter().any(|nc| nc.name == h.1))
            .map_or(c.clone(), |h| h.1.clone())
    };
    let old_pk: Vec<String> = o.primary_key.iter().map(renamed).collect();
    let primary = |p: &Option<show_create::Parts>, pk: &[String]| {
        p.as_ref()
            .and_then(|p| p.primary.clone())
            .unwrap_or_else(|| format!("PRIMARY KEY ({})", list(k, pk)))
    };
    let pk_clause_changed = hints.is_empty()
        && po.as_ref().and_then(|p| p.primary.clone())
            != pn.as_ref().and_then(|p| p.primary.clone());
    let pk_changed = old_pk != n.primary_key || pk_clause_changed;
    if pk_changed && !old_pk.is_empty() {
        steps.push(Step::new(
            Phase::AlterTable,
            t,
            alter("DROP PRIMARY KEY".into()),
            alter(format!("ADD {}", primary(&po, &o.primary_key))),
        ));
    }
    let mut pk_added = !pk_changed || n.primary_key.is_empty();
    for oc in o
        .columns
        .iter()
        .enumerate()
        .filter(|(i, _)| !src.contains(&Some(*i)))
        .map(|(_, c)| c)
    {
        let mut s = Step::new(
            Phase::AlterTable,
            t,
            alter(format!("DROP COLUMN {}", ident(k, &oc.name))),
            alter(format!(
                "ADD COLUMN {} {}",
                def(&po, oc),
                at(&cur, &oc.name)
            )),
        );
        if !show_create::is_generated(&def(&po, oc)) {
            s.destructive = Some(format!("drops column {t}.{}{}", oc.name, rows_note(rows)));
            s.restore = vec![oc.name.clone()];
        }
        cur.retain(|c| c.name != oc.name);
        steps.push(s);
    }
    for (nc, i) in n.columns.iter().zip(&src) {
        let Some(oc) = i.map(|i| &o.columns[i]) else {
            continue;
        };
        let (od, nd) = (def(&po, oc), def(&pn, nc));
        if oc == nc && od == nd {
            continue;
        }
        let mut s = if show_create::is_generated(&od) || show_create::is_generated(&nd) {
            // MariaDB cannot MODIFY a generated column in place: drop it and add it back.
            let pos = at(&cur, &oc.name);
            let swap = |from: &str, to: &str| {
                format!(
                    "{}\n{}",
                    alter(format!("DROP COLUMN {}", ident(k, from))),
                    alter(format!("ADD COLUMN {to} {pos}"))
                )
            };
            let mut s = Step::new(
                Phase::AlterTable,
                t,
                swap(&oc.name, &nd),
                swap(&nc.name, &od),
            );
            if !show_create::is_generated(&od) {
                s.destructive = Some(format!(
                    "replaces column {t}.{} by a generated column{}",
                    oc.name,
                    rows_note(rows)
                ));
                s.restore = vec![oc.name.clone()];
            }
            s
        } else if oc.name != nc.name {
            Step::new(
                Phase::AlterTable,
                t,
                alter(format!("CHANGE COLUMN {} {nd}", ident(k, &oc.name))),
                alter(format!("CHANGE COLUMN {} {od}", ident(k, &nc.name))),
            )
        } else {
            Step::new(
                Phase::AlterTable,
                t,
                alter(format!("MODIFY COLUMN {nd}")),
                alter(format!("MODIFY COLUMN {od}")),
            )
        };
        if s.destructive.is_none() {
            s.destructive = narrowing(k, t, oc, nc);
            if s.destructive.is_some() {
                s.restore = vec![oc.name.clone()];
            }
        }
        if let Some(c) = cur.iter_mut().find(|c| c.name == oc.name) {
            *c = nc.clone();
        }
        steps.push(s);
    }
    for (j, nc) in n
        .columns
        .iter()
        .enumerate()
        .filter(|(j, _)| src[*j].is_none())
    {
        let pos = if j == 0 {
            "FIRST".to_string()
        } else {
            format!("AFTER {}", ident(k, &n.columns[j - 1].name))
        };
        let mut add = format!("ADD COLUMN {} {pos}", def(&pn, nc));
        if !pk_added && nc.extra.contains("auto_increment") && n.primary_key.contains(&nc.name) {
            add.push_str(&format!(", ADD {}", primary(&pn, &n.primary_key)));
            pk_added = true;
        }
        steps.push(Step::new(
            Phase::AlterTable,
            t,
            alter(add),
            alter(format!("DROP COLUMN {}", ident(k, &nc.name))),
        ));
        let after = if j == 0 {
            0
        } else {
            cur.iter()
                .position(|c| c.name == n.columns[j - 1].name)
                .map_or(cur.len(), |p| p + 1)
        };
        cur.insert(after, nc.clone());
    }
    for (j, nc) in n.columns.iter().enumerate() {
        if cur.get(j).is_some_and(|c| c.name == nc.name) {
            continue;
        }
        let Some(from) = cur.iter().position(|c| c.name == nc.name) else {
            continue;
        };
        let back = at(&cur, &nc.name);
        let to = if j == 0 {
            "FIRST".to_string()
        } else {
            format!("AFTER {}", ident(k, &n.columns[j - 1].name))
        };
        let d = def(&pn, nc);
        steps.push(Step::new(
            Phase::AlterTable,
            t,
            alter(format!("MODIFY COLUMN {d} {to}")),
            alter(format!("MODIFY COLUMN {d} {back}")),
        ));
        let c = cur.remove(from);
        cur.insert(j, c);
    }
    if !pk_added {
        steps.push(Step::new(
            Phase::AlterTable,
            t,
            alter(format!("ADD {}", primary(&pn, &n.primary_key))),
            alter("DROP PRIMARY KEY".into()),
        ));
    }
    if let (Some(a), Some(b)) = (&po, &pn) {
        // CHECK constraints: dropped before the changes, added after the rows.
        for (name, clause) in a.checks.iter().filter(|c| !b.checks.contains(c)) {
            steps.push(Step::new(
                Phase::DropIndex,
                t,
                alter(format!("DROP CONSTRAINT {}", ident(k, name))),
                alter(format!("ADD {clause}")),
            ));
        }
        for (name, clause) in b.checks.iter().filter(|c| !a.checks.contains(c)) {
            steps.push(Step::new(
                Phase::AddIndex,
                t,
                alter(format!("ADD {clause}")),
                alter(format!("DROP CONSTRAINT {}", ident(k, name))),
            ));
        }
        if a.partition != b.partition {
            let part = |p: &str| {
                if p.is_empty() {
                    alter("REMOVE PARTITIONING".into())
                } else {
                    alter(p.to_string())
                }
            };
            steps.push(Step::new(
                Phase::AlterTable,
                t,
                part(&b.partition),
                part(&a.partition),
            ));
        }
    }
    steps
}
