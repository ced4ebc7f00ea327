//! TestBackend tests at 80x24 of the mouse on the Deploy screen, against a real agent: a
//! click on a server, a file of the plan, a log line or a deployment of the History tab
//! selects it and gives its pane the keys (`▶`, the hints); the wheel scrolls the log.

use crossterm::event::MouseEventKind;

use super::tests::{fixture, open};

fn marked(s: &str) -> String {
    let m: Vec<&str> = s.lines().filter(|l| l.contains('▶')).collect();
    assert_eq!(m.len(), 1, "one pane has the keys:\n{s}");
    m[0].to_string()
}

fn hints(s: &str) -> String {
    s.lines().rev().nth(1).unwrap().to_string()
}

#[test]
fn clicks_select_rows_and_focus_their_pane() {
    let f = fixture("staging");
    let mut h = open(f.project.path(), 80, 24);
    h.wait_for("staging");
    h.key("p");
    h.wait_for("deploy plan: 3 to upload");
    h.wait_for("extra.css");
    // the server list
    let (x, y) = h.locate("staging · staging");
    h.click(x, y);
    let s = h.screen();
    assert!(marked(&s).contains("▶ Deploy · servers"), "{s}");
    assert!(hints(&s).contains("p plan"), "{s}");
    // a file of the plan: selected, the tabs have the keys (space ticks that file)
    let (x, y) = h.locate("extra.css");
    h.click(x, y);
    let s = h.screen();
    assert!(marked(&s).contains("Files"), "{s}");
    assert!(hints(&s).contains("space tick"), "{s}");
    assert_eq!(h.terminal.backend().cursor_position().y, y, "{s}");
    h.key("space");
    assert!(h.screen().contains("[ ] A extra.css"), "{}", h.screen());
    h.key("space");
    // deploy, then the log pane
    h.key("D");
    h.wait_for("Deploy to staging");
    h.key("y");
    h.wait_for("deploy: deployment 1 done");
    let (x, y) = h.locate("verified: the root's map");
    h.click(x, y);
    let s = h.screen();
    assert!(marked(&s).contains("Log · deployment 1"), "{s}");
    assert!(hints(&s).contains("servers"), "{s}");
    h.mouse(MouseEventKind::ScrollUp, x, y);
    assert!(h.screen().contains("newer below"), "{}", h.screen());
    h.mouse(MouseEventKind::ScrollDown, x, y);
    assert!(!h.screen().contains("newer below"), "{}", h.screen());
    // History: a click on the deployment selects it, the tabs have the keys
    h.key("t");
    h.key("t");
    h.wait_for("   1  deploy   done");
    let (x, y) = h.locate("Log · deployment 1");
    h.click(x, y + 1);
    assert!(marked(&h.screen()).contains("Log"), "{}", h.screen());
    let (x, y) = h.locate("   1  deploy   done");
    h.click(x + 3, y);
    let s = h.screen();
    assert!(marked(&s).contains("History"), "{s}");
    assert!(hints(&s).contains("roll back"), "{s}");
}
