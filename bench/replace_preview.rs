//! Benchmark (issue 15): the Replace screen's preview as a user sees it. On a project (the
//! 85,000-file corpus), the screen (ratatui `TestBackend`, 120x40) searches `item user`
//! with the replacement `item member`; from the Enter key, times the first frame that
//! shows a match, the first frame that counts 10,000 or more, and the frame that says the
//! search ended ("searched in"), redrawing after every event as the event loop does.
//! Targets: first screen < 200 ms, 10,000 matches complete < 1 s. 3 rounds; the matches
//! counted are printed to compare with `rg --count-matches -F` (bench/search.py).
//!
//!     cargo bench --bench replace_preview -- PROJECT_DIR     (bench/run passes the corpus)

use std::path::Path;
use std::time::{Duration, Instant};

use devsky::app::keymap::Keymap;
use devsky::shell::harness::Harness;

const FIND: &str = "item user";
const REPLACE: &str = "item member";

/// The count of "Matches · N in M file(s)" on the screen (0 when not shown yet).
fn matches(screen: &str) -> (u64, String) {
    let Some(line) = screen.lines().find(|l| l.contains("Matches · ")) else {
        return (0, String::new());
    };
    let rest = &line[line.find("Matches · ").unwrap() + "Matches · ".len()..];
    let n: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    let shown = rest.find(')').map_or(rest, |i| &rest[..i]);
    (n.parse().unwrap_or(0), shown.trim().to_string())
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .expect("usage: replace_preview PROJECT_DIR");
    // makes the project's store when it has none
    let mut h = Harness::with(Path::new(&dir), 120, 40, Keymap::defaults(), "default")?;
    h.key("6");
    let (mut firsts, mut tens, mut ends) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=3 {
        h.key("/");
        for _ in 0..40 {
            h.key("backspace");
        }
        h.type_text(FIND);
        h.key("tab");
        for _ in 0..40 {
            h.key("backspace");
        }
        h.type_text(REPLACE);
        h.screen();
        let t0 = Instant::now();
        h.key("enter");
        let (mut first, mut ten) = (None, None);
        let end = loop {
            h.wait_event(Duration::from_millis(2));
            let s = h.screen();
            let (n, _) = matches(&s);
            if n > 0 && first.is_none() {
                first = Some(t0.elapsed());
            }
            if n >= 10_000 && ten.is_none() {
                ten = Some(t0.elapsed());
            }
            // the status keeps the last search's words until this one ends: the
            // Matches title says "searching…" while it runs
            let status = h.app.status_text().unwrap_or_default().to_string();
            if status.contains("searched in") && !s.contains("searching…") && n > 0 {
                break t0.elapsed();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(300),
                "the search did not end; status {status:?}"
            );
        };
        let s = h.screen();
        let (n, line) = matches(&s);
        let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
        println!(
            "replace preview round {round}: first match drawn {:.0} ms, 10,000 matches drawn {:.0} ms, \
             search ended {:.0} ms; {n} matches ({line}); status: {}",
            ms(first),
            ms(ten),
            ms(Some(end)),
            h.app.status_text().unwrap_or_default()
        );
        firsts.push(ms(first));
        tens.push(ms(ten));
        ends.push(ms(Some(end)));
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "replace preview (Replace screen, TestBackend 120x40), '{FIND}' over the project: first match drawn \
         median {:.0} ms (target < 200), 10,000 matches drawn {:.0} ms (target < 1,000), search ended {:.0} ms",
        med(&mut firsts),
        med(&mut tens),
        med(&mut ends)
    );
    Ok(())
}
