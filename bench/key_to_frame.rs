//! Benchmark: key-to-frame latency of the TUI while CPU-heavy jobs keep both cores busy.
//! Feeds keys to the shell (browse, page, search as you type, jump, help, switch tools)
//! on a 100,000-record codebase and times each key from handling to the finished frame
//! (ratatui `TestBackend`, so terminal output time is not included). Target: p99 < 16 ms.
//!
//!     cargo bench --bench key_to_frame -- PROJECT_DIR     (bench/run prepares one)

use std::path::Path;
use std::time::{Duration, Instant};

use devsky::app::keymap::Keymap;
use devsky::shell::harness::Harness;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .expect("usage: key_to_frame PROJECT_DIR");
    let mut h = Harness::with(Path::new(&dir), 120, 40, Keymap::defaults(), "default")?;
    h.wait_for("records");
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    for _ in 0..cores {
        h.app.jobs().spawn_blocking("hash", |p| {
            let buf = vec![7u8; 16 << 20];
            let mut n = 0;
            loop {
                p.check()?;
                std::hint::black_box(blake3::hash(&buf));
                n += 1;
                p.set(n, None, "hashing");
            }
        });
    }
    let mut keys: Vec<&str> = Vec::new();
    for _ in 0..6 {
        keys.extend(["j"; 25]);
        keys.extend(["pagedown"; 8]);
        keys.extend(["k"; 10]);
        keys.extend(["G", "pageup", "pageup", "g"]);
        keys.extend([
            "/",
            "i",
            "n",
            "v",
            "o",
            "i",
            "c",
            "e",
            "down",
            "down",
            "backspace",
            "backspace",
            "esc",
        ]);
        keys.extend(["#", "5", "0", "0", "1", "0", "enter"]);
        keys.extend(["tab", "j", "j", "ctrl-d", "tab"]);
        keys.extend(["?", "j", "esc", "2", "9", "1", "enter", "esc"]);
    }
    let mut times = Vec::with_capacity(keys.len());
    for k in &keys {
        let t = Instant::now();
        h.key(k);
        h.pump();
        h.draw();
        times.push(t.elapsed());
        // Let workers answer, and draw their results, as the event loop would.
        std::thread::sleep(Duration::from_millis(4));
        if h.pump() {
            h.draw();
        }
    }
    for j in h
        .app
        .job_table()
        .running()
        .map(|j| j.id)
        .collect::<Vec<_>>()
    {
        h.app.jobs().cancel(j);
    }
    times.sort();
    let p = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "key_to_frame: {} keys with {cores} CPU-heavy jobs: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target: p99 < 16 ms)",
        times.len(),
        ms(p(0.5)),
        ms(p(0.99)),
        ms(*times.last().unwrap())
    );
    Ok(())
}
