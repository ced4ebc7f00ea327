//! `devsky map [PATH]`: the file map of a tree — blake3 of every file, in b3sum's output
//! format (or `--json`), using the project's stat cache so an unchanged tree maps at
//! stat speed.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Args;

use super::output::stderr_progress;
use crate::engine::map::format::MapReader;
use crate::engine::map::scan::{ScanOptions, scan};
use crate::engine::map::{EntryJson, worktree_cache};
use crate::engine::project::Project;
use crate::engine::util::units::{human_size, thousands};

#[derive(Debug, Args)]
pub struct MapArgs {
    /// Folder to map (default: the current folder).
    pub path: Option<PathBuf>,
    /// Print entries as JSON (path, kind, size, mode, mtime_ns, blake3).
    #[arg(long)]
    pub json: bool,
    /// Hash every file even if the stat cache says it is unchanged.
    #[arg(long)]
    pub no_cache: bool,
    /// Print only the summary (on stderr), no entries.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(a: MapArgs) -> anyhow::Result<i32> {
    let path = a.path.unwrap_or_else(|| PathBuf::from("."));
    let project = Project::locate(&path)?;
    let dir = path.canonicalize()?;
    // The stat cache belongs to a project's whole tree; elsewhere map into a temp file.
    let tmp;
    let (cache, out) = if project.has_store() && dir == project.root {
        let c = worktree_cache(&project.root, None);
        (if a.no_cache { None } else { Some(c.clone()) }, c)
    } else {
        tmp = tempfile::tempdir()?;
        (None, tmp.path().join("map"))
    };
    let report = scan(
        &dir,
        cache.as_deref(),
        &out,
        &ScanOptions::default(),
        &stderr_progress(),
    )?;
    let stdout = std::io::stdout();
    let mut w = BufWriter::with_capacity(1 << 16, stdout.lock());
    if a.json && !a.quiet {
        writeln!(w, "[")?;
        for (i, e) in MapReader::open(&out)?.enumerate() {
            let e = e?;
            if i > 0 {
                writeln!(w, ",")?;
            }
            serde_json::to_writer(&mut w, &EntryJson::from(&e))?;
        }
        writeln!(w, "\n]")?;
    } else if !a.quiet {
        for e in MapReader::open(&out)? {
            let e = e?;
            let hash = if e.hash_valid() {
                e.hash_hex()
            } else {
                "-".repeat(64)
            };
            let p = e.path_lossy();
            if p.contains(['\n', '\\']) {
                // b3sum's convention for names it cannot print plainly
                writeln!(
                    w,
                    "\\{hash}  {}",
                    p.replace('\\', "\\\\").replace('\n', "\\n")
                )?;
            } else {
                writeln!(w, "{hash}  {p}")?;
            }
        }
    }
    w.flush()?;
    eprintln!(
        "{} files, {}; {} hashed, {} from the stat cache{}",
        thousands(report.files as usize),
        human_size(report.bytes as i64),
        thousands(report.hashed as usize),
        thousands(report.cached as usize),
        if report.partial {
            format!("; PARTIAL: {} problem(s)", report.problem_count)
        } else {
            String::new()
        }
    );
    for p in &report.problems {
        eprintln!("  {}: {}", p.path, p.reason);
    }
    Ok(if report.partial { 3 } else { 0 })
}
