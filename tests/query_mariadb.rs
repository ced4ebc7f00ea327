//! The Query tool against a private MariaDB server (tests/support/mariadb.rs): a running
//! `SELECT SLEEP(10)` is cancelled with esc well before it ends, and a refused login asks
//! for the password in a masked prompt.

mod support;

use std::time::{Duration, Instant};

use devsky::engine::db::profile;
use devsky::shell::harness::Harness;
use devsky::store::Store;
use support::mariadb::MariaDb;

fn status(h: &Harness) -> String {
    h.app.status_text().unwrap_or_default().to_string()
}

fn wait_until(h: &mut Harness, what: &str, mut cond: impl FnMut(&mut Harness) -> bool) {
    let start = Instant::now();
    while !cond(h) {
        if start.elapsed() > Duration::from_secs(20) {
            let s = h.screen();
            panic!(
                "timed out waiting for {what}; status {:?}; screen:\n{s}",
                status(h)
            );
        }
        h.wait_event(Duration::from_millis(20));
    }
}

/// A project with the profile `maria` for `url`, the Query tool open on its picker.
fn open(url: &str) -> (tempfile::TempDir, Harness) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_project(dir.path(), true).unwrap();
    profile::add(&store, "maria", url, Some("DEVSKY_TEST_UNSET_PASSWORD")).unwrap();
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    h.key("5");
    h.wait_for("Connect to");
    h.key("enter");
    (dir, h)
}

#[test]
fn select_sleep_is_cancelled() {
    let m = MariaDb::start();
    m.sql("CREATE DATABASE t");
    let (_dir, mut h) = open(&m.url("t"));
    wait_until(&mut h, "the connection", |h| {
        status(h).starts_with("connected to maria")
    });
    h.type_text("SELECT SLEEP(10)");
    h.key("ctrl-r");
    h.wait_for("⟳ running");
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    h.key("esc");
    wait_until(&mut h, "the cancellation", |h| {
        status(h).contains("cancelled after")
    });
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // the connection is usable again
    for _ in 0.."SELECT SLEEP(10)".len() {
        h.key("backspace");
    }
    h.type_text("SELECT 'after' AS a, NULL AS n, '' AS e");
    h.key("ctrl-r");
    let s = h.wait_for("Result · 1 row");
    assert!(s.contains("after │ NULL │"), "{s}");
}

#[test]
fn a_refused_login_asks_for_the_password() {
    let m = MariaDb::start_tcp();
    m.sql(
        "CREATE DATABASE shop; CREATE USER 'app'@'%' IDENTIFIED BY 'pw-Secret-77'; \
         GRANT ALL ON shop.* TO 'app'@'%'",
    );
    let (_dir, mut h) = open(&m.tcp_url("app", "shop"));
    let s = h.wait_for("Password for maria");
    assert!(s.contains("The server refused the login"), "{s}");
    h.type_text("pw-Secret-77");
    let s = h.screen();
    assert!(s.contains("••••••••••••"), "{s}");
    assert!(!s.contains("pw-Secret-77"), "{s}");
    h.key("enter");
    wait_until(&mut h, "the connection", |h| {
        status(h).starts_with("connected to maria")
    });
    h.type_text("select current_user()");
    h.key("ctrl-r");
    h.wait_for("app@");
}
