use super::*;
use crate::engine::db::{ColumnSchema, IndexSchema};

fn col(name: &str, ty: &str) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        data_type: ty.into(),
        nullable: false,
        default: None,
        extra: String::new(),
    }
}

fn fk(name: &str, cols: &[&str], parent: &str) -> ForeignKey {
    ForeignKey {
        name: name.into(),
        columns: cols.iter().map(|c| c.to_string()).collect(),
        ref_table: parent.into(),
        ref_columns: vec!["id".into()],
        on_delete: "CASCADE".into(),
        on_update: "RESTRICT".into(),
    }
}

fn table(name: &str, cols: Vec<ColumnSchema>, fks: Vec<ForeignKey>) -> TableSchema {
    TableSchema {
        name: name.into(),
        primary_key: vec!["id".into()],
        columns: cols,
        indexes: vec![],
        foreign_keys: fks,
        options: "InnoDB utf8mb4 utf8mb4_general_ci".into(),
        create_sql: String::new(),
    }
}

fn no_rows(_: &str) -> Option<u64> {
    None
}

#[test]
fn tables_are_created_parents_first_in_a_stable_order() {
    let a = table(
        "a",
        vec![col("id", "int"), col("b_id", "int")],
        vec![fk("a_b", &["b_id"], "b")],
    );
    let b = table("b", vec![col("id", "int")], vec![]);
    let c = table(
        "c",
        vec![col("id", "int"), col("a_id", "int")],
        vec![fk("c_a", &["a_id"], "a"), fk("c_self", &["id"], "c")],
    );
    let d = table("d", vec![col("id", "int")], vec![]);
    let (order, cyclic) = topo_order(&[&a, &b, &c, &d]);
    assert_eq!(order, [1, 0, 2, 3]);
    assert!(cyclic.is_empty(), "a self-reference is not a cycle");
    let steps = diff(Kind::Mysql, &[], &[a.clone(), b, c, d], &[], &no_rows);
    let names: Vec<&str> = steps.iter().map(|s| s.table.as_str()).collect();
    assert_eq!(names, ["b", "a", "c", "d"]);
    assert!(
        steps[1].forward.contains(
            "CONSTRAINT `a_b` FOREIGN KEY (`b_id`) REFERENCES `b` (`id`) ON DELETE CASCADE"
        )
    );
    assert!(
        steps[1]
            .forward
            .ends_with(") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;"),
        "{}",
        steps[1].forward
    );
    assert_eq!(steps[1].reverse, "DROP TABLE `a`;");
    // Dropping them all goes children first.
    let old = [a, table("b", vec![col("id", "int")], vec![])];
    let steps = diff(Kind::Sqlite, &old, &[], &[], &|_| Some(7));
    assert_eq!(
        steps.iter().map(|s| s.table.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(
        steps[0].destructive.as_deref(),
        Some("drops table a with 7 rows")
    );
}

#[test]
fn a_foreign_key_cycle_is_added_after_the_tables() {
    let x = table(
        "x",
        vec![col("id", "int"), col("y_id", "int")],
        vec![fk("x_y", &["y_id"], "y")],
    );
    let y = table(
        "y",
        vec![col("id", "int"), col("x_id", "int")],
        vec![fk("y_x", &["x_id"], "x")],
    );
    let z = table(
        "z",
        vec![col("id", "int"), col("x_id", "int")],
        vec![fk("z_x", &["x_id"], "x")],
    );
    let (order, cyclic) = topo_order(&[&z, &x, &y]);
    assert_eq!(order, [1, 0, 2], "z waits for x only");
    assert_eq!(
        cyclic.into_iter().collect::<Vec<_>>(),
        [
            ("x".to_string(), "x_y".to_string()),
            ("y".to_string(), "y_x".to_string())
        ]
    );
    let steps = diff(Kind::Mysql, &[], &[x, y, z], &[], &no_rows);
    let creates: Vec<&Step> = steps
        .iter()
        .filter(|s| s.phase == Phase::CreateTable)
        .collect();
    assert_eq!(
        creates.iter().map(|s| s.table.as_str()).collect::<Vec<_>>(),
        ["x", "y", "z"]
    );
    assert!(
        !creates[0].forward.contains("FOREIGN KEY") && !creates[1].forward.contains("FOREIGN KEY")
    );
    assert!(creates[2].forward.contains("CONSTRAINT `z_x`"));
    let last: Vec<&str> = steps[3..].iter().map(|s| s.forward.as_str()).collect();
    assert_eq!(
        last,
        [
            "ALTER TABLE `x` ADD CONSTRAINT `x_y` FOREIGN KEY (`y_id`) REFERENCES `y` (`id`) ON DELETE CASCADE;",
            "ALTER TABLE `y` ADD CONSTRAINT `y_x` FOREIGN KEY (`x_id`) REFERENCES `x` (`id`) ON DELETE CASCADE;"
        ]
    );
    assert_eq!(steps[3].reverse, "ALTER TABLE `x` DROP FOREIGN KEY `x_y`;");
}

#[test]
fn destructive_changes_have_reasons() {
    let old = table(
        "t",
        vec![
            col("id", "int"),
            col("name", "varchar(255)"),
            col("big", "bigint(20)"),
            col("body", "text"),
            col("price", "decimal(10,2)"),
            col("note", "varchar(10)"),
            col("gone", "int"),
        ],
        vec![],
    );
    let mut new = table(
        "t",
        vec![
            col("id", "int"),
            col("name", "varchar(50)"),
            col("big", "int(11)"),
            col("body", "varchar(100)"),
            col("price", "decimal(8,2)"),
            col("note", "varchar(10)"),
        ],
        vec![],
    );
    let mut nullable = col("note", "varchar(10)");
    nullable.nullable = true;
    let mut old = old;
    old.columns[5] = nullable;
    new.columns.push(col("added", "varchar(3)"));
    let steps = diff(Kind::Mysql, &[old.clone()], &[new.clone()], &[], &|_| {
        Some(3)
    });
    let reasons = refuse_destructive(&steps, false).unwrap_err();
    assert_eq!(
        reasons,
        [
            "drops column t.gone (3 rows)",
            "narrows t.name from varchar(255) to varchar(50)",
            "narrows t.big from bigint(20) to int(11)",
            "narrows t.body from text to varchar(100)",
            "narrows t.price from decimal(10,2) to decimal(8,2)",
            "makes t.note NOT NULL",
        ]
    );
    assert!(refuse_destructive(&steps, true).is_ok());
    assert_eq!(steps[0].forward, "ALTER TABLE `t` DROP COLUMN `gone`;");
    assert_eq!(
        steps[0].reverse,
        "ALTER TABLE `t` ADD COLUMN `gone` int NOT NULL AFTER `note`;"
    );
    assert_eq!(steps[0].restore, ["gone"]);
    assert_eq!(
        steps[1].forward,
        "ALTER TABLE `t` MODIFY COLUMN `name` varchar(50) NOT NULL;"
    );
    assert_eq!(
        steps[1].reverse,
        "ALTER TABLE `t` MODIFY COLUMN `name` varchar(255) NOT NULL;"
    );
    assert_eq!(
        steps.last().unwrap().forward,
        "ALTER TABLE `t` ADD COLUMN `added` varchar(3) NOT NULL AFTER `note`;"
    );
    // The other way round everything widens: only the added column (dropped back) is destructive.
    let back = diff(Kind::Mysql, &[new], &[old], &[], &no_rows);
    assert_eq!(
        refuse_destructive(&back, false).unwrap_err(),
        ["drops column t.added"]
    );
    for (a, b) in [
        ("int", "bigint"),
        ("int unsigned", "bigint"),
        ("varchar(20)", "text"),
        ("decimal(5,2)", "decimal(7,3)"),
        ("enum('a','b')", "enum('a','b','c')"),
        ("text", "longblob"),
        ("datetime", "datetime(3)"),
        ("int", "decimal(12,0)"),
    ] {
        assert_eq!(type_change(Kind::Mysql, a, b), None, "{a} -> {b}");
    }
    for (a, b, why) in [
        ("int unsigned", "int", "narrows"),
        ("int", "int unsigned", "narrows"),
        ("enum('a','b')", "enum('a')", "narrows"),
        ("varchar(5)", "int", "converts"),
        ("blob", "text", "narrows"),
        ("datetime", "date", "converts"),
        ("double", "float", "converts"),
    ] {
        assert_eq!(type_change(Kind::Mysql, a, b), Some(why), "{a} -> {b}");
    }
    assert_eq!(
        type_change(Kind::Sqlite, "varchar(255)", "varchar(50)"),
        None,
        "SQLite does not enforce lengths"
    );
    assert_eq!(
        type_change(Kind::Sqlite, "text", "integer"),
        Some("converts")
    );
}

#[test]
fn renames_come_only_from_hints() {
    let old = table(
        "t",
        vec![col("id", "int"), col("nm", "varchar(20)")],
        vec![],
    );
    let new = table(
        "t",
        vec![col("id", "int"), col("name", "varchar(20)")],
        vec![],
    );
    let guessed = diff(
        Kind::Mysql,
        std::slice::from_ref(&old),
        std::slice::from_ref(&new),
        &[],
        &no_rows,
    );
    assert_eq!(guessed.len(), 2);
    assert_eq!(guessed[0].destructive.as_deref(), Some("drops column t.nm"));
    assert_eq!(
        guessed[1].forward,
        "ALTER TABLE `t` ADD COLUMN `name` varchar(20) NOT NULL AFTER `id`;"
    );
    let hint = [("t".to_string(), "nm".to_string(), "name".to_string())];
    let steps = diff(Kind::Mysql, &[old], &[new], &hint, &no_rows);
    assert_eq!(steps.len(), 1);
    assert_eq!(
        steps[0].forward,
        "ALTER TABLE `t` CHANGE COLUMN `nm` `name` varchar(20) NOT NULL;"
    );
    assert_eq!(
        steps[0].reverse,
        "ALTER TABLE `t` CHANGE COLUMN `name` `nm` varchar(20) NOT NULL;"
    );
    assert_eq!(steps[0].destructive, None);
}

#[test]
fn column_order_indexes_and_keys() {
    let mut old = table(
        "t",
        vec![
            col("id", "int"),
            col("a", "int"),
            col("b", "int"),
            col("p", "int"),
        ],
        vec![fk("t_p", &["p"], "p")],
    );
    old.indexes = vec![IndexSchema {
        name: "ia".into(),
        columns: vec!["a".into()],
        unique: false,
    }];
    let mut new = table(
        "t",
        vec![
            col("id", "int"),
            col("b", "int"),
            col("a", "int"),
            col("p", "int"),
        ],
        vec![fk("t_p2", &["p"], "p")],
    );
    new.indexes = vec![IndexSchema {
        name: "ib".into(),
        columns: vec!["b".into(), "body(20)".into()],
        unique: true,
    }];
    let steps = diff(Kind::Mysql, &[old], &[new], &[], &no_rows);
    let f: Vec<(Phase, &str)> = steps
        .iter()
        .map(|s| (s.phase, s.forward.as_str()))
        .collect();
    assert_eq!(
        f,
        [
            (
                Phase::DropForeignKey,
                "ALTER TABLE `t` DROP FOREIGN KEY `t_p`;"
            ),
            (Phase::DropIndex, "ALTER TABLE `t` DROP INDEX `ia`;"),
            (
                Phase::AlterTable,
                "ALTER TABLE `t` MODIFY COLUMN `b` int NOT NULL AFTER `id`;"
            ),
            (
                Phase::AddIndex,
                "ALTER TABLE `t` ADD UNIQUE INDEX `ib` (`b`, `body`(20));"
            ),
            (
                Phase::AddForeignKey,
                "ALTER TABLE `t` ADD CONSTRAINT `t_p2` FOREIGN KEY (`p`) REFERENCES `p` (`id`) ON DELETE CASCADE;"
            ),
        ]
    );
    assert_eq!(
        steps[2].reverse,
        "ALTER TABLE `t` MODIFY COLUMN `b` int NOT NULL AFTER `a`;"
    );
    assert!(steps.iter().all(|s| s.destructive.is_none()));
}

#[test]
fn sqlite_rebuilds_a_changed_table() {
    let mut old = table(
        "t",
        vec![col("id", "INTEGER"), col("nm", "TEXT"), col("gone", "TEXT")],
        vec![],
    );
    old.create_sql =
        "CREATE TABLE t (id INTEGER PRIMARY KEY, nm TEXT NOT NULL, gone TEXT NOT NULL)".into();
    old.indexes = vec![IndexSchema {
        name: "t_nm".into(),
        columns: vec!["nm".into()],
        unique: false,
    }];
    let mut new = table(
        "t",
        vec![
            col("id", "INTEGER"),
            col("name", "TEXT"),
            col("req", "INTEGER"),
        ],
        vec![],
    );
    new.create_sql =
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, req INTEGER NOT NULL)".into();
    new.indexes = vec![
        IndexSchema {
            name: "t_name".into(),
            columns: vec!["name".into()],
            unique: true,
        },
        IndexSchema {
            name: "sqlite_autoindex_t_1".into(),
            columns: vec!["x".into()],
            unique: true,
        },
    ];
    let hint = [("t".to_string(), "nm".to_string(), "name".to_string())];
    let steps = diff(Kind::Sqlite, &[old], &[new], &hint, &|_| Some(2));
    // Indexes are objects of their own (`db_objects`): the table step is the rebuild alone.
    let phases: Vec<Phase> = steps.iter().map(|s| s.phase).collect();
    assert_eq!(phases, [Phase::AlterTable]);
    let steps = &steps[..1];
    assert_eq!(
        steps[0].forward,
        "CREATE TABLE \"_devsky_old_t\" AS SELECT * FROM \"t\";
DROP TABLE \"t\";
CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, req INTEGER NOT NULL);
INSERT INTO \"t\" (\"id\", \"name\", \"req\") SELECT \"id\", \"nm\", 0 FROM \"_devsky_old_t\";
DROP TABLE \"_devsky_old_t\";"
    );
    assert_eq!(
        steps[0].reverse,
        "CREATE TABLE \"_devsky_old_t\" AS SELECT * FROM \"t\";
DROP TABLE \"t\";
CREATE TABLE t (id INTEGER PRIMARY KEY, nm TEXT NOT NULL, gone TEXT NOT NULL);
INSERT INTO \"t\" (\"id\", \"nm\", \"gone\") SELECT \"id\", \"name\", '' FROM \"_devsky_old_t\";
DROP TABLE \"_devsky_old_t\";"
    );
    assert_eq!(
        steps[0].destructive.as_deref(),
        Some("drops column t.gone (2 rows)")
    );
    assert_eq!(steps[0].restore, ["gone"]);
    // An index-only change is not a rebuild (and no table step: SQLite's indexes are
    // objects, scripted from their own text by `db_objects`).
    let mut a = table("u", vec![col("id", "INTEGER")], vec![]);
    a.create_sql = "CREATE TABLE u (id INTEGER PRIMARY KEY)".into();
    let mut b = a.clone();
    b.indexes.push(IndexSchema {
        name: "u_id".into(),
        columns: vec!["id".into()],
        unique: false,
    });
    assert!(!sqlite_rebuilt(&a, &b));
    assert!(diff(Kind::Sqlite, &[a], &[b], &[], &no_rows).is_empty());
}

#[test]
fn restrict_and_no_action_are_one_rule_in_mysql() {
    let a = fk("k", &["p"], "p");
    let mut b = a.clone();
    b.on_update = "NO ACTION".into();
    assert!(same_fk(Kind::Mysql, &a, &b));
    assert!(!same_fk(Kind::Sqlite, &a, &b));
    b.on_delete = "SET NULL".into();
    assert!(!same_fk(Kind::Mysql, &a, &b));
}

#[test]
fn identifiers_are_quoted() {
    assert_eq!(ident(Kind::Mysql, "we`ird"), "`we``ird`");
    assert_eq!(ident(Kind::Sqlite, "we\"ird"), "\"we\"\"ird\"");
}
