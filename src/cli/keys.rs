//! `devsky keys`: every action with its live keys (defaults plus the user's keymap.toml).

use clap::Args;
use serde::Serialize;

use crate::app::commands::COMMANDS;
use crate::app::keymap::Keymap;

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Action {
    id: &'static str,
    title: &'static str,
    scope: &'static str,
    keys: Vec<String>,
}

pub fn run(args: KeysArgs) -> anyhow::Result<i32> {
    let keymap = Keymap::load(crate::shell::run::config_dir().as_deref())?;
    let actions: Vec<Action> = COMMANDS
        .iter()
        .map(|c| Action {
            id: c.id(),
            title: c.title,
            scope: c.scope.label(),
            keys: keymap
                .keys_of(c.cmd)
                .iter()
                .map(|k| k.to_string())
                .collect(),
        })
        .collect();
    if args.json {
        super::output::print_json(&actions)?;
    } else {
        for a in actions {
            println!(
                "{:<22} {:<10} {:<18} {}",
                a.id,
                a.scope,
                a.keys.join(" "),
                a.title
            );
        }
    }
    Ok(0)
}
