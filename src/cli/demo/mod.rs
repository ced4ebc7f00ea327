//! `devsky demo`: make a sample project with a few thousand codebase records, and open it.
//!
//! It also makes a second, slightly different copy of the project as a "server" web root
//! (`<project>-server/site`, agent state beside it in `state/`), makes an API
//! key for it and registers it in the demo project as server `staging` (`--env staging`,
//! the default). A `devsky serve` (this binary, in a session of its own) serves that root
//! on `127.0.0.1:<port>`, its log in `state/agent.log`, its pid in `state/agent.pid`. It
//! outlives the TUI, so reopening the project (`devsky DIR`) finds it; `devsky demo --dir
//! DIR` on an existing demo opens it, starting its agent again when it is not running;
//! `devsky demo stop [--dir DIR]` stops it. Where it lives is kept in `.devsky/demo.json`.
//! With `--no-open` no agent is started: the command to start it is printed.

pub mod sample;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use super::output::{print_json, stderr_progress};
use crate::engine::{codebase::import, project::Project};
use sample as demo;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DemoArgs {
    #[command(subcommand)]
    pub action: Option<DemoAction>,
    /// Where to make the project (default: a new folder in the temp directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// About how many files to write.
    #[arg(long, default_value_t = 3000)]
    pub files: usize,
    /// Make the project but don't open the TUI; print where it is.
    #[arg(long)]
    pub no_open: bool,
    /// With --no-open: print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw the TUI's first frame and exit (tests).
    #[arg(long, hide = true)]
    pub exit_after_first_frame: bool,
}

#[derive(Debug, Subcommand)]
pub enum DemoAction {
    /// Stop the demo's agent (it keeps running after the TUI exits).
    Stop {
        /// The demo project (default: the current folder).
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
}

/// Where a demo's server is, kept in the demo project's `.devsky/demo.json`.
#[derive(Debug, Serialize, Deserialize)]
struct DemoRecord {
    root: PathBuf,
    state: PathBuf,
    port: u16,
}

fn record_path(project: &Path) -> PathBuf {
    project.join(crate::store::STATE_DIR).join("demo.json")
}

pub fn run(args: DemoArgs, theme: Option<String>) -> anyhow::Result<i32> {
    if let Some(DemoAction::Stop { dir }) = &args.action {
        return stop(dir);
    }
    if let Some(dir) = &args.dir
        && record_path(dir).exists()
    {
        return reopen(dir, &args, theme);
    }
    let dir = match args.dir {
        Some(d) => d,
        None => tempfile::Builder::new()
            .prefix("devsky-demo-")
            .tempdir()?
            .keep(),
    };
    let stats = demo::write_sample_project(&dir, args.files)?;
    let mut project = Project::locate(&dir)?;
    project.root = dir.canonicalize()?;
    let mut store = project.open_store(true)?;
    let report = import::import(
        &project,
        &mut store,
        std::slice::from_ref(&project.root),
        "demo",
        &stderr_progress(),
    )?;
    drop(store);
    let server = make_demo_server(&project.root, args.files)?;
    let record = DemoRecord {
        root: server.root.clone(),
        state: server.state.clone(),
        port: server.port,
    };
    std::fs::write(
        record_path(&project.root),
        serde_json::to_vec_pretty(&record)?,
    )?;
    if args.json {
        print_json(&serde_json::json!({
            "root": project.root,
            "files": stats.files,
            "bytes": stats.bytes,
            "records": report.added,
            "server": {"name": "staging", "root": server.root, "url": server.url(),
                       "start": server.start_command()},
        }))?;
    } else {
        eprintln!(
            "Sample project in {} ({} files, {} codebase records).",
            project.root.display(),
            stats.files,
            report.added
        );
        eprintln!(
            "Demo server \"staging\": root {} (agent on {}).",
            server.root.display(),
            server.url()
        );
    }
    if args.no_open {
        if !args.json {
            eprintln!(
                "The agent is not running; start it with:\n  {}",
                server.start_command()
            );
        }
        return Ok(0);
    }
    open(&project.root, &server, args.exit_after_first_frame, theme)
}

/// Start the agent unless it already answers, then open the TUI; the agent keeps running.
fn open(
    root: &Path,
    server: &DemoServer,
    exit_after_first_frame: bool,
    theme: Option<String>,
) -> anyhow::Result<i32> {
    if wait_healthy_for(&server.url(), std::time::Duration::ZERO).is_err() {
        server.spawn()?;
    }
    eprintln!(
        "Agent running on {} (Deploy: press 8, then p, then D).",
        server.url()
    );
    let code = crate::shell::run_tui(
        root,
        crate::shell::TuiOptions {
            theme,
            exit_after_first_frame,
        },
    )?;
    eprintln!(
        "The demo agent keeps running on {}; `devsky demo stop --dir {}` stops it.",
        server.url(),
        root.display()
    );
    Ok(code)
}

/// `devsky demo --dir DIR` on an existing demo: open it, its agent started again.
fn reopen(dir: &Path, args: &DemoArgs, theme: Option<String>) -> anyhow::Result<i32> {
    let rec: DemoRecord = serde_json::from_slice(&std::fs::read(record_path(dir))?)?;
    let server = DemoServer {
        root: rec.root,
        state: rec.state,
        port: rec.port,
    };
    eprintln!("Opening the demo in {} (already made).", dir.display());
    open(
        &dir.canonicalize()?,
        &server,
        args.exit_after_first_frame,
        theme,
    )
}

/// `devsky demo stop`: stop the demo's agent, if it runs.
fn stop(dir: &Path) -> anyhow::Result<i32> {
    let project = Project::locate(dir)?;
    let path = record_path(&project.root);
    let rec: DemoRecord = serde_json::from_slice(&std::fs::read(&path).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a demo project (no {}): {e}",
            project.root.display(),
            path.display()
        )
    })?)?;
    let pid_file = rec.state.join("agent.pid");
    let pid: Option<i32> = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    // Only a pid whose command line is still our agent's (a pid can be reused).
    let ours = pid.filter(|p| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).any(|w| w == b"serve"))
    });
    match ours {
        Some(p) => {
            // SAFETY: kill(2) with a pid we checked is our agent's.
            unsafe { libc::kill(p, libc::SIGTERM) };
            let t = std::time::Instant::now();
            while std::path::Path::new(&format!("/proc/{p}")).exists()
                && t.elapsed() < std::time::Duration::from_secs(5)
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = std::fs::remove_file(&pid_file);
            eprintln!("Stopped the demo agent (pid {p}).");
        }
        None => eprintln!("The demo agent is not running."),
    }
    Ok(0)
}

/// The demo's server: a web root, the agent's state folder, the port it listens on.
pub struct DemoServer {
    pub root: PathBuf,
    pub state: PathBuf,
    pub port: u16,
}

impl DemoServer {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn listen(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn start_command(&self) -> String {
        format!(
            "devsky serve --root {} --state {} --listen {}",
            self.root.display(),
            self.state.display(),
            self.listen()
        )
    }

    /// Start `devsky serve` for it in a session of its own (stderr appended to
    /// `state/agent.log`, pid in `state/agent.pid`), so that it outlives this process, and
    /// wait until it answers.
    pub fn spawn(&self) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state.join("agent.log"))?;
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        // SAFETY: setsid(2) is async-signal-safe; it detaches the agent from the terminal's
        // session so that closing the TUI's terminal does not stop it.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let child = cmd
            .arg("serve")
            .arg("--root")
            .arg(&self.root)
            .arg("--state")
            .arg(&self.state)
            .arg("--listen")
            .arg(self.listen())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()?;
        std::fs::write(self.state.join("agent.pid"), child.id().to_string())?;
        wait_healthy(&self.url())
    }
}

/// Wait (up to 10 s) until the agent at `url` answers its health route.
pub fn wait_healthy(url: &str) -> anyhow::Result<()> {
    wait_healthy_for(url, std::time::Duration::from_secs(10))
}

/// Wait up to `limit` (at least one try) until the agent at `url` answers.
fn wait_healthy_for(url: &str, limit: std::time::Duration) -> anyhow::Result<()> {
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()?;
    let start = std::time::Instant::now();
    loop {
        if client
            .get(format!("{url}/api/v1/health"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if start.elapsed() >= limit {
            anyhow::bail!("the demo agent did not answer on {url}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; the agent binds it right after).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Make the server copy of the sample project (a few files differ: README.md changed,
/// composer.json missing, public/old-banner.html only there), its state folder and an API
/// key, and register it in the project at `project_root` as server `staging`.
pub fn make_demo_server(project_root: &Path, files: usize) -> anyhow::Result<DemoServer> {
    use crate::engine::remote::{ServerProfile, add_server, store_key};
    // Beside the project (`<project>-server/`), so removing both is easy; a new temp
    // folder when that name is taken.
    let beside = project_root
        .file_name()
        .map(|n| project_root.with_file_name(format!("{}-server", n.to_string_lossy())));
    let base = match beside {
        Some(b) if !b.exists() => {
            std::fs::create_dir_all(&b)?;
            b
        }
        _ => tempfile::Builder::new()
            .prefix("devsky-demo-server-")
            .tempdir()?
            .keep(),
    };
    let root = base.join("site");
    demo::write_sample_project(&root, files)?;
    let readme = root.join("README.md");
    let mut text = std::fs::read_to_string(&readme).unwrap_or_default();
    text.push_str("\nThis copy is the server's: deploying replaces this line.\n");
    std::fs::write(&readme, text)?;
    let _ = std::fs::remove_file(root.join("composer.json"));
    std::fs::write(
        root.join("public/old-banner.html"),
        "<p>only on the server: a deploy deletes it</p>\n",
    )?;
    let root = root.canonicalize()?;
    let state_dir = base.join("state");
    let state = crate::engine::deploy::State::open(&state_dir, &root)?;
    let (_, key) = crate::server::keys::Keys::open(state.dir())?.create("demo")?;
    crate::engine::deploy::policy::Policy {
        environment: Some("staging".into()),
        ..Default::default()
    }
    .save(state.dir())?;
    let server = DemoServer {
        root,
        state: state.dir().to_path_buf(),
        port: free_port()?,
    };
    let project = Project::locate(project_root)?;
    let mut store = project.open_store(true)?;
    add_server(
        &mut store,
        &ServerProfile {
            id: 0,
            name: "staging".into(),
            environment: "staging".into(),
            transport: "http".into(),
            url: Some(server.url()),
            key_env: None,
            ssh: None,
            remote_root: None,
            is_default: true,
            created: crate::store::now(),
            tls_ca: None,
            tls_fingerprint: None,
            include: Vec::new(),
            exclude: Vec::new(),
            options: serde_json::Value::Null,
        },
    )?;
    store_key(&project.root, "staging", &key)?;
    Ok(server)
}
