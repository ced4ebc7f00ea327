//! TestBackend tests of the TUI shell: every tool reachable by key and by the palette,
//! live help (fitting the terminal), rebinding, back, quit (with the confirmation while
//! jobs run), small terminals.

use std::time::Duration;

use devsky::app::keymap::Keymap;
use devsky::screens::ScreenId;
use devsky::shell::harness::Harness;

fn harness(w: u16, h: u16) -> (tempfile::TempDir, Harness) {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), w, h).unwrap();
    (dir, h)
}

#[test]
fn every_tool_is_reachable_by_its_number_and_never_blank() {
    let (_d, mut h) = harness(80, 24);
    for (i, id) in ScreenId::ALL.iter().enumerate() {
        h.key(&(i + 1).to_string());
        assert_eq!(h.app.current_screen(), *id);
        let s = h.screen();
        assert!(s.contains(id.title()), "{id:?}:\n{s}");
        match id {
            ScreenId::Codebase => assert!(s.contains("The codebase is empty"), "{s}"),
            ScreenId::Jobs => assert!(s.contains("No jobs yet"), "{s}"),
            ScreenId::Snapshots => assert!(s.contains("No snapshots yet"), "{s}"),
            ScreenId::Compare => assert!(s.contains("Compare shows what changed"), "{s}"),
            ScreenId::Query => assert!(s.contains("No database connections yet"), "{s}"),
            ScreenId::Deploy => assert!(s.contains("No servers yet"), "{s}"),
            ScreenId::Replace => assert!(s.contains("Type what to find"), "{s}"),
            ScreenId::Scripts => assert!(
                s.contains("Scripts · 0") && s.contains("My Builds · 0"),
                "{s}"
            ),
            ScreenId::Packages => assert!(
                s.contains("Registry · 0 packages") && s.contains("Nothing synced yet"),
                "{s}"
            ),
        }
    }
    h.key("]");
    assert_eq!(h.app.current_screen(), ScreenId::Codebase);
    h.key("[");
    assert_eq!(h.app.current_screen(), ScreenId::Jobs);
}

#[test]
fn every_tool_is_reachable_from_the_command_palette() {
    let (_d, mut h) = harness(80, 24);
    for id in ScreenId::ALL.iter().rev() {
        h.key("ctrl-p");
        assert!(h.screen().contains("Commands"));
        h.type_text(&format!("go to {}", id.title()));
        h.key("enter");
        assert_eq!(h.app.current_screen(), *id);
        assert!(!h.screen().contains("> go to"));
    }
    h.key(":");
    h.type_text("search the codebase");
    h.key("enter");
    assert_eq!(h.app.current_screen(), ScreenId::Codebase);
    h.type_text("zz");
    assert!(h.screen().contains("/ zz"));
}

#[test]
fn help_shows_the_live_keys_and_follows_rebinding() {
    let (_d, mut h) = harness(80, 24);
    h.key("?");
    let s = h.screen();
    assert!(s.contains("Help · Codebase"), "{s}");
    assert!(
        s.contains("Search the codebase") && s.contains("Jump to record id"),
        "{s}"
    );
    h.key("esc");
    assert!(!h.screen().contains("Help ·"));

    let dir = tempfile::tempdir().unwrap();
    let mut km = Keymap::defaults();
    km.apply_overrides("[keys]\n\"app.help\" = [\"h\"]\n\"codebase.search\" = [\"s\"]\n")
        .unwrap();
    let mut h = Harness::with(dir.path(), 80, 24, km, "default").unwrap();
    let s = h.screen();
    assert!(s.contains("s search") && s.contains("h help"), "{s}");
    h.key("?");
    assert!(!h.screen().contains("Help ·"), "? is no longer bound");
    h.key("h");
    let s = h.screen();
    assert!(s.contains("Help · Codebase"), "{s}");
    assert!(
        s.lines()
            .any(|l| l.contains(" s ") && l.contains("Search the codebase")),
        "{s}"
    );
    h.key("esc");
    h.key("9");
    h.key("h");
    let s = h.screen();
    assert!(
        s.contains("Help · Jobs") && s.contains("Cancel the selected job"),
        "{s}"
    );
}

#[test]
fn escape_goes_back_to_the_previous_tool() {
    let (_d, mut h) = harness(80, 24);
    h.key("3");
    h.key("5");
    h.key("esc");
    assert_eq!(h.app.current_screen(), ScreenId::Scripts);
    h.key("esc");
    assert_eq!(h.app.current_screen(), ScreenId::Codebase);
}

#[test]
fn quit_asks_while_a_job_runs_and_jobs_can_be_cancelled() {
    let (_d, mut h) = harness(100, 30);
    h.app.jobs().spawn_blocking("spin", |p| {
        loop {
            p.check()?;
            p.set(1, Some(4), "spinning");
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let s = h.wait_for("⟳ spin 25%");
    assert!(s.contains("ctrl-x cancel"), "{s}");
    h.key("q");
    assert!(!h.app.should_quit());
    let s = h.screen();
    assert!(s.contains("1 job(s) still running"), "{s}");
    h.key("n");
    assert!(!h.screen().contains("still running"));
    h.key("9");
    let s = h.screen();
    assert!(s.contains("spin") && s.contains("running"), "{s}");
    h.key("x"); // on Jobs, x cancels the selected running job, once confirmed
    h.key("y");
    let s = h.wait_for("cancelled");
    assert!(!s.contains("⟳"), "{s}");
    assert_eq!(h.app.current_screen(), ScreenId::Jobs);
    h.key("q");
    assert!(h.app.should_quit());
}

#[test]
fn ctrl_x_cancels_the_newest_job_from_anywhere_and_quit_confirm_cancels_all() {
    let (_d, mut h) = harness(100, 30);
    for _ in 0..2 {
        h.app.jobs().spawn_blocking("loop", |p| {
            loop {
                p.check()?;
                std::thread::sleep(Duration::from_millis(5));
            }
        });
    }
    h.wait_for("⟳ loop +1");
    h.key("ctrl-x");
    h.key("y");
    h.wait_for("loop cancelled");
    assert_eq!(h.app.job_table().running().count(), 1);
    h.key("q");
    h.key("y");
    assert!(h.app.should_quit());
    while h.app.job_table().running().count() > 0 {
        assert!(h.wait_event(Duration::from_secs(10)), "job did not stop");
    }
}

#[test]
fn a_small_terminal_gets_a_message_not_a_broken_layout() {
    let (_d, mut h) = harness(60, 24);
    let s = h.screen();
    assert!(s.contains("at least 80×20") && s.contains("60×24"), "{s}");
    h.key("q");
    assert!(h.app.should_quit());
}

#[test]
fn every_theme_draws_every_screen() {
    for theme in ["default", "dark", "light", "mono"] {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::with(dir.path(), 80, 24, Keymap::defaults(), theme).unwrap();
        for i in 1..=9 {
            h.key(&i.to_string());
            assert!(h.screen().contains("q quit"), "{theme}");
        }
    }
}

/// The help box on the screen: its width and its content lines (inside the borders).
fn help_box(s: &str) -> (usize, Vec<String>) {
    let lines: Vec<Vec<char>> = s.lines().map(|l| l.chars().collect()).collect();
    let top = lines
        .iter()
        .position(|l| l.iter().collect::<String>().contains("Help ·"))
        .unwrap_or_else(|| panic!("no help box:\n{s}"));
    let left = lines[top].iter().position(|&c| c == '┌').unwrap();
    let right = left + lines[top][left..].iter().position(|&c| c == '┐').unwrap();
    let mut content = Vec::new();
    for l in &lines[top + 1..] {
        if l[left] == '└' {
            return (right - left + 1, content);
        }
        assert!(l.len() > right, "a short line in the help box:\n{s}");
        content.push(l[left + 1..right].iter().collect::<String>());
    }
    panic!("the help box has no bottom:\n{s}")
}

#[test]
fn help_fits_80x24_wraps_long_descriptions_and_stops_at_its_end() {
    use devsky::app::commands::{COMMANDS, Scope};
    let (_d, mut h) = harness(80, 24);
    for (i, id) in ScreenId::ALL.iter().enumerate() {
        h.key(&(i + 1).to_string());
        h.key("?");
        let first = h.screen();
        let (width, mut seen) = help_box(&first);
        // Page down to the end; past it nothing moves, and the box stays full.
        let mut last = first.clone();
        for _ in 0..100 {
            h.key("j");
            let s = h.screen();
            if s == last {
                break;
            }
            let (_, content) = help_box(&s);
            seen.push(content.last().unwrap().clone());
            last = s;
        }
        for _ in 0..5 {
            h.key("j");
        }
        let (_, content) = help_box(&h.screen());
        assert!(
            !content.last().unwrap().trim().is_empty(),
            "{id:?}: scrolled past the end:\n{last}"
        );
        assert_eq!(h.screen(), last, "{id:?}: j at the end moves nothing");
        // Every description is there in full, wrapped lines joined.
        let text = seen
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(!text.contains('…'), "{id:?}: a cut line:\n{first}");
        for c in COMMANDS
            .iter()
            .filter(|c| c.scope == Scope::Screen(*id) || c.scope == Scope::Global)
        {
            assert!(
                text.contains(c.title),
                "{id:?}: {:?} not all shown:\n{first}\n{last}",
                c.title
            );
        }
        if *id == ScreenId::Snapshots {
            // Its longest description needs more than 64 columns: the box takes the width.
            assert_eq!(width, 80, "{first}");
        }
        h.key("esc");
    }
}

#[test]
fn the_query_editor_is_marked_and_its_hints_say_how_to_type_and_leave() {
    let (_d, mut h) = harness(80, 24);
    h.key("5");
    h.key("i");
    let s = h.screen();
    let hints = s.lines().rev().nth(1).unwrap().to_string();
    assert!(s.contains("▶ SQL"), "{s}");
    assert!(
        hints.contains("type SQL")
            && hints.contains("esc leave the editor")
            && hints.contains("q quit"),
        "{s}"
    );
    h.key("tab");
    let s = h.screen();
    assert!(!s.contains("▶ SQL") && s.contains('▶'), "{s}");
    let hints = s.lines().rev().nth(1).unwrap().to_string();
    assert!(hints.contains("i edit SQL"), "{s}");
}
