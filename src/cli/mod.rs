//! The command line: argument definitions and dispatch. One file per subcommand family;
//! each prints text for people or, with `--json`, JSON for scripts.

pub mod agent;
pub mod codebase;
pub mod completions;
pub mod db;
pub mod demo;
pub mod deploy;
pub mod diff;
pub mod domain;
pub mod entry;
pub mod init;
pub mod keys;
pub mod map;
pub mod output;
pub mod server;
pub mod settings;
pub mod snapshot;

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
    Map(map::MapArgs),
    /// Snapshots of files: create, list, show, delete, diff.
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
    #[command(subcommand)]
    Deploy(deploy::DeployCommand),
    /// The server side of deploying: apply, recover, rollback, history, unlock, map.
    #[command(subcommand, hide = true)]
    Agent(agent::AgentCommand),
    /// Serve a web root for deploys over HTTP (on the server), and manage its API keys.
    Serve(agent::ServeArgs),
    /// Deploy targets of the project: add, list, show, remove.
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Database profiles (MySQL/MariaDB, SQLite): add, list, test, remove, query.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff): `devsky man | man -l -`.
    Man,
}

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        None => {
            let path = cli.path.unwrap_or_else(|| PathBuf::from("."));
            crate::app::run_tui(
                &path,
                crate::app::TuiOptions {
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
        Some(Command::Server(c)) => server::run(c),
        Some(Command::Completions(a)) => completions::completions(a),
        Some(Command::Man) => completions::man(),
    }
}
