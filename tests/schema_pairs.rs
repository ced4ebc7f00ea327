//! The schema-pair corpus: `tests/schema_pairs/<engine>/<class>/<case>.sql`, each a
//! `-- current` and a `-- desired` schema. For every pair, on a real server: the forward
//! script applied to `current` gives exactly `desired`, and the reverse script applied to
//! that gives exactly `current` again — judged by the server's own text (MariaDB: `SHOW
//! CREATE` of every table, view, routine and event and information_schema's trigger rows,
//! read with the `mariadb` client; SQLite: `sqlite_master`), never by devsky's
//! introspection. A case whose first line is `-- refused: WORDS` must make devsky refuse
//! the script loudly, with WORDS in the reason. Pass counts per feature class are printed.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use devsky::engine::db::Db;
use devsky::engine::db::mysql::MysqlDb;
use devsky::engine::db::snapshot::{Mode, Script, between, take};
use devsky::engine::db::sqlite::SqliteDb;
use devsky::engine::db::url::parse;

struct Case {
    class: String,
    name: String,
    current: String,
    desired: String,
    refused: Option<String>,
}

fn cases(engine: &str) -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/schema_pairs")
        .join(engine);
    let mut files: Vec<PathBuf> = Vec::new();
    for class in std::fs::read_dir(&root).expect("the corpus folder") {
        let class = class.unwrap().path();
        for f in std::fs::read_dir(&class).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let (head, desired) = text
                .split_once("\n-- desired\n")
                .unwrap_or_else(|| panic!("{}: no `-- desired` line", f.display()));
            let (first, current) = head
                .split_once("-- current\n")
                .unwrap_or_else(|| panic!("{}: no `-- current` line", f.display()));
            Case {
                class: f
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into(),
                name: f.file_stem().unwrap().to_string_lossy().into(),
                current: current.into(),
                desired: desired.into(),
                refused: first
                    .lines()
                    .find_map(|l| l.strip_prefix("-- refused: "))
                    .map(str::to_string),
            }
        })
        .collect()
}

/// Runs every case, prints the counts per class, fails with every failure.
fn run_all(engine: &str, run: &mut dyn FnMut(&Case) -> Result<(), String>) {
    let all = cases(engine);
    assert!(!all.is_empty(), "no cases for {engine}");
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for c in &all {
        let e = counts.entry(c.class.clone()).or_default();
        e.1 += 1;
        match run(c) {
            Ok(()) => e.0 += 1,
            Err(why) => failures.push(format!("{}/{}: {why}", c.class, c.name)),
        }
    }
    println!("schema pairs on {engine}:");
    for (class, (pass, total)) in &counts {
        println!("  {class:<16} {pass:>3}/{total}");
    }
    let passed: usize = counts.values().map(|c| c.0).sum();
    println!("  {:<16} {passed:>3}/{}", "all", all.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
}

/// A script, or the reason it is refused (an incomplete one).
fn script_or_refusal(s: Script, c: &Case) -> Result<Option<Script>, String> {
    match (&c.refused, s.notes.is_empty()) {
        (None, true) => Ok(Some(s)),
        (None, false) => Err(format!("refused unexpectedly: {:?}", s.notes)),
        (Some(w), false) if s.notes.iter().any(|n| n.contains(w.as_str())) => Ok(None),
        (Some(w), _) => Err(format!(
            "should be refused with `{w}`, notes: {:?}",
            s.notes
        )),
    }
}

fn same(what: &str, want: &str, got: &str) -> Result<(), String> {
    if want == got {
        return Ok(());
    }
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let first = (0..w.len().max(g.len()))
        .find(|&i| w.get(i) != g.get(i))
        .unwrap_or(0);
    Err(format!(
        "{what}: differs at line {}:\n  wanted {:?}\n  found  {:?}",
        first + 1,
        w.get(first),
        g.get(first)
    ))
}

/// Every object of database `db` as the server shows it.
fn mariadb_dump(m: &support::mariadb::MariaDb, db: &str) -> String {
    let list = m.sql(&format!(
        "USE {db};
         SELECT CONCAT('table ', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1;
         SELECT CONCAT('view ', TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{db}' ORDER BY 1;
         SELECT CONCAT(LOWER(ROUTINE_TYPE), ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{db}' ORDER BY 1;
         SELECT CONCAT('event ', EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{db}' ORDER BY 1;"
    ));
    let mut shows = format!("USE {db};\n");
    for line in list.lines() {
        let (kind, name) = line.split_once(' ').unwrap();
        shows.push_str(&format!(
            "SHOW CREATE {} `{name}`;\n",
            kind.to_ascii_uppercase()
        ));
    }
    shows.push_str(&format!(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER, ACTION_STATEMENT, SQL_MODE, DEFINER \
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}' ORDER BY 2, 3, 4, 5;"
    ));
    m.sql(&shows)
}

#[test]
fn schema_pairs_on_mariadb() {
    let m = support::mariadb::MariaDb::start();
    let mut run = |c: &Case| -> Result<(), String> {
        m.sql(
            "DROP DATABASE IF EXISTS pa; DROP DATABASE IF EXISTS pb; \
             CREATE DATABASE pa CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci; \
             CREATE DATABASE pb CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;",
        );
        m.try_sql(&format!("USE pa;\n{}", c.current))
            .map_err(|e| format!("current: {e}"))?;
        m.try_sql(&format!("USE pb;\n{}", c.desired))
            .map_err(|e| format!("desired: {e}"))?;
        let (want_current, want_desired) = (mariadb_dump(&m, "pa"), mariadb_dump(&m, "pb"));
        let snap = |db: &str| {
            let mut conn = MysqlDb::connect(&parse(&m.url(db)).unwrap().url, None).unwrap();
            take(&mut conn, &|_| Mode::Data).map_err(|e| format!("snapshot of {db}: {e:#}"))
        };
        let (a, b) = (snap("pa")?, snap("pb")?);
        let script = between(&a, &b, &[]).map_err(|e| format!("refused: {e}"))?;
        let Some(script) = script_or_refusal(script, c)? else {
            return Ok(());
        };
        m.try_sql(&format!("USE pa;\n{}", script.forward_sql()))
            .map_err(|e| format!("forward script failed: {e}\n{}", script.forward_sql()))?;
        same("forward", &want_desired, &mariadb_dump(&m, "pa"))
            .map_err(|e| format!("{e}\n{}", script.forward_sql()))?;
        m.try_sql(&format!("USE pa;\n{}", script.reverse_sql()))
            .map_err(|e| format!("reverse script failed: {e}\n{}", script.reverse_sql()))?;
        same("reverse", &want_current, &mariadb_dump(&m, "pa"))
            .map_err(|e| format!("{e}\n{}", script.reverse_sql()))
    };
    run_all("mysql", &mut run);
}

/// Every object of the SQLite database as `sqlite_master` holds it.
fn sqlite_dump(path: &Path) -> String {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut q = c
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name")
        .unwrap();
    q.query_map([], |r| {
        Ok(format!(
            "{} {} on {}: {}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?.unwrap_or_default()
        ))
    })
    .unwrap()
    .collect::<rusqlite::Result<Vec<_>>>()
    .unwrap()
    .join("\n")
}

fn sqlite_exec(path: &Path, sql: &str) -> Result<(), String> {
    let c = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
    c.execute_batch(sql).map_err(|e| e.to_string())
}

#[test]
fn schema_pairs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    let mut run = |c: &Case| -> Result<(), String> {
        n += 1;
        let (pa, pb) = (
            dir.path().join(format!("a{n}.db")),
            dir.path().join(format!("b{n}.db")),
        );
        sqlite_exec(&pa, &c.current).map_err(|e| format!("current: {e}"))?;
        sqlite_exec(&pb, &c.desired).map_err(|e| format!("desired: {e}"))?;
        let (want_current, want_desired) = (sqlite_dump(&pa), sqlite_dump(&pb));
        let snap = |p: &Path| {
            let mut db = SqliteDb::open(p).unwrap();
            let s = take(&mut db, &|_| Mode::Data).map_err(|e| format!("snapshot: {e:#}"));
            drop(db);
            s
        };
        let (a, b) = (snap(&pa)?, snap(&pb)?);
        let script = between(&a, &b, &[]).map_err(|e| format!("refused: {e}"))?;
        let Some(script) = script_or_refusal(script, c)? else {
            return Ok(());
        };
        sqlite_exec(&pa, &script.forward_sql())
            .map_err(|e| format!("forward script failed: {e}\n{}", script.forward_sql()))?;
        same("forward", &want_desired, &sqlite_dump(&pa))
            .map_err(|e| format!("{e}\n{}", script.forward_sql()))?;
        sqlite_exec(&pa, &script.reverse_sql())
            .map_err(|e| format!("reverse script failed: {e}\n{}", script.reverse_sql()))?;
        same("reverse", &want_current, &sqlite_dump(&pa))
            .map_err(|e| format!("{e}\n{}", script.reverse_sql()))
    };
    run_all("sqlite", &mut run);
    let _ = SqliteDb::kind;
}
