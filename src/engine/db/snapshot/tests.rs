use super::*;
use crate::engine::db::ApplyError;
use crate::engine::db::ColumnSchema;
use crate::engine::db::schema_diff::{Phase, Step};

fn col(name: &str, ty: &str, nullable: bool) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        data_type: ty.into(),
        nullable,
        default: nullable.then(|| "NULL".into()),
        extra: String::new(),
    }
}

fn table(name: &str, cols: Vec<ColumnSchema>) -> TableSchema {
    TableSchema {
        name: name.into(),
        primary_key: vec!["id".into()],
        columns: cols,
        indexes: vec![],
        foreign_keys: vec![],
        options: "InnoDB utf8mb4 utf8mb4_general_ci".into(),
        create_sql: String::new(),
    }
}

fn snap(tables: Vec<TableSchema>, data: Vec<(&str, Vec<Vec<Value>>)>) -> DbSnapshot {
    let mut s = DbSnapshot {
        kind: Kind::Mysql,
        tables,
        modes: BTreeMap::new(),
        data: BTreeMap::new(),
        chunks: BTreeMap::new(),
        counters: BTreeMap::new(),
        objects: Vec::new(),
    };
    for t in &s.tables {
        s.modes.insert(t.name.clone(), Mode::Checksum);
    }
    for (t, rows) in data {
        s.modes.insert(t.into(), Mode::Data);
        s.data.insert(t.into(), rows);
    }
    s
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

#[test]
fn stored_form_round_trips_every_kind_of_value() {
    let rows = vec![
        vec![
            Value::Int(-1),
            Value::UInt(u64::MAX),
            Value::Float(0.5),
            Value::Float(f64::NEG_INFINITY),
            Value::Null,
        ],
        vec![
            Value::Int(2),
            Value::Text("😀 'x' \\".into()),
            Value::Text(String::new()),
            Value::Bytes(vec![0, 0xff]),
            Value::Bytes(vec![]),
        ],
    ];
    let mut s = snap(
        vec![table("t", vec![col("id", "int", false)])],
        vec![("t", rows)],
    );
    s.chunks.insert(
        "big".into(),
        vec![Chunk {
            lo: vec!["1".into()],
            hi: vec!["9".into()],
            rows: 9,
            checksum: 42,
        }],
    );
    s.modes.insert("logs".into(), Mode::Skip);
    let back = DbSnapshot::from_bytes(&s.to_bytes()).unwrap();
    assert_eq!(back, s);
    let nan = snap(vec![], vec![("n", vec![vec![Value::Float(f64::NAN)]])]);
    assert!(
        matches!(DbSnapshot::from_bytes(&nan.to_bytes()).unwrap().data["n"][0][0], Value::Float(f) if f.is_nan())
    );
}

#[test]
fn script_reverse_is_the_reverses_in_reverse_order() {
    let s = Script {
        kind: Kind::Sqlite,
        steps: vec![
            Step {
                forward: "A;".into(),
                reverse: "a;".into(),
                destructive: None,
                table: "t".into(),
                phase: Phase::CreateTable,
                restore: vec![],
            },
            Step {
                forward: "B;".into(),
                reverse: String::new(),
                destructive: Some("drops column t.x".into()),
                table: "t".into(),
                phase: Phase::AlterTable,
                restore: vec![],
            },
            Step {
                forward: "C;".into(),
                reverse: "c;".into(),
                destructive: None,
                table: "t".into(),
                phase: Phase::AddIndex,
                restore: vec![],
            },
        ],
        notes: vec![],
        reverse_destructive: vec![],
    };
    assert_eq!(
        s.forward_body(),
        "A;\n-- DESTRUCTIVE: drops column t.x\nB;\nC;"
    );
    assert_eq!(s.reverse_body(), "c;\na;");
    assert!(
        s.forward_sql()
            .contains("PRAGMA foreign_keys = OFF;\nBEGIN;\nA;")
    );
    assert!(
        s.reverse_sql()
            .ends_with("c;\na;\nCOMMIT;\nPRAGMA foreign_keys = ON;\n")
    );
    assert_eq!(s.destructive(), ["drops column t.x"]);
}

#[test]
fn dropped_tables_and_columns_get_their_pre_images() {
    let old_t = table(
        "t",
        vec![
            col("id", "int", false),
            col("name", "varchar(20)", true),
            col("gone", "text", true),
        ],
    );
    let new_t = table(
        "t",
        vec![col("id", "int", false), col("name", "varchar(20)", true)],
    );
    let old_rows = vec![
        vec![Value::Int(1), text("a"), text("x")],
        vec![Value::Int(2), Value::Null, Value::Null],
    ];
    let new_rows = vec![
        vec![Value::Int(1), text("b")],
        vec![Value::Int(3), text("")],
    ];
    let old = snap(
        vec![table("d", vec![col("id", "int", false)]), old_t],
        vec![("t", old_rows), ("d", vec![vec![Value::Int(7)]])],
    );
    let new = snap(vec![new_t], vec![("t", new_rows)]);
    let s = between(&old, &new, &[]).unwrap();
    assert_eq!(
        s.destructive(),
        ["drops column t.gone (2 rows)", "drops table d with 1 rows"]
    );
    assert_eq!(
        s.forward_body(),
        "-- DESTRUCTIVE: drops column t.gone (2 rows)
ALTER TABLE `t` DROP COLUMN `gone`;
-- DESTRUCTIVE: drops table d with 1 rows
DROP TABLE `d`;
DELETE FROM `t` WHERE `id` = 2;
UPDATE `t` SET `name` = 'b' WHERE `id` = 1;
INSERT INTO `t` (`id`, `name`) VALUES (3, '');"
    );
    assert_eq!(
        s.reverse_body(),
        "DELETE FROM `t` WHERE `id` = 3;
UPDATE `t` SET `name` = 'a' WHERE `id` = 1;
INSERT INTO `t` (`id`, `name`) VALUES (2, NULL);
CREATE TABLE `d` (
  `id` int NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
INSERT INTO `d` (`id`) VALUES
(7);
ALTER TABLE `t` ADD COLUMN `gone` text NULL DEFAULT NULL AFTER `name`;
UPDATE `t` SET `gone` = 'x' WHERE `id` = 1;
UPDATE `t` SET `gone` = NULL WHERE `id` = 2;"
    );
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    assert!(
        s.reverse_destructive.is_empty(),
        "{:?}",
        s.reverse_destructive
    );
}

#[test]
fn checksum_tables_are_noted_not_scripted() {
    let t = table("big", vec![col("id", "int", false)]);
    let chunk = |sum| Chunk {
        lo: vec!["1".into()],
        hi: vec!["5".into()],
        rows: 5,
        checksum: sum,
    };
    let mut old = snap(vec![t.clone()], vec![]);
    old.chunks.insert("big".into(), vec![chunk(1)]);
    let mut new = old.clone();
    new.chunks.insert("big".into(), vec![chunk(2)]);
    let s = between(&old, &new, &[]).unwrap();
    assert!(s.is_empty());
    assert_eq!(
        s.notes,
        ["table big: data changed in 1 of 1 chunks ('checksum' mode: not scripted)"]
    );
    let gone = snap(vec![], vec![]);
    let s = between(&old, &gone, &[]).unwrap();
    assert_eq!(
        s.destructive(),
        ["drops table big with 5 rows (not restorable: 'checksum' mode)"]
    );
}

#[test]
fn a_data_table_without_a_key_is_matched_by_whole_rows() {
    let mut t = table("logs", vec![col("line", "text", true)]);
    t.primary_key.clear();
    let old = snap(vec![t.clone()], vec![("logs", vec![vec![text("a")]])]);
    let new = snap(vec![t], vec![("logs", vec![vec![text("b")]])]);
    let s = between(&old, &new, &[]).unwrap();
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    assert_eq!(
        s.forward_body(),
        "DELETE FROM `logs` WHERE `line` <=> 'a' LIMIT 1;\nINSERT INTO `logs` (`line`) VALUES ('b');"
    );
    assert_eq!(
        s.reverse_body(),
        "DELETE FROM `logs` WHERE `line` <=> 'b' LIMIT 1;\nINSERT INTO `logs` (`line`) VALUES ('a');"
    );
}

#[test]
fn sqlite_snapshots_from_before_objects_keep_their_indexes_as_objects() {
    let mut t = table("t", vec![col("id", "integer", false)]);
    t.indexes = vec![crate::engine::db::IndexSchema {
        name: "t_id".into(),
        columns: vec!["id".into()],
        unique: false,
    }];
    let mut s = snap(vec![t], vec![]);
    s.kind = Kind::Sqlite;
    let mut stored: serde_json::Value = serde_json::from_slice(&s.to_bytes()).unwrap();
    stored.as_object_mut().unwrap().remove("objects");
    let old = DbSnapshot::from_bytes(&serde_json::to_vec(&stored).unwrap()).unwrap();
    assert_eq!(old.objects.len(), 1);
    assert_eq!(
        old.objects[0].create_sql,
        "CREATE INDEX \"t_id\" ON \"t\" (\"id\")"
    );
    let again = DbSnapshot::from_bytes(&s.to_bytes()).unwrap();
    assert!(
        again.objects.is_empty(),
        "a new snapshot says what it holds"
    );
}

#[test]
fn halfway_takes_back_the_steps_that_stay_applied_in_either_direction() {
    let step = |table: &str, forward: &str, reverse: &str| Step {
        forward: forward.into(),
        reverse: reverse.into(),
        destructive: None,
        table: table.into(),
        phase: Phase::AlterTable,
        restore: vec![],
    };
    let s = Script {
        kind: Kind::Mysql,
        steps: vec![
            step("a", "CREATE TABLE a (x INT);", "DROP TABLE a;"),
            step(
                "b",
                "ALTER TABLE b ADD y INT;\nALTER TABLE b ADD z INT;",
                "ALTER TABLE b DROP z, DROP y;",
            ),
            step("c", "CREATE TABLE c (x INT);", "DROP TABLE c;"),
        ],
        notes: vec![],
        reverse_destructive: vec![],
    };
    let failed = |statement: usize, committed: &[&str]| ApplyError {
        error: crate::engine::db::SqlError {
            message: "boom".into(),
            offset: None,
            statement,
            cancelled: false,
        },
        committed: committed.iter().map(|c| c.to_string()).collect(),
    };
    // Forward, the 4th statement fails after three stayed: a and the whole of b go back.
    let h = s.halfway(
        false,
        &failed(
            3,
            &[
                "CREATE TABLE a (x INT)",
                "ALTER TABLE b ADD y INT",
                "ALTER TABLE b ADD z INT",
            ],
        ),
    );
    assert_eq!(h.ran.len(), 3);
    assert_eq!(h.failed.as_deref(), Some("CREATE TABLE c (x INT)"));
    let body: Vec<&str> = h
        .undo
        .lines()
        .filter(|l| !l.starts_with("SET") && !l.starts_with("--"))
        .collect();
    assert_eq!(body, ["ALTER TABLE b DROP z, DROP y;", "DROP TABLE a;"]);
    assert!(h.warnings.is_empty(), "{:?}", h.warnings);
    // Only part of a step stayed: said so.
    let h = s.halfway(
        false,
        &failed(2, &["CREATE TABLE a (x INT)", "ALTER TABLE b ADD y INT"]),
    );
    assert_eq!(h.warnings.len(), 1, "{:?}", h.warnings);
    assert!(
        h.warnings[0].contains("only 1 of the 2 statements"),
        "{:?}",
        h.warnings
    );
    // Reverse (c, b, a), the 2nd fails after one: the undo re-runs c's forward only.
    let h = s.halfway(true, &failed(1, &["DROP TABLE c"]));
    let body: Vec<&str> = h
        .undo
        .lines()
        .filter(|l| !l.starts_with("SET") && !l.starts_with("--"))
        .collect();
    assert_eq!(body, ["CREATE TABLE c (x INT);"]);
    // Nothing stayed (rolled back): nothing to undo.
    let h = s.halfway(false, &failed(2, &[]));
    assert_eq!(h.ran.len(), 2);
    assert!(h.undo.starts_with("-- devsky: no changes"), "{}", h.undo);
}
