//! `devsky bin list|restore ID|empty`: the recycle bin, where every file devsky deletes or
//! overwrites goes first.

use clap::Subcommand;

use super::output::print_json;
use super::snapshot::At;
use crate::engine::bin::Bin;
use crate::engine::project::Project;
use crate::engine::util::units::{format_time, human_size};

#[derive(Debug, Subcommand)]
pub enum BinCommand {
    /// List the files in the bin, oldest first.
    List(At),
    /// Put a file back where it was, byte for byte with its mode (what is there now goes
    /// to the bin first).
    Restore {
        id: u64,
        #[command(flatten)]
        at: At,
    },
    /// Remove every entry (their content is freed by `devsky gc`).
    Empty {
        /// Do it without asking.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        at: At,
    },
}

pub fn run(cmd: BinCommand) -> anyhow::Result<i32> {
    match cmd {
        BinCommand::List(at) => {
            let bin = Bin::open(&Project::locate(&at.project)?.root)?;
            let all = bin.list()?;
            if at.json {
                print_json(&all)?;
            } else if all.is_empty() {
                println!("the recycle bin is empty");
            } else {
                for e in all {
                    println!(
                        "{:>5}  {}  {:>9}  {:o}  {}  ({})",
                        e.id,
                        format_time(e.time),
                        human_size(e.size as i64),
                        e.mode,
                        e.path,
                        e.reason
                    );
                }
            }
        }
        BinCommand::Restore { id, at } => {
            let bin = Bin::open(&Project::locate(&at.project)?.root)?;
            let e = bin.restore(id)?;
            if at.json {
                print_json(&e)?;
            } else {
                println!("restored {} ({})", e.path, human_size(e.size as i64));
            }
        }
        BinCommand::Empty { yes, at } => {
            let bin = Bin::open(&Project::locate(&at.project)?.root)?;
            if !yes {
                let n = bin.list()?.len();
                anyhow::bail!(
                    "the bin holds {n} file(s); `devsky bin empty --yes` removes them for good"
                );
            }
            let n = bin.empty()?;
            if at.json {
                print_json(&serde_json::json!({ "removed": n }))?;
            } else {
                println!("removed {n} file(s) from the recycle bin");
            }
        }
    }
    Ok(0)
}
