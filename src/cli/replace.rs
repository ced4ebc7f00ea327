//! `devsky search` and `devsky replace` (with `undo` and `list`): over a domain's files and
//! a database profile's tables. A replace previews with `--dry-run` and changes with
//! `--apply`, as one operation `devsky replace undo` takes back.
//!
//! `devsky search` and `devsky replace --dry-run` print the files as the search finds them
//! (in the walk's order: depth first, siblings in byte order), not only at the end; the
//! database's rows, the problems and the totals follow once the search is complete. If the
//! search fails part way, what was printed stays and the exit status says it failed.

use std::io::{BufWriter, StdoutLock, Write};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use super::output::print_json;
use super::snapshot::At;
use crate::engine::db::{Db, profile};
use crate::engine::project::Project;
use crate::engine::replace::files::FilePlan;
use crate::engine::replace::{self, Plan, Request, ops};

/// What to search and where (shared by search and replace).
#[derive(Debug, Args)]
pub struct Where {
    /// Read the pattern as a regex (the `regex` crate's syntax); the replacement may then
    /// use `$1` and `${name}`.
    #[arg(long)]
    pub regex: bool,
    #[arg(long, short = 'i')]
    pub ignore_case: bool,
    /// Whole words only.
    #[arg(long, short = 'w')]
    pub word: bool,
    /// Only the files of this domain (`devsky domain list`).
    #[arg(long, value_name = "D")]
    pub domain: Option<String>,
    /// Also the tables of this database profile (`devsky db list`).
    #[arg(long, value_name = "PROFILE")]
    pub db: Option<String>,
    /// Only these tables (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "db")]
    pub tables: Vec<String>,
    /// Leave files out (only the database).
    #[arg(long, requires = "db")]
    pub no_files: bool,
    /// Encoding of files that are not UTF-8 (windows-1251, latin1, ...). Default: the
    /// setting `encoding.DOMAIN` (or `encoding`), else a guess.
    #[arg(long, value_name = "LABEL")]
    pub encoding: Option<String>,
    /// Decode database values that are wholly base64 (to UTF-8 text or serialized data),
    /// search and replace inside them, and encode them back (alphabet and padding kept).
    /// Every row is then read (the server cannot filter inside base64).
    #[arg(long)]
    pub base64: bool,
    #[command(flatten)]
    pub at: At,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    pub pattern: String,
    #[command(flatten)]
    pub wh: Where,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReplaceArgs {
    #[command(subcommand)]
    pub command: Option<ReplaceCommand>,
    pub pattern: Option<String>,
    pub replacement: Option<String>,
    /// Show every change (before and after) and change nothing.
    #[arg(long, conflicts_with = "apply")]
    pub dry_run: bool,
    /// Make the changes (originals go to the recycle bin; rows in one transaction).
    #[arg(long)]
    pub apply: bool,
    /// Leave out a file (PATH), one line's matches (PATH:LINE), a table (TABLE) or one
    /// value (TABLE[KEY].COLUMN, as the preview names it). Repeat for more.
    #[arg(long, value_name = "WHAT")]
    pub skip: Vec<String>,
    #[command(flatten)]
    pub wh: Where,
}

#[derive(Debug, Subcommand)]
pub enum ReplaceCommand {
    /// Undo a replace (default: the newest one not undone): files byte for byte, rows as
    /// they were. What changed since the replace is skipped and reported.
    Undo {
        id: Option<u64>,
        #[command(flatten)]
        at: At,
    },
    /// List the replaces done in this project.
    List(At),
}

fn request(pattern: String, replacement: String, wh: &Where) -> Request {
    Request {
        pattern,
        replacement,
        regex: wh.regex,
        ignore_case: wh.ignore_case,
        word: wh.word,
        domain: wh.domain.clone(),
        files: !wh.no_files,
        db: wh.db.clone(),
        tables: wh.tables.clone(),
        encoding: wh.encoding.clone(),
        base64: wh.base64,
    }
}

fn connect(project: &Project, name: Option<&str>) -> anyhow::Result<Option<Box<dyn Db>>> {
    let Some(name) = name else { return Ok(None) };
    let store = project.open_store(false)?;
    Ok(Some(profile::connect(&project.root, &store, name, None)?))
}

/// The connection as the engine takes it.
fn conn(db: &mut Option<Box<dyn Db>>) -> Option<&mut dyn Db> {
    db.as_mut().map(|d| d.as_mut() as &mut dyn Db)
}

/// A project, its plan, and the database connection the plan needs.
type Planned = (Project, Plan, Option<Box<dyn Db>>);

fn plan(req: &Request, at: &At) -> anyhow::Result<Planned> {
    plan_with(req, at, &mut |_| Ok(()))
}

/// [`plan`], handing each file with matches to `found` as it is found (an error from
/// `found`, such as a closed stdout, stops the search).
fn plan_with(
    req: &Request,
    at: &At,
    found: &mut dyn FnMut(&FilePlan) -> std::io::Result<()>,
) -> anyhow::Result<Planned> {
    let project = Project::locate(&at.project)?;
    let store = project.open_store(false)?;
    let mut db = connect(&project, req.db.as_deref())?;
    let mut failed = None;
    let plan = replace::preview_with(&project, &store, req, conn(&mut db), &mut |f| {
        found(f).map_err(|e| failed = Some(e)).is_ok()
    });
    if let Some(e) = failed {
        return Err(anyhow::Error::new(e).context("writing the results"));
    }
    Ok((project, plan?, db))
}

/// Stdout, buffered, flushed at the first file and then at most every 50 ms, so results
/// show as they come without a write per line.
struct Stream {
    out: BufWriter<StdoutLock<'static>>,
    flushed: Option<Instant>,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            out: BufWriter::with_capacity(64 << 10, std::io::stdout().lock()),
            flushed: None,
        }
    }

    /// Call after each file.
    fn tick(&mut self) -> std::io::Result<()> {
        if self
            .flushed
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(50))
        {
            self.out.flush()?;
            self.flushed = Some(Instant::now());
        }
        Ok(())
    }
}

pub fn search(a: SearchArgs) -> anyhow::Result<i32> {
    let req = request(a.pattern, String::new(), &a.wh);
    if a.wh.at.json {
        let (_, plan, _) = plan(&req, &a.wh.at)?;
        print_json(&serde_json::json!({
            "matches": plan.matches(),
            "files": plan.files.files.iter().map(|f| serde_json::json!({
                "path": f.path, "encoding": f.encoding, "count": f.count,
                "hits": f.hits.iter().map(|h| serde_json::json!({
                    "line": h.line, "column": h.column, "text": h.before,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "rows": plan.db.as_ref().map(|d| d.rows.iter().map(|r| serde_json::json!({
                "place": r.place(), "table": r.table, "key": r.key, "column": r.column,
                "format": r.format, "count": r.count, "context": r.context,
            })).collect::<Vec<_>>()),
            "searched_files": plan.files.searched,
            "rows_read": plan.db.as_ref().map(|d| d.rows_read),
            "binary_skipped": plan.files.binary_skipped,
            "problems": problems(&plan),
        }))?;
        return Ok(if plan.matches() > 0 { 0 } else { 1 });
    }
    let mut s = Stream::new();
    let (_, plan, _) = plan_with(&req, &a.wh.at, &mut |f| {
        for h in &f.hits {
            writeln!(s.out, "{}:{}:{}: {}", f.path, h.line, h.column, h.before)?;
        }
        s.tick()
    })?;
    for r in plan.db.iter().flat_map(|d| &d.rows) {
        writeln!(s.out, "{}: {}", r.place(), r.context)?;
    }
    s.out.flush()?;
    print_problems(&plan);
    eprintln!(
        "{} match(es); {} file(s) searched, {} binary skipped",
        plan.matches(),
        plan.files.searched,
        plan.files.binary_skipped
    );
    Ok(if plan.matches() > 0 { 0 } else { 1 })
}

/// One match of the text preview.
fn preview_hit(out: &mut impl Write, f: &FilePlan, i: usize) -> std::io::Result<()> {
    let h = &f.hits[i];
    let on = f.selected && !f.skip.contains(&i);
    let mark = if on { "" } else { " (skipped)" };
    writeln!(
        out,
        "{}:{}:{}:{mark}\n- {}\n+ {}",
        f.path, h.line, h.column, h.before, h.after
    )
}

/// The rest of the text preview, once the plan is complete.
fn preview_end(out: &mut impl Write, plan: &Plan) -> anyhow::Result<()> {
    for r in plan.db.iter().flat_map(|d| &d.rows) {
        let (place, format, count) = (r.place(), &r.format, r.count);
        let on = if r.selected { "" } else { " (skipped)" };
        writeln!(out, "{place} ({format}, {count} match(es)){on}")?;
    }
    out.flush()?;
    print_problems(plan);
    eprintln!(
        "{} match(es); nothing changed (--apply to change)",
        plan.matches()
    );
    Ok(())
}

/// `replace --dry-run` without `--skip`: the preview streamed as it is found. As JSON it is
/// the document [`print_json`] gives for the plan, compact, with one file of
/// `files.files` a line.
fn dry_run_streamed(req: &Request, at: &At) -> anyhow::Result<i32> {
    let mut s = Stream::new();
    if at.json {
        write!(s.out, "{{\"request\":")?;
        serde_json::to_writer(&mut s.out, req)?;
        write!(s.out, ",\"files\":{{\"files\":[")?;
        let mut first = true;
        let (_, plan, _) = plan_with(req, at, &mut |f| {
            s.out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            serde_json::to_writer(&mut s.out, f)?;
            s.tick()
        })?;
        let scan = &plan.files;
        write!(s.out, "\n],\"searched\":{},", scan.searched)?;
        write!(s.out, "\"binary_skipped\":{},", scan.binary_skipped)?;
        write!(s.out, "\"problems\":")?;
        serde_json::to_writer(&mut s.out, &scan.problems)?;
        write!(s.out, "}},\"db\":")?;
        serde_json::to_writer(&mut s.out, &plan.db)?;
        writeln!(s.out, "}}")?;
        s.out.flush()?;
        return Ok(0);
    }
    let (_, plan, _) = plan_with(req, at, &mut |f| {
        for i in 0..f.hits.len() {
            preview_hit(&mut s.out, f, i)?;
        }
        s.tick()
    })?;
    preview_end(&mut s.out, &plan)?;
    Ok(0)
}

fn problems(plan: &Plan) -> Vec<replace::Problem> {
    let mut v = plan.files.problems.clone();
    v.extend(plan.db.iter().flat_map(|d| d.problems.iter().cloned()));
    v
}

fn print_problems(plan: &Plan) {
    for p in problems(plan) {
        eprintln!("skipped {} ({:?}): {}", p.place, p.kind, p.reason);
    }
}

pub fn run(a: ReplaceArgs) -> anyhow::Result<i32> {
    match a.command {
        Some(ReplaceCommand::Undo { id, at }) => {
            let project = Project::locate(&at.project)?;
            let op = ops::get(&project.root, id)?;
            let mut db = connect(
                &project,
                op.profile.as_deref().filter(|_| !op.rows.is_empty()),
            )?;
            let op = ops::undo(&project.root, Some(op.id), conn(&mut db))?;
            if at.json {
                print_json(&op)?;
            } else {
                println!(
                    "undid replace {}: {} file(s), {} row value(s)",
                    op.id,
                    op.files.len(),
                    op.rows.len()
                );
                for p in &op.undo_skipped {
                    eprintln!("not undone {}: {}", p.place, p.reason);
                }
            }
            Ok(if op.undo_skipped.is_empty() { 0 } else { 3 })
        }
        Some(ReplaceCommand::List(at)) => {
            let all = ops::list(&Project::locate(&at.project)?.root)?;
            if at.json {
                print_json(&all)?;
            } else {
                for o in all {
                    println!(
                        "{:>4}  {:?}  {:?} -> {:?}  {} file(s), {} row value(s)",
                        o.id,
                        o.state,
                        o.request.pattern,
                        o.request.replacement,
                        o.files.len(),
                        o.rows.len()
                    );
                }
            }
            Ok(0)
        }
        None => {
            let (Some(pattern), Some(replacement)) = (a.pattern, a.replacement) else {
                anyhow::bail!("usage: devsky replace PATTERN REPLACEMENT --dry-run | --apply");
            };
            if a.dry_run == a.apply {
                anyhow::bail!("say --dry-run to preview or --apply to change");
            }
            let req = request(pattern, replacement, &a.wh);
            if a.dry_run && a.skip.is_empty() {
                return dry_run_streamed(&req, &a.wh.at);
            }
            let (project, mut plan, mut db) = plan(&req, &a.wh.at)?;
            for s in &a.skip {
                plan.untick(s)?;
            }
            if a.dry_run {
                if a.wh.at.json {
                    print_json(&plan)?;
                } else {
                    let mut out = BufWriter::new(std::io::stdout().lock());
                    for f in &plan.files.files {
                        for i in 0..f.hits.len() {
                            preview_hit(&mut out, f, i)?;
                        }
                    }
                    preview_end(&mut out, &plan)?;
                }
                return Ok(0);
            }
            let op = ops::apply(&project.root, &plan, conn(&mut db))?;
            if a.wh.at.json {
                print_json(&op)?;
            } else {
                println!(
                    "replace {}: {} file(s), {} row value(s) changed; `devsky replace undo {}` takes it back",
                    op.id,
                    op.files.len(),
                    op.rows.len(),
                    op.id
                );
                for p in &op.skipped {
                    eprintln!("skipped {} ({:?}): {}", p.place, p.kind, p.reason);
                }
            }
            Ok(0)
        }
    }
}
