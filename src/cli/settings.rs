//! `devsky settings get|set|unset|list`: the project's settings.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::engine::project::Project;
use crate::store::settings;

#[derive(Debug, Args)]
pub struct Where {
    /// Project folder (default: the current folder).
    #[arg(short = 'C', long = "project", value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Print every setting.
    List(Where),
    /// Print one setting.
    Get {
        key: String,
        #[command(flatten)]
        at: Where,
    },
    /// Set a setting (for example `theme dark`).
    Set {
        key: String,
        value: String,
        #[command(flatten)]
        at: Where,
    },
    /// Remove a setting.
    Unset {
        key: String,
        #[command(flatten)]
        at: Where,
    },
}

pub fn run(cmd: SettingsCommand) -> anyhow::Result<i32> {
    match cmd {
        SettingsCommand::List(at) => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            let all = settings::all(store.conn())?;
            if at.json {
                let map: serde_json::Map<String, serde_json::Value> =
                    all.into_iter().map(|(k, v)| (k, v.into())).collect();
                super::output::print_json(&map)?;
            } else {
                for (k, v) in all {
                    println!("{k} = {v}");
                }
            }
        }
        SettingsCommand::Get { key, at } => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            match settings::get(store.conn(), &key)? {
                Some(v) if at.json => super::output::print_json(&serde_json::json!({ key: v }))?,
                Some(v) => println!("{v}"),
                None => {
                    eprintln!("devsky: setting {key:?} is not set");
                    return Ok(1);
                }
            }
        }
        SettingsCommand::Set { key, value, at } => {
            let store = Project::locate(&at.project)?.open_store(true)?;
            settings::set(store.conn(), &key, &value)?;
        }
        SettingsCommand::Unset { key, at } => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            if !settings::unset(store.conn(), &key)? {
                eprintln!("devsky: setting {key:?} was not set");
            }
        }
    }
    Ok(0)
}
