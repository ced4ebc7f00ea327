//! TestBackend tests of the Compare screen: a set of changes arriving, the file list, the
//! unified and side-by-side diff, hunk navigation, expanding, summaries, the two-file
//! prompt, small terminals.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;

use super::worker::CompareReply;
use crate::app::events::AppEvent;
use crate::engine::diff::changes::{Change, ChangeKind, ChangeSet, Content};
use crate::screens::ScreenId;
use crate::shell::harness::Harness;

fn lines(n: usize, f: impl Fn(usize) -> String) -> String {
    (1..=n).map(|i| f(i) + "\n").collect()
}

fn file_change(
    root: &Path,
    path: &str,
    kind: ChangeKind,
    old: Option<&str>,
    new: Option<&str>,
) -> Change {
    let side = |dir: &str, text: Option<&str>| match text {
        Some(t) => {
            let p = root.join(dir).join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, t).unwrap();
            Content::File(p)
        }
        None => Content::Missing,
    };
    Change {
        path: path.to_string(),
        raw_path: path.as_bytes().to_vec(),
        kind,
        old: side("old", old),
        new: side("new", new),
        old_size: old.map(|t| t.len() as u64),
        new_size: new.map(|t| t.len() as u64),
        old_mode: old.map(|_| 0o100644),
        new_mode: new.map(|_| 0o100644),
    }
}

fn set_of(root: &Path, changes: Vec<Change>) -> Arc<ChangeSet> {
    Arc::new(ChangeSet {
        title: "snapshot 3 → working tree".into(),
        old_label: "snapshot 3".into(),
        new_label: "working tree".into(),
        changes,
        root: root.to_path_buf(),
        partial: false,
    })
}

/// A project with two changed files: `src/app.js` (line 10 of 20 changed) and
/// `src/new.css` (added).
pub(super) fn two_files(root: &Path) -> Arc<ChangeSet> {
    let old = lines(20, |i| format!("line {i} stays"));
    let new = old.replace("line 10 stays", "line 10 moves");
    set_of(
        root,
        vec![
            file_change(
                root,
                "src/app.js",
                ChangeKind::Modified,
                Some(&old),
                Some(&new),
            ),
            file_change(
                root,
                "src/new.css",
                ChangeKind::Added,
                None,
                Some("body {}\np {}\n"),
            ),
        ],
    )
}

pub(super) fn open(
    w: u16,
    h: u16,
    set: impl FnOnce(&Path) -> Arc<ChangeSet>,
) -> (tempfile::TempDir, Harness) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), w, h).unwrap();
    let set = set(dir.path());
    h.app.handle(AppEvent::reply(ScreenId::Compare, set));
    (dir, h)
}

#[test]
fn before_anything_arrives_it_says_how_to_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    h.key("4");
    assert_eq!(h.app.current_screen(), ScreenId::Compare);
    let s = h.screen();
    assert!(s.contains("Compare shows what changed"), "{s}");
    assert!(s.contains("o     compare two files"), "{s}");
    assert!(
        s.contains("snapshots open here from the Snapshots tool"),
        "{s}"
    );
    assert!(s.contains("o open"), "hint bar: {s}");
}

#[test]
fn a_set_shows_the_list_with_letters_and_the_unified_diff() {
    let (_d, mut h) = open(100, 30, two_files);
    assert_eq!(h.app.current_screen(), ScreenId::Compare);
    let s = h.wait_for("line 10 moves");
    assert!(s.contains("snapshot 3 → working tree · 2 files"), "{s}");
    assert!(s.contains("M src/app.js"), "{s}");
    assert!(s.contains("A src/new.css"), "{s}");
    assert!(
        s.contains(&format!(
            "{} B",
            lines(20, |i| format!("line {i} stays")).len()
        )),
        "{s}"
    );
    assert!(s.contains("src/app.js · +1 −1 · unified"), "{s}");
    assert!(s.contains("@@ -7,7 +7,7 @@"), "{s}");
    assert!(s.contains(" 7  7   line 7 stays"), "{s}");
    assert!(s.contains("10    - line 10 stays"), "{s}");
    assert!(s.contains("   10 + line 10 moves"), "{s}");
    assert!(s.contains("⋯ 6 unchanged lines"), "{s}");
    assert!(s.contains("⋯ 7 unchanged lines"), "{s}");
    // the added file: every line added
    h.key("j");
    let s = h.wait_for("src/new.css · +2 −0");
    assert!(s.contains("new file · mode 100644"), "{s}");
    assert!(s.contains("@@ -0,0 +1,2 @@"), "{s}");
    assert!(s.contains("│  1 + body {}"), "{s}");
    assert!(s.contains("│  2 + p {}"), "{s}");
}

#[test]
fn side_by_side_pairs_the_changed_lines() {
    let (_d, mut h) = open(100, 30, two_files);
    h.wait_for("line 10 moves");
    h.key("s");
    let s = h.screen();
    assert!(s.contains("· side by side"), "{s}");
    let row = s
        .lines()
        .find(|l| l.contains("line 10 stays"))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(row.contains("│") && row.contains("line 10 moves"), "{row}");
    assert!(
        s.lines().any(|l| l.matches("line 9 stays").count() == 2),
        "{s}"
    );
    h.key("s");
    assert!(h.screen().contains("· unified"));
}

#[test]
fn next_and_previous_change_move_the_view() {
    let (_d, mut h) = open(100, 30, |root| {
        let old = lines(200, |i| format!("row {i}"));
        let mut new = old.replace("row 5\n", "row five\n");
        for i in 150..170 {
            new = new.replace(&format!("row {i}\n"), &format!("new {i}\n"));
        }
        set_of(
            root,
            vec![file_change(
                root,
                "big.txt",
                ChangeKind::Modified,
                Some(&old),
                Some(&new),
            )],
        )
    });
    let s = h.wait_for("row five");
    assert!(!s.contains("row 160"), "{s}");
    h.key("n");
    let s = h.screen();
    assert!(
        s.contains("@@ -147,26 +147,26 @@") && s.contains("row 160") && !s.contains("row five"),
        "{s}"
    );
    assert_eq!(h.app.status_text(), Some("change 2 of 2"));
    h.key("n");
    assert_eq!(h.app.status_text(), Some("no more changes below"));
    h.key("N");
    let s = h.screen();
    assert!(s.contains("row five"), "{s}");
    assert_eq!(h.app.status_text(), Some("change 1 of 2"));
    // j/k scroll the diff once it has the focus
    h.key("tab");
    h.key("G");
    assert!(h.screen().contains("new 169"));
    h.key("g");
    assert!(h.screen().contains("@@ -2,7 +2,7 @@"));
}

#[test]
fn expand_shows_the_collapsed_lines() {
    let (_d, mut h) = open(100, 40, two_files);
    let s = h.wait_for("line 10 moves");
    assert!(!s.contains("line 2 stays"), "{s}");
    h.key("e");
    let s = h.screen();
    assert!(!s.contains("unchanged line"), "{s}");
    assert!(s.contains(" 1  1   line 1 stays"), "{s}");
    assert!(s.contains("20 20   line 20 stays"), "{s}");
    h.key("e");
    assert!(h.screen().contains("⋯ 6 unchanged lines"));
}

#[test]
fn binary_files_are_summarized_with_sizes_and_hashes() {
    let png = vec![0x89, b'P', b'N', b'G', 0, 0, 7];
    let png2 = vec![0x89, b'P', b'N', b'G', 0, 1];
    let (h1, h2) = (
        blake3::hash(&png).to_hex().to_string(),
        blake3::hash(&png2).to_hex().to_string(),
    );
    let (_d, mut h) = open(140, 30, |root| {
        set_of(
            root,
            vec![Change {
                path: "logo.png".into(),
                raw_path: b"logo.png".to_vec(),
                kind: ChangeKind::Modified,
                old: Content::Bytes(Arc::new(png.clone())),
                new: Content::Bytes(Arc::new(png2.clone())),
                old_size: Some(7),
                new_size: Some(6),
                old_mode: Some(0o100644),
                new_mode: Some(0o100755),
            }],
        )
    });
    let s = h.wait_for("Binary content");
    assert!(s.contains("logo.png · binary"), "{s}");
    assert!(s.contains("mode 100644 → 100755"), "{s}");
    assert!(
        s.contains(&format!("7 B (7 bytes)  blake3 {}", &h1[..40])),
        "{s}"
    );
    assert!(
        s.contains(&format!("6 B (6 bytes)  blake3 {}", &h2[..40])),
        "{s}"
    );
    assert!(s.contains("The contents differ."), "{s}");
    assert!(s.contains("7 B → 6 B"), "{s}");
}

#[test]
fn the_prompt_compares_two_files_of_the_project() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(dir.path().join("b.txt"), "one\n2\nthree\n").unwrap();
    let mut h = Harness::new(dir.path(), 100, 30).unwrap();
    h.key("4");
    h.key("o");
    assert!(h.screen().contains("Compare files: old-path  new-path"));
    // keys go to the prompt: `q` does not quit
    h.type_text("q");
    assert!(!h.app.should_quit());
    h.key("backspace");
    h.type_text("a.txt  missing.txt");
    h.key("enter");
    assert!(
        h.app.status_text().unwrap().contains("missing.txt"),
        "{:?}",
        h.app.status_text()
    );
    h.key("ctrl-u");
    h.type_text("a.txt b.txt");
    h.key("enter");
    let s = h.wait_for("b.txt · +1 −1");
    assert!(s.contains("a.txt → b.txt · 1 file"), "{s}");
    assert!(s.contains("│2   - two"), "{s}");
    assert!(s.contains("│  2 + 2"), "{s}");
    h.key("y");
    let writes = h.app.take_terminal_writes();
    let patch = "--- a.txt\n+++ b.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n";
    let b64 = base64::engine::general_purpose::STANDARD.encode(patch);
    assert!(writes.len() == 1 && writes[0].contains(&b64), "{writes:?}");
}

#[test]
fn wide_terminals_put_list_and_diff_side_by_side_and_the_list_can_hide() {
    let (_d, mut h) = open(160, 30, two_files);
    let s = h.wait_for("line 10 moves");
    assert!(
        s.lines()
            .any(|l| l.contains("Files · 2") && l.contains("src/app.js · +1")),
        "{s}"
    );
    h.key("f");
    let s = h.screen();
    assert!(
        !s.contains("Files · 2") && s.contains("line 10 moves"),
        "{s}"
    );
    // the diff has the focus now: j scrolls it (it fits here, so nothing moves) and the
    // selection stays
    h.key("j");
    assert!(h.screen().contains("src/app.js · +1 −1"));
    h.key("f");
    assert!(h.screen().contains("Files · 2"));
}

#[test]
fn stale_replies_are_dropped() {
    let (_d, mut h) = open(100, 30, two_files);
    h.wait_for("line 10 moves");
    // An answer that did not come from the screen's worker for its current request (here:
    // not from the worker at all) is dropped; the worker's own stale answers are covered by
    // app::worker's tests.
    let stale = CompareReply {
        index: 0,
        result: Err("stale reply".into()),
    };
    h.app.handle(AppEvent::reply(ScreenId::Compare, stale));
    let s = h.screen();
    assert!(
        !s.contains("stale reply") && s.contains("line 10 moves"),
        "{s}"
    );
}

#[test]
fn small_terminals_render_every_state_without_panics() {
    let (_d, mut h) = open(80, 24, two_files);
    h.wait_for("line 10");
    for k in [
        "s", "e", "n", "N", "f", "G", "j", "f", "tab", "G", "e", "s", "o",
    ] {
        h.key(k);
        let s = h.screen();
        assert!(s.contains("Compare"), "{k}: {s}");
        assert!(s.contains("q quit") || k == "o", "hint bar fits: {k}: {s}");
    }
    h.key("esc");
    let empty = tempfile::tempdir().unwrap();
    let mut h = Harness::new(empty.path(), 80, 24).unwrap();
    h.key("4");
    assert!(h.screen().contains("compare two files"));
    h.app.handle(AppEvent::reply(
        ScreenId::Compare,
        set_of(empty.path(), Vec::new()),
    ));
    let s = h.screen();
    assert!(s.contains("No differences"), "{s}");
}

#[test]
fn colors_mark_changes_words_and_syntax() {
    use crate::app::keymap::Keymap;
    use ratatui::style::Modifier;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with(dir.path(), 120, 30, Keymap::defaults(), "dark").unwrap();
    let old = "function total(items) {\n  return items.length;\n}\n";
    let new = "function total(items) {\n  return items.size;\n}\n";
    let set = set_of(
        dir.path(),
        vec![file_change(
            dir.path(),
            "app.js",
            ChangeKind::Modified,
            Some(old),
            Some(new),
        )],
    );
    h.app.handle(AppEvent::reply(ScreenId::Compare, set));
    let s = h.wait_for("items.size");
    let row_of = |needle: &str| s.lines().position(|l| l.contains(needle)).unwrap() as u16;
    let buf = h.terminal.backend().buffer().clone();
    let cells = |y: u16| -> Vec<ratatui::buffer::Cell> {
        (0..buf.area.width).map(|x| buf[(x, y)].clone()).collect()
    };
    // context line: several syntax colors
    let fgs: std::collections::HashSet<_> = cells(row_of("function total"))
        .into_iter()
        .map(|c| c.fg)
        .collect();
    assert!(fgs.len() >= 4, "{fgs:?}");
    // the changed word is reversed, the rest of the line is not
    let added = cells(row_of("items.size"));
    let reversed: String = added
        .iter()
        .filter(|c| c.modifier.contains(Modifier::REVERSED))
        .map(|c| c.symbol())
        .collect();
    assert_eq!(reversed, "size", "{s}");
    let removed = cells(row_of("items.length"));
    let reversed: String = removed
        .iter()
        .filter(|c| c.modifier.contains(Modifier::REVERSED))
        .map(|c| c.symbol())
        .collect();
    assert_eq!(reversed, "length", "{s}");
}

#[test]
fn syntax_colors_added_and_removed_lines_under_the_word_highlight() {
    use crate::app::keymap::Keymap;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with(dir.path(), 80, 24, Keymap::defaults(), "dark").unwrap();
    let old = "function total(items) {\n  return items.length;\n}\n";
    let new = "function total(items) {\n  return items.size;\n}\n";
    let set = set_of(
        dir.path(),
        vec![file_change(
            dir.path(),
            "app.js",
            ChangeKind::Modified,
            Some(old),
            Some(new),
        )],
    );
    h.app.handle(AppEvent::reply(ScreenId::Compare, set));
    let s = h.wait_for("items.size");
    let buf = h.terminal.backend().buffer().clone();
    for (needle, word) in [
        ("return items.size", "size"),
        ("return items.length", "length"),
    ] {
        let (y, line) = s
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle}:\n{s}"));
        let x0 = line[..line.find(needle).unwrap()].chars().count();
        let cells: Vec<_> = (x0..x0 + needle.len())
            .map(|x| buf[(x as u16, y as u16)].clone())
            .collect();
        let fgs: std::collections::HashSet<_> = cells
            .iter()
            .filter(|c| !c.modifier.contains(ratatui::style::Modifier::REVERSED))
            .map(|c| c.fg)
            .collect();
        assert!(fgs.len() >= 2, "{needle}: one color, no syntax: {fgs:?}");
        let reversed: String = cells
            .iter()
            .filter(|c| c.modifier.contains(ratatui::style::Modifier::REVERSED))
            .map(|c| c.symbol())
            .collect();
        assert_eq!(reversed, word, "the changed word stays marked:\n{s}");
    }
}

/// One file whose line 3 is long (`n` columns) with its only change at the end.
pub(super) fn long_line(root: &Path) -> Arc<ChangeSet> {
    let head = "x".repeat(110);
    let old = format!("a\nb\nlet s = \"{head}\"; // OLDWORD here\nc\n");
    let new = old.replace("OLDWORD", "NEWWORD");
    set_of(
        root,
        vec![file_change(
            root,
            "src/long.js",
            ChangeKind::Modified,
            Some(&old),
            Some(&new),
        )],
    )
}

#[test]
fn at_80x24_a_long_line_starts_at_its_change_in_both_views() {
    let (_d, mut h) = open(80, 24, long_line);
    let s = h.wait_for("NEWWORD");
    let row = |s: &str, needle: &str| -> String {
        s.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle}:\n{s}"))
            .to_string()
    };
    // unified: both lines show their change, after a `…` that marks the cut start
    for word in ["OLDWORD", "NEWWORD"] {
        let r = row(&s, word);
        assert!(
            r.contains("…x") && r.contains(&format!("{word} here")),
            "{s}"
        );
    }
    // an unchanged line that fits is not cut
    assert!(!row(&s, " a").contains('…'), "{s}");
    h.key("s");
    let s = h.screen();
    assert!(s.contains("· side by side"), "{s}");
    let r = row(&s, "OLDWORD");
    assert!(r.contains('│') && r.contains("NEWWORD"), "{s}");
    assert_eq!(r.matches('…').count(), 2, "each side marks its cut: {r}");
    // l: sideways from column 9: every long line cut at both ends, the change out of view
    h.key("tab");
    h.key("l");
    let s = h.screen();
    assert!(s.contains("from column 9"), "{s}");
    let r = row(&s, "xxxxxxxxxx");
    assert!(!r.contains("NEWWORD"), "{s}");
    assert_eq!(r.matches('…').count(), 4, "{r}");
    // h back to the start: the change shows again
    h.key("h");
    let s = h.screen();
    assert!(s.contains("starts at its first change"), "{s}");
    assert!(row(&s, "OLDWORD").contains("NEWWORD"), "{s}");
}

#[test]
fn w_wraps_long_lines_with_a_continuation_mark() {
    let (_d, mut h) = open(80, 24, long_line);
    h.wait_for("NEWWORD");
    h.key("tab");
    h.key("w");
    let s = h.screen();
    assert!(s.contains("long lines wrap"), "{s}");
    // The removed line's pieces, joined, are the whole line; each further piece is marked.
    let start = s
        .lines()
        .position(|l| l.contains("- let s = "))
        .unwrap_or_else(|| panic!("{s}"));
    let mut text = String::new();
    for (i, l) in s.lines().skip(start).enumerate() {
        let (mark, rest) = if i == 0 {
            ("-", l.split_once("- ").unwrap().1)
        } else {
            match l.split_once("↪ ") {
                Some((_, r)) => ("↪", r),
                None => break,
            }
        };
        assert!(!mark.is_empty());
        text.push_str(rest.trim_end_matches([' ', '│']));
    }
    let want = format!("let s = \"{}\"; // OLDWORD here", "x".repeat(110));
    assert_eq!(text, want, "{s}");
    assert!(!s.contains('…'), "nothing is cut when wrapping:\n{s}");
}

#[test]
fn the_pane_with_the_keys_is_marked_has_the_cursor_and_its_hints() {
    let (_d, mut h) = open(80, 24, two_files);
    let s = h.wait_for("line 10 moves");
    let lines: Vec<&str> = s.lines().collect();
    let marked = |s: &str| -> Vec<usize> {
        s.lines()
            .enumerate()
            .filter(|(_, l)| l.contains('▶'))
            .map(|(i, _)| i)
            .collect()
    };
    let hints = |s: &str| s.lines().rev().nth(1).unwrap().to_string();
    let files = lines.iter().position(|l| l.contains("Files · 2")).unwrap();
    let diff = lines
        .iter()
        .position(|l| l.contains("src/app.js ·"))
        .unwrap();
    // The file list has the keys: its title is marked, the cursor is on its selected row.
    assert_eq!(marked(&s), [files], "{s}");
    assert!(lines[files].contains("▶ Files · 2"), "{s}");
    let backend = h.terminal.backend();
    assert!(backend.cursor_visible(), "the cursor shows");
    assert_eq!(backend.cursor_position().y as usize, files + 1, "{s}");
    assert!(hints(&s).contains("tab diff"), "{s}");
    assert!(!hints(&s).contains("next change"), "{s}");
    // Tab: the diff has them.
    h.key("tab");
    let s = h.screen();
    assert_eq!(marked(&s), [diff], "{s}");
    let y = h.terminal.backend().cursor_position().y as usize;
    assert!(y > diff, "the cursor is in the diff pane: {y}\n{s}");
    assert!(
        hints(&s).contains("n next change") && hints(&s).contains("tab files"),
        "{s}"
    );
}
