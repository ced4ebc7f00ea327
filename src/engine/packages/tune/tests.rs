//! Tune tests: each rule fires on a package that breaks it and stays quiet on one that
//! keeps it; the "one unsent package" rule against a real store.

use super::*;
use crate::engine::packages::archive::{Entry, Header, Record};

fn rec(id: i64, body: &str) -> Entry {
    Entry::Record(Record {
        id,
        name: format!("f:r{id}.php"),
        version: "1".into(),
        kind: "file".into(),
        status: "new".into(),
        authors: "ann".into(),
        body: body.as_bytes().to_vec(),
    })
}

fn good() -> Archive {
    Archive {
        header: Header {
            name: "shop".into(),
            version: "1.1".into(),
            app: "shop".into(),
            depends: vec!["dev@^1".into()],
            included: vec!["shop@1.0".into(), "u_neo.shop@0.1.0".into(), "work".into()],
            priorun: vec!["50001".into(), "7".into(), "visual".into()],
            authors: "ann".into(),
            start_id: 50001,
            ..Header::default()
        },
        entries: vec![
            rec(50001, "RUN CODEBASE: 50002\nRUN CODEBASE: 7\n"),
            rec(50002, "x"),
        ],
    }
}

fn codes(a: &Archive, here: &[i64], unsent: &[(i64, &str)]) -> Vec<&'static str> {
    let exists = |id: i64| here.contains(&id);
    tune(
        a,
        &Context {
            exists: &exists,
            unsent_before: unsent.iter().map(|(i, n)| (*i, n.to_string())).collect(),
            dangling: Vec::new(),
        },
    )
    .into_iter()
    .map(|f| f.code)
    .collect()
}

#[test]
fn a_good_package_has_no_findings() {
    assert_eq!(codes(&good(), &[7], &[]), Vec::<&str>::new());
}

#[test]
fn each_rule_fires() {
    // A fixed record that is not here.
    assert_eq!(
        codes(&good(), &[], &[]),
        vec!["missing-record", "missing-record"]
    );
    let mut a = good();
    a.header.name = "../evil".into();
    a.header.version = "one".into();
    a.header.depends = vec!["dev@not-a-req".into()];
    a.header.included = vec!["from-snapshot".into(), "junk".into()];
    a.header.priorun = vec!["Bad Macro".into(), "50009".into()];
    a.header.start_id = 60000;
    let c = codes(&a, &[7], &[(3, "older")]);
    for code in [
        "name",
        "version",
        "depends",
        "included",
        "priorun",
        "missing-record",
        "start-id",
        "unsent",
    ] {
        assert!(c.contains(&code), "{code} missing from {c:?}");
    }
    // The fixed area cannot refer to the floating area.
    let mut a = good();
    a.entries.push(rec(9, "RUN CODEBASE: 50002"));
    assert_eq!(codes(&a, &[7], &[]), vec!["fixed-to-floating"]);
    // An update depends on DEV, then the app it updates.
    let mut a = good();
    a.header.name = "u_neo.shop".into();
    assert_eq!(codes(&a, &[7], &[]), vec!["update-depends"]);
    a.header.depends.push("shop@1.1".into());
    assert_eq!(codes(&a, &[7], &[]), Vec::<&str>::new());
    // A package with a SKY_ID is not held back by unsent ones.
    let mut a = good();
    a.header.sky_id = 12;
    assert_eq!(codes(&a, &[7], &[(3, "older")]), Vec::<&str>::new());
}

#[test]
fn warnings_come_after_errors_and_do_not_fail() {
    let mut a = good();
    a.header.app.clear();
    a.header.included = vec!["scratch".into(), "work".into(), "copy".into()];
    a.header.version = "x".into();
    let exists = |id: i64| id == 7;
    let f = tune(
        &a,
        &Context {
            exists: &exists,
            unsent_before: Vec::new(),
            dangling: vec!["record 50001 refers to floating record 50100".into()],
        },
    );
    let levels: Vec<Level> = f.iter().map(|f| f.level).collect();
    let mut sorted = levels.clone();
    sorted.sort();
    assert_eq!(levels, sorted);
    let codes: Vec<&str> = f.iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        vec!["version", "floating-outside", "app", "included"]
    );
    assert_eq!(f[3].level, Level::Warning);
}

#[test]
fn the_second_unsent_package_is_an_error_against_a_store() {
    use crate::store::Store;
    use crate::store::scripts::{Package, insert_package};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_project(dir.path(), true).unwrap();
    let p = |name: &str| Package {
        id: 0,
        name: name.into(),
        version: "1".into(),
        sky_id: 0,
        app: "shop".into(),
        depends: vec![],
        included: vec!["scratch".into(), "work".into()],
        priorun: vec![],
        authors: "ann".into(),
        from_snapshot: 0,
        to_snapshot: None,
        domain: None,
        files_object: String::new(),
        files: 0,
        db_profile: None,
        db_old: None,
        db_new: None,
        sql_steps: 0,
        filters: serde_json::json!({}),
        notes: vec![],
        first_record: None,
        last_record: None,
        created: 0,
    };
    let first = insert_package(store.conn(), &p("first")).unwrap();
    let second = insert_package(store.conn(), &p("second")).unwrap();
    let get = |id| {
        crate::store::scripts::package(store.conn(), id)
            .unwrap()
            .unwrap()
    };
    let codes = |id| -> Vec<&'static str> {
        crate::engine::packages::tune_package(&store, &get(id))
            .unwrap()
            .into_iter()
            .filter(|f| f.level == Level::Error)
            .map(|f| f.code)
            .collect()
    };
    assert_eq!(codes(first), Vec::<&str>::new());
    assert_eq!(codes(second), vec!["unsent"]);
    // Once the first has its SKY_ID, the second may be generated.
    store
        .conn()
        .execute(
            "UPDATE _dev_packages SET sky_id = 41 WHERE id = ?1",
            [first],
        )
        .unwrap();
    assert_eq!(codes(second), Vec::<&str>::new());
    // Imported packages are someone else's: they do not hold ours back.
    store
        .conn()
        .execute(
            "UPDATE _dev_packages SET sky_id = 0, origin = 'import x' WHERE id = ?1",
            [first],
        )
        .unwrap();
    assert_eq!(codes(second), Vec::<&str>::new());
}
