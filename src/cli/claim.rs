//! `devsky claim add|list|verify|release`: records "taken into work" on the project's
//! registry (after `devsky registry login`; docs/REGISTRY.md). A claim lasts 3 days; the
//! owners of its package may force its release.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::output::print_json;
use crate::engine::project::Project;
use crate::engine::registry::client::{Claim, ClaimOutcome};
use crate::engine::registry::{self, Client};
use crate::engine::util::units::rfc3339;

#[derive(Debug, Subcommand)]
pub enum ClaimCommand {
    /// Take records into work (exit 1 when any is someone else's). A record is `#ID` (or
    /// `ID`) of this codebase, or a name: a fixed-area record (ids up to 50000, the same in
    /// every installation) is claimed as `#ID`, a floating one by its name.
    Add {
        #[arg(required = true, value_name = "RECORD")]
        records: Vec<String>,
        /// The package the records belong to: its owners may force a release.
        #[arg(long)]
        package: Option<String>,
        #[command(flatten)]
        at: At,
    },
    /// The live claims.
    List {
        #[arg(long)]
        package: Option<String>,
        #[command(flatten)]
        at: At,
    },
    /// Which of these records are claimed, by us and by others (all claims when none).
    Verify {
        records: Vec<String>,
        #[command(flatten)]
        at: At,
    },
    /// Release a claim; --force releases someone else's (package owners and root only).
    Release {
        record: String,
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        at: At,
    },
}

#[derive(Debug, Args)]
pub struct At {
    /// The project (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// The registry's client, and the records as claims name them (`#ID` for a fixed-area
/// record, else its name: [`registry::claim_key`]).
fn client(at: &At, records: &[String]) -> anyhow::Result<(Client, Vec<String>)> {
    let project = Project::locate(&at.project.clone().unwrap_or_else(|| PathBuf::from(".")))?;
    let store = project.open_store(false)?;
    let keys = records
        .iter()
        .map(|r| registry::claim_ref(&store, r))
        .collect::<anyhow::Result<_>>()?;
    Ok((registry::client(&project.root, &store)?, keys))
}

fn line(c: &Claim) -> String {
    format!(
        "{:<40} {:<16} until {}{}",
        c.record,
        c.owner,
        rfc3339(c.expires),
        c.package
            .as_ref()
            .map(|p| format!("  ({p})"))
            .unwrap_or_default()
    )
}

pub fn run(c: ClaimCommand) -> anyhow::Result<i32> {
    match c {
        ClaimCommand::Add {
            records,
            package,
            at,
        } => {
            let (client, records) = client(&at, &records)?;
            let mut out = vec![];
            for r in &records {
                out.push(client.claim(r, package.as_deref())?);
            }
            let conflicts = out
                .iter()
                .filter(|o| matches!(o, ClaimOutcome::Conflict(_)))
                .count();
            if at.json {
                print_json(&out)?;
            } else {
                for o in &out {
                    match o {
                        ClaimOutcome::Taken(c) => println!("taken    {}", line(c)),
                        ClaimOutcome::Renewed(c) => println!("renewed  {}", line(c)),
                        ClaimOutcome::Conflict(c) => println!("CLAIMED  {}", line(c)),
                    }
                }
                if conflicts > 0 {
                    eprintln!("{conflicts} record(s) are taken into work by someone else");
                }
            }
            Ok(if conflicts > 0 { 1 } else { 0 })
        }
        ClaimCommand::List { package, at } => {
            let list = client(&at, &[])?.0.claims(package.as_deref())?;
            if at.json {
                print_json(&list)?;
            } else {
                list.iter().for_each(|c| println!("{}", line(c)));
            }
            Ok(0)
        }
        ClaimCommand::Verify { records, at } => {
            let (client, records) = client(&at, &records)?;
            let v = client.verify(&records)?;
            if at.json {
                print_json(&v)?;
            } else {
                v.ours.iter().for_each(|c| println!("ours    {}", line(c)));
                v.theirs
                    .iter()
                    .for_each(|c| println!("theirs  {}", line(c)));
            }
            Ok(0)
        }
        ClaimCommand::Release { record, force, at } => {
            let (client, record) = client(&at, &[record])?;
            let c = client.release(&record[0], force)?;
            if at.json {
                print_json(&c)?;
            } else {
                println!("released {}", line(&c));
            }
            Ok(0)
        }
    }
}
