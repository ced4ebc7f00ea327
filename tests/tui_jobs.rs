//! The Jobs screen at 80x24 on ratatui's TestBackend: a failed job's whole error in the
//! Log pane (never only in a cut-off status line, which says where the rest is), every
//! job's log, cancelling that asks first (Esc goes back, never cancels), job kinds that
//! fit their column.

use std::time::Duration;

use devsky::screens::ScreenId;
use devsky::shell::harness::Harness;

fn harness() -> (tempfile::TempDir, Harness) {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), 80, 24).unwrap();
    (dir, h)
}

/// The rows of the screen from the one holding `from` on.
fn rows_from(s: &str, from: &str) -> Vec<String> {
    let lines: Vec<&str> = s.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains(from))
        .unwrap_or_else(|| panic!("{from:?} not in\n{s}"));
    lines[i..].iter().map(|l| l.to_string()).collect()
}

#[test]
fn a_failed_job_shows_its_whole_error_in_the_log_and_the_status_says_where() {
    let (_d, mut h) = harness();
    let words: Vec<String> = (0..40).map(|i| format!("w{i:02}")).collect();
    let error = format!("conflicts on the server:\n{}", words.join(" "));
    let e = error.clone();
    h.app.jobs().spawn_blocking("deploy package", move |p| {
        p.log("mapping the project");
        p.log("3 upload(s)");
        anyhow::bail!("{e}")
    });
    let s = h.wait_for("failed");
    let status = s.lines().last().unwrap();
    assert!(
        status.contains("deploy package failed: conflicts on the server: … (see Jobs)"),
        "the first line and where the rest is:\n{s}"
    );
    assert!(!status.contains("w00"), "{status}");

    h.key("9");
    let s = h.screen();
    let log = rows_from(&s, "Log · #1 deploy package");
    let text = log.join("\n");
    assert!(
        text.contains("mapping the project") && text.contains("3 upload(s)"),
        "{s}"
    );
    assert!(text.contains("failed: conflicts on the server:"), "{s}");
    for w in &words {
        assert!(
            text.contains(w.as_str()),
            "{w} missing from the Log pane:\n{s}"
        );
    }
    // The list row shows the error's first line, marked as cut.
    assert!(
        s.contains("failed: conflicts on the server: …")
            || s.contains("conflicts on the server: …"),
        "{s}"
    );
}

#[test]
fn the_log_pane_keeps_the_newest_lines_and_the_end_in_view() {
    let (_d, mut h) = harness();
    h.app.jobs().spawn_blocking("import", |p| {
        for i in 0..60 {
            p.log(format!("line {i:02} {}", "x".repeat(70)));
        }
        Ok("60 files".into())
    });
    h.wait_for("import: 60 files");
    h.key("9");
    let s = h.screen();
    assert!(s.contains("line 59") && s.contains("done: 60 files"), "{s}");
    assert!(!s.contains("line 00"), "{s}");
}

fn spin(h: &Harness, name: &str) {
    h.app.jobs().spawn_blocking(name, |p| {
        loop {
            p.check()?;
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

#[test]
fn cancelling_asks_first_and_esc_never_cancels() {
    let (_d, mut h) = harness();
    spin(&h, "spin");
    h.wait_for("⟳ spin");
    h.key("9");
    assert!(h.screen().contains("running"));
    h.key("esc");
    assert_ne!(h.app.current_screen(), ScreenId::Jobs, "Esc goes back");
    std::thread::sleep(Duration::from_millis(50));
    h.pump();
    assert_eq!(h.app.job_table().running().count(), 1, "Esc never cancels");

    h.key("9");
    h.key("x");
    let s = h.screen();
    assert!(
        s.contains("Cancel job #1 (spin)?") && s.contains("n or Esc keep it running"),
        "{s}"
    );
    h.key("esc");
    let s = h.screen();
    assert!(!s.contains("Cancel job #1"), "{s}");
    assert_eq!(h.app.current_screen(), ScreenId::Jobs);
    std::thread::sleep(Duration::from_millis(50));
    h.pump();
    assert_eq!(h.app.job_table().running().count(), 1);

    // ctrl-x from anywhere: Jobs, the newest running job, the same question.
    spin(&h, "newer");
    h.wait_for("+1");
    h.key("1");
    h.key("ctrl-x");
    assert_eq!(h.app.current_screen(), ScreenId::Jobs);
    assert!(h.screen().contains("Cancel job #2 (newer)?"));
    h.key("n");
    assert_eq!(h.app.job_table().running().count(), 2);

    h.key("x");
    h.key("y");
    h.wait_for("newer cancelled");
    assert_eq!(h.app.job_table().running().count(), 1);
    h.key("q");
    h.key("y");
    assert!(h.app.should_quit());
}

#[test]
fn job_kinds_fit_their_column() {
    let (_d, mut h) = harness();
    for name in ["deploy package", "diff"] {
        h.app.jobs().spawn_blocking(name, |_| Ok("ok".into()));
    }
    h.wait_for("diff: ok");
    h.key("9");
    let s = h.screen();
    let col = |needle: &str| {
        let l = s
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle}:\n{s}"));
        (
            l.to_string(),
            l.find(" done ").unwrap_or_else(|| panic!("{l}")),
        )
    };
    let (a, ca) = col("#1");
    let (b, cb) = col("#2");
    assert!(a.contains("deploy package done"), "the whole kind:\n{s}");
    assert_eq!(ca, cb, "the state column lines up:\n{a}\n{b}");
}

/// Where `needle` is on the screen: (column, row).
fn find(s: &str, needle: &str) -> (u16, u16) {
    for (y, l) in s.lines().enumerate() {
        if let Some(i) = l.find(needle) {
            return (l[..i].chars().count() as u16, y as u16);
        }
    }
    panic!("{needle:?} not on\n{s}");
}

#[test]
fn the_mouse_selects_jobs_scrolls_and_switches_tools() {
    use crossterm::event::MouseEventKind;
    let (_d, mut h) = harness();
    for name in ["alpha", "beta", "gamma"] {
        h.app.jobs().spawn_blocking(name, |_| Ok("ok".into()));
    }
    // The three end in any order (two cores): wait until the table has them all, ended.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while h.app.job_table().jobs.len() < 3 || h.app.job_table().running().count() > 0 {
        assert!(std::time::Instant::now() < deadline, "the jobs did not end");
        h.wait_event(Duration::from_millis(200));
    }
    // A click on the sidebar switches tools.
    let s = h.screen();
    let (x, y) = find(&s, "9 Jobs");
    h.click(x + 2, y);
    assert_eq!(h.app.current_screen(), ScreenId::Jobs);
    let s = h.screen();
    assert!(s.contains("Log · #1 alpha"), "{s}");
    // A click on a row selects it: the Log pane follows.
    let (x, y) = find(&s, "#3");
    h.click(x + 4, y);
    let s = h.screen();
    assert!(s.contains("Log · #3 gamma"), "{s}");
    // The wheel moves the selection up and back down (clamped to the list).
    let (x, y) = find(&s, "#2");
    h.mouse(MouseEventKind::ScrollUp, x, y);
    assert!(h.screen().contains("Log · #1 alpha"));
    h.mouse(MouseEventKind::ScrollDown, x, y);
    assert!(h.screen().contains("Log · #3 gamma"));
    // A click below the last row selects nothing new; a click on the sidebar still works.
    let s = h.screen();
    let (_, y3) = find(&s, "#3");
    h.click(x + 4, y3 + 2);
    assert!(h.screen().contains("Log · #3 gamma"));
    let (x, y) = find(&s, "4 Compare");
    h.click(x, y);
    assert_eq!(h.app.current_screen(), ScreenId::Compare);
}
