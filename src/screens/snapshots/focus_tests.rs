//! TestBackend tests at 80x24 of focus and the mouse on Snapshots: the list is marked as
//! the pane with the keys (`▶`, the cursor on the selected row, its hints), a popup takes
//! the hints, and a click selects the snapshot under it.

use super::tests::{open, site, take};

fn hints(s: &str) -> String {
    s.lines().rev().nth(1).unwrap().to_string()
}

#[test]
fn the_list_is_marked_has_the_cursor_and_a_click_selects() {
    let (dir, p) = site();
    for name in ["first", "second", "third"] {
        take(&p, name);
    }
    let mut h = open(dir.path(), 80, 24);
    let s = h.wait_for("third");
    // the list has the keys: marked, its hints, the cursor on the selected row
    let marked: Vec<&str> = s.lines().filter(|l| l.contains('▶')).collect();
    assert!(
        marked.len() == 1 && marked[0].contains("▶ My Snapshots · 3"),
        "{s}"
    );
    assert!(
        hints(&s).contains("c snapshot") && hints(&s).contains("enter diff"),
        "{s}"
    );
    // newest first: the third is selected
    assert!(s.contains("Snapshot 3 "), "{s}");
    let (_, sel_y) = h.locate("third");
    let backend = h.terminal.backend();
    assert!(backend.cursor_visible());
    assert_eq!(
        backend.cursor_position().y,
        sel_y,
        "on the selected row: {s}"
    );
    // a click on another snapshot selects it (the details follow) and takes the cursor
    let (x, y) = h.locate("first");
    h.click(x, y);
    let s = h.screen();
    assert!(s.contains("Snapshot 1 "), "{s}");
    assert_eq!(h.terminal.backend().cursor_position().y, y, "{s}");
    // a click on the header line or the details pane selects nothing
    let (x, y) = h.locate("created (UTC)");
    h.click(x, y);
    let (x, y) = h.locate("Snapshot 1 ");
    h.click(x, y + 1);
    assert!(h.screen().contains("Snapshot 1 "), "{}", h.screen());
    // a popup has the keys: the list loses its mark, the hints are the popup's
    h.key("d");
    let s = h.screen();
    assert!(!s.contains("▶ My Snapshots"), "{s}");
    assert!(
        hints(&s).contains("y delete it") && hints(&s).contains("n keep it"),
        "{s}"
    );
    // while it is open a click selects nothing
    let (x, y) = h.locate("third");
    h.click(x, y);
    h.key("n");
    assert!(h.screen().contains("Snapshot 1 "), "{}", h.screen());
}
