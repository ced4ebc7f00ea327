//! TestBackend tests at 80x24 of focus and the mouse on Jobs: the pane with the keys is
//! marked (`▶`, the cursor, its hints), Tab gives the keys to the Log pane, which then
//! scrolls and follows again; a click selects a job or focuses the log; the wheel
//! scrolls the log.

use std::time::{Duration, Instant};

use crossterm::event::MouseEventKind;

use crate::shell::harness::Harness;

fn hints(s: &str) -> String {
    s.lines().rev().nth(1).unwrap().to_string()
}

fn marked(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| l.contains('▶'))
        .map(String::from)
        .collect()
}

/// Two finished jobs with 40 log lines each.
fn two_jobs() -> (tempfile::TempDir, Harness) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), 80, 24).unwrap();
    for (name, word) in [("first job", "alpha"), ("second job", "beta")] {
        h.app.jobs().spawn_blocking(name, move |p| {
            for i in 0..40 {
                p.log(format!("{word} line {i}"));
            }
            Ok(format!("{word} done"))
        });
    }
    let t0 = Instant::now();
    while h.app.job_table().jobs.len() < 2 || h.app.job_table().running().next().is_some() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the jobs did not end"
        );
        h.wait_event(Duration::from_millis(20));
    }
    h.key("9");
    (dir, h)
}

#[test]
fn the_pane_with_the_keys_is_marked_and_the_log_scrolls() {
    let (_d, mut h) = two_jobs();
    let s = h.screen();
    let m = marked(&s);
    assert!(m.len() == 1 && m[0].contains("▶ Jobs (2)"), "{s}");
    let bar = hints(&s);
    assert!(
        bar.contains("x cancel") && bar.contains("c clear") && bar.contains("tab log"),
        "{s}"
    );
    let (_, first) = h.locate("first job");
    assert!(h.terminal.backend().cursor_visible());
    assert_eq!(h.terminal.backend().cursor_position().y, first, "{s}");
    // the log follows: its newest line and the outcome show
    assert!(
        s.contains("done: alpha done") && s.contains("alpha line 39"),
        "{s}"
    );

    // Tab: the log has the keys; k scrolls it back, G follows again
    h.key("tab");
    let s = h.screen();
    let m = marked(&s);
    assert!(m.len() == 1 && m[0].contains("▶ Log · #"), "{s}");
    let bar = hints(&s);
    assert!(
        bar.contains("k scroll") && bar.contains("G follow") && bar.contains("tab jobs"),
        "{s}"
    );
    let (_, log_title) = h.locate("▶ Log");
    assert_eq!(h.terminal.backend().cursor_position().y, log_title + 1);
    h.key("k");
    h.key("k");
    let s = h.screen();
    assert!(
        s.contains("· scrolled") && !s.contains("done: alpha done"),
        "{s}"
    );
    h.key("G");
    let s = h.screen();
    assert!(
        !s.contains("scrolled") && s.contains("done: alpha done"),
        "{s}"
    );
    // the list's keys do not move the list meanwhile
    assert!(s.contains("Log · #") && s.contains("first job "), "{s}");

    // a click on the second job selects it and gives the list the keys
    let (x, y) = h.locate("second job");
    h.click(x, y);
    let s = h.screen();
    assert!(marked(&s)[0].contains("▶ Jobs (2)"), "{s}");
    assert!(s.contains("done: beta done"), "{s}");
    assert_eq!(h.terminal.backend().cursor_position().y, y);
    // a click on the log gives it the keys; the wheel over it scrolls it
    let (x, y) = h.locate("beta line 39");
    h.click(x, y);
    assert!(marked(&h.screen())[0].contains("▶ Log"), "{}", h.screen());
    h.mouse(MouseEventKind::ScrollUp, x, y);
    let s = h.screen();
    assert!(
        s.contains("· scrolled") && !s.contains("done: beta done"),
        "{s}"
    );
}
