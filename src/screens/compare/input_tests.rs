//! TestBackend tests of Compare's keys and mouse at 80x24: `zh`/`zl` scroll the diff half a
//! screen sideways in both views, the hint bar shows the pending `z…` and its choices,
//! `Esc` or an unknown key cancels, help lists the sequences; a click selects a file and
//! focuses its pane, the wheel scrolls the diff.

use crossterm::event::MouseEventKind;

use super::tests::{long_line, open, two_files};

fn row(s: &str, needle: &str) -> String {
    s.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle}:\n{s}"))
        .to_string()
}

fn hints(s: &str) -> String {
    s.lines().rev().nth(1).unwrap().to_string()
}

#[test]
fn zh_and_zl_scroll_half_a_screen_in_both_views() {
    let (_d, mut h) = open(80, 24, long_line);
    h.wait_for("NEWWORD");
    h.key("s");
    h.key("tab");
    // z waits: the hint bar shows the pending prefix and what may follow, nothing else.
    h.key("z");
    let s = h.screen();
    let bar = hints(&s);
    assert!(bar.contains("z…"), "{s}");
    assert!(
        bar.contains("zh half left") && bar.contains("zl half right"),
        "{s}"
    );
    assert!(bar.contains("esc cancel") && !bar.contains("quit"), "{s}");
    // l completes zl: the diff pane is 64 columns inside, a side 32, half of it 16.
    h.key("l");
    let s = h.screen();
    assert!(s.contains("from column 17"), "{s}");
    assert!(!hints(&s).contains('…'), "no chord pending: {s}");
    let r = row(&s, "xxxxxxxxxx");
    assert!(!r.contains("let s") && !r.contains("NEWWORD"), "{s}");
    assert_eq!(
        r.matches('…').count(),
        4,
        "both sides cut at both ends: {r}"
    );
    // a second zl goes on, zh comes back a half at a time, then to "first change"
    h.key("z");
    h.key("l");
    assert!(h.screen().contains("from column 33"), "{}", h.screen());
    h.key("z");
    h.key("h");
    assert!(h.screen().contains("from column 17"), "{}", h.screen());
    h.key("z");
    h.key("h");
    let s = h.screen();
    assert!(s.contains("starts at its first change"), "{s}");
    assert!(row(&s, "OLDWORD").contains("NEWWORD"), "{s}");
    // unified: the text is the whole pane, half of it 32
    h.key("s");
    h.key("z");
    h.key("l");
    let s = h.screen();
    assert!(
        s.contains("· unified") && s.contains("from column 33"),
        "{s}"
    );
    assert!(!row(&s, "xxxxxxxxxx").contains("OLDWORD"), "{s}");
}

#[test]
fn esc_or_an_unknown_key_cancels_a_pending_z() {
    let (_d, mut h) = open(80, 24, long_line);
    h.wait_for("NEWWORD");
    h.key("tab");
    h.key("z");
    h.key("esc");
    let s = h.screen();
    assert!(s.contains("z… cancelled"), "{s}");
    assert!(
        s.contains("▶ src/long.js"),
        "Esc did not go back to the list: {s}"
    );
    assert!(hints(&s).contains("quit"), "{s}");
    // an unknown key after z: eaten and said, not run (q would ask to quit)
    h.key("z");
    h.key("q");
    let s = h.screen();
    assert!(s.contains("zq: no such key sequence"), "{s}");
    assert!(!h.app.should_quit());
    // plain l still scrolls by a step
    h.key("l");
    assert!(h.screen().contains("from column 9"), "{}", h.screen());
}

#[test]
fn help_lists_the_key_sequences() {
    let (_d, mut h) = open(80, 24, long_line);
    h.wait_for("NEWWORD");
    h.key("?");
    let mut seen = h.screen();
    for _ in 0..40 {
        h.key("j");
        seen.push_str(&h.screen());
    }
    assert!(
        seen.contains("zh") && seen.contains("Scroll the diff half a screen left"),
        "{seen}"
    );
    assert!(
        seen.contains("zl") && seen.contains("Scroll the diff half a screen right"),
        "{seen}"
    );
}

/// The rows of the screen whose text has the focus mark.
fn marked(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| l.contains('▶'))
        .map(String::from)
        .collect()
}

#[test]
fn a_click_selects_a_file_and_focuses_its_pane() {
    let (_d, mut h) = open(80, 24, two_files);
    h.wait_for("line 10 moves");
    // a click on the second file: it is selected (its diff loads), the list has the keys
    let (x, y) = h.locate("src/new.css");
    h.click(x + 2, y);
    let s = h.wait_for("body {}");
    let m = marked(&s);
    assert!(m.len() == 1 && m[0].contains("▶ Files · 2"), "{s}");
    assert_eq!(h.terminal.backend().cursor_position().y, y, "{s}");
    // a click on the diff gives it the keys
    let (x, y) = h.locate("body {}");
    h.click(x, y);
    let s = h.screen();
    let m = marked(&s);
    assert!(m.len() == 1 && m[0].contains("▶ src/new.css"), "{s}");
    assert!(
        s.lines().rev().nth(1).unwrap().contains("next change"),
        "{s}"
    );
    // back to the first file by a click on it
    let (x, y) = h.locate("src/app.js");
    h.click(x, y);
    let s = h.wait_for("line 10 moves");
    assert!(marked(&s)[0].contains("▶ Files · 2"), "{s}");
    // the wheel over the diff scrolls it (three rows a notch), not the list
    h.key("e");
    let before = h.screen();
    let (x, y) = h.locate("line 10 moves");
    h.mouse(MouseEventKind::ScrollDown, x, y);
    let after = h.screen();
    assert_ne!(before, after, "the diff scrolled");
    assert!(
        after.contains("src/app.js ·"),
        "still the same file: {after}"
    );
    // a click outside any row (the title bar) changes nothing
    let (x, y) = h.locate("snapshot 3 → working tree");
    h.click(x, y);
    assert_eq!(h.screen(), after);
}
