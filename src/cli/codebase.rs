//! `devsky codebase import|list|show|search`: the codebase from the command line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use base64::Engine as _;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{human_size, print_json, stderr_progress};
use crate::engine::{codebase::import, project::Project};
use crate::store::codebase::{self, Area, Body};

#[derive(Debug, Args)]
pub struct Common {
    /// Project folder (default: the current folder).
    #[arg(short = 'C', long = "project", value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CodebaseCommand {
    /// Add files (or folders, recursively) as `f:<path>` records; ignored files are skipped.
    Import {
        /// Files or folders inside the project (default: the whole project).
        paths: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// List records in id order.
    List {
        /// Show at most this many records.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Start after this id (for paging).
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[command(flatten)]
        common: Common,
    },
    /// Show one record: its details and body.
    Show {
        /// Record id.
        id: i64,
        #[command(flatten)]
        common: Common,
    },
    /// Full-text search (ranked, with snippets). Plain words match as prefixes;
    /// FTS5 syntax (quotes, AND/OR/NOT, name:/body:) is passed through.
    Search {
        query: String,
        /// Show at most this many hits.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        common: Common,
    },
}

pub fn run(cmd: CodebaseCommand) -> anyhow::Result<i32> {
    match cmd {
        CodebaseCommand::Import { paths, common } => import_cmd(paths, common),
        CodebaseCommand::List {
            limit,
            after,
            common,
        } => list_cmd(limit, after, common),
        CodebaseCommand::Show { id, common } => show_cmd(id, common),
        CodebaseCommand::Search {
            query,
            limit,
            common,
        } => search_cmd(&query, limit, common),
    }
}

fn import_cmd(paths: Vec<PathBuf>, common: Common) -> anyhow::Result<i32> {
    let project = Project::locate(&common.project)?;
    let mut store = project.open_store(true)?;
    let paths = if paths.is_empty() {
        vec![project.root.clone()]
    } else {
        paths
    };
    let who = import::author(&store);
    let report = import::import(&project, &mut store, &paths, &who, &stderr_progress())?;
    if common.json {
        print_json(&report)?;
    } else {
        for s in &report.skipped {
            eprintln!("skipped {}: {}", s.path, s.reason);
        }
        println!("{}", report.summary());
    }
    Ok(0)
}

fn list_cmd(limit: i64, after: i64, common: Common) -> anyhow::Result<i32> {
    let store = Project::locate(&common.project)?.open_store(false)?;
    let rows = codebase::list(store.conn(), after, limit)?;
    if common.json {
        return print_json(&rows).map(|_| 0);
    }
    let mut out = std::io::stdout().lock();
    for r in rows {
        writeln!(
            out,
            "{:>7}  {:<8}  {:<6}  v{:<3} {:>10}  {}",
            r.id,
            r.area.label(),
            r.kind,
            r.version,
            human_size(r.size),
            r.name
        )?;
    }
    Ok(0)
}

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    summary: codebase::Summary,
    hash: String,
    claimed_by: Option<String>,
    claimed_until: Option<i64>,
    created: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
}

fn show_cmd(id: i64, common: Common) -> anyhow::Result<i32> {
    let store = Project::locate(&common.project)?.open_store(false)?;
    let (Some(rec), Some(summary)) = (
        codebase::get(store.conn(), id)?,
        codebase::summary(store.conn(), id)?,
    ) else {
        eprintln!("devsky: no codebase record with id {id}. `devsky codebase list` shows the ids.");
        return Ok(1);
    };
    if common.json {
        let (body, body_base64) = match &rec.body {
            Body::Text(t) => (Some(t.clone()), None),
            Body::Binary(b) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(b)),
            ),
        };
        return print_json(&Shown {
            summary,
            hash: rec.hash,
            claimed_by: rec.claimed_by,
            claimed_until: rec.claimed_until,
            created: rec.created,
            body,
            body_base64,
        })
        .map(|_| 0);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "id:       {} ({} area)",
        rec.id,
        Area::of(rec.id).label()
    )?;
    writeln!(out, "name:     {}", rec.name)?;
    writeln!(
        out,
        "kind:     {}   version: {}   status: {}",
        rec.kind, rec.version, rec.status
    )?;
    writeln!(
        out,
        "package:  {}",
        if rec.package.is_empty() {
            "-"
        } else {
            &rec.package
        }
    )?;
    writeln!(out, "authors:  {}", rec.authors)?;
    writeln!(
        out,
        "size:     {} ({} bytes)   blake3: {}",
        human_size(rec.size),
        rec.size,
        rec.hash
    )?;
    writeln!(out)?;
    match &rec.body {
        Body::Text(t) => {
            out.write_all(t.as_bytes())?;
            if !t.ends_with('\n') {
                writeln!(out)?;
            }
        }
        Body::Binary(b) => writeln!(
            out,
            "(binary, {} bytes; use --json for its base64)",
            b.len()
        )?,
    }
    Ok(0)
}

fn search_cmd(query: &str, limit: usize, common: Common) -> anyhow::Result<i32> {
    let store = Project::locate(&common.project)?.open_store(false)?;
    let mut res = codebase::search(store.conn(), query, limit).map_err(|e| {
        anyhow::anyhow!(
            "search {query:?} failed: {e}. Plain words always work; check quotes and operators."
        )
    })?;
    let terms = codebase::query_terms(query);
    for hit in res.hits.iter_mut().filter(|h| !h.snippet_checked) {
        hit.snippet = codebase::snippet_for(store.conn(), hit.id, &terms)?;
    }
    if common.json {
        return print_json(&search_json(&res)).map(|_| 0);
    }
    let tty = std::io::stdout().is_terminal();
    let (open, close) = if tty {
        ("\x1b[1;31m", "\x1b[0m")
    } else {
        ("[", "]")
    };
    let mut out = std::io::stdout().lock();
    for h in &res.hits {
        writeln!(out, "{:>7}  {}", h.id, h.name)?;
        if !h.snippet.is_empty() {
            writeln!(
                out,
                "         {}",
                codebase::snippet_marked(&h.snippet, open, close)
            )?;
        }
    }
    let more = if res.total_capped { "more than " } else { "" };
    writeln!(
        out,
        "{} shown of {more}{} matching",
        res.hits.len(),
        res.total
    )?;
    Ok(0)
}

/// Search results for scripts: plain snippets with the matched ranges as byte offsets
/// (`matches: [[start, end], ...]`), never the markers the terminal output turns into colour.
fn search_json(res: &codebase::SearchResults) -> serde_json::Value {
    let hits: Vec<serde_json::Value> = res
        .hits
        .iter()
        .map(|h| {
            let (mut text, mut matches) = (String::new(), Vec::new());
            for (is_match, part) in codebase::snippet_parts(&h.snippet) {
                if is_match {
                    matches.push([text.len(), text.len() + part.len()]);
                }
                text.push_str(part);
            }
            serde_json::json!({
                "id": h.id, "name": h.name, "path": h.path, "kind": h.kind,
                "snippet": text, "matches": matches, "rank": h.rank,
            })
        })
        .collect();
    serde_json::json!({ "total": res.total, "total_capped": res.total_capped, "hits": hits })
}
