//! `devsky deploy ...`: the developer's side of a deploy.
//!
//! - `package`: map the project, diff it against a server's map file (from `devsky agent
//!   map`), and build the update package (zip + devsky-manifest.json) in the deploy folder.
//! - `status|plan|push|rollback|history|logs SERVER`: the same against a server added with
//!   `devsky server add` (the HTTP agent, `devsky serve`, or `devsky agent --stdio` started
//!   through ssh for a server added with `--ssh`): plan fetches the server's map and
//!   diffs; push plans, builds, confirms (production asks unless `--yes`), uploads, starts
//!   and follows the log live.
//!
//! Exit codes: 0 ok, 1 error, 2 conflicts, 3 verification failed, 4 locked.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{print_json, stderr_progress, stderr_progress_printing};
use crate::engine::deploy::package::{Built, build};
use crate::engine::deploy::plan::{Plan, Selection};
use crate::engine::deploy::push::Planned;
use crate::engine::deploy::{LogLine, exit_code, rfc3339};
use crate::engine::project::Project;
use crate::engine::remote::{Remote, RemoteDeployment, ServerProfile, connect, pick_server};
use crate::engine::util::units::{human_size, thousands};
use crate::engine::webhooks::{Notifier, Target};

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Build an update package: what differs from the server's map, as a zip.
    Package(PackageArgs),
    /// The agent's root, lock and current deployment.
    Status(RemoteArgs),
    /// What a push would do: the server's map (fetched) against the project.
    Plan(RemoteArgs),
    /// Plan, build the package, confirm, upload, apply and follow the log.
    Push(PushArgs),
    /// Roll the server back (default: to the deployment before the current one).
    Rollback(RollbackArgs),
    /// The server's deployments, oldest first.
    History(RemoteArgs),
    /// The log of a deployment (default: the newest).
    Logs(LogsArgs),
    /// Take over an FTP/SFTP target devsky did not deploy to: hash its files once and
    /// write its state file (.devsky-state), so that plans and pushes can start.
    Adopt(super::server_agentless::AdoptArgs),
}

#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The server (from `devsky server add`; default: the default server).
    pub server: Option<String>,
    /// Project folder (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub at: RemoteArgs,
    /// Do not ask for confirmation (production deploys ask otherwise).
    #[arg(long)]
    pub yes: bool,
    /// Apply even where the server's files changed since its map was made.
    #[arg(long)]
    pub force: bool,
    /// FTP/SFTP targets: first break a deploy lock older than 10 minutes (a push that was
    /// killed left it); a younger one still refuses.
    #[arg(long)]
    pub force_unlock: bool,
    /// Only these paths (`dir/` for everything under a folder); repeatable.
    #[arg(long, value_name = "PATH")]
    pub only: Vec<String>,
    /// List every path of the plan (default: the first few and the counts).
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub at: RemoteArgs,
    /// Deployment id to return to (0: before the first; default: the one before the current).
    #[arg(long, value_name = "ID")]
    pub to: Option<i64>,
    /// Do not ask for confirmation (production asks otherwise).
    #[arg(long)]
    pub yes: bool,
    /// Roll back even over files changed on the server since the current deployment.
    #[arg(long)]
    pub force: bool,
    /// FTP/SFTP targets: first break a deploy lock older than 10 minutes.
    #[arg(long)]
    pub force_unlock: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub at: RemoteArgs,
    /// The deployment (default: the newest).
    #[arg(long, value_name = "ID")]
    pub id: Option<i64>,
    /// Keep printing new lines until the deployment ends.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The server's map (written by `devsky agent map`).
    #[arg(long, value_name = "FILE")]
    pub remote_map: PathBuf,
    /// Folder for the package (default: .devsky/deploy in the project).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only these paths (`dir/` for everything under a folder); repeatable.
    #[arg(long, value_name = "PATH")]
    pub only: Vec<String>,
    /// Project folder (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print the plan and the package as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    package: Option<&'a Built>,
    plan: &'a Plan,
}

pub fn run(c: DeployCommand) -> anyhow::Result<i32> {
    let r = match c {
        DeployCommand::Package(a) => package(a),
        DeployCommand::Status(a) => status(a),
        DeployCommand::Plan(a) => plan_cmd(a),
        DeployCommand::Push(a) => push(a),
        DeployCommand::Rollback(a) => rollback_cmd(a),
        DeployCommand::History(a) => history(a),
        DeployCommand::Logs(a) => logs(a),
        DeployCommand::Adopt(a) => super::server_agentless::adopt(a),
    };
    match r {
        Err(e) if exit_code(&e) != 1 => {
            eprintln!("devsky: {e:#}");
            Ok(exit_code(&e))
        }
        other => other,
    }
}

fn package(a: PackageArgs) -> anyhow::Result<i32> {
    let path = a.project.unwrap_or_else(|| PathBuf::from("."));
    let project = Project::locate(&path)?;
    let progress = stderr_progress();
    let tmp = tempfile::tempdir()?;
    let files = crate::engine::deploy::plan::FileSet::default();
    let local = crate::engine::deploy::plan::local_map(&project, &files, tmp.path(), &progress)?;
    let mut plan = local.plan(&a.remote_map)?;
    if !a.only.is_empty() {
        plan = plan.select(&Selection::parse(&a.only));
    }
    if plan.is_empty() {
        if a.json {
            print_json(&Report {
                package: None,
                plan: &plan,
            })?;
        } else {
            print_left_out(&plan);
            println!(
                "nothing to deploy: the server has every file and folder as the project has it"
            );
        }
        return Ok(0);
    }
    let out = a
        .out
        .unwrap_or_else(|| crate::engine::remote::package_dir(&project.root));
    let built = build(&project.root, &plan, &out, &progress)?;
    if a.json {
        print_json(&Report {
            package: Some(&built),
            plan: &plan,
        })?;
    } else {
        for u in &plan.uploads {
            println!("{} {}", u.change.letter(), String::from_utf8_lossy(&u.path));
        }
        for d in &plan.deletes {
            println!("D {}", String::from_utf8_lossy(&d.path));
        }
        for l in folder_lines(&plan) {
            println!("{l}");
        }
        print_left_out(&plan);
        println!(
            "{}: {} upload(s) ({}), {} delete(s); package {}",
            built.path.display(),
            thousands(built.uploads),
            human_size(built.upload_bytes as i64),
            thousands(built.deletes),
            human_size(built.size as i64)
        );
    }
    Ok(0)
}

/// The project, the server profile and its remote.
pub(super) fn open_remote(a: &RemoteArgs) -> anyhow::Result<(Project, ServerProfile, Remote)> {
    let (project, p) = open_profile(a)?;
    let remote = connect(&project.root, &p)?;
    Ok((project, p, remote))
}

/// The project and the server profile.
fn open_profile(a: &RemoteArgs) -> anyhow::Result<(Project, ServerProfile)> {
    let path = a.project.clone().unwrap_or_else(|| PathBuf::from("."));
    let project = Project::locate(&path)?;
    if !project.has_store() {
        anyhow::bail!(
            "{} has no devsky store, so no servers: `devsky server add NAME --url URL --key KEY`",
            project.root.display()
        );
    }
    let store = project.open_store(false)?;
    let p = pick_server(&store, a.server.as_deref())?;
    Ok((project, p))
}

/// Connect to the server and diff the project against its map (the project is mapped
/// while the connection is set up); with `hold`, a map made under the deploy lock, which
/// the server keeps for the push ([`crate::engine::deploy::push`]).
fn remote_plan(
    project: &Project,
    p: &ServerProfile,
    only: &[String],
    hold: bool,
) -> anyhow::Result<Planned> {
    let mut planned = crate::engine::deploy::push::plan(
        project,
        &p.files(),
        || connect(&project.root, p),
        hold,
        &stderr_progress(),
    )?;
    if !only.is_empty() {
        planned.plan = planned.plan.select(&Selection::parse(only));
    }
    Ok(planned)
}

/// How many paths `deploy push` lists without `--verbose`.
const PUSH_PATHS_SHOWN: usize = 20;

/// The plan for people: one line per path (`M app/x.php`, `D old.txt`, `+ dir/ (755)`) or,
/// with `limit`, the first `limit` of them and how many more there are; then the counts.
fn print_plan(plan: &Plan, limit: Option<usize>) {
    let uploads = plan
        .uploads
        .iter()
        .map(|u| format!("{} {}", u.change.letter(), String::from_utf8_lossy(&u.path)));
    let deletes = (plan.deletes.iter()).map(|d| format!("D {}", String::from_utf8_lossy(&d.path)));
    let lines = uploads.chain(deletes).chain(folder_lines(plan));
    let total = plan.uploads.len() + plan.deletes.len() + plan.folders.len();
    for l in lines.take(limit.unwrap_or(usize::MAX)) {
        println!("{l}");
    }
    if let Some(n) = limit
        && total > n
    {
        println!(
            "… and {} more path(s) (--verbose lists every one)",
            thousands(total - n)
        );
    }
    print_left_out(plan);
    println!(
        "{} upload(s) ({}), {} delete(s), {} folder change(s)",
        thousands(plan.uploads.len()),
        human_size(plan.upload_bytes() as i64),
        thousands(plan.deletes.len()),
        thousands(plan.folders.len())
    );
}

/// Folder changes: `+ dir/ (755)`, `- dir/`, `M dir/ (700, was 755)`.
fn folder_lines(plan: &Plan) -> impl Iterator<Item = String> + '_ {
    plan.folders.iter().map(|f| {
        let path = String::from_utf8_lossy(&f.path);
        match (f.mode, f.remote) {
            (Some(m), None) => format!("+ {path}/ ({m:o})"),
            (Some(m), Some(r)) => format!("M {path}/ ({m:o}, was {r:o})"),
            (None, _) => format!("- {path}/"),
        }
    })
}

/// What the deploy's rules left out of the project: `3 left out by exclude **/*.log`.
fn print_left_out(plan: &Plan) {
    for l in plan.left_out_lines() {
        println!("{l}");
    }
}

/// A log line for people.
fn log_text(l: &LogLine) -> String {
    format!(
        "{} {:<7} {}",
        rfc3339(l.time_ms),
        l.level.as_str(),
        l.message
    )
}

/// Ask before touching a production server (unless `yes`).
fn confirm(p: &ServerProfile, what: &str, yes: bool) -> anyhow::Result<bool> {
    if yes || p.environment != "production" {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "{} is a production server: confirm with --yes when not at a terminal",
            p.name
        );
    }
    eprint!("{what} on {} (production)? [y/N] ", p.name);
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Follow deployment `id` to its end, printing its log; the result is its exit code.
/// Follow a deployment or rollback to its end: its log on stdout (stderr with `--json`),
/// and, when stderr is a terminal, the agent's progress as a bar there.
fn follow_to_end(remote: &Remote, id: i64, json: bool) -> anyhow::Result<i32> {
    let d = {
        // The bar goes (with the last of its handles) before the summary prints.
        let (progress, printer) = stderr_progress_printing();
        let print = |l: &LogLine| printer(&log_text(l), json);
        remote.follow_logs(id, &print, &progress)
    };
    finish(&d?, json)
}

fn finish(d: &RemoteDeployment, json: bool) -> anyhow::Result<i32> {
    if json {
        print_json(d)?;
    } else {
        println!(
            "deployment {} ({}): {} ({})",
            d.id, d.kind, d.status, d.summary
        );
    }
    if d.status == "done" {
        return Ok(0);
    }
    match d.outcome.as_ref().and_then(|o| o.error()) {
        Some(e) => Err(e),
        None if d.running || d.status == "applying" => {
            anyhow::bail!("deployment {} is still applying", d.id)
        }
        None => anyhow::bail!("deployment {} {}: {}", d.id, d.status, d.summary),
    }
}

fn status(a: RemoteArgs) -> anyhow::Result<i32> {
    let (_, p, remote) = open_remote(&a)?;
    let mut s = remote.agent_status()?;
    let database = remote
        .database()
        .unwrap_or_else(|e| serde_json::json!({"error": format!("{e:#}")}));
    if a.json {
        if let Some(o) = s.as_object_mut() {
            o.insert("database".into(), database);
        }
        print_json(&s)?;
        return Ok(0);
    }
    println!(
        "server:  {} ({}, {})",
        p.name,
        p.environment,
        p.url
            .as_deref()
            .map(str::to_string)
            .or_else(|| p.ssh.as_deref().map(|s| format!("ssh {s}")))
            .unwrap_or_else(|| "-".into())
    );
    println!("root:    {}", s["root"].as_str().unwrap_or("?"));
    if let Some(policy) = crate::engine::remote::policy_text(&s) {
        // The agent's own policy (`devsky serve config`), which may differ from the profile.
        println!("policy:  {policy}");
    }
    let lock = &s["lock"];
    if lock["locked"].as_bool() == Some(true) {
        println!(
            "lock:    locked by {} since {}",
            lock["holder"].as_str().unwrap_or("?"),
            lock["since"].as_str().unwrap_or("?")
        );
    } else {
        println!("lock:    free");
    }
    match s["current"].as_object() {
        Some(c) => println!(
            "current: deployment {} ({}) {}",
            c.get("id").and_then(|v| v.as_i64()).unwrap_or(0),
            c.get("kind").and_then(|v| v.as_str()).unwrap_or("?"),
            c.get("summary").and_then(|v| v.as_str()).unwrap_or("")
        ),
        None => println!("current: no deployment yet"),
    }
    for l in database_lines(&database) {
        println!("{l}");
    }
    Ok(0)
}

/// `deploy status`'s lines about the agent's database (`GET /api/v1/database`).
fn database_lines(d: &serde_json::Value) -> Vec<String> {
    let str_of = |k: &str| d[k].as_str().unwrap_or("?").to_string();
    if d.get("configured").is_none() {
        return vec![format!("db:      {}", str_of("error"))];
    }
    if d["configured"] != true {
        return vec!["db:      none (start the agent with --db URL to see it here)".into()];
    }
    let mut out = vec![format!("db:      {}", str_of("url"))];
    if d["connected"] != true {
        out.push(format!("         not connected: {}", str_of("error")));
        return out;
    }
    let version = d["server_version"].as_str().unwrap_or("version unknown");
    out.push(format!("         connected ({} {version})", str_of("kind")));
    if let Some(e) = d["error"].as_str() {
        out.push(format!("         error: {e}"));
        return out;
    }
    let tables = d["tables"].as_array().cloned().unwrap_or_default();
    let bytes = |v: &serde_json::Value| v.as_i64().map_or_else(|| "?".into(), human_size);
    let rows = |v: &serde_json::Value| {
        v.as_u64()
            .map_or_else(|| "?".into(), |n| thousands(n as usize))
    };
    out.push(format!(
        "         {} table(s), {} row(s), {}; schema {}",
        tables.len(),
        rows(&d["total_rows"]),
        bytes(&d["total_bytes"]),
        d["schema_checksum"]
            .as_str()
            .map_or("?", |c| c.get(..16).unwrap_or(c))
    ));
    let w = tables
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::len))
        .max()
        .unwrap_or(0)
        .max(5);
    for t in &tables {
        out.push(format!(
            "         {:<w$} {:>12} rows {:>10}",
            t["name"].as_str().unwrap_or("?"),
            rows(&t["rows"]),
            bytes(&t["bytes"])
        ));
    }
    out
}

fn plan_cmd(a: RemoteArgs) -> anyhow::Result<i32> {
    let (project, p) = open_profile(&a)?;
    let planned = remote_plan(&project, &p, &[], false)?;
    let drift = planned.remote.drift();
    let plan = planned.plan.clone();
    if a.json {
        // The plan, with the drift of an FTP/SFTP target beside its fields.
        let mut v = serde_json::to_value(&plan)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("drift".into(), serde_json::to_value(&drift)?);
        }
        print_json(&v)?;
        return Ok(0);
    }
    super::server_agentless::print_drift(&drift);
    if plan.is_empty() {
        print_left_out(&plan);
        println!("nothing to deploy: the server has every file and folder as the project has it");
    } else {
        print_plan(&plan, None);
    }
    Ok(0)
}

fn push(a: PushArgs) -> anyhow::Result<i32> {
    let (project, p) = open_profile(&a.at)?;
    // The server's map is made under the deploy lock, which it keeps for this push: the
    // deployment starts from the map planned against. Released if there is no push (when
    // `planned` is dropped).
    let mut planned = remote_plan(&project, &p, &a.only, true)?;
    if a.force_unlock {
        unlock(&planned.remote, &p.name)?;
    }
    if planned.plan.is_empty() {
        planned.release();
        if a.at.json {
            print_json(&serde_json::json!({"deployment": null, "plan": &planned.plan}))?;
        } else {
            print_left_out(&planned.plan);
            println!(
                "nothing to deploy: the server has every file and folder as the project has it"
            );
        }
        return Ok(0);
    }
    if !a.at.json {
        super::server_agentless::print_drift(&planned.remote.drift());
    }
    let plan = &planned.plan;
    let built = planned.build(&project.root, plan, &stderr_progress())?;
    let counts = format!(
        "{} upload(s) ({}), {} delete(s); package {}",
        thousands(built.uploads),
        human_size(built.upload_bytes as i64),
        thousands(built.deletes),
        human_size(built.size as i64)
    );
    if a.at.json {
        eprintln!("{counts}");
    } else {
        print_plan(plan, (!a.verbose).then_some(PUSH_PATHS_SHOWN));
        println!("{counts}");
    }
    if !confirm(&p, &format!("Deploy {counts}"), a.yes)? {
        planned.release();
        println!("not deployed");
        return Ok(1);
    }
    let hooks = Notifier::new(&project.root);
    hooks.package_created(&Target::of(&p), &built);
    let r = planned.push(&built, a.force).and_then(|dep| {
        hooks.started(&Target::of(&p), dep, "deploy");
        if !a.at.json {
            println!("deployment {dep} started on {}", p.name);
        }
        let r = follow_to_end(&planned.remote, dep, a.at.json);
        hooks.ended(&Target::of(&p), dep, "deploy", failure(&r).as_ref());
        r
    });
    hooks.finish(WEBHOOK_WAIT);
    r
}

/// `--force-unlock`: break a stale deploy lock of an FTP/SFTP target, saying so.
fn unlock(remote: &crate::engine::remote::Remote, name: &str) -> anyhow::Result<()> {
    if remote.force_unlock()? {
        eprintln!("broke the stale deploy lock of {name}");
    }
    Ok(())
}

/// How long a command waits, before it exits, for webhook deliveries still going.
const WEBHOOK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The error of a deployment that did not end well (an error, or a nonzero exit code).
fn failure(r: &anyhow::Result<i32>) -> Option<anyhow::Error> {
    match r {
        Ok(0) => None,
        Ok(code) => Some(anyhow::anyhow!("ended with exit code {code}")),
        Err(e) => Some(anyhow::anyhow!("{e:#}")),
    }
}

fn rollback_cmd(a: RollbackArgs) -> anyhow::Result<i32> {
    let (project, p, remote) = open_remote(&a.at)?;
    if a.force_unlock {
        unlock(&remote, &p.name)?;
    }
    let what = match a.to {
        Some(0) => "Roll back every deployment".to_string(),
        Some(t) => format!("Roll back to deployment {t}"),
        None => "Roll back to the deployment before the current one".to_string(),
    };
    if !confirm(&p, &what, a.yes)? {
        println!("not rolled back");
        return Ok(1);
    }
    let hooks = Notifier::new(&project.root);
    let r = remote.rollback(a.to, a.force).and_then(|id| {
        hooks.started(&Target::of(&p), id, "rollback");
        if !a.at.json {
            println!("rollback {id} started on {}", p.name);
        }
        let r = follow_to_end(&remote, id, a.at.json);
        hooks.ended(&Target::of(&p), id, "rollback", failure(&r).as_ref());
        r
    });
    hooks.finish(WEBHOOK_WAIT);
    r
}

fn history(a: RemoteArgs) -> anyhow::Result<i32> {
    let (_, _, remote) = open_remote(&a)?;
    let all = remote.history()?;
    if a.json {
        print_json(&all)?;
    } else if all.is_empty() {
        println!("no deployments yet");
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
    }
    Ok(0)
}

fn logs(a: LogsArgs) -> anyhow::Result<i32> {
    let (_, _, remote) = open_remote(&a.at)?;
    let id = match a.id {
        Some(id) => id,
        None => match remote.history()?.last() {
            Some(d) => d.id,
            None => anyhow::bail!("no deployments yet"),
        },
    };
    if a.follow {
        let print = |l: &LogLine| {
            if a.at.json {
                println!("{}", serde_json::to_string(l).unwrap_or_default());
            } else {
                println!("{}", log_text(l));
            }
        };
        let d = remote.follow_logs(id, &print, &crate::engine::jobs::Progress::silent())?;
        if !a.at.json {
            println!(
                "deployment {} ({}): {} ({})",
                d.id, d.kind, d.status, d.summary
            );
        }
        return Ok(0);
    }
    let lines = remote.logs(id)?;
    if a.at.json {
        print_json(&lines)?;
    } else {
        for l in &lines {
            println!("{}", log_text(l));
        }
    }
    Ok(0)
}
