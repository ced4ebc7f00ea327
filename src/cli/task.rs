//! `devsky task checksums|sizes|lines|encoding|syntax|functions`: mass tasks over a
//! domain's files (engine::tasks). Each prints a table (or `--json`), can write it as CSV
//! (`--csv FILE`), and shows a progress bar on a terminal.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::output::{print_json, stderr_progress};
use crate::engine::project::Project;
use crate::engine::replace::{self, Problem, files::encoding_for};
use crate::engine::tasks::{self, Table, checksums, encoding, functions, lines, sizes, syntax};
use crate::store::settings;

#[derive(Debug, Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    pub task: Task,
    /// Only the files of this domain (`devsky domain list`).
    #[arg(long, value_name = "D", global = true)]
    pub domain: Option<String>,
    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Also write the table as CSV to FILE.
    #[arg(long, value_name = "FILE", global = true)]
    pub csv: Option<PathBuf>,
    /// Project folder (default: the current folder).
    #[arg(
        short = 'C',
        long = "project",
        value_name = "DIR",
        default_value = ".",
        global = true
    )]
    pub project: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Task {
    /// md5, sha256 and blake3 of every file.
    Checksums,
    /// Bytes and file count per folder (totals rolled up; `.` is everything).
    Sizes,
    /// Line counts per text file and the total.
    Lines,
    /// The text encoding of every file; with --to, convert (a preview unless --apply).
    Encoding {
        /// Convert files in another encoding to this one (utf-8, windows-1251, ...).
        #[arg(long, value_name = "LABEL")]
        to: Option<String>,
        /// Make the conversion (originals go to the recycle bin). Without it: a preview.
        #[arg(long, requires = "to")]
        apply: bool,
        /// Encoding of files that are not UTF-8 when the guess would be wrong. Default:
        /// the setting `encoding.DOMAIN` (or `encoding`), as replace reads it.
        #[arg(long, value_name = "LABEL")]
        from: Option<String>,
    },
    /// Check syntax with a command per extension (php -l, node --check; the setting
    /// `task.syntax.EXT` or --cmd override), in parallel. Exits 1 when a file fails.
    Syntax {
        /// EXT=COMMAND (the file's path is added as its last argument); EXT= turns one off.
        #[arg(long, value_name = "EXT=COMMAND")]
        cmd: Vec<String>,
        /// Checkers run at once (at least 2; default: the CPUs).
        #[arg(long, short = 'j', value_name = "N")]
        jobs: Option<usize>,
        /// Seconds a checker may take on one file before it is killed (a failure).
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        timeout: u64,
    },
    /// Functions, methods and classes of every PHP/JS file, with line numbers.
    Functions,
}

pub fn run(a: TaskArgs) -> anyhow::Result<i32> {
    let project = Project::locate(&a.project)?;
    let store = project.open_store(false)?;
    let files = tasks::domain_files(&project, &store, a.domain.as_deref())?;
    let progress = stderr_progress();
    let mut extra = serde_json::Map::new();
    let table = match a.task {
        Task::Checksums => checksums::run(&files, &progress)?,
        Task::Sizes => sizes::run(&files, &progress)?,
        Task::Lines => lines::run(&files, &progress)?,
        Task::Functions => functions::run(&files, &progress)?,
        Task::Syntax { cmd, jobs, timeout } => {
            let checkers = syntax::checkers(&tasks::syntax_settings(&store)?, &cmd)?;
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            let timeout = std::time::Duration::from_secs(timeout.max(1));
            syntax::run(&files, &checkers, jobs.unwrap_or(cpus), timeout, &progress)?
        }
        Task::Encoding { to, apply, from } => {
            let label = match from {
                Some(l) => Some(l),
                None => settings::get(store.conn(), &replace::encoding_key(a.domain.as_deref()))?,
            };
            let hint = label.as_deref().map(encoding_for).transpose()?;
            let to = to.as_deref().map(encoding_for).transpose()?;
            let scan = encoding::run(&files, hint, to, &progress)?;
            let mut t = scan.table;
            if let (Some(to), true) = (to, apply) {
                let (done, skipped) = encoding::apply(&files, hint, &scan.changes, to, &progress)?;
                t.summary += &format!("; converted {}", done.len());
                extra.insert("converted".into(), serde_json::to_value(&done)?);
                t.problems.extend(skipped);
            } else if to.is_some() {
                t.summary += " (a preview: --apply to convert)";
                extra.insert("would_change".into(), serde_json::to_value(&scan.changes)?);
            }
            t
        }
    };
    if let Some(path) = &a.csv {
        std::fs::write(path, table.csv())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if a.json {
        let mut v = table.to_json();
        v.as_object_mut().expect("an object").extend(extra);
        print_json(&v)?;
    } else {
        print_table(&table);
        print_problems(&table.problems);
        eprintln!("{}", table.summary);
    }
    Ok(if table.failed > 0 { 1 } else { 0 })
}

fn print_problems(problems: &[Problem]) {
    for p in problems {
        eprintln!("skipped {} ({:?}): {}", p.place, p.kind, p.reason);
    }
}

/// Columns padded to their widest cell (numbers right-aligned); a multi-line cell (a
/// checker's output) shows its lines indented under its row.
fn print_table(t: &Table) {
    use unicode_width::UnicodeWidthStr;
    let first_line = |s: String| s.lines().next().unwrap_or("").to_string();
    let mut widths: Vec<usize> = t.columns.iter().map(|c| c.width()).collect();
    for r in &t.rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(first_line(c.to_string()).width());
        }
    }
    let last = t.columns.len().saturating_sub(1);
    let line = |cells: Vec<(String, bool)>| {
        let mut s = String::new();
        for (i, ((c, num), w)) in cells.into_iter().zip(&widths).enumerate() {
            let pad = w.saturating_sub(c.width());
            if num {
                s += &" ".repeat(pad);
                s += &c;
            } else {
                s += &c;
                if i < last {
                    s += &" ".repeat(pad);
                }
            }
            if i < last {
                s += "  ";
            }
        }
        println!("{}", s.trim_end());
    };
    line(
        t.columns
            .iter()
            .map(|c| (c.to_uppercase(), false))
            .collect(),
    );
    for r in &t.rows {
        line(
            r.iter()
                .map(|c| {
                    let num = matches!(c, tasks::Cell::Num(_));
                    (first_line(c.to_string()), num)
                })
                .collect(),
        );
        for c in r {
            for more in c.to_string().lines().skip(1) {
                println!("    {more}");
            }
        }
    }
}
