//! `devsky server add|list|show|remove`: the deploy targets of a project. API keys are
//! never stored in the store nor printed: `--key` goes to `.devsky/secrets/<name>.key`
//! (mode 0600; `.devsky/` is never deployed), `--key-env` names a variable to read it from.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::print_json;
use crate::engine::project::Project;
use crate::engine::remote::{
    ENVIRONMENTS, ServerProfile, add_server, check_name, get_server, key_source, list_servers,
    remove_server, store_key,
};
use crate::engine::units::format_time;

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Add a deploy target reached over HTTP (`devsky serve` on the server).
    Add(AddArgs),
    /// The deploy targets.
    List(ListArgs),
    /// One deploy target.
    Show(ShowArgs),
    /// Remove a deploy target and its stored key.
    Remove(ShowArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// A name for the server (letters, digits, '-', '_', '.').
    pub name: String,
    /// The agent's address, e.g. http://203.0.113.5:7777.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The API key (from `devsky serve key create`; `-` reads it from stdin); kept in
    /// .devsky/secrets/NAME.key (mode 0600), never in the store.
    #[arg(long, value_name = "KEY", conflicts_with = "key_env")]
    pub key: Option<String>,
    /// Read the API key from this environment variable instead.
    #[arg(long, value_name = "VAR")]
    pub key_env: Option<String>,
    /// development, staging or production (production deploys ask for confirmation).
    #[arg(long = "env", value_name = "ENV", default_value = "staging")]
    pub environment: String,
    /// Make it the default server.
    #[arg(long)]
    pub default: bool,
    /// Project folder (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Project folder (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub name: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Project folder (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

/// A server as printed: the profile and where its key is (never the key).
#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    p: &'a ServerProfile,
    key: String,
}

fn project(p: Option<PathBuf>) -> anyhow::Result<Project> {
    Project::locate(&p.unwrap_or_else(|| PathBuf::from(".")))
}

pub fn run(c: ServerCommand) -> anyhow::Result<i32> {
    match c {
        ServerCommand::Add(a) => add(a),
        ServerCommand::List(a) => {
            let project = project(a.project)?;
            let store = project.open_store(true)?;
            let all = list_servers(&store)?;
            let shown: Vec<Shown> = all
                .iter()
                .map(|p| Shown {
                    p,
                    key: key_source(&project.root, p),
                })
                .collect();
            if a.json {
                print_json(&shown)?;
            } else if shown.is_empty() {
                println!("no servers yet: `devsky server add NAME --url URL --key KEY`");
            } else {
                for s in &shown {
                    println!(
                        "{}{:<16} {:<12} {:<5} {}  key: {}",
                        if s.p.is_default { "*" } else { " " },
                        s.p.name,
                        s.p.environment,
                        s.p.transport,
                        s.p.url.as_deref().unwrap_or("-"),
                        s.key
                    );
                }
            }
            Ok(0)
        }
        ServerCommand::Show(a) => {
            let project = project(a.project)?;
            let store = project.open_store(true)?;
            let p = get_server(&store, &a.name)?;
            let s = Shown {
                key: key_source(&project.root, &p),
                p: &p,
            };
            if a.json {
                print_json(&s)?;
            } else {
                println!("name:        {}", p.name);
                println!("environment: {}", p.environment);
                println!("transport:   {}", p.transport);
                println!("url:         {}", p.url.as_deref().unwrap_or("-"));
                println!("key:         {}", s.key);
                println!("default:     {}", if p.is_default { "yes" } else { "no" });
                println!("created:     {}", format_time(p.created));
            }
            Ok(0)
        }
        ServerCommand::Remove(a) => {
            let project = project(a.project)?;
            let mut store = project.open_store(true)?;
            if !remove_server(&mut store, &project.root, &a.name)? {
                bail!("no server named {}", a.name);
            }
            if a.json {
                print_json(&serde_json::json!({"removed": a.name}))?;
            } else {
                println!("removed server {}", a.name);
            }
            Ok(0)
        }
    }
}

fn add(a: AddArgs) -> anyhow::Result<i32> {
    check_name(&a.name)?;
    if !ENVIRONMENTS.contains(&a.environment.as_str()) {
        bail!("--env is one of {}", ENVIRONMENTS.join(", "));
    }
    if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
        bail!("--url is http://HOST:PORT (or https://)");
    }
    if a.url.starts_with("https://") {
        bail!("https is not built into this devsky yet: use http:// over a tunnel (ssh -L)");
    }
    if a.key.is_none() && a.key_env.is_none() {
        bail!(
            "give the API key: --key KEY (stored in .devsky/secrets, mode 0600) or --key-env VAR"
        );
    }
    let project = project(a.project)?;
    let mut store = project.open_store(true)?;
    let p = ServerProfile {
        name: a.name.clone(),
        environment: a.environment,
        transport: "http".into(),
        url: Some(a.url),
        key_env: a.key_env,
        ssh: None,
        remote_root: None,
        is_default: a.default,
        created: crate::store::now(),
    };
    add_server(&mut store, &p)?;
    let key = match a.key.as_deref() {
        // `--key -`: read it from stdin, so it never shows in the process list.
        Some("-") => {
            let mut k = String::new();
            std::io::stdin().read_line(&mut k)?;
            Some(k.trim().to_string())
        }
        other => other.map(|k| k.trim().to_string()),
    };
    if key.as_deref() == Some("") {
        bail!("the API key is empty");
    }
    if let Some(k) = &key
        && let Err(e) = store_key(&project.root, &a.name, k)
    {
        let _ = remove_server(&mut store, &project.root, &a.name);
        return Err(e);
    }
    println!(
        "added server {} ({}, {}); key: {}",
        p.name,
        p.environment,
        p.url.as_deref().unwrap_or("-"),
        key_source(&project.root, &p)
    );
    Ok(0)
}
