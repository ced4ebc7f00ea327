//! Tests of the data diff: literals per engine, keyed and whole-row matching.

use super::*;

fn col(name: &str, ty: &str, nullable: bool, default: Option<&str>) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        data_type: ty.into(),
        nullable,
        default: default.map(Into::into),
        extra: String::new(),
    }
}

fn table(name: &str, cols: Vec<ColumnSchema>) -> TableSchema {
    TableSchema {
        name: name.into(),
        primary_key: vec![cols[0].name.clone()],
        columns: cols,
        indexes: vec![],
        foreign_keys: vec![],
        options: String::new(),
        create_sql: String::new(),
    }
}

#[test]
fn literals_per_engine() {
    let s = Value::Text("it's a \\ path\n\0 😀".into());
    assert_eq!(
        literal(Kind::Mysql, &s),
        format!("_utf8mb4 {}", hex("it's a \\ path\n\0 😀".as_bytes()))
    );
    assert_eq!(
        literal(Kind::Mysql, &Value::Text("it's\n😀".into())),
        "'it''s\n😀'"
    );
    assert_eq!(
        literal(Kind::Sqlite, &Value::Text("it's \\ 😀".into())),
        "'it''s \\ 😀'"
    );
    assert_eq!(
        literal(Kind::Sqlite, &Value::Text("a\0b".into())),
        "CAST(X'610062' AS TEXT)"
    );
    assert_eq!(literal(Kind::Mysql, &Value::Null), "NULL");
    assert_eq!(literal(Kind::Mysql, &Value::Text(String::new())), "''");
    assert_eq!(
        literal(Kind::Sqlite, &Value::Bytes(vec![0, 0xff, 0xc3])),
        "X'00FFC3'"
    );
    assert_eq!(literal(Kind::Mysql, &Value::Bytes(vec![])), "X''");
    assert_eq!(literal(Kind::Mysql, &Value::Int(-5)), "-5");
    assert_eq!(
        literal(Kind::Mysql, &Value::UInt(u64::MAX)),
        "18446744073709551615"
    );
    assert_eq!(literal(Kind::Sqlite, &Value::Float(1.0)), "1.0");
    assert_eq!(literal(Kind::Sqlite, &Value::Float(0.1)), "0.1");
    assert_eq!(literal(Kind::Sqlite, &Value::Float(f64::INFINITY)), "9e999");
    assert!(value_eq(&Value::Int(3), &Value::UInt(3)));
    assert!(!value_eq(&Value::Null, &Value::Text(String::new())));
}

#[test]
fn insert_update_delete_with_reverses() {
    let t = table(
        "t",
        vec![
            col("id", "int", false, None),
            col("name", "varchar(20)", true, Some("NULL")),
        ],
    );
    let old = vec![
        vec![Value::Int(1), Value::Text("a".into())],
        vec![Value::Int(2), Value::Null],
        vec![Value::Int(3), Value::Text("c".into())],
    ];
    let new = vec![
        vec![Value::Int(1), Value::Text("a".into())],
        vec![Value::Int(2), Value::Text(String::new())],
        vec![Value::Int(4), Value::Text("d'".into())],
    ];
    let r = diff_rows(Kind::Mysql, &t, &old, &t, &new, &[]).unwrap();
    let f: Vec<&str> = r.upserts.iter().map(|s| s.forward.as_str()).collect();
    assert_eq!(
        f,
        [
            "UPDATE `t` SET `name` = '' WHERE `id` = 2;",
            "INSERT INTO `t` (`id`, `name`) VALUES (4, 'd''');"
        ]
    );
    assert_eq!(
        r.upserts[0].reverse,
        "UPDATE `t` SET `name` = NULL WHERE `id` = 2;"
    );
    assert_eq!(r.upserts[1].reverse, "DELETE FROM `t` WHERE `id` = 4;");
    assert_eq!(r.deletes.len(), 1);
    assert_eq!(r.deletes[0].forward, "DELETE FROM `t` WHERE `id` = 3;");
    assert_eq!(
        r.deletes[0].reverse,
        "INSERT INTO `t` (`id`, `name`) VALUES (3, 'c');"
    );
}

#[test]
fn added_and_renamed_columns() {
    let old_t = table(
        "t",
        vec![
            col("id", "integer", false, None),
            col("nm", "text", true, None),
        ],
    );
    let new_t = table(
        "t",
        vec![
            col("id", "integer", false, None),
            col("name", "text", true, None),
            col("n", "integer", false, Some("0")),
            col("req", "text", false, None),
        ],
    );
    let old = vec![
        vec![Value::Int(1), Value::Text("a".into())],
        vec![Value::Int(2), Value::Text("b".into())],
    ];
    let new = vec![vec![
        Value::Int(1),
        Value::Text("a".into()),
        Value::Int(0),
        Value::Text("x".into()),
    ]];
    let r = diff_rows(
        Kind::Sqlite,
        &old_t,
        &old,
        &new_t,
        &new,
        &[("nm".into(), "name".into())],
    )
    .unwrap();
    assert_eq!(
        r.upserts[0].forward,
        "UPDATE \"t\" SET \"req\" = 'x' WHERE \"id\" = 1;"
    );
    assert_eq!(r.upserts[0].reverse, "");
    assert_eq!(
        r.deletes[0].reverse,
        "INSERT INTO \"t\" (\"id\", \"name\", \"req\") VALUES (2, 'b', '');"
    );
}

#[test]
fn no_primary_key_matches_whole_rows_counting_duplicates() {
    let mut t = table(
        "logs",
        vec![col("line", "text", true, None), col("n", "int", true, None)],
    );
    t.primary_key.clear();
    let r = |l: &str, n: i64| vec![Value::Text(l.into()), Value::Int(n)];
    let old = vec![
        r("a", 1),
        r("a", 1),
        r("b", 2),
        vec![Value::Null, Value::Int(3)],
    ];
    let new = vec![
        r("a", 1),
        r("b", 2),
        r("b", 2),
        vec![Value::Null, Value::Int(3)],
    ];
    let d = diff_rows(Kind::Mysql, &t, &old, &t, &new, &[]).unwrap();
    let f = |v: &[Step]| v.iter().map(|s| s.forward.clone()).collect::<Vec<_>>();
    assert_eq!(
        f(&d.deletes),
        ["DELETE FROM `logs` WHERE `line` <=> 'a' AND `n` <=> 1 LIMIT 1;"]
    );
    assert_eq!(
        d.deletes[0].reverse,
        "INSERT INTO `logs` (`line`, `n`) VALUES ('a', 1);"
    );
    assert_eq!(
        f(&d.upserts),
        ["INSERT INTO `logs` (`line`, `n`) VALUES ('b', 2);"]
    );
    assert_eq!(
        d.upserts[0].reverse,
        "DELETE FROM `logs` WHERE `line` <=> 'b' AND `n` <=> 2 LIMIT 1;"
    );
    let d = diff_rows(Kind::Sqlite, &t, &old, &t, &new[..1], &[]).unwrap();
    assert_eq!(d.deletes.len(), 3, "one statement per surplus copy");
    assert_eq!(
        d.deletes[2].forward,
        "DELETE FROM \"logs\" WHERE rowid = (SELECT rowid FROM \"logs\" WHERE \"line\" IS NULL AND \"n\" IS 3 LIMIT 1);"
    );
}

#[test]
fn a_new_key_column_is_matched_when_one_side_is_empty_and_refused_otherwise() {
    let old_t = table("t", vec![col("a", "int", false, None)]);
    let new_t = table(
        "t",
        vec![col("id", "int", false, None), col("a", "int", false, None)],
    );
    let d = diff_rows(Kind::Mysql, &old_t, &[], &new_t, &[], &[]).unwrap();
    assert!(d.deletes.is_empty() && d.upserts.is_empty());
    let d = diff_rows(
        Kind::Mysql,
        &old_t,
        &[],
        &new_t,
        &[vec![Value::Int(1), Value::Int(5)]],
        &[],
    )
    .unwrap();
    assert_eq!(
        d.upserts[0].forward,
        "INSERT INTO `t` (`id`, `a`) VALUES (1, 5);"
    );
    let e = diff_rows(
        Kind::Mysql,
        &old_t,
        &[vec![Value::Int(5)]],
        &new_t,
        &[vec![Value::Int(1), Value::Int(5)]],
        &[],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "table t: column id is new and the table has no primary key that existed before; rows cannot be matched (mark the table 'checksum' for this change)"
    );
}

#[test]
fn pre_images() {
    let t = table(
        "t",
        vec![col("id", "int", false, None), col("a", "blob", true, None)],
    );
    let rows = vec![
        vec![Value::Int(1), Value::Bytes(vec![1, 2])],
        vec![Value::Int(2), Value::Null],
    ];
    assert_eq!(
        insert_sql(Kind::Mysql, &t, &rows),
        "INSERT INTO `t` (`id`, `a`) VALUES\n(1, X'0102'),\n(2, NULL);"
    );
    assert_eq!(
        restore_sql(Kind::Mysql, &t, &rows, &["a".into()]).unwrap(),
        "UPDATE `t` SET `a` = X'0102' WHERE `id` = 1;\nUPDATE `t` SET `a` = NULL WHERE `id` = 2;"
    );
}
