//! TestBackend tests of the Tasks tab at 80x24: a task runs as a job, its table shows
//! (line counts checked against `wc -l`), the table exports as CSV and JSON to new files;
//! a second run while one is running is refused; nothing to export says so.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::engine::project::Project;
use crate::shell::harness::Harness;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// `wc -l` of a file: the oracle of the line counts.
fn wc_l(path: &Path) -> u64 {
    let out = Command::new("wc").arg("-l").arg(path).output().unwrap();
    assert!(out.status.success(), "wc -l: install coreutils");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn status(h: &Harness) -> String {
    h.app.status_text().unwrap_or_default().to_string()
}

fn wait_status(h: &mut Harness, needle: &str) {
    let start = Instant::now();
    while !status(h).contains(needle) {
        if start.elapsed() > Duration::from_secs(30) {
            panic!(
                "no {needle:?} in the status {:?}:\n{}",
                status(h),
                h.screen()
            );
        }
        h.wait_event(Duration::from_millis(20));
    }
}

#[test]
fn lines_runs_as_a_job_shows_its_table_and_exports_at_80x24() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "index.php", "<?php\necho 1;\n");
    write(r, "docs/five.txt", "a\nb\nc\nd\ne\n");
    write(r, "css/site.css", "body { color: red }");
    Project::locate(r).unwrap().open_store(true).unwrap();
    let mut h = Harness::new(r, 80, 24).unwrap();
    h.key("6");
    h.key("t");
    let s = h.screen();
    assert!(
        s.contains("Tasks · enter runs") && s.contains("checksums"),
        "{s}"
    );
    assert!(s.contains("enter run") && s.contains("t replace"), "{s}");
    h.key("e");
    assert!(status(&h).contains("no result to export"), "{}", status(&h));
    // lines is the third task
    h.key("j");
    h.key("j");
    h.key("enter");
    wait_status(&mut h, "lines: ");
    let total: u64 = ["index.php", "docs/five.txt", "css/site.css"]
        .iter()
        .map(|f| wc_l(&r.join(f)))
        .sum();
    assert!(
        status(&h).contains(&format!("lines: {total} line(s) in 3 file(s)")),
        "{}",
        status(&h)
    );
    let s = h.screen();
    assert!(s.contains("Result · lines · 3 row(s)"), "{s}");
    assert!(s.contains("PATH") && s.contains("LINES"), "{s}");
    let five = s
        .lines()
        .find(|l| l.contains("docs/five.txt"))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(
        five.split(|c: char| c.is_whitespace() || c == '│')
            .any(|w| w == wc_l(&r.join("docs/five.txt")).to_string()),
        "{five}"
    );

    // export as CSV, then JSON: new files under .devsky/exports
    h.key("e");
    h.wait_for("Export the 3 row(s) of lines");
    h.key("c");
    wait_status(&mut h, "exported 3 row(s) to .devsky/exports/task-lines-");
    h.key("e");
    h.key("j");
    let exports = r.join(".devsky/exports");
    let mut files: Vec<_> = std::fs::read_dir(&exports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let csv = files
        .iter()
        .find(|p| p.extension().unwrap() == "csv")
        .unwrap();
    let csv = std::fs::read_to_string(csv).unwrap();
    let mut lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.remove(0), "path,lines");
    for l in lines {
        let (path, n) = l.split_once(',').unwrap();
        assert_eq!(n.parse::<u64>().unwrap(), wc_l(&r.join(path)), "{l}");
    }
    let json = files
        .iter()
        .find(|p| p.extension().unwrap() == "json")
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(v["task"], "lines");
    assert_eq!(v["rows"].as_array().unwrap().len(), 3, "{v:#}");
    assert_eq!(
        v["rows"][0]["lines"].as_u64().unwrap(),
        wc_l(&r.join(v["rows"][0]["path"].as_str().unwrap()))
    );

    // tab: the table has the keys; j moves in it, not in the task list
    h.key("tab");
    h.key("j");
    h.key("tab");
    // checksums of the same files: the list still has lines selected, k goes up
    h.key("k");
    h.key("k");
    h.key("enter");
    h.key("enter");
    assert!(
        status(&h).contains("a task is running") || status(&h).contains("checksums: "),
        "{}",
        status(&h)
    );
    wait_status(&mut h, "checksums: 3 file(s) summed");
    assert!(
        h.screen().contains("Result · checksums · 3 row(s)"),
        "{}",
        h.screen()
    );
    // back to Replace
    h.key("t");
    assert!(h.screen().contains("Find:"), "{}", h.screen());
}
