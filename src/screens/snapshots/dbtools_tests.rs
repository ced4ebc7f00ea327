//! TestBackend tests (80x24) of the Snapshots screen's database tools: the table-modes
//! popup writes `_dev_db_tables`, and verify runs as a job and shows its report, to the
//! database now and from a marked snapshot to the selected one.

use super::tests::{open, shop_db, site, status, store, wait_until};
use crate::engine::db::snapshot::{Mode, table_modes};
use crate::engine::jobs::Progress;
use crate::engine::project::Project;
use crate::engine::snapshot;

/// A snapshot of the project with the database `shop`.
fn take_with_db(p: &Project, name: &str) {
    let mut st = store(p);
    let mut conn = crate::engine::db::profile::connect(&p.root, &st, "shop", None).unwrap();
    snapshot::create_with_db(
        p,
        &mut st,
        Some(name),
        None,
        Some(snapshot::DbPart {
            profile: "shop",
            db: conn.as_mut(),
        }),
        &Progress::silent(),
    )
    .unwrap();
}

#[test]
fn table_modes_popup_sets_a_tables_mode() {
    let (dir, p) = site();
    let (_db_dir, db_path) = shop_db(&p);
    let c = rusqlite::Connection::open(&db_path).unwrap();
    c.execute_batch("CREATE TABLE logs(id INTEGER PRIMARY KEY, line TEXT);")
        .unwrap();
    take_with_db(&p, "with db");
    let mut h = open(dir.path(), 80, 24);
    h.wait_for("database shop · 2 tables");
    h.key("t");
    let s = h.screen();
    assert!(s.contains("Tables of database shop"), "{s}");
    assert!(s.contains("▸ items") && s.contains("logs"), "{s}");
    assert!(s.contains("r rows") && s.contains("esc close"), "{s}");
    h.key("c");
    assert!(
        status(&h).contains("table items of database shop: checksums"),
        "{}",
        status(&h)
    );
    h.key("j");
    h.key("s");
    let s = h.screen();
    let items = s.lines().find(|l| l.contains("items")).unwrap();
    assert!(items.contains("checksums"), "{s}");
    let logs = s.lines().find(|l| l.contains("▸ logs")).unwrap();
    assert!(logs.contains("skipped"), "{s}");
    let modes = table_modes(store(&p).conn(), "shop").unwrap();
    assert_eq!(modes.get("items"), Some(&Mode::Checksum));
    assert_eq!(modes.get("logs"), Some(&Mode::Skip));
    h.key("a");
    assert!(
        !table_modes(store(&p).conn(), "shop")
            .unwrap()
            .contains_key("logs")
    );
    h.key("esc");
    assert!(!h.screen().contains("Tables of database"));
}

#[test]
fn verify_runs_as_a_job_and_shows_the_report() {
    let (dir, p) = site();
    let (_db_dir, db_path) = shop_db(&p);
    take_with_db(&p, "one");
    let c = rusqlite::Connection::open(&db_path).unwrap();
    c.execute_batch(
        "UPDATE items SET name = 'lamp, brass' WHERE id = 1; DELETE FROM items WHERE id = 3;",
    )
    .unwrap();
    let mut h = open(dir.path(), 80, 24);
    h.wait_for("database shop · 1 tables");
    h.key("v");
    wait_until(&mut h, "the report", |h| {
        h.screen().contains("Verify snapshot 1 → database shop now")
    });
    let s = h.screen();
    assert!(
        s.contains("ok   the reverse script gives the snapshot"),
        "{s}"
    );
    assert!(s.contains("script verified"), "{s}");
    h.key("esc");

    // from a marked snapshot to the selected one: a copy built from the marked one
    take_with_db(&p, "two");
    h.key("r");
    h.key("j");
    h.key("m");
    h.key("k");
    h.key("v");
    wait_until(&mut h, "the second report", |h| {
        h.screen().contains("Verify snapshot 1 → snapshot 2")
    });
    let s = h.screen();
    assert!(s.contains("built from the first"), "{s}");
    assert!(
        s.contains("ok   the forward script gives the second snapshot"),
        "{s}"
    );
    assert!(s.contains("script verified"), "{s}");
}
