//! `devsky script create|list|show` (change scripts) and `devsky build apply|list|show|
//! rollback` (builds of them on another installation). See docs/SCRIPTS.md.

use std::path::PathBuf;

use clap::Subcommand;

use super::output::{print_json, stderr_progress};
use super::snapshot::At;
use crate::engine::project::Project;
use crate::engine::scripts::build::{self, BuildOptions, Conflicts};
use crate::engine::scripts::{self, CreateOptions, Filters};
use crate::engine::util::units::format_time;
use crate::store::scripts as rows;

#[derive(Debug, Subcommand)]
pub enum ScriptCommand {
    /// Turn what changed since a snapshot (files and database) into a change script.
    ///
    /// The difference between snapshot FROM and the working tree (or snapshot TO): files
    /// added, changed and deleted, each with its pre-image, contents in the object store;
    /// and when FROM has a database part, the forward and reverse SQL. Noise filters
    /// (--exclude, --exclude-table, --exclude-column) are remembered for the snapshot's
    /// domain and apply to every later script of it.
    Create {
        /// The snapshot the script starts from (id or name).
        #[arg(long)]
        from: String,
        /// The snapshot it goes to (default: the working tree and the database now).
        #[arg(long)]
        to: Option<String>,
        /// The script's name (default: the project's folder name and the time).
        #[arg(long)]
        name: Option<String>,
        /// Leave out paths (globs as a domain's; repeatable; remembered).
        #[arg(long = "exclude", short = 'x', value_name = "GLOB")]
        exclude: Vec<String>,
        /// Leave out a table (repeatable; remembered).
        #[arg(long = "exclude-table", value_name = "TABLE")]
        exclude_table: Vec<String>,
        /// Leave out a column's changes, TABLE.COLUMN (repeatable; remembered).
        #[arg(long = "exclude-column", value_name = "TABLE.COLUMN")]
        exclude_column: Vec<String>,
        /// Only this changed path (repeatable; not remembered): the script carries only
        /// the paths named. With --only-table only, no file.
        #[arg(long = "only", value_name = "PATH")]
        only: Vec<String>,
        /// Only this changed table (repeatable; not remembered): the script's SQL touches
        /// only the tables named. With --only only, no table.
        #[arg(long = "only-table", value_name = "TABLE")]
        only_table: Vec<String>,
        #[command(flatten)]
        at: At,
    },
    /// List scripts, newest first.
    List(At),
    /// Show a script: its header, files and SQL step counts; or its SQL or file list.
    Show {
        /// Id or name.
        id: String,
        /// Print the forward SQL.
        #[arg(long, conflicts_with_all = ["reverse_sql", "files"])]
        sql: bool,
        /// Print the reverse SQL.
        #[arg(long, conflicts_with = "files")]
        reverse_sql: bool,
        /// List the files with their pre-images.
        #[arg(long)]
        files: bool,
        #[command(flatten)]
        at: At,
    },
}

#[derive(Debug, Subcommand)]
pub enum BuildCommand {
    /// Apply a script to another installation: a folder and (for SQL) its database.
    ///
    /// Every file and row the script changes must hold its pre-image first; otherwise the
    /// build is refused naming each (exit 2), nothing changed, unless --force. Files go
    /// through the deploy engine (journal, backups, atomic renames, verification); the
    /// SQL runs after them (SQLite in one transaction, MySQL step by step, journaled).
    /// An interrupted build is undone by the next devsky command.
    Apply {
        /// The script (id or name).
        script: String,
        /// The target folder.
        #[arg(long, required_unless_present = "server", conflicts_with = "server")]
        target: Option<PathBuf>,
        /// Build on a server instead, through its devsky agent (HTTP or ssh): files and,
        /// when the agent was started with --db, the SQL, in one journaled deployment.
        #[arg(long, value_name = "NAME", conflicts_with = "db")]
        server: Option<String>,
        /// The target's database profile (needed when the script has SQL).
        #[arg(long, value_name = "PROFILE")]
        db: Option<String>,
        /// Apply over conflicts.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        at: At,
    },
    /// List builds, newest first.
    List(At),
    /// Show one build.
    Show {
        id: i64,
        #[command(flatten)]
        at: At,
    },
    /// Roll a build back: its files and its database, then check both equal the state
    /// before it. Newer builds on the same target that touched the same files or tables
    /// refuse it, unless --chain rolls them back first (newest first).
    Rollback {
        id: i64,
        /// Roll back the newer builds that touched the same files or tables first.
        #[arg(long)]
        chain: bool,
        /// Do it (without: say what would be rolled back).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        at: At,
    },
}

#[derive(Debug, Subcommand)]
pub enum WindCommand {
    /// Write a script as a wind: one POSIX sh script, run in the target folder with
    /// `sh FILE check|apply|rollback [--sqlite FILE | --mysql 'CLIENT OPTIONS']`. It needs
    /// only sh and coreutils (plus the sqlite3 or mysql client for SQL), checks every
    /// file's pre-image (SHA-256) before touching anything, and refuses with the list of
    /// conflicts otherwise (exit 2). See docs/SCRIPTS.md.
    Export {
        /// The script (id or name).
        script: String,
        /// The file to write (made executable).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        #[command(flatten)]
        at: At,
    },
}

pub fn run_wind(cmd: WindCommand) -> anyhow::Result<i32> {
    let WindCommand::Export { script, output, at } = cmd;
    let project = Project::locate(&at.project)?;
    let store = project.open_store(false)?;
    let l = scripts::load(&project, scripts::resolve(&store, &script)?)?;
    let w = scripts::wind::export(&project, &l, &output)?;
    if at.json {
        print_json(&serde_json::json!({
            "script": l.package.id,
            "output": output,
            "files": w.files,
            "sql": w.sql,
            "bytes": w.bytes,
        }))?;
    } else {
        println!(
            "wind of script {} written to {}: {} file(s){}; run it in the target folder: sh {} apply",
            l.package.id,
            output.display(),
            w.files,
            if w.sql { " and SQL" } else { "" },
            output.display()
        );
    }
    Ok(0)
}

pub fn run_script(cmd: ScriptCommand) -> anyhow::Result<i32> {
    match cmd {
        ScriptCommand::Create {
            from,
            to,
            name,
            exclude,
            exclude_table,
            exclude_column,
            only,
            only_table,
            at,
        } => {
            let picked = !only.is_empty() || !only_table.is_empty();
            let only_paths = picked.then(|| only.into_iter().collect());
            let only_tables = picked.then(|| only_table.into_iter().collect());
            let project = Project::locate(&at.project)?;
            let mut store = project.open_store(false)?;
            let p = scripts::create(
                &project,
                &mut store,
                CreateOptions {
                    from,
                    to,
                    name,
                    filters: Filters {
                        paths: exclude,
                        tables: exclude_table,
                        columns: exclude_column,
                    },
                    only_paths,
                    only_tables,
                },
                &stderr_progress(),
            )?;
            if at.json {
                print_json(&p)?;
            } else {
                println!(
                    "script {} \"{}\": {} file(s), {} SQL step(s){}",
                    p.id,
                    p.name,
                    p.files,
                    p.sql_steps,
                    if p.notes.is_empty() {
                        String::new()
                    } else {
                        format!("; incomplete: {}", p.notes.join("; "))
                    }
                );
            }
            Ok(0)
        }
        ScriptCommand::List(at) => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            let list = rows::packages(store.conn())?;
            if at.json {
                return print_json(&list).map(|_| 0);
            }
            for p in list {
                println!(
                    "{:>4}  {}  {:>5} files {:>4} sql  from {}{}  {}",
                    p.id,
                    format_time(p.created),
                    p.files,
                    p.sql_steps,
                    p.from_snapshot,
                    p.to_snapshot
                        .map(|t| format!(" to {t}"))
                        .unwrap_or_default(),
                    p.name
                );
            }
            Ok(0)
        }
        ScriptCommand::Show {
            id,
            sql,
            reverse_sql,
            files,
            at,
        } => {
            let project = Project::locate(&at.project)?;
            let store = project.open_store(false)?;
            let l = scripts::load(&project, scripts::resolve(&store, &id)?)?;
            let script = l.script()?;
            if sql || reverse_sql {
                let text = script
                    .map(|s| {
                        if sql {
                            s.forward_sql()
                        } else {
                            s.reverse_sql()
                        }
                    })
                    .unwrap_or_default();
                if at.json {
                    print_json(&serde_json::json!({ "id": l.package.id, "sql": text }))?;
                } else {
                    print!("{text}");
                }
                return Ok(0);
            }
            if files {
                if at.json {
                    print_json(&l.files)?;
                } else {
                    for f in &l.files {
                        let h = |s: &Option<scripts::FileState>| {
                            s.as_ref()
                                .map_or("-".repeat(12), |s| s.blake3[..12].to_string())
                        };
                        println!(
                            "{:<8} {} -> {}  {}",
                            f.what(),
                            h(&f.before),
                            h(&f.after),
                            f.path
                        );
                    }
                }
                return Ok(0);
            }
            let tables = l.tables()?;
            if at.json {
                print_json(&serde_json::json!({
                    "script": l.package,
                    "files": l.files,
                    "tables": tables,
                    "forward": script.as_ref().map(|s| s.forward_sql()),
                    "reverse": script.as_ref().map(|s| s.reverse_sql()),
                }))?;
                return Ok(0);
            }
            let p = &l.package;
            println!(
                "script {}: {} (version {}, sky_id {})",
                p.id, p.name, p.version, p.sky_id
            );
            println!("app:      {}", p.app);
            println!("depends:  {:?}", p.depends);
            println!("included: {:?}", p.included);
            println!("priorun:  {:?}", p.priorun);
            println!("authors:  {}", p.authors);
            println!(
                "from:     snapshot {}{}",
                p.from_snapshot,
                p.to_snapshot
                    .map(|t| format!(" to snapshot {t}"))
                    .unwrap_or_else(|| " to the working tree".into())
            );
            println!("files:    {}", p.files);
            println!(
                "sql:      {} step(s){}",
                p.sql_steps,
                p.db_profile
                    .as_deref()
                    .map(|d| format!(
                        " (database {d}; tables {})",
                        tables.into_iter().collect::<Vec<_>>().join(", ")
                    ))
                    .unwrap_or_default()
            );
            println!("filters:  {}", p.filters);
            println!("records:  {:?}..{:?}", p.first_record, p.last_record);
            for n in &p.notes {
                println!("incomplete: {n}");
            }
            Ok(0)
        }
    }
}

fn build_line(b: &rows::Build) -> String {
    format!(
        "{:>4}  {}  {:<8} {:<11} script {:<4} {}{}  {}  {}",
        b.id,
        format_time(b.started),
        b.kind,
        b.status,
        b.package,
        b.target,
        b.db_profile
            .as_deref()
            .map(|d| format!(" + db {d}"))
            .unwrap_or_default(),
        b.user,
        b.result
    )
}

pub fn run_build(cmd: BuildCommand) -> anyhow::Result<i32> {
    match cmd {
        BuildCommand::Apply {
            script,
            target,
            server,
            db,
            force,
            at,
        } => {
            let project = Project::locate(&at.project)?;
            let mut store = project.open_store(false)?;
            let r = match (server, target) {
                (Some(name), _) => crate::engine::scripts::server_build::apply(
                    &project,
                    &mut store,
                    &script,
                    &name,
                    force,
                    &stderr_progress(),
                    &|_| {},
                ),
                (None, Some(target)) => build::apply(
                    &project,
                    &mut store,
                    &script,
                    &BuildOptions { target, db, force },
                    &stderr_progress(),
                ),
                (None, None) => Err(anyhow::anyhow!("name a --target folder or a --server")),
            };
            match r {
                Ok(b) => {
                    if at.json {
                        print_json(&b)?;
                    } else {
                        println!("build {}: {} ({})", b.id, b.status, b.result);
                    }
                    Ok(0)
                }
                Err(e) => match e.downcast_ref::<Conflicts>() {
                    Some(c) => {
                        if at.json {
                            print_json(&serde_json::json!({ "refused": true, "conflicts": c.0 }))?;
                        }
                        eprintln!("devsky: {c}");
                        Ok(2)
                    }
                    None => Err(e),
                },
            }
        }
        BuildCommand::List(at) => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            let list = rows::builds(store.conn())?;
            if at.json {
                return print_json(&list).map(|_| 0);
            }
            for b in &list {
                println!("{}", build_line(b));
            }
            Ok(0)
        }
        BuildCommand::Show { id, at } => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            let b = rows::build(store.conn(), id)?
                .ok_or_else(|| anyhow::anyhow!("no build {id}; `devsky build list` shows them"))?;
            if at.json {
                return print_json(&b).map(|_| 0);
            }
            println!("build {} ({}): {}", b.id, b.kind, b.status);
            println!("script:   {}", b.package);
            println!("target:   {}", b.target);
            println!("database: {}", b.db_profile.as_deref().unwrap_or("-"));
            println!("user:     {}", b.user);
            println!("started:  {}", format_time(b.started));
            if let Some(f) = b.finished {
                println!("finished: {}", format_time(f));
            }
            if let Some(u) = b.undoes {
                println!("undoes:   build {u}");
            }
            println!(
                "journal:  deployment {:?} (before it: {}), SQL steps done {}",
                b.deployment, b.deploy_before, b.sql_done
            );
            println!("result:   {}", b.result);
            Ok(0)
        }
        BuildCommand::Rollback { id, chain, yes, at } => {
            let project = Project::locate(&at.project)?;
            let mut store = project.open_store(false)?;
            if !yes {
                let b = rows::build(store.conn(), id)?.ok_or_else(|| {
                    anyhow::anyhow!("no build {id}; `devsky build list` shows them")
                })?;
                eprintln!(
                    "would roll back build {} (script {}) on {}{}; add --yes to do it",
                    b.id,
                    b.package,
                    b.target,
                    if chain {
                        ", with the newer builds that touched the same files or tables"
                    } else {
                        ""
                    }
                );
                return Ok(2);
            }
            let done = crate::engine::scripts::rollback::rollback(
                &project,
                &mut store,
                id,
                chain,
                &stderr_progress(),
            )?;
            if at.json {
                print_json(&done)?;
            } else {
                for b in &done {
                    println!(
                        "rolled back build {} (rollback {}): files and database equal the state before it",
                        b.undoes.unwrap_or_default(),
                        b.id
                    );
                }
            }
            Ok(0)
        }
    }
}
