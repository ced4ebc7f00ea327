//! `devsky demo` outlives its TUI: the agent it starts keeps running after the TUI exits,
//! `devsky demo --dir DIR` on an existing demo opens it (starting its agent again when it
//! is not running), and `devsky demo stop` stops it.

mod support;
use support::cli::{devsky, ok};

use std::path::Path;
use std::process::Command;

/// `devsky demo --dir DIR` through a pty (the TUI needs a terminal), first frame only.
fn open_demo(dir: &Path) {
    let ts = dir.with_extension("typescript");
    let cmd = format!(
        "{} demo --dir {} --exit-after-first-frame",
        env!("CARGO_BIN_EXE_devsky"),
        dir.display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd])
        .arg(&ts)
        .output()
        .expect("script(1) is needed: apt-get install bsdutils");
    let drawn = String::from_utf8_lossy(&std::fs::read(&ts).unwrap()).into_owned();
    assert!(o.status.success(), "{drawn}");
    assert!(drawn.contains("keeps running"), "{drawn}");
}

/// Whether the demo's agent answers: a plan against it from the CLI.
fn agent_answers(dir: &Path) -> bool {
    devsky(
        &[
            "deploy",
            "status",
            "staging",
            "--project",
            dir.to_str().unwrap(),
        ],
        dir,
    )
    .status
    .success()
}

/// Stops the demo's agent when the test ends, however it ends.
struct StopOnDrop(std::path::PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = devsky(
            &["demo", "stop", "--dir", self.0.to_str().unwrap()],
            &self.0,
        );
    }
}

#[test]
fn the_demo_agent_outlives_the_tui_and_stops_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let d = dir.to_str().unwrap();
    ok(
        &["demo", "--no-open", "--files", "300", "--dir", d],
        tmp.path(),
    );
    assert!(!agent_answers(&dir), "--no-open starts no agent");

    // Opening the existing demo starts its agent; it keeps running after the TUI exits.
    open_demo(&dir);
    assert!(
        agent_answers(&dir),
        "the agent should answer after the TUI exited"
    );
    // Reopening finds it running (no second agent on the same port).
    open_demo(&dir);
    assert!(agent_answers(&dir));

    let out = devsky(&["demo", "stop", "--dir", d], tmp.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Stopped the demo agent"));
    assert!(!agent_answers(&dir), "stopped");
    let out = devsky(&["demo", "stop", "--dir", d], tmp.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running"));

    // Started again on demand by the next open; stopped for good at the end.
    open_demo(&dir);
    assert!(agent_answers(&dir));
    ok(&["demo", "stop", "--dir", d], tmp.path());
    assert!(!agent_answers(&dir));
}
