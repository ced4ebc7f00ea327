//! Benchmark: full-text search over a codebase of 100,000 records, through the same
//! engine call the TUI and `devsky codebase search` use (1,000 hits, ranked, snippets).
//! Target: median under 20 ms. For scale, the same words are also searched with
//! `grep -rli` over the project's files (ratio printed).
//!
//!     cargo bench --bench fts_search -- PROJECT_DIR     (bench/run prepares one)

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use devsky::store::Store;
use devsky::store::codebase;

/// A mix of what people look for in a code base: identifiers, words, and (last two) the
/// most common keywords of the corpus, the worst case for ranking.
const QUERIES: &[&str] = &[
    "AccountPost16",
    "findOrFail",
    "post16_index",
    "paginate",
    "invoice",
    "payment",
    "flash success",
    "render view",
    "validate",
    "function",
];
const RUNS: usize = 30;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .expect("usage: fts_search PROJECT_DIR");
    let store = Store::open_project(Path::new(&dir), false)?;
    let n = codebase::count(store.conn())?;
    println!("fts_search: {n} records in {dir}");
    let mut all = Vec::new();
    for q in QUERIES {
        for _ in 0..3 {
            codebase::search(store.conn(), q, 1000)?;
        }
        let mut times = Vec::with_capacity(RUNS);
        let mut total = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            let r = codebase::search(store.conn(), q, 1000)?;
            times.push(t.elapsed());
            total = r.total;
        }
        println!(
            "  {q:<20} {total:>6} matches   median {:>6.2} ms   p95 {:>6.2} ms",
            ms(median(times.clone())),
            ms(pct(times.clone(), 0.95))
        );
        all.extend(times);
    }
    let med = median(all.clone());
    println!(
        "fts_search: all queries median {:.2} ms, p95 {:.2} ms (target: median < 20 ms)",
        ms(med),
        ms(pct(all, 0.95))
    );

    // The standard tool on the same data: grep over the files, one word.
    let mut grep = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let out = Command::new("grep")
            .args([
                "-rli",
                "--exclude-dir=.devsky",
                "--exclude-dir=vendor",
                "invoice",
                &dir,
            ])
            .output()?;
        grep.push(t.elapsed());
        assert!(out.status.success());
    }
    let g = median(grep);
    let t = Instant::now();
    for _ in 0..5 {
        codebase::search(store.conn(), "invoice", 1000)?;
    }
    let ours = t.elapsed() / 5;
    println!(
        "fts_search: 'invoice' devsky {:.2} ms vs grep -rli {:.1} ms: ratio {:.4}",
        ms(ours),
        ms(g),
        ours.as_secs_f64() / g.as_secs_f64()
    );
    Ok(())
}
