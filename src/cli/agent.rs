//! `devsky agent ...` (hidden from --help): the server side of deploying, run beside the
//! web root — apply a package, recover after a crash, roll back, show the history, break a
//! stale lock, and map the root for the developer's side. The HTTP agent (`devsky serve`)
//! will call the same engine functions.
//!
//! Exit codes: 0 ok, 1 error, 2 conflicts, 3 verification failed, 4 locked.
//!
//! `devsky serve` runs the HTTP agent (`crate::server`) over the same functions, and
//! `devsky serve key create|list|revoke` manages its API keys.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::output::{print_json, stderr_progress};
use crate::engine::db::url::DbUrl;
use crate::engine::deploy::apply::{apply, recover};
use crate::engine::deploy::policy::Policy;
use crate::engine::deploy::rollback::rollback;
use crate::engine::deploy::{LogLine, State, exit_code, map_root, rfc3339};

#[derive(Debug, Args)]
pub struct Where {
    /// The web root the agent deploys into.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// The agent's state folder (history, backups, journals, lock); never inside the root.
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Apply an update package to the root (atomically, verified, recoverable).
    Apply {
        #[command(flatten)]
        at: Where,
        /// The package (zip with devsky-manifest.json).
        package: PathBuf,
        /// Apply even where the server's files are not what the package expects.
        #[arg(long)]
        force: bool,
        /// The root is a symlink to releases/N: build a new release and switch to it
        /// (default: the root's policy, `devsky serve config`).
        #[arg(long)]
        release: bool,
        /// Releases kept in release mode (default: the policy's).
        #[arg(long, value_name = "N")]
        keep_releases: Option<usize>,
        /// Deployments whose archives and backups are kept (default: the policy's).
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Largest total uncompressed size of a package, in bytes.
        #[arg(long, value_name = "BYTES")]
        max_size: Option<u64>,
        /// The site's database, where a package's SQL runs (`sqlite:PATH`,
        /// `mysql://USER@HOST/DB`; a password in $DEVSKY_DB_PASSWORD).
        #[arg(long, value_name = "URL", value_parser = crate::server::database::DbArg)]
        db: Option<DbUrl>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Finish or undo a deployment interrupted by a crash (run at agent start).
    Recover {
        #[command(flatten)]
        at: Where,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Roll back to a deployment (default: the one before the current).
    Rollback {
        #[command(flatten)]
        at: Where,
        /// Deployment id to return to (0: before the first deployment).
        #[arg(long, value_name = "ID")]
        to: Option<i64>,
        /// Roll back even over files changed on the server since the current deployment.
        #[arg(long)]
        force: bool,
        /// The site's database, where the reverse of a deployment's SQL runs.
        #[arg(long, value_name = "URL", value_parser = crate::server::database::DbArg)]
        db: Option<DbUrl>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The deployments, oldest first.
    History {
        #[command(flatten)]
        at: Where,
        /// Show the log of this deployment.
        #[arg(long, value_name = "ID")]
        logs: Option<i64>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a stale deploy lock.
    Unlock {
        #[command(flatten)]
        at: Where,
    },
    /// Serve the HTTP API (docs/API.md) as one connection over stdin/stdout, for
    /// `ssh HOST devsky agent --stdio --root DIR`; SSH authenticates, so no API key.
    #[command(name = "stdio", long_flag = "stdio")]
    Stdio {
        /// The web root the agent deploys into.
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// The agent's state folder (default: devsky's data folder, as for `devsky serve`).
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// The database to report on (`GET /api/v1/database`): `sqlite:PATH` or
        /// `mysql://USER@HOST[:PORT]/DB`; a MySQL password comes from $DEVSKY_DB_PASSWORD.
        #[arg(
            long,
            value_name = "URL",
            value_parser = crate::server::database::DbArg
        )]
        db: Option<DbUrl>,
    },
    /// Write the root's map (the "remote map" a package is planned against).
    Map {
        #[command(flatten)]
        at: Where,
        /// Where to write the map file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Log lines on stderr as they happen.
fn print_line(l: &LogLine) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(
        e,
        "{} {:<7} {}",
        rfc3339(l.time_ms),
        l.level.as_str(),
        l.message
    );
}

pub fn run(c: AgentCommand) -> anyhow::Result<i32> {
    let r = run_inner(c);
    match r {
        Err(e) if exit_code(&e) != 1 => {
            eprintln!("devsky: {e:#}");
            Ok(exit_code(&e))
        }
        other => other,
    }
}

fn run_inner(c: AgentCommand) -> anyhow::Result<i32> {
    let progress = stderr_progress();
    match c {
        AgentCommand::Apply {
            at,
            package,
            force,
            release,
            keep_releases,
            keep,
            max_size,
            db,
            json,
        } => {
            let state = State::open(&at.state, &at.root)?;
            let policy = Policy::load(state.dir())?;
            let mut opts = policy.apply_options(force);
            opts.release_mode |= release;
            opts.keep_releases = keep_releases.unwrap_or(opts.keep_releases);
            opts.keep = keep.unwrap_or(opts.keep);
            if let Some(m) = max_size {
                opts.limits.max_total = m;
            }
            opts.database = db;
            let d = apply(&at.root, &state, &package, &opts, &progress, &print_line)?;
            if json {
                print_json(&d)?;
            } else {
                println!("deployment {}: {} ({})", d.id, d.status, d.summary);
            }
        }
        AgentCommand::Recover { at, json } => {
            let state = State::open(&at.state, &at.root)?;
            let done = recover(&at.root, &state, &progress, &print_line)?;
            if json {
                print_json(&done)?;
            } else if done.is_empty() {
                println!("nothing to recover");
            } else {
                for r in done {
                    println!("deployment {}: {}", r.id, r.action);
                }
            }
        }
        AgentCommand::Rollback {
            at,
            to,
            force,
            db,
            json,
        } => {
            let state = State::open(&at.state, &at.root)?;
            let mut opts = Policy::load(state.dir())?.rollback_options(force);
            opts.database = db;
            let d = rollback(&at.root, &state, to, &opts, &progress, &print_line)?;
            if json {
                print_json(&d)?;
            } else {
                println!(
                    "deployment {} (rollback): {} ({})",
                    d.id, d.status, d.summary
                );
            }
        }
        AgentCommand::History { at, logs, json } => {
            let state = State::open(&at.state, &at.root)?;
            if let Some(id) = logs {
                let lines = state.logs(id)?;
                if json {
                    print_json(&lines)?;
                } else {
                    for l in &lines {
                        println!(
                            "{} {:<7} {}",
                            rfc3339(l.time_ms),
                            l.level.as_str(),
                            l.message
                        );
                    }
                }
                return Ok(0);
            }
            let all = state.deployments()?;
            if json {
                print_json(&all)?;
            } else {
                for d in &all {
                    println!(
                        "{:>4}  {:<8} {:<11} {}  {}",
                        d.id,
                        d.kind,
                        d.status,
                        rfc3339(d.started),
                        d.summary
                    );
                }
                if all.is_empty() {
                    println!("no deployments yet");
                }
            }
        }
        AgentCommand::Unlock { at } => {
            let state = State::open(&at.state, &at.root)?;
            match state.break_lock()? {
                Some(Some(h)) => println!(
                    "removed the lock of {} ({}) taken {}",
                    h.holder,
                    h.user,
                    rfc3339(h.since_ms)
                ),
                Some(None) => println!("removed an unreadable lock file"),
                None => println!("not locked"),
            }
        }
        AgentCommand::Stdio { root, state, db } => {
            let state = state_for(&root, state)?;
            let dir = state.dir().to_path_buf();
            drop(state);
            let opts = crate::server::ServeOptions {
                database: db,
                ..Default::default()
            };
            crate::server::serve_stdio(&root, &dir, &opts)?;
        }
        AgentCommand::Map { at, out } => {
            let state = State::open(&at.state, &at.root)?;
            let r = map_root(&at.root, &state, &out, &progress)?;
            eprintln!("mapped {} files into {}", r.files, out.display());
        }
    }
    Ok(0)
}

/// `devsky serve`: the HTTP deploy agent, and its API keys.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
    /// The web root the agent deploys into.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7777")]
    pub listen: String,
    /// The agent's state folder (default: devsky's data folder, per root); never inside
    /// the root.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// The database to report on (`GET /api/v1/database`): `sqlite:PATH` (relative to the
    /// root) or `mysql://USER@HOST[:PORT]/DB[?socket=PATH]`; a MySQL password comes from
    /// $DEVSKY_DB_PASSWORD, never from the command line.
    #[arg(
        long,
        value_name = "URL",
        value_parser = crate::server::database::DbArg
    )]
    pub db: Option<DbUrl>,
    /// Serve HTTPS with this certificate (PEM, the chain); with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address other than loopback (refused otherwise: keys would
    /// cross the network in clear).
    #[arg(long, conflicts_with = "tls_cert")]
    pub insecure_http: bool,
    /// Accept signed deploy hooks (`POST /api/v1/hooks/deploy`) with the secret in this
    /// environment variable; repeat it to accept several during a rotation.
    #[arg(long, value_name = "VAR")]
    pub hook_secret_env: Vec<String>,
    /// With --hook-secret-env: the Git repository whose branches a hook may deploy
    /// (`{"branch": "B"}`), fetched with the system's git.
    #[arg(long, value_name = "URL", requires = "hook_secret_env")]
    pub hook_git: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// API keys of the agent: create (printed once), list, revoke.
    #[command(subcommand)]
    Key(KeyCommand),
    /// HTTPS: make a self-signed certificate (`tls init`).
    #[command(subcommand)]
    Tls(TlsCommand),
    /// The root's deploy policy (environment, release mode, what is kept): shown, or
    /// changed by the options given. Kept in the state folder; every deployment reads it.
    Config {
        #[command(flatten)]
        at: ServeWhere,
        /// development, staging or production.
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
        /// Deploy as releases: the root is a symlink to releases/N, switched atomically.
        #[arg(long, overrides_with = "no_release")]
        release: bool,
        /// Deploy into the root's files in place (the default).
        #[arg(long)]
        no_release: bool,
        /// Releases kept in release mode (at least 2).
        #[arg(long, value_name = "N")]
        keep_releases: Option<usize>,
        /// Deployments whose archives, backups and maps are kept.
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ServeWhere {
    /// The web root the agent deploys into.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// The agent's state folder (default: devsky's data folder, per root).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Make a self-signed certificate and key in the state folder (`tls/cert.pem`,
    /// `tls/key.pem`), for `devsky serve --tls-cert --tls-key`; prints its SHA-256
    /// fingerprint, which clients pin (`devsky server add --fingerprint`).
    Init {
        #[command(flatten)]
        at: ServeWhere,
        /// A host name or IP address clients use, besides localhost and 127.0.0.1;
        /// repeatable.
        #[arg(long = "name", value_name = "HOST")]
        names: Vec<String>,
        /// Replace an existing certificate.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a key; it is printed once on stdout and only its hash is kept.
    Create {
        #[command(flatten)]
        at: ServeWhere,
        /// What the key is for (shown by `list`).
        #[arg(long, default_value = "default")]
        label: String,
        /// Print the key with its id and label as JSON (`{"id", "label", "key"}`).
        #[arg(long)]
        json: bool,
    },
    /// The keys (never the keys themselves).
    List {
        #[command(flatten)]
        at: ServeWhere,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key, by id or label.
    Revoke {
        #[command(flatten)]
        at: ServeWhere,
        /// The key's id or label.
        key: String,
    },
}

/// The default state folder of the agent for `root`: devsky's data folder, keyed by the
/// blake3 of the canonical root path (never inside the root).
pub fn default_state_dir(root: &std::path::Path) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    let canon = root
        .canonicalize()
        .with_context(|| format!("the root {} does not exist", root.display()))?;
    let dirs = directories::ProjectDirs::from("", "", "devsky")
        .context("no home folder to keep the agent's state in; pass --state DIR")?;
    let key = blake3::hash(canon.as_os_str().as_encoded_bytes()).to_hex();
    Ok(dirs.data_dir().join("agents").join(&key.as_str()[..32]))
}

fn state_for(root: &std::path::Path, state: Option<PathBuf>) -> anyhow::Result<State> {
    let dir = match state {
        Some(s) => s,
        None => default_state_dir(root)?,
    };
    State::open(&dir, root)
}

pub fn serve(a: ServeArgs) -> anyhow::Result<i32> {
    use crate::server::keys::Keys;
    match a.command {
        None => {
            let Some(root) = a.root else {
                anyhow::bail!("--root DIR is needed: the web root the agent deploys into");
            };
            let state = state_for(&root, a.state)?;
            let dir = state.dir().to_path_buf();
            drop(state);
            let mut hook_secrets = Vec::new();
            for v in &a.hook_secret_env {
                match std::env::var(v) {
                    Ok(s) if !s.is_empty() => hook_secrets.push(s),
                    _ => anyhow::bail!("--hook-secret-env {v}: ${v} is not set"),
                }
            }
            let opts = crate::server::ServeOptions {
                database: a.db,
                tls: a.tls_cert.zip(a.tls_key),
                insecure_http: a.insecure_http,
                hook_secrets,
                hook_git: a.hook_git,
            };
            crate::server::serve(&root, &dir, &a.listen, &opts)?;
        }
        Some(ServeCommand::Config {
            at,
            env,
            release,
            no_release,
            keep_releases,
            keep,
            json,
        }) => {
            let state = state_for(&at.root, at.state)?;
            let mut p = Policy::load(state.dir())?;
            let before = p.clone();
            if let Some(e) = env {
                p.environment = Some(e);
            }
            if release {
                p.release_mode = true;
            }
            if no_release {
                p.release_mode = false;
            }
            p.keep_releases = keep_releases.unwrap_or(p.keep_releases);
            p.keep = keep.unwrap_or(p.keep);
            if p != before {
                if p.release_mode {
                    // Refuse a root that cannot be deployed as releases now, not at deploy time.
                    crate::engine::deploy::release::check_root(&at.root)?;
                }
                p.save(state.dir())?;
            }
            if json {
                print_json(&p)?;
            } else {
                println!(
                    "environment: {}\nmode: {}\nkeep: {} deployment(s)",
                    p.environment.as_deref().unwrap_or("not set"),
                    if p.release_mode {
                        format!("releases (root -> releases/N; {} kept)", p.keep_releases)
                    } else {
                        "files in place".to_string()
                    },
                    p.keep
                );
            }
        }
        Some(ServeCommand::Tls(TlsCommand::Init { at, names, force })) => {
            let state = state_for(&at.root, at.state)?;
            let m = crate::server::tls::init(&state.dir().join("tls"), &names, force)?;
            eprintln!(
                "made a self-signed certificate {} and its key {} (mode 0600); serve with\n  \
                 devsky serve --root {} --listen ADDR --tls-cert {} --tls-key {}\n\
                 and pin its fingerprint on the client:\n  \
                 devsky server add NAME --url https://HOST:PORT --key KEY --fingerprint {}",
                m.cert.display(),
                m.key.display(),
                at.root.display(),
                m.cert.display(),
                m.key.display(),
                m.fingerprint
            );
            println!("SHA-256 fingerprint: {}", m.fingerprint);
        }
        Some(ServeCommand::Key(k)) => match k {
            KeyCommand::Create { at, label, json } => {
                let state = state_for(&at.root, at.state)?;
                let (id, key) = Keys::open(state.dir())?.create(&label)?;
                if json {
                    print_json(&serde_json::json!({"id": id, "label": label, "key": key}))?;
                    return Ok(0);
                }
                eprintln!(
                    "key {id} ({label}) created; it is shown only now (only its hash is kept):"
                );
                println!("{key}");
            }
            KeyCommand::List { at, json } => {
                let state = state_for(&at.root, at.state)?;
                let keys = Keys::open(state.dir())?.list()?;
                if json {
                    print_json(&keys)?;
                } else if keys.is_empty() {
                    println!("no keys yet: `devsky serve key create --root DIR`");
                } else {
                    for k in &keys {
                        println!(
                            "{:>4}  {:<20} created {}{}",
                            k.id,
                            k.label,
                            rfc3339(k.created),
                            k.revoked
                                .map(|r| format!(", revoked {}", rfc3339(r)))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            KeyCommand::Revoke { at, key } => {
                let state = state_for(&at.root, at.state)?;
                let k = Keys::open(state.dir())?.revoke(&key)?;
                println!("key {} ({}) revoked", k.id, k.label);
            }
        },
    }
    Ok(0)
}
