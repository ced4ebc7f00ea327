//! `devsky deploy package`: the developer's side of a deploy — map the project, diff it
//! against the server's map (from `devsky agent map`), and build the update package (zip +
//! devsky-manifest.json) in the deploy folder.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{print_json, stderr_progress};
use crate::engine::deploy::package::{Built, build};
use crate::engine::deploy::plan::{Plan, Selection, plan_files};
use crate::engine::map::scan::{ScanOptions, scan};
use crate::engine::map::worktree_cache;
use crate::engine::project::Project;
use crate::engine::units::{human_size, thousands};

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Build an update package: what differs from the server's map, as a zip.
    Package(PackageArgs),
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The server's map (written by `devsky agent map`).
    #[arg(long, value_name = "FILE")]
    pub remote_map: PathBuf,
    /// Folder for the package (default: .devsky/deploy in the project).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only these paths (`dir/` for everything under a folder); repeatable.
    #[arg(long, value_name = "PATH")]
    pub only: Vec<String>,
    /// Project folder (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print the plan and the package as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    package: Option<&'a Built>,
    plan: &'a Plan,
}

pub fn run(c: DeployCommand) -> anyhow::Result<i32> {
    match c {
        DeployCommand::Package(a) => package(a),
    }
}

fn package(a: PackageArgs) -> anyhow::Result<i32> {
    let path = a.project.unwrap_or_else(|| PathBuf::from("."));
    let project = Project::locate(&path)?;
    let progress = stderr_progress();
    let tmp = tempfile::tempdir()?;
    let (cache, local) = if project.has_store() {
        let c = worktree_cache(&project.root, None);
        (Some(c.clone()), c)
    } else {
        (None, tmp.path().join("local.map"))
    };
    let report = scan(
        &project.root,
        cache.as_deref(),
        &local,
        &ScanOptions::default(),
        &progress,
    )?;
    if report.partial {
        // A file that could not be read would look deleted: never plan from such a map.
        for p in &report.problems {
            eprintln!("  {}: {}", p.path, p.reason);
        }
        anyhow::bail!(
            "the project could not be mapped completely ({} problem(s) above); fix them first, \
             or a package could delete on the server what could not be read here",
            report.problem_count
        );
    }
    let mut plan = plan_files(&local, &a.remote_map)?;
    if !a.only.is_empty() {
        plan = plan.select(&Selection::parse(&a.only));
    }
    if plan.is_empty() {
        if a.json {
            print_json(&Report {
                package: None,
                plan: &plan,
            })?;
        } else {
            println!("nothing to deploy: the server has every file as the project has it");
        }
        return Ok(0);
    }
    let out = a
        .out
        .unwrap_or_else(|| project.root.join(crate::store::STATE_DIR).join("deploy"));
    let built = build(&project.root, &plan, &out, &progress)?;
    if a.json {
        print_json(&Report {
            package: Some(&built),
            plan: &plan,
        })?;
    } else {
        for u in &plan.uploads {
            println!("{} {}", u.change.letter(), String::from_utf8_lossy(&u.path));
        }
        for d in &plan.deletes {
            println!("D {}", String::from_utf8_lossy(&d.path));
        }
        println!(
            "{}: {} upload(s) ({}), {} delete(s); package {}",
            built.path.display(),
            thousands(built.uploads),
            human_size(built.upload_bytes as i64),
            thousands(built.deletes),
            human_size(built.size as i64)
        );
    }
    Ok(0)
}
