//! Webhook deliveries in the TUI (ratatui's TestBackend, 80x24): a deploy from the Deploy
//! screen sends its events, and the Jobs screen lists every delivery with its attempts
//! (a receiver that fails first: the retry shows in the delivery's log).

mod support;
use std::time::{Duration, Instant};

use devsky::shell::harness::Harness;
use support::agent::{create_key, start_agent};
use support::deploy::{devsky, ok, put};
use support::httprec::Server;

#[test]
fn deploy_screen_deliveries_are_jobs_with_their_attempts() {
    let d = tempfile::tempdir().unwrap();
    let (root, state, proj) = (
        d.path().join("root"),
        d.path().join("state"),
        d.path().join("proj"),
    );
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&proj).unwrap();
    let key = create_key(&root, &state);
    let agent = start_agent(&root, &state, d.path().join("agent.log"), &[], &[]);
    ok(&devsky(&["init"], &proj));
    ok(&devsky(
        &[
            "server", "add", "staging", "--url", &agent.url, "--key", &key,
        ],
        &proj,
    ));
    put(&proj, "index.php", b"v1\n");
    // Fails the first delivery of deployment.succeeded once, answers the rest.
    let rx = Server::start(Box::new(|req, _| {
        let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        static FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if v["type"] == "deployment.succeeded"
            && !FAILED.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            (503, "{}".into())
        } else {
            (200, "{}".into())
        }
    }));
    ok(&devsky(
        &[
            "webhook",
            "add",
            &rx.url,
            "--secret-env",
            "TUI_HOOK_SECRET",
            "--events",
            "deployment.started,deployment.succeeded",
        ],
        &proj,
    ));
    // SAFETY: this test binary has one test; nothing reads the environment concurrently.
    unsafe {
        std::env::set_var("TUI_HOOK_SECRET", "s");
        std::env::set_var("DEVSKY_WEBHOOK_RETRY_MS", "20");
    }
    let mut h = Harness::new(&proj, 80, 24).unwrap();
    h.key("8");
    h.wait_for("staging");
    h.key("p");
    h.wait_for("deploy plan:");
    h.key("D");
    h.wait_for("Deploy to staging");
    h.key("y");
    // (The status line may show a delivery job by then: the Log pane says it.)
    h.wait_for("deployed 1 upload(s)");
    let t0 = Instant::now();
    while rx.requests().len() < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{:?}",
            rx.requests()
        );
        h.pump();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.key("9");
    let s = h.wait_for("webhook succeeded");
    assert!(s.contains("webhook started"), "{s}");
    // The delivery's log: the failed attempt, then the one that got through.
    let mut found = false;
    for _ in 0..12 {
        let s = h.screen();
        if s.contains("deployment.succeeded to http://127.0.0.1:")
            && s.contains("attempt 1: answered 503")
            && s.contains("attempt 2: delivered (200)")
        {
            found = true;
            break;
        }
        h.key("j");
        h.pump();
    }
    assert!(found, "{}", h.screen());
}
