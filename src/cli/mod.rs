//! The command line: argument definitions and dispatch. One file per subcommand family;
//! each prints text for people or, with `--json`, JSON for scripts.

pub mod agent;
pub mod bin;
pub mod claim;
pub mod codebase;
pub mod completions;
pub mod db;
pub mod demo;
pub mod deploy;
pub mod diff;
pub mod domain;
pub mod entry;
pub mod init;
pub mod install;
pub mod keys;
pub mod map;
pub mod output;
pub mod package;
pub mod registry;
pub mod replace;
pub mod script;
pub mod server;
pub mod server_agentless;
pub mod server_git;
pub mod settings;
pub mod snapshot;
pub mod task;
pub mod webhook;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// devsky: a keyboard-driven terminal workbench for web developers.
///
/// With no subcommand, opens the TUI on the project at PATH (default: the current folder).
#[derive(Debug, Parser)]
#[command(name = "devsky", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Project folder to open in the TUI.
    pub path: Option<PathBuf>,

    /// Colour theme (default, dark, light, mono or one of yours).
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,

    /// Draw the first frame and exit (used by the startup benchmark).
    #[arg(long, hide = true)]
    pub exit_after_first_frame: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a devsky store (.devsky/dev.db) in a project folder.
    Init(init::InitArgs),
    /// Codebase records: import files, list, show, search.
    #[command(subcommand)]
    Codebase(codebase::CodebaseCommand),
    /// Make a sample project with a few thousand codebase records and open it.
    Demo(demo::DemoArgs),
    /// List every action with its keys (as the TUI's help and palette show them).
    Keys(keys::KeysArgs),
    /// Read and change the project's settings.
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
    /// The file map of a tree: blake3 of every file (b3sum's format, or --json).
    ///
    /// A map covers every file and symlink of the tree except what .gitignore,
    /// .devskyignore and .git/info/exclude leave out (and .git/, .devsky/). Folders are
    /// not listed. Deploys cover more: see `devsky deploy --help`.
    Map(map::MapArgs),
    /// Snapshots of files: create, list, show, delete, diff.
    ///
    /// A snapshot covers what a map covers (every file and symlink but what .gitignore,
    /// .devskyignore and .git/info/exclude leave out), narrowed by its domain's globs.
    #[command(subcommand)]
    Snapshot(snapshot::SnapshotCommand),
    /// Domains: named include/exclude globs that say what a snapshot covers.
    #[command(subcommand)]
    Domain(domain::DomainCommand),
    /// A unified diff of two files, or of what changed since a snapshot.
    Diff(diff::DiffArgs),
    /// Remove stored contents that no snapshot references.
    Gc(snapshot::GcArgs),
    /// Deploying: plan, push, roll back and follow deployments on a server; build packages.
    ///
    /// A deploy covers every file, symlink and folder (empty ones too, with its mode) of the
    /// project except what .devskyignore files and the server profile's excludes leave out
    /// (`devsky server files NAME -x GLOB`); with includes, only those. .gitignore does not
    /// count: a gitignored vendor/ is deployed. The plan says how many paths each rule left
    /// out; the server's paths a rule leaves out are never deleted.
    #[command(subcommand)]
    Deploy(deploy::DeployCommand),
    /// The server side of deploying: apply, recover, rollback, history, unlock, map.
    #[command(subcommand, hide = true)]
    Agent(agent::AgentCommand),
    /// Serve a web root for deploys over HTTP (on the server), and manage its API keys.
    Serve(agent::ServeArgs),
    /// Deploy targets of the project: add, list, show, files (what a deploy covers), remove.
    #[command(subcommand)]
    Server(Box<server::ServerCommand>),
    /// Database profiles (MySQL/MariaDB, SQLite): add, list, test, remove, query.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Change scripts: what changed since a snapshot (files and database) as one change.
    #[command(subcommand)]
    Script(script::ScriptCommand),
    /// Builds: apply a script to another installation, list, show, roll back.
    #[command(subcommand)]
    Build(script::BuildCommand),
    /// Winds: a script as one standalone sh script that applies and rolls back the change
    /// on a box without devsky.
    #[command(subcommand)]
    Wind(script::WindCommand),
    /// Packages as .sky archives: export, import (ids rebased), tune, show, list.
    #[command(subcommand)]
    Package(package::PackageCommand),
    /// Search a domain's files and a database's tables (literal or regex).
    Search(replace::SearchArgs),
    /// Replace over a domain's files and a database's tables, keeping PHP-serialized and
    /// JSON values valid: preview (--dry-run), apply (--apply), undo, list.
    Replace(replace::ReplaceArgs),
    /// Mass tasks over a domain's files: checksums, sizes, lines, encoding, syntax,
    /// functions (a table, --json, --csv FILE).
    Task(task::TaskArgs),
    /// The recycle bin: files devsky deleted or overwrote (list, restore, empty).
    #[command(subcommand)]
    Bin(bin::BinCommand),
    /// Outgoing webhooks: add, list, remove, and the delivery log.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// The team registry: serve it, its users, and this project's login to one.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Sync the registry's index (only what changed) and list its packages and versions.
    Update(registry::UpdateArgs),
    /// Send a package to the registry: Tune it, check claims, reserve (SKY_ID), upload.
    Submit(install::SubmitArgs),
    /// Install a package from the registry with its dependencies (resolved, imported).
    Install(install::InstallArgs),
    /// Claims on the registry: take records into work, list, verify, release.
    #[command(subcommand)]
    Claim(claim::ClaimCommand),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff): `devsky man | man -l -`.
    Man,
}

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    if !matches!(
        cli.command,
        Some(
            Command::Serve(_)
                | Command::Agent(_)
                | Command::Registry(_)
                | Command::Completions(_)
                | Command::Man
        )
    ) {
        recover_builds();
    }
    match cli.command {
        None => {
            let path = cli.path.unwrap_or_else(|| PathBuf::from("."));
            crate::shell::run_tui(
                &path,
                crate::shell::TuiOptions {
                    theme: cli.theme,
                    exit_after_first_frame: cli.exit_after_first_frame,
                },
            )
        }
        Some(Command::Init(a)) => init::run(a),
        Some(Command::Codebase(c)) => codebase::run(c),
        Some(Command::Demo(a)) => demo::run(a, cli.theme),
        Some(Command::Keys(a)) => keys::run(a),
        Some(Command::Settings(c)) => settings::run(c),
        Some(Command::Map(a)) => map::run(a),
        Some(Command::Snapshot(c)) => snapshot::run(c),
        Some(Command::Domain(c)) => domain::run(c),
        Some(Command::Diff(a)) => diff::run(a),
        Some(Command::Gc(a)) => snapshot::gc(a),
        Some(Command::Deploy(c)) => deploy::run(c),
        Some(Command::Agent(c)) => agent::run(c),
        Some(Command::Db(c)) => db::run(c),
        Some(Command::Serve(a)) => agent::serve(a),
        Some(Command::Server(c)) => server::run(*c),
        Some(Command::Script(c)) => script::run_script(c),
        Some(Command::Build(c)) => script::run_build(c),
        Some(Command::Wind(c)) => script::run_wind(c),
        Some(Command::Package(c)) => package::run(c),
        Some(Command::Search(a)) => replace::search(a),
        Some(Command::Replace(a)) => replace::run(a),
        Some(Command::Task(a)) => task::run(a),
        Some(Command::Bin(c)) => bin::run(c),
        Some(Command::Webhook(c)) => webhook::run(c),
        Some(Command::Registry(c)) => registry::run(c),
        Some(Command::Update(a)) => registry::update(a),
        Some(Command::Submit(a)) => install::submit(a),
        Some(Command::Install(a)) => install::install(a),
        Some(Command::Claim(c)) => claim::run(c),
        Some(Command::Completions(a)) => completions::completions(a),
        Some(Command::Man) => completions::man(),
    }
}

/// A build interrupted in the project of the current folder (killed, power lost) is undone
/// before anything else runs: its target folder and database go back to exactly how they
/// were (engine::scripts::build). Quiet when there is nothing to do.
fn recover_builds() {
    let Ok(project) = crate::engine::project::Project::locate(std::path::Path::new(".")) else {
        return;
    };
    match crate::engine::scripts::build::recover_pending(
        &project,
        &crate::engine::jobs::Progress::silent(),
    ) {
        Ok(lines) => lines.iter().for_each(|l| eprintln!("devsky: {l}")),
        Err(e) => eprintln!("devsky: recovering an interrupted build: {e:#}"),
    }
}
