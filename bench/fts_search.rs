//! Benchmark: full-text search over a codebase of 100,000 records, through the same
//! engine call the TUI and `devsky codebase search` use (1,000 hits, ranked, snippets).
//! Target: median under 20 ms. For scale, one word is also searched with ripgrep over the
//! project's files, with a pattern that finds the same records (counts compared, ratio
//! printed).
//!
//!     cargo bench --bench fts_search -- PROJECT_DIR     (bench/run prepares one)

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use devsky::store::Store;
use devsky::store::codebase;

/// A token that starts with "invoice", whatever the case, in ripgrep's regex syntax.
const RG_WORD: &str = r"(?i)(^|[^\p{L}\p{N}])invoice";

/// ripgrep over the project as `devsky codebase import` walks it; its stdout.
fn rg(dir: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut c = Command::new("rg");
    c.args([
        "--hidden",
        "--no-require-git",
        "--glob",
        "!.git",
        "--glob",
        "!.devsky",
    ]);
    let ignore = Path::new(dir).join(".devskyignore");
    if ignore.exists() {
        c.arg("--ignore-file").arg(ignore);
    }
    // Run inside the project so that paths come out relative, as record names are.
    let out = c.args(args).current_dir(dir).output()?;
    anyhow::ensure!(
        out.status.success(),
        "rg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// Whether `text` has a token (letters and digits) starting with `word`, ignoring case.
fn starts_a_token(text: &str, word: &str) -> bool {
    let t = text.to_lowercase();
    t.match_indices(word).any(|(i, _)| {
        t[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

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

    // The standard tool on the same data: ripgrep over the same files (hidden ones too,
    // .gitignore and .devskyignore honoured, .git and .devsky left out, as import does),
    // with a pattern that finds what FTS5's prefix query `invoice*` finds: a token that
    // starts with "invoice" (unicode61 splits on anything not a letter or digit), in the
    // content or in the path (the record's name). The counts must agree.
    let mut rg_times = Vec::new();
    let mut files = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let t = Instant::now();
        let out = rg(&dir, &["-l", "-e", RG_WORD])?;
        rg_times.push(t.elapsed());
        files = out.lines().map(str::to_owned).collect();
    }
    let listed = rg(&dir, &["--files"])?;
    let by_path = listed.lines().filter(|p| starts_a_token(p, "invoice"));
    files.extend(by_path.map(str::to_owned));
    let g = median(rg_times);
    let t = Instant::now();
    let mut total = 0;
    for _ in 0..5 {
        total = codebase::search(store.conn(), "invoice", 1000)?.total;
    }
    let ours = t.elapsed() / 5;
    println!(
        "fts_search: 'invoice' devsky {:.2} ms ({total} records) vs rg -l {:.1} ms ({} files): \
         ratio {:.4}; counts {}",
        ms(ours),
        ms(g),
        files.len(),
        ours.as_secs_f64() / g.as_secs_f64(),
        if total == files.len() {
            "the same"
        } else {
            "DIFFER"
        }
    );
    Ok(())
}
