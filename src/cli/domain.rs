//! `devsky domain add|list|show|remove`: named sets of include/exclude globs that say
//! which part of the project a snapshot covers.

use clap::Subcommand;

use super::output::print_json;
use super::snapshot::At;
use crate::engine::project::Project;
use crate::engine::snapshot;
use crate::store::snapshots::{self, Domain};

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add or replace a domain. A glob without wildcards names a file or a whole folder.
    Add {
        name: String,
        /// Paths to take (default: everything). Repeat for more.
        #[arg(long = "include", short = 'i')]
        include: Vec<String>,
        /// Paths to leave out. Repeat for more.
        #[arg(long = "exclude", short = 'x')]
        exclude: Vec<String>,
        /// A database profile whose tables a snapshot of the domain takes (with --tables);
        /// `snapshot create --domain NAME` then takes that database without --db.
        #[arg(long, value_name = "PROFILE", requires = "tables")]
        db: Option<String>,
        /// The tables of --db a snapshot takes, comma-separated; the others are left out.
        #[arg(long, value_name = "T1,T2", requires = "db")]
        tables: Option<String>,
        #[command(flatten)]
        at: At,
    },
    /// List domains.
    List(At),
    /// Show one domain.
    Show {
        name: String,
        #[command(flatten)]
        at: At,
    },
    /// Remove a domain (snapshots keep the globs they were taken with).
    Remove {
        name: String,
        #[command(flatten)]
        at: At,
    },
}

pub fn run(cmd: DomainCommand) -> anyhow::Result<i32> {
    match cmd {
        DomainCommand::Add {
            name,
            include,
            exclude,
            db,
            tables,
            at,
        } => {
            let store = Project::locate(&at.project)?.open_store(true)?;
            let tables: Vec<String> = tables
                .iter()
                .flat_map(|t| t.split(','))
                .map(|t| t.trim().to_string())
                .collect();
            if let Some(p) = &db {
                if tables.iter().any(String::is_empty) {
                    anyhow::bail!("--tables: an empty table name (use T1,T2)");
                }
                if crate::engine::db::profile::get(&store, p)?.is_none() {
                    anyhow::bail!("no database profile named `{p}` (see `devsky db list`)");
                }
            }
            let d = Domain {
                name,
                include,
                exclude,
            };
            snapshot::save_domain(&store, &d)?;
            if let Some(p) = &db {
                snapshots::set_domain_db_tables(store.conn(), &d.name, p, &tables)?;
            }
            if at.json {
                print_json(&d)?;
            } else {
                println!(
                    "domain {}: include {:?} exclude {:?}",
                    d.name, d.include, d.exclude
                );
            }
        }
        DomainCommand::List(at) => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            let all = snapshots::domains(store.conn())?;
            if at.json {
                print_json(&all)?;
            } else {
                for d in all {
                    println!(
                        "{:<16} include {:?} exclude {:?}",
                        d.name, d.include, d.exclude
                    );
                }
            }
        }
        DomainCommand::Show { name, at } => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            let Some(d) = snapshots::domain(store.conn(), &name)? else {
                eprintln!("devsky: no domain {name:?}");
                return Ok(1);
            };
            let db = snapshots::domain_db_tables(store.conn(), &name)?;
            if at.json {
                print_json(&serde_json::json!({
                    "name": d.name, "include": d.include, "exclude": d.exclude, "db_tables": db,
                }))?;
            } else {
                println!(
                    "domain {}\ninclude: {:?}\nexclude: {:?}",
                    d.name, d.include, d.exclude
                );
                for (p, t) in &db {
                    println!("database {p}: tables {}", t.join(", "));
                }
            }
        }
        DomainCommand::Remove { name, at } => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            if !snapshots::remove_domain(store.conn(), &name)? {
                eprintln!("devsky: no domain {name:?}");
                return Ok(1);
            }
        }
    }
    Ok(0)
}
