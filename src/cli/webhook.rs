//! `devsky webhook add|list|remove|log`: the project's outgoing webhooks
//! (`crate::engine::webhooks`). A hook's secret is read from an environment variable
//! (`--secret-env VAR`) when an event is sent, never stored nor printed. Deploys, rollbacks
//! and packages send their events on their own threads; `log` shows every attempt.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::output::print_json;
use crate::engine::project::Project;
use crate::engine::webhooks::{self, EVENTS, deliver};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Send events to URL, signed with the secret in $VAR (Standard Webhooks headers and
    /// X-Hub-Signature-256).
    Add(AddArgs),
    /// The project's webhooks.
    List(At),
    /// Remove a webhook by its id.
    Remove(RemoveArgs),
    /// The delivery log: every attempt, newest last.
    Log(LogArgs),
}

#[derive(Debug, Args)]
pub struct At {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Project folder (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Where to POST the events (https://...).
    pub url: String,
    /// The environment variable holding the signing secret (`whsec_<base64>` or any text).
    #[arg(long, value_name = "VAR")]
    pub secret_env: String,
    /// Only these events (comma-separated; default: all): deployment.started,
    /// deployment.succeeded, deployment.failed, deployment.rolled_back, package.created.
    #[arg(long, value_name = "EVENTS", value_delimiter = ',')]
    pub events: Vec<String>,
    #[command(flatten)]
    pub at: At,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    pub id: u32,
    #[command(flatten)]
    pub at: At,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// How many attempts (the newest).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub at: At,
}

fn project(a: &At) -> anyhow::Result<Project> {
    let p = Project::locate(&a.project.clone().unwrap_or_else(|| PathBuf::from(".")))?;
    if !p.has_store() {
        anyhow::bail!(
            "{} has no devsky store: `devsky init` first",
            p.root.display()
        );
    }
    Ok(p)
}

pub fn run(c: WebhookCommand) -> anyhow::Result<i32> {
    match c {
        WebhookCommand::Add(a) => {
            let p = project(&a.at)?;
            let h = webhooks::add(&p.root, &a.url, &a.secret_env, a.events)?;
            if a.at.json {
                print_json(&h)?;
            } else {
                println!(
                    "added webhook {} -> {} (secret from ${}; events: {})",
                    h.id,
                    h.url,
                    h.secret_env,
                    if h.events.is_empty() {
                        EVENTS.join(", ")
                    } else {
                        h.events.join(", ")
                    }
                );
            }
        }
        WebhookCommand::List(a) => {
            let p = project(&a)?;
            let all = webhooks::list(&p.root)?;
            if a.json {
                print_json(&all)?;
            } else if all.is_empty() {
                println!("no webhooks: `devsky webhook add URL --secret-env VAR`");
            } else {
                for h in &all {
                    println!(
                        "{:>3}  {}  secret ${}  {}",
                        h.id,
                        h.url,
                        h.secret_env,
                        if h.events.is_empty() {
                            "all events".to_string()
                        } else {
                            h.events.join(",")
                        }
                    );
                }
            }
        }
        WebhookCommand::Remove(a) => {
            let p = project(&a.at)?;
            if !webhooks::remove(&p.root, a.id)? {
                anyhow::bail!("no webhook {}", a.id);
            }
            println!("removed webhook {}", a.id);
        }
        WebhookCommand::Log(a) => {
            let p = project(&a.at)?;
            let all = deliver::read_log(&p.root, a.limit)?;
            if a.at.json {
                print_json(&all)?;
            } else if all.is_empty() {
                println!("no deliveries yet");
            } else {
                for l in &all {
                    println!(
                        "{} {:<22} #{} {} attempt {} {}{}",
                        crate::engine::util::units::rfc3339(l.time_ms),
                        l.event,
                        l.hook,
                        l.url,
                        l.attempt,
                        match (l.ok, l.status) {
                            (true, Some(s)) => format!("delivered ({s})"),
                            (_, Some(s)) => format!("failed ({s})"),
                            _ => "failed".to_string(),
                        },
                        l.error
                            .as_deref()
                            .filter(|_| !l.ok)
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(0)
}
