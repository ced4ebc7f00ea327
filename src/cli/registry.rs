//! `devsky registry serve|user|login|publish|yank|owners|release|cache` and `devsky update`:
//! the team registry's server and its users (docs/REGISTRY.md), and the client's login and index sync. Tokens are printed
//! once, by `user add` and `user token`, and never again; `login` keeps one in
//! `.devsky/secrets/` (0600).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::print_json;
use crate::engine::project::Project;
use crate::engine::registry;
use crate::engine::registry::client::Dep;
use crate::engine::registry::releases;
use crate::engine::util::units::human_size;
use crate::registry as server;

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Run the team registry: packages, SKY_IDs, the index, claims, releases.
    Serve(ServeArgs),
    /// The registry's users and their tokens (on the server's data).
    #[command(subcommand)]
    User(UserCommand),
    /// Keep a registry's URL and token for this project (the token in .devsky/secrets/).
    Login(LoginArgs),
    /// Reserve a version (its SKY_ID) and upload an archive file for it.
    Publish(PublishArgs),
    /// Yank a published version (installs stop choosing it), or --undo.
    Yank {
        name: String,
        version: String,
        #[arg(long)]
        undo: bool,
        #[command(flatten)]
        at: AtArgs,
    },
    /// A package's owners; with --add LOGIN, add one (the first author or root).
    Owners {
        name: String,
        #[arg(long, value_name = "LOGIN")]
        add: Option<String>,
        #[command(flatten)]
        at: AtArgs,
    },
    /// Release snapshots: with packages (NAME@VERSION...), pin a new one; else show it
    /// (or list them all without a name).
    Release {
        name: Option<String>,
        #[arg(value_name = "NAME@VERSION")]
        packages: Vec<String>,
        #[command(flatten)]
        at: AtArgs,
    },
    /// The project's cache: the release snapshots it keeps (by their time) and the
    /// archives; with --prune, drop the archives no kept release pins.
    Cache {
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        at: AtArgs,
    },
}

/// The project whose registry login a command uses (output is JSON).
#[derive(Debug, Args)]
pub struct AtArgs {
    /// The project (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

fn client_at(at: AtArgs) -> anyhow::Result<registry::Client> {
    let project = Project::locate(&at.project.unwrap_or_else(|| PathBuf::from(".")))?;
    let store = project.open_store(false)?;
    registry::client(&project.root, &store)
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The archive (sent as it is, with its blake3).
    pub file: PathBuf,
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub version: String,
    /// A dependency, NAME@REQUIREMENT (`core@^2.1`); repeatable.
    #[arg(long = "depends", value_name = "NAME@REQ")]
    pub depends: Vec<String>,
    /// An "in work" version: uploading it renews your claims on the package.
    #[arg(long)]
    pub in_work: bool,
    /// The project (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// Where the registry keeps its data.
#[derive(Debug, Args, Clone)]
pub struct DataArgs {
    /// The registry's folder: archives, and the SQLite database unless --database.
    #[arg(long, value_name = "DIR", default_value = "devsky-registry")]
    pub data: PathBuf,
    /// Keep the metadata in PostgreSQL: postgres://USER[:PASSWORD]@HOST:PORT/DB.
    #[arg(long, value_name = "URL", env = "DEVSKY_REGISTRY_DATABASE")]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Address to listen on (loopback only: put a TLS proxy or tunnel in front).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub listen: String,
    /// How long a claim lasts unless renewed.
    #[arg(long, value_name = "HOURS", default_value_t = server::CLAIM_HOURS)]
    pub claim_hours: u32,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; prints their first token (once).
    Add {
        login: String,
        /// Root: may manage every package and force any claim's release.
        #[arg(long)]
        root: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Make another token for a user; prints it (once).
    Token {
        login: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke every token of a user.
    Revoke {
        login: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// The users.
    List {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry: http(s)://HOST[:PORT].
    pub url: String,
    /// The token `devsky registry user add` printed (or DEVSKY_REGISTRY_TOKEN).
    #[arg(long, env = "DEVSKY_REGISTRY_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The project (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Also download the archives of new versions into the local cache.
    #[arg(long)]
    pub sync: bool,
    /// List every package of the index (default: only those this sync changed).
    #[arg(long)]
    pub all: bool,
    /// The project (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(c: RegistryCommand) -> anyhow::Result<i32> {
    match c {
        RegistryCommand::Serve(a) => {
            server::serve(&server::ServeOptions {
                data: a.data.data,
                database: a.data.database,
                listen: a.listen,
                claim_hours: a.claim_hours,
            })?;
            Ok(0)
        }
        RegistryCommand::User(u) => user(u),
        RegistryCommand::Publish(a) => publish(a),
        RegistryCommand::Yank {
            name,
            version,
            undo,
            at,
        } => {
            let what = if undo { "unyank" } else { "yank" };
            let v = client_at(at)?.call(
                reqwest::Method::POST,
                &["packages", &name, &version, what],
                None,
            )?;
            print_json(&v)?;
            Ok(0)
        }
        RegistryCommand::Owners { name, add, at } => {
            let c = client_at(at)?;
            let v = match add {
                Some(login) => c.call(
                    reqwest::Method::POST,
                    &["owners", &name],
                    Some(json!({ "login": login })),
                )?,
                None => c.call(reqwest::Method::GET, &["owners", &name], None)?,
            };
            print_json(&v)?;
            Ok(0)
        }
        RegistryCommand::Release { name, packages, at } => {
            let c = client_at(at)?;
            let v = match (name, packages.is_empty()) {
                (None, _) => c.call(reqwest::Method::GET, &["releases"], None)?,
                (Some(n), true) => c.call(reqwest::Method::GET, &["releases", &n], None)?,
                (Some(n), false) => {
                    let pins = packages
                        .iter()
                        .map(|p| match p.split_once('@') {
                            Some((name, version)) if !name.is_empty() && !version.is_empty() => {
                                Ok(json!({"name": name, "version": version}))
                            }
                            _ => anyhow::bail!("{p:?}: give NAME@VERSION, like shop@1.2.0"),
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    c.call(
                        reqwest::Method::POST,
                        &["releases"],
                        Some(json!({"name": n, "packages": pins})),
                    )?
                }
            };
            print_json(&v)?;
            Ok(0)
        }
        RegistryCommand::Cache { prune, at } => {
            let project = Project::locate(&at.project.unwrap_or_else(|| PathBuf::from(".")))?;
            print_json(&releases::cache_report(&project.root, prune)?)?;
            Ok(0)
        }
        RegistryCommand::Login(a) => {
            let project = Project::locate(&a.project.unwrap_or_else(|| PathBuf::from(".")))?;
            let store = project.open_store(true)?;
            let file = registry::login(&project.root, &store, &a.url, &a.token)?;
            println!(
                "registry {} for {}; token kept in {} (0600)",
                registry::check_url(&a.url)?,
                project.root.display(),
                file.display()
            );
            Ok(0)
        }
    }
}

fn user(u: UserCommand) -> anyhow::Result<i32> {
    let rt = server::runtime()?;
    rt.block_on(async move {
        let open = |d: &DataArgs| {
            let d = d.clone();
            async move { server::sql::open(&d.data, d.database.as_deref()).await }
        };
        match u {
            UserCommand::Add { login, root, data } => {
                let db = open(&data).await?;
                let token = server::users::add(db.as_ref(), &login, root).await?;
                eprintln!(
                    "user {login}{} added; their token (shown once, keep it secret):",
                    if root { " (root)" } else { "" }
                );
                println!("{token}");
            }
            UserCommand::Token { login, data } => {
                let db = open(&data).await?;
                let token = server::users::token(db.as_ref(), &login).await?;
                eprintln!("a new token for {login} (shown once, keep it secret):");
                println!("{token}");
            }
            UserCommand::Revoke { login, data } => {
                let db = open(&data).await?;
                let n = server::users::revoke(db.as_ref(), &login).await?;
                println!("revoked {n} token(s) of {login}");
            }
            UserCommand::List { data, json } => {
                let db = open(&data).await?;
                let list = server::users::list(db.as_ref()).await?;
                if json {
                    print_json(&list)?;
                } else {
                    for u in list {
                        println!(
                            "{:<20} {:<5} {} live token(s)",
                            u.login,
                            if u.root { "root" } else { "" },
                            u.live_tokens
                        );
                    }
                }
            }
        }
        Ok(0)
    })
}

fn publish(a: PublishArgs) -> anyhow::Result<i32> {
    let depends = a
        .depends
        .iter()
        .map(|d| match d.split_once('@') {
            Some((name, req)) if !name.is_empty() && !req.is_empty() => Ok(Dep {
                name: name.to_string(),
                req: req.to_string(),
            }),
            _ => anyhow::bail!("--depends {d:?}: give NAME@REQUIREMENT, like core@^2.1"),
        })
        .collect::<anyhow::Result<Vec<Dep>>>()?;
    let project = Project::locate(&a.project.unwrap_or_else(|| PathBuf::from(".")))?;
    let store = project.open_store(false)?;
    let client = registry::client(&project.root, &store)?;
    let p = client.publish(&a.name, &a.version, &depends, a.in_work, &a.file)?;
    if a.json {
        print_json(&p)?;
    } else {
        println!(
            "published {} {}: SKY_ID {}, {} ({} renewed claim(s))",
            p.name,
            p.version,
            p.sky_id,
            human_bytes(p.size),
            p.claims_renewed
        );
    }
    Ok(0)
}

/// `devsky update [--sync]`.
pub fn update(a: UpdateArgs) -> anyhow::Result<i32> {
    let project = Project::locate(&a.project.unwrap_or_else(|| PathBuf::from(".")))?;
    let store = project.open_store(false)?;
    let rep = registry::update(&project.root, &store, a.sync, a.all)?;
    if a.json {
        print_json(&json!(rep))?;
        return Ok(0);
    }
    println!(
        "{}: {} new or changed version(s), index {} transferred (cursor {} -> {}); {} \
         package(s) known{}",
        rep.url,
        rep.changed,
        human_bytes(rep.index_bytes),
        rep.from,
        rep.cursor,
        rep.known,
        if a.all || rep.packages.is_empty() {
            ""
        } else {
            " (those changed below; --all lists every one)"
        }
    );
    if a.sync {
        println!(
            "{} archive(s) fetched, {}",
            rep.archives,
            human_bytes(rep.archive_bytes)
        );
    }
    for p in &rep.packages {
        let versions: Vec<String> = p
            .versions
            .iter()
            .map(|v| {
                if v.yanked {
                    format!("{} (yanked)", v.version)
                } else {
                    v.version.clone()
                }
            })
            .collect();
        println!("{:<32} {}", p.name, versions.join(", "));
    }
    Ok(0)
}

fn human_bytes(n: u64) -> String {
    format!("{n} bytes ({})", human_size(n as i64))
}
