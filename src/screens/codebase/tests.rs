//! TestBackend tests of the Codebase screen: rendering, keys, search, preview, jump,
//! details, copy, import.

use base64::Engine as _;

use super::worker::SearchReply;
use crate::app::events::AppEvent;
use crate::app::screen::ScreenId;
use crate::shell::harness::Harness;
use crate::store::Store;
use crate::store::codebase::{self, Body, NewRecord, SearchResults};

fn project(records: &[(&str, Body)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_project(dir.path(), true).unwrap();
    store
        .write(|tx| {
            for (name, body) in records {
                let rec = NewRecord {
                    name: name.to_string(),
                    kind: "file".into(),
                    body: body.clone(),
                    authors: "ann".into(),
                    package: "blog.app".into(),
                    status: "new".into(),
                };
                codebase::insert(tx, &rec, 1_795_000_000)?;
            }
            Ok(())
        })
        .unwrap();
    dir
}

fn text(s: &str) -> Body {
    Body::Text(s.to_string())
}

fn sample() -> tempfile::TempDir {
    project(&[
        (
            "f:index.php",
            text("<?php\nrequire 'app/User.php';\necho render('home');\n"),
        ),
        (
            "f:app/User.php",
            text("<?php\nclass User {\n  function invoices() { return []; }\n}\n"),
        ),
        (
            "f:app/Invoice.php",
            text("<?php\nclass Invoice {\n  function total() { return 42; }\n}\n"),
        ),
        (
            "f:public/logo.png",
            Body::Binary(vec![0x89, b'P', b'N', b'G', 0, 0, 1]),
        ),
    ])
}

#[test]
fn lists_records_and_previews_the_selected_one() {
    let dir = sample();
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    let s = h.wait_for("require 'app/User.php'");
    assert!(s.contains("Codebase · 4 records"), "{s}");
    assert!(s.contains("50001 f:index.php"), "{s}");
    assert!(s.contains("#50001 f:index.php · v1 · floating"), "{s}");
    h.key("j");
    let s = h.wait_for("class User {");
    assert!(s.contains("#50002 f:app/User.php"), "{s}");
    h.key("G");
    let s = h.wait_for("binary, 7 bytes");
    assert!(s.contains("89 50 4e 47 00 00 01"), "{s}");
    h.key("g");
    h.wait_for("require 'app/User.php'");
}

#[test]
fn search_as_you_type_and_escape_back_to_browse() {
    let dir = sample();
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    h.key("/");
    h.type_text("invoic");
    let s = h.wait_for("\"invoic\" · 2 matches");
    assert!(s.contains("f:app/Invoice.php"), "{s}");
    assert!(s.contains("f:app/User.php"), "{s}");
    // keys go to the search box while it is focused: `q` does not quit
    h.type_text("q");
    assert!(!h.app.should_quit());
    h.wait_for("\"invoicq\" · 0 matches");
    h.key("backspace");
    h.key("enter");
    h.wait_for("\"invoic\" · 2 matches");
    h.key("esc");
    let s = h.wait_for("Codebase · 4 records");
    assert!(s.contains("/ search"), "{s}");
}

#[test]
fn stale_search_results_are_dropped() {
    let dir = sample();
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    h.key("/");
    h.type_text("user");
    h.wait_for("\"user\" · ");
    // A reply for an older generation arrives late: it must not replace the current list.
    let stale = SearchResults {
        total: 99,
        total_capped: false,
        hits: vec![],
    };
    // (not an answer of the search worker to its current request: dropped)
    let reply: SearchReply = ("old".into(), Ok(stale));
    h.app.handle(AppEvent::reply(ScreenId::Codebase, reply));
    let s = h.screen();
    assert!(s.contains("\"user\" · ") && !s.contains("\"old\""), "{s}");
}

#[test]
fn search_errors_are_shown_not_fatal() {
    let dir = sample();
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    h.key("/");
    h.type_text("\"unbalanced");
    let s = h.wait_for("⚠");
    assert!(s.contains("Codebase · 4 records"), "{s}");
}

#[test]
fn jump_to_id_details_and_missing_ids() {
    let dir = sample();
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    h.key("#");
    h.type_text("50003");
    h.key("enter");
    let s = h.wait_for("class Invoice");
    assert!(s.contains("#50003 f:app/Invoice.php"), "{s}");
    h.key("enter");
    let s = h.wait_for("floating area");
    assert!(
        s.contains("blog.app") && s.contains("ann") && s.contains("app/Invoice.php"),
        "{s}"
    );
    h.key("esc");
    assert!(!h.screen().contains("floating area"));
    h.key("#");
    h.type_text("777");
    h.key("enter");
    assert_eq!(h.app.status_text(), Some("no record #777"));
    h.key("#");
    h.type_text("abc");
    h.key("enter");
    assert!(h.app.status_text().unwrap().contains("not a record id"));
}

#[test]
fn copy_name_and_body_through_osc52() {
    let dir = sample();
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    h.wait_for("require");
    h.key("y");
    let writes = h.app.take_terminal_writes();
    let b64 = base64::engine::general_purpose::STANDARD.encode("f:index.php");
    assert_eq!(writes.len(), 1);
    assert!(
        writes[0].contains(&format!("]52;c;{b64}")),
        "{:?}",
        writes[0]
    );
    h.key("Y");
    let body = base64::engine::general_purpose::STANDARD
        .encode("<?php\nrequire 'app/User.php';\necho render('home');\n");
    assert!(h.app.take_terminal_writes()[0].contains(&body));
    assert!(
        h.app
            .status_text()
            .unwrap()
            .starts_with("copied body of #50001")
    );
    h.key("G");
    h.key("Y");
    assert!(h.app.take_terminal_writes().is_empty());
    assert!(h.app.status_text().unwrap().contains("binary"));
}

#[test]
fn tab_moves_focus_to_the_preview_for_scrolling() {
    let body: String = (1..=200).map(|i| format!("line {i}\n")).collect();
    let dir = project(&[("f:long.txt", text(&body))]);
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    h.wait_for("  1 line 1 ");
    h.key("tab");
    h.key("ctrl-d");
    let s = h.screen();
    assert!(!s.contains("  1 line 1 ") && s.contains("line 20 "), "{s}");
    h.key("G");
    h.wait_for("line 200");
}

#[test]
fn empty_codebase_says_how_to_fill_it_and_import_runs_as_a_job() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.php"), "<?php echo 'hello';").unwrap();
    std::fs::create_dir(dir.path().join("css")).unwrap();
    std::fs::write(dir.path().join("css/site.css"), "body { color: red }").unwrap();
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    let s = h.screen();
    assert!(
        s.contains("The codebase is empty. Press i to import"),
        "{s}"
    );
    h.key("i");
    // (the rows are read by the rows worker after the ids: wait for the last one)
    let s = h.wait_for("50002 f:index.php");
    assert!(s.contains("Codebase · 2 records"), "{s}");
    assert!(
        s.contains("f:css/site.css") && s.contains("f:index.php"),
        "{s}"
    );
    assert!(
        h.app.status_text().unwrap().contains("2 added"),
        "{:?}",
        h.app.status_text()
    );
    h.key("9");
    let s = h.screen();
    assert!(s.contains("import") && s.contains("done"), "{s}");
}

#[test]
fn hundred_thousand_records_scroll_without_loading_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_project(dir.path(), true).unwrap();
    store
        .write(|tx| {
            for i in 0..100_000 {
                let rec = NewRecord {
                    name: format!("f:src/file{i:06}.php"),
                    kind: "file".into(),
                    body: Body::Text(format!("<?php // {i}")),
                    authors: String::new(),
                    package: String::new(),
                    status: "new".into(),
                };
                codebase::insert(tx, &rec, 1)?;
            }
            Ok(())
        })
        .unwrap();
    let mut h = Harness::new(dir.path(), 80, 24).unwrap();
    assert!(h.screen().contains("Codebase · 100,000 records"));
    h.key("G");
    let s = h.wait_for("f:src/file099999.php");
    assert!(s.contains("150000"), "{s}");
    for _ in 0..50 {
        h.key("pageup");
    }
    let s = h.screen();
    assert!(!s.contains("150000 "), "{s}");
    h.key("#");
    h.type_text("100001");
    h.key("enter");
    h.wait_for("<?php // 50000");
}

#[test]
fn drawing_reads_no_rows_from_the_store_the_rows_worker_does() {
    let names: Vec<String> = (0..300).map(|i| format!("f:page/file{i:03}.txt")).collect();
    let records: Vec<(&str, Body)> = names.iter().map(|n| (n.as_str(), text("x\n"))).collect();
    let dir = project(&records);
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    // Before any reply is handled, the list knows the ids only: its rows are placeholders.
    let s = h.screen();
    assert!(s.contains("Codebase · 300 records"), "{s}");
    assert!(s.contains("50001 …") && !s.contains("file000"), "{s}");
    let s = h.wait_for("50001 f:page/file000.txt");
    assert!(!s.contains("file299"), "{s}");
    // Jump to the end and draw without handling replies: the last page was never read,
    // and drawing it must not read it either (replies only arrive through the queue).
    h.key("G");
    h.draw();
    let s = h.screen();
    assert!(s.contains("50300 …") && !s.contains("file299"), "{s}");
    // The rows worker read them: they show once its reply is handled. (Not 50300: the
    // preview's title names that record too.)
    let s = h.wait_for("50291 f:page/file290.txt");
    assert!(s.contains("  50300 f:page/file299.txt"), "{s}");
}

/// The mouse at 80x24: a click on a row selects it (its preview shows), a click on the
/// preview focuses it, the wheel scrolls the pane it is over.
#[test]
fn the_mouse_selects_rows_and_scrolls_the_preview() {
    use crossterm::event::MouseEventKind;
    let long: String = (1..=80).map(|i| format!("line {i:03}\n")).collect();
    let dir = project(&[
        ("f:index.php", text("<?php echo 1;\n")),
        ("f:long.txt", text(&long)),
        ("f:z.php", text("<?php // z\n")),
    ]);
    let mut h = Harness::new(dir.path(), 80, 24).unwrap();
    let s = h.wait_for("<?php echo 1;");
    let at = |s: &str, needle: &str| {
        s.lines()
            .enumerate()
            .find_map(|(y, l)| {
                l.find(needle)
                    .map(|x| (l[..x].chars().count() as u16, y as u16))
            })
            .unwrap_or_else(|| panic!("{needle:?} not on\n{s}"))
    };
    let (x, y) = at(&s, "50002");
    h.click(x, y);
    let s = h.wait_for("line 001");
    assert!(s.contains("#50002 f:long.txt"), "{s}");
    // The wheel over the preview scrolls it, three lines a notch.
    let (px, py) = at(&s, "line 001");
    h.mouse(MouseEventKind::ScrollDown, px, py);
    h.mouse(MouseEventKind::ScrollDown, px, py);
    let s = h.screen();
    assert!(!s.contains("line 001") && s.contains("line 007"), "{s}");
    h.mouse(MouseEventKind::ScrollUp, px, py);
    assert!(h.screen().contains("line 004"));
    // The wheel over the list moves the selection.
    h.mouse(MouseEventKind::ScrollDown, x, y);
    h.wait_for("<?php // z");
}
