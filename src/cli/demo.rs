//! `devsky demo`: make a sample project with a few thousand codebase records, and open it.

use std::path::PathBuf;

use clap::Args;

use super::output::{print_json, stderr_progress};
use crate::engine::{demo, import, project::Project};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to make the project (default: a new folder in the temp directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// About how many files to write.
    #[arg(long, default_value_t = 3000)]
    pub files: usize,
    /// Make the project but don't open the TUI; print where it is.
    #[arg(long)]
    pub no_open: bool,
    /// With --no-open: print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DemoArgs, theme: Option<String>) -> anyhow::Result<i32> {
    let dir = match args.dir {
        Some(d) => d,
        None => tempfile::Builder::new()
            .prefix("devsky-demo-")
            .tempdir()?
            .keep(),
    };
    let stats = demo::write_sample_project(&dir, args.files)?;
    let mut project = Project::locate(&dir)?;
    project.root = dir.canonicalize()?;
    let mut store = project.open_store(true)?;
    let report = import::import(
        &project,
        &mut store,
        std::slice::from_ref(&project.root),
        "demo",
        &stderr_progress(),
    )?;
    drop(store);
    if args.json {
        print_json(&serde_json::json!({
            "root": project.root,
            "files": stats.files,
            "bytes": stats.bytes,
            "records": report.added,
        }))?;
    } else {
        eprintln!(
            "Sample project in {} ({} files, {} codebase records).",
            project.root.display(),
            stats.files,
            report.added
        );
    }
    if args.no_open {
        return Ok(0);
    }
    crate::app::run_tui(
        &project.root,
        crate::app::TuiOptions {
            theme,
            exit_after_first_frame: false,
        },
    )
}
