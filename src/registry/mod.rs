//! The team registry (`devsky registry serve`): a JSON API under `/api/v1` (see
//! docs/REGISTRY.md) where developers reserve package names and versions (a SKY_ID each),
//! upload immutable archives, download them, follow an incremental index, claim records
//! "taken into work" and pin release snapshots.
//!
//! Metadata lives in SQLite (`--data DIR/registry.db`, the default) or PostgreSQL
//! (`--database postgres://...`) behind the one storage trait of [`sql`]; archives are
//! content-addressed blobs under `--data` ([`blobs`]). Every route but `GET
//! /api/v1/health` needs `Authorization: Bearer TOKEN` of a registry user ([`users`]).
//!
//! One server process per database: index changes take their cursor under a lock of the
//! process ([`Registry::index_lock`]), so that a reader never sees cursor N+1 before N.
//!
//! Test-only hook (the `test-hooks` feature): `DEVSKY_TEST_REGISTRY_CLOCK=FILE` adds the
//! number of milliseconds written in FILE to the clock, read at every use (claim expiry).

pub mod blobs;
pub mod claims;
pub mod index;
pub mod packages;
pub mod sql;
pub mod users;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;

use sql::Sql;
use users::User;

/// The health route: the only one without a token.
pub const HEALTH: &str = "/api/v1/health";

/// Every route that needs a token, as (method, path). The router is built from the same
/// paths, and the tests check docs/REGISTRY.md against this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/reserve"),
    ("PUT", "/api/v1/packages/{name}/{version}"),
    ("GET", "/api/v1/packages/{name}/{version}"),
    ("POST", "/api/v1/packages/{name}/{version}/yank"),
    ("POST", "/api/v1/packages/{name}/{version}/unyank"),
    ("GET", "/api/v1/owners/{name}"),
    ("POST", "/api/v1/owners/{name}"),
    ("GET", "/api/v1/index"),
    ("POST", "/api/v1/claims"),
    ("GET", "/api/v1/claims"),
    ("POST", "/api/v1/claims/verify"),
    ("DELETE", "/api/v1/claims/{record}"),
    ("POST", "/api/v1/releases"),
    ("GET", "/api/v1/releases"),
    ("GET", "/api/v1/releases/{name}"),
];

/// How long a claim lasts unless renewed, by default: 3 days (`--claim-hours`).
pub const CLAIM_HOURS: u32 = 72;

/// What every handler shares.
pub struct Registry {
    pub db: Arc<dyn Sql>,
    pub data: PathBuf,
    /// Held while an index change takes its cursor and commits (see the module doc).
    pub index_lock: tokio::sync::Mutex<()>,
    /// How long a claim lasts unless renewed, in milliseconds.
    pub claim_ms: i64,
}

pub(crate) type Shared = State<Arc<Registry>>;

/// Now, in Unix milliseconds (plus the test clock's offset, with the test hooks).
pub fn now_ms() -> i64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let offset = crate::engine::util::testhooks::var("DEVSKY_TEST_REGISTRY_CLOCK")
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    real + offset
}

/// An error answer: a status and `{"error": ..., "code": ...}` (plus more fields).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, msg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({"error": msg.into(), "code": code}),
        }
    }
    pub fn bad(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", msg)
    }
    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", msg)
    }
    pub fn forbidden(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg)
    }
    pub fn conflict(code: &str, msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, msg)
    }
    /// The error with one more field in its body.
    pub fn with(mut self, key: &str, value: serde_json::Value) -> ApiError {
        self.body[key] = value;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{e:#}"),
        )
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The token check: `Authorization: Bearer TOKEN` (scheme in any case) of a user with a
/// live token, else 401. The user goes to the handlers as a request extension.
async fn require_token(State(reg): Shared, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, t) = v.trim_start().split_once(' ')?;
            (scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty()).then(|| t.trim())
        })
        .map(str::to_string);
    let user = match token {
        Some(t) => match users::authenticate(reg.db.as_ref(), &t).await {
            Ok(u) => u,
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => None,
    };
    match user {
        Some(u) => {
            req.extensions_mut().insert(u);
            next.run(req).await
        }
        None => {
            // Read what the client is still sending, so that it gets the 401 (see
            // blobs::discard).
            blobs::discard(req.into_body()).await;
            let mut r = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid registry token is needed: Authorization: Bearer TOKEN",
            )
            .into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    }
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"ok": true, "service": "devsky-registry",
                      "version": env!("CARGO_PKG_VERSION")}))
}

async fn me(axum::Extension(u): axum::Extension<User>) -> axum::Json<User> {
    axum::Json(u)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see docs/REGISTRY.md")
}

/// Method, path and status of every request on stderr (never headers: they carry tokens).
async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let r = next.run(req).await;
    eprintln!(
        "devsky registry: {method} {path} -> {}",
        r.status().as_u16()
    );
    r
}

/// The router: health, then every route of [`ROUTES`] behind the token check. JSON bodies
/// are limited to axum's default (2 MB); an upload streams to disk with its own limit
/// ([`blobs::MAX_SIZE`]).
pub fn router(reg: Arc<Registry>) -> Router {
    let routes = Router::new()
        .route(ROUTES[0].1, get(me))
        .route(ROUTES[1].1, post(packages::reserve))
        .route(ROUTES[2].1, put(packages::upload).get(packages::download))
        .route(ROUTES[4].1, post(packages::yank))
        .route(ROUTES[5].1, post(packages::unyank))
        .route(
            ROUTES[6].1,
            get(packages::list_owners).post(packages::add_owner),
        )
        .route(ROUTES[8].1, get(index::index))
        .route(ROUTES[9].1, post(claims::create).get(claims::list))
        .route(ROUTES[11].1, post(claims::verify))
        .route(ROUTES[12].1, axum::routing::delete(claims::release))
        .route(
            ROUTES[13].1,
            post(claims::create_release).get(claims::list_releases),
        )
        .route(ROUTES[15].1, get(claims::release_snapshot))
        .route_layer(axum::middleware::from_fn_with_state(
            reg.clone(),
            require_token,
        ));
    Router::new()
        .route(HEALTH, get(health))
        .merge(routes)
        .fallback(not_found)
        .layer(axum::middleware::from_fn(log_request))
        .with_state(reg)
}

/// How `devsky registry serve` is set up.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Blobs (and the SQLite database unless `database`).
    pub data: PathBuf,
    /// `postgres://...`: the metadata in PostgreSQL.
    pub database: Option<String>,
    pub listen: String,
    /// How long a claim lasts unless renewed ([`CLAIM_HOURS`] by default).
    pub claim_hours: u32,
}

/// Open the registry's storage and blobs.
pub async fn open(
    data: &Path,
    database: Option<&str>,
    claim_hours: u32,
) -> anyhow::Result<Registry> {
    let db = sql::open(data, database).await?;
    blobs::prepare(data)?;
    Ok(Registry {
        db,
        data: data.to_path_buf(),
        index_lock: tokio::sync::Mutex::new(()),
        claim_ms: i64::from(claim_hours) * 3600 * 1000,
    })
}

/// A runtime for the registry (the server, or one command on its storage).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Run the registry until the process is stopped. Plain HTTP: put it on loopback behind a
/// TLS proxy or tunnel; any other address is refused.
pub fn serve(opts: &ServeOptions) -> anyhow::Result<()> {
    let addr: SocketAddr = opts.listen.parse().with_context(|| {
        format!(
            "--listen {}: not an address like 127.0.0.1:7878",
            opts.listen
        )
    })?;
    if !addr.ip().to_canonical().is_loopback() {
        anyhow::bail!(
            "refusing to serve the registry on {addr}, which is not a loopback address: tokens \
             and packages would cross the network in clear. Listen on 127.0.0.1 behind a TLS \
             proxy or tunnel"
        );
    }
    runtime()?.block_on(async move {
        if opts.claim_hours == 0 {
            anyhow::bail!("--claim-hours must be at least 1");
        }
        let reg = open(&opts.data, opts.database.as_deref(), opts.claim_hours).await?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        eprintln!(
            "devsky registry: data {} ({}) on http://{}",
            opts.data.display(),
            match &opts.database {
                Some(u) => sql::redact(u),
                None => "SQLite".into(),
            },
            listener.local_addr()?
        );
        axum::serve(listener, router(Arc::new(reg)))
            .await
            .context("the registry stopped")
    })
}
