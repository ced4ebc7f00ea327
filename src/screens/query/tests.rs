//! TestBackend tests of the Query screen against a temporary SQLite database registered
//! as a profile: the empty state, connecting, NULL vs the empty string, several
//! statements, errors with their position, the row limit and fetch-more, cancelling,
//! confirmation of DROP, CSV export, history, the schema browser, a small terminal.

use std::path::Path;
use std::time::{Duration, Instant};

use ratatui::style::Modifier;

use super::worker::QueryReply;
use crate::app::events::AppEvent;
use crate::app::screen::ScreenId;
use crate::engine::db::Value;
use crate::shell::harness::Harness;
use crate::store::Store;

/// A project whose store has the profile `app`: `app.db` with a table `big` of `rows` rows.
fn project(rows: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_project(dir.path(), true).unwrap();
    let db = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    db.execute_batch(&format!(
        "CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE INDEX big_name ON big(name);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows})
         INSERT INTO big SELECT x, 'name ' || x FROM c;"
    ))
    .unwrap();
    crate::engine::db::profile::add(&store, "app", "sqlite:app.db", None).unwrap();
    dir
}

fn status(h: &Harness) -> String {
    h.app.status_text().unwrap_or_default().to_string()
}

/// Pump events until `cond` holds (or panic after 10 s).
fn wait_until(h: &mut Harness, what: &str, mut cond: impl FnMut(&mut Harness) -> bool) {
    let start = Instant::now();
    while !cond(h) {
        if start.elapsed() > Duration::from_secs(10) {
            let s = h.screen();
            panic!(
                "timed out waiting for {what}; status {:?}; screen:\n{s}",
                status(h)
            );
        }
        h.wait_event(Duration::from_millis(20));
    }
}

/// Open the Query tool on `root` and connect to `app` through the picker.
fn connected(root: &Path, w: u16, ht: u16) -> Harness {
    let mut h = Harness::new(root, w, ht).unwrap();
    h.key("5");
    h.wait_for("Connect to");
    h.key("enter");
    wait_until(&mut h, "the connection", |h| {
        status(h).starts_with("connected to app")
    });
    h.wait_for("SQL · app");
    h
}

/// Type into the (focused) editor and run with `key`; wait for the run to finish.
fn run(h: &mut Harness, sql: &str, key: &str) -> String {
    h.type_text(sql);
    h.key(key);
    wait_until(h, "the run to finish", |h| {
        let s = status(h);
        (s.starts_with("ran ") || s.starts_with("error") || s.contains("cancelled"))
            && !h.screen().contains("⟳ running")
    });
    h.screen()
}

/// The line of the screen holding `needle`.
fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{screen}"))
}

#[test]
fn empty_state_explains_how_to_add_a_connection() {
    let dir = tempfile::tempdir().unwrap();
    Store::open_project(dir.path(), true).unwrap();
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    h.key("5");
    let s = h.screen();
    assert!(
        s.contains("devsky db add NAME --url mysql://user@host/db"),
        "{s}"
    );
    assert!(s.contains("sqlite:///path/to/app.db"), "{s}");
    assert!(s.contains("not connected"), "{s}");
    // the picker says the same
    h.key("c");
    let s = h.wait_for("Connect to");
    assert!(s.contains("No connections yet"), "{s}");
    h.key("esc");
    assert!(!h.screen().contains("Connect to"));
}

#[test]
fn connect_and_see_null_apart_from_the_empty_string() {
    let dir = project(3);
    let mut h = connected(dir.path(), 100, 30);
    let s = run(&mut h, "select 1, null, ''", "ctrl-r");
    assert!(s.contains("Result · 1 row"), "{s}");
    let row = line_with(&s, "NULL");
    assert!(row.contains("1 │ NULL │"), "{row:?}\n{s}");
    // the empty string is drawn as nothing, NULL dim
    assert!(!row.trim_end().ends_with("NULL"), "{row:?}");
    let buf = h.terminal.backend().buffer().clone();
    let y = s.lines().position(|l| l == row).unwrap() as u16;
    let x = row.chars().position(|c| c == 'N').unwrap() as u16;
    assert!(
        buf[(x, y)].modifier.contains(Modifier::DIM),
        "NULL is dim: {:?}",
        buf[(x, y)]
    );
    assert!(status(&h).starts_with("ran 1 statement"), "{}", status(&h));
}

#[test]
fn several_statements_show_the_last_result_and_a_message_each() {
    let dir = project(3);
    let mut h = connected(dir.path(), 100, 30);
    let s = run(
        &mut h,
        "create table t(a);\ninsert into t values (1), (2);\nselect a * 10 as ten from t",
        "ctrl-e",
    );
    assert!(s.contains("Result · 2 rows"), "{s}");
    assert!(s.contains("ten"), "{s}");
    assert!(line_with(&s, " 20").contains("2  20"), "{s}");
    assert!(s.contains("1. create table t(a) — 0 rows affected"), "{s}");
    assert!(
        s.contains("2. insert into t values (1), (2) — 2 rows affected"),
        "{s}"
    );
    assert!(s.contains("3. select a * 10 as ten from t — 2 rows"), "{s}");
    assert!(status(&h).starts_with("ran 3 statements"), "{}", status(&h));
}

#[test]
fn a_syntax_error_is_shown_with_its_position_and_the_cursor_goes_there() {
    let dir = project(3);
    let mut h = connected(dir.path(), 100, 30);
    let s = run(&mut h, "select 1;\nselect 1 from where", "ctrl-e");
    let st = status(&h);
    assert!(
        st.starts_with("error at statement 2, line 2, column 15"),
        "{st}\n{s}"
    );
    assert!(st.contains("syntax error"), "{st}");
    // the terminal cursor sits on `where` in the editor
    let line = line_with(&s, "select 1 from where");
    let y = s.lines().position(|l| l == line).unwrap() as u16;
    let x = line[..line.find("where").unwrap()].chars().count() as u16;
    let pos = h.terminal.get_cursor_position().unwrap();
    assert_eq!((pos.x, pos.y), (x, y), "\n{s}");
}

#[test]
fn a_hundred_thousand_rows_stop_at_the_limit_and_m_fetches_more() {
    let dir = project(100_000);
    let mut h = connected(dir.path(), 100, 30);
    h.type_text("select * from big");
    h.key("ctrl-r");
    let s = h.wait_for("showing 1,000 of >1,000");
    assert!(s.contains("paused at 1,000 rows"), "{s}");
    assert!(s.contains("name 1"), "{s}");
    // to the grid, to the last row: row 1,000
    h.key("tab");
    h.key("G");
    let s = h.screen();
    assert!(s.contains("name 1000"), "{s}");
    assert!(!s.contains("name 1001"), "{s}");
    h.key("m");
    let s = h.wait_for("showing 2,000 of >2,000");
    assert!(!s.contains("name 2001"), "{s}");
    // a new query ends the paused one
    h.key("i");
    for _ in 0.."select * from big".len() {
        h.key("backspace");
    }
    let s = run(&mut h, "select count(*) from big", "ctrl-r");
    assert!(s.contains("100000"), "{s}");
}

#[test]
fn a_long_query_is_cancelled_within_two_seconds() {
    let dir = project(3);
    let mut h = connected(dir.path(), 100, 30);
    h.type_text(
        "with recursive c(x) as (select 1 union all select x + 1 from c where x < 1000000000) \
         select count(*) from c",
    );
    h.key("ctrl-r");
    h.wait_for("running");
    std::thread::sleep(Duration::from_millis(300));
    // the elapsed time ticks while it runs
    let before = h.screen();
    h.wait_event(Duration::from_millis(500));
    assert!(line_with(&before, "running").contains(" s"), "{before}");
    let t = Instant::now();
    h.key("esc");
    wait_until(&mut h, "the cancellation", |h| {
        status(h).contains("cancelled after")
    });
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // the connection still works
    for _ in 0..200 {
        h.key("backspace");
    }
    let s = run(&mut h, "select 'still here'", "ctrl-r");
    assert!(s.contains("still here"), "{s}");
}

#[test]
fn drop_asks_first() {
    let dir = project(3);
    let mut h = connected(dir.path(), 100, 30);
    h.type_text("drop table big");
    h.key("ctrl-r");
    let s = h.wait_for("Run this?");
    assert!(s.contains("drop table big — this cannot be undone"), "{s}");
    h.key("n");
    assert_eq!(status(&h), "not run");
    assert!(!h.screen().contains("Run this?"));
    h.key("ctrl-r");
    h.wait_for("Run this?");
    h.key("y");
    wait_until(&mut h, "the drop", |h| status(h).starts_with("ran "));
    let db = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'big'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
    // DELETE without WHERE warns too
    for _ in 0.."drop table big".len() {
        h.key("backspace");
    }
    h.type_text("delete from big");
    h.key("ctrl-r");
    let s = h.wait_for("Run this?");
    assert!(s.contains("no WHERE"), "{s}");
    h.key("esc");
}

#[test]
fn export_csv_writes_the_file_and_says_where() {
    let dir = project(3);
    let mut h = connected(dir.path(), 100, 30);
    run(&mut h, "select id, name, null as n from big", "ctrl-r");
    h.key("tab");
    h.key("x");
    h.wait_for("Export the 3 rows");
    h.key("c");
    let st = status(&h);
    assert!(
        st.starts_with("exported 3 rows to .devsky/exports/app-"),
        "{st}"
    );
    let exports = dir.path().join(".devsky/exports");
    let files: Vec<_> = std::fs::read_dir(&exports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(st.contains(files[0].file_name().unwrap().to_str().unwrap()));
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(text, "id,name,n\r\n1,name 1,\r\n2,name 2,\r\n3,name 3,\r\n");
    // JSON too
    h.key("x");
    h.key("j");
    assert!(status(&h).ends_with(".json"), "{}", status(&h));
}

#[test]
fn copy_cell_and_row() {
    let dir = project(3);
    let mut h = connected(dir.path(), 100, 30);
    run(&mut h, "select id, name from big", "ctrl-r");
    h.key("tab");
    h.key("j");
    h.key("l");
    h.key("y");
    assert_eq!(status(&h), "copied name of row 2 (6 bytes)");
    h.key("Y");
    assert_eq!(status(&h), "copied row 2 (8 bytes)");
    let writes = h.app.take_terminal_writes();
    assert_eq!(writes.len(), 2);
}

#[test]
fn history_popup_searches_and_puts_the_sql_back() {
    let dir = project(3);
    let mut h = connected(dir.path(), 100, 30);
    run(&mut h, "select 41", "ctrl-r");
    for _ in 0.."select 41".len() {
        h.key("backspace");
    }
    run(&mut h, "select 42", "ctrl-r");
    h.key("ctrl-h");
    let s = h.wait_for("History");
    assert!(s.contains("select 41") && s.contains("select 42"), "{s}");
    h.type_text("41");
    let s = h.screen();
    assert!(!line_with(&s, "/ 41").is_empty());
    h.key("enter");
    let s = h.screen();
    assert!(!s.contains("History"), "{s}");
    let editor_line = line_with(&s, "│ 1 select");
    assert!(editor_line.contains("select 41"), "{s}");
    assert!(!s.contains("select 42"), "{s}");
}

#[test]
fn schema_browser_inserts_a_name_at_the_cursor() {
    let dir = project(3);
    let mut h = connected(dir.path(), 100, 30);
    h.type_text("select  from big");
    for _ in 0.." from big".len() {
        h.key("left");
    }
    h.key("esc");
    h.key("s");
    let s = h.wait_for("▸ big  (2 columns)");
    assert!(s.contains("⚷ big_name (name)"), "{s}");
    h.type_text("nam");
    h.key("down");
    h.key("enter");
    let s = h.screen();
    assert!(
        line_with(&s, "│ 1 select").contains("select name from big"),
        "{s}"
    );
    let s = run(&mut h, "", "ctrl-r");
    assert!(s.contains("Result · 3 rows"), "{s}");
}

#[test]
fn stale_replies_are_dropped() {
    let dir = project(3);
    let mut h = connected(dir.path(), 100, 30);
    run(&mut h, "select 7 as seven", "ctrl-r");
    h.app.handle(AppEvent::reply(
        ScreenId::Query,
        QueryReply::Rows {
            generation: 0,
            rows: vec![vec![Value::Text("stale".into())]],
        },
    ));
    let s = h.screen();
    assert!(!s.contains("stale") && s.contains("Result · 1 row"), "{s}");
}

#[test]
fn renders_in_80_by_24() {
    let dir = project(5_000);
    let mut h = connected(dir.path(), 80, 24);
    h.type_text("select id, name, name || name || name as long from big");
    h.key("ctrl-e");
    let s = h.wait_for("showing 1,000 of >1,000");
    assert!(s.contains("SQL · app"), "{s}");
    h.key("tab");
    for k in ["l", "l", "l", "G", "g"] {
        h.key(k);
        h.screen();
    }
    for (open, close) in [("s", "esc"), ("ctrl-h", "esc"), ("x", "esc"), ("c", "esc")] {
        h.key(open);
        h.screen();
        h.key(close);
    }
    let s = h.screen();
    assert!(s.contains("showing 1,000 of >1,000"), "{s}");
    // esc stops the paused result; what was read stays
    h.key("esc");
    let s = h.wait_for("the first 1,000 rows");
    assert!(s.contains("name 1"), "{s}");
    assert!(status(&h).contains("cancelled"), "{}", status(&h));
}

#[test]
fn the_picker_opens_on_first_show_and_number_keys_still_switch_tools() {
    let dir = project(3);
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    h.key("5");
    let s = h.wait_for("Connect to");
    assert!(line_with(&s, " app ").contains("sqlite:app.db"), "{s}");
    h.key("1");
    assert_eq!(h.app.current_screen(), crate::screens::ScreenId::Codebase);
    h.key("5");
    h.key("esc");
    // not connected: running asks for a connection first
    h.key("i");
    h.type_text("select 1");
    h.key("ctrl-r");
    assert!(status(&h).starts_with("not connected"), "{}", status(&h));
    h.wait_for("Connect to");
    h.key("enter");
    wait_until(&mut h, "the connection", |h| {
        status(h).starts_with("connected to app")
    });
    let s = run(&mut h, "", "ctrl-r");
    assert!(s.contains("Result · 1 row"), "{s}");
}

#[test]
fn sql_is_highlighted() {
    let dir = project(3);
    let mut h = Harness::with(
        dir.path(),
        100,
        30,
        crate::app::keymap::Keymap::defaults(),
        "default",
    )
    .unwrap();
    h.key("5");
    h.wait_for("Connect to");
    h.key("esc");
    h.key("i");
    h.type_text("select 'txt', 42 -- note");
    let s = h.screen();
    let line = line_with(&s, "select 'txt'");
    let y = s.lines().position(|l| l == line).unwrap() as u16;
    let x = |needle: &str| line[..line.find(needle).unwrap()].chars().count() as u16;
    let buf = h.terminal.backend().buffer().clone();
    let fg = |needle: &str| buf[(x(needle), y)].fg;
    let keyword = fg("select");
    assert_ne!(fg("'txt'"), keyword);
    assert_ne!(fg("42"), keyword);
    assert_ne!(fg("-- note"), fg("'txt'"));
    assert_ne!(keyword, ratatui::style::Color::Reset);
}

/// The mouse at 80x24: a click on a result row selects it and gives the grid the keys; a
/// click on the editor gives it the keys (typing goes there).
#[test]
fn a_click_selects_a_row_and_focuses_its_pane() {
    let dir = project(5);
    let mut h = connected(dir.path(), 80, 24);
    run(&mut h, "select id, name from big", "ctrl-r");
    let (x, y) = h.locate("name 4");
    h.click(x, y);
    let s = h.screen();
    let marked: Vec<&str> = s.lines().filter(|l| l.contains('▶')).collect();
    assert!(marked.len() == 1 && !marked[0].contains("SQL"), "{s}");
    h.key("Y");
    assert_eq!(status(&h), "copied row 4 (8 bytes)");
    // the header row selects nothing
    let (x, y) = h.locate("name 1");
    h.click(x, y - 1);
    h.key("Y");
    assert_eq!(status(&h), "copied row 4 (8 bytes)");
    // the editor: it has the keys, typing goes there
    let (x, y) = h.locate("select id");
    h.click(x, y);
    let s = h.screen();
    assert!(line_with(&s, "▶").contains("SQL"), "{s}");
    h.type_text(" -- more");
    assert!(h.screen().contains("-- more"), "{}", h.screen());
}
