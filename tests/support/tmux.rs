//! Driving the real binary inside tmux: one tmux server per test (`-L` socket named from
//! the process id and an atomic counter, since tests run in parallel), keys sent with
//! `send-keys`, the screen read with `capture-pane`, waits with a deadline that print the
//! screen when they run out; and the `devsky` command line the end-to-end tests run.
//!
//! Needs tmux (`apt-get install tmux`); `scripts/test` installs it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server with one session, `e2e`; killed when dropped.
pub struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// A detached session of `width`x`height` running `command`.
    pub fn start(width: u16, height: u16, command: &str) -> Tmux {
        let have = Command::new("tmux").arg("-V").output();
        assert!(
            have.is_ok_and(|o| o.status.success()),
            "tmux is required for the end-to-end tests: install it with `apt-get install tmux` (scripts/test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("tmux.conf");
        std::fs::write(
            &conf,
            "set -g remain-on-exit on\nset -g status off\nset -sg escape-time 0\n",
        )
        .unwrap();
        // one tmux server per test: tests run in parallel
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = format!("devsky-e2e-{}-{n}", std::process::id());
        let t = Tmux { socket, dir };
        let status = Command::new("tmux")
            .args(["-L", &t.socket, "-f"])
            .arg(&conf)
            .args([
                "new-session",
                "-d",
                "-s",
                "e2e",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                command,
            ])
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session failed");
        t
    }

    /// Run a tmux command on this server; its stdout.
    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Send keys by tmux name ("Enter", "Tab", "Escape", "C-p", "PageUp"), one at a time.
    pub fn send(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "e2e", k]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Type text literally.
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "e2e", "-l", text]);
    }

    /// The visible screen.
    pub fn capture(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "e2e"])
    }

    /// Wait up to 20 s for the screen to satisfy `pred`; panics with the screen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, Duration::from_secs(20), pred)
    }

    /// Wait up to `limit` for the screen to satisfy `pred`; panics with the screen.
    pub fn wait_for_within(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            let s = self.capture();
            if pred(&s) {
                return s;
            }
            if start.elapsed() > limit {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait up to 20 s for `needle` on the screen.
    pub fn wait_text(&self, needle: &str) -> String {
        self.wait_for(needle, |s| s.contains(needle))
    }

    /// A pane variable (`#{alternate_on}`, `#{cursor_flag}`).
    pub fn pane(&self, format: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "e2e", format])
            .trim()
            .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
        let _ = &self.dir;
    }
}

/// devsky inside a shell that reports its exit status and stays, so the terminal state
/// after devsky can be read.
pub fn command_line(root: &Path, config: &Path) -> String {
    format!(
        "sh -c \"DEVSKY_CONFIG_DIR='{}' TERM=tmux-256color '{}' '{}'; echo devsky-exit=\\$?; sleep 60\"",
        config.display(),
        env!("CARGO_BIN_EXE_devsky"),
        root.display()
    )
}

/// Quit with `q` and check the terminal was given back.
pub fn quit_and_check_restored(t: &Tmux) {
    t.send(&["q"]);
    let s = t.wait_text("devsky-exit=");
    assert!(s.contains("devsky-exit=0"), "exit status: {s}");
    assert!(
        !s.contains("q quit"),
        "the TUI must be gone from the screen: {s}"
    );
    assert_eq!(t.pane("#{alternate_on}"), "0", "alternate screen left");
    assert_eq!(t.pane("#{cursor_flag}"), "1", "cursor shown again");
}
