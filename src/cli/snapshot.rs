//! `devsky snapshot create|list|show|delete|diff` and `devsky gc`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{print_json, stderr_progress};
use crate::engine::changes::ChangeKind;
use crate::engine::map::EntryJson;
use crate::engine::objects::ObjectStore;
use crate::engine::project::Project;
use crate::engine::snapshot::{self, Target};
use crate::engine::units::{format_time, human_size, thousands};

#[derive(Debug, Args)]
pub struct At {
    /// Project folder (default: the current folder).
    #[arg(short = 'C', long = "project", value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Snapshot the project (or a domain of it): its map and the content of every file.
    Create {
        #[arg(long)]
        name: Option<String>,
        /// Only the files of this domain (`devsky domain list`).
        #[arg(long)]
        domain: Option<String>,
        #[command(flatten)]
        at: At,
    },
    /// List snapshots, newest first.
    List(At),
    /// One snapshot: its details and, with --files, its map.
    Show {
        id: i64,
        #[arg(long)]
        files: bool,
        #[command(flatten)]
        at: At,
    },
    /// Delete a snapshot (its contents go at the next `devsky gc`).
    Delete {
        id: i64,
        #[command(flatten)]
        at: At,
    },
    /// What changed from snapshot A to snapshot B, or to the working tree.
    Diff {
        a: i64,
        b: Option<i64>,
        #[command(flatten)]
        at: At,
    },
}

#[derive(Serialize)]
struct DeltaJson {
    kind: ChangeKind,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_bytes: Option<Vec<u8>>,
    old: Option<EntryJson>,
    new: Option<EntryJson>,
}

pub fn run(cmd: SnapshotCommand) -> anyhow::Result<i32> {
    match cmd {
        SnapshotCommand::Create { name, domain, at } => {
            let project = Project::locate(&at.project)?;
            let mut store = project.open_store(true)?;
            let c = snapshot::create(
                &project,
                &mut store,
                name.as_deref(),
                domain.as_deref(),
                &stderr_progress(),
            )?;
            if at.json {
                print_json(&c)?;
            } else {
                for p in &c.problems {
                    eprintln!("  {}: {}", p.path, p.reason);
                }
                println!(
                    "snapshot {} \"{}\": {} files, {} ({} new objects){}",
                    c.id,
                    c.name,
                    thousands(c.files as usize),
                    human_size(c.bytes as i64),
                    c.new_objects,
                    if c.partial {
                        " — PARTIAL, see the problems above"
                    } else {
                        ""
                    }
                );
            }
            Ok(if c.partial { 3 } else { 0 })
        }
        SnapshotCommand::List(at) => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            let list = crate::store::snapshots::snapshots(store.conn())?;
            if at.json {
                return print_json(&list).map(|_| 0);
            }
            for s in list {
                println!(
                    "{:>4}  {}  {:>8} files {:>10}  {:<10} {}{}",
                    s.id,
                    format_time(s.created),
                    thousands(s.files as usize),
                    human_size(s.bytes),
                    s.domain.as_deref().unwrap_or("(all)"),
                    s.name,
                    if s.partial { "  [partial]" } else { "" }
                );
            }
            Ok(0)
        }
        SnapshotCommand::Show { id, files, at } => {
            let project = Project::locate(&at.project)?;
            let store = project.open_store(false)?;
            let s = snapshot::get(&store, id)?;
            let entries = if files {
                let objects = ObjectStore::open(&project.root)?;
                let m = snapshot::read_map(&objects, &s)?;
                Some(
                    m.map(|e| e.map(|e| EntryJson::from(&e)))
                        .collect::<anyhow::Result<Vec<_>>>()?,
                )
            } else {
                None
            };
            if at.json {
                print_json(&serde_json::json!({ "snapshot": s, "files": entries }))?;
                return Ok(0);
            }
            println!("snapshot {}: {}", s.id, s.name);
            println!("created:  {}", format_time(s.created));
            println!(
                "domain:   {}  include {:?} exclude {:?}",
                s.domain.as_deref().unwrap_or("(all)"),
                s.include,
                s.exclude
            );
            println!(
                "files:    {} ({}){}",
                thousands(s.files as usize),
                human_size(s.bytes),
                if s.partial { ", partial" } else { "" }
            );
            for e in entries.unwrap_or_default() {
                println!("{}  {}", e.blake3.unwrap_or_else(|| "-".repeat(64)), e.path);
            }
            Ok(0)
        }
        SnapshotCommand::Delete { id, at } => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            snapshot::get(&store, id)?;
            crate::store::snapshots::delete_snapshot(store.conn(), id)?;
            if !at.json {
                println!("deleted snapshot {id}; `devsky gc` frees its contents");
            }
            Ok(0)
        }
        SnapshotCommand::Diff { a, b, at } => {
            let project = Project::locate(&at.project)?;
            let store = project.open_store(false)?;
            let target = b.map_or(Target::Worktree, Target::Snapshot);
            let d = snapshot::diff_snapshot(&project, &store, a, target, &stderr_progress())?;
            if at.json {
                let list: Vec<DeltaJson> = d
                    .deltas
                    .iter()
                    .map(|x| DeltaJson {
                        kind: x.kind,
                        path: String::from_utf8_lossy(x.path()).into_owned(),
                        path_bytes: std::str::from_utf8(x.path())
                            .is_err()
                            .then(|| x.path().to_vec()),
                        old: x.old.as_ref().map(EntryJson::from),
                        new: x.new.as_ref().map(EntryJson::from),
                    })
                    .collect();
                print_json(
                    &serde_json::json!({ "old": d.old_label, "new": d.new_label, "partial": d.partial, "changes": list, "problems": d.problems }),
                )?;
            } else {
                let mut out = std::io::stdout().lock();
                for x in &d.deltas {
                    writeln!(
                        out,
                        "{} {}",
                        x.kind.letter(),
                        String::from_utf8_lossy(x.path()).replace('\n', "\\n")
                    )?;
                }
                eprintln!(
                    "{} → {}: {} change(s){}",
                    d.old_label,
                    d.new_label,
                    d.deltas.len(),
                    if d.partial { " (PARTIAL)" } else { "" }
                );
                for p in &d.problems {
                    eprintln!("  {}: {}", p.path, p.reason);
                }
            }
            Ok(if d.partial { 3 } else { 0 })
        }
    }
}

#[derive(Debug, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub at: At,
}

/// `devsky gc`: remove stored contents no snapshot references any more.
pub fn gc(a: GcArgs) -> anyhow::Result<i32> {
    let project = Project::locate(&a.at.project)?;
    let store = project.open_store(false)?;
    let r = snapshot::gc(&project, &store)?;
    if a.at.json {
        print_json(&r)?;
    } else {
        println!(
            "removed {} object(s), freed {}; {} kept",
            r.removed,
            human_size(r.freed_bytes as i64),
            r.kept
        );
    }
    Ok(0)
}
