//! End to end: the real binary inside tmux, at 80x24 and 200x50. Switches tools, opens
//! help, searches the codebase, quits, and checks that the terminal was given back
//! (alternate screen left, cursor shown, exit status 0).
//!
//! Needs tmux (`apt-get install tmux`); `scripts/test` installs it.

mod support;
use support::tmux::{Tmux, command_line, quit_and_check_restored};

use std::path::PathBuf;
use std::process::Command;

fn demo_project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shop");
    let out = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["demo", "--no-open", "--files", "400", "--dir"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, root)
}

fn session(width: u16, height: u16) {
    let (_keep, root) = demo_project();
    let config = root.join(".devsky/test-config");
    let t = Tmux::start(width, height, &command_line(&root, &config));
    let s = t.wait_text("records");
    assert!(s.contains("1 Codebase") && s.contains("q quit"), "{s}");
    assert_eq!(
        t.pane("#{alternate_on}"),
        "1",
        "the TUI uses the alternate screen"
    );

    t.send(&["2"]);
    t.wait_text("No snapshots yet");
    t.send(&["?"]);
    t.wait_text("Help · Snapshots");
    t.send(&["Escape"]);
    t.wait_for("help to close", |s| !s.contains("Help ·"));

    t.send(&["C-p"]);
    t.wait_text("Commands");
    t.type_text("go to jobs");
    t.send(&["Enter"]);
    t.wait_text("No jobs yet");

    t.send(&["1", "/"]);
    t.type_text("invoice");
    let s = t.wait_text("\"invoice\" ·");
    assert!(s.contains("matches") && s.contains("Invoice"), "{s}");
    t.send(&["Enter", "j"]);
    t.wait_text("#5");

    quit_and_check_restored(&t);
}

#[test]
fn tui_in_tmux_at_80x24() {
    session(80, 24);
}

#[test]
fn tui_in_tmux_at_200x50() {
    session(200, 50);
}

#[test]
fn tui_in_tmux_narrow_terminal_gets_a_message_and_quits_clean() {
    let (_keep, root) = demo_project();
    let config = root.join(".devsky/test-config");
    let t = Tmux::start(60, 20, &command_line(&root, &config));
    t.wait_text("at least 80×20");
    quit_and_check_restored(&t);
}

#[test]
fn a_panic_gives_the_terminal_back() {
    support::need_test_hooks();
    let (_keep, root) = demo_project();
    let config = root.join(".devsky/test-config");
    let cmd = command_line(&root, &config).replacen("sh -c \"", "sh -c \"DEVSKY_TEST_PANIC=1 ", 1);
    let t = Tmux::start(80, 24, &cmd);
    let s = t.wait_text("devsky-exit=");
    assert!(s.contains("devsky-exit=101"), "a panic exits with 101: {s}");
    assert!(
        s.contains("panicking after the first frame"),
        "the panic message is readable: {s}"
    );
    assert!(!s.contains("q quit"), "{s}");
    assert_eq!(t.pane("#{alternate_on}"), "0", "alternate screen left");
    assert_eq!(t.pane("#{cursor_flag}"), "1", "cursor shown again");
}

#[test]
fn snapshot_edit_and_see_the_change_in_compare() {
    let (_keep, root) = demo_project();
    let config = root.join(".devsky/test-config");
    let t = Tmux::start(100, 30, &command_line(&root, &config));
    t.wait_text("records");
    t.send(&["2"]);
    t.wait_text("No snapshots yet");
    t.send(&["c"]);
    t.wait_text("(whole project)");
    t.type_text("before edit");
    t.send(&["Enter"]);
    t.wait_text("before edit");
    t.wait_for("the snapshot job to finish", |s| {
        !s.contains("taking a snapshot")
    });

    let index = root.join("public/index.php");
    let mut body = std::fs::read_to_string(&index).unwrap();
    body.push_str("// edited by the e2e test\n");
    std::fs::write(&index, body).unwrap();

    t.send(&["Enter"]);
    let s = t.wait_text("edited by the e2e test");
    assert!(s.contains("public/index.php"), "{s}");
    assert!(s.contains("M "), "status letter: {s}");
    t.send(&["s"]);
    t.wait_text("edited by the e2e test");
    quit_and_check_restored(&t);
}

use support::mariadb;

#[test]
fn query_runs_cancels_a_slow_query_and_shows_a_grid() {
    let server = mariadb::MariaDb::start();
    server.sql("CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20), note VARCHAR(20));
                INSERT INTO shop.items VALUES (1, 'lamp', NULL), (2, 'desk', '');");
    let (_keep, root) = demo_project();
    let add = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["db", "add", "shop", "--url", &server.url("shop"), "-C"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let config = root.join(".devsky/test-config");
    let t = Tmux::start(100, 30, &command_line(&root, &config));
    t.wait_text("records");
    t.send(&["5"]);
    t.wait_text("shop");
    t.send(&["Enter"]);
    t.wait_text("connected: mysql");

    // the editor has the keyboard after connecting
    t.type_text("SELECT SLEEP(10)");
    t.send(&["C-r"]);
    t.wait_text("cancels");
    t.send(&["Escape"]);
    let s = t.wait_text("cancelled after");
    assert!(
        !s.contains("10.0 s"),
        "cancelled well before the sleep ended: {s}"
    );

    t.send(&["C-a"]);
    t.send(&["C-k"]);
    t.type_text("SELECT id, name, note FROM items ORDER BY id");
    t.send(&["C-r"]);
    let s = t.wait_text("lamp");
    assert!(
        s.contains("desk") && s.contains("NULL"),
        "grid with NULL shown: {s}"
    );
    assert!(
        s.contains("name") && s.contains("note"),
        "column headers: {s}"
    );
    t.send(&["Escape"]);
    quit_and_check_restored(&t);
}

#[test]
fn side_by_side_at_80x24_shows_a_change_at_the_end_of_a_long_line() {
    let (_keep, root) = demo_project();
    let long = format!("$message = \"{}\";", "lorem ipsum ".repeat(10));
    let write = |name: &str, word: &str| {
        let body = format!("<?php\n$a = 1;\n{long} // total {word}\n$b = 2;\n");
        std::fs::write(root.join(name), body).unwrap();
    };
    write("old.php", "OLDWORD");
    write("new.php", "NEWWORD");
    let config = root.join(".devsky/test-config");
    let t = Tmux::start(80, 24, &command_line(&root, &config));
    t.wait_text("records");
    t.send(&["4", "o"]);
    t.wait_text("Compare files:");
    t.type_text("old.php  new.php");
    t.send(&["Enter"]);
    t.wait_text("NEWWORD");
    t.send(&["s"]);
    let s = t.wait_text("side by side");
    let row = s
        .lines()
        .find(|l| l.contains("OLDWORD"))
        .unwrap_or_else(|| panic!("the old word is out of view:\n{s}"));
    assert!(
        row.contains("NEWWORD") && row.contains('│'),
        "both changed words on one side-by-side row:\n{s}"
    );
    assert!(row.contains('…'), "the cut start is marked:\n{s}");
    quit_and_check_restored(&t);
}

/// The mouse inside tmux: the TUI asks for mouse reports (tmux's own record of the pane
/// says so), a click (an SGR mouse report, as tmux passes one on) switches tools, and
/// `devsky settings set ui.mouse false` leaves the mouse to the terminal.
#[test]
fn the_mouse_works_in_tmux_and_a_setting_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    std::fs::create_dir_all(&root).unwrap();
    let devsky = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_devsky"))
            .args(args)
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    devsky(&["init"]);
    let config = root.join(".devsky/test-config");
    {
        let t = Tmux::start(80, 24, &command_line(&root, &config));
        let s = t.wait_text("q quit");
        assert_eq!(t.pane("#{mouse_any_flag}"), "1", "mouse reports asked for");
        let (y, line) = s
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains("9 Jobs"))
            .unwrap();
        let x = line.find("9 Jobs").unwrap() + 2;
        // SGR reports are 1-based: press, then release.
        t.tmux(&[
            "send-keys",
            "-t",
            "e2e",
            "-l",
            &format!("\x1b[<0;{};{}M", x + 1, y + 1),
        ]);
        t.tmux(&[
            "send-keys",
            "-t",
            "e2e",
            "-l",
            &format!("\x1b[<0;{};{}m", x + 1, y + 1),
        ]);
        t.wait_text("No jobs yet");
        quit_and_check_restored(&t);
        assert_eq!(
            t.pane("#{mouse_any_flag}"),
            "0",
            "mouse reports ended on exit"
        );
    }
    devsky(&["settings", "set", "ui.mouse", "false"]);
    let t = Tmux::start(80, 24, &command_line(&root, &config));
    t.wait_text("q quit");
    assert_eq!(
        t.pane("#{mouse_any_flag}"),
        "0",
        "ui.mouse=false: the terminal keeps the mouse"
    );
    quit_and_check_restored(&t);
}

/// A click inside tmux at 80x24: the SGR mouse report a terminal sends for a left click
/// (`ESC [ < 0 ; X ; Y M`, then `m` for the release; 1-based) selects the snapshot under
/// it, and one on the sidebar switches tools.
#[test]
fn a_mouse_click_in_tmux_selects_a_snapshot() {
    let (_keep, root) = demo_project();
    for name in ["older one", "newer one"] {
        let o = Command::new(env!("CARGO_BIN_EXE_devsky"))
            .args(["snapshot", "create", "--name", name, "-C"])
            .arg(&root)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let config = root.join(".devsky/test-config");
    let t = Tmux::start(80, 24, &command_line(&root, &config));
    t.wait_text("records");
    let click = |x: usize, y: usize| {
        for end in ['M', 'm'] {
            t.type_text(&format!("\x1b[<0;{};{}{end}", x + 1, y + 1));
        }
    };
    let at = |s: &str, needle: &str| -> (usize, usize) {
        s.lines()
            .enumerate()
            .find_map(|(y, l)| l.find(needle).map(|b| (l[..b].chars().count(), y)))
            .unwrap_or_else(|| panic!("{needle:?} not on the screen:\n{s}"))
    };
    // the sidebar: a click on "2 Snapshots"
    let s = t.capture();
    let (x, y) = at(&s, "2 Snapshots");
    click(x + 2, y);
    let s = t.wait_text("My Snapshots · 2");
    assert!(s.contains("Snapshot 2 "), "the newest is selected: {s}");
    let (x, y) = at(&s, "older one");
    click(x, y);
    let s = t.wait_text("Snapshot 1 ");
    assert!(s.contains("▶ My Snapshots"), "{s}");
    quit_and_check_restored(&t);
}
