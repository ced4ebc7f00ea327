//! The HTTP deploy agent (`devsky serve`): a versioned JSON API under `/api/v1` over the
//! deploy engine (see docs/API.md). Every route but `GET /api/v1/health` needs
//! `Authorization: Bearer KEY` with a live key of [`keys`].
//!
//! `devsky agent --stdio` ([`serve_stdio`]) serves the same router as one HTTP/1.1
//! connection over its stdin/stdout, for `ssh HOST devsky agent --stdio --root DIR`
//! ([`crate::engine::remote::ssh`]): there SSH has authenticated the user, so the router is
//! built with [`Auth::Ssh`] and asks for no key. Only [`serve_stdio`] builds that router;
//! the TCP listener of [`serve`] always uses [`Auth::Key`].
//!
//! `devsky serve` speaks HTTPS with `--tls-cert` and `--tls-key` ([`tls`]), and refuses
//! plain HTTP on an address other than loopback unless given `--insecure-http`.
//!
//! Both may be given the site's database (`--db URL`, [`ServeOptions`]); `GET
//! /api/v1/database` ([`database`]) reports on it.
//!
//! Blocking work (SQLite, maps, applying) runs off the async threads; a deployment runs on
//! its own thread and the request that started it returns as soon as the engine has
//! recorded it.
//!
//! Test-only hook: `DEVSKY_TEST_SLOW_DEPLOY_MS=<ms>` makes the agent wait that long right
//! after a deployment has started (with the deploy lock held), so tests can race a second
//! deploy against it. `DEVSKY_TEST_SLOW_PRUNE_MS=<ms>` makes it wait that long while it
//! prunes after a deployment (with the lock held), so tests can push right after `done`.

pub mod api;
pub mod database;
pub mod deployments;
pub mod hold;
pub mod hooks;
pub mod keys;
pub mod map_routes;
pub mod mapcache;
pub mod tls;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};

use crate::engine::db::url::DbUrl;
use crate::engine::deploy::{LogLine, State, recover, rfc3339};
use crate::engine::jobs::Progress;
use crate::engine::remote::Outcome;
use crate::engine::remote::ssh::widen_pipe;

/// The health route: the only one without a key.
pub const HEALTH: &str = "/api/v1/health";

/// Every route that needs a key, as (method, path); `{id}` stands for an id. The router is
/// built from the same paths, and the tests walk this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/map"),
    ("GET", "/api/v1/status"),
    ("POST", "/api/v1/packages"),
    ("POST", "/api/v1/deployments"),
    ("GET", "/api/v1/deployments"),
    ("GET", "/api/v1/deployments/{id}"),
    ("GET", "/api/v1/deployments/{id}/logs"),
    ("GET", "/api/v1/deployments/{id}/logs/stream"),
    ("POST", "/api/v1/rollback"),
    ("GET", "/api/v1/archives"),
    ("GET", "/api/v1/archives/{id}"),
    ("DELETE", "/api/v1/archives/{id}"),
    ("GET", "/api/v1/lock"),
    ("DELETE", "/api/v1/lock"),
    ("GET", "/api/v1/database"),
    ("GET", "/api/v1/environment"),
    ("POST", "/api/v1/push"),
];

/// What every handler shares.
pub struct Agent {
    pub root: PathBuf,
    /// The state folder, absolute.
    pub state_dir: PathBuf,
    pub throttle: keys::Throttle,
    /// One scan of the root at a time, shared by the requests waiting for it.
    pub maps: mapcache::MapCache,
    /// Deployments whose thread is still running.
    pub running: Mutex<HashSet<i64>>,
    /// Deploy threads not finished yet (they prune after the deployment ended): an agent
    /// over stdio waits for them before it exits.
    pub threads: std::sync::atomic::AtomicUsize,
    /// Empty the trash of pruned deployments right after pruning (a long-running agent);
    /// an agent over stdio leaves it to a thread of its next start, so that its client is
    /// not kept waiting.
    pub empty_trash_now: bool,
    /// How the deployments run by this process ended.
    pub outcomes: Mutex<HashMap<i64, Outcome>>,
    /// Woken on every log line and end of a deployment of this process (log streams wait
    /// on it, and poll now and then for deployments run by other processes).
    pub changed: tokio::sync::Notify,
    /// The latest progress of each running deployment of this process (sent to its log
    /// streams as `event: progress`; removed when it ends).
    pub progress: Mutex<HashMap<i64, crate::engine::remote::wire::WireProgress>>,
    /// The database `GET /api/v1/database` reports on (`--db URL`; no password).
    pub database: Option<DbUrl>,
    /// The deploy lock and map taken by `GET /api/v1/map?hold=true`, by token ([`hold`]).
    pub hold: Mutex<Option<(String, crate::engine::deploy::apply::Held)>>,
    /// The checker of signed deploy hooks (`--hook-secret-env`; None: [`hooks`] is off).
    pub hooks: Option<Arc<crate::engine::webhooks::sign::Verifier>>,
    /// The repository whose branches signed hooks may deploy (`--hook-git URL`).
    pub hook_git: Option<String>,
}

impl Agent {
    pub fn new(root: &Path, state_dir: &Path) -> anyhow::Result<Agent> {
        let state = State::open(state_dir, root)?;
        mapcache::remove_leftovers(&state.dir().join("cache"));
        // What earlier runs pruned, removed in the background.
        let trash = state.trash_dir();
        std::thread::spawn(move || {
            // At the lowest priority: it must not slow what the agent is asked to do.
            // SAFETY: setpriority on this thread's own id only reads its arguments.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19);
            }
            crate::engine::deploy::state::empty_trash(&trash)
        });
        Ok(Agent {
            root: root.to_path_buf(),
            state_dir: state.dir().to_path_buf(),
            throttle: keys::Throttle::default(),
            maps: mapcache::MapCache::default(),
            running: Mutex::new(HashSet::new()),
            threads: std::sync::atomic::AtomicUsize::new(0),
            empty_trash_now: true,
            outcomes: Mutex::new(HashMap::new()),
            changed: tokio::sync::Notify::new(),
            progress: Mutex::new(HashMap::new()),
            database: None,
            hold: Mutex::new(None),
            hooks: None,
            hook_git: None,
        })
    }

    /// The agent with the database of `--db` (see [`database`]).
    pub fn with_database(mut self, url: Option<DbUrl>) -> Agent {
        self.database = url;
        self
    }

    pub fn state(&self) -> anyhow::Result<State> {
        State::open(&self.state_dir, &self.root)
    }

    pub fn is_running(&self, id: i64) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
    }

    pub fn outcome(&self, id: i64) -> Option<Outcome> {
        self.outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }
}

/// Who may call the routes of [`ROUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer KEY` with a live key (the TCP listener of `devsky serve`).
    Key,
    /// No key: the connection is the stdin/stdout of `devsky agent --stdio`, started by
    /// sshd for a user SSH has already authenticated. Never used for a TCP listener.
    Ssh,
}

/// The router: health, then every route of [`ROUTES`] (behind the key check for
/// [`Auth::Key`]).
pub fn router(agent: Arc<Agent>, auth: Auth) -> Router {
    let routes = Router::new()
        .route(ROUTES[0].1, get(map_routes::map))
        .route(ROUTES[1].1, get(api::status))
        .route(ROUTES[2].1, post(api::upload_package))
        .route(
            ROUTES[3].1,
            post(deployments::start_deployment).get(deployments::list_deployments),
        )
        .route(ROUTES[5].1, get(deployments::deployment))
        .route(ROUTES[6].1, get(deployments::logs))
        .route(ROUTES[7].1, get(deployments::logs_stream))
        .route(ROUTES[8].1, post(deployments::start_rollback))
        .route(ROUTES[9].1, get(api::list_archives))
        .route(
            ROUTES[10].1,
            get(api::download_archive).delete(api::delete_archive),
        )
        .route(ROUTES[12].1, get(api::lock).delete(api::break_lock))
        .route(ROUTES[14].1, get(database::database))
        .route(ROUTES[15].1, get(api::environment))
        .route(ROUTES[16].1, post(deployments::push));
    let routes = match auth {
        Auth::Key => routes.route_layer(axum::middleware::from_fn_with_state(
            agent.clone(),
            api::require_key,
        )),
        Auth::Ssh => routes,
    };
    Router::new()
        .route(HEALTH, get(api::health))
        .route(
            hooks::HOOKS,
            post(hooks::deploy).layer(axum::extract::DefaultBodyLimit::max(hooks::MAX_BODY)),
        )
        .merge(routes)
        .fallback(api::not_found)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(api::log_request))
        .with_state(agent)
}

/// How `devsky serve` and `devsky agent --stdio` are set up beyond root and state.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// `--db URL`: the database `GET /api/v1/database` reports on.
    pub database: Option<DbUrl>,
    /// `--tls-cert FILE --tls-key FILE`: serve HTTPS ([`tls`]).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `--insecure-http`: plain HTTP on an address other than loopback.
    pub insecure_http: bool,
    /// `--hook-secret-env VAR...`: the secrets signed deploy hooks may use ([`hooks`]).
    pub hook_secrets: Vec<String>,
    /// `--hook-git URL`: the repository whose branches hooks may deploy.
    pub hook_git: Option<String>,
}

/// Refuse plain HTTP on an address other than loopback (keys would cross the network in
/// clear) unless it is asked for.
fn check_plain_http(addr: &SocketAddr, opts: &ServeOptions) -> anyhow::Result<()> {
    if opts.tls.is_none() && !opts.insecure_http && !addr.ip().to_canonical().is_loopback() {
        anyhow::bail!(
            "refusing to serve plain HTTP on {addr}, which is not a loopback address: API \
             keys and packages would cross the network in clear. Give --tls-cert FILE \
             --tls-key FILE (`devsky serve tls init` makes a self-signed pair), listen on \
             127.0.0.1 behind a tunnel or proxy, or pass --insecure-http"
        );
    }
    Ok(())
}

/// Print a log line of the agent on stderr.
pub(crate) fn print_line(l: &LogLine) {
    eprintln!(
        "{} {:<7} {}",
        rfc3339(l.time_ms),
        l.level.as_str(),
        l.message
    );
}

/// Run the agent for `root` with its state in `state_dir`, listening on `listen`, until
/// the process is stopped. Recovers an interrupted deployment first.
pub fn serve(
    root: &Path,
    state_dir: &Path,
    listen: &str,
    opts: &ServeOptions,
) -> anyhow::Result<()> {
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen}: not an address like 127.0.0.1:7777"))?;
    check_plain_http(&addr, opts)?;
    let tls = match &opts.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let mut agent = Agent::new(root, state_dir)?.with_database(opts.database.clone());
    if !opts.hook_secrets.is_empty() {
        agent.hooks = Some(Arc::new(crate::engine::webhooks::sign::Verifier::new(
            &opts.hook_secrets,
            Some(agent.state_dir.join("hooks-seen")),
        )));
        agent.hook_git = opts.hook_git.clone();
    }
    {
        let state = agent.state()?;
        let done = recover(root, &state, &Progress::silent(), &print_line)
            .context("recovery at start failed")?;
        for r in done {
            eprintln!("devsky serve: recovered deployment {}: {}", r.id, r.action);
        }
        if keys::Keys::open(&agent.state_dir)?
            .list()?
            .iter()
            .all(|k| k.revoked.is_some())
        {
            eprintln!(
                "devsky serve: no API key yet: every request but /api/v1/health will be \
                 refused; make one with `devsky serve key create --root {}`",
                root.display()
            );
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        eprintln!(
            "devsky serve: {} (state {}) on {}://{}",
            agent.root.display(),
            agent.state_dir.display(),
            if tls.is_some() { "https" } else { "http" },
            listener.local_addr()?
        );
        let app = router(Arc::new(agent), Auth::Key);
        match tls {
            Some(tls) => tls::serve(listener, tls, app).await,
            None => axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .context("the server stopped"),
        }
    })
}

/// Run the agent for `root` as one HTTP/1.1 connection over stdin/stdout (`devsky agent
/// --stdio`, started through SSH), until stdin ends; then waits for the deployments it
/// started to finish. Routes need no key ([`Auth::Ssh`]: SSH authenticated the user).
/// Nothing but the HTTP answers goes to stdout: logs go to stderr.
pub fn serve_stdio(root: &Path, state_dir: &Path, opts: &ServeOptions) -> anyhow::Result<()> {
    widen_pipe(0);
    widen_pipe(1);
    let agent = Agent::new(root, state_dir)?.with_database(opts.database.clone());
    {
        let state = agent.state()?;
        let done = recover(root, &state, &Progress::silent(), &print_line)
            .context("recovery at start failed")?;
        for r in done {
            eprintln!("devsky agent: recovered deployment {}: {}", r.id, r.action);
        }
    }
    let agent = Arc::new(Agent {
        empty_trash_now: false,
        ..agent
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let app = router(agent.clone(), Auth::Ssh);
    let served = rt.block_on(async move {
        let io = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
        let service = hyper_util::service::TowerToHyperService::new(app);
        hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(io), service)
            .await
    });
    // The connection is over: a hold no push took goes with it.
    agent.release_hold(None);
    // A deployment runs on its own thread (and prunes after it ended): never cut it off.
    while agent.threads.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The blocking read of stdin may still be waiting: do not wait for it.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    match served {
        Ok(()) => Ok(()),
        // The other side went away (ssh closed): nothing to answer any more.
        Err(e) if e.is_incomplete_message() || e.is_canceled() || e.is_closed() => Ok(()),
        Err(e) => Err(anyhow::anyhow!("the stdio connection failed: {e}")),
    }
}
