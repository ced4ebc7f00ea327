//! `devsky server add|list|show|remove`: the deploy targets of a project. API keys are
//! never stored in the store nor printed: `--key` goes to `.devsky/secrets/<name>.key`
//! (mode 0600; `.devsky/` is never deployed), `--key-env` names a variable to read it from.
//! A server reached over SSH (`--ssh USER@HOST[:PORT] --root DIR`) needs no key: the
//! system's ssh authenticates with the user's own config, keys and agent. An `https://`
//! agent's certificate is checked against the system's roots, a CA (`--ca FILE`) or a
//! pinned fingerprint (`--fingerprint`). FTP/FTPS and SFTP targets without an agent
//! (`--ftp`, `--sftp`) are added by [`super::server_agentless`].
//!
//! What a deploy to a server covers is part of its profile (`--include`/`--exclude` on
//! `add`, or `server files`): every file and folder of the project but what `.devskyignore`
//! files and the excludes leave out (`.gitignore` does not count).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::print_json;
use crate::engine::project::Project;
use crate::engine::remote::tls::{check_ca, parse_fingerprint};
use crate::engine::remote::{
    ENVIRONMENTS, ServerProfile, add_server, check_name, get_server, key_source, list_servers,
    remove_server, set_files, store_key,
};
use crate::engine::util::units::format_time;

// Parsed once per run: the size of the `add` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Add a deploy target reached over HTTP (`devsky serve` on the server) or SSH, or a
    /// branch of a Git repository (--git).
    Add(AddArgs),
    /// The deploy targets.
    List(ListArgs),
    /// One deploy target.
    Show(ShowArgs),
    /// Remove a deploy target and its stored key.
    Remove(ShowArgs),
    /// Show or change what a deploy to the server covers: every file and folder of the
    /// project except what .devskyignore files and the excludes leave out (.gitignore does
    /// not count); with includes, only those.
    Files(FilesArgs),
}

/// What a deploy covers, as options.
#[derive(Debug, Args, Default)]
pub struct GlobArgs {
    /// Deploy only this file, folder or glob (`app`, `public/**`); repeatable. Default:
    /// the whole project.
    #[arg(short = 'i', long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
    /// Never deploy this file, folder or glob (`var/cache`, `**/*.log`); repeatable. Paths
    /// the server has there are left alone. `.devskyignore` files leave out more.
    #[arg(short = 'x', long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Args)]
pub struct FilesArgs {
    pub name: String,
    #[command(flatten)]
    pub globs: GlobArgs,
    /// Forget the includes and excludes (deploy the whole project but .devskyignore's).
    #[arg(long)]
    pub clear: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Project folder (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// A name for the server (letters, digits, '-', '_', '.').
    pub name: String,
    /// The agent's address, e.g. https://203.0.113.5:7777 (or http:// to a loopback
    /// address or through a tunnel).
    #[arg(
        long,
        value_name = "URL",
        required_unless_present_any = ["ssh", "git", "ftp", "sftp"],
        conflicts_with_all = ["ssh", "ftp", "sftp"]
    )]
    pub url: Option<String>,
    #[command(flatten)]
    pub agentless: super::server_agentless::AgentlessArgs,
    /// Reach the server over SSH instead (`ssh USER@HOST devsky agent --stdio`), with your
    /// own ~/.ssh/config, keys and agent; no API key.
    #[arg(long, value_name = "USER@HOST[:PORT]", conflicts_with_all = ["ftp", "sftp"])]
    pub ssh: Option<String>,
    /// With --ssh or --sftp: the web root on the server.
    #[arg(long, value_name = "DIR")]
    pub root: Option<String>,
    /// With --ssh or --sftp: extra ssh arguments, e.g. "-i ~/.ssh/deploy_key"; repeatable.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub ssh_opt: Vec<String>,
    /// With --ssh: the devsky command on the server.
    #[arg(long, value_name = "PATH", requires = "ssh", default_value = "devsky")]
    pub remote_bin: String,
    /// With --ssh: the site's database, passed to the agent as `--db URL` (`sqlite:PATH`,
    /// `mysql://USER@HOST/DB`; a password goes in the server's $DEVSKY_DB_PASSWORD).
    #[arg(
        long,
        value_name = "URL",
        requires = "ssh",
        value_parser = clap::builder::TypedValueParser::map(
            crate::server::database::DbArg,
            |u| u.to_string()
        )
    )]
    pub remote_db: Option<String>,
    /// The API key (from `devsky serve key create`; `-` reads it from stdin); kept in
    /// .devsky/secrets/NAME.key (mode 0600), never in the store.
    #[arg(
        long,
        value_name = "KEY",
        conflicts_with = "key_env",
        allow_hyphen_values = true
    )]
    pub key: Option<String>,
    /// Read the API key from this environment variable instead.
    #[arg(long, value_name = "VAR")]
    pub key_env: Option<String>,
    /// For an https:// URL: trust the agent's certificate if this CA (a PEM file) signed
    /// it, instead of the system's roots. Its text is kept in the store.
    #[arg(long, value_name = "FILE", conflicts_with = "fingerprint")]
    pub ca: Option<PathBuf>,
    /// For an https:// URL: trust only the certificate with this SHA-256 fingerprint
    /// (what `devsky serve tls init` printed; AB:CD:... or plain hex).
    #[arg(long, value_name = "SHA256")]
    pub fingerprint: Option<String>,
    /// development, staging or production (production deploys ask for confirmation).
    #[arg(long = "env", value_name = "ENV", default_value = "staging")]
    pub environment: String,
    /// Make it the default server.
    #[arg(long)]
    pub default: bool,
    #[command(flatten)]
    pub globs: GlobArgs,
    #[command(flatten)]
    pub git: super::server_git::GitArgs,
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

pub(crate) fn project(p: Option<PathBuf>) -> anyhow::Result<Project> {
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
                        s.p.url.as_deref().or(s.p.ssh.as_deref()).unwrap_or("-"),
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
                println!("id:          {}", p.id);
                println!("name:        {}", p.name);
                println!("environment: {}", p.environment);
                println!("transport:   {}", p.transport);
                if p.transport == "git" {
                    println!("git:         {}", p.url.as_deref().unwrap_or("-"));
                    println!("options:     {}", p.options);
                } else if p.transport == "ssh" {
                    println!("ssh:         {}", p.ssh.as_deref().unwrap_or("-"));
                    println!("root:        {}", p.remote_root.as_deref().unwrap_or("-"));
                } else {
                    println!("url:         {}", p.url.as_deref().unwrap_or("-"));
                    println!("certificate: {}", p.trust_text());
                }
                println!("key:         {}", s.key);
                println!("default:     {}", if p.is_default { "yes" } else { "no" });
                print_files(&p);
                println!("created:     {}", format_time(p.created));
            }
            Ok(0)
        }
        ServerCommand::Files(a) => {
            let project = project(a.project)?;
            let mut store = project.open_store(true)?;
            let mut p = get_server(&store, &a.name)?;
            if a.clear || !a.globs.include.is_empty() || !a.globs.exclude.is_empty() {
                if a.clear {
                    p.include.clear();
                    p.exclude.clear();
                }
                p.include.extend(a.globs.include);
                p.exclude.extend(a.globs.exclude);
                set_files(&mut store, &p.name, &p.files())?;
            }
            if a.json {
                print_json(&p.files())?;
            } else {
                print_files(&p);
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

/// What a deploy to `p` covers, for people.
fn print_files(p: &ServerProfile) {
    let list = |v: &[String]| v.join(" ");
    println!(
        "deploys:     {}; never .devskyignore's{}",
        if p.include.is_empty() {
            "every file and folder of the project".to_string()
        } else {
            format!("only {}", list(&p.include))
        },
        if p.exclude.is_empty() {
            String::new()
        } else {
            format!(" nor {}", list(&p.exclude))
        }
    );
}

fn add(a: AddArgs) -> anyhow::Result<i32> {
    check_name(&a.name)?;
    crate::engine::deploy::plan::FileSet {
        include: a.globs.include.clone(),
        exclude: a.globs.exclude.clone(),
    }
    .filter()?;
    if !ENVIRONMENTS.contains(&a.environment.as_str()) {
        bail!("--env is one of {}", ENVIRONMENTS.join(", "));
    }
    if a.agentless.ftp.is_some() || a.agentless.sftp.is_some() {
        return super::server_agentless::add(&a);
    }
    if let Some(ssh) = &a.ssh {
        return add_ssh(&a, ssh);
    }
    if let Some(git) = &a.git.git {
        return super::server_git::add_git(&a, git);
    }
    if a.root.is_some() || !a.ssh_opt.is_empty() {
        bail!("--root and --ssh-opt are for --ssh or --sftp");
    }
    let Some(url) = a.url.clone() else {
        bail!("give --url URL (the HTTP agent) or --ssh USER@HOST --root DIR");
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("--url is http://HOST:PORT (or https://)");
    }
    let https = url.starts_with("https://");
    if !https && (a.ca.is_some() || a.fingerprint.is_some()) {
        bail!("--ca and --fingerprint are for an https:// URL");
    }
    let tls_ca = match &a.ca {
        Some(f) => {
            let pem = std::fs::read_to_string(f)
                .with_context(|| format!("--ca {}: cannot read it", f.display()))?;
            check_ca(&pem).with_context(|| format!("--ca {}", f.display()))?;
            Some(pem)
        }
        None => None,
    };
    let tls_fingerprint = a
        .fingerprint
        .as_deref()
        .map(parse_fingerprint)
        .transpose()?;
    if a.key.is_none() && a.key_env.is_none() {
        bail!(
            "give the API key: --key KEY (stored in .devsky/secrets, mode 0600) or --key-env VAR"
        );
    }
    let project = project(a.project)?;
    let mut store = project.open_store(true)?;
    let p = ServerProfile {
        id: 0,
        name: a.name.clone(),
        environment: a.environment,
        transport: "http".into(),
        url: Some(url),
        key_env: a.key_env,
        ssh: None,
        remote_root: None,
        is_default: a.default,
        created: crate::store::now(),
        tls_ca,
        tls_fingerprint,
        include: a.globs.include.clone(),
        exclude: a.globs.exclude.clone(),
        options: serde_json::Value::Null,
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
        "added server {} ({}, {}); key: {}; certificate: {}",
        p.name,
        p.environment,
        p.url.as_deref().unwrap_or("-"),
        key_source(&project.root, &p),
        p.trust_text()
    );
    Ok(0)
}

/// `server add NAME --ssh USER@HOST[:PORT] --root DIR [--ssh-opt ARGS] [--remote-bin PATH]
/// [--remote-db URL]`.
fn add_ssh(a: &AddArgs, ssh: &str) -> anyhow::Result<i32> {
    use crate::engine::remote::ssh::{SshTarget, split_words};
    if a.key.is_some() || a.key_env.is_some() {
        bail!("a server reached over SSH has no API key: SSH authenticates");
    }
    let Some(root) = a.root.clone().filter(|r| !r.trim().is_empty()) else {
        bail!("--ssh needs --root DIR: the web root on the server");
    };
    let (destination, port) = SshTarget::parse_destination(ssh)?;
    let mut ssh_args = Vec::new();
    for o in &a.ssh_opt {
        ssh_args.extend(split_words(o)?);
    }
    let target = SshTarget {
        destination,
        port,
        ssh_args,
        remote_bin: a.remote_bin.clone(),
        root: root.clone(),
        db: a.remote_db.clone(),
    };
    let project = project(a.project.clone())?;
    let mut store = project.open_store(true)?;
    let p = ServerProfile {
        id: 0,
        name: a.name.clone(),
        environment: a.environment.clone(),
        transport: "ssh".into(),
        url: None,
        key_env: None,
        ssh: Some(target.ssh_column()),
        remote_root: Some(root),
        is_default: a.default,
        created: crate::store::now(),
        tls_ca: None,
        tls_fingerprint: None,
        include: a.globs.include.clone(),
        exclude: a.globs.exclude.clone(),
        options: serde_json::Value::Null,
    };
    add_server(&mut store, &p)?;
    println!(
        "added server {} ({}, ssh {} root {})",
        p.name,
        p.environment,
        p.ssh.as_deref().unwrap_or("-"),
        p.remote_root.as_deref().unwrap_or("-")
    );
    Ok(0)
}
