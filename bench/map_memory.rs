//! Benchmark: peak memory of mapping and diffing 1,000,000 entries (target: under 300 MB).
//! Makes a tree of 1,000,000 small files once (1,000 folders × 1,000 files), maps it cold,
//! changes 1% of the files, maps it again with the stat cache, and diffs the two maps —
//! all through the engine, streamed — then reports the process's peak resident memory.
//!
//!     cargo bench --bench map_memory -- DIR     (bench/run-maps uses target/bench-data/million)

use std::path::Path;
use std::time::Instant;

use devsky::engine::jobs::Progress;
use devsky::engine::map::diff::diff;
use devsky::engine::map::format::MapReader;
use devsky::engine::map::scan::{ScanOptions, scan};

const DIRS: usize = 1000;
const PER_DIR: usize = 1000;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .expect("usage: map_memory DIR");
    let root = Path::new(&dir).join("tree");
    let ready = Path::new(&dir).join("ready");
    if !ready.exists() {
        let t = Instant::now();
        let _ = std::fs::remove_dir_all(&root);
        for d in 0..DIRS {
            let sub = root.join(format!("d{d:04}"));
            std::fs::create_dir_all(&sub)?;
            for f in 0..PER_DIR {
                std::fs::write(sub.join(format!("file{f:04}.txt")), format!("{d}/{f}\n"))?;
            }
        }
        std::fs::write(&ready, "")?;
        println!(
            "map_memory: made {} files in {:.1} s",
            DIRS * PER_DIR,
            t.elapsed().as_secs_f64()
        );
    }
    let maps = Path::new(&dir).join("maps");
    std::fs::create_dir_all(&maps)?;
    let (a, b) = (maps.join("a.map"), maps.join("b.map"));
    let _ = std::fs::remove_file(&a);
    let before = peak_rss_mb();

    let t = Instant::now();
    let r1 = scan(
        &root,
        None,
        &a,
        &ScanOptions::default(),
        &Progress::silent(),
    )?;
    let cold = t.elapsed();
    // change 1% of the files
    for d in (0..DIRS).step_by(10) {
        for f in (0..PER_DIR).step_by(10) {
            std::fs::write(
                root.join(format!("d{d:04}/file{f:04}.txt")),
                format!("{d}/{f} changed\n"),
            )?;
        }
    }
    let t = Instant::now();
    let r2 = scan(
        &root,
        Some(&a),
        &b,
        &ScanOptions::default(),
        &Progress::silent(),
    )?;
    let warm = t.elapsed();
    let t = Instant::now();
    let changes = diff(MapReader::open(&a)?, MapReader::open(&b)?)
        .try_fold(0usize, |n, d| d.map(|_| n + 1))?;
    let diffed = t.elapsed();
    // put the files back for the next run
    for d in (0..DIRS).step_by(10) {
        for f in (0..PER_DIR).step_by(10) {
            std::fs::write(
                root.join(format!("d{d:04}/file{f:04}.txt")),
                format!("{d}/{f}\n"),
            )?;
        }
    }
    println!(
        "map_memory: {} entries; cold map {:.2} s, map with cache {:.2} s ({} re-hashed), diff {:.2} s ({} changes)",
        r1.files,
        cold.as_secs_f64(),
        warm.as_secs_f64(),
        r2.hashed,
        diffed.as_secs_f64(),
        changes
    );
    println!(
        "map_memory: peak resident memory {:.0} MB (at start {before:.0} MB) (target: < 300 MB)",
        peak_rss_mb()
    );
    assert_eq!(changes, DIRS * PER_DIR / 100);
    Ok(())
}
