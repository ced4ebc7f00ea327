//! End to end at 80x24: the real binary inside tmux. On the Replace screen (6), `t` opens
//! the Tasks tab; `lines` runs as a job and its table shows; the count read off the pane
//! is checked against `wc -l`; `e` `c` exports the table as CSV.
//!
//! Needs tmux (`apt-get install tmux`); `scripts/test` installs it.

mod support;
use support::tmux::{Tmux, command_line, quit_and_check_restored};

use std::path::Path;
use std::process::Command;

/// The total of `wc -l` over `files` (the oracle).
fn wc_total(root: &Path, files: &[&str]) -> u64 {
    let out = Command::new("wc")
        .arg("-l")
        .args(files)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "wc -l (coreutils)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = text.lines().last().unwrap();
    last.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn tasks_tab_runs_lines_and_exports_at_80x24() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    let files = [
        ("index.php", "<?php\n$a = 1;\necho $a;\n".to_string()),
        (
            "lib/util.js",
            "function f() {\n  return 2;\n}\n".to_string(),
        ),
        ("docs/long.txt", "line\n".repeat(1234)),
    ];
    for (rel, text) in &files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_devsky"))
        .arg("init")
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let total = wc_total(&root, &names);

    let config = root.join(".devsky/test-config");
    let t = Tmux::start(80, 24, &command_line(&root, &config));
    t.wait_text("records");
    t.send(&["6"]);
    t.wait_text("Type what to find");
    t.send(&["t"]);
    t.wait_text("Tasks · enter runs");
    t.send(&["j", "j", "Enter"]);
    let s = t.wait_text("Result · lines · 3 row(s)");
    // the count, read off the pane: the summary line says the total
    let summary = s
        .lines()
        .find(|l| l.contains("line(s) in 3 file(s)"))
        .unwrap_or_else(|| panic!("{s}"));
    let shown: u64 = summary
        .split("line(s) in")
        .next()
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|w| !w.is_empty())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(shown, total, "{s}");
    let long = s
        .lines()
        .find(|l| l.contains("docs/long.txt"))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(long.contains("1234"), "{long}");

    t.send(&["e"]);
    t.wait_text("Export the 3 row(s) of lines");
    t.send(&["c"]);
    t.wait_text("exported 3 row(s) to .devsky/exports/task-lines-");
    let csv: Vec<_> = std::fs::read_dir(root.join(".devsky/exports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(csv.len(), 1);
    let body = std::fs::read_to_string(&csv[0]).unwrap();
    assert!(body.contains("docs/long.txt,1234\r\n"), "{body}");
    quit_and_check_restored(&t);
}
