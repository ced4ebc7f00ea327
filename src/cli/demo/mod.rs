//! `devsky demo`: make a sample project with a few thousand codebase records, and open it.
//!
//! It also makes a second, slightly different copy of the project as a "server" web root
//! (`<project>-server/site`, agent state beside it in `state/`), makes an API
//! key for it and registers it in the demo project as server `staging` (`--env staging`,
//! the default). While the TUI is open, a child `devsky serve` (this binary) serves that
//! root on `127.0.0.1:<free port>`, its log in `state/agent.log`; it is killed when the TUI
//! exits. With `--no-open` no agent is started: the command to start it is printed.
//! A child process rather than a thread: the agent logs requests on stderr, which must
//! not land on the TUI's screen.

pub mod sample;

use std::path::{Path, PathBuf};

use clap::Args;

use super::output::{print_json, stderr_progress};
use crate::engine::{codebase::import, project::Project};
use sample as demo;

#[derive(Debug, Args)]
pub struct DemoArgs {
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
}

pub fn run(args: DemoArgs, theme: Option<String>) -> anyhow::Result<i32> {
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
    let _agent = server.spawn()?;
    eprintln!(
        "Agent running on {} (Deploy: press 8, then p, then D).",
        server.url()
    );
    crate::app::run_tui(
        &project.root,
        crate::app::TuiOptions {
            theme,
            exit_after_first_frame: false,
        },
    )
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

    /// Start `devsky serve` for it as a child (stderr to `state/agent.log`) and wait until
    /// it answers; the child is killed when the guard is dropped.
    pub fn spawn(&self) -> anyhow::Result<AgentChild> {
        let log = std::fs::File::create(self.state.join("agent.log"))?;
        let child = std::process::Command::new(std::env::current_exe()?)
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
        let guard = AgentChild(child);
        wait_healthy(&self.url())?;
        Ok(guard)
    }
}

/// A child agent, killed on drop.
pub struct AgentChild(std::process::Child);

impl Drop for AgentChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait (up to 10 s) until the agent at `url` answers its health route.
pub fn wait_healthy(url: &str) -> anyhow::Result<()> {
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
        if start.elapsed() > std::time::Duration::from_secs(10) {
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
            name: "staging".into(),
            environment: "staging".into(),
            transport: "http".into(),
            url: Some(server.url()),
            key_env: None,
            ssh: None,
            remote_root: None,
            is_default: true,
            created: crate::store::now(),
        },
    )?;
    store_key(&project.root, "staging", &key)?;
    Ok(server)
}
