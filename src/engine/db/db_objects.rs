//! The objects of a schema beside its tables: views, triggers, stored procedures and
//! functions, events (MySQL); views, triggers and the indexes the table schema does not
//! model — partial and expression indexes (SQLite).
//!
//! Each is kept as the server's own `CREATE` text (`SHOW CREATE VIEW|TRIGGER|PROCEDURE|
//! FUNCTION|EVENT`, and for triggers, routines and events the `sql_mode` they were made
//! under; SQLite: `sqlite_master.sql`). A changed object is dropped and created again from
//! that text, in an order the server accepts: created after every table change (routines,
//! then indexes, then views with the views they read first, then triggers and events),
//! dropped before any (in the opposite order). SQLite drops a table's triggers and indexes
//! with it, so those of a table that is rebuilt are dropped and created again too.

use serde::{Deserialize, Serialize};

use super::Kind;
use super::ddl::ident;
use super::schema_diff::{Phase, Step};

/// A view, trigger, routine, event or (SQLite) index, as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbObject {
    /// `view`, `trigger`, `procedure`, `function`, `event`, `index`.
    pub kind: String,
    pub name: String,
    /// The table of a trigger or an index (empty otherwise).
    pub table: String,
    /// The server's `CREATE` statement, without a final `;`.
    pub create_sql: String,
    /// MySQL: the `sql_mode` a trigger, routine or event was created under.
    pub sql_mode: String,
    /// MySQL: the time zone an event was created in (its schedule is read in it).
    #[serde(default)]
    pub time_zone: String,
}

/// The `sql_mode` scripts run in (see `snapshot::session`).
pub const SCRIPT_SQL_MODE: &str = "NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION";

fn rank(o: &DbObject) -> u8 {
    match o.kind.as_str() {
        "function" => 0,
        "procedure" => 1,
        "index" => 2,
        "view" => 3,
        "trigger" => 4,
        _ => 5,
    }
}

/// Whether `text` names `name` as a whole word (quoted or not), case-insensitively.
fn mentions(text: &str, name: &str) -> bool {
    let (t, n) = (text.to_lowercase(), name.to_lowercase());
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
    t.match_indices(&n)
        .any(|(i, _)| !word(t[..i].chars().next_back()) && !word(t[i + n.len()..].chars().next()))
}

/// `objects` in creation order: by kind (routines, indexes, views, triggers, events), views
/// after the views they mention, otherwise as given.
pub fn creation_order(objects: &[&DbObject]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..objects.len()).collect();
    idx.sort_by_key(|&i| rank(objects[i]));
    let mut out: Vec<usize> = Vec::with_capacity(idx.len());
    let mut left = idx;
    while !left.is_empty() {
        // The first object none of whose not-yet-placed views it mentions.
        let pick = left
            .iter()
            .position(|&i| {
                objects[i].kind != "view"
                    || !left.iter().any(|&j| {
                        j != i
                            && objects[j].kind == "view"
                            && mentions(&objects[i].create_sql, &objects[j].name)
                    })
            })
            .unwrap_or(0);
        out.push(left.remove(pick));
    }
    out
}

fn drop_sql(kind: Kind, o: &DbObject) -> String {
    let what = o.kind.to_ascii_uppercase();
    format!("DROP {what} IF EXISTS {};", ident(kind, &o.name))
}

/// The statements that create `o` (MySQL: under its own `sql_mode`, with `DELIMITER` lines
/// around bodies that hold `;`).
pub fn create_sql(kind: Kind, o: &DbObject) -> String {
    let body = o.create_sql.trim().trim_end_matches(';');
    match kind {
        Kind::Sqlite => format!("{body};"),
        Kind::Mysql if o.kind == "view" => format!("{body};"),
        Kind::Mysql => {
            let mode = o.sql_mode.replace('\'', "''");
            let (tz, back) = if o.time_zone.is_empty() {
                (String::new(), "")
            } else {
                (
                    format!(
                        ", SESSION time_zone = '{}'",
                        o.time_zone.replace('\'', "''")
                    ),
                    ", SESSION time_zone = '+00:00'",
                )
            };
            format!(
                "SET SESSION sql_mode = '{mode}'{tz};\nDELIMITER ;;\n{body};;\nDELIMITER ;\nSET SESSION sql_mode = '{SCRIPT_SQL_MODE}'{back};"
            )
        }
    }
}

/// Steps from `old` to `new` objects: drop what goes or changes (and, SQLite, what sits on
/// a table in `rebuilt`), create what comes or changes.
pub fn diff(kind: Kind, old: &[DbObject], new: &[DbObject], rebuilt: &[&str]) -> Vec<Step> {
    let key = |o: &DbObject| (o.kind.clone(), o.name.clone());
    let same = |a: &DbObject, b: &DbObject| {
        a == b && !(kind == Kind::Sqlite && rebuilt.contains(&a.table.as_str()))
    };
    let gone: Vec<&DbObject> = old
        .iter()
        .filter(|o| !new.iter().any(|n| key(n) == key(o) && same(o, n)))
        .collect();
    let come: Vec<&DbObject> = new
        .iter()
        .filter(|n| !old.iter().any(|o| key(n) == key(o) && same(o, n)))
        .collect();
    let step = |phase, o: &DbObject, forward, reverse| Step {
        forward,
        reverse,
        destructive: None,
        table: o.table.clone(),
        phase,
        restore: Vec::new(),
    };
    let mut steps = Vec::new();
    for &i in creation_order(&gone).iter().rev() {
        let o = gone[i];
        steps.push(step(
            Phase::DropObject,
            o,
            drop_sql(kind, o),
            create_sql(kind, o),
        ));
    }
    for &i in &creation_order(&come) {
        let o = come[i];
        steps.push(step(
            Phase::CreateObject,
            o,
            create_sql(kind, o),
            drop_sql(kind, o),
        ));
    }
    steps
}

/// What differs between two sets of objects, one line each (for verification).
pub fn differences(want: &[DbObject], got: &[DbObject]) -> Vec<String> {
    let mut out = Vec::new();
    for w in want {
        match got.iter().find(|g| g.kind == w.kind && g.name == w.name) {
            None => out.push(format!("{} {} is missing", w.kind, w.name)),
            Some(g) if g != w => out.push(format!(
                "{} {} differs: found `{}`, wanted `{}`",
                w.kind, w.name, g.create_sql, w.create_sql
            )),
            Some(_) => {}
        }
    }
    for g in got {
        if !want.iter().any(|w| w.kind == g.kind && w.name == g.name) {
            out.push(format!("{} {} should not exist", g.kind, g.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(kind: &str, name: &str, sql: &str) -> DbObject {
        DbObject {
            kind: kind.into(),
            name: name.into(),
            table: String::new(),
            create_sql: sql.into(),
            sql_mode: "STRICT_TRANS_TABLES".into(),
            time_zone: String::new(),
        }
    }

    #[test]
    fn views_after_the_views_they_read_and_routines_first() {
        let a = obj("view", "a", "CREATE VIEW `a` AS select * from `b_2`");
        let b = obj("view", "b_2", "CREATE VIEW `b_2` AS select f() from `b`");
        let t = obj(
            "trigger",
            "t",
            "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1",
        );
        let f = obj("function", "f", "CREATE FUNCTION f() RETURNS int RETURN 1");
        let all = [&a, &t, &b, &f];
        let order: Vec<&str> = creation_order(&all)
            .into_iter()
            .map(|i| all[i].name.as_str())
            .collect();
        assert_eq!(order, ["f", "b_2", "a", "t"]);
        assert!(!mentions("select * from b_2x", "b_2"));

        let steps = diff(Kind::Mysql, &[], &[a.clone(), b.clone(), t.clone()], &[]);
        let fwd: Vec<&str> = steps.iter().map(|s| s.forward.as_str()).collect();
        assert_eq!(fwd[0], "CREATE VIEW `b_2` AS select f() from `b`;");
        assert_eq!(
            fwd[2],
            "SET SESSION sql_mode = 'STRICT_TRANS_TABLES';\nDELIMITER ;;\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1;;\nDELIMITER ;\nSET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION';"
        );
        assert_eq!(steps[0].reverse, "DROP VIEW IF EXISTS `b_2`;");
        // Dropped: dependents first (the reverse creates them in creation order).
        let steps = diff(Kind::Mysql, &[a.clone(), b.clone()], &[], &[]);
        assert_eq!(steps[0].forward, "DROP VIEW IF EXISTS `a`;");
        assert_eq!(steps[1].forward, "DROP VIEW IF EXISTS `b_2`;");
        // SQLite: a trigger on a rebuilt table is dropped and created again.
        let mut tr = t.clone();
        tr.table = "x".into();
        let steps = diff(Kind::Sqlite, &[tr.clone()], &[tr.clone()], &["x"]);
        assert_eq!(steps.len(), 2);
        assert!(diff(Kind::Sqlite, &[tr.clone()], &[tr], &[]).is_empty());
    }
}
